#!/usr/bin/env bash
# The layering check (issue 15: module boundaries), run by CTest as lint.layers. The build
# already stops a module from including the internal headers of a module it does not
# declare in USES; the public headers (include/trisa/) are visible to every module, so
# this check does the same for them: every #include "trisa/X.h" (or <trisa/X.h>) in a
# module's sources must be its own header, trisa/common.h (every module may use it), or
# the header of a module named in USES or CALLS of its trisa_module(...) call. Exits 1
# listing each "file:line: trisa/X.h is module Y's, not declared by M" otherwise, 2 when
# a public header is not mapped to a module below.  Usage: scripts/layers.sh [SOURCE_DIR]
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"

# The module whose functions each public header declares (a new header needs a line).
declare -A owner=([common.h]=common [keygen.h]=keygen [csr.h]=csr [hsm.h]=hsm
    [sectigo.h]=transport [bundle.h]=pkcs12 [enroll.h]=enroll [lineage.h]=lineage
    [trisa.h]=all)
for h in include/trisa/*.h; do
    [ -n "${owner[$(basename "$h")]:-}" ] || {
        echo "layers.sh: $h: no module in its map (add it to scripts/layers.sh)" >&2
        exit 2
    }
done

bad=0 modules=0 checked=0
for cm in */CMakeLists.txt; do
    grep -q '^trisa_module(' "$cm" || continue
    dir=$(dirname "$cm")
    # The whole call on one line, then NAME and the words after USES and CALLS.
    call=$(sed -n '/^trisa_module(/,/)/p' "$cm" | tr '\n' ' ')
    read -r -a words <<<"$(printf '%s' "$call" | sed -e 's/^trisa_module(//' -e 's/).*//')"
    name="" allowed=" common " key=""
    for w in "${words[@]}"; do
        case "$w" in
        NAME | SOURCES | USES | CALLS | DEPS | PKGCONFIG) key=$w ;;
        *)
            case "$key" in
            NAME) name=$w ;;
            USES | CALLS) allowed+="${w%%/*} " ;;
            esac
            ;;
        esac
    done
    [ -n "$name" ] || { echo "layers.sh: $cm: trisa_module without NAME" >&2; exit 2; }
    allowed+="$name "
    modules=$((modules + 1))
    while IFS= read -r hit; do
        [ -n "$hit" ] || continue
        file=${hit%%:*} rest=${hit#*:} line=${rest%%:*}
        header=$(printf '%s' "$rest" | sed -E 's/.*[<"]trisa\/([A-Za-z0-9_]+\.h)[>"].*/\1/')
        mod=${owner[$header]:-}
        checked=$((checked + 1))
        if [ -z "$mod" ]; then
            echo "$file:$line: trisa/$header is not a public header of any module"
            bad=1
        elif [ "$mod" = all ]; then
            echo "$file:$line: trisa/$header (every module) in module $name: include the headers it uses"
            bad=1
        elif [[ "$allowed" != *" $mod "* ]]; then
            echo "$file:$line: trisa/$header is module $mod's, not declared by $name (USES or CALLS $mod in $cm)"
            bad=1
        fi
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]trisa/' \
        "$dir"/*.c "$dir"/*.h 2>/dev/null || true)
done
[ "$modules" -gt 0 ] || { echo "layers.sh: no trisa_module() under $top" >&2; exit 2; }
if [ "$bad" -ne 0 ]; then
    echo "public headers used by modules that do not declare them (see trisa_module in CMakeLists.txt)"
    exit 1
fi
echo "$checked public includes in $modules modules, each declared"
