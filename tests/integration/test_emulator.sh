# The emulator's endpoints driven by the real curl, openssl and unzip: exact statuses,
# bodies and headers; multipart upload; bundles; licences; find, revoke, CRL; limits;
# restart persistence; the request log.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need unzip
need zip
sectigo serve --help >/dev/null 2>&1 || skip "sectigo serve is unavailable (built without the emulator?)"

# req METHOD PATH [curl args...]: STATUS, BODY (timestamps replaced by T), HDRS.
req() {
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -D "$T/.hdrs" -w '%{http_code}' "$@" "$EMU_URL$p") ||
        fail "curl $m $p"
    BODY=$(sed -e 's/"timestamp":[0-9]*/"timestamp":T/' -e 's/"creationDate":"[^"]*"/"creationDate":D/g' "$T/.body")
    HDRS=$(tr -d '\r' <"$T/.hdrs")
}
api() { req "$1" "$2" -H "Authorization: Bearer $TOKEN" "${@:3}"; }
header() { printf '%s\n' "$HDRS" | sed -n "s/^$1: //Ip" | tail -n 1; }
expect() { # expect STATUS BODY [what]
    assert_eq "$STATUS" "$1" "${3:-reply} status (body $BODY)"
    assert_eq "$BODY" "$2" "${3:-reply} body"
}
jwt_payload() {
    local p
    p=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
    while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
    printf '%s' "$p" | openssl base64 -d -A
}
csr() { # csr NAME [openssl req args]: EC P-256 CSR for NAME with a SAN
    local n=$1
    shift
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$n.key" \
        -subj "/CN=$n/O=Test VASP" -addext "subjectAltName=DNS:$n" -out "$T/$n.csr" "$@" 2>/dev/null ||
        fail "openssl req $n"
}
upload() { # upload FILE [content type]
    api POST /api/v1/batches/upload -F profileId=42 \
        -F "csrBatchRequest=@$T/blob.json;filename=blob;type=application/json" \
        -F "files=@$1;type=${2:-text/plain}"
}
batch() { # the batch object with creationDate replaced by D
    printf '{"batchId":%s,"orderNumber":%s,"creationDate":D,"profile":"TRISA Profile","size":%s,"status":"%s","active":%s,"batchName":"%s","rejectReason":"%s","generatorParametersValues":null,"userId":10,"downloadable":%s,"rejectable":%s}' "$@"
}
# Batches take 60 s of the emulator's time: wait_ready moves its clock past that (the
# clock hook) instead of sleeping, so a loaded machine never sees a batch ready early or late.
SHIFT=0
wait_ready() {
    SHIFT=$((SHIFT + 61))
    curl -sS -f -o /dev/null -X PUT "$EMU_URL/_emulator/clock" -d "{\"offsetSeconds\":$SHIFT}" || fail "clock"
    api GET "/api/v1/batches/$1/status"
    [ "$BODY" = "Ready for download" ] || fail "batch $1 is not ready 61 s later: $BODY"
}
printf '{"profileId": 42, "batchType": "BATCH", "profileParams": {}}' >"$T/blob.json"

run sectigo serve --help
assert_rc 0 "serve --help"
for f in --addr --state-dir --tls-self-signed --tls-cert --tls-key --insecure-bind --processing-delay --cert-lifetime --config --profile-set --print-config --test-hooks --threads --quiet SIAS_AUTH_USERNAME SIAS_AUTH_PASSWORD SIAS_AUTH_SECRET SIAS_AUTH_ISSUER SIAS_AUTH_SUBJECT SIAS_BIND_ADDR SIAS_CA_PATH SIAS_LOG_LEVEL SIAS_CONSOLE_LOG; do
    assert_contains "$OUT" "$f" "serve --help"
done
run sectigo serve --processing-delay soon
assert_rc 2 "bad --processing-delay"
assert_contains "$ERR" "sectigo serve: --processing-delay: expected seconds (0-86400), got 'soon'"
run sectigo serve --state-dir "$T/s0" --config "$T/missing.json"
assert_rc 3 "missing config"
assert_contains "$ERR" "missing.json" "missing config message"
printf '{"accounts": [' >"$T/bad.json"
run sectigo serve --state-dir "$T/s0" --config "$T/bad.json"
assert_rc 3 "malformed config"
assert_contains "$ERR" "sectigo serve: error: $T/bad.json: not a JSON object"
run sectigo serve --state-dir "$T/s0" --addr 127.0.0.1:99999
assert_rc 3 "bad port"
assert_contains "$ERR" "sectigo serve: error: address 127.0.0.1:99999: expected HOST:PORT"
assert_eq "$OUT" "" "no 'listening on' line for a bad port"
ok "serve --help lists every flag; bad values are usage errors; bad configs exit 3"

start_emulator --test-hooks --processing-delay 60
assert_contains "$EMU_URL" "http://127.0.0.1:" "url"
assert_mode "$EMU_STATE/ca/root.key" 600
assert_mode "$EMU_STATE/ca/issuing.key" 600
assert_mode "$EMU_STATE/jwt.key" 600
run openssl x509 -in "$EMU_CA" -noout -text
assert_contains "$OUT" "Public-Key: (4096 bit)" "root key"
assert_contains "$OUT" "sha384WithRSAEncryption" "root signature"
run openssl verify -CAfile "$EMU_CA" "$EMU_STATE/ca/issuing.pem"
assert_rc 0 "issuing CA verifies"
assert_eq "$OUT" "$EMU_STATE/ca/issuing.pem: OK" "openssl verify of the issuing CA"
ok "first start prints the URL and makes an RSA-4096/SHA-384 CA with 0600 keys"

cp -a "$EMU_STATE/ca" "$T/s1-ca" && mkdir -p "$T/s1" && mv "$T/s1-ca" "$T/s1/ca"
SIAS_BIND_ADDR="127.0.0.1:$EMU_PORT" run sectigo serve --state-dir "$T/s1"
assert_rc 7 "SIAS_BIND_ADDR on a port in use"
assert_contains "$ERR" "cannot listen on 127.0.0.1:$EMU_PORT" "address in use message"
ok "SIAS_BIND_ADDR sets the address; a port in use exits 7"

# ---- authentication ----
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"staging","password":"wrong"}'
expect 401 '{"status":401,"message":"bad credentials","errorCode":1100,"timestamp":T}' "wrong password"
assert_eq "$(header Content-Type)" "application/json;charset=UTF-8" "error content type"
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"nobody","password":"x"}'
assert_eq "$STATUS" 401 "unknown user"
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"noauthority","password":"noauthority-password"}'
expect 403 '{"status":403,"message":"user noauthority has no authority","errorCode":1102,"timestamp":T}' "no authority"
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"certlogin","password":"certlogin-password"}'
assert_eq "$STATUS" 307 "certificate login"
assert_eq "$(header Location)" "/auth/cert" "307 Location"
req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":'
expect 400 '{"status":400,"message":"expected a JSON object with username and password","errorCode":1000,"timestamp":T}' "malformed JSON"
req POST /auth/pwd -H 'Content-Type: text/plain' -d 'username=staging'
assert_eq "$STATUS" 415 "wrong content type"
ok "auth/pwd: 401 wrong password, 403 no authority, 307 certificate login, 400, 415"

req POST /auth/pwd -H 'Content-Type: application/json' -d '{"username":"staging","password":"staging-password"}'
assert_eq "$STATUS" 200 "login"
assert_contains "$BODY" '{"accessToken":"' "login body"
TOKEN=$(printf '%s' "$BODY" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%s' "$BODY" | sed -n 's/.*"refreshToken":"\([^"]*\)".*/\1/p')
claims=$(jwt_payload "$TOKEN")
assert_contains "$claims" '"sub":"/account/42/user/staging"' "access claims"
iat=$(printf '%s' "$claims" | sed -n 's/.*"iat":\([0-9]*\).*/\1/p')
exp=$(printf '%s' "$claims" | sed -n 's/.*"exp":\([0-9]*\).*/\1/p')
assert_eq "$((exp - iat))" 600 "access token lifetime"
assert_contains "$(jwt_payload "$REFRESH")" '"nbf":' "refresh claims"
assert_eq "$(printf '%s' "$TOKEN" | cut -d. -f1)" "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" "HS256 header"
ok "auth/pwd issues HS256 JWTs with sub, iat, exp (600 s), nbf"

req POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
assert_eq "$STATUS" 200 "refresh"
assert_contains "$BODY" '"refreshToken":"' "refresh body"
req POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$TOKEN"
expect 401 '{"status":401,"message":"invalid refresh token","errorCode":1101,"timestamp":T}' "access token as refresh"
req POST /auth/refresh -H 'Content-Type: application/json' --data-binary "${REFRESH}x"
assert_eq "$STATUS" 401 "tampered refresh token"
req POST /auth/refresh -H 'Content-Type: application/json' --data-binary "$REFRESH"
expect 401 '{"status":401,"message":"refresh token already used","errorCode":1101,"timestamp":T}' "a refresh token used twice"
ok "auth/refresh takes the raw refresh token once (rotated); access or tampered tokens get 401"

req GET /api/v1/authorities/allowed
expect 401 '{"status":401,"message":"missing Bearer access token","errorCode":1100,"timestamp":T}' "no token"
# Tamper with the signature's first character (6 bits of its first byte): always a
# different signature, whatever the token.
sig=${TOKEN##*.}
first=${sig:0:1}
if [ "$first" = A ]; then other=B; else other=A; fi
req GET /api/v1/authorities/allowed -H "Authorization: Bearer ${TOKEN%.*}.$other${sig:1}"
expect 401 '{"status":401,"message":"invalid access token","errorCode":1101,"timestamp":T}' "bad signature"
# The last character of a 32-byte signature holds 4 bits and 2 unused ones: each other
# setting of the unused bits spells the same bytes, and must be refused all the same.
alphabet=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_
last=${sig: -1}
prefix=${alphabet%%"$last"*}
v=${#prefix}
assert_eq "$((v & 3))" 0 "the unused bits of a canonical signature"
for low in 1 2 3; do
    req GET /api/v1/authorities/allowed -H "Authorization: Bearer ${TOKEN%?}${alphabet:$((v | low)):1}"
    expect 401 '{"status":401,"message":"invalid access token","errorCode":1101,"timestamp":T}' "non-canonical signature $low"
done
req GET /api/v1/authorities/allowed -H "Authorization: Bearer $REFRESH"
assert_eq "$STATUS" 401 "refresh token as access token"
ok "every /api/v1 call needs a valid Bearer access token; a tampered or non-canonical signature is refused"

# ---- accounts, authorities, profiles ----
AUTH='{"id":1,"ecosystemId":100,"signerCertificateId":0,"ecosystemName":"TRISA","balance":10,"enabled":true,"profileId":42,"profileName":"TRISA Profile"}'
api GET /api/v1/authorities/allowed
expect 200 "[$AUTH]" "authorities"
assert_eq "$(header Content-Type)" "application/json;charset=UTF-8" "content type"
api GET /api/v1/authorities/1/balanceavailable
expect 200 10 "balance"
api GET /api/v1/authorities/2/balanceavailable
expect 404 '{"status":404,"message":"authority 2 not found","errorCode":1200,"timestamp":T}' "unknown authority"
api GET /api/v1/devices
expect 200 '{"ordered":0,"issued":0}' "devices"
api GET /api/v1/profiles
expect 200 '[{"profileId":42,"algorithms":["RSA4096","RSA2048","EC256","EC384"],"ca":"TRISA Emulator Issuing CA"}]' "profiles"
api GET /api/v1/profiles/42
assert_eq "$STATUS" 200 "profile 42"
assert_contains "$BODY" '{"profileName":"TRISA Profile","profileId":42,"rawProfileConfig":"{\"certificate\"' "profile detail"
assert_contains "$BODY" '"name":"TRISA Profile","keyAlgorithmInfo":"RSA - 4096"}' "profile detail"
api GET /api/v1/profiles/42/parameters
assert_eq "$STATUS" 200 "parameters"
assert_contains "$BODY" '[{"name":"commonName","inputType":"TEXT","required":true,"placeholder":"example.com","validationPattern":' "parameters"
assert_contains "$BODY" '"message":"a host name","value":"","title":"Common Name","scopes":["CERTIFICATE"],"dynamic":false}' "parameters"
for p in dNSName pkcs12Password organizationName localityName stateOrProvinceName countryName; do
    assert_contains "$BODY" "{\"name\":\"$p\"" "parameters"
done
api GET /api/v1/profiles/99
expect 404 '{"status":404,"message":"profile 99 not found","errorCode":1200,"timestamp":T}' "unknown profile"
api GET /api/v1/organizations/user
expect 200 "{\"organizationId\":42,\"organizationName\":\"TRISA Emulator\",\"address\":\"127.0.0.1\",\"primaryContactName\":\"Emulator Operator\",\"primaryContactEmail\":\"operator@example.com\",\"primaryContactPhone\":\"+1 555 0100\",\"manufactureId\":\"\",\"logo\":\"\",\"authorities\":[$AUTH],\"ecosystemId\":100,\"organizationParameters\":{},\"orgStatus\":\"ACTIVE\"}" "organization"
ok "authorities, balance, devices, profiles, parameters, organization: exact JSON"

# ---- CSR upload: one CSR ----
csr one.example.com
upload "$T/one.example.com.csr"
expect 200 "$(batch 1 1001 1 PROCESSING true '' '' false true)" "upload one CSR"
api GET /api/v1/batches/1/status
expect 200 "Processing" "status while processing"
assert_eq "$(header Content-Type)" "text/plain;charset=UTF-8" "status content type"
api GET /api/v1/batches/1/processing_info
expect 200 '{"active":1,"success":0,"failed":0}' "processing_info while processing"
api GET /api/v1/batches/1/download
expect 400 '{"status":400,"message":"batch 1 is not ready for download (PROCESSING)","errorCode":1301,"timestamp":T}' "download too early"
wait_ready 1
api GET /api/v1/batches/1
expect 200 "$(batch 1 1001 1 READY_FOR_DOWNLOAD false '' '' true true)" "ready batch"
api GET /api/v1/batches/1/processing_info
expect 200 '{"active":0,"success":1,"failed":0}' "processing_info when ready"
api GET /api/v1/batches/1/download -H 'Accept: application/octet-stream' -o "$T/1.zip"
assert_eq "$STATUS" 200 "download"
assert_eq "$(header Content-Type)" "application/octet-stream" "download content type"
assert_eq "$(header Content-Disposition)" 'attachment; filename="1.zip"' "Content-Disposition"
cp "$T/.body" "$T/1.zip"
run unzip -Z1 "$T/1.zip"
assert_eq "$OUT" "one.example.com.pem" "ZIP members"
unzip -p "$T/1.zip" one.example.com.pem >"$T/one.pem"
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/one.pem")" 3 "leaf, issuing, root"
run openssl verify -CAfile "$EMU_CA" -untrusted "$T/one.pem" "$T/one.pem"
assert_rc 0 "leaf verifies against root.pem"
assert_eq "$OUT" "$T/one.pem: OK" "openssl verify of the leaf"
run openssl x509 -in "$T/one.pem" -noout -ext subjectAltName,extendedKeyUsage -subject
assert_contains "$OUT" "DNS:one.example.com" "SAN"
assert_contains "$OUT" "TLS Web Server Authentication, TLS Web Client Authentication" "EKU"
assert_contains "$OUT" "subject=CN = one.example.com, O = Test VASP" "subject from the CSR"
assert_eq "$(openssl x509 -in "$T/one.pem" -noout -pubkey)" "$(openssl pkey -in "$T/one.example.com.key" -pubout)" "leaf holds the CSR key"
api GET /api/v1/batches/1
expect 200 "$(batch 1 1001 1 COLLECTED false '' '' true true)" "collected after download"
api GET /api/v1/batches/1/download
assert_eq "$STATUS" 200 "download again"
cmp -s "$T/.body" "$T/1.zip" || fail "second download differs"
ok "upload of one CSR: PROCESSING, Ready for download, ZIP with leaf+issuing+root, COLLECTED"

# ---- several PEM CSRs in one file; a ZIP of CSRs ----
csr a.example.com
csr b.example.com
csr c.example.com
cat "$T/a.example.com.csr" "$T/b.example.com.csr" "$T/c.example.com.csr" >"$T/three.pem"
upload "$T/three.pem" application/x-x509-ca-cert
expect 200 "$(batch 2 1002 3 PROCESSING true '' '' false true)" "upload three CSRs"
csr d.example.com
csr e.example.com
(cd "$T" && zip -q csrs.zip d.example.com.csr e.example.com.csr)
upload "$T/csrs.zip" application/zip
expect 200 "$(batch 3 1003 2 PROCESSING true '' '' false true)" "upload a ZIP of CSRs"
wait_ready 3
api GET /api/v1/batches/2/download
cp "$T/.body" "$T/2.zip"
assert_eq "$(unzip -Z1 "$T/2.zip" | sort | tr '\n' ' ')" "a.example.com.pem b.example.com.pem c.example.com.pem " "three members"
api GET /api/v1/batches/3/download
cp "$T/.body" "$T/3.zip"
assert_eq "$(unzip -Z1 "$T/3.zip" | sort | tr '\n' ' ')" "d.example.com.pem e.example.com.pem " "ZIP upload members"
api GET /api/v1/authorities/1/balanceavailable
expect 200 4 "balance after six certificates"
api GET /api/v1/devices
expect 200 '{"ordered":6,"issued":6}' "devices after six"
ok "several PEM CSRs in one file and a ZIP of CSRs make batches of that size; licences taken"

# ---- rejected uploads ----
printf 'not a CSR\n' >"$T/garbage.csr"
upload "$T/garbage.csr"
expect 400 '{"status":400,"message":"no certificate signing request found","errorCode":1000,"timestamp":T}' "garbage upload"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' >"$T/broken.csr"
upload "$T/broken.csr"
expect 400 '{"status":400,"message":"CSR 1 does not parse","errorCode":1000,"timestamp":T}' "broken PEM"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/nosan.key" -subj "/CN=nosan.example.com" -out "$T/nosan.csr" 2>/dev/null
upload "$T/nosan.csr"
expect 200 "$(batch 4 1004 1 NOT_ACCEPTABLE false '' 'CSR 1: no subjectAltName dNSName' false false)" "CSR without SAN"
api GET /api/v1/batches/4/status
expect 200 "Not Acceptable. Status: CSR 1: no subjectAltName dNSName" "not acceptable status"
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/weak.key" -subj "/CN=weak.example.com" -addext "subjectAltName=DNS:weak.example.com" -out "$T/weak.csr" 2>/dev/null
upload "$T/weak.csr"
expect 200 "$(batch 5 1005 1 NOT_ACCEPTABLE false '' 'CSR 1: RSA key of 1024 bits; the profile needs 2048' false false)" "weak key"
csr sig.example.com
openssl req -in "$T/sig.example.com.csr" -outform DER -out "$T/sig.der"
size=$(stat -c %s "$T/sig.der")
last=$(od -An -tx1 -j $((size - 1)) "$T/sig.der" | tr -d ' ')
if [ "$last" = "00" ]; then printf '\001'; else printf '\000'; fi | dd of="$T/sig.der" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
openssl req -inform DER -in "$T/sig.der" -out "$T/badsig.csr" 2>/dev/null
upload "$T/badsig.csr"
expect 200 "$(batch 6 1006 1 NOT_ACCEPTABLE false '' 'CSR 1: bad signature' false false)" "bad signature"
api GET /api/v1/batches/6/download
assert_eq "$STATUS" 400 "download of a rejected batch"
api POST /api/v1/batches/upload -H 'Content-Type: application/json' -d '{}'
assert_eq "$STATUS" 415 "upload without multipart"
api POST /api/v1/batches/upload -H 'Content-Type: multipart/form-data; boundary=xyz' --data-binary 'garbage'
expect 400 '{"status":400,"message":"malformed multipart body","errorCode":1000,"timestamp":T}' "malformed multipart"
api POST /api/v1/batches/upload -F profileId=7 -F "files=@$T/a.example.com.csr"
expect 404 '{"status":404,"message":"profile 7 not found","errorCode":1200,"timestamp":T}' "unknown profile upload"
api GET /api/v1/authorities/1/balanceavailable
expect 200 4 "rejected uploads take no licence"
ok "rejected uploads: 400 unparsable, NOT_ACCEPTABLE with rejectReason for no SAN, weak key, bad signature"

# ---- createSingleCertBatch ----
create() { api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json;charset=UTF-8' -d "$1"; }
create '{"authorityId":42,"batchName":"x","profileParams":{"commonName":"x.example.com","pkcs12Password":"secretpassword","colour":"blue"}}'
expect 400 '{"status":400,"message":"unknown profile parameter colour","errorCode":1001,"timestamp":T}' "unknown parameter"
create '{"authorityId":42,"batchName":"x","profileParams":{"commonName":"x.example.com"}}'
expect 400 '{"status":400,"message":"parameter pkcs12Password is required","errorCode":1001,"timestamp":T}' "missing required"
create '{"authorityId":42,"batchName":"x","profileParams":{"commonName":"x.example.com","pkcs12Password":"secretpassword","countryName":"usa"}}'
expect 400 '{"status":400,"message":"parameter countryName: two capital letters","errorCode":1001,"timestamp":T}' "pattern"
create '{"authorityId":77,"batchName":"x","profileParams":{"commonName":"x.example.com","pkcs12Password":"secretpassword"}}'
expect 404 '{"status":404,"message":"authority 77 not found","errorCode":1200,"timestamp":T}' "unknown authority"
create '{"authorityId":42,'
assert_eq "$STATUS" 400 "malformed create"
create '{"authorityId":42,"batchName":"example.com certs","profileParams":{"commonName":"example.com","dNSName":"example.com\nwww.example.com","pkcs12Password":"secrtpasswrd","countryName":"US","stateOrProvinceName":"CA","localityName":"Menlo Park","organizationName":"Example"}}'
expect 200 "$(batch 7 1007 1 PROCESSING true 'example.com certs' '' false true)" "createSingleCertBatch"
wait_ready 7
api GET /api/v1/batches/7/download
cp "$T/.body" "$T/7.zip"
mkdir "$T/b7"
(cd "$T/b7" && unzip -q "$T/7.zip")
assert_dir_is "$T/b7" "example.com.p12"
run openssl pkcs12 -legacy -info -in "$T/b7/example.com.p12" -passin pass:secrtpasswrd -noout
assert_rc 0 "pkcs12 -legacy"
info=$(printf '%s\n' "$ERR" | grep -v '^Certificate bag\|^PKCS7 Data\|salt length')
expected="MAC: sha1, Iteration 1
PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048
Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048"
assert_eq "$info" "$expected" "legacy algorithms as a real bundle"
assert_eq "$(printf '%s\n' "$ERR" | grep -c '^Certificate bag')" 3 "three certificates"
openssl pkcs12 -legacy -in "$T/b7/example.com.p12" -passin pass:secrtpasswrd -nokeys -out "$T/b7/certs.pem" 2>/dev/null
openssl pkcs12 -legacy -in "$T/b7/example.com.p12" -passin pass:secrtpasswrd -nocerts -nodes -out "$T/b7/key.pem" 2>/dev/null
openssl pkcs12 -legacy -in "$T/b7/example.com.p12" -passin pass:secrtpasswrd -clcerts -nokeys -out "$T/b7/leaf.pem" 2>/dev/null
run openssl verify -CAfile "$EMU_CA" -untrusted "$T/b7/certs.pem" "$T/b7/leaf.pem"
assert_rc 0 "p12 leaf verifies"
assert_eq "$(openssl x509 -in "$T/b7/leaf.pem" -noout -pubkey)" "$(openssl pkey -in "$T/b7/key.pem" -pubout)" "key matches leaf"
run openssl pkey -in "$T/b7/key.pem" -noout -text
assert_contains "$OUT" "(4096 bit" "server key size"
run openssl x509 -in "$T/b7/leaf.pem" -noout -subject -ext subjectAltName
assert_contains "$OUT" "subject=C = US, ST = CA, L = Menlo Park, O = Example, CN = example.com" "subject"
assert_contains "$OUT" "DNS:example.com, DNS:www.example.com" "SANs"
run openssl pkcs12 -legacy -in "$T/b7/example.com.p12" -passin pass:wrong -noout
[ "$RC" -ne 0 ] || fail "wrong password accepted"
ok "createSingleCertBatch: validation; RSA-4096 key; legacy PKCS#12 (RC2/3DES, 2048 iter, SHA-1 MAC) with leaf, issuing, root"

# ---- licences ----
api GET /api/v1/authorities/1/balanceavailable
expect 200 3 "balance"
cat "$T/a.example.com.csr" "$T/b.example.com.csr" "$T/c.example.com.csr" "$T/d.example.com.csr" >"$T/four.pem"
upload "$T/four.pem"
expect 400 '{"status":400,"message":"authority 1 has fewer than 4 licences left","errorCode":1300,"timestamp":T}' "too few licences"
cat "$T/a.example.com.csr" "$T/b.example.com.csr" "$T/c.example.com.csr" >"$T/three2.pem"
upload "$T/three2.pem"
assert_eq "$STATUS" 200 "last three licences"
create '{"authorityId":42,"batchName":"none left","profileParams":{"commonName":"z.example.com","pkcs12Password":"secretpassword"}}'
expect 400 '{"status":400,"message":"no licences left on authority 1","errorCode":1300,"timestamp":T}' "no licences left"
api GET /api/v1/authorities/1/balanceavailable
expect 200 0 "balance"
api GET /api/v1/devices
expect 200 '{"ordered":10,"issued":10}' "devices"
api GET /api/v1/authorities/allowed
assert_contains "$BODY" '"balance":0,' "authority balance"
ok "licences: each certificate takes one; creation fails with the error JSON when none are left"

# ---- find, revoke, CRL ----
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"one.example.com"}'
assert_eq "$STATUS" 200 "find"
SERIAL=$(printf '%s' "$BODY" | sed -n 's/.*"serialNumber":"\([0-9A-F]*\)".*/\1/p')
assert_eq "$SERIAL" "$(openssl x509 -in "$T/one.pem" -noout -serial | cut -d= -f2)" "serial"
expect 200 "{\"totalCount\":1,\"items\":[{\"deviceId\":\"1\",\"commonName\":\"one.example.com\",\"serialNumber\":\"$SERIAL\",\"creationDate\":D,\"status\":\"ISSUED\"}]}" "find by name"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d "{\"serialNumber\":\"$(printf '%s' "$SERIAL" | tr 'A-F' 'a-f')\"}"
assert_contains "$BODY" '{"totalCount":1,' "find by serial"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"a.example.com"}'
assert_contains "$BODY" '{"totalCount":2,' "find two"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"nobody.example.com"}'
expect 200 '{"totalCount":0,"items":[]}' "find nothing"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{}'
expect 400 '{"status":400,"message":"commonName or serialNumber is required","errorCode":1001,"timestamp":T}' "find without criteria"
api POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d "{\"reasonCode\":7,\"serialNumber\":\"$SERIAL\"}"
expect 400 '{"status":400,"message":"reasonCode must be an RFC 5280 reason: 0-10 but 7","errorCode":1001,"timestamp":T}' "reason 7"
api POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d '{"reasonCode":1,"serialNumber":"ABCDEF"}'
expect 404 '{"status":404,"message":"certificate ABCDEF not found","errorCode":1200,"timestamp":T}' "unknown serial"
api POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d "{\"reasonCode\":5,\"serialNumber\":\"$SERIAL\"}"
expect 200 "" "revoke"
api POST /api/v1/certificates/42/revoke -H 'Content-Type: application/json' -d "{\"reasonCode\":5,\"serialNumber\":\"$SERIAL\"}"
expect 409 "{\"status\":409,\"message\":\"certificate $SERIAL is already revoked\",\"errorCode\":1303,\"timestamp\":T}" "revoke twice"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"one.example.com"}'
assert_contains "$BODY" '"status":"REVOKED"}' "find after revoke"
run openssl crl -in "$EMU_STATE/ca/crl.pem" -noout -text
assert_rc 0 "crl.pem parses"
assert_contains "$OUT" "Serial Number: $SERIAL" "CRL lists the serial"
assert_contains "$OUT" "Cessation Of Operation" "CRL reason"
run openssl verify -crl_check -CRLfile "$EMU_STATE/ca/crl.pem" -CAfile "$EMU_CA" -untrusted "$T/one.pem" "$T/one.pem"
assert_contains "$OUT$ERR" "certificate revoked" "openssl verify -crl_check"
unzip -p "$T/2.zip" a.example.com.pem >"$T/a.pem"
run openssl verify -crl_check -CRLfile "$EMU_STATE/ca/crl.pem" -CAfile "$EMU_CA" -untrusted "$T/a.pem" "$T/a.pem"
assert_rc 0 "a certificate not revoked still verifies with the CRL"
assert_eq "$OUT" "$T/a.pem: OK" "openssl verify -crl_check of a certificate not revoked"
ok "find by name and serial; revoke with RFC 5280 codes; CRL at DIR/ca/crl.pem; 404, 409, 400"

# ---- bad input ----
head -c 5000000 /dev/zero >"$T/big"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' --data-binary "@$T/big"
expect 413 '{"status":413,"message":"request body larger than 4194304 bytes","errorCode":1202,"timestamp":T}' "oversized body"
api GET /api/v1/batches/999
expect 404 '{"status":404,"message":"batch 999 not found","errorCode":1200,"timestamp":T}' "unknown batch"
api GET /api/v1/batches/abc
assert_eq "$STATUS" 404 "non-numeric batch id"
api GET /api/v1/batches/99999999999999999999
assert_eq "$STATUS" 404 "huge batch id"
api DELETE /api/v1/batches/1
expect 405 '{"status":405,"message":"method DELETE not allowed on /api/v1/batches/1","errorCode":1201,"timestamp":T}' "wrong method"
assert_eq "$(header Allow)" "GET" "Allow header"
api GET /api/v1/certificates/42/revoke
assert_eq "$(header Allow)" "POST" "Allow header"
req GET /nowhere
expect 404 '{"status":404,"message":"no such path: /nowhere","errorCode":1200,"timestamp":T}' "unknown path"
# Routing is on the path as sent: an encoded slash is no separator.
api GET /api/v1/batches/1%2fdownload
expect 404 '{"status":404,"message":"no such path: /api/v1/batches/1%2fdownload","errorCode":1200,"timestamp":T}' "percent-encoded slash"
api GET /api/v1/batches/%31
assert_eq "$STATUS" 404 "percent-encoded digit"
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' -d '[1,2'
assert_eq "$STATUS" 400 "truncated JSON"
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' --data-binary "@$T/big"
assert_eq "$STATUS" 413 "oversized create"
mp() { api POST /api/v1/batches/upload -H "Content-Type: multipart/form-data; boundary=$1" --data-binary "$2"; }
crlf=$'\r\n'
mp b "--b${crlf}Content-Disposition: form-data; name=\"files\"${crlf}${crlf}x"
assert_eq "$STATUS" 400 "part without a closing delimiter"
mp b "--b${crlf}Content-Disposition: form-data; name=\"files\"${crlf}"
assert_eq "$STATUS" 400 "headers without an end"
mp b "--b--"
expect 400 '{"status":400,"message":"profileId is required","errorCode":1001,"timestamp":T}' "no parts"
mp b "--b${crlf}Content-Disposition: form-data; name=\"profileId\"${crlf}${crlf}42${crlf}--b--"
expect 400 '{"status":400,"message":"the files part with CSRs is required","errorCode":1001,"timestamp":T}' "no files part"
mp b "--b${crlf}Content-Disposition: form-data; name=\"profileId\"${crlf}${crlf}4x2${crlf}--b--"
assert_eq "$STATUS" 400 "non-numeric profileId"
many=""
for i in $(seq 1 20); do many="$many--b${crlf}Content-Disposition: form-data; name=\"f$i\"${crlf}${crlf}v${crlf}"; done
mp b "$many--b--"
assert_eq "$STATUS" 400 "too many parts"
mp b "--b${crlf}Content-Disposition: form-data; name=\"$(head -c 300 /dev/zero | tr '\0' n)\"${crlf}${crlf}v${crlf}--b--"
assert_eq "$STATUS" 400 "overlong part name"
api POST /api/v1/batches/upload -H 'Content-Type: multipart/form-data' --data-binary x
assert_eq "$STATUS" 415 "multipart without a boundary"
api POST /api/v1/batches/upload -F profileId=42 -F "csrBatchRequest={broken;type=application/json" -F "files=@$T/a.example.com.csr"
expect 400 '{"status":400,"message":"csrBatchRequest is not a JSON object","errorCode":1000,"timestamp":T}' "broken csrBatchRequest"
printf 'PK\003\004 not really a zip' >"$T/fake.zip"
upload "$T/fake.zip" application/zip
expect 400 '{"status":400,"message":"ZIP upload: not a valid ZIP archive (Not a zip archive): truncated, corrupt or not a ZIP file","errorCode":1000,"timestamp":T}' "corrupt ZIP upload"
# The library's safe ZIP reader judges uploads too: a path out of the archive is refused.
python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("../up.csr", open(sys.argv[2]).read())' "$T/evil.zip" "$T/a.example.com.csr"
upload "$T/evil.zip" application/zip
expect 400 "{\"status\":400,\"message\":\"ZIP upload: ZIP entry '../up.csr': '..' component in path\",\"errorCode\":1000,\"timestamp\":T}" "ZIP entry out of the archive"
kill -0 "$EMU_PID" || fail "server died"
ok "bad input: 413, 404 (also for percent-encoded paths), 405, 400, broken multipart and ZIPs; the server survives"

# ---- restart persistence ----
root_before=$(openssl x509 -in "$EMU_CA" -noout -fingerprint)
stop_emulator || fail "unclean exit"
start_emulator --test-hooks --processing-delay 60
# The clock hook's shift is not kept: set it again for batches made on the shifted clock.
curl -sS -f -o /dev/null -X PUT "$EMU_URL/_emulator/clock" -d "{\"offsetSeconds\":$SHIFT}" || fail "clock"
assert_eq "$(openssl x509 -in "$EMU_CA" -noout -fingerprint)" "$root_before" "CA reused"
api GET /api/v1/batches/3/download
assert_eq "$STATUS" 200 "download after restart (old token still valid)"
cmp -s "$T/.body" "$T/3.zip" || fail "bundle changed across restart"
api GET /api/v1/authorities/1/balanceavailable
expect 200 0 "balance persisted"
api GET /api/v1/batches/2
assert_contains "$BODY" '"status":"COLLECTED"' "collected persisted"
ok "restart: same CA, batches downloadable, balance and tokens persisted"
stop_emulator || fail "unclean exit"
start_emulator
api GET /_emulator/requests
assert_eq "$STATUS" 404 "no test hooks without --test-hooks"
api PUT /_emulator/clock -d '{"offsetSeconds":100000}'
assert_eq "$STATUS" 404 "no clock hook without --test-hooks"
ok "without --test-hooks, /_emulator/* does not exist"

# ---- the request log ----
log=$(cat "$EMU_LOG")
assert_contains "$log" "GET /api/v1/authorities/allowed 200 " "request log"
assert_contains "$log" "POST /auth/pwd 401 " "request log"
assert_not_contains "$log" "$TOKEN" "request log"
assert_not_contains "$log" "staging-password" "request log"
assert_not_contains "$log" "secrtpasswrd" "request log"
ok "one log line per request on stderr; no token or password in it"
stop_emulator || fail "the emulator did not exit cleanly"
done_testing
