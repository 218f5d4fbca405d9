#!/usr/bin/env bash
# trisa-fetch --csr checks every local input and the account before it uploads: each
# refusal below has its message and exit code, sends no upload (the emulator's request log
# is the judge) and makes nothing (no out-dir, no journal entry). Then --dry-run, and a
# command line checked whole before anything is made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

# A second profile (43) whose authority has no licence left.
python3 - "$SHARE/emulator.json" >emu.json <<'EOF'
import copy, json, sys
c = json.load(open(sys.argv[1]))
c["authorities"][0]["balance"] = 1000
a = copy.deepcopy(c["authorities"][0]); a.update(id=2, profileId=43, balance=0, profileName="Empty")
c["authorities"].append(a)
p = copy.deepcopy(c["profiles"][0]); p.update(profileId=43, profileName="Empty", name="Empty")
c["profiles"].append(p)
for acc in c["accounts"]:
    if acc["username"] == "staging":
        acc["authorities"] = [1, 2]
json.dump(c, sys.stdout)
EOF
start_emulator --test-hooks --processing-delay 0 --config emu.json

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"

uploads() { curl -sS "$EMU_URL/_emulator/requests" | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["path"] == "/api/v1/batches/upload"))'; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
}
fp() { key_fp "$1"; }
csrfp() { openssl req -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64 | colon_hex; }
# refused CODE TEXT ARGS...: trisa-fetch --csr ... exits CODE saying TEXT, sends no upload,
# makes no out-dir and no journal entry.
refused() {
    local code=$1 text=$2
    shift 2
    run trisa-fetch --profile 42 --out-dir out --interval 1 "$@"
    assert_rc "$code" "trisa-fetch $*"
    assert_contains "$ERR" "$text"
    assert_eq "$(uploads)" 0 "uploads after: trisa-fetch $*"
    assert_missing out
    [ ! -d "$TRISA_STATE_DIR/requests" ] || [ -z "$(ls -A "$TRISA_STATE_DIR/requests")" ] ||
        fail "a journal entry was made: $(ls "$TRISA_STATE_DIR/requests")"
}

newcsr vasp.example
newcsr other.example

printf 'not a request\n' >junk.csr
refused 3 "junk.csr: not a PEM or DER certificate request" --csr junk.csr --key vasp.example.key --trust "$EMU_CA"
ok "a CSR that does not parse: exit 3, nothing sent"

# Flip a bit inside the signature (the last bytes of the DER), keep the PEM valid.
openssl req -in vasp.example.csr -outform DER -out req.der
python3 -c 'import sys; d = bytearray(open("req.der","rb").read()); d[-5] ^= 1; open("bad.der","wb").write(d)'
openssl req -inform DER -in bad.der -out badsig.csr 2>/dev/null || cp bad.der badsig.csr
refused 3 "the request's signature does not verify" --csr badsig.csr --key vasp.example.key --trust "$EMU_CA"
ok "a CSR whose signature does not verify: exit 3, nothing sent"

refused 10 "was made for another key: its public key SHA-256 is $(csrfp vasp.example.csr), the key given: other.example.key $(fp other.example.key); nothing sent" \
    --csr vasp.example.csr --key other.example.key --trust "$EMU_CA"
ok "a CSR made for another key than --key: exit 10, both fingerprints named, nothing sent"

refused 3 "trust anchors: missing.pem: cannot open" --csr vasp.example.csr --key vasp.example.key --trust missing.pem
printf 'no certificate here\n' >empty.pem
refused 3 "trust anchors empty.pem: no PEM certificate in it" --csr vasp.example.csr --key vasp.example.key --trust empty.pem
ok "trust anchors that do not load: exit 3, nothing sent"

openssl pkey -in vasp.example.key -aes256 -passout pass:secret-pass -out enc.key
refused 11 "enc.key: the key is encrypted and no passphrase was given (key-passin); nothing sent" \
    --csr vasp.example.csr --key enc.key --trust "$EMU_CA"
refused 11 "enc.key: wrong passphrase for the encrypted key" \
    --csr vasp.example.csr --key enc.key --key-passin pass:wrong --trust "$EMU_CA"
ok "an encrypted key without its passphrase, or with a wrong one: exit 11, nothing sent"

touch afile
refused 1 "out-dir afile/sub cannot be made: afile is not a folder" \
    --csr vasp.example.csr --key vasp.example.key --trust "$EMU_CA" --out-dir afile/sub
ok "an out-dir that cannot be made: exit 1, nothing sent"

# An out-dir that exists but cannot be written in (0500). Root writes anywhere, so as root
# the run is nobody's (setpriv), in a folder of nobody's with its own copies of the inputs.
as_user=()
ro_ok=1
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null 2>&1 && setpriv --reuid=nobody --regid=nogroup --clear-groups -- true 2>/dev/null; then
        as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    else
        ro_ok=
        skip_case "an out-dir that cannot be written in: running as root without setpriv (to be nobody)"
    fi
fi
if [ -n "$ro_ok" ]; then
    chmod 755 "$T"
    mkdir -m 755 ro-run
    cp vasp.example.csr vasp.example.key ro-run/
    cp "$EMU_CA" ro-run/ca.pem
    mkdir -m 500 ro-run/ro
    [ "${#as_user[@]}" -eq 0 ] || chown -R nobody ro-run
    cd ro-run
    run "${as_user[@]}" env TRISA_STATE_DIR="$T/ro-run/state" XDG_CACHE_HOME="$T/ro-run/cache" \
        "$BIN/trisa-fetch" --csr vasp.example.csr --profile 42 --key vasp.example.key --out-dir ro \
        --trust ca.pem --interval 1
    cd "$T"
    assert_rc 1 "an out-dir without write permission"
    assert_eq "$ERR" "trisa-fetch: error: out-dir: cannot write in ro: Permission denied; nothing sent" "stderr"
    assert_eq "$(uploads)" 0 "uploads after an out-dir without write permission"
    assert_dir_is ro-run/ro ""
    [ ! -d ro-run/state/requests ] || [ -z "$(ls -A ro-run/state/requests)" ] ||
        fail "a journal entry was made: $(ls ro-run/state/requests)"
    ok "an out-dir that exists but cannot be written in (0500${as_user:+, run as nobody}): exit 1, nothing sent"
fi

refused 2 "--p12-out needs a password: give --passout" \
    --csr vasp.example.csr --key vasp.example.key --trust "$EMU_CA" --p12-out out.p12
assert_missing out.p12
cat vasp.example.csr other.example.csr >two.csr
refused 3 "a PKCS#12 (p12-out) holds one certificate; two.csr holds 2 requests" \
    --csr two.csr --key vasp.example.key --key other.example.key --trust "$EMU_CA" --p12-out out.p12 --passout pass:x
ok "an output without what it needs (--p12-out: a password, one certificate): refused, nothing sent"

SECTIGO_PASSWORD=wrong-password refused 5 "wrong username or password" \
    --csr vasp.example.csr --key vasp.example.key --trust "$EMU_CA"
ok "credentials that do not log in: exit 5, nothing sent"

run trisa-fetch --csr vasp.example.csr --profile 99 --out-dir out --key vasp.example.key --trust "$EMU_CA"
assert_rc 3 "unknown profile"
assert_contains "$ERR" "profile 99 is not one this account may use (its profiles: 42, 43); nothing sent"
assert_eq "$(uploads)" 0 "uploads"
assert_missing out
ok "a profile the account does not have: exit 3, nothing sent"

run trisa-fetch --csr vasp.example.csr --profile 43 --out-dir out --key vasp.example.key --trust "$EMU_CA"
assert_rc 6 "no licence"
assert_contains "$ERR" "profile 43: authority 2 has 0 licences left, 1 needed; nothing sent"
assert_eq "$(uploads)" 0 "uploads"
assert_missing out
ok "an authority with no licence left: exit 6, nothing sent"

mkdir out
echo "someone else's" >out/cert.pem
run trisa-fetch --csr vasp.example.csr --profile 42 --out-dir out --key vasp.example.key --trust "$EMU_CA"
assert_rc 4 "a folder with another certificate"
assert_contains "$ERR" "out/cert.pem exists and this request did not write it; nothing sent"
assert_eq "$(uploads)" 0 "uploads"
assert_eq "$(cat out/cert.pem)" "someone else's" "cert.pem kept"
rm -r out
ok "an out-dir holding files this request did not write: exit 4 before the upload"

# ---- --dry-run ---------------------------------------------------------------------------
run trisa-fetch --csr vasp.example.csr --profile 42 --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --dry-run
assert_rc 0 "--dry-run"
assert_contains "$OUT" "would upload vasp.example.csr (1 request: CN vasp.example; SHA-256 $(sha256sum vasp.example.csr | cut -c1-64)) to profile 42 (TRISA Profile, authority 1): 1000 licences left at $EMU_URL as staging"
assert_contains "$OUT" "the certificate must carry vasp.example.key; outputs in out; journal $TRISA_STATE_DIR/requests/"
assert_eq "$(uploads)" 0 "uploads"
assert_missing out
assert_missing "$TRISA_STATE_DIR"
ok "--dry-run: every check, then what would be uploaded where; nothing sent, nothing made"

# ---- the whole command line first -----------------------------------------------------------
run trisa-fetch --out-dir made-too-early --zip x.zip --trust-bundle-root --no-such-option
assert_rc 2 "unknown option after --out-dir"
assert_missing made-too-early
run trisa-fetch --out-dir made-too-early --csr vasp.example.csr --trust "$EMU_CA"
assert_rc 2 "--csr without --profile"
assert_contains "$ERR" "--csr needs --profile"
assert_missing made-too-early
ok "a bad command line exits 2 before anything is made (the out-dir does not appear)"

# ---- and when every check passes: one upload ------------------------------------------------
# The state folder exists open to the group and others: the run says so, once.
mkdir -m 750 "$TRISA_STATE_DIR"
run trisa-fetch --csr vasp.example.csr --profile 42 --out-dir out --key enc.key --key-passin pass:secret-pass \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "all checks pass"
assert_eq "$(uploads)" 1 "uploads"
assert_contains "$(sed -n '/PRIVATE KEY/,$p' out/node.pem | head -n 1)" "ENCRYPTED PRIVATE KEY"
assert_eq "$(openssl pkey -in out/node.pem -passin pass:secret-pass -pubout)" "$(openssl pkey -in vasp.example.key -pubout)" "node.pem key"
assert_eq "$(grep -c "state folder $TRISA_STATE_DIR is open to other users (mode 750); it records every request: chmod 700 $TRISA_STATE_DIR" <<<"$ERR")" 1 "warnings on the state folder"
ok "the same CSR with its key's passphrase: one upload; node.pem's key encrypted as the key file is; the 0750 state folder warned about once"

done_testing
