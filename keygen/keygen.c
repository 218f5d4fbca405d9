/* Software keys: RSA and EC generation, PKCS#8 PEM writing, PEM/DER reading. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/internal.h"
#include "trisa/keygen.h"

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
    BUF_MEM *mem = NULL;
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
    BIO_get_mem_ptr(bio, &mem);
    text = malloc(mem->length + 1);
    if (text == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(text, mem->data, mem->length);
    text[mem->length] = '\0';
    if (out_len != NULL) {
        *out_len = mem->length;
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

/* Is this encoded key encrypted (so that a passphrase is needed)? */
static int is_encrypted(const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    X509_SIG *sig;
    char *text;
    int found;

    /* PEM: "ENCRYPTED PRIVATE KEY" (PKCS#8) or "Proc-Type: 4,ENCRYPTED" (traditional). */
    text = malloc(len + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    found = strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
            strstr(text, "Proc-Type: 4,ENCRYPTED") != NULL;
    free(text);
    if (found) {
        return 1;
    }
    /* DER: an EncryptedPrivateKeyInfo that spans the whole input. */
    if (len > LONG_MAX) {
        return 0;
    }
    sig = d2i_X509_SIG(NULL, &p, (long)len);
    found = sig != NULL && p == data + len;
    X509_SIG_free(sig);
    ERR_clear_error();
    return found;
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

int trisa_keygen_decode(EVP_PKEY **out, const unsigned char *data, size_t len,
                        const char *passphrase, const char *name)
{
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *key = NULL;
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
    encrypted = is_encrypted(data, len);
    if (encrypted && passphrase == NULL) {
        return trisa_error_set(TRISA_EPASSWORD,
                               "%s: the key is encrypted and no passphrase was given", name);
    }
    dctx = OSSL_DECODER_CTX_new_for_pkey(&key, NULL, NULL, NULL, OSSL_KEYMGMT_SELECT_KEYPAIR, NULL,
                                         NULL);
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
    EVP_PKEY_free(key);
    OSSL_DECODER_CTX_free(dctx);
    return rc;
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
        trisa_hex(out, md, sizeof(md), 0);
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

void trisa_keygen_free(EVP_PKEY *key)
{
    EVP_PKEY_free(key);
}
