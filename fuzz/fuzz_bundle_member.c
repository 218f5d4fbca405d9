/*
 * libFuzzer target: one member of a batch bundle. The first byte picks the member's kind
 * by its extension (.p12, .pem, .der, .p7b, .crt), the rest is its content; the bundle is
 * then resolved into identities and each one's report made, as trisa-fetch does before it
 * writes anything. The password is fixed, so a PKCS#12 made with it by a seed is opened.
 */
#include <stdint.h>
#include <stdlib.h>

#include "trisa/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"m.p12", "m.pem", "m.der", "m.p7b", "m.crt"};
    trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle *b = NULL;

    if (size < 1) {
        return 0;
    }
    o.password = "fuzz-password";
    if (trisa_bundle_new(&b, &o) != 0) {
        abort();
    }
    if (trisa_bundle_add_member(b, names[data[0] % 5], data + 1, size - 1) == 0 &&
        trisa_bundle_resolve(b) == 0) {
        for (size_t i = 0; i < trisa_bundle_identity_count(b); i++) {
            (void)trisa_bundle_common_name(b, i);
            (void)trisa_bundle_has_bundle_key(b, i);
            (void)trisa_bundle_leaf(b, i);
        }
    }
    trisa_bundle_free(b);
    trisa_error_clear();
    return 0;
}
