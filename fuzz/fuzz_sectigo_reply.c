/*
 * libFuzzer target: whatever a Sectigo server (or anything posing as one) sends back goes
 * through the reply parsers, the Go-style printers, the JWT claim reader (its times must
 * be ones the client can compute with), the token cache's parser, the status normaliser,
 * the Content-Disposition filename check and the error-message reader.
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
        long long iat, exp, nbf;
        char sub[64];
        (void)sectigo_parse_balance(&n, s);
        if (trisa_sectigo_jwt_claims(s, &iat, &exp, &nbf, sub, sizeof(sub)) == 0 &&
            (iat <= 0 || exp <= 0 || nbf < 0 || iat > 253402300799LL || exp > 253402300799LL ||
             nbf > 253402300799LL || memchr(sub, '\0', sizeof(sub)) == NULL)) {
            abort(); /* a time the client's arithmetic cannot take */
        }
    }
    {
        /* The token cache file (transport/client.c reads it with this parser). */
        struct json_object *o = sectigo_json_parse_secret(s, NULL), *v;
        if (json_object_is_type(o, json_type_object) &&
            json_object_object_get_ex(o, "accessToken", &v)) {
            (void)json_object_get_string(v);
        }
        sectigo_json_put_secret(o);
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
