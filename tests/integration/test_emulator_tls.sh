# The emulator over HTTPS: --tls-self-signed (a TLS CA written to DIR/tls-ca.pem) and
# --tls-cert/--tls-key; curl verifies, and refuses without the CA.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl

start_emulator --tls-self-signed
assert_contains "$EMU_URL" "https://127.0.0.1:" "https URL"
assert_exists "$EMU_STATE/tls-ca.pem"
assert_mode "$EMU_STATE/tls-ca.key" 600
run curl -sS "$EMU_URL/auth/pwd" -H 'Content-Type: application/json' -d '{"username":"staging","password":"staging-password"}'
[ "$RC" -eq 60 ] || [ "$RC" -eq 35 ] || fail "curl trusted an unknown CA (rc $RC)"
TOKEN=$(emu_token)
[ -n "$TOKEN" ] || fail "no token over https"
run curl -sS --cacert "$EMU_TLS_CA" "$EMU_URL/api/v1/authorities/1/balanceavailable" -H "Authorization: Bearer $TOKEN"
assert_rc 0 "curl over https"
assert_eq "$OUT" 10 "balance over https"
run curl -sS --cacert "$EMU_TLS_CA" "https://localhost:$EMU_PORT/api/v1/authorities/1/balanceavailable" -H "Authorization: Bearer $TOKEN"
assert_rc 0 "the certificate names localhost too"
ca_before=$(openssl x509 -in "$EMU_TLS_CA" -noout -fingerprint)
stop_emulator || fail "unclean exit"
start_emulator --tls-self-signed
assert_eq "$(openssl x509 -in "$EMU_TLS_CA" -noout -fingerprint)" "$ca_before" "TLS CA reused"
run curl -sS --cacert "$EMU_TLS_CA" "$EMU_URL/api/v1/authorities/1/balanceavailable" -H "Authorization: Bearer $TOKEN"
assert_eq "$OUT" 10 "after restart"
ok "--tls-self-signed: https with DIR/tls-ca.pem, names 127.0.0.1 and localhost, CA reused"
stop_emulator || fail "unclean exit"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/srv.key" -out "$T/srv.pem" \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" -days 2 2>/dev/null
EMU_STATE=$T/state2 start_emulator --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"
assert_contains "$EMU_URL" "https://" "https URL"
run curl -sS --cacert "$T/srv.pem" "$EMU_URL/api/v1/devices"
assert_rc 0 "curl with the given certificate"
assert_contains "$OUT" '"status":401' "reply over https"
ok "--tls-cert/--tls-key serve the given certificate"

run sectigo serve --state-dir "$T/state3" --tls-cert "$T/srv.pem"
assert_rc 2 "--tls-cert without --tls-key"
assert_contains "$ERR" "sectigo serve: --tls-cert and --tls-key go together"
run sectigo serve --state-dir "$T/state3" --tls-self-signed --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"
assert_rc 2 "--tls-self-signed with --tls-cert"
assert_contains "$ERR" "sectigo serve: --tls-self-signed and --tls-cert/--tls-key exclude each other"
assert_missing "$T/state3"
ok "TLS option errors are usage errors, said as such, before the state folder is made"
stop_emulator || fail "the emulator did not exit cleanly"
done_testing
