#!/usr/bin/env bash
# trisa-renew under races and kills. Two runs of a due lineage at once: one upload, both
# exit 0 (the emulator holds the batch until the second run waits for the lineage's
# lock). --jobs renews several lineages at once. Then a renewal killed (SIGKILL, by
# strace's syscall injection, so the moment is chosen, not lucky) at its 1st, 2nd, ...
# lock, rename, link, connect and send, and run again: one successful upload for the
# renewal, live/ always a whole version whose certificate carries its key, no temporary
# file left; a kill between "sent" and the reply is finished with --force-upload or --batch.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need python3
trisa-renew --help >/dev/null 2>&1 || skip "trisa-renew is not built"

sed 's/"balance": *[0-9]*/"balance": 1000/' "$SHARE/emulator.json" >emu.json
# Batches stay PROCESSING until the test says otherwise.
start_emulator --test-hooks --processing-delay 3600 --config emu.json

emu_credentials cred.env
export XDG_CACHE_HOME="$T/cache" TRISA_STATE_DIR="$T/trisa-state"
LS="$TRISA_STATE_DIR/lineages"
sed 's/^CN = .*/CN = race.example.com/; s/^DNS.1 = .*/DNS.1 = race.example.com/; /^DNS.2/d' \
    "$TRISA_SOURCE_DIR/conf/trisa.conf" >race.conf
add() { trisa-renew add "$1" --config "${2:-race.conf}" --profile 42 --key ec:P-256 --trust "$EMU_CA" \
    --credentials cred.env >/dev/null || fail "add $1"; }
log() { curl -sS "$EMU_URL/_emulator/requests"; }
uploads() { log | grep -o "\"path\":\"/api/v1/batches/upload\",\"status\":${1:-[0-9]*}," | wc -l; }
set_status() {
    curl -sS -f -X PUT "$EMU_URL/_emulator/batches/$1/status" -H 'Content-Type: application/json' \
        -d "{\"status\": \"$2\"}" >/dev/null || fail "cannot set batch $1 to $2"
}
# The batch ids the engine's journals hold.
batches() { sed -n 's/^batch_id=//p' "$TRISA_STATE_DIR"/requests/*/journal 2>/dev/null | sort -n; }
until_true() {
    local limit=$(($1 * 10)) i
    shift
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "waited $((limit / 10)) s for: $*"
}
n_batches() { [ "$(batches | wc -l)" -ge "$1" ]; }
# The newest batch the emulator made (its store, read-only).
newest_batch() { python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT max(id) FROM batches").fetchone()[0])' "$EMU_STATE/emulator.db"; }
# Some process waits for a flock (a "->" line in /proc/locks).
lock_waiter() { [ "$(awk '/FLOCK/ && / -> /' /proc/locks | wc -l)" -ge 1 ]; }
# The lineage's live version is whole: its certificate carries its key and verifies.
live_ok() {
    local d=$LS/$1/live
    [ -L "$LS/$1/live" ] || fail "$1: no live link"
    assert_eq "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" "$(openssl pkey -in "$d/key.pem" -pubout)" "$1: live key"
    openssl verify -CAfile "$EMU_CA" -untrusted "$d/chain.pem" "$d/cert.pem" >/dev/null || fail "$1: live chain"
}
no_temps() {
    local left
    left=$(find "$TRISA_STATE_DIR" \( -name '.*.tmp' -o -name '.live.*' -o -name '.add-*' \) 2>/dev/null)
    [ -z "$left" ] || fail "temporary files left: $left"
}

# ---- two runs at once ----------------------------------------------------------------------
add race
trisa-renew --interval 1 race >race.1.out 2>race.1.err &
p1=$!
until_true 120 n_batches 1
trisa-renew --interval 1 race >race.2.out 2>race.2.err &
p2=$!
# The second run waits for the lineage's lock (a waiter in /proc/locks) before the batch
# may finish, so the two really overlap.
until_true 120 lock_waiter
set_status "$(batches | tail -n 1)" READY_FOR_DOWNLOAD
wait "$p1" || fail "the first run failed: $(cat race.1.err)"
wait "$p2" || fail "the second run failed: $(cat race.2.err)"
assert_eq "$(uploads)" 1 "uploads of two racing runs"
assert_eq "$(readlink "$LS/race/live")" "versions/1" "live"
assert_missing "$LS/race/versions/2"
live_ok race
ok "two runs of a due lineage at once: one upload, both exit 0, one version"

# ---- --jobs ----------------------------------------------------------------------------
for n in 1 2 3; do
    sed "s/race.example.com/job$n.example.com/g" race.conf >job$n.conf
    add job$n job$n.conf
done
trisa-renew --jobs 3 --interval 1 job1 job2 job3 >jobs.out 2>jobs.err &
pj=$!
until_true 120 n_batches 4
for b in $(batches | tail -n 3); do set_status "$b" READY_FOR_DOWNLOAD; done
wait "$pj" || fail "--jobs 3 failed: $(cat jobs.err)"
assert_eq "$(uploads)" 4 "uploads"
for n in 1 2 3; do live_ok job$n; done
assert_eq "$(grep -c ' is live ' jobs.out)" 3 "lines on stdout"
ok "--jobs 3: three lineages renewed side by side, their uploads in flight together"

# ---- killed at every step --------------------------------------------------------------------
need strace "Debian package strace"
strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
# LeakSanitizer cannot run under ptrace: off for the traced runs of a sanitizer build.
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }
stop_emulator || fail "the emulator did not stop cleanly"
start_emulator --test-hooks --processing-delay 0 --config emu.json
emu_credentials cred.env
sed 's/race.example.com/kill.example.com/g' race.conf >kill.conf
add kill kill.conf
trisa-renew kill >/dev/null 2>&1 || fail "the first certificate of lineage kill"
runs=0
unknown=0
for sc in flock rename renameat renameat2 symlinkat connect sendto; do
    for n in $(seq 1 60); do
        before=$(uploads 200)
        version=$(readlink "$LS/kill/live")
        set +e
        traced -f -o /dev/null -e trace="$sc" -e inject="$sc":signal=KILL:when=$n \
            trisa-renew --force --interval 1 kill >k.log 2>&1
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            live_ok kill # got through: no kill point left for $sc
            assert_eq "$(uploads 200)" $((before + 1)) "uploads of an unkilled run ($sc)"
            break
        fi
        [ "$rc" -eq 137 ] || fail "kill at $sc #$n: exit $rc, not killed: $(cat k.log)"
        runs=$((runs + 1))
        # Whatever moment the kill fell on, live is whole: the old version or the new one.
        live_ok kill
        pending=$(sed -n 's/^pending_version = //p' "$LS/kill/state")
        run trisa-renew --interval 1 kill
        if [ "$RC" -ne 0 ] && [ -n "$pending" ]; then
            # Killed after "sent" was recorded and before the batch id: the outcome is
            # unknown, and the rerun stops rather than upload again.
            assert_rc 1 "rerun after a kill at $sc #$n"
            assert_contains "$ERR" "no batch id came back"
            assert_contains "$ERR" "(--batch ID), or, if the server has none, upload again (--force-upload)"
            unknown=$((unknown + 1))
            if [ "$(uploads 200)" -eq "$before" ]; then
                run trisa-renew --force-upload --interval 1 kill
                assert_rc 0 "--force-upload after a kill at $sc #$n"
            else
                run trisa-renew --batch "$(newest_batch)" --interval 1 kill
                assert_rc 0 "--batch after a kill at $sc #$n"
            fi
        else
            assert_rc 0 "rerun after a kill at $sc #$n: $ERR"
        fi
        if [ -n "$pending" ]; then
            # The interrupted renewal was finished: one successful upload, a new version.
            assert_eq "$(uploads 200)" $((before + 1)) "uploads after a kill at $sc #$n"
            [ "$(readlink "$LS/kill/live")" != "$version" ] || fail "kill at $sc #$n: live not switched"
            assert_eq "$(sed -n 's/^pending_version = //p' "$LS/kill/state")" "" "pending after the rerun"
        else
            # Killed before anything was recorded: nothing was sent, nothing changed.
            assert_eq "$(uploads 200)" "$before" "uploads after a kill at $sc #$n before recording"
            assert_eq "$(readlink "$LS/kill/live")" "$version" "live after an early kill"
        fi
        live_ok kill
        # A run that found a renewal to finish held the lineage's lock, under which what
        # killed runs left is cleaned. (One that found nothing due takes no lock: a
        # leftover waits for the next renewal, checked at the end.)
        [ -z "$pending" ] || no_temps
    done
done
run trisa-renew --force --interval 1 kill
assert_rc 0 "a last renewal"
no_temps
[ "$runs" -ge 20 ] || fail "only $runs kill points"
ok "killed at each of $runs locks, renames, links, connects and sends ($unknown between 'sent' and the reply): live always whole, every interrupted renewal finished with one upload, no temporary file left"
done_testing
