# Token lifetimes: an expired access token gets 401; a refresh token works only from its
# nbf to its exp, and once. Time is moved with the clock hook (PUT /_emulator/clock), never
# waited for, and every check stays minutes away from a boundary.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl

# access 600 s, refresh 3600 s usable from iat + 300 s
sectigo serve --print-config | sed -e 's/"refreshNotBefore": 0/"refreshNotBefore": 300/' >"$T/emulator.json"
grep -q '"refreshNotBefore": 300' "$T/emulator.json" || fail "config edit"
start_emulator --test-hooks --config "$T/emulator.json"

call() { # call METHOD PATH [curl args]: STATUS and BODY (timestamp replaced)
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -w '%{http_code}' "$@" "$EMU_URL$p")
    BODY=$(sed 's/"timestamp":[0-9]*/"timestamp":T/' "$T/.body")
}
clock() { # clock SECONDS: the emulator's clock this far ahead of real time
    call PUT /_emulator/clock -H 'Content-Type: application/json' -d "{\"offsetSeconds\":$1}"
    assert_eq "$STATUS" 200 "clock $1"
    assert_contains "$BODY" "\"offsetSeconds\":$1}" "clock $1"
}
token() { printf '%s' "$BODY" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

call POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"staging","password":"staging-password"}'
assert_eq "$STATUS" 200 "login"
TOKEN=$(token accessToken)
REFRESH=$(token refreshToken)
call GET /api/v1/devices -H "Authorization: Bearer $TOKEN"
assert_eq "$STATUS" 200 "fresh access token"
clock 240
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token not yet usable","errorCode":1101,"timestamp":T}' "refresh before nbf"
call GET /api/v1/devices -H "Authorization: Bearer $TOKEN"
assert_eq "$STATUS" 200 "access token at 240 s of 600"
clock 660
call GET /api/v1/devices -H "Authorization: Bearer $TOKEN"
assert_eq "$BODY" '{"status":401,"message":"access token expired","errorCode":1101,"timestamp":T}' "expired access token"
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "\"$REFRESH\""
assert_eq "$STATUS" 200 "refresh inside its window (quoted body tolerated)"
NEW=$(token accessToken)
NEW_REFRESH=$(token refreshToken)
call GET /api/v1/devices -H "Authorization: Bearer $NEW"
assert_eq "$STATUS" 200 "refreshed access token"
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token already used","errorCode":1101,"timestamp":T}' "refresh token replayed"
ok "access tokens expire; refresh tokens work from nbf to exp, once each"

clock 3660
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token expired","errorCode":1101,"timestamp":T}' "refresh after exp"
# The successor was made at +660 s: usable from +960 s to +4260 s.
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$NEW_REFRESH"
assert_eq "$STATUS" 200 "the successor refresh token"
ok "a refresh token expires; its successor lives on from its own issue time"

# A restart keeps the spent list: the successor, once used, stays used.
clock 0
stop_emulator || fail "unclean exit"
start_emulator --test-hooks --config "$T/emulator.json"
clock 3660
call POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$NEW_REFRESH"
assert_eq "$BODY" '{"status":401,"message":"refresh token already used","errorCode":1101,"timestamp":T}' "spent across a restart"
ok "spent refresh tokens stay spent across a restart"
stop_emulator INT || fail "the emulator did not stop cleanly on SIGINT"
assert_contains "$(cat "$EMU_LOG")" "SIGINT, stopping" "SIGINT noticed"
ok "SIGINT stops the server cleanly (exit 0)"
done_testing
