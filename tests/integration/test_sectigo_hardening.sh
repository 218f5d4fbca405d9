# Issue 13, the client and tool items, through the real binaries: a password (or trisa-csr's
# pass: secrets) given on the command line is gone from /proc/PID/cmdline while the tool
# runs, the tools are non-dumpable with no core size, an upload re-sent after a 401 carries
# its body, a server
# file name too long for the temporary file falls back to <id>.zip, a loose token-cache
# folder is refused, and a doubled error prefix is printed once.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "python3 is not installed (the scripted server)"

# Replies shaped like the reference mock's: any password logs in.
"$PY" "$TRISA_SOURCE_DIR/tests/unit/fake_sectigo.py" --shape mock >"$T/fake.port" &
FAKE_PID=$!
at_exit 'kill $FAKE_PID 2>/dev/null; wait $FAKE_PID 2>/dev/null'
for _ in $(seq 1 300); do [ -s "$T/fake.port" ] && break; sleep 0.05; done
FAKE="http://127.0.0.1:$(cat "$T/fake.port")"
fake() { # fake CONTROL [JSON]: POST to the scripted server's control endpoint
    local body=${2-}
    [ -n "$body" ] || body='{}'
    curl -sS -X POST "$FAKE/_fake/$1" -d "$body" >/dev/null
}

# ---- Secrets in argv, core dumps ----------------------------------------------------------
# The tool runs as an unprivileged user (nobody when we are root), so that the owner of
# /proc/PID/status tells whether it is dumpable: the kernel makes a non-dumpable process's
# /proc/PID files root's (the folder itself keeps the user's).
chmod 755 "$T"
mkdir "$T/run"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null || skip "setpriv is not installed (to run as nobody)"
    chown nobody "$T/run"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
user_uid=$("${as_user[@]}" id -u)

# wait_held PATH: until the scripted server holds a request for PATH (no sleep-and-hope).
wait_held() {
    for _ in $(seq 1 600); do
        curl -sS "$FAKE/_fake/requests.txt" | grep -q "^GET $1\$" && return 0
        sleep 0.05
    done
    fail "no request for $1 arrived"
}

# check_running PID SECRET NAME: cmdline without the secret, non-dumpable, no core size.
check_running() {
    local pid=$1 secret=$2 name=$3 cmdline
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    assert_not_contains "$cmdline" "$secret" "$name: /proc/$pid/cmdline"
    assert_contains "$cmdline" "$(printf '%*s' "${#secret}" '' | tr ' ' x)" "$name: the overwritten value"
    assert_eq "$(stat -c %u "/proc/$pid/status")" 0 "$name: owner of /proc/$pid/status (0: not dumpable; $user_uid: dumpable)"
    assert_eq "$(awk '/^Max core file size/ { print $5 " " $6 }' "/proc/$pid/limits")" "0 0" "$name: core size limit"
}

fake faults '{"path": "/api/v1/devices", "hold": true, "count": 1}'
secret="S3cret-$RANDOM$RANDOM"
(cd "$T/run" && exec "${as_user[@]}" env XDG_CACHE_HOME="$T/run/cache" SECTIGO_ENVIRONMENT=testing \
    SECTIGO_ENDPOINT="$FAKE" SECTIGO_USERNAME=u "$BIN/sectigo" -p "$secret" licenses >"$T/s.out" 2>&1) &
pid=$!
wait_held /api/v1/devices
check_running "$pid" "$secret" "sectigo -p"
fake release
wait "$pid" || fail "sectigo licenses failed: $(cat "$T/s.out")"
# The copy was used: the server got the password.
assert_contains "$(curl -sS "$FAKE/_fake/requests.txt")" "\"password\":\"$secret\"" "login body"
ok "sectigo -p: the password is gone from /proc/PID/cmdline, the process is not dumpable, no core size"

fake clear
fake faults '{"path": "/api/v1/devices", "hold": true, "count": 1}'
(cd "$T/run" && exec "${as_user[@]}" env XDG_CACHE_HOME="$T/run/cache2" SECTIGO_ENVIRONMENT=testing \
    SECTIGO_ENDPOINT="$FAKE" SECTIGO_USERNAME=u "$BIN/sectigo" "--password=$secret" licenses >"$T/s.out" 2>&1) &
pid=$!
wait_held /api/v1/devices
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
assert_contains "$cmdline" "--password=xxx" "--password=VALUE keeps the name"
check_running "$pid" "$secret" "sectigo --password="
fake release
wait "$pid" || fail "sectigo licenses failed: $(cat "$T/s.out")"
ok "sectigo --password=VALUE: the value is overwritten, the name kept"

fake clear
fake faults '{"path": "/api/v1/batches/7", "hold": true, "count": 1}'
(cd "$T/run" && exec "${as_user[@]}" env XDG_CACHE_HOME="$T/run/cache3" TRISA_STATE_DIR="$T/run/state" "$BIN/trisa-fetch" --batch 7 \
    --out-dir "$T/run/out" --trust-bundle-root -E testing -e "$FAKE" -u u --password "$secret" \
    --p12-passin "pass:$secret" --timeout 0 -q >"$T/f.out" 2>&1) &
pid=$!
wait_held /api/v1/batches/7
check_running "$pid" "$secret" "trisa-fetch --password --p12-passin"
fake release
wait "$pid" || true # the stand-in's batch is no real one: only the run matters here
ok "trisa-fetch --password and --p12-passin pass:...: overwritten, not dumpable, no core size"

# trisa-csr holds pass: secrets too. It cannot finish before release_csr: its -out is a FIFO
# whose pipe the holder filled to the brim, so writing the CSR blocks until the holder
# drains it.
cp "$TRISA_SOURCE_DIR/tests/integration/data/trisa-docs.conf" "$T/run/trisa.conf"
chmod 644 "$T/run/trisa.conf"
# hold_csr PREFIX ARGS...: trisa-csr ARGS -out FIFO, held; drained by `release_csr`.
hold_csr() {
    local prefix=$1 n
    shift
    rm -f "$T/run/csr.fifo" "$T/hold.ready" "$T/hold.go"
    mkfifo -m 666 "$T/run/csr.fifo"
    mkfifo "$T/hold.go"
    "$PY" - "$T/run/csr.fifo" "$T/hold.ready" "$T/hold.go" "$T/$prefix.csr" <<'PYEOF' &
import os, sys
fifo, ready, go, out = sys.argv[1:5]
r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
filled = 0
for chunk in (4096, 1):
    while True:
        try:
            filled += os.write(w, b"\0" * chunk)
        except BlockingIOError:
            break
with open(ready, "w") as f:
    f.write(str(filled))
open(go).read()  # until the test has looked at the held process
os.set_blocking(r, True)
data = b""
while len(data) < filled:  # room for the CSR: trisa-csr writes it and exits
    data += os.read(r, filled - len(data))
open(go).read()  # until trisa-csr has exited
os.close(w)
data = b""
while True:
    b = os.read(r, 65536)
    if not b:
        break
    data += b
with open(out, "wb") as f:
    f.write(data)
PYEOF
    HOLD_PID=$!
    for _ in $(seq 1 600); do [ -s "$T/hold.ready" ] && break; sleep 0.05; done
    [ -s "$T/hold.ready" ] || fail "the FIFO holder did not start"
    (cd "$T/run" && exec "${as_user[@]}" "$BIN/trisa-csr" -config trisa.conf "$@" \
        -out csr.fifo >"$T/$prefix.out" 2>&1) &
    pid=$!
    # A failed check must not leave both blocked on each other (and ctest waiting for them).
    at_exit "kill $HOLD_PID $pid 2>/dev/null"
    # The pipe is full: trisa-csr cannot finish before release_csr. Wait (bounded) until its
    # command line shows the overwritten value; check_running then says what is wrong.
    local xs
    xs=$(printf '%*s' "${#secret}" '' | tr ' ' x)
    for _ in $(seq 1 600); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "trisa-csr .*$xs" && break
        sleep 0.05
    done
}
release_csr() {
    local rc=0
    echo go >"$T/hold.go"
    wait "$pid" || rc=$?
    echo done >"$T/hold.go"
    wait "$HOLD_PID" || fail "the FIFO holder failed"
    [ "$rc" -eq 0 ] || fail "trisa-csr failed: $(cat "$T/$1.out")"
}
hold_csr passout --key ec:P-256 -keyout enc.pem --passout "pass:$secret"
check_running "$pid" "$secret" "trisa-csr --passout"
release_csr passout
assert_eq "$(openssl req -in "$T/passout.csr" -noout -verify 2>&1)" "Certificate request self-signature verify OK" "the CSR written through the FIFO"
# The copy was used: the key opens with the secret.
assert_eq "$(openssl pkey -in "$T/run/enc.pem" -passin "pass:$secret" -pubout)" \
    "$(openssl req -in "$T/passout.csr" -noout -pubkey)" "the key under --passout"
ok "trisa-csr --passout pass:...: overwritten, not dumpable, no core size; the key is encrypted with it"

hold_csr passin --key-in enc.pem "--passin=pass:$secret"
assert_contains "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "--passin=xxx" "--passin=VALUE keeps the name"
check_running "$pid" "$secret" "trisa-csr --passin="
release_csr passin
assert_eq "$(openssl req -in "$T/passin.csr" -noout -pubkey)" \
    "$(openssl pkey -in "$T/run/enc.pem" -passin "pass:$secret" -pubout)" "the CSR of the --key-in key"
ok "trisa-csr --passin=pass:...: overwritten, the name kept; the key opened with it"

# ---- An upload re-sent after a 401 carries its body -----------------------------------------
start_emulator --test-hooks --processing-delay 0
use_emulator
run sectigo auth
assert_rc 0 auth
assert_eq "$OUT" "user authenticated and credentials cached" auth
make_csr vasp.example.com
emu_clear
emu_hooks_faults '{"path": "/api/v1/batches/upload", "kind": "status", "status": 401, "count": 1}' >/dev/null
size=$(stat -c %s "$T/vasp.example.com.csr")
run sectigo upload -p 42 "$T/vasp.example.com.csr"
assert_rc 0 "upload after a 401"
assert_contains "$OUT" '"batchId": 1,'
log=$(curl -sS "$EMU_URL/_emulator/requests" | sed -e 's/},{/}\n{/g' |
    sed -n 's/.*"method":"\([A-Z]*\)","path":"\([^"]*\)","status":\([0-9]*\).*"bytes":\([0-9]*\).*/\1 \2 \3 \4/p')
first=$(printf '%s\n' "$log" | sed -n '1p')
second=$(printf '%s\n' "$log" | sed -n '3p')
assert_eq "$(printf '%s\n' "$log" | cut -d' ' -f1-3 | tr '\n' ';')" "POST /api/v1/batches/upload 401;POST /auth/pwd 200;POST /api/v1/batches/upload 200;" "requests"
assert_eq "${second##* }" "${first##* }" "the re-sent upload's size"
[ "${second##* }" -gt "$size" ] || fail "the re-sent upload (${second##* } bytes) is smaller than the CSR ($size)"
run sectigo batches -i 1 --status
assert_eq "$OUT" "READY_FOR_DOWNLOAD"
ok "an upload rejected with 401 is re-sent whole after a new login (${second##* } bytes both times)"
stop_emulator

# ---- Download names too long for the temporary file ---------------------------------------
export SECTIGO_ENVIRONMENT=testing SECTIGO_ENDPOINT="$FAKE" SECTIGO_USERNAME=u SECTIGO_PASSWORD=secret
export XDG_CACHE_HOME="$T/cache-dl"
mkdir "$T/dl"
for len in 237 238 255; do
    name=$(printf '%*s' $((len - 4)) '' | tr ' ' n).zip
    fake config "{\"disposition\": \"attachment; filename=\\\"$name\\\"\"}"
    run sectigo download -i 7 -o "$T/dl" --force
    assert_rc 0 "download, a $len-byte name"
    if [ "$len" -le 237 ]; then
        assert_contains "$OUT" "downloaded batch 7 to $T/dl/$name"
        assert_exists "$T/dl/$name"
    else
        assert_contains "$OUT" "downloaded batch 7 to $T/dl/7.zip"
        assert_contains "$ERR" "the server's file name is $len bytes long, more than 237; saving as 7.zip"
    fi
done
assert_mode "$T/dl/7.zip" 600
ok "a server file name of 238-255 bytes falls back to <id>.zip; 237 bytes is kept"

# ---- A loose token-cache folder is not used -------------------------------------------------
mkdir -p "$T/loose/trisa/sectigo"
chmod 777 "$T/loose/trisa/sectigo"
run env XDG_CACHE_HOME="$T/loose" sectigo licenses
assert_rc 0 "licenses with a loose cache folder"
assert_contains "$ERR" "warning: token cache folder $T/loose/trisa/sectigo is not a private folder of this user (mode 0777); tokens are not cached"
assert_dir_is "$T/loose/trisa/sectigo" ""
run env XDG_CACHE_HOME="$T/loose" sectigo auth --cache
assert_eq "$OUT" "no credentials cache file exists"
ok "a 0777 token-cache folder is refused with a warning; nothing is written there"

# ---- A doubled prefix is printed once ----------------------------------------------------
run trisa-fetch --zip "$T/missing.zip" --out-dir "$T/o" --trust-bundle-root
assert_rc 3 "missing ZIP"
assert_eq "$ERR" "trisa-fetch: error: bundle: $T/missing.zip: cannot open: No such file or directory"
ok "a name prefixed twice is printed once"
done_testing
