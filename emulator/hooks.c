/*
 * Test hooks (only with --test-hooks): the log of requests received and the faults
 * injected on an endpoint for its next N requests.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emulator/emu.h"

#define LOG_CAP 4096 /* the oldest entries go first */

void emu_hooks_init(emu_hooks *h)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    h->next_fault_id = 1;
    h->next_seq = 1;
}

void emu_hooks_free(emu_hooks *h)
{
    for (size_t i = 0; i < h->nfaults; i++) {
        free(h->faults[i].path);
    }
    free(h->faults);
    for (size_t i = 0; h->log != NULL && i < h->loglen; i++) {
        free(h->log[(h->logstart + i) % h->logcap].path);
        free(h->log[(h->logstart + i) % h->logcap].info);
    }
    free(h->log);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof(*h));
}

static int matches(const emu_fault *f, const char *method, const char *path, const char *route)
{
    /* The issuing step is no request: only its own faults reach it, whatever their method. */
    if (strcmp(path, EMU_ISSUE_PATH) == 0 || strcmp(f->path, EMU_ISSUE_PATH) == 0) {
        return strcmp(f->path, path) == 0;
    }
    if (f->method[0] != '\0' && strcmp(f->method, method) != 0) {
        return 0;
    }
    return strcmp(f->path, "*") == 0 || strcmp(f->path, path) == 0 ||
           (route != NULL && strcmp(f->path, route) == 0);
}

const char *emu_auth_scheme(const char *header, char *buf, size_t cap)
{
    /* The IANA HTTP authentication schemes: anything else may be a credential itself. */
    static const char *const schemes[] = {
        "Basic",        "Bearer",          "Digest",        "HOBA",  "Mutual",    "Negotiate",
        "NTLM",         "SCRAM-SHA-1",     "SCRAM-SHA-256", "vapid", "Concealed", "DPoP",
        "PrivateToken", "AWS4-HMAC-SHA256"};
    size_t n = strcspn(header, " ");

    if (header[n] == ' ') {
        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
            if (strlen(schemes[i]) == n && strncasecmp(header, schemes[i], n) == 0 && n < cap) {
                memcpy(buf, header, n);
                buf[n] = '\0';
                return buf;
            }
        }
    }
    return "invalid";
}

int emu_hooks_take(emu_hooks *h, const char *method, const char *path, const char *route,
                   emu_fault *out)
{
    int found = 0;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->nfaults; i++) {
        emu_fault *f = &h->faults[i];
        if (f->remaining > 0 && matches(f, method, path, route)) {
            *out = *f;
            out->path = NULL;
            found = 1;
            if (--f->remaining == 0) {
                free(f->path);
                memmove(f, f + 1, (h->nfaults - i - 1) * sizeof(*f));
                h->nfaults--;
            }
            break;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return found;
}

static void add_str(json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

/* The longest body the log keeps (a JSON request is small; an upload is multipart). */
#define LOG_BODY_MAX 65536

/* A copy of a JSON body with the string value of each secret member overwritten by '*'
 * (same length, so the bytes around it are as received); NULL when the body is not JSON,
 * too long or not text. */
static char *masked_body(const emu_reqinfo *info)
{
    static const char *const secrets[] = {"\"password\"", "\"pkcs12Password\"", "\"refreshToken\""};
    char *s;

    if (info->body == NULL || info->body_len == 0 || info->body_len > LOG_BODY_MAX ||
        info->content_type == NULL ||
        strncasecmp(info->content_type, "application/json", 16) != 0 ||
        memchr(info->body, '\0', info->body_len) != NULL ||
        (s = malloc(info->body_len + 1)) == NULL) {
        return NULL;
    }
    memcpy(s, info->body, info->body_len);
    s[info->body_len] = '\0';
    for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
        for (char *p = strstr(s, secrets[k]); p != NULL; p = strstr(p + 1, secrets[k])) {
            char *v = p + strlen(secrets[k]);
            v += strspn(v, " \t\r\n");
            if (*v != ':') {
                continue;
            }
            v += 1 + strspn(v + 1, " \t\r\n");
            if (*v != '"') {
                continue;
            }
            for (v++; *v != '\0' && *v != '"'; v++) {
                if (*v == '\\' && v[1] != '\0') {
                    *v++ = '*';
                }
                *v = '*';
            }
        }
    }
    return s;
}

void emu_hooks_record(emu_hooks *h, const char *method, const char *path, int status, double ms,
                      const emu_reqinfo *info)
{
    struct emu_logent *e;
    char *p = strdup(path), *inf = NULL;
    json_object *o = json_object_new_object();

    if (o != NULL && info != NULL) {
        const char *s;
        add_str(o, "contentType", info->content_type);
        add_str(o, "accept", info->accept);
        add_str(o, "userAgent", info->user_agent);
        add_str(o, "authorization", info->auth_scheme);
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)info->bytes));
        {
            char *body = masked_body(info);
            json_object_object_add(o, "body", body != NULL ? json_object_new_string(body) : NULL);
            free(body);
        }
        s = json_object_to_json_string_ext(o,
                                           JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        inf = strdup(s);
    }
    json_object_put(o);
    if (p == NULL) {
        free(inf);
        return;
    }
    pthread_mutex_lock(&h->lock);
    if (h->log == NULL) {
        h->log = calloc(LOG_CAP, sizeof(*h->log));
        h->logcap = h->log ? LOG_CAP : 0;
    }
    if (h->logcap == 0) {
        pthread_mutex_unlock(&h->lock);
        free(p);
        free(inf);
        return;
    }
    if (h->loglen == h->logcap) {
        free(h->log[h->logstart].path);
        free(h->log[h->logstart].info);
        h->logstart = (h->logstart + 1) % h->logcap;
        h->loglen--;
    }
    e = &h->log[(h->logstart + h->loglen) % h->logcap];
    e->seq = h->next_seq++;
    snprintf(e->method, sizeof(e->method), "%s", method);
    e->path = p;
    e->info = inf;
    e->status = status;
    e->ms = ms;
    h->loglen++;
    pthread_mutex_unlock(&h->lock);
}

int emu_api_hook_requests(emu_req *q, emu_resp *r)
{
    emu_hooks *h = &q->emu->hooks;
    json_object *arr = json_object_new_array();

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; arr != NULL && i < h->loglen; i++) {
        struct emu_logent *e = &h->log[(h->logstart + i) % h->logcap];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "seq", json_object_new_int64(e->seq));
        json_object_object_add(o, "method", json_object_new_string(e->method));
        json_object_object_add(o, "path", json_object_new_string(e->path));
        json_object_object_add(o, "status", json_object_new_int(e->status));
        if (e->info != NULL) {
            json_object *extra = json_tokener_parse(e->info);
            if (extra != NULL) {
                json_object_object_foreach(extra, k, v)
                {
                    json_object_object_add(o, k, json_object_get(v));
                }
                json_object_put(extra);
            }
        }
        json_object_array_add(arr, o);
    }
    pthread_mutex_unlock(&h->lock);
    return emu_json(r, 200, arr);
}

int emu_api_hook_requests_clear(emu_req *q, emu_resp *r)
{
    emu_hooks *h = &q->emu->hooks;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->loglen; i++) {
        free(h->log[(h->logstart + i) % h->logcap].path);
        free(h->log[(h->logstart + i) % h->logcap].info);
    }
    h->loglen = 0;
    h->logstart = 0;
    pthread_mutex_unlock(&h->lock);
    r->status = 204;
    return 0;
}

int emu_api_hook_faults_clear(emu_req *q, emu_resp *r)
{
    emu_hooks *h = &q->emu->hooks;

    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->nfaults; i++) {
        free(h->faults[i].path);
    }
    h->nfaults = 0;
    pthread_mutex_unlock(&h->lock);
    r->status = 204;
    return 0;
}

static const char *kind_name(int k)
{
    switch (k) {
    case EMU_FAULT_STATUS:
        return "status";
    case EMU_FAULT_DELAY:
        return "delay";
    case EMU_FAULT_DROP:
        return "drop";
    default:
        return "cut";
    }
}

static json_object *fault_json(const emu_fault *f)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_int64(f->id));
    json_object_object_add(o, "method", json_object_new_string(f->method[0] ? f->method : "*"));
    json_object_object_add(o, "path", json_object_new_string(f->path));
    json_object_object_add(o, "kind", json_object_new_string(kind_name(f->kind)));
    json_object_object_add(o, "count", json_object_new_int64(f->remaining));
    json_object_object_add(o, "status", json_object_new_int(f->status));
    json_object_object_add(o, "retryAfter", json_object_new_int64(f->retry_after));
    json_object_object_add(o, "delayMs", json_object_new_int64(f->delay_ms));
    json_object_object_add(o, "cutAfter", json_object_new_int64(f->cut_after));
    return o;
}

static int field_long(json_object *o, const char *key, long def, long min, long max, long *out)
{
    json_object *v;

    *out = def;
    if (!json_object_object_get_ex(o, key, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return -1;
    }
    *out = (long)json_object_get_int64(v);
    return (*out < min || *out > max) ? -1 : 0;
}

int emu_api_hook_faults(emu_req *q, emu_resp *r)
{
    emu_hooks *h = &q->emu->hooks;
    json_object *o = NULL, *v;
    emu_fault f;
    const char *kind;
    int ret;

    if (strcmp(q->method, "GET") == 0) {
        json_object *arr = json_object_new_array();
        pthread_mutex_lock(&h->lock);
        for (size_t i = 0; i < h->nfaults; i++) {
            json_object_array_add(arr, fault_json(&h->faults[i]));
        }
        pthread_mutex_unlock(&h->lock);
        return emu_json(r, 200, arr);
    }
    memset(&f, 0, sizeof(f));
    o = json_tokener_parse(q->body ? (const char *)q->body : "");
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "fault: expected a JSON object");
        goto done;
    }
    if (!json_object_object_get_ex(o, "path", &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "fault: \"path\" (string) is required");
        goto done;
    }
    f.path = strdup(json_object_get_string(v));
    if (json_object_object_get_ex(o, "method", &v)) {
        const char *m = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || strlen(m) >= sizeof(f.method)) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "fault: \"method\" must be a string");
            goto done;
        }
        snprintf(f.method, sizeof(f.method), "%s", strcmp(m, "*") == 0 ? "" : m);
    }
    kind = json_object_object_get_ex(o, "kind", &v) ? json_object_get_string(v) : "";
    if (strcmp(kind, "status") == 0) {
        f.kind = EMU_FAULT_STATUS;
    } else if (strcmp(kind, "delay") == 0) {
        f.kind = EMU_FAULT_DELAY;
    } else if (strcmp(kind, "drop") == 0) {
        f.kind = EMU_FAULT_DROP;
    } else if (strcmp(kind, "cut") == 0) {
        f.kind = EMU_FAULT_CUT;
    } else {
        ret = emu_error(r, 400, EMU_EC_VALIDATION,
                        "fault: \"kind\" must be status, delay, drop or cut");
        goto done;
    }
    {
        long status;
        if (field_long(o, "count", 1, 1, 1000000, &f.remaining) != 0 ||
            field_long(o, "status", 503, 100, 599, &status) != 0 ||
            field_long(o, "retryAfter", -1, -1, 86400, &f.retry_after) != 0 ||
            field_long(o, "delayMs", 1000, 0, 600000, &f.delay_ms) != 0 ||
            field_long(o, "cutAfter", 0, 0, 1L << 30, &f.cut_after) != 0) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION,
                            "fault: count 1-1000000, status 100-599, retryAfter 0-86400, "
                            "delayMs 0-600000, cutAfter >= 0 (integers)");
            goto done;
        }
        f.status = (int)status;
    }
    if (f.path == NULL) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
        goto done;
    }
    if (f.path[0] == '@' && (strcmp(f.path, EMU_ISSUE_PATH) != 0 ||
                             (f.kind != EMU_FAULT_DELAY && f.kind != EMU_FAULT_STATUS))) {
        ret =
            emu_error(r, 400, EMU_EC_VALIDATION,
                      "fault: the only step is \"" EMU_ISSUE_PATH "\", with kind delay or status");
        goto done;
    }
    pthread_mutex_lock(&h->lock);
    if (h->nfaults == h->capfaults) {
        size_t cap = h->capfaults ? h->capfaults * 2 : 8;
        emu_fault *nf = realloc(h->faults, cap * sizeof(*nf));
        if (nf == NULL) {
            pthread_mutex_unlock(&h->lock);
            ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
            goto done;
        }
        h->faults = nf;
        h->capfaults = cap;
    }
    f.id = h->next_fault_id++;
    h->faults[h->nfaults++] = f;
    ret = emu_json(r, 201, fault_json(&f));
    f.path = NULL; /* owned by the list now */
    pthread_mutex_unlock(&h->lock);
done:
    free(f.path);
    json_object_put(o);
    return ret;
}

/* PUT /_emulator/batches/{id}/status {"status": "...", "rejectReason": "..."}: put a batch
 * in any state, so clients can meet REJECTED, FAILED or a batch that stays PROCESSING. */
int emu_api_hook_batch_status(emu_req *q, emu_resp *r)
{
    static const char *const stored[] = {"FAILED", "REJECTED", "NOT_ACCEPTABLE", "BROKEN",
                                         "REVOKED"};
    json_object *o = json_tokener_parse(q->body ? (const char *)q->body : "");
    json_object *v;
    const char *status = NULL, *reason = "";
    int64_t now = emu_now(q->emu), ready = -1, expires = -1;
    int collected = 0, err, ret;
    const char *st = "PROCESSING";

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "status", &v) || !json_object_is_type(v, json_type_string)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected {\"status\": \"...\"}");
        goto done;
    }
    status = json_object_get_string(v);
    if (json_object_object_get_ex(o, "rejectReason", &v) &&
        json_object_is_type(v, json_type_string)) {
        reason = json_object_get_string(v);
    }
    if (strcmp(status, "PROCESSING") == 0) {
        ready = INT64_MAX / 2; /* until told otherwise */
    } else if (strcmp(status, "READY_FOR_DOWNLOAD") == 0) {
        ready = now;
    } else if (strcmp(status, "COLLECTED") == 0) {
        ready = now;
        collected = 1;
    } else if (strcmp(status, "REMOVED_AFTER_EXPIRATION") == 0) {
        ready = now;
        expires = now;
    } else {
        st = NULL;
        for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
            if (strcmp(status, stored[i]) == 0) {
                st = stored[i];
            }
        }
        if (st == NULL) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "unknown batch status %.64s", status);
            goto done;
        }
    }
    err = emu_store_force(q->emu->store, q->ids[0], st, ready, expires, collected, reason);
    if (err == TRISA_ENOTFOUND) {
        ret = emu_error(r, 404, EMU_EC_NOT_FOUND, "batch %ld not found", q->ids[0]);
    } else if (err != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
    } else {
        r->status = 204;
        ret = 0;
    }
done:
    json_object_put(o);
    return ret;
}

/* GET /_emulator/clock, PUT /_emulator/clock {"offsetSeconds": N}: shift the emulator's
 * clock (tokens, batch processing and expiry) so that tests need not sleep. */
int emu_api_hook_clock(emu_req *q, emu_resp *r)
{
    json_object *o = NULL, *v;
    int ret;

    if (strcmp(q->method, "PUT") == 0) {
        int64_t off;
        o = json_tokener_parse(q->body ? (const char *)q->body : "");
        if (o == NULL || !json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, "offsetSeconds", &v) ||
            !json_object_is_type(v, json_type_int) ||
            (off = json_object_get_int64(v)) < -3153600000LL || off > 3153600000LL) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION,
                            "expected {\"offsetSeconds\": N} with N within 100 years");
            goto done;
        }
        atomic_store(&q->emu->clock_offset_ms, off * 1000);
    }
    json_object_put(o);
    o = json_object_new_object();
    json_object_object_add(o, "now", json_object_new_int64(emu_now(q->emu)));
    json_object_object_add(o, "offsetSeconds",
                           json_object_new_int64(atomic_load(&q->emu->clock_offset_ms) / 1000));
    ret = emu_json(r, 200, o);
    o = NULL;
done:
    json_object_put(o);
    return ret;
}
