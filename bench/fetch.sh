#!/usr/bin/env bash
# trisa-fetch against the manual path operators use today, and against itself:
#
#  1. --zip on a legacy RSA-2048 bundle (made by the emulator's `sectigo create`, legacy
#     PKCS#12) and on the real legacy RSA-4096 Sectigo bundle, against unzip + four
#     `openssl pkcs12 -legacy` + `openssl verify`, in the same hyperfine run, each into a
#     fresh folder (targets: at most 0.30x and 0.25x of the manual path);
#  2. the whole --csr path on the emulator with processing delay 0 (upload, poll, download,
#     verify, write; a fresh journal and folder each run; key generation apart);
#  3. a rerun of a finished request (target: under 15 ms);
#  4. the journal lock alone, uncontended (bench/enroll_lock);
#  5. the peak RSS of --zip.
#
#   bench/fetch.sh [PREFIX] [ZIP PASSWORD]
#
# PREFIX is an install prefix (default build/stage); ZIP defaults to the real bundle in
# ../shared/fixtures/sectigo-bundle with its password. BASELINE=OTHER-PREFIX adds an
# older trisa-fetch to every comparison ("today"). Times are wall clock (hyperfine means);
# on a shared machine compare within one run, and look at the user+system figures too.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(cd "${1:-$here/build/stage}" && pwd)
zip=${2:-${TRISA_SHARED_DIR:-$here/../shared}/fixtures/sectigo-bundle/certificate.zip}
password=${3:-qDhAwnfMjgDEzzUC}
baseline=${BASELINE:-}
for t in hyperfine openssl unzip curl /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench/fetch.sh: $t is not installed" >&2; exit 77; }
done
[ -f "$zip" ] || { echo "bench/fetch.sh: no bundle at $zip" >&2; exit 77; }
zip=$(cd "$(dirname "$zip")" && pwd)/$(basename "$zip")
[ -z "$baseline" ] || baseline=$(cd "$baseline" && pwd)
export PATH="$prefix/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fetch=$prefix/bin/trisa-fetch

work=$(mktemp -d)
emu_pid=
trap '[ -z "$emu_pid" ] || kill "$emu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

# ---- the emulator: a legacy RSA-2048 bundle, and the whole path --------------------------
mkdir -m 700 emu
sed -e 's/"balance": *[0-9]*/"balance": 1000000/' -e 's/"serverKeyBits": *[0-9]*/"serverKeyBits": 2048/' \
    "$prefix/share/trisa/emulator.json" >emu.json
sectigo serve --addr 127.0.0.1:0 --state-dir emu --config emu.json --processing-delay 0 \
    --quiet >emu.out 2>emu.err &
emu_pid=$!
url=
for _ in $(seq 1 600); do
    url=$(sed -n 's/^listening on //p' emu.out | head -n 1)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "bench/fetch.sh: the emulator did not start" >&2; exit 1; }
export SECTIGO_ENDPOINT="$url" SECTIGO_ENVIRONMENT=testing SECTIGO_USERNAME=staging
export SECTIGO_PASSWORD=staging-password XDG_CACHE_HOME="$work/cache"
bid=$(sectigo create -a 1 -d bench2048.example -p 'Bench-Pass-2048' |
    sed -n 's/.*"batchId": *\([0-9]*\).*/\1/p')
sleep 0.2
sectigo download -i "$bid" -o . >/dev/null
zip2048=$work/$bid.zip
echo 'Bench-Pass-2048' >pw2048
printf '%s\n' "$password" >pw

# ---- 1. --zip against the manual path ------------------------------------------------------
# manual.sh ZIP PASSWORD-FILE AT: what an operator types today.
cat >manual.sh <<'EOS'
set -e
rm -rf m && mkdir m && cd m
unzip -q "$1"
p12=$(ls *.p12 | head -n1)
openssl pkcs12 -legacy -in "$p12" -passin "file:$2" -nodes -out all.pem
openssl pkcs12 -legacy -in "$p12" -passin "file:$2" -clcerts -nokeys -out cert.pem
openssl pkcs12 -legacy -in "$p12" -passin "file:$2" -cacerts -nokeys -out chain.pem
openssl pkcs12 -legacy -in "$p12" -passin "file:$2" -nocerts -nodes -out key.pem
openssl verify ${3:+-attime "$3"} -CAfile chain.pem cert.pem >/dev/null
EOS

# compare NAME ZIP PASSWORD-FILE [AT]
compare() {
    local name=$1 z=$2 pwf=$3 at=${4:-} atopt=() epoch=
    if [ -n "$at" ]; then
        atopt=(--at "$at")
        epoch=$(date -u -d "$at" +%s)
    fi
    local cmd="$fetch --zip $z --out-dir out --password-file $pwf --trust-bundle-root ${atopt[*]}"
    local cmds=(-n "trisa-fetch" "$cmd" -n manual "bash manual.sh $z $work/$pwf $epoch")
    if [ -n "$baseline" ]; then
        cmds+=(-n "trisa-fetch (baseline)" "$baseline/bin/trisa-fetch --zip $z --out-dir out --password-file $pwf --trust-bundle-root ${atopt[*]}")
    fi
    rm -rf out
    $cmd >/dev/null 2>&1 || { echo "bench/fetch.sh: trisa-fetch failed on $z" >&2; exit 1; }
    echo "== $name"
    hyperfine -N --warmup 3 --min-runs 30 --prepare 'rm -rf out' --export-json "$name.json" \
        "${cmds[@]}" 2>&1 | grep -E 'Time|Range|Benchmark' | sed 's/^/  /' || true
    python3 - "$name.json" <<'EOPY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
t, m = r["trisa-fetch"], r["manual"]
cpu = lambda x: (x["user"] + x["system"]) * 1000
print(f"  trisa-fetch {t['mean']*1000:.1f} ms (median {t['median']*1000:.1f}; cpu {cpu(t):.1f}), "
      f"manual {m['mean']*1000:.1f} ms (median {m['median']*1000:.1f}; cpu {cpu(m):.1f}): "
      f"ratio {t['mean']/m['mean']:.3f}x by mean, {t['median']/m['median']:.3f}x by median, "
      f"{cpu(t)/cpu(m):.3f}x by cpu")
b = r.get("trisa-fetch (baseline)")
if b:
    print(f"  baseline {b['mean']*1000:.1f} ms (median {b['median']*1000:.1f}; cpu {cpu(b):.1f}): "
          f"ratio {b['mean']/m['mean']:.3f}x by mean")
EOPY
}
compare "legacy RSA-2048 bundle (emulator), target <= 0.30x" "$zip2048" pw2048
compare "real legacy RSA-4096 Sectigo bundle, target <= 0.25x" "$zip" pw 2021-06-01

/usr/bin/time -v "$fetch" --zip "$zip" --out-dir rss --password-file pw --trust-bundle-root \
    --at 2021-06-01 >/dev/null 2>time.txt || true
rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' time.txt)
echo "trisa-fetch --zip peak RSS: ${rss} KiB ($(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') MiB)"

# ---- 2. the whole path, 3. a rerun, 4. the lock ------------------------------------------------
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=bench.example" \
    -addext subjectAltName=DNS:bench.example -keyout k.pem -out r.csr 2>/dev/null
args="--csr r.csr --profile 42 --key k.pem --trust emu/ca/root.pem --interval 1"
cmds=(-n "whole path" "env TRISA_STATE_DIR=$work/st $fetch $args --out-dir o")
if [ -n "$baseline" ]; then
    cmds+=(-n "whole path (baseline)" "$baseline/bin/trisa-fetch $args --out-dir ob")
fi
echo "== the whole --csr path on the emulator (delay 0), a fresh journal and folder each run"
hyperfine -N --warmup 2 --min-runs 20 --export-json whole.json --prepare "rm -rf o ob st" \
    "${cmds[@]}" -n "key generation (RSA-4096)" "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096" \
    2>&1 | grep -E 'Time|Range|Benchmark' | sed 's/^/  /' || true
TRISA_STATE_DIR=$work/st $fetch $args --out-dir o >/dev/null 2>&1
echo "== a rerun of the finished request (target < 15 ms), and a bare start for scale"
hyperfine -N --warmup 3 --min-runs 40 --export-json rerun.json \
    -n "rerun" "env TRISA_STATE_DIR=$work/st $fetch $args --out-dir o" \
    -n "trisa-fetch --version" "$fetch --version" 2>&1 | grep -E 'Time|Range|Benchmark' | sed 's/^/  /' || true
python3 - <<'EOPY'
import json
cpu = lambda x: (x["user"] + x["system"]) * 1000
w = {x["command"]: x for x in json.load(open("whole.json"))["results"]}
r = {x["command"]: x for x in json.load(open("rerun.json"))["results"]}
a = w["whole path"]
line = f"whole path: mean {a['mean']*1000:.1f} ms, median {a['median']*1000:.1f} ms, cpu {cpu(a):.1f} ms"
b = w.get("whole path (baseline)")
if b:
    line += (f"; baseline mean {b['mean']*1000:.1f} ms, median {b['median']*1000:.1f} ms, cpu {cpu(b):.1f} ms"
             f" (new/baseline by median {a['median']/b['median']:.3f}, target <= 1.10)")
print(line)
x = r["rerun"]
print(f"rerun of a finished request: mean {x['mean']*1000:.1f} ms, median {x['median']*1000:.1f} ms, "
      f"min {x['min']*1000:.1f} ms, cpu {cpu(x):.1f} ms (target < 15 ms)")
EOPY
if [ -x "$here/build/bench/enroll_lock" ]; then
    "$here/build/bench/enroll_lock" "$work/lockstate" 20000
fi
