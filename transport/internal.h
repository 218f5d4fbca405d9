/*
 * Internals of the Sectigo client shared by its source files and its unit tests.
 * Not installed.
 */
#ifndef TRISA_TRANSPORT_INTERNAL_H
#define TRISA_TRANSPORT_INTERNAL_H

#include <json-c/json.h>

#include "common/internal.h"
#include "trisa/sectigo.h"

/* ---- Go-compatible JSON output (json.go) ---- */

/* The nesting the writer follows; deeper output fails (the buffer is marked failed). */
#define GOJSON_MAX_DEPTH 63

/* A writer that prints like Go's json.MarshalIndent(v, "", "  ") or, compact, like Go's
 * json.Marshal (what the reference client sends as request bodies). */
typedef struct gojson {
    trisa_buf *b;
    int depth;
    int compact;                     /* no new lines or indent, "key":value */
    int pending_key;                 /* a key was written; the value follows on the same line */
    int count[GOJSON_MAX_DEPTH + 1]; /* items written at each depth */
} gojson;

void gojson_init(gojson *w, trisa_buf *b);
void gojson_init_compact(gojson *w, trisa_buf *b);
void gojson_open(gojson *w, char c);  /* '{' or '[' */
void gojson_close(gojson *w, char c); /* '}' or ']' */
void gojson_key(gojson *w, const char *key);
void gojson_str(gojson *w, const char *s);
void gojson_int(gojson *w, long long v);
void gojson_bool(gojson *w, int v);
void gojson_null(gojson *w);
/* A json-c value as Go prints a decoded interface{}: object keys sorted. */
void gojson_value(gojson *w, struct json_object *v);
/* Raw JSON text as above ("null" when NULL or unparsable). */
void gojson_raw(gojson *w, const char *json);
/* Append s escaped as a Go JSON string, quotes included: common's trisa_json_str() with
 * TRISA_JSON_GO (<, >, & and U+2028/U+2029 escaped, invalid UTF-8 as U+FFFD). */
void gojson_escape(trisa_buf *b, const char *s);
/* A name, value, name, value, ... NULL list as a JSON object with the names sorted, as
 * Go encodes a map[string]string; NULL params print {}. */
void gojson_string_map(gojson *w, const char *const *params);

/* Parse JSON that may hold secrets (tokens, passwords): json-c's tokener buffer is wiped
 * before it is freed. Free the result with sectigo_json_put_secret(). NULL on a syntax
 * error (*err set when err is not NULL). */
struct json_object *sectigo_json_parse_secret(const char *text, enum json_tokener_error *err);
/* Wipe every string held in o (the whole stored string of each), then release it. */
void sectigo_json_put_secret(struct json_object *o);

/* ---- Typed replies from JSON (json.go) ---- */

int sectigo_parse_batch(trisa_sectigo_batch **out, const char *body);
int sectigo_parse_processing_info(trisa_sectigo_processing_info *out, const char *body);
int sectigo_parse_licenses(trisa_sectigo_licenses *out, const char *body);
int sectigo_parse_authorities(trisa_sectigo_authority_list **out, const char *body);
int sectigo_parse_profiles(trisa_sectigo_profile_list **out, const char *body);
int sectigo_parse_profile_detail(trisa_sectigo_profile_detail **out, const char *body);
int sectigo_parse_profile_params(trisa_sectigo_profile_param_list **out, const char *body);
int sectigo_parse_organization(trisa_sectigo_organization **out, const char *body);
int sectigo_parse_find_result(trisa_sectigo_find_result **out, const char *body);
int sectigo_parse_balance(long long *out, const char *body);
/* accessToken / refreshToken from a login or refresh reply; strings are malloc'd. */
int sectigo_parse_tokens(char **access, char **refresh, const char *body);
/* The message of an API error body: JSON {"message"} or the text itself (trimmed). */
char *sectigo_error_message(const char *body, size_t len);

/* ---- The client (client.c) ---- */

#include <curl/curl.h>

struct trisa_sectigo {
    CURL *curl;
    char *endpoint; /* no trailing slash */
    char *environment;
    char *username;
    char *password; /* secret: wiped on free */
    char *profile;
    char *ca_bundle;
    char *user_agent;
    char *cache_file; /* NULL: no cache */
    long connect_timeout_ms, timeout_ms;
    int max_retries;
    long retry_max_ms, retry_base_ms;
    trisa_sectigo_warn_fn warn;
    void *warn_data;
    /* tokens (secrets) and their timing */
    char *access, *refresh;
    long long iat, exp, nbf, refresh_by;
    char subject[256];
    /* the last reply */
    trisa_buf body;
    size_t body_max;
    int body_too_big; /* the last reply was cut off at body_max */
    long status;
    long connects; /* new TCP connections opened so far */
    char errbuf[CURL_ERROR_SIZE];
    /* what the caller needs to know of the last request: whether its bytes may have left
     * (set by the pre-request callback), and how it failed */
    long long deadline_ms; /* CLOCK_MONOTONIC; 0: none */
    trisa_sectigo_send_fn send_hook;
    void *send_data;
    int sending_once; /* the request being sent must not run twice */
    const char *sending_what;
    int sent;         /* its bytes may have left (the last attempt) */
    int send_refused; /* the send hook refused it: never sent */
    CURLcode last_cc;
};

/* One part of a multipart/form-data body. */
typedef struct sectigo_part {
    const char *name;
    const char *filename; /* NULL: a plain form field */
    const char *type;     /* NULL: none */
    const void *data;
    size_t len;
} sectigo_part;

/* One HTTP exchange. */
typedef struct sectigo_req {
    const char *method; /* "GET", "POST", "PUT" */
    const char *path;   /* "/api/v1/devices" */
    const char *body;   /* request body or NULL */
    size_t body_len;
    /* A multipart body instead: its parts, made into a new form for every attempt (a form
     * libcurl has sent once is not sent again whole). */
    const sectigo_part *parts;
    size_t nparts;
    const char *accept; /* NULL: JSON */
    int auth;           /* send the bearer token (and log in first) */
    int idempotent;     /* may be re-sent after it may have reached the server */
    const char *what;   /* for messages: "batch detail" */
    const char *hint;   /* said when a non-idempotent request may have arrived */
} sectigo_req;

/* Send r (authenticating first when r->auth), with retries as allowed; on return
 * c->status and c->body hold the reply. Returns 0 for a 2xx reply, else the error
 * (recorded). */
int sectigo_call(trisa_sectigo *c, const sectigo_req *r);
void sectigo_warn(trisa_sectigo *c, const char *fmt, ...) TRISA_PRINTF(2, 3);
/* The last reply's header value (borrowed until the next call), or NULL. */
const char *sectigo_header(trisa_sectigo *c, const char *name);

/* ---- Small helpers (util.c) ---- */

/* Seconds to wait from a Retry-After value (delta seconds or an HTTP date), or -1. */
long sectigo_retry_after_seconds(const char *value, long long now);
/* SHA-256 hex of data (out: 65 bytes). */
void sectigo_sha256_hex(char out[65], const void *data, size_t len);
/* SHA-256 hex of "endpoint\nusername" (out: 65 bytes). */
int sectigo_cache_key(char out[65], const char *endpoint, const char *username);
/* dir joined with name and cleaned as Go's filepath.Join does ("." + "1.zip" = "1.zip",
 * "certs/" + "1.zip" = "certs/1.zip"); NULL when out of memory. */
char *sectigo_path_join(const char *dir, const char *name);

#endif
