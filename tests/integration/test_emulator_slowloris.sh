# Slow clients cannot take the emulator down (issue 13 item 12): 3,000 connections that
# never finish their headers, from one address and then from thirty, while a normal
# client is served; the header timeout closes the slow ones however they trickle.
# Bounded: 3,000 connections at most, held 5.5 s at most each round. A normal request must
# be answered within 100 ms (the issue's bound; 1-12 ms seen on 2 cores beside the rest of
# the suite). A sanitizer build is several times slower everywhere: 1,000 ms there (17 and
# 101 ms seen under ASan).
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need python3

LAT_BOUND=100
if nm "$(command -v sectigo)" 2>/dev/null | grep -q __asan_init; then
    LAT_BOUND=1000
fi
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 3200 ] ||
    skip "the descriptor limit ($(ulimit -Hn)) cannot hold 3,000 connections"
# 100 per address, a 3 s header timeout (the defaults are 256 and 10 s).
sectigo serve --print-config | python3 -c 'import json, sys
c = json.load(sys.stdin)
c["limits"].update({"maxConnectionsPerIp": 100, "headerTimeout": 3})
json.dump(c, sys.stdout)' >"$T/emulator.json"
start_emulator --config "$T/emulator.json" -q
TOKEN=$(emu_token)
[ -n "$TOKEN" ] || fail "login"

slow() { # slow COUNT PER_IP FIRST HOLD: slow clients in the background, until all are made
    rm -f "$T/ready"
    python3 "$TRISA_SOURCE_DIR/tests/integration/slowloris.py" --port "$EMU_PORT" --count "$1" \
        --per-ip "$2" --first "$3" --hold "$4" --interval 1 --ready-file "$T/ready" >"$T/slow.json" &
    SLOW_PID=$!
    for _ in $(seq 1 600); do
        [ -e "$T/ready" ] && return 0
        kill -0 "$SLOW_PID" 2>/dev/null || fail "slowloris.py ended early: $(cat "$T/slow.json")"
        sleep 0.05
    done
    fail "3,000 connections were not made in 30 s"
}
# Twenty normal requests from 127.0.0.1, each within a generous bound: the figures (ms).
normal() {
    local i t ms max=0 all=""
    for i in $(seq 1 20); do
        t=$(curl -sS -m 10 -o "$T/.n" -w '%{http_code} %{time_total}' \
            -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/authorities/allowed") ||
            fail "a normal request failed during the slow connections (request $i)"
        assert_eq "${t%% *}" 200 "normal request $i"
        ms=$(awk -v s="${t#* }" 'BEGIN { printf "%d", s * 1000 }')
        all="$all $ms"
        [ "$ms" -gt "$max" ] && max=$ms
    done
    LAT_MAX=$max
    LAT_ALL=$all
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/slow.json" "$1"; }

# ---- one address: 3,000 connections, at most 100 of them held ----
slow 3000 3000 2 5
normal
wait "$SLOW_PID" || fail "slowloris.py failed"
echo "# one address: $(cat "$T/slow.json"); normal requests (ms):$LAT_ALL"
[ "$LAT_MAX" -lt "$LAT_BOUND" ] || fail "a normal request took $LAT_MAX ms (over $LAT_BOUND) beside 3,000 slow connections from one address"
# What the server closed at once (per-IP limit) plus what the header timeout closed:
# every one of them, none left open at the end.
assert_eq "$(field open)" 0 "slow connections left open after 5 s"
[ "$(field closed_last_s)" != None ] || fail "nothing was closed"
ok "3,000 slow connections from one address: normal requests answered (slowest $LAT_MAX ms); all closed within 5 s"

# ---- thirty addresses, 100 each: all accepted, none beyond the header timeout ----
slow 3000 100 10 5.5
normal
wait "$SLOW_PID" || fail "slowloris.py failed"
echo "# thirty addresses: $(cat "$T/slow.json"); normal requests (ms):$LAT_ALL"
[ "$LAT_MAX" -lt "$LAT_BOUND" ] || fail "a normal request took $LAT_MAX ms (over $LAT_BOUND) beside 3,000 slow connections"
assert_eq "$(field made)" 3000 "connections made"
assert_eq "$(field open)" 0 "slow connections left open after 5.5 s"
# Trickling a header line every second keeps a connection busy, not alive: the header
# timeout (3 s) ends each one however active, within its watchdog's period.
awk -v f="$(field closed_first_s)" 'BEGIN { exit !(f >= 2.5) }' ||
    fail "a slow connection was closed after $(field closed_first_s) s, before the 3 s header timeout"
awk -v l="$(field closed_last_s)" 'BEGIN { exit !(l < 6.5) }' ||
    fail "a slow connection lived $(field closed_last_s) s with a 3 s header timeout"
ok "3,000 slow connections from 30 addresses: normal requests answered (slowest $LAT_MAX ms); each closed 3-6.5 s after it opened"

# The server is whole: a last request, and a clean stop.
t=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/devices")
assert_eq "$t" 200 "after the slow connections"
stop_emulator || fail "unclean exit"
done_testing
