#!/usr/bin/env bash
# README.md cannot drift from the tools:
#  - its rehearsal (the shell blocks between <!-- readme-test: rehearsal --> and
#    <!-- readme-test: end -->) is run word for word against the emulator, in a fresh HOME:
#    a comment "# => TEXT" after a command (or on the next line) says what its output
#    holds, "# silent" that it prints nothing; "$EDITOR trisa.conf" is a person filling
#    in the template, played by a script;
#  - every --option shown for sectigo, trisa-csr or trisa-fetch in any shell block of the
#    README is one the tool's --help lists.
. "$(dirname "$0")/lib.sh"
need openssl
need python3
README="$TRISA_SOURCE_DIR/README.md"
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

# blocks NAME: the ```sh blocks between the markers of NAME ("all": every ```sh block).
blocks() {
    awk -v name="$1" '
        name != "all" && $0 == "<!-- readme-test: " name " -->" { on = 1; next }
        name != "all" && on && $0 == "<!-- readme-test: end -->" { exit }
        (on || name == "all") && /^```sh$/ { code = 1; next }
        code && /^```$/ { code = 0; next }
        code { print }' "$README"
}

# ---- the rehearsal, as a script ---------------------------------------------------------
blocks rehearsal >rehearsal.md.sh
[ "$(grep -c . rehearsal.md.sh)" -gt 10 ] || fail "no rehearsal found in README.md"
python3 - rehearsal.md.sh >rehearsal.sh <<'PY'
import re, shlex, sys
lines = open(sys.argv[1]).read().splitlines()
out = ['set -e', 'n=0',
       '_fail() { echo "README rehearsal: $1"; exit 1; }',
       '_show() { sed "s/^/    | /" "$1"; }']
cmds = []  # (command, background, expectation kind, text)
for line in lines:
    m = re.match(r'^\s*# => (.*)$', line)
    if m:
        c = cmds[-1]
        cmds[-1] = (c[0], c[1], 'has', m.group(1))
        continue
    if re.match(r'^\s*(#.*)?$', line):
        continue
    cmd, kind, text = line, None, None
    m = re.match(r'^(.*?)\s+# => (.*)$', line)
    if m:
        cmd, kind, text = m.group(1), 'has', m.group(2)
    else:
        m = re.match(r'^(.*?)\s+# silent$', line)
        if m:
            cmd, kind = m.group(1), 'silent'
        else:
            cmd = re.sub(r'\s+#.*$', '', line)
    bg = cmd.rstrip().endswith('&')
    if bg:
        cmd = cmd.rstrip()[:-1].rstrip()
    cmds.append((cmd, bg, kind, text))
for i, (cmd, bg, kind, text) in enumerate(cmds):
    o = '"$HOME/.out.%d"' % i
    out.append('echo "\\$ %s"' % cmd.replace('\\', '\\\\').replace('"', '\\"').replace('$', '\\$').replace('`', '\\`'))
    if bg:
        out.append('%s >%s 2>&1 &' % (cmd, o))
        out.append('echo $! >>"$HOME/.background-pids"')
        if kind == 'has':
            # a background job that says it is up: wait for it (the emulator's first start
            # makes its CA), fail at once when it exits
            out.append('for _w in $(seq 1 1800); do grep -qF -- %s %s && break; '
                       'kill -0 $! 2>/dev/null || { _show %s; exit 97; }; sleep 0.1; done'
                       % (shlex.quote(text), o, o))
            out.append('grep -qF -- %s %s || { _show %s; _fail "no [%s] from: %s"; }'
                       % (shlex.quote(text), o, o, text.replace('"', ''), cmd.replace('"', '')))
        continue
    out.append('{ %s ; } >%s 2>&1 || { _show %s; _fail "exit $? from: %s"; }'
               % (cmd, o, o, cmd.replace('"', '\\"').replace('$', '\\$')))
    out.append('_show %s' % o)
    if kind == 'has':
        out.append('grep -qF -- %s %s || _fail %s'
                   % (shlex.quote(text), o, shlex.quote('expected [%s] from: %s' % (text, cmd))))
    elif kind == 'silent':
        out.append('[ ! -s %s ] || _fail %s' % (o, shlex.quote('expected nothing from: ' + cmd)))
    out.append('n=$((n + 1))')
out.append('echo "README rehearsal: $n commands as documented"')
print('\n'.join(out))
PY
[ -s rehearsal.sh ] || fail "could not turn the rehearsal into a script"

# The person at the editor: every <placeholder> of the template filled in.
cat >fill-in <<'EOF'
#!/bin/sh
sed -i -e 's/<legal name of your organisation>/Example VASP Ltd/' -e 's/<city>/Menlo Park/' \
    -e 's/<state or province>/California/' -e 's/<two-letter country code>/US/' "$1"
EOF
chmod +x fill-in

# The emulator listens on the README's 8831 unless the test must move it: a port below the
# ephemeral range (where no other test's port-0 server lands), free when looked at; if
# another process takes it first, the run is tried again on the next one.
free_port() {
    python3 - "$1" <<'PY'
import socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
start = int(sys.argv[1])
for port in range(start, lo):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

cache="${TRISA_TEST_TMP:-/tmp}/emulator-ca"
port=$(( 20000 + $$ % 5000 ))
for attempt in 1 2 3 4 5; do
    port=$(free_port "$port")
    [ -n "$port" ] || fail "no free port below the ephemeral range"
    home="$T/home.$attempt"
    mkdir -p "$home/trisa-rehearsal"
    # The CA the emulator tests made already, so that the first start does not spend
    # seconds making an RSA-4096 one (the README's reader waits for it once).
    if [ -e "$cache/root.pem" ]; then
        mkdir -m 700 "$home/trisa-rehearsal/emulator"
        cp -a "$cache" "$home/trisa-rehearsal/emulator/ca"
    fi
    sed "s/8831/$port/g" rehearsal.sh >"rehearsal.$attempt.sh"
    set +e
    (
        cd "$home" || exit 1
        export HOME="$home" EDITOR="$T/fill-in" SIAS_BIND_ADDR="127.0.0.1:$port"
        unset XDG_CACHE_HOME XDG_STATE_HOME SECTIGO_ENVIRONMENT SECTIGO_ENDPOINT \
            SECTIGO_USERNAME SECTIGO_PASSWORD SECTIGO_CA_BUNDLE SECTIGO_PROFILE
        bash "$T/rehearsal.$attempt.sh"
    ) >"rehearsal.$attempt.out" 2>&1
    rc=$?
    set -e
    # the emulator, if the script ended before its `kill %1`
    while read -r pid; do
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done <"$home/.background-pids" 2>/dev/null
    [ "$rc" -eq 97 ] && grep -q "cannot listen\|Address already in use" "rehearsal.$attempt.out" &&
        { port=$((port + 1)); continue; }
    break
done
cat "rehearsal.$attempt.out"
[ "$rc" -eq 0 ] || fail "the README's rehearsal failed (exit $rc)"
ok "README rehearsal: $(grep -c '^\$ ' "rehearsal.$attempt.out") commands run as written, every '# =>' output seen"

# What the rehearsal made is what it says.
r="$home/trisa-rehearsal"
assert_dir_is "$r/certs" ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
assert_eq "$(openssl x509 -in "$r/certs/root.pem" -noout -fingerprint -sha256)" \
    "$(openssl x509 -in "$r/emulator/ca/root.pem" -noout -fingerprint -sha256)" \
    "the root the rehearsal trusted is the emulator's"
assert_eq "$(openssl x509 -in "$r/certs/cert.pem" -noout -subject -nameopt rfc2253,-esc_msb)" \
    "subject=C=US,ST=California,L=Menlo Park,O=Example VASP Ltd,CN=trisa.example.com" "the subject"
assert_mode "$r/certs/node.pem" 600
ok "the rehearsal's certificate chains to the emulator's root, with the subject of the filled-in template"

# ---- every option the README shows exists -----------------------------------------------
blocks all >all.md.sh
python3 - all.md.sh >options.list <<'PY'
import re, shlex, sys
for line in open(sys.argv[1]):
    line = re.sub(r'\s+#.*$', '', line.strip())
    for part in re.split(r'&&|;|\|', line):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        while words and (re.match(r'^[A-Z_]+=', words[0]) or words[0] == 'sudo'):
            words = words[1:]
        if not words or words[0] not in ('sectigo', 'trisa-csr', 'trisa-fetch'):
            continue
        tool, cmd = words[0], ''
        rest = words[1:]
        if tool == 'sectigo':
            # the command is the first word that is not an option or a global option's value
            i = 0
            while i < len(rest) and rest[i].startswith('-'):
                i += 1 if '=' in rest[i] or rest[i] in ('--json', '-h', '--help', '-v', '-V', '--version') else 2
            cmd = rest[i] if i < len(rest) else ''
        elif rest and rest[0] in ('init', 'hsm', 'new'):
            cmd = rest[0] + (' list' if rest[0] == 'hsm' else '')
        for w in rest:
            if w.startswith('--') and len(w) > 2:
                print(tool, cmd or '-', w.split('=')[0])
PY
[ "$(wc -l <options.list)" -gt 50 ] || fail "too few options found in README.md: $(wc -l <options.list)"
checked=0
while read -r tool cmd opt; do
    helps=$("$tool" --help 2>&1)
    if [ "$cmd" != - ]; then
        # shellcheck disable=SC2086
        helps+=$'\n'$("$tool" $cmd --help 2>&1)
    fi
    grep -qE -- "(^|[ ,])$opt( |$)" <<<"$helps" || fail "README.md shows '$tool ${cmd#-} ... $opt', which --help does not list"
    checked=$((checked + 1))
done < <(sort -u options.list)
ok "every option README.md shows ($checked distinct) is in its tool's --help"
done_testing
