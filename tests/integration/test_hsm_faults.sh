#!/usr/bin/env bash
# Token behaviours SoftHSM2 lacks, injected by the pkcs11-faults test module in front of
# it, through the real tools: refused certificate attributes, a token too small for
# RSA-4096, the device removed mid-operation, a PIN retry counter, listings that must log
# in to one token only, and p11-kit's one-list-per-caller. pkcs11-tool and GnuTLS
# p11tool judge what is on the token; the module's log shows what the tools asked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
need openssl
need pkcs11-tool "Debian package opensc"
need p11tool "Debian package gnutls-bin"
new_softhsm trisa
softhsm2-util --init-token --free --label other --pin 9999 --so-pin 5678 >/dev/null
use_faults ""
CONF="$TRISA_SOURCE_DIR/conf/trisa.conf"
KEY="pkcs11:token=trisa;object=node"
WRONG="$T/wrong-pin"
(umask 077 && echo 4321 >"$WRONG")
p11() { pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 "$@" 2>/dev/null; }
certs_on_token() { p11 --list-objects --type cert | grep -c "Certificate Object" || true; }
clear_certs() {
    local id
    for id in $(p11 --list-objects --type cert | sed -n 's/^ *ID: *//p'); do
        p11 --delete-object --type cert --id "$id" >/dev/null
    done
    [ "$(certs_on_token)" = 0 ] || fail "certificates left on the token"
}
# fetch DIR [args]: trisa-fetch stores the bundle's certificate (and CA) on the token
# through the fault module.
fetch() {
    local dir=$1
    shift
    run trisa-fetch --zip "$T/node-bundle.pem" --trust "$T/ca/root.pem" --pkcs11-module "$FAULTS" \
        --pkcs11-uri "$KEY" --pin-file "$PIN_FILE" --out-dir "$dir" "$@"
}
# documented MESSAGE: the README's table of token errors has it, word for word.
documented() { grep -qF -- "\`$1\`" "$TRISA_SOURCE_DIR/README.md" || fail "README does not document [$1]"; }
one_line() { assert_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "stderr lines of $1"; }

# The node's key on the token, and a bundle issued for it by a local CA.
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --pkcs11-uri "$KEY" --key ec:P-256 \
    --pin-file "$PIN_FILE" -out node.csr
assert_rc 0 "key on the token through the module"
bundle_for node.csr "$T/node-bundle.pem"
KEY_ID=$(p11 --list-objects --type privkey | sed -n 's/^ *ID: *//p')
[ -n "$KEY_ID" ] || fail "no key id from pkcs11-tool"

# 1. The template libp11 uses carries CKA_NAME_HASH_ALGORITHM and
#    CKA_HASH_OF_SUBJECT_PUBLIC_KEY, which opencryptoki refuses: ours does not.
use_faults "refuse=CKA_NAME_HASH_ALGORITHM,CKA_HASH_OF_SUBJECT_PUBLIC_KEY"
fetch out1
assert_rc 0 "store with the minimal template"
assert_not_contains "$ERR" "warning"
assert_eq "$(faults_log_count 'C_CreateObject CKA_CLASS,CKA_CERTIFICATE_TYPE,CKA_TOKEN,CKA_ID,CKA_LABEL,CKA_SUBJECT,CKA_ISSUER,CKA_SERIAL_NUMBER,CKA_VALUE -> CKR_OK')" 1 "leaf template"
assert_eq "$(faults_log_count 'C_CreateObject CKA_CLASS,CKA_CERTIFICATE_TYPE,CKA_TOKEN,CKA_ID,CKA_LABEL,CKA_SUBJECT,CKA_ISSUER,CKA_SERIAL_NUMBER,CKA_CERTIFICATE_CATEGORY,CKA_VALUE -> CKR_OK')" 1 "CA template"
assert_eq "$(faults_log_count 'C_CreateObject')" 2 "objects created"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
assert_contains "$(p11 --list-objects --type cert)" "ID:         $KEY_ID"
listing=$(p11tool --provider "$P11_MODULE" --list-all-certs "pkcs11:token=trisa" 2>/dev/null)
assert_contains "$listing" "Label: Test Issuing CA"
assert_contains "$listing" "Flags: CKA_CERTIFICATE_CATEGORY=CA;"
fetch out1b
assert_rc 0 "store again"
assert_contains "$ERR" "trisa-fetch: already had the CA certificate on token 'trisa': pkcs11:"
assert_eq "$(faults_log_count 'C_CreateObject')" 2 "objects created after storing again"
assert_eq "$(certs_on_token)" 2 "certificates on the token after storing again"
ok "certificates stored with our minimal template where libp11's is refused; CA as authority; nothing twice"

# 2. An optional attribute refused: stored without it, the attribute named.
clear_certs
use_faults "refuse=CKA_ISSUER"
fetch out2
assert_rc 0 "CKA_ISSUER refused"
assert_contains "$ERR" "trisa-fetch: warning: token 'trisa' refuses CKA_ISSUER on certificates (CKR_ATTRIBUTE_TYPE_INVALID): the certificate is stored without it"
assert_contains "$ERR" "trisa-fetch: warning: token 'trisa' refuses CKA_ISSUER on certificates (CKR_ATTRIBUTE_TYPE_INVALID): the CA certificate is stored without it"
assert_eq "$(faults_log_count 'C_CreateObject CKA_CLASS,CKA_CERTIFICATE_TYPE,CKA_TOKEN,CKA_ID,CKA_LABEL,CKA_SUBJECT,CKA_SERIAL_NUMBER,CKA_VALUE -> CKR_OK')" 1 "leaf without CKA_ISSUER"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
clear_certs
use_faults "refuse=CKA_CERTIFICATE_CATEGORY"
fetch out3
assert_rc 0 "CKA_CERTIFICATE_CATEGORY refused"
assert_eq "$(printf '%s\n' "$ERR" | grep -c warning)" 1 "warnings"
assert_contains "$ERR" "trisa-fetch: warning: token 'trisa' refuses CKA_CERTIFICATE_CATEGORY on certificates (CKR_ATTRIBUTE_TYPE_INVALID): the CA certificate is stored without it"
assert_not_contains "$(p11tool --provider "$P11_MODULE" --list-all-certs "pkcs11:token=trisa" 2>/dev/null)" "CKA_CERTIFICATE_CATEGORY"
clear_certs
use_faults "refuse=CKA_ISSUER,CKA_SERIAL_NUMBER"
fetch out4
assert_rc 0 "two optional attributes refused"
assert_contains "$ERR" "trisa-fetch: warning: token 'trisa' refuses more than one of CKA_ISSUER, CKA_SERIAL_NUMBER on certificates (CKR_ATTRIBUTE_TYPE_INVALID): the certificate is stored without them"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
ok "a refused optional attribute is left out and named (CKA_ISSUER, CKA_CERTIFICATE_CATEGORY, two at once)"

# 3. A needed attribute refused: nothing stored, the attribute named, the files written.
clear_certs
use_faults "refuse=CKA_LABEL"
fetch out5
assert_rc 12 "CKA_LABEL refused"
assert_eq "$ERR" "trisa-fetch: wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in out5
trisa-fetch: error: token 'trisa' refuses CKA_LABEL on certificates (CKR_ATTRIBUTE_TYPE_INVALID): the certificate was not stored; the PEM files in out5 are written"
assert_dir_is out5 ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
assert_eq "$(certs_on_token)" 0 "certificates on the token"
ok "a refused CKA_LABEL is named in the error (exit 12), which says the PEM files are written; nothing left on the token"

# 4. A token that cannot make RSA-4096: refused before asking it, nothing made.
use_faults "rsa-max=2048"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa;object=big" \
    --pin-file "$PIN_FILE" -out big.csr
assert_rc 12 "RSA-4096 on a 2048-bit token"
assert_eq "$ERR" "trisa-csr: error: token 'trisa' cannot make RSA-4096 keys (at most 2048 bits)"
documented "token 'trisa' cannot make RSA-4096 keys (at most 2048 bits)"
assert_missing big.csr
assert_eq "$(faults_log_count 'C_GenerateKeyPair')" 0 "key pair generations asked"
assert_not_contains "$(p11 --list-objects)" "label:      big"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa;object=big" \
    --key rsa:2048 --pin-file "$PIN_FILE" -out big.csr
assert_rc 0 "RSA-2048 on a 2048-bit token"
assert_eq "$(faults_log_count 'C_GenerateKeyPair RSA bits=2048 -> CKR_OK')" 1 "RSA-2048 generated"
ok "RSA-4096 on a token whose maximum is 2048 bits: exit 12 naming both sizes, never asked of the token"

# 5. The device removed in the middle: exit 12, what was being done named, nothing written.
use_faults "remove-at=C_Sign"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$PIN_FILE" -out gone.csr
assert_rc 12 "removed while signing"
assert_contains "$ERR" "trisa-csr: error: token 'trisa': "
assert_contains "$ERR" "cannot sign the request with sha384: Device removed"
one_line "removed while signing"
assert_missing gone.csr
use_faults "remove-at=C_GenerateKeyPair"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa;object=gone" \
    --key ec:P-256 --pin-file "$PIN_FILE" -out gone.csr
assert_rc 12 "removed while generating"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': cannot generate a ec:P-256 key (CKR_DEVICE_REMOVED)"
documented "token 'trisa': cannot generate a ec:P-256 key (CKR_DEVICE_REMOVED)"
assert_missing gone.csr
use_faults "remove-at=C_Login"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$PIN_FILE" -out gone.csr
assert_rc 12 "removed while logging in"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': login failed (CKR_DEVICE_REMOVED)"
clear_certs
use_faults "remove-at=C_CreateObject"
fetch out6
assert_rc 12 "removed while storing"
assert_eq "$ERR" "trisa-fetch: wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in out6
trisa-fetch: error: token 'trisa': cannot store the certificate (CKR_DEVICE_REMOVED); the PEM files in out6 are written"
assert_dir_is out6 ".trisa-enroll cert.pem chain.pem fullchain.pem node.pem pool.pem root.pem"
assert_eq "$(certs_on_token)" 0 "certificates on the token"
ok "device removed while signing, generating, logging in, storing: exit 12, one line naming it"

# 6. A PIN retry counter of 3: each failure says what the token's flags say; a locked PIN
#    is not tried again. The counter is the token's, whichever tool fails.
use_faults "pin-tries=3"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$WRONG" -out p.csr
assert_rc 13 "first wrong PIN"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': wrong PIN"
documented "token 'trisa': wrong PIN"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa"
assert_contains "$OUT" "token 'trisa': SoftHSM project SoftHSM v2, serial "
assert_contains "$OUT" ", a wrong PIN was given since the last good login, not logged in (private objects not shown)"
run trisa-fetch --zip "$T/node-bundle.pem" --trust "$T/ca/root.pem" --pkcs11-module "$FAULTS" \
    --pkcs11-uri "$KEY" --pin-file "$WRONG" --out-dir outp2
assert_rc 13 "second wrong PIN"
assert_eq "$ERR" "trisa-fetch: error: token 'trisa': wrong PIN; one more wrong PIN locks the user PIN"
documented "token 'trisa': wrong PIN; one more wrong PIN locks the user PIN"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$WRONG"
assert_rc 13 "third wrong PIN"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': wrong PIN, and the user PIN is now locked; the security officer must unlock it"
documented "token 'trisa': wrong PIN, and the user PIN is now locked; the security officer must unlock it"
logins=$(faults_log_count 'C_Login')
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$PIN_FILE" -out p.csr
assert_rc 13 "right PIN on a locked token"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': the user PIN is locked; the security officer must unlock it (nothing was tried)"
documented "token 'trisa': the user PIN is locked; the security officer must unlock it (nothing was tried)"
assert_eq "$(faults_log_count 'C_Login')" "$logins" "logins tried on the locked token"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
assert_rc 13 "listing a locked token with its PIN"
assert_eq "$ERR" "trisa-csr: error: token 'trisa': the user PIN is locked; the security officer must unlock it (nothing was tried)"
assert_eq "$(faults_log_count 'C_Login')" "$logins" "logins tried by hsm list on the locked token"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa"
assert_rc 0 "listing a locked token without PIN"
assert_contains "$OUT" ", user PIN LOCKED, not logged in"
assert_missing p.csr
ok "PIN counter: wrong PIN, one more locks it, now locked, locked and not tried (exit 13 in trisa-csr, trisa-fetch, hsm list)"

# COUNT_LOW means "a wrong PIN since the last good login" (PKCS#11), not "few tries left".
rm -f "$T"/faults-state/*
use_faults "pin-tries=5"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$WRONG" -out p.csr
assert_eq "$ERR" "trisa-csr: error: token 'trisa': wrong PIN"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$WRONG" -out p.csr
assert_eq "$ERR" "trisa-csr: error: token 'trisa': wrong PIN (an earlier login since the last good one failed too: is another program using an old PIN?)"
documented "token 'trisa': wrong PIN (an earlier login since the last good one failed too: is another program using an old PIN?)"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$PIN_FILE" -out p.csr
assert_rc 0 "right PIN resets the count"
assert_eq "$ERR" "" "stderr with the right PIN"
openssl req -verify -noout -in p.csr 2>/dev/null || fail "the CSR made with the right PIN does not verify"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "$KEY" --pin-file "$WRONG" -out p2.csr
assert_eq "$ERR" "trisa-csr: error: token 'trisa': wrong PIN"
ok "an earlier failed login is reported as such, never as 'few tries left'"

# 7. hsm list with a PIN logs in to the token the URI names only: three listings leave a
#    token with another PIN untouched, and without a URI naming one token none is tried.
rm -f "$T"/faults-state/*
use_faults "pin-tries=3"
for i in 1 2 3; do
    run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
    assert_rc 0 "listing $i"
done
assert_eq "$(faults_log_count 'C_Login')" 3 "logins"
assert_eq "$(faults_log_count 'C_Login token=trisa -> CKR_OK')" 3 "logins to trisa"
assert_contains "$OUT" "  private-key 'node' id $KEY_ID: EC prime256v1, sensitive, never extractable"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pin-file "$PIN_FILE"
assert_rc 0 "listing every token with a PIN"
assert_eq "$ERR" "trisa-csr: warning: a PIN was given but 2 tokens match 'pkcs11:': listed without logging in; name one token in the URI (token=... or serial=...)"
assert_eq "$(faults_log_count 'C_Login')" 3 "logins after listing every token"
assert_contains "$OUT" "token 'other': SoftHSM project SoftHSM v2, serial "
assert_not_contains "$OUT" "wrong PIN was given"
assert_not_contains "$OUT" "private-key"
ok "hsm list --pin-file logs in only to the token the URI names; other tokens count no failed login"

# 8. p11-kit's proxy behaviour: each C_GetFunctionList hands out a list of its own.
rm -f "$T"/faults-state/*
use_faults "new-list"
run trisa-csr hsm list --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE"
assert_rc 0 "listing through separate lists"
assert_contains "$OUT" "  private-key 'node' id $KEY_ID"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --pkcs11-uri "pkcs11:token=trisa;object=lists" \
    --key ec:P-256 --pin-file "$PIN_FILE" -out lists.csr
assert_rc 0 "key generated through separate lists"
openssl req -verify -noout -in lists.csr 2>/dev/null || fail "CSR made through separate lists does not verify"
clear_certs
fetch out7
assert_rc 0 "certificates stored through separate lists"
assert_eq "$(certs_on_token)" 2 "certificates on the token"
assert_eq "$(faults_log_count 'C_Initialize list 1 -> CKR_OK')" 3 "second lists initialised"
assert_eq "$(faults_log_count 'NOT_INITIALIZED')" 0 "calls on a list never initialised"
assert_eq "$(faults_log_count 'HANDLE_INVALID')" 0 "sessions used on another caller's list"
ok "a module that hands each caller its own function list (p11-kit's proxy) works: list, keygen, store"

# 9. The same token errors give the same message and exit code in trisa-csr and
#    trisa-fetch, and the codes are the README's.
use_faults ""
agree() { # expected-rc message uri [module]
    local want=$1 msg=$2 uri=$3 module=${4:-$FAULTS} csr_err
    run trisa-csr -config "$CONF" --pkcs11-module "$module" --key-in-uri "$uri" --pin-file "$PIN_FILE" -out agree.csr
    assert_rc "$want" "trisa-csr $uri"
    assert_eq "$ERR" "trisa-csr: error: $msg"
    csr_err=${ERR#trisa-csr: }
    run trisa-fetch --zip "$T/node-bundle.pem" --trust "$T/ca/root.pem" --pkcs11-module "$module" \
        --pkcs11-uri "$uri" --pin-file "$PIN_FILE" --out-dir agree
    assert_rc "$want" "trisa-fetch $uri"
    assert_eq "${ERR#trisa-fetch: }" "$csr_err" "trisa-fetch's message"
    assert_missing agree.csr
    assert_dir_is agree ""
}
agree 12 "no private key on token 'trisa' matches 'pkcs11:token=trisa;object=missing'" "pkcs11:token=trisa;object=missing"
run trisa-csr -config "$CONF" --pkcs11-module "$FAULTS" --key-in-uri "pkcs11:token=nope" --pin-file "$PIN_FILE" -out agree.csr
assert_rc 12 "no token (trisa-csr)"
csr_err=${ERR#trisa-csr: }
assert_contains "$csr_err" "error: no token matches 'pkcs11:token=nope'; tokens present: '"
assert_contains "$csr_err" "'trisa' (serial "
assert_contains "$csr_err" "'other' (serial "
run trisa-fetch --zip "$T/node-bundle.pem" --trust "$T/ca/root.pem" --pkcs11-module "$FAULTS" \
    --pkcs11-uri "pkcs11:token=nope" --pin-file "$PIN_FILE" --out-dir agree
assert_rc 12 "no token (trisa-fetch)"
assert_eq "${ERR#trisa-fetch: }" "$csr_err" "trisa-fetch's message"
agree 12 "/nonexistent/p11.so: PKCS#11 module not found" "$KEY" /nonexistent/p11.so
agree 3 "PKCS#11 URI 'token=trisa': URI scheme must be 'pkcs11:'" "token=trisa"
for page in trisa-csr.1 trisa-fetch.1; do
    grep -i -A1 -E '^(\.B )?12$' "$TRISA_SOURCE_DIR/man/$page" | grep -q -i 'PKCS#11 token error' || fail "$page: exit 12 is not the token error"
    grep -i -A1 -E '^(\.B )?13$' "$TRISA_SOURCE_DIR/man/$page" | grep -q -i 'wrong PIN, or the PIN is locked' || fail "$page: exit 13 is not the PIN"
done
# The prose too: trisa-fetch.1's "Before the upload" gives each token check its code, and
# no exit 3 entry (man page, README) claims a token or key object not found.
before=$(sed -n '/^\.SS Before the upload$/,/^\.SS /p' "$TRISA_SOURCE_DIR/man/trisa-fetch.1" | tr '\n' ' ')
assert_contains "$before" "the module loads (12), the token is found (12), the PIN is accepted (13), the key object is found (12))" "trisa-fetch.1, Before the upload"
exit3=$(sed -n '/^3$/,/^\.TP$/p' "$TRISA_SOURCE_DIR/man/trisa-fetch.1" | tr '\n' ' ')
assert_contains "$exit3" "invalid input" "trisa-fetch.1, exit 3"
assert_not_contains "$exit3" "token" "trisa-fetch.1, exit 3"
assert_not_contains "$(grep '^| 3 | invalid input' "$TRISA_SOURCE_DIR/README.md")" "token" "README, exit 3"
[ "$(grep -c '^| 12 | PKCS#11 token error' "$TRISA_SOURCE_DIR/README.md")" = 2 ] || fail "README: exit 12 is not a token error in both tables"
[ "$(grep -c '^| 13 | wrong PIN, or PIN locked' "$TRISA_SOURCE_DIR/README.md")" = 2 ] || fail "README: exit 13 is not the PIN in both tables"
ok "no key, no token, no module, bad URI: the same message and exit code in trisa-csr and trisa-fetch, as the README says"
done_testing
