#!/usr/bin/env bash
# trisa-fetch --zip on a legacy Sectigo bundle against the manual path operators use
# today (unzip; openssl pkcs12 -legacy for all, cert, chain and key; openssl verify), in
# the same hyperfine run; then the peak RSS of trisa-fetch from /usr/bin/time -v.
#
#   bench/fetch.sh [PREFIX] [ZIP PASSWORD]
#
# PREFIX is an install prefix (default build/stage); ZIP defaults to the real bundle in
# ../shared/fixtures/sectigo-bundle with its password.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(cd "${1:-$here/build/stage}" && pwd)
zip=${2:-${TRISA_SHARED_DIR:-$here/../shared}/fixtures/sectigo-bundle/certificate.zip}
password=${3:-qDhAwnfMjgDEzzUC}
for t in hyperfine openssl unzip /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench/fetch.sh: $t is not installed" >&2; exit 77; }
done
[ -f "$zip" ] || { echo "bench/fetch.sh: no bundle at $zip" >&2; exit 77; }
zip=$(cd "$(dirname "$zip")" && pwd)/$(basename "$zip")
export PATH="$prefix/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf '%s\n' "$password" >pw
# The bundle's leaf expired in 2022: both paths verify at a time inside its validity.
at=2021-06-01
epoch=$(date -u -d "$at" +%s)

cat >manual.sh <<EOS
set -e
rm -rf m && mkdir m && cd m
unzip -q "$zip"
p12=\$(ls *.p12 | head -n1)
openssl pkcs12 -legacy -in "\$p12" -passin file:../pw -nodes -out all.pem
openssl pkcs12 -legacy -in "\$p12" -passin file:../pw -clcerts -nokeys -out cert.pem
openssl pkcs12 -legacy -in "\$p12" -passin file:../pw -cacerts -nokeys -out chain.pem
openssl pkcs12 -legacy -in "\$p12" -passin file:../pw -nocerts -nodes -out key.pem
openssl verify -attime $epoch -CAfile chain.pem cert.pem >/dev/null
EOS

mkdir -p out
trisa-fetch --zip "$zip" --out-dir out --password-file pw --trust-bundle-root --at "$at" \
    --force >/dev/null 2>&1 || { echo "bench/fetch.sh: trisa-fetch failed" >&2; exit 1; }

hyperfine --warmup 3 --min-runs 20 --export-json bench.json -N \
    -n trisa-fetch "trisa-fetch --zip $zip --out-dir out --password-file pw --trust-bundle-root --at $at --force" \
    -n manual "bash manual.sh" 2>&1 | sed 's/^/  /' || true

python3 - <<'EOPY'
import json
r = {x["command"]: x for x in json.load(open("bench.json"))["results"]}
t, m = r["trisa-fetch"]["mean"], r["manual"]["mean"]
print(f"trisa-fetch mean {t*1000:.1f} ms, manual mean {m*1000:.1f} ms, ratio {t/m:.3f}x (target <= 0.3x)")
EOPY

/usr/bin/time -v trisa-fetch --zip "$zip" --out-dir out --password-file pw --trust-bundle-root \
    --at "$at" --force >/dev/null 2>time.txt || true
rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' time.txt)
echo "trisa-fetch peak RSS: ${rss} KiB ($(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') MiB; target < 12 MiB)"

# ---- the whole path against the emulator, processing delay 0 --------------------------
# upload + poll + download + verify + write, without key generation (measured apart).
if sectigo serve --help >/dev/null 2>&1 && [ -f "$prefix/share/trisa/emulator.json" ]; then
    mkdir -m 700 emu
    sed 's/"balance": *[0-9]*/"balance": 1000000/' "$prefix/share/trisa/emulator.json" >emu.json
    sectigo serve --addr 127.0.0.1:0 --state-dir emu --config emu.json --processing-delay 0 \
        --quiet >emu.out 2>emu.err &
    emu_pid=$!
    trap 'kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null; rm -rf "$work"' EXIT
    url=
    for _ in $(seq 1 600); do
        url=$(sed -n 's/^listening on //p' emu.out | head -n 1)
        [ -n "$url" ] && break
        sleep 0.1
    done
    export SECTIGO_ENDPOINT="$url" SECTIGO_ENVIRONMENT=testing SECTIGO_USERNAME=staging
    export SECTIGO_PASSWORD=staging-password XDG_CACHE_HOME="$work/cache"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=bench.example" \
        -addext subjectAltName=DNS:bench.example -keyout k.pem -out r.csr 2>/dev/null
    hyperfine -N --warmup 2 --min-runs 20 --export-json emu.json.out --prepare 'rm -rf o' \
        -n "whole path (emulator, delay 0)" \
        "trisa-fetch --csr r.csr --profile 42 --out-dir o --key k.pem --trust emu/ca/root.pem --interval 1" \
        -n "key generation (RSA-4096)" "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096" \
        2>&1 | sed 's/^/  /' || true
    python3 - <<'EOPY'
import json
r = {x["command"]: x for x in json.load(open("emu.json.out"))["results"]}
w = r["whole path (emulator, delay 0)"]["mean"]
print(f"whole path without key generation: mean {w*1000:.1f} ms (target: key generation + 150 ms)")
EOPY
else
    echo "sectigo serve or emulator.json not installed: whole-path measurement skipped"
fi
