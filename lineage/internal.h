/*
 * The lineage module's internals: the lineage's record (lineage.conf), its state file,
 * the lock, the live switch and the hooks.
 */
#ifndef TRISA_LINEAGE_INTERNAL_H
#define TRISA_LINEAGE_INTERNAL_H

#include <time.h>

#include <openssl/x509.h>

#include "common/internal.h"
#include "trisa/lineage.h"

#define LINEAGE_FORMAT               1
#define LINEAGE_NAME_MAX             64
#define LINEAGE_DEFAULT_RENEW_BEFORE "33%"
#define LINEAGE_DEFAULT_KEEP_DAYS    7
#define LINEAGE_DEFAULT_HOOK_TIMEOUT 300

/* A superseded version, remembered for revocation and pruning. */
typedef struct lineage_version {
    unsigned number;
    time_t superseded_at; /* when another version went live; 0 while live or never */
    long long batch_id;
    char *serial; /* lowercase hex with colons */
    char *key;    /* key location: file path or token URI */
    int revoked;  /* revoked as superseded */
    int pruned;   /* token objects removed */
} lineage_version;

struct trisa_lineage {
    char *name;
    char *state_dir;
    char *dir;      /* state_dir/lineages/name */
    char *live_dir; /* dir/live when a version is live */

    /* lineage.conf */
    long long profile_id;
    char *key_spec;
    char *pkcs11_uri;
    char *pkcs11_module;
    char *pin_file;
    char *key_label;
    int has_trust_file; /* dir/trust.pem */
    int trust_bundle_root;
    char *renew_before;
    char *deploy_hook;
    char *failure_hook;
    char *credentials_file;
    char **dns;
    size_t ndns;
    int imported;
    double jitter; /* [0, 1): this lineage's fixed share of the renewal offset */

    /* state */
    unsigned current;
    unsigned versions;
    char *subject;
    char **sans;
    size_t nsans;
    char *serial;
    time_t not_before;
    time_t not_after;
    long long batch_id;
    char *key_location;
    time_t last_attempt;
    char *last_result;
    int last_exit;
    time_t last_success;
    unsigned failures;
    time_t next_attempt;
    unsigned pending_version; /* 0: none */
    char *pending_key;        /* file path or token URI of the pending key; NULL: not made */
    char *pending_id;         /* token: CKA_ID chosen for the pending key, hex */
    time_t pending_started;
    int pending_reuse; /* the pending request reuses the live key */
    int pending_new;   /* the CA rejected the last request: the next one is a new request */
    lineage_version *history;
    size_t nhistory;
};

/* Paths inside the lineage; the caller frees. */
char *lineage_path(const trisa_lineage *l, const char *name);

/* Check a lineage name; records an error naming it. */
int lineage_name_ok(const char *name);

/* The folder that holds every lineage: STATE/lineages (made 0700 when create). */
int lineage_root(char **out, const char *state_dir, int create);

/* Parse a state file's or lineage.conf's text into l (l->name set for the latter's name
 * check); name is used in messages. For tests and the fuzzer; the loaders read files. */
int lineage_parse_state(trisa_lineage *l, const char *text, size_t len, const char *name);
int lineage_parse_conf(trisa_lineage *l, const char *text, size_t len, const char *name);

/* Read / write the state file (atomic, 0600). */
int lineage_state_load(trisa_lineage *l);
int lineage_state_save(const trisa_lineage *l);

/* Exclusive lock on the lineage (flock on DIR/.lock), held until lineage_unlock. */
int lineage_lock(const trisa_lineage *l, int *fd);
void lineage_unlock(int fd);

/* Point DIR/live at versions/N with one rename of a new symbolic link, then fsync DIR. */
int lineage_switch(const trisa_lineage *l, unsigned version);

/* Fill the live-certificate fields of the state from a PEM certificate file. */
int lineage_record_cert(trisa_lineage *l, const char *cert_path);

/* The history record of version n (created when missing; NULL on allocation failure). */
lineage_version *lineage_history(trisa_lineage *l, unsigned n);

/* Run a hook command with /bin/sh -c, its stdout and stderr on our stderr, the lineage's
 * variables in its environment plus `extra` ("NAME=value", NULL-terminated), killed after
 * timeout_s. Returns its exit status, 128+signal, or -1 when it could not start or was
 * killed at the timeout. */
int lineage_run_hook(const trisa_lineage *l, const char *command, const char *const *extra,
                     long timeout_s);

/* The Sectigo settings of a credentials file (SECTIGO_USERNAME, SECTIGO_PASSWORD,
 * SECTIGO_ENDPOINT, SECTIGO_ENVIRONMENT, SECTIGO_CA_BUNDLE), refusing a file that others
 * may read. Values not in the file come from the environment. */
typedef struct lineage_credentials {
    char *username;
    char *password; /* wiped by lineage_credentials_free */
    char *endpoint;
    char *environment;
    char *ca_bundle;
} lineage_credentials;

int lineage_credentials_load(lineage_credentials *c, const char *path);
void lineage_credentials_free(lineage_credentials *c);

/* When the next attempt may be after `failures` failed ones (1 h doubling to 24 h), never
 * past the point where fewer than 3 days remain before not_after (0: no certificate). */
time_t lineage_backoff(unsigned failures, time_t now, time_t not_after);

/* When renewal of l is due: not_after less renew_before and the lineage's offset; 0 when
 * there is no certificate. */
time_t lineage_due_at(const trisa_lineage *l);

/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into out (21 bytes); "" for 0. */
char *lineage_time(char out[21], time_t t);

#endif
