/*
 * Pre-flight: every local input, then the account, checked before anything is sent or
 * written. Each refusal names the file, key or field and what is wrong; nothing that
 * costs a licence happens while one of them fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "enroll/internal.h"
#include "trisa/keygen.h"

#ifndef O_TMPFILE /* Linux; <fcntl.h> shows it only with _GNU_SOURCE */
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

#define MAX_CSR    (1024u * 1024u)
#define MAX_BUNDLE (64u * 1024u * 1024u + 1024u)

/* ---- The CSR ---- */

static int add_csr(ctx *c, const unsigned char *der, size_t len, size_t index)
{
    char name[4200];
    csr_item *n;
    trisa_csr *csr = NULL;
    int rc;

    if (c->ncsrs > 0 || index > 0) {
        snprintf(name, sizeof(name), "%s: request %zu", c->csr_label, index + 1);
    } else {
        set_str(name, sizeof(name), c->csr_label);
    }
    if ((rc = trisa_csr_parse(&csr, der, len, name)) != 0) {
        return rc;
    }
    n = realloc(c->csrs, (c->ncsrs + 1) * sizeof(*n));
    if (n == NULL) {
        trisa_csr_free(csr);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    c->csrs = n;
    c->csrs[c->ncsrs].csr = csr;
    c->csrs[c->ncsrs].pub = X509_REQ_get0_pubkey(trisa_csr_get0_req(csr));
    c->ncsrs++;
    return 0;
}

/* One or several PEM requests (a trisa-csr --bundle-out file), or one DER request. */
static int parse_csrs(ctx *c)
{
    BIO *bio = BIO_new_mem_buf(c->csr_bytes, (int)c->csr_len);
    int rc = 0;
    size_t index = 0;
    if (bio == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (;;) {
        char *pem_name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &pem_name, &header, &der, &len) != 1) {
            ERR_clear_error();
            break;
        }
        if (strcmp(pem_name, "CERTIFICATE REQUEST") == 0 ||
            strcmp(pem_name, "NEW CERTIFICATE REQUEST") == 0) {
            rc = add_csr(c, der, (size_t)len, index++);
        }
        OPENSSL_free(pem_name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        if (rc != 0) {
            break;
        }
    }
    BIO_free(bio);
    if (rc == 0 && c->ncsrs == 0) {
        /* not PEM: one DER request, or an error naming the file */
        rc = add_csr(c, c->csr_bytes, c->csr_len, 0);
    }
    return rc;
}

static int read_csr(ctx *c)
{
    const trisa_enroll_options *o = c->o;
    unsigned char md[32];
    int rc;
    if (o->csr_file != NULL) {
        c->csr_label = o->csr_file;
        if ((rc = trisa_file_read(&c->csr_bytes, &c->csr_len, o->csr_file, MAX_CSR)) != 0) {
            return trisa_error_prefix("CSR");
        }
    } else {
        c->csr_label = "CSR";
        if (o->csr_len == 0 || o->csr_len > MAX_CSR) {
            return trisa_error_set(TRISA_EINVAL, "the CSR is empty or larger than 1 MiB");
        }
        if ((c->csr_bytes = malloc(o->csr_len)) == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        memcpy(c->csr_bytes, o->csr_data, o->csr_len);
        c->csr_len = o->csr_len;
    }
    EVP_Digest(c->csr_bytes, c->csr_len, md, NULL, EVP_sha256(), NULL);
    trisa_hex(c->csr_sha256, md, sizeof(md), 0);
    return parse_csrs(c);
}

/* ---- Keys ---- */

static int has_key_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot != NULL && (strcmp(dot, ".pem") == 0 || strcmp(dot, ".key") == 0);
}

static int is_encrypted_pem(const unsigned char *data, size_t len)
{
    static const char *const marks[] = {"ENCRYPTED PRIVATE KEY", "Proc-Type: 4,ENCRYPTED"};
    for (size_t m = 0; m < 2; m++) {
        size_t n = strlen(marks[m]);
        for (size_t i = 0; i + n <= len; i++) {
            if (memcmp(data + i, marks[m], n) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* in_folder: a file that is no key (a CSR, a certificate) is skipped. */
static int load_key(ctx *c, const char *path, int in_folder)
{
    unsigned char *data = NULL;
    size_t len = 0;
    EVP_PKEY *key = NULL;
    own_key *n;
    int rc = trisa_file_read(&data, &len, path, MAX_CSR);

    if (rc != 0) {
        return trisa_error_prefix("key");
    }
    rc = trisa_keygen_decode(&key, data, len, c->key_pass, path);
    if (rc == TRISA_EKEY && in_folder) {
        trisa_error_clear();
        trisa_free_secret(data, len);
        return 0;
    }
    if (rc != 0) {
        trisa_free_secret(data, len);
        if (rc == TRISA_EPASSWORD && c->key_pass == NULL) {
            return trisa_error_set(TRISA_EPASSWORD,
                                   "%s: the key is encrypted and no passphrase was given "
                                   "(key-passin); nothing sent",
                                   path);
        }
        return rc;
    }
    n = realloc(c->keys, (c->nkeys + 1) * sizeof(*n));
    if (n == NULL) {
        EVP_PKEY_free(key);
        trisa_free_secret(data, len);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    c->keys = n;
    c->keys[c->nkeys].key = key;
    c->keys[c->nkeys].encrypted = is_encrypted_pem(data, len);
    c->keys[c->nkeys].path = strdup(path);
    c->nkeys++;
    trisa_free_secret(data, len);
    return c->keys[c->nkeys - 1].path != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}

static int load_keys(ctx *c)
{
    const trisa_enroll_options *o = c->o;
    for (size_t i = 0; i < o->key_count; i++) {
        struct stat st;
        DIR *d;
        struct dirent *de;
        size_t before = c->nkeys;
        int rc = 0;
        if (stat(o->key_files[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            if ((rc = load_key(c, o->key_files[i], 0)) != 0) {
                return rc;
            }
            continue;
        }
        if ((d = opendir(o->key_files[i])) == NULL) {
            return trisa_error_set(TRISA_EIO, "key folder %s: %s", o->key_files[i],
                                   strerror(errno));
        }
        while (rc == 0 && (de = readdir(d)) != NULL) {
            trisa_buf p = TRISA_BUF_INIT;
            if (de->d_name[0] == '.' || !has_key_extension(de->d_name)) {
                continue;
            }
            trisa_buf_printf(&p, "%s/%s", o->key_files[i], de->d_name);
            rc = p.data != NULL ? load_key(c, p.data, 1) : trisa_error_set(TRISA_ENOMEM, "oom");
            trisa_buf_free(&p, 0);
        }
        closedir(d);
        if (rc != 0) {
            return rc;
        }
        if (c->nkeys == before) {
            return trisa_error_set(TRISA_EKEY, "key folder %s holds no private key (*.pem, *.key)",
                                   o->key_files[i]);
        }
    }
    return 0;
}

static void key_fp(char out[TRISA_KEYGEN_FINGERPRINT_HEX], EVP_PKEY *k)
{
    if (trisa_keygen_fingerprint_hex(out, k) != 0) {
        snprintf(out, TRISA_KEYGEN_FINGERPRINT_HEX, "?");
        trisa_error_clear();
    }
}

/* Every CSR carries one of the operator's keys (files or token). */
static int match_csrs(ctx *c)
{
    if (c->ncsrs == 0 || (c->nkeys == 0 && c->token_key == NULL)) {
        return 0;
    }
    for (size_t i = 0; i < c->ncsrs; i++) {
        int found = 0;
        trisa_buf have = TRISA_BUF_INIT;
        char fp[TRISA_KEYGEN_FINGERPRINT_HEX];
        int rc;
        for (size_t k = 0; k < c->nkeys && !found; k++) {
            found = EVP_PKEY_eq(c->csrs[i].pub, c->keys[k].key) == 1;
        }
        if (!found && c->token_key != NULL) {
            found = EVP_PKEY_eq(c->csrs[i].pub, c->token_key) == 1;
        }
        ERR_clear_error();
        if (found) {
            continue;
        }
        for (size_t k = 0; k < c->nkeys; k++) {
            key_fp(fp, c->keys[k].key);
            trisa_buf_printf(&have, "%s%s %s", have.len ? ", " : "", c->keys[k].path, fp);
        }
        if (c->token_key != NULL) {
            key_fp(fp, c->token_key);
            trisa_buf_printf(&have, "%stoken key %s", have.len ? ", " : "", fp);
        }
        {
            char which[32] = "";
            if (c->ncsrs > 1) {
                snprintf(which, sizeof(which), ", request %zu", i + 1);
            }
            rc = trisa_error_set(TRISA_EMISMATCH,
                                 "%s%s (CN %s) was made for another key: its public key SHA-256 "
                                 "is %s, the key%s given: %s; nothing sent",
                                 c->csr_label, which, trisa_csr_common_name(c->csrs[i].csr),
                                 trisa_csr_key_fingerprint(c->csrs[i].csr), c->nkeys > 1 ? "s" : "",
                                 have.data != NULL ? have.data : "");
        }
        trisa_buf_free(&have, 0);
        return rc;
    }
    return 0;
}

/* ---- Trust, CRL, folders ---- */

static int load_anchors(ctx *c)
{
    const char *path = c->o->trust_file;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;
    X509 *x;
    int rc;
    if (path == NULL) {
        return 0;
    }
    if ((rc = trisa_file_read(&data, &len, path, MAX_CSR * 4)) != 0) {
        return trisa_error_prefix("trust anchors");
    }
    c->anchors = sk_X509_new_null();
    bio = BIO_new_mem_buf(data, (int)len);
    if (c->anchors == NULL || bio == NULL) {
        BIO_free(bio);
        free(data);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(c->anchors, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    free(data);
    if (sk_X509_num(c->anchors) == 0) {
        return trisa_error_set(TRISA_EINVAL, "trust anchors %s: no PEM certificate in it", path);
    }
    return 0;
}

static int check_crl(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;
    X509_CRL *crl;
    int rc;
    if (path == NULL) {
        return 0;
    }
    if ((rc = trisa_file_read(&data, &len, path, MAX_BUNDLE)) != 0) {
        return trisa_error_prefix("CRL");
    }
    bio = BIO_new_mem_buf(data, (int)len);
    crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
    if (crl == NULL) {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    }
    ERR_clear_error();
    BIO_free(bio);
    free(data);
    if (crl == NULL) {
        return trisa_error_set(TRISA_EINVAL, "CRL %s: neither a PEM nor a DER CRL", path);
    }
    X509_CRL_free(crl);
    return 0;
}

/* Can we make files in dir? An unnamed temporary file says so and leaves nothing. */
static int probe_writable(const char *dir, const char *what)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EACCES || errno == EROFS || errno == EPERM || errno == ENOSPC) {
        return trisa_error_set(TRISA_EIO, "%s: cannot write in %s: %s; nothing sent", what, dir,
                               strerror(errno));
    }
    return 0; /* a file system without O_TMPFILE: the write itself will tell */
}

static int check_out_dir(const char *dir, const char *what)
{
    struct stat st;
    char *p;
    int rc;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return trisa_error_set(TRISA_EIO, "%s %s is not a folder; nothing sent", what, dir);
        }
        return probe_writable(dir, what);
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        return trisa_error_set(TRISA_EIO, "%s %s: %s", what, dir, strerror(errno));
    }
    /* It will be made: its nearest existing parent must take it. */
    if ((p = strdup(dir)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (;;) {
        char *slash = strrchr(p, '/');
        if (slash == NULL) {
            snprintf(p, strlen(p) + 1, ".");
        } else if (slash == p) {
            p[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(p, &st) == 0) {
            rc = S_ISDIR(st.st_mode)
                     ? probe_writable(p, what)
                     : trisa_error_set(TRISA_EIO, "%s %s cannot be made: %s is not a folder", what,
                                       dir, p);
            break;
        }
        if (strcmp(p, ".") == 0 || strcmp(p, "/") == 0) {
            rc = trisa_error_set(TRISA_EIO, "%s %s cannot be made", what, dir);
            break;
        }
    }
    free(p);
    return rc;
}

static int check_p12_dir(const char *path, const char *out_dir)
{
    char *copy = strdup(path);
    char *slash;
    struct stat st;
    int rc;
    if (copy == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    slash = strrchr(copy, '/');
    if (slash == NULL) {
        snprintf(copy, strlen(copy) + 1, ".");
    } else if (slash == copy) {
        copy[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (out_dir != NULL && strcmp(copy, out_dir) == 0) {
        rc = 0; /* in the out-dir, which is checked (and made) as such */
    } else {
        rc = stat(copy, &st) == 0 && S_ISDIR(st.st_mode)
                 ? probe_writable(copy, "p12-out")
                 : trisa_error_set(TRISA_EIO, "p12-out %s: the folder %s does not exist", path,
                                   copy);
    }
    free(copy);
    return rc;
}

static int read_secret(char **out, const char *spec, const char *prompt)
{
    if (spec == NULL) {
        return 0;
    }
    return trisa_secret_read(out, NULL, spec, prompt);
}

/* ---- Pre-flight ---- */

int preflight_request(ctx *c)
{
    const trisa_enroll_options *o = c->o;
    int rc;

    if (o->source == TRISA_ENROLL_FROM_CSR && (rc = read_csr(c)) != 0) {
        return rc;
    }
    if (o->source == TRISA_ENROLL_FROM_BUNDLE) {
        if (o->bundle_file != NULL) {
            const char *slash = strrchr(o->bundle_file, '/');
            if ((rc = trisa_file_read(&c->zip, &c->zip_len, o->bundle_file, MAX_BUNDLE)) != 0) {
                return trisa_error_prefix("bundle");
            }
            c->zip_name = strdup(slash != NULL ? slash + 1 : o->bundle_file);
        } else {
            c->zip = malloc(o->bundle_len > 0 ? o->bundle_len : 1);
            c->zip_name = strdup(o->bundle_name != NULL ? o->bundle_name : "bundle.zip");
            if (c->zip != NULL) {
                memcpy(c->zip, o->bundle_data, o->bundle_len);
                c->zip_len = o->bundle_len;
            }
        }
        if (c->zip == NULL || c->zip_name == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int preflight_keys(ctx *c)
{
    int rc;
    if (c->keys_loaded) {
        return 0;
    }
    if ((rc = read_secret(&c->key_pass, c->o->key_password, "Key passphrase: ")) != 0 ||
        (rc = load_keys(c)) != 0) {
        return rc;
    }
    c->keys_loaded = 1;
    return 0;
}

int preflight_local(ctx *c)
{
    const trisa_enroll_options *o = c->o;
    int rc;

    /* Secrets first: a missing passphrase is found before any other work. */
    if ((rc = preflight_keys(c)) != 0 ||
        (rc = read_secret(&c->bundle_pass, o->bundle_password, "PKCS#12 password: ")) != 0 ||
        (rc = read_secret(&c->passout, o->key_passout, "Output password: ")) != 0) {
        return rc;
    }
    if ((rc = load_anchors(c)) != 0 || (rc = check_crl(o->crl_file)) != 0) {
        return rc;
    }
    if (o->p12_out != NULL) {
        if (o->pkcs11_uri != NULL) {
            return trisa_error_set(TRISA_EINVAL, "a PKCS#12 (p12-out) cannot hold a key that "
                                                 "stays on a token");
        }
        if (c->ncsrs > 1) {
            return trisa_error_set(TRISA_EINVAL,
                                   "a PKCS#12 (p12-out) holds one certificate; %s holds %zu "
                                   "requests",
                                   c->csr_label, c->ncsrs);
        }
        if (c->passout == NULL && c->bundle_pass == NULL) {
            return trisa_error_set(TRISA_EINVAL, "a PKCS#12 (p12-out) needs a password: give "
                                                 "the output password (passout)");
        }
        if (o->source == TRISA_ENROLL_FROM_CSR && c->nkeys == 0) {
            return trisa_error_set(TRISA_EINVAL, "a PKCS#12 (p12-out) needs the private key: "
                                                 "give the key file");
        }
        if ((rc = check_p12_dir(o->p12_out, o->out_dir)) != 0) {
            return rc;
        }
    }
    if (o->out_dir != NULL && (rc = check_out_dir(o->out_dir, "out-dir")) != 0) {
        return rc;
    }
    return match_csrs(c);
}

int preflight_token(ctx *c)
{
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    const trisa_enroll_options *o = c->o;
    int rc;
    if (o->pkcs11_uri == NULL || c->hsm != NULL) {
        return 0;
    }
    ho.module = o->pkcs11_module;
    ho.uri = o->pkcs11_uri;
    ho.pin = o->pkcs11_pin;
    ho.warn = o->warn;
    ho.warn_data = o->data;
    if ((rc = trisa_hsm_open(&c->hsm, &ho)) != 0 ||
        (rc = trisa_hsm_find_key(&c->token_key, &c->token_uri, c->hsm, o->pkcs11_uri)) != 0) {
        /* No token or no key where the URI points is a token error here (12 in the
         * tools), as in trisa-csr; the message names what is present. */
        if (rc == TRISA_ENOTFOUND) {
            char msg[1024];
            set_str(msg, sizeof(msg), trisa_error_last());
            rc = trisa_error_set(TRISA_EHSM, "%s", msg);
        }
        return rc;
    }
    return match_csrs(c);
}

int open_client(ctx *c)
{
    trisa_sectigo_options so = TRISA_SECTIGO_OPTIONS_INIT;
    const trisa_enroll_options *o = c->o;
    int rc;
    if (c->client != NULL) {
        return 0;
    }
    so.endpoint = c->endpoint;
    so.environment = o->environment;
    so.username = o->username;
    so.password = o->password;
    so.ca_bundle = o->ca_bundle;
    so.cache_dir = o->cache_dir;
    so.warn = o->warn;
    so.warn_data = o->data;
    if ((rc = trisa_sectigo_new(&c->client, &so)) != 0) {
        return rc;
    }
    if (c->deadline_ms > 0) {
        trisa_sectigo_set_deadline(c->client, c->deadline_ms);
    }
    /* A token cache write an earlier run was killed in left its temporary file. Another
     * process may be writing the cache right now: only old ones go. */
    if (trisa_sectigo_cache_path(c->client) != NULL) {
        char *dir = strdup(trisa_sectigo_cache_path(c->client));
        char *slash = dir != NULL ? strrchr(dir, '/') : NULL;
        if (slash != NULL) {
            const char *names[1] = {slash + 1};
            *slash = '\0';
            trisa_file_clean_temps(dir, names, 1, 60);
        }
        free(dir);
    }
    return 0;
}

/* The account can upload to the profile, and its authority has licences for the CSRs. */
static int check_profile(ctx *c)
{
    trisa_sectigo_authority_list *list = NULL;
    const trisa_sectigo_authority *a = NULL;
    trisa_buf ids = TRISA_BUF_INIT;
    long long profile = c->o->profile_id;
    int rc;

    if ((rc = trisa_sectigo_authorities(&list, c->client)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < list->count; i++) {
        trisa_buf_printf(&ids, "%s%lld", i ? ", " : "", list->items[i].profile_id);
        if (list->items[i].profile_id == profile && a == NULL) {
            a = &list->items[i];
        }
    }
    if (a == NULL) {
        rc = trisa_error_set(TRISA_ENOTFOUND,
                             "profile %lld is not one this account may use (its profiles: %s); "
                             "nothing sent",
                             profile, ids.data != NULL && ids.len ? ids.data : "none");
    } else if (!a->enabled) {
        rc = trisa_error_set(TRISA_EFORBIDDEN,
                             "profile %lld: its authority %lld is disabled; nothing sent", profile,
                             a->id);
    } else if (a->balance < (long long)c->ncsrs) {
        rc = trisa_error_set(TRISA_EBALANCE,
                             "profile %lld: authority %lld has %lld licence%s left, %zu needed; "
                             "nothing sent",
                             profile, a->id, a->balance, a->balance == 1 ? "" : "s", c->ncsrs);
    } else {
        char msg[256];
        snprintf(msg, sizeof(msg), "profile %lld (%s, authority %lld): %lld licence%s left",
                 profile, a->profile_name, a->id, a->balance, a->balance == 1 ? "" : "s");
        set_str(c->profile_info, sizeof(c->profile_info), msg);
    }
    trisa_buf_free(&ids, 0);
    trisa_sectigo_authority_list_free(list);
    return rc;
}

int preflight_server(ctx *c, int will_upload)
{
    int rc;
    if (!c->logged_in) {
        if ((rc = open_client(c)) != 0 || (rc = trisa_sectigo_ensure_auth(c->client)) != 0) {
            return rc;
        }
        c->logged_in = 1;
    }
    if (will_upload && !c->profile_checked) {
        if ((rc = check_profile(c)) != 0) {
            return rc;
        }
        c->profile_checked = 1;
    }
    return 0;
}
