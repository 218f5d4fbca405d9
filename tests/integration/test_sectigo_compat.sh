# The compatibility suite of issue 11: for every command and flag spelling of the reference
# CLI, what sectigo prints and what it sends, against replies shaped like the reference's
# own mock and staging server (data/compat/*.cases, run by sectigo_compat.py), and against
# the emulator (its request log). Then the entry points, .env as godotenv reads it, and the
# trust settings users already have (SSL_CERT_FILE, SSL_CERT_DIR).
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
need jq
# The system interpreter directly: a version-manager shim costs seconds a call.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "python3 is not installed (the scripted servers)"
DATA="$TRISA_SOURCE_DIR/tests/integration/data/compat"

# Under AddressSanitizer a run costs ten times as much: two spellings a flag there, all of
# them in the normal build (the parser is the same code).
few=()
ldd "$BIN/sectigo" 2>/dev/null | grep -q 'libasan' && few=(--few)
for shape in mock server; do
    run "$PY" "$TRISA_SOURCE_DIR/tests/integration/sectigo_compat.py" "${few[@]}" "$shape" "$DATA/$shape.cases"
    [ "$RC" -eq 0 ] || fail "compat cases ($shape):
$OUT
$ERR"
    summary=$(printf '%s\n' "$OUT" | tail -n 1)
    case "$summary" in "compat $shape: "*", all matched") ;; *) fail "no summary: $OUT" ;; esac
    ok "$summary"
done

# ---- The emulator: output and what it received (its request log: headers, sizes, bodies) ---
start_emulator --test-hooks --processing-delay 0
use_emulator
export TZ=UTC

# One line a request: method, path, status, content type (boundary elided), accept,
# authorization scheme, body size.
emu_log() {
    curl -sS "$EMU_URL/_emulator/requests" |
        jq -r '.[] | [.method, .path, (.status|tostring), ((.contentType // "-") | sub("boundary=.*"; "boundary=...")), (.accept // "-"), (.authorization // "-"), (.bytes|tostring)] | join(" ")'
}
# The JSON bodies the emulator received, one a line: method, path, the body as a JSON
# string (the log replaces secret values by as many '*', bytes otherwise as received).
emu_bodies() {
    curl -sS "$EMU_URL/_emulator/requests" | jq -r '.[] | select(.body != null) | .method + " " + .path + " " + (.body | @json)'
}

run sectigo auth
assert_eq "$OUT" "user authenticated and credentials cached"
assert_eq "$(emu_log)" "POST /auth/pwd 200 application/json;charset=UTF-8 application/json;charset=UTF-8 - 53" "login request"
assert_eq "$(emu_bodies)" 'POST /auth/pwd "{\"username\":\"staging\",\"password\":\"****************\"}\n"' "login body"
emu_clear
ok "auth: the login body is the reference's, 53 bytes with its final new line"

run sectigo licenses
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}'
run sectigo authorities --balances=true
assert_eq "$OUT" '[
  {
    "id": 1,
    "ecosystemId": 100,
    "signerCertificateId": 0,
    "ecosystemName": "TRISA",
    "balance": 10,
    "enabled": true,
    "profileId": 42,
    "profileName": "TRISA Profile"
  }
]
{
  "1": 10
}' "authorities --balances=true"
run sectigo authorities -b=false
assert_eq "$(printf '%s\n' "$OUT" | tail -n 1)" "]" "authorities -b=false prints no balances"
assert_eq "$(emu_log)" "GET /api/v1/devices 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0
GET /api/v1/authorities/allowed 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0
GET /api/v1/authorities/1/balanceavailable 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0
GET /api/v1/authorities/allowed 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0" "request log"
emu_clear
ok "licenses, authorities --balances=true / -b=false, and the requests"

run sectigo create -a=42 -d=vasp.example.com -p=longpassword -c=US -s=CA "-l=Menlo Park"
assert_rc 0 "create with -x=value"
assert_eq "$(printf '%s\n' "$OUT" | sed 's/"creationDate": "[^"]*"/"creationDate": "<date>"/')" '{
  "batchId": 1,
  "orderNumber": 1001,
  "creationDate": "<date>",
  "profile": "TRISA Profile",
  "size": 1,
  "status": "READY_FOR_DOWNLOAD",
  "active": false,
  "batchName": "new certs for vasp.example.com",
  "rejectReason": "",
  "generatorParametersValues": null,
  "userId": 10,
  "downloadable": true,
  "rejectable": true
}' "create (processing delay 0: ready at once)"
# {"authorityId":42,"batchName":"new certs for vasp.example.com","profileParams":{
# "commonName":"vasp.example.com","countryName":"US","dNSName":"vasp.example.com",
# "localityName":"Menlo Park","pkcs12Password":"longpassword","stateOrProvinceName":"CA"}}\n
assert_eq "$(emu_log)" "GET /api/v1/authorities/allowed 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0
GET /api/v1/profiles/42/parameters 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 0
PUT /api/v1/batches/createSingleCertBatch 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer 249" "create requests"
assert_eq "$(emu_bodies)" 'PUT /api/v1/batches/createSingleCertBatch "{\"authorityId\":42,\"batchName\":\"new certs for vasp.example.com\",\"profileParams\":{\"commonName\":\"vasp.example.com\",\"countryName\":\"US\",\"dNSName\":\"vasp.example.com\",\"localityName\":\"Menlo Park\",\"pkcs12Password\":\"************\",\"stateOrProvinceName\":\"CA\"}}\n"' "create body: keys in Go's order, the 12-character password"
emu_clear
ok "create -a=42 -d=... -p=longpassword: the password is 'longpassword' (a 249-byte body), c/s/l sent: the profile takes them"

mkdir "$T/dl"
(cd "$T/dl" && sectigo download -i 1 -o . >"$T/.dl" 2>"$T/.dlerr") || fail "download: $(cat "$T/.dl" "$T/.dlerr")"
assert_eq "$(cat "$T/.dl")" "downloaded batch 1 to 1.zip
after unzipping, unencrypt with your password using \`openssl pkcs12 -in INFILE.p12 -out OUTFILE.crt -nodes\`" "download -o . (the reference's stdout)"
assert_eq "$(cat "$T/.dlerr")" "sectigo download: hint: OpenSSL 3 refuses Sectigo's legacy PKCS#12 without -legacy; \`trisa-fetch --zip 1.zip --out-dir DIR --password-file FILE --trust ROOTS.pem\` unpacks and verifies it in one step" "download -o . (our one line on stderr)"
assert_mode "$T/dl/1.zip" 600
# The bundle opens with the password given as -p=longpassword (not "=longpassword").
unzip -p "$T/dl/1.zip" vasp.example.com.p12 >"$T/dl/b.p12" 2>/dev/null || fail "no vasp.example.com.p12 in the ZIP"
openssl pkcs12 -legacy -in "$T/dl/b.p12" -passin pass:longpassword -nokeys -noout 2>/dev/null ||
    openssl pkcs12 -in "$T/dl/b.p12" -passin pass:longpassword -nokeys -noout 2>/dev/null ||
    fail "the PKCS#12 does not open with 'longpassword'"
ok "download -o . prints 1.zip, writes it 0600; the bundle's password is what -p= gave"

run sectigo find -n=vasp.example.com
assert_rc 0 "find"
assert_eq "$(printf '%s\n' "$OUT" | sed -e 's/"serialNumber": "[0-9A-F]*"/"serialNumber": "<serial>"/' \
    -e 's/"creationDate": "[^"]*"/"creationDate": "<date>"/' -e 's/"deviceId": "[^"]*"/"deviceId": "<id>"/')" '{
  "totalCount": 1,
  "items": [
    {
      "deviceId": "<id>",
      "commonName": "vasp.example.com",
      "serialNumber": "<serial>",
      "creationDate": "<date>",
      "status": "ISSUED"
    }
  ]
}' "find"
serial=$(printf '%s\n' "$OUT" | sed -n 's/.*"serialNumber": "\([^"]*\)".*/\1/p')
run sectigo revoke --profile=42 --reason=superseded "--serial-number=$serial"
assert_rc 0 revoke
assert_eq "$OUT" "" "revoke prints nothing"
assert_eq "$(emu_bodies)" "POST /api/v1/certificates/find \"{\\\"commonName\\\":\\\"vasp.example.com\\\"}\\n\"
POST /api/v1/certificates/42/revoke \"{\\\"reasonCode\\\":4,\\\"serialNumber\\\":\\\"$serial\\\"}\\n\"" "find and revoke bodies"
emu_clear
run sectigo find --serial-number "$serial"
assert_contains "$OUT" '"status": "REVOKED"'
assert_eq "$(emu_log)" "POST /api/v1/certificates/find 200 application/json;charset=UTF-8 application/json;charset=UTF-8 Bearer $((${#serial} + 20))" "find by serial: {\"serialNumber\":\"...\"}\\n"
assert_eq "$(emu_bodies)" "POST /api/v1/certificates/find \"{\\\"serialNumber\\\":\\\"$serial\\\"}\\n\"" "find by serial: the body"
ok "find prints deviceId as a string; revoke with --long=value; find --serial-number VALUE"

# A profile that requires a parameter create can set but was not given: refused before
# the request that costs a licence.
stop_emulator
emu_config "$T/country.json" 's/{"name": "countryName", "inputType": "TEXT", "required": false/{"name": "countryName", "inputType": "TEXT", "required": true/'
EMU_STATE="$T/state2"
start_emulator --test-hooks --processing-delay 0 --config "$T/country.json"
use_emulator
export TZ=UTC
run sectigo create -a 42 -d vasp.example.com -p longpassword
assert_rc 2 "create without a required -c"
assert_eq "$ERR" "sectigo create: profile 42 requires countryName: give -c (see 'sectigo create --help')"
assert_eq "$(emu_count PUT /api/v1/batches/createSingleCertBatch)" 0 "create requests sent"
ok "a required countryName without -c is refused before anything costs a licence"

# SIAS_AUTH_SUBJECT (the reference server's variable) is the sub claim of the tokens sectigo
# serve hands out; the same server again, with it set.
stop_emulator
SIAS_AUTH_SUBJECT=/account/7/user/compat-check start_emulator --test-hooks --processing-delay 0 --config "$T/country.json"
use_emulator
claims() { # claims JWT: its payload, decoded
    local payload
    payload=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
    while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
    printf '%s' "$payload" | openssl base64 -d -A
}
assert_eq "$(claims "$(emu_token)" | jq -r .sub)" "/account/7/user/compat-check" "sub of the access token"
# sectigo logs in afresh (an empty cache) and caches, then uses, a token of that subject.
export XDG_CACHE_HOME="$T/cache-sub"
emu_clear
run sectigo licenses
assert_rc 0 "sectigo with a token of that subject"
assert_eq "$(emu_log | cut -d' ' -f1-3)" "POST /auth/pwd 200
GET /api/v1/devices 200" "requests"
cached=$(sectigo auth --cache)
assert_eq "$(claims "$(jq -r .accessToken "$cached")" | jq -r .sub)" "/account/7/user/compat-check" "sub of the cached token"
export XDG_CACHE_HOME="$T/cache"
ok "sectigo serve with SIAS_AUTH_SUBJECT: the tokens' sub is its value; sectigo caches and uses such a token"

# ---- Entry points ----------------------------------------------------------------------------
version=$(sed -n 's/^project(trisa-certkit VERSION \([0-9.]*\).*/\1/p' "$TRISA_SOURCE_DIR/CMakeLists.txt")
for v in -v --version -version; do
    run sectigo $v
    assert_rc 0 "$v"
    assert_eq "$OUT" "sectigo version $version (trisa-certkit)" "$v"
done
run sectigo
assert_rc 0 "no command"
assert_contains "$OUT" "usage: sectigo [global options] <command>"
help_text=$OUT
run sectigo help
assert_rc 0 "help"
assert_eq "$OUT" "$help_text" "help = no command"
run sectigo help create
assert_rc 0 "help create"
assert_contains "$OUT" "usage: sectigo [global options] create -a ID -d DOMAIN"
run sectigo help frobnicate
assert_rc 2 "help of an unknown command"
assert_contains "$ERR" "frobnicate"
assert_eq "$OUT" "" "help of an unknown command: stdout"
run sectigo athorities
assert_rc 2 "a misspelt command"
assert_eq "$ERR" "sectigo: unknown command 'athorities'; did you mean 'authorities'? (see 'sectigo --help')"
run sectigo zzzzzz
assert_eq "$ERR" "sectigo: unknown command 'zzzzzz' (see 'sectigo --help')"
ok "-v/--version, help, help CMD, no command, unknown commands with a suggestion"

# ---- .env as godotenv reads it ------------------------------------------------------------
# Each .env gives a username and password; the login body the scripted server received shows
# exactly what was read (JSON-escaped).
"$PY" "$TRISA_SOURCE_DIR/tests/unit/fake_sectigo.py" --shape mock >"$T/fake.port" &
FAKE_PID=$!
at_exit 'kill $FAKE_PID 2>/dev/null; wait $FAKE_PID 2>/dev/null'
for _ in $(seq 1 300); do [ -s "$T/fake.port" ] && break; sleep 0.05; done
FAKE="http://127.0.0.1:$(cat "$T/fake.port")"
ndotenv=0
dotenv_case() { # dotenv_case NAME EXPECTED_LOGIN_BODY [VAR=VALUE...] < .env text
    local name=$1 want=$2 dir="$T/dotenv.$ndotenv"
    shift 2
    ndotenv=$((ndotenv + 1))
    mkdir "$dir"
    cat >"$dir/.env"
    curl -sS -X POST "$FAKE/_fake/clear" >/dev/null
    (cd "$dir" && env -u SECTIGO_USERNAME -u SECTIGO_PASSWORD SECTIGO_ENDPOINT="$FAKE" \
        SECTIGO_ENVIRONMENT=testing XDG_CACHE_HOME="$dir/cache" "$@" sectigo licenses >"$dir/out" 2>"$dir/err") ||
        fail ".env $name: sectigo failed: $(cat "$dir/err")"
    got=$(curl -sS "$FAKE/_fake/requests.txt" | sed -n '/^POST \/auth\/pwd$/,/^-- /p' | sed -n '6p')
    assert_eq "$got" "$want" ".env $name"
}
dotenv_case "KEY: value, a comment, export" '{"username":"alice","password":"pw"}' <<'ENV'
# a comment line
SECTIGO_USERNAME: alice
export SECTIGO_PASSWORD=pw   # a comment
ENV
dotenv_case "\${VAR} and \$VAR from earlier lines" '{"username":"alice","password":"al-x"}' <<'ENV'
BASE=al
SECTIGO_USERNAME=${BASE}ice
SECTIGO_PASSWORD="$BASE-x"
ENV
dotenv_case "double quotes: \\n, \\\", \\\$ kept" '{"username":"a\nb \"q\" $X","password":"p"}' <<'ENV'
X=expanded
SECTIGO_USERNAME="a\nb \"q\" \$X"
SECTIGO_PASSWORD=p
ENV
dotenv_case "single quotes are literal" '{"username":"u","password":"p$BASE\\n"}' <<'ENV'
BASE=x
SECTIGO_USERNAME=u
SECTIGO_PASSWORD='p$BASE\n'
ENV
dotenv_case "a comment starts at the last ' #' (godotenv 1.5.1)" '{"username":"u","password":"a # b"}' <<'ENV'
SECTIGO_USERNAME=u
SECTIGO_PASSWORD=a # b # c
ENV
dotenv_case "the environment wins" '{"username":"envuser","password":"p"}' SECTIGO_USERNAME=envuser <<'ENV'
SECTIGO_USERNAME=fileuser
SECTIGO_PASSWORD=p
ENV
dotenv_case "an unknown name falls back to the environment" '{"username":"u","password":"from-env"}' MYPW=from-env <<'ENV'
SECTIGO_USERNAME=u
SECTIGO_PASSWORD=${MYPW}
ENV
dotenv_case "multi-line double quotes, CRLF line ends, the last line of a key wins" '{"username":"v2","password":"l1\nl2"}' <<ENV
SECTIGO_USERNAME=v1$(printf '\r')
SECTIGO_USERNAME=v2$(printf '\r')
SECTIGO_PASSWORD="l1
l2"
ENV
ok ".env as godotenv reads it: $ndotenv files"

# Only SECTIGO_* and SIAS_* are taken: a .env in the working folder cannot steer trust or
# where the token cache lives.
mkdir "$T/envdir"
printf 'SECTIGO_USERNAME=u\nSECTIGO_PASSWORD=p\nXDG_CACHE_HOME=%s/elsewhere\n' "$T" >"$T/envdir/.env"
(cd "$T/envdir" && env -u SECTIGO_USERNAME -u SECTIGO_PASSWORD SECTIGO_ENDPOINT="$FAKE" XDG_CACHE_HOME="$T/envcache" \
    sectigo licenses >/dev/null 2>&1) || fail ".env with XDG_CACHE_HOME"
assert_missing "$T/elsewhere"
assert_exists "$T/envcache/trisa/sectigo"
ok ".env: other names are ignored"

# A syntax error: nothing from the file is used (as godotenv), and we say where.
printf 'SECTIGO_USERNAME=nobody\nthis line is bad\n' >"$T/envdir/.env"
rc=0
(cd "$T/envdir" && env -u SECTIGO_USERNAME XDG_CACHE_HOME="$T/envcache2" SECTIGO_ENDPOINT="$FAKE" sectigo licenses >"$T/.envout" 2>"$T/.enverr") || rc=$?
assert_eq "$rc" 5 "exit code without a username"
assert_contains "$(cat "$T/.enverr")" "sectigo: warning: .env:2: syntax error (as godotenv reads it); nothing was taken from the file"
assert_contains "$(cat "$T/.enverr")" "no username given"
ok ".env with a syntax error sets nothing and says which line"

# ---- Trust settings users already have ---------------------------------------------------------
stop_emulator
EMU_STATE="$T/tls-state"
start_emulator --test-hooks --processing-delay 0 --tls-self-signed
case "$EMU_URL" in https://*) ;; *) skip "emulator did not start with TLS" ;; esac
use_emulator
export CURL_CA_BUNDLE="$EMU_TLS_CA" # for the helpers' own curl
emu_clear
run sectigo licenses
assert_rc 7 "untrusted TLS"
assert_contains "$ERR" "certificate"
run env SSL_CERT_FILE="$EMU_TLS_CA" sectigo licenses
assert_rc 0 "SSL_CERT_FILE"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "SSL_CERT_FILE"
mkdir "$T/certdir"
cp "$EMU_TLS_CA" "$T/certdir/emulator.pem"
openssl rehash "$T/certdir" 2>/dev/null || c_rehash "$T/certdir" >/dev/null 2>&1 || skip "no openssl rehash"
run env SSL_CERT_DIR="$T/certdir" sectigo licenses
assert_rc 0 "SSL_CERT_DIR"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "SSL_CERT_DIR"
# --cacert is the only trust when given: the system store is not behind it.
run env SSL_CERT_FILE="$EMU_TLS_CA" sectigo --cacert /etc/ssl/certs/ca-certificates.crt licenses
assert_rc 7 "--cacert replaces, SSL_CERT_FILE does not add to it"
assert_contains "$ERR" "certificate"
# Only the trusted runs reached the server: one login, two licence requests.
assert_eq "$(emu_requests)" "POST /auth/pwd 200
GET /api/v1/devices 200
GET /api/v1/devices 200" "requests over the three kinds of trust"
ok "SSL_CERT_FILE and SSL_CERT_DIR are honoured; --cacert alone when given"
done_testing
