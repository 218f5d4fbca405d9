# Every sectigo command against the emulator: exact output, exit codes, what the server got.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
start_emulator --test-hooks --processing-delay 0
use_emulator

# --help on every command, --version, usage errors.
for c in auth create upload batches download licenses authorities profiles profile organization find revoke; do
    run sectigo "$c" --help
    assert_rc 0 "$c --help"
    assert_contains "$OUT" "usage: sectigo" "$c --help"
done
ok "--help on every command"
run sectigo --version
assert_rc 0 "--version"
assert_eq "$OUT" "sectigo version $(sed -n 's/^project(trisa-certkit VERSION \([0-9.]*\).*/\1/p' "$TRISA_SOURCE_DIR/CMakeLists.txt") (trisa-certkit)"
run sectigo frobnicate
assert_rc 2 "unknown command"
assert_contains "$ERR" "frobnicate"
assert_eq "$OUT" "" "unknown command: stdout"
run sectigo batches
assert_rc 2 "batches without -i"
assert_contains "$ERR" "specify batch id to get information"
run sectigo create -a 42
assert_rc 2 "create without -d"
assert_contains "$ERR" "must specify domain name of cert subject"
emu_clear
run sectigo revoke -p 42 -s 01 -r "value 7 is not used"
assert_rc 2 "revoke with reason 7"
assert_contains "$ERR" "value 7 is not used"
assert_eq "$(emu_requests)" "" "requests sent for usage errors"
ok "--version and usage errors exit 2, saying why, and send nothing"

# authorities: exactly the reference document's output.
run sectigo authorities
assert_rc 0 authorities
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
]' authorities
run sectigo authorities --balances
assert_rc 0 "authorities --balances"
assert_contains "$OUT" ']
{
  "1": 10
}' "authorities --balances"
ok "authorities prints the reference JSON"

run sectigo licenses
assert_rc 0 licenses
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' licenses
run sectigo profiles
assert_rc 0 profiles
assert_eq "$OUT" '[
  {
    "profileId": 42,
    "algorithms": [
      "RSA4096",
      "RSA2048",
      "EC256",
      "EC384"
    ],
    "ca": "TRISA Emulator Issuing CA"
  }
]' profiles
run sectigo profile -i 42
assert_rc 0 "profile -i"
assert_contains "$OUT" '  "profileName": "TRISA Profile",
  "profileId": 42,
  "rawProfileConfig": "{\"certificate\":'
run sectigo profiles -i 42 --params
assert_rc 0 "profiles --params"
assert_contains "$OUT" '  {
    "name": "pkcs12Password",
    "inputType": "PASSWORD",
    "required": true,
    "placeholder": "",
    "validationPattern": "^.{8,128}$",'
run sectigo profiles --params
assert_rc 2 "--params without -i"
assert_contains "$ERR" "must specify id to get profile params"
assert_eq "$OUT" "" "--params without -i: stdout"
run sectigo organization
assert_rc 0 organization
assert_contains "$OUT" '{
  "organizationId": 42,
  "organizationName": "TRISA Emulator",'
assert_contains "$OUT" '  "organizationParameters": {},
  "orgStatus": "ACTIVE"
}'
ok "licenses, profiles, profile detail and parameters, organization"

# upload: one CSR, a batch comes back.
make_csr vasp.example.com
run sectigo upload -p 42 "$T/vasp.example.com.csr"
assert_rc 0 upload
assert_contains "$OUT" '{
  "batchId": 1,
  "orderNumber": '
assert_contains "$OUT" '  "profile": "TRISA Profile",
  "size": 1,'
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads received"
run sectigo upload -p 42
assert_rc 2 "upload without a file"
assert_contains "$ERR" "specify the path to one CSR for upload"
run sectigo upload -p 42 "$T/missing.csr"
assert_rc 3 "upload of a missing file"
line=$(emu_last POST /api/v1/batches/upload)
assert_contains "$line" '"contentType":"multipart/form-data; boundary=' "upload request"
assert_contains "$line" '"authorization":"Bearer"' "upload request"
assert_contains "$line" '"userAgent":"trisa-certkit/' "upload request"
line=$(emu_last GET /api/v1/devices)
assert_contains "$line" '"contentType":"application/json;charset=UTF-8","accept":"application/json;charset=UTF-8"' "GET request"
assert_contains "$line" '"authorization":"Bearer"' "GET request"
ok "upload, and the headers the server received"

run sectigo batches -i 1 --status
assert_rc 0 "batches --status"
assert_eq "$OUT" "READY_FOR_DOWNLOAD" "normalised status"
run sectigo batches -i 1 --info
assert_rc 0 "batches --info"
assert_eq "$OUT" '{
  "active": 0,
  "success": 1,
  "failed": 0
}' "processing info"
run sectigo batches -i 1
assert_rc 0 "batches -i"
assert_contains "$OUT" '"status": "READY_FOR_DOWNLOAD",'
run sectigo batches -i 999
assert_rc 6 "unknown batch"
assert_contains "$ERR" "HTTP 404"
ok "batches: detail, status, info, unknown batch"

# download: into a folder, atomically, with the message of the reference.
mkdir "$T/out"
run sectigo download -i 1 -o "$T/out"
assert_rc 0 download
name=$(ls "$T/out")
assert_eq "$OUT" "downloaded batch 1 to $T/out/$name
after unzipping, unencrypt with your password using \`openssl pkcs12 -in INFILE.p12 -out OUTFILE.crt -nodes\`" download
assert_eq "$(head -c 2 "$T/out/$name")" "PK" "a ZIP"
assert_contains "$(emu_last GET /api/v1/batches/1/download)" '"accept":"application/octet-stream"' "download request"
assert_mode "$T/out/$name" 600
cp "$T/out/$name" "$T/server.zip"
# Over an existing file: refused, the file as it was; with --force: the server's bytes again.
printf 'not the batch\n' >"$T/out/$name"
chmod 640 "$T/out/$name"
run sectigo download -i 1 -o "$T/out"
assert_rc 4 "download over an existing file"
assert_contains "$ERR" "$T/out/$name: already exists (not replaced)"
assert_eq "$(cat "$T/out/$name")" "not the batch" "the existing file"
assert_mode "$T/out/$name" 640
run sectigo download -i 1 -o "$T/out" --force
assert_rc 0 "download --force"
cmp -s "$T/out/$name" "$T/server.zip" || fail "download --force did not write the server's ZIP"
assert_mode "$T/out/$name" 600
assert_dir_is "$T/out" "$name"
run sectigo download -i 1 -o "$T/nowhere"
assert_rc 3 "download into a missing folder"
assert_contains "$ERR" "directory \"$T/nowhere\" does not exist"
assert_missing "$T/nowhere"
ok "download: 0600, an existing file kept without --force and replaced by the server's ZIP with it, a missing folder refused"

# create: generated password (>= 16 characters, printed first), then the batch.
run sectigo create -a 42 -d example.com
assert_rc 0 create
pw=$(printf '%s\n' "$OUT" | sed -n '1s/^pkcs12 password: //p')
[ "${#pw}" -ge 16 ] || fail "generated password too short: [$pw]"
assert_contains "$OUT" '  "batchName": "new certs for example.com",'
run sectigo create -a 42 -d example.com
pw2=$(printf '%s\n' "$OUT" | sed -n '1s/^pkcs12 password: //p')
[ "$pw" != "$pw2" ] || fail "two runs generated the same password"
ok "create generates and prints a fresh password"

run sectigo create -a 42 -d pf.example.com --password-file "$T/p12pass" -b "named batch" -c US -s CA -l "San Jose"
assert_rc 0 "create --password-file"
assert_mode "$T/p12pass" 600
assert_not_contains "$OUT" "pkcs12 password:"
assert_contains "$OUT" '"batchName": "named batch",'
saved=$(cat "$T/p12pass")
[ "${#saved}" -ge 16 ] || fail "saved password too short"
run sectigo create -a 42 -d pf2.example.com --password-file "$T/p12pass"
assert_rc 0 "create reusing --password-file"
assert_eq "$(cat "$T/p12pass")" "$saved" "password file unchanged"
run sectigo create -a 42 -d bad_domain! -p short
assert_rc 6 "create refused by the server"
assert_contains "$ERR" "HTTP 400"
ok "create --password-file saves 0600 and reuses; server validation errors exit 6"

# find, revoke, find again.
run sectigo find -n vasp.example.com
assert_rc 0 find
serial=$(printf '%s\n' "$OUT" | sed -n 's/.*"serialNumber": "\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$serial" ] || fail "no serial in: $OUT"
assert_contains "$OUT" '"status": "ISSUED"'
run sectigo revoke -p 42 -r "Cessation of Operation" -s "$serial"
assert_rc 0 revoke
assert_eq "$OUT" "" "revoke prints nothing"
run sectigo find -s "$serial"
assert_rc 0 "find by serial"
assert_contains "$OUT" '"totalCount": 1,'
assert_contains "$OUT" '"status": "REVOKED"'
run sectigo find -n nobody.example.com
assert_eq "$OUT" '{
  "totalCount": 0,
  "items": []
}' "find with no match"
ok "find, revoke, find shows REVOKED"

# The API password from a file, with nothing cached.
printf '%s\n' "$EMU_PASS" >"$T/api.pass"
emu_clear
run env -u SECTIGO_PASSWORD XDG_CACHE_HOME="$T/pfcache" sectigo --password-file "$T/api.pass" licenses
assert_rc 0 "--password-file"
assert_contains "$OUT" '"ordered": ' "--password-file: the licences"
assert_eq "$(emu_count POST /auth/pwd)" 1 "logins with the file's password"
assert_eq "$(emu_requests | grep -c ' 401$')" 0 "refused requests"
assert_exists "$T/pfcache/trisa/sectigo"
run env -u SECTIGO_PASSWORD XDG_CACHE_HOME="$T/nocache" sectigo licenses
assert_rc 5 "no password and no cache"
assert_contains "$ERR" "no password given"
ok "global --password-file; no password and no cached token exits 5"

# A .env file in the working folder supplies what the environment lacks.
mkdir "$T/envdir"
cat >"$T/envdir/.env" <<ENV
# comment
SECTIGO_USERNAME=staging
export SECTIGO_PASSWORD="staging-password"
SECTIGO_ENDPOINT=$EMU_URL
SECTIGO_ENVIRONMENT='testing'
ENV
(cd "$T/envdir" && env -u SECTIGO_USERNAME -u SECTIGO_PASSWORD -u SECTIGO_ENDPOINT -u SECTIGO_ENVIRONMENT XDG_CACHE_HOME="$T/envcache" sectigo licenses >"$T/.envout" 2>&1) ||
    fail ".env not used: $(cat "$T/.envout")"
assert_contains "$(cat "$T/.envout")" '"ordered": '
ok ".env in the working folder"
done_testing
