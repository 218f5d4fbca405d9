/*
 * libFuzzer target: a private key file as trisa-csr --key-in, trisa-fetch --key and the
 * bundle reader take it (PEM or DER; PKCS#8 plain or encrypted; traditional RSA / EC),
 * decoded without a passphrase and with one, then described and fingerprinted.
 */
#include <stdint.h>
#include <stdlib.h>

#include "trisa/keygen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const pass[] = {NULL, "fuzz-passphrase"};

    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        EVP_PKEY *key = NULL;
        if (trisa_keygen_decode(&key, data, size, pass[i], "fuzz.key") == 0) {
            char desc[128], hex[TRISA_KEYGEN_FINGERPRINT_HEX];
            (void)trisa_keygen_describe(desc, sizeof(desc), key);
            (void)trisa_keygen_fingerprint_hex(hex, key);
        }
        trisa_keygen_free(key);
    }
    trisa_error_clear();
    return 0;
}
