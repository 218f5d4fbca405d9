/*
 * The listener: libmicrohttpd with an epoll thread pool and keep-alive, request bodies
 * buffered up to the configured limit (413 beyond), routing to the endpoints of api.c,
 * the Bearer-token check for /api/v1, faults, and one log line per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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
} conn_ctx;

int64_t emu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    json_object_object_add(o, "timestamp", json_object_new_int64(emu_now_ms()));
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
    const char *tok, *user;
    int64_t now = emu_now_ms() / 1000;

    if (q->auth == NULL || strncasecmp(q->auth, "Bearer ", 7) != 0) {
        return emu_error(r, 401, EMU_EC_UNAUTHORIZED, "missing Bearer access token"), -1;
    }
    tok = q->auth + 7;
    while (*tok == ' ') {
        tok++;
    }
    if (verify_cached(e, tok, &cl) != 0 || strcmp(cl.typ, "access") != 0) {
        return emu_error(r, 401, EMU_EC_TOKEN, "invalid access token"), -1;
    }
    if (cl.exp <= now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token expired"), -1;
    }
    if (cl.nbf > now + 5) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token not yet valid"), -1;
    }
    user = strstr(cl.sub, "/user/");
    q->account = user ? emu_config_account(&e->cfg, user + 6) : NULL;
    if (q->account == NULL) {
        return emu_error(r, 401, EMU_EC_TOKEN, "access token names an unknown user"), -1;
    }
    return 0;
}

static void log_line(trisa_emu *e, const conn_ctx *ctx)
{
    struct timespec now;
    double ms;
    char line[600], status[16];

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (double)(now.tv_sec - ctx->start.tv_sec) * 1e3 +
         (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e6;
    if (e->opts.test_hooks && !ctx->hook) {
        emu_reqinfo info = {ctx->content_type, ctx->accept, ctx->user_agent, ctx->auth_scheme,
                            ctx->bytes};
        emu_hooks_record(&e->hooks, ctx->method, ctx->path ? ctx->path : "", ctx->status, ms,
                         &info);
    }
    if (e->log == NULL) {
        return;
    }
    if (ctx->status > 0) {
        snprintf(status, sizeof(status), "%d", ctx->status);
    } else {
        snprintf(status, sizeof(status), "-");
    }
    /* The path only: query strings and headers (tokens) are never logged. */
    snprintf(line, sizeof(line), "%s %.400s %s %.2fms\n", ctx->method, ctx->path ? ctx->path : "",
             status, ms);
    pthread_mutex_lock(&e->log_lock);
    fputs(line, e->log);
    fflush(e->log);
    pthread_mutex_unlock(&e->log_lock);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    trisa_emu *e = cls;
    conn_ctx *ctx = *con_cls;

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
} cut_body;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cut_body *cb = cls;
    size_t n;

    if (pos >= cb->limit) {
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
        if (cb != NULL) {
            cb->data = r->body;
            cb->len = r->len;
            cb->limit = (size_t)cut_after;
            r->body = NULL;
            resp = MHD_create_response_from_callback(cb->len, 4096, cut_reader, cb, cut_free);
            if (resp == NULL) {
                cut_free(cb);
            }
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

static enum MHD_Result dispatch(trisa_emu *e, struct MHD_Connection *c, conn_ctx *ctx)
{
    emu_req q;
    emu_resp r;
    const route *found = NULL;
    int path_known = 0;
    emu_fault fault;
    long cut = -1;
    enum MHD_Result ret;

    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    r.retry_after = -1;
    q.emu = e;
    q.method = ctx->method;
    q.path = ctx->path;
    q.body = (const unsigned char *)ctx->body.data;
    q.body_len = ctx->body.len;
    q.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    q.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        long ids[2] = {0, 0};
        if ((routes[i].flags & R_HOOK) && !e->opts.test_hooks) {
            continue;
        }
        if (match(routes[i].pattern, ctx->path, ids)) {
            size_t al = strlen(r.allow);
            path_known = 1;
            snprintf(r.allow + al, sizeof(r.allow) - al, "%s%s", al ? ", " : "", routes[i].method);
            if (strcmp(routes[i].method, ctx->method) == 0) {
                found = &routes[i];
                q.ids[0] = ids[0];
                q.ids[1] = ids[1];
                break;
            }
        }
    }
    if (found != NULL || !path_known) {
        r.allow[0] = '\0'; /* Allow only goes with a 405 */
    }
    ctx->hook = found != NULL && (found->flags & R_HOOK);
    if (e->opts.test_hooks && !ctx->hook &&
        emu_hooks_take(&e->hooks, ctx->method, ctx->path, found ? found->pattern : NULL, &fault)) {
        switch (fault.kind) {
        case EMU_FAULT_STATUS:
            r.allow[0] = '\0';
            emu_error(&r, fault.status, EMU_EC_INJECTED, "injected fault: status %d", fault.status);
            r.retry_after = fault.retry_after;
            goto send;
        case EMU_FAULT_DELAY: {
            struct timespec ts = {fault.delay_ms / 1000, (fault.delay_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
            break;
        }
        case EMU_FAULT_DROP:
            return MHD_NO; /* libmicrohttpd closes the connection without a reply */
        case EMU_FAULT_CUT:
            cut = fault.cut_after;
            break;
        }
    }
    if (ctx->too_big) {
        emu_error(&r, 413, EMU_EC_TOO_LARGE, "request body larger than %zu bytes", e->cfg.max_body);
    } else if (found == NULL) {
        if (path_known) {
            emu_error(&r, 405, EMU_EC_METHOD, "method %s not allowed on %s", ctx->method,
                      ctx->path);
        } else {
            emu_error(&r, 404, EMU_EC_NOT_FOUND, "no such path: %s", ctx->path);
        }
    } else if ((found->flags & R_AUTH) && check_token(&q, &r) != 0) {
        /* r holds the 401 */
    } else {
        found->fn(&q, &r);
        if (r.status == 0) {
            emu_error(&r, 500, EMU_EC_INTERNAL, "internal error");
        }
    }
send:
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

        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL) {
            return MHD_NO;
        }
        clock_gettime(CLOCK_MONOTONIC, &ctx->start);
        snprintf(ctx->method, sizeof(ctx->method), "%s", method);
        ctx->path = strdup(url);
        *con_cls = ctx;
        if (ctx->path == NULL) {
            return MHD_NO;
        }
        if (e->opts.test_hooks) {
            const char *v;
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            ctx->content_type = v ? strdup(v) : NULL;
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
            ctx->accept = v ? strdup(v) : NULL;
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
            ctx->user_agent = v ? strdup(v) : NULL;
            /* The scheme only: the credentials never reach the log. */
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
            ctx->auth_scheme = v ? strndup(v, strcspn(v, " ")) : NULL;
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

/* ---- the handle ---- */

static int parse_addr(trisa_emu *e);

static int mkdir_state(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return trisa_error_set(TRISA_EIO, "%s: cannot create the state folder: %s", dir,
                               strerror(errno));
    }
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
    pthread_mutex_init(&e->log_lock, NULL);
    emu_hooks_init(&e->hooks);
    e->state_dir = strdup(opts->state_dir);
    e->host = strdup(opts->addr ? opts->addr : "127.0.0.1:8831");
    if (e->state_dir == NULL || e->host == NULL) {
        err = TRISA_ENOMEM;
        goto fail;
    }
    if ((err = parse_addr(e)) != 0 || (err = emu_config_load(&e->cfg, opts->config_path)) != 0) {
        goto fail;
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
        if (a->username == NULL || a->password == NULL) {
            err = TRISA_ENOMEM;
            goto fail;
        }
    }
    if (opts->processing_delay >= 0) {
        e->cfg.processing_delay = opts->processing_delay;
    }
    if ((err = mkdir_state(e->state_dir)) != 0) {
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/emulator.db", e->state_dir);
    if ((err = emu_store_open(&e->store, path, &e->cfg)) != 0 ||
        (err = emu_jwt_secret(e->jwt_key, e->state_dir)) != 0 ||
        (err = emu_ca_open(&e->ca, e->state_dir)) != 0) {
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/crl.pem", e->ca.dir);
    if (stat(path, &sb) != 0 && (err = emu_ca_write_crl(&e->ca, e->store)) != 0) {
        goto fail;
    }
    /* Legacy bundles need RC2 and 3DES: a library context of our own with the legacy
     * provider, so the process default stays as the system configured it. */
    e->p12ctx = OSSL_LIB_CTX_new();
    if (e->p12ctx == NULL) {
        err = TRISA_ENOMEM;
        goto fail;
    }
    e->legacy = OSSL_PROVIDER_load(e->p12ctx, "legacy");
    e->deflt = OSSL_PROVIDER_load(e->p12ctx, "default");
    if (e->deflt == NULL) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot load OpenSSL's default provider");
        goto fail;
    }
    if (e->legacy == NULL) {
        for (size_t i = 0; i < e->cfg.nprofiles; i++) {
            if (!e->cfg.profiles[i].modern_p12) {
                err = trisa_error_set_ssl(TRISA_ELEGACY,
                                          "profile %ld makes legacy PKCS#12 bundles but "
                                          "OpenSSL's legacy provider does not load",
                                          e->cfg.profiles[i].id);
                goto fail;
            }
        }
    }
    if (opts->tls_self_signed) {
        err = emu_tls_self_signed(e->state_dir, &e->tls_cert_pem, &e->tls_key_pem);
        if (err != 0) {
            goto fail;
        }
        e->tls = 1;
    } else if (opts->tls_cert != NULL || opts->tls_key != NULL) {
        unsigned char *c = NULL, *k = NULL;
        size_t cl = 0, kl = 0;
        if (opts->tls_cert == NULL || opts->tls_key == NULL) {
            err = trisa_error_set(TRISA_EINVAL, "TLS needs both a certificate and a key");
            goto fail;
        }
        if ((err = trisa_file_read(&c, &cl, opts->tls_cert, 1 << 20)) != 0 ||
            (err = trisa_file_read(&k, &kl, opts->tls_key, 1 << 20)) != 0) {
            free(c);
            trisa_error_prefix("TLS");
            goto fail;
        }
        e->tls_cert_pem = (char *)c;
        e->tls_key_pem = (char *)k;
        e->tls = 1;
    }
    *out = e;
    return 0;
fail:
    trisa_emu_free(e);
    return err;
}

/* "HOST:PORT" (IPv4 literal or localhost) into an address; checked before any slow work. */
static int parse_addr(trisa_emu *e)
{
    char host[256];
    const char *colon = strrchr(e->host, ':');
    long port;
    struct sockaddr_in *sa = &e->bind_addr;

    if (colon == NULL || (size_t)(colon - e->host) >= sizeof(host) ||
        trisa_parse_long(colon + 1, 0, 65535, &port) != 0) {
        return trisa_error_set(TRISA_EINVAL, "address %s: expected HOST:PORT", e->host);
    }
    memcpy(host, e->host, (size_t)(colon - e->host));
    host[colon - e->host] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0 || host[0] == '\0') {
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        return trisa_error_set(TRISA_EINVAL, "address %s: the host must be an IPv4 address",
                               e->host);
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
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
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

int trisa_emu_start(trisa_emu *e)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
    unsigned threads = e->opts.threads ? e->opts.threads : 4;
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
        e->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, handler, e, MHD_OPTION_LISTEN_SOCKET, e->listen_fd,
            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
            MHD_OPTION_NOTIFY_COMPLETED, completed, e, MHD_OPTION_HTTPS_MEM_KEY, e->tls_key_pem,
            MHD_OPTION_HTTPS_MEM_CERT, e->tls_cert_pem, MHD_OPTION_END);
    } else {
        e->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, e, MHD_OPTION_LISTEN_SOCKET,
                                     e->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, e, MHD_OPTION_END);
    }
    if (e->daemon == NULL) {
        close(e->listen_fd);
        e->listen_fd = -1;
        return trisa_error_set(TRISA_ENETWORK, "libmicrohttpd did not start%s",
                               e->tls ? " (TLS: is the certificate and key valid?)" : "");
    }
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

void trisa_emu_stop(trisa_emu *e)
{
    if (e != NULL && e->daemon != NULL) {
        MHD_stop_daemon(e->daemon); /* closes the listening socket too */
        e->daemon = NULL;
        e->listen_fd = -1;
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
    OSSL_PROVIDER_unload(e->legacy);
    OSSL_PROVIDER_unload(e->deflt);
    OSSL_LIB_CTX_free(e->p12ctx);
    free(e->tls_cert_pem);
    if (e->tls_key_pem != NULL) {
        trisa_free_secret(e->tls_key_pem, strlen(e->tls_key_pem));
    }
    OPENSSL_cleanse(e->jwt_key, sizeof(e->jwt_key));
    pthread_mutex_destroy(&e->log_lock);
    free(e->state_dir);
    free(e->host);
    free(e);
}
