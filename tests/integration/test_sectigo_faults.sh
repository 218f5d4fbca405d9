# Retries: GETs ride out 503s; uploads are never re-sent; network errors; exhausted balance;
# TLS with the emulator's CA.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
emu_config "$T/one.json" 's/"balance": 10/"balance": 1/'
start_emulator --test-hooks --processing-delay 0 --config "$T/one.json"
use_emulator
run sectigo auth
assert_rc 0 auth
assert_eq "$OUT" "user authenticated and credentials cached" auth

emu_hooks_faults '{"path": "/api/v1/devices", "kind": "status", "status": 503, "count": 2, "retryAfter": 0}' >/dev/null
emu_clear
run sectigo licenses
assert_rc 0 "licenses through two 503s"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses through two 503s"
assert_eq "$(emu_requests | grep -c '^GET /api/v1/devices ')" 3 "GETs sent"
assert_eq "$(emu_requests | grep -c '^GET /api/v1/devices 503')" 2 "503s met"
ok "a GET that meets two 503s then succeeds"

emu_hooks_faults '{"path": "/api/v1/devices", "kind": "status", "status": 429, "count": 1, "retryAfter": 2}' >/dev/null
emu_clear
start=$(date +%s%N)
run sectigo licenses
end=$(date +%s%N)
assert_rc 0 "licenses after a 429 with Retry-After: 2"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "licenses after a 429"
assert_eq "$(emu_requests)" "GET /api/v1/devices 429
GET /api/v1/devices 200" "requests around the 429"
[ $(((end - start) / 1000000)) -ge 1900 ] || fail "Retry-After not honoured: $(((end - start) / 1000000)) ms"
ok "Retry-After is honoured"

emu_hooks_faults '{"path": "/api/v1/devices", "kind": "status", "status": 502, "count": 50}' >/dev/null
emu_clear
run sectigo licenses
assert_rc 6 "licenses when the gateway stays down"
assert_contains "$ERR" "HTTP 502"
assert_eq "$OUT" "" "stdout when the gateway stays down"
# The first try and the default 4 retries, then no more.
assert_eq "$(emu_requests | sort | uniq -c | sed 's/^ *//')" "5 GET /api/v1/devices 502" "requests while the gateway stays down"
curl -sS -X DELETE "$EMU_URL/_emulator/faults" >/dev/null
ok "retries are bounded"

make_csr cut.example.com
emu_hooks_faults '{"path": "/api/v1/batches/upload", "kind": "cut", "cutAfter": 0}' >/dev/null
emu_clear
run sectigo upload -p 42 "$T/cut.example.com.csr"
[ "$RC" -eq 7 ] || fail "upload with a cut reply: exit $RC, expected 7; $ERR"
assert_contains "$ERR" "not sent again"
assert_contains "$ERR" "sectigo batches"
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads received"
ok "an upload whose reply is lost is not re-sent and says what to check"

emu_hooks_faults '{"path": "/api/v1/batches/upload", "kind": "drop"}' >/dev/null
emu_clear
run sectigo upload -p 42 "$T/cut.example.com.csr"
assert_rc 7 "upload on a dropped connection"
assert_contains "$ERR" "sectigo batches"
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads received after a drop"
ok "an upload on a dropped connection is not re-sent"

# Balance 1: the cut upload above may or may not have spent it; use create until refused.
run sectigo create -a 42 -d spend.example.com -p spend-password
emu_clear
run sectigo create -a 42 -d spend2.example.com -p spend-password
assert_rc 6 "create with no balance left"
assert_contains "$ERR" "HTTP 400: no licences left"
assert_eq "$OUT" "" "stdout of a refused create"
assert_eq "$(emu_requests | grep -v '^GET ')" "PUT /api/v1/batches/createSingleCertBatch 400" "a refused create is sent once"
ok "exhausted balance exits 6 with the server's message"

stop_emulator
run sectigo batches -i 1
assert_rc 7 "server down"
assert_contains "$ERR" "sectigo batches: error: "
assert_contains "$ERR" "127.0.0.1"
assert_eq "$OUT" "" "stdout with the server down"
ok "connection refused exits 7"

# TLS: the emulator's own CA, trusted through --cacert / SECTIGO_CA_BUNDLE; never without.
EMU_STATE="$T/tls-state"
start_emulator --test-hooks --processing-delay 0 --tls-self-signed
case "$EMU_URL" in https://*) ;; *) skip "emulator did not start with TLS" ;; esac
use_emulator
export CURL_CA_BUNDLE="$EMU_TLS_CA" # for the helpers' own curl
emu_clear
run sectigo licenses
assert_rc 7 "untrusted TLS"
assert_contains "$ERR" "certificate"
assert_eq "$(emu_requests)" "" "requests over an untrusted connection (the password never sent)"
run sectigo --cacert "$EMU_TLS_CA" licenses
assert_rc 0 "--cacert"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "--cacert"
run env SECTIGO_CA_BUNDLE="$EMU_TLS_CA" sectigo licenses
assert_rc 0 "SECTIGO_CA_BUNDLE"
assert_eq "$OUT" '{
  "ordered": 0,
  "issued": 0
}' "SECTIGO_CA_BUNDLE"
assert_eq "$(emu_requests)" "POST /auth/pwd 200
GET /api/v1/devices 200
GET /api/v1/devices 200" "requests over the trusted connections"
ok "TLS verification with the emulator's CA"
done_testing
