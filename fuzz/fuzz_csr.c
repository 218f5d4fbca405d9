/*
 * libFuzzer target: a certificate signing request as trisa-fetch --csr and the emulator
 * receive it (PEM or DER), parsed with its signature checked, then every accessor.
 */
#include <stdint.h>
#include <stdlib.h>

#include "trisa/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trisa_csr *csr = NULL;

    if (trisa_csr_parse(&csr, data, size, "fuzz.csr") == 0) {
        char *pem = NULL;
        size_t len = 0;
        (void)trisa_csr_subject(csr);
        (void)trisa_csr_common_name(csr);
        for (size_t i = 0; i < trisa_csr_san_count(csr); i++) {
            (void)trisa_csr_san(csr, i);
        }
        (void)trisa_csr_key_description(csr);
        (void)trisa_csr_signature_algorithm(csr);
        (void)trisa_csr_key_fingerprint(csr);
        if (trisa_csr_to_pem(&pem, &len, csr) == 0) {
            free(pem);
        }
    }
    trisa_csr_free(csr);
    trisa_error_clear();
    return 0;
}
