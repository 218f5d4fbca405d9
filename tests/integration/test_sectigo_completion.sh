# The installed bash completion for sectigo offers commands, options and values.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
COMP="$TRISA_STAGE/share/bash-completion/completions/sectigo"
assert_exists "$COMP"
assert_exists "$TRISA_STAGE/share/man/man1/sectigo.1"

complete_words() { # complete_words WORD...: what completing the last word offers
    bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _sectigo; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$COMP" "$@"
}
assert_eq "$(complete_words sectigo ba)" "batches " "command"
assert_eq "$(complete_words sectigo pro)" "profile profiles " "command with alias"
assert_eq "$(complete_words sectigo -E testing li)" "licenses " "command after a global option"
assert_eq "$(complete_words sectigo --env st)" "staging " "environment values"
assert_eq "$(complete_words sectigo batches --s)" "--status " "command option"
assert_eq "$(complete_words sectigo revoke -r cess)" "cessationofoperation " "reason"
assert_eq "$(complete_words sectigo --ver)" "--version " "global option"
assert_eq "$(complete_words sectigo he)" "help " "the help command"
assert_eq "$(complete_words sectigo help cre)" "create " "help COMMAND"
assert_eq "$(complete_words sectigo -E=testing li)" "licenses " "command after -E=VALUE"
ok "bash completion"
done_testing
