/*
 * The enrolment engine's innards, shared by enroll/ sources and the unit tests.
 * Not installed.
 */
#ifndef TRISA_ENROLL_INTERNAL_H
#define TRISA_ENROLL_INTERNAL_H

#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/internal.h"
#include "trisa/bundle.h"
#include "trisa/csr.h"
#include "trisa/enroll.h"
#include "trisa/hsm.h"
#include "trisa/sectigo.h"

/* Copy a string into a fixed buffer, cut to fit (journal fields, messages). */
static inline void set_str(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

/* ---- The journal (journal.c) --------------------------------------------------------- */

#define JOURNAL_MAGIC   "trisa-enroll-journal"
#define JOURNAL_VERSION 1
#define JOURNAL_MAX     (64 * 1024)

typedef enum journal_kind { KIND_CSR = 1, KIND_BATCH = 2 } journal_kind;

/* Where a request stands. Only these are ever written; the order is the usual path. */
typedef enum journal_state {
    ST_NONE = 0, /* nothing sent (or an attempt that provably never left) */
    ST_SENT,     /* the upload's bytes may have left; no batch id came back (yet) */
    ST_UPLOADED, /* the server gave a batch id */
    ST_VERIFIED, /* the result is verified and kept in result.pem; outputs may be partial */
    ST_DONE,     /* the output set was complete */
    ST_REJECTED, /* the CA rejected the batch */
} journal_state;

typedef struct journal {
    journal_kind kind;
    char endpoint[1024];
    long long profile;   /* KIND_CSR */
    char csr_sha256[65]; /* KIND_CSR */
    char name[256];      /* the first CSR's commonName, for messages */
    journal_state state;
    int generation; /* 1, then +1 for each new_request */
    int attempt;    /* uploads sent in this generation */
    long long batch_id;
    long long supersedes; /* the previous generation's batch */
    char status[64];
    char reason[512];
    long long created, updated, sent_at, done_at;
    int bundle_key;     /* the result's key came from the bundle (not kept here) */
    char out_dir[4096]; /* the last folder the set was written to */
    char error[512];    /* the last failure */
} journal;

const char *journal_state_name(journal_state s);
void journal_init(journal *j, journal_kind kind, const char *endpoint);
/* Parse a journal file's text; TRISA_ESTATE naming path:line for anything foreign,
 * corrupt, truncated or from a newer version. */
int journal_parse(journal *j, const char *text, size_t len, const char *path);
/* The text of a journal (trisa_buf, NUL-terminated). */
int journal_format(trisa_buf *b, const journal *j);
/* Load (TRISA_ENOTFOUND when absent) and save (atomically, 0600, stamping `updated`). */
int journal_load(journal *j, const char *path);
int journal_save(journal *j, const char *path);

/* ---- The state directory, request entries and locks (state.c) ------------------------- */

typedef struct entry {
    char *dir;    /* STATE/requests/<key> */
    char key[65]; /* SHA-256 hex of what identifies the request */
    int lock_fd;  /* -1 until opened */
    int locked;
} entry;

/* SHA-256 hex of the fields that identify a request. */
void entry_key_csr(char out[65], const char *endpoint, long long profile, const char *csr_sha256);
void entry_key_batch(char out[65], const char *endpoint, long long batch_id);
/* The entry's folder name under the state dir; nothing created. */
int entry_init(entry *e, const char *state_dir, const char *key);
/* Create the state dir (0700 folders), the entry and its lock file. warn: a loose mode. */
int entry_create(entry *e, const char *state_dir, trisa_enroll_warn_fn warn, void *data);
/* Path of a file of the entry ("journal", "result.pem"); free with free(). */
char *entry_path(const entry *e, const char *name);
/* Take the lock: at once, or waiting (waiting() is called once), or TRISA_EBUSY. */
int entry_lock(entry *e, int no_wait, long long deadline_ms, void (*waiting)(long pid, void *),
               void *data);
void entry_close(entry *e);

/* Milliseconds on CLOCK_MONOTONIC. */
long long mono_ms(void);

/* ---- The output set (outputs.c) ------------------------------------------------------- */

#define POINTER_FILE    ".trisa-enroll"
#define POINTER_MAGIC   "trisa-enroll-outputs"
#define POINTER_VERSION 1

typedef struct out_file {
    char *rel;           /* relative to the set's folder, or absolute (p12_out) */
    char *path;          /* where it goes */
    unsigned char *data; /* its bytes (wiped when secret) */
    size_t len;
    mode_t mode;
    int secret; /* holds a private key */
    int action; /* OUT_SKIP, OUT_WRITE, OUT_REPLACE */
    char sha256[65];
} out_file;

enum { OUT_SKIP = 0, OUT_WRITE, OUT_REPLACE };

typedef struct out_set {
    char *root; /* the output folder */
    out_file *f;
    size_t n, cap;
    char **dirs; /* folders of the identities, in order ("" for root) */
    size_t ndirs;
    size_t written;
} out_set;

/* What the pointer file in an output folder says. */
typedef struct pointer {
    char request[65];
    long long batch_id;
    char **names; /* file names, with their hashes */
    char (*hashes)[65];
    size_t n;
} pointer;

int pointer_load(pointer *p, const char *dir);
void pointer_free(pointer *p);

typedef struct outputs_options {
    const char *request; /* entry key (or a bundle's SHA-256): the pointer's owner */
    long long batch_id;
    long long supersedes; /* files the same request wrote for this batch are replaced */
    int force;
    const char *key_passout; /* the secret itself */
    const char *p12_out;
    const char *p12_password;
    int p12_legacy;
    EVP_PKEY *const *own_keys;            /* the operator's file keys (copied into node.pem) */
    const char *const *own_key_passwords; /* encrypt each's copy so (NULL: plain) */
    size_t nown;
    STACK_OF(X509) * anchors; /* trust anchors: a pool's root when the bundle has none */
} outputs_options;

/* Build every output of every identity in memory. */
int outputs_build(out_set *s, const char *root, const trisa_bundle *b, const outputs_options *o);
/* Compare with what is on disk, then commit the files that change as a unit
 * (trisa_file_set). Sets s->written to the number of files written (0: everything was
 * already there). */
int outputs_commit(out_set *s, const outputs_options *o);
void outputs_free(out_set *s);
/* A folder name from a certificate's commonName (never a path), unique in used[]. */
void outputs_dir_name(char *out, size_t cap, const char *cn, size_t index, char **used,
                      size_t nused);

/* ---- The run (enroll.c, preflight.c, online.c) ---------------------------------------- */

typedef struct csr_item {
    trisa_csr *csr;
    EVP_PKEY *pub; /* borrowed from the CSR */
} csr_item;

typedef struct own_key {
    EVP_PKEY *key;
    char *path;
    int encrypted; /* its copy in node.pem is encrypted with the same passphrase */
} own_key;

typedef struct ctx {
    const trisa_enroll_options *o;
    long long start_ms, deadline_ms; /* deadline 0: none (look once) */
    char *endpoint;                  /* normalised */
    /* the request */
    unsigned char *csr_bytes;
    size_t csr_len;
    char csr_sha256[65];
    const char *csr_label; /* for messages */
    csr_item *csrs;
    size_t ncsrs;
    /* keys */
    own_key *keys;
    size_t nkeys;
    char *key_pass, *bundle_pass, *passout;
    trisa_hsm *hsm;
    EVP_PKEY *token_key;
    char *token_uri;
    STACK_OF(X509) * anchors;
    /* the journal */
    char *state_dir;
    entry e;
    int have_entry;
    journal j;
    char *journal_path;
    /* the server */
    trisa_sectigo *client;
    int hook_fired;
    char hook_error[512];
    char profile_info[256]; /* what the profile check found, for a dry run */
    int logged_in, profile_checked, keys_loaded;
    int adopted; /* the batch came from the out-dir's pointer, no journal had it */
    /* the bundle */
    unsigned char *zip;
    size_t zip_len;
    char *zip_name;
    trisa_bundle *bundle;
    trisa_enroll_result *res;
} ctx;

struct trisa_enroll_result {
    long long batch_id, supersedes;
    int already;
    size_t n;
    X509 **leaves;
    char *(*pem)[5];
    char **dirs;
    char *journal;
};

void ctx_event(ctx *c, const trisa_enroll_event *ev);
void ctx_warn(ctx *c, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* preflight.c: the request's own bytes (CSR, bundle); every other local input; the token;
 * the account */
int preflight_request(ctx *c);
int preflight_keys(ctx *c);
int preflight_local(ctx *c);
int preflight_token(ctx *c);
int preflight_server(ctx *c, int will_upload);
int open_client(ctx *c);

/* online.c */
int online_upload(ctx *c);
int online_unknown(ctx *c);
int online_follow(ctx *c, long long batch_id);
int online_download(ctx *c, long long batch_id);

#endif
