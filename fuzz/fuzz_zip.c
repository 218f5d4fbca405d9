/*
 * libFuzzer target: a batch download as a server (or anyone in its place) sends it,
 * through the hostile-ZIP reader with its default limits; every accepted entry is read
 * back through the borrowed-entry API.
 */
#include <stdint.h>
#include <stdlib.h>

#include "trisa/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every entry's bytes are touched, so a length that overstates the buffer is caught. */
volatile size_t fuzz_zip_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trisa_bundle_zip *zip = NULL;

    if (trisa_bundle_zip_read(&zip, data, size, NULL) == 0) {
        for (size_t i = 0; i < trisa_bundle_zip_count(zip); i++) {
            const char *name;
            const unsigned char *bytes;
            size_t len;
            if (trisa_bundle_zip_entry(zip, i, &name, &bytes, &len) == 0 && len > 0) {
                fuzz_zip_sink += bytes[0] + bytes[len - 1] + (unsigned char)name[0];
            }
        }
    }
    trisa_bundle_zip_free(zip);
    trisa_error_clear();
    return 0;
}
