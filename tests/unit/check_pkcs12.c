/* pkcs12/: hostile ZIPs, member formats, key matching, chains, verification, writing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <zip.h>

#include "common/internal.h"
#include "trisa/bundle.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------- */
/* A small PKI made in the test                                                        */

#define DAY (24L * 3600L)

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(k);
    return k;
}

static EVP_PKEY *rsa_key(unsigned bits)
{
    EVP_PKEY *k = EVP_RSA_gen(bits);
    ck_assert_ptr_nonnull(k);
    return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_msg(e != NULL, "extension %d=%s", nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

typedef struct cert_spec {
    const char *cn;
    int ca;
    long from; /* seconds from now */
    long to;
    const EVP_MD *md;
    const char *san;
    const char *ku;
} cert_spec;

static X509 *make_cert(const cert_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1000;
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Test VASP", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), s->from);
    X509_gmtime_adj(X509_getm_notAfter(x), s->to);
    X509_set_pubkey(x, key);
    add_ext(x, issuer, NID_subject_key_identifier, "hash");
    add_ext(x, issuer, NID_authority_key_identifier, "keyid");
    if (s->ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, issuer, NID_key_usage, s->ku != NULL ? s->ku : "critical,digitalSignature");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(x, issuer, NID_subject_alt_name, s->san != NULL ? s->san : "DNS:vasp.example");
    }
    ck_assert_int_gt(
        X509_sign(x, issuer_key != NULL ? issuer_key : key, s->md != NULL ? s->md : EVP_sha256()),
        0);
    return x;
}

typedef struct pki {
    EVP_PKEY *root_key, *int_key, *leaf_key;
    X509 *root, *inter, *leaf;
} pki;

/* root (EC) -> intermediate (EC) -> leaf; leaf key and spec may be overridden. */
static void make_pki(pki *p, EVP_PKEY *leaf_key, const cert_spec *leaf_spec, const EVP_MD *int_md)
{
    cert_spec root = {"Test Root CA", 1, -1000 * DAY, 3650 * DAY, NULL, NULL, NULL};
    cert_spec inter = {"Test Issuing CA", 1, -1000 * DAY, 1825 * DAY, int_md, NULL, NULL};
    cert_spec leaf = {"vasp.example", 0, -DAY, 365 * DAY, NULL, NULL, NULL};
    p->root_key = ec_key();
    p->int_key = ec_key();
    p->leaf_key = leaf_key != NULL ? leaf_key : ec_key();
    p->root = make_cert(&root, p->root_key, NULL, NULL);
    p->inter = make_cert(&inter, p->int_key, p->root, p->root_key);
    p->leaf = make_cert(leaf_spec != NULL ? leaf_spec : &leaf, p->leaf_key, p->inter, p->int_key);
}

static void free_pki(pki *p)
{
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->int_key);
    EVP_PKEY_free(p->leaf_key);
    X509_free(p->root);
    X509_free(p->inter);
    X509_free(p->leaf);
}

typedef struct bytes {
    unsigned char *data;
    size_t len;
} bytes;

static bytes bio_bytes(BIO *b)
{
    char *d = NULL;
    long n = BIO_get_mem_data(b, &d);
    bytes r;
    r.data = malloc((size_t)n + 1);
    memcpy(r.data, d, (size_t)n);
    r.len = (size_t)n;
    BIO_free(b);
    return r;
}

static bytes pem_of(X509 *a, X509 *b, X509 *c)
{
    BIO *bio = BIO_new(BIO_s_mem());
    X509 *all[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (all[i] != NULL) {
            PEM_write_bio_X509(bio, all[i]);
        }
    }
    return bio_bytes(bio);
}

static bytes der_of(X509 *x)
{
    bytes r = {NULL, 0};
    int n = i2d_X509(x, &r.data);
    ck_assert_int_gt(n, 0);
    r.len = (size_t)n;
    return r;
}

static bytes p7_of(X509 *a, X509 *b, X509 *c, int pem)
{
    PKCS7 *p7 = PKCS7_new();
    BIO *bio = BIO_new(BIO_s_mem());
    X509 *all[3] = {a, b, c};
    PKCS7_set_type(p7, NID_pkcs7_signed);
    PKCS7_content_new(p7, NID_pkcs7_data);
    for (int i = 0; i < 3; i++) {
        if (all[i] != NULL) {
            PKCS7_add_certificate(p7, all[i]);
        }
    }
    if (pem) {
        PEM_write_bio_PKCS7(bio, p7);
    } else {
        i2d_PKCS7_bio(bio, p7);
    }
    PKCS7_free(p7);
    return bio_bytes(bio);
}

static bytes p12_of(pki *p, const char *pass, int legacy)
{
    STACK_OF(X509) *ca = sk_X509_new_null();
    PKCS12 *p12;
    BIO *bio = BIO_new(BIO_s_mem());
    int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
    sk_X509_push(ca, p->root); /* out of order on purpose */
    sk_X509_push(ca, p->inter);
    p12 = PKCS12_create(pass, "test", p->leaf_key, p->leaf, ca, nid, nid, 0, 0, 0);
    ck_assert_ptr_nonnull(p12);
    i2d_PKCS12_bio(bio, p12);
    PKCS12_free(p12);
    sk_X509_free(ca);
    return bio_bytes(bio);
}

/* ---------------------------------------------------------------------------------- */
/* ZIPs made in the test with libzip                                                   */

typedef struct zmember {
    const char *name;
    const void *data;
    size_t len;
    int kind; /* 0 file, 1 symlink, 2 folder, 3 encrypted, 4 stored */
} zmember;

static bytes make_zip(const zmember *m, size_t n)
{
    zip_error_t err;
    zip_source_t *src;
    zip_t *za;
    bytes r;
    zip_int64_t size;
    zip_error_init(&err);
    src = zip_source_buffer_create(NULL, 0, 0, &err);
    ck_assert_ptr_nonnull(src);
    zip_source_keep(src);
    za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(za);
    for (size_t i = 0; i < n; i++) {
        zip_int64_t idx;
        if (m[i].kind == 2) {
            idx = zip_dir_add(za, m[i].name, ZIP_FL_ENC_UTF_8);
            ck_assert_int_ge(idx, 0);
            continue;
        }
        idx = zip_file_add(za, m[i].name, zip_source_buffer(za, m[i].data, m[i].len, 0),
                           ZIP_FL_ENC_UTF_8);
        ck_assert_msg(idx >= 0, "zip_file_add %s: %s", m[i].name, zip_strerror(za));
        if (m[i].kind == 1) {
            zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                             (zip_uint32_t)(S_IFLNK | 0777) << 16);
        } else if (m[i].kind == 3) {
            zip_uint16_t em = zip_encryption_method_supported(ZIP_EM_AES_256, 1)
                                  ? ZIP_EM_AES_256
                                  : ZIP_EM_TRAD_PKWARE;
            ck_assert_int_eq(zip_file_set_encryption(za, (zip_uint64_t)idx, em, "secret"), 0);
        } else if (m[i].kind == 4) {
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        }
    }
    ck_assert_msg(zip_close(za) == 0, "zip_close");
    ck_assert_int_eq(zip_source_open(src), 0);
    zip_source_seek(src, 0, SEEK_END);
    size = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    r.data = malloc((size_t)size);
    r.len = (size_t)zip_source_read(src, r.data, (zip_uint64_t)size);
    ck_assert_uint_eq(r.len, (size_t)size);
    zip_source_close(src);
    zip_source_free(src);
    return r;
}

/* Replace every occurrence of `from` by `to` (same length) in the archive's bytes. */
static int patch(bytes *z, const char *from, const char *to)
{
    size_t n = strlen(from);
    int count = 0;
    for (size_t i = 0; i + n <= z->len; i++) {
        if (memcmp(z->data + i, from, n) == 0) {
            memcpy(z->data + i, to, n);
            count++;
        }
    }
    return count;
}

static int zip_fails_with(bytes z, const trisa_bundle_zip_limits *lim, const char *needle)
{
    trisa_bundle_zip *out = NULL;
    int rc = trisa_bundle_zip_read(&out, z.data, z.len, lim);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(trisa_error_last(), needle) != NULL, "message [%s] lacks [%s]",
                  trisa_error_last(), needle);
    free(z.data);
    return rc;
}

static const char pem_text[] = "-----BEGIN CERTIFICATE-----\nnot really\n";

/* ---------------------------------------------------------------------------------- */
/* Hostile ZIPs, one per kind                                                          */

typedef struct hostile_case {
    const char *name;
    int kind;
    const char *expect;
} hostile_case;

static const hostile_case hostile_names[] = {
    {"/etc/cert.pem", 0, "absolute path"}, {"a/../../cert.pem", 0, "'..' component"},
    {"..", 0, "'..' component"},           {"certs\\cert.pem", 0, "backslash"},
    {"C:cert.pem", 0, "drive letter"},     {"link.pem", 1, "symbolic link"},
    {"certs/", 2, "not a regular file"},   {"secret.pem", 3, "encrypted entry"},
};

START_TEST(zip_refuses_each_hostile_entry_naming_it)
{
    const hostile_case *c = &hostile_names[_i];
    zmember m = {c->name, pem_text, sizeof(pem_text) - 1, c->kind};
    int rc = zip_fails_with(make_zip(&m, 1), NULL, c->expect);
    ck_assert_int_eq(rc, TRISA_EZIP);
    ck_assert_msg(strstr(trisa_error_last(), c->name) != NULL, "entry not named: %s",
                  trisa_error_last());
}
END_TEST

START_TEST(zip_refuses_duplicate_names)
{
    zmember m[2] = {{"a.pem", pem_text, 5, 0}, {"b.pem", pem_text, 5, 0}};
    bytes z = make_zip(m, 2);
    ck_assert_int_ge(patch(&z, "b.pem", "a.pem"), 2);
    ck_assert_int_eq(zip_fails_with(z, NULL, "'a.pem': duplicate name"), TRISA_EZIP);
}
END_TEST

START_TEST(zip_refuses_more_than_1000_entries)
{
    zmember *m = calloc(1001, sizeof(*m));
    char(*names)[16] = calloc(1001, 16);
    for (int i = 0; i < 1001; i++) {
        snprintf(names[i], 16, "f%d.txt", i);
        m[i].name = names[i];
        m[i].data = "x";
        m[i].len = 1;
    }
    ck_assert_int_eq(zip_fails_with(make_zip(m, 1001), NULL, "1001 entries; at most 1000"),
                     TRISA_EZIP);
    free(m);
    free(names);
}
END_TEST

static unsigned char *random_bytes(size_t n)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        b[i] = (unsigned char)(rand() & 0xff);
    }
    return b;
}

START_TEST(zip_refuses_an_entry_over_the_size_limit)
{
    trisa_bundle_zip_limits lim = TRISA_BUNDLE_ZIP_LIMITS_INIT;
    unsigned char *rnd = random_bytes(2000);
    zmember m = {"big.pem", rnd, 2000, 0};
    lim.max_entry_size = 1000;
    ck_assert_int_eq(zip_fails_with(make_zip(&m, 1), &lim, "'big.pem': 2000 bytes uncompressed"),
                     TRISA_EZIP);
    free(rnd);
}
END_TEST

START_TEST(zip_refuses_a_total_over_the_size_limit)
{
    trisa_bundle_zip_limits lim = TRISA_BUNDLE_ZIP_LIMITS_INIT;
    unsigned char *rnd = random_bytes(2000);
    zmember m[2] = {{"a.pem", rnd, 2000, 0}, {"b.pem", rnd, 2000, 0}};
    lim.max_total_size = 3000;
    ck_assert_int_eq(zip_fails_with(make_zip(m, 2), &lim, "'b.pem': archive over 3000"),
                     TRISA_EZIP);
    free(rnd);
}
END_TEST

START_TEST(zip_refuses_the_default_16_mib_entry_limit_and_bombs)
{
    size_t n = 16u * 1024u * 1024u + 1;
    unsigned char *zeros = calloc(1, n);
    zmember m = {"bomb.pem", zeros, n, 0};
    ck_assert_int_eq(zip_fails_with(make_zip(&m, 1), NULL, "'bomb.pem'"), TRISA_EZIP);
    free(zeros);
}
END_TEST

START_TEST(zip_refuses_a_compression_ratio_over_100)
{
    unsigned char *zeros = calloc(1, 200000);
    zmember m = {"zeros.pem", zeros, 200000, 0};
    ck_assert_int_eq(zip_fails_with(make_zip(&m, 1), NULL, "'zeros.pem': compression ratio"),
                     TRISA_EZIP);
    free(zeros);
}
END_TEST

START_TEST(zip_refuses_a_bad_crc)
{
    static const char body[] = "THE-PAYLOAD-THAT-WILL-BE-CORRUPTED";
    zmember m = {"c.pem", body, sizeof(body) - 1, 4};
    bytes z = make_zip(&m, 1);
    ck_assert_int_eq(patch(&z, "PAYLOAD", "PAYLOAX"), 1);
    ck_assert_int_eq(zip_fails_with(z, NULL, "'c.pem': CRC mismatch"), TRISA_EZIP);
}
END_TEST

START_TEST(zip_refuses_a_header_that_understates_the_size)
{
    /* Declared 30 bytes in both headers; the stored data is 34. */
    static const char body[] = "0123456789012345678901234567890123";
    zmember m = {"lie.pem", body, 34, 4};
    bytes z = make_zip(&m, 1);
    unsigned char from[4] = {34, 0, 0, 0}, to[4] = {30, 0, 0, 0};
    int n = 0;
    for (size_t i = 0; i + 4 <= z.len; i++) {
        if (memcmp(z.data + i, from, 4) == 0) {
            memcpy(z.data + i, to, 4);
            n++;
        }
    }
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(zip_fails_with(z, NULL, "lie.pem"), TRISA_EZIP);
}
END_TEST

START_TEST(zip_refuses_a_truncated_archive)
{
    zmember m = {"a.pem", pem_text, sizeof(pem_text) - 1, 0};
    bytes z = make_zip(&m, 1);
    z.len = z.len / 2;
    ck_assert_int_eq(zip_fails_with(z, NULL, "truncated"), TRISA_EZIP);
}
END_TEST

START_TEST(zip_reads_good_entries_into_memory)
{
    zmember m[2] = {{"dir/a.pem", "alpha", 5, 0}, {"b.txt", "beta", 4, 4}};
    bytes z = make_zip(m, 2);
    trisa_bundle_zip *out = NULL;
    const char *name;
    const unsigned char *data;
    size_t len;
    ck_assert_int_eq(trisa_bundle_zip_read(&out, z.data, z.len, NULL), 0);
    ck_assert_uint_eq(trisa_bundle_zip_count(out), 2);
    ck_assert_int_eq(trisa_bundle_zip_entry(out, 1, &name, &data, &len), 0);
    ck_assert_str_eq(name, "b.txt");
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(data, "beta", 4), 0);
    ck_assert_int_eq(trisa_bundle_zip_entry(out, 2, &name, &data, &len), TRISA_EINVAL);
    trisa_bundle_zip_free(out);
    free(z.data);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Members                                                                             */

static trisa_bundle *open_members(const zmember *m, size_t n, const char *pass, int expect)
{
    bytes z = make_zip(m, n);
    trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle *b = NULL;
    o.password = pass;
    ck_assert_msg(trisa_bundle_open_zip(&b, z.data, z.len, &o) == expect, "open: %s",
                  trisa_error_last());
    free(z.data);
    return b;
}

static trisa_bundle_report *verify_ok(trisa_bundle *b, X509 *root, time_t at, int expect)
{
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    char *dir = tu_tmpdir(), *path = tu_path(dir, "trust.pem");
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, root);
    fclose(f);
    vo.trust_file = path;
    vo.at = at;
    ck_assert_msg(trisa_bundle_verify(&r, b, 0, &vo) == expect, "verify: %s", trisa_error_last());
    ck_assert_ptr_nonnull(r);
    tu_rmtree(dir);
    free(dir);
    free(path);
    return r;
}

static void assert_chain_is(trisa_bundle *b, pki *p)
{
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_uint_eq(trisa_bundle_identity_count(b), 1);
    ck_assert_int_eq(X509_cmp(trisa_bundle_leaf(b, 0), p->leaf), 0);
    trisa_bundle_report_free(verify_ok(b, p->root, 0, 0));
}

START_TEST(members_in_every_format_give_the_same_chain)
{
    pki p;
    bytes a, c, d;
    trisa_bundle *b;
    make_pki(&p, NULL, NULL, NULL);
    for (int fmt = 0; fmt < 6; fmt++) {
        zmember m[3];
        size_t n = 0;
        switch (fmt) {
        case 0: /* one PEM with all three, shuffled */
            a = pem_of(p.root, p.leaf, p.inter);
            m[n++] = (zmember){"all.pem", a.data, a.len, 0};
            c.data = d.data = NULL;
            break;
        case 1: /* DER .crt, .cer, .der */
            a = der_of(p.leaf);
            c = der_of(p.inter);
            d = der_of(p.root);
            m[n++] = (zmember){"leaf.crt", a.data, a.len, 0};
            m[n++] = (zmember){"int.cer", c.data, c.len, 0};
            m[n++] = (zmember){"root.der", d.data, d.len, 0};
            break;
        case 2: /* PEM .crt + .cer */
            a = pem_of(p.leaf, NULL, NULL);
            c = pem_of(p.inter, p.root, NULL);
            m[n++] = (zmember){"leaf.crt", a.data, a.len, 0};
            m[n++] = (zmember){"ca.cer", c.data, c.len, 0};
            d.data = NULL;
            break;
        case 3: /* PKCS#7 PEM */
            a = p7_of(p.inter, p.root, p.leaf, 1);
            m[n++] = (zmember){"bundle.p7b", a.data, a.len, 0};
            c.data = d.data = NULL;
            break;
        case 4: /* PKCS#7 DER */
            a = p7_of(p.leaf, p.inter, p.root, 0);
            m[n++] = (zmember){"bundle.p7c", a.data, a.len, 0};
            c.data = d.data = NULL;
            break;
        default: /* PKCS#12, modern */
            a = p12_of(&p, "pw", 0);
            m[n++] = (zmember){"vasp.example.p12", a.data, a.len, 0};
            c.data = d.data = NULL;
            break;
        }
        b = open_members(m, n, fmt == 5 ? "pw" : NULL, 0);
        ck_assert_uint_eq(trisa_bundle_cert_count(b), 3);
        if (fmt != 5) {
            trisa_bundle_add_key(b, p.leaf_key);
        }
        assert_chain_is(b, &p);
        ck_assert_int_eq(trisa_bundle_has_bundle_key(b, 0), fmt == 5);
        trisa_bundle_free(b);
        free(a.data);
        free(c.data);
        free(d.data);
    }
    free_pki(&p);
}
END_TEST

START_TEST(legacy_3des_pkcs12_decrypts)
{
    pki p;
    bytes a;
    trisa_bundle *b;
    make_pki(&p, NULL, NULL, NULL);
    a = p12_of(&p, "pw", 1);
    {
        zmember m = {"legacy.pfx", a.data, a.len, 0};
        b = open_members(&m, 1, "pw", 0);
    }
    assert_chain_is(b, &p);
    trisa_bundle_free(b);
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(wrong_pkcs12_password_is_its_own_error)
{
    pki p;
    bytes a;
    make_pki(&p, NULL, NULL, NULL);
    a = p12_of(&p, "right", 0);
    {
        zmember m = {"x.p12", a.data, a.len, 0};
        ck_assert_ptr_null(open_members(&m, 1, "wrong", TRISA_EPASSWORD));
    }
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "'x.p12': wrong PKCS#12 password"));
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(zip_without_certificates_is_refused)
{
    zmember m = {"readme.txt", "hello", 5, 0};
    ck_assert_ptr_null(open_members(&m, 1, NULL, TRISA_EBUNDLE));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no certificate"));
}
END_TEST

START_TEST(garbage_member_is_refused_by_name)
{
    zmember m = {"leaf.der", "garbage!", 8, 0};
    ck_assert_ptr_null(open_members(&m, 1, NULL, TRISA_EBUNDLE));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "'leaf.der'"));
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Keys, chains and checks                                                              */

static trisa_bundle *pem_bundle(X509 *a, X509 *b2, X509 *c)
{
    bytes pem = pem_of(a, b2, c);
    zmember m = {"certs.pem", pem.data, pem.len, 0};
    trisa_bundle *b = open_members(&m, 1, NULL, 0);
    free(pem.data);
    return b;
}

START_TEST(missing_intermediate_fails_verification)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_report *r;
    char *text = NULL;
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.root, NULL);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    r = verify_ok(b, p.root, 0, TRISA_EVERIFY);
    ck_assert_int_eq(trisa_bundle_report_ok(r), 0);
    trisa_bundle_report_text(&text, r);
    ck_assert_msg(strstr(text, "unable to get local issuer certificate") != NULL, "%s", text);
    free(text);
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(mismatched_key_names_both_fingerprints)
{
    pki p;
    trisa_bundle *b;
    EVP_PKEY *other = ec_key();
    char cfp[100], kfp[100];
    unsigned char md[32], *der = NULL;
    unsigned int n;
    int dl;
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, other);
    ck_assert_int_eq(trisa_bundle_resolve(b), TRISA_EMISMATCH);
    X509_digest(p.leaf, EVP_sha256(), md, &n);
    trisa_hex(cfp, md, 32, ':');
    dl = i2d_PUBKEY(other, &der);
    EVP_Digest(der, (size_t)dl, md, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    trisa_hex(kfp, md, 32, ':');
    ck_assert_msg(strstr(trisa_error_last(), cfp) != NULL, "%s", trisa_error_last());
    ck_assert_msg(strstr(trisa_error_last(), kfp) != NULL, "%s", trisa_error_last());
    EVP_PKEY_free(other);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(key_picks_its_leaf_among_several)
{
    pki p;
    trisa_bundle *b;
    EVP_PKEY *k2 = ec_key();
    cert_spec s2 = {"second.example", 0, -DAY, 365 * DAY, NULL, NULL, NULL};
    X509 *leaf2;
    make_pki(&p, NULL, NULL, NULL);
    leaf2 = make_cert(&s2, k2, p.inter, p.int_key);
    {
        bytes pem = pem_of(leaf2, p.inter, p.leaf);
        bytes root = pem_of(p.root, NULL, NULL);
        zmember m[2] = {{"a.pem", pem.data, pem.len, 0}, {"root.pem", root.data, root.len, 0}};
        b = open_members(m, 2, NULL, 0);
        free(pem.data);
        free(root.data);
    }
    trisa_bundle_add_key(b, p.leaf_key);
    trisa_bundle_add_key(b, k2);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_uint_eq(trisa_bundle_identity_count(b), 2);
    ck_assert_str_eq(trisa_bundle_common_name(b, 0), "second.example");
    ck_assert_str_eq(trisa_bundle_common_name(b, 1), "vasp.example");
    X509_free(leaf2);
    EVP_PKEY_free(k2);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(expired_leaf_fails_now_and_verifies_at_a_time_inside)
{
    pki p;
    cert_spec old = {"vasp.example", 0, -400 * DAY, -35 * DAY, NULL, NULL, NULL};
    trisa_bundle *b;
    trisa_bundle_report *r;
    char *json = NULL;
    make_pki(&p, NULL, &old, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    r = verify_ok(b, p.root, 0, TRISA_EVERIFY);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "expired"));
    trisa_bundle_report_json(&json, r);
    ck_assert_msg(strstr(json, "\"daysLeft\":-35") != NULL, "%s", json);
    free(json);
    trisa_bundle_report_free(r);
    r = verify_ok(b, p.root, time(NULL) - 100 * DAY, 0);
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(sha1_signed_intermediate_fails)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_report *r;
    make_pki(&p, NULL, NULL, EVP_sha1());
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    r = verify_ok(b, p.root, 0, TRISA_EVERIFY);
    ck_assert_msg(strstr(trisa_error_last(), "signature-algorithm") != NULL, "%s",
                  trisa_error_last());
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "Test Issuing CA"));
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(rsa_1024_leaf_fails_key_strength)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_report *r;
    make_pki(&p, rsa_key(1024), NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    r = verify_ok(b, p.root, 0, TRISA_EVERIFY);
    ck_assert_msg(strstr(trisa_error_last(), "key-strength: CN=vasp.example") != NULL, "%s",
                  trisa_error_last());
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "1024-bit RSA"));
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(rsa_2048_leaf_passes)
{
    pki p;
    trisa_bundle *b;
    make_pki(&p, rsa_key(2048), NULL, NULL);
    b = pem_bundle(p.root, p.leaf, p.inter);
    trisa_bundle_add_key(b, p.leaf_key);
    assert_chain_is(b, &p);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(dns_names_and_key_usage_are_checked)
{
    pki p;
    cert_spec s = {"vasp.example",
                   0,
                   -DAY,
                   365 * DAY,
                   NULL,
                   "DNS:vasp.example,DNS:api.vasp.example",
                   "critical,keyEncipherment"};
    const char *names[2] = {"api.vasp.example", "missing.example"};
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    trisa_bundle *b;
    char *text = NULL;
    make_pki(&p, NULL, &s, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0); /* no key: the end-entity cert */
    vo.trust_bundle_root = 1;
    vo.dns_names = names;
    vo.dns_count = 2;
    ck_assert_int_eq(trisa_bundle_verify(&r, b, 0, &vo), TRISA_EVERIFY);
    trisa_bundle_report_text(&text, r);
    ck_assert_msg(strstr(text, "FAIL dns-names") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "not in the SANs: missing.example\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "FAIL key-usage") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "skip key-match") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "pass chain-tls-server") != NULL, "%s", text);
    free(text);
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(revoked_leaf_fails_with_a_crl)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL) - 3600);
    char *dir = tu_tmpdir(), *crlpath = tu_path(dir, "ca.crl");
    FILE *f;
    make_pki(&p, NULL, NULL, NULL);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(p.inter));
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_set(t, time(NULL) + 7 * DAY);
    X509_CRL_set1_nextUpdate(crl, t);
    X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(p.leaf));
    ASN1_TIME_set(t, time(NULL) - 3600);
    X509_REVOKED_set_revocationDate(rev, t);
    X509_CRL_add0_revoked(crl, rev);
    X509_CRL_sort(crl);
    ck_assert_int_gt(X509_CRL_sign(crl, p.int_key, EVP_sha256()), 0);
    f = fopen(crlpath, "w");
    PEM_write_X509_CRL(f, crl);
    fclose(f);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    vo.trust_bundle_root = 1;
    vo.crl_file = crlpath;
    ck_assert_int_eq(trisa_bundle_verify(&r, b, 0, &vo), TRISA_EVERIFY);
    ck_assert_msg(strstr(trisa_error_last(), "revoked") != NULL, "%s", trisa_error_last());
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    X509_CRL_free(crl);
    ASN1_TIME_free(t);
    tu_rmtree(dir);
    free(dir);
    free(crlpath);
    free_pki(&p);
}
END_TEST

START_TEST(verify_needs_a_trust_anchor)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_report *r = NULL;
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_int_eq(trisa_bundle_verify(&r, b, 0, NULL), TRISA_EINVAL);
    ck_assert_ptr_null(r);
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(encrypted_key_file_needs_its_password)
{
    pki p;
    trisa_bundle *b;
    char *dir = tu_tmpdir(), *path = tu_path(dir, "key.pem");
    FILE *f;
    make_pki(&p, NULL, NULL, NULL);
    f = fopen(path, "w");
    PEM_write_PKCS8PrivateKey(f, p.leaf_key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"kpass");
    fclose(f);
    b = pem_bundle(p.leaf, p.inter, p.root);
    ck_assert_int_eq(trisa_bundle_add_key_file(b, path, NULL), TRISA_EPASSWORD);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "encrypted and no passphrase was given"));
    ck_assert_int_eq(trisa_bundle_add_key_file(b, path, "wrong"), TRISA_EPASSWORD);
    ck_assert_int_eq(trisa_bundle_add_key_file(b, path, "kpass"), 0);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_int_eq(trisa_bundle_has_bundle_key(b, 0), 0);
    tu_write(path, "not a key\n");
    ck_assert_int_eq(trisa_bundle_add_key_file(b, path, NULL), TRISA_EKEY);
    trisa_bundle_free(b);
    tu_rmtree(dir);
    free(dir);
    free(path);
    free_pki(&p);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Writing and re-export                                                               */

START_TEST(write_makes_the_files_and_refuses_to_replace_any)
{
    pki p;
    bytes a = {NULL, 0};
    trisa_bundle *b;
    trisa_bundle_write_options wo = TRISA_BUNDLE_WRITE_OPTIONS_INIT;
    char *dir = tu_tmpdir(), *key = tu_path(dir, "key.pem"), *cert = tu_path(dir, "cert.pem");
    char *root = tu_path(dir, "root.pem");
    make_pki(&p, NULL, NULL, NULL);
    a = p12_of(&p, "pw", 0);
    {
        zmember m = {"x.p12", a.data, a.len, 0};
        b = open_members(&m, 1, "pw", 0);
    }
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_int_eq(trisa_bundle_write(b, 0, dir, &wo), 0);
    ck_assert_int_eq(tu_mode(key), 0600);
    ck_assert_int_eq(tu_mode(cert), 0644);
    ck_assert_int_eq(tu_mode(root), 0644);
    /* One existing file stops the whole write: remove cert.pem, the others remain. */
    unlink(cert);
    ck_assert_int_eq(trisa_bundle_write(b, 0, dir, &wo), TRISA_EEXISTS);
    ck_assert_int_eq(tu_mode(cert), -1);
    wo.force = 1;
    wo.key_password = "out-pass";
    ck_assert_int_eq(trisa_bundle_write(b, 0, dir, &wo), 0);
    {
        FILE *f = fopen(key, "r");
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, (void *)"out-pass");
        fclose(f);
        ck_assert_ptr_nonnull(k);
        ck_assert_int_eq(EVP_PKEY_eq(k, p.leaf_key), 1);
        EVP_PKEY_free(k);
    }
    trisa_bundle_free(b);
    free(a.data);
    tu_rmtree(dir);
    free(dir);
    free(key);
    free(cert);
    free(root);
    free_pki(&p);
}
END_TEST

START_TEST(our_key_is_never_written)
{
    pki p;
    trisa_bundle *b;
    char *dir = tu_tmpdir(), *key = tu_path(dir, "key.pem"), *chain = tu_path(dir, "chain.pem");
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_int_eq(trisa_bundle_write(b, 0, dir, NULL), 0);
    ck_assert_int_eq(tu_mode(key), -1);
    ck_assert_int_eq(tu_mode(chain), 0644);
    trisa_bundle_free(b);
    tu_rmtree(dir);
    free(dir);
    free(key);
    free(chain);
    free_pki(&p);
}
END_TEST

START_TEST(export_p12_modern_and_legacy_read_back)
{
    pki p;
    trisa_bundle *b;
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    trisa_bundle_add_key(b, p.leaf_key);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    for (int legacy = 0; legacy < 2; legacy++) {
        unsigned char *der = NULL;
        size_t len = 0;
        const unsigned char *q;
        PKCS12 *p12;
        const X509_ALGOR *macalg = NULL;
        trisa_bundle *back;
        ck_assert_int_eq(trisa_bundle_export_p12(&der, &len, b, 0, "exp",
                                                 legacy ? TRISA_P12_LEGACY : TRISA_P12_MODERN),
                         0);
        q = der;
        p12 = d2i_PKCS12(NULL, &q, (long)len);
        ck_assert_ptr_nonnull(p12);
        PKCS12_get0_mac(NULL, &macalg, NULL, NULL, p12);
        ck_assert_int_eq(OBJ_obj2nid(macalg->algorithm), legacy ? NID_sha1 : NID_sha256);
        PKCS12_free(p12);
        {
            zmember m = {"re.p12", der, len, 0};
            back = open_members(&m, 1, "exp", 0);
        }
        assert_chain_is(back, &p);
        ck_assert_int_eq(trisa_bundle_has_bundle_key(back, 0), 1);
        trisa_bundle_free(back);
        free(der);
    }
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* The real Sectigo bundle                                                             */

static bytes fixture(void)
{
    bytes r = {NULL, 0};
    const char *shared = tu_shared_dir();
    char *path;
    if (shared == NULL) {
        return r;
    }
    path = tu_path(shared, "fixtures/sectigo-bundle/certificate.zip");
    if (trisa_file_read(&r.data, &r.len, path, 1 << 20) != 0) {
        r.data = NULL;
    }
    free(path);
    return r;
}

#define FIXTURE_PASSWORD "qDhAwnfMjgDEzzUC"

START_TEST(real_sectigo_bundle_decrypts_builds_and_verifies_in_its_window)
{
    bytes z = fixture();
    trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    trisa_bundle *b = NULL;
    char *json = NULL;
    struct tm tm = {0};
    ck_assert_ptr_nonnull(z.data);
    o.password = FIXTURE_PASSWORD;
    ck_assert_msg(trisa_bundle_open_zip(&b, z.data, z.len, &o) == 0, "%s", trisa_error_last());
    ck_assert_uint_eq(trisa_bundle_cert_count(b), 3);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_uint_eq(trisa_bundle_identity_count(b), 1);
    ck_assert_str_eq(trisa_bundle_common_name(b, 0), "api.bob.vaspbot.net");
    ck_assert_int_eq(trisa_bundle_has_bundle_key(b, 0), 1);
    tm.tm_year = 121;
    tm.tm_mon = 5;
    tm.tm_mday = 1;
    vo.trust_bundle_root = 1;
    vo.at = timegm(&tm);
    vo.dns_names = (const char *const[]){"api.bob.vaspbot.net"};
    vo.dns_count = 1;
    ck_assert_msg(trisa_bundle_verify(&r, b, 0, &vo) == 0, "%s", trisa_error_last());
    trisa_bundle_report_json(&json, r);
    ck_assert_msg(strstr(json, "\"subject\":\"CN=CipherTrace Issuing CA") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"root\":{\"subject\":\"CN=CipherTrace Root CA") != NULL, "%s",
                  json);
    ck_assert_ptr_nonnull(strstr(json, "\"fromBundle\":true"));
    free(json);
    trisa_bundle_report_free(r);
    /* ... and now it is expired, with its dates. */
    vo.at = 0;
    ck_assert_int_eq(trisa_bundle_verify(&r, b, 0, &vo), TRISA_EVERIFY);
    ck_assert_msg(strstr(trisa_error_last(), "expired: valid from 2020-12-22T02:57:58Z to "
                                             "2022-01-22T02:57:57Z") != NULL,
                  "%s", trisa_error_last());
    trisa_bundle_report_free(r);
    trisa_bundle_free(b);
    free(z.data);
}
END_TEST

START_TEST(real_sectigo_bundle_wrong_password)
{
    char *path = tu_path(tu_shared_dir(), "fixtures/sectigo-bundle/certificate.zip");
    trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle *b = NULL;
    o.password = "not-the-password";
    ck_assert_int_eq(trisa_bundle_open_file(&b, path, &o), TRISA_EPASSWORD);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(trisa_error_last(), "api.bob.vaspbot.net.p12") != NULL, "%s",
                  trisa_error_last());
    o.password = FIXTURE_PASSWORD;
    ck_assert_int_eq(trisa_bundle_open_file(&b, path, &o), 0);
    ck_assert_uint_eq(trisa_bundle_cert_count(b), 3);
    trisa_bundle_free(b);
    ck_assert_int_eq(trisa_bundle_open_file(&b, "/nonexistent/x.zip", &o), TRISA_ENOTFOUND);
    free(path);
}
END_TEST

START_TEST(real_sectigo_bundle_without_legacy_provider_says_so)
{
    bytes z = fixture();
    trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle *b = NULL;
    ck_assert_ptr_nonnull(z.data);
    setenv("OPENSSL_MODULES", "/nonexistent", 1);
    o.password = FIXTURE_PASSWORD;
    ck_assert_int_eq(trisa_bundle_open_zip(&b, z.data, z.len, &o), TRISA_ELEGACY);
    ck_assert_msg(strstr(trisa_error_last(), "legacy provider") != NULL, "%s", trisa_error_last());
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "pbeWithSHA1And40BitRC2-CBC"));
    free(z.data);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Hostile PKCS#12: iteration counts read before anything is derived, bags bounded      */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* DER: the content length of the TLV at p and the size of its header. */
static size_t der_len(const unsigned char *p, size_t *hl)
{
    size_t n = p[1];
    if (n < 0x80) {
        *hl = 2;
        return n;
    }
    *hl = 2 + (n & 0x7f);
    n = 0;
    for (size_t i = 0; i < (size_t)(p[1] & 0x7f); i++) {
        n = n << 8 | p[2 + i];
    }
    return n;
}

static void put_tlv(unsigned char **o, unsigned char tag, const unsigned char *c, size_t n)
{
    *(*o)++ = tag;
    if (n < 0x80) {
        *(*o)++ = (unsigned char)n;
    } else if (n < 0x100) {
        *(*o)++ = 0x81;
        *(*o)++ = (unsigned char)n;
    } else {
        *(*o)++ = 0x82;
        *(*o)++ = (unsigned char)(n >> 8);
        *(*o)++ = (unsigned char)n;
    }
    memcpy(*o, c, n);
    *o += n;
}

/* The same PFX with its MacData's iteration count set to iter (added when absent, as in
 * Sectigo's bundles, where it is the DEFAULT 1): the MAC itself is not recomputed. */
static bytes with_mac_iterations(bytes pfx, uint32_t iter)
{
    size_t hl, n = der_len(pfx.data, &hl), h2, hm, mn;
    const unsigned char *c = pfx.data + hl, *mac, *q;
    unsigned char *inner = malloc(pfx.len + 16), *macc = malloc(pfx.len + 16), *o, *m;
    unsigned char it[6];
    size_t itn = 0;
    bytes r;
    /* The count as a minimal DER INTEGER (iter < 2^31). */
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned char byte = (unsigned char)(iter >> shift);
        if (itn == 0 && shift > 0 && byte == 0 && !((iter >> (shift - 8)) & 0x80)) {
            continue;
        }
        it[2 + itn++] = byte;
    }
    it[0] = 0x02;
    it[1] = (unsigned char)itn;
    /* PFX ::= SEQUENCE { version, authSafe, macData } */
    mac = c + der_len(c, &h2) + h2;
    mac += der_len(mac, &h2) + h2;
    ck_assert_int_eq(mac[0], 0x30);
    mn = der_len(mac, &hm);
    ck_assert_ptr_eq(mac + hm + mn, c + n);
    /* MacData ::= SEQUENCE { mac DigestInfo, macSalt, iterations DEFAULT 1 } */
    q = mac + hm;
    q += der_len(q, &h2) + h2;
    q += der_len(q, &h2) + h2;
    m = macc;
    memcpy(m, mac + hm, (size_t)(q - (mac + hm)));
    m += q - (mac + hm);
    memcpy(m, it, 2 + itn);
    m += 2 + itn;
    o = inner;
    memcpy(o, c, (size_t)(mac - c));
    o += mac - c;
    put_tlv(&o, 0x30, macc, (size_t)(m - macc));
    r.data = malloc(pfx.len + 32);
    m = r.data;
    put_tlv(&m, 0x30, inner, (size_t)(o - inner));
    r.len = (size_t)(m - r.data);
    free(inner);
    free(macc);
    return r;
}

/* A PKCS#12 of the pki made with `iter` iterations everywhere (3-byte counts). */
static bytes p12_iter(pki *p, const char *pass, int iter)
{
    STACK_OF(X509) *ca = sk_X509_new_null();
    PKCS12 *p12;
    BIO *bio = BIO_new(BIO_s_mem());
    sk_X509_push(ca, p->inter);
    p12 = PKCS12_create(pass, "test", p->leaf_key, p->leaf, ca, NID_aes_256_cbc, NID_aes_256_cbc,
                        iter, iter, 0);
    ck_assert_ptr_nonnull(p12);
    i2d_PKCS12_bio(bio, p12);
    PKCS12_free(p12);
    sk_X509_free(ca);
    return bio_bytes(bio);
}

/* Patch the k-th PBKDF2 count (k = 0: the certificates' part, 1: the shrouded key) from
 * 65536 to 8388607 and compute a valid MAC again (1 iteration, cheap). */
static bytes patch_kdf_count(bytes a, int k, const char *pass)
{
    static const unsigned char from[5] = {0x02, 0x03, 0x01, 0x00, 0x00};
    static const unsigned char to[5] = {0x02, 0x03, 0x7f, 0xff, 0xff};
    const unsigned char *p;
    PKCS12 *p12;
    BIO *bio = BIO_new(BIO_s_mem());
    int seen = 0;
    for (size_t i = 0; i + 5 <= a.len; i++) {
        if (memcmp(a.data + i, from, 5) == 0 && seen++ == k) {
            memcpy(a.data + i, to, 5);
        }
    }
    /* Two PBKDF2 counts and the MAC's: anything else means this test lost its way. */
    ck_assert_int_eq(seen, 3);
    p = a.data;
    p12 = d2i_PKCS12(NULL, &p, (long)a.len);
    ck_assert_ptr_nonnull(p12);
    ck_assert_int_eq(PKCS12_set_mac(p12, pass, -1, NULL, 0, 1, EVP_sha256()), 1);
    i2d_PKCS12_bio(bio, p12);
    PKCS12_free(p12);
    free(a.data);
    return bio_bytes(bio);
}

static void assert_refused_fast(const zmember *m, size_t n, const char *pass, const char *want)
{
    double t0 = now_s(), took;
    ck_assert_ptr_null(open_members(m, n, pass, TRISA_EBUNDLE));
    took = now_s() - t0;
    ck_assert_msg(strstr(trisa_error_last(), want) != NULL, "[%s] lacks [%s]", trisa_error_last(),
                  want);
    ck_assert_msg(took < 1.0, "took %.3f s", took);
}

START_TEST(p12_with_a_huge_mac_count_is_refused_before_deriving)
{
    pki p;
    bytes a, h;
    trisa_bundle *b = NULL;
    double t0, took;
    make_pki(&p, NULL, NULL, NULL);
    a = p12_of(&p, "pw", 0);
    h = with_mac_iterations(a, 0x7fffffff);
    {
        /* In a ZIP, with no password at all: the MAC key would be derived first. */
        zmember m = {"hostile.p12", h.data, h.len, 0};
        assert_refused_fast(&m, 1, NULL,
                            "member 'hostile.p12': the MAC asks for 2147483647 iterations; at "
                            "most 1000000 are accepted");
    }
    /* A bare .p12. */
    ck_assert_int_eq(trisa_bundle_new(&b, NULL), 0);
    t0 = now_s();
    ck_assert_int_eq(trisa_bundle_add_member(b, "x.p12", h.data, h.len), TRISA_EBUNDLE);
    took = now_s() - t0;
    ck_assert_msg(took < 1.0, "took %.3f s", took);
    trisa_bundle_free(b);
    free(h.data);
    /* The patch itself keeps the rest intact: with 2048 iterations it opens again. */
    h = with_mac_iterations(a, 2048);
    {
        zmember m = {"ok.p12", h.data, h.len, 0};
        b = open_members(&m, 1, "pw", 0);
        trisa_bundle_free(b);
    }
    free(h.data);
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(p12_with_a_huge_part_or_key_count_is_refused_even_with_a_good_mac)
{
    pki p;
    bytes a;
    make_pki(&p, NULL, NULL, NULL);
    a = patch_kdf_count(p12_iter(&p, "pw", 65536), _i, "pw");
    {
        zmember m = {"x.p12", a.data, a.len, 0};
        assert_refused_fast(&m, 1, "pw",
                            _i == 0 ? "member 'x.p12': decrypting the certificates would take "
                                      "8388607 iterations of PBKDF2; at most 1000000 are accepted"
                                    : "member 'x.p12': decrypting the private key would take "
                                      "8388607 iterations of PBKDF2; at most 1000000 are "
                                      "accepted");
    }
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(p12_key_derivations_of_a_bundle_have_a_budget)
{
    pki p;
    bytes a;
    trisa_bundle *b = NULL;
    int i, rc = 0;
    make_pki(&p, NULL, NULL, NULL);
    /* 250000 iterations each for the MAC (counted twice), the part and the key: four
     * such members fill the budget of 4000000; the fifth is refused. */
    a = p12_iter(&p, "pw", 250000);
    {
        trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
        o.password = "pw";
        ck_assert_int_eq(trisa_bundle_new(&b, &o), 0);
    }
    for (i = 0; i < 6 && rc == 0; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d.p12", i);
        rc = trisa_bundle_add_member(b, name, a.data, a.len);
    }
    ck_assert_int_eq(rc, TRISA_EBUNDLE);
    ck_assert_int_eq(i, 5);
    ck_assert_str_eq(trisa_error_last(),
                     "member 'm4.p12': checking the MAC would take the bundle's key derivations "
                     "over 4000000 iterations in all");
    trisa_bundle_free(b);
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(p12_with_too_many_bags_is_refused)
{
    pki p;
    STACK_OF(X509) *ca = sk_X509_new_null();
    PKCS12 *p12;
    BIO *bio = BIO_new(BIO_s_mem());
    bytes a;
    make_pki(&p, NULL, NULL, NULL);
    for (int i = 0; i < 300; i++) {
        sk_X509_push(ca, p.inter);
    }
    /* Plain (unencrypted) bags, no MAC: nothing to derive, only to count. */
    p12 = PKCS12_create(NULL, NULL, NULL, p.leaf, ca, -1, -1, 0, -1, 0);
    ck_assert_ptr_nonnull(p12);
    i2d_PKCS12_bio(bio, p12);
    PKCS12_free(p12);
    sk_X509_free(ca);
    a = bio_bytes(bio);
    {
        zmember m = {"many.p12", a.data, a.len, 0};
        assert_refused_fast(&m, 1, NULL, "member 'many.p12': more than 256 PKCS#12 bags");
    }
    free(a.data);
    free_pki(&p);
}
END_TEST

START_TEST(real_sectigo_bundle_patched_to_a_huge_mac_count_is_refused)
{
    bytes z = fixture(), p12 = {NULL, 0}, h;
    trisa_bundle_zip *zip = NULL;
    const char *name;
    const unsigned char *data;
    size_t len;
    ck_assert_ptr_nonnull(z.data);
    ck_assert_int_eq(trisa_bundle_zip_read(&zip, z.data, z.len, NULL), 0);
    ck_assert_int_eq(trisa_bundle_zip_entry(zip, 0, &name, &data, &len), 0);
    p12.data = malloc(len);
    memcpy(p12.data, data, len);
    p12.len = len;
    /* Its MacData has no count (the DEFAULT 1): one is added. */
    h = with_mac_iterations(p12, 0x7fffffff);
    {
        zmember m = {"api.bob.vaspbot.net.p12", h.data, h.len, 0};
        assert_refused_fast(&m, 1, FIXTURE_PASSWORD,
                            "member 'api.bob.vaspbot.net.p12': the MAC asks for 2147483647 "
                            "iterations");
    }
    free(h.data);
    /* With a count of 1 written out, it is the same bundle and opens. */
    h = with_mac_iterations(p12, 1);
    {
        zmember m = {"api.bob.vaspbot.net.p12", h.data, h.len, 0};
        trisa_bundle_free(open_members(&m, 1, FIXTURE_PASSWORD, 0));
    }
    free(h.data);
    free(p12.data);
    trisa_bundle_zip_free(zip);
    free(z.data);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Names from a hostile ZIP, inconsistent archives, CA:FALSE issuers                    */

START_TEST(zip_entry_and_member_names_are_escaped_in_messages)
{
    zmember m = {"X[2Jevil.pem", pem_text, sizeof(pem_text) - 1, 0};
    bytes z = make_zip(&m, 1);
    /* libzip will not store an ESC in a name; a hostile archive has one anyway. */
    ck_assert_int_eq(patch(&z, "X[2Jevil", "\x1b[2Jevil"), 2);
    ck_assert_int_eq(zip_fails_with(z, NULL, "control character"), TRISA_EZIP);
    ck_assert_str_eq(trisa_error_last(), "ZIP entry '\\x1b[2Jevil.pem': control character in name");
    {
        zmember g = {"cert\xe2\x80\xae"
                     "21p.pem",
                     "garbage!", 8, 0};
        ck_assert_ptr_null(open_members(&g, 1, NULL, TRISA_EBUNDLE));
        ck_assert_msg(strstr(trisa_error_last(), "member 'cert\\u202E21p.pem'") != NULL, "%s",
                      trisa_error_last());
        ck_assert_ptr_null(strstr(trisa_error_last(), "\xe2\x80\xae"));
    }
}
END_TEST

START_TEST(zip_whose_headers_disagree_names_the_entry)
{
    static const char body[] = "-----BEGIN CERTIFICATE-----\nabc\n";
    zmember m[2] = {{"a.pem", body, sizeof(body) - 1, 4}, {"b.pem", body, sizeof(body) - 1, 4}};
    bytes z = make_zip(m, 2);
    /* The local header of b.pem says c.pem; the central directory still b.pem. */
    unsigned char *local = NULL;
    for (size_t i = 0; i + 5 <= z.len && local == NULL; i++) {
        if (memcmp(z.data + i, "b.pem", 5) == 0) {
            local = z.data + i;
        }
    }
    ck_assert_ptr_nonnull(local);
    local[0] = 'c';
    ck_assert_int_eq(
        zip_fails_with(z, NULL,
                       "ZIP entry 'b.pem': its local header and the central directory disagree"),
        TRISA_EZIP);
}
END_TEST

/* Found by fuzz_zip: the message quoted the empty name through a buffer never allocated
 * (a crash outside the sanitizers). */
START_TEST(zip_whose_central_directory_names_an_entry_empty_is_refused)
{
    static const char body[] = "-----BEGIN CERTIFICATE-----\nabc\n";
    zmember m = {"a.pem", body, sizeof(body) - 1, 4};
    bytes z = make_zip(&m, 1);
    unsigned char *cd = NULL;
    for (size_t i = 0; i + 46 <= z.len && cd == NULL; i++) {
        if (memcmp(z.data + i, "PK\001\002", 4) == 0) {
            cd = z.data + i;
        }
    }
    ck_assert_ptr_nonnull(cd);
    cd[28] = cd[29] = 0; /* name length 0 */
    ck_assert_int_eq(
        zip_fails_with(z, NULL,
                       "ZIP entry '': its local header and the central directory disagree"),
        TRISA_EZIP);
}
END_TEST

START_TEST(an_intermediate_that_is_no_ca_is_reported_as_such)
{
    pki p;
    trisa_bundle *b;
    cert_spec inter = {"Not A CA",
                       0,
                       -1000 * DAY,
                       1825 * DAY,
                       NULL,
                       NULL,
                       "critical,digitalSignature,keyCertSign"};
    cert_spec leaf = {"vasp.example", 0, -DAY, 365 * DAY, NULL, NULL, NULL};
    make_pki(&p, NULL, NULL, NULL);
    X509_free(p.inter);
    X509_free(p.leaf);
    p.inter = make_cert(&inter, p.int_key, p.root, p.root_key);
    p.leaf = make_cert(&leaf, p.leaf_key, p.inter, p.int_key);
    b = pem_bundle(p.leaf, p.inter, p.root);
    ck_assert_int_eq(trisa_bundle_add_key(b, p.leaf_key), 0);
    ck_assert_int_eq(trisa_bundle_resolve(b), TRISA_EVERIFY);
    ck_assert_msg(strstr(trisa_error_last(), "certificate 'CN=Not A CA,O=Test VASP' (SHA-256 ") ==
                      trisa_error_last(),
                  "%s", trisa_error_last());
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), ") issued 'CN=vasp.example,O=Test VASP' but "
                                                     "is not a CA (basicConstraints CA:FALSE or "
                                                     "absent)"));
    ck_assert_ptr_null(strstr(trisa_error_last(), "matches none of the keys"));
    trisa_bundle_free(b);
    free_pki(&p);
}
END_TEST

START_TEST(trust_file_that_is_a_fifo_is_refused_at_once)
{
    pki p;
    trisa_bundle *b;
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_report *r = NULL;
    char *dir = tu_tmpdir(), *fifo = tu_path(dir, "trust.pem"), want[4200];
    make_pki(&p, NULL, NULL, NULL);
    b = pem_bundle(p.leaf, p.inter, p.root);
    ck_assert_int_eq(trisa_bundle_resolve(b), 0);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    vo.trust_file = fifo;
    alarm(10);
    ck_assert_int_eq(trisa_bundle_verify(&r, b, 0, &vo), TRISA_EINVAL);
    alarm(0);
    snprintf(want, sizeof(want), "trust file: %s: not a regular file (a FIFO)", fifo);
    ck_assert_str_eq(trisa_error_last(), want);
    ck_assert_ptr_null(r);
    trisa_bundle_free(b);
    tu_rmtree(dir);
    free(fifo);
    free(dir);
    free_pki(&p);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* The one PKCS#12 builder, member types, times                                         */

START_TEST(p12_build_makes_sectigo_and_modern_bundles_that_read_back)
{
    pki p;
    X509 *chain[2];
    unsigned char *der = NULL;
    size_t len = 0;
    const unsigned char *q;
    PKCS12 *p12;
    const ASN1_INTEGER *iter = NULL;
    const X509_ALGOR *macalg = NULL;
    STACK_OF(PKCS7) * safes;
    trisa_bundle_p12_options o = TRISA_BUNDLE_P12_OPTIONS_INIT;
    make_pki(&p, NULL, NULL, NULL);
    chain[0] = p.inter;
    chain[1] = p.root;
    o.format = TRISA_P12_SECTIGO;
    o.friendly_name = "vasp";
    ck_assert_msg(trisa_bundle_p12_build(&der, &len, p.leaf_key, p.leaf, chain, 2, "pw", &o) == 0,
                  "%s", trisa_error_last());
    /* As Sectigo makes them: SHA-1 MAC of 1 iteration, certificates under 40-bit RC2. */
    q = der;
    p12 = d2i_PKCS12(NULL, &q, (long)len);
    ck_assert_ptr_nonnull(p12);
    PKCS12_get0_mac(NULL, &macalg, NULL, &iter, p12);
    ck_assert(iter == NULL || ASN1_INTEGER_get(iter) == 1);
    safes = PKCS12_unpack_authsafes(p12);
    ck_assert_int_eq(OBJ_obj2nid(sk_PKCS7_value(safes, 0)->type), NID_pkcs7_encrypted);
    ck_assert_int_eq(
        OBJ_obj2nid(sk_PKCS7_value(safes, 0)->d.encrypted->enc_data->algorithm->algorithm),
        NID_pbe_WithSHA1And40BitRC2_CBC);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    PKCS12_free(p12);
    {
        zmember m = {"s.p12", der, len, 0};
        trisa_bundle *b = open_members(&m, 1, "pw", 0);
        ck_assert_uint_eq(trisa_bundle_cert_count(b), 3);
        ck_assert_int_eq(trisa_bundle_resolve(b), 0);
        ck_assert_int_eq(trisa_bundle_has_bundle_key(b, 0), 1);
        trisa_bundle_free(b);
    }
    free(der);
    /* Modern by default, the leaf's CN as friendly name. */
    ck_assert_int_eq(trisa_bundle_p12_build(&der, &len, p.leaf_key, p.leaf, NULL, 0, NULL, NULL),
                     0);
    {
        zmember m = {"m.p12", der, len, 0};
        trisa_bundle_free(open_members(&m, 1, NULL, 0));
    }
    free(der);
    /* A key that is not the certificate's. */
    ck_assert_int_eq(trisa_bundle_p12_build(&der, &len, p.int_key, p.leaf, NULL, 0, "pw", NULL),
                     TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "the key does not match the certificate");
    ck_assert_ptr_null(der);
    free_pki(&p);
}
END_TEST

START_TEST(member_type_is_the_one_list_of_member_extensions)
{
    ck_assert_int_eq(trisa_bundle_member_type("a.p12"), TRISA_MEMBER_PKCS12);
    ck_assert_int_eq(trisa_bundle_member_type("dir/A.PFX"), TRISA_MEMBER_PKCS12);
    ck_assert_int_eq(trisa_bundle_member_type("c.pem"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("c.crt"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("c.cer"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("c.der"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("c.P7B"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("c.p7c"), TRISA_MEMBER_CERTS);
    ck_assert_int_eq(trisa_bundle_member_type("batch.zip"), TRISA_MEMBER_NONE);
    ck_assert_int_eq(trisa_bundle_member_type("p12"), TRISA_MEMBER_NONE);
    ck_assert_int_eq(trisa_bundle_member_type("a.p12/readme"), TRISA_MEMBER_NONE);
    ck_assert_int_eq(trisa_bundle_member_type(NULL), TRISA_MEMBER_NONE);
}
END_TEST

static const struct {
    const char *text;
    long long t; /* -1: refused */
} times[] = {
    {"2021-06-01", 1622505600},
    {"2024-02-29", 1709164800},
    {"2021-06-01T12:30:05Z", 1622550605},
    {"@1622505600", 1622505600},
    {"1970-01-02", 86400},
    {"2021-02-30", -1},
    {"2024-02-31", -1},
    {"2023-02-29", -1},
    {"2100-02-29", -1},
    {"2021-04-31", -1},
    {"2021-13-01", -1},
    {"2021-00-10", -1},
    {"1970-01-01", -1},
    {"1970-01-01T00:00:00Z", -1},
    {"@0", -1},
    {"1969-12-31", -1},
    {"2021-06-01T24:00:00Z", -1},
    {"2021-06-01T12:60:00Z", -1},
    {"2021-06-01T12:00:60Z", -1},
    {"2021-6-1", -1},
    {" 2021-06-01", -1},
    {"2021-06-01T12:30:05", -1},
    {"2021-06-01T12:30:05+01", -1},
    {"yesterday", -1},
    {"", -1}, /* fuzz_bundle_time: its message quoted "" through a NULL buffer */
    /* fuzz_bundle_time's round trip: sscanf's %2d took a sign, timegm() the rest */
    {"2021-06-01T-1:00:00Z", -1},
    {"2021-06-01T12:-1:00Z", -1},
    {"2021-06-01T12:00:-0Z", -1},
    {"2021-06-01T+1:00:00Z", -1},
    {"@\n1622505600", -1}, /* strtol() skipped the white space */
    {"@\v1622505600", -1},
};

START_TEST(parse_time_refuses_dates_that_do_not_exist_and_the_epoch)
{
    time_t t = 0;
    int rc = trisa_bundle_parse_time(&t, times[_i].text);
    if (times[_i].t < 0) {
        ck_assert_msg(rc == TRISA_EINVAL, "'%s' taken as %lld", times[_i].text, (long long)t);
    } else {
        ck_assert_msg(rc == 0, "'%s': %s", times[_i].text, trisa_error_last());
        ck_assert_int_eq((long long)t, times[_i].t);
    }
}
END_TEST

static Suite *suite(int with_fixture)
{
    Suite *s = suite_create("pkcs12");
    TCase *z = tcase_create("zip");
    TCase *m = tcase_create("members");
    TCase *v = tcase_create("verify");
    TCase *w = tcase_create("write");
    TCase *h = tcase_create("hostile");
    tcase_add_loop_test(z, zip_refuses_each_hostile_entry_naming_it, 0,
                        (int)(sizeof(hostile_names) / sizeof(hostile_names[0])));
    tcase_add_test(z, zip_refuses_duplicate_names);
    tcase_add_test(z, zip_refuses_more_than_1000_entries);
    tcase_add_test(z, zip_refuses_an_entry_over_the_size_limit);
    tcase_add_test(z, zip_refuses_a_total_over_the_size_limit);
    tcase_add_test(z, zip_refuses_the_default_16_mib_entry_limit_and_bombs);
    tcase_add_test(z, zip_refuses_a_compression_ratio_over_100);
    tcase_add_test(z, zip_refuses_a_bad_crc);
    tcase_add_test(z, zip_refuses_a_header_that_understates_the_size);
    tcase_add_test(z, zip_refuses_a_truncated_archive);
    tcase_add_test(z, zip_reads_good_entries_into_memory);
    tcase_set_timeout(z, 60);
    tcase_add_test(m, members_in_every_format_give_the_same_chain);
    tcase_add_test(m, legacy_3des_pkcs12_decrypts);
    tcase_add_test(m, wrong_pkcs12_password_is_its_own_error);
    tcase_add_test(m, zip_without_certificates_is_refused);
    tcase_add_test(m, garbage_member_is_refused_by_name);
    tcase_set_timeout(m, 60);
    tcase_add_test(v, missing_intermediate_fails_verification);
    tcase_add_test(v, mismatched_key_names_both_fingerprints);
    tcase_add_test(v, key_picks_its_leaf_among_several);
    tcase_add_test(v, expired_leaf_fails_now_and_verifies_at_a_time_inside);
    tcase_add_test(v, sha1_signed_intermediate_fails);
    tcase_add_test(v, rsa_1024_leaf_fails_key_strength);
    tcase_add_test(v, rsa_2048_leaf_passes);
    tcase_add_test(v, dns_names_and_key_usage_are_checked);
    tcase_add_test(v, revoked_leaf_fails_with_a_crl);
    tcase_add_test(v, verify_needs_a_trust_anchor);
    tcase_add_test(v, encrypted_key_file_needs_its_password);
    tcase_set_timeout(v, 60);
    tcase_add_test(w, write_makes_the_files_and_refuses_to_replace_any);
    tcase_add_test(w, our_key_is_never_written);
    tcase_add_test(w, export_p12_modern_and_legacy_read_back);
    tcase_add_test(h, p12_with_a_huge_mac_count_is_refused_before_deriving);
    tcase_add_loop_test(h, p12_with_a_huge_part_or_key_count_is_refused_even_with_a_good_mac, 0, 2);
    tcase_add_test(h, p12_key_derivations_of_a_bundle_have_a_budget);
    tcase_add_test(h, p12_with_too_many_bags_is_refused);
    tcase_add_test(h, zip_entry_and_member_names_are_escaped_in_messages);
    tcase_add_test(h, zip_whose_headers_disagree_names_the_entry);
    tcase_add_test(h, zip_whose_central_directory_names_an_entry_empty_is_refused);
    tcase_add_test(h, an_intermediate_that_is_no_ca_is_reported_as_such);
    tcase_add_test(h, trust_file_that_is_a_fifo_is_refused_at_once);
    tcase_add_test(h, p12_build_makes_sectigo_and_modern_bundles_that_read_back);
    tcase_add_test(h, member_type_is_the_one_list_of_member_extensions);
    tcase_add_loop_test(h, parse_time_refuses_dates_that_do_not_exist_and_the_epoch, 0,
                        sizeof(times) / sizeof(times[0]));
    tcase_set_timeout(h, 60);
    if (with_fixture) {
        tcase_add_test(h, real_sectigo_bundle_patched_to_a_huge_mac_count_is_refused);
        tcase_add_test(w, real_sectigo_bundle_decrypts_builds_and_verifies_in_its_window);
        tcase_add_test(w, real_sectigo_bundle_wrong_password);
        tcase_add_test(w, real_sectigo_bundle_without_legacy_provider_says_so);
    }
    tcase_set_timeout(w, 60);
    suite_add_tcase(s, z);
    suite_add_tcase(s, m);
    suite_add_tcase(s, v);
    suite_add_tcase(s, w);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    bytes z = fixture();
    int with_fixture = z.data != NULL;
    int failed;
    free(z.data);
    if (!with_fixture) {
        fprintf(stderr, "check_pkcs12: the real Sectigo bundle (shared/fixtures/sectigo-bundle/"
                        "certificate.zip) is absent: its tests are skipped\n");
    }
    failed = tu_run(suite(with_fixture));
    if (failed == 0 && !with_fixture) {
        return 77; /* everything else passed; say the fixture's tests did not run */
    }
    return failed == 0 ? 0 : 1;
}
