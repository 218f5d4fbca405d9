# Start the Sectigo emulator (`sectigo serve`) for an integration test. Source it after
# lib.sh:
#
#     . "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
#     . "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
#     start_emulator [extra `sectigo serve` arguments, e.g. --test-hooks --processing-delay 0]
#
# start_emulator runs `sectigo serve --addr 127.0.0.1:0 --state-dir $EMU_STATE ...` in the
# background (EMU_ADDR= chooses another address; set but empty: no --addr at all), waits for its first stdout line `listening on http(s)://127.0.0.1:PORT`,
# and registers stop_emulator with at_exit. It exports:
#
#   EMU_URL    base URL, e.g. http://127.0.0.1:41234 (https://... with --tls-self-signed)
#   EMU_PORT   the port
#   EMU_PID    the server's process id
#   EMU_STATE  its state folder (default $T/state; set it before the call to choose one,
#              or to restart on the same state after stop_emulator)
#   EMU_CA     $EMU_STATE/ca/root.pem: the root of every certificate the emulator issues
#   EMU_TLS_CA $EMU_STATE/tls-ca.pem: trust this for https (with --tls-self-signed)
#   EMU_LOG    the server's stderr: one line per request, "METHOD PATH STATUS 0.12ms"
#   EMU_USER / EMU_PASS   the default account of conf/emulator.json (staging)
#
# Other helpers:
#   stop_emulator [SIG]         SIGTERM (or SIG) and wait (idempotent); a later start_emulator
#                               reuses EMU_STATE (restart persistence). Returns non-zero
#                               (and shows the log's tail) when the server did not exit
#                               cleanly, e.g. a sanitizer report: `stop_emulator || fail`
#   emu_token [USER [PASS]]     print a fresh access token (POST /auth/pwd)
#   emu_hooks_faults JSON       POST a fault (needs --test-hooks); see docs/emulator.md
#
# The first start in a state folder makes the RSA-4096 CA (seconds). To spare CPU, the
# CA is cached once in $TRISA_TEST_TMP/emulator-ca and copied into new state folders.

EMU_USER=staging
EMU_PASS=staging-password
export EMU_USER EMU_PASS

start_emulator() {
    local cache="${TRISA_TEST_TMP:-/tmp}/emulator-ca" line i
    sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve is unavailable (built without the emulator?)"
    EMU_STATE=${EMU_STATE:-$T/state}
    EMU_LOG=${EMU_LOG:-$T/emulator.log}
    mkdir -p "$EMU_STATE"
    chmod 700 "$EMU_STATE"
    if [ ! -e "$EMU_STATE/ca/root.pem" ] && [ -e "$cache/root.pem" ]; then
        cp -a "$cache" "$EMU_STATE/ca"
    fi
    : >"$T/.emulator.out"
    local addr=()
    [ -n "${EMU_ADDR-127.0.0.1:0}" ] && addr=(--addr "${EMU_ADDR-127.0.0.1:0}")
    sectigo serve "${addr[@]}" --state-dir "$EMU_STATE" "$@" \
        >"$T/.emulator.out" 2>>"$EMU_LOG" &
    EMU_PID=$!
    line=
    for i in $(seq 1 1800); do
        line=$(head -n 1 "$T/.emulator.out")
        [ -n "$line" ] && break
        kill -0 "$EMU_PID" 2>/dev/null || { cat "$EMU_LOG" >&2; fail "sectigo serve exited before listening"; }
        sleep 0.1
    done
    case "$line" in
    "listening on http://"* | "listening on https://"*) ;;
    *) kill "$EMU_PID" 2>/dev/null; fail "sectigo serve did not start: [$line]" ;;
    esac
    EMU_URL=${line#listening on }
    EMU_PORT=${EMU_URL##*:}
    EMU_CA="$EMU_STATE/ca/root.pem"
    EMU_TLS_CA="$EMU_STATE/tls-ca.pem"
    export EMU_URL EMU_PORT EMU_PID EMU_STATE EMU_CA EMU_TLS_CA EMU_LOG
    if [ ! -e "$cache/root.pem" ]; then
        local tmp
        tmp=$(mktemp -d "${TRISA_TEST_TMP:-/tmp}/.emulator-ca.XXXXXX")
        cp -a "$EMU_STATE/ca/." "$tmp/" && rm -f "$tmp/crl.pem" && mv -T "$tmp" "$cache" 2>/dev/null || rm -rf "$tmp"
    fi
    if [ -z "${_emu_registered:-}" ]; then
        at_exit stop_emulator
        _emu_registered=1
    fi
}

stop_emulator() {
    local rc=0 sig="${1:-TERM}"
    if [ -n "${EMU_PID:-}" ]; then
        kill -"$sig" "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || rc=$?
        EMU_PID=
        if [ "$rc" -ne 0 ]; then
            echo "sectigo serve exited with $rc; the end of $EMU_LOG:" >&2
            tail -n 40 "$EMU_LOG" >&2
        fi
    fi
    return "$rc"
}

# emu_credentials FILE: a 0600 .env of the running emulator's account (the SECTIGO_*
# settings a trisa-renew --credentials file holds); written anew after a restart.
emu_credentials() {
    printf 'SECTIGO_USERNAME=%s\nSECTIGO_PASSWORD=%s\nSECTIGO_ENDPOINT=%s\nSECTIGO_ENVIRONMENT=testing\n' \
        "$EMU_USER" "$EMU_PASS" "$EMU_URL" >"$1"
    chmod 600 "$1"
}

emu_token() {
    local u="${1:-$EMU_USER}" p="${2:-$EMU_PASS}" cacert=()
    [ -e "$EMU_TLS_CA" ] && cacert=(--cacert "$EMU_TLS_CA")
    curl -sS "${cacert[@]}" -X POST "$EMU_URL/auth/pwd" -H 'Content-Type: application/json' \
        -d "{\"username\":\"$u\",\"password\":\"$p\"}" |
        sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p'
}

emu_hooks_faults() {
    local cacert=()
    [ -e "$EMU_TLS_CA" ] && cacert=(--cacert "$EMU_TLS_CA")
    curl -sS "${cacert[@]}" -X POST "$EMU_URL/_emulator/faults" \
        -H 'Content-Type: application/json' -d "$1"
}
