# Bash completion for every tool: one script, installed once (a link named after each tool
# for bash-completion's loader), offering every option each tool's --help lists (it asks
# the tool), commands, and values: folders only where a folder is expected, files where a
# file is, the known words elsewhere, nothing for a domain or an id.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
need bash
DIR="$TRISA_STAGE/share/bash-completion/completions"
COMP="$DIR/trisa-certkit"
assert_exists "$COMP"
for t in sectigo trisa-csr trisa-fetch; do
    assert_eq "$(readlink "$DIR/$t")" "trisa-certkit" "completions/$t"
    assert_exists "$TRISA_STAGE/share/man/man1/$t.1"
done
assert_missing "$TRISA_STAGE/share/trisa/bash-completion"
ok "one completion script, installed once, with a link for each tool"

complete_words() { # complete_words WORD...: what completing the last word offers
    bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _trisa_complete; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$COMP" "$@"
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
assert_eq "$(complete_words trisa-csr i)" "init " "trisa-csr's commands"
assert_eq "$(complete_words trisa-csr hsm l)" "list " "trisa-csr hsm's command"
assert_eq "$(complete_words trisa-csr --key ec)" "ec:P-256 ec:P-384 " "key types"
assert_eq "$(complete_words trisa-csr --digest sha5)" "sha512 " "digests"
assert_eq "$(complete_words trisa-fetch --passin f)" "fd: file: " "secret sources"
assert_eq "$(complete_words trisa-fetch -E t)" "testing " "trisa-fetch's environments"
ok "commands, options and values of sectigo, trisa-csr and trisa-fetch"

# Every option of every --help is offered; and what a value needs.
for cmd in "sectigo" "sectigo create" "sectigo download" "sectigo revoke" "sectigo serve" \
    "trisa-csr" "trisa-csr init" "trisa-csr hsm list" "trisa-fetch"; do
    # shellcheck disable=SC2086
    help_opts=$($cmd --help | grep -oE '^ +(-[A-Za-z], )?--?[a-z][a-z0-9-]*|, --[a-z][a-z0-9-]*' | grep -oE -- '-[-a-z0-9A-Z]+' | sort -u)
    [ -n "$help_opts" ] || fail "no options in $cmd --help"
    # shellcheck disable=SC2086
    offered=$(complete_words $cmd -)
    for o in $help_opts; do
        assert_contains " $offered" " $o " "completion of '$cmd -'"
    done
done
mkdir -p "$T/w/outdir" && : >"$T/w/out.txt"
cd "$T/w"
assert_eq "$(complete_words trisa-fetch --out-dir out)" "outdir " "--out-dir: folders only"
assert_eq "$(complete_words trisa-fetch --state-dir out)" "outdir " "--state-dir: folders only"
assert_eq "$(complete_words trisa-fetch -o out)" "outdir " "-o: folders only"
assert_eq "$(complete_words trisa-fetch --trust out)" "out.txt outdir " "--trust: files"
assert_eq "$(complete_words trisa-fetch --trust=out)" "out.txt outdir " "--trust=: files"
assert_eq "$(complete_words trisa-fetch --profile out)" " " "--profile: an id, no file names"
assert_eq "$(complete_words trisa-csr --out-dir out)" "outdir " "trisa-csr --out-dir: folders only"
assert_eq "$(complete_words trisa-csr -config out)" "out.txt outdir " "trisa-csr -config (openssl's spelling): files"
assert_eq "$(complete_words trisa-csr out)" "out.txt outdir " "trisa-csr's configs"
assert_eq "$(complete_words trisa-csr --cn out)" " " "--cn: a name, no file names"
assert_eq "$(complete_words sectigo download -o out)" "outdir " "sectigo download -o: folders only"
assert_eq "$(complete_words sectigo upload out)" "out.txt outdir " "sectigo upload FILE"
assert_eq "$(complete_words sectigo batches -i out)" " " "an id"
ok "every option of each --help is offered; folders only where a folder is expected, files where a file is"
done_testing
