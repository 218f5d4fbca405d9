/**
 * @file trisa/sectigo.h
 * @brief A client for the Sectigo IoT Manager REST API (the endpoints the TRISA
 *        reference client uses), with token caching, retries and typed replies.
 *
 * One client handle holds one libcurl easy handle, so a sequence of calls rides one
 * connection. A handle is not thread-safe: use one per thread.
 *
 * Every call returns 0 or a negative TRISA_E* code and records a message for
 * trisa_error_last() that names the HTTP status and the server's message. Codes:
 * TRISA_EAUTH (wrong username or password, or token rejected), TRISA_EFORBIDDEN (valid
 * user without authority), TRISA_ECERTLOGIN (the account must log in with a TLS client
 * certificate: the server answered 307), TRISA_EAPI (any other non-2xx reply, 404
 * included: trisa_sectigo_last_body() gives the status), TRISA_EBALANCE (the server's
 * message says no licences or balance are left),
 * TRISA_ENETWORK / TRISA_ETIMEOUT (connection, TLS or timeout), TRISA_EENV (the endpoint
 * is refused by the environment guard), TRISA_EINVAL, TRISA_ENOMEM, TRISA_EIO.
 *
 * Replies come back through `**out`; free each with its NULL-safe `_free` function.
 * Strings in replies are never NULL ("" when the server sent none or null).
 */
#ifndef TRISA_SECTIGO_H
#define TRISA_SECTIGO_H

#include <stddef.h>

#include "trisa/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Production base URL, the default endpoint. */
#define TRISA_SECTIGO_PRODUCTION_URL "https://iot.sectigo.com"

/** An open client. Opaque; create with trisa_sectigo_new(), free with trisa_sectigo_free(). */
typedef struct trisa_sectigo trisa_sectigo;

/** Receives a warning the library would otherwise lose (a corrupt token cache, ...). */
typedef void (*trisa_sectigo_warn_fn)(const char *message, void *data);

#define TRISA_SECTIGO_OPTIONS_VERSION 1

/**
 * Client options. Start from TRISA_SECTIGO_OPTIONS_INIT; NULL / 0 means the default.
 * Strings are copied by trisa_sectigo_new().
 */
typedef struct trisa_sectigo_options {
    unsigned int version; /**< TRISA_SECTIGO_OPTIONS_VERSION */
    /** Base URL (default TRISA_SECTIGO_PRODUCTION_URL); trailing slashes are ignored. */
    const char *endpoint;
    /** "production" (default), "staging", "docker" or "testing"; case and spaces ignored. */
    const char *environment;
    const char *username; /**< needed for logging in and to name the token cache entry */
    const char *password; /**< needed only when no usable cached token exists */
    const char *profile;  /**< the reference's SECTIGO_PROFILE; informational */
    /** PEM trust anchors to use instead of the system store. NULL: the system store, or
     *  $SSL_CERT_FILE and $SSL_CERT_DIR in its place when set (as OpenSSL and Go read them). */
    const char *ca_bundle;
    long connect_timeout_ms; /**< default 10000 */
    long timeout_ms;         /**< whole-request limit, default 120000 */
    const char *user_agent;  /**< default "trisa-certkit/<version>" */
    /** Folder of the token cache (default $XDG_CACHE_HOME/trisa/sectigo, else
     *  ~/.cache/trisa/sectigo). One file per endpoint and username lives there. */
    const char *cache_dir;
    int no_cache;               /**< non-zero: keep tokens in memory only */
    int max_retries;            /**< GET retries; 0: default 4; negative: none */
    long retry_max_ms;          /**< total time a GET may spend retrying, default 30000 */
    long retry_base_ms;         /**< first backoff, doubled each retry, default 250 */
    trisa_sectigo_warn_fn warn; /**< warnings (NULL: dropped) */
    void *warn_data;
} trisa_sectigo_options;

/* clang-format off */
#define TRISA_SECTIGO_OPTIONS_INIT {.version = TRISA_SECTIGO_OPTIONS_VERSION}
/* clang-format on */

/**
 * Create a client. Checks the endpoint against the environment guard (production: only
 * https://iot.sectigo.com; staging and docker: never a *.sectigo.com host; testing: only
 * localhost or 127.0.0.1) and loads cached tokens. Plain http is accepted where the
 * reference accepts it (not in production), with a warning outside testing. The token
 * cache is not used, with a warning, when its folder is not private (mode 0700, ours).
 * Does not touch the network.
 *
 * @param out  receives the client; free with trisa_sectigo_free().
 * @param opts options, or NULL for all defaults.
 * @return 0, TRISA_EENV, TRISA_EINVAL (bad version, unparsable URL, unknown environment),
 *         TRISA_ENOMEM, TRISA_ENETWORK (libcurl could not start).
 */
TRISA_EXTERN int trisa_sectigo_new(trisa_sectigo **out, const trisa_sectigo_options *opts);

/** Free a client (wipes the password and tokens). NULL is ignored. */
TRISA_EXTERN void trisa_sectigo_free(trisa_sectigo *client);

/**
 * Check an endpoint against an environment as the reference client does (https only in
 * production; a *.sectigo.com host refused case-insensitively). Records the reason.
 * @return 0, TRISA_EENV, TRISA_EINVAL (unparsable URL, unknown environment).
 */
TRISA_EXTERN int trisa_sectigo_check_environment(const char *endpoint, const char *environment);

/* ---- Authentication and tokens ---------------------------------------------------- */

/** Log in with username and password (POST /auth/pwd) even when a token is valid; caches
 *  the tokens. @return 0, TRISA_EAUTH (401), TRISA_EFORBIDDEN (403), TRISA_ECERTLOGIN
 *  (307, never followed), TRISA_EINVAL (no username or password), network errors. */
TRISA_EXTERN int trisa_sectigo_authenticate(trisa_sectigo *client);

/** Exchange the refresh token for new tokens (POST /auth/refresh); keeps the old refresh
 *  token when the reply's is empty. @return as trisa_sectigo_authenticate(), and
 *  TRISA_EAUTH when there is no refresh token. */
TRISA_EXTERN int trisa_sectigo_refresh(trisa_sectigo *client);

/** What every API call does first: use the access token while valid, else refresh while
 *  refreshable, else log in again. @return as trisa_sectigo_authenticate(). */
TRISA_EXTERN int trisa_sectigo_ensure_auth(trisa_sectigo *client);

/** Token timing, read from the JWT claims (unverified). Times are Unix seconds, 0 = none. */
typedef struct trisa_sectigo_token_info {
    int has_tokens;  /**< both an access and a refresh token are held */
    int valid;       /**< the access token has not expired */
    int current;     /**< the refresh token has not expired */
    int refreshable; /**< now is between the refresh token's nbf (or iat) and its exp */
    long long issued_at, expires_at, not_before, refresh_by;
    char subject[256]; /**< the access token's `sub`, e.g. /account/42/user/staging */
} trisa_sectigo_token_info;

/** Fill @p out with the state of the held tokens; no network. @return 0, TRISA_EINVAL. */
TRISA_EXTERN int trisa_sectigo_token_state(const trisa_sectigo *client,
                                           trisa_sectigo_token_info *out);

/** The token cache file for this endpoint and username (borrowed), or NULL when caching
 *  is off or no username was given. The file may not exist yet. */
TRISA_EXTERN const char *trisa_sectigo_cache_path(const trisa_sectigo *client);

/** The JWT timing claims of a token: iat, exp, nbf (0 when absent) and sub (may be NULL).
 *  @return 0, TRISA_EINVAL (not a JWT, bad base64url or JSON, no iat or exp). */
TRISA_EXTERN int trisa_sectigo_jwt_claims(const char *jwt, long long *iat, long long *exp,
                                          long long *nbf, char *sub, size_t sub_cap);

/* ---- Replies ----------------------------------------------------------------------- */

/** A batch (createSingleCertBatch, upload, batch detail), fields in reference order. */
typedef struct trisa_sectigo_batch {
    long long batch_id;
    long long order_number;
    char *creation_date;
    char *profile;
    long long size;
    char *status;
    int active;
    char *batch_name;
    char *reject_reason;
    char *generator_parameters_values; /**< the raw JSON value ("null" when absent) */
    long long user_id;
    int downloadable;
    int rejectable;
} trisa_sectigo_batch;

TRISA_EXTERN void trisa_sectigo_batch_free(trisa_sectigo_batch *batch);

typedef struct trisa_sectigo_processing_info {
    long long active, success, failed;
} trisa_sectigo_processing_info;

typedef struct trisa_sectigo_licenses {
    long long ordered, issued;
} trisa_sectigo_licenses;

typedef struct trisa_sectigo_authority {
    long long id;
    long long ecosystem_id;
    long long signer_certificate_id;
    char *ecosystem_name;
    long long balance;
    int enabled;
    long long profile_id;
    char *profile_name;
} trisa_sectigo_authority;

/** A list of authorities; `is_null` is set when the server sent JSON null. */
typedef struct trisa_sectigo_authority_list {
    size_t count;
    trisa_sectigo_authority *items;
    int is_null;
} trisa_sectigo_authority_list;

TRISA_EXTERN void trisa_sectigo_authority_list_free(trisa_sectigo_authority_list *list);

/** A list of strings; `is_null` is set when the server sent JSON null or nothing. */
typedef struct trisa_sectigo_strings {
    size_t count;
    char **items;
    int is_null;
} trisa_sectigo_strings;

typedef struct trisa_sectigo_profile {
    long long profile_id;
    trisa_sectigo_strings algorithms;
    char *ca;
} trisa_sectigo_profile;

typedef struct trisa_sectigo_profile_list {
    size_t count;
    trisa_sectigo_profile *items;
    int is_null;
} trisa_sectigo_profile_list;

TRISA_EXTERN void trisa_sectigo_profile_list_free(trisa_sectigo_profile_list *list);

typedef struct trisa_sectigo_profile_detail {
    char *profile_name;
    long long profile_id;
    char *raw_profile_config;
    char *name;
    char *key_algorithm_info;
} trisa_sectigo_profile_detail;

TRISA_EXTERN void trisa_sectigo_profile_detail_free(trisa_sectigo_profile_detail *detail);

typedef struct trisa_sectigo_profile_param {
    char *name;
    char *input_type;
    int required;
    char *placeholder; /**< raw JSON value */
    char *validation_pattern;
    char *message;
    char *value; /**< raw JSON value */
    char *title;
    trisa_sectigo_strings scopes;
    int dynamic;
} trisa_sectigo_profile_param;

typedef struct trisa_sectigo_profile_param_list {
    size_t count;
    trisa_sectigo_profile_param *items;
    int is_null;
} trisa_sectigo_profile_param_list;

TRISA_EXTERN void trisa_sectigo_profile_param_list_free(trisa_sectigo_profile_param_list *list);

/** A name/value pair (profile parameters, organization parameters). */
typedef struct trisa_sectigo_param {
    char *name;
    char *value;
} trisa_sectigo_param;

typedef struct trisa_sectigo_organization {
    long long organization_id;
    char *organization_name;
    char *address;
    char *primary_contact_name;
    char *primary_contact_email;
    char *primary_contact_phone;
    char *manufacture_id; /**< raw JSON value (servers differ: number or string) */
    char *logo;
    trisa_sectigo_authority_list authorities;
    long long ecosystem_id;
    size_t organization_parameters_count; /**< sorted by name */
    trisa_sectigo_param *organization_parameters;
    int organization_parameters_null;
    char *org_status;
} trisa_sectigo_organization;

TRISA_EXTERN void trisa_sectigo_organization_free(trisa_sectigo_organization *org);

typedef struct trisa_sectigo_cert {
    /** A string, as the API defines it (UUIDs from some servers, "42" from others); a
     *  number in the reply is kept as its decimal text. */
    char *device_id;
    char *common_name;
    char *serial_number;
    char *creation_date;
    char *status;
} trisa_sectigo_cert;

typedef struct trisa_sectigo_find_result {
    long long total_count;
    size_t count;
    trisa_sectigo_cert *items;
    int items_null;
} trisa_sectigo_find_result;

TRISA_EXTERN void trisa_sectigo_find_result_free(trisa_sectigo_find_result *result);

/**
 * The body of the last reply received on this client (borrowed, NUL-terminated; valid
 * until the next call), its length and its HTTP status (0 when none arrived).
 */
TRISA_EXTERN const char *trisa_sectigo_last_body(const trisa_sectigo *client, size_t *len,
                                                 long *status);

/** How many new connections the client has opened so far (a reused one is not counted). */
TRISA_EXTERN long trisa_sectigo_connection_count(const trisa_sectigo *client);

/* ---- Knowing what was sent ---------------------------------------------------------
 * For callers that spend something on a request (an upload costs a licence) and must
 * record it before it leaves, bound a whole run in time, and tell a failure that will
 * pass from one that will not.
 */

/**
 * Called just before the bytes of a request that must not run twice (create, upload,
 * revoke) leave this host: after name resolution, the connection and the TLS handshake
 * succeeded, before the first byte of the request is written. Return 0 to let it go;
 * anything else stops it, and the call then fails with the request never sent.
 * @param what the request, as in messages ("upload").
 */
typedef int (*trisa_sectigo_send_fn)(const char *what, void *data);

/** Install (or, with NULL, remove) the send hook. @return 0, TRISA_EINVAL. */
TRISA_EXTERN int trisa_sectigo_set_send_hook(trisa_sectigo *client, trisa_sectigo_send_fn fn,
                                             void *data);

/**
 * Bound every later request to an absolute time: each request's connect and total
 * timeouts are cut to what is left, no retry waits past it, and a request started
 * after it fails at once (TRISA_ETIMEOUT, never sent).
 * @param deadline_ms milliseconds on CLOCK_MONOTONIC; 0 removes the bound.
 * @return 0, TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_sectigo_set_deadline(trisa_sectigo *client, long long deadline_ms);

/**
 * How the last request ended (its last attempt).
 * @param sent      receives 1 when its bytes may have left this host, 0 when they never
 *                  did (name resolution, connection or TLS failure, the time limit, the
 *                  send hook refused). May be NULL.
 * @param transient receives 1 when it failed in a way that may pass (connection refused
 *                  or lost, time-out, HTTP 429 or 5xx), 0 when it succeeded or failed for
 *                  good (TLS verification, any other HTTP status). May be NULL.
 */
TRISA_EXTERN void trisa_sectigo_last_outcome(const trisa_sectigo *client, int *sent,
                                             int *transient);

/* ---- Endpoints ----------------------------------------------------------------------
 * Each one authenticates first (trisa_sectigo_ensure_auth). GETs are retried on
 * connection failures and on 429/502/503/504, with exponential backoff and jitter,
 * honouring Retry-After, within max_retries and retry_max_ms. Create, upload and revoke
 * are never re-sent once the request may have reached the server: the error then says
 * to check `sectigo batches` / `sectigo find` before trying again.
 */

/**
 * PUT /api/v1/batches/createSingleCertBatch.
 * @param params NULL-terminated list of name, value, name, value, ... (profileParams),
 *               e.g. {"commonName", "example.com", "pkcs12Password", pw, NULL}.
 */
TRISA_EXTERN int trisa_sectigo_create_single_cert_batch(trisa_sectigo_batch **out,
                                                        trisa_sectigo *client,
                                                        long long authority_id,
                                                        const char *batch_name,
                                                        const char *const *params);

/**
 * POST /api/v1/batches/upload: one or several PEM CSRs in one text, or a ZIP of them.
 * @param filename name sent for the file part (NULL: "csr.pem", or "csrs.zip" for a ZIP).
 * @param params   profileParams as for create, or NULL for none.
 */
TRISA_EXTERN int trisa_sectigo_upload_csr(trisa_sectigo_batch **out, trisa_sectigo *client,
                                          long long profile_id, const char *filename,
                                          const void *csr, size_t csr_len,
                                          const char *const *params);

/** GET /api/v1/batches/{id}. */
TRISA_EXTERN int trisa_sectigo_batch_detail(trisa_sectigo_batch **out, trisa_sectigo *client,
                                            long long batch_id);

/** GET /api/v1/batches/{id}/status, normalised (trim, upper case, spaces to '_').
 *  @param out receives the status; free with free(). */
TRISA_EXTERN int trisa_sectigo_batch_status(char **out, trisa_sectigo *client, long long batch_id);

/** GET /api/v1/batches/{id}/processing_info. */
TRISA_EXTERN int trisa_sectigo_get_processing_info(trisa_sectigo_processing_info *out,
                                                   trisa_sectigo *client, long long batch_id);

/**
 * GET /api/v1/batches/{id}/download into folder @p dir (which must exist), named from
 * the Content-Disposition filename (when safe and at most 237 bytes, see
 * trisa_sectigo_disposition_filename()) or `<id>.zip`, written atomically with mode 0600
 * (a server-made key may be inside).
 * @param out_path receives the file's path, @p dir and the name joined and cleaned as Go's
 *                 filepath.Join does ("1.zip" for dir "."); free with free(). May be NULL.
 * @param replace  non-zero to replace an existing file (else TRISA_EEXISTS).
 */
TRISA_EXTERN int trisa_sectigo_download(char **out_path, trisa_sectigo *client, long long batch_id,
                                        const char *dir, int replace);

/** GET /api/v1/batches/{id}/download into memory. @param out free with free(). */
TRISA_EXTERN int trisa_sectigo_download_mem(unsigned char **out, size_t *out_len,
                                            char **out_filename, trisa_sectigo *client,
                                            long long batch_id);

/** GET /api/v1/devices. */
TRISA_EXTERN int trisa_sectigo_licenses_used(trisa_sectigo_licenses *out, trisa_sectigo *client);

/** GET /api/v1/authorities/allowed. */
TRISA_EXTERN int trisa_sectigo_authorities(trisa_sectigo_authority_list **out,
                                           trisa_sectigo *client);

/** GET /api/v1/authorities/{id}/balanceavailable. */
TRISA_EXTERN int trisa_sectigo_authority_balance(long long *out, trisa_sectigo *client,
                                                 long long authority_id);

/** GET /api/v1/profiles. */
TRISA_EXTERN int trisa_sectigo_profiles(trisa_sectigo_profile_list **out, trisa_sectigo *client);

/** GET /api/v1/profiles/{id}. */
TRISA_EXTERN int trisa_sectigo_get_profile_detail(trisa_sectigo_profile_detail **out,
                                                  trisa_sectigo *client, long long profile_id);

/** GET /api/v1/profiles/{id}/parameters. */
TRISA_EXTERN int trisa_sectigo_profile_params(trisa_sectigo_profile_param_list **out,
                                              trisa_sectigo *client, long long profile_id);

/** GET /api/v1/organizations/user. */
TRISA_EXTERN int trisa_sectigo_get_organization(trisa_sectigo_organization **out,
                                                trisa_sectigo *client);

/** POST /api/v1/certificates/find; NULL or "" criteria are left out. */
TRISA_EXTERN int trisa_sectigo_find_certificates(trisa_sectigo_find_result **out,
                                                 trisa_sectigo *client, const char *common_name,
                                                 const char *serial_number);

/** POST /api/v1/certificates/{profileId}/revoke; any 2xx means revoked. */
TRISA_EXTERN int trisa_sectigo_revoke(trisa_sectigo *client, long long profile_id, int reason_code,
                                      const char *serial_number);

/* ---- Helpers ------------------------------------------------------------------------ */

/**
 * RFC 5280 reason text or number to its code: case and white space are ignored
 * ("Cessation of Operation" = 5), "" or NULL is 0 (unspecified); 7 is refused.
 * @return 0, TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_sectigo_reason_code(int *out, const char *reason);

/** Normalise a batch status in place: trim, upper case, spaces to underscores. */
TRISA_EXTERN char *trisa_sectigo_status_normalize(char *status);

/**
 * The file name to save a download under, from a Content-Disposition header value, read
 * per RFC 6266 as Go's mime.ParseMediaType reads it: `filename*=UTF-8''...` (RFC 8187,
 * UTF-8 or US-ASCII) before `filename=` (token or quoted string); a malformed header
 * (e.g. `filename=a b.zip`) or a parameter given twice differently gives none. The name
 * is refused when empty, hidden (leading '.'), holding "..", '/', '\\' or ':', invalid
 * UTF-8, or control, bidi-override or isolate characters.
 * @return a new string (free with free()) or NULL.
 */
TRISA_EXTERN char *trisa_sectigo_disposition_filename(const char *header);

/* JSON text of a reply, printed as the reference CLI prints it (Go's encoder with a
 * two-space indent: keys in reference order, `"key": value`, no escaped slashes, HTML
 * characters escaped as \u003c, \u003e, \u0026), with a final newline.
 * Each returns 0 or TRISA_ENOMEM; free *out with free(). */
TRISA_EXTERN int trisa_sectigo_batch_json(char **out, const trisa_sectigo_batch *batch);
TRISA_EXTERN int trisa_sectigo_processing_info_json(char **out,
                                                    const trisa_sectigo_processing_info *info);
TRISA_EXTERN int trisa_sectigo_licenses_json(char **out, const trisa_sectigo_licenses *licenses);
TRISA_EXTERN int trisa_sectigo_authorities_json(char **out,
                                                const trisa_sectigo_authority_list *list);
TRISA_EXTERN int trisa_sectigo_profiles_json(char **out, const trisa_sectigo_profile_list *list);
TRISA_EXTERN int trisa_sectigo_profile_detail_json(char **out,
                                                   const trisa_sectigo_profile_detail *detail);
TRISA_EXTERN int trisa_sectigo_profile_params_json(char **out,
                                                   const trisa_sectigo_profile_param_list *list);
TRISA_EXTERN int trisa_sectigo_organization_json(char **out, const trisa_sectigo_organization *org);
TRISA_EXTERN int trisa_sectigo_find_result_json(char **out,
                                                const trisa_sectigo_find_result *result);
/** A {id: balance} map, keys sorted as text as Go sorts map keys. */
TRISA_EXTERN int trisa_sectigo_balances_json(char **out, const long long *ids,
                                             const long long *balances, size_t count);

#ifdef __cplusplus
}
#endif
#endif
