#!/usr/bin/env bash
# The whole path with the key on a PKCS#11 token (SoftHSM2, reached through p11-kit's
# proxy, the default module): trisa-csr makes the key on the token and signs the CSR
# there, trisa-fetch uploads it to the emulator, verifies the issued chain, matches the
# certificate to the token key and stores it on the token with the issuing CA, where
# pkcs11-tool and p11tool find them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
. "$(dirname "$0")/emulator.sh"
need pkcs11-tool "Debian package opensc"
need p11tool "Debian package gnutls-bin"
need openssl
new_softhsm trisa
register_with_p11kit trisa
start_emulator --test-hooks --processing-delay 0
uploads() { curl -sS "$EMU_URL/_emulator/requests" | grep -o '"path":"/api/v1/batches/upload"' | wc -l; }

export SECTIGO_ENDPOINT="$EMU_URL" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME="$EMU_USER" SECTIGO_PASSWORD="$EMU_PASS"
export XDG_CACHE_HOME="$T/cache"
KEY="pkcs11:token=trisa;object=vasp-2026"
p11() { pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 "$@" 2>/dev/null; }
certs_on_token() { p11 --list-objects --type cert | grep -c "Certificate Object" || true; }

run trisa-csr -config "$TRISA_SOURCE_DIR/conf/trisa.conf" --pkcs11-uri "$KEY" --key ec:P-384 --pin-file "$PIN_FILE" -out req.csr
assert_rc 0 "trisa-csr on the token"
assert_contains "$ERR" ";object=vasp-2026;type=private"
ok "key made on the token from the URI's object name, CSR signed there"

# The token is checked before the upload: nothing is sent while it is not right.
echo 9999 >wrong-pin
chmod 600 wrong-pin
for c in "13|--pkcs11-uri $KEY --pin-file wrong-pin|" \
    "12|--pkcs11-uri pkcs11:token=no-such-token;object=vasp-2026 --pin-file $PIN_FILE|no-such-token" \
    "12|--pkcs11-uri pkcs11:token=trisa;object=no-such-key --pin-file $PIN_FILE|no-such-key" \
    "12|--pkcs11-uri $KEY --pin-file $PIN_FILE --pkcs11-module $T/missing.so|missing.so"; do
    IFS='|' read -r code opts text <<<"$c"
    # shellcheck disable=SC2086
    run trisa-fetch --csr req.csr --profile 42 --out-dir out $opts --trust "$EMU_CA" --interval 1
    assert_rc "$code" "trisa-fetch $opts"
    assert_contains "$ERR" "$text"
    assert_eq "$(uploads)" 0 "uploads after $opts"
    assert_missing out
done
ok "a wrong PIN (13), a URI naming no token or no key, a module that does not load (12): refused before the upload, nothing sent"

run trisa-fetch --csr req.csr --profile 42 --out-dir out --pkcs11-uri "$KEY" --pin-file "$PIN_FILE" \
    --trust "$EMU_CA" --interval 1 --dns trisa.example.com
assert_rc 0 "trisa-fetch with the token key"
assert_contains "$ERR" "trisa-fetch: stored the certificate on token 'trisa': pkcs11:"
assert_contains "$ERR" ";object=vasp-2026;type=cert"
assert_contains "$ERR" "trisa-fetch: stored the CA certificate on token 'trisa': pkcs11:"
assert_dir_is out ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
assert_mode out/node.pem 644
assert_eq "$(cat out/node.pem)" "$(cat out/fullchain.pem)" "node.pem (no key: it stays on the token)"
assert_eq "$(uploads)" 1 "uploads"
run openssl verify -CAfile "$EMU_CA" -untrusted out/chain.pem out/cert.pem
assert_rc 0 "openssl verify"
assert_eq "$OUT" "out/cert.pem: OK" "openssl verify"
assert_eq "$(openssl x509 -in out/cert.pem -noout -pubkey)" "$(openssl req -in req.csr -noout -pubkey)" "the certificate's key (the token's)"
ok "uploaded, issued, verified, written (no key.pem: the key stays on the token)"

# pkcs11-tool finds the certificate beside the key (same label, same id) and the issuing
# CA under its own id (its subject key identifier) and label (its CN).
key_id=$(p11 --list-objects --type privkey | sed -n 's/^ *ID: *//p')
[ -n "$key_id" ] || fail "no key id from pkcs11-tool"
p11 --read-object --type cert --id "$key_id" -o token-cert.der || fail "cannot read the certificate back by the key's id"
assert_eq "$(openssl x509 -inform DER -in token-cert.der -noout -fingerprint -sha256)" \
    "$(openssl x509 -in out/cert.pem -noout -fingerprint -sha256)" "certificate on the token"
assert_contains "$(p11 --list-objects --type cert)" "label:      vasp-2026"
ca_label=$(openssl x509 -in out/chain.pem -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
ca_ski=$(openssl x509 -in out/chain.pem -noout -ext subjectKeyIdentifier | sed -n '2s/[ :]//gp' | tr 'A-F' 'a-f')
[ -n "$ca_label" ] && [ -n "$ca_ski" ] || fail "cannot read the issuing CA's CN and SKI"
p11 --read-object --type cert --label "$ca_label" -o token-ca.der || fail "no CA certificate labelled '$ca_label'"
assert_eq "$(openssl x509 -inform DER -in token-ca.der -noout -fingerprint -sha256)" \
    "$(openssl x509 -in out/chain.pem -noout -fingerprint -sha256)" "CA certificate on the token"
assert_contains "$(p11 --list-objects --type cert)" "ID:         $ca_ski"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
listing=$(p11tool --list-all-certs "pkcs11:token=trisa" 2>/dev/null)
assert_contains "$listing" "Label: $ca_label
	Flags: CKA_CERTIFICATE_CATEGORY=CA;"
ok "the certificate shares the key's id and label; the issuing CA is beside it as an authority (pkcs11-tool, p11tool)"

# hsm list names the stored certificates as every tool names a subject: RFC 4514.
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
assert_rc 0 "hsm list"
assert_contains "$OUT" "certificate 'vasp-2026' id $key_id: $(openssl x509 -in out/cert.pem -noout -subject -nameopt rfc2253,-esc_msb | sed 's/^subject=//')"
assert_contains "$OUT" ": $(openssl x509 -in out/chain.pem -noout -subject -nameopt rfc2253,-esc_msb | sed 's/^subject=//')"
ok "hsm list: the certificates' subjects as RFC 4514 strings, as openssl prints them"

# Fetching the same batch again stores nothing twice.
batch=$(sed -n 's/^batch_id=//p' "$TRISA_STATE_DIR"/requests/*/journal)
run trisa-fetch --batch "$batch" --out-dir again --pkcs11-uri "$KEY" --pin-file "$PIN_FILE" --trust "$EMU_CA"
assert_rc 0 "fetch again"
assert_contains "$ERR" "trisa-fetch: already had the CA certificate on token 'trisa': pkcs11:"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
ok "fetching again leaves one certificate and one CA certificate on the token"

# A token key that is not the certificate's: refused, nothing written, nothing stored.
run trisa-csr -config "$TRISA_SOURCE_DIR/conf/trisa.conf" --pkcs11-uri "pkcs11:token=trisa;object=other" --key ec:P-256 --pin-file "$PIN_FILE" -out other.csr
assert_rc 0 "second token key"
[ "$(openssl req -in other.csr -noout -pubkey)" != "$(openssl x509 -in out/cert.pem -noout -pubkey)" ] ||
    fail "the second token key is the certificate's"
run trisa-fetch --batch "$batch" --out-dir wrong --pkcs11-uri "pkcs11:token=trisa;object=other" --pin-file "$PIN_FILE" --trust "$EMU_CA"
assert_rc 10 "certificate of another key"
assert_contains "$ERR" "trisa-fetch: error: "
assert_missing wrong
assert_eq "$(certs_on_token)" 2 "certificates on the token"
ok "a certificate for another key is refused: nothing written, nothing stored"

# A PIN inside the URI (pin-value=) leaves argv as any secret does: the whole URI is
# overwritten in /proc/PID/cmdline. The run cannot end before the emulator answers its
# upload (held 5 s), which is sent only after the options were parsed.
emu_hooks_faults '{"method":"POST","path":"/api/v1/batches/upload","kind":"delay","delayMs":5000,"count":1}' >/dev/null
uri="pkcs11:token=trisa;object=other;pin-value=1234"
trisa-fetch --csr other.csr --profile 42 --out-dir pv --pkcs11-uri "$uri" --trust "$EMU_CA" \
    --interval 1 >pv.out 2>pv.err &
pid=$!
at_exit "kill $pid 2>/dev/null"
xs=$(printf '%*s' "${#uri}" '' | tr ' ' x)
for _ in $(seq 1 600); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--pkcs11-uri $xs" && break
    sleep 0.05
done
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
assert_not_contains "$cmdline" "pin-value" "/proc/PID/cmdline of trisa-fetch"
assert_contains "$cmdline" "--pkcs11-uri $xs " "the overwritten URI"
wait "$pid" || fail "trisa-fetch with pin-value=: $(cat pv.err)"
assert_eq "$(openssl x509 -in pv/cert.pem -noout -pubkey)" "$(openssl req -in other.csr -noout -pubkey)" "the token key's certificate"
ok "--pkcs11-uri with pin-value=: the URI is gone from /proc/PID/cmdline, the PIN in it still used"
done_testing
