#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/dsa.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/internal.h"
#include "trisa/keygen.h"
#include "testutil.h"

/* One key of each kind for the whole file, made before the tests fork (RSA generation
 * is slow, and the machine is shared). */
static EVP_PKEY *rsa2048;
static EVP_PKEY *ec256;

static void make_keys(void)
{
    trisa_keygen_spec s;
    ck_assert_int_eq(trisa_keygen_spec_parse(&s, "rsa:2048"), 0);
    ck_assert_int_eq(trisa_keygen_generate(&rsa2048, &s), 0);
    ck_assert_int_eq(trisa_keygen_spec_parse(&s, "ec:P-256"), 0);
    ck_assert_int_eq(trisa_keygen_generate(&ec256, &s), 0);
}

static void free_keys(void)
{
    trisa_keygen_free(rsa2048);
    trisa_keygen_free(ec256);
}

static const struct {
    const char *text;
    trisa_key_type type;
    int bits;
} good_specs[] = {
    {"rsa", TRISA_KEY_RSA, 4096},        {"rsa:2048", TRISA_KEY_RSA, 2048},
    {"RSA:3072", TRISA_KEY_RSA, 3072},   {"rsa:4096", TRISA_KEY_RSA, 4096},
    {"ec:P-256", TRISA_KEY_EC, 256},     {"ec:prime256v1", TRISA_KEY_EC, 256},
    {"ec:secp256r1", TRISA_KEY_EC, 256}, {"ec:P-384", TRISA_KEY_EC, 384},
    {"EC:p-384", TRISA_KEY_EC, 384},     {"ec:secp384r1", TRISA_KEY_EC, 384},
};

START_TEST(spec_parse_accepts_rsa_sizes_and_nist_curves)
{
    trisa_keygen_spec s;
    char text[32];
    ck_assert_int_eq(trisa_keygen_spec_parse(&s, good_specs[_i].text), 0);
    ck_assert_int_eq(s.type, good_specs[_i].type);
    ck_assert_int_eq(s.bits, good_specs[_i].bits);
    ck_assert_int_eq(s.version, TRISA_KEYGEN_SPEC_VERSION);
    ck_assert_int_eq(trisa_keygen_spec_format(text, sizeof(text), &s), 0);
    ck_assert_str_eq(text, s.type == TRISA_KEY_RSA ? (s.bits == 2048   ? "rsa:2048"
                                                      : s.bits == 3072 ? "rsa:3072"
                                                                       : "rsa:4096")
                           : s.bits == 256         ? "ec:P-256"
                                                   : "ec:P-384");
}
END_TEST

static const struct {
    const char *text;
    const char *message;
} bad_specs[] = {
    {"rsa:1024", "key spec 'rsa:1024': RSA size must be 2048, 3072 or 4096"},
    {"rsa:8192", "key spec 'rsa:8192': RSA size must be 2048, 3072 or 4096"},
    {"rsa:", "key spec 'rsa:': RSA size must be 2048, 3072 or 4096"},
    {"rsa:4096x", "key spec 'rsa:4096x': RSA size must be 2048, 3072 or 4096"},
    {"ec:P-521", "key spec 'ec:P-521': curve must be P-256 or P-384"},
    {"ec:secp256k1", "key spec 'ec:secp256k1': curve must be P-256 or P-384"},
    {"dsa:2048", "key spec 'dsa:2048': expected rsa:BITS or ec:CURVE (rsa:4096, ec:P-384)"},
    {"", "key spec '': expected rsa:BITS or ec:CURVE (rsa:4096, ec:P-384)"},
    {"ed25519", "key spec 'ed25519': expected rsa:BITS or ec:CURVE (rsa:4096, ec:P-384)"},
};

START_TEST(spec_parse_rejects_unsupported_sizes_curves_and_algorithms)
{
    trisa_keygen_spec s = {0, 0, 0};
    ck_assert_int_eq(trisa_keygen_spec_parse(&s, bad_specs[_i].text), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), bad_specs[_i].message);
    ck_assert_int_eq(s.version, 0); /* untouched on error */
}
END_TEST

START_TEST(generate_default_is_rsa_4096_with_e_65537)
{
    EVP_PKEY *k = NULL;
    BIGNUM *e = NULL;
    char desc[32];
    ck_assert_int_eq(trisa_keygen_generate(&k, NULL), 0);
    ck_assert(EVP_PKEY_is_a(k, "RSA"));
    ck_assert_int_eq(EVP_PKEY_get_bits(k), 4096);
    ck_assert(EVP_PKEY_get_bn_param(k, "e", &e));
    ck_assert_int_eq(BN_get_word(e), 65537);
    ck_assert_int_eq(trisa_keygen_describe(desc, sizeof(desc), k), 0);
    ck_assert_str_eq(desc, "RSA 4096");
    BN_free(e);
    trisa_keygen_free(k);
}
END_TEST

START_TEST(generate_makes_the_asked_curve_and_size)
{
    char desc[32];
    ck_assert_int_eq(trisa_keygen_describe(desc, sizeof(desc), rsa2048), 0);
    ck_assert_str_eq(desc, "RSA 2048");
    ck_assert_int_eq(trisa_keygen_describe(desc, sizeof(desc), ec256), 0);
    ck_assert_str_eq(desc, "EC P-256");
    {
        EVP_PKEY *k = NULL;
        trisa_keygen_spec s;
        ck_assert_int_eq(trisa_keygen_spec_parse(&s, "ec:P-384"), 0);
        ck_assert_int_eq(trisa_keygen_generate(&k, &s), 0);
        ck_assert_int_eq(trisa_keygen_describe(desc, sizeof(desc), k), 0);
        ck_assert_str_eq(desc, "EC P-384");
        trisa_keygen_free(k);
    }
}
END_TEST

START_TEST(generate_rejects_bad_spec_and_version)
{
    EVP_PKEY *k = NULL;
    trisa_keygen_spec s = {TRISA_KEYGEN_SPEC_VERSION, TRISA_KEY_RSA, 1024};
    ck_assert_int_eq(trisa_keygen_generate(&k, &s), TRISA_EINVAL);
    ck_assert_ptr_null(k);
    s.bits = 2048;
    s.version = 99;
    ck_assert_int_eq(trisa_keygen_generate(&k, &s), TRISA_EINVAL);
    s.version = TRISA_KEYGEN_SPEC_VERSION;
    s.type = TRISA_KEY_EC;
    ck_assert_int_eq(trisa_keygen_generate(&k, &s), TRISA_EINVAL);
}
END_TEST

START_TEST(plain_pem_is_pkcs8_and_reads_back_to_the_same_key)
{
    EVP_PKEY *keys[2] = {rsa2048, ec256};
    for (int i = 0; i < 2; i++) {
        char *pem = NULL;
        size_t len = 0;
        EVP_PKEY *back = NULL;
        ck_assert_int_eq(trisa_keygen_to_pem(&pem, &len, keys[i], NULL), 0);
        ck_assert_uint_eq(len, strlen(pem));
        ck_assert(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
        ck_assert_int_eq(trisa_keygen_decode(&back, (unsigned char *)pem, len, NULL, "k"), 0);
        ck_assert_int_eq(EVP_PKEY_eq(back, keys[i]), 1);
        trisa_keygen_free(back);
        trisa_secret_free(pem);
    }
}
END_TEST

START_TEST(encrypted_pem_uses_pbes2_aes256_and_a_strong_pbkdf2)
{
    char *pem = NULL;
    BIO *b;
    X509_SIG *sig;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *oid;
    PBE2PARAM *pbe2;
    PBKDF2PARAM *kdf;
    const ASN1_OCTET_STRING *salt;

    ck_assert_int_eq(trisa_keygen_to_pem(&pem, NULL, ec256, "correct horse"), 0);
    ck_assert(strncmp(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38) == 0);
    b = BIO_new_mem_buf(pem, -1);
    sig = PEM_read_bio_PKCS8(b, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(sig);
    X509_SIG_get0(sig, &alg, NULL);
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    ck_assert_int_eq(OBJ_obj2nid(oid), NID_pbes2);
    pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
    ck_assert_ptr_nonnull(pbe2);
    ck_assert_int_eq(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
    ck_assert_int_eq(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
    kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
    ck_assert_ptr_nonnull(kdf);
    ck_assert_int_eq(ASN1_INTEGER_get(kdf->iter), TRISA_KEYGEN_PBKDF2_ITER);
    ck_assert_int_ge(TRISA_KEYGEN_PBKDF2_ITER, 600000);
    ck_assert_int_eq(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
    salt = kdf->salt->value.octet_string;
    ck_assert_int_eq(ASN1_STRING_length(salt), 16);
    PBKDF2PARAM_free(kdf);
    PBE2PARAM_free(pbe2);
    X509_SIG_free(sig);
    BIO_free(b);
    trisa_secret_free(pem);
}
END_TEST

START_TEST(encrypted_key_needs_the_right_passphrase)
{
    char *pem = NULL;
    size_t len = 0;
    EVP_PKEY *back = NULL;

    ck_assert_int_eq(trisa_keygen_to_pem(&pem, &len, ec256, "correct horse"), 0);
    ck_assert_int_eq(trisa_keygen_decode(&back, (unsigned char *)pem, len, "wrong", "k.pem"),
                     TRISA_EPASSWORD);
    ck_assert_str_eq(trisa_error_last(), "k.pem: wrong passphrase for the encrypted key");
    ck_assert_ptr_null(back);
    ck_assert_int_eq(trisa_keygen_decode(&back, (unsigned char *)pem, len, NULL, "k.pem"),
                     TRISA_EPASSWORD);
    ck_assert_str_eq(trisa_error_last(), "k.pem: the key is encrypted and no passphrase was given");
    ck_assert_int_eq(
        trisa_keygen_decode(&back, (unsigned char *)pem, len, "correct horse", "k.pem"), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, ec256), 1);
    trisa_keygen_free(back);
    trisa_secret_free(pem);
}
END_TEST

START_TEST(decode_reads_der_traditional_pem_and_encrypted_der)
{
    unsigned char *der = NULL;
    int n;
    EVP_PKEY *back = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *mem;

    /* DER PKCS#8, unencrypted */
    n = i2d_PrivateKey(rsa2048, &der);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(trisa_keygen_decode(&back, der, (size_t)n, NULL, "k.der"), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, rsa2048), 1);
    trisa_keygen_free(back);
    OPENSSL_free(der);

    /* traditional "BEGIN RSA PRIVATE KEY" */
    ck_assert(PEM_write_bio_PrivateKey_traditional(b, rsa2048, NULL, NULL, 0, NULL, NULL));
    BIO_get_mem_ptr(b, &mem);
    ck_assert(strstr(mem->data, "BEGIN RSA PRIVATE KEY") != NULL);
    ck_assert_int_eq(trisa_keygen_decode(&back, (unsigned char *)mem->data, mem->length, NULL, "k"),
                     0);
    ck_assert_int_eq(EVP_PKEY_eq(back, rsa2048), 1);
    trisa_keygen_free(back);
    BIO_free(b);

    /* encrypted PKCS#8 DER */
    b = BIO_new(BIO_s_mem());
    ck_assert(i2d_PKCS8PrivateKey_bio(b, ec256, EVP_aes_128_cbc(), NULL, 0, NULL, "pw"));
    BIO_get_mem_ptr(b, &mem);
    ck_assert_int_eq(
        trisa_keygen_decode(&back, (unsigned char *)mem->data, mem->length, "bad", "k.der"),
        TRISA_EPASSWORD);
    ck_assert_int_eq(
        trisa_keygen_decode(&back, (unsigned char *)mem->data, mem->length, "pw", "k.der"), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, ec256), 1);
    trisa_keygen_free(back);
    BIO_free(b);
}
END_TEST

static const char *const not_keys[] = {
    "",
    "hello",
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
};

START_TEST(decode_rejects_what_is_not_a_private_key)
{
    EVP_PKEY *back = NULL;
    const char *t = not_keys[_i];
    ck_assert_int_eq(trisa_keygen_decode(&back, (const unsigned char *)(t[0] ? t : " "),
                                         t[0] ? strlen(t) : 0, NULL, "x.pem"),
                     TRISA_EKEY);
    ck_assert(strncmp(trisa_error_last(), "x.pem: not a PEM or DER private key", 35) == 0);
    ck_assert_ptr_null(back);
}
END_TEST

START_TEST(decode_rejects_a_public_key)
{
    EVP_PKEY *back = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *mem;
    ck_assert(PEM_write_bio_PUBKEY(b, ec256));
    BIO_get_mem_ptr(b, &mem);
    ck_assert_int_eq(
        trisa_keygen_decode(&back, (unsigned char *)mem->data, mem->length, NULL, "pub.pem"),
        TRISA_EKEY);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "pub.pem: not a PEM or DER private key"));
    ck_assert_ptr_null(back);
    BIO_free(b);
}
END_TEST

START_TEST(save_writes_0600_and_never_replaces_without_the_flag)
{
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "key.pem");
    EVP_PKEY *back = NULL;

    ck_assert_int_eq(trisa_keygen_save(path, ec256, NULL, 0), 0);
    ck_assert_int_eq(tu_mode(path), 0600);
    ck_assert_int_eq(trisa_keygen_load(&back, path, NULL), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, ec256), 1);
    trisa_keygen_free(back);

    ck_assert_int_eq(trisa_keygen_save(path, rsa2048, NULL, 0), TRISA_EEXISTS);
    ck_assert_int_eq(trisa_keygen_load(&back, path, NULL), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, ec256), 1); /* the old key is still there */
    trisa_keygen_free(back);

    ck_assert_int_eq(trisa_keygen_save(path, rsa2048, NULL, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_keygen_load(&back, path, NULL), 0);
    ck_assert_int_eq(EVP_PKEY_eq(back, rsa2048), 1);
    ck_assert_int_eq(tu_mode(path), 0600);
    trisa_keygen_free(back);
    tu_rmtree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(load_reports_a_missing_file)
{
    EVP_PKEY *back = NULL;
    ck_assert_int_eq(trisa_keygen_load(&back, "/nonexistent/key.pem", NULL), TRISA_ENOTFOUND);
    ck_assert(strstr(trisa_error_last(), "/nonexistent/key.pem") != NULL);
}
END_TEST

START_TEST(fingerprint_is_sha256_of_the_der_public_key_in_colon_hex)
{
    unsigned char *der = NULL, md[32], fp[32];
    char hex[TRISA_KEYGEN_FINGERPRINT_HEX], want[96];
    int n = i2d_PUBKEY(rsa2048, &der);
    ck_assert(EVP_Q_digest(NULL, "SHA256", NULL, der, (size_t)n, md, NULL));
    ck_assert_int_eq(trisa_keygen_fingerprint(fp, rsa2048), 0);
    ck_assert_mem_eq(fp, md, 32);
    ck_assert_int_eq(trisa_keygen_fingerprint_hex(hex, rsa2048), 0);
    /* lower-case hex pairs and colons, as every tool prints a fingerprint */
    for (size_t i = 0; i < 32; i++) {
        snprintf(want + 3 * i, 4, "%02x%s", md[i], i < 31 ? ":" : "");
    }
    ck_assert_str_eq(hex, want);
    ck_assert_uint_eq(strlen(hex), 95);
    ck_assert_uint_eq(sizeof(hex), 96);
    /* different keys, different fingerprints */
    ck_assert_int_eq(trisa_keygen_fingerprint(fp, ec256), 0);
    ck_assert(memcmp(fp, md, 32) != 0);
    OPENSSL_free(der);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Hostile encrypted keys: the cost is read before anything is derived                */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* An EncryptedPrivateKeyInfo with this algorithm and junk for the encrypted key: making
 * one costs nothing (nothing is derived), reading one used to cost minutes. */
static char *hostile_p8(X509_ALGOR *alg, int pem, size_t *len)
{
    X509_SIG *sig = X509_SIG_new();
    X509_ALGOR *palg;
    ASN1_OCTET_STRING *data;
    unsigned char junk[64];
    BIO *b = BIO_new(BIO_s_mem());
    char *mem, *out;
    long n;
    memset(junk, 0x5a, sizeof(junk));
    ck_assert_ptr_nonnull(alg);
    X509_SIG_getm(sig, &palg, &data);
    ck_assert_int_eq(X509_ALGOR_copy(palg, alg), 1);
    ck_assert_int_eq(ASN1_OCTET_STRING_set(data, junk, sizeof(junk)), 1);
    ck_assert_int_eq(pem ? PEM_write_bio_PKCS8(b, sig) : i2d_PKCS8_bio(b, sig), 1);
    n = BIO_get_mem_data(b, &mem);
    out = malloc((size_t)n + 1);
    memcpy(out, mem, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    BIO_free(b);
    X509_SIG_free(sig);
    X509_ALGOR_free(alg);
    return out;
}

static X509_ALGOR *pbes2(int iter)
{
    unsigned char salt[16] = {1, 2, 3};
    return PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), iter, salt, sizeof(salt), NULL, NID_hmacWithSHA256);
}

static X509_ALGOR *pkcs12_pbe(int iter)
{
    unsigned char salt[8] = {1, 2, 3};
    return PKCS5_pbe_set(NID_pbe_WithSHA1And3_Key_TripleDES_CBC, iter, salt, sizeof(salt));
}

static X509_ALGOR *scrypt(uint64_t n, uint64_t r, uint64_t p)
{
    unsigned char salt[16] = {1, 2, 3};
    return PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), salt, sizeof(salt), NULL, n, r, p);
}

START_TEST(decode_refuses_a_huge_iteration_count_before_deriving)
{
    static const struct {
        const char *what;
        int pem;
        const char *message;
    } cases[] = {
        {"PBES2/PBKDF2 2^31-1, PEM", 1,
         "k.pem: the key's PBKDF2 asks for 2147483647 iterations; at most 1000000 are accepted "
         "(trisa-csr writes 600000)"},
        {"PBES2/PBKDF2 2^31-1, DER", 0,
         "k.pem: the key's PBKDF2 asks for 2147483647 iterations; at most 1000000 are accepted "
         "(trisa-csr writes 600000)"},
        {"PKCS#12 PBE 2^31-1", 1,
         "k.pem: the key's PBE asks for 2147483647 iterations; at most 1000000 are accepted "
         "(trisa-csr writes 600000)"},
        {"PBKDF2 1000001", 1,
         "k.pem: the key's PBKDF2 asks for 1000001 iterations; at most 1000000 are accepted "
         "(trisa-csr writes 600000)"},
        {"scrypt N=16384 r=8 p=1024", 1,
         "k.pem: the key's scrypt asks for 134217728 iterations; at most 1000000 are accepted "
         "(trisa-csr writes 600000)"},
    };
    X509_ALGOR *alg = _i == 2   ? pkcs12_pbe(0x7fffffff)
                      : _i == 3 ? pbes2(1000001)
                      : _i == 4 ? scrypt(16384, 8, 1024)
                                : pbes2(0x7fffffff);
    size_t len = 0;
    char *der = hostile_p8(alg, cases[_i].pem, &len);
    EVP_PKEY *k = NULL;
    double t0 = now_s(), took;
    int rc = trisa_keygen_decode(&k, (unsigned char *)der, len, "any passphrase", "k.pem");
    took = now_s() - t0;
    ck_assert_msg(rc == TRISA_EKEY, "%s: rc %d: %s", cases[_i].what, rc, trisa_error_last());
    ck_assert_str_eq(trisa_error_last(), cases[_i].message);
    ck_assert_ptr_null(k);
    /* Refused, not derived: 2^31-1 iterations take minutes; the check, microseconds. */
    ck_assert_msg(took < 1.0, "%s: %.3f s", cases[_i].what, took);
    /* Without a passphrase too: the count comes first. */
    ck_assert_int_eq(trisa_keygen_decode(&k, (unsigned char *)der, len, NULL, "k.pem"), TRISA_EKEY);
    free(der);
}
END_TEST

START_TEST(decode_takes_ordinary_counts)
{
    /* openssl's 2048 and our 600000 pass the check (then junk fails to decrypt). */
    size_t len = 0;
    char *der = hostile_p8(pbes2(2048), 1, &len);
    EVP_PKEY *k = NULL;
    ck_assert_int_eq(trisa_keygen_decode(&k, (unsigned char *)der, len, "pw", "k.pem"),
                     TRISA_EPASSWORD);
    /* Refused for the passphrase, not for its count. */
    ck_assert_str_eq(trisa_error_last(), "k.pem: wrong passphrase for the encrypted key");
    ck_assert_ptr_null(k);
    free(der);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Keys trisa would never make                                                         */

static EVP_PKEY *gen(const char *alg, const char *param, int bits, unsigned e)
{
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *k = NULL, *params = NULL;
    if (strcmp(alg, "DSA") == 0) {
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
        ck_assert_int_eq(EVP_PKEY_paramgen_init(pctx), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx, bits), 1);
        ck_assert_int_eq(EVP_PKEY_paramgen(pctx, &params), 1);
        EVP_PKEY_CTX_free(pctx);
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
    } else {
        ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    }
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_PKEY_keygen_init(ctx), 1);
    if (param != NULL) {
        ck_assert_int_eq(EVP_PKEY_CTX_set_group_name(ctx, param), 1);
    }
    if (strncmp(alg, "RSA", 3) == 0) {
        BIGNUM *bn = BN_new();
        BN_set_word(bn, e);
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
        ck_assert_int_eq(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn), 1);
        BN_free(bn);
    }
    ck_assert_int_eq(EVP_PKEY_generate(ctx, &k), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(params);
    return k;
}

static const struct {
    const char *alg, *param;
    int bits;
    unsigned e;
    const char *message; /* NULL: accepted */
} odd_keys[] = {
    {"RSA", NULL, 512, 65537,
     "k.pem: RSA-512 is too weak: use RSA of 2048, 3072 or 4096 bits (or EC P-256 / P-384)"},
    {"RSA", NULL, 1024, 65537,
     "k.pem: RSA-1024 is too weak: use RSA of 2048, 3072 or 4096 bits (or EC P-256 / P-384)"},
    {"RSA", NULL, 2560, 65537,
     "k.pem: RSA-2560 is not a size trisa makes or Sectigo certifies: use 2048, 3072 or 4096 "
     "bits"},
    {"RSA", NULL, 2048, 3,
     "k.pem: the RSA key's public exponent is below 65537 (or even): make a new key"},
    {"RSA-PSS", NULL, 2048, 65537,
     "k.pem: RSA-PSS keys are not supported (Sectigo certifies RSA and EC P-256 / P-384 keys): "
     "make an RSA or EC key"},
    {"EC", "secp256k1", 0, 0,
     "k.pem: EC curve secp256k1 is not one TLS certificates use: use P-256 or P-384"},
    {"EC", "P-224", 0, 0,
     "k.pem: EC curve secp224r1 is not one TLS certificates use: use P-256 or P-384"},
    {"EC", "P-521", 0, 0,
     "k.pem: EC curve secp521r1 is not one TLS certificates use: use P-256 or P-384"},
    {"ED25519", NULL, 0, 0,
     "k.pem: ED25519 keys are not supported (Sectigo certifies RSA and EC P-256 / P-384 keys): "
     "make an RSA or EC key"},
    {"DSA", NULL, 2048, 0,
     "k.pem: DSA keys are not supported (Sectigo certifies RSA and EC P-256 / P-384 keys): "
     "make an RSA or EC key"},
    {"RSA", NULL, 2048, 65537, NULL},
    {"RSA", NULL, 3072, 65537, NULL},
    {"EC", "P-256", 0, 0, NULL},
    {"EC", "P-384", 0, 0, NULL},
};

START_TEST(check_refuses_keys_trisa_would_never_make_with_the_reason)
{
    EVP_PKEY *k = gen(odd_keys[_i].alg, odd_keys[_i].param, odd_keys[_i].bits, odd_keys[_i].e);
    int rc = trisa_keygen_check(k, "k.pem");
    if (odd_keys[_i].message == NULL) {
        ck_assert_msg(rc == 0, "%s", trisa_error_last());
    } else {
        ck_assert_int_eq(rc, TRISA_EKEY);
        ck_assert_str_eq(trisa_error_last(), odd_keys[_i].message);
    }
    EVP_PKEY_free(k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keygen");
    TCase *tc = tcase_create("keygen");

    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, make_keys, free_keys);
    tcase_add_loop_test(tc, spec_parse_accepts_rsa_sizes_and_nist_curves, 0,
                        sizeof(good_specs) / sizeof(good_specs[0]));
    tcase_add_loop_test(tc, spec_parse_rejects_unsupported_sizes_curves_and_algorithms, 0,
                        sizeof(bad_specs) / sizeof(bad_specs[0]));
    tcase_add_test(tc, generate_default_is_rsa_4096_with_e_65537);
    tcase_add_test(tc, generate_makes_the_asked_curve_and_size);
    tcase_add_test(tc, generate_rejects_bad_spec_and_version);
    tcase_add_test(tc, plain_pem_is_pkcs8_and_reads_back_to_the_same_key);
    tcase_add_test(tc, encrypted_pem_uses_pbes2_aes256_and_a_strong_pbkdf2);
    tcase_add_test(tc, encrypted_key_needs_the_right_passphrase);
    tcase_add_test(tc, decode_reads_der_traditional_pem_and_encrypted_der);
    tcase_add_loop_test(tc, decode_rejects_what_is_not_a_private_key, 0,
                        sizeof(not_keys) / sizeof(not_keys[0]));
    tcase_add_test(tc, decode_rejects_a_public_key);
    tcase_add_test(tc, save_writes_0600_and_never_replaces_without_the_flag);
    tcase_add_test(tc, load_reports_a_missing_file);
    tcase_add_test(tc, fingerprint_is_sha256_of_the_der_public_key_in_colon_hex);
    tcase_add_loop_test(tc, decode_refuses_a_huge_iteration_count_before_deriving, 0, 5);
    tcase_add_test(tc, decode_takes_ordinary_counts);
    tcase_add_loop_test(tc, check_refuses_keys_trisa_would_never_make_with_the_reason, 0,
                        sizeof(odd_keys) / sizeof(odd_keys[0]));
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
