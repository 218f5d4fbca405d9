# Two accounts on one emulator: each sees only its own batches and certificates; and the
# token checks, with tokens made by hand under a known key (SIAS_AUTH_SECRET): the
# algorithm, the claim types, the subject's account, the issuer.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need python3

# The compiled-in configuration plus an account of another organisation (accountId 43,
# its own authority 2 on the same profile).
sectigo serve --print-config | python3 -c 'import json, sys
c = json.load(sys.stdin)
c["accounts"].append({"username": "other", "password": "other-password", "userId": 20,
                      "accountId": 43, "authorities": [2]})
c["authorities"].append(dict(c["authorities"][0], id=2, balance=5))
json.dump(c, sys.stdout)' >"$T/two.json"
KEYHEX=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
SECRET=$(printf '%s' "$KEYHEX" | xxd -r -p 2>/dev/null | openssl base64 -A) ||
    SECRET=$(python3 -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$KEYHEX")
[ "$(printf '%s' "$SECRET" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')" = "$KEYHEX" ] || fail "secret"
SIAS_AUTH_SECRET=$SECRET start_emulator --processing-delay 0 --config "$T/two.json"

req() { # req METHOD PATH [curl args]: STATUS, BODY (timestamps replaced)
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -w '%{http_code}' "$@" "$EMU_URL$p") || fail "curl $m $p"
    BODY=$(sed -e 's/"timestamp":[0-9]*/"timestamp":T/' -e 's/"creationDate":"[^"]*"/"creationDate":D/g' "$T/.body")
}
as() { local t=$1; shift; req "$1" "$2" -H "Authorization: Bearer $t" "${@:3}"; }
expect() {
    assert_eq "$STATUS" "$1" "${3:-reply} status (body $BODY)"
    assert_eq "$BODY" "$2" "${3:-reply} body"
}
STAGING=$(emu_token staging staging-password)
OTHER=$(emu_token other other-password)
[ -n "$STAGING" ] && [ -n "$OTHER" ] || fail "login"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/s.key" \
    -subj "/CN=mine.example.com" -addext "subjectAltName=DNS:mine.example.com" -out "$T/s.csr" 2>/dev/null
as "$STAGING" POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/s.csr;type=text/plain"
assert_eq "$STATUS" 200 "staging's upload"
assert_contains "$BODY" '{"batchId":1,' "staging's batch"
as "$STAGING" POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"mine.example.com"}'
SERIAL=$(printf '%s' "$BODY" | sed -n 's/.*"serialNumber":"\([0-9A-F]*\)".*/\1/p')
[ -n "$SERIAL" ] || fail "staging finds its certificate: $BODY"
for p in /api/v1/batches/1 /api/v1/batches/1/status /api/v1/batches/1/processing_info /api/v1/batches/1/download; do
    as "$OTHER" GET "$p"
    expect 404 '{"status":404,"message":"batch 1 not found","errorCode":1200,"timestamp":T}' "another account's $p"
done
as "$OTHER" POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"mine.example.com"}'
expect 200 '{"totalCount":0,"items":[]}' "another account's certificate by name"
as "$OTHER" POST /api/v1/certificates/find -H 'Content-Type: application/json' -d "{\"serialNumber\":\"$SERIAL\"}"
expect 200 '{"totalCount":0,"items":[]}' "another account's certificate by serial"
as "$OTHER" POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d "{\"reasonCode\":1,\"serialNumber\":\"$SERIAL\"}"
expect 404 "{\"status\":404,\"message\":\"certificate $SERIAL not found\",\"errorCode\":1200,\"timestamp\":T}" "another account's revoke"
as "$OTHER" GET /api/v1/devices
expect 200 '{"ordered":0,"issued":0}' "another account's devices"
as "$OTHER" GET /api/v1/authorities/1/balanceavailable
assert_eq "$STATUS" 404 "another account's authority"
as "$STAGING" GET /api/v1/devices
expect 200 '{"ordered":1,"issued":1}' "staging's devices"
as "$STAGING" GET /api/v1/batches/1/download
assert_eq "$STATUS" 200 "staging downloads its batch"
as "$OTHER" POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/s.csr;type=text/plain"
assert_contains "$BODY" '{"batchId":2,' "other's own batch"
as "$STAGING" GET /api/v1/batches/2
assert_eq "$STATUS" 404 "staging does not see other's batch"
as "$OTHER" GET /api/v1/authorities/2/balanceavailable
expect 200 4 "other's licence came from its own authority"
as "$STAGING" GET /api/v1/authorities/1/balanceavailable
expect 200 9 "staging's authority"
as "$STAGING" POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d "{\"reasonCode\":1,\"serialNumber\":\"$SERIAL\"}"
expect 200 "" "staging revokes its own certificate"
ok "batches, certificates, find, revoke and devices are scoped to the caller's account (404 otherwise)"

# ---- tokens made by hand under the known key ----
b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # jwt HEADER PAYLOAD
    local h p s
    h=$(printf '%s' "$1" | b64u)
    p=$(printf '%s' "$2" | b64u)
    s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYHEX" -binary | b64u)
    printf '%s.%s.%s' "$h" "$p" "$s"
}
now=$(date +%s)
H='{"alg":"HS256","typ":"JWT"}'
claims() { # claims SUB [extra members]
    printf '{"sub":"%s","typ":"access","iat":%d,"nbf":%d,"exp":%d,"jti":"t1"%s}' "$1" "$now" "$now" "$((now + 600))" "${2:-}"
}
as "$(jwt "$H" "$(claims /account/42/user/staging)")" GET /api/v1/devices
assert_eq "$STATUS" 200 "a token made with the secret is good (the harness works)"
as "$(jwt '{"alg":"none","typ":"JWT"}' "$(claims /account/42/user/staging)")" GET /api/v1/devices
expect 401 '{"status":401,"message":"invalid access token","errorCode":1101,"timestamp":T}' "alg none"
as "$(jwt '{"alg":"HS512","typ":"JWT"}' "$(claims /account/42/user/staging)")" GET /api/v1/devices
assert_eq "$STATUS" 401 "alg HS512"
as "$(jwt "$H" "{\"sub\":\"/account/42/user/staging\",\"typ\":\"access\",\"iat\":$now,\"exp\":\"$((now + 600))\",\"jti\":\"t\"}")" GET /api/v1/devices
assert_eq "$STATUS" 401 "exp as a string"
as "$(jwt "$H" "{\"sub\":\"/account/42/user/staging\",\"typ\":\"access\",\"iat\":$now,\"exp\":$((now + 600))}")" GET /api/v1/devices
assert_eq "$STATUS" 401 "no jti"
as "$(jwt "$H" "$(claims /account/42/user/nobody)")" GET /api/v1/devices
expect 401 '{"status":401,"message":"access token names an unknown user","errorCode":1101,"timestamp":T}' "unknown account"
as "$(jwt "$H" "$(claims /account/43/user/staging)")" GET /api/v1/devices
assert_eq "$STATUS" 401 "a user under another account's path"
as "$(jwt "$H" "$(claims /account/42/user/certlogin)")" GET /api/v1/devices
assert_eq "$STATUS" 401 "an account that must log in with a certificate"
as "$(jwt "$H" "$(claims /account/42/user/noauthority)")" GET /api/v1/devices
expect 403 '{"status":403,"message":"user noauthority has no authority","errorCode":1102,"timestamp":T}' "an account without authority"
ok "forged-key tokens: alg none and HS512 refused; exp must be a number, jti present; the subject must be an account that may log in"
stop_emulator || fail "unclean exit"

# The issuer claim: with SIAS_AUTH_ISSUER every token must carry it.
SIAS_AUTH_SECRET=$SECRET SIAS_AUTH_ISSUER=https://cathy.test-net.io start_emulator --processing-delay 0 --config "$T/two.json"
TOKEN=$(emu_token)
payload=$(printf '%s' "$TOKEN" | cut -d. -f2 | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
assert_contains "$(printf '%s' "$payload" | openssl base64 -d -A)" '{"iss":"https://cathy.test-net.io","sub":"/account/42/user/staging"' "iss claim"
as "$TOKEN" GET /api/v1/devices
assert_eq "$STATUS" 200 "token with the issuer"
as "$(jwt "$H" "$(claims /account/42/user/staging)")" GET /api/v1/devices
assert_eq "$STATUS" 401 "token without the issuer"
as "$(jwt "$H" "$(claims /account/42/user/staging ',"iss":"https://elsewhere"')")" GET /api/v1/devices
assert_eq "$STATUS" 401 "token of another issuer"
ok "SIAS_AUTH_ISSUER: tokens carry iss and must"
SIAS_AUTH_SECRET=c2hvcnQ= run sectigo serve --state-dir "$T/s2" --addr 127.0.0.1:0
assert_rc 3 "a secret that is not 32 bytes"
assert_eq "$ERR" "sectigo serve: error: the token secret must be base64 of 32 bytes" "message"
assert_missing "$T/s2"
ok "SIAS_AUTH_SECRET of another length: exit 3 before anything is made"
stop_emulator || fail "unclean exit"
done_testing
