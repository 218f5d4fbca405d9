#!/usr/bin/env bash
# The man pages, as they are installed (configured from man/ with the install prefix):
#  - each renders without a single warning (groff -ww; and man --warnings when man-db is
#    there), so that no entry is swallowed by a roff error;
#  - FILES paths come from the install prefix, not a fixed /usr/share;
#  - every exit status a tool's page lists is in that tool's --help too.
# Usage: man.sh MAN_DIR PREFIX TOOL=BINARY[:COMMAND]...
set -u
mandir=$1 prefix=$2
shift 2
command -v groff >/dev/null 2>&1 || { echo "SKIP: groff is not installed"; exit 77; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pages=("$mandir"/*.1)
[ -e "${pages[0]}" ] || { echo "FAIL: no man pages in $mandir"; exit 1; }

for page in "${pages[@]}"; do
    name=$(basename "$page")
    warnings=$(groff -ww -man -z "$page" 2>&1)
    [ -z "$warnings" ] || fail "groff -ww $name: $warnings"
    if command -v man >/dev/null 2>&1; then
        warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        [ -z "$warnings" ] || fail "man --warnings $name: $warnings"
    fi
    grep -q '@[A-Z_]*@' "$page" && fail "$name: an unconfigured @VARIABLE@"
    if [ "$prefix" != /usr ]; then
        grep -n '/usr/share/trisa\|/usr/share/bash-completion' "$page" &&
            fail "$name: a path outside the install prefix $prefix"
    fi
    echo "ok - $name renders without warnings"
done

# exit_codes PAGE: the statuses its EXIT STATUS section lists, one a line.
exit_codes() {
    awk '/^\.SH "?EXIT STATUS"?/ { on = 1; next } on && /^\.SH/ { exit }
         on && prev ~ /^\.TP/ { sub(/^\.B +/, ""); if ($1 ~ /^[0-9]+$/) print $1 }
         { prev = $0 }' "$1"
}

for spec in "$@"; do
    # TOOL=BINARY, or TOOL=BINARY:COMMAND for a command's page (sectigo-serve=...:serve)
    tool=${spec%%=*} bin=${spec#*=} sub=
    case "$bin" in *:*) sub=${bin##*:} bin=${bin%:*} ;; esac
    page="$mandir/$tool.1"
    [ -e "$page" ] || { fail "no man page for $tool"; continue; }
    codes=$(exit_codes "$page")
    [ -n "$codes" ] || { fail "$tool.1 lists no exit status"; continue; }
    # shellcheck disable=SC2086
    help=$("$bin" $sub --help 2>&1 | sed -n '/Exit codes/,$p')
    [ -n "$help" ] || { fail "$tool --help has no 'Exit codes'"; continue; }
    for c in $codes; do
        grep -qE "(^|[^0-9])$c([^0-9]|$)" <<<"$help" || fail "$tool: exit $c is in $tool.1 but not in --help"
    done
    echo "ok - $tool --help lists every exit status of $tool.1 ($(echo $codes | tr '\n' ' '))"
done
[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
