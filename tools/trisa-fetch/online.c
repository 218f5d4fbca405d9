/*
 * --batch and --csr: follow a batch until it can be downloaded, download it into memory
 * (never written under its own name), then hand it to fetch_offline(). --csr uploads
 * first, recording each step in the state file so that a rerun never uploads twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/support.h"
#include "trisa/bundle.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/trisa-fetch/fetch.h"
#include "tools/trisa-fetch/state.h"

#define DOWNLOAD_ATTEMPTS 4
#define MAX_CSR           (1024u * 1024u)

static void warn_cb(const char *message, void *data)
{
    (void)data;
    tool_warn(FETCH_PROG, "%s", message);
}

static int open_client(trisa_sectigo **out, const fetch_args *a)
{
    trisa_sectigo_options o = TRISA_SECTIGO_OPTIONS_INIT;
    int rc;
    o.endpoint = a->endpoint;
    o.environment = a->environment;
    o.username = a->username;
    o.password = a->password;
    o.ca_bundle = a->cacert;
    o.warn = warn_cb;
    rc = trisa_sectigo_new(out, &o);
    return rc != 0 ? tool_fail(FETCH_PROG, rc) : 0;
}

static int parse_id(const char *what, const char *s, long long *out)
{
    long v;
    if (trisa_parse_long(s, 1, 0x7fffffffL, &v) != 0) {
        return tool_usage_error(FETCH_PROG, "%s: '%s' is not a positive number", what, s);
    }
    *out = v;
    return 0;
}

/* A server error worth polling through: the network, timeouts, 429 and 5xx. */
static int transient(trisa_sectigo *c, int rc)
{
    long status = 0;
    if (rc == TRISA_ENETWORK || rc == TRISA_ETIMEOUT) {
        return 1;
    }
    if (rc == TRISA_EAPI) {
        trisa_sectigo_last_body(c, NULL, &status);
        return status == 429 || status >= 500;
    }
    return 0;
}

static int is_failed_status(const char *s)
{
    static const char *const bad[] = {"REJECTED", "NOT_ACCEPTABLE", "FAILED",
                                      "BROKEN",   "REVOKED",        "REMOVED_AFTER_EXPIRATION"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (strncmp(s, bad[i], strlen(bad[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static void progress(int tty, long long id, const char *status, long elapsed, long next)
{
    if (!tty) {
        return;
    }
    fprintf(stderr, "\r\033[Kbatch %lld: %s, %ld s elapsed, next poll in %ld s", id, status,
            elapsed, next);
    fflush(stderr);
}

static void progress_end(int tty)
{
    if (tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

static void save_status(fetch_state *st, const char *dir, const char *status, fetch_phase phase)
{
    if (st == NULL) {
        return;
    }
    snprintf(st->status, sizeof(st->status), "%s", status);
    st->phase = phase;
    if (fetch_state_save(st, dir) != 0) {
        tool_warn(FETCH_PROG, "cannot update the state file: %s", trisa_error_last());
    }
}

/* Poll until the batch is downloadable (0), rejected (exit code printed) or the timeout. */
static int wait_ready(trisa_sectigo *c, const fetch_args *a, long long id, fetch_state *st)
{
    int tty = !a->quiet && isatty(STDERR_FILENO);
    time_t start = time(NULL);
    char last[64] = "";

    for (;;) {
        trisa_sectigo_batch *b = NULL;
        trisa_sectigo_processing_info info = {0, 0, 0};
        char *status = NULL;
        long elapsed, wait;
        int rc = trisa_sectigo_batch_detail(&b, c, id);

        if (rc == 0) {
            status = strdup(b->status);
            if (status != NULL) {
                trisa_sectigo_status_normalize(status);
            }
            /* As the reference: a COLLECTED batch's real state is in /status. */
            if (status != NULL && strcmp(status, "COLLECTED") == 0) {
                free(status);
                status = NULL;
                rc = trisa_sectigo_batch_status(&status, c, id);
            }
        }
        if (rc == 0 && status != NULL && !is_failed_status(status)) {
            rc = trisa_sectigo_get_processing_info(&info, c, id);
        }
        if (rc != 0 && !transient(c, rc)) {
            progress_end(tty);
            trisa_sectigo_batch_free(b);
            free(status);
            return tool_fail(FETCH_PROG, rc);
        }
        if (rc != 0) {
            progress_end(tty);
            tool_warn(FETCH_PROG, "batch %lld: %s; polling on", id, trisa_error_last());
        } else if (status != NULL) {
            if (strcmp(status, last) != 0) {
                snprintf(last, sizeof(last), "%s", status);
                save_status(st, a->out_dir, status, st != NULL ? st->phase : PHASE_UPLOADED);
            }
            if (is_failed_status(status)) {
                progress_end(tty);
                fprintf(stderr, "%s: batch %lld was %s%s%s\n", FETCH_PROG, id, status,
                        b != NULL && b->reject_reason[0] != '\0' ? ": " : "",
                        b != NULL ? b->reject_reason : "");
                save_status(st, a->out_dir, status, PHASE_REJECTED);
                trisa_sectigo_batch_free(b);
                free(status);
                return TOOL_EXIT_REJECTED;
            }
            if (strcmp(status, "READY_FOR_DOWNLOAD") == 0 ||
                (info.success > 0 && info.active == 0)) {
                progress_end(tty);
                trisa_sectigo_batch_free(b);
                free(status);
                return 0;
            }
        }
        trisa_sectigo_batch_free(b);
        free(status);
        elapsed = (long)(time(NULL) - start);
        if (elapsed >= a->timeout) {
            progress_end(tty);
            fprintf(stderr,
                    "%s: batch %lld is still %s after %ld s: run the same command again later\n",
                    FETCH_PROG, id, last[0] != '\0' ? last : "not ready", elapsed);
            return TOOL_EXIT_PENDING;
        }
        wait = a->interval;
        if (wait > a->timeout - elapsed) {
            wait = a->timeout - elapsed;
        }
        progress(tty, id, last[0] != '\0' ? last : "?", elapsed, wait);
        sleep((unsigned)wait);
    }
}

/* Download into memory; a body that is not a whole, safe ZIP is fetched again. */
static int download(trisa_sectigo *c, const fetch_args *a, long long id, unsigned char **zip,
                    size_t *len, char **name)
{
    int rc = 0;
    for (int attempt = 1; attempt <= DOWNLOAD_ATTEMPTS; attempt++) {
        trisa_bundle_zip *z = NULL;
        rc = trisa_sectigo_download_mem(zip, len, name, c, id);
        if (rc == 0) {
            rc = trisa_bundle_zip_read(&z, *zip, *len, NULL);
            trisa_bundle_zip_free(z);
            if (rc == 0) {
                return 0;
            }
            free(*zip);
            free(*name);
            *zip = NULL;
            *name = NULL;
            if (rc != TRISA_EZIP) {
                break;
            }
        } else if (!transient(c, rc)) {
            break;
        }
        if (attempt < DOWNLOAD_ATTEMPTS) {
            tool_warn(FETCH_PROG, "download of batch %lld failed (%s); trying again", id,
                      trisa_error_last());
            sleep((unsigned)(a->interval < 2 ? a->interval : 2));
        }
    }
    return tool_fail(FETCH_PROG, rc);
}

static int follow_and_write(trisa_sectigo *c, const fetch_args *a, long long id, fetch_state *st)
{
    unsigned char *zip = NULL;
    size_t len = 0;
    char *name = NULL;
    int rc = wait_ready(c, a, id, st);
    if (rc != 0) {
        return rc;
    }
    if ((rc = download(c, a, id, &zip, &len, &name)) != 0) {
        return rc;
    }
    fprintf(stderr, "%s: downloaded batch %lld (%s, %zu bytes)\n", FETCH_PROG, id, name, len);
    rc = fetch_offline(a, name, zip, len, NULL);
    if (rc == 0) {
        save_status(st, a->out_dir, st != NULL ? st->status : "", PHASE_DONE);
    }
    free(zip);
    free(name);
    return rc;
}

int fetch_batch(const fetch_args *a)
{
    trisa_sectigo *c = NULL;
    long long id = 0;
    int rc;
    if ((rc = parse_id("--batch", a->batch, &id)) != 0) {
        return rc;
    }
    if ((rc = open_client(&c, a)) != 0) {
        return rc;
    }
    rc = follow_and_write(c, a, id, NULL);
    trisa_sectigo_free(c);
    return rc;
}

/* ---------------------------------------------------------------------------------- */

static char *csr_common_name(const unsigned char *data, size_t len)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509_REQ *req = bio != NULL ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
    char buf[256];
    char *cn = NULL;
    if (req != NULL && X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
                                                 buf, sizeof(buf)) > 0) {
        cn = strdup(buf);
    }
    X509_REQ_free(req);
    BIO_free(bio);
    return cn;
}

/* An upload was attempted and no batch id came back: look, tell, stop. */
static int unknown_upload(trisa_sectigo *c, const fetch_args *a, const fetch_state *st,
                          const unsigned char *csr, size_t csr_len)
{
    char *cn = csr_common_name(csr, csr_len);
    trisa_sectigo_find_result *found = NULL;
    char when[32];
    struct tm tm;
    gmtime_r(&st->updated, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr,
            "%s: an upload of this CSR was attempted at %s but no batch id came back, so the\n"
            "server may already have a batch for it.\n",
            FETCH_PROG, when);
    if (cn != NULL && trisa_sectigo_find_certificates(&found, c, cn, NULL) == 0) {
        fprintf(stderr, "Certificates for commonName %s on the server: %lld\n", cn,
                found->total_count);
        for (size_t i = 0; i < found->count; i++) {
            fprintf(stderr, "  serial %s, created %s, status %s\n", found->items[i].serial_number,
                    found->items[i].creation_date, found->items[i].status);
        }
    } else if (cn != NULL) {
        fprintf(stderr, "Looking it up failed: %s\n", trisa_error_last());
    }
    fprintf(stderr,
            "Find the batch (sectigo batches / sectigo find -n %s), then run\n"
            "  trisa-fetch --batch ID --out-dir %s ...\n"
            "or, if the server has no batch for it, run this command again with --force-upload.\n",
            cn != NULL ? cn : "NAME", a->out_dir);
    trisa_sectigo_find_result_free(found);
    free(cn);
    return TOOL_EXIT_FAILURE;
}

int fetch_csr(const fetch_args *a)
{
    trisa_sectigo *c = NULL;
    trisa_sectigo_batch *batch = NULL;
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    unsigned char md[32];
    char hash[65];
    const char *endpoint = a->endpoint != NULL ? a->endpoint : TRISA_SECTIGO_PRODUCTION_URL;
    fetch_state st;
    long long profile = 0, id = 0;
    long v = 0;
    int rc;

    if ((rc = parse_id("--profile", a->profile, &profile)) != 0) {
        return rc;
    }
    if ((rc = trisa_file_read(&csr, &csr_len, a->csr, MAX_CSR)) != 0) {
        trisa_error_prefix("CSR %s", a->csr);
        return tool_fail(FETCH_PROG, rc);
    }
    EVP_Digest(csr, csr_len, md, NULL, EVP_sha256(), NULL);
    trisa_hex(hash, md, sizeof(md), 0);
    if ((rc = fetch_state_load(&st, a->out_dir)) != 0) {
        rc = tool_fail(FETCH_PROG, rc);
        goto done;
    }
    if (st.phase != PHASE_NONE) {
        if (strcmp(st.csr_sha256, hash) != 0 || strcmp(st.endpoint, endpoint) != 0 ||
            trisa_parse_long(st.profile, 1, 0x7fffffffL, &v) != 0 || v != profile) {
            fprintf(stderr,
                    "%s: error: %s/%s records another upload (CSR SHA-256 %s, profile %s, %s);\n"
                    "use another --out-dir, or remove that file if it is no longer wanted\n",
                    FETCH_PROG, a->out_dir, FETCH_STATE_FILE, st.csr_sha256, st.profile,
                    st.endpoint);
            rc = TOOL_EXIT_INPUT;
            goto done;
        }
    }
    if ((rc = open_client(&c, a)) != 0) {
        goto done;
    }
    if (st.phase != PHASE_NONE && st.batch_id[0] != '\0') {
        fprintf(stderr, "%s: this CSR was uploaded before: continuing batch %s (%s)\n", FETCH_PROG,
                st.batch_id, st.status[0] != '\0' ? st.status : "status unknown");
        if (trisa_parse_long(st.batch_id, 1, 0x7fffffffffffffffL, &v) != 0) {
            fprintf(stderr, "%s: error: %s/%s: batch_id '%s' is not a batch number\n", FETCH_PROG,
                    a->out_dir, FETCH_STATE_FILE, st.batch_id);
            rc = TOOL_EXIT_INPUT;
            goto done;
        }
        id = v;
        rc = follow_and_write(c, a, id, &st);
        goto done;
    }
    if (st.phase == PHASE_UPLOADING && !a->force_upload) {
        rc = unknown_upload(c, a, &st, csr, csr_len);
        goto done;
    }
    /* Log in before recording the attempt: a wrong password must not look like an upload. */
    if ((rc = trisa_sectigo_ensure_auth(c)) != 0) {
        rc = tool_fail(FETCH_PROG, rc);
        goto done;
    }
    memset(&st, 0, sizeof(st));
    snprintf(st.csr_sha256, sizeof(st.csr_sha256), "%s", hash);
    snprintf(st.profile, sizeof(st.profile), "%lld", profile);
    snprintf(st.endpoint, sizeof(st.endpoint), "%s", endpoint);
    st.phase = PHASE_UPLOADING;
    if ((rc = fetch_state_save(&st, a->out_dir)) != 0) {
        rc = tool_fail(FETCH_PROG, rc);
        goto done;
    }
    rc = trisa_sectigo_upload_csr(&batch, c, profile, NULL, csr, csr_len, NULL);
    if (rc != 0) {
        long status = 0;
        trisa_sectigo_last_body(c, NULL, &status);
        if (status >= 400 && status < 500) {
            /* The server answered and refused: no batch exists, forget the attempt. */
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", a->out_dir, FETCH_STATE_FILE);
            unlink(path);
        }
        rc = tool_fail(FETCH_PROG, rc);
        goto done;
    }
    snprintf(st.batch_id, sizeof(st.batch_id), "%lld", batch->batch_id);
    snprintf(st.status, sizeof(st.status), "%s", batch->status);
    trisa_sectigo_status_normalize(st.status);
    st.phase = PHASE_UPLOADED;
    if (fetch_state_save(&st, a->out_dir) != 0) {
        tool_warn(FETCH_PROG, "batch %lld created but the state file could not be updated: %s",
                  batch->batch_id, trisa_error_last());
    }
    fprintf(stderr, "%s: uploaded %s to profile %lld: batch %lld\n", FETCH_PROG, a->csr, profile,
            batch->batch_id);
    rc = follow_and_write(c, a, batch->batch_id, &st);
done:
    trisa_sectigo_batch_free(batch);
    trisa_sectigo_free(c);
    free(csr);
    return rc;
}
