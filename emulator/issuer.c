/*
 * Issuing accepted CSR batches. The upload records a batch with its CSRs and takes its
 * licences in one transaction; this makes the certificates and stores them, the ZIP and
 * the "issued" mark in a second one. Small batches are issued by the request's own
 * thread before the reply; larger ones by one background thread, so a 1,000-CSR upload
 * holds a worker for the parsing only. A batch left pending by a stop or a kill is
 * issued at the next start. The fault path "@issue" reaches this step (a delay holds it,
 * a status fails the batch), so tests can stop the server in the middle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "emulator/emu.h"

static char *pem_chain(X509 *leaf, X509 *issuing, X509 *root, size_t *len)
{
    trisa_buf b = TRISA_BUF_INIT;

    if (trisa_buf_put_cert_pem(&b, leaf) != 0 || trisa_buf_put_cert_pem(&b, issuing) != 0 ||
        trisa_buf_put_cert_pem(&b, root) != 0) {
        trisa_buf_free(&b, 0);
        return NULL;
    }
    return trisa_buf_detach(&b, len);
}

static unsigned char *der_of(X509 *x, size_t *len)
{
    unsigned char *der = NULL, *out;
    int n = i2d_X509(x, &der);

    if (n <= 0) {
        return NULL;
    }
    out = malloc((size_t)n);
    if (out != NULL) {
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(der);
    return out;
}

/* PKCS#7 certs-only (DER) with the leaf and its chain. */
static unsigned char *p7b_of(X509 *leaf, X509 *issuing, X509 *root, size_t *len)
{
    PKCS7 *p7 = PKCS7_new();
    unsigned char *der = NULL, *out = NULL;
    int n;

    if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
        !PKCS7_content_new(p7, NID_pkcs7_data) || !PKCS7_add_certificate(p7, leaf) ||
        !PKCS7_add_certificate(p7, issuing) || !PKCS7_add_certificate(p7, root) ||
        (n = i2d_PKCS7(p7, &der)) <= 0) {
        PKCS7_free(p7);
        return NULL;
    }
    out = malloc((size_t)n);
    if (out != NULL) {
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(der);
    PKCS7_free(p7);
    return out;
}

static char *common_name(const X509_NAME *n)
{
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    const ASN1_STRING *s;
    unsigned char *utf8 = NULL;
    char *out;
    int len;

    if (i < 0) {
        return strdup("");
    }
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len < 0) {
        return strdup("");
    }
    out = malloc((size_t)len + 1);
    if (out != NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
    }
    OPENSSL_free(utf8);
    return out;
}

typedef struct issued {
    emu_cert *certs;
    emu_zip_member *m;
    size_t n, nm;
} issued;

static void issued_free(issued *is, size_t cap)
{
    for (size_t i = 0; is->m != NULL && i < cap; i++) {
        free(is->m[i].name);
        free(is->m[i].data);
    }
    free(is->m);
    for (size_t i = 0; is->certs != NULL && i < is->n; i++) {
        free(is->certs[i].common_name);
    }
    free(is->certs);
}

/* The ZIP member of one leaf: leaf + chain in PEM, the leaf alone in DER (the CAs follow
 * as their own members), or PKCS#7 with leaf + chain. */
static unsigned char *member_data(trisa_emu *e, const emu_profile *p, X509 *leaf, size_t *len)
{
    if (p->csr_format == EMU_CSR_DER) {
        return der_of(leaf, len);
    } else if (p->csr_format == EMU_CSR_P7B) {
        return p7b_of(leaf, e->ca.issuing, e->ca.root, len);
    }
    return (unsigned char *)pem_chain(leaf, e->ca.issuing, e->ca.root, len);
}

/* Two CSRs with one common name get name-2.pem, name-3.pem, ...: the suffix starts at
 * the count of earlier certificates of that name, so a batch of 1,000 copies of one CSR
 * costs n^2 comparisons, not n^3. */
static char *unique_name(const issued *is, const char *base, const char *ext)
{
    char fname[300];
    int dup = 0;

    for (size_t j = 0; j + 1 < is->n; j++) {
        dup += strcmp(is->certs[j].common_name, base) == 0;
    }
    for (;; dup++) {
        int clash = 0;
        emu_member_name(fname, sizeof(fname), base, ext, dup);
        for (size_t j = 0; j < is->nm && !clash; j++) {
            clash = strcmp(is->m[j].name, fname) == 0;
        }
        if (!clash) {
            return strdup(fname);
        }
    }
}

/* One certificate for CSR i. 0, -1 on a failure to issue (message recorded), 1 when
 * the server is stopping. */
static int issue_one(trisa_emu *e, const emu_profile *p, const emu_blob *der, issued *is)
{
    const unsigned char *d = der->data;
    X509_REQ *req = d2i_X509_REQ(NULL, &d, (long)der->len);
    X509 *leaf = NULL;
    char **dns = NULL;
    size_t ndns = 0, i = is->n;
    const char *ext = p->csr_format == EMU_CSR_DER   ? ".der"
                      : p->csr_format == EMU_CSR_P7B ? ".p7b"
                                                     : ".pem";
    int ret = -1;

    if (atomic_load(&e->stopping)) {
        X509_REQ_free(req);
        return 1;
    }
    if (req == NULL) {
        trisa_error_set_ssl(TRISA_ECRYPTO, "stored CSR %zu does not parse", i + 1);
        return -1;
    }
    emu_csr_dns_names(req, &dns, &ndns);
    is->certs[i].common_name = common_name(X509_REQ_get_subject_name(req));
    is->n++;
    if (is->certs[i].common_name == NULL ||
        emu_ca_issue(&e->ca, &leaf, X509_REQ_get0_pubkey(req), X509_REQ_get_subject_name(req), dns,
                     ndns, p->validity, is->certs[i].serial) != 0) {
        goto done;
    }
    is->m[is->nm].data = member_data(e, p, leaf, &is->m[is->nm].len);
    is->m[is->nm].name = unique_name(
        is, is->certs[i].common_name[0] ? is->certs[i].common_name : is->certs[i].serial, ext);
    is->nm++;
    if (is->m[is->nm - 1].data == NULL || is->m[is->nm - 1].name == NULL) {
        trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    ret = 0;
done:
    emu_names_free(dns, ndns);
    X509_free(leaf);
    X509_REQ_free(req);
    return ret;
}

static int add_ca_member(issued *is, const char *name, X509 *x)
{
    is->m[is->nm].name = strdup(name);
    is->m[is->nm].data = der_of(x, &is->m[is->nm].len);
    is->nm++;
    return is->m[is->nm - 1].name && is->m[is->nm - 1].data ? 0 : TRISA_ENOMEM;
}

/* The "@issue" fault: 0 to go on, 1 when the batch was failed or the server stops. */
static int issue_fault(trisa_emu *e, long id)
{
    emu_fault f;
    char reason[64];

    if (!e->opts.test_hooks || !emu_hooks_take(&e->hooks, "", EMU_ISSUE_PATH, NULL, &f)) {
        return 0;
    }
    if (f.kind == EMU_FAULT_DELAY) {
        return emu_sleep(e, f.delay_ms);
    }
    snprintf(reason, sizeof(reason), "injected fault: status %d", f.status);
    emu_store_fail(e->store, id, reason);
    return 1;
}

int emu_issue_batch(trisa_emu *e, long id)
{
    emu_batch b;
    emu_blob *csrs = NULL;
    size_t ncsrs = 0, cap = 0;
    const emu_profile *p;
    issued is;
    unsigned char *zip = NULL;
    size_t ziplen = 0;
    int err = 0, rc = 0;

    memset(&is, 0, sizeof(is));
    memset(&b, 0, sizeof(b));
    if (issue_fault(e, id) != 0) {
        return 0;
    }
    if ((err = emu_store_get_batch(e->store, id, &b)) != 0 ||
        (err = emu_store_get_csrs(e->store, id, &csrs, &ncsrs)) != 0) {
        goto done;
    }
    if (b.issued) {
        goto done; /* already done (issued twice at a restart race) */
    }
    p = emu_config_profile(&e->cfg, b.profile_id);
    cap = ncsrs + 2; /* DER bundles add the two CA certificates */
    is.certs = calloc(ncsrs + 1, sizeof(*is.certs));
    is.m = calloc(cap, sizeof(*is.m));
    if (p == NULL || ncsrs == 0 || (size_t)b.size != ncsrs) {
        err = emu_store_fail(e->store, id, "the profile or the CSRs of this batch are gone");
        goto done;
    }
    if (is.certs == NULL || is.m == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < ncsrs && rc == 0; i++) {
        rc = issue_one(e, p, &csrs[i], &is);
    }
    if (rc == 0 && p->csr_format == EMU_CSR_DER &&
        (add_ca_member(&is, "issuing-ca.der", e->ca.issuing) != 0 ||
         add_ca_member(&is, "root-ca.der", e->ca.root) != 0)) {
        rc = -1;
    }
    if (rc == 0 && emu_zip_build(&zip, &ziplen, is.m, is.nm) != 0) {
        rc = -1;
    }
    if (rc < 0) {
        char reason[300];
        snprintf(reason, sizeof(reason), "internal error: %.200s", trisa_error_last());
        err = emu_store_fail(e->store, id, reason);
    } else if (rc == 0) {
        err = emu_store_complete(e->store, id, is.certs, is.n, zip, ziplen);
    } /* rc == 1: stopping; the batch stays pending for the next start */
done:
    free(zip);
    issued_free(&is, cap);
    emu_blobs_free(csrs, ncsrs);
    emu_batch_clear(&b);
    return err;
}

/* ---- the background issuer ---- */

int emu_sleep(trisa_emu *e, long ms)
{
    struct timespec until;
    int stopped;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->stop_lock);
    while (!atomic_load(&e->stopping) &&
           pthread_cond_timedwait(&e->stop_cond, &e->stop_lock, &until) != ETIMEDOUT) {
    }
    stopped = atomic_load(&e->stopping);
    pthread_mutex_unlock(&e->stop_lock);
    return stopped;
}

static void *issuer_main(void *arg)
{
    trisa_emu *e = arg;
    emu_issuer *is = &e->issuer;

    pthread_mutex_lock(&e->stop_lock);
    for (;;) {
        long id;
        while (is->qlen == 0 && !atomic_load(&e->stopping)) {
            pthread_cond_wait(&e->stop_cond, &e->stop_lock);
        }
        if (atomic_load(&e->stopping)) {
            break;
        }
        id = is->queue[0];
        memmove(is->queue, is->queue + 1, (is->qlen - 1) * sizeof(*is->queue));
        is->qlen--;
        pthread_mutex_unlock(&e->stop_lock);
        emu_issue_batch(e, id);
        pthread_mutex_lock(&e->stop_lock);
    }
    pthread_mutex_unlock(&e->stop_lock);
    return NULL;
}

void emu_issuer_enqueue(trisa_emu *e, long id)
{
    emu_issuer *is = &e->issuer;

    pthread_mutex_lock(&e->stop_lock);
    if (is->qlen == is->qcap) {
        size_t cap = is->qcap ? is->qcap * 2 : 16;
        long *nq = realloc(is->queue, cap * sizeof(*nq));
        if (nq == NULL) {
            pthread_mutex_unlock(&e->stop_lock);
            return; /* stays pending: issued at the next start */
        }
        is->queue = nq;
        is->qcap = cap;
    }
    is->queue[is->qlen++] = id;
    pthread_cond_broadcast(&e->stop_cond);
    pthread_mutex_unlock(&e->stop_lock);
}

int emu_issuer_start(trisa_emu *e)
{
    long *ids = NULL;
    size_t n = 0;
    int err;

    if ((err = emu_store_pending(e->store, &ids, &n)) != 0) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        emu_issuer_enqueue(e, ids[i]);
    }
    free(ids);
    if (pthread_create(&e->issuer.thread, NULL, issuer_main, e) != 0) {
        return trisa_error_set(TRISA_ENOMEM, "cannot start the issuing thread");
    }
    e->issuer.running = 1;
    return 0;
}

void emu_issuer_stop(trisa_emu *e)
{
    if (e->issuer.running) {
        pthread_mutex_lock(&e->stop_lock);
        atomic_store(&e->stopping, 1);
        pthread_cond_broadcast(&e->stop_cond);
        pthread_mutex_unlock(&e->stop_lock);
        pthread_join(e->issuer.thread, NULL);
        e->issuer.running = 0;
    }
    free(e->issuer.queue);
    e->issuer.queue = NULL;
    e->issuer.qlen = e->issuer.qcap = 0;
}
