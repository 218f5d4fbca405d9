/* Unit tests of transport/: parsers, guards and printers, then HTTP behaviour against a
 * small local stand-in server (tests/unit/fake_sectigo.py). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "transport/internal.h"

/* ---- JWT claims ------------------------------------------------------------------- */

static char *b64url(const char *s)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 4 / 3 + 4);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | (unsigned char)s[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = set[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[o++] = set[(acc << (6 - bits)) & 63];
    }
    out[o] = '\0';
    return out;
}

static char *make_jwt(const char *claims)
{
    char *h = b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"), *p = b64url(claims);
    size_t n = strlen(h) + strlen(p) + 8;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s.c2ln", h, p);
    free(h);
    free(p);
    return out;
}

START_TEST(jwt_claims_are_read_without_verification)
{
    char *t = make_jwt("{\"sub\":\"/account/42/user/staging\",\"iat\":1000,\"exp\":1600,"
                       "\"nbf\":1100}");
    long long iat = 0, exp = 0, nbf = 0;
    char sub[64];
    ck_assert_int_eq(trisa_sectigo_jwt_claims(t, &iat, &exp, &nbf, sub, sizeof(sub)), 0);
    ck_assert_int_eq(iat, 1000);
    ck_assert_int_eq(exp, 1600);
    ck_assert_int_eq(nbf, 1100);
    ck_assert_str_eq(sub, "/account/42/user/staging");
    free(t);
}
END_TEST

START_TEST(jwt_without_nbf_reports_zero)
{
    char *t = make_jwt("{\"iat\":1000,\"exp\":1600}");
    long long iat = 0, exp = 0, nbf = 7;
    ck_assert_int_eq(trisa_sectigo_jwt_claims(t, &iat, &exp, &nbf, NULL, 0), 0);
    ck_assert_int_eq(nbf, 0);
    free(t);
}
END_TEST

/* A crafted seed of fuzz_sectigo_reply: exp 1e300 was converted to a long long (undefined
 * behaviour), and an iat of -9e18 made the client's exp - iat overflow. */
START_TEST(jwt_claims_out_of_range_are_refused)
{
    static const char *const claims[] = {
        "{\"iat\":1e300,\"exp\":1600}",
        "{\"iat\":1000,\"exp\":-1e300}",
        "{\"iat\":-9000000000000000000,\"exp\":9000000000000000000}",
        "{\"iat\":1000,\"exp\":1600,\"nbf\":253402300800}",
        "{\"iat\":1000,\"exp\":NaN}",
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        char *t = make_jwt(claims[i]);
        long long iat = 0, exp = 0, nbf = 0;
        ck_assert_msg(trisa_sectigo_jwt_claims(t, &iat, &exp, &nbf, NULL, 0) == TRISA_EINVAL,
                      "%s taken", claims[i]);
        ck_assert_str_eq(trisa_error_last(),
                         "token claims iat, exp or nbf are no time from 1970 to 9999");
        free(t);
    }
    {
        char *t = make_jwt("{\"iat\":1000.9,\"exp\":253402300799}");
        long long iat = 0, exp = 0;
        ck_assert_int_eq(trisa_sectigo_jwt_claims(t, &iat, &exp, NULL, NULL, 0), 0);
        ck_assert_int_eq(iat, 1000);
        ck_assert_int_eq(exp, 253402300799LL);
        free(t);
    }
}
END_TEST

START_TEST(jwt_missing_exp_or_malformed_is_refused)
{
    char *t = make_jwt("{\"iat\":1000}");
    ck_assert_int_eq(trisa_sectigo_jwt_claims(t, NULL, NULL, NULL, NULL, 0), TRISA_EINVAL);
    ck_assert_int_eq(trisa_sectigo_jwt_claims("not-a-jwt", NULL, NULL, NULL, NULL, 0),
                     TRISA_EINVAL);
    ck_assert_int_eq(trisa_sectigo_jwt_claims("a.!!!.b", NULL, NULL, NULL, NULL, 0), TRISA_EINVAL);
    ck_assert_int_eq(trisa_sectigo_jwt_claims("a.bm90anNvbg.b", NULL, NULL, NULL, NULL, 0),
                     TRISA_EINVAL);
    ck_assert_int_eq(trisa_sectigo_jwt_claims(NULL, NULL, NULL, NULL, NULL, 0), TRISA_EINVAL);
    free(t);
}
END_TEST

/* ---- Status, reasons ------------------------------------------------------------------ */

static const struct {
    const char *in, *out;
} statuses[] = {
    {"Ready for download", "READY_FOR_DOWNLOAD"},
    {"  Processing\n", "PROCESSING"},
    {"Failed", "FAILED"},
    {"Not Acceptable. Status: x", "NOT_ACCEPTABLE._STATUS:_X"},
    {"READY_FOR_DOWNLOAD", "READY_FOR_DOWNLOAD"},
    {"removed after expiration", "REMOVED_AFTER_EXPIRATION"},
    {"", ""},
};

START_TEST(status_is_trimmed_upper_cased_and_underscored)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", statuses[_i].in);
    ck_assert_str_eq(trisa_sectigo_status_normalize(buf), statuses[_i].out);
}
END_TEST

static const struct {
    const char *in;
    int rc, code;
} reasons[] = {
    {"", 0, 0},
    {NULL, 0, 0},
    {"unspecified", 0, 0},
    {"keycompromise", 0, 1},
    {"Key Compromise", 0, 1},
    {"ca compromise", 0, 2},
    {"Affiliation\tChanged", 0, 3},
    {"SUPERSEDED", 0, 4},
    {"Cessation of Operation", 0, 5},
    {"cessationofoperation", 0, 5},
    {"certificate hold", 0, 6},
    {"remove from crl", 0, 8},
    {"privilege withdrawn", 0, 9},
    {"aa compromise", 0, 10},
    {"5", 0, 5},
    {"7", TRISA_EINVAL, 0},
    {"value 7 is not used", TRISA_EINVAL, 0},
    {"11", TRISA_EINVAL, 0},
    {"because", TRISA_EINVAL, 0},
};

START_TEST(reason_codes_follow_rfc5280_ignoring_case_and_space)
{
    int code = -1;
    ck_assert_int_eq(trisa_sectigo_reason_code(&code, reasons[_i].in), reasons[_i].rc);
    if (reasons[_i].rc == 0) {
        ck_assert_int_eq(code, reasons[_i].code);
    }
}
END_TEST

/* ---- Environment guard ---------------------------------------------------------------- */

static const struct {
    const char *url, *env;
    int rc;
} guards[] = {
    {"https://iot.sectigo.com", "production", 0},
    {"https://iot.sectigo.com/", NULL, 0},
    {"https://iot.sectigo.com", " Production ", 0},
    {"http://iot.sectigo.com", "production", TRISA_EENV},
    {"https://evil.example", "production", TRISA_EENV},
    {"https://iot.sectigo.com.evil.example", "production", TRISA_EENV},
    {"https://localhost:8080", "production", TRISA_EENV},
    {"https://sectigo.example.org", "staging", 0},
    {"https://iot.sectigo.com", "staging", TRISA_EENV},
    {"https://other.sectigo.com", "staging", TRISA_EENV},
    {"https://IOT.SECTIGO.COM", "staging", TRISA_EENV},
    {"https://iot.sectigo.com", "docker", TRISA_EENV},
    /* Plain http outside production, as the reference allows (its compose file runs its
     * staging server as http://cathy:8831); never to a sectigo.com host. */
    {"http://sectigo.internal:8831", "docker", 0},
    {"http://cathy:8831", "docker", 0},
    {"http://staging.example.org", "staging", 0},
    {"http://iot.sectigo.com", "staging", TRISA_EENV},
    {"http://localhost", "production", TRISA_EENV},
    {"https://sectigo.internal:8831", "docker", 0},
    {"http://localhost:1234", "testing", 0},
    {"http://127.0.0.1:1234", "testing", 0},
    {"https://127.0.0.1:1234", "testing", 0},
    {"http://10.0.0.1:1234", "testing", TRISA_EENV},
    {"https://iot.sectigo.com", "testing", TRISA_EENV},
    {"ftp://localhost", "testing", TRISA_EENV},
    {"https://iot.sectigo.com", "development", TRISA_EINVAL},
    {"::not a url::", "testing", TRISA_EINVAL},
};

START_TEST(environment_guard_matches_the_reference)
{
    int rc = trisa_sectigo_check_environment(guards[_i].url, guards[_i].env);
    ck_assert_msg(rc == guards[_i].rc, "%s in %s: %d, expected %d (%s)", guards[_i].url,
                  guards[_i].env ? guards[_i].env : "(null)", rc, guards[_i].rc,
                  trisa_error_last());
}
END_TEST

/* ---- Content-Disposition ---------------------------------------------------------------- */

static const struct {
    const char *header, *name;
} dispositions[] = {
    {"attachment; filename=\"24.zip\"", "24.zip"},
    {"attachment; filename=batch.zip", "batch.zip"},
    {"attachment;filename=\"a b.zip\"", "a b.zip"},
    {"attachment; FILENAME=\"X.zip\"; size=3", "X.zip"},
    {"attachment; filename=\"esc\\\"aped.zip\"", "esc\"aped.zip"},
    {"attachment; filename=\"../../etc/passwd\"", NULL},
    {"attachment; filename=\"/etc/passwd\"", NULL},
    {"attachment; filename=\"dir/x.zip\"", NULL},
    {"attachment; filename=\"..\\\\x.zip\"", NULL},
    {"attachment; filename=\"..\"", NULL},
    {"attachment; filename=\".bashrc\"", NULL},
    {"attachment; filename=\"\"", NULL},
    {"attachment; filename=\"a\tb\"", NULL},
    {"attachment; filename=\"C:x.zip\"", NULL},
    {"attachment; filename=\"unterminated", NULL},
    {"attachment", NULL},
    {"attachment; prefilename=\"x.zip\"", NULL},
    {NULL, NULL},
    /* RFC 6266 as Go's mime.ParseMediaType reads it. */
    {"attachment; filename=a b.zip", NULL}, /* malformed: not "a" */
    {"attachment; filename=certificate.zip", "certificate.zip"},
    {"attachment; filename=\"x.zip\";", "x.zip"}, /* a trailing ';' is allowed */
    {"attachment; filename*=UTF-8''%e2%82%ac%20rates.zip", "\xe2\x82\xac rates.zip"},
    {"attachment; filename=\"plain.zip\"; filename*=UTF-8''ext.zip", "ext.zip"},
    {"attachment; filename*=utf-8'en'ext.zip; filename=\"plain.zip\"", "ext.zip"},
    {"attachment; filename*=iso-8859-1''x%e9.zip; filename=\"plain.zip\"", "plain.zip"},
    {"attachment; filename*=UTF-8''bad%zz.zip; filename=\"plain.zip\"", "plain.zip"},
    {"attachment; filename*=UTF-8''%2e%2e%2fevil.zip", NULL},
    {"attachment; filename*=UTF-8''%ff.zip", NULL},                  /* not UTF-8 */
    {"attachment; filename*=UTF-8''a%e2%80%aegpj.zip", NULL},        /* U+202E */
    {"attachment; filename*=UTF-8''a%c2%85.zip", NULL},              /* a C1 control */
    {"attachment; filename=\"a.zip\"; filename=\"b.zip\"", NULL},    /* given twice */
    {"attachment; filename=\"a.zip\"; filename=\"a.zip\"", "a.zip"}, /* twice, equal */
    {"filename=\"x.zip\"", NULL},                                    /* no type */
    {"attachment filename=\"x.zip\"", NULL},
    {"attachment; filename=\"a\\b.zip\"", NULL}, /* a backslash kept: a path */
    {"attachment; filename=\"new\nline.zip\"", NULL},
    {"attachment; size=3; FileName=\"Y.zip\"", "Y.zip"},
};

START_TEST(disposition_filename_refuses_paths_and_hidden_names)
{
    char *got = trisa_sectigo_disposition_filename(dispositions[_i].header);
    if (dispositions[_i].name == NULL) {
        ck_assert_msg(got == NULL, "%s gave %s", dispositions[_i].header, got);
    } else {
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, dispositions[_i].name);
    }
    free(got);
}
END_TEST

/* ---- Errors, Retry-After ------------------------------------------------------------------ */

START_TEST(error_message_comes_from_json_or_text)
{
    const char *j = "{\"status\":400,\"message\":\"bad params\",\"errorCode\":1,\"timestamp\":2}";
    char *m = sectigo_error_message(j, strlen(j));
    ck_assert_str_eq(m, "bad params");
    free(m);
    m = sectigo_error_message("  Not found\r\n", 13);
    ck_assert_str_eq(m, "Not found");
    free(m);
    m = sectigo_error_message("line1\nline2", 11);
    ck_assert_str_eq(m, "line1 line2");
    free(m);
    m = sectigo_error_message(NULL, 0);
    ck_assert_str_eq(m, "");
    free(m);
}
END_TEST

START_TEST(retry_after_accepts_seconds_and_dates)
{
    ck_assert_int_eq(sectigo_retry_after_seconds("3", 0), 3);
    ck_assert_int_eq(sectigo_retry_after_seconds(" 0 ", 0), 0);
    ck_assert_int_eq(sectigo_retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", 90), 10);
    ck_assert_int_eq(sectigo_retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", 200), 0);
    ck_assert_int_eq(sectigo_retry_after_seconds("soon", 0), -1);
    ck_assert_int_eq(sectigo_retry_after_seconds(NULL, 0), -1);
}
END_TEST

START_TEST(sha256_matches_fips_180_vectors)
{
    char hex[65], *million = malloc(1000000);
    sectigo_sha256_hex(hex, "abc", 3);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sectigo_sha256_hex(hex, "", 0);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sectigo_sha256_hex(hex, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(million, 'a', 1000000);
    sectigo_sha256_hex(hex, million, 1000000);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}
END_TEST

START_TEST(cache_key_separates_endpoint_and_user)
{
    char a[65], b[65], c[65], d[65];
    ck_assert_int_eq(sectigo_cache_key(a, "https://iot.sectigo.com", "alice"), 0);
    sectigo_sha256_hex(d, "https://iot.sectigo.com\nalice", 29);
    ck_assert_str_eq(a, d);
    ck_assert_int_eq(sectigo_cache_key(b, "http://127.0.0.1:1", "alice"), 0);
    ck_assert_int_eq(sectigo_cache_key(c, "https://iot.sectigo.com", "bob"), 0);
    ck_assert_int_eq((int)strlen(a), 64);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

/* ---- JSON printers --------------------------------------------------------------------------- */

static char *batch_json(const char *body)
{
    trisa_sectigo_batch *b = NULL;
    char *out = NULL;
    ck_assert_int_eq(sectigo_parse_batch(&b, body), 0);
    ck_assert_int_eq(trisa_sectigo_batch_json(&out, b), 0);
    trisa_sectigo_batch_free(b);
    return out;
}

START_TEST(batch_prints_in_reference_order_with_go_escapes)
{
    /* Keys shuffled and one missing: the output has every key, in the reference order. */
    char *out = batch_json("{\"status\":\"CREATED\",\"batchId\":24,\"rejectable\":true,"
                           "\"profile\":\"A<b>&c\",\"batchName\":\"x/y \\u2028\","
                           "\"creationDate\":\"2020-12-10T16:35:32.805+0000\",\"size\":1,"
                           "\"orderNumber\":1024,\"downloadable\":true,\"userId\":10,"
                           "\"rejectReason\":null}");
    ck_assert_str_eq(out, "{\n"
                          "  \"batchId\": 24,\n"
                          "  \"orderNumber\": 1024,\n"
                          "  \"creationDate\": \"2020-12-10T16:35:32.805+0000\",\n"
                          "  \"profile\": \"A\\u003cb\\u003e\\u0026c\",\n"
                          "  \"size\": 1,\n"
                          "  \"status\": \"CREATED\",\n"
                          "  \"active\": false,\n"
                          "  \"batchName\": \"x/y \\u2028\",\n"
                          "  \"rejectReason\": \"\",\n"
                          "  \"generatorParametersValues\": null,\n"
                          "  \"userId\": 10,\n"
                          "  \"downloadable\": true,\n"
                          "  \"rejectable\": true\n"
                          "}\n");
    free(out);
}
END_TEST

START_TEST(raw_values_print_with_sorted_keys)
{
    char *out = batch_json("{\"generatorParametersValues\":{\"z\":[1,2.5,\"s\"],\"a\":{},"
                           "\"m\":[]}}");
    ck_assert_ptr_nonnull(strstr(out, "  \"generatorParametersValues\": {\n"
                                      "    \"a\": {},\n"
                                      "    \"m\": [],\n"
                                      "    \"z\": [\n"
                                      "      1,\n"
                                      "      2.5,\n"
                                      "      \"s\"\n"
                                      "    ]\n"
                                      "  },\n"));
    free(out);
}
END_TEST

START_TEST(authorities_print_exactly_as_the_reference)
{
    trisa_sectigo_authority_list *l = NULL;
    char *out = NULL;
    ck_assert_int_eq(sectigo_parse_authorities(
                         &l, "[{\"profileName\":\"TRISA Profile\",\"id\":1,\"ecosystemId\":100,"
                             "\"signerCertificateId\":0,\"ecosystemName\":\"TRISA\","
                             "\"balance\":10,\"enabled\":true,\"profileId\":42}]"),
                     0);
    ck_assert_int_eq(trisa_sectigo_authorities_json(&out, l), 0);
    ck_assert_str_eq(out, "[\n"
                          "  {\n"
                          "    \"id\": 1,\n"
                          "    \"ecosystemId\": 100,\n"
                          "    \"signerCertificateId\": 0,\n"
                          "    \"ecosystemName\": \"TRISA\",\n"
                          "    \"balance\": 10,\n"
                          "    \"enabled\": true,\n"
                          "    \"profileId\": 42,\n"
                          "    \"profileName\": \"TRISA Profile\"\n"
                          "  }\n"
                          "]\n");
    free(out);
    trisa_sectigo_authority_list_free(l);
}
END_TEST

START_TEST(empty_arrays_and_nulls_print_as_go_does)
{
    trisa_sectigo_authority_list *l = NULL;
    trisa_sectigo_find_result *r = NULL;
    char *out = NULL;
    ck_assert_int_eq(sectigo_parse_authorities(&l, "[]"), 0);
    ck_assert_int_eq(trisa_sectigo_authorities_json(&out, l), 0);
    ck_assert_str_eq(out, "[]\n");
    free(out);
    trisa_sectigo_authority_list_free(l);
    ck_assert_int_eq(sectigo_parse_authorities(&l, "null"), 0);
    ck_assert_int_eq(trisa_sectigo_authorities_json(&out, l), 0);
    ck_assert_str_eq(out, "null\n");
    free(out);
    trisa_sectigo_authority_list_free(l);

    ck_assert_int_eq(sectigo_parse_find_result(&r, "{\"totalCount\":0}"), 0);
    ck_assert_int_eq(trisa_sectigo_find_result_json(&out, r), 0);
    ck_assert_str_eq(out, "{\n  \"totalCount\": 0,\n  \"items\": null\n}\n");
    free(out);
    trisa_sectigo_find_result_free(r);
    ck_assert_int_eq(sectigo_parse_find_result(&r, "{\"items\":[],\"totalCount\":0}"), 0);
    ck_assert_int_eq(trisa_sectigo_find_result_json(&out, r), 0);
    ck_assert_str_eq(out, "{\n  \"totalCount\": 0,\n  \"items\": []\n}\n");
    free(out);
    trisa_sectigo_find_result_free(r);
}
END_TEST

START_TEST(find_items_print_in_reference_order)
{
    trisa_sectigo_find_result *r = NULL;
    char *out = NULL;
    ck_assert_int_eq(sectigo_parse_find_result(
                         &r, "{\"totalCount\":1,\"items\":[{\"status\":\"REVOKED\","
                             "\"serialNumber\":\"0A1B\",\"deviceId\":3,\"commonName\":\"e.com\","
                             "\"creationDate\":\"d\"}]}"),
                     0);
    ck_assert_int_eq(trisa_sectigo_find_result_json(&out, r), 0);
    ck_assert_str_eq(out, "{\n"
                          "  \"totalCount\": 1,\n"
                          "  \"items\": [\n"
                          "    {\n"
                          "      \"deviceId\": \"3\",\n"
                          "      \"commonName\": \"e.com\",\n"
                          "      \"serialNumber\": \"0A1B\",\n"
                          "      \"creationDate\": \"d\",\n"
                          "      \"status\": \"REVOKED\"\n"
                          "    }\n"
                          "  ]\n"
                          "}\n");
    free(out);
    trisa_sectigo_find_result_free(r);
}
END_TEST

START_TEST(balances_sort_keys_as_text_like_a_go_map)
{
    long long ids[] = {2, 10, 1}, bal[] = {5, 7, 0};
    char *out = NULL;
    ck_assert_int_eq(trisa_sectigo_balances_json(&out, ids, bal, 3), 0);
    ck_assert_str_eq(out, "{\n  \"1\": 0,\n  \"10\": 7,\n  \"2\": 5\n}\n");
    free(out);
    ck_assert_int_eq(trisa_sectigo_balances_json(&out, ids, bal, 0), 0);
    ck_assert_str_eq(out, "{}\n");
    free(out);
}
END_TEST

START_TEST(profiles_params_and_organization_print_in_order)
{
    trisa_sectigo_profile_list *pl = NULL;
    trisa_sectigo_profile_param_list *pp = NULL;
    trisa_sectigo_organization *org = NULL;
    trisa_sectigo_processing_info pi;
    trisa_sectigo_licenses li;
    char *out = NULL;

    ck_assert_int_eq(sectigo_parse_profiles(&pl, "[{\"ca\":\"C\",\"profileId\":42}]"), 0);
    ck_assert_int_eq(trisa_sectigo_profiles_json(&out, pl), 0);
    ck_assert_str_eq(out, "[\n  {\n    \"profileId\": 42,\n    \"algorithms\": null,\n"
                          "    \"ca\": \"C\"\n  }\n]\n");
    free(out);
    trisa_sectigo_profile_list_free(pl);

    ck_assert_int_eq(sectigo_parse_profile_params(
                         &pp, "[{\"dynamic\":false,\"name\":\"commonName\",\"scopes\":[\"a\"],"
                              "\"required\":true,\"value\":null,\"placeholder\":\"x\"}]"),
                     0);
    ck_assert_int_eq(trisa_sectigo_profile_params_json(&out, pp), 0);
    ck_assert_str_eq(out, "[\n  {\n    \"name\": \"commonName\",\n    \"inputType\": \"\",\n"
                          "    \"required\": true,\n    \"placeholder\": \"x\",\n"
                          "    \"validationPattern\": \"\",\n    \"message\": \"\",\n"
                          "    \"value\": null,\n    \"title\": \"\",\n    \"scopes\": [\n"
                          "      \"a\"\n    ],\n    \"dynamic\": false\n  }\n]\n");
    free(out);
    trisa_sectigo_profile_param_list_free(pp);

    ck_assert_int_eq(sectigo_parse_organization(
                         &org, "{\"orgStatus\":\"OK\",\"organizationParameters\":{\"b\":\"2\","
                               "\"a\":\"1\"},\"authorities\":[],\"organizationId\":5}"),
                     0);
    ck_assert_int_eq(trisa_sectigo_organization_json(&out, org), 0);
    ck_assert_str_eq(out, "{\n  \"organizationId\": 5,\n  \"organizationName\": \"\",\n"
                          "  \"address\": \"\",\n  \"primaryContactName\": \"\",\n"
                          "  \"primaryContactEmail\": \"\",\n  \"primaryContactPhone\": \"\",\n"
                          "  \"manufactureId\": null,\n  \"logo\": \"\",\n  \"authorities\": [],\n"
                          "  \"ecosystemId\": 0,\n  \"organizationParameters\": {\n"
                          "    \"a\": \"1\",\n    \"b\": \"2\"\n  },\n  \"orgStatus\": \"OK\"\n"
                          "}\n");
    free(out);
    trisa_sectigo_organization_free(org);

    ck_assert_int_eq(sectigo_parse_processing_info(&pi, "{\"failed\":0,\"success\":1}"), 0);
    ck_assert_int_eq(trisa_sectigo_processing_info_json(&out, &pi), 0);
    ck_assert_str_eq(out, "{\n  \"active\": 0,\n  \"success\": 1,\n  \"failed\": 0\n}\n");
    free(out);
    ck_assert_int_eq(sectigo_parse_licenses(&li, "{\"issued\":2,\"ordered\":3}"), 0);
    ck_assert_int_eq(trisa_sectigo_licenses_json(&out, &li), 0);
    ck_assert_str_eq(out, "{\n  \"ordered\": 3,\n  \"issued\": 2\n}\n");
    free(out);
}
END_TEST

START_TEST(go_escapes_control_characters_and_bad_utf8)
{
    trisa_buf b = TRISA_BUF_INIT;
    gojson_escape(&b, "a\"b\\c\n\t\x01\x7f\xff\xc3\xa9/");
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\x7f\\ufffd\xc3\xa9/\"");
    trisa_buf_free(&b, 0);
}
END_TEST

START_TEST(unparsable_replies_are_api_errors)
{
    trisa_sectigo_batch *b = NULL;
    long long bal = 0;
    ck_assert_int_eq(sectigo_parse_batch(&b, "<html>"), TRISA_EAPI);
    ck_assert_int_eq(sectigo_parse_batch(&b, "[1]"), TRISA_EAPI);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(sectigo_parse_balance(&bal, "\"x\""), TRISA_EAPI);
    ck_assert_int_eq(sectigo_parse_balance(&bal, "17"), 0);
    ck_assert_int_eq(bal, 17);
}
END_TEST

/* ---- Paths, the JSON writer, deviceId, secrets -------------------------------------------------
 */

static const struct {
    const char *dir, *name, *out;
} joins[] = {
    {".", "1.zip", "1.zip"},
    {"./", "1.zip", "1.zip"},
    {"certs/", "24.zip", "certs/24.zip"},
    {"certs//sub/./", "24.zip", "certs/sub/24.zip"},
    {"a/../b", "x.zip", "b/x.zip"},
    {"../out", "x.zip", "../out/x.zip"},
    {"/", "x.zip", "/x.zip"},
    {"/tmp/../..", "x.zip", "/x.zip"},
    {"", "x.zip", "x.zip"},
};

START_TEST(download_path_is_joined_as_go_filepath_join)
{
    char *got = sectigo_path_join(joins[_i].dir, joins[_i].name);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, joins[_i].out);
    free(got);
}
END_TEST

START_TEST(writer_refuses_nesting_deeper_than_it_counts)
{
    trisa_buf b = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &b);
    for (int i = 0; i < GOJSON_MAX_DEPTH + 5; i++) {
        gojson_open(&w, '[');
    }
    ck_assert(b.failed);
    for (int i = 0; i < GOJSON_MAX_DEPTH + 5; i++) {
        gojson_close(&w, ']');
    }
    ck_assert_int_eq(w.depth, 0); /* opens and closes balance */
    gojson_close(&w, ']');        /* one close too many: refused, not a negative depth */
    ck_assert_int_eq(w.depth, 0);
    trisa_buf_free(&b, 0);

    gojson_init(&w, &b);
    for (int i = 0; i < GOJSON_MAX_DEPTH; i++) {
        gojson_open(&w, '[');
    }
    for (int i = 0; i < GOJSON_MAX_DEPTH; i++) {
        gojson_close(&w, ']');
    }
    ck_assert(!b.failed);
    trisa_buf_free(&b, 0);
}
END_TEST

START_TEST(compact_writer_writes_request_bodies_as_go_marshal)
{
    const char *params[] = {"pkcs12Password", "p<w>",        "commonName", "e.com", "dNSName",
                            "e.com",          "countryName", "US",         NULL};
    trisa_buf b = TRISA_BUF_INIT;
    gojson w;
    gojson_init_compact(&w, &b);
    gojson_open(&w, '{');
    gojson_key(&w, "authorityId");
    gojson_int(&w, 42);
    gojson_key(&w, "profileParams");
    gojson_string_map(&w, params);
    gojson_key(&w, "empty");
    gojson_string_map(&w, NULL);
    gojson_close(&w, '}');
    /* Map keys sorted byte-wise, as Go sorts them; HTML characters escaped. */
    ck_assert_str_eq(b.data, "{\"authorityId\":42,\"profileParams\":{\"commonName\":\"e.com\","
                             "\"countryName\":\"US\",\"dNSName\":\"e.com\","
                             "\"pkcs12Password\":\"p\\u003cw\\u003e\"},\"empty\":{}}");
    trisa_buf_free(&b, 0);
}
END_TEST

static const struct {
    const char *json, *printed;
} device_ids[] = {
    {"\"a185a9b9-2f6c-4d1e-9b7a-5c3e8f0d1a22\"", "\"a185a9b9-2f6c-4d1e-9b7a-5c3e8f0d1a22\""},
    {"\"0042\"", "\"0042\""},
    {"\"42\"", "\"42\""},
    {"42", "\"42\""},
    {"null", "\"\""},
};

START_TEST(device_id_is_a_string_and_a_number_prints_as_one)
{
    trisa_sectigo_find_result *r = NULL;
    char body[256], expect[256], *out = NULL;
    snprintf(body, sizeof(body), "{\"totalCount\":1,\"items\":[{\"deviceId\":%s}]}",
             device_ids[_i].json);
    ck_assert_int_eq(sectigo_parse_find_result(&r, body), 0);
    ck_assert_int_eq(trisa_sectigo_find_result_json(&out, r), 0);
    snprintf(expect, sizeof(expect), "      \"deviceId\": %s,\n", device_ids[_i].printed);
    ck_assert_msg(strstr(out, expect) != NULL, "%s printed as %s", device_ids[_i].json, out);
    free(out);
    trisa_sectigo_find_result_free(r);
}
END_TEST

START_TEST(secret_json_parses_like_json_c_and_refuses_garbage)
{
    enum json_tokener_error e;
    struct json_object *o, *v;
    char big[5000];
    memset(big, 'A', sizeof(big));
    memcpy(big, "{\"accessToken\":\"", 16);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    o = sectigo_json_parse_secret(big, &e);
    ck_assert_int_eq(e, json_tokener_success);
    ck_assert(json_object_object_get_ex(o, "accessToken", &v));
    ck_assert_int_eq(json_object_get_string_len(v), (int)sizeof(big) - 19);
    sectigo_json_put_secret(o);
    ck_assert_ptr_null(sectigo_json_parse_secret("{\"a\":", &e));
    ck_assert_int_ne(e, json_tokener_success);
    ck_assert_ptr_null(sectigo_json_parse_secret("", &e));
}
END_TEST

/* ---- HTTP against the stand-in server ------------------------------------------------------ */

static pid_t server_pid;
static int server_port;
static char *tmp;

static void server_start(void)
{
    int fds[2];
    char script[4096], line[32] = "";
    const char *src = getenv("TRISA_SOURCE_DIR"), *python;
    FILE *f;

    tmp = tu_tmpdir();
    snprintf(script, sizeof(script), "%s/tests/unit/fake_sectigo.py", src ? src : ".");
    /* The system interpreter directly: a version-manager shim costs seconds a test. */
    python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    if (access(script, R_OK) != 0) {
        server_pid = 0;
        return;
    }
    ck_assert_int_eq(pipe(fds), 0);
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execlp(python, python, script, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (fgets(line, sizeof(line), f) == NULL) { /* no python3: skip the HTTP cases */
        fclose(f);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
        return;
    }
    fclose(f);
    server_port = (int)strtol(line, NULL, 10);
    ck_assert_int_gt(server_port, 0);
}

static void server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    tu_rmtree(tmp);
    free(tmp);
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server_pid <= 0) {                                                                     \
            return; /* no python3: the integration tests cover this against the emulator */        \
        }                                                                                          \
    } while (0)

static char warned[1024];

static void on_warn(const char *msg, void *data)
{
    (void)data;
    snprintf(warned, sizeof(warned), "%s", msg);
}

static trisa_sectigo *client(const char *password)
{
    trisa_sectigo_options o = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *c = NULL;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
    o.endpoint = url;
    o.environment = "testing";
    o.username = "u";
    o.password = password;
    o.cache_dir = tmp;
    o.retry_base_ms = 10;
    o.warn = on_warn;
    ck_assert_int_eq(trisa_sectigo_new(&c, &o), 0);
    return c;
}

/* GET or POST a control URL of the stand-in; returns its body (caller frees). */
static char *control(const char *path, const char *body)
{
    char cmd[1024];
    FILE *p;
    trisa_buf b = TRISA_BUF_INIT;
    char buf[4096];
    size_t n;
    if (body != NULL) {
        snprintf(cmd, sizeof(cmd), "curl -s -X POST --data '%s' http://127.0.0.1:%d%s", body,
                 server_port, path);
    } else {
        snprintf(cmd, sizeof(cmd), "curl -s http://127.0.0.1:%d%s", server_port, path);
    }
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        trisa_buf_append(&b, buf, n);
    }
    pclose(p);
    return trisa_buf_detach(&b, NULL);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

START_TEST(ten_calls_share_one_connection)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    char *n;
    NEED_SERVER();
    c = client("secret");
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    }
    ck_assert_int_eq(l.ordered, 2);
    ck_assert_int_eq(trisa_sectigo_connection_count(c), 1);
    n = control("/_fake/connections", NULL);
    ck_assert_str_eq(n, "2"); /* ours, and the one asking */
    free(n);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(tokens_are_cached_private_and_reused)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    struct stat st;
    char *log;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    ck_assert_int_eq(stat(trisa_sectigo_cache_path(c), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    trisa_sectigo_free(c);
    c = client(NULL); /* no password: the cached token must do */
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    trisa_sectigo_free(c);
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/auth/pwd"), 1);
    free(log);
}
END_TEST

START_TEST(expired_access_token_is_refreshed_with_the_raw_token)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    trisa_sectigo_token_info ti;
    char *log;
    NEED_SERVER();
    free(control("/_fake/config", "{\"access_ttl\": -10, \"empty_refresh\": true}"));
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    ck_assert_int_eq(trisa_sectigo_token_state(c, &ti), 0);
    ck_assert(!ti.valid);
    ck_assert(ti.refreshable);
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/auth/refresh"), 1);
    /* The body is the bare JWT (starts with the base64 of {"alg"), JSON content type. */
    ck_assert_ptr_nonnull(strstr(log, "\"path\": \"/auth/refresh\", \"body\": \"eyJ"));
    ck_assert_ptr_nonnull(strstr(log, "\"ctype\": \"application/json;charset=UTF-8\"}"));
    free(log);
    /* The empty refresh token in the reply did not replace the old one. */
    ck_assert_int_eq(trisa_sectigo_token_state(c, &ti), 0);
    ck_assert(ti.has_tokens);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(login_errors_have_their_own_codes)
{
    trisa_sectigo *c;
    NEED_SERVER();
    c = client("wrong");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), TRISA_EAUTH);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "401"));
    trisa_sectigo_free(c);
    free(control("/_fake/config", "{\"login_status\": 307}"));
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), TRISA_ECERTLOGIN);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "307"));
    trisa_sectigo_free(c);
    c = client(NULL);
    ck_assert_int_eq(trisa_sectigo_authenticate(c), TRISA_EAUTH);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(get_survives_two_503s_with_retry_after)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    char *log;
    NEED_SERVER();
    free(control("/_fake/faults", "{\"path\": \"/api/v1/devices\", \"status\": 503, \"count\": "
                                  "2, \"retry_after\": 0}"));
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/api/v1/devices"), 3);
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(get_gives_up_after_max_retries)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    char *log;
    NEED_SERVER();
    free(control("/_fake/faults",
                 "{\"path\": \"/api/v1/devices\", \"status\": 503, \"count\": 100}"));
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), TRISA_EAPI);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "503"));
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/api/v1/devices"), 5); /* 1 + 4 retries */
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(upload_is_not_resent_after_a_dropped_connection)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    const char csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
                       "REQUEST-----\n";
    char *log;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    free(control("/_fake/faults",
                 "{\"path\": \"/api/v1/batches/upload\", \"drop\": true, \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_upload_csr(&b, c, 42, NULL, csr, strlen(csr), NULL),
                     TRISA_ENETWORK);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "sectigo batches"));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "not sent again"));
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/api/v1/batches/upload"), 1);
    /* The form's three parts, in order. */
    ck_assert_ptr_nonnull(strstr(log, "name=\\\"profileId\\\"\\r\\n\\r\\n42"));
    ck_assert_ptr_nonnull(strstr(log, "name=\\\"csrBatchRequest\\\"; filename=\\\"blob\\\""));
    ck_assert_ptr_nonnull(strstr(log, "\\\"batchType\\\":\\\"BATCH\\\""));
    ck_assert_ptr_nonnull(strstr(log, "name=\\\"files\\\"; filename=\\\"csr.pem\\\""));
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(download_is_written_atomically_under_a_safe_name)
{
    trisa_sectigo *c;
    char *path = NULL, *expect;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_download(&path, c, 7, tmp, 0), 0);
    expect = tu_path(tmp, "batch-7.zip");
    ck_assert_str_eq(path, expect);
    ck_assert_int_eq(tu_mode(path), 0600); /* a server-made key may be inside */
    free(path);
    free(expect);
    /* Not replaced without asking. */
    ck_assert_int_eq(trisa_sectigo_download(&path, c, 7, tmp, 0), TRISA_EEXISTS);
    free(control("/_fake/config",
                 "{\"disposition\": \"attachment; filename=\\\"../evil.zip\\\"\"}"));
    ck_assert_int_eq(trisa_sectigo_download(&path, c, 7, tmp, 0), 0);
    expect = tu_path(tmp, "7.zip");
    ck_assert_str_eq(path, expect);
    ck_assert_ptr_nonnull(strstr(warned, "no safe file name"));
    free(path);
    free(expect);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(corrupt_or_foreign_cache_is_ignored_with_a_warning)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    char *path;
    NEED_SERVER();
    c = client("secret");
    path = strdup(trisa_sectigo_cache_path(c));
    trisa_sectigo_free(c);
    ck_assert_int_eq(trisa_file_write_atomic(path, "{not json", 9, 0600, 0), 0);
    warned[0] = '\0';
    c = client("secret");
    ck_assert_ptr_nonnull(strstr(warned, "corrupt"));
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    trisa_sectigo_free(c);
    {
        const char *foreign = "{\"endpoint\":\"https://iot.sectigo.com\",\"username\":\"u\","
                              "\"accessToken\":\"a\",\"refreshToken\":\"b\"}";
        ck_assert_int_eq(
            trisa_file_write_atomic(path, foreign, strlen(foreign), 0600, TRISA_WRITE_REPLACE), 0);
    }
    warned[0] = '\0';
    c = client("secret");
    ck_assert_ptr_nonnull(strstr(warned, "another endpoint"));
    trisa_sectigo_free(c);
    free(path);
}
END_TEST

START_TEST(unknown_batch_reports_status_and_message)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_batch_detail(&b, c, 999), TRISA_EAPI);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "HTTP 404"));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no such thing"));
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(client_refuses_production_endpoint_in_testing)
{
    trisa_sectigo_options o = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *c = NULL;
    o.endpoint = "https://iot.sectigo.com";
    o.environment = "testing";
    ck_assert_int_eq(trisa_sectigo_new(&c, &o), TRISA_EENV);
    ck_assert_ptr_null(c);
    o.version = 99;
    ck_assert_int_eq(trisa_sectigo_new(&c, &o), TRISA_EINVAL);
}
END_TEST

START_TEST(retry_after_is_honoured)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    struct timespec a, b;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    free(control("/_fake/faults", "{\"path\": \"/api/v1/devices\", \"status\": 429, \"count\": "
                                  "1, \"retry_after\": 1}"));
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_ge((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 900);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(rejected_token_leads_to_one_new_login)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    char *log;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    free(
        control("/_fake/faults", "{\"path\": \"/api/v1/devices\", \"status\": 401, \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    free(
        control("/_fake/faults", "{\"path\": \"/api/v1/devices\", \"status\": 401, \"count\": 2}"));
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), TRISA_EAUTH);
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "/auth/pwd"), 3);
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(create_and_revoke_are_not_resent)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    const char *params[] = {"commonName", "e.com", "pkcs12Password", "secret-p12", NULL};
    char *log;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    free(control("/_fake/faults", "{\"path\": \"/api/v1/batches/createSingleCertBatch\", "
                                  "\"drop\": true, \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_create_single_cert_batch(&b, c, 42, "n", params),
                     TRISA_ENETWORK);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "sectigo batches"));
    free(control("/_fake/faults", "{\"path\": \"/api/v1/certificates/42/revoke\", "
                                  "\"status\": 503, \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_revoke(c, 42, 5, "0A"), TRISA_EAPI);
    log = control("/_fake/requests", NULL);
    ck_assert_int_eq(count(log, "createSingleCertBatch"), 1);
    ck_assert_int_eq(count(log, "/revoke"), 1);
    ck_assert_ptr_null(strstr(log, "secret-p12\"}}\", \"auth\": \"\"")); /* sent with a token */
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(unreadable_upload_reply_says_the_batch_probably_exists)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    const char csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
                       "REQUEST-----\n";
    NEED_SERVER();
    c = client("secret");
    free(control("/_fake/faults", "{\"path\": \"/api/v1/batches/upload\", \"body\": "
                                  "\"<html>proxy</html>\", \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_upload_csr(&b, c, 42, NULL, csr, strlen(csr), NULL), TRISA_EAPI);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "batch probably exists"));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "sectigo batches"));
    trisa_sectigo_free(c);
}
END_TEST

/* A client of the stand-in in another environment or cache folder. */
static trisa_sectigo *client_in(const char *env, const char *cache_dir)
{
    trisa_sectigo_options o = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *c = NULL;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
    o.endpoint = url;
    o.environment = env;
    o.username = "u";
    o.password = "secret";
    o.cache_dir = cache_dir;
    o.retry_base_ms = 10;
    o.warn = on_warn;
    ck_assert_int_eq(trisa_sectigo_new(&c, &o), 0);
    return c;
}

static const char csr_pem[] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
                              "REQUEST-----\n";

START_TEST(request_bodies_are_written_as_the_reference_writes_them)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    trisa_sectigo_find_result *r = NULL;
    const char *params[] = {"pkcs12Password", "secret-p12", "commonName", "e.com",
                            "dNSName",        "e.com",      NULL};
    char *log;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    ck_assert_int_eq(trisa_sectigo_create_single_cert_batch(&b, c, 42, "n", params), 0);
    trisa_sectigo_batch_free(b);
    ck_assert_int_eq(trisa_sectigo_find_certificates(&r, c, "e.com", NULL), 0);
    trisa_sectigo_find_result_free(r);
    ck_assert_int_eq(trisa_sectigo_find_certificates(&r, c, "e.com", "0A"), 0);
    trisa_sectigo_find_result_free(r);
    ck_assert_int_eq(trisa_sectigo_find_certificates(&r, c, "", NULL), 0);
    trisa_sectigo_find_result_free(r);
    ck_assert_int_eq(trisa_sectigo_revoke(c, 42, 5, "0A"), TRISA_EAPI); /* the stand-in 404s */
    log = control("/_fake/requests.txt", NULL);
    ck_assert_str_eq(log,
                     "POST /auth/pwd\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: (none)\n"
                     "\n"
                     "{\"username\":\"u\",\"password\":\"secret\"}\n"
                     "-- 37 bytes\n"
                     "PUT /api/v1/batches/createSingleCertBatch\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: Bearer <jwt>\n"
                     "\n"
                     "{\"authorityId\":42,\"batchName\":\"n\",\"profileParams\":{\"commonName\":"
                     "\"e.com\",\"dNSName\":\"e.com\",\"pkcs12Password\":\"secret-p12\"}}\n"
                     "-- 122 bytes\n"
                     "POST /api/v1/certificates/find\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: Bearer <jwt>\n"
                     "\n"
                     "{\"commonName\":\"e.com\"}\n"
                     "-- 23 bytes\n"
                     "POST /api/v1/certificates/find\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: Bearer <jwt>\n"
                     "\n"
                     "{\"commonName\":\"e.com\",\"serialNumber\":\"0A\"}\n"
                     "-- 43 bytes\n"
                     "POST /api/v1/certificates/find\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: Bearer <jwt>\n"
                     "\n"
                     "{}\n"
                     "-- 3 bytes\n"
                     "POST /api/v1/certificates/42/revoke\n"
                     "Content-Type: application/json;charset=UTF-8\n"
                     "Accept: application/json;charset=UTF-8\n"
                     "Authorization: Bearer <jwt>\n"
                     "\n"
                     "{\"reasonCode\":5,\"serialNumber\":\"0A\"}\n"
                     "-- 37 bytes\n");
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

/* The multipart body of an upload, after its headers (the boundary shown as BOUNDARY). */
#define UPLOAD_BODY                                                                                \
    "--BOUNDARY\\r\n"                                                                              \
    "Content-Disposition: form-data; name=\"profileId\"\\r\n"                                      \
    "\\r\n"                                                                                        \
    "42\\r\n"                                                                                      \
    "--BOUNDARY\\r\n"                                                                              \
    "Content-Disposition: form-data; name=\"csrBatchRequest\"; filename=\"blob\"\\r\n"             \
    "Content-Type: application/json\\r\n"                                                          \
    "\\r\n"                                                                                        \
    "{\"profileId\":42,\"batchType\":\"BATCH\",\"profileParams\":{}}\n"                            \
    "\\r\n"                                                                                        \
    "--BOUNDARY\\r\n"                                                                              \
    "Content-Disposition: form-data; name=\"files\"; filename=\"csr.pem\"\\r\n"                    \
    "Content-Type: application/octet-stream\\r\n"                                                  \
    "\\r\n"                                                                                        \
    "-----BEGIN CERTIFICATE REQUEST-----\n"                                                        \
    "MIIB\n"                                                                                       \
    "-----END CERTIFICATE REQUEST-----\n"                                                          \
    "\\r\n"                                                                                        \
    "--BOUNDARY--\\r\n"

START_TEST(upload_is_re_sent_whole_after_a_401)
{
    trisa_sectigo *c;
    trisa_sectigo_batch *b = NULL;
    char *log;
    const char *first, *second;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    free(control("/_fake/clear", "{}"));
    /* The server rejects the token (restarted with a new secret): log in, send again. */
    free(control("/_fake/faults",
                 "{\"path\": \"/api/v1/batches/upload\", \"status\": 401, \"count\": 1}"));
    ck_assert_int_eq(trisa_sectigo_upload_csr(&b, c, 42, NULL, csr_pem, strlen(csr_pem), NULL), 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->batch_id, 7);
    trisa_sectigo_batch_free(b);
    log = control("/_fake/requests.txt", NULL);
    ck_assert_int_eq(count(log, "POST /api/v1/batches/upload\n"), 2);
    ck_assert_int_eq(count(log, "POST /auth/pwd\n"), 1);
    /* Both uploads carry the whole form. */
    first = strstr(log, UPLOAD_BODY);
    ck_assert_ptr_nonnull(first);
    second = strstr(first + 1, UPLOAD_BODY);
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_nonnull(strstr(log, "Content-Type: multipart/form-data; boundary=BOUNDARY\n"));
    free(log);
    trisa_sectigo_free(c);
}
END_TEST

static void set_disposition(const char *name)
{
    char body[600];
    snprintf(body, sizeof(body), "{\"disposition\": \"attachment; filename=\\\"%s\\\"\"}", name);
    free(control("/_fake/config", body));
}

START_TEST(a_server_name_too_long_for_the_temp_file_falls_back_to_the_id)
{
    trisa_sectigo *c;
    char name[300], *path = NULL, *expect;
    NEED_SERVER();
    c = client("secret");
    /* 237 bytes: the longest name the atomic write's temporary name leaves room for. */
    memset(name, 'a', 233);
    memcpy(name + 233, ".zip", 5);
    set_disposition(name);
    ck_assert_int_eq(trisa_sectigo_download(&path, c, 7, tmp, 0), 0);
    expect = tu_path(tmp, name);
    ck_assert_str_eq(path, expect);
    free(path);
    free(expect);
    for (int len = 238; len <= 255; len += 17) {
        char *zip = tu_path(tmp, "7.zip");
        memset(name, 'b', (size_t)len - 4);
        memcpy(name + len - 4, ".zip", 5);
        set_disposition(name);
        warned[0] = '\0';
        ck_assert_int_eq(trisa_sectigo_download(&path, c, 7, tmp, 1), 0);
        ck_assert_str_eq(path, zip);
        ck_assert_ptr_nonnull(strstr(warned, "saving as 7.zip"));
        free(path);
        free(zip);
    }
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(a_loose_cache_folder_is_not_used)
{
    trisa_sectigo *c;
    char *loose = tu_path(tmp, "loose");
    NEED_SERVER();
    ck_assert_int_eq(mkdir(loose, 0700), 0);
    ck_assert_int_eq(chmod(loose, 0777), 0);
    warned[0] = '\0';
    c = client_in("testing", loose);
    ck_assert_ptr_nonnull(strstr(warned, "is not a private folder"));
    ck_assert_ptr_nonnull(strstr(warned, "mode 0777"));
    ck_assert_ptr_null(trisa_sectigo_cache_path(c));
    ck_assert_int_eq(trisa_sectigo_authenticate(c), 0);
    trisa_sectigo_free(c);
    {
        char *ls = NULL;
        char cmd[512];
        FILE *p;
        char buf[64] = "";
        snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", loose);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), p));
        pclose(p);
        ck_assert_str_eq(buf, "0\n"); /* nothing cached there */
        free(ls);
    }
    free(loose);
}
END_TEST

START_TEST(plain_http_outside_testing_is_allowed_with_a_warning)
{
    trisa_sectigo *c;
    trisa_sectigo_licenses l;
    NEED_SERVER();
    warned[0] = '\0';
    c = client_in("staging", tmp);
    ck_assert_ptr_nonnull(strstr(warned, "plain http"));
    ck_assert_int_eq(trisa_sectigo_licenses_used(&l, c), 0);
    trisa_sectigo_free(c);
    warned[0] = '\0';
    c = client_in("testing", tmp);
    ck_assert_str_eq(warned, "");
    trisa_sectigo_free(c);
}
END_TEST

START_TEST(device_ids_from_the_server_stay_strings)
{
    trisa_sectigo *c;
    trisa_sectigo_find_result *r = NULL;
    NEED_SERVER();
    c = client("secret");
    ck_assert_int_eq(trisa_sectigo_find_certificates(&r, c, "e.com", NULL), 0);
    ck_assert_str_eq(r->items[0].device_id, "0042"); /* not 42 */
    trisa_sectigo_find_result_free(r);
    free(control("/_fake/config", "{\"device_id\": 1234567890123}"));
    ck_assert_int_eq(trisa_sectigo_find_certificates(&r, c, "e.com", NULL), 0);
    ck_assert_str_eq(r->items[0].device_id, "1234567890123");
    trisa_sectigo_find_result_free(r);
    trisa_sectigo_free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport");
    TCase *t = tcase_create("parsers");
    tcase_add_test(t, jwt_claims_are_read_without_verification);
    tcase_add_test(t, jwt_without_nbf_reports_zero);
    tcase_add_test(t, jwt_missing_exp_or_malformed_is_refused);
    tcase_add_test(t, jwt_claims_out_of_range_are_refused);
    tcase_add_loop_test(t, status_is_trimmed_upper_cased_and_underscored, 0,
                        sizeof(statuses) / sizeof(statuses[0]));
    tcase_add_loop_test(t, reason_codes_follow_rfc5280_ignoring_case_and_space, 0,
                        sizeof(reasons) / sizeof(reasons[0]));
    tcase_add_loop_test(t, environment_guard_matches_the_reference, 0,
                        sizeof(guards) / sizeof(guards[0]));
    tcase_add_loop_test(t, disposition_filename_refuses_paths_and_hidden_names, 0,
                        sizeof(dispositions) / sizeof(dispositions[0]));
    tcase_add_test(t, error_message_comes_from_json_or_text);
    tcase_add_test(t, retry_after_accepts_seconds_and_dates);
    tcase_add_test(t, sha256_matches_fips_180_vectors);
    tcase_add_test(t, cache_key_separates_endpoint_and_user);
    tcase_add_test(t, client_refuses_production_endpoint_in_testing);
    tcase_add_loop_test(t, download_path_is_joined_as_go_filepath_join, 0,
                        sizeof(joins) / sizeof(joins[0]));
    tcase_add_loop_test(t, device_id_is_a_string_and_a_number_prints_as_one, 0,
                        sizeof(device_ids) / sizeof(device_ids[0]));
    tcase_add_test(t, secret_json_parses_like_json_c_and_refuses_garbage);
    suite_add_tcase(s, t);

    t = tcase_create("json");
    tcase_add_test(t, batch_prints_in_reference_order_with_go_escapes);
    tcase_add_test(t, raw_values_print_with_sorted_keys);
    tcase_add_test(t, authorities_print_exactly_as_the_reference);
    tcase_add_test(t, empty_arrays_and_nulls_print_as_go_does);
    tcase_add_test(t, find_items_print_in_reference_order);
    tcase_add_test(t, balances_sort_keys_as_text_like_a_go_map);
    tcase_add_test(t, profiles_params_and_organization_print_in_order);
    tcase_add_test(t, go_escapes_control_characters_and_bad_utf8);
    tcase_add_test(t, unparsable_replies_are_api_errors);
    tcase_add_test(t, writer_refuses_nesting_deeper_than_it_counts);
    tcase_add_test(t, compact_writer_writes_request_bodies_as_go_marshal);
    suite_add_tcase(s, t);

    t = tcase_create("http");
    tcase_add_checked_fixture(t, server_start, server_stop);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, ten_calls_share_one_connection);
    tcase_add_test(t, tokens_are_cached_private_and_reused);
    tcase_add_test(t, expired_access_token_is_refreshed_with_the_raw_token);
    tcase_add_test(t, login_errors_have_their_own_codes);
    tcase_add_test(t, get_survives_two_503s_with_retry_after);
    tcase_add_test(t, get_gives_up_after_max_retries);
    tcase_add_test(t, upload_is_not_resent_after_a_dropped_connection);
    tcase_add_test(t, download_is_written_atomically_under_a_safe_name);
    tcase_add_test(t, corrupt_or_foreign_cache_is_ignored_with_a_warning);
    tcase_add_test(t, unknown_batch_reports_status_and_message);
    tcase_add_test(t, retry_after_is_honoured);
    tcase_add_test(t, rejected_token_leads_to_one_new_login);
    tcase_add_test(t, create_and_revoke_are_not_resent);
    tcase_add_test(t, unreadable_upload_reply_says_the_batch_probably_exists);
    tcase_add_test(t, request_bodies_are_written_as_the_reference_writes_them);
    tcase_add_test(t, upload_is_re_sent_whole_after_a_401);
    tcase_add_test(t, a_server_name_too_long_for_the_temp_file_falls_back_to_the_id);
    tcase_add_test(t, a_loose_cache_folder_is_not_used);
    tcase_add_test(t, plain_http_outside_testing_is_allowed_with_a_warning);
    tcase_add_test(t, device_ids_from_the_server_stay_strings);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite()) == 0 ? 0 : 1;
}
