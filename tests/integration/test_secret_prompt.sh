#!/usr/bin/env bash
# Secrets typed at a terminal prompt (a real pty): echo is off, the passphrase for a new
# key is asked twice, and without a terminal the error says which other sources exist.
. "$(dirname "$0")/lib.sh"
need python3
need openssl
CONF="$TRISA_SOURCE_DIR/conf/trisa.conf"

# pty_run "answer1\nanswer2" CMD...: run CMD on a pseudo-terminal, typing each answer
# after each prompt; prints what the terminal showed, exits with CMD's code.
pty_run() {
    python3 - "$@" <<'PY'
import os, pty, sys, time
answers = sys.argv[1].split("\\n")
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
import select
end = time.time() + 60  # never hang the suite: a stuck prompt fails the test
def read_some(timeout=1.0):
    global seen
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return None  # nothing yet
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False  # the child closed the terminal
    seen += data
    return bool(data)
for a in answers:
    while b": " not in seen.split(b"\n")[-1] and time.time() < end:
        if read_some() is False:
            break
    os.write(fd, a.encode() + b"\n")
    seen += b"\n"
while time.time() < end and read_some() is not False:
    pass
if time.time() >= end:
    os.kill(pid, 9)
    sys.stdout.write(seen.decode(errors="replace") + "\n[pty driver: timed out]\n")
    os.waitpid(pid, 0)
    sys.exit(124)
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

run pty_run 'tr0ub4dor&3\ntr0ub4dor&3' trisa-csr -config "$CONF" --key ec:P-256 -keyout k.pem -out r.csr --passout prompt
assert_rc 0 "prompted twice"
assert_contains "$OUT" "Passphrase for the new key: "
assert_contains "$OUT" "Passphrase again: "
assert_not_contains "$OUT" "tr0ub4dor" "the terminal (echo must be off)"
assert_mode k.pem 600
run openssl pkey -in k.pem -passin 'pass:tr0ub4dor&3' -noout
assert_rc 0 "openssl reads the key with the typed passphrase"
ok "a passphrase typed at the prompt is not echoed and encrypts the key"

run pty_run 'one\ntwo' trisa-csr -config "$CONF" --key ec:P-256 -keyout k2.pem -out r2.csr --passout prompt
assert_rc 3 "different passphrases"
assert_contains "$OUT" "trisa-csr: error: the two passphrases differ; nothing made"
assert_missing k2.pem
assert_missing r2.csr
ok "two different passphrases: refused, nothing written"

need setsid
# setsid: a new session has no controlling terminal, even when ctest was started from one.
run setsid -w trisa-csr -config "$CONF" --key ec:P-256 -keyout k3.pem -out r3.csr --passout prompt </dev/null
assert_rc 3 "no terminal"
assert_contains "$ERR" "no terminal to prompt for a secret: give it as file:PATH, fd:N, env:VAR or pass:TEXT"
assert_missing k3.pem
ok "without a terminal the error names the other sources"
done_testing
