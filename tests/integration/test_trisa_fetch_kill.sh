#!/usr/bin/env bash
# Killed at every step, then run again: trisa-fetch --csr is killed (SIGKILL, by strace's
# syscall injection, so the moment is chosen, not lucky) at its 1st, 2nd, ... lock, connect,
# rename (each state change and each output it makes visible) and send, one fresh CSR each
# time, until a run gets through. Every rerun then
# ends with one upload for its CSR and the right files, or, when the kill fell between
# "sent" and the reply, stops as an upload of unknown outcome, which --force-upload or
# --batch then finish: still one batch. No temporary file is left anywhere.
# Then failures before anything leaves (TLS, a refused connection, 4xx/501) and after (503).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
need strace "Debian package strace"
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"
strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
# LeakSanitizer cannot run under ptrace: off for the traced runs of a sanitizer build.
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }

sed 's/"balance": *[0-9]*/"balance": 1000/' "$SHARE/emulator.json" >emu.json
start_emulator --test-hooks --processing-delay 0 --config emu.json

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"

log() {
    local cacert=()
    [ -e "$EMU_TLS_CA" ] && cacert=(--cacert "$EMU_TLS_CA")
    curl -sS "${cacert[@]}" "$EMU_URL/_emulator/requests"
}
# uploads [STATUS]: upload requests in the log (with that status)
uploads() { log | grep -o "\"path\":\"/api/v1/batches/upload\",\"status\":${1:-[0-9]*}," | wc -l; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
}
entry() { printf 'trisa-enroll/csr\n%s\n42\n%s' "$EMU_URL" "$(sha256sum "$1" | cut -c1-64)" |
    sha256sum | cut -c1-64 | sed "s|^|$TRISA_STATE_DIR/requests/|"; }
jstate() { sed -n 's/^state=//p' "$(entry "$1")/journal" 2>/dev/null || true; }
fetch() { trisa-fetch --csr "$1.csr" --profile 42 --key "$1.key" --out-dir "$1.out" --trust "$EMU_CA" --interval 1 "${@:2}"; }
# The set is whole and right: the certificate carries the key, the chain verifies.
right_files() {
    local d=$1.out
    assert_dir_is "$d" ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
    assert_eq "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" "$(openssl pkey -in "$1.key" -pubout)" "$d: the key"
    run openssl verify -CAfile "$EMU_CA" -untrusted "$d/chain.pem" "$d/cert.pem"
    assert_rc 0 "$d: openssl verify"
    assert_eq "$(openssl pkey -in "$d/node.pem" -pubout)" "$(openssl pkey -in "$1.key" -pubout)" "$d: node.pem"
}
no_temps() {
    local left
    left=$(find "$TRISA_STATE_DIR" "$@" -name '.*.tmp' 2>/dev/null)
    [ -z "$left" ] || fail "temporary files left: $left"
}

runs=0
unknown=0
for sc in flock connect rename renameat2 sendto; do
    set_="$sc"
    for n in $(seq 1 60); do
        name=k-$sc-$n.example
        newcsr "$name"
        before=$(uploads 200)
        set +e
        traced -f -o /dev/null -e trace="$set_" -e inject="$set_":signal=KILL:when=$n \
            trisa-fetch --csr "$name.csr" --profile 42 --key "$name.key" --out-dir "$name.out" \
            --trust "$EMU_CA" --interval 1 >"$name.log" 2>&1
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            right_files "$name" # the run got through: no kill point left for $sc
            break
        fi
        [ "$rc" -eq 137 ] || fail "$name: exit $rc, not killed: $(cat "$name.log")"
        runs=$((runs + 1))
        # Old temporary files of the token cache are the only ones left for later.
        find "$XDG_CACHE_HOME" -name '.*.tmp' -exec touch -d '-2 min' {} + 2>/dev/null || true
        state=$(jstate "$name.csr")
        run fetch "$name"
        if [ "$state" = sent ]; then
            # killed after "sent" was recorded and before the batch id was: unknown
            assert_rc 1 "$name: rerun after a kill at $sc #$n (journal: sent)"
            assert_contains "$ERR" "no batch id came back"
            unknown=$((unknown + 1))
            if [ "$(uploads 200)" -eq "$before" ]; then
                run fetch "$name" --force-upload
                assert_rc 0 "$name: --force-upload"
            else
                bid=$(uploads 200) # batch ids count from 1, one a successful upload here
                run trisa-fetch --batch "$bid" --key "$name.key" --out-dir "$name.out" --trust "$EMU_CA" --interval 1
                assert_rc 0 "$name: --batch $bid"
            fi
        else
            assert_rc 0 "$name: rerun after a kill at $sc #$n (journal: ${state:-none}): $ERR"
        fi
        assert_eq "$(uploads 200)" $((before + 1)) "$name: batches"
        right_files "$name"
        no_temps "$name.out" "$XDG_CACHE_HOME"
    done
done
[ "$runs" -ge 20 ] || fail "only $runs kill points"
ok "killed at each of $runs locks, connects, renames and sends ($unknown between 'sent' and the reply): every rerun ends with one batch and the right files, no temporary file left"

# ---- failures before the upload left, and after ---------------------------------------------
# TLS: the server's certificate is not trusted. Nothing is sent; the rerun uploads once.
stop_emulator
EMU_STATE=$T/tls-state EMU_LOG=$T/tls.log start_emulator --test-hooks --processing-delay 0 \
    --tls-self-signed --config emu.json
export SECTIGO_ENDPOINT="$EMU_URL"
newcsr tls.example
run fetch tls.example
assert_rc 7 "untrusted server certificate"
assert_contains "$ERR" "SSL certificate problem"
assert_missing tls.example.out
[ -z "$(jstate tls.example.csr)" ] || fail "the journal records an attempt: $(jstate tls.example.csr)"
run fetch tls.example --cacert "$EMU_TLS_CA"
assert_rc 0 "rerun trusting the server"
assert_eq "$(uploads)" 1 "uploads"
right_files tls.example
ok "a TLS failure (untrusted server): exit 7, no attempt recorded; the rerun uploads once"
export SECTIGO_CA_BUNDLE="$EMU_TLS_CA"

# The connections of the upload itself refused (the 2nd connect on: the 1st served the
# checks); the client tries again (a request never sent may be), then gives up.
newcsr refused.example
run traced -f -o /dev/null -e trace=connect -e inject=connect:error=ECONNREFUSED:when=2+ \
    trisa-fetch --csr refused.example.csr --profile 42 --key refused.example.key \
    --out-dir refused.example.out --trust "$EMU_CA" --interval 1
assert_rc 7 "connection refused at the upload"
assert_contains "$ERR" "nothing was sent: running again uploads"
assert_eq "$(jstate refused.example.csr)" none "journal"
assert_eq "$(uploads)" 1 "uploads"
run fetch refused.example
assert_rc 0 "rerun"
assert_eq "$(uploads)" 2 "uploads"
right_files refused.example
ok "a refused connection at the upload: exit 7, journal 'none' (never left); the rerun uploads once"

# The server answers 501 (or any 4xx): no batch exists; the attempt is cleared.
newcsr five-o-one.example
emu_hooks_faults '{"method":"POST","path":"/api/v1/batches/upload","kind":"status","status":501,"count":1}' >/dev/null
run fetch five-o-one.example
assert_rc 6 "501"
assert_contains "$ERR" "the server made no batch: running again uploads"
assert_eq "$(jstate five-o-one.example.csr)" none "journal"
run fetch five-o-one.example
assert_rc 0 "rerun after 501"
assert_eq "$(uploads 200)" 3 "batches"
ok "HTTP 501 on the upload: no batch, the attempt cleared; the rerun uploads"

# A 503 after sending: the outcome is unknown; never uploaded again without --force-upload.
newcsr five-o-three.example
emu_hooks_faults '{"method":"POST","path":"/api/v1/batches/upload","kind":"status","status":503,"count":1}' >/dev/null
run fetch five-o-three.example
assert_rc 6 "503"
assert_contains "$ERR" "its outcome is unknown"
assert_eq "$(jstate five-o-three.example.csr)" sent "journal"
run fetch five-o-three.example
assert_rc 1 "rerun: unknown"
assert_eq "$(uploads)" 5 "uploads"
run fetch five-o-three.example --force-upload
assert_rc 0 "--force-upload"
assert_eq "$(uploads 200)" 4 "batches"
ok "HTTP 503 on the upload: outcome unknown, the rerun stops; --force-upload uploads once more"

done_testing
