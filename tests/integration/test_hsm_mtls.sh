#!/usr/bin/env bash
# Mutual TLS with a token key: `openssl s_server` signs with the key on the token through
# the libp11 engine (which reaches SoftHSM2 through p11-kit's proxy, as our tools do),
# `openssl s_client` uses a key file; both certificates come from the emulator through
# trisa-csr and trisa-fetch. The client trusts the root only, so the handshake needs the
# issuing CA the server sends: it is read from the token, where trisa-fetch stored it.
# The PIN reaches the engine through the pin-source URI that `hsm list` prints.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
. "$(dirname "$0")/emulator.sh"
need openssl
need pkcs11-tool "Debian package opensc"
openssl engine pkcs11 >/dev/null 2>&1 ||
    skip "OpenSSL's pkcs11 engine is not installed (Debian package libengine-pkcs11-openssl)"
new_softhsm trisa
register_with_p11kit trisa
start_emulator --processing-delay 0
export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS" XDG_CACHE_HOME="$T/cache"
CONF="$TRISA_SOURCE_DIR/conf/trisa.conf"
KEY="pkcs11:token=trisa;object=server"

# The server's identity: key on the token; the client's: a key file.
run trisa-csr -config "$CONF" --pkcs11-uri "$KEY" --key ec:P-256 --pin-file "$PIN_FILE" -out server.csr
assert_rc 0 "server key on the token"
assert_contains "$ERR" "trisa-csr: made a ec:P-256 key on token 'trisa': pkcs11:"
assert_contains "$(openssl req -in server.csr -noout -text)" "ASN1 OID: prime256v1"
run trisa-fetch --csr server.csr --profile 42 --out-dir server --pkcs11-uri "$KEY" --pin-file "$PIN_FILE" \
    --trust "$EMU_CA" --interval 1
assert_rc 0 "server certificate"
ca_uri=$(printf '%s\n' "$ERR" | sed -n "s/^trisa-fetch: stored the CA certificate on token 'trisa': //p")
[ -n "$ca_uri" ] || fail "trisa-fetch stored no CA certificate: $ERR"
run trisa-csr -config "$CONF" --key ec:P-256 -keyout client.key -out client.csr
assert_rc 0 "client key file"
assert_mode client.key 600
assert_eq "$(openssl pkey -in client.key -pubout)" "$(openssl req -in client.csr -noout -pubkey)" "the client CSR's key"
run trisa-fetch --csr client.csr --profile 42 --key client.key --out-dir client --trust "$EMU_CA" --interval 1
assert_rc 0 "client certificate"

# The chain the server sends, as the token has it (pkcs11-tool reads it by its label).
ca_label=$(printf '%s' "$ca_uri" | sed -n 's/.*;object=\([^;]*\);.*/\1/p' | sed 's/%20/ /g')
pkcs11-tool --module "$P11_MODULE" --token-label trisa --read-object --type cert --label "$ca_label" \
    -o token-ca.der 2>/dev/null || fail "cannot read the CA certificate '$ca_label' from the token"
openssl x509 -inform DER -in token-ca.der -out token-chain.pem

# The PIN for the engine: a file without a line end, and the URI `hsm list` prints for it.
(umask 077 && printf '%s' 1234 >"$T/pin.engine")
run trisa-csr hsm list --pkcs11-uri "pkcs11:token=trisa" --pin-file "$T/pin.engine"
assert_rc 0 "hsm list with the engine's PIN file"
server_uri=$(printf '%s\n' "$ERR" | sed -n 's/^trisa-csr: hint: a server using the libp11 engine reads this PIN with //p')
assert_contains "$server_uri" ";object=server;type=private?pin-source=file"
run trisa-csr hsm list --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
assert_rc 0 "hsm list with a PIN file ending in a line end"
assert_contains "$ERR" "trisa-csr: warning: $PIN_FILE ends its PIN with a line end: our tools ignore it, but the libp11 engine's pin-source=file: sends it as part of the PIN"
ok "hsm list prints the key's URI with a ready pin-source, and warns about a PIN file ending in a line end"

# serve KEY-URI [s_server options]: start s_server for one connection; sets SRV_PID and
# SRV_PORT (0 when it exited before listening: its stderr is in $T/srv.err).
serve() {
    local uri=$1 i
    shift
    : >"$T/srv.out"
    openssl s_server -engine pkcs11 -keyform engine -key "$uri" -cert server/cert.pem \
        -accept 127.0.0.1:0 -naccept 1 -www "$@" </dev/null >"$T/srv.out" 2>"$T/srv.err" &
    SRV_PID=$!
    SRV_PORT=0
    for i in $(seq 1 300); do
        SRV_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/srv.out")
        [ -n "$SRV_PORT" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || { SRV_PORT=0; return 0; }
        sleep 0.1
    done
    fail "s_server did not start listening in 30 s"
}
at_exit 'kill $SRV_PID 2>/dev/null'
# connect: s_client with the client's key file, trusting the emulator's root only.
connect() {
    run openssl s_client -connect "127.0.0.1:$SRV_PORT" -servername trisa.example.com \
        -cert client/cert.pem -cert_chain client/chain.pem -key client.key -CAfile "$EMU_CA" \
        -verify_return_error -ign_eof \
        < <(printf 'GET / HTTP/1.0\r\n\r\n')
    wait "$SRV_PID" 2>/dev/null || true
}

serve "$server_uri" -cert_chain token-chain.pem -CAfile "$EMU_CA" -Verify 2 -verify_return_error
[ "$SRV_PORT" != 0 ] || fail "s_server with the token key did not start: $(cat "$T/srv.err")"
connect
assert_rc 0 "s_client"
assert_contains "$OUT" "Verify return code: 0 (ok)"
assert_contains "$ERR" "depth=1 O = trisa-certkit emulator, CN = TRISA Emulator Issuing CA"
assert_contains "$OUT" "Client certificate"
assert_contains "$OUT" "subject=CN = trisa.example.com"
ok "mTLS handshake: s_server signs with the token key (libp11 engine), sends the token's chain, verifies the client's file key"

# Without the token's chain the client (trusting the root only) refuses the server.
serve "$server_uri"
[ "$SRV_PORT" != 0 ] || fail "s_server did not start: $(cat "$T/srv.err")"
connect
assert_rc 1 "s_client without the chain"
assert_contains "$OUT$ERR" "unable to get local issuer certificate"
ok "without the CA certificate from the token the handshake fails: the chain beside the key is what servers need"

# A PIN file made for our tools (with a line end) fails in the engine, as documented.
serve "pkcs11:token=trisa;object=server;type=private?pin-source=file:$PIN_FILE"
wait "$SRV_PID" 2>/dev/null || true
assert_eq "$SRV_PORT" 0 "s_server port with a PIN file ending in a line end"
assert_contains "$(cat "$T/srv.err")" "Login failed"
ok "the libp11 engine fails to log in with a PIN file ending in a line end (the README's warning)"
done_testing
