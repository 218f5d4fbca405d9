# Shared helpers for integration tests; source it first. Each test runs the installed
# layout under $TRISA_STAGE, as a user would, in a private temporary folder.
set -u
: "${TRISA_STAGE:?run through ctest (TRISA_STAGE unset)}"
BIN="$TRISA_STAGE/bin"
SHARE="$TRISA_STAGE/share/trisa"
export PATH="$BIN:$PATH"
export LD_LIBRARY_PATH="$TRISA_STAGE/lib:$TRISA_STAGE/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "${TRISA_TEST_TMP:-/tmp}"
T=$(mktemp -d "${TRISA_TEST_TMP:-/tmp}/$(basename "$0" .sh).XXXXXX")
_cleanups=()
_on_exit() {
    local rc=$?
    for c in "${_cleanups[@]}"; do eval "$c" || true; done
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi
    exit "$rc"
}
trap _on_exit EXIT
cd "$T"
TESTS_RUN=0
# trisa-fetch's journal: private to the test (as root it would be /var/lib/trisa).
export TRISA_STATE_DIR="$T/trisa-state"

# Register a shell command to run when the test exits.
at_exit() { _cleanups+=("$1"); }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed${2:+ ($2)}"; }
ok() { TESTS_RUN=$((TESTS_RUN + 1)); echo "ok $TESTS_RUN - $*"; }

# run CMD...: run it, capturing stdout in $OUT, stderr in $ERR and the exit code in $RC.
run() {
    set +e
    "$@" >"$T/.out" 2>"$T/.err"
    RC=$?
    set -e
    OUT=$(cat "$T/.out")
    ERR=$(cat "$T/.err")
}
assert_rc() { [ "$RC" -eq "$1" ] || fail "${2:-command}: exit code $RC, expected $1; stderr: $ERR"; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got [$1], expected [$2]"; }
assert_contains() { case "$1" in *"$2"*) ;; *) fail "${3:-text} does not contain [$2]: [$1]" ;; esac; }
assert_not_contains() { case "$1" in *"$2"*) fail "${3:-text} contains [$2]: [$1]" ;; *) ;; esac; }
assert_mode() { local m; m=$(stat -c %a "$1") || fail "$1 missing"; [ "$m" = "$2" ] || fail "$1: mode $m, expected $2"; }
assert_missing() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1 exists but should not"; }
assert_exists() { [ -e "$1" ] || fail "$1 missing"; }
# The folder holds exactly these names (sorted, space separated; hidden files count).
assert_dir_is() { local got; got=$(ls -A "$1" | sort | tr '\n' ' ' | sed 's/ $//'); assert_eq "$got" "$2" "contents of $1"; }
# skip_case REASON: a sub-case that cannot run here. The test goes on; done_testing then
# exits 77 (CTest: skipped) naming each one, so a missing fixture or tool never passes
# silently.
_skipped=()
skip_case() { echo "# SKIP: $*"; _skipped+=("$*"); }
done_testing() {
    echo "$TESTS_RUN passed, 0 failed"
    if [ "${#_skipped[@]}" -gt 0 ]; then
        local IFS=';'
        skip "the other checks passed; not run: ${_skipped[*]}"
    fi
}
# sha256sum's hex as every tool prints a fingerprint: lower-case pairs and colons.
colon_hex() { sed 's/../&:/g; s/:$//'; }
# The SHA-256 fingerprint of a key's public key (PEM key, or - with the public key on stdin).
key_fp() { openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -c1-64 | colon_hex; }
set -e
