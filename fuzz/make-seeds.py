#!/usr/bin/env python3
"""Make the crafted seeds of fuzz/corpus/ that mutation alone does not reach.

    python3 fuzz/make-seeds.py            # writes into fuzz/corpus/<target>/crafted-*
    python3 fuzz/make-seeds.py zip csr    # only those kinds

Keys, PKCS#12 files and CSRs come from the openssl command line; their key-derivation
counts are then set by editing the DER (openssl will not write a count of 2^64 or -1,
and a fuzzer will not find the bytes of a count that passes a limit by one): the PBKDF2
and PBE iteration counts of PKCS#8 keys and of PKCS#12 parts and bags, the PKCS#12 MAC
count, scrypt's N, r and p. The emulator's request sequences are written out as text.
Every seed is a plain file; this script is only how they were made (it needs openssl
and Python 3, nothing else) and is not run by the build or the tests.
"""
import base64
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(TOP, "corpus")
KEY_PASS = "fuzz-passphrase"  # fuzz_key.c
P12_PASS = "fuzz-password"  # fuzz_bundle_member.c

OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")
OID_SCRYPT = bytes.fromhex("2b06010401da47040b")


# ---- DER: a tree of (tag, bytes | [children]); OCTET STRINGs that hold DER are opened ----

def parse(data, open_octets=True):
    nodes, i = [], 0
    while i < len(data):
        tag = data[i]
        n = data[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        body = data[i:i + n]
        if len(body) != n:
            raise ValueError("truncated")
        i += n
        if tag & 0x20:
            nodes.append([tag, parse(body, open_octets)])
        elif tag == 0x04 and open_octets and len(body) >= 32 and body[0] == 0x30:
            try:
                inner = parse(body, open_octets)
                if len(inner) == 1 and encode(inner) == body:
                    nodes.append([tag, inner, "opened"])
                    continue
            except (ValueError, IndexError):
                pass
            nodes.append([tag, body])
        else:
            nodes.append([tag, body])
    return nodes


def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def encode(nodes):
    out = b""
    for node in nodes:
        body = encode(node[1]) if isinstance(node[1], list) else node[1]
        out += bytes([node[0]]) + length(len(body)) + body
    return out


def integer(v):
    """INTEGER contents, two's complement, shortest form."""
    n = 1
    while True:
        try:
            return v.to_bytes(n, "big", signed=True)
        except OverflowError:
            n += 1


def walk(nodes, fn):
    for node in nodes:
        fn(node)
        if isinstance(node[1], list):
            walk(node[1], fn)


def kdf_params(tree, oid):
    """The parameter SEQUENCEs of every key derivation function `oid` in the tree."""
    found = []

    def look(node):
        kids = node[1]
        if node[0] == 0x30 and isinstance(kids, list) and len(kids) == 2 and \
                kids[0][0] == 0x06 and kids[0][1] == oid and kids[1][0] == 0x30:
            found.append(kids[1])
    walk(tree, look)
    return found


def pbe_params(tree):
    """PKCS#5 v1 / PKCS#12 PBE parameters: SEQUENCE { OCTET STRING salt, INTEGER count }
    right after a PBE algorithm OID (1.2.840.113549.1.12.1.x or 1.2.840.113549.1.5.x)."""
    found = []

    def look(node):
        kids = node[1]
        if node[0] == 0x30 and isinstance(kids, list) and len(kids) == 2 and \
                kids[0][0] == 0x06 and kids[1][0] == 0x30 and \
                (kids[0][1].startswith(bytes.fromhex("2a864886f70d010c01")) or
                 (kids[0][1].startswith(bytes.fromhex("2a864886f70d0105")) and
                  kids[0][1][-1] not in (12, 13))) and \
                isinstance(kids[1][1], list) and len(kids[1][1]) == 2 and \
                kids[1][1][0][0] == 0x04 and kids[1][1][1][0] == 0x02:
            found.append(kids[1])
    walk(tree, look)
    return found


def set_pbkdf2_iter(der, value, which=None):
    tree = parse(der)
    params = kdf_params(tree, OID_PBKDF2)
    for k, p in enumerate(params):
        if which is None or k == which:
            p[1][1][1] = integer(value)  # salt, iterationCount, ...
    return encode(tree), len(params)


def set_pbe_iter(der, value):
    tree = parse(der)
    params = pbe_params(tree)
    for p in params:
        p[1][1][1] = integer(value)
    return encode(tree), len(params)


def set_scrypt(der, n=None, r=None, p=None):
    tree = parse(der)
    for params in kdf_params(tree, OID_SCRYPT):
        kids = params[1]  # salt, N, r, p[, keyLength]
        for idx, v in ((1, n), (2, r), (3, p)):
            if v is not None:
                kids[idx][1] = integer(v)
    return encode(tree)


def set_mac_iter(der, value):
    tree = parse(der)
    mac = tree[0][1][2]  # PFX: version, authSafe, macData
    if len(mac[1]) == 2:  # iterations DEFAULT 1, left out
        mac[1].append([0x02, b""])
    mac[1][2][1] = integer(value)  # mac, macSalt, iterations
    return encode(tree)


# ---- the openssl command line ----

def run(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          capture_output=True).stdout


def pem(label, der):
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


def label(v):
    """A count as a file name gives it."""
    big = {2**160: "2p160", 2**64 + 7: "2p64+7", 2**64 + 1: "2p64+1", 2**64 - 1: "2p64-1",
           2**63: "2p63", 2**63 - 1: "2p63-1", 2**31 - 1: "2p31-1"}
    return big.get(v, "minus%d" % -v if v < 0 else str(v))


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "crafted-" + name), "wb") as f:
        f.write(data)


class Pki:
    """An EC root and a leaf for fuzz.example.com, valid for 100 years from now."""

    def __init__(self, tmp):
        self.tmp = tmp
        p = lambda n: os.path.join(tmp, n)
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("ca.key"))
        run("req", "-x509", "-new", "-key", p("ca.key"), "-subj", "/CN=Fuzz Root", "-days",
            "36500", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign", "-out", p("ca.pem"))
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("leaf.key"))
        run("req", "-new", "-key", p("leaf.key"), "-subj", "/C=US/O=Fuzz VASP/CN=fuzz.example.com",
            "-addext", "subjectAltName=DNS:fuzz.example.com", "-out", p("leaf.csr"))
        ext = p("leaf.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:fuzz.example.com\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n")
        run("x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-days", "36500", "-extfile", ext, "-out", p("leaf.pem"))
        self.key = p("leaf.key")
        self.leaf = p("leaf.pem")
        self.ca = p("ca.pem")

    def p12(self, *opts):
        return run("pkcs12", "-export", "-inkey", self.key, "-in", self.leaf, "-certfile",
                   self.ca, "-passout", "pass:" + P12_PASS, *opts)


# ---- fuzz_key: PKCS#8 key-derivation counts ----
#
# The library takes 1,000,000 iterations (a key) and 1,000,000 a derivation, 4,000,000 in
# all (a bundle); a fuzz build a hundredth of that (keygen/keygen.c says why). Seeds sit
# on both sides of both.

FUZZ_MAX, FUZZ_TOTAL = 10000, 40000


def key_seeds(tmp):
    key = os.path.join(tmp, "k.pem")
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    pbkdf2 = run("pkcs8", "-topk8", "-in", key, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256",
                 "-iter", str(FUZZ_MAX), "-passout", "pass:" + KEY_PASS, "-outform", "DER")
    write("fuzz_key", "p8-pbkdf2-%d.der" % FUZZ_MAX, pbkdf2)
    for v in (FUZZ_MAX + 1, 1000000, 1000001, 2**31 - 1, 2**64 + 7, 0, -1, 2**160):
        der, n = set_pbkdf2_iter(pbkdf2, v)
        assert n == 1
        write("fuzz_key", "p8-pbkdf2-%s.der" % label(v), der)
        if v in (FUZZ_MAX + 1, 1000001):
            write("fuzz_key", "p8-pbkdf2-%s.pem" % label(v), pem("ENCRYPTED PRIVATE KEY", der))
    # scrypt: cost N * r * p; OpenSSL's own memory bound is 32 MiB (128 * N * r bytes).
    sc = run("pkcs8", "-topk8", "-in", key, "-scrypt", "-scrypt_N", "1024", "-scrypt_r", "8",
             "-scrypt_p", "1", "-passout", "pass:" + KEY_PASS, "-outform", "DER")
    write("fuzz_key", "p8-scrypt-1024-8-1.der", sc)
    for (n, r, p), name in (((1024, 8, 2), "16384"), ((16384, 8, 1), "131072"),
                            ((16384, 8, 7), "917504"), ((16384, 8, 8), "1048576"),
                            ((1 << 20, 1, 1), "N2e20"), ((1024, 1024, 1), "r1024-128MiB"),
                            ((2**32 - 1, 2**32 - 1, 2**32 - 1), "overflow"),
                            ((2**32, 1, 1), "N2e32"), ((0, 8, 1), "N0"), ((1024, 8, -1), "pminus1")):
        write("fuzz_key", "p8-scrypt-%s.der" % name, set_scrypt(sc, n, r, p))
    # PKCS#12 PBE inside PKCS#8 (PKCS#5 v1 form); an edited count derives a wrong key.
    v1 = run("pkcs8", "-topk8", "-in", key, "-v1", "PBE-SHA1-3DES", "-iter", "2048", "-passout",
             "pass:" + KEY_PASS, "-outform", "DER")
    write("fuzz_key", "p8-pbe-sha1-3des-2048.der", v1)
    for v in (FUZZ_MAX, FUZZ_MAX + 1, 1000001, 2**63 - 1):
        der, n = set_pbe_iter(v1, v)
        assert n == 1
        write("fuzz_key", "p8-pbe-sha1-3des-%s.der" % label(v), der)


# ---- fuzz_bundle_member: PKCS#12 counts (first byte 0: the member is a .p12) ----

def twice_encrypted(der):
    """The AuthenticatedSafe with its encrypted part given twice: one more derivation."""
    tree = parse(der)
    safes = tree[0][1][1][1][1][1][0][1][0][1]  # PFX.authSafe [0] OCTET -> SEQUENCE OF
    enc = [ci for ci in safes if ci[1][0][1] == bytes.fromhex("2a864886f70d010706")]
    assert len(enc) == 1
    safes.append(enc[0])
    return encode(tree)


def bundle_seeds(tmp):
    pki = Pki(tmp)
    member = lambda der: b"\x00" + der
    # Only the MAC derives (plain bags). It may be checked twice: it counts double.
    mac = pki.p12("-certpbe", "NONE", "-keypbe", "NONE", "-iter", str(FUZZ_MAX))
    write("fuzz_bundle_member", "p12-mac-%d" % FUZZ_MAX, member(mac))
    for v in (FUZZ_MAX + 1, 1000000, 1000001, 2**64 + 1, 0, -3):
        write("fuzz_bundle_member", "p12-mac-%s" % label(v), member(set_mac_iter(mac, v)))
    # Encrypted certificates and key (PBES2), each at the limit, MAC count 1.
    enc = pki.p12("-iter", str(FUZZ_MAX), "-nomaciter")
    write("fuzz_bundle_member", "p12-pbes2-%d" % FUZZ_MAX, member(enc))
    small = pki.p12("-iter", "2048", "-nomaciter")
    write("fuzz_bundle_member", "p12-pbes2-2048", member(small))
    for which, what in ((0, "certs"), (1, "key")):
        for v in (FUZZ_MAX + 1, 1000001, 2**64 - 1):
            der, n = set_pbkdf2_iter(small, v, which)
            assert n == 2, n
            write("fuzz_bundle_member", "p12-pbes2-%s-%s" % (what, label(v)), member(der))
    # Every derivation at the limit: the MAC (counted twice) and both parts fill the
    # budget exactly; one encrypted part more goes over it.
    full = pki.p12("-iter", str(FUZZ_MAX))
    write("fuzz_bundle_member", "p12-budget-%d" % FUZZ_TOTAL, member(full))
    write("fuzz_bundle_member", "p12-budget-over", member(twice_encrypted(full)))
    # Legacy algorithms as Sectigo makes them (PKCS#12 PBE): counts in PBEParameter.
    legacy = pki.p12("-legacy", "-iter", "2048")
    write("fuzz_bundle_member", "p12-legacy-2048", member(legacy))
    for v in (FUZZ_MAX, FUZZ_MAX + 1, 1000001, 2**63):
        der, n = set_pbe_iter(legacy, v)
        assert n == 2, n
        write("fuzz_bundle_member", "p12-legacy-pbe-%s" % label(v), member(der))
    # A leaf and its root as PEM (first byte 1), verifiable at the target's fixed time.
    with open(pki.leaf, "rb") as a, open(pki.ca, "rb") as b:
        write("fuzz_bundle_member", "leaf-and-root.pem", b"\x01" + a.read() + b.read())


# ---- the emulator (fuzz_emulator_*) ----

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def csr(tmp, name, cn, sans, curve="prime256v1", der=False):
    key = os.path.join(tmp, name + ".key")
    run("ecparam", "-name", curve, "-genkey", "-noout", "-out", key)
    args = ["req", "-new", "-key", key, "-subj", "/C=US/O=Fuzz VASP/CN=" + cn]
    if sans:
        args += ["-addext", "subjectAltName=" + ",".join("DNS:" + n for n in sans)]
    if der:
        args += ["-outform", "DER"]
    return run(*args)


def zip_of(members):
    import io
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def form(parts, boundary="------------------------fuzzboundary"):
    body = b""
    for name, filename, ctype, data in parts:
        body += b"--" + boundary.encode() + b"\r\n"
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        body += disp.encode() + b"\r\n"
        if ctype:
            body += b"Content-Type: " + ctype.encode() + b"\r\n"
        body += b"\r\n" + data + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n", boundary


def request(method, path, headers=(), body=b""):
    text = ("%s %s\n" % (method, path)).encode()
    for h in headers:
        text += h.encode() + b"\n"
    return text + b"\n" + body


def sequence(*reqs):
    return b"\n@@NEXT@@\n".join(reqs)


AUTH = "Authorization: Bearer @ACCESS@"
JSON = "Content-Type: application/json"


def upload(profile, files, filename="csrs.pem", ctype="application/x-pem-file", extra=()):
    body, b = form([("profileId", None, None, str(profile).encode())] + list(extra) +
                   [("files", filename, ctype, files)])
    return request("POST", "/api/v1/batches/upload",
                   [AUTH, "Content-Type: multipart/form-data; boundary=" + b], body)


def emulator_seeds(tmp):
    t = "fuzz_emulator_request"
    one = csr(tmp, "a", "fuzz.example.com", ["fuzz.example.com", "www.fuzz.example.com"])
    two = csr(tmp, "b", "node.example.com", ["node.example.com"])
    der = csr(tmp, "c", "der.example.com", ["der.example.com"], der=True)
    nosan = csr(tmp, "d", "nosan.example.com", [])
    weak = csr(tmp, "e", "weak.example.com", ["weak.example.com"], curve="secp224r1")
    batch = lambda i: ["GET /api/v1/batches/%d%s" % (i, s) for s in
                       ("", "/status", "/processing_info", "/download")]
    get = lambda p, auth=AUTH: request("GET", p, [auth])
    write(t, "login", request("POST", "/auth/pwd", [JSON],
                              b'{"username":"staging","password":"staging-password"}'))
    write(t, "login-refused", sequence(
        request("POST", "/auth/pwd", [JSON], b'{"username":"staging","password":"wrong"}'),
        request("POST", "/auth/pwd", [JSON], b'{"username":"certlogin","password":"certlogin-password"}'),
        request("POST", "/auth/pwd", [JSON], b'{"username":"noauthority","password":"noauthority-password"}'),
        request("POST", "/auth/pwd", ["Content-Type: text/plain"], b"username=staging")))
    write(t, "refresh-twice", sequence(request("POST", "/auth/refresh", [JSON], b'"@REFRESH@"'),
                                       request("POST", "/auth/refresh", [], b"@REFRESH@\n")))
    write(t, "tokens", sequence(get("/api/v1/authorities/allowed"),
                                get("/api/v1/authorities/allowed", "Authorization: Bearer @EXPIRED@"),
                                get("/api/v1/authorities/allowed", "Authorization: Basic c3RhZ2luZw=="),
                                get("/api/v1/authorities/allowed", "Authorization: Bearer @REFRESH@")))
    write(t, "account", sequence(get("/api/v1/devices"), get("/api/v1/authorities/1/balanceavailable"),
                                 get("/api/v1/organizations/user"), get("/api/v1/profiles")))
    write(t, "profiles", sequence(get("/api/v1/profiles/42"), get("/api/v1/profiles/42/parameters"),
                                  get("/api/v1/profiles/44/parameters"),
                                  get("/api/v1/authorities/2/balanceavailable")))
    create = request("PUT", "/api/v1/batches/createSingleCertBatch", [AUTH, JSON],
                     b'{"authorityId":1,"batchName":"fuzz","profileParams":{"commonName":'
                     b'"fuzz.example.com","dNSName":"fuzz.example.com www.fuzz.example.com",'
                     b'"pkcs12Password":"fuzz-password","organizationName":"Fuzz VASP",'
                     b'"countryName":"US"}}')
    write(t, "create-download", sequence(create, *[request("GET", p.split(" ")[1], [AUTH])
                                                   for p in batch(1)[:1] + batch(1)[3:]]))
    write(t, "create-refused", sequence(
        request("PUT", "/api/v1/batches/createSingleCertBatch", [AUTH, JSON],
                b'{"authorityId":1,"profileParams":{"commonName":"-bad-","pkcs12Password":"short"}}'),
        request("PUT", "/api/v1/batches/createSingleCertBatch", [AUTH, JSON],
                b'{"authorityId":1,"profileParams":{"commonName":"a.example","pkcs12Password":'
                b'"fuzz-password","unknown":"x"}}'),
        request("PUT", "/api/v1/batches/createSingleCertBatch", [AUTH, JSON],
                b'{"authorityId":99,"profileParams":{}}'),
        request("PUT", "/api/v1/batches/createSingleCertBatch", [AUTH, JSON], b'[1,2]')))
    write(t, "upload-pem", sequence(upload(42, one + two), *[request("GET", p.split(" ")[1], [AUTH])
                                                            for p in batch(1)]))
    write(t, "upload-der-json", sequence(upload(
        43, der, "c.csr", "application/pkcs10",
        [("csrBatchRequest", None, "application/json", b'{"profileId":43,"batchName":"x"}')]),
        get("/api/v1/batches/1/download")))
    write(t, "upload-zip", sequence(upload(45, zip_of([("a.csr", one), ("b.pem", two),
                                                       ("readme.txt", b"ignored")]),
                                           "csrs.zip", "application/zip"),
                                    get("/api/v1/batches/1/download")))
    write(t, "upload-not-acceptable", sequence(upload(42, nosan), upload(42, weak),
                                               upload(42, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                                          b"-----END CERTIFICATE REQUEST-----\n"),
                                               get("/api/v1/batches/2/status")))
    write(t, "upload-large", sequence(upload(42, one * 5), get("/api/v1/batches/1/status")))
    write(t, "upload-other-account", sequence(
        upload(42, one), get("/api/v1/batches/1", "Authorization: Bearer @ACCESS2@"),
        get("/api/v1/batches/1/download", "Authorization: Bearer @ACCESS2@")))
    write(t, "find-revoke", sequence(
        upload(42, one),
        request("POST", "/api/v1/certificates/find", [AUTH, JSON],
                b'{"commonName":"fuzz.example.com"}'),
        request("POST", "/api/v1/certificates/42/revoke", [AUTH, JSON],
                b'{"serialNumber":"@SERIAL@","reasonCode":4}'),
        request("POST", "/api/v1/certificates/42/revoke", [AUTH, JSON],
                b'{"serialNumber":"@SERIAL@","reasonCode":4}')))
    write(t, "find-refused", sequence(
        request("POST", "/api/v1/certificates/find", [AUTH, JSON], b'{"serialNumber":"0x00:AB:cd"}'),
        request("POST", "/api/v1/certificates/find", [AUTH, JSON], b'{"serialNumber":"xyz"}'),
        request("POST", "/api/v1/certificates/42/revoke", [AUTH, JSON],
                b'{"serialNumber":"01","reasonCode":7}'),
        request("POST", "/api/v1/certificates/99/revoke", [AUTH, JSON], b'{}')))
    write(t, "faults", sequence(
        request("POST", "/_emulator/faults", [JSON],
                b'{"path":"/api/v1/profiles","kind":"status","status":503,"count":2,"retryAfter":3}'),
        get("/api/v1/profiles"),
        request("POST", "/_emulator/faults", [JSON],
                b'{"method":"GET","path":"/api/v1/batches/{id}/download","kind":"cut","cutAfter":10}'),
        get("/_emulator/faults")))
    write(t, "faults-issue", sequence(
        request("POST", "/_emulator/faults", [JSON], b'{"path":"@issue","kind":"status","status":500}'),
        upload(42, one), get("/api/v1/batches/1/status"), get("/_emulator/requests")))
    write(t, "faults-drop-delay", sequence(
        request("POST", "/_emulator/faults", [JSON], b'{"path":"*","kind":"drop","count":1}'),
        get("/api/v1/devices"),
        request("POST", "/_emulator/faults", [JSON], b'{"path":"*","kind":"delay","delayMs":600000}'),
        request("DELETE", "/_emulator/faults")))
    write(t, "hooks-batch-clock", sequence(
        upload(42, one),
        request("PUT", "/_emulator/batches/1/status", [JSON],
                b'{"status":"NOT_ACCEPTABLE","rejectReason":"bad CSR"}'),
        request("PUT", "/_emulator/clock", [JSON], b'{"offsetSeconds":3153600000}'),
        get("/api/v1/batches/1/status")))
    write(t, "paths", sequence(
        get("/api/v1/batches/99999999999999999999/status"), get("/api/v1/batches/1%2fdownload"),
        request("DELETE", "/api/v1/profiles"), get("/nowhere?x=1")))
    write(t, "too-big", sequence(
        request("POST", "/auth/pwd", [JSON, "Content-Length: 99999999999999999999"], b"{}"),
        request("POST", "/auth/pwd", [JSON, "Content-Length: 1048577"], b"{}"),
        request("POST", "/auth/pwd", [JSON, "Content-Length: -1"], b"{}")))

    # fuzz_emulator_multipart: the Content-Type line, then the body.
    t = "fuzz_emulator_multipart"
    body, b = form([("profileId", None, None, b"42"), ("files", "a.csr", "application/pkcs10", one)])
    write(t, "curl", b"multipart/form-data; boundary=" + b.encode() + b"\n" + body)
    body, b = form([("csrBatchRequest", None, "application/json; charset=utf-8", b'{"profileId":42}'),
                    ("files", "x.zip", "application/zip", b"PK\x03\x04")], "quoted boundary")
    write(t, "quoted", b'multipart/form-data; charset=utf-8; boundary="quoted boundary"\n' + body)
    write(t, "lf-only", b"multipart/form-data; boundary=B\n--B\nContent-Disposition: form-data; "
                        b"name=profileId\r\n\r\n42\r\n--B--\n")
    write(t, "preamble-epilogue", b"multipart/form-data;boundary=XyZ\npreamble\r\n--XyZ\r\n"
                                  b"Content-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ  \r\n"
                                  b"Content-Disposition: form-data; name=\"b\"; filename=\"\"\r\n\r\n"
                                  b"\r\n--XyZ--\r\nepilogue")
    write(t, "nine-parts", b"multipart/form-data; boundary=n\n" +
          b"".join(b"--n\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nv\r\n" % i
                   for i in range(9)) + b"--n--\r\n")
    write(t, "long-boundary", b"multipart/form-data; boundary=" + b"b" * 79 + b"\n--" + b"b" * 79 +
          b"\r\nContent-Disposition: form-data; name=\"" + b"n" * 70 + b"\"\r\n\r\nx\r\n--" +
          b"b" * 79 + b"--\r\n")
    write(t, "unclosed", b"multipart/form-data; boundary=U\n--U\r\nContent-Type: text/plain\r\n\r\nno end")

    # fuzz_emulator_auth: the first byte picks the mode (0 token, 1 JSON, 2 base64url, 3 header).
    t = "fuzz_emulator_auth"
    import hashlib
    import hmac
    key = b"fuzz-key-fuzz-key-fuzz-key-fuzz\0"
    hdr = '{"alg":"HS256","typ":"JWT"}'
    good = '{"iss":"https://fuzz.example","sub":"/account/42/user/staging","typ":"access",' \
           '"iat":1700000000,"nbf":1700000000,"exp":1700000600,"jti":"0011223344556677"}'
    signing = b64url(hdr) + "." + b64url(good)
    token = signing + "." + b64url(hmac.new(key, signing.encode(), hashlib.sha256).digest())
    write(t, "token", b"\x00" + token.encode())
    write(t, "token-tampered", b"\x00" + token[:-1].encode() + b"A")
    for name, h, c in (
            ("claims", hdr, good),
            ("claims-doubles", hdr, '{"sub":"s","typ":"refresh","jti":"j","iat":1.7e9,"exp":1e300}'),
            ("claims-nul", hdr, '{"sub":"/account/42/user/staging\\u0000x","typ":"access","jti":"j",'
                                '"iat":1,"exp":2}'),
            ("claims-long-sub", hdr, '{"sub":"%s","typ":"access","jti":"j","iat":1,"exp":2}' % ("s" * 255)),
            ("claims-strings", hdr, '{"sub":"s","typ":"access","jti":"j","iat":"1","exp":"2"}'),
            ("alg-none", '{"alg":"none"}', good),
            ("typ-jwe", '{"alg":"HS256","typ":"JWE"}', good),
            ("not-object", hdr, "[1,2,3]")):
        write(t, name, b"\x01" + h.encode() + b"\n" + c.encode())
    write(t, "b64-parts", b"\x02" + signing.encode())
    write(t, "b64-padded", b"\x02" + (base64.urlsafe_b64encode(hdr.encode()) + b"." +
                                      base64.urlsafe_b64encode(good.encode())))
    for i, h in enumerate(("Bearer abc.def.ghi", "bearer  x", "Basic c3RhZ2luZw==", "Token secret",
                           "AWS4-HMAC-SHA256 Credential=x", "Bearer", "")):
        write(t, "header-%d" % i, b"\x03" + h.encode())

    # fuzz_emulator_config
    t = "fuzz_emulator_config"
    conf = os.path.join(os.path.dirname(TOP), "conf")
    for f in ("emulator.json", "emulator-reference.json"):
        with open(os.path.join(conf, f), "rb") as fh:
            write(t, f, fh.read())
    base = ('{"accounts":[{"username":"u","password":"p","authorities":[1]}],'
            '"authorities":[{"id":1,"profileId":42,"balance":1}],'
            '"profiles":[{"profileId":42,"serverKeyBits":2048,%s}],%s}')
    for name, prof, rest in (
            ("small", '"validity":"60s"', '"tokens":{"accessLifetime":60}'),
            ("validity-days-huge", '"validityDays":100000000000000000', '"limits":{}'),
            ("validity-days-double", '"validityDays":1e300', '"limits":{}'),
            ("key-bits-wrap", '"serverKeyBits":4294969296', '"limits":{}'),
            ("delay-huge", '"bundle":"modern"', '"batches":{"processingDelay":1e300}'),
            ("delay-nan", '"csrBundle":"der"', '"batches":{"processingDelay":NaN}'),
            ("expire-huge", '"csrBundle":"p7b"', '"batches":{"expireAfter":9223372036854775807}'),
            ("lifetime-huge", '"validity":"3650d"',
             '"tokens":{"accessLifetime":9223372036854775807,"refreshNotBefore":-9223372036854775807}'),
            ("body-negative", '"minRsaBits":1024', '"limits":{"maxBodyBytes":-1,"inlineIssue":1000}'),
            ("params", '"parameters":[{"name":"commonName","required":true,"validationPattern":"^(a|b)+$",'
                       '"scopes":["CERTIFICATE"]},{"name":""}]', '"organization":{"orgStatus":"x"}')):
        write(t, name, (base % (prof, rest)).encode())


# ---- small parsers ----

def small_seeds(tmp):
    t = "fuzz_dotenv"
    for name, text in (
            ("reference", 'SECTIGO_USERNAME=staging\nSECTIGO_PASSWORD="staging-password"\n'
                          'SECTIGO_ENDPOINT=https://iot.sectigo.com\n# a comment\n'),
            ("forms", "export SIAS_AUTH_SECRET='a b c'\nSECTIGO_A: value # comment\n"
                      'SECTIGO_B="line1\\nline2 $SECTIGO_A ${SECTIGO_A} \\$LITERAL"\n'
                      "SECTIGO_C=\"spans\nlines\"\nSECTIGO_A=last\nOTHER=ignored\n"),
            ("crlf", "SECTIGO_X=1\r\nSECTIGO_Y=\"2\"\r\n"),
            ("unicode-space", "SECTIGO_K\xc2\xa0=\xc2\xa0v\xc2\xa0#c\nSECTIGO_L=\xe2\x80\x80x\n"),
            ("syntax-error", "SECTIGO_OK=1\nBAD KEY!=2\n"),
            ("unterminated", 'SECTIGO_Q="never closed\n'),
            ("no-value", "SECTIGO_NOTHING\n")):
        write(t, name, text.encode("latin-1") if "\xc2" in text else text.encode())

    t = "fuzz_disposition"
    for i, h in enumerate((
            'attachment; filename="1.zip"',
            'attachment; filename="EURO rates.zip"; filename*=utf-8\'\'%e2%82%ac%20rates.zip',
            "attachment; filename*=UTF-8''%E2%82%AC%20rates.zip",
            'inline; FILENAME="a\\"b.zip"',
            'attachment; filename="../../etc/passwd"',
            "attachment; filename*=iso-8859-1'en'%A3%20rates.zip",
            'attachment; filename="a.zip"; filename="b.zip"',
            "attachment; filename=plain.zip;",
            'attachment; filename="evil\xe2\x80\xaeqqq.zip"',
            "attachment; filename*=UTF-8''%2e%2e%2fx.zip",
            "attachment; filename*=UTF-8''a%00b.zip",
            "120", "Fri, 31 Dec 1999 23:59:59 GMT", "  86400  ")):
        write(t, "%02d" % i, h.encode("latin-1") if "\xe2" in h else h.encode())

    t = "fuzz_csr_args"
    for i, text in enumerate((
            "rsa:4096\nnode.example.com\n\nDNS:node.example.com\nwww.example.com",
            "ec:P-384\n\next\nIP:10.0.0.1\nemail:ops@example.com\nURI:https://example.com/x",
            "sha384\nvasp.example.com\n\nDNS:*.example.com",
            "ec:secp256r1\n\n\nDNS:a..b\nIP:999.1.1.1",
            "rsa:1024\n<your-vasp>\nreq ext\nDNS:-a.example.com",
            "RSA:2048\nn\xc3\xa9.example.com\n\nxn--n-bga.example.com",
            "md5\n \n\nDNS:",
            "ec:P-256\nCN\xe2\x80\xae.example.com\n\nDNS:" + "a" * 64 + ".example.com")):
        write(t, "%02d" % i, text.encode("latin-1") if any(ord(c) > 127 for c in text) else text.encode())

    t = "fuzz_hsm_pin"
    for i, text in enumerate((
            "pkcs11:token=trisa;object=node\n1234\n",
            "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1;token=t\n12345678\r\n",
            "pkcs11:token=t?pin-value=4321\n",
            "pkcs11:token=t?pin-source=file:/nonexistent\n0000",
            "pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=a%00b\npin",
            "pkcs11:token=t?pin-value=" + "p" * 4300 + "\n",
            "not a uri\n" + "x" * 4097 + "\n",
            "pkcs11:\n\n")):
        write(t, "%02d" % i, text.encode())

    t = "fuzz_sectigo_reply"
    hdr = b64url('{"alg":"HS256","typ":"JWT"}')
    for name, claims in (
            ("jwt", '{"sub":"/account/42/user/staging","iat":1700000000,"nbf":1700000000,'
                    '"exp":1700000600}'),
            ("jwt-exp-huge", '{"iat":1700000000,"exp":1e300}'),
            ("jwt-iat-negative", '{"iat":-9000000000000000000,"exp":9000000000000000000}')):
        write(t, name, (hdr + "." + b64url(claims) + ".c2ln").encode())
    write(t, "cache", b'{"version":1,"endpoint":"https://iot.sectigo.com","username":"staging",'
                      b'"accessToken":"a.b.c","refreshToken":"d.e.f"}')


# ---- ZIPs written byte by byte: what a hostile server may send as a batch download ----

class Zip:
    """A ZIP archive assembled field by field, so that each seed can lie in one place
    (names, sizes, offsets, flags, counts) where Python's zipfile would refuse to."""

    def __init__(self):
        self.data = b""
        self.central = []

    def add(self, name, body, method=8, flags=0, usize=None, csize=None, crc=None,
            extra=b"", local_name=None, offset=None, raw=None):
        import struct
        import zlib
        name = name.encode("utf-8") if isinstance(name, str) else name
        if raw is None:
            if method == 8:
                c = zlib.compressobj(9, zlib.DEFLATED, -15)
                raw = c.compress(body) + c.flush()
            else:
                raw = body
        crc = zlib.crc32(body) if crc is None else crc
        usize = len(body) if usize is None else usize
        csize = len(raw) if csize is None else csize
        at = len(self.data) if offset is None else offset
        lname = name if local_name is None else local_name
        if offset is None:
            self.data += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x5821,
                                     crc, csize, usize, len(lname), len(extra)) + lname + extra + raw
        self.central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method,
                                        0, 0x5821, crc, csize, usize, len(name), len(extra), 0,
                                        0, 0, 0o100644 << 16, at) + name + extra)
        return self

    def bytes(self, count=None, cd_offset=None, cd_cut=0, comment=b"", comment_len=None,
              zip64=False):
        import struct
        cd = b"".join(self.central)
        if cd_cut:
            cd = cd[:-cd_cut]
        n = len(self.central) if count is None else count
        off = len(self.data) if cd_offset is None else cd_offset
        out = self.data + cd
        if zip64:
            z64 = len(out)
            out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), off)
            out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
            n16, size32, off32 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        else:
            n16, size32, off32 = n & 0xFFFF, len(cd), off
        clen = len(comment) if comment_len is None else comment_len
        return out + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n16, n16, size32, off32,
                                 clen) + comment


def zip_seeds():
    import struct
    t = "fuzz_zip"
    pem = (b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUfuzz\n"
           b"-----END CERTIFICATE-----\n")
    ok = lambda name: Zip().add(name, pem)  # noqa: E731
    write(t, "zip-plain", ok("api.example.com.pem").bytes())
    for i, name in enumerate(("../../etc/cron.d/trisa", "certs/../../../x.pem", "..",
                              "/etc/passwd", "\\\\server\\share\\x.pem", "C:\\x.pem",
                              "..\\..\\x.pem", "a/./b/../../../c", "name\x00.pem",
                              "dir/", "\u202ecod.pem", "a" * 300 + ".pem", "",
                              "evil\n.pem")):
        write(t, "zip-name-%02d" % i, ok(name).bytes())
    write(t, "zip-duplicate", ok("a.pem").add("a.pem", b"other").bytes())
    write(t, "zip-duplicate-case", ok("A.pem").add("a.pem", pem).bytes())
    # Local and central names disagree (the central one is what is checked).
    write(t, "zip-local-name-differs", Zip().add("a.pem", pem, local_name=b"../a.pem").bytes())
    # Encrypted (flag bit 0), strong encryption (bit 6), data descriptor (bit 3),
    # AES (method 99), bzip2 (12), an unknown method.
    for flags, method, tag in ((1, 8, "encrypted"), (0x41, 8, "strong-encryption"),
                               (8, 8, "data-descriptor"), (1, 99, "aes"), (0, 12, "bzip2"),
                               (0, 0x7777, "method-unknown"), (0, 0, "stored")):
        write(t, "zip-" + tag, Zip().add("a.pem", pem, method=method, flags=flags).bytes())
    # A small bomb: 1 MiB of zeros in 1 KiB (ratio ~1000, over the default 100) and
    # one that stays under the ratio; sizes that lie about what inflates.
    zeros = b"\0" * (1 << 20)
    write(t, "zip-bomb-ratio-1000", Zip().add("zeros.pem", zeros).bytes())
    write(t, "zip-ratio-under", Zip().add("x.pem", bytes(range(256)) * 64 + b"\0" * 4096).bytes())
    write(t, "zip-usize-understated", Zip().add("zeros.pem", zeros[:65536], usize=100).bytes())
    write(t, "zip-usize-overstated", Zip().add("a.pem", pem, usize=len(pem) + 1).bytes())
    write(t, "zip-usize-huge", Zip().add("a.pem", pem, usize=0xFFFFFFFE).bytes())
    write(t, "zip-csize-past-end", Zip().add("a.pem", pem, csize=0x7FFFFFFF).bytes())
    write(t, "zip-crc-wrong", Zip().add("a.pem", pem, crc=0x12345678).bytes())
    # zip64: the 0xFFFFFFFF markers with a zip64 extra field, and a zip64 end record.
    x64 = struct.pack("<HHQQ", 1, 16, len(pem), 0)
    write(t, "zip64-extra", Zip().add("a.pem", pem, method=0, usize=0xFFFFFFFF,
                                      csize=0xFFFFFFFF, extra=x64).bytes())
    write(t, "zip64-end", ok("a.pem").bytes(zip64=True))
    write(t, "zip64-extra-short", Zip().add("a.pem", pem, usize=0xFFFFFFFF,
                                            extra=struct.pack("<HH", 1, 0)).bytes())
    write(t, "zip-extra-overruns", Zip().add("a.pem", pem, extra=struct.pack("<HH", 0x5455, 200)).bytes())
    # The central directory: cut short, past the end, a count that lies, an EOCD comment
    # length past the end, a second EOCD inside the comment.
    two = ok("a.pem").add("b.pem", pem)
    write(t, "zip-cd-truncated", two.bytes(cd_cut=20))
    write(t, "zip-cd-offset-past-end", two.bytes(cd_offset=1 << 20))
    write(t, "zip-cd-offset-zero", two.bytes(cd_offset=0))
    write(t, "zip-count-more", two.bytes(count=3))
    write(t, "zip-count-fewer", two.bytes(count=1))
    write(t, "zip-count-65535", two.bytes(count=0xFFFF))
    write(t, "zip-comment-past-end", two.bytes(comment=b"x", comment_len=400))
    inner = ok("evil.pem").bytes()
    write(t, "zip-eocd-in-comment", two.bytes(comment=inner[-22:]))
    write(t, "zip-empty", Zip().bytes())
    write(t, "zip-eocd-only-truncated", Zip().bytes()[:-1])
    # Overlapping entries: two names on one local header, and one whose header lies
    # inside the other's data.
    z = ok("a.pem")
    z.add("b.pem", pem, offset=0)
    write(t, "zip-overlap-same-header", z.bytes())
    z = Zip().add("a.pem", pem, method=0)
    z.add("b.pem", pem[10:], method=0, offset=30 + 5 + 10)
    write(t, "zip-overlap-inside-data", z.bytes())
    # More entries than the default cap of 1000, as the end record says (a real archive
    # of 1001 entries would be an 80 KB seed and make every fuzzed input that long).
    write(t, "zip-count-1001", two.bytes(count=1001))

def csr_seeds(tmp):
    t = "fuzz_csr"
    write(t, "ec-p384.pem", csr(tmp, "p384", "p384.example.com", ["p384.example.com"],
                                curve="secp384r1"))
    write(t, "ec-p256.der", csr(tmp, "p256d", "der.example.com", ["der.example.com"], der=True))
    key = os.path.join(tmp, "rsa.key")
    run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
    rsa = run("req", "-new", "-key", key, "-subj", "/C=US/O=Fuzz VASP/CN=rsa.example.com",
              "-addext", "subjectAltName=DNS:rsa.example.com", "-outform", "DER")
    write(t, "rsa-2048.der", rsa)
    bad = bytearray(rsa)
    bad[-5] ^= 0x01  # the last bytes are the signature's
    write(t, "rsa-2048-bad-signature.der", bytes(bad))
    write(t, "no-san.pem", csr(tmp, "nosan", "nosan.example.com", []))
    many = ["n%04d.example.com" % i for i in range(600)]
    write(t, "san-600-names.der", csr(tmp, "many", "n0000.example.com", many, der=True))
    write(t, "san-bad-names.pem", csr(tmp, "badn", "a..b", ["a..b", "-x.example.com",
                                                             "*.*.example.com"]))


def main(argv):
    """Every kind of seed, or only those named (key bundle emulator small csr zip): the
    others keep their bytes (keys are random, so remaking them changes every file)."""
    kinds = {"key": key_seeds, "bundle": bundle_seeds, "emulator": emulator_seeds,
             "small": small_seeds, "csr": csr_seeds, "zip": lambda tmp: zip_seeds()}
    wanted = argv or list(kinds)
    unknown = [k for k in wanted if k not in kinds]
    if unknown:
        print("make-seeds.py: unknown kind %s (expected %s)" % (unknown[0], " ".join(kinds)),
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for k in wanted:
            kinds[k](tmp)
    print("seeds written under", CORPUS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
