/* Unit tests of the emulator's parts that need no network and no CA: tokens, the
 * configuration, the store's transactions, PKCS#12 and the fault list. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/hmac.h>
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

static emu_claims claims(const char *typ, int64_t iat, int64_t nbf, int64_t exp)
{
    emu_claims c;

    memset(&c, 0, sizeof(c));
    snprintf(c.sub, sizeof(c.sub), "/account/42/user/staging");
    snprintf(c.typ, sizeof(c.typ), "%s", typ);
    snprintf(c.jti, sizeof(c.jti), "0011223344556677");
    c.iat = iat;
    c.nbf = nbf;
    c.exp = exp;
    return c;
}

/* header.payload signed with our key: a token made by hand, for the checks on content. */
static char *forge(const char *header, const char *payload)
{
    trisa_buf b = TRISA_BUF_INIT;
    unsigned char mac[32];
    unsigned int maclen = 0;

    trisa_b64url_encode(&b, header, strlen(header));
    trisa_buf_puts(&b, ".");
    trisa_b64url_encode(&b, payload, strlen(payload));
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)b.data, b.len, mac, &maclen);
    trisa_buf_puts(&b, ".");
    trisa_b64url_encode(&b, mac, maclen);
    return trisa_buf_detach(&b, NULL);
}

START_TEST(jwt_round_trips_claims_and_rejects_tampering)
{
    emu_claims c = claims("access", 100, 100, 700), got;
    char *t = emu_jwt_sign(key, sizeof(key), &c);
    char *bad;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(emu_jwt_verify(key, sizeof(key), t, strlen(t), &got), 0);
    ck_assert_str_eq(got.sub, "/account/42/user/staging");
    ck_assert_str_eq(got.typ, "access");
    ck_assert_str_eq(got.jti, "0011223344556677");
    ck_assert_str_eq(got.iss, "");
    ck_assert_int_eq(got.iat, 100);
    ck_assert_int_eq(got.nbf, 100);
    ck_assert_int_eq(got.exp, 700);
    /* header, payload and signature each matter */
    bad = strdup(t);
    bad[strlen(bad) - 10] = bad[strlen(bad) - 10] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), bad, strlen(bad), &got), 0);
    memcpy(bad, t, strlen(t) + 1);
    bad[40] = bad[40] == 'A' ? 'B' : 'A';
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), bad, strlen(bad), &got), 0);
    ck_assert_int_ne(emu_jwt_verify((const unsigned char *)"another key, 32 bytes long......", 32,
                                    t, strlen(t), &got),
                     0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "a.b", 3, &got), 0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "", 0, &got), 0);
    ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), "...", 3, &got), 0);
    free(bad);
    free(t);
}
END_TEST

/* A 32-byte HMAC is 43 base64url characters: the last one carries 4 bits and 2 unused
 * ones. Each of the other 3 spellings of those bits must fail, or a token has 4 valid
 * signatures. */
START_TEST(jwt_rejects_every_non_canonical_spelling_of_its_signature)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    emu_claims c = claims("access", 1, 2, 3), got;
    char *t = emu_jwt_sign(key, sizeof(key), &c);
    size_t n = strlen(t);
    int v = (int)(strchr(alphabet, t[n - 1]) - alphabet), accepted = 0;

    ck_assert_int_eq(v & 3, 0);
    for (int low = 1; low < 4; low++) {
        t[n - 1] = alphabet[v | low];
        accepted += emu_jwt_verify(key, sizeof(key), t, n, &got) == 0;
    }
    ck_assert_int_eq(accepted, 0);
    t[n - 1] = alphabet[v];
    memset(&got, 0, sizeof(got));
    ck_assert_int_eq(emu_jwt_verify(key, sizeof(key), t, n, &got), 0);
    /* The canonical spelling gives back every claim it was made with. */
    ck_assert_str_eq(got.sub, c.sub);
    ck_assert_str_eq(got.typ, c.typ);
    ck_assert_str_eq(got.jti, c.jti);
    ck_assert_str_eq(got.iss, "");
    ck_assert_int_eq(got.iat, c.iat);
    ck_assert_int_eq(got.nbf, c.nbf);
    ck_assert_int_eq(got.exp, c.exp);
    /* A fourth part, padding, standard-alphabet characters: other spellings too. */
    {
        char *longer = malloc(n + 3);
        snprintf(longer, n + 3, "%s.x", t);
        ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), longer, strlen(longer), &got), 0);
        snprintf(longer, n + 3, "%s=", t);
        ck_assert_int_ne(emu_jwt_verify(key, sizeof(key), longer, strlen(longer), &got), 0);
        free(longer);
    }
    free(t);
}
END_TEST

START_TEST(jwt_takes_hs256_only_and_claims_of_the_right_types)
{
    static const struct {
        const char *header, *payload;
        int ok;
    } cases[] = {
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 1},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 1},
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 0},
        {"{\"typ\":\"JWT\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":\"99999999999\",\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":\"1\",\"exp\":2,\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2,\"nbf\":null,\"jti\":\"j\"}", 0},
        {"{\"alg\":\"HS256\"}", "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1,\"exp\":2}", 0},
        {"{\"alg\":\"HS256\"}", "{\"sub\":7,\"typ\":\"access\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}",
         0},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\",\"iat\":1.5,\"exp\":2.5,\"jti\":\"j\"}", 1},
        {"{\"alg\":\"HS256\"}", "[1]", 0},
        /* fuzz_emulator_auth: a claim that did not survive the server's own signing */
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"/account/42/user/staging\\u0000x\",\"typ\":\"access\",\"iat\":1,"
         "\"exp\":2,\"jti\":\"j\"}",
         0},
        {"{\"alg\":\"HS256\"}",
         "{\"sub\":\"s\",\"typ\":\"access\\u0000\",\"iat\":1,\"exp\":2,\"jti\":\"j\"}", 0},
    };
    emu_claims got;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = forge(cases[i].header, cases[i].payload);
        ck_assert_msg((emu_jwt_verify(key, sizeof(key), t, strlen(t), &got) == 0) == cases[i].ok,
                      "case %zu: %s %s", i, cases[i].header, cases[i].payload);
        free(t);
    }
}
END_TEST

START_TEST(b64url_strict_refuses_what_lenient_reads)
{
    unsigned char *out = NULL;
    size_t n = 0;

    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "AQID", 4, TRISA_B64_STRICT), 0);
    ck_assert_int_eq((int)n, 3);
    ck_assert_int_eq(out[2], 3);
    free(out);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "AQ", 2, TRISA_B64_STRICT), 0);
    free(out);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "AR", 2, TRISA_B64_STRICT), TRISA_EINVAL);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "AR", 2, 0), 0);
    free(out);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "A+/=", 4, TRISA_B64_STRICT), TRISA_EINVAL);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "A+8=", 4, 0), 0);
    ck_assert_int_eq((int)n, 2);
    free(out);
    ck_assert_int_eq(trisa_b64url_decode(&out, &n, "AAAAA", 5, 0), TRISA_EINVAL);
}
END_TEST

START_TEST(config_builtin_is_conf_emulator_json_byte_for_byte)
{
    char *path = default_config();
    unsigned char *text = NULL;
    size_t len = 0;

    ck_assert_int_eq(trisa_file_read(&text, &len, path, 1 << 20), 0);
    ck_assert_uint_eq(len, strlen(emu_builtin_default));
    ck_assert_int_eq(memcmp(text, emu_builtin_default, len), 0);
    ck_assert_ptr_eq(trisa_emu_builtin_config(NULL), emu_builtin_default);
    ck_assert_ptr_eq(trisa_emu_builtin_config("reference"), emu_builtin_reference);
    ck_assert_ptr_null(trisa_emu_builtin_config("other"));
    free(text);
    free(path);
}
END_TEST

START_TEST(config_loads_the_default_account_authority_and_profile)
{
    emu_config c;
    const emu_profile *p;
    const emu_authority *a;
    const emu_account *u;

    ck_assert_int_eq(emu_config_parse(&c, emu_builtin_default, strlen(emu_builtin_default), "x"),
                     0);
    a = emu_config_authority(&c, 1);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->balance, 10);
    ck_assert_int_eq(a->profile_id, 42);
    ck_assert_int_eq(a->issuing_profile_id, 42);
    ck_assert_str_eq(a->ecosystem_name, "TRISA");
    p = emu_config_profile(&c, 42);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->profile_name, "TRISA Profile");
    ck_assert_int_eq(p->server_key_bits, 4096);
    ck_assert_int_eq(p->modern_p12, 0);
    ck_assert_int_eq(p->validity, 397L * 86400);
    ck_assert_int_eq((int)p->nparams, 7);
    u = emu_config_account(&c, "staging");
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->subject, "/account/42/user/staging");
    ck_assert_ptr_eq(emu_config_account_by_subject(&c, "/account/42/user/staging"), u);
    ck_assert_ptr_null(emu_config_account_by_subject(&c, "/account/99/user/staging"));
    ck_assert_ptr_null(emu_config_account(&c, "nobody"));
    ck_assert_int_eq(c.access_lifetime, 600);
    ck_assert_str_eq(c.issuer, "");
    ck_assert_uint_eq(c.max_connections, 10000);
    ck_assert_uint_eq(c.max_per_ip, 256);
    ck_assert_int_eq(c.header_timeout, 10);
    ck_assert_uint_eq(c.inline_issue, 16);
    emu_config_free(&c);
}
END_TEST

START_TEST(config_reference_set_has_the_reference_servers_ids)
{
    emu_config c;
    const emu_authority *a;

    ck_assert_int_eq(
        emu_config_parse(&c, emu_builtin_reference, strlen(emu_builtin_reference), "ref"), 0);
    a = emu_config_authority(&c, 423);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->profile_id, 423);
    ck_assert_int_eq(a->issuing_profile_id, 17);
    ck_assert_str_eq(a->profile_name, "CipherTrace EE_#17");
    a = emu_config_authority(&c, 489);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->issuing_profile_id, 85);
    ck_assert_str_eq(emu_config_profile(&c, 17)->profile_name, "CipherTrace EE");
    ck_assert_str_eq(emu_config_profile(&c, 85)->profile_name,
                     "CipherTrace End Entity Certificate");
    ck_assert_str_eq(c.issuer, "https://cathy.test-net.io");
    ck_assert_int_eq(emu_config_account(&c, "staging")->user_id, 295);
    emu_config_free(&c);
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
    tu_write(f, "{\"profiles\": [{\"profileId\": 9}], \"authorities\": [{\"id\": 1, "
                "\"profileId\": 9, \"issuingProfileId\": 8}]}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "unknown profile 8"));
    tu_write(f, "{\"profiles\": [{\"profileId\": 1, \"bundle\": \"weird\"}]}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "{\"profiles\": [{\"profileId\": 1, \"validity\": \"10 minutes\"}]}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "{\"limits\": {\"maxBodyBytes\": 10}}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    tu_write(f, "{\"limits\": {\"maxConnectionsPerIp\": 0}}");
    ck_assert_int_eq(emu_config_load(&c, f), TRISA_ECONFIG);
    /* fuzz_emulator_config: numbers the server would overflow or convert wrongly later */
    {
        static const char *const bad[] = {
            "{\"profiles\": [{\"profileId\": 1, \"validityDays\": 9223372036854775807}]}",
            "{\"profiles\": [{\"profileId\": 1, \"validityDays\": 1e300}]}",
            "{\"profiles\": [{\"profileId\": 1, \"serverKeyBits\": 4294969296}]}",
            "{\"profiles\": [{\"profileId\": 1, \"minRsaBits\": -4294967296}]}",
            "{\"batches\": {\"processingDelay\": 1e300}}",
            "{\"batches\": {\"processingDelay\": NaN}}",
            "{\"batches\": {\"expireAfter\": 9223372036854775807}}",
            "{\"tokens\": {\"accessLifetime\": 9223372036854775807}}",
            "{\"tokens\": {\"refreshNotBefore\": -9223372036854775807}}",
            "{\"limits\": {\"maxBodyBytes\": -1}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            tu_write(f, bad[i]);
            ck_assert_msg(emu_config_load(&c, f) == TRISA_ECONFIG, "%s taken", bad[i]);
        }
    }
    tu_write(f, "{\"profiles\": [{\"profileId\": 1, \"validity\": \"10m\"}]}");
    ck_assert_int_eq(emu_config_load(&c, f), 0);
    ck_assert_int_eq(c.profiles[0].validity, 600);
    emu_config_free(&c);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(durations_take_seconds_minutes_hours_days_and_nothing_else)
{
    static const struct {
        const char *s;
        long v;
    } cases[] = {{"60s", 60},
                 {"10m", 600},
                 {"12h", 43200},
                 {"397d", 34300800},
                 {"1s", 1},
                 {"0s", -1},
                 {"60", -1},
                 {"s", -1},
                 {"10x", -1},
                 {"10mm", -1},
                 {"-5s", -1},
                 {"3651d", -1},
                 {"3650d", 315360000},
                 {"99999999999999999999s", -1},
                 {"", -1}};
    long v;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = emu_parse_duration(cases[i].s, 3650L * 86400, &v);
        ck_assert_msg(cases[i].v < 0 ? rc != 0 : (rc == 0 && v == cases[i].v), "case %s",
                      cases[i].s);
    }
}
END_TEST

static void batch_fill(emu_batch *b, long account)
{
    memset(b, 0, sizeof(*b));
    b->profile_id = 42;
    b->authority_id = 1;
    b->account_id = account;
    b->size = 1;
    b->created_ms = 1000;
    b->ready_ms = 2000;
    b->expires_ms = 3000;
    snprintf(b->status, sizeof(b->status), "PROCESSING");
    b->name = "n";
    b->profile_name = "TRISA Profile";
    b->reject_reason = "";
}

START_TEST(store_takes_licences_with_the_batch_exactly_and_never_below_zero)
{
    char *dir = tu_tmpdir(), *db = tu_path(dir, "e.db");
    emu_config c;
    emu_store *s;
    emu_batch b, got;
    emu_cert cert;
    emu_cert *found = NULL;
    size_t nfound = 0;
    long ordered, issued;

    ck_assert_int_eq(emu_config_parse(&c, emu_builtin_default, strlen(emu_builtin_default), "x"),
                     0);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 10);
    memset(&cert, 0, sizeof(cert));
    snprintf(cert.serial, sizeof(cert.serial), "4ABC");
    cert.common_name = "x.example.com";
    batch_fill(&b, 42);
    /* Too few licences: nothing is written, not even the batch. */
    ck_assert_int_eq(
        emu_store_add_batch(s, &b, 11, NULL, 0, &cert, 1, (const unsigned char *)"PK", 2),
        TRISA_EBALANCE);
    ck_assert_int_eq(emu_store_balance(s, 1), 10);
    ck_assert_int_eq(emu_store_get_batch(s, 1, &got), TRISA_ENOTFOUND);
    ck_assert_int_eq(
        emu_store_add_batch(s, &b, 1, NULL, 0, &cert, 1, (const unsigned char *)"PK", 2), 0);
    ck_assert_int_eq(b.id, 1);
    ck_assert_int_eq(b.order_number, 1001);
    ck_assert_int_eq(b.issued, 1);
    ck_assert_int_eq(emu_store_balance(s, 1), 9);
    ck_assert_int_eq(emu_store_get_batch(s, 1, &got), 0);
    ck_assert_str_eq(got.name, "n");
    ck_assert_int_eq(got.ready_ms, 2000);
    ck_assert_int_eq(got.account_id, 42);
    emu_batch_clear(&got);
    ck_assert_int_eq(emu_store_devices(s, 42, &ordered, &issued), 0);
    ck_assert_int_eq(ordered, 1);
    ck_assert_int_eq(issued, 1);
    ck_assert_int_eq(emu_store_devices(s, 43, &ordered, &issued), 0);
    ck_assert_int_eq(ordered + issued, 0);
    /* Another account neither finds nor revokes it. */
    ck_assert_int_eq(emu_store_find(s, 43, "x.example.com", NULL, &found, &nfound), 0);
    ck_assert_int_eq((int)nfound, 0);
    emu_certs_free(found, nfound);
    ck_assert_int_eq(emu_store_revoke(s, 43, "4ABC", 42, 1, 5), TRISA_ENOTFOUND);
    ck_assert_int_eq(emu_store_revoke(s, 42, "4ABC", 7, 1, 5), TRISA_ENOTFOUND);
    ck_assert_int_eq(emu_store_revoke(s, 42, "4ABC", 42, 1, 5), 0);
    ck_assert_int_eq(emu_store_revoke(s, 42, "4ABC", 42, 1, 5), TRISA_ESTATE);
    emu_store_close(s);

    /* The balance survives a reopen; the config's balance does not reset it. */
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 9);
    emu_store_close(s);
    emu_config_free(&c);
    tu_rmtree(dir);
    free(db);
    free(dir);
}
END_TEST

START_TEST(store_keeps_a_pending_batch_until_completed_or_failed)
{
    char *dir = tu_tmpdir(), *db = tu_path(dir, "e.db");
    emu_config c;
    emu_store *s;
    emu_batch b, got;
    emu_blob csrs[2] = {{(unsigned char *)"CSR1", 4}, {(unsigned char *)"CSR2", 4}}, *back = NULL;
    emu_cert certs[2];
    long *ids = NULL;
    size_t n = 0;

    ck_assert_int_eq(emu_config_parse(&c, emu_builtin_default, strlen(emu_builtin_default), "x"),
                     0);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    batch_fill(&b, 42);
    b.size = 2;
    ck_assert_int_eq(emu_store_add_batch(s, &b, 2, csrs, 2, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(b.issued, 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 8);
    ck_assert_int_eq(emu_store_pending(s, &ids, &n), 0);
    ck_assert_int_eq((int)n, 1);
    ck_assert_int_eq(ids[0], b.id);
    free(ids);
    ck_assert_int_eq(emu_store_get_csrs(s, b.id, &back, &n), 0);
    ck_assert_int_eq((int)n, 2);
    ck_assert_int_eq(memcmp(back[1].data, "CSR2", 4), 0);
    emu_blobs_free(back, n);
    /* Reopened (a restart): still pending, CSRs kept. */
    emu_store_close(s);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_pending(s, &ids, &n), 0);
    ck_assert_int_eq((int)n, 1);
    free(ids);
    memset(certs, 0, sizeof(certs));
    snprintf(certs[0].serial, sizeof(certs[0].serial), "AA");
    snprintf(certs[1].serial, sizeof(certs[1].serial), "BB");
    certs[0].common_name = certs[1].common_name = "p.example.com";
    ck_assert_int_eq(emu_store_complete(s, b.id, certs, 2, (const unsigned char *)"ZIP", 3), 0);
    ck_assert_int_eq(emu_store_complete(s, b.id, certs, 2, (const unsigned char *)"ZIP", 3),
                     TRISA_ESTATE);
    ck_assert_int_eq(emu_store_get_batch(s, b.id, &got), 0);
    ck_assert_int_eq(got.issued, 1);
    ck_assert_int_eq(got.success, 2);
    emu_batch_clear(&got);
    ck_assert_int_eq(emu_store_get_csrs(s, b.id, &back, &n), 0);
    ck_assert_int_eq((int)n, 0);
    emu_blobs_free(back, n);
    /* A batch that cannot be issued fails and gives its licences back. */
    batch_fill(&b, 42);
    b.size = 2;
    ck_assert_int_eq(emu_store_add_batch(s, &b, 2, csrs, 2, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 6);
    ck_assert_int_eq(emu_store_fail(s, b.id, "broken"), 0);
    ck_assert_int_eq(emu_store_balance(s, 1), 8);
    ck_assert_int_eq(emu_store_get_batch(s, b.id, &got), 0);
    ck_assert_str_eq(got.status, "FAILED");
    ck_assert_str_eq(got.reject_reason, "broken");
    emu_batch_clear(&got);
    ck_assert_int_eq(emu_store_fail(s, b.id, "again"), TRISA_ESTATE);
    ck_assert_int_eq(emu_store_balance(s, 1), 8);
    emu_store_close(s);
    emu_config_free(&c);
    tu_rmtree(dir);
    free(db);
    free(dir);
}
END_TEST

START_TEST(store_spends_each_refresh_token_once)
{
    char *dir = tu_tmpdir(), *db = tu_path(dir, "e.db");
    emu_config c;
    emu_store *s;

    ck_assert_int_eq(emu_config_parse(&c, emu_builtin_default, strlen(emu_builtin_default), "x"),
                     0);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_spend_token(s, "a", 100, 50), 0);
    ck_assert_int_eq(emu_store_spend_token(s, "a", 100, 50), TRISA_ESTATE);
    ck_assert_int_eq(emu_store_spend_token(s, "b", 100, 50), 0);
    emu_store_close(s);
    ck_assert_int_eq(emu_store_open(&s, db, &c), 0);
    ck_assert_int_eq(emu_store_spend_token(s, "a", 100, 60), TRISA_ESTATE);
    emu_store_close(s);
    emu_config_free(&c);
    tu_rmtree(dir);
    free(db);
    free(dir);
}
END_TEST

static void p12_case(int modern)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    PKCS12 *p12;

    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"t", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 60);
    ck_assert_int_ne(X509_sign(x, k, EVP_sha256()), 0);
    ck_assert_int_eq(emu_p12_build(&der, &len, "pw", k, x, x, x, modern), 0);
    p = der;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(p12);
    ck_assert_int_eq(PKCS12_verify_mac(p12, "pw", -1), 1);
    ck_assert_int_eq(PKCS12_verify_mac(p12, "wrong", -1), 0);
    {
        const X509_ALGOR *alg;
        const ASN1_OBJECT *obj;
        const ASN1_INTEGER *iter = NULL;
        PKCS12_get0_mac(NULL, &alg, NULL, &iter, p12);
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
        ck_assert_int_eq(OBJ_obj2nid(obj), modern ? NID_sha256 : NID_sha1);
        /* Sectigo's bundles: one MAC iteration (an absent count means 1). */
        ck_assert_int_eq(iter == NULL ? 1 : (int)ASN1_INTEGER_get(iter), modern ? 2048 : 1);
    }
    PKCS12_free(p12);
    free(der);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
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
    h.faults = calloc(2, sizeof(f));
    h.capfaults = 2;
    f.path = strdup("/api/v1/batches/{id}");
    h.faults[h.nfaults++] = f;
    f.path = strdup(EMU_ISSUE_PATH);
    f.method[0] = '\0';
    f.remaining = 1;
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
    /* The issuing step's fault fires there only. */
    ck_assert_int_eq((int)h.nfaults, 1);
    ck_assert_int_eq(emu_hooks_take(&h, "GET", "/x", NULL, &got), 0);
    ck_assert_int_eq(emu_hooks_take(&h, "", EMU_ISSUE_PATH, NULL, &got), 1);
    ck_assert_int_eq((int)h.nfaults, 0);
    emu_hooks_record(&h, "GET", "/x", 200, 0.1, NULL);
    ck_assert_int_eq((int)h.loglen, 1);
    emu_hooks_free(&h);
}
END_TEST

START_TEST(auth_scheme_logs_registered_schemes_only)
{
    char buf[32];

    ck_assert_str_eq(emu_auth_scheme("Bearer eyJ.x.y", buf, sizeof(buf)), "Bearer");
    ck_assert_str_eq(emu_auth_scheme("bearer abc", buf, sizeof(buf)), "bearer");
    ck_assert_str_eq(emu_auth_scheme("Basic c3RhZ2luZzpwdw==", buf, sizeof(buf)), "Basic");
    ck_assert_str_eq(emu_auth_scheme("eyJhbGciOiJIUzI1NiJ9.e30.sig", buf, sizeof(buf)), "invalid");
    ck_assert_str_eq(emu_auth_scheme("hunter2 secret", buf, sizeof(buf)), "invalid");
    ck_assert_str_eq(emu_auth_scheme("Bearer", buf, sizeof(buf)), "invalid");
    ck_assert_str_eq(emu_auth_scheme("", buf, sizeof(buf)), "invalid");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("emulator");
    TCase *tc = tcase_create("emulator");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jwt_round_trips_claims_and_rejects_tampering);
    tcase_add_test(tc, jwt_rejects_every_non_canonical_spelling_of_its_signature);
    tcase_add_test(tc, jwt_takes_hs256_only_and_claims_of_the_right_types);
    tcase_add_test(tc, b64url_strict_refuses_what_lenient_reads);
    tcase_add_test(tc, config_builtin_is_conf_emulator_json_byte_for_byte);
    tcase_add_test(tc, config_loads_the_default_account_authority_and_profile);
    tcase_add_test(tc, config_reference_set_has_the_reference_servers_ids);
    tcase_add_test(tc, config_rejects_missing_files_bad_json_and_dangling_profiles);
    tcase_add_test(tc, durations_take_seconds_minutes_hours_days_and_nothing_else);
    tcase_add_test(tc, store_takes_licences_with_the_batch_exactly_and_never_below_zero);
    tcase_add_test(tc, store_keeps_a_pending_batch_until_completed_or_failed);
    tcase_add_test(tc, store_spends_each_refresh_token_once);
    tcase_add_test(tc, p12_legacy_has_sha1_mac_and_modern_sha256);
    tcase_add_test(tc, faults_fire_for_their_count_on_matching_method_and_path);
    tcase_add_test(tc, auth_scheme_logs_registered_schemes_only);
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
