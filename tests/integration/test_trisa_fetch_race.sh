#!/usr/bin/env bash
# Racing runs of one CSR: two, then eight trisa-fetch processes at once, in one folder and
# in different folders. The emulator keeps the batch processing until every run but the
# first has said it is waiting for the lock, so they do race; then it lets the batch go.
# One upload each time, every run exits 0 with the same certificate, and each run that waited
# said "waiting for it" exactly once. --no-wait exits 15.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

# Batches stay PROCESSING until the test says otherwise.
start_emulator --test-hooks --processing-delay 3600

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"

uploads() { curl -sS "$EMU_URL/_emulator/requests" | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["path"] == "/api/v1/batches/upload"))'; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
}
entry() { printf 'trisa-enroll/csr\n%s\n42\n%s' "$EMU_URL" "$(sha256sum "$1" | cut -c1-64)" |
    sha256sum | cut -c1-64 | sed "s|^|$TRISA_STATE_DIR/requests/|"; }
set_status() {
    curl -sS -X PUT "$EMU_URL/_emulator/batches/$1/status" -H 'Content-Type: application/json' \
        -d "{\"status\": \"$2\"}" >/dev/null || fail "cannot set batch $1 to $2"
}
# until SECONDS CMD...: run CMD every 0.1 s until it succeeds; fail after SECONDS.
until_true() {
    local limit=$(($1 * 10)) i
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "waited $((limit / 10)) s for: $*"
}
uploaded() { grep -q '^state=uploaded$' "$(entry "$1")/journal" 2>/dev/null; }
waiting() { [ "$(grep -l 'waiting for it' "$1".*.err 2>/dev/null | wc -l)" -ge "$2" ]; }

# race NAME N MODE: N runs of NAME.csr at once; MODE same (one folder) or apart (one each).
race() {
    local name=$1 n=$2 mode=$3 i dir pids=() bid
    newcsr "$name"
    for ((i = 1; i <= n; i++)); do
        dir=$name.out
        [ "$mode" = apart ] && dir=$name.out.$i
        trisa-fetch --csr "$name.csr" --profile 42 --key "$name.key" --out-dir "$dir" \
            --trust "$EMU_CA" --interval 1 >"$name.$i.out" 2>"$name.$i.err" &
        pids+=($!)
    done
    until_true 120 uploaded "$name.csr"
    bid=$(sed -n 's/^batch_id=//p' "$(entry "$name.csr")/journal")
    until_true 120 waiting "$name" $((n - 1))
    set_status "$bid" READY_FOR_DOWNLOAD
    for ((i = 1; i <= n; i++)); do
        wait "${pids[$((i - 1))]}" || fail "run $i of $name exited $?: $(cat "$name.$i.err")"
    done
    dir=$name.out
    [ "$mode" = apart ] && dir=$name.out.1
    first=$(openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256)
    for ((i = 1; i <= n; i++)); do
        dir=$name.out
        [ "$mode" = apart ] && dir=$name.out.$i
        assert_eq "$(openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256)" "$first" "run $i's certificate"
        assert_eq "$(openssl pkey -in "$dir/node.pem" -pubout)" "$(openssl pkey -in "$name.key" -pubout)" "run $i's node.pem"
    done
    assert_eq "$(grep -l "uploaded $name.csr" "$name".*.err | wc -l)" 1 "runs that uploaded"
    # Each run that waited said so once (one line, not one per poll or per retry of the
    # lock); the run that uploaded never waited.
    local lines want
    for ((i = 1; i <= n; i++)); do
        lines=$(grep -c 'waiting for it' "$name.$i.err" || true)
        want=1
        grep -q "uploaded $name.csr" "$name.$i.err" && want=0
        assert_eq "$lines" "$want" "run $i of $name: 'waiting for it' lines"
    done
}

race pair.example 2 same
assert_eq "$(uploads)" 1 "uploads"
ok "two runs at once, one folder: one waits for the other (saying so once); one upload, both exit 0, one certificate"

race twofold.example 2 apart
assert_eq "$(uploads)" 2 "uploads"
ok "two runs at once, two folders: one upload, both folders hold the same certificate"

race eight.example 8 same
assert_eq "$(uploads)" 3 "uploads"
ok "eight runs at once, one folder: one upload, all exit 0, each of the seven that waited said 'waiting for it' once"

race octet.example 8 apart
assert_eq "$(uploads)" 4 "uploads"
ok "eight runs at once, eight folders: one upload, the same certificate in each"

# ---- --no-wait --------------------------------------------------------------------------
newcsr busy.example
trisa-fetch --csr busy.example.csr --profile 42 --key busy.example.key --out-dir busy \
    --trust "$EMU_CA" --interval 1 >busy.out 2>busy.err &
pid=$!
until_true 120 uploaded busy.example.csr
run trisa-fetch --csr busy.example.csr --profile 42 --key busy.example.key --out-dir busy2 \
    --trust "$EMU_CA" --interval 1 --no-wait
assert_rc 15 "--no-wait"
assert_contains "$ERR" "another process (pid $pid) is working on this request"
assert_contains "$ERR" "not waiting (no-wait)"
assert_missing busy2
set_status "$(sed -n 's/^batch_id=//p' "$(entry busy.example.csr)/journal")" READY_FOR_DOWNLOAD
wait "$pid" || fail "the first run exited $?"
assert_eq "$(uploads)" 5 "uploads"
ok "--no-wait while another run holds the request: exit 15 naming its pid, nothing made"

done_testing
