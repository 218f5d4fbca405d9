#!/usr/bin/env bash
# trisa-renew with the keys on a PKCS#11 token (SoftHSM2 through p11-kit's proxy): each
# renewal makes a new key object (fresh random CKA_ID, label LABEL-N) and stores the
# certificate and the issuing CA beside it; the previous key and certificate stay until
# --prune after the grace period; list shows the key's URI; the deploy hook gets
# TRISA_KEY_URI. pkcs11-tool judges what is on the token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"
. "$(dirname "$0")/emulator.sh"
need pkcs11-tool "Debian package opensc"
need openssl
need python3
trisa-renew --help >/dev/null 2>&1 || skip "trisa-renew is not built"
new_softhsm trisa
register_with_p11kit trisa
start_emulator --test-hooks --processing-delay 0

emu_credentials cred.env
export XDG_CACHE_HOME="$T/cache" TRISA_STATE_DIR="$T/trisa-state"
L="$TRISA_STATE_DIR/lineages/node"
p11() { pkcs11-tool --module "$P11_MODULE" --token-label trisa --login --pin 1234 "$@" 2>/dev/null; }
# "class label id" of every object, sorted.
objects() {
    p11 --list-objects | python3 -c '
import re, sys
cls = label = None
rows = []
for line in sys.stdin:
    m = re.match(r"^(Private Key|Public Key|Certificate) Object", line)
    if m:
        cls = {"Private Key": "priv", "Public Key": "pub", "Certificate": "cert"}[m.group(1)]
        continue
    m = re.match(r"^\s+label:\s+(.*)$", line)
    if m: label = m.group(1).strip()
    m = re.match(r"^\s+ID:\s+([0-9a-f]+)$", line)
    if m and cls:
        rows.append("%s %s %s" % (cls, label, m.group(1)))
        cls = None
print("\n".join(sorted(rows)))'
}
requests() { curl -sS "$EMU_URL/_emulator/requests" | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["path"] == sys.argv[1]))' "$1"; }

cat >hook.sh <<'EOF'
#!/bin/sh
env | grep -E '^TRISA_KEY_URI=' >"$HOOK_OUT"
EOF
chmod +x hook.sh
export HOOK_OUT="$T/hook.out"

run trisa-renew add node --config "$TRISA_SOURCE_DIR/conf/trisa.conf" --profile 42 --key ec:P-256 \
    --pkcs11-uri "pkcs11:token=trisa" --pin-file "$PIN_FILE" --trust "$EMU_CA" \
    --credentials cred.env --deploy-hook "$T/hook.sh"
assert_rc 0 "add on a token"
assert_contains "$(cat "$L/lineage.conf")" "pkcs11_uri = pkcs11:token=trisa"
assert_contains "$(cat "$L/lineage.conf")" "key_label = node"

run trisa-renew node
assert_rc 0 "first certificate on the token"
key1=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["lineages"][0]["key"]["location"])' <<<"$(trisa-renew list --json)")
case "$key1" in "pkcs11:"*";id=%"*";type=private"*) ;; *) fail "the key's location is not a token URI: $key1" ;; esac
assert_eq "$(cat "$HOOK_OUT")" "TRISA_KEY_URI=$key1" "TRISA_KEY_URI"
assert_missing "$L/versions/1/key.pem"
id1=$(objects | sed -n 's/^priv node-1 //p')
[ -n "$id1" ] || fail "no private key labelled node-1 on the token: $(objects)"
assert_eq "$(objects | grep -c " $id1$")" 3 "key pair and certificate under one id"
assert_eq "$(p11 --read-object --type cert --id "$id1" | openssl x509 -inform DER -outform PEM)" \
    "$(cat "$L/live/cert.pem")" "the certificate on the token is the live one"
# The issuing CA is on the token too, labelled with its CN.
issuing_cn=$(openssl x509 -in "$L/live/chain.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
assert_eq "$(objects | grep -c "^cert $issuing_cn ")" 1 "the issuing CA on the token"
assert_eq "$(openssl x509 -in "$L/live/cert.pem" -pubkey -noout | sha256sum | cut -c1-64)" \
    "$(p11 --read-object --type pubkey --id "$id1" | openssl pkey -pubin -inform DER -pubout | sha256sum | cut -c1-64)" \
    "the certificate carries the token's new key"
assert_not_contains "$(cat "$L/live/node.pem")" "PRIVATE KEY"
ok "token lineage: key made on the token (node-1, its own id), certificate and CA stored, node.pem without a key, TRISA_KEY_URI"

run trisa-renew --force node
assert_rc 0 "renewal on the token"
id2=$(objects | sed -n 's/^priv node-2 //p')
[ -n "$id2" ] && [ "$id2" != "$id1" ] || fail "no new key object node-2 with its own id: $(objects)"
assert_eq "$(objects | grep -c " $id1$")" 3 "the previous key and certificate stay"
assert_eq "$(objects | grep -c " $id2$")" 3 "the new key and certificate"
run trisa-renew list
assert_contains "$OUT" "id=%$(echo "$id2" | sed 's/../&%/g; s/%$//')"
ok "renewal: a new key object node-2 with its own id, the previous one kept, list shows the new URI"

# --prune after the grace period removes version 1's objects, and nothing else.
run trisa-renew --prune --keep-previous 0 --now "$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)" node
assert_rc 0 "prune"
assert_contains "$ERR" "node: version 1's token objects removed"
assert_eq "$(objects | grep -c " $id1$")" 0 "version 1's objects"
assert_eq "$(objects | grep -c " $id2$")" 3 "version 2's objects"
[ "$(p11 --list-objects --type cert | grep -c 'Certificate Object')" -ge 2 ] || fail "the CA certificate went too"
run trisa-renew --prune --keep-previous 0 node
assert_rc 0 "prune again"
assert_not_contains "$ERR" "removed"
ok "--prune removes only the superseded version's key pair and certificate"

# A wrong PIN: nothing made, nothing sent, exit 13.
echo 9999 >wrong
chmod 600 wrong
sed -i "s|^pin_file = .*|pin_file = $T/wrong|" "$L/lineage.conf"
before=$(requests /api/v1/batches/upload)
run trisa-renew --force node
assert_rc 13 "wrong PIN"
assert_eq "$(requests /api/v1/batches/upload)" "$before" "uploads with a wrong PIN"
assert_eq "$(objects | grep -c '^priv node-3 ')" 0 "no key made with a wrong PIN"
ok "a wrong PIN: exit 13 before anything is made or sent"
done_testing
