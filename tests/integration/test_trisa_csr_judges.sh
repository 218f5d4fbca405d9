#!/bin/bash
# Independent judges of trisa-csr's output: openssl verifies every CSR, GnuTLS certtool
# parses it, and for the same config openssl req and trisa-csr request the same thing.
. "$(dirname "$0")/lib.sh"
need openssl
need certtool "GnuTLS, package gnutls-bin"

DOCS="$TRISA_SOURCE_DIR/tests/integration/data/trisa-docs.conf"
EXAMPLE="$SHARE/trisa.conf"
[ -f "$EXAMPLE" ] || fail "the example config is not installed at $EXAMPLE"

# `openssl req -text` without what differs between two keys: the key and signature bytes.
request_text() {
    openssl req -in "$1" -noout -text |
        sed -e '/Modulus:/,/Exponent:/d' -e '/pub:/,/NIST CURVE:/d' -e '/Signature Value:/,$d'
}

judge() { # judge CSR: both independent parsers accept it
    openssl req -in "$1" -verify -noout 2>/dev/null || fail "openssl req -verify rejects $1"
    certtool --crq-info --infile "$1" >"$1.certtool" 2>&1 || fail "certtool cannot parse $1: $(cat "$1.certtool")"
    grep -q "Subject:" "$1.certtool" || fail "certtool shows no subject for $1"
}

i=0
for conf in "$DOCS" "$EXAMPLE"; do
    i=$((i + 1))
    bits=2048
    [ "$i" = 1 ] && bits=4096 # the TRISA command exactly, once
    trisa-csr -new -newkey rsa:$bits -nodes -sha384 -config "$conf" -keyout ours$i.key -out ours$i.csr
    openssl req -new -newkey rsa:$bits -nodes -sha384 -config "$conf" -keyout theirs$i.key -out theirs$i.csr 2>/dev/null
    judge ours$i.csr
    judge theirs$i.csr
    diff <(request_text theirs$i.csr) <(request_text ours$i.csr) >diff$i.txt ||
        fail "openssl req and trisa-csr disagree for $(basename "$conf"):
$(cat diff$i.txt)"
    # the ASN.1 string types of the subject too (UTF8String vs PrintableString)
    types() { openssl req -in "$1" -noout -subject -nameopt multiline,show_type; }
    [ "$(types theirs$i.csr)" = "$(types ours$i.csr)" ] ||
        fail "subject string types differ: $(types theirs$i.csr) / $(types ours$i.csr)"
    assert_contains "$(request_text ours$i.csr)" "X509v3 Subject Alternative Name"
    ok "$(basename "$conf"): openssl and trisa-csr agree on subject, extensions, algorithm; both judges accept"
done

# With the same RSA key (PKCS#1 v1.5 signatures are deterministic) the two tools must
# make byte-identical requests, for simple configs and for one using every feature.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out same.key 2>/dev/null
for conf in "$DOCS" "$EXAMPLE" "$TRISA_SOURCE_DIR/tests/integration/data/full.conf"; do
    n=$(basename "$conf" .conf)
    trisa-csr -config "$conf" --key-in same.key -sha384 -out $n-ours.csr
    openssl req -new -config "$conf" -key same.key -sha384 -out $n-theirs.csr
    cmp -s $n-ours.csr $n-theirs.csr || fail "$n: requests differ:
$(diff <(openssl asn1parse -in $n-theirs.csr -i) <(openssl asn1parse -in $n-ours.csr -i))"
    judge $n-ours.csr
done
ok "for the same key, trisa-csr and openssl req make byte-identical CSRs (3 configs)"

# A CSR openssl makes from our key is equivalent too (our PKCS#8 is standard).
openssl req -new -key ours2.key -sha384 -config "$EXAMPLE" -out from-our-key.csr
judge from-our-key.csr
[ "$(openssl req -in from-our-key.csr -pubkey -noout)" = "$(openssl req -in ours2.csr -pubkey -noout)" ] ||
    fail "openssl did not read our key"
ok "openssl req -key reads the key trisa-csr wrote"

# Every key type we make, judged.
for spec in rsa:2048 rsa:3072 ec:P-256 ec:P-384; do
    n=${spec/:/-}
    trisa-csr -config "$EXAMPLE" --key $spec -keyout $n.key -out $n.csr
    judge $n.csr
    certtool --crq-info --infile $n.csr | grep -q "Signature Algorithm: .*SHA384" ||
        fail "certtool: $n.csr is not signed with SHA-384"
done
ok "RSA 2048/3072 and EC P-256/P-384 requests pass both judges, SHA-384 signed"

# GnuTLS reads the key files too, encrypted ones included.
trisa-csr -config "$EXAMPLE" --key ec:P-256 -keyout enc.key -out enc.csr --passout pass:s3cret
certtool --key-info --infile ec-P-256.key >/dev/null 2>&1 || fail "certtool cannot read a plain key"
certtool --key-info --infile enc.key --password s3cret >/dev/null 2>&1 || fail "certtool cannot decrypt our key"
ok "certtool reads our plain and encrypted PKCS#8 keys"

done_testing
