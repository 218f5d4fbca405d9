#!/bin/bash
# trisa-csr as a user runs it: the openssl req command line, GNU options, exit codes,
# exact messages, 0600 keys, nothing written on failure, no key replaced.
. "$(dirname "$0")/lib.sh"
need openssl

CONF="$TRISA_SOURCE_DIR/tests/integration/data/trisa-docs.conf"
cp "$CONF" trisa.conf

run trisa-csr --help
assert_rc 0 "--help"
assert_contains "$OUT" "usage: trisa-csr [new] -config trisa.conf -keyout key.pem -out req.csr"
assert_contains "$OUT" "--passout SPEC"
ok "--help prints usage and the option table"

run trisa-csr --version
assert_rc 0 "--version"
assert_eq "$OUT" "trisa-csr version 0.1.0 (trisa-certkit)"
ok "--version"

# The command the TRISA docs give, with the program name swapped.
run trisa-csr -new -newkey rsa:4096 -nodes -sha384 -config trisa.conf -keyout key.pem -out req.csr
assert_rc 0 "openssl req command line"
assert_eq "$OUT" "" "stdout"
assert_eq "$ERR" "" "stderr"
assert_mode key.pem 600
assert_mode req.csr 644
openssl req -in req.csr -verify -noout 2>/dev/null || fail "openssl req -verify rejects req.csr"
txt=$(openssl req -in req.csr -noout -text)
assert_contains "$txt" "Public-Key: (4096 bit)"
assert_contains "$txt" "Signature Algorithm: sha384WithRSAEncryption"
head -1 key.pem | grep -qx -- "-----BEGIN PRIVATE KEY-----" || fail "key.pem is not plain PKCS#8"
[ "$(openssl pkey -in key.pem -pubout)" = "$(openssl req -in req.csr -pubkey -noout)" ] ||
    fail "the CSR is not for key.pem"
ok "openssl req flags work unchanged: RSA-4096 key (0600) and SHA-384 CSR"

sum_before=$(sha256sum key.pem)
run trisa-csr -new -newkey rsa:2048 -nodes -sha384 -config trisa.conf -keyout key.pem -out req2.csr
assert_rc 4 "existing key"
assert_eq "$ERR" "trisa-csr: error: key.pem: already exists (not replaced; --force replaces it)"
assert_eq "$(sha256sum key.pem)" "$sum_before" "key.pem"
assert_missing req2.csr
ok "an existing key is never replaced without --force, and nothing else is written"

run trisa-csr --config=trisa.conf --keyout key.pem --out req.csr --key ec:P-256 --force
assert_rc 0 "--force"
assert_mode key.pem 600
assert_contains "$(openssl pkey -in key.pem -noout -text)" "NIST CURVE: P-256"
assert_contains "$(openssl req -in req.csr -noout -text)" "ecdsa-with-SHA384"
ok "GNU long options, --key ec:P-256 and --force"

run trisa-csr -c trisa.conf -k k3.pem -o r3.csr --key=rsa:2048 --digest sha256
assert_rc 0 "short options"
assert_contains "$(openssl req -in r3.csr -noout -text)" "sha256WithRSAEncryption"
ok "short options and --digest"

# Validation: exit 3, one line naming file, line and field, nothing written.
mkdir bad && cd bad
sed 's/^C = US/C = USA/' "$CONF" >bad.conf
run trisa-csr -config bad.conf -keyout key.pem -out req.csr
assert_rc 3 "bad country"
assert_eq "$ERR" "trisa-csr: error: bad.conf:13: [dn_req] C: country must be a two-letter ISO 3166 code (e.g. US), not 'USA'"
assert_dir_is . "bad.conf"
sed 's/^CN = .*/CN = " trisa.example.com"/' "$CONF" >bad.conf
run trisa-csr -config bad.conf -keyout key.pem -out req.csr
assert_rc 3 "leading space"
assert_eq "$ERR" "trisa-csr: error: bad.conf:9: [dn_req] CN: value ' trisa.example.com' has leading or trailing white space (it would be part of the certificate)"
sed '/^DNS/d' "$CONF" >bad.conf
run trisa-csr -config bad.conf -keyout key.pem -out req.csr
assert_rc 3 "no DNS SAN"
assert_eq "$ERR" "trisa-csr: error: bad.conf:18: [v3ext_req] subjectAltName: no DNS name in the subjectAltName (Sectigo rejects such requests)"
sed 's/serverAuth/serverAuthentication/' "$CONF" >bad.conf
run trisa-csr -config bad.conf -keyout key.pem -out req.csr
assert_rc 3 "bad EKU"
assert_eq "$ERR" "trisa-csr: error: bad.conf:17: [v3ext_req] extendedKeyUsage: unknown extendedKeyUsage word 'serverAuthentication' (expected serverAuth, clientAuth, or a dotted OID)"
sed 's/^distinguished_name = dn_req/distinguished_name = subject/' "$CONF" >bad.conf
run trisa-csr -config bad.conf -keyout key.pem -out req.csr
assert_rc 3 "missing section"
assert_eq "$ERR" "trisa-csr: error: bad.conf:3: [req] distinguished_name: section [subject] does not exist"
assert_dir_is . "bad.conf"
run trisa-csr -config nope.conf -keyout key.pem -out req.csr
assert_rc 3 "missing config"
assert_eq "$ERR" "trisa-csr: error: nope.conf: cannot open: No such file or directory"
assert_dir_is . "bad.conf"
cd ..
ok "invalid configs: exit 3, exact one-line messages, nothing written"

sed 's/^DNS.1 = .*/DNS.1 = www.example.com/' "$CONF" >warn.conf
run trisa-csr -config warn.conf -keyout wk.pem -out wr.csr --key rsa:2048
assert_rc 0 "CN not in SAN"
assert_eq "$ERR" "trisa-csr: warning: warn.conf:9: [dn_req] CN: 'trisa.example.com' is not among the subjectAltName DNS names"
ok "a CN missing from the SAN DNS names is a warning, not an error"

# A CSR that cannot be written leaves no key behind.
run trisa-csr -config trisa.conf -keyout orphan.pem -out /nonexistent/dir/req.csr --key rsa:2048
assert_rc 1 "unwritable CSR"
assert_contains "$ERR" "trisa-csr: error: /nonexistent/dir/req.csr: cannot create"
assert_missing orphan.pem
run trisa-csr -config trisa.conf -keyout /nonexistent/dir/key.pem -out lonely.csr --key rsa:2048
assert_rc 1 "unwritable key"
assert_contains "$ERR" "trisa-csr: error: /nonexistent/dir/key.pem: cannot create"
assert_missing lonely.csr
ok "when the CSR or the key cannot be written, the other is not left behind"

# Usage errors: exit 2.
run trisa-csr -config trisa.conf -keyout x.pem --frobnicate
assert_rc 2 "unknown option"
assert_eq "$ERR" "trisa-csr: unknown option '--frobnicate' (see 'trisa-csr --help')"
run trisa-csr -config trisa.conf -out x.csr
assert_rc 2 "no keyout"
assert_eq "$ERR" "trisa-csr: where should the new key go? give --keyout FILE (see 'trisa-csr --help')"
run trisa-csr -config trisa.conf -keyout x.pem -nodes -passout pass:x
assert_rc 2 "-nodes with -passout"
assert_eq "$ERR" "trisa-csr: -nodes and --passout contradict each other (see 'trisa-csr --help')"
run trisa-csr -config trisa.conf -keyout x.pem --key rsa:1024
assert_rc 2 "bad key spec"
assert_eq "$ERR" "trisa-csr: key spec 'rsa:1024': RSA size must be 2048, 3072 or 4096 (see 'trisa-csr --help')"
run trisa-csr -keyout x.pem
assert_rc 2 "no config"
assert_missing x.pem
assert_missing x.csr
ok "usage errors exit 2 and write nothing"

# The CSR goes to standard output without -out.
run trisa-csr -config trisa.conf -keyout stdout.pem --key rsa:2048
assert_rc 0 "CSR on stdout"
printf '%s\n' "$OUT" | openssl req -verify -noout 2>/dev/null || fail "stdout is not a CSR"
ok "without -out the CSR is written to standard output"

# Encrypted keys, and renewal with an existing key.
run trisa-csr -config trisa.conf -keyout enc.pem -out enc.csr --key ec:P-384 --passout pass:s3cret
assert_rc 0 "--passout"
assert_mode enc.pem 600
head -1 enc.pem | grep -qx -- "-----BEGIN ENCRYPTED PRIVATE KEY-----" || fail "enc.pem is not encrypted"
openssl pkey -in enc.pem -passin pass:s3cret -noout || fail "openssl cannot decrypt enc.pem"
ok "--passout encrypts the key (openssl reads it back)"

sum_before=$(sha256sum enc.pem)
export KEYPASS=s3cret
run trisa-csr -config trisa.conf --key-in enc.pem --passin env:KEYPASS -out renew.csr
assert_rc 0 "--key-in"
assert_eq "$(sha256sum enc.pem)" "$sum_before" "enc.pem"
[ "$(openssl pkey -in enc.pem -passin pass:s3cret -pubout)" = "$(openssl req -in renew.csr -pubkey -noout)" ] ||
    fail "renew.csr is not for enc.pem"
run trisa-csr -config trisa.conf -key enc.pem -passin pass:wrong -out renew2.csr
assert_rc 11 "wrong passphrase"
assert_eq "$ERR" "trisa-csr: error: enc.pem: wrong passphrase for the encrypted key"
assert_missing renew2.csr
run trisa-csr -config trisa.conf --key-in enc.pem -out renew2.csr </dev/null
assert_rc 11 "no passphrase"
assert_eq "$ERR" "trisa-csr: error: enc.pem: the key is encrypted and no passphrase was given"
assert_missing renew2.csr
sum_before=$(sha256sum key.pem)
run trisa-csr -config trisa.conf --key-in key.pem -out key.pem --force
assert_rc 2 "CSR over the --key-in key"
assert_eq "$ERR" "trisa-csr: key.pem is the --key-in key: it is never rewritten (see 'trisa-csr --help')"
assert_eq "$(sha256sum key.pem)" "$sum_before" "key.pem"
run trisa-csr -config trisa.conf -keyout x.pem -out trisa.conf --force
assert_rc 2 "CSR over the config"
assert_eq "$ERR" "trisa-csr: trisa.conf is a config: it is never overwritten (see 'trisa-csr --help')"
assert_missing x.pem
run trisa-csr -config trisa.conf -key key.pem -out renew3.csr
assert_rc 0 "openssl -key spelling"
assert_eq "$(openssl req -in renew3.csr -noout -pubkey)" "$(openssl pkey -in key.pem -pubout)" "renew3.csr's key (-key)"
assert_eq "$(sha256sum key.pem)" "$sum_before" "key.pem after -key"
ok "--key-in / -key make a CSR for an existing key without touching it; wrong passphrase exits 11"

# Overrides and summaries.
run trisa-csr -config trisa.conf -keyout ov.pem -out ov.csr --key rsa:2048 --cn other.example.com --san other.example.com --san IP:192.0.2.99 --print
assert_rc 0 "--cn/--san/--print"
# RFC 4514, pinned, and as openssl prints it (the judge)
assert_contains "$OUT" "subject:     C=US,ST=California,L=Menlo Park,O=Example VASP,CN=other.example.com"
assert_contains "$OUT" "subject:     $(openssl req -in ov.csr -noout -subject -nameopt rfc2253,-esc_msb | sed 's/^subject=//')"
assert_contains "$OUT" "SANs:        DNS:trisa.example.com, DNS:api.example.com, IP:192.0.2.10, DNS:other.example.com, IP:192.0.2.99"
assert_contains "$OUT" "key:         RSA 2048"
assert_contains "$OUT" "signature:   sha384WithRSAEncryption"
assert_contains "$OUT" "key SHA-256: $(key_fp ov.pem)"
assert_contains "$(openssl req -in ov.csr -noout -subject)" "CN = other.example.com"
ok "--cn and --san override the config; --print shows subject, SANs, key, algorithm, fingerprint"

run trisa-csr -config trisa.conf -keyout js.pem -out js.csr --key ec:P-256 --json
assert_rc 0 "--json"
assert_eq "$(printf '%s' "$OUT" | jq -r .key)" "EC P-256"
assert_eq "$(printf '%s' "$OUT" | jq -r .signatureAlgorithm)" "ecdsa-with-SHA384"
assert_eq "$(printf '%s' "$OUT" | jq -r '.subjectAltNames[0]')" "DNS:trisa.example.com"
assert_eq "$(printf '%s' "$OUT" | jq -r .csrFile)" "js.csr"
assert_eq "$(printf '%s' "$OUT" | jq -r .publicKeySha256)" "$(key_fp js.pem)"
assert_eq "$(printf '%s' "$OUT" | jq -r .subject)" "C=US,ST=California,L=Menlo Park,O=Example VASP,CN=trisa.example.com"
ok "--json gives the same summary as JSON"

done_testing
