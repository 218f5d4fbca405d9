#!/bin/bash
# Benchmark: a CSR signed with an RSA-4096 key on a PKCS#11 token (SoftHSM2), trisa-csr
# against `openssl req -new -engine pkcs11 -keyform engine -key URI` on the same token and
# key, in the same run, as interleaved pairs.
#
# usage: bench/hsm.sh [path/to/bin]   (default: build/stage/bin, from `cmake --install`)
# env:   RUNS (default 60 pairs), CONF (default conf/trisa.conf)
# needs: softhsm2, libengine-pkcs11-openssl, python3
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$here/build/stage/bin}")
CONF=$(realpath "${CONF:-$here/conf/trisa.conf}")
RUNS=${RUNS:-60}
MODULE=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -r "$m" ] && MODULE=$m && break
done
[ -n "$MODULE" ] || { echo "SoftHSM2 is not installed (package softhsm2)" >&2; exit 1; }
openssl engine pkcs11 >/dev/null 2>&1 || { echo "the OpenSSL pkcs11 engine is not installed (package libengine-pkcs11-openssl)" >&2; exit 1; }
export LD_LIBRARY_PATH="$BIN/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >softhsm2.conf
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
echo 1234 >pin
# The engine finds the module through an OpenSSL config; the PIN goes in the key URI.
cat >engine.cnf <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = $MODULE
init = 0
CNF
"$BIN/trisa-csr" -config "$CONF" --pkcs11-module "$MODULE" --pkcs11-uri "pkcs11:token=bench;object=bench-key" \
    --pin-file pin -out first.csr 2>/dev/null
KEY="pkcs11:token=bench;object=bench-key;type=private"

echo "trisa-csr: $BIN/trisa-csr ($("$BIN/trisa-csr" --version))"
echo "openssl:   $(openssl version), engine pkcs11 from libengine-pkcs11-openssl"
echo "token:     SoftHSM2 ($MODULE), RSA-4096 key made on it; config $CONF; $(nproc) cores"
echo
# Interleaved pairs (alternating which goes first) so that load from other processes
# falls on both commands alike; then the medians and the median of the per-pair ratios.
OPENSSL_CMD="OPENSSL_CONF=$work/engine.cnf openssl req -new -engine pkcs11 -keyform engine -key '$KEY;pin-value=1234' -config $CONF -sha384 -out o.csr"
TRISA_CMD="$BIN/trisa-csr -config $CONF --pkcs11-module $MODULE --key-in-uri '$KEY' --pin-file pin -out t.csr --force"
RUNS=$RUNS OPENSSL_CMD=$OPENSSL_CMD TRISA_CMD=$TRISA_CMD python3 - <<'PY'
import os, statistics, subprocess, time
runs = int(os.environ["RUNS"])
cmds = {"openssl": os.environ["OPENSSL_CMD"], "trisa-csr": os.environ["TRISA_CMD"]}
def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
for c in cmds.values():  # warm-up
    once(c)
times = {k: [] for k in cmds}
for i in range(runs):
    order = ["openssl", "trisa-csr"] if i % 2 == 0 else ["trisa-csr", "openssl"]
    for k in order:
        times[k].append(once(cmds[k]))
o, t = statistics.median(times["openssl"]), statistics.median(times["trisa-csr"])
ratios = [b / a for a, b in zip(times["openssl"], times["trisa-csr"])]
print(f"{runs} interleaved pairs")
print(f"median wall time: openssl req -engine pkcs11 {o*1000:.1f} ms, trisa-csr {t*1000:.1f} ms")
print(f"ratio of medians {t/o:.2f}, median of pair ratios {statistics.median(ratios):.2f} (target <= 1.10)")
PY
openssl req -verify -noout -in o.csr 2>/dev/null && openssl req -verify -noout -in t.csr 2>/dev/null ||
    { echo "a CSR did not verify" >&2; exit 1; }
