# Bash completion for every tool: one script, installed once (a link named after each tool
# for bash-completion's loader), offering every option each tool's --help lists (it asks
# the tool), commands, and values: folders only where a folder is expected, files where a
# file is, the known words elsewhere, nothing for a domain or an id.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
need bash
DIR="$TRISA_STAGE/share/bash-completion/completions"
COMP="$DIR/trisa-certkit"
assert_exists "$COMP"
for t in sectigo trisa-csr trisa-fetch trisa-renew; do
    assert_eq "$(readlink "$DIR/$t")" "trisa-certkit" "completions/$t"
    assert_exists "$TRISA_STAGE/share/man/man1/$t.1"
done
assert_missing "$TRISA_STAGE/share/trisa/bash-completion"
ok "one completion script, installed once, with a link for each tool"

# The script is sourced here, once, as an interactive shell does: each tool's --help is
# read once and kept for the shell's life, as at a prompt.
set +eu
# shellcheck disable=SC1090
source "$COMP"
set -eu
# cw WORD...: what completing the last word offers, into $REPLY (sorted, space separated).
cw() {
    local saved=$-
    set +eu
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _trisa_complete
    REPLY=$(printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " ")
    case "$saved" in *e*) set -e ;; esac
    case "$saved" in *u*) set -u ;; esac
}
cw sectigo ba; assert_eq "$REPLY" "batches " "command"
cw sectigo pro; assert_eq "$REPLY" "profile profiles " "command with alias"
cw sectigo -E testing li; assert_eq "$REPLY" "licenses " "command after a global option"
cw sectigo --env st; assert_eq "$REPLY" "staging " "environment values"
cw sectigo batches --s; assert_eq "$REPLY" "--status " "command option"
cw sectigo revoke -r cess; assert_eq "$REPLY" "cessationofoperation " "reason"
cw sectigo --ver; assert_eq "$REPLY" "--version " "global option"
cw sectigo he; assert_eq "$REPLY" "help " "the help command"
cw sectigo help cre; assert_eq "$REPLY" "create " "help COMMAND"
cw sectigo -E=testing li; assert_eq "$REPLY" "licenses " "command after -E=VALUE"
cw trisa-csr i; assert_eq "$REPLY" "init " "trisa-csr's commands"
cw trisa-csr hsm l; assert_eq "$REPLY" "list " "trisa-csr hsm's command"
cw trisa-csr --key ec; assert_eq "$REPLY" "ec:P-256 ec:P-384 " "key types"
cw trisa-csr --digest sha5; assert_eq "$REPLY" "sha512 " "digests"
cw trisa-fetch --passin f; assert_eq "$REPLY" "fd: file: " "secret sources"
cw trisa-fetch -E t; assert_eq "$REPLY" "testing " "trisa-fetch's environments"
cw trisa-renew r; assert_eq "$REPLY" "remove renew rollback " "trisa-renew's commands"
cw trisa-renew --rev; assert_eq "$REPLY" "--revoke-superseded " "the default command's options"
cw trisa-renew list --pro; assert_eq "$REPLY" "--prometheus " "trisa-renew list's options"
cw trisa-renew add --key ec; assert_eq "$REPLY" "ec:P-256 ec:P-384 " "trisa-renew add's key types"
ok "commands, options and values of sectigo, trisa-csr, trisa-fetch and trisa-renew"

# Every option of every --help is offered; and what a value needs.
for cmd in "sectigo" "sectigo create" "sectigo download" "sectigo revoke" "sectigo serve" \
    "trisa-csr" "trisa-csr init" "trisa-csr hsm list" "trisa-fetch" "trisa-renew" \
    "trisa-renew add" "trisa-renew list" "trisa-renew import"; do
    # shellcheck disable=SC2086
    help_opts=$($cmd --help | grep -oE '^ +(-[A-Za-z], )?--?[a-z][a-z0-9-]*|, --[a-z][a-z0-9-]*' | grep -oE -- '-[-a-z0-9A-Z]+' | sort -u)
    [ -n "$help_opts" ] || fail "no options in $cmd --help"
    # shellcheck disable=SC2086
    cw $cmd -
    offered=$REPLY
    for o in $help_opts; do
        assert_contains " $offered" " $o " "completion of '$cmd -'"
    done
done
mkdir -p "$T/w/outdir" && : >"$T/w/out.txt"
cd "$T/w"
cw trisa-fetch --out-dir out; assert_eq "$REPLY" "outdir " "--out-dir: folders only"
cw trisa-fetch --state-dir out; assert_eq "$REPLY" "outdir " "--state-dir: folders only"
cw trisa-fetch -o out; assert_eq "$REPLY" "outdir " "-o: folders only"
cw trisa-fetch --trust out; assert_eq "$REPLY" "out.txt outdir " "--trust: files"
cw trisa-fetch --trust=out; assert_eq "$REPLY" "out.txt outdir " "--trust=: files"
cw trisa-fetch --profile out; assert_eq "$REPLY" " " "--profile: an id, no file names"
cw trisa-csr --out-dir out; assert_eq "$REPLY" "outdir " "trisa-csr --out-dir: folders only"
cw trisa-csr -config out; assert_eq "$REPLY" "out.txt outdir " "trisa-csr -config (openssl's spelling): files"
cw trisa-csr out; assert_eq "$REPLY" "out.txt outdir " "trisa-csr's configs"
cw trisa-csr --cn out; assert_eq "$REPLY" " " "--cn: a name, no file names"
cw sectigo download -o out; assert_eq "$REPLY" "outdir " "sectigo download -o: folders only"
cw sectigo upload out; assert_eq "$REPLY" "out.txt outdir " "sectigo upload FILE"
cw sectigo batches -i out; assert_eq "$REPLY" " " "an id"
ok "every option of each --help is offered; folders only where a folder is expected, files where a file is"
done_testing
