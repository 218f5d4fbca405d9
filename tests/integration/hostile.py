#!/usr/bin/env python3
"""Make hostile inputs for the integration tests by editing DER, without deriving a key.

  hostile.py p8-iter IN.der OUT.der N     PBKDF2 count of an encrypted PKCS#8 set to N
  hostile.py p12-mac-iter IN.p12 OUT.p12 N  the MAC count of a PKCS#12 set to N (added
                                            when the file leaves out the DEFAULT 1)
  hostile.py p12-kdf-iter IN.p12 OUT.p12 K N PASS
                                          the K-th PBKDF2/PBE count inside the authenticated
                                          safe set to N, and a valid MAC made again (SHA-256,
                                          1 iteration): a file whose MAC is right and whose
                                          key or certificates ask for N iterations

Making such a file with openssl would cost the very derivation it is meant to test.
"""
import hashlib
import hmac
import os
import sys


def parse(b, i=0):
    """One TLV at b[i:]: (tag, header length, content length)."""
    tag, n = b[i], b[i + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(b[i + 2:i + 2 + k], "big")


def children(b):
    """The TLVs of a constructed content, as byte strings."""
    out, i = [], 0
    while i < len(b):
        _, h, n = parse(b, i)
        out.append(b[i:i + h + n])
        i += h + n
    return out


def content(tlv):
    _, h, n = parse(tlv)
    return tlv[h:h + n]


def tlv(tag, c):
    n = len(c)
    if n < 0x80:
        return bytes([tag, n]) + c
    k = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | k]) + n.to_bytes(k, "big") + c


def integer(v):
    k = max(1, (v.bit_length() + 8) // 8)
    return tlv(0x02, v.to_bytes(k, "big"))


PBES2 = bytes.fromhex("2a864886f70d01050d")
PBKDF2 = bytes.fromhex("2a864886f70d01050c")


def set_pbkdf2_iter(alg, n):
    """AlgorithmIdentifier of PBES2 (or a PKCS#5 v1 / PKCS#12 PBE) with its count set to n."""
    oid, params = children(content(alg))
    if content(oid) == PBES2:
        kdf, enc = children(content(params))
        kdf_oid, kdf_params = children(content(kdf))
        assert content(kdf_oid) == PBKDF2, "not PBKDF2"
        p = children(content(kdf_params))
        p[1] = integer(n)  # salt, iterationCount, [keyLength], [prf]
        kdf = tlv(0x30, kdf_oid + tlv(0x30, b"".join(p)))
        return tlv(0x30, oid + tlv(0x30, kdf + enc))
    salt, _ = children(content(params))  # PBEParameter ::= SEQUENCE { salt, iterations }
    return tlv(0x30, oid + tlv(0x30, salt + integer(n)))


def p8_iter(data, n):
    alg, enc = children(content(data))
    return tlv(0x30, set_pbkdf2_iter(alg, n) + enc)


def p12_parts(data):
    version, auth_safe, *mac = children(content(data))
    return version, auth_safe, (mac[0] if mac else None)


def p12_mac_iter(data, n):
    version, auth_safe, mac = p12_parts(data)
    digest, salt, *_ = children(content(mac))
    return tlv(0x30, version + auth_safe + tlv(0x30, digest + salt + integer(n)))


def pkcs12_kdf(password, salt, iterations, idbyte, n, hashname="sha256"):
    """RFC 7292 appendix B.2 (here: the MAC key; one block is enough)."""
    h = hashlib.new(hashname)
    v = h.block_size
    pw = password.encode("utf-16-be") + b"\0\0"

    def fill(x):
        k = v * ((len(x) + v - 1) // v)
        return (x * (k // len(x) + 1))[:k] if x else b""

    a = bytes([idbyte]) * v + fill(salt) + fill(pw)
    for _ in range(iterations):
        a = hashlib.new(hashname, a).digest()
    return a[:n]


SHA256 = bytes.fromhex("608648016503040201")


def p12_kdf_iter(data, k, n, password):
    """The k-th PBE count within the authenticated safe set to n; the MAC made again."""
    version, auth_safe, _ = p12_parts(data)
    ct_oid, ct = children(content(auth_safe))
    safes = children(content(content(content(ct))))  # [0] EXPLICIT OCTET STRING SEQUENCE
    seen = 0
    out = []
    for ci in safes:
        oid, body = children(content(ci))
        inner = content(body)
        if content(oid).endswith(b"\x07\x06"):  # encryptedData: version, encryptedContentInfo
            ver, eci = children(content(inner))
            ctype, alg, *rest = children(content(eci))
            if seen == k:
                alg = set_pbkdf2_iter(alg, n)
            seen += 1
            inner = tlv(0x30, ver + tlv(0x30, ctype + alg + b"".join(rest)))
        else:  # data: OCTET STRING of SafeContents with shrouded key bags
            bags = children(content(content(inner)))
            nb = []
            for bag in bags:
                bid, bval, *attrs = children(content(bag))
                if content(bid).endswith(b"\x0c\x0a\x01\x02"):  # pkcs8ShroudedKeyBag
                    epki = content(bval)
                    if seen == k:
                        epki = p8_iter(epki, n)
                    seen += 1
                    bval = tlv(0xA0, epki)
                nb.append(tlv(0x30, bid + bval + b"".join(attrs)))
            inner = tlv(0x04, tlv(0x30, b"".join(nb)))
        out.append(tlv(0x30, oid + tlv(0xA0, inner)))
    assert seen > k, "no such count"
    auth = tlv(0x30, b"".join(out))
    auth_safe = tlv(0x30, ct_oid + tlv(0xA0, tlv(0x04, auth)))
    salt = os.urandom(8)
    key = pkcs12_kdf(password, salt, 1, 3, 32)
    mac = hmac.new(key, auth, hashlib.sha256).digest()
    digest = tlv(0x30, tlv(0x30, tlv(0x06, SHA256) + b"\x05\x00") + tlv(0x04, mac))
    return tlv(0x30, version + auth_safe + tlv(0x30, digest + tlv(0x04, salt) + integer(1)))


def main(argv):
    cmd, src, dst = argv[1], argv[2], argv[3]
    data = open(src, "rb").read()
    if cmd == "p8-iter":
        out = p8_iter(data, int(argv[4]))
    elif cmd == "p12-mac-iter":
        out = p12_mac_iter(data, int(argv[4]))
    elif cmd == "p12-kdf-iter":
        out = p12_kdf_iter(data, int(argv[4]), int(argv[5]), argv[6])
    else:
        sys.exit(f"unknown command {cmd}")
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main(sys.argv)
