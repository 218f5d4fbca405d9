#!/usr/bin/env bash
# One surface across trisa-csr, trisa-fetch and sectigo (issue 14), through the real binaries
# against the emulator:
#  - one name format (RFC 4514) and one fingerprint format (lower-case hex pairs and colons)
#    in every tool's human and JSON output, pinned to expected bytes (a fixed key) and judged
#    by openssl;
#  - with --json, exactly one JSON document on stdout, an error included, for every exit
#    code (1-15 and 130), in every tool;
#  - -V/--version, -q, the option letters, --passin, the CSR's names checked by default,
#    "(from the bundle)" only when it is so, the .env mode warning, the production hint;
#  - on a terminal: the progress line counts down, and Ctrl-C says which batch the same
#    command continues, then exits 130 (JSON too); meanwhile --no-wait exits 15.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
. "$(dirname "$0")/sectigo.sh"
need openssl
need curl
need python3

start_emulator --test-hooks --tls-self-signed --processing-delay 0
use_emulator
export SECTIGO_CA_BUNDLE="$EMU_TLS_CA" CURL_CA_BUNDLE="$EMU_TLS_CA"
VERSION=0.1.0

# A fixed key, so that its fingerprint can be pinned.
cat >fixed.key <<'EOF'
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgznU8qmKLfBpyEk3/
53C+KT7tJuhN8aVMXYSgTA53JV6hRANCAARhDXXPNpr+eRUs1qPS03gdOpaHFOlX
jl/xTszzMPb0Q6R+xa2N7/gCSvXw+KhcpuSK+Z7WcuI5CUbEmjwiw2CU
-----END PRIVATE KEY-----
EOF
chmod 600 fixed.key
FP=90:66:e6:a8:f1:d7:27:55:a9:e7:65:9e:33:47:3c:a9:18:e5:d5:08:b6:b8:5c:58:17:8e:3e:4e:54:da:8e:76
SUBJECT='C=US,O=Example VASP\, Ltd,CN=api.example.com'
cat >good.conf <<'EOF'
[req]
prompt = no
distinguished_name = dn
req_extensions = ext
[dn]
CN = api.example.com
O = Example VASP, Ltd
C = US
[ext]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:api.example.com, DNS:www.example.com
EOF
assert_eq "$(key_fp fixed.key)" "$FP" "the fixed key's fingerprint (openssl)"

# json DOC PATH: the value at PATH (a Python expression on d) of the one JSON document DOC.
json() { python3 -c 'import json,sys
t = sys.stdin.read()
d = json.loads(t)
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1" <<<"$OUT"; }

# json_error EXIT CODE WHAT: $OUT is one JSON document {"error": {"exit": EXIT, "code": CODE,
# "message": M}} (nothing else on stdout), the exit status is EXIT, and M is what stderr said.
json_error() {
    local msg
    assert_rc "$1" "$3"
    msg=$(python3 -c 'import json,sys
t = sys.stdin.read()
d = json.loads(t)                       # one document: trailing text would not parse
e = d["error"]
assert e["exit"] == int(sys.argv[1]), e
assert e["code"] == sys.argv[2], e
assert e["message"], e
print(e["message"])' "$1" "$2" <<<"$OUT") || fail "$3: not the JSON error (exit $1, code $2): [$OUT]"
    assert_contains "$ERR" "$msg" "$3: stderr"
    CODES_SEEN="${CODES_SEEN:-} $1"
}

# ---- Names and fingerprints: trisa-csr ------------------------------------------------------
run trisa-csr -config good.conf --key-in fixed.key -out req.csr --print
assert_rc 0 "trisa-csr --print"
assert_contains "$OUT" "subject:     $SUBJECT"
assert_contains "$OUT" "key SHA-256: $FP"
assert_eq "$(openssl req -in req.csr -noout -subject -nameopt rfc2253,-esc_msb)" "subject=$SUBJECT" "openssl's RFC 4514 subject"
run trisa-csr -config good.conf --key-in fixed.key -out req2.csr --json
assert_rc 0 "trisa-csr --json"
assert_eq "$(json 'd["subject"]')" "$SUBJECT" "trisa-csr --json subject"
assert_eq "$(json 'd["publicKeySha256"]')" "$FP" "trisa-csr --json fingerprint"
assert_eq "$(json 'd["commonName"]')" "api.example.com" "trisa-csr --json commonName"
run trisa-csr -config good.conf --key-in fixed.key -noout --json
assert_contains "$(json 'd["csrPem"]')" "-----BEGIN CERTIFICATE REQUEST-----" "--json without a CSR file: the CSR in the document"
ok "trisa-csr: the subject as RFC 4514 and the key as colon hex, pinned, in --print and --json"

# ---- trisa-fetch: the same name and fingerprint; the CSR's names checked by default ---------
run trisa-fetch --csr req.csr --profile 42 --key fixed.key --out-dir certs --trust "$EMU_CA" --interval 1 --json
assert_rc 0 "trisa-fetch --csr --json: $ERR"
assert_eq "$(json 'd["status"]')" "issued" "status"
assert_eq "$(json 'd["batchId"]')" "1" "batchId"
assert_eq "$(json 'd["certificates"][0]["subject"]')" "$SUBJECT" "JSON subject"
assert_eq "$(json 'd["certificates"][0]["commonName"]')" "api.example.com" "JSON commonName"
certfp=$(openssl x509 -in certs/cert.pem -noout -fingerprint -sha256 | sed 's/.*=//' | tr A-F a-f)
assert_eq "$(json 'd["certificates"][0]["sha256"]')" "$certfp" "JSON certificate fingerprint = openssl's, lower case"
assert_eq "$(json 'd["certificates"][0]["report"]["sha256"]')" "$certfp" "report fingerprint"
assert_eq "$(json '[c["detail"] for c in d["certificates"][0]["report"]["checks"] if c["name"] == "key-match"][0]')" \
    "our key, public key SHA-256 $FP" "key-match names the key as trisa-csr did"
assert_eq "$(json '[c["detail"] for c in d["certificates"][0]["report"]["checks"] if c["name"] == "dns-names"][0]')" \
    "in the SANs: api.example.com, www.example.com" "the CSR's own DNS names, checked without --dns"
assert_eq "$(json 'd["certificates"][0]["report"]["root"]["fromBundle"]')" "false" "the root came from --trust"
assert_eq "$(openssl x509 -in certs/cert.pem -noout -subject -nameopt rfc2253,-esc_msb)" "subject=$SUBJECT" "the certificate's subject (openssl)"
run trisa-fetch --csr req.csr --profile 42 --key fixed.key --out-dir certs2 --trust "$EMU_CA"
assert_rc 0 "trisa-fetch human"
assert_contains "$OUT" "subject:     $SUBJECT"
assert_contains "$OUT" "SHA-256:     $certfp"
assert_contains "$OUT" "pass key-match            our key, public key SHA-256 $FP"
assert_contains "$OUT" "pass dns-names            in the SANs: api.example.com, www.example.com"
assert_contains "$OUT" "root:        CN=TRISA Emulator Root CA,O=trisa-certkit emulator
"
assert_not_contains "$OUT" "(from the bundle)" "a root that --trust holds"
run trisa-fetch --csr req.csr --profile 42 --key fixed.key --out-dir certs3 --trust-bundle-root
assert_rc 0 "--trust-bundle-root"
assert_contains "$OUT" "root:        CN=TRISA Emulator Root CA,O=trisa-certkit emulator (from the bundle)"
ok "trisa-fetch: the same subject and key fingerprint as trisa-csr, human and JSON; the CSR's names checked; '(from the bundle)' only when it is"

# A rerun: a JSON document with nothing done; -q: nothing at all.
run trisa-fetch --csr req.csr --profile 42 --key fixed.key --out-dir certs --trust "$EMU_CA" --json
assert_rc 0 "rerun --json"
assert_eq "$(json 'd["status"]')" "already issued" "rerun status"
assert_eq "$(json 'd["certificates"][0]["report"]')" "null" "rerun report"
assert_eq "$(json 'd["certificates"][0]["sha256"]')" "$certfp" "rerun fingerprint"
assert_eq "$(json 'd["certificates"][0]["dir"]')" "certs" "rerun dir"
run trisa-fetch --csr req.csr --profile 42 --key fixed.key --out-dir certs --trust "$EMU_CA" -q
assert_rc 0 "rerun -q"
assert_eq "$OUT$ERR" "" "-q on success"
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads"
ok "a rerun prints one JSON document (already issued); -q prints nothing at all"

# A key that is not the CSR's: both fingerprints, in the one format.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null
run trisa-fetch --csr req.csr --profile 42 --key other.key --out-dir x --trust "$EMU_CA" --json
json_error 10 mismatch "a key that is not the CSR's"
assert_contains "$ERR" "its public key SHA-256 is $FP, the key given: other.key $(key_fp other.key); nothing sent"
ok "a mismatch names both public keys in colon hex; JSON error 10 mismatch"

# ---- A JSON error for every exit code, in every tool ---------------------------------------
run trisa-csr --bogus --json
json_error 2 usage "trisa-csr usage"
assert_eq "$OUT" '{"error": {"exit": 2, "code": "usage", "message": "unknown option '"'"'--bogus'"'"'"}}' "pinned bytes"
run trisa-fetch --zip x.zip --json
json_error 2 usage "trisa-fetch usage"
assert_eq "$OUT" '{"error": {"exit": 2, "code": "usage", "message": "--out-dir is required"}}' "pinned bytes"
run sectigo --json bogus
json_error 2 usage "sectigo usage"
run sectigo batches -i x --json
json_error 2 usage "sectigo command usage, --json after the command"

trisa-csr init --cn api.example.com -o t.conf 2>/dev/null
run trisa-csr -config t.conf -keyout k.pem -out r.csr --json
json_error 3 config "trisa-csr: every config error"
assert_eq "$(json 'len(d["error"]["details"])')" "4" "every placeholder, one run"
assert_eq "$(json 'd["error"]["details"][3]')" "t.conf:30: [dn_req] C: placeholder '<two-letter country code>' not filled in" "file:line, field, what"
assert_missing k.pem
run trisa-csr init --cn api.example.com -o t.conf --json
json_error 4 exists "trisa-csr init over a file"
run trisa-csr init --cn new.example.com -o t2.conf --json
assert_rc 0 "init --json"
assert_eq "$OUT" '{"file": "t2.conf", "next": "trisa-csr -config t2.conf -keyout key.pem -out req.csr"}' "init --json"
run trisa-csr -config good.conf --pkcs11-uri "pkcs11:token=none" --pkcs11-module "$T/no-such-module.so" -out t.csr --json
json_error 12 hsm "trisa-csr: a module that is not there"

: >afile
run trisa-fetch --zip certs/../x.zip --out-dir afile/sub --trust "$EMU_CA" --json
json_error 3 notfound "trisa-fetch: no such bundle"

run sectigo --json -u nobody --password wrong licenses
json_error 5 auth "sectigo: a wrong password"
run sectigo --json batches -i 999
json_error 6 api "sectigo: no such batch"
run env -u SECTIGO_CA_BUNDLE sectigo --json licenses
json_error 7 network "sectigo: a TLS certificate no CA vouches for"
run sectigo --json -E production -e "http://127.0.0.1:$EMU_PORT" licenses
json_error 14 env "sectigo: plain http in production"
assert_contains "$ERR" "must use https in production, not http (for a local emulator such as \`sectigo serve\` set SECTIGO_ENVIRONMENT=testing, or -E testing)"
run trisa-fetch --batch 1 --out-dir y --trust "$EMU_CA" -E production -e "https://127.0.0.1:$EMU_PORT" --json
json_error 14 env "trisa-fetch: loopback in production"
assert_contains "$ERR" "cannot connect to 127.0.0.1 in production (for a local emulator"

# A server-made bundle: a wrong password (11), a missing name (10), an out-dir that cannot
# be made (1); a batch the CA rejects (8), one still processing (9).
run sectigo create -a 42 -d server.example -p Server-Pass-123
assert_rc 0 "sectigo create"
cbid=$(json 'd["batchId"]')
mkdir dl
run sectigo --json download -i "$cbid" -o dl
assert_rc 0 "download --json"
zip=$(json 'd["path"]')
assert_exists "$zip"
run trisa-fetch --zip "$zip" --out-dir z --p12-passin pass:wrong --trust "$EMU_CA" --json
json_error 11 password "trisa-fetch: a wrong PKCS#12 password"
run trisa-fetch --zip "$zip" --out-dir z --p12-passin pass:Server-Pass-123 --trust "$EMU_CA" --dns other.example --json
json_error 10 verify "trisa-fetch: a name the certificate lacks"
assert_eq "$(json 'd["reports"][0]["verified"]')" "false" "the failed report beside the error"
assert_missing z
run trisa-fetch --zip "$zip" --out-dir afile/sub --p12-passin pass:Server-Pass-123 --trust "$EMU_CA" --json
json_error 1 io "trisa-fetch: an out-dir that cannot be made"
set_status() { curl -sS -X PUT "$EMU_URL/_emulator/batches/$1/status" -H 'Content-Type: application/json' \
    -d "{\"status\": \"$2\"${3:+, \"rejectReason\": \"$3\"}}" >/dev/null || fail "set $1 $2"; }
run sectigo upload -p 42 "$T/req.csr"
assert_rc 0 "upload"
rbid=$(json 'd["batchId"]')
set_status "$rbid" REJECTED "not this one"
run trisa-fetch --batch "$rbid" --out-dir r --trust "$EMU_CA" --json
json_error 8 rejected "trisa-fetch: a rejected batch"
run sectigo upload -p 42 "$T/req.csr"
pbid=$(json 'd["batchId"]')
set_status "$pbid" PROCESSING
run trisa-fetch --batch "$pbid" --out-dir p --trust "$EMU_CA" --timeout 0 --json
json_error 9 pending "trisa-fetch: still processing at the time limit"

# ---- On a terminal: the countdown, Ctrl-C; meanwhile --no-wait exits 15 ----------------------
# pty_ctrl_c MARK GO CMD...: run CMD on a new terminal; once its progress line has counted
# down (two updates), touch MARK and wait for GO, then type Ctrl-C. Prints what the
# terminal showed; exits as the shell reports CMD's end.
pty_ctrl_c() {
    python3 - "$@" <<'PY'
import fcntl, os, pty, re, select, subprocess, sys, termios, time
mark, go, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = pty.openpty()
def own_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal)
seen, end = b"", time.time() + 120
def pump(t):
    global seen
    if select.select([master], [], [], t)[0]:
        try:
            seen += os.read(master, 65536)
        except OSError:
            pass
while len(re.findall(rb"next poll in \d+ s", seen)) < 2 and time.time() < end and p.poll() is None:
    pump(0.2)
open(mark, "w").close()
while not os.path.exists(go) and time.time() < end and p.poll() is None:
    pump(0.2)
os.write(master, b"\x03")
try:
    rc = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = -9
for _ in range(10):
    pump(0.1)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(128 - rc if rc < 0 else rc)
PY
}
openssl req -new -key fixed.key -subj "/CN=poll.example" -addext "subjectAltName=DNS:poll.example" -out poll.csr 2>/dev/null
# From here batches stay PROCESSING (the same state, the emulator started again).
stop_emulator || fail "unclean exit"
start_emulator --test-hooks --tls-self-signed --processing-delay 3600
use_emulator
export SECTIGO_CA_BUNDLE="$EMU_TLS_CA" CURL_CA_BUNDLE="$EMU_TLS_CA"
pty_ctrl_c "$T/polling" "$T/go" trisa-fetch --csr poll.csr --profile 42 --key fixed.key --out-dir poll \
    --trust "$EMU_CA" --interval 4 --timeout 600 --json >pty.out 2>&1 &
driver=$!
for _ in $(seq 1 1200); do [ -e "$T/polling" ] && break; kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
[ -e "$T/polling" ] || fail "the run on the terminal never polled: $(cat pty.out)"
run trisa-fetch --csr poll.csr --profile 42 --key fixed.key --out-dir poll --trust "$EMU_CA" --no-wait --json
json_error 15 busy "trisa-fetch --no-wait while another run holds the request"
touch "$T/go"
wait "$driver" && rc=0 || rc=$?
OUT=$(tr -d '\r' <pty.out)
assert_eq "$rc" 130 "exit after Ctrl-C: $OUT"
pbatch=$(printf '%s' "$OUT" | sed -n 's/.*batch \([0-9]*\): PROCESSING.*/\1/p' | head -n 1)
[ -n "$pbatch" ] || fail "no progress line: $OUT"
n1=$(printf '%s' "$OUT" | grep -oE 'next poll in [0-9]+ s' | sed -n 1p | grep -oE '[0-9]+')
n2=$(printf '%s' "$OUT" | grep -oE 'next poll in [0-9]+ s' | sed -n 2p | grep -oE '[0-9]+')
[ "$n2" -lt "$n1" ] || fail "the next poll does not count down ($n1, then $n2): $OUT"
assert_contains "$OUT" "left before --timeout"
assert_contains "$OUT" "trisa-fetch: interrupted: run the same command to continue batch $pbatch"
assert_contains "$OUT" "{\"error\": {\"exit\": 130, \"code\": \"interrupted\", \"message\": \"interrupted: run the same command to continue batch $pbatch\"}}"
CODES_SEEN="$CODES_SEEN 130"
n_up=$(emu_count POST /api/v1/batches/upload)
run trisa-fetch --csr poll.csr --profile 42 --key fixed.key --out-dir poll --trust "$EMU_CA" --timeout 0
assert_rc 9 "the same command after Ctrl-C (the batch still held: looked at once)"
assert_contains "$ERR" "continuing batch $pbatch"
assert_eq "$(emu_count POST /api/v1/batches/upload)" "$n_up" "no second upload"
ok "on a terminal: the next poll counts down with the time left; Ctrl-C names the batch to continue (exit 130, JSON too); --no-wait meanwhile: JSON error 15; the same command then continues it"

codes=$(printf '%s\n' $CODES_SEEN | sort -n -u | tr '\n' ' ')
assert_eq "$codes" "1 2 3 4 5 6 7 8 9 10 11 12 14 15 130 " "exit codes seen as JSON errors"
ok "a JSON error document for exit codes $codes(13, the PIN, in test_hsm_csr.sh)"

# ---- Version, option letters, secrets -------------------------------------------------------
for t in trisa-csr trisa-fetch trisa-renew sectigo; do
    run "$t" -V
    assert_rc 0 "$t -V"
    assert_eq "$OUT" "$t version $VERSION (trisa-certkit)" "$t -V"
    run "$t" --version --json
    assert_eq "$OUT" "{\"program\": \"$t\", \"version\": \"$VERSION\", \"package\": \"trisa-certkit\"}" "$t --version --json"
done
run sectigo -v
assert_eq "$OUT" "sectigo version $VERSION (trisa-certkit)" "sectigo -v (the reference's letter)"
run trisa-fetch --csr req.csr -p 42 --out-dir x --trust "$EMU_CA"
assert_rc 2 "-p in trisa-fetch"
assert_eq "$ERR" "trisa-fetch: -p is not an option of trisa-fetch: the profile is --profile ID (-P), the Sectigo password --password or \$SECTIGO_PASSWORD (see 'trisa-fetch --help')" "-p refused"
run trisa-fetch --zip "$zip" --out-dir z --passin pass:Server-Pass-123 --trust "$EMU_CA"
assert_rc 2 "--passin without --key"
assert_contains "$ERR" "--passin is the passphrase of --key files (as in trisa-csr); the bundle's PKCS#12 password is --p12-passin SPEC or --password-file FILE"
openssl pkcs8 -topk8 -in fixed.key -passout pass:key-pass -out enc.key 2>/dev/null
run trisa-csr -config good.conf --key-in enc.key --passin pass:key-pass -out enc.csr --print
assert_rc 0 "trisa-csr --passin"
assert_contains "$OUT" "key SHA-256: $FP"
run trisa-fetch --csr req.csr --profile 42 --key enc.key --passin pass:key-pass --out-dir certs-enc --trust "$EMU_CA" --dry-run
assert_rc 0 "trisa-fetch --passin: the same key, the same meaning: $ERR"
assert_contains "$OUT" "would upload req.csr"
run trisa-fetch --csr req.csr --profile 42 --key enc.key --out-dir certs-enc --trust "$EMU_CA" --dry-run </dev/null
assert_rc 11 "trisa-fetch without the key's passphrase"
ok "-V/--version: one string in every tool; trisa-fetch -p refused; --passin is the key's passphrase in trisa-csr and trisa-fetch"

# ---- sectigo --json where the reference prints text ----------------------------------------
run sectigo --json auth
assert_rc 0 "auth --json"
assert_eq "$(json 'd["authenticated"]')" "true" "auth --json"
assert_exists "$(json 'd["cache"]')"
run sectigo auth --debug --json
assert_eq "$(json 'd["state"]')" "valid" "auth --debug --json"
run sectigo --json batches -i "$rbid" --status
assert_eq "$OUT" "{\"batchId\": $rbid, \"status\": \"REJECTED\"}" "batches --status --json"
run sectigo --json create -a 42 -d json.example
assert_rc 0 "create --json"
[ "$(json 'len(d["pkcs12Password"])')" = 20 ] || fail "create --json: no generated password: $OUT"
assert_eq "$(json 'd["batch"]["batchName"]')" "new certs for json.example" "create --json batch"
run sectigo --json authorities
assert_rc 0 "authorities --json"
assert_eq "$OUT" "$(sectigo authorities)" "authorities: the reference's JSON, --json or not"
mkdir -m 700 serve-state
cp -a "$EMU_STATE/ca" serve-state/ca
sectigo serve --json --addr 127.0.0.1:0 --state-dir serve-state --quiet >serve.out 2>serve.err &
spid=$!
for _ in $(seq 1 600); do [ -s serve.out ] && break; kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
OUT=$(head -n 1 serve.out)
kill -TERM "$spid" 2>/dev/null
wait "$spid" || fail "serve --json did not stop cleanly: $(cat serve.err)"
assert_eq "$(json 'd["listening"]')" "http://127.0.0.1:$(json 'd["port"]')" "serve --json"
assert_eq "$(json 'd["root"]')" "serve-state/ca/root.pem" "serve --json root"
ok "sectigo --json: auth, batches --status, create and serve print one object; authorities the reference's bytes"

# ---- sectigo: .env readable by others ---------------------------------------------------------
mkdir envdir
printf 'SECTIGO_PASSWORD=%s\n' "$EMU_PASS" >envdir/.env
chmod 644 envdir/.env
run bash -c 'cd envdir && exec sectigo --json licenses'
assert_rc 0 "sectigo with a loose .env"
assert_eq "$ERR" "sectigo: warning: .env is readable by every user (mode 644) and may hold the API password: chmod 600 .env" ".env warning"
chmod 640 envdir/.env
run bash -c 'cd envdir && exec sectigo --json licenses'
assert_contains "$ERR" "readable by its group (mode 640)"
chmod 600 envdir/.env
run bash -c 'cd envdir && exec sectigo --json licenses'
assert_eq "$ERR" "" "a 0600 .env: no warning"
ok "a .env others can read: used, with a warning naming its mode; 0600: silent"
done_testing
