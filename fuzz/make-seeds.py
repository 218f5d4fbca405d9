#!/usr/bin/env python3
"""Make the crafted seeds of fuzz/corpus/ that mutation alone does not reach.

    python3 fuzz/make-seeds.py            # writes into fuzz/corpus/<target>/crafted-*

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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        key_seeds(tmp)
        bundle_seeds(tmp)
    print("seeds written under", CORPUS)


if __name__ == "__main__":
    sys.exit(main())
