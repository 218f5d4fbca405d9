# sectigo serve's configuration: the compiled-in sets (--print-config, --profile-set
# reference), --cert-lifetime, the address rules (non-loopback needs TLS or
# --insecure-bind; the test hooks answer loopback clients only; ":PORT"), the reference
# server's SIAS_* variables, and ./.env read as godotenv reads it.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl
need python3
need unzip
SKIPPED=""

req() {
    local m=$1 p=$2
    shift 2
    STATUS=$(curl -sS -X "$m" -o "$T/.body" -w '%{http_code}' "$@" "$EMU_URL$p") || fail "curl $m $p"
    BODY=$(sed -e 's/"timestamp":[0-9]*/"timestamp":T/' -e 's/"creationDate":"[^"]*"/"creationDate":D/g' "$T/.body")
}
api() { req "$1" "$2" -H "Authorization: Bearer $TOKEN" "${@:3}"; }
newcsr() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
        -subj "/CN=$1" -addext "subjectAltName=DNS:$1" -out "$T/$1.csr" 2>/dev/null || fail "csr $1"
}

# ---- the compiled-in configurations ----
run sectigo serve --print-config
assert_rc 0 "--print-config"
printf '%s' "$OUT" >"$T/printed.json"
cmp -s <(sectigo serve --print-config) "$TRISA_SOURCE_DIR/conf/emulator.json" || fail "--print-config is not conf/emulator.json"
cmp -s <(sectigo serve --profile-set reference --print-config) "$TRISA_SOURCE_DIR/conf/emulator-reference.json" ||
    fail "--profile-set reference --print-config is not conf/emulator-reference.json"
run sectigo serve --profile-set nonesuch
assert_rc 2 "unknown profile set"
assert_contains "$ERR" "--profile-set: expected default or reference, got 'nonesuch'"
run sectigo serve --profile-set reference --config "$T/printed.json"
assert_rc 2 "--config with --profile-set"
assert_contains "$ERR" "sectigo serve: --config and --profile-set exclude each other"
ok "--print-config writes the compiled-in configuration (conf/emulator.json, byte for byte), --profile-set reference its own"

# A copy of the binary in a prefix holding another emulator.json: the compiled-in one is
# used, never a file found beside the binary.
mkdir -p "$T/prefix/bin" "$T/prefix/share/trisa"
cp "$(command -v sectigo)" "$T/prefix/bin/sectigo"
sed 's/"balance": 10,/"balance": 777,/' "$T/printed.json" >"$T/prefix/share/trisa/emulator.json"
PATH="$T/prefix/bin:$PATH" start_emulator --processing-delay 0
[ "$(readlink -f "/proc/$EMU_PID/exe")" = "$(readlink -f "$T/prefix/bin/sectigo")" ] || fail "not the copy"
TOKEN=$(emu_token)
api GET /api/v1/authorities/1/balanceavailable
assert_eq "$BODY" 10 "the compiled-in balance, not the file's 777"
stop_emulator || fail "unclean exit"
ok "a binary beside another version's share/trisa/emulator.json uses its compiled-in configuration"

# ---- --cert-lifetime ----
run sectigo serve --cert-lifetime 10x
assert_rc 2 "bad lifetime"
assert_contains "$ERR" "--cert-lifetime: expected a duration such as 60s, 10m, 12h or 397d (at most 3650d), got '10x'"
run sectigo serve --cert-lifetime 3651d
assert_rc 2 "lifetime too long"
sed 's/"serverKeyBits": 4096/"serverKeyBits": 2048/' "$T/printed.json" >"$T/quick.json"
EMU_STATE=$T/life start_emulator --processing-delay 0 --cert-lifetime 60s --config "$T/quick.json"
TOKEN=$(emu_token)
newcsr short.example.com
before=$(date +%s)
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/short.example.com.csr;type=text/plain"
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
unzip -p "$T/.body" short.example.com.pem | openssl x509 -out "$T/short.pem"
nb=$(date -d "$(openssl x509 -in "$T/short.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/short.pem" -noout -enddate | cut -d= -f2)" +%s)
assert_eq "$((na - nb))" 60 "notAfter - notBefore"
[ "$nb" -le "$before" ] || fail "notBefore $nb is after the upload ($before)"
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' \
    -d '{"authorityId":42,"batchName":"s","profileParams":{"commonName":"p12.example.com","pkcs12Password":"password-1"}}'
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
unzip -p "$T/.body" p12.example.com.p12 >"$T/s.p12"
openssl pkcs12 -legacy -in "$T/s.p12" -passin pass:password-1 -clcerts -nokeys -out "$T/p12leaf.pem" 2>/dev/null
nb=$(date -d "$(openssl x509 -in "$T/p12leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/p12leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
assert_eq "$((na - nb))" 60 "server-made key's certificate lifetime"
stop_emulator || fail "unclean exit"
python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["profiles"][0]["validity"] = "10m"; json.dump(c, open(sys.argv[2], "w"))' \
    "$T/quick.json" "$T/tenmin.json"
EMU_STATE=$T/life start_emulator --processing-delay 0 --config "$T/tenmin.json"
TOKEN=$(emu_token)
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/short.example.com.csr;type=text/plain"
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
unzip -p "$T/.body" short.example.com.pem | openssl x509 -out "$T/ten.pem"
nb=$(date -d "$(openssl x509 -in "$T/ten.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/ten.pem" -noout -enddate | cut -d= -f2)" +%s)
assert_eq "$((na - nb))" 600 "validity 10m in the config"
stop_emulator || fail "unclean exit"
ok "--cert-lifetime 60s (and \"validity\": \"10m\" in the config): certificates valid exactly that long"

# ---- the address rules ----
run sectigo serve --state-dir "$T/nb" --addr 0.0.0.0:0 --test-hooks
assert_rc 3 "all interfaces over plain http"
assert_eq "$ERR" "sectigo serve: error: address 0.0.0.0:0 is not loopback: serving plain http beyond this host needs --insecure-bind (or TLS with --tls-self-signed or --tls-cert/--tls-key)" "message"
assert_missing "$T/nb"
run sectigo serve --state-dir "$T/nb" --addr 192.0.2.1:0
assert_rc 3 "a non-loopback address over plain http"
EMU_STATE=$T/nb start_emulator --addr 0.0.0.0:0 --insecure-bind --test-hooks
assert_contains "$EMU_URL" "http://0.0.0.0:" "all interfaces"
assert_contains "$(cat "$EMU_LOG")" "sectigo serve: listening on 0.0.0.0:0 over plain http (--insecure-bind); the test hooks answer loopback clients only" "the choice logged"
assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EMU_PORT/_emulator/requests")" 200 "hooks from loopback"
IP=$( (hostname -I 2>/dev/null || true) | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -n 1)
if [ -n "$IP" ]; then
    assert_eq "$(curl -sS -o "$T/.h" -w '%{http_code}' "http://$IP:$EMU_PORT/_emulator/requests")" 404 "hooks from $IP"
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -d '{"offsetSeconds":5}' "http://$IP:$EMU_PORT/_emulator/clock")" 404 "clock hook from $IP"
    assert_eq "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" -d '{}' "http://$IP:$EMU_PORT/auth/pwd")" 400 "the API from $IP"
else
    SKIPPED="$SKIPPED hooks-from-a-non-loopback-address"
fi
stop_emulator || fail "unclean exit"
# ":PORT" (Go's all interfaces): loopback unless TLS or --insecure-bind, with a warning.
SIAS_BIND_ADDR=:0 EMU_ADDR= EMU_STATE=$T/nb start_emulator
assert_contains "$EMU_URL" "http://127.0.0.1:" "':0' without TLS"
assert_contains "$(cat "$EMU_LOG")" "sectigo serve: :0 binds loopback only: all interfaces need TLS (--tls-*) or --insecure-bind" "warning"
stop_emulator || fail "unclean exit"
SIAS_BIND_ADDR=:0 EMU_ADDR= EMU_STATE=$T/nb start_emulator --tls-self-signed
assert_contains "$EMU_URL" "https://0.0.0.0:" "':0' with TLS"
stop_emulator || fail "unclean exit"
ok "0.0.0.0 without TLS refused (exit 3, nothing made); --insecure-bind logs its choice; hooks loopback-only; ':PORT' as described"

# ---- SIAS_* and ./.env ----
cat >"$T/.env" <<'EOF'
# the reference's variables, in godotenv's forms
SIAS_AUTH_USERNAME: alice
export SIAS_AUTH_PASSWORD="${PASS_PREFIX}-$PASS_SUFFIX"   # expanded from the environment
PASS_SUFFIX=from-the-file
SIAS_LOG_LEVEL = 'warn'
NOT_SIAS=ignored
EOF
chmod 600 "$T/.env" # it holds a password: readable by others, it would be used with a warning
PASS_PREFIX=env EMU_STATE=$T/env start_emulator --processing-delay 0
# $PASS_SUFFIX comes later in the file: as in godotenv, it is not seen yet (empty).
[ -n "$(emu_token alice env-)" ] || fail "alice / env- (a later line is not expanded)"
stop_emulator || fail "unclean exit"
sed -i 's/^PASS_SUFFIX=from-the-file$//; s/^export SIAS_AUTH_PASSWORD/PASS_SUFFIX=from-the-file\nexport SIAS_AUTH_PASSWORD/' "$T/.env"
: >"$T/emulator.log"
PASS_PREFIX=env EMU_STATE=$T/env start_emulator --processing-delay 0
TOKEN=$(emu_token alice env-from-the-file)
[ -n "$TOKEN" ] || fail "the .env account cannot log in: $(cat "$T/.env")"
api GET /api/v1/devices
assert_eq "$STATUS" 200 "alice"
req GET /nowhere
log=$(grep -v '^sectigo serve' "$EMU_LOG")
assert_eq "$log" "GET /nowhere 404 ${log##* 404 }" "SIAS_LOG_LEVEL=warn: only the 4xx line"
[ -z "${NOT_SIAS:-}" ] || fail "the test's own environment"
stop_emulator || fail "unclean exit"
SIAS_AUTH_USERNAME=bob PASS_PREFIX=env EMU_STATE=$T/env start_emulator --processing-delay 0
assert_eq "$(emu_token alice env-from-the-file)" "" "the environment wins over .env"
[ -n "$(emu_token bob env-from-the-file)" ] || fail "bob"
stop_emulator || fail "unclean exit"
# A file godotenv cannot read is not used at all (a warning says where).
printf 'SIAS_AUTH_USERNAME=carol\nSIAS_AUTH_PASSWORD="unterminated\n' >"$T/.env"
chmod 600 "$T/.env"
: >"$T/emulator.log"
EMU_STATE=$T/env2 start_emulator --processing-delay 0
assert_contains "$(cat "$EMU_LOG")" "sectigo: warning: .env:2: syntax error (as godotenv reads it); nothing was taken from the file" "warning"
assert_eq "$(emu_token carol unterminated)" "" "nothing from the broken file"
[ -n "$(emu_token staging staging-password)" ] || fail "the compiled-in account"
stop_emulator || fail "unclean exit"
rm -f "$T/.env"
ok "./.env as godotenv reads it (KEY: value, export, quotes, \${VAR}/\$VAR, comments); the environment wins; a broken file is not used"

: >"$T/emulator.log"
SIAS_CONSOLE_LOG=false EMU_STATE=$T/env start_emulator --processing-delay 0
req GET /nowhere
stop_emulator || fail "unclean exit"
python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) == 1, lines
l = lines[0]
assert (l["level"], l["path"], l["method"], l["status"], l["ser_name"], l["client_ip"], l["message"]) == \
    ("warn", "/nowhere", "GET", 404, "sias", "127.0.0.1", "sias GET /nowhere 404"), l
assert list(l) == ["level", "path", "ser_name", "method", "resp_time", "status", "client_ip", "severity", "time", "message"], list(l)' "$EMU_LOG" ||
    fail "SIAS_CONSOLE_LOG=false: $(cat "$EMU_LOG")"
SIAS_LOG_LEVEL=verbose run sectigo serve --state-dir "$T/env3"
assert_rc 2 "bad SIAS_LOG_LEVEL"
SIAS_CONSOLE_LOG=maybe run sectigo serve --state-dir "$T/env3"
assert_rc 2 "bad SIAS_CONSOLE_LOG"
ok "SIAS_CONSOLE_LOG=false: one JSON object a line in the reference logger's fields; bad values are usage errors"

# SIAS_CA_PATH: a CA of our own (certificate and key in one PEM file) issues.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/myca.key" \
    -subj "/CN=My Staging CA" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$T/myca.pem" 2>/dev/null
cat "$T/myca.pem" "$T/myca.key" >"$T/myca-bundle.pem"
SIAS_CA_PATH=$T/myca-bundle.pem EMU_STATE=$T/myca start_emulator --processing-delay 0
TOKEN=$(emu_token)
newcsr ownca.example.com
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/ownca.example.com.csr;type=text/plain"
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
unzip -p "$T/.body" ownca.example.com.pem >"$T/ownca.pem"
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/ownca.pem")" 3 "leaf, issuing (= root) and root"
run openssl verify -CAfile "$T/myca.pem" "$T/ownca.pem"
assert_rc 0 "the leaf verifies against SIAS_CA_PATH's CA"
assert_eq "$OUT" "$T/ownca.pem: OK" "openssl verify against SIAS_CA_PATH's CA"
run openssl crl -in "$T/myca/ca/crl.pem" -noout -issuer
assert_contains "$OUT" "CN = My Staging CA" "the CRL is signed by that CA"
stop_emulator || fail "unclean exit"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leafonly.key" \
    -subj "/CN=not a CA" -days 30 -addext "basicConstraints=critical,CA:FALSE" -out "$T/leafonly.pem" 2>/dev/null
cat "$T/leafonly.pem" "$T/leafonly.key" >"$T/leafonly-bundle.pem"
SIAS_CA_PATH=$T/leafonly-bundle.pem run sectigo serve --state-dir "$T/myca2"
assert_rc 3 "SIAS_CA_PATH that is no CA"
assert_contains "$ERR" "the certificate of the key is not a CA"
SIAS_CA_PATH=$T/myca.pem run sectigo serve --state-dir "$T/myca2"
assert_rc 3 "SIAS_CA_PATH without its key"
assert_contains "$ERR" "no (unencrypted) private key"
openssl pkcs8 -topk8 -in "$T/myca.key" -passout pass:secret -out "$T/myca-enc.key" 2>/dev/null
cat "$T/myca.pem" "$T/myca-enc.key" >"$T/myca-enc-bundle.pem"
SIAS_CA_PATH=$T/myca-enc-bundle.pem run sectigo serve --state-dir "$T/myca2"
assert_rc 3 "SIAS_CA_PATH with an encrypted key"
assert_contains "$ERR" "myca-enc-bundle.pem: no (unencrypted) private key"
ok "SIAS_CA_PATH: certificates from the given CA (and its CRL); a file without a CA key, or with an encrypted one, is refused"

# The key first, in the traditional "EC PRIVATE KEY" form: the same CA.
openssl ec -in "$T/myca.key" -out "$T/myca-ec.key" 2>/dev/null
head -n 1 "$T/myca-ec.key" | grep -q "BEGIN EC PRIVATE KEY" || fail "openssl ec wrote no traditional key"
cat "$T/myca-ec.key" "$T/myca.pem" >"$T/myca-ec-bundle.pem"
SIAS_CA_PATH=$T/myca-ec-bundle.pem EMU_STATE=$T/myca3 start_emulator --processing-delay 0
TOKEN=$(emu_token)
newcsr ownca2.example.com
api POST /api/v1/batches/upload -F profileId=42 -F "files=@$T/ownca2.example.com.csr;type=text/plain"
id=$(printf '%s' "$BODY" | sed -n 's/.*"batchId":\([0-9]*\).*/\1/p')
api GET "/api/v1/batches/$id/download"
unzip -p "$T/.body" ownca2.example.com.pem >"$T/ownca2.pem"
run openssl verify -CAfile "$T/myca.pem" "$T/ownca2.pem"
assert_rc 0 "the leaf verifies against the CA whose key came first, as EC PRIVATE KEY"
assert_eq "$OUT" "$T/ownca2.pem: OK" "openssl verify against the CA whose key came first"
stop_emulator || fail "unclean exit"
ok "SIAS_CA_PATH: the key may come first and in the traditional EC PRIVATE KEY form"

# ---- --profile-set reference: the reference staging server's ids ----
EMU_STATE=$T/ref start_emulator --processing-delay 0 --profile-set reference
TOKEN=$(emu_token)
A489='{"id":489,"ecosystemId":21,"signerCertificateId":0,"ecosystemName":"Staging","balance":100,"enabled":true,"profileId":489,"profileName":"CipherTrace End Entity Certificate_#85"}'
A423='{"id":423,"ecosystemId":21,"signerCertificateId":0,"ecosystemName":"Staging","balance":100,"enabled":true,"profileId":423,"profileName":"CipherTrace EE_#17"}'
api GET /api/v1/authorities/allowed
assert_eq "$BODY" "[$A489,$A423]" "authorities"
api GET /api/v1/organizations/user
assert_eq "$BODY" "{\"organizationId\":1042,\"organizationName\":\"Staging\",\"address\":\"123 Main Street\",\"primaryContactName\":\"Jane Wilkerson\",\"primaryContactEmail\":\"jw@example.com\",\"primaryContactPhone\":\"555-555-5555\",\"manufactureId\":\"\",\"logo\":\"\",\"authorities\":[$A489,$A423],\"ecosystemId\":21,\"organizationParameters\":{\"Organization\":\"Staging\"},\"orgStatus\":\"ACTIVE\"}" "organization"
api GET /api/v1/profiles
assert_eq "$BODY" '[{"profileId":17,"algorithms":["RSA4096","RSA2048","EC256","EC384"],"ca":"TRISA Emulator Issuing CA"},{"profileId":85,"algorithms":["RSA4096","RSA2048","EC256","EC384"],"ca":"TRISA Emulator Issuing CA"}]' "profiles"
api GET /api/v1/profiles/85/parameters
assert_eq "$(printf '%s' "$BODY" | grep -o '"name":"[A-Za-z0-9]*"' | tr '\n' ' ')" '"name":"commonName" "name":"dNSName" "name":"pkcs12Password" "name":"organizationName" "name":"localityName" "name":"stateOrProvinceName" "name":"countryName" ' "profile 85's parameters"
payload=$(printf '%s' "$TOKEN" | cut -d. -f2 | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
assert_contains "$(printf '%s' "$payload" | openssl base64 -d -A)" '{"iss":"https://cathy.test-net.io","sub":"/account/42/user/staging","typ":"access"' "the reference's issuer and subject"
# The reference CLI: authority 423 (CipherTrace EE) with the name parameters; 489 with the
# subject ones, empty when -c/-s/-l are absent.
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' \
    -d '{"authorityId":423,"batchName":"ee","profileParams":{"commonName":"ee.example.com","dNSName":"ee.example.com","pkcs12Password":"p12-password"}}'
assert_eq "$STATUS" 200 "create on 423 ($BODY)"
assert_contains "$BODY" '"profile":"CipherTrace EE","size":1,"status":"READY_FOR_DOWNLOAD"' "profile CipherTrace EE"
assert_contains "$BODY" '"userId":295,' "the reference's userId"
api PUT /api/v1/batches/createSingleCertBatch -H 'Content-Type: application/json' \
    -d '{"authorityId":489,"batchName":"eec","profileParams":{"commonName":"eec.example.com","dNSName":"eec.example.com","pkcs12Password":"p12-password","organizationName":"","localityName":"","stateOrProvinceName":"","countryName":""}}'
assert_eq "$STATUS" 200 "create on 489 with empty subject fields ($BODY)"
assert_contains "$BODY" '"profile":"CipherTrace End Entity Certificate"' "profile 85"
newcsr ref.example.com
api POST /api/v1/batches/upload -F profileId=17 -F "files=@$T/ref.example.com.csr;type=text/plain"
assert_eq "$STATUS" 200 "upload to profile 17"
assert_contains "$BODY" '"profile":"CipherTrace EE"' "upload to profile 17"
api GET /api/v1/authorities/423/balanceavailable
assert_eq "$BODY" 98 "two licences from authority 423"
api POST /api/v1/certificates/find -H 'Content-Type: application/json' -d '{"commonName":"ee.example.com"}'
assert_contains "$BODY" '{"totalCount":1,"items":[{"deviceId":"' "deviceId is a string"
stop_emulator || fail "unclean exit"
ok "--profile-set reference: authorities 489/423, profiles 85/17, organization 1042, userId 295, issuer of the reference server"

# ---- the state folder: private files, a warning for a folder others can open ----
EMU_STATE=$T/modes start_emulator --quiet
TOKEN=$(emu_token)
for f in emulator.db emulator.db-wal emulator.db-shm; do
    assert_eq "$(stat -c %a "$T/modes/$f")" 600 "mode of $f (umask $(umask))"
done
stop_emulator || fail "unclean exit"
chmod 750 "$T/modes"
chmod 644 "$T/modes/emulator.db"
# Started here, not by start_emulator (which makes its folder 0700).
sectigo serve --addr 127.0.0.1:0 --state-dir "$T/modes" --quiet >"$T/loose.out" 2>"$T/loose.err" &
pid=$!
at_exit "kill $pid 2>/dev/null"
for _ in $(seq 1 1800); do
    [ -s "$T/loose.out" ] && break
    kill -0 "$pid" 2>/dev/null || fail "sectigo serve exited: $(cat "$T/loose.err")"
    sleep 0.1
done
assert_contains "$(head -n 1 "$T/loose.out")" "listening on http://127.0.0.1:" "started on a loose folder"
assert_eq "$(cat "$T/loose.err")" "sectigo serve: warning: state folder $T/modes is open to other users (mode 750); it holds the CA key and the accounts: chmod 700 $T/modes" "the warning"
for f in emulator.db emulator.db-wal emulator.db-shm; do
    assert_eq "$(stat -c %a "$T/modes/$f")" 600 "mode of $f, the database once 0644"
done
kill -TERM "$pid"
wait "$pid" || fail "sectigo serve did not stop cleanly: $(cat "$T/loose.err")"
ok "state folder: emulator.db, -wal and -shm are 0600; a 0750 folder is used with a one-line warning"

if [ -n "$SKIPPED" ]; then
    done_testing
    skip "checks skipped for want of a non-loopback IPv4 address:$SKIPPED"
fi
done_testing
