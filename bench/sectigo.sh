#!/usr/bin/env bash
# Benchmark of the sectigo client against a local emulator:
#   1. wall time of `sectigo licenses` with a cached token vs `curl -s -H 'Authorization:
#      Bearer ...' URL` for the same request, in the same run (hyperfine);
#   2. peak RSS of `sectigo licenses` (/usr/bin/time -v);
#   3. ten calls through one client handle use one TCP connection (bench/sectigo_connections,
#      checked against the number of connections the emulator accepted is not needed: libcurl
#      counts new connections).
#
# Usage: bench/sectigo.sh [BUILD_DIR]   (default: build). Needs hyperfine, curl, /usr/bin/time.
# Target: sectigo <= 1.5x curl, peak RSS < 12 MiB, 1 connection.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/sectigo-bench.XXXXXX")
trap 'kill "$EMU_PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$STAGE"' EXIT
cmake --install "$BUILD" --prefix "$STAGE/prefix" >/dev/null
export PATH="$STAGE/prefix/bin:$PATH"
export LD_LIBRARY_PATH="$STAGE/prefix/lib:$STAGE/prefix/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for t in hyperfine curl /usr/bin/time; do command -v "$t" >/dev/null || { echo "need $t" >&2; exit 77; }; done

sectigo serve --addr 127.0.0.1:0 --state-dir "$STAGE/state" --quiet >"$STAGE/emu.out" 2>"$STAGE/emu.err" &
EMU_PID=$!
for _ in $(seq 1 600); do [ -s "$STAGE/emu.out" ] && break; sleep 0.1; done
URL=$(sed -n '1s/^listening on //p' "$STAGE/emu.out")
[ -n "$URL" ] || { cat "$STAGE/emu.err" >&2; exit 1; }

export SECTIGO_ENVIRONMENT=testing SECTIGO_ENDPOINT="$URL" XDG_CACHE_HOME="$STAGE/cache"
export SECTIGO_USERNAME=staging SECTIGO_PASSWORD=staging-password
sectigo auth >/dev/null
TOKEN=$(curl -sS -X POST "$URL/auth/pwd" -H 'Content-Type: application/json' \
    -d '{"username":"staging","password":"staging-password"}' |
    sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
sectigo licenses >/dev/null

echo "== wall time: sectigo licenses (cached token) vs curl, same request"
hyperfine -N --warmup 20 --min-runs 200 --export-json "$STAGE/hf.json" \
    -n sectigo "sectigo licenses" \
    -n curl "curl -s -H 'Authorization: Bearer $TOKEN' $URL/api/v1/devices"
python3 - "$STAGE/hf.json" <<'PY' || true
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
print("ratio sectigo/curl = %.2f (target <= 1.5)" % (r["sectigo"] / r["curl"]))
PY

# Interleaved pairs too: on a shared machine load shifts between hyperfine's blocks more
# than the tools differ, while alternating runs see the same load.
echo "== interleaved pairs (median of 200 each)"
python3 - "$URL" "$TOKEN" <<'PY'
import statistics, subprocess, sys, time
url, token = sys.argv[1], sys.argv[2]
cmds = {"sectigo": ["sectigo", "licenses"],
        "curl": ["curl", "-s", "-H", "Authorization: Bearer " + token, url + "/api/v1/devices"]}
t = {k: [] for k in cmds}
for _ in range(200):
    for k, c in cmds.items():
        a = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, check=True)
        t[k].append(time.perf_counter() - a)
m = {k: statistics.median(v) * 1000 for k, v in t.items()}
print("median sectigo %.2f ms, curl %.2f ms, ratio %.2f (target <= 1.5)"
      % (m["sectigo"], m["curl"], m["sectigo"] / m["curl"]))
PY

echo "== peak memory"
for i in 1 2 3; do
    /usr/bin/time -v sectigo licenses 2>&1 >/dev/null | sed -n 's/^\s*Maximum resident set size (kbytes): /sectigo licenses peak RSS KiB: /p'
done
/usr/bin/time -v curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/devices" 2>&1 >/dev/null |
    sed -n 's/^\s*Maximum resident set size (kbytes): /curl peak RSS KiB (for scale): /p'

echo "== connections"
"$BUILD/bench/sectigo_connections" "$URL" 10
