# Token lifetimes: an expired access token gets 401; a refresh token works only from its
# nbf to its exp. Uses a configuration with lifetimes of seconds.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl

sed -e 's/"accessLifetime": 600/"accessLifetime": 2/' -e 's/"refreshLifetime": 3600/"refreshLifetime": 5/' \
    -e 's/"refreshNotBefore": 0/"refreshNotBefore": 2/' "$SHARE/emulator.json" >"$T/emulator.json"
grep -q '"refreshNotBefore": 2' "$T/emulator.json" || fail "config edit"
start_emulator --config "$T/emulator.json"

call() { # call METHOD PATH [curl args]: STATUS and BODY (timestamp replaced)
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -w '%{http_code}' "$@" "$EMU_URL$p")
    BODY=$(sed 's/"timestamp":[0-9]*/"timestamp":T/' "$T/.body")
}
call POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"staging","password":"staging-password"}'
assert_eq "$STATUS" 200 "login"
TOKEN=$(printf '%s' "$BODY" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%s' "$BODY" | sed -n 's/.*"refreshToken":"\([^"]*\)".*/\1/p')
call GET /api/v1/devices -H "Authorization: Bearer $TOKEN"
assert_eq "$STATUS" 200 "fresh access token"
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token not yet usable","errorCode":1101,"timestamp":T}' "refresh before nbf"
sleep 2.2
call GET /api/v1/devices -H "Authorization: Bearer $TOKEN"
assert_eq "$STATUS" 401 "expired access token"
assert_eq "$BODY" '{"status":401,"message":"access token expired","errorCode":1101,"timestamp":T}' "expired access token"
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "\"$REFRESH\""
assert_eq "$STATUS" 200 "refresh inside its window (quoted body tolerated)"
NEW=$(printf '%s' "$BODY" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
call GET /api/v1/devices -H "Authorization: Bearer $NEW"
assert_eq "$STATUS" 200 "refreshed access token"
sleep 3
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token expired","errorCode":1101,"timestamp":T}' "refresh after exp"
ok "access tokens expire; refresh tokens work from nbf to exp"
stop_emulator INT || fail "the emulator did not stop cleanly on SIGINT"
assert_contains "$(cat "$EMU_LOG")" "SIGINT, stopping" "SIGINT noticed"
ok "SIGINT stops the server cleanly (exit 0)"
done_testing
