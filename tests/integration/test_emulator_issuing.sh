# Issuing and licences across a kill: the server is killed (SIGKILL) while it makes a
# batch's certificates, held there by a fault at the issuing step (@issue), not by luck;
# after a restart the batch is there, completes, and licences + issued = the start.
# Then a large upload (200 CSRs; EMU_BIG_UPLOAD=1000 for the figure of issue 13): the reply
# comes before the certificates, and a plain GET is answered while they are being made.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need unzip
need python3

sectigo serve --print-config | sed -e 's/"balance": 10,/"balance": 5000,/' >"$T/emulator.json"
grep -q '"balance": 5000,' "$T/emulator.json" || fail "config edit"
start_emulator --test-hooks --processing-delay 0 --config "$T/emulator.json"

req() {
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -w '%{http_code}' "$@" "$EMU_URL$p") || fail "curl $m $p"
    BODY=$(cat "$T/.body")
}
api() { req "$1" "$2" -H "Authorization: Bearer $TOKEN" "${@:3}"; }
balance() { api GET /api/v1/authorities/1/balanceavailable; printf '%s' "$BODY"; }
wait_faults_taken() { # until the @issue fault is taken: the issuer holds there now
    local i
    for i in $(seq 1 600); do
        [ "$(curl -sS "$EMU_URL/_emulator/faults")" = "[]" ] && return 0
        sleep 0.05
    done
    fail "the issuing step never took its fault"
}
wait_status() { # wait_status ID TEXT: bounded poll for the background issuer after a start
    local i
    for i in $(seq 1 600); do
        api GET "/api/v1/batches/$1/status"
        [ "$BODY" = "$2" ] && return 0
        sleep 0.1
    done
    fail "batch $1 is still [$BODY], expected [$2]"
}
restart_after_kill() {
    stop_emulator KILL || true
    start_emulator --test-hooks --processing-delay 0 --config "$T/emulator.json"
    TOKEN=$(emu_token)
}
TOKEN=$(emu_token)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k" \
    -subj "/CN=killed.example.com" -addext "subjectAltName=DNS:killed.example.com" -out "$T/one.csr" 2>/dev/null
START=$(balance)
assert_eq "$START" 5000 "balance at the start"

# ---- a small batch: issued by the request's thread, killed there ----
curl -sS -o /dev/null -X POST "$EMU_URL/_emulator/faults" -d '{"path":"@issue","kind":"delay","delayMs":600000}'
curl -sS -o "$T/lost.out" -H "Authorization: Bearer $TOKEN" -F profileId=42 \
    -F "files=@$T/one.csr;type=text/plain" "$EMU_URL/api/v1/batches/upload" 2>/dev/null &
CURL_PID=$!
wait_faults_taken
restart_after_kill
wait "$CURL_PID" 2>/dev/null && fail "the upload got a reply from a killed server"
api GET /api/v1/batches/1
assert_contains "$BODY" '{"batchId":1,"orderNumber":1001,' "the batch survived the kill"
wait_status 1 "Ready for download"
assert_eq "$(balance)" $((START - 1)) "one licence taken, once"
api GET /api/v1/devices
assert_eq "$BODY" '{"ordered":1,"issued":1}' "devices"
api GET /api/v1/batches/1/download && cp "$T/.body" "$T/1.zip"
assert_eq "$(unzip -Z1 "$T/1.zip")" "killed.example.com.pem" "the certificate made after the restart"
ok "killed while issuing a 1-CSR batch in the request: after a restart the batch completes; one licence taken"

# ---- a batch of 17 (more than limits.inlineIssue): issued in the background ----
for i in $(seq 1 17); do cat "$T/one.csr"; done >"$T/17.csr"
curl -sS -o /dev/null -X POST "$EMU_URL/_emulator/faults" -d '{"path":"@issue","kind":"delay","delayMs":600000}'
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/17.csr;type=text/plain"
assert_eq "$STATUS" 200 "upload of 17"
assert_contains "$BODY" '{"batchId":2,"orderNumber":1002,' "batch 2"
assert_contains "$BODY" '"size":17,"status":"PROCESSING","active":true' "PROCESSING although the delay is 0"
wait_faults_taken
api GET /api/v1/batches/2/processing_info
assert_eq "$BODY" '{"active":17,"success":0,"failed":0}' "held while issuing"
assert_eq "$(balance)" $((START - 18)) "17 more licences taken with the batch"
restart_after_kill
wait_status 2 "Ready for download"
assert_eq "$(balance)" $((START - 18)) "licences unchanged by the kill"
api GET /api/v1/devices
assert_eq "$BODY" '{"ordered":18,"issued":18}' "devices: every licence has its certificate"
api GET /api/v1/batches/2/download && cp "$T/.body" "$T/2.zip"
assert_eq "$(unzip -Z1 "$T/2.zip" | wc -l)" 17 "17 members"
assert_eq "$(unzip -Z1 "$T/2.zip" | sort -V | tail -1)" "killed.example.com-17.pem" "names of the copies"
ok "killed while the background issuer held a 17-CSR batch: it completes after the restart, licences = certificates"

# ---- SIGTERM while issuing: a clean, quick stop; the batch resumes at the next start ----
curl -sS -o /dev/null -X POST "$EMU_URL/_emulator/faults" -d '{"path":"@issue","kind":"delay","delayMs":600000}'
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/17.csr;type=text/plain"
assert_contains "$BODY" '{"batchId":3,' "batch 3"
wait_faults_taken
t0=$(date +%s%N)
stop_emulator || fail "SIGTERM while issuing: unclean exit"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 10000 ] || fail "SIGTERM took $ms ms while a delay fault held the issuer"
start_emulator --test-hooks --processing-delay 0 --config "$T/emulator.json"
TOKEN=$(emu_token)
wait_status 3 "Ready for download"
assert_eq "$(balance)" $((START - 35)) "balance"
ok "SIGTERM while issuing stops in $ms ms; the batch is issued at the next start"

# ---- N CSRs: the reply before the certificates; a GET answered meanwhile ----
BIG=${EMU_BIG_UPLOAD:-200}
for i in $(seq 1 "$BIG"); do cat "$T/one.csr"; done >"$T/big.csr"
clear_log() { curl -sS -o /dev/null -X DELETE "$EMU_URL/_emulator/requests"; }
clear_log
up0=$(date +%s%N)
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/big.csr;type=text/plain"
up_ms=$((($(date +%s%N) - up0) / 1000000))
assert_contains "$BODY" '{"batchId":4,' "batch 4"
assert_contains "$BODY" "\"size\":$BIG,\"status\":\"PROCESSING\"" "$BIG CSRs accepted, PROCESSING"
max_get=0
gets=0
while :; do
    g0=$(date +%s%N)
    api GET /api/v1/batches/4/status
    g_ms=$((($(date +%s%N) - g0) / 1000000))
    gets=$((gets + 1))
    [ "$g_ms" -gt "$max_get" ] && max_get=$g_ms
    [ "$BODY" = "Ready for download" ] && break
    [ "$gets" -lt 3000 ] || fail "$BIG certificates not made after $gets polls"
    sleep 0.05
done
issue_ms=$((($(date +%s%N) - up0) / 1000000))
echo "# $BIG-CSR upload: reply in $up_ms ms; certificates ready after $issue_ms ms; $gets GETs meanwhile, the slowest $max_get ms"
# Generous bounds (the figures go in the report): the reply holds a worker for parsing
# and judging only, and a GET never waits for the issuing.
[ "$up_ms" -lt 15000 ] || fail "the $BIG-CSR upload took $up_ms ms to answer"
[ "$max_get" -lt 2000 ] || fail "a GET took $max_get ms while $BIG certificates were made"
[ "$gets" -ge 2 ] || fail "the certificates were made before the first GET: nothing was measured"
api GET /api/v1/batches/4/download && cp "$T/.body" "$T/4.zip"
assert_eq "$(unzip -Z1 "$T/4.zip" | wc -l)" "$BIG" "$BIG members"
assert_eq "$(balance)" $((START - 35 - BIG)) "balance"
ok "$BIG CSRs: the reply in $up_ms ms before issuing; GETs answered meanwhile (slowest $max_get ms of $gets)"
stop_emulator || fail "unclean exit"
done_testing
