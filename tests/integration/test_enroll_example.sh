#!/usr/bin/env bash
# examples/enroll_csr: a program that enrols a CSR through trisa/enroll.h (the shared
# library), run against the emulator: one upload, the files and the result in memory;
# run again, "already issued" and nothing sent.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
BUILD=${TRISA_TEST_TMP%/test-tmp}
[ -x "$BUILD/examples/enroll_csr" ] || skip "examples not built"
start_emulator --test-hooks --processing-delay 0
use_emulator

make_csr example.example
run "$BUILD/examples/enroll_csr" "$T/example.example.csr" "$T/example.example.key" 42 "$EMU_CA" "$T/out"
assert_rc 0 "example"
full=$(wc -c <"$T/out/fullchain.pem")
assert_eq "$OUT" "uploaded: batch 1
verified: yes
wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in $T/out
issued
batch 1: /CN=example.example/O=Test VASP, $full bytes of fullchain.pem in $T/out" "example output"
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads"
run openssl verify -CAfile "$EMU_CA" -untrusted "$T/out/chain.pem" "$T/out/cert.pem"
assert_rc 0 "openssl verify"
assert_eq "$OUT" "$T/out/cert.pem: OK" "openssl verify"
assert_eq "$(openssl x509 -in "$T/out/cert.pem" -noout -pubkey)" "$(openssl pkey -in "$T/example.example.key" -pubout)" "the certificate's key"
ok "examples/enroll_csr enrols a CSR through trisa/enroll.h: one upload, verified files, the result in memory"

n=$(emu_requests | wc -l)
run "$BUILD/examples/enroll_csr" "$T/example.example.csr" "$T/example.example.key" 42 "$EMU_CA" "$T/out"
assert_rc 0 "again"
assert_eq "$OUT" "already issued
batch 1: /CN=example.example/O=Test VASP, $full bytes of fullchain.pem in $T/out" "second output"
assert_eq "$(emu_requests | wc -l)" "$n" "requests"
ok "run again: already issued, the result read back, nothing sent"
done_testing
