/*
 * libFuzzer target: whatever a Sectigo server (or anything posing as one) sends back goes
 * through the reply parsers, the Go-style printers, the JWT claim reader, the status
 * normaliser, the Content-Disposition filename check and the error-message reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *out = NULL, *tmp;
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';

    {
        trisa_sectigo_batch *b = NULL;
        if (sectigo_parse_batch(&b, s) == 0 && trisa_sectigo_batch_json(&out, b) == 0) {
            free(out);
        }
        trisa_sectigo_batch_free(b);
    }
    {
        trisa_sectigo_authority_list *l = NULL;
        if (sectigo_parse_authorities(&l, s) == 0 && trisa_sectigo_authorities_json(&out, l) == 0) {
            free(out);
        }
        trisa_sectigo_authority_list_free(l);
    }
    {
        trisa_sectigo_profile_list *l = NULL;
        if (sectigo_parse_profiles(&l, s) == 0 && trisa_sectigo_profiles_json(&out, l) == 0) {
            free(out);
        }
        trisa_sectigo_profile_list_free(l);
    }
    {
        trisa_sectigo_profile_param_list *l = NULL;
        if (sectigo_parse_profile_params(&l, s) == 0 &&
            trisa_sectigo_profile_params_json(&out, l) == 0) {
            free(out);
        }
        trisa_sectigo_profile_param_list_free(l);
    }
    {
        trisa_sectigo_organization *g = NULL;
        if (sectigo_parse_organization(&g, s) == 0 &&
            trisa_sectigo_organization_json(&out, g) == 0) {
            free(out);
        }
        trisa_sectigo_organization_free(g);
    }
    {
        trisa_sectigo_find_result *r = NULL;
        if (sectigo_parse_find_result(&r, s) == 0 && trisa_sectigo_find_result_json(&out, r) == 0) {
            free(out);
        }
        trisa_sectigo_find_result_free(r);
    }
    {
        char *a = NULL, *r = NULL;
        long long n;
        if (sectigo_parse_tokens(&a, &r, s) == 0) {
            free(a);
            free(r);
        }
        (void)sectigo_parse_balance(&n, s);
        (void)trisa_sectigo_jwt_claims(s, &n, &n, &n, NULL, 0);
    }
    free(trisa_sectigo_disposition_filename(s));
    free(sectigo_error_message(s, size));
    (void)sectigo_retry_after_seconds(s, 0);
    {
        int code;
        (void)trisa_sectigo_reason_code(&code, s);
    }
    if ((tmp = strdup(s)) != NULL) {
        trisa_sectigo_status_normalize(tmp);
        free(tmp);
    }
    free(s);
    return 0;
}
