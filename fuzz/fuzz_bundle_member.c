/*
 * libFuzzer target: one member of a batch bundle. The first byte picks the member's kind
 * by its extension (.p12, .pem, .der, .p7b, .crt), the rest is its content; the bundle is
 * then resolved into identities and each one verified (trusting the bundle's own root, at
 * a fixed time) with its report made as text and as JSON, as trisa-fetch does before it
 * writes anything; the JSON must parse. The password is fixed, so a PKCS#12 made with it
 * by a seed is opened.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "trisa/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void verify(const trisa_bundle *b, size_t i)
{
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    char *text = NULL;

    vo.trust_bundle_root = 1;
    vo.at = 1735689600; /* 2025-01-01T00:00:00Z */
    (void)trisa_bundle_verify(&r, b, i, &vo);
    if (r != NULL) {
        if (trisa_bundle_report_text(&text, r) == 0) {
            free(text);
        }
        if (trisa_bundle_report_json(&text, r) == 0) {
            json_tokener *tok = json_tokener_new();
            json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)strlen(text)) : NULL;
            if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
                abort(); /* the report is not JSON */
            }
            json_object_put(o);
            json_tokener_free(tok);
            free(text);
        }
    }
    trisa_bundle_report_free(r);
}

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
            verify(b, i);
        }
    }
    trisa_bundle_free(b);
    trisa_error_clear();
    return 0;
}
