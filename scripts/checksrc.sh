#!/usr/bin/env bash
# The banned-call check (curl's checksrc idea), run by CTest as lint.checksrc and so by CI.
# Every C file in the project is scanned for calls that have a bounded or checked
# replacement; a line may opt out with a comment `checksrc: allow <call>: <why>`.
#
#   strcpy strcat sprintf vsprintf strtok atoi atol atoll gets: use snprintf, trisa_buf,
#       strtok_r-free parsing, trisa_parse_long (bounds and a full-string check)
#   access(): a check-then-use race; open the file and fstat it, or stat() for existence
#   strtol/strtoul/strtoll/strtoull/strtod with a NULL end pointer: trailing junk and
#       empty strings pass unseen
#   fopen() outside tests/: stdio buffers what it reads and never wipes it; read files that
#       may hold secrets with trisa_file_read (bounded, regular files only) and wipe them
#
# Usage: scripts/checksrc.sh [SOURCE_DIR]   (exit 0 clean, 1 findings, each as file:line)
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"

mapfile -t files < <(find . \( -path ./build -o -path './build-*' -o -path ./.git -o -path ./_out \) -prune \
    -o -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)

fail=0
report() { # file line call why
    printf '%s:%s: %s: %s\n' "$1" "$2" "$3" "$4"
    fail=1
}

for f in "${files[@]}"; do
    in_tests=0
    case "$f" in tests/*|fuzz/*) in_tests=1 ;; esac
    # Strip /* ... */ comments on one line and // comments; skip lines inside block
    # comments (leading '*'). Keep the line numbers.
    # Candidate lines as N:code, with one-line /* */ comments, // comments and string
    # literals blanked; lines that carry an opt-out comment are left out.
    while IFS=: read -r line code; do
        case "$code" in [[:space:]]\**|\**) continue ;; esac
        if [[ $code =~ (^|[^A-Za-z0-9_.>])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets)[[:space:]]*\( ]]; then
            report "$f" "$line" "${BASH_REMATCH[2]}" "banned; use a bounded or checked call"
        fi
        if [ $in_tests = 0 ] && [[ $code =~ (^|[^A-Za-z0-9_.>])access[[:space:]]*\( ]]; then
            report "$f" "$line" access "check-then-use race; open and fstat, or stat"
        fi
        if [ $in_tests = 0 ] && [[ $code =~ (strto(u?ll?|d|imax|umax))[[:space:]]*\([^,]*,[[:space:]]*(NULL|0)[[:space:]]*[,\)] ]]; then
            report "$f" "$line" "${BASH_REMATCH[1]}" "no end pointer: trailing junk passes; use trisa_parse_long or check end"
        fi
        if [ $in_tests = 0 ] && [[ $code =~ (^|[^A-Za-z0-9_.>])fopen[[:space:]]*\( ]]; then
            report "$f" "$line" fopen "stdio keeps unwiped copies; use trisa_file_read (or say why with checksrc: allow)"
        fi
    done < <(grep -nE '(strcpy|strcat|sprintf|strtok|atoi|atol|gets|access|strto[a-z]*|fopen)[[:space:]]*\(' "$f" |
        sed -E '/checksrc: allow/d; s#/\*([^*]|\*+[^*/])*\*+/##g; s#//.*$##; s#"([^"\\]|\\.)*"#""#g')
done

if [ $fail = 0 ]; then
    echo "checksrc: ${#files[@]} files clean"
fi
exit $fail
