/*
 * Shared declarations of the emulator's files: config.c (configuration), store.c
 * (SQLite), auth.c (JWT), ca.c (local CA, CRL), bundle.c (ZIP, PKCS#12), hooks.c
 * (request log, faults, clock), http.c (listener, routing, connection limits), api.c
 * (authentication, accounts, profiles, certificates), batch.c (batch replies, create),
 * upload.c (CSR upload), issuer.c (issuing accepted batches).
 */
#ifndef TRISA_EMU_INTERNAL_H
#define TRISA_EMU_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "common/internal.h"
#include "emulator/emulator.h"

/* ---- configuration (config.c) ---- */

typedef struct emu_param {
    char *name, *input_type, *placeholder, *pattern, *message, *value, *title;
    int required, dynamic;
    char **scopes;
    size_t nscopes;
} emu_param;

typedef struct emu_profile {
    long id;
    char *profile_name, *name, *ca, *raw_config, *key_algorithm_info;
    char **algorithms;
    size_t nalgorithms;
    emu_param *params;
    size_t nparams;
    int server_key_bits; /* RSA size of server-generated keys */
    int min_key_bits;    /* weakest RSA key accepted in a CSR */
    int min_ec_bits;     /* weakest EC key accepted in a CSR */
    int modern_p12;      /* AES-256 + SHA-256 MAC instead of the legacy algorithms */
    int csr_format;      /* members of a CSR batch's ZIP: EMU_CSR_PEM, _DER or _P7B */
    long validity;       /* seconds a leaf is valid (validityDays or validity) */
} emu_profile;

enum { EMU_CSR_PEM = 0, EMU_CSR_DER, EMU_CSR_P7B };

typedef struct emu_authority {
    long id, ecosystem_id, signer_certificate_id, profile_id, balance;
    long issuing_profile_id; /* the profile certificates are made with (default profile_id) */
    char *ecosystem_name, *profile_name;
    int enabled;
} emu_authority;

typedef struct emu_account {
    char *username, *password;
    char *subject; /* the tokens' sub: /account/<accountId>/user/<username> unless configured */
    long user_id, account_id;
    long *authorities;
    size_t nauthorities;
    int certificate_login;
} emu_account;

typedef struct emu_config {
    emu_account *accounts;
    size_t naccounts;
    emu_authority *authorities;
    size_t nauthorities;
    emu_profile *profiles;
    size_t nprofiles;
    json_object *organization; /* organizationParameters etc., without "authorities" */
    long access_lifetime, refresh_lifetime, refresh_not_before;
    char *issuer; /* the tokens' iss ("" for none) */
    double processing_delay;
    long expire_after;
    size_t max_body;
    unsigned max_connections, max_per_ip;
    long header_timeout, body_timeout; /* seconds */
    size_t inline_issue;               /* batches up to this size are issued before the reply */
} emu_config;

/* Parse a configuration (JSON text of conf/emulator.json's form); name goes in messages. */
int emu_config_parse(emu_config *c, const char *text, size_t len, const char *name);
/* Read and parse a file. */
int emu_config_load(emu_config *c, const char *path);
void emu_config_free(emu_config *c);
const emu_profile *emu_config_profile(const emu_config *c, long id);
const emu_authority *emu_config_authority(const emu_config *c, long id);
const emu_account *emu_config_account(const emu_config *c, const char *username);
const emu_account *emu_config_account_by_subject(const emu_config *c, const char *subject);
/* A duration: digits then s, m, h or d ("60s", "10m", "397d"); seconds in 1..max. */
int emu_parse_duration(const char *s, long max, long *out);

/* The configurations compiled into the binary (conf/emulator*.json), NUL-terminated. */
extern const char emu_builtin_default[];
extern const char emu_builtin_reference[];

/* ---- store (store.c) ---- */

typedef struct emu_store emu_store;

typedef struct emu_batch {
    long id, order_number, profile_id, size, user_id, account_id, authority_id;
    int64_t created_ms, ready_ms, expires_ms;
    char status[32]; /* as stored: PROCESSING, NOT_ACCEPTABLE, FAILED (others are derived) */
    int collected;
    int issued; /* 0 while its certificates are being made */
    char *name, *reject_reason, *profile_name;
    long success, failed;
} emu_batch;

typedef struct emu_cert {
    long device_id, batch_id, profile_id, account_id;
    char serial[80];
    char *common_name;
    int64_t created_ms, revoked_ms;
    int revoked, reason;
} emu_cert;

typedef struct emu_blob {
    unsigned char *data;
    size_t len;
} emu_blob;

int emu_store_open(emu_store **out, const char *path, const emu_config *c);
void emu_store_close(emu_store *s);
long emu_store_balance(emu_store *s, long authority_id);
/* Certificates ordered (in accepted batches) and issued, for one account. */
int emu_store_devices(emu_store *s, long account_id, long *ordered, long *issued);
/*
 * One transaction: take `licences` from b->authority_id (TRISA_EBALANCE when fewer are
 * left: nothing is written), insert the batch (b->id and b->order_number are filled) and
 * either its CSRs (DER) to be issued (b->issued = 0), or its certificates and ZIP.
 */
int emu_store_add_batch(emu_store *s, emu_batch *b, long licences, const emu_blob *csrs,
                        size_t ncsrs, emu_cert *certs, size_t ncerts, const unsigned char *zip,
                        size_t ziplen);
/* Ids of the batches whose certificates are still to be made, oldest first. */
int emu_store_pending(emu_store *s, long **ids, size_t *n);
int emu_store_get_csrs(emu_store *s, long id, emu_blob **out, size_t *n);
void emu_blobs_free(emu_blob *b, size_t n);
/* One transaction: the certificates and the ZIP in, the CSRs out, the batch issued.
 * TRISA_ESTATE when the batch is not waiting for its certificates. */
int emu_store_complete(emu_store *s, long id, emu_cert *certs, size_t n, const unsigned char *zip,
                       size_t ziplen);
/* One transaction: a batch that could not be issued becomes FAILED with the reason, its
 * licences go back to the authority and its CSRs are dropped. */
int emu_store_fail(emu_store *s, long id, const char *reason);
int emu_store_get_batch(emu_store *s, long id, emu_batch *out);
int emu_store_get_zip(emu_store *s, long id, unsigned char **zip, size_t *len);
int emu_store_mark_collected(emu_store *s, long id);
/* Test hook: force a batch's stored status, times and reason. TRISA_ENOTFOUND. */
int emu_store_force(emu_store *s, long id, const char *status, int64_t ready_ms, int64_t expires_ms,
                    int collected, const char *reason);
void emu_batch_clear(emu_batch *b);
/* Find an account's certificates by common name and/or serial (NULL: any). */
int emu_store_find(emu_store *s, long account_id, const char *cn, const char *serial,
                   emu_cert **out, size_t *n);
void emu_certs_free(emu_cert *c, size_t n);
/* TRISA_ENOTFOUND (no such certificate of that account and profile), TRISA_ESTATE
 * (already revoked). */
int emu_store_revoke(emu_store *s, long account_id, const char *serial, long profile_id, int reason,
                     int64_t now_ms);
/* Call fn for each revoked certificate. */
int emu_store_each_revoked(emu_store *s, void (*fn)(void *, const emu_cert *), void *arg);
/* Refresh tokens are used once: record jti as spent (kept until exp); TRISA_ESTATE when it
 * already was. */
int emu_store_spend_token(emu_store *s, const char *jti, int64_t exp, int64_t now);

/* ---- local CA (ca.c) ---- */

typedef struct emu_ca {
    EVP_PKEY *root_key, *issuing_key;
    X509 *root, *issuing;
    char *dir; /* DIR/ca */
    pthread_mutex_t crl_lock;
} emu_ca;

/* The CA under DIR/ca (made on first use), or the one in ca_path (PEM certificates and
 * the issuing key) when given. */
int emu_ca_open(emu_ca *ca, const char *state_dir, const char *ca_path);
void emu_ca_close(emu_ca *ca);
/* Issue a leaf for pubkey with subject and DNS names, valid for `lifetime` seconds;
 * serial_hex receives the serial. */
int emu_ca_issue(emu_ca *ca, X509 **out, EVP_PKEY *pubkey, const X509_NAME *subject,
                 char *const *dns, size_t ndns, long lifetime, char serial_hex[80]);
int emu_ca_write_crl(emu_ca *ca, emu_store *s);
/* Self-signed TLS material: DIR/tls-ca.pem (+key), a server cert for 127.0.0.1/localhost. */
int emu_tls_self_signed(const char *state_dir, char **cert_pem, char **key_pem);

/* ---- bundles (bundle.c) ---- */

typedef struct emu_zip_member {
    char *name;
    unsigned char *data;
    size_t len;
} emu_zip_member;

int emu_zip_build(unsigned char **out, size_t *outlen, const emu_zip_member *m, size_t n);
/* PKCS#12 with key, leaf and chain (through the library's bundle writer): the algorithms
 * of real Sectigo bundles, or the modern ones. */
int emu_p12_build(unsigned char **out, size_t *outlen, const char *pass, EVP_PKEY *key, X509 *leaf,
                  X509 *issuing, X509 *root, int modern);

/* ---- JWT (auth.c) ---- */

typedef struct emu_claims {
    char sub[256];
    char typ[16];
    char jti[40];
    char iss[256]; /* "" when absent */
    int64_t iat, exp, nbf;
} emu_claims;

/* HS256 token with the claims (iss left out when empty). Free with free(). */
char *emu_jwt_sign(const unsigned char *key, size_t keylen, const emu_claims *c);
/* 0 when the token is canonical HS256 with a good signature and well-typed claims (sub,
 * typ, jti strings; iat, exp and optional nbf numbers); times are not checked here. */
int emu_jwt_verify(const unsigned char *key, size_t keylen, const char *token, size_t len,
                   emu_claims *out);
int emu_jwt_secret(unsigned char key[32], const char *state_dir);

/* ---- test hooks (hooks.c) ---- */

enum emu_fault_kind { EMU_FAULT_STATUS = 1, EMU_FAULT_DELAY, EMU_FAULT_DROP, EMU_FAULT_CUT };

/* The pseudo-path of the step that makes a batch's certificates. */
#define EMU_ISSUE_PATH "@issue"

typedef struct emu_fault {
    long id;
    char method[16]; /* "" = any */
    char *path;      /* route pattern, literal path, "*" or EMU_ISSUE_PATH */
    int kind;
    long remaining;
    int status;
    long retry_after; /* < 0: none */
    long delay_ms;
    long cut_after;
} emu_fault;

typedef struct emu_hooks {
    pthread_mutex_t lock;
    emu_fault *faults;
    size_t nfaults, capfaults;
    long next_fault_id;
    struct emu_logent {
        long seq;
        char method[16];
        char *path;
        char *info; /* JSON members: content type, accept, user agent, auth scheme, bytes */
        int status;
        double ms;
    } * log;
    size_t logcap, logstart, loglen;
    long next_seq;
} emu_hooks;

void emu_hooks_init(emu_hooks *h);
void emu_hooks_free(emu_hooks *h);
/* Consume one matching fault (copied to *out, path not owned); 1 when found. */
int emu_hooks_take(emu_hooks *h, const char *method, const char *path, const char *route,
                   emu_fault *out);
/* What a test may check of a request besides method and path; never a secret. A JSON
 * body (body, body_len) is logged as received, the string values of its secret members
 * (password, pkcs12Password, refreshToken) replaced by as many '*'. */
typedef struct emu_reqinfo {
    const char *content_type, *accept, *user_agent, *auth_scheme;
    size_t bytes;
    const unsigned char *body;
    size_t body_len;
} emu_reqinfo;

void emu_hooks_record(emu_hooks *h, const char *method, const char *path, int status, double ms,
                      const emu_reqinfo *info);
/* The scheme of an Authorization header when it is a registered one (Bearer, Basic,
 * ...), else "invalid": what may be logged of it. */
const char *emu_auth_scheme(const char *header, char *buf, size_t cap);

/* ---- the multipart form of an upload (upload.c) ---- */

typedef struct emu_part {
    char name[64];   /* Content-Disposition's name */
    char ctype[128]; /* Content-Type, cut to fit */
    int has_filename;
    const unsigned char *data; /* borrowed from the body */
    size_t len;
} emu_part;

/* A parameter of a header value (name="x" or name=x) into out: 1 when found, 0 when
 * absent, -1 when longer than cap - 1. */
int emu_header_param(const char *h, size_t hl, const char *key, char *out, size_t cap);
/* The parts of a multipart/form-data body (RFC 7578) with this boundary (at most 79
 * bytes), at most max of them: 0, or -1 when malformed or there are more. */
int emu_multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                        emu_part *parts, size_t max, size_t *n);

/* ---- CSRs (upload.c) ---- */

/* The DNS names of a CSR's subjectAltName (each malloc'd); *dns NULL when none. */
void emu_csr_dns_names(X509_REQ *req, char ***dns, size_t *n);
void emu_names_free(char **dns, size_t n);

/* ---- issuing (issuer.c) ---- */

typedef struct emu_issuer {
    pthread_t thread;
    int running;
    long *queue;
    size_t qlen, qcap;
} emu_issuer;

/* Make batch id's certificates now (the caller's thread), storing them or failing the
 * batch. 0, or an error when the store could not be written (the batch stays pending). */
int emu_issue_batch(trisa_emu *e, long id);
/* Start the background issuer with every pending batch queued. */
int emu_issuer_start(trisa_emu *e);
/* Hand a batch to the background issuer. */
void emu_issuer_enqueue(trisa_emu *e, long id);
/* Stop it (a batch in the middle stays pending for the next start). */
void emu_issuer_stop(trisa_emu *e);
/* Sleep up to ms, or less when the server stops; 0 when the full time passed. */
int emu_sleep(trisa_emu *e, long ms);

/* ---- the server (http.c, api.c, batch.c, upload.c) ---- */

struct conn_track;

struct trisa_emu {
    trisa_emu_options opts;
    char *state_dir, *host;
    int port, tls, bind_all, bind_loopback;
    char notice[256];
    char warning[4400]; /* trisa_emu_warning() */
    char *tls_cert_pem, *tls_key_pem;
    emu_config cfg;
    emu_store *store;
    emu_ca ca;
    emu_hooks hooks;
    unsigned char jwt_key[32];
    struct MHD_Daemon *daemon;
    struct sockaddr_in bind_addr;
    int listen_fd;
    FILE *log;
    pthread_mutex_t log_lock;
    _Atomic int64_t clock_offset_ms; /* the clock hook's shift */
    /* Stopping: the issuer, the connection watchdog and every emu_sleep() wake up. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    _Atomic int stopping;
    emu_issuer issuer;
    /* Connections waiting for their request (http.c): the header and body deadlines. */
    pthread_mutex_t conn_lock;
    struct conn_track *conns;
    pthread_t watchdog;
    int watchdog_running;
};

/* One request, as the routing code hands it to an endpoint. */
typedef struct emu_req {
    trisa_emu *emu;
    const char *method, *path;
    const char *content_type;
    const char *auth; /* Authorization header */
    const unsigned char *body;
    size_t body_len;
    const emu_account *account; /* set for /api/v1 after the token check */
    long ids[2];                /* numeric path segments, in order */
} emu_req;

/* What an endpoint answers: status, content type, body (owned, malloc'd), headers. */
typedef struct emu_resp {
    int status;
    const char *content_type;
    unsigned char *body;
    size_t len;
    char disposition[128];
    char location[128];
    char allow[64];   /* for 405 */
    long retry_after; /* < 0 none */
} emu_resp;

/* Fill r with the error JSON; returns 0. */
int emu_error(emu_resp *r, int status, int code, const char *fmt, ...) TRISA_PRINTF(4, 5);
/* r takes a JSON object (released). */
int emu_json(emu_resp *r, int status, json_object *o);
/* Plain bytes (copied). */
int emu_text(emu_resp *r, int status, const char *type, const char *text);
/* The emulator's clock: real time shifted by the clock hook, in milliseconds. */
int64_t emu_now(const trisa_emu *e);
void emu_iso_time(char out[40], int64_t ms);

/* Shared by the endpoints (api.c). */
json_object *emu_parse_body(const emu_req *q);
int emu_is_json(const emu_req *q);
const char *emu_str_field(json_object *o, const char *key);
/* The caller's authority for an id: the authority's id, the profile id it reports, or the
 * profile it issues with. NULL when the account has none such. */
const emu_authority *emu_authority_for(const emu_req *q, long id);
/* The batch object of reference/sectigo-api.md. */
json_object *emu_batch_json(const trisa_emu *e, const emu_batch *b);
/* Fill a new batch's fields for the caller. */
void emu_batch_init(const emu_req *q, emu_batch *b, const emu_authority *a, const emu_profile *p,
                    const char *name);
/* A ZIP member name from a common name: no folders, no control characters. */
void emu_member_name(char *out, size_t cap, const char *cn, const char *ext, int dup);

typedef int (*emu_handler)(emu_req *q, emu_resp *r);

int emu_api_auth_pwd(emu_req *q, emu_resp *r);
int emu_api_auth_refresh(emu_req *q, emu_resp *r);
int emu_api_devices(emu_req *q, emu_resp *r);
int emu_api_authorities(emu_req *q, emu_resp *r);
int emu_api_balance(emu_req *q, emu_resp *r);
int emu_api_profiles(emu_req *q, emu_resp *r);
int emu_api_profile(emu_req *q, emu_resp *r);
int emu_api_profile_params(emu_req *q, emu_resp *r);
int emu_api_organization(emu_req *q, emu_resp *r);
int emu_api_create(emu_req *q, emu_resp *r);
int emu_api_upload(emu_req *q, emu_resp *r);
int emu_api_batch(emu_req *q, emu_resp *r);
int emu_api_batch_status(emu_req *q, emu_resp *r);
int emu_api_batch_info(emu_req *q, emu_resp *r);
int emu_api_batch_download(emu_req *q, emu_resp *r);
int emu_api_find(emu_req *q, emu_resp *r);
int emu_api_revoke(emu_req *q, emu_resp *r);
int emu_api_hook_requests(emu_req *q, emu_resp *r);
int emu_api_hook_faults(emu_req *q, emu_resp *r);
int emu_api_hook_faults_clear(emu_req *q, emu_resp *r);
int emu_api_hook_requests_clear(emu_req *q, emu_resp *r);
int emu_api_hook_batch_status(emu_req *q, emu_resp *r);
int emu_api_hook_clock(emu_req *q, emu_resp *r);

/*
 * One request as the server answers it, apart from the connection (http.c): the route and
 * its {id} segments, a test-hook fault, the body limit (too_big), the Bearer token for
 * /api/v1, then the endpoint. hooks: the test hooks may answer (a loopback client). r is
 * filled (the caller frees r->body); *hook is set for a test-hook route, *cut to the bytes
 * after which the reply is cut (-1: all of it). EMU_HANDLE_DROP: close without a reply.
 * The fuzz target fuzz/fuzz_emulator_request.c enters here too.
 */
enum { EMU_HANDLE_SEND = 0, EMU_HANDLE_DROP = 1 };
int emu_handle(trisa_emu *e, emu_req *q, emu_resp *r, int hooks, int too_big, int *hook, long *cut);

/* Error codes in the error JSON's errorCode (documented in docs/emulator.md). */
enum {
    EMU_EC_BAD_REQUEST = 1000,
    EMU_EC_VALIDATION = 1001,
    EMU_EC_UNAUTHORIZED = 1100,
    EMU_EC_TOKEN = 1101,
    EMU_EC_FORBIDDEN = 1102,
    EMU_EC_CERT_LOGIN = 1103,
    EMU_EC_NOT_FOUND = 1200,
    EMU_EC_METHOD = 1201,
    EMU_EC_TOO_LARGE = 1202,
    EMU_EC_MEDIA_TYPE = 1203,
    EMU_EC_BALANCE = 1300,
    EMU_EC_NOT_READY = 1301,
    EMU_EC_EXPIRED = 1302,
    EMU_EC_ALREADY_REVOKED = 1303,
    EMU_EC_INJECTED = 1900,
    EMU_EC_INTERNAL = 1999,
};

#endif
