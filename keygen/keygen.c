/* Software keys: RSA and EC generation, PKCS#8 PEM writing, PEM/DER reading. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/internal.h"
#include "keygen/internal.h"
#include "trisa/keygen.h"

/* A fuzz build derives keys over ten times slower (AddressSanitizer's allocator under the
 * allocations OpenSSL makes in every iteration): it takes a hundredth of the counts, so
 * that an input at a limit stays well within the fuzzer's timeout. The checks are the
 * same; the seeds of fuzz/corpus/ sit on both sides of both limits. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define KDF_MAX (TRISA_KEYGEN_MAX_ITERATIONS / 100)
#else
#define KDF_MAX TRISA_KEYGEN_MAX_ITERATIONS
#endif

#define KEY_FILE_MAX (1024 * 1024)

static const struct curve {
    const char *name; /* as OpenSSL names the group */
    const char *alias[3];
    int bits;
} curves[] = {
    {"P-256", {"prime256v1", "secp256r1", "p256"}, 256},
    {"P-384", {"secp384r1", "p384", NULL}, 384},
};

static const struct curve *curve_by_bits(int bits)
{
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (curves[i].bits == bits) {
            return &curves[i];
        }
    }
    return NULL;
}

int trisa_keygen_spec_parse(trisa_keygen_spec *out, const char *text)
{
    const char *colon;
    size_t alg_len;
    trisa_keygen_spec s = TRISA_KEYGEN_SPEC_INIT;

    if (out == NULL || text == NULL) {
        return trisa_error_set(TRISA_EINVAL, "key spec: none given");
    }
    colon = strchr(text, ':');
    alg_len = colon ? (size_t)(colon - text) : strlen(text);
    if (alg_len == 3 && strncasecmp(text, "rsa", 3) == 0) {
        long bits = 4096;
        if (colon != NULL && trisa_parse_long(colon + 1, 0, INT_MAX, &bits) != 0) {
            bits = -1;
        }
        if (bits != 2048 && bits != 3072 && bits != 4096) {
            return trisa_error_set(TRISA_EINVAL,
                                   "key spec '%s': RSA size must be 2048, 3072 or 4096", text);
        }
        s.type = TRISA_KEY_RSA;
        s.bits = (int)bits;
    } else if (alg_len == 2 && strncasecmp(text, "ec", 2) == 0) {
        const char *c = colon ? colon + 1 : "P-384";
        const struct curve *found = NULL;
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]) && !found; i++) {
            if (strcasecmp(c, curves[i].name) == 0) {
                found = &curves[i];
            }
            for (size_t j = 0; j < 3 && curves[i].alias[j] != NULL && !found; j++) {
                if (strcasecmp(c, curves[i].alias[j]) == 0) {
                    found = &curves[i];
                }
            }
        }
        if (found == NULL) {
            return trisa_error_set(TRISA_EINVAL, "key spec '%s': curve must be P-256 or P-384",
                                   text);
        }
        s.type = TRISA_KEY_EC;
        s.bits = found->bits;
    } else {
        return trisa_error_set(TRISA_EINVAL,
                               "key spec '%s': expected rsa:BITS or ec:CURVE (rsa:4096, ec:P-384)",
                               text);
    }
    *out = s;
    return 0;
}

static int spec_ok(const trisa_keygen_spec *spec)
{
    if (spec->version != TRISA_KEYGEN_SPEC_VERSION) {
        return 0;
    }
    if (spec->type == TRISA_KEY_RSA) {
        return spec->bits == 2048 || spec->bits == 3072 || spec->bits == 4096;
    }
    return spec->type == TRISA_KEY_EC && curve_by_bits(spec->bits) != NULL;
}

int trisa_keygen_spec_format(char *out, size_t cap, const trisa_keygen_spec *spec)
{
    int n;
    if (out == NULL || spec == NULL || !spec_ok(spec)) {
        return trisa_error_set(TRISA_EINVAL, "key spec: unsupported");
    }
    if (spec->type == TRISA_KEY_RSA) {
        n = snprintf(out, cap, "rsa:%d", spec->bits);
    } else {
        n = snprintf(out, cap, "ec:%s", curve_by_bits(spec->bits)->name);
    }
    if (n < 0 || (size_t)n >= cap) {
        return trisa_error_set(TRISA_EINVAL, "key spec: buffer too small");
    }
    return 0;
}

int trisa_keygen_generate(EVP_PKEY **out, const trisa_keygen_spec *spec)
{
    static const trisa_keygen_spec dflt = TRISA_KEYGEN_SPEC_INIT;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    OSSL_PARAM params[3];
    int rc = TRISA_ECRYPTO;

    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_generate: no output");
    }
    *out = NULL;
    if (spec == NULL) {
        spec = &dflt;
    }
    if (!spec_ok(spec)) {
        return trisa_error_set(TRISA_EINVAL, "key spec: unsupported type %d, size %d",
                               (int)spec->type, spec->bits);
    }
    if (spec->type == TRISA_KEY_RSA) {
        size_t bits = (size_t)spec->bits;
        unsigned int e = 65537;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
        params[1] = OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &e);
        params[2] = OSSL_PARAM_construct_end();
        if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
            EVP_PKEY_CTX_set_params(ctx, params) <= 0 || EVP_PKEY_generate(ctx, &key) <= 0) {
            rc = trisa_error_set_ssl(TRISA_ECRYPTO, "RSA-%d key generation failed", spec->bits);
            goto done;
        }
    } else {
        char group[16];
        snprintf(group, sizeof(group), "%s", curve_by_bits(spec->bits)->name);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
            EVP_PKEY_CTX_set_params(ctx, params) <= 0 || EVP_PKEY_generate(ctx, &key) <= 0) {
            rc = trisa_error_set_ssl(TRISA_ECRYPTO, "EC %s key generation failed", group);
            goto done;
        }
    }
    *out = key;
    key = NULL;
    rc = 0;
done:
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int trisa_keygen_to_pem(char **out, size_t *out_len, const EVP_PKEY *key, const char *passphrase)
{
    BIO *bio = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    X509_SIG *enc = NULL;
    char *text = NULL;
    int rc = TRISA_ECRYPTO;

    if (out == NULL || key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_to_pem: no key or output");
    }
    *out = NULL;
    bio = BIO_new(BIO_s_secmem());
    p8 = EVP_PKEY2PKCS8(key);
    if (bio == NULL || p8 == NULL) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the private key");
        goto done;
    }
    if (passphrase != NULL && passphrase[0] != '\0') {
        size_t plen = strlen(passphrase);
        if (plen > INT_MAX) {
            rc = trisa_error_set(TRISA_EINVAL, "passphrase too long");
            goto done;
        }
        /* pbe_nid -1 selects PBES2; OpenSSL 3 uses PBKDF2 with HMAC-SHA256 for it. A
         * 16-byte salt rather than OpenSSL's default 8. */
        unsigned char salt[16];
        if (RAND_bytes(salt, sizeof(salt)) != 1) {
            rc = trisa_error_set_ssl(TRISA_ECRYPTO, "no random salt");
            goto done;
        }
        enc = PKCS8_encrypt(-1, EVP_aes_256_cbc(), passphrase, (int)plen, salt, sizeof(salt),
                            TRISA_KEYGEN_PBKDF2_ITER, p8);
        if (enc == NULL || !PEM_write_bio_PKCS8(bio, enc)) {
            rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encrypt the private key");
            goto done;
        }
    } else if (!PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio, p8)) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the private key");
        goto done;
    }
    if ((text = trisa_bio_text(bio, out_len)) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    *out = text;
    rc = 0;
done:
    X509_SIG_free(enc);
    PKCS8_PRIV_KEY_INFO_free(p8);
    BIO_free(bio);
    return rc;
}

int trisa_keygen_save(const char *path, const EVP_PKEY *key, const char *passphrase, unsigned flags)
{
    char *pem = NULL;
    size_t len = 0;
    int rc;

    if (path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_save: no path");
    }
    rc = trisa_keygen_to_pem(&pem, &len, key, passphrase);
    if (rc == 0) {
        rc = trisa_file_write_atomic(path, pem, len, 0600, flags);
    }
    trisa_secret_free(pem);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* The cost of an encrypted key, read before anything is derived                      */

/* An ASN.1 INTEGER as a count; anything negative or beyond 64 bits counts as too many. */
static uint64_t count_of(const ASN1_INTEGER *i, int dflt)
{
    uint64_t v = 0;
    if (i == NULL) {
        return (uint64_t)dflt;
    }
    if (ASN1_INTEGER_get_uint64(&v, i) != 1) {
        ERR_clear_error();
        return UINT64_MAX;
    }
    return v;
}

int keygen_kdf_cost(const X509_ALGOR *alg, uint64_t *cost, const char **kdf)
{
    const ASN1_OBJECT *oid = NULL;
    const void *pval = NULL;
    int ptype = 0, nid, rc = TRISA_EINVAL;
    PBEPARAM *pbe = NULL;
    PBE2PARAM *pbe2 = NULL;
    PBKDF2PARAM *kdf2 = NULL;
    SCRYPT_PARAMS *sp = NULL;

    *cost = 0;
    *kdf = "unknown";
    if (alg == NULL) {
        return TRISA_EINVAL;
    }
    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    nid = OBJ_obj2nid(oid);
    if (nid == NID_pbes2) {
        if (ptype != V_ASN1_SEQUENCE ||
            (pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter)) == NULL ||
            pbe2->keyfunc == NULL) {
            goto done;
        }
        X509_ALGOR_get0(&oid, &ptype, &pval, pbe2->keyfunc);
        nid = OBJ_obj2nid(oid);
        if (nid == NID_id_pbkdf2) {
            *kdf = "PBKDF2";
            if (ptype != V_ASN1_SEQUENCE ||
                (kdf2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
                                                  pbe2->keyfunc->parameter)) == NULL) {
                goto done;
            }
            *cost = count_of(kdf2->iter, 1);
        } else if (nid == NID_id_scrypt) {
            uint64_t n, r, p;
            *kdf = "scrypt";
            if (ptype != V_ASN1_SEQUENCE ||
                (sp = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS),
                                                pbe2->keyfunc->parameter)) == NULL) {
                goto done;
            }
            /* Work grows with N * r * p; count it as that many iterations. */
            n = count_of(sp->costParameter, 0);
            r = count_of(sp->blockSize, 0);
            p = count_of(sp->parallelizationParameter, 0);
            *cost = n > 0 && r > 0 && p > 0 && n <= UINT32_MAX && r <= UINT32_MAX &&
                            p <= UINT32_MAX && n * r <= UINT64_MAX / p
                        ? n * r * p
                        : UINT64_MAX;
        } else {
            goto done;
        }
    } else if (EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, NULL, NULL, NULL)) {
        /* PKCS#5 v1 and PKCS#12 PBE: a PBEParameter with its count. */
        *kdf = "PBE";
        if (ptype != V_ASN1_SEQUENCE ||
            (pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter)) == NULL) {
            goto done;
        }
        *cost = count_of(pbe->iter, 1);
    } else {
        goto done;
    }
    rc = 0;
done:
    ERR_clear_error();
    PBEPARAM_free(pbe);
    PBE2PARAM_free(pbe2);
    PBKDF2PARAM_free(kdf2);
    SCRYPT_PARAMS_free(sp);
    return rc;
}

/* Whether needle occurs in the first len bytes of data (which need not be text). */
static int contains(const unsigned char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (data[i] == (unsigned char)needle[0] && memcmp(data + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The EncryptedPrivateKeyInfo of an encrypted PKCS#8 key (PEM block or whole DER input),
 * without decrypting it; NULL when the input is not one. */
static X509_SIG *encrypted_p8(const unsigned char *data, size_t len)
{
    X509_SIG *sig = NULL;
    const unsigned char *p = data;

    if (len > INT_MAX || len > LONG_MAX) {
        return NULL;
    }
    if (contains(data, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio != NULL) {
            sig = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
        }
        BIO_free(bio);
    } else {
        sig = d2i_X509_SIG(NULL, &p, (long)len);
        if (sig != NULL && p != data + len) {
            X509_SIG_free(sig);
            sig = NULL;
        }
    }
    ERR_clear_error();
    return sig;
}

/* Is this encoded key encrypted (so that a passphrase is needed)? */
static int is_encrypted(const unsigned char *data, size_t len, int have_p8)
{
    return have_p8 || contains(data, len, "Proc-Type: 4,ENCRYPTED");
}

/* The passphrase callback data: never prompt, and note whether it was asked for. */
struct pass_cb {
    const char *pass;
    int asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    struct pass_cb *cb = u;
    size_t n;
    cb->asked = 1;
    if (cb->pass == NULL) {
        return -1;
    }
    n = strlen(cb->pass);
    if (n > (size_t)size) {
        return -1;
    }
    memcpy(buf, cb->pass, n);
    return (int)n;
}

int keygen_decode_ex(EVP_PKEY **out, const unsigned char *data, size_t len, const char *passphrase,
                     const char *name, OSSL_LIB_CTX *libctx)
{
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *key = NULL;
    X509_SIG *p8 = NULL;
    const unsigned char *p = data;
    size_t left = len;
    int encrypted, rc = TRISA_EKEY;
    struct pass_cb cb = {passphrase, 0};

    if (name == NULL) {
        name = "key";
    }
    if (out == NULL || data == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_decode: no input or output");
    }
    *out = NULL;
    /* The cost of the key derivation is read before a passphrase is even looked at: a
     * hostile count would otherwise hold the process for minutes. */
    p8 = encrypted_p8(data, len);
    if (p8 != NULL) {
        const X509_ALGOR *alg = NULL;
        uint64_t cost = 0;
        const char *kdf = NULL;
        X509_SIG_get0(p8, &alg, NULL);
        if (keygen_kdf_cost(alg, &cost, &kdf) != 0) {
            char oid[80] = "?";
            if (alg != NULL) {
                OBJ_obj2txt(oid, sizeof(oid), alg->algorithm, 0);
            }
            rc = trisa_error_set(TRISA_EKEY,
                                 "%s: the key is encrypted with %s, which trisa does not read "
                                 "(expected PBES2 with PBKDF2 or scrypt, or a PKCS#12 PBE)",
                                 name, oid);
            goto done;
        }
        if (cost > KDF_MAX) {
            rc = trisa_error_set(TRISA_EKEY,
                                 "%s: the key's %s asks for %llu iterations; at most %d are "
                                 "accepted (trisa-csr writes 600000)",
                                 name, kdf, (unsigned long long)cost, KDF_MAX);
            goto done;
        }
    }
    encrypted = is_encrypted(data, len, p8 != NULL);
    if (encrypted && passphrase == NULL) {
        rc = trisa_error_set(TRISA_EPASSWORD,
                             "%s: the key is encrypted and no passphrase was given", name);
        goto done;
    }
    dctx = OSSL_DECODER_CTX_new_for_pkey(&key, NULL, NULL, NULL, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                         libctx, NULL);
    if (dctx == NULL) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot set up a key decoder", name);
        goto done;
    }
    /* A callback rather than a fixed passphrase: OpenSSL must never prompt. */
    if (!OSSL_DECODER_CTX_set_pem_password_cb(dctx, pass_cb, &cb)) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot set up a key decoder", name);
        goto done;
    }
    if (!OSSL_DECODER_from_data(dctx, &p, &left) || key == NULL) {
        if (encrypted) {
            rc = trisa_error_set(TRISA_EPASSWORD, "%s: wrong passphrase for the encrypted key",
                                 name);
        } else {
            rc = trisa_error_set_ssl(TRISA_EKEY, "%s: not a PEM or DER private key", name);
        }
        goto done;
    }
    *out = key;
    key = NULL;
    rc = 0;
done:
    X509_SIG_free(p8);
    EVP_PKEY_free(key);
    OSSL_DECODER_CTX_free(dctx);
    return rc;
}

int trisa_keygen_decode(EVP_PKEY **out, const unsigned char *data, size_t len,
                        const char *passphrase, const char *name)
{
    return keygen_decode_ex(out, data, len, passphrase, name, NULL);
}

int trisa_keygen_load(EVP_PKEY **out, const char *path, const char *passphrase)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_load: no path or output");
    }
    *out = NULL;
    rc = trisa_file_read(&data, &len, path, KEY_FILE_MAX);
    if (rc == 0) {
        rc = trisa_keygen_decode(out, data, len, passphrase, path);
    }
    trisa_free_secret(data, len);
    return rc;
}

int trisa_keygen_fingerprint(unsigned char out[32], const EVP_PKEY *key)
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    int n, rc = 0;

    if (out == NULL || key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_fingerprint: no key");
    }
    n = i2d_PUBKEY(key, &der);
    if (n <= 0) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the public key");
    }
    if (!EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "SHA-256 failed");
    }
    OPENSSL_free(der);
    return rc;
}

int trisa_keygen_fingerprint_hex(char out[TRISA_KEYGEN_FINGERPRINT_HEX], const EVP_PKEY *key)
{
    unsigned char md[32];
    int rc = trisa_keygen_fingerprint(md, key);
    if (rc == 0) {
        trisa_fingerprint_text(out, md);
    }
    return rc;
}

int trisa_keygen_describe(char *out, size_t cap, const EVP_PKEY *key)
{
    char group[64] = "";
    int n;

    if (out == NULL || key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_describe: no key");
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        n = snprintf(out, cap, "RSA %d", EVP_PKEY_get_bits(key));
    } else if (EVP_PKEY_is_a(key, "EC")) {
        size_t glen = 0;
        const struct curve *c = curve_by_bits(EVP_PKEY_get_bits(key));
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &glen)) {
            ERR_clear_error();
            snprintf(group, sizeof(group), "%d-bit", EVP_PKEY_get_bits(key));
        } else if (c != NULL) {
            /* OpenSSL says prime256v1 / secp384r1; people say P-256 / P-384. */
            for (size_t j = 0; j < 3 && c->alias[j] != NULL; j++) {
                if (strcasecmp(group, c->alias[j]) == 0) {
                    snprintf(group, sizeof(group), "%s", c->name);
                }
            }
        }
        n = snprintf(out, cap, "EC %s", group);
    } else {
        n = snprintf(out, cap, "%s %d", EVP_PKEY_get0_type_name(key), EVP_PKEY_get_bits(key));
    }
    if (n < 0 || (size_t)n >= cap) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_describe: buffer too small");
    }
    return 0;
}

int trisa_keygen_check(const EVP_PKEY *key, const char *name)
{
    const char *type;
    int bits;

    if (name == NULL) {
        name = "key";
    }
    if (key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_keygen_check: no key");
    }
    bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_is_a(key, "RSA")) {
        BIGNUM *e = NULL;
        int small_e = 0;
        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
            small_e = BN_cmp(e, BN_value_one()) <= 0 || BN_num_bits(e) < 17 || !BN_is_odd(e);
        }
        BN_free(e);
        ERR_clear_error();
        if (bits < 2048) {
            return trisa_error_set(TRISA_EKEY,
                                   "%s: RSA-%d is too weak: use RSA of 2048, 3072 or 4096 bits "
                                   "(or EC P-256 / P-384)",
                                   name, bits);
        }
        if (bits != 2048 && bits != 3072 && bits != 4096) {
            return trisa_error_set(TRISA_EKEY,
                                   "%s: RSA-%d is not a size trisa makes or Sectigo certifies: "
                                   "use 2048, 3072 or 4096 bits",
                                   name, bits);
        }
        if (small_e) {
            return trisa_error_set(TRISA_EKEY,
                                   "%s: the RSA key's public exponent is below 65537 (or even): "
                                   "make a new key",
                                   name);
        }
        return 0;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) != 1) {
            ERR_clear_error();
            /* A key on a token may not say its curve; its size does. */
            if (bits == 256 || bits == 384) {
                return 0;
            }
            return trisa_error_set(TRISA_EKEY, "%s: EC key of %d bits: use P-256 or P-384", name,
                                   bits);
        }
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
            if (strcasecmp(group, curves[i].name) == 0) {
                return 0;
            }
            for (size_t j = 0; j < 3 && curves[i].alias[j] != NULL; j++) {
                if (strcasecmp(group, curves[i].alias[j]) == 0) {
                    return 0;
                }
            }
        }
        return trisa_error_set(TRISA_EKEY,
                               "%s: EC curve %s is not one TLS certificates use: use P-256 or "
                               "P-384",
                               name, group);
    }
    type = EVP_PKEY_get0_type_name(key);
    return trisa_error_set(TRISA_EKEY,
                           "%s: %s keys are not supported (Sectigo certifies RSA and EC P-256 / "
                           "P-384 keys): make an RSA or EC key",
                           name, type != NULL ? type : "this kind of");
}

void trisa_keygen_free(EVP_PKEY *key)
{
    EVP_PKEY_free(key);
}
