# The csrBundle switch: CSR batches whose ZIP members are DER certificates or PKCS#7
# bundles instead of PEM, so the fetch side can meet every member format.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need unzip

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k" \
    -subj "/CN=fmt.example.com" -addext "subjectAltName=DNS:fmt.example.com" -out "$T/c.csr" 2>/dev/null
fetch_zip() { # upload the CSR, download the batch ZIP into $1
    local id
    id=$(curl -sS -H "Authorization: Bearer $TOKEN" -F profileId=42 -F "files=@$T/c.csr;type=text/plain" \
        "$EMU_URL/api/v1/batches/upload" | sed -n 's/^{"batchId":\([0-9]*\),.*/\1/p')
    [ -n "$id" ] || fail "upload"
    curl -sS -f -o "$1" -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/batches/$id/download" || fail "download"
}

sed -e 's/"bundle": "legacy",/"bundle": "legacy", "csrBundle": "der",/' "$SHARE/emulator.json" >"$T/der.json"
start_emulator --processing-delay 0 --config "$T/der.json"
TOKEN=$(emu_token)
fetch_zip "$T/der.zip"
assert_eq "$(unzip -Z1 "$T/der.zip" | tr '\n' ' ')" "fmt.example.com.der issuing-ca.der root-ca.der " "DER members"
mkdir "$T/der" && (cd "$T/der" && unzip -q "$T/der.zip")
openssl x509 -inform DER -in "$T/der/issuing-ca.der" -out "$T/der/issuing.pem"
run openssl verify -CAfile "$EMU_CA" -untrusted "$T/der/issuing.pem" "$(openssl x509 -inform DER -in "$T/der/fmt.example.com.der" -out "$T/der/leaf.pem" && echo "$T/der/leaf.pem")"
assert_rc 0 "DER leaf verifies"
cmp -s <(openssl x509 -inform DER -in "$T/der/root-ca.der") <(openssl x509 -in "$EMU_CA") || fail "root-ca.der is the root"
ok "csrBundle der: <cn>.der leaf plus issuing-ca.der and root-ca.der"
stop_emulator || fail "unclean exit"

sed -e 's/"bundle": "legacy",/"bundle": "legacy", "csrBundle": "p7b",/' "$SHARE/emulator.json" >"$T/p7b.json"
start_emulator --processing-delay 0 --config "$T/p7b.json"
fetch_zip "$T/p7b.zip"
assert_eq "$(unzip -Z1 "$T/p7b.zip")" "fmt.example.com.p7b" "PKCS#7 member"
unzip -p "$T/p7b.zip" fmt.example.com.p7b >"$T/b.p7b"
run openssl pkcs7 -inform DER -in "$T/b.p7b" -print_certs -out "$T/p7.pem"
assert_rc 0 "PKCS#7 parses"
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/p7.pem")" 3 "three certificates"
run openssl verify -CAfile "$EMU_CA" -untrusted "$T/p7.pem" "$T/p7.pem"
assert_rc 0 "PKCS#7 leaf verifies"
assert_eq "$OUT" "$T/p7.pem: OK" "openssl verify of the PKCS#7 leaf"
ok "csrBundle p7b: <cn>.p7b with leaf, issuing CA and root"
stop_emulator || fail "unclean exit"

sed -e 's/"bundle": "legacy",/"bundle": "legacy", "csrBundle": "cbor",/' "$SHARE/emulator.json" >"$T/bad.json"
run sectigo serve --state-dir "$T/state" --config "$T/bad.json"
assert_rc 3 "unknown csrBundle"
assert_contains "$ERR" "csrBundle must be pem, der or p7b" "message"
ok "an unknown csrBundle is a configuration error"
done_testing
