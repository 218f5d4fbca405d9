#!/bin/bash
# Benchmark `sectigo serve` against nginx serving the same JSON as a static file, on
# loopback, in the same run: wrk, 2 threads, 64 connections, authenticated
# GET /api/v1/authorities/allowed and GET /api/v1/batches/{id}; p99 from --latency;
# idle RSS of the emulator before and after.
#
#   bench/emulator.sh [SECTIGO_BINARY]      (default: sectigo on PATH; use an installed
#                                           one, e.g. build/stage/bin/sectigo, so that it
#                                           finds share/trisa/emulator.json)
#   BENCH_DURATION=30s BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_SERVER_THREADS=2
#
# Targets (the issue's): >= 10,000 requests/s, no errors, p99 < 10 ms, >= half of
# nginx's rate, idle RSS < 20 MiB. Prints one summary line a target and exits 1 if a
# target is missed.
set -euo pipefail
SECTIGO=${1:-sectigo}
DUR=${BENCH_DURATION:-30s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
SERVER_THREADS=${BENCH_SERVER_THREADS:-2}
# An uninstalled stage (build/stage) has its libtrisa beside the binary's folder.
SECTIGO=$(command -v "$SECTIGO") || { echo "no sectigo binary" >&2; exit 1; }
BINDIR=$(dirname "$SECTIGO")
export LD_LIBRARY_PATH="$BINDIR/../lib:$BINDIR/../lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 77; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx is not installed" >&2; exit 77; }

W=$(mktemp -d /tmp/bench-emulator.XXXXXX)
chmod 755 "$W" # nginx workers run as another user
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# The emulator, request log on (to /dev/null): as it runs for tests.
"$SECTIGO" serve --addr 127.0.0.1:0 --state-dir "$W/state" --processing-delay 0 \
    --threads "$SERVER_THREADS" >"$W/out" 2>/dev/null &
EPID=$!
PIDS+=("$EPID")
for _ in $(seq 1 1200); do grep -q listening "$W/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$W/out")
if [ -z "$URL" ]; then
    echo "sectigo serve did not start; its error:" >&2
    "$SECTIGO" serve --addr 127.0.0.1:0 --state-dir "$W/state2" --processing-delay 0 -q &
    PIDS+=($!)
    sleep 1
    exit 1
fi
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
RSS_IDLE=$(rss "$EPID")

TOKEN=$(curl -sS -X POST "$URL/auth/pwd" -H 'Content-Type: application/json' \
    -d '{"username":"staging","password":"staging-password"}' | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/k" \
    -subj "/CN=bench.example.com" -addext "subjectAltName=DNS:bench.example.com" -out "$W/c.csr" 2>/dev/null
BATCH=$(curl -sS -H "Authorization: Bearer $TOKEN" -F profileId=42 -F "files=@$W/c.csr;type=text/plain" \
    "$URL/api/v1/batches/upload" | sed -n 's/^{"batchId":\([0-9]*\),.*/\1/p')
[ -n "$BATCH" ] || { echo "cannot create a batch" >&2; exit 1; }

# nginx with the same JSON bodies as static files.
mkdir -p "$W/www/api/v1/authorities" "$W/www/api/v1/batches" "$W/nginx"
curl -sS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/authorities/allowed" >"$W/www/api/v1/authorities/allowed"
curl -sS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/batches/$BATCH" >"$W/www/api/v1/batches/$BATCH"
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18931)
cat >"$W/nginx/nginx.conf" <<NGX
daemon off;
worker_processes $SERVER_THREADS;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/nginx;
    proxy_temp_path $W/nginx;
    fastcgi_temp_path $W/nginx;
    uwsgi_temp_path $W/nginx;
    scgi_temp_path $W/nginx;
    default_type application/json;
    server { listen 127.0.0.1:$NPORT; root $W/www; }
}
NGX
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" 2>"$W/nginx/stderr" &
PIDS+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/api/v1/authorities/allowed" && break; sleep 0.1; done

# bench NAME URL [wrk args]: "NAME rps p99ms errors"
bench() {
    local name=$1 url=$2 out rps p99 non2xx sock
    shift 2
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$@" "$url")
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec/ {print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
    non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $5}')
    sock=$(printf '%s\n' "$out" | awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}')
    printf '%s %s %s %s\n' "$name" "$rps" "$p99" "$((${non2xx:-0} + ${sock:-0}))"
}
AUTH=(-H "Authorization: Bearer $TOKEN")
R1=$(bench emulator-authorities "$URL/api/v1/authorities/allowed" "${AUTH[@]}")
R2=$(bench emulator-batch "$URL/api/v1/batches/$BATCH" "${AUTH[@]}")
N1=$(bench nginx-authorities "http://127.0.0.1:$NPORT/api/v1/authorities/allowed")
N2=$(bench nginx-batch "http://127.0.0.1:$NPORT/api/v1/batches/$BATCH")
sleep 2
RSS_AFTER=$(rss "$EPID")

status=0
echo "# wrk -t$THREADS -c$CONNS -d$DUR --latency, server threads/workers: $SERVER_THREADS"
printf '%-22s %12s %10s %7s\n' target requests/s p99_ms errors
for r in "$R1" "$R2" "$N1" "$N2"; do printf '%-22s %12s %10s %7s\n' $r; done
check() { # check NAME RESULT NGINX_RESULT
    local rps p99 err nrps
    read -r _ rps p99 err <<<"$2"
    read -r _ nrps _ _ <<<"$3"
    local verdict=ok
    awk -v r="$rps" 'BEGIN {exit !(r >= 10000)}' || verdict="FAIL(<10000/s)"
    awk -v p="$p99" 'BEGIN {exit !(p < 10)}' || verdict="FAIL(p99>=10ms)"
    [ "$err" = 0 ] || verdict="FAIL(errors)"
    awk -v r="$rps" -v n="$nrps" 'BEGIN {exit !(r >= n / 2)}' || verdict="FAIL(<nginx/2)"
    echo "$1: $rps req/s, p99 $p99 ms, $err errors, $(awk -v r="$rps" -v n="$nrps" 'BEGIN {printf "%.0f", 100*r/n}')% of nginx: $verdict"
    [ "$verdict" = ok ] || status=1
}
check "GET /api/v1/authorities/allowed" "$R1" "$N1"
check "GET /api/v1/batches/{id}" "$R2" "$N2"
echo "idle RSS: $((RSS_IDLE / 1024)).$(((RSS_IDLE % 1024) * 10 / 1024)) MiB at start, $((RSS_AFTER / 1024)).$(((RSS_AFTER % 1024) * 10 / 1024)) MiB after the runs (target < 20 MiB)"
[ "$RSS_AFTER" -lt 20480 ] || status=1
exit $status
