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
run openssl pkey -in k.pem -passin 'pass:tr0ub4dor&3' -pubout
assert_rc 0 "openssl reads the key with the typed passphrase"
assert_eq "$OUT" "$(openssl req -in r.csr -noout -pubkey)" "the encrypted key is the CSR's"
assert_eq "$(head -n 1 k.pem)" "-----BEGIN ENCRYPTED PRIVATE KEY-----" "k.pem is encrypted"
run openssl pkey -in k.pem -passin 'pass:wrong' -noout
assert_rc 1 "openssl with another passphrase"
ok "a passphrase typed at the prompt is not echoed and encrypts the key"

run pty_run 'one\ntwo' trisa-csr -config "$CONF" --key ec:P-256 -keyout k2.pem -out r2.csr --passout prompt
assert_rc 3 "different passphrases"
assert_contains "$OUT" "trisa-csr: error: the two passphrases differ; nothing made"
assert_missing k2.pem
assert_missing r2.csr
ok "two different passphrases: refused, nothing written"

# pty_signal SIG CMD...: run CMD on a new pseudo-terminal (as its controlling terminal),
# wait for its prompt, then send SIG the way a user would (INT: Ctrl-C typed on the
# terminal; TERM, HUP: kill). Prints "echo on" or "echo OFF" for the terminal as the
# program left it, and exits as a shell reports the program's end (128 + signal).
pty_signal() {
    python3 - "$@" <<'PY'
import fcntl, os, pty, select, signal, subprocess, sys, termios, time
sig, cmd = sys.argv[1], sys.argv[2:]
master, slave = pty.openpty()
def own_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal)
seen, end = b"", time.time() + 60
while b": " not in seen and time.time() < end and p.poll() is None:
    if select.select([master], [], [], 0.5)[0]:
        seen += os.read(master, 4096)
if b": " not in seen:
    p.kill()
    sys.exit("no prompt: " + seen.decode(errors="replace"))
if termios.tcgetattr(slave)[3] & termios.ECHO:
    p.kill()
    sys.exit("echo was on at the prompt")
if sig == "INT":
    os.write(master, b"\x03")  # the terminal sends SIGINT to its foreground group
else:
    p.send_signal(getattr(signal, "SIG" + sig))
try:
    rc = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit("still running 30 s after SIG" + sig)
print("echo on" if termios.tcgetattr(slave)[3] & termios.ECHO else "echo OFF")
sys.exit(128 - rc if rc < 0 else rc)
PY
}

for sig in INT:130 TERM:143 HUP:129; do
    name=${sig%%:*}
    run pty_signal "$name" trisa-csr -config "$CONF" --key ec:P-256 -keyout k4.pem -out r4.csr --passout prompt
    assert_rc "${sig##*:}" "SIG$name at the prompt"
    assert_eq "$OUT" "echo on" "the terminal after SIG$name"
    assert_missing k4.pem
    assert_missing r4.csr
done
ok "Ctrl-C (SIGINT), SIGTERM or SIGHUP at a prompt: the terminal's echo is back on, the program ends by that signal (130, 143, 129), nothing written"

need setsid
# setsid: a new session has no controlling terminal, even when ctest was started from one.
run setsid -w trisa-csr -config "$CONF" --key ec:P-256 -keyout k3.pem -out r3.csr --passout prompt </dev/null
assert_rc 3 "no terminal"
assert_contains "$ERR" "no terminal to prompt for a secret: give it as file:PATH, fd:N, env:VAR or pass:TEXT"
assert_missing k3.pem
ok "without a terminal the error names the other sources"
done_testing
