/* Unit tests of the emulator's parts that need no network and no CA: tokens, the
 * configuration, the store's licence arithmetic, ZIPs, PKCS#12 and the fault list. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "emulator/emu.h"
#include "testutil.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

static char *default_config(void)
{
    const char *src = getenv("TRISA_SOURCE_DIR");
    return tu_path(src ? src : ".", "conf/emulator.json");
}

START_TEST(jwt_round_trips_claims_and_rejects_tampering)
{
    emu_claims c;
    char *t = emu_jwt_sign(key, sizeof(key), "/account/42/user/staging", "access", 100, 100, 700);
    char *bad;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(emu_jwt_verify(key, sizeof(key), t, strlen(t), &c), 0);
    ck_assert_str_eq(c.sub, "/account/42/user/staging");
    ck_assert_str_eq(c.typ, "access");
    ck_assert_int_eq(c.iat, 100);
    ck_assert_int_eq(c.nbf, 100);
    ck_assert_int_eq(c.exp, 700);
    /* header, payload and signature each matter */
    bad = strdup(t);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), bad, strlen(bad), &c), 0);
    memcpy(bad, t, strlen(t) + 1);
    bad[40] = bad[40] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), bad, strlen(bad), &c), 0);
    ck_assert_int_ne(emu_jwt_verify((const unsigned char *)"another key, 32 bytes long......", 32,
                                    t, strlen(t), &c),
                     0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "a.b", 3, &c), 0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "", 0, &c), 0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "...", 3, &c), 0);
    free(bad);
    free(t);
}
END_TEST

START_TEST(config_loads_the_default_account_authority_and_profile)
{
    emu_config c;
    char *path = default_config();
    const emu_profile *p;
    const emu_authority *a;

    ck_assert_int_eq(emu_config_load(&c, path), 0);
    a = emu_config_authority(&c, 1);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->balance, 10);
    ck_assert_int_eq(a->profile_id, 42);
    ck_assert_str_eq(a->ecosystem_name, "TRISA");
    p = emu_config_profile(&c, 42);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->profile_name, "TRISA Profile");
    ck_assert_int_eq(p->server_key_bits, 4096);
    ck_assert_int_eq(p->modern_p12, 0);
    ck_assert_int_eq((int)p->nparams, 7);
    ck_assert_ptr_nonnull(emu_config_account(&c, "staging"));
    ck_assert_ptr_null(emu_config_account(&c, "nobody"));
    ck_assert_int_eq(c.access_lifetime, 600);
    emu_config_free(&c);
    free(path);
}
END_TEST

START_TEST(config_rejects_missing_files_bad_json_and_dangling_profiles)
{
    char *dir = tu_tmpdir(), *f = tu_path(dir, "c.json");
    emu_config c;

    ck_assert_int_eq(emu_config_load(&c, NULL), TRISA_ECONFIG);
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ENOTFOUND);
    tu_write(f, "{\"accounts\": [");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "[]");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "{\"authorities\": [{\"id\": 1, \"profileId\": 9}]}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "unknown profile 9"));
    tu_write(f, "{\"profiles\": [{\"profileId\": 1, \"bundle\": \"weird\"}]}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "{\"limits\": {\"maxBodyBytes\": 10}}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(store_takes_licences_exactly_and_never_below_zero)
{
    char *dir = tu_tmpdir(), *db = tu_path(dir, "e.db"), *path = default_config();
    emu_config c;
    emu_store *s;
    emu_batch b, got;
    emu_cert cert;
    long ordered, issued;

    ck_assert_int_eq(emu_config_load(&c, path), 0);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 10);
    ck_assert_int_eq(emu_store_take(s, 1, 4), 0);
    ck_assert_int_eq(emu_store_take(s, 1, 7), TRISA_EBALANCE);
    ck_assert_int_eq(emu_store_balance(s, 1), 6);
    ck_assert_int_eq(emu_store_take(s, 1, 6), 0);
    ck_assert_int_eq(emu_store_take(s, 1, 1), TRISA_EBALANCE);
    ck_assert_int_eq(emu_store_take(s, 1, -2), 0); /* a refund */
    ck_assert_int_eq(emu_store_balance(s, 1), 2);
    ck_assert_int_eq(emu_store_take(s, 99, 1), TRISA_EBALANCE);

    memset(&b, 0, sizeof(b));
    memset(&cert, 0, sizeof(cert));
    b.profile_id = 42;
    b.authority_id = 1;
    b.size = 1;
    b.success = 1;
    b.created_ms = 1000;
    b.ready_ms = 2000;
    b.expires_ms = 3000;
    snprintf(b.status, sizeof(b.status), "PROCESSING");
    b.name = "n";
    b.profile_name = "TRISA Profile";
    b.reject_reason = "";
    snprintf(cert.serial, sizeof(cert.serial), "4ABC");
    cert.common_name = "x.example.com";
    ck_assert_int_eq(emu_store_add_batch(s, &b, &cert, 1, (const unsigned char *)"PK", 2), 0);
    ck_assert_int_eq(b.id, 1);
    ck_assert_int_eq(b.order_number, 1001);
    ck_assert_int_eq(emu_store_get_batch(s, 1, &got), 0);
    ck_assert_str_eq(got.name, "n");
    ck_assert_int_eq(got.ready_ms, 2000);
    emu_batch_clear(&got);
    ck_assert_int_eq(emu_store_get_batch(s, 2, &got), TRISA_ENOTFOUND);
    ck_assert_int_eq(emu_store_devices(s, &ordered, &issued), 0);
    ck_assert_int_eq(ordered, 1);
    ck_assert_int_eq(issued, 1);
    ck_assert_int_eq(emu_store_revoke(s, "4ABC", 7, 1), TRISA_ENOTFOUND);
    ck_assert_int_eq(emu_store_revoke(s, "4ABC", 42, 1), 0);
    ck_assert_int_eq(emu_store_revoke(s, "4ABC", 42, 1), TRISA_ESTATE);
    emu_store_close(s);

    /* The balance survives a reopen; the config's balance does not reset it. */
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 2);
    emu_store_close(s);
    emu_config_free(&c);
    tu_rmtree(dir);
    free(db);
    free(path);
    free(dir);
}
END_TEST

START_TEST(zip_round_trips_and_upload_reading_keeps_only_csr_and_pem)
{
    emu_zip_member in[3] = {{"a.csr", (unsigned char *)"AAA", 3},
                            {"b.txt", (unsigned char *)"BBB", 3},
                            {"dir/c.pem", (unsigned char *)"CCCC", 4}};
    emu_zip_member *out = NULL;
    unsigned char *zip = NULL;
    size_t len = 0, n = 0;

    ck_assert_int_eq(emu_zip_build(&zip, &len, in, 3), 0);
    ck_assert_int_gt((int)len, 22);
    ck_assert_int_eq(emu_zip_read(&out, &n, zip, len, 1000), 0);
    ck_assert_int_eq((int)n, 2);
    ck_assert_str_eq(out[0].name, "a.csr");
    ck_assert_str_eq((char *)out[0].data, "AAA");
    ck_assert_str_eq(out[1].name, "dir/c.pem");
    emu_zip_members_free(out, n);
    ck_assert_int_eq(emu_zip_read(&out, &n, zip, len, 5), TRISA_ETOOBIG);
    ck_assert_int_eq(emu_zip_read(&out, &n, (const unsigned char *)"PK\003\004junk", 8, 100),
                     TRISA_EZIP);
    free(zip);
}
END_TEST

static void p12_case(int modern)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *legacy = OSSL_PROVIDER_load(ctx, "legacy");
    OSSL_PROVIDER *deflt = OSSL_PROVIDER_load(ctx, "default");
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *pk = NULL;
    X509 *x = X509_new(), *leaf = NULL;
    STACK_OF(X509) *ca = NULL;
    X509_NAME *n = X509_NAME_new();
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    PKCS12 *p12;

    ck_assert_ptr_nonnull(legacy);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"t", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 60);
    ck_assert_int_ne(X509_sign(x, k, EVP_sha256()), 0);
    ck_assert_int_eq(emu_p12_build(&der, &len, ctx, "pw", "t", k, x, x, x, modern), 0);
    p = der;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(p12);
    ck_assert_int_eq(PKCS12_verify_mac(p12, "pw", -1), 1);
    ck_assert_int_eq(PKCS12_verify_mac(p12, "wrong", -1), 0);
    {
        const X509_ALGOR *alg;
        const ASN1_OBJECT *obj;
        PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
        ck_assert_int_eq(OBJ_obj2nid(obj), modern ? NID_sha256 : NID_sha1);
    }
    PKCS12_free(p12);
    free(der);
    X509_NAME_free(n);
    X509_free(x);
    X509_free(leaf);
    EVP_PKEY_free(k);
    EVP_PKEY_free(pk);
    sk_X509_pop_free(ca, X509_free);
    OSSL_PROVIDER_unload(legacy);
    OSSL_PROVIDER_unload(deflt);
    OSSL_LIB_CTX_free(ctx);
}

START_TEST(p12_legacy_has_sha1_mac_and_modern_sha256)
{
    p12_case(0);
    p12_case(1);
}
END_TEST

START_TEST(faults_fire_for_their_count_on_matching_method_and_path)
{
    emu_hooks h;
    emu_fault f, got;

    emu_hooks_init(&h);
    memset(&f, 0, sizeof(f));
    f.kind = EMU_FAULT_STATUS;
    f.status = 503;
    f.remaining = 2;
    snprintf(f.method, sizeof(f.method), "GET");
    h.faults = calloc(1, sizeof(f));
    h.capfaults = 1;
    f.path = strdup("/api/v1/batches/{id}");
    h.faults[h.nfaults++] = f;
    ck_assert_int_eq(emu_hooks_take(&h, "POST", "/api/v1/batches/1", "/api/v1/batches/{id}", &got),
                     0);
    ck_assert_int_eq(emu_hooks_take(&h, "GET", "/api/v1/batches/1", "/api/v1/batches/{id}", &got),
                     1);
    ck_assert_int_eq(got.status, 503);
    ck_assert_int_eq(emu_hooks_take(&h, "GET", "/api/v1/batches/2", "/api/v1/batches/{id}", &got),
                     1);
    ck_assert_int_eq(emu_hooks_take(&h, "GET", "/api/v1/batches/3", "/api/v1/batches/{id}", &got),
                     0);
    ck_assert_int_eq((int)h.nfaults, 0);
    emu_hooks_record(&h, "GET", "/x", 200, 0.1, NULL);
    ck_assert_int_eq((int)h.loglen, 1);
    emu_hooks_free(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("emulator");
    TCase *tc = tcase_create("emulator");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jwt_round_trips_claims_and_rejects_tampering);
    tcase_add_test(tc, config_loads_the_default_account_authority_and_profile);
    tcase_add_test(tc, config_rejects_missing_files_bad_json_and_dangling_profiles);
    tcase_add_test(tc, store_takes_licences_exactly_and_never_below_zero);
    tcase_add_test(tc, zip_round_trips_and_upload_reading_keeps_only_csr_and_pem);
    tcase_add_test(tc, p12_legacy_has_sha1_mac_and_modern_sha256);
    tcase_add_test(tc, faults_fire_for_their_count_on_matching_method_and_path);
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
