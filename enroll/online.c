/*
 * The server side of a request: the upload (recorded as sent just before its bytes
 * leave), the look-up when an earlier upload's outcome is unknown, polling until the
 * batch can be downloaded, and the download into memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enroll/internal.h"

#define DOWNLOAD_ATTEMPTS 4

static void sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void save_journal(ctx *c)
{
    if (c->journal_path != NULL && journal_save(&c->j, c->journal_path) != 0) {
        ctx_warn(c, "cannot update the journal: %s", trisa_error_last());
        trisa_error_clear();
    }
}

/* ---- Upload ---- */

/* The transport calls this when the connection and TLS are up and the upload is about to
 * leave: the journal says "sent" on disk before a byte of it does. */
static int send_hook(const char *what, void *data)
{
    ctx *c = data;
    (void)what;
    if (c->hook_fired) {
        return 0; /* the same upload again (after a fresh login): already recorded */
    }
    c->j.state = ST_SENT;
    c->j.attempt++;
    c->j.sent_at = (long long)time(NULL);
    c->j.error[0] = '\0';
    if (journal_save(&c->j, c->journal_path) != 0) {
        snprintf(c->hook_error, sizeof(c->hook_error), "%s; not sent", trisa_error_last());
        c->j.state = ST_NONE;
        c->j.attempt--;
        return 1;
    }
    c->hook_fired = 1;
    return 0;
}

int online_upload(ctx *c)
{
    trisa_sectigo_batch *batch = NULL;
    trisa_enroll_event ev;
    long status = 0;
    int rc, sent = 0;

    c->hook_fired = 0;
    c->hook_error[0] = '\0';
    trisa_sectigo_set_send_hook(c->client, send_hook, c);
    rc = trisa_sectigo_upload_csr(&batch, c->client, c->o->profile_id, NULL, c->csr_bytes,
                                  c->csr_len, NULL);
    trisa_sectigo_set_send_hook(c->client, NULL, NULL);
    if (rc == 0) {
        c->j.state = ST_UPLOADED;
        c->j.batch_id = batch->batch_id;
        set_str(c->j.status, sizeof(c->j.status), batch->status);
        trisa_sectigo_status_normalize(c->j.status);
        /* Not durable yet would only turn a later run's "continue" into "unknown". */
        save_journal(c);
        memset(&ev, 0, sizeof(ev));
        ev.step = TRISA_ENROLL_STEP_UPLOADED;
        ev.batch_id = batch->batch_id;
        ev.status = c->j.status;
        ev.path = c->csr_label;
        ev.count = c->ncsrs;
        ctx_event(c, &ev);
        trisa_sectigo_batch_free(batch);
        return 0;
    }
    if (c->hook_error[0] != '\0') {
        return trisa_error_set(TRISA_EIO, "upload: the journal could not record it: %s",
                               c->hook_error);
    }
    trisa_sectigo_last_outcome(c->client, &sent, NULL);
    trisa_sectigo_last_body(c->client, NULL, &status);
    {
        char msg[1024];
        set_str(msg, sizeof(msg), trisa_error_last());
        set_str(c->j.error, sizeof(c->j.error), msg);
        if (!c->hook_fired || !sent) {
            /* Name resolution, connection, TLS: the request never left. */
            c->j.state = ST_NONE;
            save_journal(c);
            return trisa_error_set(rc, "%s; nothing was sent: running again uploads", msg);
        }
        if ((status >= 400 && status < 500) || status == 501) {
            /* The server answered and refused: no batch exists. */
            c->j.state = ST_NONE;
            save_journal(c);
            return trisa_error_set(rc, "%s; the server made no batch: running again uploads", msg);
        }
        /* Sent, and no usable reply: it may have made a batch. */
        save_journal(c);
        return trisa_error_set(rc,
                               "%s; the upload may have reached the server, so its outcome is "
                               "unknown: running again looks for it and never uploads twice",
                               msg);
    }
}

/* An earlier upload was sent and no batch id came back: look, tell, stop. */
int online_unknown(ctx *c)
{
    char when[32] = "?";
    const char *cn = c->j.name[0] != '\0' ? c->j.name : NULL;
    time_t t = (time_t)c->j.sent_at;
    struct tm tm;
    int rc;

    if (t > 0 && gmtime_r(&t, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (cn != NULL && (rc = preflight_server(c, 0)) == 0) {
        trisa_sectigo_find_result *found = NULL;
        if (trisa_sectigo_find_certificates(&found, c->client, cn, NULL) == 0) {
            ctx_warn(c, "certificates for commonName %s on the server: %lld", cn,
                     found->total_count);
            for (size_t i = 0; i < found->count; i++) {
                ctx_warn(c, "  serial %s, created %s, status %s", found->items[i].serial_number,
                         found->items[i].creation_date, found->items[i].status);
            }
        } else {
            ctx_warn(c, "looking up commonName %s failed: %s", cn, trisa_error_last());
        }
        trisa_sectigo_find_result_free(found);
    } else if (cn != NULL) {
        ctx_warn(c, "cannot look it up: %s", trisa_error_last());
    }
    return trisa_error_set(TRISA_ESTATE,
                           "an upload of %s (CN %s) was sent at %s (attempt %d) but no batch id "
                           "came back, so the server may hold a batch for it; nothing sent again. "
                           "Find the batch (sectigo find -n %s, the CA's portal) and continue "
                           "from it by its id (--batch ID), or, if the server has none, upload "
                           "again (--force-upload): both are options of the command you ran. "
                           "Journal: %s",
                           c->csr_label, cn != NULL ? cn : "?", when, c->j.attempt,
                           cn != NULL ? cn : "NAME", c->e.dir != NULL ? c->e.dir : "");
}

/* ---- Following a batch ---- */

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

/* Worth polling through: the network going and coming, 429, 5xx. Not: TLS verification,
 * credentials refused after a fresh login, 404 and the other 4xx. */
static int transient(ctx *c, int rc)
{
    int t = 0;
    if (rc == TRISA_ENETWORK || rc == TRISA_ETIMEOUT || rc == TRISA_EAPI) {
        trisa_sectigo_last_outcome(c->client, NULL, &t);
    }
    return t;
}

static long long left_ms(const ctx *c)
{
    return c->deadline_ms > 0 ? c->deadline_ms - mono_ms() : 0;
}

static int pending(ctx *c, long long id, const char *status)
{
    return trisa_error_set(TRISA_EPENDING,
                           "batch %lld is still %s after %lld s: run the same command again "
                           "later (it continues this batch)",
                           id, status[0] != '\0' ? status : "not ready",
                           (mono_ms() - c->start_ms) / 1000);
}

int online_follow(ctx *c, long long id)
{
    char last[64] = "";
    for (;;) {
        trisa_sectigo_batch *b = NULL;
        trisa_sectigo_processing_info info = {0, 0, 0};
        char *status = NULL;
        trisa_enroll_event ev;
        long long wait;
        int rc = trisa_sectigo_batch_detail(&b, c->client, id);

        if (rc == 0 && (status = strdup(b->status)) == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        if (rc == 0) {
            trisa_sectigo_status_normalize(status);
            /* As the reference: a COLLECTED batch's real state is in /status. */
            if (strcmp(status, "COLLECTED") == 0) {
                free(status);
                status = NULL;
                rc = trisa_sectigo_batch_status(&status, c->client, id);
            }
        }
        if (rc == 0 && !is_failed_status(status) && strcmp(status, "READY_FOR_DOWNLOAD") != 0) {
            rc = trisa_sectigo_get_processing_info(&info, c->client, id);
        }
        if (rc != 0) {
            trisa_sectigo_batch_free(b);
            free(status);
            if (!transient(c, rc)) {
                return trisa_error_prefix("batch %lld", id);
            }
            if (c->deadline_ms > 0 && left_ms(c) <= 0) {
                return pending(c, id, last);
            }
            ctx_warn(c, "batch %lld: %s; polling on", id, trisa_error_last());
            trisa_error_clear();
        } else {
            set_str(last, sizeof(last), status);
            set_str(c->j.status, sizeof(c->j.status), status);
            if (is_failed_status(status)) {
                int r;
                set_str(c->j.reason, sizeof(c->j.reason), b->reject_reason);
                c->j.state = ST_REJECTED;
                save_journal(c);
                r = trisa_error_set(TRISA_EREJECTED, "batch %lld was %s%s%s", id, status,
                                    b->reject_reason[0] != '\0' ? ": " : "", b->reject_reason);
                trisa_sectigo_batch_free(b);
                free(status);
                return r;
            }
            trisa_sectigo_batch_free(b);
            if (strcmp(status, "READY_FOR_DOWNLOAD") == 0 ||
                (info.success > 0 && info.active == 0)) {
                free(status);
                return 0;
            }
            free(status);
        }
        if (c->deadline_ms <= 0 || left_ms(c) <= 0) {
            return pending(c, id, last);
        }
        wait = (long long)(c->o->interval_s > 0 ? c->o->interval_s : 5) * 1000;
        if (wait > left_ms(c)) {
            wait = left_ms(c);
        }
        /* Told after the poll, then at each whole second of the wait, so that a person
         * sees the next poll and the time limit count down. */
        memset(&ev, 0, sizeof(ev));
        ev.step = TRISA_ENROLL_STEP_POLLING;
        ev.batch_id = id;
        ev.status = last[0] != '\0' ? last : "?";
        for (long long until = mono_ms() + wait;;) {
            long long now = mono_ms(), rest = until - now;
            if (rest <= 0) {
                break;
            }
            ev.elapsed_s = (long)((now - c->start_ms) / 1000);
            ev.next_s = (long)((rest + 999) / 1000);
            ev.left_s = c->deadline_ms > 0 ? (long)((left_ms(c) + 999) / 1000) : -1;
            ctx_event(c, &ev);
            sleep_ms(rest % 1000 != 0 ? rest % 1000 : 1000);
        }
    }
}

/* Into memory (never written under its own name); a body that is not a whole, safe ZIP
 * is fetched again. */
int online_download(ctx *c, long long id)
{
    trisa_enroll_event ev;
    int rc = 0;
    for (int attempt = 1; attempt <= DOWNLOAD_ATTEMPTS; attempt++) {
        trisa_bundle_zip *z = NULL;
        const char *dot;
        rc = trisa_sectigo_download_mem(&c->zip, &c->zip_len, &c->zip_name, c->client, id);
        if (rc == 0) {
            dot = strrchr(c->zip_name, '.');
            if (dot != NULL && strcmp(dot, ".zip") != 0) {
                break; /* a lone member: the bundle reader judges it */
            }
            rc = trisa_bundle_zip_read(&z, c->zip, c->zip_len, NULL);
            trisa_bundle_zip_free(z);
            if (rc == 0) {
                break;
            }
            trisa_free_secret(c->zip, c->zip_len);
            free(c->zip_name);
            c->zip = NULL;
            c->zip_name = NULL;
            if (rc != TRISA_EZIP) {
                return rc;
            }
        } else if (!transient(c, rc)) {
            return trisa_error_prefix("batch %lld", id);
        }
        if (c->deadline_ms > 0 && left_ms(c) <= 0) {
            /* The time limit, not the server, ended it: the batch stays, as when polling. */
            char why[512];
            set_str(why, sizeof(why), trisa_error_last());
            return trisa_error_set(TRISA_EPENDING,
                                   "batch %lld was not downloaded within the time limit (%s): "
                                   "run the same command again later (it continues this batch)",
                                   id, why);
        }
        if (attempt == DOWNLOAD_ATTEMPTS) {
            return rc;
        }
        ctx_warn(c, "download of batch %lld failed (%s); trying again", id, trisa_error_last());
        trisa_error_clear();
        sleep_ms(c->deadline_ms > 0 && left_ms(c) < 1000 ? left_ms(c) : 1000);
    }
    if (rc != 0) {
        return rc;
    }
    memset(&ev, 0, sizeof(ev));
    ev.step = TRISA_ENROLL_STEP_DOWNLOADED;
    ev.batch_id = id;
    ev.path = c->zip_name;
    ev.count = c->zip_len;
    ctx_event(c, &ev);
    return 0;
}
