#!/usr/bin/env bash
# The default module: p11-kit's proxy (as pkg-config names it), reaching SoftHSM2
# registered the way Debian registers it. No --pkcs11-module, no $TRISA_PKCS11_MODULE.
# pkcs11-tool and GnuTLS p11tool, through the same proxy, judge.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
need openssl
need pkcs11-tool "Debian package opensc"
need p11tool "Debian package gnutls-bin"
new_softhsm trisa
register_with_p11kit trisa
CONF="$TRISA_SOURCE_DIR/conf/trisa.conf"

run trisa-csr hsm list --pkcs11-uri "pkcs11:token=trisa"
assert_rc 0 "hsm list through the default module"
assert_eq "$(printf '%s\n' "$OUT" | head -n 1)" "module $P11KIT_PROXY" "module line"
assert_contains "$OUT" "token 'trisa': SoftHSM project SoftHSM v2, serial "
assert_eq "$ERR" "" "stderr"
ok "hsm list finds the token through p11-kit's proxy, the path pkg-config gives"

run trisa-csr -config "$CONF" --pkcs11-uri "pkcs11:token=trisa;object=proxied" --key ec:P-256 \
    --pin-file "$PIN_FILE" -out req.csr
assert_rc 0 "key made through the proxy"
assert_contains "$ERR" "trisa-csr: made a ec:P-256 key on token 'trisa': pkcs11:"
openssl req -verify -noout -in req.csr 2>/dev/null || fail "the CSR does not verify"
run pkcs11-tool --module "$P11KIT_PROXY" --token-label trisa --login --pin 1234 --list-objects --type privkey
assert_rc 0 "pkcs11-tool through the proxy"
assert_contains "$OUT" "label:      proxied"
assert_contains "$OUT" "Access:     sensitive, always sensitive, never extractable, local"
run env GNUTLS_PIN=1234 p11tool --login --list-privkeys "pkcs11:token=trisa"
assert_rc 0 "p11tool"
assert_contains "$OUT" "Label: proxied"
openssl req -in req.csr -noout -pubkey >csr-pub.pem
run env GNUTLS_PIN=1234 p11tool --login --export-pubkey "pkcs11:token=trisa;object=proxied;type=private"
assert_rc 0 "p11tool --export-pubkey"
assert_eq "$(openssl pkey -pubin -in <(printf '%s\n' "$OUT") -outform PEM)" "$(cat csr-pub.pem)" "public key"
ok "key made on the token through the proxy; pkcs11-tool and p11tool see it, and its public key is the CSR's"

run trisa-csr -config "$CONF" --key-in-uri "pkcs11:token=trisa;object=proxied" --pin-file "$PIN_FILE" -out renew.csr
assert_rc 0 "--key-in-uri through the proxy"
assert_eq "$(openssl req -in renew.csr -noout -pubkey)" "$(cat csr-pub.pem)" "renewal key"
run trisa-csr -config "$CONF" --key-in-uri "pkcs11:token=nope" --pin-file "$PIN_FILE" -out none.csr
assert_rc 12 "no such token"
assert_contains "$ERR" "trisa-csr: error: no token matches 'pkcs11:token=nope'; tokens present: 'trisa' (serial "
assert_missing none.csr
ok "renewal with --key-in-uri through the proxy; a missing token is named with the ones present"
done_testing
