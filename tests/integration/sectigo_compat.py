#!/usr/bin/env python3
"""Runs the sectigo compatibility cases of a .cases file against tests/unit/fake_sectigo.py.

    sectigo_compat.py [--few] SHAPE CASES_FILE

--few tries two spellings a flag instead of all (for sanitizer builds, where each run
costs ten times as much; the normal build runs them all).

Each case gives a command line, the exact standard output, the exact requests the server
received (fake_sectigo.py's /_fake/requests.txt rendering) and the exit code. A {...} word
in the command line stands for every way the reference CLI (Go's flag package) lets one
flag be written; each spelling must give the same output and the same requests:

    {i|id=42}          -i 42, -i=42, --i 42, --i=42, -id 42, -id=42, --id 42, --id=42
    {E|env|environment=testing}   the same for each long name
    {b|balances}       a flag: -b, --b, -b=true, --b=true, -balances, --balances,
                       -balances=true, --balances=T (and -b=1)
    {!b|balances}      the flag turned off: -b=false, --b=false, -balances=false,
                       --balances=0, -b=F, --balances=FALSE (as if it were not given)

Lines of a case (after "== NAME"):
    $ ARGS             a command line after `sectigo` (shell words; @URL@ is the server's
                       URL); several $ lines must all give what the case expects
    > TEXT / >         a line of standard output (">" alone: an empty line)
    ~ TEXT             a line of standard error (exact; when no ~ line, not checked)
    R TEXT / R         a line of the request log (none: the case sends nothing)
    requests unchecked the requests are pinned by another case
    rc N               the exit code (default 0)
    cache fresh|warm   fresh: an empty token cache (the case logs in); warm (default): the
                       tokens of one earlier login
    env NAME=VALUE     an environment variable for this case (VALUE may be empty: unset)
    config JSON        POST it to /_fake/config before the case
Placeholders in expected text: {CACHE_FILE} (the token cache file of the case).

Prints "ok N - ..." lines and a summary; exits 1 on the first mismatch, showing a diff.
"""
import difflib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TRISA_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))


def parse_cases(path):
    cases, cur = [], None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#") or (cur is None and not line.strip()):
                continue
            if line.startswith("== "):
                cur = {"name": line[3:], "out": [], "err": None, "req": [], "rc": 0, "any": False,
                       "cache": "warm", "env": {}, "config": []}
                cases.append(cur)
                continue
            if cur is None:
                sys.exit("%s: text before the first case: %s" % (path, line))
            if line.startswith("$ "):
                cur.setdefault("args", []).append(line[2:])
            elif line == ">" or line.startswith("> "):
                cur["out"].append(line[2:])
            elif line == "~" or line.startswith("~ "):
                cur["err"] = (cur["err"] or []) + [line[2:]]
            elif line == "R" or line.startswith("R "):
                cur["req"].append(line[2:])
            elif line == "requests unchecked":
                cur["any"] = True
            elif line.startswith("rc "):
                cur["rc"] = int(line[3:])
            elif line.startswith("cache "):
                cur["cache"] = line[6:]
            elif line.startswith("env "):
                k, _, v = line[4:].partition("=")
                cur["env"][k] = v
            elif line.startswith("config "):
                cur["config"].append(line[7:])
            elif not line.strip():
                continue
            else:
                sys.exit("%s: case %s: cannot read: %s" % (path, cur["name"], line))
    return cases


def spellings(word):
    """The spellings of one {...} flag word, each a list of argv words."""
    body = word[1:-1]
    off = body.startswith("!")
    if off:
        body = body[1:]
    names, eq, value = body.partition("=")
    names = names.split("|")
    short, longs = names[0], names[1:]
    if off:
        return [["-%s=false" % short], ["--%s=false" % short], ["-%s=F" % short],
                ["-%s=false" % longs[0]], ["--%s=0" % longs[0]], ["--%s=FALSE" % longs[-1]]]
    if not eq:  # a flag
        forms = [["-" + short], ["--" + short], ["-%s=true" % short], ["--%s=true" % short],
                 ["-%s=1" % short]]
        for n in longs:
            forms += [["-" + n], ["--" + n], ["-%s=true" % n], ["--%s=T" % n]]
        return forms
    forms = []
    for n in [short] + longs:
        forms += [["-" + n, value], ["-%s=%s" % (n, value)], ["--" + n, value],
                  ["--%s=%s" % (n, value)]]
    return forms


FEW = [False]


def expand(args):
    """Every command line a case stands for: (label, argv)."""
    words = shlex.split(args)
    flag = [i for i, w in enumerate(words) if w.startswith("{") and w.endswith("}")]
    if not flag:
        return [("", words)]
    if len(flag) > 1:
        sys.exit("one {...} word a case: " + args)
    i = flag[0]
    forms = spellings(words[i])
    if FEW[0]:
        forms = [forms[1], forms[-2]]
    return [(" ".join(f), words[:i] + f + words[i + 1:]) for f in forms]


class Server:
    def __init__(self, shape):
        self.proc = subprocess.Popen([sys.executable, os.path.join(SRC, "tests/unit/fake_sectigo.py"),
                                      "--shape", shape], stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port
        # One kept-alive connection for the control calls: four a run add up.
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port)

    def call(self, method, path, body=None):
        self.conn.request(method, path, body=body.encode() if body is not None else None)
        r = self.conn.getresponse()
        return r.read().decode("utf-8")

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body="{}"):
        return self.call("POST", path, body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    args = sys.argv[1:]
    if args and args[0] == "--few":
        FEW[0] = True
        args = args[1:]
    shape, cases_file = args
    sectigo = shutil.which("sectigo")
    if sectigo is None:
        sys.exit("sectigo is not on PATH")
    cases = parse_cases(cases_file)
    tmp = tempfile.mkdtemp(prefix="compat-%s." % shape, dir=os.environ.get("TRISA_TEST_TMP"))
    srv = Server(shape)
    n = runs = forms = 0
    configured = False
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SECTIGO_")}
        base_env.update({"SECTIGO_ENVIRONMENT": "testing", "SECTIGO_ENDPOINT": srv.url,
                         "TZ": "UTC", "LC_ALL": "C"})
        if shape == "server":
            base_env.update({"SECTIGO_USERNAME": "staging", "SECTIGO_PASSWORD": "staging-password"})
        else:
            base_env.update({"SECTIGO_USERNAME": "tester",
                             "SECTIGO_PASSWORD": "supersecretsquirrel"})
        warm = os.path.join(tmp, "warm-cache")
        env = dict(base_env, XDG_CACHE_HOME=warm)
        subprocess.run([sectigo, "auth"], env=env, check=True, stdout=subprocess.DEVNULL,
                       cwd=tmp)
        for case in cases:
            variants = []
            for args in case["args"]:
                v = expand(args.replace("@URL@", srv.url))
                forms += len(v) if len(v) > 1 else 0
                variants += v
            for label, argv in variants:
                runs += 1
                cwd = tempfile.mkdtemp(prefix="run.", dir=tmp)
                os.mkdir(os.path.join(cwd, "out"))
                shutil.copy(os.path.join(os.path.dirname(cases_file), "req.csr"), cwd)
                cache = warm if case["cache"] == "warm" else os.path.join(cwd, "cache")
                env = dict(base_env, XDG_CACHE_HOME=cache)
                for k, v in case["env"].items():
                    if v == "":
                        env.pop(k, None)
                    else:
                        env[k] = v
                if case["config"] or configured:
                    srv.post("/_fake/config",
                             '{"disposition": null, "mock_profile": "CipherTrace EE"}')
                for c in case["config"]:
                    srv.post("/_fake/config", c)
                configured = bool(case["config"])
                srv.post("/_fake/clear")
                p = subprocess.run([sectigo] + argv, env=env, cwd=cwd, capture_output=True)
                out = p.stdout.decode("utf-8", "replace")
                err = p.stderr.decode("utf-8", "replace")
                key = hashlib.sha256(("%s\n%s" % (srv.url, env.get("SECTIGO_USERNAME", "")))
                                     .encode()).hexdigest()
                cache_file = os.path.join(cache, "trisa", "sectigo", key + ".json")

                def fill(lines):
                    return "".join(l.replace("{CACHE_FILE}", cache_file) + "\n" for l in lines)

                want_out = fill(case["out"])
                want_req = None if case["any"] else fill(case["req"])
                got_req = srv.get("/_fake/requests.txt")
                what = "%s: sectigo %s" % (case["name"], " ".join(shlex.quote(a) for a in argv))
                for kind, want, got in (("stdout", want_out, out), ("requests", want_req, got_req),
                                        ("stderr", fill(case["err"]) if case["err"] is not None
                                         else None, err)):
                    if want is not None and want != got:
                        sys.stdout.write("not ok - %s: %s differs\n" % (what, kind))
                        sys.stdout.writelines(difflib.unified_diff(
                            want.splitlines(True), got.splitlines(True), "expected", "got"))
                        sys.stdout.write("stderr was: %s\n" % err)
                        sys.exit(1)
                if p.returncode != case["rc"]:
                    print("not ok - %s: exit %d, expected %d; stderr: %s" % (
                        what, p.returncode, case["rc"], err))
                    sys.exit(1)
                shutil.rmtree(cwd)
            n += 1
            print("ok %d - %s (%d command line%s)" % (n, case["name"], len(variants),
                                                       "s" if len(variants) > 1 else ""))
    finally:
        srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    print("compat %s: %d cases, %d flag spellings, %d runs, all matched" % (shape, n, forms, runs))


if __name__ == "__main__":
    main()
