#!/usr/bin/env bash
# trisa-fetch against the emulator: --csr (upload, state file, rerun, kill after the upload,
# unknown upload outcome), --batch (faults while polling and downloading, timeout, several
# certificates) and the server-generated path (sectigo create, legacy PKCS#12).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
command -v sectigo >/dev/null 2>&1 || skip "sectigo is not built"
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

start_emulator --test-hooks --processing-delay 2

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"
PROFILE=42

requests() { curl -sS "$EMU_URL/_emulator/requests"; }
clear_requests() { curl -sS -X DELETE "$EMU_URL/_emulator/requests" >/dev/null; }
# count METHOD PATH-REGEX: requests in the log that match
count() { requests | python3 -c 'import json,re,sys
m, p = sys.argv[1], re.compile(sys.argv[2])
print(sum(1 for r in json.load(sys.stdin) if r["method"] == m and p.fullmatch(r["path"])))' "$1" "$2"; }
newcsr() { # name [cn...]: key NAME.key and CSR NAME.csr for CN (default NAME)
    local n=$1 cn=${2:-$1}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$cn" \
        -addext "subjectAltName=DNS:$cn" -keyout "$n.key" -out "$n.csr" 2>/dev/null
}
state_get() { sed -n "s/^$2=//p" "$1/trisa-fetch.state"; }

# ---- --csr: upload, follow, write -----------------------------------------------------
newcsr vasp.example
clear_requests
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1 --dns vasp.example
assert_rc 0 "--csr"
assert_contains "$ERR" "uploaded vasp.example.csr to profile $PROFILE: batch"
assert_contains "$OUT" "pass chain-tls-client"
assert_dir_is out "cert.pem chain.pem fullchain.pem root.pem trisa-fetch.state"
assert_eq "$(state_get out phase)" done "state phase"
assert_eq "$(state_get out csr_sha256)" "$(sha256sum vasp.example.csr | cut -d' ' -f1)" "state CSR hash"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
ok "--csr: one upload, polled, downloaded, verified, written; state file done"

run openssl verify -CAfile "$EMU_CA" -untrusted out/chain.pem out/cert.pem
assert_rc 0 "openssl verify"
if command -v certtool >/dev/null 2>&1; then
    cat out/fullchain.pem "$EMU_CA" >judge.pem
    run certtool --verify-chain --verify-profile=medium --infile judge.pem
    assert_rc 0 "certtool --verify-chain"
fi
ok "the independent judges accept the emulator-issued chain"

batch1=$(state_get out batch_id)
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 4 "rerun without --force"
assert_contains "$ERR" "continuing batch $batch1"
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1 --force
assert_rc 0 "rerun with --force"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads after two reruns"
ok "a rerun continues batch $batch1 and never uploads the CSR again"

# ---- kill right after the upload, then rerun -----------------------------------------
newcsr killed.example
clear_requests
mkdir kout
trisa-fetch --csr killed.example.csr --profile $PROFILE --out-dir kout --key killed.example.key \
    --trust "$EMU_CA" --interval 1 >kill.out 2>kill.err &
pid=$!
for _ in $(seq 1 100); do
    [ -n "$(state_get kout batch_id 2>/dev/null)" ] && break
    sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -n "$(state_get kout batch_id)" ] || fail "no batch id in the state file before the kill"
assert_missing kout/cert.pem
run trisa-fetch --csr killed.example.csr --profile $PROFILE --out-dir kout --key killed.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun after kill"
assert_contains "$ERR" "continuing batch"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads across the kill"
assert_eq "$(openssl x509 -in kout/cert.pem -noout -subject)" "subject=O = Test VASP, CN = killed.example"
ok "killed after the upload: the rerun continues the batch; the log shows one upload"

# ---- an upload attempted without a batch id coming back --------------------------------
newcsr lost.example
mkdir lout
cat >lout/trisa-fetch.state <<EOF
csr_sha256=$(sha256sum lost.example.csr | cut -d' ' -f1)
profile=$PROFILE
endpoint=$EMU_URL
batch_id=
status=
phase=uploading
created=$(date +%s)
updated=$(date +%s)
EOF
clear_requests
run trisa-fetch --csr lost.example.csr --profile $PROFILE --out-dir lout --key lost.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 1 "unknown upload outcome"
assert_contains "$ERR" "no batch id came back"
assert_contains "$ERR" "--force-upload"
assert_contains "$ERR" "Certificates for commonName lost.example on the server: 0"
assert_eq "$(count POST /api/v1/batches/upload)" 0 "uploads"
assert_eq "$(count POST /api/v1/certificates/find)" 1 "find"
run trisa-fetch --csr lost.example.csr --profile $PROFILE --out-dir lout --key lost.example.key \
    --trust "$EMU_CA" --interval 1 --force-upload
assert_rc 0 "--force-upload"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
ok "an upload without a batch id: looked up with find, stopped with instructions; --force-upload uploads"

run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir lout --key vasp.example.key \
    --trust "$EMU_CA"
assert_rc 3 "state of another CSR"
assert_contains "$ERR" "records another upload"
ok "a state file of another CSR is not reused"

# ---- --batch: faults while polling and downloading -------------------------------------
newcsr batch.example
run sectigo upload -p $PROFILE batch.example.csr
assert_rc 0 "sectigo upload"
bid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
emu_hooks_faults '{"path":"/api/v1/batches/{id}/processing_info","kind":"status","status":503,"retryAfter":1,"count":2}' >/dev/null
emu_hooks_faults '{"path":"/api/v1/batches/{id}/download","kind":"drop","count":1}' >/dev/null
emu_hooks_faults '{"path":"/api/v1/batches/{id}/download","kind":"cut","cutAfter":200,"count":1}' >/dev/null
clear_requests
run trisa-fetch --batch "$bid" --out-dir bout --key batch.example.key --trust "$EMU_CA" --interval 1
assert_rc 0 "--batch with faults"
assert_dir_is bout "cert.pem chain.pem fullchain.pem root.pem"
[ "$(count GET "/api/v1/batches/$bid/processing_info")" -ge 3 ] || fail "processing_info not retried"
[ "$(count GET "/api/v1/batches/$bid/download")" -ge 3 ] || fail "download not retried: $(requests)"
run openssl verify -CAfile "$EMU_CA" -untrusted bout/chain.pem bout/cert.pem
assert_rc 0 "verify after faults"
ok "--batch: 503 + Retry-After while polling, a dropped and a cut-short download: retried, files right"

newcsr slow.example
run sectigo upload -p $PROFILE slow.example.csr
sbid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
# Held in PROCESSING by the hook, not by racing the 2 s delay on a loaded machine.
curl -sS -f -X PUT "$EMU_URL/_emulator/batches/$sbid/status" -d '{"status":"PROCESSING"}' || fail "hold batch $sbid"
run trisa-fetch --batch "$sbid" --out-dir sout --key slow.example.key --trust "$EMU_CA" --timeout 0
assert_rc 9 "timeout"
assert_contains "$ERR" "run the same command again later"
assert_dir_is sout ""
ok "--timeout reached while processing: exit 9, nothing written"

# ---- a batch the CA does not accept (RSA-1024 is under the profile's minimum) ----------
openssl req -new -newkey rsa:1024 -nodes -subj "/O=Test VASP/CN=weak.example" \
    -keyout weak.key -out weak.csr 2>/dev/null
run trisa-fetch --csr weak.csr --profile $PROFILE --out-dir wout --key weak.key --trust "$EMU_CA" --interval 1
assert_rc 8 "rejected"
assert_contains "$ERR" "was NOT_ACCEPTABLE: "
assert_eq "$(state_get wout phase)" rejected "state phase"
assert_dir_is wout "trisa-fetch.state"
ok "a batch the CA does not accept: its reason printed, exit 8, state rejected"

# ---- several certificates in one batch, a folder of keys -----------------------------
mkdir mkeys
(cd mkeys && newcsr one.example && newcsr two.example)
cat mkeys/one.example.csr mkeys/two.example.csr >both.csr
run trisa-fetch --csr both.csr --profile $PROFILE --out-dir mout --key mkeys --trust "$EMU_CA" --interval 1
assert_rc 0 "two certificates"
assert_dir_is mout "one.example trisa-fetch.state two.example"
assert_eq "$(openssl x509 -in mout/two.example/cert.pem -noout -subject)" "subject=O = Test VASP, CN = two.example"
ok "a batch of two certificates: each matched to its key, written to DIR/<commonName>/"

# ---- the server-generated key: sectigo create, legacy PKCS#12 --------------------------
run sectigo create -a 1 -d server.example -p 'Server-Pass-123'
assert_rc 0 "sectigo create"
cbid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
run trisa-fetch --batch "$cbid" --out-dir cout --passin 'pass:Server-Pass-123' --trust "$EMU_CA" \
    --interval 1 --p12-out cout.p12 --passout pass:modern-pass
assert_rc 0 "server-generated batch"
assert_dir_is cout "cert.pem chain.pem fullchain.pem key.pem root.pem"
assert_mode cout/key.pem 600
run openssl pkcs12 -in cout.p12 -passin pass:modern-pass -info -noout
assert_rc 0 "openssl pkcs12 on the re-export"
assert_contains "$ERR" "AES-256-CBC"
ok "sectigo create + trisa-fetch --batch: legacy PKCS#12 decrypted, key.pem 0600, modern re-export"

run trisa-fetch --batch "$cbid" --out-dir cout2 --passin pass:wrong-password --trust "$EMU_CA"
assert_rc 11 "wrong password"
ok "wrong PKCS#12 password: exit 11"

done_testing
