#!/usr/bin/env bash
# The long-function check (issue 15: functions split by phase), run by CTest as
# lint.longfuncs. Lists every C function of the library, the emulator and the tools longer
# than LIMIT lines (default 150), counted from the first line of its signature to its
# closing brace (the .clang-format style puts both at column 0), longest first, as
# "LINES file:line name"; exits 1 when there is one. Tests, fuzz targets and examples are
# left out.  Usage: scripts/longfuncs.sh [LIMIT] [SOURCE_DIR]
set -euo pipefail
limit=${1:-150}
top=${2:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
mapfile -t files < <(find common keygen csr hsm transport pkcs12 emulator enroll lineage tools \
    -name '*.c' 2>/dev/null | sort)
[ "${#files[@]}" -gt 0 ] || { echo "no sources under $top" >&2; exit 2; }
found=$(for f in "${files[@]}"; do
    awk -v f="$f" -v limit="$limit" '
        /^[A-Za-z_].*\(/ && !/;[[:space:]]*$/ { if (!inbody) { sig = $0; sigline = NR } }
        /^\{/ { inbody = 1; name = sig; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n] }
        /^\}/ && inbody { len = NR - sigline + 1; if (len > limit) printf "%d %s:%d %s\n", len, f, sigline, name; inbody = 0 }
    ' "$f"
done | sort -rn)
if [ -n "$found" ]; then
    echo "functions over $limit lines (split them by phase):"
    echo "$found"
    exit 1
fi
echo "no function over $limit lines in ${#files[@]} files"
