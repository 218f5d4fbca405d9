/*
 * The listener: libmicrohttpd with an epoll thread pool and keep-alive, request bodies
 * buffered up to the configured limit (413 beyond), routing on the path as sent (never
 * percent-decoded) to the endpoints, the Bearer-token check for /api/v1, faults, and one
 * log line per request.
 *
 * Slow clients cannot take it down: epoll has no descriptor ceiling, the number of
 * connections is bounded in all and per client address, and a watchdog closes a
 * connection that has not sent its request headers within limits.headerTimeout (or its
 * body within limits.bodyTimeout), however slowly it trickles bytes to stay "active".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/provider.h>

#include "emulator/emu.h"

enum { R_NONE = 0, R_AUTH = 1, R_HOOK = 2 };

typedef struct route {
    const char *method;
    const char *pattern; /* {id} matches a decimal number */
    emu_handler fn;
    int flags;
} route;

static const route routes[] = {
    {"POST", "/auth/pwd", emu_api_auth_pwd, R_NONE},
    {"POST", "/auth/refresh", emu_api_auth_refresh, R_NONE},
    {"GET", "/api/v1/devices", emu_api_devices, R_AUTH},
    {"GET", "/api/v1/authorities/allowed", emu_api_authorities, R_AUTH},
    {"GET", "/api/v1/authorities/{id}/balanceavailable", emu_api_balance, R_AUTH},
    {"GET", "/api/v1/profiles", emu_api_profiles, R_AUTH},
    {"GET", "/api/v1/profiles/{id}", emu_api_profile, R_AUTH},
    {"GET", "/api/v1/profiles/{id}/parameters", emu_api_profile_params, R_AUTH},
    {"GET", "/api/v1/organizations/user", emu_api_organization, R_AUTH},
    {"PUT", "/api/v1/batches/createSingleCertBatch", emu_api_create, R_AUTH},
    {"POST", "/api/v1/batches/upload", emu_api_upload, R_AUTH},
    {"GET", "/api/v1/batches/{id}", emu_api_batch, R_AUTH},
    {"GET", "/api/v1/batches/{id}/status", emu_api_batch_status, R_AUTH},
    {"GET", "/api/v1/batches/{id}/processing_info", emu_api_batch_info, R_AUTH},
    {"GET", "/api/v1/batches/{id}/download", emu_api_batch_download, R_AUTH},
    {"POST", "/api/v1/certificates/find", emu_api_find, R_AUTH},
    {"POST", "/api/v1/certificates/{id}/revoke", emu_api_revoke, R_AUTH},
    {"GET", "/_emulator/requests", emu_api_hook_requests, R_HOOK},
    {"DELETE", "/_emulator/requests", emu_api_hook_requests_clear, R_HOOK},
    {"GET", "/_emulator/faults", emu_api_hook_faults, R_HOOK},
    {"POST", "/_emulator/faults", emu_api_hook_faults, R_HOOK},
    {"DELETE", "/_emulator/faults", emu_api_hook_faults_clear, R_HOOK},
    {"PUT", "/_emulator/batches/{id}/status", emu_api_hook_batch_status, R_HOOK},
    {"GET", "/_emulator/clock", emu_api_hook_clock, R_HOOK},
    {"PUT", "/_emulator/clock", emu_api_hook_clock, R_HOOK},
};

/* A connection, from accept to close, for the watchdog. */
enum { C_HEADERS = 0, C_BODY, C_ACTIVE, C_SHUT };

struct conn_track {
    int fd;
    int state;
    int64_t since_ms; /* monotonic: when the current state began */
    struct conn_track *prev, *next;
};

/* Per-request state, from the first callback to the completion notice. */
typedef struct conn_ctx {
    trisa_buf body;
    char *content_type, *accept, *user_agent, *auth_scheme; /* with --test-hooks only */
    size_t bytes;
    int too_big, responded, status, hook;
    struct timespec start;
    char method[16];
    char *path;
    char client[INET6_ADDRSTRLEN];
} conn_ctx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t emu_now(const trisa_emu *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           (e != NULL ? atomic_load(&((trisa_emu *)e)->clock_offset_ms) : 0);
}

void emu_iso_time(char out[40], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    char tmp[128];

    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    snprintf(out, 40, "%.39s", tmp);
}

/* The error JSON's timestamp is real time: it says when, whatever the clock hook says. */
int emu_error(emu_resp *r, int status, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_object *o = json_object_new_object();

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_object_add(o, "status", json_object_new_int(status));
    json_object_object_add(o, "message", json_object_new_string(msg));
    json_object_object_add(o, "errorCode", json_object_new_int(code));
    json_object_object_add(o, "timestamp", json_object_new_int64(emu_now(NULL)));
    return emu_json(r, status, o);
}

int emu_json(emu_resp *r, int status, json_object *o)
{
    size_t len = 0;
    const char *s;

    r->status = status;
    r->content_type = "application/json;charset=UTF-8";
    free(r->body);
    r->body = NULL;
    r->len = 0;
    if (o == NULL) {
        r->status = 500;
        return 0;
    }
    s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    r->body = malloc(len + 1);
    if (r->body != NULL) {
        memcpy(r->body, s, len + 1);
        r->len = len;
    } else {
        r->status = 500;
    }
    json_object_put(o);
    return 0;
}

int emu_text(emu_resp *r, int status, const char *type, const char *text)
{
    free(r->body);
    r->status = status;
    r->content_type = type;
    r->len = strlen(text);
    r->body = (unsigned char *)strdup(text);
    if (r->body == NULL) {
        r->status = 500;
        r->len = 0;
    }
    return 0;
}

/* Match path against pattern; numeric {id} segments go to ids. */
static int match(const char *pattern, const char *path, long ids[2])
{
    int nid = 0;

    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            long v = 0;
            int digits = 0;
            while (*path >= '0' && *path <= '9') {
                if (digits++ >= 15) {
                    return 0;
                }
                v = v * 10 + (*path++ - '0');
            }
            if (digits == 0 || nid >= 2) {
                return 0;
            }
            ids[nid++] = v;
            pattern += 4;
            continue;
        }
        if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* The last token each worker thread verified: clients reuse one token for many calls,
 * and a verified token's claims never change while the server (and its key) lives. */
static _Thread_local struct {
    const trisa_emu *emu;
    char token[1024];
    emu_claims claims;
} last_verified;

static int verify_cached(trisa_emu *e, const char *tok, emu_claims *cl)
{
    size_t len = strlen(tok);

    if (last_verified.emu == e && len < sizeof(last_verified.token) &&
        memcmp(last_verified.token, tok, len + 1) == 0) {
        *cl = last_verified.claims;
        return 0;
    }
    if (emu_jwt_verify(e->jwt_key, sizeof(e->jwt_key), tok, len, cl) != 0) {
        return -1;
    }
    if (len < sizeof(last_verified.token)) {
        last_verified.emu = e;
        memcpy(last_verified.token, tok, len + 1);
        last_verified.claims = *cl;
    }
    return 0;
}

static int check_token(emu_req *q, emu_resp *r)
{
    trisa_emu *e = q->emu;
    emu_claims cl;
    const char *tok;
    const emu_account *a;
    int64_t now = emu_now(e) / 1000;

    if (q->auth == NULL || strncasecmp(q->auth, "Bearer ", 7) != 0) {
        return emu_error(r, 401, EMU_EC_UNAUTHORIZED, "missing Bearer access token"), -1;
    }
    tok = q->auth + 7;
    while (*tok == ' ') {
        tok++;
    }
    if (verify_cached(e, tok, &cl) != 0 || strcmp(cl.typ, "access") != 0 ||
        strcmp(cl.iss, e->cfg.issuer) != 0) {
        return emu_error(r, 401, EMU_EC_TOKEN, "invalid access token"), -1;
    }
    if (cl.exp <= now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token expired"), -1;
    }
    if (cl.nbf > now + 5) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token not yet valid"), -1;
    }
    /* The account must exist now and still be one that may log in. */
    a = emu_config_account_by_subject(&e->cfg, cl.sub);
    if (a == NULL || a->certificate_login) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token names an unknown user"), -1;
    }
    if (a->nauthorities == 0) {
        return emu_error(r, 403, EMU_EC_FORBIDDEN, "user %s has no authority", a->username), -1;
    }
    q->account = a;
    return 0;
}

/* ---- the request log ---- */

static int line_level(int status)
{
    return status >= 500 ? 2 : (status >= 400 || status == 0) ? 1 : 0;
}

static void log_line(trisa_emu *e, const conn_ctx *ctx)
{
    struct timespec now;
    double ms;
    char line[800], status[16];
    int level = line_level(ctx->status);

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (double)(now.tv_sec - ctx->start.tv_sec) * 1e3 +
         (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e6;
    if (e->opts.test_hooks && !ctx->hook) {
        emu_reqinfo info = {ctx->content_type, ctx->accept, ctx->user_agent,
                            ctx->auth_scheme,  ctx->bytes,  (const unsigned char *)ctx->body.data,
                            ctx->body.len};
        emu_hooks_record(&e->hooks, ctx->method, ctx->path ? ctx->path : "", ctx->status, ms,
                         &info);
    }
    if (e->log == NULL || level < e->opts.log_level) {
        return;
    }
    if (e->opts.log_json) {
        /* One JSON object a line, as the reference server's zerolog writes (never a query
         * string, a header or a body). */
        static const char *const names[] = {"info", "warn", "error"};
        static const char *const gcp[] = {"INFO", "WARNING", "ERROR"};
        json_object *o = json_object_new_object();
        char when[40], msg[480];
        time_t t = time(NULL);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(msg, sizeof(msg), "sias %s %.400s %d", ctx->method, ctx->path ? ctx->path : "",
                 ctx->status);
        json_object_object_add(o, "level", json_object_new_string(names[level]));
        json_object_object_add(o, "path", json_object_new_string(ctx->path ? ctx->path : ""));
        json_object_object_add(o, "ser_name", json_object_new_string("sias"));
        json_object_object_add(o, "method", json_object_new_string(ctx->method));
        json_object_object_add(o, "resp_time", json_object_new_double(ms));
        json_object_object_add(o, "status", json_object_new_int(ctx->status));
        json_object_object_add(o, "client_ip", json_object_new_string(ctx->client));
        json_object_object_add(o, "severity", json_object_new_string(gcp[level]));
        json_object_object_add(o, "time", json_object_new_string(when));
        json_object_object_add(o, "message", json_object_new_string(msg));
        snprintf(line, sizeof(line), "%s\n",
                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        if (ctx->status > 0) {
            snprintf(status, sizeof(status), "%d", ctx->status);
        } else {
            snprintf(status, sizeof(status), "-");
        }
        /* The path only: query strings and headers (tokens) are never logged. */
        snprintf(line, sizeof(line), "%s %.400s %s %.2fms\n", ctx->method,
                 ctx->path ? ctx->path : "", status, ms);
    }
    pthread_mutex_lock(&e->log_lock);
    fputs(line, e->log);
    fflush(e->log);
    pthread_mutex_unlock(&e->log_lock);
}

/* ---- connections and the watchdog ---- */

static struct conn_track *track_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void track_state(trisa_emu *e, struct MHD_Connection *c, int state)
{
    struct conn_track *t = track_of(c);

    if (t != NULL) {
        pthread_mutex_lock(&e->conn_lock);
        if (t->state != C_SHUT) {
            t->state = state;
            t->since_ms = mono_ms();
        }
        pthread_mutex_unlock(&e->conn_lock);
    }
}

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    trisa_emu *e = cls;
    struct conn_track *t = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = calloc(1, sizeof(*t));
        if (t == NULL || ci == NULL) {
            free(t);
            return; /* not watched: the idle timeout still applies */
        }
        t->fd = ci->connect_fd;
        t->state = C_HEADERS;
        t->since_ms = mono_ms();
        pthread_mutex_lock(&e->conn_lock);
        t->next = e->conns;
        if (e->conns != NULL) {
            e->conns->prev = t;
        }
        e->conns = t;
        pthread_mutex_unlock(&e->conn_lock);
        *socket_context = t;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && t != NULL) {
        /* libmicrohttpd closes the socket after this notice: while t is in the list, its
         * descriptor is still this connection's. */
        pthread_mutex_lock(&e->conn_lock);
        if (t->prev != NULL) {
            t->prev->next = t->next;
        } else {
            e->conns = t->next;
        }
        if (t->next != NULL) {
            t->next->prev = t->prev;
        }
        pthread_mutex_unlock(&e->conn_lock);
        free(t);
        *socket_context = NULL;
    }
}

static void *watchdog_main(void *arg)
{
    trisa_emu *e = arg;
    int64_t header_ms = e->cfg.header_timeout * 1000, body_ms = e->cfg.body_timeout * 1000;

    while (!emu_sleep(e, 200)) {
        int64_t now = mono_ms();
        pthread_mutex_lock(&e->conn_lock);
        for (struct conn_track *t = e->conns; t != NULL; t = t->next) {
            if ((t->state == C_HEADERS && now - t->since_ms > header_ms) ||
                (t->state == C_BODY && now - t->since_ms > body_ms)) {
                /* The socket stays libmicrohttpd's to close; it sees the end at once. */
                shutdown(t->fd, SHUT_RDWR);
                t->state = C_SHUT;
            }
        }
        pthread_mutex_unlock(&e->conn_lock);
    }
    return NULL;
}

/* ---- requests ---- */

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    trisa_emu *e = cls;
    conn_ctx *ctx = *con_cls;

    /* Kept alive: the next request's headers are due within the header timeout. */
    track_state(e, c, C_HEADERS);
    if (ctx == NULL) {
        return;
    }
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !ctx->responded) {
        ctx->status = 0; /* dropped: logged as "-" */
    }
    log_line(e, ctx);
    trisa_buf_free(&ctx->body, 1);
    free(ctx->content_type);
    free(ctx->accept);
    free(ctx->user_agent);
    free(ctx->auth_scheme);
    free(ctx->path);
    free(ctx);
    *con_cls = NULL;
}

typedef struct cut_body {
    unsigned char *data;
    size_t len, limit;
    int fd;
} cut_body;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cut_body *cb = cls;
    size_t n;

    if (pos >= cb->limit) {
        /* End the connection here and now: the peer must not wait for a timeout. */
        shutdown(cb->fd, SHUT_RDWR);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    n = cb->limit - (size_t)pos;
    if (n > max) {
        n = max;
    }
    memcpy(buf, cb->data + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    cut_body *cb = cls;
    free(cb->data);
    free(cb);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, conn_ctx *ctx, emu_resp *r,
                                 long cut_after)
{
    struct MHD_Response *resp = NULL;
    enum MHD_Result ret;
    char num[32];

    if (cut_after >= 0 && (size_t)cut_after < r->len) {
        cut_body *cb = calloc(1, sizeof(*cb));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (cb != NULL && ci != NULL) {
            cb->data = r->body;
            cb->len = r->len;
            cb->limit = (size_t)cut_after;
            cb->fd = ci->connect_fd;
            r->body = NULL;
            resp = MHD_create_response_from_callback(cb->len, 4096, cut_reader, cb, cut_free);
            if (resp == NULL) {
                cut_free(cb);
            }
        } else {
            free(cb);
        }
    } else {
        resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                               r->body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
        if (resp != NULL) {
            r->body = NULL;
        }
    }
    if (resp == NULL) {
        return MHD_NO;
    }
    if (r->content_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    }
    if (r->disposition[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
    }
    if (r->location[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    }
    if (r->allow[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    }
    if (r->retry_after >= 0) {
        snprintf(num, sizeof(num), "%ld", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    ctx->status = r->status;
    ctx->responded = 1;
    ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The test hooks answer loopback clients only, whatever address the server listens on. */
static int from_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    return 0;
}

static void client_text(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    out[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    }
}

int emu_handle(trisa_emu *e, emu_req *q, emu_resp *r, int hooks, int too_big, int *hook, long *cut)
{
    const route *found = NULL;
    int path_known = 0;
    emu_fault fault;

    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    *hook = 0;
    *cut = -1;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        long ids[2] = {0, 0};
        if ((routes[i].flags & R_HOOK) && !hooks) {
            continue;
        }
        if (match(routes[i].pattern, q->path, ids)) {
            size_t al = strlen(r->allow);
            path_known = 1;
            snprintf(r->allow + al, sizeof(r->allow) - al, "%s%s", al ? ", " : "",
                     routes[i].method);
            if (strcmp(routes[i].method, q->method) == 0) {
                found = &routes[i];
                q->ids[0] = ids[0];
                q->ids[1] = ids[1];
                break;
            }
        }
    }
    if (found != NULL || !path_known) {
        r->allow[0] = '\0'; /* Allow only goes with a 405 */
    }
    *hook = found != NULL && (found->flags & R_HOOK);
    if (e->opts.test_hooks && !*hook &&
        emu_hooks_take(&e->hooks, q->method, q->path, found ? found->pattern : NULL, &fault)) {
        switch (fault.kind) {
        case EMU_FAULT_STATUS:
            r->allow[0] = '\0';
            emu_error(r, fault.status, EMU_EC_INJECTED, "injected fault: status %d", fault.status);
            r->retry_after = fault.retry_after;
            return EMU_HANDLE_SEND;
        case EMU_FAULT_DELAY:
            emu_sleep(e, fault.delay_ms);
            break;
        case EMU_FAULT_DROP:
            return EMU_HANDLE_DROP; /* libmicrohttpd closes the connection without a reply */
        case EMU_FAULT_CUT:
            *cut = fault.cut_after;
            break;
        }
    }
    if (too_big) {
        emu_error(r, 413, EMU_EC_TOO_LARGE, "request body larger than %zu bytes", e->cfg.max_body);
    } else if (found == NULL) {
        if (path_known) {
            emu_error(r, 405, EMU_EC_METHOD, "method %s not allowed on %s", q->method, q->path);
        } else {
            emu_error(r, 404, EMU_EC_NOT_FOUND, "no such path: %.300s", q->path);
        }
    } else if ((found->flags & R_AUTH) && check_token(q, r) != 0) {
        /* r holds the 401 */
    } else {
        found->fn(q, r);
        if (r->status == 0) {
            emu_error(r, 500, EMU_EC_INTERNAL, "internal error");
        }
    }
    return EMU_HANDLE_SEND;
}

static enum MHD_Result dispatch(trisa_emu *e, struct MHD_Connection *c, conn_ctx *ctx)
{
    emu_req q;
    emu_resp r;
    long cut;
    enum MHD_Result ret;

    track_state(e, c, C_ACTIVE);
    memset(&q, 0, sizeof(q));
    q.emu = e;
    q.method = ctx->method;
    q.path = ctx->path;
    q.body = (const unsigned char *)ctx->body.data;
    q.body_len = ctx->body.len;
    q.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    q.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (emu_handle(e, &q, &r, e->opts.test_hooks && from_loopback(c), ctx->too_big, &ctx->hook,
                   &cut) == EMU_HANDLE_DROP) {
        free(r.body);
        return MHD_NO;
    }
    ret = send_resp(c, ctx, &r, cut);
    free(r.body);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    trisa_emu *e = cls;
    conn_ctx *ctx = *con_cls;

    if (ctx == NULL) {
        const char *cl;
        long n;

        track_state(e, c, C_BODY);
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL) {
            return MHD_NO;
        }
        clock_gettime(CLOCK_MONOTONIC, &ctx->start);
        snprintf(ctx->method, sizeof(ctx->method), "%s", method);
        /* The path as sent (no unescaping is configured), without the query string. */
        ctx->path = strndup(url, strcspn(url, "?"));
        client_text(c, ctx->client, sizeof(ctx->client));
        *con_cls = ctx;
        if (ctx->path == NULL) {
            return MHD_NO;
        }
        if (e->opts.test_hooks) {
            const char *v;
            char scheme[32];
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            ctx->content_type = v ? strdup(v) : NULL;
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
            ctx->accept = v ? strdup(v) : NULL;
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
            ctx->user_agent = v ? strdup(v) : NULL;
            /* A registered scheme only: the credentials never reach the log, whatever
             * their shape. */
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
            ctx->auth_scheme = v ? strdup(emu_auth_scheme(v, scheme, sizeof(scheme))) : NULL;
        }
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL &&
            (trisa_parse_long(cl, 0, LONG_MAX, &n) != 0 || (size_t)n > e->cfg.max_body)) {
            /* Refuse before reading: libmicrohttpd closes the connection after this. */
            ctx->too_big = 1;
            return dispatch(e, c, ctx);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!ctx->too_big && !ctx->responded) {
            if (ctx->body.len + *upload_data_size > e->cfg.max_body) {
                ctx->too_big = 1;
                trisa_buf_free(&ctx->body, 0);
            } else if (trisa_buf_append(&ctx->body, upload_data, *upload_data_size) != 0) {
                return MHD_NO;
            }
        }
        ctx->bytes += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ctx->responded) {
        return MHD_YES;
    }
    return dispatch(e, c, ctx);
}

/* No percent-decoding: "/batches/1%2fdownload" must not become a download. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ---- the handle ---- */

static int parse_addr(trisa_emu *e);

/* The state folder holds the CA key, the token secret and every account: made 0700; one
 * that other users can open is used, with a warning (as trisa-fetch's state folder). */
static int mkdir_state(trisa_emu *e)
{
    struct stat st;
    int err;

    if ((err = trisa_mkdir_p(e->state_dir, 0700)) != 0) {
        return err;
    }
    if (stat(e->state_dir, &st) != 0) {
        return trisa_error_set(TRISA_EIO, "%s: %s", e->state_dir, strerror(errno));
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(e->warning, sizeof(e->warning),
                 "state folder %s is open to other users (mode %03o); it holds the CA key and "
                 "the accounts: chmod 700 %s",
                 e->state_dir, (unsigned)(st.st_mode & 0777), e->state_dir);
    }
    return 0;
}

const char *trisa_emu_builtin_config(const char *name)
{
    if (name == NULL || strcmp(name, "default") == 0) {
        return emu_builtin_default;
    }
    if (strcmp(name, "reference") == 0) {
        return emu_builtin_reference;
    }
    return NULL;
}

static int load_config(trisa_emu *e, const trisa_emu_options *opts)
{
    const char *text;
    char name[64];
    int err;

    if (opts->config_path != NULL) {
        err = emu_config_load(&e->cfg, opts->config_path);
    } else if ((text = trisa_emu_builtin_config(opts->profile_set)) == NULL) {
        return trisa_error_set(TRISA_EINVAL, "unknown profile set '%s' (default or reference)",
                               opts->profile_set);
    } else {
        snprintf(name, sizeof(name), "the built-in %s configuration",
                 opts->profile_set ? opts->profile_set : "default");
        err = emu_config_parse(&e->cfg, text, strlen(text), name);
    }
    if (err != 0) {
        return err;
    }
    if (e->cfg.naccounts > 0) {
        emu_account *a = &e->cfg.accounts[0];
        if (opts->username != NULL) {
            free(a->username);
            a->username = strdup(opts->username);
        }
        if (opts->password != NULL) {
            trisa_free_secret(a->password, strlen(a->password));
            a->password = strdup(opts->password);
        }
        if (opts->subject != NULL) {
            free(a->subject);
            a->subject = strdup(opts->subject);
        } else if (opts->username != NULL && a->username != NULL) {
            size_t n = strlen(a->username) + 64;
            free(a->subject);
            a->subject = malloc(n);
            if (a->subject != NULL) {
                snprintf(a->subject, n, "/account/%ld/user/%s", a->account_id, a->username);
            }
        }
        if (a->username == NULL || a->password == NULL || a->subject == NULL) {
            return TRISA_ENOMEM;
        }
    }
    if (opts->issuer != NULL) {
        free(e->cfg.issuer);
        if ((e->cfg.issuer = strdup(opts->issuer)) == NULL) {
            return TRISA_ENOMEM;
        }
    }
    if (opts->processing_delay >= 0) {
        e->cfg.processing_delay = opts->processing_delay;
    }
    for (size_t i = 0; opts->cert_lifetime > 0 && i < e->cfg.nprofiles; i++) {
        e->cfg.profiles[i].validity = opts->cert_lifetime;
    }
    return 0;
}

/* Legacy bundles need RC2 and 3DES from OpenSSL's legacy provider: a server that cannot
 * make them says so at start, not at the first createSingleCertBatch. */
static int check_legacy(const emu_config *c)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *legacy = ctx ? OSSL_PROVIDER_load(ctx, "legacy") : NULL;
    int err = 0;

    for (size_t i = 0; legacy == NULL && err == 0 && i < c->nprofiles; i++) {
        if (!c->profiles[i].modern_p12) {
            err = trisa_error_set_ssl(TRISA_ELEGACY,
                                      "profile %ld makes legacy PKCS#12 bundles but OpenSSL's "
                                      "legacy provider does not load",
                                      c->profiles[i].id);
        }
    }
    OSSL_PROVIDER_unload(legacy);
    OSSL_LIB_CTX_free(ctx);
    return err;
}

static int load_tls(trisa_emu *e, const trisa_emu_options *opts)
{
    unsigned char *c = NULL, *k = NULL;
    size_t cl = 0, kl = 0;
    int err;

    if (opts->tls_self_signed) {
        if ((err = emu_tls_self_signed(e->state_dir, &e->tls_cert_pem, &e->tls_key_pem)) != 0) {
            return err;
        }
        e->tls = 1;
        return 0;
    }
    if (opts->tls_cert == NULL && opts->tls_key == NULL) {
        return 0;
    }
    if (opts->tls_cert == NULL || opts->tls_key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "TLS needs both a certificate and a key");
    }
    if ((err = trisa_file_read(&c, &cl, opts->tls_cert, 1 << 20)) != 0 ||
        (err = trisa_file_read(&k, &kl, opts->tls_key, 1 << 20)) != 0) {
        free(c);
        return trisa_error_prefix("TLS");
    }
    e->tls_cert_pem = (char *)c;
    e->tls_key_pem = (char *)k;
    e->tls = 1;
    return 0;
}

int trisa_emu_new(trisa_emu **out, const trisa_emu_options *opts)
{
    trisa_emu *e;
    struct stat sb;
    char path[4096];
    int err;

    *out = NULL;
    if (opts == NULL || opts->version != TRISA_EMU_OPTIONS_VERSION || opts->state_dir == NULL) {
        return trisa_error_set(TRISA_EINVAL, "emulator: options version or state_dir missing");
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return TRISA_ENOMEM;
    }
    e->listen_fd = -1;
    e->opts = *opts;
    e->log = opts->log;
    atomic_init(&e->clock_offset_ms, 0);
    atomic_init(&e->stopping, 0);
    pthread_mutex_init(&e->log_lock, NULL);
    pthread_mutex_init(&e->stop_lock, NULL);
    pthread_cond_init(&e->stop_cond, NULL);
    pthread_mutex_init(&e->conn_lock, NULL);
    emu_hooks_init(&e->hooks);
    e->state_dir = strdup(opts->state_dir);
    e->host = strdup(opts->addr ? opts->addr : "127.0.0.1:8831");
    if (e->state_dir == NULL || e->host == NULL) {
        err = TRISA_ENOMEM;
        goto fail;
    }
    e->tls = opts->tls_self_signed || opts->tls_cert != NULL;
    /* The address first: it is checked before any slow work. */
    if ((err = parse_addr(e)) != 0 || (err = load_config(e, opts)) != 0 ||
        (err = check_legacy(&e->cfg)) != 0) {
        goto fail;
    }
    if (opts->jwt_secret != NULL) {
        unsigned char *k = NULL;
        size_t kl = 0;
        /* SIAS_AUTH_SECRET: standard base64 (as the reference reads it) of 32 bytes. */
        if (trisa_b64url_decode(&k, &kl, opts->jwt_secret, strlen(opts->jwt_secret), 0) != 0 ||
            kl != sizeof(e->jwt_key)) {
            if (k != NULL) {
                trisa_free_secret(k, kl);
            }
            err = trisa_error_set(TRISA_EINVAL, "the token secret must be base64 of 32 bytes");
            goto fail;
        }
        memcpy(e->jwt_key, k, sizeof(e->jwt_key));
        trisa_free_secret(k, kl);
    }
    if ((err = mkdir_state(e)) != 0) {
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/emulator.db", e->state_dir);
    if ((err = emu_store_open(&e->store, path, &e->cfg)) != 0 ||
        (err = emu_ca_open(&e->ca, e->state_dir, opts->ca_path)) != 0) {
        goto fail;
    }
    if (opts->jwt_secret == NULL && (err = emu_jwt_secret(e->jwt_key, e->state_dir)) != 0) {
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/crl.pem", e->ca.dir);
    if ((opts->ca_path != NULL || stat(path, &sb) != 0) &&
        (err = emu_ca_write_crl(&e->ca, e->store)) != 0) {
        goto fail;
    }
    e->tls = 0;
    if ((err = load_tls(e, opts)) != 0) {
        goto fail;
    }
    *out = e;
    return 0;
fail:
    trisa_emu_free(e);
    return err;
}

/* "HOST:PORT" (IPv4 literal or localhost; ":PORT" for all interfaces as in Go) into an
 * address, and the rule that keeps a plain-http server with test hooks off the network. */
static int parse_addr(trisa_emu *e)
{
    char host[256];
    const char *colon = strrchr(e->host, ':');
    long port;
    struct sockaddr_in *sa = &e->bind_addr;
    int secure = e->tls || e->opts.insecure_bind;

    if (colon == NULL || (size_t)(colon - e->host) >= sizeof(host) ||
        trisa_parse_long(colon + 1, 0, 65535, &port) != 0) {
        return trisa_error_set(TRISA_EINVAL, "address %s: expected HOST:PORT", e->host);
    }
    memcpy(host, e->host, (size_t)(colon - e->host));
    host[colon - e->host] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    e->notice[0] = '\0';
    if (host[0] == '\0') {
        if (secure) {
            sa->sin_addr.s_addr = htonl(INADDR_ANY);
        } else {
            sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            snprintf(e->notice, sizeof(e->notice),
                     "%s binds loopback only: all interfaces need TLS (--tls-*) or "
                     "--insecure-bind",
                     e->host);
        }
    } else if (strcmp(host, "localhost") == 0) {
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        return trisa_error_set(TRISA_EINVAL, "address %s: the host must be an IPv4 address",
                               e->host);
    }
    e->bind_loopback = (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
    e->bind_all = sa->sin_addr.s_addr == htonl(INADDR_ANY);
    if (!e->bind_loopback && !secure) {
        return trisa_error_set(TRISA_EINVAL,
                               "address %s is not loopback: serving plain http beyond this host "
                               "needs --insecure-bind (or TLS with --tls-self-signed or "
                               "--tls-cert/--tls-key)",
                               e->host);
    }
    if (!e->bind_loopback) {
        snprintf(e->notice, sizeof(e->notice), "listening on %s over %s%s", e->host,
                 e->tls ? "https" : "plain http (--insecure-bind)",
                 e->opts.test_hooks ? "; the test hooks answer loopback clients only" : "");
    }
    return 0;
}

/* A bound, listening socket for the parsed address. */
static int listen_on(trisa_emu *e)
{
    char host[INET_ADDRSTRLEN];
    struct sockaddr_in sa = e->bind_addr;
    socklen_t salen = sizeof(sa);
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return trisa_error_set(TRISA_ENETWORK, "socket: %s", strerror(errno));
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        int saved = errno;
        close(fd);
        return trisa_error_set(TRISA_ENETWORK, "cannot listen on %s: %s", e->host, strerror(saved));
    }
    e->port = ntohs(sa.sin_port);
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    free(e->host);
    e->host = strdup(host);
    e->listen_fd = fd;
    return e->host ? 0 : TRISA_ENOMEM;
}

/* The connection limit, within the descriptors the process may open (a few kept for the
 * store, the log and the listening socket). */
static unsigned connection_limit(const trisa_emu *e)
{
    struct rlimit rl;
    unsigned limit = e->cfg.max_connections;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)limit + 64) {
        limit = rl.rlim_cur > 128 ? (unsigned)(rl.rlim_cur - 64) : 64;
    }
    return limit;
}

int trisa_emu_start(trisa_emu *e)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
    unsigned threads = e->opts.threads ? e->opts.threads : 4;
    unsigned limit = connection_limit(e);
    unsigned per_ip = e->cfg.max_per_ip < limit ? e->cfg.max_per_ip : limit;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    int err;

    if (e->daemon != NULL) {
        return e->port;
    }
    /* Invalidate any cached verification from an earlier handle at the same address. */
    last_verified.emu = NULL;
    if ((err = listen_on(e)) != 0) {
        return err;
    }
    if (e->tls) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, e->tls_key_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, e->tls_cert_pem};
    }
    e->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, e, MHD_OPTION_LISTEN_SOCKET, e->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_NOTIFY_COMPLETED, completed, e, MHD_OPTION_NOTIFY_CONNECTION, notify_connection,
        e, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (e->daemon == NULL) {
        close(e->listen_fd);
        e->listen_fd = -1;
        return trisa_error_set(TRISA_ENETWORK, "libmicrohttpd did not start%s",
                               e->tls ? " (TLS: is the certificate and key valid?)" : "");
    }
    if ((err = emu_issuer_start(e)) != 0) {
        trisa_emu_stop(e);
        return err;
    }
    if (pthread_create(&e->watchdog, NULL, watchdog_main, e) != 0) {
        trisa_emu_stop(e);
        return trisa_error_set(TRISA_ENOMEM, "cannot start the connection watchdog");
    }
    e->watchdog_running = 1;
    return e->port;
}

const char *trisa_emu_scheme(const trisa_emu *e)
{
    return e->tls ? "https" : "http";
}

const char *trisa_emu_host(const trisa_emu *e)
{
    return e->host;
}

const char *trisa_emu_notice(const trisa_emu *e)
{
    return e->notice;
}

const char *trisa_emu_warning(const trisa_emu *e)
{
    return e->warning;
}

void trisa_emu_stop(trisa_emu *e)
{
    if (e == NULL) {
        return;
    }
    /* Wake every sleeper (delay faults, the issuer, the watchdog) before waiting. */
    pthread_mutex_lock(&e->stop_lock);
    atomic_store(&e->stopping, 1);
    pthread_cond_broadcast(&e->stop_cond);
    pthread_mutex_unlock(&e->stop_lock);
    if (e->daemon != NULL) {
        MHD_stop_daemon(e->daemon); /* closes the listening socket too */
        e->daemon = NULL;
        e->listen_fd = -1;
    }
    emu_issuer_stop(e);
    if (e->watchdog_running) {
        pthread_join(e->watchdog, NULL);
        e->watchdog_running = 0;
    }
}

void trisa_emu_free(trisa_emu *e)
{
    if (e == NULL) {
        return;
    }
    trisa_emu_stop(e);
    if (e->listen_fd >= 0) {
        close(e->listen_fd);
    }
    emu_store_close(e->store);
    emu_ca_close(&e->ca);
    emu_config_free(&e->cfg);
    emu_hooks_free(&e->hooks);
    free(e->tls_cert_pem);
    if (e->tls_key_pem != NULL) {
        trisa_free_secret(e->tls_key_pem, strlen(e->tls_key_pem));
    }
    OPENSSL_cleanse(e->jwt_key, sizeof(e->jwt_key));
    pthread_mutex_destroy(&e->log_lock);
    pthread_mutex_destroy(&e->stop_lock);
    pthread_cond_destroy(&e->stop_cond);
    pthread_mutex_destroy(&e->conn_lock);
    free(e->state_dir);
    free(e->host);
    free(e);
}
