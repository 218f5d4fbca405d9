/*
 * Verification of one identity and its report. OpenSSL's verifier judges the chain (for
 * both TLS purposes: TRISA uses the certificate for mTLS both ways); the other checks
 * are the ones the verifier does not make: key usage, SANs, key sizes, SHA-1.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "pkcs12/bundle_internal.h"

#define MAX_CHECKS 12
#define MAX_CHAIN  16

enum { SKIP = -1, FAIL = 0, PASS = 1 };

typedef struct check {
    const char *name;
    int result;
    char *detail;
} check;

typedef struct chain_cert {
    char *subject;
    char fp[96];
} chain_cert;

struct trisa_bundle_report {
    char *subject;
    char *issuer;
    char *serial;
    char *cn;
    char not_before[32];
    char not_after[32];
    long days_left;
    char fp[96];
    chain_cert chain[MAX_CHAIN];
    size_t nchain;
    char *root_subject;
    char root_fp[96];
    int root_from_bundle;
    check checks[MAX_CHECKS];
    size_t nchecks;
    int ok;
};

static void add_check(trisa_bundle_report *r, const char *name, int result, const char *fmt, ...)
    TRISA_PRINTF(4, 5);

static void add_check(trisa_bundle_report *r, const char *name, int result, const char *fmt, ...)
{
    trisa_buf b = TRISA_BUF_INIT;
    va_list ap;
    if (r->nchecks >= MAX_CHECKS) {
        return;
    }
    va_start(ap, fmt);
    trisa_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    r->checks[r->nchecks].name = name;
    r->checks[r->nchecks].result = result;
    r->checks[r->nchecks].detail = trisa_buf_detach(&b, NULL);
    r->nchecks++;
    if (result == FAIL) {
        r->ok = 0;
    }
}

static void fmt_time(char out[32], const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, 32, "?");
    }
}

static char *serial_hex(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
    char *s = h != NULL ? strdup(h) : NULL;
    OPENSSL_free(h);
    BN_free(bn);
    return s;
}

static int load_crl(X509_CRL **out, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;
    X509_CRL *crl = NULL;
    int rc = trisa_file_read(&data, &len, path, 64u * 1024u * 1024u);
    if (rc != 0) {
        return trisa_error_prefix("CRL"); /* the message names the file */
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL) {
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        if (crl == NULL) {
            const unsigned char *p = data;
            crl = d2i_X509_CRL(NULL, &p, (long)len);
        }
    }
    BIO_free(bio);
    free(data);
    if (crl == NULL) {
        return trisa_error_set_ssl(TRISA_EINVAL, "CRL %s: not a PEM or DER CRL", path);
    }
    ERR_clear_error();
    *out = crl;
    return 0;
}

/* One run of the verifier for a purpose; fills detail; returns 1 when the chain verifies. */
static int run_verifier(X509_STORE *store, X509 *leaf, STACK_OF(X509) * untrusted, time_t at,
                        int purpose, unsigned long flags, trisa_buf *detail,
                        STACK_OF(X509) * *chain_out, int *err_out)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        trisa_buf_puts(detail, "cannot set up the verifier");
        X509_STORE_CTX_free(ctx);
        return 0;
    }
    X509_STORE_CTX_set_purpose(ctx, purpose);
    if (at != 0) {
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
    }
    if (flags != 0) {
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), flags);
    }
    ok = X509_verify_cert(ctx) == 1;
    if (ok) {
        STACK_OF(X509) *c = X509_STORE_CTX_get0_chain(ctx);
        trisa_buf_printf(detail, "chain of %d verifies", sk_X509_num(c));
        if (chain_out != NULL && *chain_out == NULL) {
            *chain_out = X509_STORE_CTX_get1_chain(ctx);
        }
    } else {
        int err = X509_STORE_CTX_get_error(ctx);
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        char *subj = cur != NULL ? bundle_name(X509_get_subject_name(cur)) : NULL;
        trisa_buf_printf(detail, "%s at depth %d", X509_verify_cert_error_string(err),
                         X509_STORE_CTX_get_error_depth(ctx));
        if (subj != NULL) {
            trisa_buf_printf(detail, " (%s)", subj);
        }
        if (cur != NULL &&
            (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)) {
            char nb[32], na[32];
            fmt_time(nb, X509_get0_notBefore(cur));
            fmt_time(na, X509_get0_notAfter(cur));
            trisa_buf_printf(detail, ", valid %s to %s", nb, na);
        }
        if (err_out != NULL) {
            *err_out = err;
        }
        free(subj);
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static void check_dns(trisa_bundle_report *r, X509 *leaf, const trisa_bundle_verify_options *o)
{
    GENERAL_NAMES *sans;
    trisa_buf missing = TRISA_BUF_INIT;
    size_t nmissing = 0;
    if (o == NULL || o->dns_count == 0) {
        add_check(r, "dns-names", SKIP, "no DNS names configured");
        return;
    }
    sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    for (size_t i = 0; i < o->dns_count; i++) {
        int found = 0;
        for (int j = 0; sans != NULL && j < sk_GENERAL_NAME_num(sans) && !found; j++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, j);
            if (g->type == GEN_DNS) {
                const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
                int n = ASN1_STRING_length(g->d.dNSName);
                found = n >= 0 && (size_t)n == strlen(o->dns_names[i]) &&
                        strncasecmp((const char *)s, o->dns_names[i], (size_t)n) == 0;
            }
        }
        if (!found) {
            trisa_buf_printf(&missing, "%s%s", nmissing++ > 0 ? ", " : "", o->dns_names[i]);
        }
    }
    GENERAL_NAMES_free(sans);
    if (nmissing == 0) {
        trisa_buf names = TRISA_BUF_INIT;
        for (size_t i = 0; i < o->dns_count; i++) {
            trisa_buf_printf(&names, "%s%s", i > 0 ? ", " : "", o->dns_names[i]);
        }
        add_check(r, "dns-names", PASS, "in the SANs: %s", names.data != NULL ? names.data : "");
        trisa_buf_free(&names, 0);
    } else {
        add_check(r, "dns-names", FAIL, "not in the SANs: %s", missing.data);
    }
    trisa_buf_free(&missing, 0);
}

/* RSA >= min bits and no SHA-1 / MD5 signature, on the leaf and the intermediates. */
static void check_strength(trisa_bundle_report *r, X509 *leaf, STACK_OF(X509) * chain,
                           unsigned min_bits)
{
    trisa_buf weak_keys = TRISA_BUF_INIT, weak_sigs = TRISA_BUF_INIT;
    int n = sk_X509_num(chain);
    for (int i = -1; i < n; i++) {
        X509 *x = i < 0 ? leaf : sk_X509_value(chain, i);
        EVP_PKEY *pub = X509_get0_pubkey(x);
        int mdnid = NID_undef, pknid = NID_undef;
        char *subj = bundle_name(X509_get_subject_name(x));
        if (pub != NULL) {
            int bits = EVP_PKEY_get_bits(pub);
            if ((EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && bits < (int)min_bits) ||
                (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC && bits < 256)) {
                trisa_buf_printf(&weak_keys, "%s%s: %d-bit %s", weak_keys.len > 0 ? "; " : "",
                                 subj != NULL ? subj : "?", bits,
                                 EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA ? "RSA" : "EC");
            }
        }
        if (X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL) == 1 &&
            (mdnid == NID_sha1 || mdnid == NID_md5 || mdnid == NID_md4)) {
            trisa_buf_printf(&weak_sigs, "%s%s: signed with %s", weak_sigs.len > 0 ? "; " : "",
                             subj != NULL ? subj : "?", OBJ_nid2sn(mdnid));
        }
        free(subj);
    }
    ERR_clear_error();
    if (weak_keys.len == 0) {
        add_check(r, "key-strength", PASS, "RSA keys of at least %u bits", min_bits);
    } else {
        add_check(r, "key-strength", FAIL, "%s", weak_keys.data);
    }
    if (weak_sigs.len == 0) {
        add_check(r, "signature-algorithm", PASS, "no SHA-1 or MD5 signature");
    } else {
        add_check(r, "signature-algorithm", FAIL, "%s", weak_sigs.data);
    }
    trisa_buf_free(&weak_keys, 0);
    trisa_buf_free(&weak_sigs, 0);
}

/* Trust anchors from a PEM file, read as every input is (bounded, never waiting on a
 * FIFO) rather than by X509_STORE_load_file, which opens whatever it is given. */
static int load_trust(X509_STORE *store, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;
    int n = 0, rc;

    if ((rc = trisa_file_read(&data, &len, path, 16u * 1024u * 1024u)) != 0) {
        return trisa_error_prefix("trust file");
    }
    bio = BIO_new_mem_buf(data, (int)len);
    for (X509 *x; bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL;) {
        int ok = X509_STORE_add_cert(store, x);
        X509_free(x);
        if (ok != 1) {
            BIO_free(bio);
            free(data);
            return trisa_error_set_ssl(TRISA_ENOMEM, "trust file %s: cannot use a certificate",
                                       path);
        }
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    free(data);
    if (n == 0) {
        return trisa_error_set(TRISA_ENOTFOUND, "trust file %s: no PEM certificate in it", path);
    }
    return 0;
}

/* What the verifier works with: trust anchors, the CRL, the bundle's other certificates
 * as intermediates. */
typedef struct verify_ctx {
    const bundle_ident *id;
    X509_STORE *store;
    STACK_OF(X509) * untrusted;
    STACK_OF(X509) * verified; /* the chain the verifier built, when it did */
    X509_CRL *crl;
    unsigned long flags;
    time_t at;
    unsigned min_bits;
    int trusted_any;
    int root_in_trust_file; /* the bundle's root is also one of --trust's anchors */
    int vrc_err;
} verify_ctx;

/* Is x one of the certificates in the store? */
static int store_holds(X509_STORE *store, X509 *x)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; x != NULL && i < sk_X509_OBJECT_num(objs); i++) {
        X509 *c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (c != NULL && X509_cmp(c, x) == 0) {
            return 1;
        }
    }
    return 0;
}

static int setup(verify_ctx *v, const trisa_bundle *b, const trisa_bundle_verify_options *opts)
{
    int rc;
    v->store = X509_STORE_new();
    v->untrusted = sk_X509_new_null();
    if (v->store == NULL || v->untrusted == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (opts->trust_file != NULL) {
        if ((rc = load_trust(v->store, opts->trust_file)) != 0) {
            return rc;
        }
        v->trusted_any = 1;
        v->root_in_trust_file = store_holds(v->store, v->id->root);
    }
    if (opts->trust_bundle_root && v->id->root != NULL) {
        if (X509_STORE_add_cert(v->store, v->id->root) != 1) {
            return trisa_error_set_ssl(TRISA_ENOMEM, "cannot add the bundle's root");
        }
        v->trusted_any = 1;
    }
    if (opts->crl_file != NULL) {
        if ((rc = load_crl(&v->crl, opts->crl_file)) != 0) {
            return rc;
        }
        if (X509_STORE_add_crl(v->store, v->crl) != 1) {
            return trisa_error_set_ssl(TRISA_ENOMEM, "cannot add the CRL");
        }
        v->flags |= X509_V_FLAG_CRL_CHECK;
    }
    /* Every other bundle certificate may serve as an intermediate. */
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *c = sk_X509_value(b->certs, i);
        if (c != v->id->leaf && (c != v->id->root || opts->trust_bundle_root) &&
            sk_X509_push(v->untrusted, c) <= 0) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* The leaf's facts for the report: names, serial, validity, fingerprints, chain. */
static void describe_leaf(trisa_bundle_report *r, const verify_ctx *v)
{
    X509 *leaf = v->id->leaf;
    int day = 0, sec = 0;
    ASN1_TIME *now = ASN1_TIME_set(NULL, v->at);

    r->subject = bundle_name(X509_get_subject_name(leaf));
    r->issuer = bundle_name(X509_get_issuer_name(leaf));
    r->serial = serial_hex(leaf);
    r->cn = v->id->cn != NULL ? strdup(v->id->cn) : NULL;
    fmt_time(r->not_before, X509_get0_notBefore(leaf));
    fmt_time(r->not_after, X509_get0_notAfter(leaf));
    bundle_cert_fp(r->fp, leaf);
    if (now != NULL && ASN1_TIME_diff(&day, &sec, now, X509_get0_notAfter(leaf)) == 1) {
        r->days_left = day;
    }
    ASN1_TIME_free(now);
    for (int i = 0; i < sk_X509_num(v->id->chain) && r->nchain < MAX_CHAIN; i++) {
        X509 *c = sk_X509_value(v->id->chain, i);
        r->chain[r->nchain].subject = bundle_name(X509_get_subject_name(c));
        bundle_cert_fp(r->chain[r->nchain].fp, c);
        r->nchain++;
    }
}

static void check_key_and_validity(trisa_bundle_report *r, const verify_ctx *v)
{
    X509 *leaf = v->id->leaf;
    time_t at = v->at;
    int before = X509_cmp_time(X509_get0_notBefore(leaf), &at);
    int after = X509_cmp_time(X509_get0_notAfter(leaf), &at);

    if (v->id->key == NULL) {
        add_check(r, "key-match", SKIP, "no private key given");
    } else {
        char kfp[96];
        bundle_key_fp(kfp, v->id->key);
        add_check(r, "key-match", PASS, "%s key, public key SHA-256 %s",
                  v->id->bundle_key ? "the bundle's" : "our", kfp);
    }
    if (before > 0) {
        add_check(r, "validity", FAIL, "not yet valid: valid from %s to %s", r->not_before,
                  r->not_after);
    } else if (after < 0) {
        add_check(r, "validity", FAIL, "expired: valid from %s to %s", r->not_before, r->not_after);
    } else {
        add_check(r, "validity", PASS, "valid from %s to %s, %ld day(s) left", r->not_before,
                  r->not_after, r->days_left);
    }
}

/* OpenSSL's verifier, once for each TLS purpose: TRISA uses the certificate both ways. */
static void check_chains(trisa_bundle_report *r, verify_ctx *v,
                         const trisa_bundle_verify_options *opts)
{
    static const struct {
        const char *name;
        int purpose;
    } purposes[] = {{"chain-tls-server", X509_PURPOSE_SSL_SERVER},
                    {"chain-tls-client", X509_PURPOSE_SSL_CLIENT}};

    if (opts->trust_bundle_root && v->id->root == NULL) {
        add_check(r, "bundle-root", FAIL, "the bundle holds no self-signed root to trust");
    }
    for (size_t i = 0; i < 2; i++) {
        trisa_buf d = TRISA_BUF_INIT;
        int ok;
        if (!v->trusted_any) {
            add_check(r, purposes[i].name, FAIL, "no trust anchor");
            continue;
        }
        ok = run_verifier(v->store, v->id->leaf, v->untrusted, v->at, purposes[i].purpose, v->flags,
                          &d, &v->verified, &v->vrc_err);
        add_check(r, purposes[i].name, ok ? PASS : FAIL, "%s", d.data != NULL ? d.data : "");
        trisa_buf_free(&d, 0);
    }
}

static void check_key_usage(trisa_bundle_report *r, X509 *leaf)
{
    uint32_t ku = X509_get_key_usage(leaf);
    if (ku == UINT32_MAX) {
        add_check(r, "key-usage", PASS, "no keyUsage extension (any usage)");
    } else if (ku & KU_DIGITAL_SIGNATURE) {
        add_check(r, "key-usage", PASS, "digitalSignature");
    } else {
        add_check(r, "key-usage", FAIL, "keyUsage lacks digitalSignature");
    }
}

static void check_revocation(trisa_bundle_report *r, const verify_ctx *v)
{
    X509_REVOKED *rev = NULL;
    if (v->crl == NULL) {
        add_check(r, "revocation", SKIP, "no CRL given");
    } else if (X509_CRL_get0_by_cert(v->crl, &rev, v->id->leaf) == 1) {
        char when[32];
        fmt_time(when, X509_REVOKED_get0_revocationDate(rev));
        add_check(r, "revocation", FAIL, "revoked on %s", when);
    } else if (v->vrc_err == X509_V_ERR_UNABLE_TO_GET_CRL) {
        add_check(r, "revocation", FAIL, "the CRL is not from the leaf's issuer");
    } else {
        add_check(r, "revocation", PASS, "not in the CRL");
    }
}

/* The anchor the verifier reached, else the bundle's own root. */
static void describe_root(trisa_bundle_report *r, const verify_ctx *v)
{
    X509 *root = NULL;
    if (v->verified != NULL && sk_X509_num(v->verified) > 1) {
        root = sk_X509_value(v->verified, sk_X509_num(v->verified) - 1);
    } else if (v->id->root != NULL) {
        root = v->id->root;
    }
    if (root != NULL) {
        r->root_subject = bundle_name(X509_get_subject_name(root));
        bundle_cert_fp(r->root_fp, root);
        /* "From the bundle" only when the bundle is where it came from: a root that the
         * trust file holds too came from the trust file. */
        r->root_from_bundle =
            v->id->root != NULL && X509_cmp(root, v->id->root) == 0 && !v->root_in_trust_file;
    }
}

int trisa_bundle_verify(trisa_bundle_report **out, const trisa_bundle *b, size_t index,
                        const trisa_bundle_verify_options *opts)
{
    trisa_bundle_report *r = NULL;
    verify_ctx v;
    int rc = 0;

    if (out == NULL || b == NULL || index >= b->nids) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_verify: no output, bundle or identity");
    }
    *out = NULL;
    if (opts == NULL || (opts->trust_file == NULL && !opts->trust_bundle_root)) {
        return trisa_error_set(TRISA_EINVAL,
                               "no trust anchor: give a trust file, or trust the bundle's root");
    }
    memset(&v, 0, sizeof(v));
    v.id = &b->ids[index];
    v.at = opts->at != 0 ? opts->at : time(NULL);
    v.min_bits = opts->min_rsa_bits != 0 ? opts->min_rsa_bits : 2048;
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    r->ok = 1;
    /* Inputs, facts, checks, conclusion. */
    if ((rc = setup(&v, b, opts)) != 0) {
        goto done;
    }
    describe_leaf(r, &v);
    check_key_and_validity(r, &v);
    check_chains(r, &v, opts);
    check_key_usage(r, v.id->leaf);
    check_dns(r, v.id->leaf, opts);
    check_strength(r, v.id->leaf, v.id->chain, v.min_bits);
    check_revocation(r, &v);
    describe_root(r, &v);
    ERR_clear_error();
    for (size_t i = 0; !r->ok && i < r->nchecks; i++) {
        if (r->checks[i].result == FAIL) {
            rc = trisa_error_set(TRISA_EVERIFY, "%s: %s: %s",
                                 r->subject != NULL ? r->subject : "certificate", r->checks[i].name,
                                 r->checks[i].detail);
            break;
        }
    }
    *out = r;
    r = NULL;
done:
    X509_CRL_free(v.crl);
    sk_X509_pop_free(v.verified, X509_free);
    sk_X509_free(v.untrusted);
    X509_STORE_free(v.store);
    trisa_bundle_report_free(r);
    return rc;
}

int trisa_bundle_report_ok(const trisa_bundle_report *r)
{
    return r != NULL && r->ok;
}

void trisa_bundle_report_free(trisa_bundle_report *r)
{
    if (r == NULL) {
        return;
    }
    free(r->subject);
    free(r->issuer);
    free(r->serial);
    free(r->cn);
    free(r->root_subject);
    for (size_t i = 0; i < r->nchain; i++) {
        free(r->chain[i].subject);
    }
    for (size_t i = 0; i < r->nchecks; i++) {
        free(r->checks[i].detail);
    }
    free(r);
}

static const char *result_name(int result)
{
    return result == PASS ? "pass" : result == FAIL ? "FAIL" : "skip";
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

int trisa_bundle_report_text(char **out, const trisa_bundle_report *r)
{
    trisa_buf b = TRISA_BUF_INIT;
    if (out == NULL || r == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_report_text: missing argument");
    }
    trisa_buf_printf(&b, "subject:     %s\n", nz(r->subject));
    trisa_buf_printf(&b, "issuer:      %s\n", nz(r->issuer));
    for (size_t i = 0; i < r->nchain; i++) {
        trisa_buf_printf(&b, "  chain[%zu]:  %s\n               SHA-256 %s\n", i,
                         nz(r->chain[i].subject), r->chain[i].fp);
    }
    if (r->root_subject != NULL) {
        trisa_buf_printf(&b, "root:        %s%s\n             SHA-256 %s\n", r->root_subject,
                         r->root_from_bundle ? " (from the bundle)" : "", r->root_fp);
    }
    trisa_buf_printf(&b, "serial:      %s\n", nz(r->serial));
    trisa_buf_printf(&b, "valid:       %s to %s (%ld day(s) left)\n", r->not_before, r->not_after,
                     r->days_left);
    trisa_buf_printf(&b, "SHA-256:     %s\n", r->fp);
    trisa_buf_printf(&b, "checks:\n");
    for (size_t i = 0; i < r->nchecks; i++) {
        trisa_buf_printf(&b, "  %-4s %-20s %s\n", result_name(r->checks[i].result),
                         r->checks[i].name, nz(r->checks[i].detail));
    }
    trisa_buf_printf(&b, "result:      %s\n", r->ok ? "verified" : "NOT VERIFIED");
    *out = trisa_buf_detach(&b, NULL);
    return *out != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}

static void json_str(trisa_buf *b, const char *s)
{
    trisa_json_str(b, s, 0);
}

int trisa_bundle_report_json(char **out, const trisa_bundle_report *r)
{
    trisa_buf b = TRISA_BUF_INIT;
    if (out == NULL || r == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_report_json: missing argument");
    }
    trisa_buf_puts(&b, "{\"commonName\":");
    json_str(&b, r->cn);
    trisa_buf_puts(&b, ",\"subject\":");
    json_str(&b, r->subject);
    trisa_buf_puts(&b, ",\"issuer\":");
    json_str(&b, r->issuer);
    trisa_buf_puts(&b, ",\"serial\":");
    json_str(&b, r->serial);
    trisa_buf_printf(&b, ",\"notBefore\":\"%s\",\"notAfter\":\"%s\",\"daysLeft\":%ld",
                     r->not_before, r->not_after, r->days_left);
    trisa_buf_printf(&b, ",\"sha256\":\"%s\",\"chain\":[", r->fp);
    for (size_t i = 0; i < r->nchain; i++) {
        trisa_buf_puts(&b, i > 0 ? ",{\"subject\":" : "{\"subject\":");
        json_str(&b, r->chain[i].subject);
        trisa_buf_printf(&b, ",\"sha256\":\"%s\"}", r->chain[i].fp);
    }
    trisa_buf_puts(&b, "],\"root\":");
    if (r->root_subject != NULL) {
        trisa_buf_puts(&b, "{\"subject\":");
        json_str(&b, r->root_subject);
        trisa_buf_printf(&b, ",\"sha256\":\"%s\",\"fromBundle\":%s}", r->root_fp,
                         r->root_from_bundle ? "true" : "false");
    } else {
        trisa_buf_puts(&b, "null");
    }
    trisa_buf_puts(&b, ",\"checks\":[");
    for (size_t i = 0; i < r->nchecks; i++) {
        trisa_buf_printf(&b, "%s{\"name\":\"%s\",\"result\":\"%s\",\"detail\":", i > 0 ? "," : "",
                         r->checks[i].name,
                         r->checks[i].result == PASS   ? "pass"
                         : r->checks[i].result == FAIL ? "fail"
                                                       : "skip");
        json_str(&b, r->checks[i].detail);
        trisa_buf_puts(&b, "}");
    }
    trisa_buf_printf(&b, "],\"verified\":%s}", r->ok ? "true" : "false");
    *out = trisa_buf_detach(&b, NULL);
    return *out != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}
