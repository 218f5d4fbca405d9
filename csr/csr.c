/* Certificate signing requests: build and sign from a config, read, inspect, write. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "csr/internal.h"

#define CSR_FILE_MAX (1024 * 1024)

struct trisa_csr {
    X509_REQ *req;
    char *subject;
    char *cn;
    char **sans;
    size_t nsans;
    char key_desc[64];
    char fingerprint[TRISA_KEYGEN_FINGERPRINT_HEX];
    const char *sigalg;
};

static char *first_cn(const X509_NAME *name)
{
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    char *out;
    int n;

    if (i < 0) {
        return strdup("");
    }
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0) {
        ERR_clear_error();
        return strdup("");
    }
    out = malloc((size_t)n + 1);
    if (out != NULL) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    return out;
}

/* "DNS:name", "IP:1.2.3.4", "email:a@b", "URI:..." for each requested SAN. */
static int collect_sans(trisa_csr *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr->req);
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    int rc = 0, n = sk_GENERAL_NAME_num(gens);

    ERR_clear_error();
    if (n > 0) {
        csr->sans = calloc((size_t)n, sizeof(char *));
        if (csr->sans == NULL) {
            rc = TRISA_ENOMEM;
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        STACK_OF(CONF_VALUE) *vals = i2v_GENERAL_NAME(NULL, sk_GENERAL_NAME_value(gens, i), NULL);
        CONF_VALUE *v = sk_CONF_VALUE_value(vals, 0);
        trisa_buf b = TRISA_BUF_INIT;
        if (v != NULL) {
            const char *kind = v->name;
            if (strcmp(kind, "IP Address") == 0) {
                kind = "IP";
            }
            trisa_buf_printf(&b, "%s:%s", kind, v->value ? v->value : "");
        } else {
            trisa_buf_puts(&b, "othername:<unsupported>");
        }
        sk_CONF_VALUE_pop_free(vals, X509V3_conf_free);
        if ((csr->sans[csr->nsans] = trisa_buf_detach(&b, NULL)) == NULL) {
            rc = TRISA_ENOMEM;
            goto done;
        }
        csr->nsans++;
    }
done:
    ERR_clear_error();
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* Fill the inspection fields from csr->req. */
static int describe(trisa_csr *csr)
{
    EVP_PKEY *pub = X509_REQ_get0_pubkey(csr->req);
    int nid = X509_REQ_get_signature_nid(csr->req);

    if (pub == NULL) {
        return trisa_error_set_ssl(TRISA_ECSR, "the request has no usable public key");
    }
    csr->subject = trisa_name_string(X509_REQ_get_subject_name(csr->req));
    csr->cn = first_cn(X509_REQ_get_subject_name(csr->req));
    if (csr->subject == NULL || csr->cn == NULL || collect_sans(csr) != 0) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    csr->sigalg = nid != NID_undef ? OBJ_nid2ln(nid) : "unknown";
    if (trisa_keygen_describe(csr->key_desc, sizeof(csr->key_desc), pub) != 0 ||
        trisa_keygen_fingerprint_hex(csr->fingerprint, pub) != 0) {
        return trisa_error_last_code();
    }
    return 0;
}

static int add_attributes(const trisa_csr_config *c, X509_REQ *req)
{
    STACK_OF(CONF_VALUE) * sk;

    if (c->attr_section == NULL) {
        return 0;
    }
    sk = NCONF_get_section(c->conf, c->attr_section);
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (c->prompt) {
            continue; /* prompt mode asks for attributes; -batch leaves them out */
        }
        int nid = OBJ_txt2nid(v->name);
        ASN1_STRING *str =
            nid != NID_undef ? trisa_csr_encode_string(nid, v->value, c->chtype, c->mask) : NULL;
        int ok = str != NULL &&
                 X509_REQ_add1_attr_by_NID(req, nid, ASN1_STRING_type(str),
                                           ASN1_STRING_get0_data(str), ASN1_STRING_length(str));
        ASN1_STRING_free(str);
        if (!ok) {
            return trisa_error_set_ssl(TRISA_ECONFIG, "%s: [%s] %s: cannot add attribute", c->name,
                                       c->attr_section, v->name);
        }
    }
    return 0;
}

int trisa_csr_create(trisa_csr **out, const trisa_csr_config *cfg, EVP_PKEY *key,
                     const trisa_csr_options *opts)
{
    static const trisa_csr_options dflt = TRISA_CSR_OPTIONS_INIT;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    trisa_csr *csr = NULL;
    const EVP_MD *md;
    const char *digest;
    int rc;

    if (out == NULL || cfg == NULL || key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_create: no config, key or output");
    }
    *out = NULL;
    if (opts == NULL) {
        opts = &dflt;
    }
    if (opts->version != TRISA_CSR_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_options: unknown version %u",
                               opts->version);
    }
    digest = opts->digest ? opts->digest : cfg->digest;
    /* Refused here, before anything is signed: a digest that cannot sign (shake128) or
     * should not (md5, sha1), a key that is weak or of a kind Sectigo does not certify. */
    if ((rc = trisa_csr_digest_check(digest)) != 0 ||
        (rc = trisa_keygen_check(key, "the key")) != 0) {
        return rc;
    }
    md = EVP_get_digestbyname(digest);
    if (md == NULL) {
        return trisa_error_set(TRISA_EINVAL, "unknown digest '%s'", digest);
    }
    csr = calloc(1, sizeof(*csr));
    if (csr == NULL || (csr->req = X509_REQ_new()) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (!X509_REQ_set_version(csr->req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(csr->req, cfg->subject) || !X509_REQ_set_pubkey(csr->req, key)) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot set up the request", cfg->name);
        goto done;
    }
    /* Made again now that the key is known (subjectKeyIdentifier = hash needs it). */
    if ((rc = trisa_csr_config_extensions(&exts, cfg, csr->req, 0)) != 0) {
        goto done;
    }
    if (sk_X509_EXTENSION_num(exts) > 0 && !X509_REQ_add_extensions(csr->req, exts)) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot add the extensions", cfg->name);
        goto done;
    }
    if ((rc = add_attributes(cfg, csr->req)) != 0) {
        goto done;
    }
    if (X509_REQ_sign(csr->req, key, md) <= 0) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot sign the request with %s", cfg->name,
                                 digest);
        goto done;
    }
    if (X509_REQ_verify(csr->req, key) != 1) {
        rc =
            trisa_error_set_ssl(TRISA_ECRYPTO, "%s: the signed request does not verify", cfg->name);
        goto done;
    }
    if ((rc = describe(csr)) != 0) {
        goto done;
    }
    *out = csr;
    csr = NULL;
    rc = 0;
done:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    trisa_csr_free(csr);
    return rc;
}

int trisa_csr_parse(trisa_csr **out, const unsigned char *data, size_t len, const char *name)
{
    trisa_csr *csr = NULL;
    EVP_PKEY *pub;
    BIO *bio = NULL;
    int rc;

    if (name == NULL) {
        name = "CSR";
    }
    if (out == NULL || data == NULL || len > INT_MAX) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_parse: no input or output");
    }
    *out = NULL;
    csr = calloc(1, sizeof(*csr));
    bio = BIO_new_mem_buf(data, (int)len);
    if (csr == NULL || bio == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    csr->req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    if (csr->req == NULL) {
        const unsigned char *p = data;
        ERR_clear_error();
        csr->req = d2i_X509_REQ(NULL, &p, (long)len);
    }
    if (csr->req == NULL) {
        rc = trisa_error_set_ssl(TRISA_ECSR, "%s: not a PEM or DER certificate request", name);
        goto done;
    }
    pub = X509_REQ_get0_pubkey(csr->req);
    if (pub == NULL || X509_REQ_verify(csr->req, pub) != 1) {
        rc = trisa_error_set_ssl(TRISA_ECSR, "%s: the request's signature does not verify", name);
        goto done;
    }
    if ((rc = describe(csr)) != 0) {
        goto done;
    }
    *out = csr;
    csr = NULL;
    rc = 0;
done:
    BIO_free(bio);
    trisa_csr_free(csr);
    return rc;
}

int trisa_csr_load(trisa_csr **out, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_load: no path or output");
    }
    *out = NULL;
    rc = trisa_file_read(&data, &len, path, CSR_FILE_MAX);
    if (rc == 0) {
        rc = trisa_csr_parse(out, data, len, path);
    }
    free(data);
    return rc;
}

int trisa_csr_to_pem(char **out, size_t *out_len, const trisa_csr *csr)
{
    BIO *b;
    char *text = NULL;

    if (out == NULL || csr == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_to_pem: no request or output");
    }
    *out = NULL;
    b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_X509_REQ(b, csr->req)) {
        BIO_free(b);
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the request");
    }
    text = trisa_bio_text(b, out_len);
    BIO_free(b);
    if (text == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    *out = text;
    return 0;
}

int trisa_csr_save(const char *path, const trisa_csr *csr, unsigned flags)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = trisa_csr_to_pem(&pem, &len, csr);
    if (rc == 0) {
        rc = trisa_file_write_atomic(path, pem, len, 0644, flags);
    }
    free(pem);
    return rc;
}

const char *trisa_csr_subject(const trisa_csr *csr)
{
    return csr ? csr->subject : "";
}

const char *trisa_csr_common_name(const trisa_csr *csr)
{
    return csr ? csr->cn : "";
}

size_t trisa_csr_san_count(const trisa_csr *csr)
{
    return csr ? csr->nsans : 0;
}

const char *trisa_csr_san(const trisa_csr *csr, size_t i)
{
    return csr && i < csr->nsans ? csr->sans[i] : NULL;
}

const char *trisa_csr_key_description(const trisa_csr *csr)
{
    return csr ? csr->key_desc : "";
}

const char *trisa_csr_signature_algorithm(const trisa_csr *csr)
{
    return csr ? csr->sigalg : "";
}

const char *trisa_csr_key_fingerprint(const trisa_csr *csr)
{
    return csr ? csr->fingerprint : "";
}

X509_REQ *trisa_csr_get0_req(const trisa_csr *csr)
{
    return csr ? csr->req : NULL;
}

void trisa_csr_free(trisa_csr *csr)
{
    if (csr == NULL) {
        return;
    }
    X509_REQ_free(csr->req);
    for (size_t i = 0; i < csr->nsans; i++) {
        free(csr->sans[i]);
    }
    free(csr->sans);
    free(csr->subject);
    free(csr->cn);
    free(csr);
}
