# The library used directly, as examples/ and bench/ use it, against the emulator: the
# example lists authorities and uploads a CSR; ten calls through one handle ride one TCP
# connection.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
. "$TRISA_SOURCE_DIR/tests/integration/sectigo.sh"
need curl
need openssl
BUILD=${TRISA_TEST_TMP%/test-tmp}
[ -x "$BUILD/examples/sectigo_upload" ] || skip "examples not built"
[ -x "$BUILD/bench/sectigo_connections" ] || skip "bench helpers not built"
start_emulator --test-hooks --processing-delay 0
use_emulator

make_csr lib.example.com
run "$BUILD/examples/sectigo_upload" "$T/lib.example.com.csr"
assert_rc 0 "example"
assert_eq "$OUT" "authority 1: TRISA, profile 42 (TRISA Profile), balance 10
batch 1: READY_FOR_DOWNLOAD" "example output"
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads"
ok "examples/sectigo_upload lists authorities and uploads a CSR"

run "$BUILD/bench/sectigo_connections" "$EMU_URL" 10
assert_rc 0 "sectigo_connections"
assert_eq "$OUT" "10 calls (after login) used 1 TCP connection(s) in total"
ok "ten calls through one client handle use one TCP connection"
done_testing
