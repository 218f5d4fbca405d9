/*
 * trisa_enroll_run(): one request from its source to verified, written files, phase by
 * phase (see trisa/enroll.h): options, pre-flight, the journal under its lock, the server,
 * the bundle bound to the operator's key and verified, the result recorded, the outputs,
 * the token, done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "enroll/internal.h"
#include "trisa/keygen.h"

#define DEFAULT_TIMEOUT_S 1800
#define OLD_STATE_FILE    "trisa-fetch.state"

void ctx_event(ctx *c, const trisa_enroll_event *ev)
{
    if (c->o->progress != NULL) {
        c->o->progress(ev, c->o->data);
    }
}

void ctx_warn(ctx *c, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (c->o->warn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->o->warn(msg, c->o->data);
}

static void event(ctx *c, trisa_enroll_step step, long long batch, const char *path,
                  const char *text)
{
    trisa_enroll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.step = step;
    ev.batch_id = batch;
    ev.path = path;
    ev.text = text;
    ctx_event(c, &ev);
}

/* ---- Options ---- */

static int check_options(const trisa_enroll_options *o)
{
    if (o == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_enroll_run: no options");
    }
    if (o->version != TRISA_ENROLL_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_enroll_options: version %u not supported",
                               o->version);
    }
    switch (o->source) {
    case TRISA_ENROLL_FROM_CSR:
        if ((o->csr_file == NULL) == (o->csr_data == NULL)) {
            return trisa_error_set(TRISA_EINVAL, "give the CSR as a file or as bytes (one)");
        }
        if (o->profile_id <= 0) {
            return trisa_error_set(TRISA_EINVAL, "a CSR is uploaded to a profile: none given");
        }
        break;
    case TRISA_ENROLL_FROM_BATCH:
        if (o->batch_id <= 0) {
            return trisa_error_set(TRISA_EINVAL, "no batch id given");
        }
        break;
    case TRISA_ENROLL_FROM_BUNDLE:
        if ((o->bundle_file == NULL) == (o->bundle_data == NULL)) {
            return trisa_error_set(TRISA_EINVAL, "give the bundle as a file or as bytes (one)");
        }
        break;
    default:
        return trisa_error_set(TRISA_EINVAL, "unknown source %d", (int)o->source);
    }
    if ((o->key_count > 0 && o->key_files == NULL) || (o->dns_count > 0 && o->dns_names == NULL)) {
        return trisa_error_set(TRISA_EINVAL, "a key or DNS name count without its list");
    }
    if (o->p12_legacy && o->p12_out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "p12_legacy applies to p12_out, which is not given");
    }
    if (o->trust_file == NULL && !o->trust_bundle_root) {
        return trisa_error_set(TRISA_EINVAL, "no trust anchor: give trust anchors or trust the "
                                             "bundle's root; the chain is verified before "
                                             "anything is written");
    }
    return 0;
}

static char *normalise_endpoint(const char *ep)
{
    char *s = strdup(ep != NULL && ep[0] != '\0' ? ep : TRISA_SECTIGO_PRODUCTION_URL);
    size_t n = s != NULL ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/') {
        s[--n] = '\0';
    }
    return s;
}

/* ---- The bundle ---- */

static int open_member_or_zip(trisa_bundle **out, const ctx *c, const char *password)
{
    trisa_bundle_options bo = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle *b = NULL;
    int rc;
    bo.password = password;
    if (trisa_bundle_member_type(c->zip_name) == TRISA_MEMBER_NONE) {
        return trisa_bundle_open_zip(out, c->zip, c->zip_len, &bo);
    }
    if ((rc = trisa_bundle_new(&b, &bo)) == 0 &&
        (rc = trisa_bundle_add_member(b, c->zip_name, c->zip, c->zip_len)) == 0) {
        *out = b;
        return 0;
    }
    trisa_bundle_free(b);
    return rc;
}

static void pub_fp(char out[TRISA_KEYGEN_FINGERPRINT_HEX], EVP_PKEY *k)
{
    if (k == NULL || trisa_keygen_fingerprint_hex(out, k) != 0) {
        snprintf(out, TRISA_KEYGEN_FINGERPRINT_HEX, "?");
        trisa_error_clear();
    }
}

/* The certificate must carry the operator's key: a key given (file or token), else the
 * CSR's public key. A bundle's own key counts only when neither was given. */
static int bind(ctx *c)
{
    size_t n = trisa_bundle_identity_count(c->bundle);
    int have_keys = c->nkeys > 0 || c->token_key != NULL;
    if (!have_keys && c->ncsrs == 0) {
        return 0; /* the server-generated-key path */
    }
    for (size_t i = 0; i < n; i++) {
        X509 *leaf = trisa_bundle_leaf(c->bundle, i);
        EVP_PKEY *pub = X509_get0_pubkey(leaf);
        trisa_buf want = TRISA_BUF_INIT;
        char fp[TRISA_KEYGEN_FINGERPRINT_HEX], cfp[TRISA_FINGERPRINT_TEXT];
        int ok = 0, rc;
        char *subj;
        for (size_t k = 0; k < c->nkeys && !ok; k++) {
            ok = EVP_PKEY_eq(pub, c->keys[k].key) == 1;
        }
        if (!ok && c->token_key != NULL) {
            ok = EVP_PKEY_eq(pub, c->token_key) == 1;
        }
        for (size_t k = 0; !have_keys && k < c->ncsrs && !ok; k++) {
            ok = EVP_PKEY_eq(pub, c->csrs[k].pub) == 1;
        }
        ERR_clear_error();
        if (ok) {
            continue;
        }
        for (size_t k = 0; k < c->nkeys; k++) {
            pub_fp(fp, c->keys[k].key);
            trisa_buf_printf(&want, "%skey %s %s", want.len ? ", " : "", c->keys[k].path, fp);
        }
        if (c->token_key != NULL) {
            pub_fp(fp, c->token_key);
            trisa_buf_printf(&want, "%stoken key %s", want.len ? ", " : "", fp);
        }
        for (size_t k = 0; !have_keys && k < c->ncsrs; k++) {
            trisa_buf_printf(&want, "%sCSR %s", want.len ? ", " : "",
                             trisa_csr_key_fingerprint(c->csrs[k].csr));
        }
        pub_fp(fp, pub);
        if (trisa_cert_fingerprint(cfp, leaf)[0] == '\0') {
            snprintf(cfp, sizeof(cfp), "?");
        }
        subj = trisa_name_string(X509_get_subject_name(leaf));
        rc = trisa_error_set(TRISA_EMISMATCH,
                             "certificate %s (SHA-256 %s) carries public key %s, not the "
                             "operator's (public key SHA-256: %s)%s; refused, nothing written",
                             subj != NULL ? subj : "?", cfp, fp, want.data != NULL ? want.data : "",
                             trisa_bundle_has_bundle_key(c->bundle, i)
                                 ? "; the bundle's own key is never used in its place"
                                 : "");
        free(subj);
        trisa_buf_free(&want, 0);
        return rc;
    }
    /* Every request got its certificate. */
    for (size_t k = 0; k < c->ncsrs; k++) {
        int found = 0;
        for (size_t i = 0; i < n && !found; i++) {
            found =
                EVP_PKEY_eq(X509_get0_pubkey(trisa_bundle_leaf(c->bundle, i)), c->csrs[k].pub) == 1;
        }
        ERR_clear_error();
        if (!found && !have_keys) {
            return trisa_error_set(TRISA_EMISMATCH,
                                   "the batch holds no certificate for %s request %zu (CN %s, "
                                   "public key SHA-256 %s); nothing written",
                                   c->csr_label, k + 1, trisa_csr_common_name(c->csrs[k].csr),
                                   trisa_csr_key_fingerprint(c->csrs[k].csr));
        }
    }
    return 0;
}

static int open_bundle(ctx *c)
{
    const char *password = c->bundle_pass;
    char *fallback = NULL;
    int rc;

    trisa_bundle_free(c->bundle);
    c->bundle = NULL;
    rc = open_member_or_zip(&c->bundle, c, password);
    if (rc == TRISA_EPASSWORD && password == NULL && c->o->bundle_password_fallback != NULL) {
        if ((rc = trisa_secret_read(&fallback, NULL, c->o->bundle_password_fallback,
                                    "PKCS#12 password: ")) == 0) {
            rc = open_member_or_zip(&c->bundle, c, fallback);
            if (rc == 0) {
                c->bundle_pass = fallback; /* the PKCS#12 export may need it */
                fallback = NULL;
            }
        }
    }
    trisa_secret_free(fallback);
    if (rc == TRISA_EPASSWORD && c->bundle_pass == NULL) {
        return trisa_error_set(TRISA_EPASSWORD,
                               "%s: the bundle is password-protected: give its password "
                               "(password-file or passin)",
                               c->zip_name != NULL ? c->zip_name : "bundle");
    }
    if (rc != 0) {
        return rc;
    }
    for (size_t k = 0; k < c->nkeys; k++) {
        if ((rc = trisa_bundle_add_key(c->bundle, c->keys[k].key)) != 0) {
            return rc;
        }
    }
    if (c->token_key != NULL && (rc = trisa_bundle_add_key(c->bundle, c->token_key)) != 0) {
        return rc;
    }
    if ((rc = trisa_bundle_resolve(c->bundle)) != 0 || (rc = bind(c)) != 0) {
        return rc;
    }
    if (c->hsm != NULL && trisa_bundle_identity_count(c->bundle) != 1) {
        return trisa_error_set(TRISA_EINVAL,
                               "a token key takes a batch of one certificate; this one holds %zu",
                               trisa_bundle_identity_count(c->bundle));
    }
    if (c->o->p12_out != NULL && trisa_bundle_identity_count(c->bundle) != 1) {
        return trisa_error_set(TRISA_EINVAL,
                               "a PKCS#12 (p12-out) holds one certificate; this bundle holds %zu",
                               trisa_bundle_identity_count(c->bundle));
    }
    return 0;
}

/* The DNS names identity i must carry: those asked for, and every DNS name of the CSR
 * it was issued for (checked by default: a certificate missing one of its request's names
 * would fail the first TLS handshake to that name). Returns the count, or -1 (memory). */
static long dns_names_for(ctx *c, size_t i, const char ***out)
{
    EVP_PKEY *pub = X509_get0_pubkey(trisa_bundle_leaf(c->bundle, i));
    size_t n = 0, cap = c->o->dns_count;
    const trisa_csr *csr = NULL;
    const char **names;

    for (size_t k = 0; k < c->ncsrs && csr == NULL && pub != NULL; k++) {
        if (EVP_PKEY_eq(pub, c->csrs[k].pub) == 1) {
            csr = c->csrs[k].csr;
        }
    }
    ERR_clear_error();
    cap += csr != NULL ? trisa_csr_san_count(csr) : 0;
    if ((names = calloc(cap + 1, sizeof(*names))) == NULL) {
        return -1;
    }
    for (size_t k = 0; k < c->o->dns_count; k++) {
        names[n++] = c->o->dns_names[k];
    }
    for (size_t k = 0; csr != NULL && k < trisa_csr_san_count(csr); k++) {
        const char *san = trisa_csr_san(csr, k);
        int dup = 0;
        if (strncmp(san, "DNS:", 4) != 0) {
            continue;
        }
        for (size_t m = 0; m < n && !dup; m++) {
            dup = strcasecmp(names[m], san + 4) == 0;
        }
        if (!dup) {
            names[n++] = san + 4;
        }
    }
    *out = names;
    return (long)n;
}

static int verify_all(ctx *c)
{
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    size_t n = trisa_bundle_identity_count(c->bundle);
    vo.trust_file = c->o->trust_file;
    vo.trust_bundle_root = c->o->trust_bundle_root;
    vo.at = c->o->at;
    vo.crl_file = c->o->crl_file;
    for (size_t i = 0; i < n; i++) {
        trisa_bundle_report *r = NULL;
        trisa_enroll_event ev;
        const char **names = NULL;
        long nnames = dns_names_for(c, i, &names);
        int rc;
        if (nnames < 0) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        vo.dns_names = names;
        vo.dns_count = (size_t)nnames;
        rc = trisa_bundle_verify(&r, c->bundle, i, &vo);
        free((void *)names);
        if (r != NULL) {
            memset(&ev, 0, sizeof(ev));
            ev.step = TRISA_ENROLL_STEP_VERIFIED;
            ev.index = i;
            ev.count = n;
            ev.report = r;
            ctx_event(c, &ev);
        }
        trisa_bundle_report_free(r);
        if (rc != 0) {
            return rc == TRISA_EVERIFY ? trisa_error_prefix("nothing written") : rc;
        }
    }
    return 0;
}

/* ---- The result ---- */

void trisa_enroll_result_free(trisa_enroll_result *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        X509_free(r->leaves[i]);
        for (int k = 0; k < 5; k++) {
            free(r->pem[i][k]);
        }
        free(r->dirs[i]);
    }
    free(r->leaves);
    free(r->pem);
    free(r->dirs);
    free(r->journal);
    free(r);
}

static const char *const pem_names[5] = {"cert.pem", "chain.pem", "fullchain.pem", "root.pem",
                                         "pool.pem"};

static int make_result(ctx *c, const out_set *s, int written_to_disk)
{
    trisa_enroll_result *r = calloc(1, sizeof(*r));
    size_t n = trisa_bundle_identity_count(c->bundle);
    if (r == NULL || (r->leaves = calloc(n, sizeof(*r->leaves))) == NULL ||
        (r->pem = calloc(n, sizeof(*r->pem))) == NULL ||
        (r->dirs = calloc(n, sizeof(*r->dirs))) == NULL) {
        trisa_enroll_result_free(r);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r->n = n;
    r->batch_id = c->j.batch_id;
    r->supersedes = c->j.supersedes;
    if (c->have_entry && (r->journal = strdup(c->e.dir)) == NULL) {
        trisa_enroll_result_free(r);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *dir = s->dirs[i];
        r->leaves[i] = trisa_bundle_leaf(c->bundle, i);
        X509_up_ref(r->leaves[i]);
        for (size_t f = 0; f < s->n; f++) {
            const char *rel = s->f[f].rel, *base = rel;
            size_t dl = strlen(dir);
            if (dl > 0) {
                if (strncmp(rel, dir, dl) != 0 || rel[dl] != '/') {
                    continue;
                }
                base = rel + dl + 1;
            } else if (strchr(rel, '/') != NULL) {
                continue;
            }
            for (int k = 0; k < 5; k++) {
                if (strcmp(base, pem_names[k]) == 0 &&
                    (r->pem[i][k] = strndup((const char *)s->f[f].data, s->f[f].len)) == NULL) {
                    trisa_enroll_result_free(r);
                    return trisa_error_set(TRISA_ENOMEM, "out of memory");
                }
            }
        }
        if (written_to_disk) {
            trisa_buf d = TRISA_BUF_INIT;
            trisa_buf_printf(&d, "%s%s%s", s->root, dir[0] != '\0' ? "/" : "", dir);
            if ((r->dirs[i] = trisa_buf_detach(&d, NULL)) == NULL) {
                trisa_enroll_result_free(r);
                return trisa_error_set(TRISA_ENOMEM, "out of memory");
            }
        }
    }
    trisa_enroll_result_free(c->res);
    c->res = r;
    return 0;
}

long long trisa_enroll_result_batch_id(const trisa_enroll_result *r)
{
    return r != NULL ? r->batch_id : 0;
}

long long trisa_enroll_result_supersedes(const trisa_enroll_result *r)
{
    return r != NULL ? r->supersedes : 0;
}

int trisa_enroll_result_already_issued(const trisa_enroll_result *r)
{
    return r != NULL && r->already;
}

size_t trisa_enroll_result_count(const trisa_enroll_result *r)
{
    return r != NULL ? r->n : 0;
}

X509 *trisa_enroll_result_leaf(const trisa_enroll_result *r, size_t i)
{
    return r != NULL && i < r->n ? r->leaves[i] : NULL;
}

const char *trisa_enroll_result_pem(const trisa_enroll_result *r, size_t i, trisa_enroll_pem which)
{
    if (r == NULL || i >= r->n || (unsigned)which > TRISA_ENROLL_PEM_POOL) {
        return NULL;
    }
    return r->pem[i][which];
}

const char *trisa_enroll_result_dir(const trisa_enroll_result *r, size_t i)
{
    return r != NULL && i < r->n ? r->dirs[i] : NULL;
}

const char *trisa_enroll_result_journal(const trisa_enroll_result *r)
{
    return r != NULL ? r->journal : NULL;
}

/* ---- Outputs, token ---- */

static int write_outputs(ctx *c, const char *request, int *written)
{
    outputs_options oo;
    out_set s;
    EVP_PKEY **own = calloc(c->nkeys + 1, sizeof(*own));
    const char **own_pass = calloc(c->nkeys + 1, sizeof(*own_pass));
    int rc;

    *written = 0;
    memset(&oo, 0, sizeof(oo));
    memset(&s, 0, sizeof(s));
    if (own == NULL || own_pass == NULL) {
        free(own);
        free(own_pass);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < c->nkeys; k++) {
        own[k] = c->keys[k].key;
        own_pass[k] = c->keys[k].encrypted ? c->key_pass : NULL;
    }
    oo.request = request;
    oo.batch_id = c->j.batch_id;
    oo.supersedes = c->j.supersedes;
    oo.force = c->o->force;
    oo.key_passout = c->passout;
    oo.p12_out = c->o->p12_out;
    oo.p12_password = c->passout != NULL ? c->passout : c->bundle_pass;
    oo.p12_legacy = c->o->p12_legacy;
    oo.own_keys = own;
    oo.own_key_passwords = own_pass;
    oo.nown = c->nkeys;
    oo.anchors = c->anchors;
    rc = outputs_build(&s, c->o->out_dir != NULL ? c->o->out_dir : ".", c->bundle, &oo);
    if (rc == 0 && c->o->out_dir != NULL) {
        rc = outputs_commit(&s, &oo);
        *written = (int)s.written;
    }
    if (rc == 0) {
        rc = make_result(c, &s, c->o->out_dir != NULL);
    }
    if (rc == 0 && c->o->out_dir != NULL) {
        /* Say, folder by folder, what was written and what was already there. */
        for (size_t i = 0; i < s.ndirs; i++) {
            trisa_buf names = TRISA_BUF_INIT;
            size_t dl = strlen(s.dirs[i]);
            trisa_enroll_event ev;
            for (size_t f = 0; f < s.n; f++) {
                const char *rel = s.f[f].rel;
                if (s.f[f].action == OUT_SKIP || strcmp(rel, POINTER_FILE) == 0 || rel[0] == '/' ||
                    (dl > 0 && (strncmp(rel, s.dirs[i], dl) != 0 || rel[dl] != '/')) ||
                    (dl == 0 && strchr(rel, '/') != NULL)) {
                    continue;
                }
                trisa_buf_printf(&names, "%s%s", names.len ? ", " : "", rel + (dl ? dl + 1 : 0));
            }
            memset(&ev, 0, sizeof(ev));
            ev.step = names.len > 0 ? TRISA_ENROLL_STEP_WROTE : TRISA_ENROLL_STEP_UNCHANGED;
            ev.path = c->res->dirs[i];
            ev.text = names.data;
            ev.index = i;
            ev.count = s.ndirs;
            ev.batch_id = c->j.batch_id;
            ctx_event(c, &ev);
            trisa_buf_free(&names, 0);
        }
        for (size_t f = 0; f < s.n; f++) {
            if (c->o->p12_out != NULL && strcmp(s.f[f].rel, c->o->p12_out) == 0) {
                if (s.f[f].action != OUT_SKIP) {
                    event(c, TRISA_ENROLL_STEP_WROTE_P12, c->j.batch_id, s.f[f].path,
                          c->o->p12_legacy ? "legacy PKCS#12 (3DES, SHA-1 MAC)"
                                           : "PKCS#12 (AES-256-CBC, SHA-256 MAC)");
                }
            }
        }
    }
    outputs_free(&s);
    free(own);
    free(own_pass);
    return rc;
}

/* The certificate beside its key on the token (same id and label), and the issuing CAs
 * beside it, so that a server loading the certificate from the token can send the chain.
 * The files are written by then: the message says so; a rerun stores what is missing. */
static int store_on_token(ctx *c)
{
    const STACK_OF(X509) *chain = trisa_bundle_chain(c->bundle, 0);
    char *uri = NULL;
    int rc;
    if (c->hsm == NULL) {
        return 0;
    }
    rc = trisa_hsm_store_certificate(&uri, c->hsm, trisa_bundle_leaf(c->bundle, 0));
    if (rc == 0) {
        event(c, TRISA_ENROLL_STEP_STORED, c->j.batch_id, uri, trisa_hsm_token_label(c->hsm));
    }
    for (int i = 0; rc == 0 && i < sk_X509_num(chain); i++) {
        int added = 0;
        free(uri);
        uri = NULL;
        rc = trisa_hsm_store_ca_certificate(&uri, &added, c->hsm, sk_X509_value(chain, i));
        if (rc == 0) {
            trisa_enroll_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.step = TRISA_ENROLL_STEP_STORED_CA;
            ev.batch_id = c->j.batch_id;
            ev.path = uri;
            ev.text = trisa_hsm_token_label(c->hsm);
            ev.index = (size_t)i;
            ev.count = added ? 1 : 0;
            ctx_event(c, &ev);
        }
    }
    free(uri);
    if (rc != 0 && c->o->out_dir != NULL) {
        char msg[1024];
        set_str(msg, sizeof(msg), trisa_error_last());
        return trisa_error_set(rc, "%s; the PEM files in %s are written", msg, c->o->out_dir);
    }
    return rc;
}

/* ---- The journal's result file ---- */

/* result.pem: the leaves in identity order, then their chains and roots, once each. Read
 * back as a PEM member, the bundle resolves to the same identities in the same order. */
static int record_result(ctx *c)
{
    trisa_buf b = TRISA_BUF_INIT;
    STACK_OF(X509) *seen = sk_X509_new_null();
    size_t n = trisa_bundle_identity_count(c->bundle);
    char *path = entry_path(&c->e, "result.pem");
    int rc = 0;

    if (seen == NULL || path == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            X509 *certs[34];
            size_t m = 0;
            if (pass == 0) {
                certs[m++] = trisa_bundle_leaf(c->bundle, i);
            } else {
                const STACK_OF(X509) *chain = trisa_bundle_chain(c->bundle, i);
                for (int k = 0; k < sk_X509_num(chain) && m < 33; k++) {
                    certs[m++] = sk_X509_value(chain, k);
                }
                if (trisa_bundle_root(c->bundle, i) != NULL) {
                    certs[m++] = trisa_bundle_root(c->bundle, i);
                }
            }
            for (size_t k = 0; k < m; k++) {
                int dup = 0;
                for (int s = 0; s < sk_X509_num(seen); s++) {
                    dup |= X509_cmp(sk_X509_value(seen, s), certs[k]) == 0;
                }
                if (dup) {
                    continue;
                }
                sk_X509_push(seen, certs[k]);
                if ((rc = trisa_buf_put_cert_pem(&b, certs[k])) != 0) {
                    break;
                }
            }
        }
    }
    if (rc == 0 && b.failed) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        rc = trisa_file_write_atomic(path, b.data, b.len, 0600, TRISA_WRITE_REPLACE);
    }
    if (rc == 0) {
        c->j.state = ST_VERIFIED;
        c->j.bundle_key = trisa_bundle_has_bundle_key(c->bundle, 0);
        c->j.error[0] = '\0';
        rc = journal_save(&c->j, c->journal_path);
    }
done:
    sk_X509_free(seen);
    free(path);
    trisa_buf_free(&b, 0);
    return rc;
}

static int load_result(ctx *c)
{
    char *path = entry_path(&c->e, "result.pem");
    int rc;
    if (path == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    trisa_free_secret(c->zip, c->zip_len);
    free(c->zip_name);
    c->zip = NULL;
    c->zip_name = strdup("result.pem");
    rc = trisa_file_read(&c->zip, &c->zip_len, path, 4u * 1024u * 1024u);
    if (rc != 0) {
        rc = trisa_error_set(TRISA_ESTATE,
                             "%s: the journal says the result was verified but it cannot be read "
                             "(%s); move %s away to fetch the batch again",
                             path, trisa_error_last(), c->e.dir);
    }
    free(path);
    return rc;
}

/* ---- trisa-fetch.state of earlier versions ---- */

/* An out-dir of an earlier trisa-fetch holds a state file per folder: move what it knows
 * into the journal (its own request's entry), so that its upload is never repeated. */
static int import_old_state(ctx *c, int *ours)
{
    trisa_buf path = TRISA_BUF_INIT;
    unsigned char *data = NULL;
    size_t len = 0;
    char sha[65] = "", ep[1024] = "", status[64] = "", phase[32] = "";
    long long profile = 0, batch = 0;
    long v = 0;
    char key[65];
    entry e;
    journal j;
    char *jpath = NULL;
    int rc = 0;

    *ours = 0;
    if (c->o->out_dir == NULL) {
        return 0;
    }
    trisa_buf_printf(&path, "%s/%s", c->o->out_dir, OLD_STATE_FILE);
    if (path.data == NULL || trisa_file_read(&data, &len, path.data, 64 * 1024) != 0) {
        trisa_error_clear();
        trisa_buf_free(&path, 0);
        return 0;
    }
    for (char *line = (char *)data, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (strncmp(line, "csr_sha256=", 11) == 0) {
            set_str(sha, sizeof(sha), line + 11);
        } else if (strncmp(line, "endpoint=", 9) == 0) {
            set_str(ep, sizeof(ep), line + 9);
        } else if (strncmp(line, "profile=", 8) == 0) {
            profile = trisa_parse_long(line + 8, 1, 0x7fffffffL, &v) == 0 ? v : 0;
        } else if (strncmp(line, "batch_id=", 9) == 0) {
            batch = trisa_parse_long(line + 9, 1, 0x7fffffffL, &v) == 0 ? v : 0;
        } else if (strncmp(line, "status=", 7) == 0) {
            set_str(status, sizeof(status), line + 7);
        } else if (strncmp(line, "phase=", 6) == 0) {
            set_str(phase, sizeof(phase), line + 6);
        }
    }
    free(data);
    if (strlen(sha) != 64 || ep[0] == '\0' || profile <= 0 || phase[0] == '\0') {
        ctx_warn(c, "%s: not a state file this version understands; left alone", path.data);
        trisa_buf_free(&path, 0);
        return 0;
    }
    entry_key_csr(key, ep, profile, sha);
    *ours = c->ncsrs > 0 && strcmp(sha, c->csr_sha256) == 0 && strcmp(ep, c->endpoint) == 0 &&
            profile == c->o->profile_id;
    if ((rc = entry_init(&e, c->state_dir, key)) != 0) {
        trisa_buf_free(&path, 0);
        return rc;
    }
    if ((rc = entry_create(&e, c->state_dir, NULL, NULL)) == 0 &&
        (rc = entry_lock(&e, 0, c->deadline_ms, NULL, NULL)) == 0 &&
        (jpath = entry_path(&e, "journal")) != NULL) {
        rc = journal_load(&j, jpath);
        if (rc == TRISA_ENOTFOUND) {
            trisa_error_clear();
            journal_init(&j, KIND_CSR, ep);
            j.profile = profile;
            memcpy(j.csr_sha256, sha, sizeof(sha));
            set_str(j.status, sizeof(j.status), status);
            j.batch_id = batch;
            if (strcmp(phase, "uploading") == 0 && batch <= 0) {
                j.state = ST_SENT;
                j.attempt = 1;
            } else if (strcmp(phase, "rejected") == 0 && batch > 0) {
                j.state = ST_REJECTED;
            } else if (batch > 0) {
                j.state = ST_UPLOADED; /* "done" too: fetched again, the files compared */
            } else {
                j.state = ST_NONE;
            }
            if (*ours && c->ncsrs > 0) {
                set_str(j.name, sizeof(j.name), trisa_csr_common_name(c->csrs[0].csr));
            }
            rc = journal_save(&j, jpath);
        }
        if (rc == 0) {
            unlink(path.data);
            ctx_warn(c, "%s (of an earlier trisa-fetch) moved into the journal %s", path.data,
                     e.dir);
        }
    }
    free(jpath);
    entry_close(&e);
    trisa_buf_free(&path, 0);
    return rc;
}

/* Before anything is sent: files in the out-dir that this request did not write stop the
 * run now (nothing to compare them with yet), not after a licence was spent. */
static int precheck_outputs(ctx *c, const char *request, int old_state_ours)
{
    static const char *const names[] = {"cert.pem", "chain.pem", "fullchain.pem", "root.pem",
                                        "pool.pem", "node.pem",  "key.pem"};
    pointer p;
    int have_ptr, rc = 0;
    if (c->o->out_dir == NULL || c->o->force || old_state_ours) {
        return 0;
    }
    have_ptr = pointer_load(&p, c->o->out_dir) == 0;
    if (!have_ptr || strcmp(p.request, request) != 0) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            trisa_buf path = TRISA_BUF_INIT;
            struct stat st;
            trisa_buf_printf(&path, "%s/%s", c->o->out_dir, names[i]);
            if (path.data != NULL && lstat(path.data, &st) == 0) {
                rc = trisa_error_set(TRISA_EEXISTS,
                                     "%s exists and this request did not write it; nothing sent "
                                     "(use another folder, or force to replace)",
                                     path.data);
            }
            trisa_buf_free(&path, 0);
            if (rc != 0) {
                break;
            }
        }
    }
    if (have_ptr) {
        pointer_free(&p);
    }
    return rc;
}

/* ---- A request done before, its folder intact ---- */

static int pointer_lists(const pointer *p, const char *rel)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], rel) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The leaf carries the key given, else a CSR's key (nothing given: the server's key). */
static int carries_operator_key(const ctx *c, X509 *x)
{
    EVP_PKEY *pub = X509_get0_pubkey(x);
    int ok = c->nkeys == 0 && c->ncsrs == 0;
    for (size_t k = 0; pub != NULL && !ok && k < c->nkeys; k++) {
        ok = EVP_PKEY_eq(pub, c->keys[k].key) == 1;
    }
    for (size_t k = 0; pub != NULL && !ok && c->nkeys == 0 && k < c->ncsrs; k++) {
        ok = EVP_PKEY_eq(pub, c->csrs[k].pub) == 1;
    }
    ERR_clear_error();
    return ok;
}

/* The result, from the files of an intact folder. */
static int result_from_files(ctx *c, const out_set *s, long long batch)
{
    trisa_enroll_result *r = calloc(1, sizeof(*r));
    int ok = r != NULL && (r->leaves = calloc(s->ndirs, sizeof(*r->leaves))) != NULL &&
             (r->pem = calloc(s->ndirs, sizeof(*r->pem))) != NULL &&
             (r->dirs = calloc(s->ndirs, sizeof(*r->dirs))) != NULL;
    if (ok) {
        r->n = s->ndirs;
        r->batch_id = batch;
        r->already = 1;
    }
    for (size_t i = 0; ok && i < s->ndirs; i++) {
        size_t dl = strlen(s->dirs[i]);
        trisa_buf dir = TRISA_BUF_INIT;
        trisa_buf_printf(&dir, "%s%s%s", s->root, dl ? "/" : "", s->dirs[i]);
        ok = (r->dirs[i] = trisa_buf_detach(&dir, NULL)) != NULL;
        for (size_t f = 0; f < s->n && ok; f++) {
            const char *rel = s->f[f].rel, *base = rel + (dl ? dl + 1 : 0);
            if ((dl > 0 && (strncmp(rel, s->dirs[i], dl) != 0 || rel[dl] != '/')) ||
                (dl == 0 && strchr(rel, '/') != NULL)) {
                continue;
            }
            for (int k = 0; k < 5; k++) {
                if (strcmp(base, pem_names[k]) == 0) {
                    ok = (r->pem[i][k] = strndup((const char *)s->f[f].data, s->f[f].len)) != NULL;
                }
            }
            if (ok && strcmp(base, "cert.pem") == 0) {
                BIO *bio = BIO_new_mem_buf(s->f[f].data, (int)s->f[f].len);
                r->leaves[i] = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
                BIO_free(bio);
                ok = r->leaves[i] != NULL;
            }
        }
    }
    if (!ok) {
        trisa_enroll_result_free(r);
        return 0;
    }
    trisa_enroll_result_free(c->res);
    c->res = r;
    return 1;
}

/* The folder's pointer names this request and batch, every file it lists is there with
 * its recorded SHA-256, every output this run would make is among them and no leaf is
 * out of its validity: then there is nothing to do, and nothing is loaded, locked or
 * written. Returns 1 when so. */
static int fast_done(ctx *c, const char *request, long long batch)
{
    const trisa_enroll_options *o = c->o;
    static const char *const needed[] = {"chain.pem", "fullchain.pem", "pool.pem", "node.pem"};
    out_set s;
    pointer p;
    time_t at = o->at != 0 ? o->at : time(NULL);
    int ok = 0;

    /* A token would have to be opened to bind the files to its key: the full path does. */
    if (o->out_dir == NULL || o->dry_run || o->pkcs11_uri != NULL ||
        pointer_load(&p, o->out_dir) != 0) {
        return 0;
    }
    memset(&s, 0, sizeof(s));
    if (o->key_count > 0 && preflight_keys(c) != 0) {
        trisa_error_clear();
        goto done; /* the full path reports it */
    }
    if (strcmp(p.request, request) != 0 || p.batch_id != batch ||
        (o->p12_out != NULL && !pointer_lists(&p, o->p12_out)) ||
        (s.root = strdup(o->out_dir)) == NULL ||
        (s.dirs = calloc(p.n + 1, sizeof(*s.dirs))) == NULL ||
        (s.f = calloc(p.n + 1, sizeof(*s.f))) == NULL) {
        goto done;
    }
    for (size_t i = 0; i < p.n; i++) {
        out_file *f = &s.f[s.n++];
        trisa_buf path = TRISA_BUF_INIT;
        char sha[65];
        unsigned char md[32];
        f->secret = 1;
        if ((f->rel = strdup(p.names[i])) == NULL) {
            goto done;
        }
        if (p.names[i][0] == '/' || (o->p12_out != NULL && strcmp(p.names[i], o->p12_out) == 0)) {
            trisa_buf_puts(&path, p.names[i]);
        } else {
            trisa_buf_printf(&path, "%s/%s", o->out_dir, p.names[i]);
        }
        f->path = trisa_buf_detach(&path, NULL);
        if (f->path == NULL ||
            trisa_file_read(&f->data, &f->len, f->path, 4u * 1024u * 1024u) != 0) {
            trisa_error_clear();
            goto done;
        }
        EVP_Digest(f->data, f->len, md, NULL, EVP_sha256(), NULL);
        trisa_hex(sha, md, sizeof(md), 0);
        if (strcmp(sha, p.hashes[i]) != 0) {
            goto done;
        }
    }
    /* Each identity (a cert.pem) with its whole set, its leaf valid now (or at `at`). */
    for (size_t i = 0; i < s.n; i++) {
        const char *rel = s.f[i].rel, *slash = strrchr(rel, '/');
        size_t dl = slash != NULL ? (size_t)(slash - rel) : 0;
        BIO *bio;
        X509 *x;
        if (rel[0] == '/' || strcmp(slash != NULL ? slash + 1 : rel, "cert.pem") != 0) {
            continue;
        }
        if ((s.dirs[s.ndirs] = strndup(rel, dl)) == NULL) {
            goto done;
        }
        s.ndirs++;
        for (size_t k = 0; k < sizeof(needed) / sizeof(needed[0]); k++) {
            trisa_buf want = TRISA_BUF_INIT;
            int listed;
            trisa_buf_printf(&want, "%.*s%s%s", (int)dl, rel, dl ? "/" : "", needed[k]);
            listed = want.data != NULL && pointer_lists(&p, want.data);
            trisa_buf_free(&want, 0);
            if (!listed) {
                goto done;
            }
        }
        bio = BIO_new_mem_buf(s.f[i].data, (int)s.f[i].len);
        x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ok = x != NULL && X509_cmp_time(X509_get0_notAfter(x), &at) > 0 &&
             X509_cmp_time(X509_get0_notBefore(x), &at) <= 0 && carries_operator_key(c, x);
        X509_free(x);
        ERR_clear_error();
        if (!ok) {
            goto done; /* the full path says what is wrong with it */
        }
    }
    ok = s.ndirs > 0 && result_from_files(c, &s, batch);
    if (ok) {
        for (size_t i = 0; i < c->res->n; i++) {
            trisa_enroll_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.step = TRISA_ENROLL_STEP_UNCHANGED;
            ev.path = c->res->dirs[i];
            ev.index = i;
            ev.count = c->res->n;
            ev.batch_id = batch;
            ctx_event(c, &ev);
        }
        event(c, TRISA_ENROLL_STEP_DONE, batch, o->out_dir, "already issued");
    }
done:
    outputs_free(&s);
    pointer_free(&p);
    return ok;
}

/* ---- Runs ---- */

static void on_waiting(long pid, void *data)
{
    ctx *c = data;
    char text[256];
    if (pid > 0) {
        snprintf(text, sizeof(text),
                 "another process (pid %ld) is working on this request: "
                 "waiting for it",
                 pid);
    } else {
        snprintf(text, sizeof(text), "another process is working on this request: waiting for it");
    }
    event(c, TRISA_ENROLL_STEP_WAITING, c->j.batch_id, c->e.dir, text);
}

static void dry_run_text(ctx *c, trisa_buf *b)
{
    const trisa_enroll_options *o = c->o;
    if (o->source == TRISA_ENROLL_FROM_CSR) {
        trisa_buf_printf(b, "would upload %s (%zu request%s:", c->csr_label, c->ncsrs,
                         c->ncsrs == 1 ? "" : "s");
        for (size_t i = 0; i < c->ncsrs; i++) {
            trisa_buf_printf(b, "%s CN %s", i ? "," : "", trisa_csr_common_name(c->csrs[i].csr));
        }
        trisa_buf_printf(b, "; SHA-256 %s) to %s at %s as %s", c->csr_sha256,
                         c->profile_info[0] ? c->profile_info : "the profile", c->endpoint,
                         o->username != NULL ? o->username : "(cached token)");
        if (c->j.state == ST_UPLOADED || c->j.state == ST_VERIFIED ||
            (c->j.state == ST_DONE && !o->new_request)) {
            b->len = 0;
            b->data[0] = '\0';
            trisa_buf_printf(b, "would not upload %s: it is batch %lld (%s) already", c->csr_label,
                             c->j.batch_id, journal_state_name(c->j.state));
        } else if (c->j.state == ST_SENT && !o->force_upload) {
            b->len = 0;
            b->data[0] = '\0';
            trisa_buf_printf(b, "would not upload %s: an earlier upload's outcome is unknown",
                             c->csr_label);
        }
    } else if (o->source == TRISA_ENROLL_FROM_BATCH) {
        trisa_buf_printf(b, "would follow and download batch %lld at %s", o->batch_id, c->endpoint);
    } else {
        trisa_buf_printf(b, "would write %s", c->zip_name);
    }
    if (c->nkeys > 0 || c->token_key != NULL) {
        trisa_buf_printf(
            b, "; the certificate must carry %s%s", c->nkeys > 0 ? c->keys[0].path : "",
            c->token_key != NULL ? (c->nkeys > 0 ? " or the token key" : "the token key") : "");
    }
    if (o->out_dir != NULL) {
        trisa_buf_printf(b, "; outputs in %s", o->out_dir);
    }
    if (c->e.dir != NULL && o->source != TRISA_ENROLL_FROM_BUNDLE) {
        trisa_buf_printf(b, "; journal %s", c->e.dir);
    }
}

static int finish(ctx *c, const char *request, int was_done)
{
    int written = 0, rc;
    if ((rc = write_outputs(c, request, &written)) != 0) {
        return rc;
    }
    if (!was_done && (rc = store_on_token(c)) != 0) {
        return rc;
    }
    /* Done, and where: saved only when that changes (a rerun of a done request writes
     * nothing at all). */
    if (c->have_entry && (c->j.state != ST_DONE ||
                          (c->o->out_dir != NULL && strcmp(c->j.out_dir, c->o->out_dir) != 0))) {
        c->j.state = ST_DONE;
        if (c->j.done_at == 0) {
            c->j.done_at = (long long)time(NULL);
        }
        if (c->o->out_dir != NULL) {
            set_str(c->j.out_dir, sizeof(c->j.out_dir), c->o->out_dir);
        }
        if ((rc = journal_save(&c->j, c->journal_path)) != 0) {
            return rc;
        }
    }
    /* A request done before, or a bundle whose files are all in place already. */
    c->res->already = (was_done || c->o->source == TRISA_ENROLL_FROM_BUNDLE) && written == 0 &&
                      c->o->out_dir != NULL;
    event(c, TRISA_ENROLL_STEP_DONE, c->j.batch_id, c->o->out_dir,
          c->res->already ? "already issued"
          : was_done      ? "issued earlier"
                          : "issued");
    return 0;
}

static int run_bundle(ctx *c)
{
    char sha[65], request[65], text[200];
    unsigned char md[32];
    trisa_buf b = TRISA_BUF_INIT;
    int rc;

    EVP_Digest(c->zip, c->zip_len, md, NULL, EVP_sha256(), NULL);
    trisa_hex(sha, md, sizeof(md), 0);
    snprintf(text, sizeof(text), "trisa-enroll/bundle\n%s", sha);
    EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
    trisa_hex(request, md, sizeof(md), 0);
    if (fast_done(c, request, 0)) {
        return 0;
    }
    if ((rc = preflight_local(c)) != 0 || (rc = preflight_token(c)) != 0 ||
        (rc = open_bundle(c)) != 0 || (rc = verify_all(c)) != 0) {
        return rc;
    }
    if (c->o->dry_run) {
        dry_run_text(c, &b);
        event(c, TRISA_ENROLL_STEP_DRY_RUN, 0, c->o->out_dir, b.data);
        trisa_buf_free(&b, 0);
        return 0;
    }
    return finish(c, request, 0);
}

/* The journal belongs to this request (a tampered or colliding one is not used). */
static int journal_matches(const ctx *c)
{
    const journal *j = &c->j;
    if (strcmp(j->endpoint, c->endpoint) != 0) {
        return 0;
    }
    if (c->o->source == TRISA_ENROLL_FROM_CSR) {
        return j->kind == KIND_CSR && j->profile == c->o->profile_id &&
               strcmp(j->csr_sha256, c->csr_sha256) == 0;
    }
    return j->kind == KIND_BATCH && j->batch_id == c->o->batch_id;
}

static int read_journal(ctx *c)
{
    int rc = journal_load(&c->j, c->journal_path);
    if (rc == TRISA_ENOTFOUND) {
        trisa_error_clear();
        journal_init(&c->j, c->o->source == TRISA_ENROLL_FROM_CSR ? KIND_CSR : KIND_BATCH,
                     c->endpoint);
        if (c->o->source == TRISA_ENROLL_FROM_CSR) {
            pointer p;
            c->j.profile = c->o->profile_id;
            memcpy(c->j.csr_sha256, c->csr_sha256, sizeof(c->csr_sha256));
            set_str(c->j.name, sizeof(c->j.name), trisa_csr_common_name(c->csrs[0].csr));
            /* No journal (another user's state directory, one on a disk not mounted), but
             * the out-dir says this request was issued as batch N: never upload again;
             * continue that batch. */
            if (c->o->out_dir != NULL && pointer_load(&p, c->o->out_dir) == 0) {
                if (strcmp(p.request, c->e.key) == 0 && p.batch_id > 0) {
                    c->j.state = ST_UPLOADED;
                    c->j.batch_id = p.batch_id;
                    if (!c->adopted) {
                        ctx_warn(c,
                                 "no journal of this request in %s, but %s/%s names its batch "
                                 "%lld: continuing that batch, uploading nothing",
                                 c->state_dir, c->o->out_dir, POINTER_FILE, p.batch_id);
                    }
                    c->adopted = 1;
                }
                pointer_free(&p);
            }
        } else {
            c->j.batch_id = c->o->batch_id;
            c->j.state = ST_UPLOADED; /* the batch exists: follow it */
        }
        return 0;
    }
    if (rc == 0 && !journal_matches(c)) {
        rc = trisa_error_set(TRISA_ESTATE,
                             "%s belongs to another request (endpoint %s); move it away",
                             c->journal_path, c->j.endpoint);
    }
    return rc;
}

/* A journal entry done (or rejected) becomes history; the request starts again. */
static int supersede(ctx *c)
{
    char name[64];
    char *from, *to;
    long long old = c->j.batch_id;
    int gen = c->j.generation;

    snprintf(name, sizeof(name), "journal.%d", gen);
    from = entry_path(&c->e, "journal");
    to = entry_path(&c->e, name);
    if (from == NULL || to == NULL || rename(from, to) != 0) {
        int e = errno;
        free(from);
        free(to);
        return trisa_error_set(TRISA_EIO, "%s: cannot keep the earlier request: %s", c->e.dir,
                               strerror(e));
    }
    free(from);
    free(to);
    snprintf(name, sizeof(name), "result.%d.pem", gen);
    from = entry_path(&c->e, "result.pem");
    to = entry_path(&c->e, name);
    if (from != NULL && to != NULL) {
        (void)rename(from, to);
    }
    free(from);
    free(to);
    {
        journal fresh;
        journal_init(&fresh, KIND_CSR, c->endpoint);
        fresh.profile = c->j.profile;
        memcpy(fresh.csr_sha256, c->j.csr_sha256, sizeof(fresh.csr_sha256));
        memcpy(fresh.name, c->j.name, sizeof(fresh.name));
        fresh.generation = gen + 1;
        fresh.supersedes = old;
        c->j = fresh;
    }
    event(c, TRISA_ENROLL_STEP_SUPERSEDING, old, c->e.dir, NULL);
    return 0;
}

static int will_upload(const ctx *c)
{
    const trisa_enroll_options *o = c->o;
    if (o->source != TRISA_ENROLL_FROM_CSR) {
        return 0;
    }
    switch (c->j.state) {
    case ST_NONE:
        return 1;
    case ST_SENT:
        return o->force_upload;
    case ST_DONE:
    case ST_REJECTED:
        return o->new_request;
    default:
        return 0;
    }
}

static int needs_network(const ctx *c)
{
    if (c->j.state == ST_VERIFIED || (c->j.state == ST_DONE && !c->o->new_request)) {
        return c->j.bundle_key; /* the key is not kept: download again */
    }
    return !(c->j.state == ST_REJECTED && !c->o->new_request);
}

static int run_online(ctx *c)
{
    const trisa_enroll_options *o = c->o;
    int old_ours = 0, uploaded_here = 0, rc, was_done;
    char key[65];

    if (o->source == TRISA_ENROLL_FROM_CSR) {
        entry_key_csr(key, c->endpoint, o->profile_id, c->csr_sha256);
    } else {
        entry_key_batch(key, c->endpoint, o->batch_id);
    }
    if ((rc = trisa_enroll_state_dir(&c->state_dir, o->state_dir)) != 0 ||
        (rc = entry_init(&c->e, c->state_dir, key)) != 0) {
        return rc;
    }
    if ((c->journal_path = entry_path(&c->e, "journal")) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (o->source == TRISA_ENROLL_FROM_CSR && !o->dry_run &&
        (rc = import_old_state(c, &old_ours)) != 0) {
        return rc;
    }
    /* A first look, without the lock, decides what must be checked. */
    if ((rc = read_journal(c)) != 0) {
        return rc;
    }
    if ((c->j.state == ST_DONE || c->adopted) && !o->new_request &&
        fast_done(c, key, c->j.batch_id)) {
        return 0;
    }
    /* Before a licence is spent, a folder holding someone else's files stops the run; once
     * it is spent, the files are compared with the result instead. */
    if ((rc = preflight_local(c)) != 0 ||
        (will_upload(c) && (rc = precheck_outputs(c, key, old_ours)) != 0)) {
        return rc;
    }
    /* A request already done, or rejected, needs neither the token nor the server. */
    if (!(c->j.state == ST_DONE && !o->new_request && !c->j.bundle_key) &&
        !(c->j.state == ST_REJECTED && !o->new_request) && (rc = preflight_token(c)) != 0) {
        return rc;
    }
    if (needs_network(c) && (rc = preflight_server(c, will_upload(c))) != 0) {
        return rc;
    }
    event(c, TRISA_ENROLL_STEP_CHECKED, c->j.batch_id, NULL, NULL);
    if (o->dry_run) {
        trisa_buf b = TRISA_BUF_INIT;
        dry_run_text(c, &b);
        event(c, TRISA_ENROLL_STEP_DRY_RUN, c->j.batch_id, o->out_dir, b.data);
        trisa_buf_free(&b, 0);
        return 0;
    }

    /* The lock, then the journal again: another process may have moved it on. */
    if ((rc = entry_create(&c->e, c->state_dir, o->warn, o->data)) != 0 ||
        (rc = entry_lock(&c->e, o->no_wait, c->deadline_ms, on_waiting, c)) != 0) {
        return rc;
    }
    c->have_entry = 1;
    {
        const char *names[] = {"journal", "result.pem"};
        trisa_file_clean_temps(c->e.dir, names, 2, 0);
    }
    if ((rc = read_journal(c)) != 0) {
        return rc;
    }
    was_done = c->j.state == ST_DONE && !o->new_request;
    if ((c->j.state == ST_DONE || c->j.state == ST_REJECTED) && o->new_request &&
        (rc = supersede(c)) != 0) {
        return rc;
    }
    for (;;) {
        switch (c->j.state) {
        case ST_NONE:
        case ST_SENT:
            if (o->source != TRISA_ENROLL_FROM_CSR) {
                c->j.state = ST_UPLOADED;
                continue;
            }
            if (c->j.state == ST_SENT && !o->force_upload) {
                return online_unknown(c);
            }
            /* The first look may have seen a later state: check what an upload needs. */
            if ((rc = preflight_token(c)) != 0 || (rc = preflight_server(c, 1)) != 0 ||
                (rc = online_upload(c)) != 0) {
                return rc;
            }
            uploaded_here = 1;
            continue;
        case ST_UPLOADED:
            if (!uploaded_here && o->source == TRISA_ENROLL_FROM_CSR) {
                event(c, TRISA_ENROLL_STEP_CONTINUING, c->j.batch_id, c->e.dir, c->j.status);
            }
            if ((rc = preflight_token(c)) != 0 || (rc = preflight_server(c, 0)) != 0 ||
                (rc = online_follow(c, c->j.batch_id)) != 0 ||
                (rc = online_download(c, c->j.batch_id)) != 0 || (rc = open_bundle(c)) != 0 ||
                (rc = verify_all(c)) != 0 || (rc = record_result(c)) != 0) {
                if (rc != TRISA_EPENDING && rc != TRISA_EREJECTED && c->j.state == ST_UPLOADED) {
                    char msg[512];
                    set_str(msg, sizeof(msg), trisa_error_last());
                    set_str(c->j.error, sizeof(c->j.error), msg);
                    if (journal_save(&c->j, c->journal_path) != 0) {
                        trisa_error_set(rc, "%s", msg);
                    }
                }
                return rc;
            }
            return finish(c, key, 0);
        case ST_VERIFIED:
        case ST_DONE:
            if (c->j.bundle_key) {
                /* The bundle's key is not kept in the journal: download it again. */
                if ((rc = preflight_server(c, 0)) != 0 ||
                    (rc = online_download(c, c->j.batch_id)) != 0) {
                    return rc;
                }
            } else if ((rc = load_result(c)) != 0) {
                return rc;
            }
            if ((rc = preflight_token(c)) != 0 || (rc = open_bundle(c)) != 0 ||
                (rc = verify_all(c)) != 0) {
                return rc;
            }
            return finish(c, key, was_done);
        case ST_REJECTED:
            return trisa_error_set(TRISA_EREJECTED,
                                   "batch %lld of this request was %s%s%s; nothing sent again "
                                   "(a corrected CSR is a new request; new_request uploads this "
                                   "one again)",
                                   c->j.batch_id, c->j.status[0] ? c->j.status : "rejected",
                                   c->j.reason[0] ? ": " : "", c->j.reason);
        }
        return trisa_error_set(TRISA_ESTATE, "%s: unexpected state", c->journal_path);
    }
}

static void ctx_free(ctx *c)
{
    for (size_t i = 0; i < c->ncsrs; i++) {
        trisa_csr_free(c->csrs[i].csr);
    }
    free(c->csrs);
    /* the bundle holds references to the keys, the token's among them: free it first */
    trisa_bundle_free(c->bundle);
    for (size_t i = 0; i < c->nkeys; i++) {
        EVP_PKEY_free(c->keys[i].key);
        free(c->keys[i].path);
    }
    free(c->keys);
    EVP_PKEY_free(c->token_key);
    free(c->token_uri);
    trisa_hsm_free(c->hsm);
    trisa_secret_free(c->key_pass);
    trisa_secret_free(c->bundle_pass);
    trisa_secret_free(c->passout);
    sk_X509_pop_free(c->anchors, X509_free);
    trisa_sectigo_free(c->client);
    entry_close(&c->e);
    free(c->journal_path);
    free(c->state_dir);
    free(c->endpoint);
    free(c->csr_bytes);
    trisa_free_secret(c->zip, c->zip_len);
    free(c->zip_name);
    trisa_enroll_result_free(c->res);
}

int trisa_enroll_run(trisa_enroll_result **out, const trisa_enroll_options *opts)
{
    ctx c;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    memset(&c, 0, sizeof(c));
    c.e.lock_fd = -1;
    c.o = opts;
    if ((rc = check_options(opts)) != 0) {
        return rc;
    }
    c.start_ms = mono_ms();
    if (opts->timeout_s >= 0) {
        c.deadline_ms =
            c.start_ms +
            (long long)(opts->timeout_s > 0 ? opts->timeout_s : DEFAULT_TIMEOUT_S) * 1000;
    }
    if ((c.endpoint = normalise_endpoint(opts->endpoint)) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    } else if ((rc = preflight_request(&c)) == 0) {
        rc = opts->source == TRISA_ENROLL_FROM_BUNDLE ? run_bundle(&c) : run_online(&c);
    }
    if (rc == 0 && out != NULL && c.res != NULL) {
        *out = c.res;
        c.res = NULL;
    }
    ctx_free(&c);
    return rc;
}
