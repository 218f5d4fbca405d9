/*
 * The emulator's local CA: a root and an issuing CA (RSA-4096, SHA-384) made on first
 * start under DIR/ca/ and reused afterwards; leaf certificates for TLS client and server
 * use; the CRL at DIR/ca/crl.pem; the self-signed TLS material for --tls-self-signed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "emulator/emu.h"
#include "trisa/keygen.h"

/* A certificate, or with crl a CRL, as PEM text; NULL when it cannot be encoded. */
static char *pem_text(const X509 *x, const X509_CRL *crl, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (bio != NULL &&
        (crl != NULL ? PEM_write_bio_X509_CRL(bio, crl) : PEM_write_bio_X509(bio, x)) == 1) {
        out = trisa_bio_text(bio, len);
    }
    BIO_free(bio);
    return out;
}

static int save_pem(const char *path, const X509 *x, const X509_CRL *crl)
{
    size_t len = 0;
    char *pem = pem_text(x, crl, &len);
    int err;

    if (pem == NULL) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "%s: cannot encode", path);
    }
    err = trisa_file_write_atomic(path, pem, len, 0644, TRISA_WRITE_REPLACE);
    free(pem);
    return err;
}

static int random_serial(X509 *x, char serial_hex[80])
{
    unsigned char b[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "random serial");
    }
    b[0] &= 0x7f; /* positive */
    b[0] |= 0x40; /* and always 16 bytes long */
    bn = BN_bin2bn(b, sizeof(b), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    if (!ok) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "random serial");
    }
    if (serial_hex != NULL) {
        trisa_hex(serial_hex, b, sizeof(b), 0);
        for (char *p = serial_hex; *p; p++) {
            if (*p >= 'a' && *p <= 'f') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
    }
    return 0;
}

static int add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "extension %s=%s", OBJ_nid2sn(nid), value);
    }
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : trisa_error_set_ssl(TRISA_ECRYPTO, "add extension");
}

static X509_NAME *name_of(const char *cn, const char *org)
{
    X509_NAME *n = X509_NAME_new();

    if (n == NULL) {
        return NULL;
    }
    if ((org != NULL && !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                                    (const unsigned char *)org, -1, -1, 0)) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* A CA certificate: self-signed when issuer is NULL. */
static int make_ca(X509 **out, EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                   int days, const char *constraints, const EVP_MD *md)
{
    X509 *x = X509_new();
    X509_NAME *n = name_of(cn, "trisa-certkit emulator");
    int err = TRISA_ECRYPTO;

    *out = NULL;
    if (x == NULL || n == NULL || !X509_set_version(x, 2) || random_serial(x, NULL) != 0 ||
        !X509_set_subject_name(x, n) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
        !X509_set_pubkey(x, key)) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "CA certificate %s", cn);
        goto done;
    }
    if ((err = add_ext(issuer ? issuer : x, x, NID_basic_constraints, constraints)) != 0 ||
        (err = add_ext(issuer ? issuer : x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) !=
            0 ||
        (err = add_ext(issuer ? issuer : x, x, NID_subject_key_identifier, "hash")) != 0 ||
        (issuer != NULL &&
         (err = add_ext(issuer, x, NID_authority_key_identifier, "keyid:always")) != 0)) {
        goto done;
    }
    if (!X509_sign(x, issuer_key ? issuer_key : key, md)) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "sign CA certificate %s", cn);
        goto done;
    }
    *out = x;
    x = NULL;
    err = 0;
done:
    X509_NAME_free(n);
    X509_free(x);
    return err;
}

/* Read DIR/NAME.pem and DIR/NAME.key (with keygen's decoder, which wipes what it read). */
static int load_pair(const char *dir, const char *name, X509 **cert, EVP_PKEY **key)
{
    char path[4096];
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;

    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    if (trisa_file_read(&data, &len, path, 1u << 20) != 0) {
        trisa_error_clear();
        return TRISA_ENOTFOUND;
    }
    if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
        *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    free(data);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    if (trisa_keygen_load(key, path, NULL) != 0) {
        trisa_error_clear();
    }
    if (*cert == NULL || *key == NULL) {
        return trisa_error_set_ssl(TRISA_ESTATE, "%s/%s.{pem,key}: unreadable", dir, name);
    }
    return 0;
}

static int save_pair(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
    char path[4096];
    int err;

    /* The key first: a certificate without its key is never left behind. */
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    if ((err = trisa_keygen_save(path, key, NULL, TRISA_WRITE_REPLACE)) != 0) {
        return err;
    }
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    return save_pem(path, cert, NULL);
}

/* The first PEM block of text whose label ends in PRIVATE KEY ("PRIVATE KEY", "EC PRIVATE
 * KEY", "ENCRYPTED PRIVATE KEY", ...), through its END line; NULL when there is none. */
static const char *key_block(const char *text, size_t *len)
{
    for (const char *p = strstr(text, "-----BEGIN "); p != NULL; p = strstr(p + 1, "-----BEGIN ")) {
        const char *eol = strchr(p, '\n'), *end;
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ')) {
            n--;
        }
        if (n < 16 || strncmp(p + n - 16, "PRIVATE KEY-----", 16) != 0) {
            continue;
        }
        if ((end = strstr(p, "-----END ")) == NULL) {
            return NULL;
        }
        eol = strchr(end, '\n');
        *len = eol != NULL ? (size_t)(eol + 1 - p) : strlen(p);
        return p;
    }
    return NULL;
}

/* SIAS_CA_PATH, as the reference server takes it: PEM certificates and the CA's private
 * key in one file. The key is read by keygen's decoder, the one of the project. The
 * certificate matching the key issues; a self-signed one among them is the root (the
 * issuing CA itself when it is self-signed). */
static int load_ca_file(emu_ca *ca, const char *path)
{
    unsigned char *text = NULL;
    size_t len = 0, key_len = 0;
    const char *key;
    BIO *bio = NULL;
    X509 *x;
    int err = 0, ncerts = 0;

    if ((err = trisa_file_read(&text, &len, path, 1u << 20)) != 0) {
        return err == TRISA_ENOTFOUND
                   ? trisa_error_set(TRISA_ENOTFOUND, "%s: cannot open the CA file", path)
                   : err;
    }
    key = key_block((const char *)text, &key_len);
    if (key == NULL || trisa_keygen_decode(&ca->issuing_key, (const unsigned char *)key, key_len,
                                           NULL, path) != 0) {
        err = trisa_error_set(TRISA_ECONFIG, "%s: no (unencrypted) private key", path);
        goto done;
    }
    if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL) {
        err = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        ncerts++;
        if (ca->issuing == NULL && X509_check_private_key(x, ca->issuing_key) == 1) {
            ca->issuing = x;
            X509_up_ref(x);
        }
        if (ca->root == NULL && X509_check_issued(x, x) == X509_V_OK) {
            ca->root = x;
            X509_up_ref(x);
        }
        X509_free(x);
    }
    ERR_clear_error();
    if (ncerts == 0) {
        err = trisa_error_set(TRISA_ECONFIG, "%s: not PEM certificates and a key", path);
        goto done;
    }
    if (ca->issuing == NULL) {
        err = trisa_error_set(TRISA_ECONFIG, "%s: no certificate matches the private key", path);
        goto done;
    }
    if (X509_check_ca(ca->issuing) == 0) {
        err = trisa_error_set(TRISA_ECONFIG, "%s: the certificate of the key is not a CA", path);
        goto done;
    }
    if (ca->root == NULL) {
        err = trisa_error_set(
            TRISA_ECONFIG, "%s: no self-signed root certificate (add the chain to the file)", path);
        goto done;
    }
    /* root_key is only needed to make a CA; a loaded one is never re-made. */
done:
    BIO_free(bio);
    trisa_free_secret(text, len + 1);
    return err;
}

int emu_ca_open(emu_ca *ca, const char *state_dir, const char *ca_path)
{
    size_t n = strlen(state_dir) + 4;
    int err;

    memset(ca, 0, sizeof(*ca));
    pthread_mutex_init(&ca->crl_lock, NULL);
    ca->dir = malloc(n);
    if (ca->dir == NULL) {
        return TRISA_ENOMEM;
    }
    snprintf(ca->dir, n, "%s/ca", state_dir);
    if ((err = trisa_mkdir_p(ca->dir, 0700)) != 0) {
        return err;
    }
    if (ca_path != NULL) {
        return load_ca_file(ca, ca_path);
    }
    err = load_pair(ca->dir, "root", &ca->root, &ca->root_key);
    if (err == 0) {
        err = load_pair(ca->dir, "issuing", &ca->issuing, &ca->issuing_key);
    }
    if (err == TRISA_ENOTFOUND) {
        X509_free(ca->root);
        X509_free(ca->issuing);
        EVP_PKEY_free(ca->root_key);
        EVP_PKEY_free(ca->issuing_key);
        ca->root = ca->issuing = NULL;
        ca->root_key = ca->issuing_key = NULL;
        ca->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        ca->issuing_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        if (ca->root_key == NULL || ca->issuing_key == NULL) {
            return trisa_error_set_ssl(TRISA_ECRYPTO, "CA key generation");
        }
        if ((err = make_ca(&ca->root, ca->root_key, "TRISA Emulator Root CA", NULL, NULL, 20 * 365,
                           "critical,CA:TRUE", EVP_sha384())) != 0 ||
            (err = make_ca(&ca->issuing, ca->issuing_key, "TRISA Emulator Issuing CA", ca->root,
                           ca->root_key, 10 * 365, "critical,CA:TRUE,pathlen:0", EVP_sha384())) !=
                0 ||
            (err = save_pair(ca->dir, "issuing", ca->issuing, ca->issuing_key)) != 0 ||
            (err = save_pair(ca->dir, "root", ca->root, ca->root_key)) != 0) {
            return err;
        }
    }
    return err;
}

void emu_ca_close(emu_ca *ca)
{
    X509_free(ca->root);
    X509_free(ca->issuing);
    EVP_PKEY_free(ca->root_key);
    EVP_PKEY_free(ca->issuing_key);
    free(ca->dir);
    pthread_mutex_destroy(&ca->crl_lock);
    memset(ca, 0, sizeof(*ca));
}

int emu_ca_issue(emu_ca *ca, X509 **out, EVP_PKEY *pubkey, const X509_NAME *subject,
                 char *const *dns, size_t ndns, long lifetime, char serial_hex[80])
{
    X509 *x = X509_new();
    trisa_buf san = TRISA_BUF_INIT;
    int err = TRISA_ECRYPTO;
    /* Backdated a little for clocks behind ours (5 minutes, or a tenth of a short
     * lifetime), and valid for exactly `lifetime` seconds from then. */
    long back = lifetime / 10 < 300 ? lifetime / 10 : 300;
    time_t start = time(NULL) - back;

    *out = NULL;
    if (x == NULL || !X509_set_version(x, 2) || (err = random_serial(x, serial_hex)) != 0 ||
        !X509_set_subject_name(x, subject) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca->issuing)) ||
        X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &start) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)(lifetime / 86400), lifetime % 86400,
                         &start) == NULL ||
        !X509_set_pubkey(x, pubkey)) {
        err = err ? err : trisa_error_set_ssl(TRISA_ECRYPTO, "leaf certificate");
        goto done;
    }
    for (size_t i = 0; i < ndns; i++) {
        trisa_buf_printf(&san, "%sDNS:%s", i ? "," : "", dns[i]);
    }
    if (san.failed) {
        err = TRISA_ENOMEM;
        goto done;
    }
    if ((err = add_ext(ca->issuing, x, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
        (err = add_ext(ca->issuing, x, NID_key_usage,
                       "critical,digitalSignature,keyEncipherment")) != 0 ||
        (err = add_ext(ca->issuing, x, NID_ext_key_usage, "serverAuth,clientAuth")) != 0 ||
        (err = add_ext(ca->issuing, x, NID_subject_key_identifier, "hash")) != 0 ||
        (err = add_ext(ca->issuing, x, NID_authority_key_identifier, "keyid:always")) != 0 ||
        (ndns > 0 && (err = add_ext(ca->issuing, x, NID_subject_alt_name, san.data)) != 0)) {
        goto done;
    }
    if (!X509_sign(x, ca->issuing_key, EVP_sha384())) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "sign leaf certificate");
        goto done;
    }
    *out = x;
    x = NULL;
    err = 0;
done:
    trisa_buf_free(&san, 0);
    X509_free(x);
    return err;
}

struct crl_fill {
    X509_CRL *crl;
    int failed;
};

static void crl_add(void *arg, const emu_cert *c)
{
    struct crl_fill *f = arg;
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;

    if (r == NULL || !BN_hex2bn(&bn, c->serial) ||
        (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
        (when = ASN1_TIME_set(NULL, (time_t)(c->revoked_ms / 1000))) == NULL ||
        !X509_REVOKED_set_serialNumber(r, serial) || !X509_REVOKED_set_revocationDate(r, when)) {
        f->failed = 1;
        X509_REVOKED_free(r);
        goto done;
    }
    if (c->reason != 0 && (reason = ASN1_ENUMERATED_new()) != NULL &&
        ASN1_ENUMERATED_set(reason, c->reason)) {
        X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0);
    }
    if (!X509_CRL_add0_revoked(f->crl, r)) {
        X509_REVOKED_free(r);
        f->failed = 1;
    }
done:
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
}

int emu_ca_write_crl(emu_ca *ca, emu_store *s)
{
    struct crl_fill f = {X509_CRL_new(), 0};
    ASN1_TIME *now = NULL, *next = NULL;
    char path[4096];
    int err = TRISA_ECRYPTO;

    pthread_mutex_lock(&ca->crl_lock);
    now = X509_gmtime_adj(NULL, 0);
    next = X509_gmtime_adj(NULL, 7L * 24 * 3600);
    if (f.crl == NULL || now == NULL || next == NULL || !X509_CRL_set_version(f.crl, 1) ||
        !X509_CRL_set_issuer_name(f.crl, X509_get_subject_name(ca->issuing)) ||
        !X509_CRL_set1_lastUpdate(f.crl, now) || !X509_CRL_set1_nextUpdate(f.crl, next)) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "CRL");
        goto done;
    }
    if ((err = emu_store_each_revoked(s, crl_add, &f)) != 0) {
        goto done;
    }
    if (f.failed || !X509_CRL_sort(f.crl) || !X509_CRL_sign(f.crl, ca->issuing_key, EVP_sha384())) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "sign CRL");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/crl.pem", ca->dir);
    err = save_pem(path, NULL, f.crl);
done:
    pthread_mutex_unlock(&ca->crl_lock);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    X509_CRL_free(f.crl);
    return err;
}

int emu_tls_self_signed(const char *state_dir, char **cert_pem, char **key_pem)
{
    char dir[4096];
    X509 *ca = NULL, *leaf = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509_NAME *n = NULL;
    size_t key_len = 0;
    int err;

    *cert_pem = *key_pem = NULL;
    snprintf(dir, sizeof(dir), "%s", state_dir);
    /* DIR/tls-ca.pem is what clients trust; it is reused so their trust lasts. */
    err = load_pair(dir, "tls-ca", &ca, &ca_key);
    if (err == TRISA_ENOTFOUND) {
        X509_free(ca);
        EVP_PKEY_free(ca_key);
        ca = NULL;
        ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (ca_key == NULL) {
            err = trisa_error_set_ssl(TRISA_ECRYPTO, "TLS CA key");
            goto done;
        }
        if ((err = make_ca(&ca, ca_key, "TRISA Emulator TLS CA", NULL, NULL, 10 * 365,
                           "critical,CA:TRUE", EVP_sha256())) != 0 ||
            (err = save_pair(dir, "tls-ca", ca, ca_key)) != 0) {
            goto done;
        }
    } else if (err != 0) {
        goto done;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    n = name_of("localhost", "trisa-certkit emulator");
    leaf = X509_new();
    if (key == NULL || n == NULL || leaf == NULL || !X509_set_version(leaf, 2) ||
        random_serial(leaf, NULL) != 0 || !X509_set_subject_name(leaf, n) ||
        !X509_set_issuer_name(leaf, X509_get_subject_name(ca)) ||
        X509_gmtime_adj(X509_getm_notBefore(leaf), -300) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(leaf), 365, 0, NULL) == NULL ||
        !X509_set_pubkey(leaf, key)) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "TLS server certificate");
        goto done;
    }
    if ((err = add_ext(ca, leaf, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
        (err = add_ext(ca, leaf, NID_key_usage, "critical,digitalSignature")) != 0 ||
        (err = add_ext(ca, leaf, NID_ext_key_usage, "serverAuth")) != 0 ||
        (err = add_ext(ca, leaf, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1")) != 0 ||
        (err = add_ext(ca, leaf, NID_authority_key_identifier, "keyid:always")) != 0) {
        goto done;
    }
    if (!X509_sign(leaf, ca_key, EVP_sha256())) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "sign TLS server certificate");
        goto done;
    }
    if ((*cert_pem = pem_text(leaf, NULL, NULL)) == NULL) {
        err = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    err = trisa_keygen_to_pem(key_pem, &key_len, key, NULL);
done:
    if (err != 0) {
        free(*cert_pem);
        trisa_free_secret(*key_pem, key_len + 1);
        *cert_pem = *key_pem = NULL;
    }
    X509_NAME_free(n);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return err;
}
