# Logging in, the token cache, refresh and re-login, login errors, the environment guard.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
# Access tokens live 4 s, refresh tokens 12 s: wide enough margins for a loaded machine
# and a sanitizer build.
emu_config "$T/short.json" 's/"accessLifetime": 600/"accessLifetime": 4/' 's/"refreshLifetime": 3600/"refreshLifetime": 12/'
start_emulator --test-hooks --processing-delay 0 --config "$T/short.json"
use_emulator

run sectigo auth --cache
assert_rc 0 "auth --cache before login"
assert_eq "$OUT" "no credentials cache file exists"
run sectigo auth --debug
assert_eq "$OUT" "credentials are expired or invalid"
run sectigo auth
assert_rc 0 auth
assert_eq "$OUT" "user authenticated and credentials cached"
run sectigo auth --debug
assert_contains "$OUT" "credentials are valid until "
assert_eq "$(emu_count POST /auth/pwd)" 1 "logins"

# Access token expired, refresh token still good: refresh, not login.
sleep 5
run sectigo auth --debug
assert_contains "$OUT" "credentials are current until "
run sectigo licenses
assert_rc 0 "licenses after access expiry"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses after access expiry"
assert_eq "$(emu_count POST /auth/refresh)" 1 "refreshes"
assert_contains "$(emu_last POST /auth/refresh)" '"contentType":"application/json;charset=UTF-8"' "refresh request"
assert_eq "$(emu_count POST /auth/pwd)" 1 "logins after refresh"
ok "an expired access token is refreshed"

run sectigo auth --cache
cache=$OUT
key=$(printf '%s\n%s' "$EMU_URL" "$EMU_USER" | sha256sum | cut -d' ' -f1)
assert_eq "$cache" "$T/cache/trisa/sectigo/$key.json" "cache file: SHA-256 of endpoint and username"
assert_mode "$cache" 600
assert_mode "$T/cache/trisa/sectigo" 700
ok "auth logs in once and caches the tokens (0600)"

# The next commands ride the cached tokens (refreshing them when needed): no login.
run sectigo licenses
assert_rc 0 licenses
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' licenses
run env -u SECTIGO_PASSWORD sectigo licenses
assert_rc 0 "licenses without a password"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses without a password"
assert_contains "$(emu_last GET /api/v1/devices)" '"status":200' "the last licences request"
assert_eq "$(emu_count POST /auth/pwd)" 1 "logins after more commands"
ok "the next commands do not log in"

# Refresh token expired too: log in again.
sleep 13
run sectigo licenses
assert_rc 0 "licenses after refresh expiry"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses after refresh expiry"
assert_eq "$(emu_count POST /auth/pwd)" 2 "logins after refresh expiry"
ok "an expired refresh token leads to a new login"

# A cache per endpoint and user: another account does not log the first out.
run sectigo -u noauthority -p noauthority-password auth
assert_rc 5 "account without authority"
assert_contains "$ERR" "403"
assert_eq "$OUT" "" "account without authority: stdout"
assert_eq "$(ls "$T/cache/trisa/sectigo")" "$key.json" "cache entries after the 403"
run sectigo licenses
assert_rc 0 "first account still cached"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "first account still cached"
assert_eq "$(emu_count POST /auth/pwd)" 3 "logins (the 403 attempt only)"
ok "403 exits 5; one cache entry per user"

emu_clear
run sectigo -u certlogin -p certlogin-password licenses
assert_rc 5 "certificate-login account"
assert_contains "$ERR" "TLS client-certificate login"
assert_contains "$ERR" "307"
assert_eq "$(emu_requests)" "POST /auth/pwd 307" "requests of a certificate-login account (the redirect not followed)"
ok "307 from login is reported, not followed"

emu_clear
run env XDG_CACHE_HOME="$T/cache2" sectigo -p wrong-password licenses
assert_rc 5 "wrong password"
assert_contains "$ERR" "wrong username or password"
assert_not_contains "$ERR" "wrong-password" "error message"
assert_eq "$(emu_requests)" "POST /auth/pwd 401" "requests with a wrong password (one login, nothing else)"
assert_missing "$T/cache2/trisa/sectigo/$key.json"
ok "wrong password exits 5 and is not echoed"

# A corrupt cache file is ignored with a warning.
printf 'garbage' >"$cache"
logins=$(emu_count POST /auth/pwd)
run sectigo licenses
assert_rc 0 "licenses with a corrupt cache"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses with a corrupt cache"
assert_contains "$ERR" "warning: token cache"
assert_eq "$(emu_count POST /auth/pwd)" $((logins + 1)) "logins after a corrupt cache"
assert_contains "$(cat "$cache")" '"accessToken":"' "the cache written again"
assert_mode "$cache" 600
ok "a corrupt cache is a warning, not an error"

# The environment guard, exactly as the reference; a refused endpoint is never contacted.
emu_clear
run env SECTIGO_ENVIRONMENT=production sectigo licenses
assert_rc 14 "localhost in production"
assert_contains "$ERR" "must use https in production"
run env SECTIGO_ENDPOINT=https://iot.sectigo.com sectigo licenses
assert_rc 14 "production endpoint in testing"
assert_contains "$ERR" "localhost in testing mode"
run env SECTIGO_ENVIRONMENT=staging SECTIGO_ENDPOINT=https://iot.sectigo.com sectigo licenses
assert_rc 14 "sectigo.com in staging"
assert_contains "$ERR" "cannot connect to iot.sectigo.com in staging"
assert_eq "$(emu_requests)" "" "requests the refused endpoints made"
# Plain http outside testing, as the reference allows (its compose file runs its staging
# server on http): allowed, with one warning line; never in production.
run env SECTIGO_ENVIRONMENT=staging sectigo licenses
assert_rc 0 "plain http in staging"
assert_eq "$ERR" "sectigo licenses: warning: $EMU_URL is plain http: the password and tokens cross the network unencrypted" "staging http warning"
run env SECTIGO_ENVIRONMENT=docker sectigo licenses
assert_rc 0 "plain http in docker"
assert_contains "$ERR" "is plain http"
run sectigo licenses
assert_eq "$ERR" "" "no warning in testing"
run sectigo -E bogus licenses
assert_rc 3 "unknown environment"
assert_contains "$ERR" '"bogus" is not a valid environment, specify production, staging, docker or testing'
emu_clear
run env -u SECTIGO_ENDPOINT -u SECTIGO_ENVIRONMENT sectigo -e "$EMU_URL" licenses
assert_rc 14 "default environment is production"
assert_contains "$ERR" "must use https in production, not http"
assert_eq "$(emu_requests)" "" "requests of the refused environments"
run sectigo -E testing -e "$EMU_URL" licenses
assert_rc 0 "flags -E and -e"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "flags -E and -e"
assert_eq "$(emu_requests)" "GET /api/v1/devices 200" "requests with -E testing -e URL"
ok "environment guard"
done_testing
