# The emulator's test hooks (request log, every fault kind), batch expiry, the modern
# PKCS#12 switch and the SIAS_* environment, with a configuration made for the test.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need unzip

req() {
    local m=$1 p=$2
    shift 2
    set +e
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -D "$T/.hdrs" -w '%{http_code}' "$@" "$EMU_URL$p" 2>"$T/.curlerr")
    CURL_RC=$?
    set -e
    touch "$T/.body"
    BODY=$(tr -d '\000' <"$T/.body" | sed -e 's/"timestamp":[0-9]*/"timestamp":T/' -e 's/"creationDate":"[^"]*"/"creationDate":D/g' 2>/dev/null || true)
    HDRS=$(tr -d '\r' <"$T/.hdrs")
}
api() { req "$1" "$2" -H "Authorization: Bearer $TOKEN" "${@:3}"; }
header() { printf '%s\n' "$HDRS" | sed -n "s/^$1: //Ip" | tail -n 1; }
expect() {
    assert_eq "$STATUS" "$1" "${3:-reply} status (body $BODY)"
    assert_eq "$BODY" "$2" "${3:-reply} body"
}
fault() {
    req POST /_emulator/faults -H 'Content-Type: application/json' -d "$1"
    assert_eq "$STATUS" 201 "fault accepted ($BODY)"
}

# A configuration for this test, from the compiled-in one: batches expire after an hour
# (reached with the clock hook, not by waiting), modern bundles, 2048-bit server keys
# (quicker), and the account from SIAS_AUTH_*.
sectigo serve --print-config | sed -e 's/"expireAfter": 2592000/"expireAfter": 3600/' \
    -e 's/"bundle": "legacy"/"bundle": "modern"/' -e 's/"serverKeyBits": 4096/"serverKeyBits": 2048/' >"$T/emulator.json"
grep -q '"expireAfter": 3600' "$T/emulator.json" || fail "config edit"
SIAS_AUTH_USERNAME=alice SIAS_AUTH_PASSWORD=alice-secret start_emulator --test-hooks --processing-delay 0 --config "$T/emulator.json"

TOKEN=$(emu_token staging staging-password)
assert_eq "$TOKEN" "" "the replaced account no longer logs in"
TOKEN=$(emu_token alice alice-secret)
[ -n "$TOKEN" ] || fail "SIAS_AUTH_USERNAME/PASSWORD account cannot log in"
api GET /api/v1/authorities/allowed
assert_eq "$STATUS" 200 "alice's authorities"
ok "SIAS_AUTH_USERNAME / SIAS_AUTH_PASSWORD replace the first account"

# ---- request log ----
req DELETE /_emulator/requests
assert_eq "$STATUS" 204 "clear the log"
api GET /api/v1/devices
api GET /api/v1/batches/42
req GET /_emulator/requests
assert_eq "$STATUS" 200 "request log"
log=$(printf '%s' "$BODY" | sed -e 's/"seq":[0-9]*/"seq":N/g' -e 's/"userAgent":"curl\/[^"]*"/"userAgent":"curl"/g')
assert_eq "$log" '[{"seq":N,"method":"GET","path":"/api/v1/devices","status":200,"contentType":null,"accept":"*/*","userAgent":"curl","authorization":"Bearer","bytes":0,"body":null},{"seq":N,"method":"GET","path":"/api/v1/batches/42","status":404,"contentType":null,"accept":"*/*","userAgent":"curl","authorization":"Bearer","bytes":0,"body":null}]' "request log entries"
req DELETE /_emulator/requests
req POST /auth/pwd -H 'Content-Type: application/json;charset=UTF-8' -H 'Accept: application/json;charset=UTF-8' -A 'trisa-test/1' -d '{"username":"alice","password":"alice-secret"}'
req GET /_emulator/requests
expect 200 '[{"seq":6,"method":"POST","path":"/auth/pwd","status":200,"contentType":"application/json;charset=UTF-8","accept":"application/json;charset=UTF-8","userAgent":"trisa-test/1","authorization":null,"bytes":46,"body":"{\"username\":\"alice\",\"password\":\"************\"}"}]' "request log of a login (the password masked)"
assert_not_contains "$BODY" "alice-secret" "request log"
# A password with escapes (\" and \u) is masked to its closing quote, byte for byte.
req DELETE /_emulator/requests
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"password" : "q\"x\u0041y", "username":"alice"}'
req GET /_emulator/requests
assert_eq "$(printf '%s' "$BODY" | jq -r '.[0].body')" '{"password" : "***********", "username":"alice"}' "an escaped password masked"
assert_not_contains "$BODY" "$TOKEN" "request log"
# Whatever the shape of an Authorization header, only a registered scheme is kept.
req DELETE /_emulator/requests
for h in "$TOKEN" "Bearer$TOKEN" "hunter2 password" "Bearer"; do
    req GET /api/v1/devices -H "Authorization: $h"
done
api GET /api/v1/devices
req GET /_emulator/requests
auths=$(printf '%s' "$BODY" | grep -o '"authorization":[^,]*' | tr '\n' ' ')
assert_eq "$auths" '"authorization":"invalid" "authorization":"invalid" "authorization":"invalid" "authorization":"invalid" "authorization":"Bearer" ' "schemes logged"
assert_not_contains "$BODY" "${TOKEN:0:20}" "request log"
assert_not_contains "$BODY" "hunter2" "request log"
assert_not_contains "$(cat "$EMU_LOG")" "hunter2" "server log"
ok "GET /_emulator/requests: method, path, status, content type, accept, user agent, auth scheme (registered ones only), bytes; no secrets; DELETE clears it"

# ---- status faults, on a literal path and on a route pattern ----
fault '{"path":"/api/v1/authorities/allowed","kind":"status","status":503,"retryAfter":2,"count":2}'
expect 201 '{"id":1,"method":"*","path":"/api/v1/authorities/allowed","kind":"status","count":2,"status":503,"retryAfter":2,"delayMs":1000,"cutAfter":0}' "fault reply"
req GET /_emulator/faults
expect 200 '[{"id":1,"method":"*","path":"/api/v1/authorities/allowed","kind":"status","count":2,"status":503,"retryAfter":2,"delayMs":1000,"cutAfter":0}]' "fault list"
for i in 1 2; do
    api GET /api/v1/authorities/allowed
    expect 503 '{"status":503,"message":"injected fault: status 503","errorCode":1900,"timestamp":T}' "injected 503 #$i"
    assert_eq "$(header Retry-After)" 2 "Retry-After"
done
api GET /api/v1/authorities/allowed
assert_eq "$STATUS" 200 "after count requests the fault is gone"
req GET /_emulator/faults
expect 200 '[]' "used faults disappear"
fault '{"method":"GET","path":"/api/v1/batches/{id}/status","kind":"status","status":429}'
api GET /api/v1/batches/77/status
assert_eq "$STATUS" 429 "route pattern fault"
assert_eq "$(header Retry-After)" "" "no Retry-After unless asked"
api GET /api/v1/batches/77/status
assert_eq "$STATUS" 404 "count defaults to 1"
fault '{"method":"POST","path":"/api/v1/devices","kind":"status","status":500}'
api GET /api/v1/devices
assert_eq "$STATUS" 200 "a fault for another method does not fire"
req DELETE /_emulator/faults
assert_eq "$STATUS" 204 "clear faults"
req GET /_emulator/faults
expect 200 '[]' "faults cleared"
ok "status faults: code, Retry-After, count, method, route patterns; list and clear"

# ---- delay, drop, cut ----
fault '{"path":"/api/v1/devices","kind":"delay","delayMs":700}'
api GET /api/v1/devices -w '%{http_code} %{time_total}'
t=${STATUS#* }
assert_eq "${STATUS%% *}" 200 "delayed reply"
[ "$(printf '%s' "$t" | cut -d. -f1)" -ge 1 ] || [ "$(printf '%s' "$t" | cut -d. -f2 | cut -c1)" -ge 7 ] || fail "delay not applied: $t s"
fault '{"path":"/auth/pwd","kind":"drop"}'
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"alice","password":"alice-secret"}'
assert_eq "$CURL_RC" 52 "dropped connection (curl: empty reply)"
fault '{"path":"/api/v1/authorities/allowed","kind":"cut","cutAfter":10}'
api GET /api/v1/authorities/allowed
assert_eq "$CURL_RC" 18 "cut body (curl: partial file)"
assert_eq "$(wc -c <"$T/.body")" 10 "bytes before the cut"
# cutAfter 0 (the default): the headers, then the connection closes at once (it used to
# hang for the 60 s idle timeout). curl's own limit makes a hang fail, not stall.
fault '{"path":"/api/v1/authorities/allowed","kind":"cut"}'
rm -f "$T/.body"
api GET /api/v1/authorities/allowed -m 20 -w '%{http_code} %{time_total}'
assert_eq "$CURL_RC" 18 "cut after the headers (curl: partial file)"
assert_eq "${STATUS%% *}" 200 "status line sent before the cut"
[ ! -s "$T/.body" ] || fail "body bytes after a cut at 0: $(wc -c <"$T/.body")"
[ "$(printf '%s' "${STATUS#* }" | cut -d. -f1)" -lt 5 ] || fail "the cut took ${STATUS#* } s"
api GET /api/v1/authorities/allowed
assert_eq "$STATUS" 200 "whole reply after the cut"
fault '{"path":"*","kind":"status","status":502,"count":1}'
api GET /api/v1/profiles
assert_eq "$STATUS" 502 "wildcard path"
ok "delay, dropped connection and body cut after K bytes, each for the next N requests"

for bad in '{}' '{"path":"/x","kind":"boom"}' '{"path":"/x","kind":"status","status":99}' '{"path":"/x","kind":"delay","count":0}' 'nope' '{"path":"@issue","kind":"drop"}' '{"path":"@elsewhere","kind":"delay"}'; do
    req POST /_emulator/faults -H 'Content-Type: application/json' -d "$bad"
    assert_eq "$STATUS" 400 "bad fault $bad"
done
ok "malformed fault requests get 400"

# ---- forcing a batch's state ----
printf '{"profileId": 42, "batchType": "BATCH", "profileParams": {}}' >"$T/blob.json"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/f.key" \
    -subj "/CN=f.example.com" -addext "subjectAltName=DNS:f.example.com" -out "$T/f.csr" 2>/dev/null
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/f.csr;type=text/plain"
fid=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
force() { req PUT "/_emulator/batches/$fid/status" -H 'Content-Type: application/json' -d "$1"; }
force '{"status":"PROCESSING"}'
assert_eq "$STATUS" 204 "force PROCESSING"
api GET "/api/v1/batches/$fid/status"
expect 200 "Processing" "held in PROCESSING despite delay 0"
api GET "/api/v1/batches/$fid/processing_info"
expect 200 '{"active":1,"success":0,"failed":0}' "processing info while held"
force '{"status":"REJECTED","rejectReason":"rejected by a test"}'
api GET "/api/v1/batches/$fid"
assert_contains "$BODY" '"status":"REJECTED","active":false,"batchName":"","rejectReason":"rejected by a test"' "forced REJECTED"
api GET "/api/v1/batches/$fid/status"
expect 200 "Rejected" "REJECTED status text"
api GET "/api/v1/batches/$fid/processing_info"
expect 200 '{"active":0,"success":0,"failed":1}' "processing info when rejected"
api GET "/api/v1/batches/$fid/download"
assert_eq "$STATUS" 400 "no download when rejected"
force '{"status":"FAILED"}'
api GET "/api/v1/batches/$fid/status"
expect 200 "Failed" "FAILED"
force '{"status":"READY_FOR_DOWNLOAD"}'
api GET "/api/v1/batches/$fid/download"
assert_eq "$STATUS" 200 "ready again"
force '{"status":"REMOVED_AFTER_EXPIRATION"}'
api GET "/api/v1/batches/$fid/download"
assert_eq "$STATUS" 404 "forced expiry"
force '{"status":"SOMETHING"}'
assert_eq "$STATUS" 400 "unknown status"
req PUT /_emulator/batches/9999/status -H 'Content-Type: application/json' -d '{"status":"FAILED"}'
assert_eq "$STATUS" 404 "unknown batch"
ok "PUT /_emulator/batches/{id}/status forces PROCESSING, READY, REJECTED, FAILED, expiry"

# ---- modern bundles and expiry ----
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' \
    -d '{"authorityId":42,"batchName":"modern","profileParams":{"commonName":"modern.example.com","pkcs12Password":"modern-password"}}'
assert_eq "$STATUS" 200 "create ($BODY)"
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
assert_eq "$STATUS" 200 "download"
mkdir "$T/m" && (cd "$T/m" && unzip -q "$T/.body")
run openssl pkcs12 -info -in "$T/m/modern.example.com.p12" -passin pass:modern-password -noout
assert_rc 0 "modern bundle reads without -legacy"
assert_contains "$ERR" "MAC: sha256, Iteration 2048" "modern MAC"
assert_contains "$ERR" "AES-256-CBC" "modern encryption"
assert_not_contains "$ERR" "RC2" "modern encryption"
req GET /_emulator/clock
assert_contains "$BODY" '"offsetSeconds":0}' "clock not shifted"
req PUT /_emulator/clock -H 'Content-Type: application/json' -d '{"offsetSeconds":3601}'
assert_eq "$STATUS" 200 "clock shifted"
assert_contains "$BODY" '"offsetSeconds":3601}' "clock reply"
TOKEN=$(emu_token alice alice-secret) # the old one expired an hour ago, by this clock
api GET "/api/v1/batches/$id/status"
expect 200 "Removed after expiration" "expired status"
api GET "/api/v1/batches/$id"
assert_contains "$BODY" '"status":"REMOVED_AFTER_EXPIRATION","active":false' "expired batch"
api GET "/api/v1/batches/$id/download"
expect 404 "{\"status\":404,\"message\":\"batch $id was removed after expiration\",\"errorCode\":1302,\"timestamp\":T}" "expired download"
for bad in '{}' '{"offsetSeconds":"10"}' '{"offsetSeconds":99999999999}' 'x'; do
    req PUT /_emulator/clock -H 'Content-Type: application/json' -d "$bad"
    assert_eq "$STATUS" 400 "bad clock $bad"
done
req PUT /_emulator/clock -H 'Content-Type: application/json' -d '{"offsetSeconds":0}'
TOKEN=$(emu_token alice alice-secret)
api GET "/api/v1/batches/$id/status"
expect 200 "Collected" "clock back"
ok "the modern switch makes AES-256/SHA-256 bundles; batches expire (REMOVED_AFTER_EXPIRATION), reached with the clock hook"

# ---- a fault at the issuing step ----
balance() { api GET /api/v1/authorities/1/balanceavailable; printf '%s' "$BODY"; }
before=$(balance)
fault '{"path":"@issue","kind":"status","status":500}'
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/f.csr;type=text/plain"
assert_eq "$STATUS" 200 "upload accepted"
iid=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
assert_contains "$BODY" '"status":"FAILED","active":false,"batchName":"","rejectReason":"injected fault: status 500"' "failed at issuing"
api GET "/api/v1/batches/$iid/status"
expect 200 "Failed" "status text"
assert_eq "$(balance)" "$before" "the licence comes back when issuing fails"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"f.example.com"}'
assert_contains "$BODY" '{"totalCount":1,' "only the first f.example.com was issued"
ok "a status fault at @issue fails the batch (FAILED, reason) and gives its licence back"
stop_emulator || fail "the emulator did not exit cleanly"
done_testing
