#!/bin/bash
# Many configs in one call: one key + CSR each, outputs named after each config, made in
# parallel, all or nothing.
. "$(dirname "$0")/lib.sh"
need openssl

EXAMPLE="$SHARE/trisa.conf"
mkdir confs
for n in alpha beta gamma; do
    sed -e "s/trisa.example.com/$n.example.com/" "$EXAMPLE" >confs/$n.conf
done
echo "not a config" >confs/README

mkdir out
run trisa-csr --key rsa:2048 --jobs 2 confs --out-dir out --bundle-out all.csr
assert_rc 0 "folder of configs"
assert_dir_is out "alpha.csr alpha.key beta.csr beta.key gamma.csr gamma.key"
for n in alpha beta gamma; do
    assert_mode out/$n.key 600
    openssl req -in out/$n.csr -verify -noout 2>/dev/null || fail "out/$n.csr does not verify"
    assert_contains "$(openssl req -in out/$n.csr -noout -subject)" "CN = $n.example.com"
    [ "$(openssl pkey -in out/$n.key -pubout)" = "$(openssl req -in out/$n.csr -pubkey -noout)" ] ||
        fail "out/$n.csr is not for out/$n.key"
done
assert_eq "$(grep -c -- '-----BEGIN CERTIFICATE REQUEST-----' all.csr)" "3" "CSRs in the bundle"
assert_eq "$(cat out/alpha.csr out/beta.csr out/gamma.csr)" "$(cat all.csr)" "bundle"
ok "a folder gives NAME.key + NAME.csr for each *.conf, and --bundle-out holds them all"

mkdir out2
run trisa-csr --key ec:P-256 -j 3 --json confs/alpha.conf -config confs/beta.conf -d out2
assert_rc 0 "two configs, --json"
assert_eq "$(printf '%s' "$OUT" | jq -r 'length')" "2"
assert_eq "$(printf '%s' "$OUT" | jq -r '.[1].csrFile')" "out2/beta.csr"
assert_eq "$(printf '%s' "$OUT" | jq -r '.[0].commonName')" "alpha.example.com"
ok "configs given as arguments and with -config mix; --json gives an array"

# One bad config: nothing at all is written.
mkdir out3
cp -r confs confs-bad
sed -i 's/^C = US/C = United States/' confs-bad/beta.conf
run trisa-csr --key rsa:2048 confs-bad --out-dir out3 --bundle-out bad-all.csr
assert_rc 3 "one bad config"
assert_contains "$ERR" "confs-bad/beta.conf:"
assert_contains "$ERR" "[dn_req] C: country must be a two-letter ISO 3166 code"
assert_dir_is out3 ""
assert_missing bad-all.csr
ok "one invalid config: exit 3 and nothing written for any of them"

# One existing output: refused before any key is made.
run trisa-csr --key rsa:2048 confs --out-dir out
assert_rc 4 "existing outputs"
assert_eq "$ERR" "trisa-csr: error: out/alpha.key: already exists (not replaced; --force replaces it)"
ok "existing outputs are not replaced (exit 4)"

run trisa-csr --key rsa:2048 confs -keyout x.key
assert_rc 2 "-keyout with several configs"
assert_missing x.key
run trisa-csr --key rsa:2048 confs/alpha.conf confs/alpha.conf -d out3
assert_rc 2 "same names twice"
assert_dir_is out3 ""
mkdir empty
run trisa-csr --key rsa:2048 empty
assert_rc 3 "empty folder"
assert_eq "$ERR" "trisa-csr: error: empty: no *.conf files in the folder"
ok "usage errors: -keyout with several configs, one name twice, an empty folder"

# One config with --out-dir (or a folder holding one) is named the same way.
mkdir one out4
cp confs/alpha.conf one/
run trisa-csr --key rsa:2048 one --out-dir out4
assert_rc 0 "folder of one"
assert_dir_is out4 "alpha.csr alpha.key"
mkdir out5
run trisa-csr --key rsa:2048 -config confs/beta.conf -d out5
assert_rc 0 "one config, --out-dir"
assert_dir_is out5 "beta.csr beta.key"
run trisa-csr --key rsa:2048 -config confs/beta.conf -d out5 -keyout k.pem
assert_rc 2 "--out-dir with --keyout"
assert_contains "$ERR" "so --keyout and --out cannot be used"
assert_missing k.pem
assert_dir_is out5 "beta.csr beta.key"
ok "a folder of one config, or --out-dir, also names the outputs after the config"

done_testing
