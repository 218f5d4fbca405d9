# bash completion of `sectigo serve`: every option of its --help, and values where they
# are known (folders only for --state-dir, files for --config and the TLS files); and its
# man page, self-contained: every option and variable, no roff warning.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
need bash
COMP="$TRISA_STAGE/share/bash-completion/completions/sectigo"
assert_exists "$COMP"

complete_words() { # complete_words WORD...: what completing the last word offers
    bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _sectigo; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$COMP" "$@"
}
help_opts=$(sectigo serve --help | sed -n '/^Options:/,/^$/p' | grep -oE '(^| |,)-(-[a-z][a-z-]*|[a-z])' | tr -d ' ,' | sort -u | tr '\n' ' ')
[ -n "$help_opts" ] || fail "no options in sectigo serve --help"
offered=$(complete_words sectigo serve -)
for o in $help_opts; do
    assert_contains " $offered" " $o " "completion of 'sectigo serve -'"
done
assert_eq "$(complete_words sectigo serve --pr)" "--print-config --processing-delay --profile-set " "--pr"
assert_eq "$(complete_words sectigo serve --profile-set r)" "reference " "--profile-set values"
assert_eq "$(complete_words sectigo -E testing serve --cert-l)" "--cert-lifetime " "after a global option"
mkdir -p "$T/w/statedir" && : >"$T/w/state.json"
cd "$T/w"
assert_eq "$(complete_words sectigo serve --state-dir stat)" "statedir " "--state-dir: folders only"
assert_eq "$(complete_words sectigo serve -d stat)" "statedir " "-d: folders only"
assert_eq "$(complete_words sectigo serve --config stat)" "state.json statedir " "--config: files"
assert_eq "$(complete_words sectigo create -d stat)" " " "create -d is a domain, not a folder"
ok "sectigo serve completion: all $(printf '%s' "$help_opts" | wc -w) options of --help, values for --profile-set, folders for --state-dir"

# The installed man page: no roff warnings, and every option of --help in it.
MAN="$TRISA_STAGE/share/man/man1/sectigo-serve.1"
assert_exists "$MAN"
if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -ww -man -z "$MAN" 2>&1)
    assert_eq "$warnings" "" "groff -ww on sectigo-serve.1"
    text=$(groff -man -Tascii "$MAN" 2>/dev/null | sed 's/.\x08//g')
    for o in $help_opts; do
        case "$o" in --*) assert_contains "$text" "$o" "sectigo-serve(1)" ;; esac
    done
    for v in SIAS_BIND_ADDR SIAS_AUTH_USERNAME SIAS_AUTH_SECRET SIAS_AUTH_ISSUER SIAS_AUTH_SUBJECT SIAS_CA_PATH SIAS_LOG_LEVEL SIAS_CONSOLE_LOG; do
        assert_contains "$text" "$v" "sectigo-serve(1)"
    done
    ok "sectigo-serve(1) renders without warnings and names every option and SIAS_* variable"
else
    done_testing
    skip "groff is not installed: the man page was not checked"
fi
done_testing
