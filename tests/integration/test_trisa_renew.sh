#!/usr/bin/env bash
# trisa-renew with file keys against the emulator, certificates of a 10-minute lifetime:
# the first certificate; nothing due (no request sent); due later (--now); a renewal with a
# new key, a new serial and live/ switched, the old version kept; rollback; the hooks and
# their variables; a rejected batch: the failure hook, the back-off recorded and honoured,
# then --force; list (text, --json against its schema, --prometheus parsed), check's exit
# codes for ExecCondition=, dry-run, import of a delivered legacy bundle, remove; the
# systemd units checked by systemd-analyze when it is there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
trisa-renew --help >/dev/null 2>&1 || skip "trisa-renew is not built"

# The default account with 100 licences: every test below spends some (the balance is kept
# across the emulator's restart further down).
sectigo serve --print-config | sed 's/"balance": 10,/"balance": 100,/' >emu.json
grep -q '"balance": 100,' emu.json || fail "no balance to raise in the emulator's default config"
start_emulator --test-hooks --processing-delay 0 --cert-lifetime 600s --config emu.json

emu_credentials cred.env
export XDG_CACHE_HOME="$T/cache"
S="$T/trisa-state"
export TRISA_STATE_DIR="$S"
L="$S/lineages/vasp"

cat >trisa.conf <<'EOF'
[req]
prompt = no
default_bits = 4096
default_md = sha384
distinguished_name = dn
req_extensions = ext
[dn]
CN = vasp.example.com
O = Example VASP Ltd
C = US
[ext]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:vasp.example.com
EOF

requests() { curl -sS "$EMU_URL/_emulator/requests" | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["path"] == sys.argv[1]))' "$1"; }
all_requests() { curl -sS "$EMU_URL/_emulator/requests" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null | sha256sum | cut -c1-64; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//'; }
iso_after() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

# The hooks write what they saw, one file a run.
cat >hook.sh <<'EOF'
#!/bin/sh
n=$(ls "$HOOK_DIR" | wc -l)
env | grep -E '^TRISA_(LINEAGE|LIVE_DIR|SERIAL|NOT_AFTER|KEY_URI|ERROR|EXIT)=' | sort >"$HOOK_DIR/$n.$1"
echo "hook $1 ran" # stdout: must reach trisa-renew's stderr, not its stdout
EOF
chmod +x hook.sh
export HOOK_DIR="$T/hooks"
mkdir "$HOOK_DIR"

# ---- add ---------------------------------------------------------------------------------
run trisa-renew add vasp --config trisa.conf --profile 42 --key ec:P-256 --trust "$EMU_CA" \
    --credentials cred.env --deploy-hook "$T/hook.sh deploy" --failure-hook "$T/hook.sh failure" \
    --dns vasp.example.com
assert_rc 0 "add"
assert_eq "$OUT" "lineage vasp recorded; 'trisa-renew vasp' makes its first certificate"
assert_mode "$S" 700
assert_mode "$L" 700
assert_mode "$L/lineage.conf" 600
cmp -s trisa.conf "$L/trisa.conf" || fail "the config was not copied"
cmp -s "$EMU_CA" "$L/trust.pem" || fail "the trust anchors were not copied"
assert_eq "$(grep -c '^jitter = 0\.[0-9]\{4\}$' "$L/lineage.conf")" 1 "a recorded jitter"
assert_eq "$(requests /api/v1/batches/upload)" 0 "uploads after add"
run trisa-renew add vasp --config trisa.conf --profile 42 --trust "$EMU_CA"
assert_rc 4 "add the same name again"
assert_contains "$ERR" "lineage vasp exists"
run trisa-renew add 'bad/name' --config trisa.conf --profile 42 --trust "$EMU_CA"
assert_rc 3 "a bad name"
assert_eq "$ERR" "trisa-renew: error: lineage name 'bad/name': only letters, digits, '.', '_' and '-' (not '/')"
chmod 644 cred.env
run trisa-renew add other --config trisa.conf --profile 42 --trust "$EMU_CA" --credentials cred.env
assert_rc 3 "credentials readable by others"
assert_contains "$ERR" "credentials $T/cred.env: readable by others (mode 0644)"
assert_missing "$S/lineages/other"
chmod 600 cred.env
run trisa-renew add other --config trisa.conf --profile 42
assert_rc 2 "no trust"
assert_missing "$S/lineages/other"
ok "add records the lineage (0700/0600, config and trust copied), refuses a taken or bad name, loose credentials, no trust"

run trisa-renew check
assert_rc 0 "check with no certificate yet"
run trisa-renew list
assert_rc 0 "list"
assert_eq "$OUT" "vasp
  no certificate yet: due now"

# ---- the first certificate ---------------------------------------------------------------
run trisa-renew vasp
assert_rc 0 "first renewal"
assert_eq "$(readlink "$L/live")" "versions/1" "live"
for f in cert.pem chain.pem fullchain.pem root.pem pool.pem node.pem key.pem request.csr; do
    assert_exists "$L/live/$f"
done
assert_mode "$L/versions/1/key.pem" 600
assert_mode "$L/versions/1/node.pem" 600
openssl verify -CAfile "$EMU_CA" -untrusted "$L/live/chain.pem" "$L/live/cert.pem" >/dev/null ||
    fail "openssl does not verify version 1"
assert_eq "$(openssl x509 -in "$L/live/cert.pem" -pubkey -noout | sha256sum | cut -c1-64)" \
    "$(pubkey "$L/live/key.pem")" "the certificate carries the new key"
serial1=$(serial_of "$L/live/cert.pem")
assert_eq "$OUT" "vasp: version 1 is live ($L/live), valid until $(date -u -d "$(openssl x509 -in "$L/live/cert.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
assert_contains "$ERR" "vasp: uploaded: batch "
assert_contains "$ERR" "hook deploy ran"
assert_eq "$(requests /api/v1/batches/upload)" 1 "uploads"
assert_eq "$(ls "$HOOK_DIR")" "0.deploy" "hooks run"
assert_eq "$(cat "$HOOK_DIR/0.deploy")" "TRISA_LINEAGE=vasp
TRISA_LIVE_DIR=$L/live
TRISA_NOT_AFTER=$(date -u -d "$(openssl x509 -in "$L/live/cert.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
TRISA_SERIAL=$serial1" "deploy hook environment"
ok "the first certificate: version 1 live, verified by openssl, key 0600, one upload, the deploy hook with its variables"

# ---- nothing due -------------------------------------------------------------------------
before=$(all_requests)
run trisa-renew
assert_rc 0 "nothing due"
assert_eq "$OUT$ERR" "" "output when nothing is due"
assert_eq "$(all_requests)" "$before" "requests when nothing is due"
run trisa-renew -v
assert_contains "$ERR" "vasp: not due; renewal due "
run trisa-renew check
assert_rc 1 "check when nothing is due"
assert_eq "$OUT$ERR" "" "check prints nothing"
run trisa-renew check nosuch
assert_rc 255 "check of an unknown lineage"
ok "nothing due: no output, no request, check exits 1 (255 on an error)"

# ---- due later: a new key, a new serial, live switched --------------------------------------
later=$(iso_after 500)
run trisa-renew check --now "$later"
assert_rc 0 "check when due"
run trisa-renew --now "$later"
assert_rc 0 "renewal when due"
assert_eq "$(readlink "$L/live")" "versions/2" "live after renewal"
assert_exists "$L/versions/1/cert.pem"
[ "$(pubkey "$L/versions/2/key.pem")" != "$(pubkey "$L/versions/1/key.pem")" ] || fail "the key was not renewed"
serial2=$(serial_of "$L/live/cert.pem")
[ "$serial2" != "$serial1" ] || fail "same serial after renewal"
assert_eq "$(requests /api/v1/batches/upload)" 2 "uploads after the renewal"
assert_eq "$(sed -n 's/^TRISA_SERIAL=//p' "$HOOK_DIR/1.deploy")" "$serial2" "the hook's serial"
ok "due later: version 2 with a new key and serial, live switched, version 1 kept"

# ---- rollback ----------------------------------------------------------------------------
run trisa-renew rollback vasp
assert_rc 0 "rollback"
assert_eq "$(readlink "$L/live")" "versions/1" "live after rollback"
assert_eq "$(sed -n 's/^TRISA_SERIAL=//p' "$HOOK_DIR/2.deploy")" "$serial1" "the hook after rollback"
run trisa-renew list --json
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; l=json.load(sys.stdin)["lineages"][0]; print(l["version"], l["versions"], l["serial"])')" \
    "1 2 $serial1" "list after rollback"
run trisa-renew rollback vasp
assert_rc 3 "no earlier version"
assert_eq "$ERR" "trisa-renew: error: lineage vasp: no earlier version to roll back to"
ok "rollback: live back to version 1, the deploy hook run; none before version 1"

# ---- a rejected batch: failure hook, back-off, --force -----------------------------------
# The back-off never runs past the point where 3 days remain, so it shows only on a
# certificate that lives longer: the emulator again, with its profiles' lifetimes.
stop_emulator || fail "the emulator did not stop cleanly"
start_emulator --test-hooks --processing-delay 0
emu_credentials cred.env
run trisa-renew --force vasp
assert_rc 0 "a long-lived version 3"
assert_eq "$(readlink "$L/live")" "versions/3" "live"
emu_hooks_faults '{"path":"@issue","kind":"status","status":500,"count":1}' >/dev/null
uploads=$(requests /api/v1/batches/upload)
run trisa-renew --force vasp
assert_rc 8 "a rejected batch"
assert_contains "$ERR" "trisa-renew: error: vasp: batch "
assert_eq "$(readlink "$L/live")" "versions/3" "live after a failure"
assert_eq "$(requests /api/v1/batches/upload)" $((uploads + 1)) "uploads"
assert_eq "$(sed -n 's/^TRISA_EXIT=//p' "$HOOK_DIR/4.failure")" 8 "TRISA_EXIT"
assert_contains "$(sed -n 's/^TRISA_ERROR=//p' "$HOOK_DIR/4.failure")" "batch " "TRISA_ERROR"
run trisa-renew list --json
printf '%s' "$OUT" | python3 -c '
import json, sys, datetime
l = json.load(sys.stdin)["lineages"][0]
assert l["consecutive_failures"] == 1, l
assert l["last_exit"] == 8, l
assert l["last_result"].startswith("failed: batch "), l
assert l["pending"] is True, l
la = datetime.datetime.strptime(l["last_attempt"], "%Y-%m-%dT%H:%M:%SZ")
na = datetime.datetime.strptime(l["next_attempt"], "%Y-%m-%dT%H:%M:%SZ")
assert (na - la).total_seconds() == 3600, (la, na)
' || fail "the failure and its back-off were not recorded: $OUT"
# The interrupted renewal is continued by the next run, but not before the back-off ends:
# nothing is sent, exit 0, said once.
before=$(all_requests)
run trisa-renew
assert_rc 0 "backing off"
assert_eq "$ERR" "vasp: due, but backing off after failures until $(printf '%s' "$OUT$(trisa-renew list --json)" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["lineages"][0]["next_attempt"])') (--force to try now)"
assert_eq "$(all_requests)" "$before" "requests while backing off"
run trisa-renew check
assert_rc 1 "check while backing off"
# After the hour it is tried again: a new request (the CA refused the last one).
run trisa-renew --now "$(iso_after 3700)"
assert_rc 0 "after the back-off"
assert_eq "$(readlink "$L/live")" "versions/4" "live after the back-off"
assert_eq "$(requests /api/v1/batches/upload)" $((uploads + 2)) "uploads"
run trisa-renew list --json
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; l=json.load(sys.stdin)["lineages"][0]; print(l["consecutive_failures"], l["next_attempt"], l["pending"])')" \
    "0 None False" "state after success"
# --force ignores a back-off.
emu_hooks_faults '{"path":"@issue","kind":"status","status":500,"count":1}' >/dev/null
run trisa-renew --force vasp
assert_rc 8 "rejected again"
run trisa-renew --force vasp
assert_rc 0 "--force during a back-off"
assert_eq "$(readlink "$L/live")" "versions/5" "live after --force"
assert_eq "$(requests /api/v1/batches/upload)" $((uploads + 4)) "uploads"
ok "a rejected batch: exit 8, live kept, failure hook (TRISA_ERROR, TRISA_EXIT), a 1 h back-off recorded and honoured, then a new request; --force ignores it"

# ---- revoking superseded certificates ----------------------------------------------------
find_status() { SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing SECTIGO_USERNAME="$EMU_USER" \
    SECTIGO_PASSWORD="$EMU_PASS" sectigo find -s "$(printf '%s' "$1" | tr -d : | tr a-f A-F)" |
    python3 -c 'import json,sys; print(" ".join(c["status"] for c in json.load(sys.stdin)["items"]))'; }
serial4=$(serial_of "$L/versions/4/cert.pem")
serial5=$(serial_of "$L/versions/5/cert.pem")
run trisa-renew --revoke-superseded vasp
assert_rc 0 "--revoke-superseded within the grace period"
assert_not_contains "$ERR" "revoked"
run trisa-renew --revoke-superseded --keep-previous 0 --now "$(iso_after 4000)" vasp
assert_rc 0 "--revoke-superseded after the grace period"
assert_contains "$ERR" "vasp: version 4 revoked as superseded (serial $serial4)"
assert_contains "$ERR" "vasp: version 3 revoked as superseded"
assert_eq "$(find_status "$serial4")" "REVOKED" "version 4 on the server"
assert_eq "$(find_status "$serial5")" "ISSUED" "the live version on the server"
run trisa-renew --revoke-superseded --keep-previous 0 --now "$(iso_after 4000)" vasp
assert_rc 0 "again"
assert_not_contains "$ERR" "revoked as superseded"
ok "--revoke-superseded revokes superseded certificates (reason superseded) after the grace period, once, and never the live one"

# ---- --reuse-key with an RSA key: a byte-identical CSR is still a new request ---------------
run trisa-renew add rsa --config trisa.conf --profile 42 --key rsa:2048 --trust "$EMU_CA" --credentials cred.env
assert_rc 0 "add rsa"
run trisa-renew rsa
assert_rc 0 "rsa: first certificate"
uploads=$(requests /api/v1/batches/upload)
run trisa-renew --force --reuse-key rsa
assert_rc 0 "rsa: --reuse-key"
R="$S/lineages/rsa"
cmp -s "$R/versions/1/request.csr" "$R/versions/2/request.csr" || fail "the CSRs differ: not the case this tests"
cmp -s "$R/versions/1/key.pem" "$R/versions/2/key.pem" || fail "--reuse-key made a new key"
assert_eq "$(requests /api/v1/batches/upload)" $((uploads + 1)) "uploads for --reuse-key"
[ "$(serial_of "$R/versions/1/cert.pem")" != "$(serial_of "$R/versions/2/cert.pem")" ] ||
    fail "--reuse-key gave back the old certificate"
assert_eq "$(readlink "$R/live")" "versions/2" "rsa live"
run trisa-renew remove rsa --purge
ok "--reuse-key: the same RSA key and a byte-identical CSR, yet a new request and a new certificate"

# ---- list formats ------------------------------------------------------------------------
run trisa-renew list --json
assert_rc 0 "list --json"
printf '%s' "$OUT" | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
assert list(d) == ["format", "lineages"] and d["format"] == 1
keys = ["name", "imported", "version", "versions", "live_dir", "subject", "sans", "serial",
        "not_before", "not_after", "days_left", "renewal_due", "due", "backing_off", "key",
        "profile_id", "batch_id", "last_attempt", "last_result", "last_exit", "last_success",
        "consecutive_failures", "next_attempt", "pending"]
l = d["lineages"][0]
assert list(l) == keys, list(l)
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
for k in ("not_before", "not_after", "renewal_due", "last_attempt", "last_success"):
    assert iso.match(l[k]), (k, l[k])
assert l["subject"] == "C=US,O=Example VASP Ltd,CN=vasp.example.com", l["subject"]
assert l["sans"] == ["DNS:vasp.example.com"]
assert re.match(r"^[0-9a-f]{2}(:[0-9a-f]{2})*$", l["serial"])
assert list(l["key"]) == ["spec", "type", "location"] and l["key"]["spec"] == "ec:P-256"
assert l["key"]["type"] == "file" and l["key"]["location"].endswith("/versions/5/key.pem")
assert isinstance(l["days_left"], int) and l["profile_id"] == 42 and l["batch_id"] > 0
assert l["imported"] is False and l["due"] is False
' || fail "list --json does not follow format 1: $OUT"
run trisa-renew list --prometheus -o "$T/trisa.prom"
assert_rc 0 "list --prometheus -o"
assert_eq "$OUT" "" "stdout with -o"
assert_mode "$T/trisa.prom" 644
python3 - "$T/trisa.prom" "$(openssl x509 -in "$L/live/cert.pem" -noout -enddate | cut -d= -f2)" <<'EOF' || fail "the metrics do not parse: $(cat "$T/trisa.prom")"
import re, sys, time, calendar
text = open(sys.argv[1]).read()
want = ["trisa_certificate_not_after_seconds", "trisa_certificate_renewal_due_seconds",
        "trisa_renew_last_success_seconds", "trisa_renew_consecutive_failures"]
samples = {}
for line in text.splitlines():
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        assert line.split()[2] in want, line
        if line.startswith("# TYPE "):
            assert line.split()[3] == "gauge", line
        continue
    m = re.match(r'^([a-z_]+)\{lineage="([^"\\]*)"\} (-?[0-9]+)$', line)
    assert m, line
    samples[m.group(1)] = int(m.group(3))
assert sorted(samples) == sorted(want), samples
na = calendar.timegm(time.strptime(sys.argv[2], "%b %d %H:%M:%S %Y GMT"))
assert samples["trisa_certificate_not_after_seconds"] == na, (samples, na)
assert samples["trisa_renew_consecutive_failures"] == 0
assert samples["trisa_certificate_renewal_due_seconds"] < na
EOF
run trisa-renew list
assert_contains "$OUT" "  subject:     C=US,O=Example VASP Ltd,CN=vasp.example.com
  names:       DNS:vasp.example.com
  serial:      $(serial_of "$L/live/cert.pem")"
assert_contains "$OUT" "  version:     5 of 5, $L/live"
ok "list: text, --json in format 1 (members, order, types), --prometheus (4 gauges, the expiry exact), -o atomic"

# ---- dry run -----------------------------------------------------------------------------
before=$(all_requests)
uploads=$(requests /api/v1/batches/upload)
run trisa-renew --dry-run --force vasp
assert_rc 0 "dry run"
assert_eq "$OUT" "vasp: would renew lineage vasp as version 6: a new ec:P-256 key, a CSR for C=US,O=Example VASP Ltd,CN=vasp.example.com, uploaded to profile 42"
assert_missing "$L/versions/6"
assert_eq "$(requests /api/v1/batches/upload)" "$uploads" "uploads after a dry run"
[ "$(all_requests)" -gt "$before" ] || fail "the dry run did not check the server"
assert_eq "$(readlink "$L/live")" "versions/5" "live after a dry run"
ok "--dry-run checks the server, uploads nothing, makes no version"

# ---- import of a delivered legacy bundle -------------------------------------------------
SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing SECTIGO_USERNAME="$EMU_USER" \
    SECTIGO_PASSWORD="$EMU_PASS" run sectigo create -a 42 -d gds.example.com -p pkcs12-pass-1234
assert_rc 0 "sectigo create"
bid=$(printf '%s' "$OUT" | sed -n 's/.*"batchId": \([0-9]*\).*/\1/p' | head -n 1)
[ -n "$bid" ] || fail "no batch id from sectigo create: $OUT"
mkdir dl
SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing SECTIGO_USERNAME="$EMU_USER" \
    SECTIGO_PASSWORD="$EMU_PASS" run sectigo download -i "$bid" -o dl
assert_rc 0 "sectigo download"
zip=$(ls dl/*.zip)
printf 'pkcs12-pass-1234\n' >p12.pass
# An imported lineage recorded first, to give it a deploy hook; that hook holds the import
# (until released) while the process is looked at from outside.
printf '#!/bin/sh\nenv | grep -E "^TRISA_(LINEAGE|SERIAL)=" | sort >"%s/held.env"\ntouch "%s/held"\nfor i in $(seq 1 600); do [ -e "%s/release" ] && exit 0; sleep 0.05; done\nexit 1\n' \
    "$T" "$T" "$T" >hold.sh
chmod +x hold.sh
run trisa-renew add gds --imported --trust "$EMU_CA" --deploy-hook "$T/hold.sh" --config trisa.conf
assert_rc 2 "--imported with --config"
run trisa-renew add gds --imported --trust "$EMU_CA" --deploy-hook "$T/hold.sh"
assert_rc 0 "add --imported"
assert_eq "$OUT" "lineage gds recorded (imported); 'trisa-renew import gds --zip FILE' makes each version"
trisa-renew import gds --zip "$zip" --p12-passin pass:pkcs12-pass-1234 >imp.out 2>imp.err &
pid=$!
for _ in $(seq 1 600); do [ -e "$T/held" ] && break; sleep 0.05; done
assert_exists "$T/held"
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
assert_not_contains "$cmdline" "pkcs12-pass-1234" "trisa-renew import: /proc/PID/cmdline"
assert_contains "$cmdline" "--p12-passin xxxxxxxxxxxxxxxxxxxxx" "the overwritten value"
assert_eq "$(awk '/^Max core file size/ { print $5 " " $6 }' "/proc/$pid/limits")" "0 0" "core size limit"
touch "$T/release"
wait "$pid" || fail "import: $(cat imp.err)"
G="$S/lineages/gds"
assert_eq "$(cat "$T/held.env")" "TRISA_LINEAGE=gds
TRISA_SERIAL=$(serial_of "$G/live/cert.pem")" "the imported lineage's deploy hook"
ok "add --imported records hooks and trust for delivered bundles; import runs the deploy hook; a pass: bundle password is gone from /proc/PID/cmdline; no core size"
assert_eq "$(readlink "$G/live")" "versions/1" "imported live"
assert_mode "$G/versions/1/key.pem" 600
assert_eq "$(openssl x509 -in "$G/live/cert.pem" -pubkey -noout | sha256sum | cut -c1-64)" \
    "$(pubkey "$G/live/key.pem")" "the bundle's key"
run trisa-renew list --json gds
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; l=json.load(sys.stdin)["lineages"][0]; print(l["imported"], l["version"], l["subject"], l["batch_id"])')" \
    "True 1 CN=gds.example.com 0" "imported lineage"
before=$(all_requests)
run trisa-renew --now "$(iso_after $((400 * 86400)))" gds
assert_rc 0 "an imported lineage when due"
assert_contains "$ERR" "trisa-renew: warning: gds: the certificate expires "
assert_contains "$ERR" "import the new one ('trisa-renew import gds --zip FILE ...')"
assert_eq "$(all_requests)" "$before" "requests for an imported lineage"
run trisa-renew check --now "$(iso_after $((400 * 86400)))" gds
assert_rc 1 "check never counts imported lineages"
printf 'wrong\n' >bad.pass
run trisa-renew import gds --zip "$zip" --password-file bad.pass --trust "$EMU_CA"
assert_rc 11 "a wrong bundle password"
assert_eq "$(readlink "$G/live")" "versions/1" "live after a failed import"
ok "import: a legacy bundle verified and made version 1 of an imported lineage (its key 0600); due means a warning; a wrong password changes nothing"

# ---- --renew-before, a failing deploy hook, an expired certificate, a chain that does not verify
run trisa-renew add edge --config trisa.conf --profile 42 --key ec:P-256 --trust "$EMU_CA" \
    --credentials cred.env --renew-before 30 --deploy-hook 'exit 3'
assert_rc 0 "add edge"
E="$S/lineages/edge"
run trisa-renew edge
assert_rc 0 "a failing deploy hook does not fail the renewal"
assert_eq "$(readlink "$E/live")" "versions/1" "live stays switched after a failing hook"
assert_contains "$ERR" "trisa-renew: warning: edge: hook 'exit 3' exited with 3"
assert_eq "$(grep -c "hook 'exit 3'" <<<"$ERR")" 1 "a failed hook reported once"
end=$(date -u -d "$(openssl x509 -in "$E/live/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
# Due at not_after - 30 days - an offset of less than a day (the lineage's own).
run trisa-renew check --now "@$((end - 31 * 86400))" edge
assert_rc 1 "--renew-before 30: not due 31 days before the end"
run trisa-renew check --now "@$((end - 30 * 86400))" edge
assert_rc 0 "--renew-before 30: due 30 days before the end"
uploads=$(requests /api/v1/batches/upload)
run trisa-renew --json --now "@$((end + 86400))" edge
assert_rc 0 "renewing an expired certificate"
printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert list(d) == ["format", "results"] and d["format"] == 1, d
r = d["results"]
assert len(r) == 1 and list(r[0]) == ["name", "renewed", "exit", "code", "error", "lineage"], r
assert (r[0]["name"], r[0]["renewed"], r[0]["exit"], r[0]["code"], r[0]["error"]) == ("edge", True, 0, None, None), r
assert r[0]["lineage"]["version"] == 2 and r[0]["lineage"]["name"] == "edge", r
' || fail "renew --json: $OUT"
assert_contains "$ERR" "edge: version 2 is live ($E/live)"
assert_contains "$ERR" "trisa-renew: warning: edge: the live certificate EXPIRED at $(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ): renewing now"
assert_eq "$(readlink "$E/live")" "versions/2" "live after renewing an expired certificate"
assert_eq "$(requests /api/v1/batches/upload)" $((uploads + 1)) "one upload"
ok "--renew-before DAYS sets when renewal is due; a failing deploy hook is reported and live stays switched; an expired certificate is renewed with a warning; renew --json: one document of results"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
    -subj "/CN=Another CA" -days 2 -out other-ca.pem 2>/dev/null
run trisa-renew add stranger --config trisa.conf --profile 42 --key ec:P-256 --trust other-ca.pem \
    --credentials cred.env --failure-hook "$T/hook.sh failure"
assert_rc 0 "add stranger"
nhooks=$(ls "$HOOK_DIR" | wc -l)
run trisa-renew --json stranger
assert_rc 10 "a chain that does not verify to the lineage's trust"
printf '%s' "$OUT" | python3 -c '
import json, sys
r = json.load(sys.stdin)["results"]
want = "nothing written: C=US,O=Example VASP Ltd,CN=vasp.example.com: chain-tls-server: unable to get local issuer certificate at depth 1 (CN=TRISA Emulator Issuing CA,O=trisa-certkit emulator)"
assert (r[0]["name"], r[0]["renewed"], r[0]["exit"], r[0]["code"], r[0]["error"]) == ("stranger", False, 10, "verify", want), r
assert (r[0]["lineage"]["version"], r[0]["lineage"]["consecutive_failures"], r[0]["lineage"]["last_exit"]) == (0, 1, 10), r
' || fail "renew --json of a failure: $OUT"
assert_missing "$S/lineages/stranger/live"
assert_eq "$(sed -n 's/^TRISA_EXIT=//p' "$HOOK_DIR/$nhooks.failure")" 10 "the failure hook's TRISA_EXIT"
ok "a certificate that does not verify to the lineage's trust anchors: exit 10, nothing made live, the failure hook run; --json carries the error in the lineage's result"
trisa-renew remove edge --purge >/dev/null && trisa-renew remove stranger --purge >/dev/null ||
    fail "remove edge, stranger"

# ---- remove ------------------------------------------------------------------------------
run trisa-renew remove gds
assert_rc 0 "remove"
assert_missing "$G"
assert_eq "$(ls "$S/lineages/.removed" | sed 's/-[0-9]*$//')" "gds" "kept under .removed"
run trisa-renew remove gds
assert_rc 3 "remove again"
run trisa-renew remove vasp --purge
assert_rc 0 "remove --purge"
assert_missing "$L"
run trisa-renew list
assert_contains "$OUT" "no lineages"
ok "remove keeps the files under .removed/, --purge deletes them"

# ---- the shared surface: JSON errors, -V ------------------------------------------------
run trisa-renew list --json nosuch
assert_rc 3 "list --json of no lineage"
assert_eq "$OUT" "{\"error\": {\"exit\": 3, \"code\": \"notfound\", \"message\": \"no lineage nosuch (in $TRISA_STATE_DIR/lineages)\"}}" "the JSON error"
assert_eq "$ERR" "trisa-renew: error: no lineage nosuch (in $TRISA_STATE_DIR/lineages)" "the message for people"
run trisa-renew list --json --prometheus
assert_rc 2 "--json with --prometheus"
assert_eq "$OUT" '{"error": {"exit": 2, "code": "usage", "message": "--json and --prometheus exclude each other"}}' "a usage error as JSON"
run trisa-renew list --json
assert_eq "$OUT" '{"format":1,"lineages":[]}' "no lineages as JSON"
ok "trisa-renew list --json: one document on stdout, errors included"

# ---- the systemd units -------------------------------------------------------------------
unit="$TRISA_STAGE/lib/systemd/system/trisa-renew.service"
assert_exists "$unit"
assert_exists "$TRISA_STAGE/lib/systemd/system/trisa-renew.timer"
assert_eq "$(sed -n 's/^ExecCondition=//p' "$unit")" "$TRISA_STAGE/bin/trisa-renew check"
if command -v systemd-analyze >/dev/null 2>&1; then
    run systemd-analyze verify "$unit" "$TRISA_STAGE/lib/systemd/system/trisa-renew.timer"
    assert_rc 0 "systemd-analyze verify: $ERR"
    ok "the systemd units install and pass systemd-analyze verify"
else
    ok "the systemd units install (systemd-analyze is not here to verify them)"
fi
done_testing
