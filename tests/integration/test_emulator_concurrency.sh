# Eight clients create batches at once: every batch id is unique and the licence
# balance comes out exact.
. "$TRISA_SOURCE_DIR/tests/integration/lib.sh"
. "$TRISA_SOURCE_DIR/tests/integration/emulator.sh"
need curl
need openssl

sed -e 's/"balance": 10,/"balance": 100,/' -e 's/"serverKeyBits": 4096/"serverKeyBits": 2048/' \
    "$SHARE/emulator.json" >"$T/emulator.json"
start_emulator --processing-delay 0 --config "$T/emulator.json"
TOKEN=$(emu_token)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/c.key" \
    -subj "/CN=c.example.com" -addext "subjectAltName=DNS:c.example.com" -out "$T/c.csr" 2>/dev/null
cat "$T/c.csr" "$T/c.csr" >"$T/two.csr"
printf '{"profileId": 42, "batchType": "BATCH", "profileParams": {}}' >"$T/blob.json"

client() { # 4 uploads of 2 CSRs and 1 createSingleCertBatch: 9 licences
    local n=$1 i
    for i in 1 2 3 4; do
        curl -sS -H "Authorization: Bearer $TOKEN" -F profileId=42 \
            -F "csrBatchRequest=@$T/blob.json;filename=blob;type=application/json" \
            -F "files=@$T/two.csr;type=text/plain" "$EMU_URL/api/v1/batches/upload" >"$T/out.$n.$i"
    done
    curl -sS -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"authorityId\":42,\"batchName\":\"client $n\",\"profileParams\":{\"commonName\":\"c$n.example.com\",\"pkcs12Password\":\"password-$n\"}}" \
        "$EMU_URL/api/v1/batches/createSingleCertBatch" >"$T/out.$n.5"
}
pids=()
for n in 1 2 3 4 5 6 7 8; do
    client "$n" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a client failed"; done
ids=$(for f in "$T"/out.*; do cat "$f"; echo; done | sed -n 's/^{"batchId":\([0-9]*\),.*"status":"\([A-Z_]*\)".*/\1 \2/p')
assert_eq "$(printf '%s\n' "$ids" | wc -l)" 40 "40 batches"
assert_eq "$(printf '%s\n' "$ids" | cut -d' ' -f1 | sort -u | wc -l)" 40 "unique batch ids"
assert_eq "$(printf '%s\n' "$ids" | cut -d' ' -f2 | sort -u)" "READY_FOR_DOWNLOAD" "all accepted (delay 0)"
run curl -sS -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/authorities/1/balanceavailable"
assert_eq "$OUT" 28 "balance 100 - 8 * 9"
run curl -sS -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/devices"
assert_eq "$OUT" '{"ordered":72,"issued":72}' "devices"
run curl -sS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"commonName":"c.example.com"}' "$EMU_URL/api/v1/certificates/find"
assert_contains "$OUT" '{"totalCount":64,' "certificates recorded"
serials=$(printf '%s' "$OUT" | grep -o '"serialNumber":"[0-9A-F]*"' | sort -u | wc -l)
assert_eq "$serials" 64 "unique serial numbers"
ok "8 parallel clients: 40 unique batch ids, balance exact (28), 64 unique serials"

# The last licences under contention: 28 left, 8 clients each ask for 4 twice.
cat "$T/two.csr" "$T/two.csr" >"$T/four.csr"
pids=()
for n in 1 2 3 4 5 6 7 8; do
    (for i in 1 2; do
        curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -F profileId=42 \
            -F "files=@$T/four.csr;type=text/plain" "$EMU_URL/api/v1/batches/upload"
    done >"$T/codes.$n") &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
assert_eq "$(cat "$T"/codes.* | grep -c '^200$')" 7 "seven batches of four fit in 28"
assert_eq "$(cat "$T"/codes.* | grep -c '^400$')" 9 "the rest are refused"
run curl -sS -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/v1/authorities/1/balanceavailable"
assert_eq "$OUT" 0 "balance never negative"
ok "racing for the last licences: exactly as many batches as fit, balance 0"
stop_emulator || fail "the emulator did not exit cleanly"
done_testing
