#!/bin/bash
# trisa-csr against hostile inputs and outputs, as a user (or an attacker who controls a
# file) would give them: FIFOs that never block, keys that ask for 2^31-1 iterations or
# are of kinds Sectigo refuses, digests that cannot or should not sign, configs with NUL
# bytes, controls and Unicode white space, .include of what is no config, outputs that
# are devices or pipes, writes that fail half-way with --force, and allocation failures.
. "$(dirname "$0")/lib.sh"
need openssl
need python3
need timeout
need mkfifo

CONF="$TRISA_SOURCE_DIR/tests/integration/data/trisa-docs.conf"
HOSTILE="$TRISA_SOURCE_DIR/tests/integration/hostile.py"
cp "$CONF" trisa.conf
CASES=0
case_done() { CASES=$((CASES + 1)); }
# A command that must answer at once: a hang (the old open() of a FIFO) fails the test.
quick() { run timeout 20 "$@"; [ "$RC" -ne 124 ] || fail "$*: still blocked after 20 s"; }
line_of() { grep -a -n -- "$2" "$1" | head -1 | cut -d: -f1; }

# ---------------------------------------------------------------------------------------
# FIFOs with no writer: refused at once, exit 3.
mkfifo fifo.conf fifo.pem
quick trisa-csr -config fifo.conf -keyout k.pem -out r.csr
assert_rc 3 "FIFO as -config"
assert_eq "$ERR" "trisa-csr: error: fifo.conf: not a regular file (a FIFO)"
case_done
{ cat trisa.conf; echo ".include fifo.conf"; } >inc-fifo.conf
quick trisa-csr -config inc-fifo.conf -keyout k.pem -out r.csr
assert_rc 3 "FIFO as .include"
assert_eq "$ERR" "trisa-csr: error: inc-fifo.conf:$(line_of inc-fifo.conf '^.include'): .include fifo.conf: not a regular file (a FIFO)"
case_done
quick trisa-csr -config trisa.conf --key-in fifo.pem -out r.csr
assert_rc 3 "FIFO as --key-in"
assert_eq "$ERR" "trisa-csr: error: fifo.pem: not a regular file (a FIFO)"
case_done
assert_missing k.pem
assert_missing r.csr
ok "a FIFO as -config, .include or --key-in is refused at once (exit 3), never waited on"

# ---------------------------------------------------------------------------------------
# An encrypted key that asks for 2^31-1 PBKDF2 iterations: refused before anything is
# derived (2^24 took 2.4-7.2 s; 2^31-1 would take minutes).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkcs8 -topk8 -in ec.pem -v2 aes-256-cbc -iter 2048 -passout pass:x -outform DER -out ec.p8
python3 "$HOSTILE" p8-iter ec.p8 hostile.p8 2147483647
openssl pkcs8 -topk8 -in ec.pem -v2 aes-256-cbc -iter 2048 -passout pass:x -out ec-enc.pem
# The same file as PEM: its base64 wrapped as openssl does.
{ echo "-----BEGIN ENCRYPTED PRIVATE KEY-----"; base64 -w 64 hostile.p8; echo "-----END ENCRYPTED PRIVATE KEY-----"; } >hostile-p8.pem
for f in hostile.p8 hostile-p8.pem; do
    t0=$(date +%s%N)
    quick trisa-csr -config trisa.conf --key-in "$f" --passin pass:x -out r.csr
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    assert_rc 3 "2^31-1 iterations ($f)"
    assert_eq "$ERR" "trisa-csr: error: $f: the key's PBKDF2 asks for 2147483647 iterations; at most 1000000 are accepted (trisa-csr writes 600000)"
    [ "$ms" -lt 5000 ] || fail "$f: refused only after $ms ms"
    echo "# $f: refused in $ms ms (whole trisa-csr run)"
    case_done
done
assert_missing r.csr
run trisa-csr -config trisa.conf --key-in ec-enc.pem --passin pass:x -out ok.csr
assert_rc 0 "ordinary encrypted key (2048 iterations)"
assert_eq "$(openssl req -in ok.csr -noout -pubkey)" "$(openssl pkey -in ec-enc.pem -passin pass:x -pubout)" "ok.csr's key"
ok "an encrypted PKCS#8 asking for 2^31-1 iterations is refused in milliseconds, exit 3"

# ---------------------------------------------------------------------------------------
# Keys trisa would never make: each refused with its reason, exit 3, nothing written.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out rsa512.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem 2>/dev/null
openssl genpkey -algorithm ED25519 -out ed25519.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out p224.pem 2>/dev/null
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -out dsa.param 2>/dev/null
openssl genpkey -paramfile dsa.param -out dsa.pem 2>/dev/null
while IFS='|' read -r file why; do
    run trisa-csr -config trisa.conf --key-in "$file" -out r.csr
    assert_rc 3 "--key-in $file"
    assert_eq "$ERR" "trisa-csr: error: $file: $why"
    assert_missing r.csr
    case_done
done <<'EOF'
rsa512.pem|RSA-512 is too weak: use RSA of 2048, 3072 or 4096 bits (or EC P-256 / P-384)
rsa1024.pem|RSA-1024 is too weak: use RSA of 2048, 3072 or 4096 bits (or EC P-256 / P-384)
ed25519.pem|ED25519 keys are not supported (Sectigo certifies RSA and EC P-256 / P-384 keys): make an RSA or EC key
dsa.pem|DSA keys are not supported (Sectigo certifies RSA and EC P-256 / P-384 keys): make an RSA or EC key
k1.pem|EC curve secp256k1 is not one TLS certificates use: use P-256 or P-384
p224.pem|EC curve secp224r1 is not one TLS certificates use: use P-256 or P-384
EOF
ok "RSA-512/1024, Ed25519, DSA, secp256k1 and P-224 keys: the reason, exit 3"

# ---------------------------------------------------------------------------------------
# Digests: refused with file:line before the key is made (exit 3), or as an option (2).
for md in md5 sha1 shake128; do
    sed "s/^default_bits = 4096/default_bits = 4096\ndefault_md = $md/" trisa.conf >md.conf
    run trisa-csr -config md.conf -keyout k.pem -out r.csr
    assert_rc 3 "default_md = $md"
    assert_contains "$ERR" "trisa-csr: error: md.conf:$(line_of md.conf '^default_md'): [req] default_md: digest '$md' "
    assert_missing k.pem
    case_done
done
run trisa-csr -config trisa.conf -keyout k.pem -out r.csr --digest md5
assert_rc 2 "--digest md5"
assert_eq "$ERR" "trisa-csr: --digest: digest 'md5' is too weak for a certificate request (certificates signed with it are refused): use sha384 (or sha256, sha512) (see 'trisa-csr --help')"
assert_missing k.pem
case_done
ok "md5, sha1 and shake128 are refused before any key is made, with file:line"

# ---------------------------------------------------------------------------------------
# Values: NUL bytes, controls, Unicode white space, SAN emails and URIs, placeholders.
# Each row: a sed expression on trisa.conf (or 'utf8:' first for utf8 = yes), and the
# message after "trisa-csr: error: bad.conf:LINE: ".
bad_value() {
    local edit=$1 want=$2 utf8=0
    case "$edit" in utf8:*) utf8=1; edit=${edit#utf8:} ;; esac
    sed -e "$edit" trisa.conf >bad.conf
    [ "$utf8" = 0 ] || sed -i 's/^prompt = no/prompt = no\nutf8 = yes/' bad.conf
    run trisa-csr -config bad.conf -keyout k.pem -out r.csr
    assert_rc 3 "$edit"
    assert_contains "$ERR" "$want" "stderr for $edit"
    assert_missing k.pem
    case_done
}
printf 'O = Example VASP Ltd\0\n0.OU = Compliance\n' >nul.part
sed '/^O = /r nul.part' trisa.conf | sed '/^O = Example VASP$/d' >nul.conf
run trisa-csr -config nul.conf -keyout k.pem -out r.csr
assert_rc 3 "NUL byte"
assert_eq "$ERR" "trisa-csr: error: nul.conf:$(line_of nul.conf '^O = '): a NUL byte in the line (not a text file?)"
case_done
bad_value 's/^O = .*/O = Example\x1b[2JVASP/' "[dn_req] O: value 'Example\\x1b[2JVASP' has a control character (0x1B)"
bad_value 's/^O = .*/O = Example\x07VASP/' "[dn_req] O: value 'Example\\x07VASP' has a control character (0x07)"
bad_value 's/^O = .*/O = Example\x7fVASP/' "has a control character (0x7F)"
bad_value 's/^O = .*/O = Example\x01VASP/' "has a control character (0x01)"
bad_value 's/^O = .*/O = Example\\nVASP/' "[dn_req] O: value 'Example\\x0aVASP' has a control character (0x0A)"
bad_value 'utf8:s/^O = .*/O = Example VASP\xc2\xa0/' "[dn_req] O: value 'Example VASP\\u00A0' has white space (U+00A0) at an end (it would be part of the certificate)"
bad_value 'utf8:s/^O = .*/O = \xe2\x80\x83Example VASP/' "has white space (U+2003) at an end"
bad_value 'utf8:s/^O = .*/O = Example VASP\xe3\x80\x80/' "has white space (U+3000) at an end"
bad_value 'utf8:s/^O = .*/O = Example VASP\xc2\x85/' "has white space (U+0085) at an end"
bad_value 'utf8:s/^O = .*/O = Example VASP\xe2\x80\x8b/' "has white space (U+200B) at an end"
bad_value 'utf8:s/^O = .*/O = \xef\xbb\xbfExample VASP/' "has white space (U+FEFF) at an end"
bad_value 'utf8:s/^O = .*/O = Example\xe2\x80\xaePSAV/' "value 'Example\\u202EPSAV' has an invisible or control character (U+202E)"
bad_value 's/^O = .*/O = Example <your organisation> Ltd/' "[dn_req] O: placeholder '<your organisation>' not filled in"
bad_value 's/^IP.1 = .*/email.1 = j\xc3\xb6rg@example.com/' "[v3ext_req] subjectAltName: email 'jörg@example.com' is not ASCII"
bad_value 's/^IP.1 = .*/URI.1 = https:\/\/example.com\/a b/' "[v3ext_req] subjectAltName: URI 'https://example.com/a b' has a space or a control character"
ok "NUL bytes, ESC/BEL/DEL/0x01/LF, U+00A0/2003/3000/0085/200B/FEFF at an end, U+202E, an embedded placeholder, a non-ASCII email and a URI with a space: refused with file:line"

# ---------------------------------------------------------------------------------------
# .include of what is no config: named, never echoed, never skipped.
printf 'root:$y$j9T$S3CR3TSALT$S3CR3THASH:19000:0:99999:7:::\n' >shadow
inc() { { cat trisa.conf; echo ".include $1"; } >inc.conf; run timeout 20 trisa-csr -config inc.conf -keyout k.pem -out r.csr; }
L=$(( $(wc -l <trisa.conf) + 1 ))
inc missing.conf
assert_rc 3 ".include missing"
assert_eq "$ERR" "trisa-csr: error: inc.conf:$L: .include missing.conf: cannot open: No such file or directory"
case_done
inc /dev/zero
assert_rc 3 ".include /dev/zero"
assert_eq "$ERR" "trisa-csr: error: inc.conf:$L: .include /dev/zero: not a regular file (a character device)"
case_done
inc inc.conf
assert_rc 3 ".include itself"
assert_eq "$ERR" "trisa-csr: error: inc.conf:$L: .include inc.conf: includes itself (a loop)"
case_done
inc shadow
assert_rc 3 ".include of a shadow-like file"
assert_eq "$ERR" "trisa-csr: error: shadow:1: cannot parse the config: missing equal sign"
assert_not_contains "$ERR" "S3CR3T" "stderr"
case_done
printf '[dn_req]\nCN = trisa.example.com\nO = Example VASP\nC = USA\n' >dn.conf
sed -e '/^\[dn_req\]/,/^$/d' trisa.conf >main.conf
echo ".include dn.conf" >>main.conf
run trisa-csr -config main.conf -keyout k.pem -out r.csr
assert_rc 3 "error in an included file"
assert_eq "$ERR" "trisa-csr: error: dn.conf:4: [dn_req] C: country must be a two-letter ISO 3166 code (e.g. US), not (the value in the included file)"
case_done
assert_missing k.pem
ok ".include: missing, /dev/zero, itself, a shadow line (never echoed), an error named in the included file"

# ---------------------------------------------------------------------------------------
# Every error of a config in one run (file:line, field, what is expected), then exit 3.
sed -e 's/^O = .*/O = <legal name>/' -e 's/^C = .*/C = USA/' -e 's/serverAuth/serverAuthh/' \
    -e 's/^DNS.1 = .*/DNS.1 = -trisa.example.com/' -e 's/^DNS.2 = .*/DNS.2 = api..example.com/' \
    trisa.conf >many.conf
rm -f k.pem r.csr
run trisa-csr -config many.conf -keyout k.pem -out r.csr
assert_rc 3 "five errors"
# The bad DNS names are judged even though an extension word is wrong (no second run).
assert_eq "$ERR" "trisa-csr: error: many.conf:$(line_of many.conf '^O = '): [dn_req] O: placeholder '<legal name>' not filled in
trisa-csr: error: many.conf:$(line_of many.conf '^C = '): [dn_req] C: country must be a two-letter ISO 3166 code (e.g. US), not 'USA'
trisa-csr: error: many.conf:$(line_of many.conf '^extendedKeyUsage'): [v3ext_req] extendedKeyUsage: unknown extendedKeyUsage word 'serverAuthh' (expected serverAuth, clientAuth, or a dotted OID)
trisa-csr: error: many.conf:$(line_of many.conf '^DNS.1'): [v3ext_req] subjectAltName: '-trisa.example.com' is not a valid DNS name
trisa-csr: error: many.conf:$(line_of many.conf '^DNS.2'): [v3ext_req] subjectAltName: 'api..example.com' is not a valid DNS name"
assert_missing k.pem
assert_missing r.csr
ok "all errors of a config in one run, each with file:line and field"

# ---------------------------------------------------------------------------------------
# Outputs that are devices or pipes are written to, never replaced.
run trisa-csr -config trisa.conf --key ec:P-256 -keyout dev.pem -out /dev/null --force
assert_rc 0 "-out /dev/null --force"
assert_eq "$(stat -c %F /dev/null)" "character special file" "/dev/null"
case_done
trisa-csr -config trisa.conf --key ec:P-256 -keyout dev2.pem -out /dev/stdout --force | openssl req -verify -noout 2>/dev/null ||
    fail "-out /dev/stdout into a pipe"
assert_eq "$(stat -c %F /dev/stdout)" "symbolic link" "/dev/stdout"
case_done
mkfifo out.fifo
cat out.fifo >from-fifo.csr &
reader=$!
run trisa-csr -config trisa.conf --key ec:P-256 -keyout dev3.pem -out out.fifo
wait "$reader"
assert_rc 0 "-out a FIFO"
openssl req -in from-fifo.csr -verify -noout 2>/dev/null || fail "the FIFO's reader got no CSR"
[ -p out.fifo ] || fail "out.fifo was replaced"
case_done
quick trisa-csr -config trisa.conf --key ec:P-256 -keyout dev4.pem -out out.fifo
assert_rc 1 "a FIFO nobody reads"
assert_eq "$ERR" "trisa-csr: error: out.fifo: no process reads from this FIFO"
assert_missing dev4.pem
case_done
ok "/dev/null, /dev/stdout and a FIFO are written to, never replaced; a FIFO nobody reads is an error"

# ---------------------------------------------------------------------------------------
# --force and a write that fails half-way: the old key and CSR are kept, byte for byte.
run trisa-csr -config trisa.conf --key rsa:3072 -keyout key.pem -out req.csr
assert_rc 0 "the first key"
assert_mode key.pem 600
assert_eq "$(openssl req -in req.csr -noout -pubkey)" "$(openssl pkey -in key.pem -pubout)" "req.csr's key"
before=$(sha256sum key.pem req.csr)
# The disk fills up: 2048 bytes take the new CSR (1.5 kB) but not the RSA-3072 key (2.5 kB).
run bash -c 'trap "" XFSZ; ulimit -f 2; exec trisa-csr -config trisa.conf --key rsa:3072 -keyout key.pem -out req.csr --force'
assert_rc 1 "key write fails"
assert_eq "$ERR" "trisa-csr: error: key.pem: cannot write: File too large"
assert_eq "$(sha256sum key.pem req.csr)" "$before" "key.pem and req.csr after a failed --force"
case_done
mkdir all.csr
run trisa-csr -config trisa.conf --key rsa:3072 -keyout key.pem -out req.csr --bundle-out all.csr --force
assert_rc 3 "--bundle-out is a folder"
assert_eq "$ERR" "trisa-csr: error: all.csr: is a folder, not a file (not replaced)"
assert_eq "$(sha256sum key.pem req.csr)" "$before" "key.pem and req.csr after a refused --force"
case_done
# Several configs: the bundle (two CSRs, 2.3 kB) fails after the keys were made.
mkdir confs out
for n in alpha beta; do sed "s/trisa.example.com/$n.example.com/" trisa.conf >confs/$n.conf; done
run trisa-csr --key rsa:2048 confs --out-dir out --bundle-out out/all.csr
assert_rc 0 "the first keys"
assert_dir_is out "all.csr alpha.csr alpha.key beta.csr beta.key"
assert_eq "$(cat out/alpha.csr out/beta.csr)" "$(cat out/all.csr)" "the bundle: both CSRs"
before=$(cd out && sha256sum alpha.key alpha.csr beta.key beta.csr all.csr)
run bash -c 'trap "" XFSZ; ulimit -f 2; exec trisa-csr --key rsa:2048 confs --out-dir out --bundle-out out/all.csr --force'
assert_rc 1 "bundle write fails"
assert_eq "$ERR" "trisa-csr: error: out/all.csr: cannot write: File too large"
assert_eq "$(cd out && sha256sum alpha.key alpha.csr beta.key beta.csr all.csr)" "$before" "out/ after a failed --force"
assert_dir_is out "all.csr alpha.csr alpha.key beta.csr beta.key"
case_done
ok "--force: a key, CSR or bundle write that fails leaves every old file as it was"

# ---------------------------------------------------------------------------------------
# Allocation failures: each allocation of trisa-csr's own code fails in turn; it never
# crashes, and never leaves a key without its CSR (or the reverse).
if ! command -v cc >/dev/null; then
    echo "# skipped: no C compiler for the allocation-failure shim"
elif ldd "$(command -v trisa-csr)" | grep -q libasan; then
    echo "# skipped: a sanitizer build (its runtime must come first)"
else
    cc -shared -fPIC -O1 -o failalloc.so "$TRISA_SOURCE_DIR/tests/integration/failalloc.c"
    oom_scenario() { # name, args...
        local name=$1
        shift
        rm -rf oom && mkdir oom && cp -r confs trisa.conf oom/ && cd oom && mkdir out
        FAILALLOC_COUNT=count LD_PRELOAD=../failalloc.so trisa-csr "$@" >/dev/null 2>&1 ||
            fail "$name: fails without any allocation failure"
        local n
        n=$(cat count)
        [ "$n" -gt 10 ] || fail "$name: only $n allocations counted"
        for i in $(seq 1 "$n"); do
            rm -rf out k.pem r.csr && mkdir out
            set +e
            FAILALLOC_NTH=$i LD_PRELOAD=../failalloc.so trisa-csr "$@" >/dev/null 2>err.txt
            rc=$?
            set -e
            [ "$rc" -lt 128 ] || fail "$name: allocation $i of $n: killed by signal $((rc - 128))"
            if [ "$rc" -ne 0 ]; then
                [ -z "$(ls -A out)" ] && [ ! -e k.pem ] && [ ! -e r.csr ] ||
                    fail "$name: allocation $i of $n failed (exit $rc) and files were left: $(ls -A out) $(ls k.pem r.csr 2>/dev/null)"
            fi
        done
        cd ..
        echo "# $name: $n allocations, each failed in turn"
        CASES=$((CASES + n))
    }
    oom_scenario "one config" -config trisa.conf --key ec:P-256 -keyout k.pem -out r.csr --print
    oom_scenario "a folder" --key ec:P-256 confs --out-dir out --bundle-out out/all.csr --json
    ok "every allocation of trisa-csr's own code fails once: no crash, nothing half-written"
fi

echo "# hostile cases: $CASES"
done_testing
