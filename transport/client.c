/*
 * The Sectigo client handle: one libcurl easy handle reused for every call (so calls
 * share a connection), the token life cycle in the reference client's order, the
 * on-disk token cache, error mapping and retries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "transport/internal.h"

#define BODY_MAX_DEFAULT (64u * 1024 * 1024) /* a batch ZIP is far smaller */
#define CACHE_MAX        65536

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static long long now_s(void)
{
    return (long long)time(NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Wipe and free a string we allocated with its exact size (strdup): the whole block. */
static void free_secret_str(char *s)
{
    if (s != NULL) {
        trisa_free_secret(s, strlen(s) + 1);
    }
}

void sectigo_warn(trisa_sectigo *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (c->warn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->warn(msg, c->warn_data);
}

/* ---- Tokens ------------------------------------------------------------------------ */

static void clear_tokens(trisa_sectigo *c)
{
    free_secret_str(c->access);
    free_secret_str(c->refresh);
    c->access = c->refresh = NULL;
    c->iat = c->exp = c->nbf = c->refresh_by = 0;
    c->subject[0] = '\0';
}

/* Take ownership of two tokens after reading their timing claims. */
static int set_tokens(trisa_sectigo *c, char *access, char *refresh)
{
    long long aiat, aexp, anbf, riat, rexp, rnbf;
    char sub[256];

    if (trisa_sectigo_jwt_claims(access, &aiat, &aexp, &anbf, sub, sizeof(sub)) != 0) {
        free_secret_str(access);
        free_secret_str(refresh);
        return trisa_error_prefix("could not read the access token");
    }
    if (trisa_sectigo_jwt_claims(refresh, &riat, &rexp, &rnbf, NULL, 0) != 0) {
        free_secret_str(access);
        free_secret_str(refresh);
        return trisa_error_prefix("could not read the refresh token");
    }
    clear_tokens(c);
    c->access = access;
    c->refresh = refresh;
    c->iat = aiat;
    c->exp = aexp;
    c->refresh_by = rexp;
    c->nbf = rnbf > 0 ? rnbf : riat;
    memcpy(c->subject, sub, sizeof(c->subject));
    return 0;
}

/* A few seconds' margin so a token does not expire in flight, except for the very
 * short lifetimes tests use. */
static long long skew(const trisa_sectigo *c)
{
    return c->exp - c->iat >= 60 ? 5 : 0;
}

static int token_valid(const trisa_sectigo *c)
{
    return c->access != NULL && now_s() + skew(c) < c->exp;
}

static int token_current(const trisa_sectigo *c)
{
    return c->access != NULL && c->refresh != NULL && now_s() < c->refresh_by;
}

static int token_refreshable(const trisa_sectigo *c)
{
    long long now = now_s();
    return c->refresh != NULL && now >= c->nbf && now < c->refresh_by;
}

int trisa_sectigo_token_state(const trisa_sectigo *c, trisa_sectigo_token_info *out)
{
    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_token_state: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    out->has_tokens = c->access != NULL && c->refresh != NULL;
    out->valid = token_valid(c);
    out->current = token_current(c);
    out->refreshable = token_refreshable(c);
    out->issued_at = c->iat;
    out->expires_at = c->exp;
    out->not_before = c->nbf;
    out->refresh_by = c->refresh_by;
    memcpy(out->subject, c->subject, sizeof(out->subject));
    return 0;
}

const char *trisa_sectigo_cache_path(const trisa_sectigo *c)
{
    return c ? c->cache_file : NULL;
}

/* ---- Token cache ----------------------------------------------------------------------- */

/* The cache folder must be ours and closed to others: a token cache that others may read
 * or swap is worse than none. A loose one is not used (tokens stay in memory), with a
 * warning that says how to fix it. Returns 1 when the folder may be used. */
static int cache_dir_ok(trisa_sectigo *c)
{
    struct stat st;
    char *dir, *slash;
    int ok = 1;

    if (c->cache_file == NULL || (dir = strdup(c->cache_file)) == NULL) {
        return 0;
    }
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        if (lstat(dir, &st) == 0 &&
            (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)) {
            sectigo_warn(c,
                         "token cache folder %s is not a private folder of this user (mode "
                         "%04o); tokens are not cached (chmod 700 %s, or remove it)",
                         dir, (unsigned)(st.st_mode & 07777), dir);
            free(c->cache_file);
            c->cache_file = NULL;
            ok = 0;
        }
    }
    free(dir);
    return ok;
}

static void cache_load(trisa_sectigo *c)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct stat st;
    struct json_object *o = NULL, *v;
    const char *ep = NULL, *user = NULL, *at = NULL, *rt = NULL;
    char *a = NULL, *r = NULL;

    if (c->cache_file == NULL || !cache_dir_ok(c) || lstat(c->cache_file, &st) != 0) {
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        sectigo_warn(c, "token cache %s is not a regular file; ignored", c->cache_file);
        return;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        sectigo_warn(c, "token cache %s is not private to this user (mode %o); ignored",
                     c->cache_file, (unsigned)(st.st_mode & 07777));
        return;
    }
    if (trisa_file_read(&data, &len, c->cache_file, CACHE_MAX) != 0) {
        sectigo_warn(c, "token cache unreadable: %s; ignored", trisa_error_last());
        trisa_error_clear();
        return;
    }
    o = sectigo_json_parse_secret((const char *)data, NULL);
    if (json_object_is_type(o, json_type_object)) {
        if (json_object_object_get_ex(o, "endpoint", &v)) {
            ep = json_object_get_string(v);
        }
        if (json_object_object_get_ex(o, "username", &v)) {
            user = json_object_get_string(v);
        }
        if (json_object_object_get_ex(o, "accessToken", &v)) {
            at = json_object_get_string(v);
        }
        if (json_object_object_get_ex(o, "refreshToken", &v)) {
            rt = json_object_get_string(v);
        }
    }
    if (ep == NULL || user == NULL || at == NULL || rt == NULL) {
        sectigo_warn(c, "token cache %s is corrupt; ignored (the next call logs in again)",
                     c->cache_file);
    } else if (strcmp(ep, c->endpoint) != 0 || strcmp(user, c->username) != 0) {
        sectigo_warn(c, "token cache %s belongs to another endpoint or user; ignored",
                     c->cache_file);
    } else if ((a = strdup(at)) == NULL || (r = strdup(rt)) == NULL) {
        free_secret_str(a);
    } else if (set_tokens(c, a, r) != 0) {
        sectigo_warn(c, "token cache %s holds unreadable tokens (%s); ignored", c->cache_file,
                     trisa_error_last());
        trisa_error_clear();
    }
    sectigo_json_put_secret(o);
    trisa_free_secret(data, len + 1);
}

static void cache_save(trisa_sectigo *c)
{
    trisa_buf text = TRISA_BUF_INIT;
    gojson w;
    char *dir, *slash;

    if (c->cache_file == NULL || c->access == NULL || c->refresh == NULL) {
        return;
    }
    if ((dir = strdup(c->cache_file)) == NULL) {
        return;
    }
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        if (trisa_mkdir_p(dir, 0700) != 0) {
            sectigo_warn(c, "cannot cache tokens: %s", trisa_error_last());
            trisa_error_clear();
            free(dir);
            return;
        }
    }
    free(dir);
    if (!cache_dir_ok(c)) {
        return;
    }
    /* Written with our own writer into a buffer that is wiped, not through json-c. */
    gojson_init_compact(&w, &text);
    gojson_open(&w, '{');
    gojson_key(&w, "version");
    gojson_int(&w, 1);
    gojson_key(&w, "endpoint");
    gojson_str(&w, c->endpoint);
    gojson_key(&w, "username");
    gojson_str(&w, c->username);
    gojson_key(&w, "accessToken");
    gojson_str(&w, c->access);
    gojson_key(&w, "refreshToken");
    gojson_str(&w, c->refresh);
    gojson_close(&w, '}');
    if (text.failed || trisa_file_write_atomic(c->cache_file, text.data, text.len, 0600,
                                               TRISA_WRITE_REPLACE) != 0) {
        sectigo_warn(c, "cannot cache tokens: %s",
                     text.failed ? "out of memory" : trisa_error_last());
        trisa_error_clear();
    }
    trisa_buf_free(&text, 1);
}

static void cache_forget(trisa_sectigo *c)
{
    clear_tokens(c);
    if (c->cache_file != NULL) {
        (void)unlink(c->cache_file);
    }
}

/* ---- Create / free ----------------------------------------------------------------------- */

static int environment_is_testing(const char *env)
{
    while (*env == ' ' || *env == '\t') {
        env++;
    }
    return strncasecmp(env, "testing", 7) == 0 &&
           (env[7] == '\0' || env[7] == ' ' || env[7] == '\t');
}

static char *default_cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    trisa_buf b = TRISA_BUF_INIT;
    if (xdg != NULL && xdg[0] == '/') {
        trisa_buf_printf(&b, "%s/trisa/sectigo", xdg);
    } else if (home != NULL && home[0] != '\0') {
        trisa_buf_printf(&b, "%s/.cache/trisa/sectigo", home);
    } else {
        return NULL;
    }
    return trisa_buf_detach(&b, NULL);
}

int trisa_sectigo_new(trisa_sectigo **out, const trisa_sectigo_options *opts)
{
    trisa_sectigo_options defaults = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *c = NULL;
    const char *endpoint;
    size_t n;
    int rc;

    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_new: out is NULL");
    }
    *out = NULL;
    if (opts == NULL) {
        opts = &defaults;
    }
    if (opts->version != TRISA_SECTIGO_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_options: version %u not supported",
                               opts->version);
    }
    endpoint = opts->endpoint && opts->endpoint[0] ? opts->endpoint : TRISA_SECTIGO_PRODUCTION_URL;
    if ((rc = trisa_sectigo_check_environment(endpoint, opts->environment)) != 0) {
        return rc;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != 0) {
        return trisa_error_set(TRISA_ENETWORK, "libcurl initialisation failed");
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    c->endpoint = strdup(endpoint);
    c->environment = strdup(opts->environment ? opts->environment : "production");
    c->username = dup_or_null(opts->username && opts->username[0] ? opts->username : NULL);
    c->password = dup_or_null(opts->password && opts->password[0] ? opts->password : NULL);
    c->profile = dup_or_null(opts->profile);
    c->ca_bundle = dup_or_null(opts->ca_bundle && opts->ca_bundle[0] ? opts->ca_bundle : NULL);
    if (opts->user_agent != NULL) {
        c->user_agent = strdup(opts->user_agent);
    } else {
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_printf(&b, "trisa-certkit/%s", trisa_version());
        c->user_agent = trisa_buf_detach(&b, NULL);
    }
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 120000;
    c->max_retries = opts->max_retries == 0 ? 4 : opts->max_retries < 0 ? 0 : opts->max_retries;
    c->retry_max_ms = opts->retry_max_ms > 0 ? opts->retry_max_ms : 30000;
    c->retry_base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : 250;
    c->warn = opts->warn;
    c->warn_data = opts->warn_data;
    c->body_max = BODY_MAX_DEFAULT;
    c->curl = curl_easy_init();
    if (c->endpoint == NULL || c->environment == NULL || c->user_agent == NULL || c->curl == NULL ||
        (opts->username && opts->username[0] && c->username == NULL) ||
        (opts->password && opts->password[0] && c->password == NULL)) {
        trisa_sectigo_free(c);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    n = strlen(c->endpoint);
    while (n > 0 && c->endpoint[n - 1] == '/') {
        c->endpoint[--n] = '\0';
    }
    if (strncasecmp(c->endpoint, "http://", 7) == 0 && !environment_is_testing(c->environment)) {
        /* Allowed where the reference allows it (its docker-compose runs its staging server
         * on plain http), but not silently. */
        sectigo_warn(c, "%s is plain http: the password and tokens cross the network unencrypted",
                     c->endpoint);
    }
    if (!opts->no_cache && c->username != NULL) {
        char key[65];
        char *dir =
            opts->cache_dir && opts->cache_dir[0] ? strdup(opts->cache_dir) : default_cache_dir();
        if (dir != NULL && sectigo_cache_key(key, c->endpoint, c->username) == 0) {
            trisa_buf b = TRISA_BUF_INIT;
            trisa_buf_printf(&b, "%s/%s.json", dir, key);
            c->cache_file = trisa_buf_detach(&b, NULL);
        } else {
            trisa_error_clear();
            sectigo_warn(c, "no folder for the token cache (set XDG_CACHE_HOME or HOME); "
                            "tokens are kept in memory only");
        }
        free(dir);
        cache_load(c);
    }
    *out = c;
    return 0;
}

void trisa_sectigo_free(trisa_sectigo *c)
{
    if (c == NULL) {
        return;
    }
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
    }
    clear_tokens(c);
    free(c->endpoint);
    free(c->environment);
    free(c->username);
    free_secret_str(c->password);
    free(c->profile);
    free(c->ca_bundle);
    free(c->user_agent);
    free(c->cache_file);
    trisa_buf_free(&c->body, 1);
    free(c);
}

const char *trisa_sectigo_last_body(const trisa_sectigo *c, size_t *len, long *status)
{
    if (len != NULL) {
        *len = c && c->body.data ? c->body.len : 0;
    }
    if (status != NULL) {
        *status = c ? c->status : 0;
    }
    return c && c->body.data ? c->body.data : "";
}

long trisa_sectigo_connection_count(const trisa_sectigo *c)
{
    return c ? c->connects : 0;
}

int trisa_sectigo_set_send_hook(trisa_sectigo *c, trisa_sectigo_send_fn fn, void *data)
{
    if (c == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_set_send_hook: client is NULL");
    }
    c->send_hook = fn;
    c->send_data = data;
    return 0;
}

int trisa_sectigo_set_deadline(trisa_sectigo *c, long long deadline_ms)
{
    if (c == NULL || deadline_ms < 0) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_set_deadline: bad argument");
    }
    c->deadline_ms = deadline_ms;
    return 0;
}

static int transient(CURLcode cc);

void trisa_sectigo_last_outcome(const trisa_sectigo *c, int *sent, int *transient_out)
{
    if (sent != NULL) {
        *sent = c != NULL && c->sent;
    }
    if (transient_out != NULL) {
        *transient_out =
            c != NULL &&
            (c->last_cc != CURLE_OK ? transient(c->last_cc) : c->status == 429 || c->status >= 500);
    }
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    trisa_sectigo *c = userp;
    size_t n = size * nmemb;
    if (c->body.len + n > c->body_max) {
        c->body_too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (trisa_buf_append(&c->body, data, n) != 0) {
        return 0;
    }
    return n;
}

const char *sectigo_header(trisa_sectigo *c, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c->curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL) {
        return NULL;
    }
    return h->value;
}

/* A new multipart form from the request's parts (NULL when out of memory). */
static curl_mime *make_form(trisa_sectigo *c, const sectigo_req *r)
{
    curl_mime *mime = curl_mime_init(c->curl);
    int ok = mime != NULL;

    for (size_t i = 0; ok && i < r->nparts; i++) {
        const sectigo_part *p = &r->parts[i];
        curl_mimepart *part = curl_mime_addpart(mime);
        ok = part != NULL && curl_mime_name(part, p->name) == CURLE_OK &&
             curl_mime_data(part, p->data, p->len) == CURLE_OK &&
             (p->filename == NULL || curl_mime_filename(part, p->filename) == CURLE_OK) &&
             (p->type == NULL || curl_mime_type(part, p->type) == CURLE_OK);
    }
    if (!ok) {
        curl_mime_free(mime);
        return NULL;
    }
    return mime;
}

/* Trust anchors: the caller's bundle alone; else, as OpenSSL and Go read them,
 * $SSL_CERT_FILE and $SSL_CERT_DIR in place of the system file and folder. */
static int set_trust(trisa_sectigo *c)
{
    const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
    int ok = 1;

    if (c->ca_bundle != NULL) {
        ok &= curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_bundle) == CURLE_OK;
        ok &= curl_easy_setopt(c->curl, CURLOPT_CAPATH, (char *)NULL) == CURLE_OK;
        return ok;
    }
    if (file != NULL && file[0] != '\0') {
        ok &= curl_easy_setopt(c->curl, CURLOPT_CAINFO, file) == CURLE_OK;
    }
    if (dir != NULL && dir[0] != '\0') {
        ok &= curl_easy_setopt(c->curl, CURLOPT_CAPATH, dir) == CURLE_OK;
    }
    return ok;
}

/* libcurl calls this once the connection (and TLS) is up, before the request goes out:
 * from here on its bytes may reach the server. */
static int on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    trisa_sectigo *c = userp;
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    if (c->sending_once && c->send_hook != NULL && c->send_hook(c->sending_what, c->send_data)) {
        c->send_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    c->sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* One attempt. Returns the libcurl code; c->status and c->body hold the reply. */
static CURLcode perform(trisa_sectigo *c, const sectigo_req *r)
{
    struct curl_slist *hdrs = NULL, *tmp;
    trisa_buf url = TRISA_BUF_INIT, authz = TRISA_BUF_INIT;
    curl_mime *mime = NULL;
    CURLcode cc;
    long connects = 0;
    const char *json = "application/json;charset=UTF-8";
    const char *accept = r->accept ? r->accept : json;
    int ok = 1;

    long connect_ms = c->connect_timeout_ms, total_ms = c->timeout_ms;

    trisa_buf_free(&c->body, 1);
    c->status = 0;
    c->body_too_big = 0;
    c->errbuf[0] = '\0';
    c->sent = 0;
    c->send_refused = 0;
    c->sending_once = !r->idempotent;
    c->sending_what = r->what;
    if (c->deadline_ms > 0) {
        long long left = c->deadline_ms - mono_ms();
        if (left <= 0) {
            snprintf(c->errbuf, sizeof(c->errbuf), "the time limit was reached; not sent");
            c->last_cc = CURLE_OPERATION_TIMEDOUT;
            return CURLE_OPERATION_TIMEDOUT;
        }
        total_ms = left < total_ms ? (long)left : total_ms;
        connect_ms = left < connect_ms ? (long)left : connect_ms;
    }
    trisa_buf_printf(&url, "%s%s", c->endpoint, r->path);

    /* Reset keeps the connection cache, so consecutive calls reuse the connection. */
    curl_easy_reset(c->curl);
#define SET(opt, val) ok &= curl_easy_setopt(c->curl, opt, val) == CURLE_OK
    SET(CURLOPT_URL, url.data);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* a 307 from login must be reported, not followed */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    ok &= set_trust(c);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(CURLOPT_TIMEOUT_MS, total_ms);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, c);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    /* libcurl silently re-sends a request when a reused connection closes before any
     * reply ("connection died, retrying a fresh connect"). The server may have acted on
     * it, so a request that must not run twice gets a connection of its own. */
    SET(CURLOPT_FRESH_CONNECT, r->idempotent ? 0L : 1L);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, c);

    if (r->parts == NULL) {
        tmp = curl_slist_append(hdrs, r->accept ? "Content-Type: application/octet-stream"
                                                : "Content-Type: application/json;charset=UTF-8");
        hdrs = tmp ? tmp : hdrs;
    }
    {
        trisa_buf h = TRISA_BUF_INIT;
        trisa_buf_printf(&h, "Accept: %s", accept);
        if (h.data && (tmp = curl_slist_append(hdrs, h.data)) != NULL) {
            hdrs = tmp;
        }
        trisa_buf_free(&h, 0);
    }
    if ((tmp = curl_slist_append(hdrs, "Expect:")) != NULL) {
        hdrs = tmp;
    }
    if (r->auth && c->access != NULL) {
        trisa_buf_printf(&authz, "Authorization: Bearer %s", c->access);
        if (authz.data && (tmp = curl_slist_append(hdrs, authz.data)) != NULL) {
            hdrs = tmp;
        }
    }
    SET(CURLOPT_HTTPHEADER, hdrs);
    if (r->parts != NULL) {
        /* A new form every attempt: a re-sent upload (after a 401) carries its body. */
        mime = make_form(c, r);
        ok &= mime != NULL;
        SET(CURLOPT_MIMEPOST, mime);
    } else if (strcmp(r->method, "GET") != 0) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    if (strcmp(r->method, "PUT") == 0 || (r->parts != NULL && strcmp(r->method, "POST") != 0)) {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SET
    if (!ok || url.failed) {
        cc = CURLE_OUT_OF_MEMORY;
    } else {
        cc = curl_easy_perform(c->curl);
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
    if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
        c->connects += connects;
    }
    /* The header list holds the bearer token: wipe it. */
    for (tmp = hdrs; tmp != NULL; tmp = tmp->next) {
        OPENSSL_cleanse(tmp->data, strlen(tmp->data));
    }
    curl_slist_free_all(hdrs);
    /* Detach the form from the handle before it is freed. */
    curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, (curl_mime *)NULL);
    curl_mime_free(mime);
    trisa_buf_free(&authz, 1);
    trisa_buf_free(&url, 0);
    if (c->body.data == NULL) {
        trisa_buf_append(&c->body, "", 0);
    }
    c->last_cc = cc;
    return cc;
}

/* Could the server have received the request? Only these failures happen before a byte
 * of it is sent. */
static int never_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
           cc == CURLE_COULDNT_CONNECT;
}

/* Failures worth another try of an idempotent request. */
static int transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int transient_status(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Backoff before retry number n (0-based): base * 2^n, with jitter in [half, full]. */
static long backoff_ms(const trisa_sectigo *c, int n)
{
    long d = c->retry_base_ms;
    unsigned short rnd = 0;
    for (int i = 0; i < n && d < 60000; i++) {
        d *= 2;
    }
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1) {
        rnd = 0x8000;
    }
    return d / 2 + (long)((double)(d - d / 2) * rnd / 65535.0);
}

static int network_error(trisa_sectigo *c, const sectigo_req *r, CURLcode cc, int attempts)
{
    int code = cc == CURLE_OPERATION_TIMEDOUT ? TRISA_ETIMEOUT : TRISA_ENETWORK;
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
    char tries[64] = "";
    if (attempts > 1) {
        snprintf(tries, sizeof(tries), " (after %d attempts)", attempts);
    }
    if (cc == CURLE_WRITE_ERROR && c->body_too_big) {
        return trisa_error_set(TRISA_ETOOBIG, "%s: the reply is larger than %zu bytes", r->what,
                               c->body_max);
    }
    if (cc == CURLE_OUT_OF_MEMORY || (cc == CURLE_WRITE_ERROR && c->body.failed)) {
        return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", r->what);
    }
    if (c->send_refused) {
        return trisa_error_set(TRISA_EIO, "%s: %s %s%s: not sent: the check before sending failed",
                               r->what, r->method, c->endpoint, r->path);
    }
    if (!r->idempotent && c->sent && !never_sent(cc)) {
        return trisa_error_set(code,
                               "%s: %s %s%s: %s. The request may have reached the server, so it "
                               "was not sent again: %s",
                               r->what, r->method, c->endpoint, r->path, detail,
                               r->hint ? r->hint : "check before trying again");
    }
    return trisa_error_set(code, "%s: %s %s%s: %s%s%s", r->what, r->method, c->endpoint, r->path,
                           detail, tries, !r->idempotent ? " (not sent)" : "");
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; s && *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && (s[i] | 0x20) == (needle[i] | 0x20)) {
            i++;
        }
        if (i == n) {
            return 1;
        }
    }
    return 0;
}

/* A non-2xx reply as an error: the status and the server's message. */
static int status_error(trisa_sectigo *c, const sectigo_req *r)
{
    char *msg = sectigo_error_message(c->body.data, c->body.len);
    const char *m = msg && msg[0] ? msg : "(no message)";
    int code = TRISA_EAPI, rc;

    if (c->status == 401) {
        code = TRISA_EAUTH;
    } else if (c->status == 403) {
        code = TRISA_EFORBIDDEN;
    } else if (contains_ci(m, "balance") || contains_ci(m, "licence") ||
               contains_ci(m, "license")) {
        code = TRISA_EBALANCE;
    }
    if (!r->idempotent && (c->status == 502 || c->status == 504)) {
        /* A gateway error does not prove the server behind it did nothing. */
        rc = trisa_error_set(code,
                             "%s: HTTP %ld: %s. The request may have reached the server, "
                             "so it was not sent again: %s",
                             r->what, c->status, m, r->hint ? r->hint : "check before retrying");
    } else {
        rc = trisa_error_set(code, "%s: HTTP %ld: %s", r->what, c->status, m);
    }
    free(msg);
    return rc;
}

/* Send with retries; returns 0 when a reply arrived (any status), else the error. */
static int send_with_retries(trisa_sectigo *c, const sectigo_req *r)
{
    long long start = mono_ms();
    int attempt = 0;

    for (;;) {
        CURLcode cc = perform(c, r);
        long wait;
        int retry;

        attempt++;
        if (cc == CURLE_OK) {
            retry = r->idempotent && transient_status(c->status);
        } else {
            retry = r->idempotent ? transient(cc) : never_sent(cc);
        }
        if (!retry || attempt > c->max_retries) {
            return cc == CURLE_OK ? 0 : network_error(c, r, cc, attempt);
        }
        wait = backoff_ms(c, attempt - 1);
        if (cc == CURLE_OK) {
            /* The server's Retry-After (seconds or an HTTP date) replaces our backoff. */
            long ra = sectigo_retry_after_seconds(sectigo_header(c, "Retry-After"), now_s());
            if (ra >= 0) {
                wait = ra > 3600 ? 3600000L : ra * 1000L;
            }
        }
        if (mono_ms() - start + wait > c->retry_max_ms ||
            (c->deadline_ms > 0 && mono_ms() + wait >= c->deadline_ms)) {
            /* Waiting would exceed the time budget: report the last outcome. */
            return cc == CURLE_OK ? 0 : network_error(c, r, cc, attempt);
        }
        sleep_ms(wait);
    }
}

/* ---- Login and refresh ------------------------------------------------------------------ */

static int login_reply(trisa_sectigo *c, const char *what, char *old_refresh)
{
    char *a = NULL, *rt = NULL;
    int rc;

    if (c->status == 401) {
        return trisa_error_set(TRISA_EAUTH,
                               "%s: could not authenticate credentials: wrong username or "
                               "password (HTTP 401)",
                               what);
    }
    if (c->status == 403) {
        return trisa_error_set(TRISA_EFORBIDDEN,
                               "%s: user is not authorized (HTTP 403): an account without API "
                               "authority, or (the reference staging server) a wrong username or "
                               "password",
                               what);
    }
    if (c->status == 307) {
        const char *loc = sectigo_header(c, "Location");
        return trisa_error_set(TRISA_ECERTLOGIN,
                               "%s: account requires TLS client-certificate login (HTTP 307%s%s); "
                               "password login is not possible for it",
                               what, loc ? " to " : "", loc ? loc : "");
    }
    if (c->status < 200 || c->status > 299) {
        char *msg = sectigo_error_message(c->body.data, c->body.len);
        rc = trisa_error_set(TRISA_EAPI, "%s: HTTP %ld: %s", what, c->status,
                             msg && msg[0] ? msg : "(no message)");
        free(msg);
        return rc;
    }
    if ((rc = sectigo_parse_tokens(&a, &rt, c->body.data)) != 0) {
        return trisa_error_prefix("%s", what);
    }
    if (rt[0] == '\0' && old_refresh != NULL) {
        /* The service may reuse the refresh token and leave it out of the reply. */
        free(rt);
        rt = strdup(old_refresh);
    }
    if (a[0] == '\0' || rt == NULL || rt[0] == '\0') {
        free_secret_str(a);
        free_secret_str(rt);
        return trisa_error_set(TRISA_EAPI, "%s: the reply holds no tokens", what);
    }
    if ((rc = set_tokens(c, a, rt)) != 0) {
        return trisa_error_prefix("%s", what);
    }
    trisa_buf_free(&c->body, 1); /* it held the tokens */
    cache_save(c);
    return 0;
}

int trisa_sectigo_authenticate(trisa_sectigo *c)
{
    trisa_buf text = TRISA_BUF_INIT;
    gojson w;
    sectigo_req r = {.method = "POST", .path = "/auth/pwd", .idempotent = 1, .what = "login"};
    int rc;

    if (c == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_authenticate: client is NULL");
    }
    if (c->username == NULL || c->password == NULL) {
        return trisa_error_set(TRISA_EAUTH,
                               "login: no %s given (set SECTIGO_USERNAME and SECTIGO_PASSWORD, or "
                               "use -u and -p)",
                               c->username == NULL ? "username" : "password");
    }
    /* {"username":...,"password":...} and a new line, as the reference's json.Encoder
     * writes it; built in a buffer that is wiped, not through json-c. */
    gojson_init_compact(&w, &text);
    gojson_open(&w, '{');
    gojson_key(&w, "username");
    gojson_str(&w, c->username);
    gojson_key(&w, "password");
    gojson_str(&w, c->password);
    gojson_close(&w, '}');
    trisa_buf_puts(&text, "\n");
    if (text.failed) {
        trisa_buf_free(&text, 1);
        return trisa_error_set(TRISA_ENOMEM, "login: out of memory");
    }
    r.body = text.data;
    r.body_len = text.len;
    rc = send_with_retries(c, &r);
    trisa_buf_free(&text, 1);
    if (rc != 0) {
        return rc;
    }
    return login_reply(c, "login", NULL);
}

int trisa_sectigo_refresh(trisa_sectigo *c)
{
    sectigo_req r = {
        .method = "POST", .path = "/auth/refresh", .idempotent = 1, .what = "token refresh"};
    char *old;
    int rc;

    if (c == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_refresh: client is NULL");
    }
    if (c->refresh == NULL) {
        return trisa_error_set(TRISA_EAUTH, "token refresh: not authenticated (no refresh token)");
    }
    /* The body is the bare token, sent with the JSON content type, as the reference does. */
    if ((old = strdup(c->refresh)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r.body = old;
    r.body_len = strlen(old);
    rc = send_with_retries(c, &r);
    if (rc == 0) {
        rc = login_reply(c, "token refresh", old);
    }
    free_secret_str(old);
    return rc;
}

int trisa_sectigo_ensure_auth(trisa_sectigo *c)
{
    if (c == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_sectigo_ensure_auth: client is NULL");
    }
    if (token_valid(c)) {
        return 0;
    }
    if (token_refreshable(c) && trisa_sectigo_refresh(c) == 0) {
        return 0;
    }
    /* The refresh endpoint may fail; a fresh login is the reference's fallback. */
    return trisa_sectigo_authenticate(c);
}

int sectigo_call(trisa_sectigo *c, const sectigo_req *r)
{
    int rc, relogged = 0;

    for (;;) {
        if (r->auth && (rc = trisa_sectigo_ensure_auth(c)) != 0) {
            return rc;
        }
        if ((rc = send_with_retries(c, r)) != 0) {
            return rc;
        }
        if (c->status >= 200 && c->status <= 299) {
            return 0;
        }
        /* A rejected token (revoked, or the server restarted) is not a processed request:
         * log in once more and repeat, when a password allows it. */
        if (c->status == 401 && r->auth && !relogged && c->password != NULL) {
            relogged = 1;
            cache_forget(c);
            continue;
        }
        if (c->status == 401 && r->auth) {
            cache_forget(c);
        }
        return status_error(c, r);
    }
}
