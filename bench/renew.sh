#!/usr/bin/env bash
# trisa-renew at scale:
#
#  1. a timer run with nothing due over 1,000 lineages (target: under 100 ms wall, and no
#     network request: the endpoint in the credentials is a closed port, so any request
#     would fail the run), against `find STATE -name state | xargs cat` as the floor of
#     reading the same files;
#  2. `trisa-renew check` over the same 1,000;
#  3. 100 lineages due on the emulator (processing delay 0, EC P-256 keys, then RSA-2048):
#     one `trisa-renew --jobs 4` run against 100 sequential `trisa-renew NAME` runs.
#
#   bench/renew.sh [PREFIX]      (PREFIX: an install prefix, default build/stage)
#
# Times are wall clock (hyperfine means, or `date` around a whole run); on a shared
# machine compare within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(cd "${1:-$here/build/stage}" && pwd)
for t in hyperfine openssl curl; do
    command -v "$t" >/dev/null || { echo "bench/renew.sh: $t is not installed" >&2; exit 77; }
done
export PATH="$prefix/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

work=$(mktemp -d)
emu_pid=
trap '[ -z "$emu_pid" ] || kill "$emu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export XDG_CACHE_HOME="$work/cache"

sed 's/"balance": *[0-9]*/"balance": 100000/' "$prefix/share/trisa/emulator.json" >emu.json
sectigo serve --addr 127.0.0.1:0 --state-dir "$work/emu" --processing-delay 0 --config emu.json \
    >emu.out 2>emu.log &
emu_pid=$!
for _ in $(seq 1 600); do
    [ -s emu.out ] && break
    sleep 0.1
done
url=$(sed 's/^listening on //' emu.out)
cred() { # cred FILE ENDPOINT
    printf 'SECTIGO_USERNAME=staging\nSECTIGO_PASSWORD=staging-password\nSECTIGO_ENDPOINT=%s\nSECTIGO_ENVIRONMENT=testing\n' "$2" >"$1"
    chmod 600 "$1"
}
cred cred.env "$url"
cat >trisa.conf <<'EOF'
[req]
prompt = no
distinguished_name = dn
req_extensions = ext
[dn]
CN = bench.example.com
O = Bench VASP
C = US
[ext]
subjectAltName = DNS:bench.example.com
EOF

echo "== 1. 1,000 lineages, none due"
export TRISA_STATE_DIR="$work/idle"
trisa-renew add l0000 --config trisa.conf --profile 42 --key ec:P-256 --trust-bundle-root \
    --credentials cred.env >/dev/null
trisa-renew l0000 >/dev/null 2>&1
# A closed port from now on: a request would fail the run.
cred cred.env "http://127.0.0.1:9"
for i in $(seq 1 999); do
    n=$(printf 'l%04d' "$i")
    cp -a "$TRISA_STATE_DIR/lineages/l0000" "$TRISA_STATE_DIR/lineages/$n"
    sed -i "s/^name = l0000$/name = $n/" "$TRISA_STATE_DIR/lineages/$n/lineage.conf"
done
trisa-renew && [ -z "$(trisa-renew 2>&1)" ] || { echo "a run with nothing due printed or failed" >&2; exit 1; }
hyperfine -N -i --warmup 3 --runs 30 --export-json idle.json \
    -n 'trisa-renew (1,000 lineages, none due)' 'trisa-renew' \
    -n 'trisa-renew check' "trisa-renew check" \
    -n 'cat of the 1,000 state files' "sh -c 'cat $TRISA_STATE_DIR/lineages/*/state >/dev/null'" || true

echo
echo "== 2. 100 lineages due on the emulator"
cred cred.env "$url"
for spec in ${BENCH_KEYS:-ec:P-256 rsa:2048}; do
    for mode in jobs sequential; do
        export TRISA_STATE_DIR="$work/due-$spec-$mode"
        for i in $(seq 1 100); do
            trisa-renew add "$(printf 'd%03d' "$i")" --config trisa.conf --profile 42 --key "$spec" \
                --trust-bundle-root --credentials cred.env >/dev/null
        done
        start=$(date +%s.%N)
        if [ "$mode" = jobs ]; then
            trisa-renew --jobs 4 -q
        else
            for i in $(seq 1 100); do trisa-renew -q "$(printf 'd%03d' "$i")"; done
        fi
        end=$(date +%s.%N)
        n=$(find "$TRISA_STATE_DIR/lineages" -maxdepth 2 -name live | wc -l)
        awk -v s="$start" -v e="$end" -v n="$n" -v spec="$spec" -v m="$mode" \
            'BEGIN { printf "%-8s %-10s %3d renewed in %6.2f s (%5.1f lineages/s)\n", spec, m, n, e - s, n / (e - s) }'
    done
done
