#!/usr/bin/env bash
# trisa-fetch against the emulator: --csr (upload once, the journal, reruns after success,
# another folder, --new-request, a kill after the upload, an upload of unknown outcome),
# --batch (faults while polling and downloading, the time limit, several certificates) and
# the server-generated path (sectigo create, legacy PKCS#12).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
command -v sectigo >/dev/null 2>&1 || skip "sectigo is not built"
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

sed 's/"balance": *[0-9]*/"balance": 1000/' "$SHARE/emulator.json" >emu.json
start_emulator --test-hooks --processing-delay 2 --config emu.json

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
total() { requests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
newcsr() { # name [cn...]: key NAME.key and CSR NAME.csr for CN (default NAME)
    local n=$1 cn=${2:-$1}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$cn" \
        -addext "subjectAltName=DNS:$cn" -keyout "$n.key" -out "$n.csr" 2>/dev/null
}
# The journal folder of a CSR request: STATE/requests/SHA-256("trisa-enroll/csr\nURL\nPROFILE\nCSR-SHA-256")
entry() { printf 'trisa-enroll/csr\n%s\n%s\n%s' "$EMU_URL" "$PROFILE" "$(sha256sum "$1" | cut -c1-64)" |
    sha256sum | cut -c1-64 | sed "s|^|$TRISA_STATE_DIR/requests/|"; }
jget() { sed -n "s/^$2=//p" "$(entry "$1")/journal"; }
mtimes() { stat -c '%Y %n' "$1"/* "$1"/.trisa-enroll; }
# set_status ID STATUS: the emulator's test hook (PROCESSING stays until set otherwise)
set_status() { curl -sS -X PUT "$EMU_URL/_emulator/batches/$1/status" -H 'Content-Type: application/json' \
    -d "{\"status\": \"$2\"}" >/dev/null; }

# ---- --csr: upload, follow, write -----------------------------------------------------
newcsr vasp.example
clear_requests
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1 --dns vasp.example
assert_rc 0 "--csr"
assert_contains "$ERR" "uploaded vasp.example.csr to profile $PROFILE: batch"
assert_contains "$ERR" "wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in out"
assert_contains "$OUT" "pass chain-tls-client"
assert_dir_is out ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
assert_mode out/node.pem 600
assert_eq "$(jget vasp.example.csr state)" done "journal state"
# The batch's last status, kept after success (it was once always blank: issue 13).
assert_eq "$(jget vasp.example.csr status)" READY_FOR_DOWNLOAD "journal status"
assert_eq "$(jget vasp.example.csr batch_id)" "$(sed -n 's/.*uploaded vasp.example.csr to profile 42: batch \([0-9]*\).*/\1/p' <<<"$ERR")" "journal batch_id"
assert_eq "$(jget vasp.example.csr csr_sha256)" "$(sha256sum vasp.example.csr | cut -d' ' -f1)" "journal CSR hash"
assert_mode "$TRISA_STATE_DIR" 700
assert_mode "$(entry vasp.example.csr)" 700
assert_mode "$(entry vasp.example.csr)/journal" 600
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
assert_eq "$(count GET /api/v1/authorities/allowed)" 1 "profile and licence checks"
ok "--csr: checked, one upload, polled, downloaded, verified, written; journal done, status READY_FOR_DOWNLOAD (0600 in 0700)"

run openssl verify -CAfile "$EMU_CA" -untrusted out/chain.pem out/cert.pem
assert_rc 0 "openssl verify"
assert_eq "$OUT" "out/cert.pem: OK" "openssl verify"
run openssl verify -CAfile out/pool.pem out/cert.pem
assert_rc 0 "openssl verify with pool.pem"
assert_eq "$OUT" "out/cert.pem: OK" "openssl verify with pool.pem"
assert_eq "$(openssl pkey -in out/node.pem -pubout)" "$(openssl pkey -in vasp.example.key -pubout)" "node.pem key"
assert_eq "$(sed '/PRIVATE KEY/,$d' out/node.pem)" "$(cat out/fullchain.pem)" "node.pem chain"
if command -v certtool >/dev/null 2>&1; then
    cat out/fullchain.pem "$EMU_CA" >judge.pem
    run certtool --verify-chain --verify-profile=medium --infile judge.pem
    assert_rc 0 "certtool --verify-chain"
    assert_contains "$OUT" "Chain verification output: Verified."
fi
ok "the independent judges accept the chain; node.pem is leaf + chain + our key, pool.pem verifies"

# ---- reruns of a finished request ------------------------------------------------------
batch1=$(jget vasp.example.csr batch_id)
touch -d 2020-01-01 out/* out/.trisa-enroll
before=$(mtimes out)
n=$(total)
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun after success"
assert_contains "$ERR" "already issued (batch $batch1): nothing to do"
assert_eq "$(mtimes out)" "$before" "mtimes after the rerun"
assert_eq "$(total)" "$n" "requests sent by the rerun"
ok "a rerun after success: exit 0 'already issued', files untouched (mtime), nothing sent"

rm out/pool.pem
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun with a file missing"
assert_contains "$ERR" "wrote pool.pem in out"
assert_eq "$(stat -c %Y out/cert.pem)" "$(date -d 2020-01-01 +%s)" "cert.pem mtime"
assert_eq "$(cat out/pool.pem)" "$(cat out/chain.pem out/root.pem)" "pool.pem"
printf '\n' >>out/cert.pem
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 4 "a changed output"
assert_contains "$ERR" "out/cert.pem exists and differs from the issued certificate's file"
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1 --force
assert_rc 0 "--force"
assert_eq "$(cat out/cert.pem)" "$(sed -n '1,/END CERTIFICATE/p' out/fullchain.pem)" "cert.pem restored"
assert_eq "$(total)" "$n" "requests sent by these reruns"
ok "a missing output is written alone; a changed one is refused (exit 4) unless --force; nothing sent"

run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out2 --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "another folder"
assert_eq "$(cat out2/cert.pem)" "$(cat out/cert.pem)" "the same certificate"
assert_eq "$(total)" "$n" "requests"
ok "the same CSR in another folder: the same certificate, from the journal, nothing sent"

# The journal elsewhere (a state directory on a disk not mounted, another user's): the
# folder's pointer still names the batch, so nothing is uploaded again.
mv "$TRISA_STATE_DIR" state.away
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun without the journal"
assert_contains "$ERR" "already issued (batch $batch1)"
assert_eq "$(total)" "$n" "requests"
rm out/chain.pem
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun without the journal, a file missing"
assert_contains "$ERR" "names its batch $batch1: continuing that batch, uploading nothing"
assert_contains "$ERR" "wrote chain.pem in out"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
assert_eq "$(jget vasp.example.csr state)" done "the journal made again"
rm -rf "$TRISA_STATE_DIR"
mv state.away "$TRISA_STATE_DIR"
ok "without the journal, the folder's pointer keeps the promise: already issued, or the batch continued; no upload"

# ---- --new-request: the same bytes, a new batch -----------------------------------------
serial1=$(openssl x509 -in out/cert.pem -noout -serial)
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1 --new-request
assert_rc 0 "--new-request"
assert_contains "$ERR" "a new request for this CSR: it supersedes batch $batch1"
assert_eq "$(count POST /api/v1/batches/upload)" 2 "uploads"
batch2=$(jget vasp.example.csr batch_id)
[ "$batch2" != "$batch1" ] || fail "no new batch"
assert_eq "$(jget vasp.example.csr supersedes)" "$batch1" "supersedes"
assert_eq "$(jget vasp.example.csr generation)" 2 "generation"
[ "$(openssl x509 -in out/cert.pem -noout -serial)" != "$serial1" ] || fail "the certificate was not replaced"
assert_exists "$(entry vasp.example.csr)/journal.1"
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir out --key vasp.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun after --new-request"
assert_contains "$ERR" "already issued (batch $batch2)"
assert_eq "$(count POST /api/v1/batches/upload)" 2 "uploads"
ok "--new-request: a second batch and a new certificate in place of the first; the rerun uploads nothing"

# ---- kill right after the upload, then rerun -----------------------------------------
newcsr killed.example
clear_requests
# The first poll hangs: the kill comes after the upload, whatever the machine's speed.
emu_hooks_faults '{"method":"GET","path":"/api/v1/batches/{id}","kind":"delay","delayMs":30000,"count":1}' >/dev/null
trisa-fetch --csr killed.example.csr --profile $PROFILE --out-dir kout --key killed.example.key \
    --trust "$EMU_CA" --interval 1 >kill.out 2>kill.err &
pid=$!
for _ in $(seq 1 1200); do
    [ -n "$(jget killed.example.csr batch_id 2>/dev/null)" ] && break
    sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -n "$(jget killed.example.csr batch_id)" ] || fail "no batch id in the journal before the kill"
assert_missing kout/cert.pem
run trisa-fetch --csr killed.example.csr --profile $PROFILE --out-dir kout --key killed.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "rerun after kill"
assert_contains "$ERR" "continuing batch"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads across the kill"
assert_eq "$(openssl x509 -in kout/cert.pem -noout -subject)" "subject=O = Test VASP, CN = killed.example"
ok "killed after the upload: the rerun continues the batch; the log shows one upload"

# ---- an upload sent without a batch id coming back --------------------------------------
newcsr lost.example
e=$(entry lost.example.csr)
mkdir -p "$e"
chmod 700 "$e"
cat >"$e/journal" <<EOF
trisa-enroll-journal 1
kind=csr
endpoint=$EMU_URL
profile=$PROFILE
csr_sha256=$(sha256sum lost.example.csr | cut -d' ' -f1)
name=lost.example
state=sent
generation=1
attempt=1
created=$(date +%s)
updated=$(date +%s)
sent_at=$(date +%s)
end
EOF
clear_requests
run trisa-fetch --csr lost.example.csr --profile $PROFILE --out-dir lout --key lost.example.key \
    --trust "$EMU_CA" --interval 1
assert_rc 1 "unknown upload outcome"
assert_contains "$ERR" "no batch id came back"
assert_contains "$ERR" "continue from it by its id (--batch ID), or, if the server has none, upload again (--force-upload): both are options of the command you ran"
assert_contains "$ERR" "certificates for commonName lost.example on the server: 0"
assert_eq "$(count POST /api/v1/batches/upload)" 0 "uploads"
assert_eq "$(count POST /api/v1/certificates/find)" 1 "find"
assert_missing lout
run trisa-fetch --csr lost.example.csr --profile $PROFILE --out-dir lout --key lost.example.key \
    --trust "$EMU_CA" --interval 1 --force-upload
assert_rc 0 "--force-upload"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
assert_eq "$(jget lost.example.csr attempt)" 2 "attempts"
ok "an upload without a batch id: looked up with find, stopped with instructions; --force-upload uploads"

newcsr fresh.example
run trisa-fetch --csr fresh.example.csr --profile $PROFILE --out-dir lout --key fresh.example.key \
    --trust "$EMU_CA"
assert_rc 4 "a folder of another request"
assert_contains "$ERR" "lout/cert.pem exists and this request did not write it; nothing sent"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
run trisa-fetch --csr vasp.example.csr --profile $PROFILE --out-dir lout --key vasp.example.key \
    --trust "$EMU_CA"
assert_rc 4 "a done request into a folder of another"
assert_contains "$ERR" "lout/cert.pem exists and differs from the issued certificate's file"
assert_eq "$(openssl x509 -in lout/cert.pem -noout -subject)" "subject=O = Test VASP, CN = lost.example" "lout kept"
ok "a folder holding another request's files: refused before an upload (nothing sent), or, for a done request, nothing written"

# ---- --batch: faults while polling and downloading -------------------------------------
newcsr batch.example
run sectigo upload -p $PROFILE batch.example.csr
assert_rc 0 "sectigo upload"
bid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
emu_hooks_faults '{"path":"/api/v1/batches/{id}/processing_info","kind":"status","status":503,"retryAfter":1,"count":2}' >/dev/null
emu_hooks_faults '{"path":"/api/v1/batches/{id}/download","kind":"drop","count":1}' >/dev/null
emu_hooks_faults '{"path":"/api/v1/batches/{id}/download","kind":"cut","cutAfter":200,"count":1}' >/dev/null
# Processing until the polls have met the faults: then ready.
set_status "$bid" PROCESSING
clear_requests
trisa-fetch --batch "$bid" --out-dir bout --key batch.example.key --trust "$EMU_CA" --interval 1 \
    >bout.out 2>bout.err &
pid=$!
for _ in $(seq 1 600); do
    [ "$(count GET "/api/v1/batches/$bid/processing_info")" -ge 3 ] && break
    sleep 0.1
done
set_status "$bid" READY_FOR_DOWNLOAD
wait "$pid" && RC=0 || RC=$?
ERR=$(cat bout.err)
assert_rc 0 "--batch with faults"
assert_dir_is bout ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
[ "$(count GET "/api/v1/batches/$bid/processing_info")" -ge 3 ] || fail "processing_info not retried"
[ "$(count GET "/api/v1/batches/$bid/download")" -ge 3 ] || fail "download not retried: $(requests)"
run openssl verify -CAfile "$EMU_CA" -untrusted bout/chain.pem bout/cert.pem
assert_rc 0 "verify after faults"
assert_eq "$OUT" "bout/cert.pem: OK" "openssl verify after faults"
assert_eq "$(openssl x509 -in bout/cert.pem -noout -pubkey)" "$(openssl pkey -in batch.example.key -pubout)" "the certificate's key after faults"
ok "--batch: 503 + Retry-After while polling, a dropped and a cut-short download: retried, files right"

newcsr slow.example
run sectigo upload -p $PROFILE slow.example.csr
sbid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
set_status "$sbid" PROCESSING
run trisa-fetch --batch "$sbid" --out-dir sout --key slow.example.key --trust "$EMU_CA" --timeout 0
assert_rc 9 "timeout"
assert_contains "$ERR" "run the same command again later"
assert_missing sout
ok "--timeout 0 while processing: exit 9, nothing written (the out-dir not made)"

# A hung request ends at --timeout, not at the client's 120 s per request.
emu_hooks_faults '{"path":"/api/v1/batches/{id}","kind":"delay","delayMs":20000,"count":1}' >/dev/null
start=$(date +%s)
run trisa-fetch --batch "$sbid" --out-dir sout --key slow.example.key --trust "$EMU_CA" --timeout 3 --interval 1
took=$(($(date +%s) - start))
assert_rc 9 "hung poll"
[ "$took" -lt 15 ] || fail "--timeout 3 took $took s (the hung request: 20 s)"
ok "a hung request ends the run at --timeout (exit 9 after $took s, not 120)"

# A permanent error while polling ends the run at once with its own code.
run trisa-fetch --batch 999999 --out-dir nout --trust "$EMU_CA" --timeout 60 --interval 1
assert_rc 6 "404 while polling"
assert_contains "$ERR" "HTTP 404"
assert_missing nout
ok "a 404 while polling ends the run at once (exit 6), not at the time limit"

emu_hooks_faults '{"method":"GET","path":"/api/v1/batches/{id}","kind":"status","status":401,"count":10}' >/dev/null
clear_requests
run trisa-fetch --batch "$sbid" --out-dir aout --key slow.example.key --trust "$EMU_CA" --timeout 60 --interval 1
assert_rc 5 "401 after a fresh login while polling"
assert_eq "$(count POST /auth/pwd)" 1 "fresh logins"
assert_eq "$(count GET "/api/v1/batches/$sbid")" 2 "batch detail requests"
assert_missing aout
curl -sS -X DELETE "$EMU_URL/_emulator/faults" >/dev/null
ok "401 while polling, again after a fresh login: the run ends at once (exit 5)"

# ---- a batch the CA does not accept (RSA-1024 is under the profile's minimum) ----------
openssl req -new -newkey rsa:1024 -nodes -subj "/O=Test VASP/CN=weak.example" \
    -keyout weak.key -out weak.csr 2>/dev/null
clear_requests
run trisa-fetch --csr weak.csr --profile $PROFILE --out-dir wout --key weak.key --trust "$EMU_CA" --interval 1
assert_rc 8 "rejected"
assert_contains "$ERR" "was NOT_ACCEPTABLE: "
assert_eq "$(jget weak.csr state)" rejected "journal state"
assert_missing wout
run trisa-fetch --csr weak.csr --profile $PROFILE --out-dir wout --key weak.key --trust "$EMU_CA" --interval 1
assert_rc 8 "rejected again"
assert_contains "$ERR" "nothing sent again"
assert_eq "$(count POST /api/v1/batches/upload)" 1 "uploads"
ok "a batch the CA does not accept: its reason, exit 8, journal rejected; the rerun sends nothing"

# ---- several certificates in one batch, a folder of keys -----------------------------
mkdir mkeys
(cd mkeys && newcsr one.example && newcsr two.example)
cat mkeys/one.example.csr mkeys/two.example.csr >both.csr
run trisa-fetch --csr both.csr --profile $PROFILE --out-dir mout --key mkeys --trust "$EMU_CA" --interval 1
assert_rc 0 "two certificates"
assert_dir_is mout ".trisa-enroll one.example two.example"
assert_eq "$(openssl x509 -in mout/two.example/cert.pem -noout -subject)" "subject=O = Test VASP, CN = two.example"
ok "a batch of two certificates: each matched to its key, written to DIR/<commonName>/"

# Two requests with one commonName (two keys): distinct folders, each with its own key.
mkdir dkeys
(cd dkeys && newcsr a same.example && newcsr b same.example)
cat dkeys/a.csr dkeys/b.csr >dup.csr
run trisa-fetch --csr dup.csr --profile $PROFILE --out-dir dout --key dkeys --trust "$EMU_CA" --interval 1
assert_rc 0 "two certificates with one name"
assert_dir_is dout ".trisa-enroll same.example same.example-2"
k1=$(openssl x509 -in dout/same.example/cert.pem -noout -pubkey)
k2=$(openssl x509 -in dout/same.example-2/cert.pem -noout -pubkey)
[ "$k1" != "$k2" ] || fail "the two folders hold the same certificate"
for d in same.example same.example-2; do
    assert_eq "$(openssl pkey -in dout/$d/node.pem -pubout)" "$(openssl x509 -in dout/$d/cert.pem -noout -pubkey)" "$d node.pem"
done
ok "two leaves with one commonName: distinct folders (name, name-2), each certificate with its key"

# ---- the server-generated key: sectigo create, legacy PKCS#12 --------------------------
run sectigo create -a 1 -d server.example -p 'Server-Pass-123'
assert_rc 0 "sectigo create"
assert_contains "$OUT" '"batchName": "new certs for server.example",' "sectigo create"
cbid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
run trisa-fetch --batch "$cbid" --out-dir cout --p12-passin 'pass:Server-Pass-123' --trust "$EMU_CA" \
    --interval 1 --p12-out cout.p12 --passout pass:modern-pass
assert_rc 0 "server-generated batch"
assert_dir_is cout ".trisa-enroll cert.pem chain.pem fullchain.pem key.pem node.pem pool.pem root.pem"
assert_mode cout/key.pem 600
assert_mode cout/node.pem 600
run openssl pkcs12 -in cout.p12 -passin pass:modern-pass -info -noout
assert_rc 0 "openssl pkcs12 on the re-export"
assert_contains "$ERR" "AES-256-CBC"
ok "sectigo create + trisa-fetch --batch: legacy PKCS#12 decrypted, key.pem 0600, modern re-export"

run trisa-fetch --batch "$cbid" --out-dir cout2 --p12-passin pass:wrong-password --trust "$EMU_CA"
assert_rc 11 "wrong password"
assert_missing cout2
ok "wrong PKCS#12 password: exit 11"

done_testing
