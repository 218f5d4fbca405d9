#!/usr/bin/env bash
# trisa-fetch --csr when the upload or the download meets a fault (the emulator's test
# hooks), and --state-dir end to end:
# - a download that hangs ends the run at --timeout (exit 9), the batch is kept: the rerun
#   continues it, no second upload;
# - an upload answered 400 or 422 made no batch: the attempt is cleared, the rerun uploads
#   without --force-upload;
# - an upload whose connection is dropped after it was sent stays "unknown": the rerun
#   refuses without --force-upload and says so; --force-upload then uploads once more;
# - --state-dir DIR: the journal is written there (0700 folders, 0600 files), not under
#   $TRISA_STATE_DIR.
# Every case is judged by the exit code, the message and the emulator's request log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl

sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

sed 's/"balance": *[0-9]*/"balance": 1000/' "$SHARE/emulator.json" >emu.json
start_emulator --test-hooks --processing-delay 0 --config emu.json

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"

clear_requests() { curl -sS -X DELETE "$EMU_URL/_emulator/requests" >/dev/null; }
# snap: take the emulator's request log (after each run)
snap() { curl -sS "$EMU_URL/_emulator/requests" >"$T/requests.json"; }
# count METHOD PATH-ERE [STATUS]: requests in the last snap that match (with that status;
# the log's fields come in this order: {"seq":1,"method":"POST","path":"/x","status":200,...})
count() { grep -oE "\"method\":\"$1\",\"path\":\"$2\",\"status\":${3:-[0-9]+}," "$T/requests.json" | wc -l; }
uploads() { count POST /api/v1/batches/upload "${1:-}"; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
}
# entry CSR [STATE-DIR]: the journal folder of a CSR request
entry() { printf 'trisa-enroll/csr\n%s\n42\n%s' "$EMU_URL" "$(sha256sum "$1" | cut -c1-64)" |
    sha256sum | cut -c1-64 | sed "s|^|${2:-$TRISA_STATE_DIR}/requests/|"; }
jget() { sed -n "s/^$2=//p" "$(entry "$1" "${3:-}")/journal"; }
fetch() { trisa-fetch --csr "$1.csr" --profile 42 --key "$1.key" --out-dir "$1.out" --trust "$EMU_CA" --interval 1 "${@:2}"; }
right_files() {
    local d=$1.out
    assert_dir_is "$d" ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
    assert_eq "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" "$(openssl pkey -in "$1.key" -pubout)" "$d: the key"
    run openssl verify -CAfile "$EMU_CA" -untrusted "$d/chain.pem" "$d/cert.pem"
    assert_rc 0 "$d: openssl verify"
    assert_eq "$OUT" "$d/cert.pem: OK" "$d: openssl verify"
}

# ---- a hung download ends at --timeout ---------------------------------------------------
# First: the held worker thread is free again (12 s) before the emulator stops.
newcsr hung.example
clear_requests
emu_hooks_faults '{"method":"GET","path":"/api/v1/batches/{id}/download","kind":"delay","delayMs":12000,"count":1}' >/dev/null
start=$(date +%s)
run fetch hung.example --timeout 3
snap
took=$(($(date +%s) - start))
assert_rc 9 "a hung download"
assert_contains "$ERR" "was not downloaded within the time limit ("
assert_contains "$ERR" "run the same command again later (it continues this batch)"
[ "$took" -lt 9 ] || fail "--timeout 3 took $took s (the hung download: 12 s)"
assert_eq "$(uploads)" 1 "uploads"
# The held download is logged only when it ends: the spent fault shows that it was asked.
assert_eq "$(curl -sS "$EMU_URL/_emulator/faults")" "[]" "faults left (the download took the delay)"
assert_eq "$(jget hung.example.csr state)" uploaded "journal state"
bid=$(jget hung.example.csr batch_id)
assert_missing hung.example.out/cert.pem
run fetch hung.example
snap
assert_rc 0 "rerun after the hung download"
assert_contains "$ERR" "continuing batch $bid"
assert_eq "$(uploads)" 1 "uploads after the rerun"
right_files hung.example
ok "a download that hangs ends the run at --timeout (exit 9 after $took s), batch kept; the rerun continues it, one upload"

# ---- an upload refused with a plain 4xx: no batch, the attempt cleared ---------------------
for code in 400 422; do
    name=refused-$code.example
    newcsr "$name"
    clear_requests
    emu_hooks_faults "{\"method\":\"POST\",\"path\":\"/api/v1/batches/upload\",\"kind\":\"status\",\"status\":$code,\"count\":1}" >/dev/null
    run fetch "$name"
    snap
    assert_rc 6 "HTTP $code on the upload"
    assert_contains "$ERR" "HTTP $code"
    assert_contains "$ERR" "the server made no batch: running again uploads"
    assert_eq "$(jget "$name.csr" state)" none "journal after $code"
    assert_eq "$(uploads "$code")" 1 "uploads answered $code"
    assert_eq "$(uploads)" 1 "uploads"
    assert_missing "$name.out/cert.pem"
    run fetch "$name"
    snap
    assert_rc 0 "rerun after $code (no --force-upload)"
    assert_not_contains "$ERR" "no batch id came back"
    assert_eq "$(uploads 200)" 1 "batches after $code"
    assert_eq "$(uploads)" 2 "uploads after $code and the rerun"
    assert_eq "$(jget "$name.csr" state)" done "journal after the rerun"
    right_files "$name"
done
ok "an upload answered 400 or 422: exit 6, 'made no batch', journal 'none'; the rerun uploads once without --force-upload"

# ---- the connection dropped after the upload was sent: unknown ------------------------------
newcsr dropped.example
clear_requests
emu_hooks_faults '{"method":"POST","path":"/api/v1/batches/upload","kind":"drop","count":1}' >/dev/null
run fetch dropped.example
snap
assert_rc 7 "a dropped upload"
assert_contains "$ERR" "upload: POST $EMU_URL/api/v1/batches/upload: "
assert_contains "$ERR" "the upload may have reached the server, so its outcome is unknown: running again looks for it and never uploads twice"
assert_eq "$(jget dropped.example.csr state)" sent "journal"
assert_eq "$(uploads)" 1 "uploads"
assert_eq "$(uploads 200)" 0 "batches"
run fetch dropped.example
snap
assert_rc 1 "rerun after a dropped upload"
assert_contains "$ERR" "no batch id came back"
assert_contains "$ERR" "upload again (--force-upload)"
assert_eq "$(uploads)" 1 "uploads after the rerun"
assert_eq "$(count POST /api/v1/certificates/find)" 1 "look-ups"
assert_missing dropped.example.out/cert.pem
run fetch dropped.example --force-upload
snap
assert_rc 0 "--force-upload"
assert_eq "$(uploads)" 2 "uploads after --force-upload"
assert_eq "$(uploads 200)" 1 "batches"
assert_eq "$(jget dropped.example.csr attempt)" 2 "attempts"
right_files dropped.example
ok "an upload whose connection was dropped after sending: exit 7, outcome unknown; the rerun refuses (exit 1) until --force-upload"

# ---- --state-dir DIR ---------------------------------------------------------------------
newcsr statedir.example
clear_requests
run fetch statedir.example --state-dir "$T/elsewhere"
snap
assert_rc 0 "--state-dir"
assert_eq "$(jget statedir.example.csr state "$T/elsewhere")" done "journal under --state-dir"
assert_missing "$(entry statedir.example.csr)"
assert_mode "$T/elsewhere" 700
assert_mode "$T/elsewhere/requests" 700
assert_mode "$(entry statedir.example.csr "$T/elsewhere")" 700
assert_mode "$(entry statedir.example.csr "$T/elsewhere")/journal" 600
loose=$(find "$T/elsewhere" \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \))
[ -z "$loose" ] || fail "not 0700/0600 under --state-dir: $loose"
right_files statedir.example
rm -r statedir.example.out
run fetch statedir.example --state-dir "$T/elsewhere"
snap
assert_rc 0 "rerun with --state-dir, the out-dir gone"
assert_eq "$ERR" "trisa-fetch: wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in statedir.example.out" "rerun's stderr"
assert_eq "$(uploads)" 1 "uploads"
right_files statedir.example
assert_missing "$(entry statedir.example.csr)"
ok "--state-dir DIR: the journal is there (0700 folders, 0600 files), not under \$TRISA_STATE_DIR; a rerun writes from it, nothing uploaded"

done_testing
