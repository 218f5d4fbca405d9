#!/bin/bash
# trisa-csr init writes a template that validation refuses until it is filled in.
. "$(dirname "$0")/lib.sh"
need openssl

run trisa-csr init --cn api.example.com -o my.conf
assert_rc 0 "init"
assert_exists my.conf
assert_contains "$(cat my.conf)" "CN = api.example.com"
assert_contains "$(cat my.conf)" "DNS.1 = api.example.com"
ok "init writes a template with the CN and its DNS name"

run trisa-csr -config my.conf -keyout key.pem -out req.csr
assert_rc 3 "unfilled template"
# Every unfilled placeholder in one run (not one per run), each with its line, then exit 3.
l() { grep -n "^$1 = " my.conf | cut -d: -f1; }
assert_eq "$ERR" "trisa-csr: error: my.conf:$(l O): [dn_req] O: placeholder '<legal name of your organisation>' not filled in
trisa-csr: error: my.conf:$(l L): [dn_req] L: placeholder '<city>' not filled in
trisa-csr: error: my.conf:$(l ST): [dn_req] ST: placeholder '<state or province>' not filled in
trisa-csr: error: my.conf:$(l C): [dn_req] C: placeholder '<two-letter country code>' not filled in"
assert_missing key.pem
assert_missing req.csr
ok "the template is refused while placeholders remain, all of them named in one run"

sed -i -e 's/^O = .*/O = Example VASP/' -e 's/^L = .*/L = Berlin/' \
    -e 's/^ST = .*/ST = Berlin/' -e 's/^C = .*/C = DE/' my.conf
run trisa-csr -config my.conf -keyout key.pem -out req.csr --key rsa:2048
assert_rc 0 "filled template"
assert_eq "$ERR" ""
openssl req -in req.csr -verify -noout 2>/dev/null || fail "req.csr does not verify"
openssl req -new -newkey rsa:2048 -nodes -config my.conf -keyout ok.pem -out ok.csr 2>/dev/null ||
    fail "openssl req does not accept the filled template"
ok "filled in, the template passes validation and openssl req takes it too"

before=$(cat my.conf)
run trisa-csr init --cn api.example.com -o my.conf
assert_rc 4 "init over an existing file"
assert_eq "$ERR" "trisa-csr: error: my.conf: already exists (not replaced)"
assert_eq "$(cat my.conf)" "$before" "my.conf after init without --force"
run trisa-csr init --cn other.example.com -o my.conf --force
assert_rc 0 "init --force"
assert_contains "$(cat my.conf)" "CN = other.example.com"
run trisa-csr init -o -
assert_rc 0 "init to stdout"
assert_contains "$OUT" "CN = <host name, e.g. trisa.example.com>"
run trisa-csr init --cn "bad name"
assert_rc 2 "bad --cn"
assert_eq "$ERR" "trisa-csr init: --cn 'bad name': not a host name (see 'trisa-csr init --help')"
assert_eq "$OUT" "" "stdout of a bad --cn"
ok "init refuses to replace a file without --force, writes to stdout with -o -"

done_testing
