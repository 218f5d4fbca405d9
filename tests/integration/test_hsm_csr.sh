#!/usr/bin/env bash
# trisa-csr with keys on a PKCS#11 token (SoftHSM2); pkcs11-tool and openssl judge.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
need pkcs11-tool "Debian package opensc"
need openssl
new_softhsm trisa spare
CONF="$TRISA_SOURCE_DIR/conf/trisa.conf"
HSM=(--pkcs11-module "$P11_MODULE" --pin-file "$PIN_FILE")

# A key made on the token; only the CSR is written.
mkdir out && cd out
run trisa-csr -config "$CONF" "${HSM[@]}" --pkcs11-uri "pkcs11:token=trisa" --key-label vasp-2026 -out req.csr
assert_rc 0 "token keygen"
assert_contains "$ERR" "trisa-csr: made a rsa:4096 key on token 'trisa': pkcs11:"
assert_contains "$ERR" ";object=vasp-2026;type=private"
KEY_URI=$(printf '%s\n' "$ERR" | sed -n 's/.*on token .trisa.: //p')
assert_dir_is . "req.csr"
run openssl req -verify -noout -in req.csr
assert_rc 0 "openssl req -verify"
assert_contains "$ERR$OUT" "verify OK"
ok "key generated on the token, CSR signed there and verified by openssl, no key file"

# pkcs11-tool, independently: RSA 4096, sensitive and never extractable.
run pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 --list-objects --type privkey
assert_rc 0 "pkcs11-tool --list-objects"
assert_contains "$OUT" "label:      vasp-2026"
assert_contains "$OUT" "Access:     sensitive, always sensitive, never extractable, local"
assert_contains "$OUT" "Usage:      decrypt, sign"
run pkcs11-tool --module "$P11_MODULE" --token-label trisa --read-object --type pubkey --label vasp-2026 -o pub.der
assert_rc 0 "pkcs11-tool --read-object"
openssl pkey -pubin -inform DER -in pub.der -outform PEM -out token-pub.pem
openssl req -in req.csr -noout -pubkey >csr-pub.pem
cmp -s token-pub.pem csr-pub.pem || fail "the CSR's public key is not the token's"
assert_contains "$(openssl pkey -pubin -in token-pub.pem -noout -text)" "Public-Key: (4096 bit)"
rm -f pub.der token-pub.pem csr-pub.pem
ok "pkcs11-tool lists the key sensitive, never extractable, and its public key is the CSR's"

# Renewal without re-keying: the same public key, a new CSR.
run trisa-csr -config "$CONF" "${HSM[@]}" --key-in-uri "$KEY_URI" -out renew.csr
assert_rc 0 "--key-in-uri"
assert_eq "$(openssl req -in renew.csr -noout -pubkey)" "$(openssl req -in req.csr -noout -pubkey)" "renewal key"
openssl req -verify -noout -in renew.csr 2>/dev/null || fail "renewal CSR does not verify"
# By label, with a second key on the token: the key of that label, not just any key.
run trisa-csr -config "$CONF" "${HSM[@]}" --pkcs11-uri "pkcs11:token=trisa" --key ec:P-256 --key-label vasp-2026-next -out "$T/decoy.csr"
assert_rc 0 "a second key on the token"
run trisa-csr -config "$CONF" "${HSM[@]}" --key-in-uri "pkcs11:token=trisa;object=vasp-2026" -out renew2.csr
assert_rc 0 "--key-in-uri by label"
assert_eq "$(openssl req -in renew2.csr -noout -pubkey)" "$(openssl req -in req.csr -noout -pubkey)" "the key found by label"
openssl req -verify -noout -in renew2.csr 2>/dev/null || fail "the CSR signed with the key found by label does not verify"
ok "--key-in-uri signs a new CSR with the existing token key, by URI and by label (its public key, not another key's)"

# hsm list: tokens without a PIN, keys with one.
run trisa-csr hsm list --pkcs11-module "$P11_MODULE"
assert_rc 0 "hsm list"
assert_eq "$(printf '%s\n' "$OUT" | head -n 1)" "module $P11_MODULE" "module line"
assert_contains "$OUT" "token 'trisa': SoftHSM project SoftHSM v2, serial "
assert_contains "$OUT" "token 'spare': SoftHSM project SoftHSM v2, serial "
assert_contains "$OUT" ", not logged in (private objects not shown)"
assert_not_contains "$OUT" "private-key"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
assert_rc 0 "hsm list logged in"
assert_contains "$OUT" "  private-key 'vasp-2026' id "
assert_contains "$OUT" ": RSA 4096, sensitive, never extractable"
assert_contains "$OUT" ", logged in
  pkcs11:"
assert_contains "$OUT" "$KEY_URI"
assert_not_contains "$OUT" "'spare'"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --json
assert_rc 0 "hsm list --json"
assert_contains "$OUT" '"kind": "token", "label": "trisa"'
ok "hsm list shows tokens, and with a PIN keys, each with its URI"

# Bad input: each a one-line error, a documented exit code, nothing written, no key made.
before=$(pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 --list-objects 2>/dev/null | grep -c "Private Key Object")
bad() { # expected-rc expected-message args...
    local want=$1 msg=$2
    shift 2
    run trisa-csr -config "$CONF" -out bad.csr "$@"
    assert_rc "$want" "$*"
    assert_contains "$ERR" "$msg"
    assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "stderr lines for: $*"
    assert_missing bad.csr
}
echo 9999 >"$T/wrong-pin"
chmod 600 "$T/wrong-pin"
bad 13 "trisa-csr: error: token 'trisa': wrong PIN" --pkcs11-module "$P11_MODULE" --pin-file "$T/wrong-pin" --pkcs11-uri "pkcs11:token=trisa"
bad 12 "/nonexistent/p11.so: PKCS#11 module not found" --pkcs11-module /nonexistent/p11.so --pin-file "$PIN_FILE" --pkcs11-uri "pkcs11:token=trisa"
bad 12 "not a PKCS#11 module (it has no C_GetFunctionList)" --pkcs11-module "$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -n1)" --pin-file "$PIN_FILE" --pkcs11-uri "pkcs11:token=trisa"
bad 12 "no token matches 'pkcs11:token=nope'; tokens present: '" "${HSM[@]}" --pkcs11-uri "pkcs11:token=nope"
bad 12 "2 tokens match 'pkcs11:model=SoftHSM%20v2'" "${HSM[@]}" --pkcs11-uri "pkcs11:model=SoftHSM%20v2"
bad 4 "label 'vasp-2026' is already used by 2 object(s)" "${HSM[@]}" --pkcs11-uri "pkcs11:token=trisa" --key-label vasp-2026
bad 12 "no private key on token 'trisa' matches 'pkcs11:token=trisa;object=missing'" "${HSM[@]}" --key-in-uri "pkcs11:token=trisa;object=missing"
bad 3 "PKCS#11 URI 'token=trisa': URI scheme must be 'pkcs11:'" "${HSM[@]}" --pkcs11-uri "token=trisa"
bad 2 "the token key never leaves the token: drop --keyout" "${HSM[@]}" --pkcs11-uri "pkcs11:token=trisa" --keyout k.pem
bad 2 "--pin-file needs --pkcs11-uri or --key-in-uri" --pin-file "$PIN_FILE"
after=$(pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 --list-objects 2>/dev/null | grep -c "Private Key Object")
assert_eq "$after" "$before" "private keys on the token after the failures"
assert_dir_is . "renew.csr renew2.csr req.csr"
ok "wrong PIN, missing module, non-module, unmatched and ambiguous URIs, taken label, missing key: one-line errors, nothing made"

# The same as JSON: one document on stdout, the message as on stderr (the PIN's 13 here).
run trisa-csr -config "$CONF" -out bad.csr --pkcs11-module "$P11_MODULE" --pin-file "$T/wrong-pin" --pkcs11-uri "pkcs11:token=trisa" --json
# (After a first wrong PIN, SoftHSM2 says an earlier login failed too: the message grows.)
pin_json() {
    assert_contains "$OUT" '{"error": {"exit": 13, "code": "pin", "message": "token '"'"'trisa'"'"': wrong PIN' "$1"
    assert_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "$1: one line"
    assert_eq "$OUT" "{\"error\": {\"exit\": 13, \"code\": \"pin\", \"message\": \"${ERR#*: error: }\"}}" "$1: the message of stderr"
}
assert_rc 13 "wrong PIN, --json"
pin_json "wrong PIN as JSON"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$T/wrong-pin" --json
assert_rc 13 "hsm list, wrong PIN, --json"
pin_json "hsm list: wrong PIN as JSON"
ok "a wrong PIN with --json: the JSON error (exit 13, code pin), in trisa-csr and hsm list"

# The PIN from the URI's pin-source, from the environment, and pin-value with a warning.
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --key-in-uri "pkcs11:token=trisa;object=vasp-2026?pin-source=file:$PIN_FILE" -out p1.csr
assert_rc 0 "pin-source"
TRISA_PKCS11_PIN=1234 run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --key-in-uri "pkcs11:token=trisa;object=vasp-2026" -out p2.csr
assert_rc 0 "TRISA_PKCS11_PIN"
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --key-in-uri "pkcs11:token=trisa;object=vasp-2026?pin-value=1234" -out p3.csr
assert_rc 0 "pin-value"
assert_contains "$ERR" "trisa-csr: warning: the PIN is in the PKCS#11 URI (pin-value)"
for f in p1.csr p2.csr p3.csr; do
    assert_eq "$(openssl req -in $f -noout -pubkey)" "$(openssl req -in req.csr -noout -pubkey)" "$f's key"
    openssl req -verify -noout -in $f 2>/dev/null || fail "$f does not verify"
done
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --key-in-uri "pkcs11:token=trisa;object=vasp-2026" -out p4.csr </dev/null
assert_rc 3 "no PIN and no terminal"
assert_contains "$ERR" "no terminal to prompt for a secret"
ok "PIN from pin-source, TRISA_PKCS11_PIN, pin-value (warned); no PIN and no terminal is an error"

# A PIN file others can read is used, with a warning naming it and its mode.
cp "$PIN_FILE" "$T/shared-pin"
chmod 644 "$T/shared-pin"
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --key-in-uri "pkcs11:token=trisa;object=vasp-2026" --pin-file "$T/shared-pin" -out p5.csr
assert_rc 0 "group-readable PIN file"
assert_eq "$ERR" "trisa-csr: warning: PIN file $T/shared-pin is readable by other users (mode 644): chmod 600 $T/shared-pin"
chmod 640 "$T/shared-pin"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$T/shared-pin"
assert_rc 0 "hsm list with a group-readable PIN file"
assert_contains "$ERR" "trisa-csr: warning: PIN file $T/shared-pin is readable by its group (mode 640): chmod 600 $T/shared-pin"
ok "a PIN file readable by group or others is warned about, in trisa-csr and hsm list"

# Labels as the token has them: hsm list quotes them (escaping a quote), the URI encodes
# them, pkcs11-tool shows the same bytes, and the URI finds the key again.
label="o'brien key é"
run trisa-csr -config "$CONF" "${HSM[@]}" --pkcs11-uri "pkcs11:token=spare" --key ec:P-256 --key-label "$label" -out label.csr
assert_rc 0 "key with a quote, a space and an accent in its label"
assert_contains "$(openssl req -in label.csr -noout -text)" "ASN1 OID: prime256v1"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=spare" --pin-file "$PIN_FILE"
assert_rc 0 "hsm list"
assert_contains "$OUT" "  private-key 'o\\'brien key é' id "
assert_contains "$OUT" ";object=o%27brien%20key%20%C3%A9;type=private"
assert_contains "$(pkcs11-tool --module "$P11_MODULE" --token-label spare --login --pin 1234 --list-objects --type privkey 2>/dev/null)" "label:      o'brien key é"
uri=$(printf '%s\n' "$OUT" | grep ';object=o%27brien%20key%20%C3%A9;type=private' | sed 's/^ *//')
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --pin-file "$PIN_FILE" --key-in-uri "$uri" -out label2.csr
assert_rc 0 "the listed URI finds the key"
assert_eq "$(openssl req -in label2.csr -noout -pubkey)" "$(openssl req -in label.csr -noout -pubkey)" "the key the listed URI finds"
ok "labels in hsm list: quoted with escapes, percent-encoded in the URI, as pkcs11-tool shows them"

# A control byte in a label (made by pkcs11-tool: trisa-csr makes no such label) would
# garble the line or the terminal: hsm list prints it as \xNN, the URI percent-encodes it.
ctl_label=$(printf 'ctl\033[2Jkey\tend')
pkcs11-tool --module "$P11_MODULE" --token-label spare --login --pin 1234 --keypairgen \
    --key-type EC:prime256v1 --id 0c71 --label "$ctl_label" >/dev/null 2>&1 || fail "pkcs11-tool --keypairgen with a control byte in the label"
run trisa-csr hsm list --pkcs11-module "$P11_MODULE" --pkcs11-uri "pkcs11:token=spare" --pin-file "$PIN_FILE"
assert_rc 0 "hsm list, a control byte in a label"
line=$(printf '%s\n' "$OUT" | grep -F "private-key 'ctl" | head -n 1)
assert_eq "$line" "  private-key 'ctl\\x1b[2Jkey\\x09end' id 0c71: EC prime256v1, sensitive, never extractable" "the listed key"
assert_not_contains "$OUT" "$(printf '\033')" "hsm list output (a raw ESC)"
assert_not_contains "$OUT" "$(printf '\t')" "hsm list output (a raw tab)"
uri=$(printf '%s\n' "$OUT" | grep -F ';id=%0C%71;object=ctl%1B%5B2Jkey%09end;type=private' | sed 's/^ *//')
[ -n "$uri" ] || fail "no percent-encoded URI for the key: $OUT"
run trisa-csr -config "$CONF" --pkcs11-module "$P11_MODULE" --pin-file "$PIN_FILE" --key-in-uri "$uri" -out ctl.csr
assert_rc 0 "the listed URI finds the key with a control byte in its label"
openssl req -verify -noout -in ctl.csr 2>/dev/null || fail "the CSR signed with that key does not verify"
ok "a control byte in a label: \\xNN in hsm list, %NN in its URI, which finds the key"

# EC keys on the token, through the module.
run trisa-csr -config "$CONF" "${HSM[@]}" --pkcs11-uri "pkcs11:token=spare" --key ec:P-384 --key-label ec-key -out ec.csr
assert_rc 0 "EC on token"
assert_contains "$(openssl req -in ec.csr -noout -text)" "ASN1 OID: secp384r1"
openssl req -verify -noout -in ec.csr 2>/dev/null || fail "EC CSR does not verify"
ok "EC P-384 keys are made on the token too"
done_testing
