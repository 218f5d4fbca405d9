#!/usr/bin/env bash
# The certificate is bound to the operator's key: a bundle whose PKCS#12 carries its own
# key and a certificate for another name is refused (exit 10, both public keys named,
# nothing written) with --zip, --batch and --csr; the bundle's key is used only on the
# server-generated path, where neither a key nor a CSR was given. A CSR alone binds too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need curl
need zip
need python3
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve (the emulator) is not built"

start_emulator --test-hooks --processing-delay 0
export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"

uploads() { curl -sS "$EMU_URL/_emulator/requests" | grep -o '"path":"/api/v1/batches/upload"' | wc -l; }
fp() { key_fp "$1"; }
certfp() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64 | colon_hex; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Test VASP/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
}

# ---- --zip: a PKCS#12 with its own key and another name's certificate ------------------------
cat >ext.cnf <<'EOF'
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:other.example
EOF
openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
    -subj "/CN=Test Root" -days 30 -out root.pem -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
newcsr other.example
openssl x509 -req -in other.example.csr -CA root.pem -CAkey root.key -CAcreateserial -days 20 \
    -extfile ext.cnf -extensions leaf -out other.crt 2>/dev/null
openssl pkcs12 -export -inkey other.example.key -in other.crt -certfile root.pem \
    -passout pass:bundle-pass -out other.p12
zip -q evil.zip other.p12
newcsr vasp.example
echo bundle-pass >pw

run trisa-fetch --zip evil.zip --key vasp.example.key --password-file pw --trust root.pem --out-dir zout
assert_rc 10 "--zip with our key"
assert_contains "$ERR" "carries public key $(certfp other.crt), not the operator's (public key SHA-256: key vasp.example.key $(fp vasp.example.key)); the bundle's own key is never used in its place; refused, nothing written"
assert_missing zout
ok "--zip: a PKCS#12 with its own key and another name's certificate is refused (exit 10, both keys named), nothing written"

run trisa-fetch --zip evil.zip --password-file pw --trust root.pem --out-dir zown
assert_rc 0 "--zip, server-generated"
assert_dir_is zown ".trisa-enroll cert.pem chain.pem fullchain.pem key.pem node.pem pool.pem root.pem"
assert_eq "$(fp zown/key.pem)" "$(fp other.example.key)" "key.pem"
ok "--zip without a key or CSR (the server-generated path): the bundle's key is the one, key.pem 0600"

# ---- --batch: a server-generated batch fetched with our key ----------------------------------
run sectigo create -a 1 -d server.example -p 'Server-Pass-123'
assert_rc 0 "sectigo create"
assert_contains "$OUT" '"batchName": "new certs for server.example",' "sectigo create"
cbid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["batchId"])' <<<"$OUT")
run trisa-fetch --batch "$cbid" --key vasp.example.key --p12-passin pass:Server-Pass-123 --trust "$EMU_CA" \
    --out-dir bout --interval 1
assert_rc 10 "--batch with our key"
assert_contains "$ERR" "certificate CN=server.example (SHA-256 "
assert_contains "$ERR" "not the operator's (public key SHA-256: key vasp.example.key $(fp vasp.example.key))"
assert_missing bout
ok "--batch: a certificate made for the server's key is not taken for ours (exit 10), nothing written"

# ---- --csr: the journal continues a batch whose bundle is not ours ---------------------------
entry=$(printf 'trisa-enroll/csr\n%s\n42\n%s' "$EMU_URL" "$(sha256sum vasp.example.csr | cut -c1-64)" |
    sha256sum | cut -c1-64 | sed "s|^|$TRISA_STATE_DIR/requests/|")
mkdir -p "$entry"
chmod -R 700 "$TRISA_STATE_DIR"
cat >"$entry/journal" <<EOF
trisa-enroll-journal 1
kind=csr
endpoint=$EMU_URL
profile=42
csr_sha256=$(sha256sum vasp.example.csr | cut -c1-64)
name=vasp.example
state=uploaded
generation=1
attempt=1
batch_id=$cbid
created=$(date +%s)
updated=$(date +%s)
end
EOF
for keyopt in "--key vasp.example.key" ""; do
    # shellcheck disable=SC2086
    run trisa-fetch --csr vasp.example.csr --profile 42 $keyopt --p12-passin pass:Server-Pass-123 \
        --trust "$EMU_CA" --out-dir cout --interval 1
    assert_rc 10 "--csr ${keyopt:-(CSR only)}"
    assert_contains "$ERR" "continuing batch $cbid"
    assert_contains "$ERR" "the bundle's own key is never used in its place; refused, nothing written"
    assert_missing cout
done
assert_contains "$ERR" "(public key SHA-256: CSR $(fp vasp.example.key))"
assert_eq "$(uploads)" 0 "uploads"
ok "--csr: a batch whose bundle carries its own key and another name is refused, with --key or by the CSR alone"

# ---- a CSR alone, its own certificate: bound to the CSR's key ---------------------------------
newcsr csronly.example
run trisa-fetch --csr csronly.example.csr --profile 42 --trust "$EMU_CA" --out-dir sout --interval 1
assert_rc 0 "--csr without --key"
assert_mode sout/node.pem 644
assert_eq "$(cat sout/node.pem)" "$(cat sout/fullchain.pem)" "node.pem without a key"
assert_eq "$(certfp sout/cert.pem)" "$(fp csronly.example.key)" "certificate key"
ok "--csr without --key: the certificate must carry the CSR's key; node.pem is leaf + chain (0644)"

done_testing
