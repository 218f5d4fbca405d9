# Helpers for the sectigo command-set tests; source after lib.sh and emulator.sh.
#
#   use_emulator           point SECTIGO_* at the running emulator (testing environment,
#                          its default account), with a private token cache in $T/cache
#   emu_requests           the emulator's request log, one "METHOD PATH STATUS" a line
#   emu_count METHOD PATH  how many such requests the log holds
#   emu_last METHOD PATH   the last such request's log entry (raw JSON object)
#   emu_clear              forget the request log
#   make_csr NAME          $T/NAME.csr, an EC P-256 CSR with the SAN the profile wants
#   emu_config OUT EXPR... the installed default emulator.json with sed EXPRs applied

use_emulator() {
    export SECTIGO_ENVIRONMENT=testing SECTIGO_ENDPOINT="$EMU_URL"
    export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
    export XDG_CACHE_HOME="$T/cache"
    unset SECTIGO_PROFILE SECTIGO_CA_BUNDLE
}

emu_requests() {
    curl -sS "$EMU_URL/_emulator/requests" |
        sed -e 's/},{/}\n{/g' -e 's/^\[//' -e 's/\]$//' |
        sed -n 's/.*"method":"\([A-Z]*\)","path":"\([^"]*\)","status":\([0-9]*\).*/\1 \2 \3/p'
}

# The last logged request for METHOD PATH, as its raw JSON object (headers as the
# emulator recorded them: contentType, accept, userAgent, authorization scheme, bytes).
emu_last() {
    curl -sS "$EMU_URL/_emulator/requests" | sed -e 's/},{/}\n{/g' |
        grep -F "\"method\":\"$1\",\"path\":\"$2\"," | tail -n 1
}

emu_count() {
    emu_requests | awk -v m="$1" -v p="$2" '$1 == m && $2 == p { n++ } END { print n + 0 }'
}

emu_clear() {
    curl -sS -X DELETE "$EMU_URL/_emulator/requests" >/dev/null
}

make_csr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -subj "/CN=$1/O=Test VASP" -addext "subjectAltName=DNS:$1" -out "$T/$1.csr" 2>/dev/null ||
        fail "openssl req $1"
}

# A copy of the default emulator config with sed expressions applied: emu_config OUT EXPR...
emu_config() {
    local out=$1
    shift
    local args=()
    for e in "$@"; do args+=(-e "$e"); done
    sed "${args[@]}" "$SHARE/emulator.json" >"$out"
}
