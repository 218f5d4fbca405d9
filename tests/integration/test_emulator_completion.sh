# bash completion of `sectigo serve`: every option of its --help, and values where they
# are known (folders only for --state-dir, files for --config and the TLS files).
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
done_testing
