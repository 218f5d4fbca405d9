#!/usr/bin/env bash
# trisa-fetch --zip against hostile bundles: PKCS#12 files whose MAC or key asks for
# 2^31-1 iterations (bare, in a ZIP, the real Sectigo bundle patched) refused in
# milliseconds; FIFOs as --zip, --trust and in a --key folder refused at once; ZIP entry
# names that would act on a terminal escaped; inconsistent ZIPs and a CA:FALSE
# intermediate named; impossible --at dates refused.
. "$(dirname "$0")/lib.sh"
need openssl
need python3
need timeout
need zip

FIXTURE="${TRISA_SHARED_DIR:-}/fixtures/sectigo-bundle/certificate.zip"
HOSTILE="$TRISA_SOURCE_DIR/tests/integration/hostile.py"
CASES=0
case_done() { CASES=$((CASES + 1)); }
quick() { run timeout 20 "$@"; [ "$RC" -ne 124 ] || fail "$*: still running after 20 s"; }
# Refused in milliseconds: the time of the whole trisa-fetch run, printed for the record.
refused_fast() { # label, args...
    local label=$1 t0 ms
    shift
    t0=$(date +%s%N)
    quick trisa-fetch "$@"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "# $label: exit $RC in $ms ms"
    [ "$ms" -lt 5000 ] || fail "$label: $ms ms"
}

# A small PKI: root -> issuing CA -> leaf, EC keys.
cat >ext.cnf <<'EOF'
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[noca]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:vasp.example
EOF
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
sign() { # csr-key subject issuer-cert issuer-key extensions out
    openssl req -new -key "$1" -subj "$2" 2>/dev/null |
        openssl x509 -req -CA "$3" -CAkey "$4" -CAcreateserial -days 365 -extfile ext.cnf \
            -extensions "$5" -out "$6" 2>/dev/null
}
key root.key
openssl req -new -x509 -key root.key -subj "/CN=Test Root" -days 3650 -out root.pem \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
key int.key
sign int.key "/CN=Test Issuing CA" root.pem root.key ca int.pem
key leaf.key
sign leaf.key "/CN=vasp.example" int.pem int.key leaf leaf.pem
cat int.pem root.pem >chain.pem
openssl pkcs12 -export -inkey leaf.key -in leaf.pem -certfile chain.pem -passout pass:pw \
    -iter 2048 -maciter -out good.p12

# ---------------------------------------------------------------------------------------
# The MAC asks for 2^31-1 iterations: no password is needed to stall (the MAC key is
# derived before the password can be found wrong).
python3 "$HOSTILE" p12-mac-iter good.p12 hostile.p12 2147483647
refused_fast "bare .p12, MAC 2^31-1" --zip hostile.p12 --out-dir out1 --trust-bundle-root
assert_rc 3 "bare hostile .p12"
assert_eq "$ERR" "trisa-fetch: error: member 'hostile.p12': the MAC asks for 2147483647 iterations; at most 1000000 are accepted (Sectigo's bundles use 1 or 2048)"
assert_missing out1/cert.pem
case_done
zip -q batch.zip hostile.p12
refused_fast "ZIP with the .p12, MAC 2^31-1" --zip batch.zip --out-dir out2 --password-file /dev/null --trust-bundle-root
assert_rc 3 "hostile .p12 in a ZIP"
assert_contains "$ERR" "member 'hostile.p12': the MAC asks for 2147483647 iterations"
case_done
# The key's PBKDF2 (the second count of the authenticated safe) with a valid MAC.
python3 "$HOSTILE" p12-kdf-iter good.p12 keybag.p12 1 2147483647 pw
echo pw >pw
refused_fast "shrouded key 2^31-1, MAC valid" --zip keybag.p12 --out-dir out3 --password-file pw --trust-bundle-root
assert_rc 3 "hostile key bag"
assert_eq "$ERR" "trisa-fetch: error: member 'keybag.p12': decrypting the private key would take 2147483647 iterations of PBKDF2; at most 1000000 are accepted (Sectigo's bundles use 2048)"
case_done
python3 "$HOSTILE" p12-kdf-iter good.p12 certs.p12 0 2147483647 pw
refused_fast "certificates 2^31-1, MAC valid" --zip certs.p12 --out-dir out4 --password-file pw --trust-bundle-root
assert_rc 3 "hostile certificate part"
assert_contains "$ERR" "member 'certs.p12': decrypting the certificates would take 2147483647 iterations of PBKDF2"
case_done
# The untouched file still works, and so does the MAC made again by hostile.py.
python3 "$HOSTILE" p12-kdf-iter good.p12 remade.p12 1 2048 pw
run trisa-fetch --zip remade.p12 --out-dir out5 --password-file pw --trust root.pem --dns vasp.example
assert_rc 0 "the same file with 2048 iterations"
cmp -s out5/cert.pem leaf.pem || fail "out5/cert.pem is not the bundle's leaf"
assert_eq "$(openssl pkey -in out5/key.pem -pubout)" "$(openssl pkey -in leaf.key -pubout)" "the bundle's key"
assert_mode out5/key.pem 600
ok "PKCS#12 with a MAC, a key or certificates asking for 2^31-1 iterations: exit 3 in milliseconds"

if [ -f "$FIXTURE" ]; then
    mkdir real && (cd real && unzip -q "$FIXTURE")
    python3 "$HOSTILE" p12-mac-iter real/api.bob.vaspbot.net.p12 sectigo.p12 2147483647
    (cd real && rm -f *.p12 && cp ../sectigo.p12 api.bob.vaspbot.net.p12 && zip -q ../sectigo.zip api.bob.vaspbot.net.p12)
    echo qDhAwnfMjgDEzzUC >real-pw
    refused_fast "real Sectigo bundle, MAC 2^31-1" --zip sectigo.zip --out-dir out6 --password-file real-pw --trust-bundle-root
    assert_rc 3 "patched Sectigo bundle"
    assert_contains "$ERR" "member 'api.bob.vaspbot.net.p12': the MAC asks for 2147483647 iterations"
    case_done
    ok "the real Sectigo bundle with its MAC count set to 2^31-1: exit 3 in milliseconds"
else
    skip_case "the real Sectigo bundle with its MAC count set to 2^31-1 ($FIXTURE is absent)"
fi

# ---------------------------------------------------------------------------------------
# FIFOs: refused at once, exit 3, and the file named once ('in.zip: in.zip:' no more).
mkfifo in.zip trust.pem
mkdir keys && mkfifo keys/k.pem
quick trisa-fetch --zip in.zip --out-dir o --trust-bundle-root
assert_rc 3 "FIFO as --zip"
assert_eq "$ERR" "trisa-fetch: error: bundle: in.zip: not a regular file (a FIFO)"
case_done
zip -q certs.zip leaf.pem chain.pem
quick trisa-fetch --zip certs.zip --out-dir o --trust trust.pem
assert_rc 3 "FIFO as --trust"
assert_eq "$ERR" "trisa-fetch: error: trust anchors: trust.pem: not a regular file (a FIFO)"
case_done
quick trisa-fetch --zip certs.zip --out-dir o --key keys --trust root.pem
assert_rc 3 "FIFO in a --key folder"
assert_eq "$ERR" "trisa-fetch: error: key: keys/k.pem: not a regular file (a FIFO)"
case_done
run trisa-fetch --zip nope.zip --out-dir o --trust-bundle-root
assert_rc 3 "missing --zip"
assert_eq "$ERR" "trisa-fetch: error: bundle: nope.zip: cannot open: No such file or directory"
case_done
ok "FIFOs as --zip, --trust and in a --key folder are refused at once (exit 3), the file named once"

# ---------------------------------------------------------------------------------------
# Names from the ZIP never reach the terminal raw; inconsistent archives name the entry.
python3 - <<'PY'
import zipfile
with zipfile.ZipFile("esc.zip", "w") as z:
    z.writestr("\x1b[2J\x1b]0;owned\x07x.pem", "x")
with zipfile.ZipFile("rlo.zip", "w") as z:
    z.writestr("cert\u202e21p.pem", "garbage")
with zipfile.ZipFile("incons.zip", "w", zipfile.ZIP_STORED) as z:
    z.writestr("a.pem", "-----BEGIN CERTIFICATE-----\nabc\n")
    z.writestr("b.pem", "-----BEGIN CERTIFICATE-----\nabc\n")
data = bytearray(open("incons.zip", "rb").read())
i = data.find(b"b.pem")  # the local header's name; the central directory keeps b.pem
data[i] = ord("c")
open("incons.zip", "wb").write(bytes(data))
PY
run trisa-fetch --zip esc.zip --out-dir o --trust-bundle-root
assert_rc 3 "ESC in an entry name"
assert_eq "$ERR" "trisa-fetch: error: ZIP entry '\\x1b[2J\\x1b]0;owned\\x07x.pem': control character in name"
case "$ERR" in *$'\e'*) fail "a raw ESC reached stderr" ;; esac
case_done
run trisa-fetch --zip rlo.zip --out-dir o --trust-bundle-root
assert_rc 3 "U+202E in a member name"
assert_contains "$ERR" "member 'cert\\u202E21p.pem'"
assert_not_contains "$ERR" $'\u202e' "stderr"
case_done
run trisa-fetch --zip incons.zip --out-dir o --trust-bundle-root
assert_rc 3 "inconsistent ZIP"
assert_eq "$ERR" "trisa-fetch: error: ZIP entry 'b.pem': its local header and the central directory disagree (name, method, CRC or size: corrupt or tampered archive)"
case_done
ok "entry names with ESC or U+202E are escaped; an inconsistent ZIP names its entry"

# ---------------------------------------------------------------------------------------
# An intermediate that is no CA is reported as such, not as "matches none of the keys".
key noca.key
sign noca.key "/CN=Not A CA" root.pem root.key noca noca.pem
key leaf2.key
sign leaf2.key "/CN=vasp.example" noca.pem noca.key leaf leaf2.pem
cat leaf2.pem noca.pem root.pem >noca-bundle.pem
run trisa-fetch --zip noca-bundle.pem --out-dir o --key leaf2.key --trust root.pem
assert_rc 10 "CA:FALSE intermediate"
assert_contains "$ERR" "trisa-fetch: error: certificate 'CN=Not A CA' (SHA-256 "
assert_contains "$ERR" "issued 'CN=vasp.example' but is not a CA (basicConstraints CA:FALSE or absent): the bundle's chain is invalid"
assert_not_contains "$ERR" "matches none of the keys"
case_done
ok "a CA:FALSE intermediate is named as such (exit 10)"

# ---------------------------------------------------------------------------------------
# --at: dates that do not exist, and the epoch (which would mean "now"), are usage errors.
for at in 2021-02-30 2024-02-31 2023-02-29 1970-01-01 @0 2021-06-01T24:00:00Z; do
    run trisa-fetch --zip good.p12 --out-dir o --password-file pw --trust root.pem --at "$at"
    assert_rc 2 "--at $at"
    assert_contains "$ERR" "trisa-fetch: --at: '$at': "
    case_done
done
run trisa-fetch --zip good.p12 --out-dir out7 --password-file pw --trust root.pem --dns vasp.example --at 2024-02-29
assert_rc 10 "--at 2024-02-29 (before the leaf was made)"
assert_contains "$OUT" "FAIL validity"
ok "--at 2021-02-30, 2024-02-31, 2023-02-29, 1970-01-01, @0 and 24:00:00 are refused (exit 2)"

echo "# hostile cases: $CASES"
done_testing
