#!/usr/bin/env bash
# lint.exports: libtrisa.so exports exactly the functions the public headers mark with
# TRISA_EXTERN, and nothing else (no internal helper, no data symbol).
# Usage: tests/exports.sh LIBTRISA_SO INCLUDE_DIR
set -euo pipefail
lib=$1 inc=$2
command -v nm >/dev/null || { echo "SKIP: nm (binutils) not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every defined dynamic symbol, whatever its kind (functions T, data D/B/R, ...).
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^_' | sort -u >"$tmp/exported"
# Each declaration marked TRISA_EXTERN (preprocessor and comment lines left out), joined
# across lines, up to its '('.
grep -hvE '^[[:space:]]*(#|/[*]|[*])' "$inc"/*.h | tr '\n' ' ' | grep -oE 'TRISA_EXTERN [^;(]*\(' |
    sed -E 's/[[:space:]]*\($//; s/.*[^A-Za-z0-9_]//' | sort -u >"$tmp/declared"

if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff"; then
    echo "libtrisa.so exports differ from the TRISA_EXTERN declarations in $inc:"
    echo "(- declared but not exported, + exported but not declared public)"
    tail -n +3 "$tmp/diff" | grep '^[-+]'
    exit 1
fi
echo "libtrisa.so exports the $(wc -l <"$tmp/declared") public functions and nothing else"
