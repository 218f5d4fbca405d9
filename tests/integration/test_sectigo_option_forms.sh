# The shared option parser (tools/common/opt.c) in trisa-csr and trisa-fetch: the spellings
# Go's flag package takes, which the reference sectigo CLI's users type (-x=value, -x value,
# --long=value, --long value, --flag=true|false). sectigo's own are pinned, every flag of
# every command, by test_sectigo_compat.sh.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
need openssl
need zip

CONF="$TRISA_SOURCE_DIR/tests/integration/data/trisa-docs.conf"
cp "$CONF" trisa.conf

# ---- trisa-csr ----------------------------------------------------------------------------
n=0
for form in "-c=trisa.conf" "-c trisa.conf" "--config=trisa.conf" "--config trisa.conf" \
    "-config trisa.conf" "-config=trisa.conf"; do
    n=$((n + 1))
    for out in "-o=csr$n.pem" "--out=csr$n.pem" "-out csr$n.pem"; do
        rm -f "csr$n.pem" "key$n.pem"
        # shellcheck disable=SC2086 # the forms are meant to split
        run trisa-csr $form -k "key$n.pem" $out --key ec:P-256 "--cn=v$n.example.com" --san "v$n.example.com"
        assert_rc 0 "trisa-csr $form ... $out"
        assert_exists "csr$n.pem"
        assert_missing "=csr$n.pem"
        subject=$(openssl req -in "csr$n.pem" -noout -subject -nameopt RFC2253)
        assert_contains "$subject" "CN=v$n.example.com" "trisa-csr --cn=VALUE"
    done
done
ok "trisa-csr: -c=F, -c F, --config=F, --config F, -config F, -config=F; -o=F, --out=F; --cn=V"

old=$(openssl pkey -in key1.pem -pubout 2>/dev/null)
oldcsr=$(cat csr1.pem)
run trisa-csr -c trisa.conf -k key1.pem -o csr1.pem --key ec:P-256 --force=false
assert_rc 4 "--force=false over existing files"
assert_contains "$ERR" "key1.pem: already exists"
run trisa-csr -c trisa.conf -k key1.pem -o csr1.pem --key ec:P-256 -f=false
assert_rc 4 "-f=false over existing files"
assert_eq "$(openssl pkey -in key1.pem -pubout 2>/dev/null)" "$old" "the key after --force=false and -f=false"
assert_eq "$(cat csr1.pem)" "$oldcsr" "the CSR after --force=false and -f=false"
run trisa-csr -c trisa.conf -k key1.pem -o csr1.pem --key ec:P-256 --force=true
assert_rc 0 "--force=true"
[ "$(openssl pkey -in key1.pem -pubout 2>/dev/null)" != "$old" ] || fail "--force=true did not replace the key"
old=$(openssl pkey -in key1.pem -pubout 2>/dev/null)
run trisa-csr -c trisa.conf -k key1.pem -o csr1.pem --key ec:P-256 -f=1
assert_rc 0 "-f=1"
[ "$(openssl pkey -in key1.pem -pubout 2>/dev/null)" != "$old" ] || fail "-f=1 did not replace the key"
assert_eq "$(openssl req -in csr1.pem -noout -pubkey)" "$(openssl pkey -in key1.pem -pubout)" "the CSR of the new key"
run trisa-csr -c trisa.conf -k key1.pem -o csr1.pem --key ec:P-256 --force=yes
assert_rc 2 "--force=yes"
assert_eq "$ERR" "trisa-csr: option '--force' takes true or false, not 'yes' (see 'trisa-csr --help')"
ok "trisa-csr: --force=false / -f=false change nothing, --force=true / -f=1 replace, --force=yes is refused"

run trisa-csr -c trisa.conf -k key9.pem -o csr9.pem --key ec:P-256 --print=false
assert_rc 0 "--print=false"
assert_eq "$OUT" "" "--print=false prints nothing"
rm -f key9.pem csr9.pem
run trisa-csr -c trisa.conf -k key9.pem -o csr9.pem --key ec:P-256 -p=true
assert_rc 0 "-p=true"
assert_contains "$OUT" "subject:     C=US,ST=California,L=Menlo Park,O=Example VASP,CN=trisa.example.com"
ok "trisa-csr: --print=false and -p=true"

# ---- trisa-fetch ---------------------------------------------------------------------------
mkdir pki
openssl ecparam -name prime256v1 -genkey -noout -out pki/root.key 2>/dev/null
openssl req -new -x509 -key pki/root.key -subj "/O=Test/CN=Test Root" -days 3650 -out pki/root.pem \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out pki/leaf.key 2>/dev/null
openssl req -new -key pki/leaf.key -subj "/O=Test/CN=forms.example.com" -out pki/leaf.csr 2>/dev/null
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:forms.example.com\n' >pki/ext
openssl x509 -req -in pki/leaf.csr -CA pki/root.pem -CAkey pki/root.key -CAcreateserial -days 90 \
    -extfile pki/ext -out pki/leaf.pem 2>/dev/null || fail "openssl x509 -req"
cat pki/leaf.pem pki/root.pem >pki/forms.example.com.pem
(cd pki && zip -q ../batch.zip forms.example.com.pem) || fail zip

n=0
for form in "--zip=batch.zip -o=out1" "-z=batch.zip --out-dir=out2" "-z batch.zip -o out3" \
    "--zip batch.zip --out-dir out4"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    run trisa-fetch $form "-k=pki/leaf.key" "--trust=pki/root.pem" -q
    assert_rc 0 "trisa-fetch $form"
    cmp -s "out$n/cert.pem" pki/leaf.pem || fail "trisa-fetch $form: out$n/cert.pem is not the leaf"
done
assert_missing "=out1"
ok "trisa-fetch: --zip=F, -z=F, -o=D, --out-dir=D, -k=K, --trust=F and the spaced forms"

# Identical outputs are left alone whatever --force says; one that differs is replaced
# only when forced.
printf 'changed\n' >>out1/chain.pem
run trisa-fetch -z batch.zip -o out1 -k pki/leaf.key -t pki/root.pem -q --force=false
assert_rc 4 "--force=false over a changed output"
assert_eq "$(tail -n 1 out1/chain.pem)" "changed" "--force=false left the changed file"
run trisa-fetch -z batch.zip -o out1 -k pki/leaf.key -t pki/root.pem -q -f=true
assert_rc 0 "-f=true"
[ "$(tail -n 1 out1/chain.pem)" != "changed" ] || fail "-f=true did not replace the changed file"
printf 'changed\n' >>out1/chain.pem
run trisa-fetch -z batch.zip -o out1 -k pki/leaf.key -t pki/root.pem -f --json=true
assert_rc 0 "--json=true"
case "$OUT" in "{"*) ;; *) fail "--json=true did not print JSON: $OUT" ;; esac
printf 'changed\n' >>out1/chain.pem
run trisa-fetch -z batch.zip -o out1 -k pki/leaf.key -t pki/root.pem -f --json=false -q
assert_rc 0 "--json=false"
case "$OUT" in "{"*) fail "--json=false printed JSON" ;; esac
ok "trisa-fetch: --force=false, -f=true, --json=true, --json=false"
done_testing
