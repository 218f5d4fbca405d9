#!/bin/bash
# Benchmark trisa-csr against `openssl req` on the same config:
#   1. one RSA-4096 key + SHA-384 CSR, median wall time over >= 20 runs each (hyperfine);
#   2. 20 keys + CSRs: trisa-csr --jobs 2 over a folder of 20 configs vs 20 sequential
#      openssl req runs (throughput);
#   3. peak resident memory of one run each (/usr/bin/time -v).
#
# usage: bench/csr.sh [path/to/trisa-csr]   (default: build/tools/trisa-csr/trisa-csr)
# env:   RUNS (default 20), PAIRS (default 40), BATCH_RUNS (default 3),
#        CONF (default conf/trisa.conf)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CSR=$(realpath "${1:-$here/build/tools/trisa-csr/trisa-csr}")
CONF=$(realpath "${CONF:-$here/conf/trisa.conf}")
RUNS=${RUNS:-20}
BATCH_RUNS=${BATCH_RUNS:-3}
PAIRS=${PAIRS:-40}
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (package time)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "trisa-csr: $CSR ($("$CSR" --version))"
echo "openssl:   $(command -v openssl) ($(openssl version))"
echo "config:    $CONF"
echo "cores:     $(nproc)"
echo

echo "== 1. one RSA-4096 key + SHA-384 CSR, $RUNS runs each =="
hyperfine --runs "$RUNS" --warmup 1 --export-json single.json \
    --prepare 'rm -f k.pem r.csr' \
    -n openssl "openssl req -new -newkey rsa:4096 -nodes -sha384 -config $CONF -keyout k.pem -out r.csr" \
    -n trisa-csr "$CSR -new -newkey rsa:4096 -nodes -sha384 -config $CONF -keyout k.pem -out r.csr"

echo
echo "== 1c. the tools' own cost: a CSR for an existing RSA-4096 key, $RUNS runs each =="
# Key generation is one and the same libcrypto routine in both tools, and its time is
# random (prime search); without it, what remains is each tool's own work.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out fixed.pem 2>/dev/null
hyperfine --runs "$RUNS" --warmup 2 --export-json existing.json -N \
    --prepare 'rm -f r.csr' \
    -n openssl "openssl req -new -key fixed.pem -sha384 -config $CONF -out r.csr" \
    -n trisa-csr "$CSR -new -key fixed.pem -sha384 -config $CONF -out r.csr"

echo
echo "== 1b. the same, interleaved: $PAIRS pairs, openssl and trisa-csr alternating =="
# Other work on a shared machine shifts hyperfine's back-to-back blocks differently;
# alternating runs see the same load. /usr/bin/time gives wall, CPU and peak RSS.
: >pairs.txt
for i in $(seq 1 "$PAIRS"); do
    rm -f k.pem r.csr
    /usr/bin/time -f "openssl %e %U %S %M" -a -o pairs.txt \
        openssl req -new -newkey rsa:4096 -nodes -sha384 -config "$CONF" -keyout k.pem -out r.csr 2>/dev/null
    rm -f k.pem r.csr
    /usr/bin/time -f "trisa-csr %e %U %S %M" -a -o pairs.txt \
        "$CSR" -new -newkey rsa:4096 -nodes -sha384 -config "$CONF" -keyout k.pem -out r.csr
done

echo
echo "== 2. 20 keys + CSRs: trisa-csr --jobs 2 vs 20 sequential openssl runs =="
mkdir confs
for i in $(seq -w 1 20); do
    sed "s/trisa.example.com/host$i.example.com/" "$CONF" >confs/host$i.conf
done
cat >seq.sh <<SEQ
for c in confs/*.conf; do
    openssl req -new -newkey rsa:4096 -nodes -sha384 -config "\$c" -keyout out/\$(basename "\$c" .conf).key -out out/\$(basename "\$c" .conf).csr 2>/dev/null
done
SEQ
hyperfine --runs "$BATCH_RUNS" --export-json batch.json \
    --prepare 'rm -rf out && mkdir out' \
    -n 'openssl x20 sequential' "bash seq.sh" \
    -n 'trisa-csr --jobs 2' "$CSR --jobs 2 confs --out-dir out --bundle-out out/all.csr"

echo
echo "== 3. peak resident memory, one run each =="
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'; }
rm -f k.pem r.csr
o_rss=$(rss openssl req -new -newkey rsa:4096 -nodes -sha384 -config "$CONF" -keyout k.pem -out r.csr)
rm -f k.pem r.csr
t_rss=$(rss "$CSR" -new -newkey rsa:4096 -nodes -sha384 -config "$CONF" -keyout k.pem -out r.csr)
echo "openssl   peak RSS: $o_rss kB"
echo "trisa-csr peak RSS: $t_rss kB"

echo
echo "== summary =="
python3 - "$o_rss" "$t_rss" <<'PY'
import json, sys
s = {r["command"]: r for r in json.load(open("single.json"))["results"]}
b = {r["command"]: r for r in json.load(open("batch.json"))["results"]}
o, t = s["openssl"]["median"], s["trisa-csr"]["median"]
print(f"single: openssl median {o:.3f} s, trisa-csr median {t:.3f} s, ratio {t/o:.3f} (target <= 1.05)")
bo, bt = b["openssl x20 sequential"]["median"], b["trisa-csr --jobs 2"]["median"]
import statistics as st
e = {r["command"]: r for r in json.load(open("existing.json"))["results"]}
eo, et = e["openssl"]["median"], e["trisa-csr"]["median"]
print(f"existing key (no keygen): openssl median {eo*1000:.1f} ms, trisa-csr median {et*1000:.1f} ms, ratio {et/eo:.3f}")
rows = [l.split() for l in open("pairs.txt") if l.split() and l.split()[0] in ("openssl", "trisa-csr")]
def col(tool, i): return [float(r[i]) for r in rows if r[0] == tool]
wo, wt = st.median(col("openssl", 1)), st.median(col("trisa-csr", 1))
co = st.median([u + s for u, s in zip(col("openssl", 2), col("openssl", 3))])
ct = st.median([u + s for u, s in zip(col("trisa-csr", 2), col("trisa-csr", 3))])
print(f"interleaved ({len(col('openssl', 1))} pairs): median wall openssl {wo:.3f} s, trisa-csr {wt:.3f} s, "
      f"ratio {wt/wo:.3f}; median CPU openssl {co:.3f} s, trisa-csr {ct:.3f} s, ratio {ct/co:.3f}")
print(f"interleaved peak RSS (max over runs): openssl {max(col('openssl', 4)):.0f} kB, "
      f"trisa-csr {max(col('trisa-csr', 4)):.0f} kB")
print(f"batch of 20: openssl sequential {bo:.2f} s, trisa-csr --jobs 2 {bt:.2f} s, "
      f"throughput x{bo/bt:.2f} (target >= 1.8)")
print(f"peak RSS: openssl {sys.argv[1]} kB, trisa-csr {sys.argv[2]} kB (target: not higher)")
PY
