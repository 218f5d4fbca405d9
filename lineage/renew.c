/*
 * Renewal: a new key (file or token object) and CSR recorded before anything is sent,
 * one request of the enrolment engine into versions/N/, the live switch, the hooks; and
 * import of delivered bundles, rollback, revocation of superseded certificates, pruning
 * of superseded token objects.
 *
 * Crash safety, in order: the state records `pending_version = N` (and, for a token, the
 * CKA_ID chosen for the new key) before the key is made; the key and the CSR are written
 * to versions/N/ before the request runs; the engine's journal makes the request
 * continue, never repeat; `live` moves only after the engine verified and wrote the set;
 * the state then records N as current. A run that finds `pending_version` continues with
 * the same key and CSR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "lineage/internal.h"
#include "trisa/csr.h"
#include "trisa/hsm.h"
#include "trisa/keygen.h"
#include "trisa/sectigo.h"

/* What one run needs beyond the lineage. */
typedef struct run_ctx {
    trisa_lineage *l;
    const trisa_lineage_renew_options *o;
    time_t now;
    lineage_credentials cred;
    char *vdir; /* versions/N */
} run_ctx;

static void event(const run_ctx *c, trisa_lineage_step step, unsigned version, const char *text,
                  time_t when, int exit_status, const trisa_enroll_event *ev)
{
    trisa_lineage_event e;
    if (c->o == NULL || c->o->progress == NULL) {
        return;
    }
    memset(&e, 0, sizeof(e));
    e.step = step;
    e.lineage = c->l->name;
    e.version = version;
    e.text = text;
    e.when = when;
    e.exit = exit_status;
    e.enroll = ev;
    c->o->progress(&e, c->o->data);
}

static void warn(const run_ctx *c, const char *fmt, ...) TRISA_PRINTF(2, 3);
static void warn(const run_ctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (c->o == NULL || c->o->warn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->o->warn(c->l->name, msg, c->o->data);
}

static void on_enroll_event(const trisa_enroll_event *ev, void *data)
{
    const run_ctx *c = data;
    event(c, TRISA_LINEAGE_STEP_ENROLL, c->l->pending_version, NULL, 0, 0, ev);
}

static void on_enroll_warn(const char *message, void *data)
{
    const run_ctx *c = data;
    warn(c, "%s", message);
}

static char *vpath(const run_ctx *c, const char *name)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_printf(&b, "%s/%s", c->vdir, name);
    return trisa_buf_detach(&b, NULL);
}

static int make_vdir(run_ctx *c, unsigned n)
{
    trisa_buf b = TRISA_BUF_INIT;
    char *versions = lineage_path(c->l, "versions");

    free(c->vdir);
    trisa_buf_printf(&b, "%s/%u", versions != NULL ? versions : "", n);
    c->vdir = trisa_buf_detach(&b, NULL);
    if (versions == NULL || c->vdir == NULL) {
        free(versions);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if ((mkdir(versions, 0700) != 0 && errno != EEXIST) ||
        (mkdir(c->vdir, 0700) != 0 && errno != EEXIST)) {
        int e = errno;
        free(versions);
        return trisa_error_set(TRISA_EIO, "%s: cannot make the folder: %s", c->vdir, strerror(e));
    }
    free(versions);
    {
        /* What a run killed while writing the key or the CSR left (we hold the lock). */
        static const char *const names[] = {"key.pem", "request.csr"};
        trisa_file_clean_temps(c->vdir, names, 2, 0);
    }
    return 0;
}

/* The base token URI with any object selection (id, object, type) removed. */
static char *token_uri(const char *uri)
{
    trisa_buf b = TRISA_BUF_INIT;
    const char *p = strchr(uri, ':');
    int first = 1;

    trisa_buf_puts(&b, "pkcs11:");
    p = p != NULL ? p + 1 : uri;
    while (*p != '\0') {
        const char *end = strpbrk(p, ";?");
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (!(strncmp(p, "id=", 3) == 0 || strncmp(p, "object=", 7) == 0 ||
              strncmp(p, "type=", 5) == 0) &&
            n > 0) {
            if (!first) {
                trisa_buf_puts(&b, ";");
            }
            trisa_buf_append(&b, p, n);
            first = 0;
        }
        if (end == NULL || *end == '?') {
            if (end != NULL) {
                trisa_buf_puts(&b, end); /* query attributes (pin-source, module-path) */
            }
            break;
        }
        p = end + 1;
    }
    return trisa_buf_detach(&b, NULL);
}

/* uri with ";id=%xx..." of the hex id added before any query. */
static char *with_id(const char *base, const char *id_hex)
{
    trisa_buf b = TRISA_BUF_INIT;
    const char *q = strchr(base, '?');
    size_t n = q != NULL ? (size_t)(q - base) : strlen(base);

    trisa_buf_append(&b, base, n);
    if (n > 0 && base[n - 1] != ':') {
        trisa_buf_puts(&b, ";");
    }
    trisa_buf_puts(&b, "id=");
    for (size_t i = 0; id_hex[i] != '\0' && id_hex[i + 1] != '\0'; i += 2) {
        trisa_buf_printf(&b, "%%%c%c", id_hex[i], id_hex[i + 1]);
    }
    trisa_buf_puts(&b, ";type=private");
    if (q != NULL) {
        trisa_buf_puts(&b, q);
    }
    return trisa_buf_detach(&b, NULL);
}

static char *pin_source(const trisa_lineage *l)
{
    trisa_buf b = TRISA_BUF_INIT;
    if (l->pin_file == NULL) {
        return NULL;
    }
    trisa_buf_printf(&b, "file:%s", l->pin_file);
    return trisa_buf_detach(&b, NULL);
}

static void hsm_warn(const char *message, void *data)
{
    warn(data, "%s", message);
}

static int open_token(trisa_hsm **out, run_ctx *c)
{
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    char *base = token_uri(c->l->pkcs11_uri);
    char *pin = pin_source(c->l);
    int rc;

    ho.module = c->l->pkcs11_module;
    ho.uri = base;
    ho.pin = pin;
    ho.warn = hsm_warn;
    ho.warn_data = c;
    rc = base != NULL ? trisa_hsm_open(out, &ho) : trisa_error_set(TRISA_ENOMEM, "out of memory");
    free(base);
    free(pin);
    return rc;
}

static int hex_to_bytes(unsigned char *out, size_t cap, const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char h = hex[2 * i + (size_t)k];
            v <<= 4;
            if (h >= '0' && h <= '9') {
                v |= (unsigned)(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                v |= (unsigned)(h - 'a' + 10);
            } else {
                return -1;
            }
        }
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

/*
 * The pending version's key: made once and recorded; a later run finds it again. File
 * keys go to versions/N/key.pem (0600); token keys are made on the token under the CKA_ID
 * recorded in the state before generation, so a kill between the two leaves nothing
 * unaccounted for.
 */
static int pending_key(EVP_PKEY **key, trisa_hsm **hsm, run_ctx *c)
{
    trisa_lineage *l = c->l;
    trisa_keygen_spec spec = TRISA_KEYGEN_SPEC_INIT;
    int rc;

    if (l->key_spec != NULL && (rc = trisa_keygen_spec_parse(&spec, l->key_spec)) != 0) {
        return rc;
    }
    if (l->pending_reuse) {
        /* The live key: its file, or its object on the token. */
        if (l->key_location == NULL) {
            return trisa_error_set(TRISA_ESTATE, "lineage %s: no live key to reuse", l->name);
        }
        if (l->pkcs11_uri != NULL) {
            if ((rc = open_token(hsm, c)) != 0) {
                return rc;
            }
            return trisa_hsm_find_key(key, NULL, *hsm, l->key_location);
        }
        return trisa_keygen_load(key, l->key_location, NULL);
    }
    if (l->pkcs11_uri != NULL) {
        trisa_hsm_keygen_options ko = TRISA_HSM_KEYGEN_OPTIONS_INIT;
        unsigned char id[16];
        size_t id_len = 0;
        char label[128], *uri = NULL, *base = NULL, spec_text[32];

        if ((rc = open_token(hsm, c)) != 0) {
            return rc;
        }
        if (l->pending_id == NULL) {
            char hex[33];
            if (RAND_bytes(id, sizeof(id)) != 1) {
                return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot draw a key id");
            }
            trisa_hex(hex, id, sizeof(id), 0);
            if ((l->pending_id = strdup(hex)) == NULL) {
                return trisa_error_set(TRISA_ENOMEM, "out of memory");
            }
            if ((rc = lineage_state_save(l)) != 0) {
                return rc;
            }
        }
        if (hex_to_bytes(id, sizeof(id), l->pending_id, &id_len) != 0) {
            return trisa_error_set(TRISA_ESTATE, "lineage %s: pending_id '%s' is not hex", l->name,
                                   l->pending_id);
        }
        base = token_uri(l->pkcs11_uri);
        uri = base != NULL ? with_id(base, l->pending_id) : NULL;
        if (uri == NULL) {
            free(base);
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        rc = trisa_hsm_find_key(key, NULL, *hsm, uri);
        if (rc == TRISA_ENOTFOUND) {
            trisa_error_clear();
            snprintf(label, sizeof(label), "%s-%u", l->key_label ? l->key_label : l->name,
                     l->pending_version);
            (void)trisa_keygen_spec_format(spec_text, sizeof(spec_text), &spec);
            ko.spec = spec_text;
            ko.label = label;
            ko.id = id;
            ko.id_len = id_len;
            rc = trisa_hsm_generate_key(key, NULL, *hsm, &ko);
            if (rc == 0) {
                event(c, TRISA_LINEAGE_STEP_KEY, l->pending_version, uri, 0, 0, NULL);
            }
        } else if (rc == 0) {
            event(c, TRISA_LINEAGE_STEP_RESUMING, l->pending_version, uri, 0, 0, NULL);
        }
        if (rc == 0) {
            free(l->pending_key);
            l->pending_key = uri;
            uri = NULL;
            rc = lineage_state_save(l);
        }
        free(uri);
        free(base);
        return rc;
    }
    {
        char *path = vpath(c, "key.pem");
        struct stat st;
        if (path == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        if (lstat(path, &st) == 0) {
            rc = trisa_keygen_load(key, path, NULL);
            if (rc == 0) {
                event(c, TRISA_LINEAGE_STEP_RESUMING, l->pending_version, path, 0, 0, NULL);
            }
        } else {
            rc = trisa_keygen_generate(key, &spec);
            if (rc == 0 && (rc = trisa_keygen_save(path, *key, NULL, 0)) == 0) {
                event(c, TRISA_LINEAGE_STEP_KEY, l->pending_version, path, 0, 0, NULL);
            }
        }
        if (rc == 0 && (l->pending_key == NULL || strcmp(l->pending_key, path) != 0)) {
            free(l->pending_key);
            l->pending_key = path;
            path = NULL;
            rc = lineage_state_save(l);
        }
        free(path);
        return rc;
    }
}

/* versions/N/request.csr: made once from the lineage's config and the pending key. */
static int pending_csr(run_ctx *c, EVP_PKEY *key, char **csr_path)
{
    char *conf = lineage_path(c->l, "trisa.conf");
    char *path = vpath(c, "request.csr");
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    struct stat st;
    int rc = 0;

    *csr_path = NULL;
    if (conf == NULL || path == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (lstat(path, &st) != 0) {
        if ((rc = trisa_csr_config_load(&cfg, conf, NULL)) != 0 ||
            (rc = trisa_csr_create(&csr, cfg, key, NULL)) != 0 ||
            (rc = trisa_csr_save(path, csr, 0)) != 0) {
            goto done;
        }
        event(c, TRISA_LINEAGE_STEP_CSR, c->l->pending_version, trisa_csr_key_fingerprint(csr), 0,
              0, NULL);
    }
    *csr_path = path;
    path = NULL;
done:
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    free(conf);
    free(path);
    return rc;
}

static void fill_enroll(trisa_enroll_options *eo, run_ctx *c)
{
    trisa_lineage *l = c->l;
    eo->state_dir = l->state_dir;
    eo->profile_id = l->profile_id;
    eo->interval_s = c->o->interval_s;
    eo->timeout_s = c->o->timeout_s;
    eo->trust_bundle_root = l->trust_bundle_root;
    eo->dns_names = (const char *const *)l->dns;
    eo->dns_count = l->ndns;
    eo->endpoint = c->cred.endpoint;
    eo->environment = c->cred.environment;
    eo->username = c->cred.username;
    eo->password = c->cred.password;
    eo->ca_bundle = c->cred.ca_bundle;
    eo->cache_dir = c->o->cache_dir;
    eo->progress = on_enroll_event;
    eo->warn = on_enroll_warn;
    eo->data = c;
}

/* Is batch id one of the lineage's own (live or superseded)? */
static int known_batch(const trisa_lineage *l, long long id)
{
    if (id != 0 && id == l->batch_id) {
        return 1;
    }
    for (size_t i = 0; i < l->nhistory; i++) {
        if (id != 0 && l->history[i].batch_id == id) {
            return 1;
        }
    }
    return 0;
}

/*
 * The request for the pending CSR. A first run with no output folder finds out what the
 * engine's journal holds for it: an unfinished request is continued and a new one
 * uploaded (once) as usual; a finished one comes back at once without the network. When
 * that result is a batch the lineage already has (a reused RSA key gives a byte-identical
 * CSR), a new request is started on purpose; otherwise the result is written to
 * versions/N/ (already issued: nothing is sent again).
 */
static int run_request(run_ctx *c, const char *csr_path, const char *trust, char *key_file,
                       long long *batch)
{
    trisa_enroll_options eo = TRISA_ENROLL_OPTIONS_INIT;
    trisa_enroll_result *r = NULL;
    char *pin = pin_source(c->l);
    const char *keys[1] = {key_file};
    int rc;

    fill_enroll(&eo, c);
    eo.source = TRISA_ENROLL_FROM_CSR;
    eo.csr_file = csr_path;
    eo.force_upload = c->o->force_upload;
    if (c->o->batch_id > 0) {
        eo.source = TRISA_ENROLL_FROM_BATCH;
        eo.batch_id = c->o->batch_id;
        eo.csr_file = NULL;
    }
    eo.trust_file = trust;
    if (c->l->pkcs11_uri != NULL) {
        eo.pkcs11_uri = c->l->pending_key;
        eo.pkcs11_module = c->l->pkcs11_module;
        eo.pkcs11_pin = pin;
    } else {
        eo.key_files = keys;
        eo.key_count = 1;
    }
    if (c->l->pending_new) {
        /* Cleared before the new request starts: a kill in between costs at most one more
         * failed attempt (the old request answers "rejected" again), never a licence. */
        c->l->pending_new = 0;
        if ((rc = lineage_state_save(c->l)) != 0) {
            goto done;
        }
        eo.new_request = 1;
    }
    if ((rc = trisa_enroll_run(&r, &eo)) != 0) {
        goto done;
    }
    eo.new_request = 0;
    if (known_batch(c->l, trisa_enroll_result_batch_id(r))) {
        eo.new_request = 1;
    }
    trisa_enroll_result_free(r);
    r = NULL;
    eo.out_dir = c->vdir;
    if ((rc = trisa_enroll_run(&r, &eo)) != 0) {
        goto done;
    }
    *batch = trisa_enroll_result_batch_id(r);
done:
    trisa_enroll_result_free(r);
    free(pin);
    return rc;
}

static int hook(const run_ctx *c, const char *command, unsigned version, const char *const *extra)
{
    long t = c->o->hook_timeout_s > 0 ? c->o->hook_timeout_s : LINEAGE_DEFAULT_HOOK_TIMEOUT;
    int status;
    if (command == NULL || c->o->no_hooks) {
        return 0;
    }
    status = lineage_run_hook(c->l, command, extra, t);
    event(c, TRISA_LINEAGE_STEP_HOOK, version, command, 0, status, NULL);
    if (status != 0) {
        warn(c, "hook '%s' %s %d", command, status < 0 ? "did not finish: status" : "exited with",
             status);
    }
    return status;
}

static void deploy_hook(const run_ctx *c, unsigned version)
{
    trisa_buf b = TRISA_BUF_INIT;
    char nb[21], *serial = NULL, *not_after = NULL, *key_uri = NULL;
    const char *extra[4] = {NULL};
    size_t k = 0;

    trisa_buf_printf(&b, "TRISA_SERIAL=%s", c->l->serial != NULL ? c->l->serial : "");
    serial = trisa_buf_detach(&b, NULL);
    trisa_buf_printf(&b, "TRISA_NOT_AFTER=%s", lineage_time(nb, c->l->not_after));
    not_after = trisa_buf_detach(&b, NULL);
    if (serial != NULL) {
        extra[k++] = serial;
    }
    if (not_after != NULL) {
        extra[k++] = not_after;
    }
    if (c->l->pkcs11_uri != NULL && c->l->key_location != NULL) {
        trisa_buf_printf(&b, "TRISA_KEY_URI=%s", c->l->key_location);
        if ((key_uri = trisa_buf_detach(&b, NULL)) != NULL) {
            extra[k++] = key_uri;
        }
    }
    extra[k] = NULL;
    hook(c, c->l->deploy_hook, version, extra);
    free(serial);
    free(not_after);
    free(key_uri);
}

/* Make version n (issued in batch `batch`, 0 when imported) live: remember what the live
 * version was, record n's certificate, switch, record the state, run the hook. */
static int go_live(run_ctx *c, unsigned n, const char *key_location, long long batch)
{
    trisa_lineage *l = c->l;
    char *cert = vpath(c, "cert.pem");
    lineage_version *prev = l->current != 0 ? lineage_history(l, l->current) : NULL;
    lineage_version *h;
    int rc;

    if (cert == NULL || (l->current != 0 && prev == NULL)) {
        free(cert);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (prev != NULL) {
        /* What the previous version was, for revocation and pruning later. */
        free(prev->serial);
        free(prev->key);
        prev->serial = l->serial != NULL ? strdup(l->serial) : NULL;
        prev->key = l->key_location != NULL ? strdup(l->key_location) : NULL;
        prev->batch_id = l->batch_id;
        prev->superseded_at = c->now;
    }
    if ((rc = lineage_record_cert(l, cert)) != 0 || (rc = lineage_switch(l, n)) != 0) {
        free(cert);
        return rc;
    }
    free(cert);
    l->batch_id = batch;
    if ((h = lineage_history(l, n)) != NULL) {
        h->superseded_at = 0;
        h->batch_id = batch;
    }
    l->current = n;
    if (n > l->versions) {
        l->versions = n;
    }
    if (key_location != NULL && key_location != l->key_location) {
        char *k = strdup(key_location);
        free(l->key_location);
        l->key_location = k;
    }
    free(l->live_dir);
    l->live_dir = lineage_path(l, "live");
    l->pending_version = 0;
    free(l->pending_key);
    free(l->pending_id);
    l->pending_key = l->pending_id = NULL;
    l->pending_started = 0;
    l->pending_reuse = 0;
    l->pending_new = 0;
    l->last_attempt = c->now;
    l->last_success = c->now;
    free(l->last_result);
    l->last_result = strdup("issued");
    l->last_exit = 0;
    l->failures = 0;
    l->next_attempt = 0;
    if ((rc = lineage_state_save(l)) != 0) {
        return rc;
    }
    event(c, TRISA_LINEAGE_STEP_SWITCHED, n, l->live_dir, l->not_after, 0, NULL);
    deploy_hook(c, n);
    return 0;
}

/* Record a failed attempt with its back-off, then run the failure hook. */
static void failed(run_ctx *c, int err)
{
    trisa_lineage *l = c->l;
    char msg[700], when[21];
    time_t next;
    const char *extra[3] = {NULL};
    char *v_err = NULL, *v_exit = NULL;
    trisa_buf b = TRISA_BUF_INIT;

    snprintf(msg, sizeof(msg), "%s",
             trisa_error_last()[0] ? trisa_error_last() : trisa_strerror(err));
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    l->failures++;
    next = lineage_backoff(l->failures, c->now, l->not_after);
    l->next_attempt = next;
    l->last_attempt = c->now;
    l->last_exit = trisa_error_exit_code(err);
    free(l->last_result);
    trisa_buf_printf(&b, "failed: %s", msg);
    l->last_result = trisa_buf_detach(&b, NULL);
    if (err == TRISA_EREJECTED && l->pending_version != 0) {
        /* The CA refused this request: the next attempt makes a new CSR from the lineage's
         * config (the key is kept) and sends it as a new request, even when its bytes are
         * those of the rejected one. */
        char *csr = vpath(c, "request.csr");
        if (csr != NULL) {
            unlink(csr);
        }
        free(csr);
        l->pending_new = 1;
    }
    if (lineage_state_save(l) != 0) {
        warn(c, "could not record the failure: %s", trisa_error_last());
    }
    warn(c, "renewal failed (attempt %u); next attempt not before %s", l->failures,
         lineage_time(when, next));
    trisa_buf_printf(&b, "TRISA_ERROR=%s", msg);
    v_err = trisa_buf_detach(&b, NULL);
    trisa_buf_printf(&b, "TRISA_EXIT=%d", l->last_exit);
    v_exit = trisa_buf_detach(&b, NULL);
    extra[0] = v_err;
    extra[1] = v_err != NULL ? v_exit : NULL;
    hook(c, l->failure_hook, l->pending_version, extra);
    free(v_err);
    free(v_exit);
}

static int begin(run_ctx *c, trisa_lineage *l, const trisa_lineage_renew_options *o)
{
    memset(c, 0, sizeof(*c));
    c->l = l;
    c->o = o;
    c->now = o->now != 0 ? o->now : time(NULL);
    return lineage_credentials_load(&c->cred, l->credentials_file);
}

static void end(run_ctx *c)
{
    lineage_credentials_free(&c->cred);
    free(c->vdir);
}

static int dry_run(run_ctx *c)
{
    trisa_enroll_options eo = TRISA_ENROLL_OPTIONS_INIT;
    trisa_keygen_spec spec = TRISA_KEYGEN_SPEC_INIT;
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    trisa_hsm *hsm = NULL;
    EVP_PKEY *key = NULL;
    char dir[] = "/tmp/trisa-renew-dry.XXXXXX", keyp[64], *conf = lineage_path(c->l, "trisa.conf");
    char *trust = c->l->has_trust_file ? lineage_path(c->l, "trust.pem") : NULL;
    char *csr_pem = NULL;
    size_t csr_len = 0;
    const char *keys[1] = {keyp};
    int rc, made_dir = 0;

    if (c->l->key_spec != NULL && (rc = trisa_keygen_spec_parse(&spec, c->l->key_spec)) != 0) {
        goto done;
    }
    if (c->l->pkcs11_uri != NULL) {
        /* The token is opened and logged in to (PIN checked); the new key would be made
         * there, so a software key stands in for the CSR of the server checks. */
        if ((rc = open_token(&hsm, c)) != 0) {
            goto done;
        }
        trisa_hsm_free(hsm);
        hsm = NULL;
    }
    if (mkdtemp(dir) == NULL) {
        rc = trisa_error_set(TRISA_EIO, "cannot make a temporary folder: %s", strerror(errno));
        goto done;
    }
    made_dir = 1;
    snprintf(keyp, sizeof(keyp), "%s/key.pem", dir);
    if (conf == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = trisa_keygen_generate(&key, &spec)) != 0 ||
        (rc = trisa_keygen_save(keyp, key, NULL, 0)) != 0 ||
        (rc = trisa_csr_config_load(&cfg, conf, NULL)) != 0 ||
        (rc = trisa_csr_create(&csr, cfg, key, NULL)) != 0 ||
        (rc = trisa_csr_to_pem(&csr_pem, &csr_len, csr)) != 0) {
        goto done;
    }
    fill_enroll(&eo, c);
    eo.source = TRISA_ENROLL_FROM_CSR;
    eo.csr_data = csr_pem;
    eo.csr_len = csr_len;
    eo.key_files = keys;
    eo.key_count = 1;
    eo.trust_file = trust;
    eo.dry_run = 1;
    rc = trisa_enroll_run(NULL, &eo);
    if (rc == 0) {
        trisa_buf b = TRISA_BUF_INIT;
        char *subject = trisa_name_string(X509_REQ_get_subject_name(trisa_csr_get0_req(csr)));
        trisa_buf_printf(&b,
                         "would renew lineage %s as version %u: a new %s key%s, a CSR for %s, "
                         "uploaded to profile %lld",
                         c->l->name, c->l->versions + 1,
                         c->l->key_spec ? c->l->key_spec : "rsa:4096",
                         c->l->pkcs11_uri ? " on the token" : "", subject != NULL ? subject : "?",
                         c->l->profile_id);
        free(subject);
        event(c, TRISA_LINEAGE_STEP_DRY_RUN, c->l->versions + 1, b.data, 0, 0, NULL);
        trisa_buf_free(&b, 0);
    }
done:
    if (made_dir) {
        unlink(keyp);
        rmdir(dir);
    }
    free(csr_pem);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    trisa_keygen_free(key);
    trisa_hsm_free(hsm);
    free(conf);
    free(trust);
    return rc;
}

static int renew_locked(run_ctx *c, int *renewed)
{
    trisa_lineage *l = c->l;
    EVP_PKEY *key = NULL;
    trisa_hsm *hsm = NULL;
    char *csr = NULL, *trust = NULL, when[21];
    long long batch = 0;
    int rc, back_off = 0, finish;

    if (l->imported) {
        if (trisa_lineage_due(l, c->now, NULL)) {
            warn(c,
                 "the certificate expires %s: it comes as a delivered bundle, so import the "
                 "new one ('trisa-renew import %s --zip FILE ...') when it arrives",
                 lineage_time(when, l->not_after), l->name);
        }
        event(c, TRISA_LINEAGE_STEP_NOT_DUE, l->current, "imported lineage", 0, 0, NULL);
        return 0;
    }
    /* --force-upload and --batch finish an interrupted renewal: one must be there. */
    finish = c->o->force_upload || c->o->batch_id > 0;
    if (finish && l->pending_version == 0) {
        return trisa_error_set(TRISA_EINVAL,
                               "lineage %s: no interrupted renewal to continue (--force-upload "
                               "and --batch finish one)",
                               l->name);
    }
    if (!c->o->force && l->pending_version == 0 && !trisa_lineage_due(l, c->now, &back_off)) {
        trisa_lineage_info info;
        trisa_lineage_get_info(&info, l, c->now);
        event(c, TRISA_LINEAGE_STEP_NOT_DUE, l->current, NULL, info.renewal_due, 0, NULL);
        return 0;
    }
    if (!c->o->force && !finish &&
        (back_off || (l->pending_version != 0 && l->next_attempt > c->now))) {
        event(c, TRISA_LINEAGE_STEP_BACKING_OFF, l->pending_version, NULL, l->next_attempt, 0,
              NULL);
        return 0;
    }
    if (l->current != 0 && l->not_after != 0 && l->not_after <= c->now) {
        warn(c, "the live certificate EXPIRED at %s: renewing now",
             lineage_time(when, l->not_after));
    }
    if (c->o->dry_run) {
        return dry_run(c);
    }
    if (l->pending_version == 0) {
        l->pending_version = l->versions + 1;
        l->pending_started = c->now;
        l->pending_reuse = c->o->reuse_key && l->key_location != NULL;
        if ((rc = lineage_state_save(l)) != 0) {
            return rc;
        }
    } else {
        event(c, TRISA_LINEAGE_STEP_RESUMING, l->pending_version, NULL, l->pending_started, 0,
              NULL);
    }
    if ((rc = make_vdir(c, l->pending_version)) != 0 || (rc = pending_key(&key, &hsm, c)) != 0 ||
        (rc = pending_csr(c, key, &csr)) != 0) {
        goto fail;
    }
    /* The request runs with the token closed here: the engine opens its own session. */
    trisa_keygen_free(key);
    key = NULL;
    trisa_hsm_free(hsm);
    hsm = NULL;
    if (l->has_trust_file && (trust = lineage_path(l, "trust.pem")) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto fail;
    }
    {
        char *kf =
            l->pkcs11_uri == NULL ? (l->pending_reuse ? l->key_location : l->pending_key) : NULL;
        if ((rc = run_request(c, csr, trust, kf, &batch)) != 0) {
            goto fail;
        }
    }
    if (l->pkcs11_uri == NULL && l->pending_reuse) {
        /* The reused key goes into the new version too, so each version is whole. */
        char *dst = vpath(c, "key.pem");
        unsigned char *data = NULL;
        size_t len = 0;
        if (dst == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto fail;
        }
        rc = trisa_file_read(&data, &len, l->key_location, 1u << 20);
        if (rc == 0) {
            rc = trisa_file_write_atomic(dst, data, len, 0600, TRISA_WRITE_REPLACE);
            OPENSSL_cleanse(data, len);
        }
        free(data);
        if (rc == 0) {
            free(l->pending_key);
            l->pending_key = dst;
        } else {
            free(dst);
            goto fail;
        }
    }
    if ((rc = go_live(c, l->pending_version,
                      l->pending_key != NULL ? l->pending_key : l->key_location, batch)) != 0) {
        goto fail;
    }
    if (renewed != NULL) {
        *renewed = 1;
    }
    free(csr);
    free(trust);
    return 0;
fail:
    trisa_keygen_free(key);
    trisa_hsm_free(hsm);
    free(csr);
    free(trust);
    {
        int saved = rc;
        char msg[700];
        snprintf(msg, sizeof(msg), "%s", trisa_error_last());
        failed(c, rc);
        trisa_error_set(saved, "%s", msg);
    }
    return rc;
}

/* Superseded certificates: revoke after the grace period; prune token objects. */
static void after(run_ctx *c)
{
    trisa_lineage *l = c->l;
    long days = c->o->keep_previous_days > 0   ? c->o->keep_previous_days
                : c->o->keep_previous_days < 0 ? 0
                                               : LINEAGE_DEFAULT_KEEP_DAYS;
    time_t limit = c->now - (time_t)days * 86400;
    trisa_sectigo *client = NULL;
    int changed = 0;

    for (size_t i = 0; i < l->nhistory; i++) {
        lineage_version *h = &l->history[i];
        if (h->number == l->current || h->superseded_at == 0 || h->superseded_at > limit) {
            continue;
        }
        if (c->o->revoke_superseded && !h->revoked && h->serial != NULL && *h->serial != '\0' &&
            !l->imported) {
            char serial[200];
            size_t k = 0;
            for (const char *p = h->serial; *p != '\0' && k + 1 < sizeof(serial); p++) {
                if (*p != ':') {
                    serial[k++] = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
                }
            }
            serial[k] = '\0';
            if (client == NULL) {
                trisa_sectigo_options so = TRISA_SECTIGO_OPTIONS_INIT;
                so.endpoint = c->cred.endpoint;
                so.environment = c->cred.environment;
                so.username = c->cred.username;
                so.password = c->cred.password;
                so.ca_bundle = c->cred.ca_bundle;
                so.cache_dir = c->o->cache_dir;
                if (trisa_sectigo_new(&client, &so) != 0) {
                    warn(c, "cannot revoke superseded certificates: %s", trisa_error_last());
                    break;
                }
            }
            /* RFC 5280 reason 4: superseded. */
            if (trisa_sectigo_revoke(client, l->profile_id, 4, serial) == 0) {
                h->revoked = 1;
                changed = 1;
                event(c, TRISA_LINEAGE_STEP_REVOKED, h->number, h->serial, 0, 0, NULL);
            } else {
                warn(c, "revoking version %u (serial %s) failed: %s", h->number, h->serial,
                     trisa_error_last());
            }
        }
        if (c->o->prune && l->pkcs11_uri != NULL && !h->pruned && h->key != NULL &&
            strncmp(h->key, "pkcs11:", 7) == 0) {
            trisa_hsm *hsm = NULL;
            if (open_token(&hsm, c) == 0 && trisa_hsm_delete_objects(hsm, h->key, NULL) == 0) {
                h->pruned = 1;
                changed = 1;
                event(c, TRISA_LINEAGE_STEP_PRUNED, h->number, h->key, 0, 0, NULL);
            } else {
                warn(c, "pruning version %u's token objects failed: %s", h->number,
                     trisa_error_last());
            }
            trisa_hsm_free(hsm);
        }
    }
    trisa_sectigo_free(client);
    if (changed && lineage_state_save(l) != 0) {
        warn(c, "could not record: %s", trisa_error_last());
    }
}

int trisa_lineage_renew(trisa_lineage *l, const trisa_lineage_renew_options *o, int *renewed)
{
    run_ctx c;
    int rc, fd = -1;

    if (renewed != NULL) {
        *renewed = 0;
    }
    if (l == NULL || o == NULL || o->version != TRISA_LINEAGE_RENEW_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "renew options: missing or of another version");
    }
    /* The common case of a timer run costs two small reads: nothing due, no renewal in
     * progress: said without the lock or the credentials. Otherwise the state is read
     * again under the lock, and due-ness judged again there. */
    if (!o->force && !o->force_upload && o->batch_id <= 0 && !o->dry_run && !l->imported &&
        !o->prune && !o->revoke_superseded && l->pending_version == 0 &&
        !trisa_lineage_due(l, o->now != 0 ? o->now : time(NULL), NULL)) {
        run_ctx quick;
        trisa_lineage_info info;
        memset(&quick, 0, sizeof(quick));
        quick.l = l;
        quick.o = o;
        trisa_lineage_get_info(&info, l, 0);
        event(&quick, TRISA_LINEAGE_STEP_NOT_DUE, l->current, NULL, info.renewal_due, 0, NULL);
        return 0;
    }
    if ((rc = begin(&c, l, o)) != 0) {
        return rc;
    }
    if ((rc = lineage_lock(l, &fd)) != 0) {
        goto done;
    }
    /* Another process may have renewed while this one waited for the lock. */
    if ((rc = lineage_state_load(l)) != 0) {
        goto done;
    }
    rc = renew_locked(&c, renewed);
    if (rc == 0 && !o->dry_run && (o->prune || o->revoke_superseded)) {
        after(&c);
    }
done:
    lineage_unlock(fd);
    end(&c);
    return rc;
}

int trisa_lineage_rollback(trisa_lineage *l, const trisa_lineage_renew_options *o)
{
    run_ctx c;
    unsigned prev = 0;
    int rc, fd = -1;

    if (l == NULL || o == NULL || o->version != TRISA_LINEAGE_RENEW_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "rollback options: missing or of another version");
    }
    memset(&c, 0, sizeof(c));
    c.l = l;
    c.o = o;
    c.now = o->now != 0 ? o->now : time(NULL);
    if ((rc = lineage_lock(l, &fd)) != 0 || (rc = lineage_state_load(l)) != 0) {
        goto done;
    }
    /* The newest version before the live one that was live once and is whole. */
    for (unsigned n = l->current; n-- > 1;) {
        lineage_version *h = NULL;
        for (size_t i = 0; i < l->nhistory; i++) {
            if (l->history[i].number == n) {
                h = &l->history[i];
            }
        }
        if (h != NULL && h->superseded_at != 0) {
            prev = n;
            break;
        }
    }
    if (prev == 0) {
        rc = trisa_error_set(TRISA_ENOTFOUND, "lineage %s: no earlier version to roll back to",
                             l->name);
        goto done;
    }
    if ((rc = make_vdir(&c, prev)) != 0) {
        goto done;
    }
    {
        lineage_version *h = lineage_history(l, prev);
        char *key = h != NULL && h->key != NULL ? strdup(h->key) : NULL;
        long long batch = h != NULL ? h->batch_id : 0;
        rc = go_live(&c, prev, key, batch);
        free(key);
    }
done:
    lineage_unlock(fd);
    free(c.vdir);
    return rc;
}

int trisa_lineage_import(const char *state_dir, const char *name, const char *bundle_file,
                         const char *password_source, const char *trust_file, int trust_bundle_root,
                         const trisa_lineage_renew_options *o)
{
    trisa_lineage *l = NULL;
    trisa_enroll_options eo = TRISA_ENROLL_OPTIONS_INIT;
    trisa_enroll_result *r = NULL;
    char *trust = NULL;
    run_ctx c;
    int rc, fd = -1;

    memset(&c, 0, sizeof(c));
    if (o == NULL || o->version != TRISA_LINEAGE_RENEW_OPTIONS_VERSION || bundle_file == NULL) {
        return trisa_error_set(TRISA_EINVAL, "import: a bundle file and options are needed");
    }
    rc = trisa_lineage_load(&l, state_dir, name);
    if (rc == TRISA_ENOTFOUND) {
        trisa_lineage_add_options ao = TRISA_LINEAGE_ADD_OPTIONS_INIT;
        trisa_error_clear();
        ao.state_dir = state_dir;
        ao.imported = 1;
        ao.trust_file = trust_file;
        ao.trust_bundle_root = trust_bundle_root;
        if ((rc = trisa_lineage_add(name, &ao)) != 0 ||
            (rc = trisa_lineage_load(&l, state_dir, name)) != 0) {
            goto done;
        }
    } else if (rc != 0) {
        goto done;
    }
    c.l = l;
    c.o = o;
    c.now = o->now != 0 ? o->now : time(NULL);
    if ((rc = lineage_lock(l, &fd)) != 0 || (rc = lineage_state_load(l)) != 0) {
        goto done;
    }
    if (l->pending_version == 0) {
        l->pending_version = l->versions + 1;
        l->pending_started = c.now;
    }
    if ((rc = make_vdir(&c, l->pending_version)) != 0) {
        goto done;
    }
    if (trust_file == NULL && l->has_trust_file && (trust = lineage_path(l, "trust.pem")) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    eo.source = TRISA_ENROLL_FROM_BUNDLE;
    eo.bundle_file = bundle_file;
    eo.bundle_password = password_source;
    eo.trust_file = trust_file != NULL ? trust_file : trust;
    eo.trust_bundle_root = trust_bundle_root || (trust_file == NULL && l->trust_bundle_root);
    eo.dns_names = (const char *const *)l->dns;
    eo.dns_count = l->ndns;
    eo.state_dir = l->state_dir;
    eo.out_dir = c.vdir;
    eo.force = 1; /* a retried import replaces what an interrupted one left */
    eo.progress = on_enroll_event;
    eo.warn = on_enroll_warn;
    eo.data = &c;
    if ((rc = trisa_enroll_run(&r, &eo)) != 0) {
        goto done;
    }
    {
        char *key = vpath(&c, "key.pem");
        rc = key != NULL ? go_live(&c, l->pending_version, key, 0)
                         : trisa_error_set(TRISA_ENOMEM, "out of memory");
        free(key);
    }
done:
    trisa_enroll_result_free(r);
    lineage_unlock(fd);
    free(c.vdir);
    free(trust);
    trisa_lineage_free(l);
    return rc;
}
