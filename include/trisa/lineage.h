/**
 * @file trisa/lineage.h
 * @brief Certificates kept over time: a lineage is one certificate under a name, renewed
 * when due with a new key (file or PKCS#11 token), each result a numbered version, the
 * node's files switched atomically, hooks run, and what is installed listed.
 *
 * A lineage lives in the state directory (trisa_enroll_state_dir()) under
 * `lineages/NAME/`:
 *
 *     lineage.conf        what `add` recorded (key = value lines, readable)
 *     trisa.conf          the operator's config, copied when the lineage was added
 *     state               versions, the live one's dates, the last attempt, back-off
 *     versions/N/         cert.pem chain.pem fullchain.pem root.pem pool.pem node.pem
 *                         and key.pem (0600) for file keys
 *     live -> versions/N  switched with one rename(2) of a new symbolic link
 *     pending/            a renewal in progress: its key (file lineages) and CSR
 *
 * A renewal makes a new key and a CSR from the lineage's config, records both before
 * anything is sent, and runs one request of the enrolment engine (trisa/enroll.h) with
 * the version's folder as its output: killed at any moment and run again, it continues
 * the same request (one upload) and `live` is either the old or the new version.
 */
#ifndef TRISA_LINEAGE_H
#define TRISA_LINEAGE_H

#include <stddef.h>
#include <time.h>

#include "trisa/common.h"
#include "trisa/enroll.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A lineage loaded from the state directory (opaque). */
typedef struct trisa_lineage trisa_lineage;

#define TRISA_LINEAGE_ADD_OPTIONS_VERSION 1

/** What trisa_lineage_add() records. Strings are borrowed. */
typedef struct trisa_lineage_add_options {
    unsigned int version;  /**< TRISA_LINEAGE_ADD_OPTIONS_VERSION */
    const char *state_dir; /**< NULL: trisa_enroll_state_dir() */
    /** The trisa.conf to make CSRs from (checked, then copied into the lineage). NULL
     *  only for an imported lineage. */
    const char *config_file;
    long long profile_id; /**< Sectigo profile for uploads; 0 only when imported */
    /** Key for each renewal: "rsa:4096", "ec:P-384", ...; NULL: the config's default. */
    const char *key_spec;
    /** Keys live on this token (a token URI; new key objects get a fresh random CKA_ID
     *  and the label `key_label-N`); NULL: key files. */
    const char *pkcs11_uri;
    const char *pkcs11_module; /**< NULL: $TRISA_PKCS11_MODULE, else p11-kit's proxy */
    const char *pin_file;      /**< file holding the token PIN (first line) */
    const char *key_label;     /**< base of key object labels; NULL: the lineage's name */
    const char *trust_file;    /**< PEM trust anchors (copied into the lineage) */
    int trust_bundle_root;     /**< trust the bundle's own root instead */
    /** When to renew: "30" (days before expiry) or "33%" (of the lifetime); NULL: "33%". */
    const char *renew_before;
    const char *deploy_hook;      /**< command (run by /bin/sh -c) after each switch */
    const char *failure_hook;     /**< command when a due renewal fails */
    const char *credentials_file; /**< 0600 file of SECTIGO_* settings; NULL: environment */
    const char *const *dns_names; /**< names required in each certificate's SANs */
    size_t dns_count;
    int imported; /**< certificates come as delivered bundles (trisa_lineage_import()) */
} trisa_lineage_add_options;

/* clang-format off */
#define TRISA_LINEAGE_ADD_OPTIONS_INIT {.version = TRISA_LINEAGE_ADD_OPTIONS_VERSION}
/* clang-format on */

/**
 * Record a new lineage @p name (letters, digits, `.`, `_`, `-`; at most 64 characters,
 * not starting with `.`). Nothing is generated or uploaded. The config is validated as
 * trisa_csr_config_load() does, the credentials file must exist and be private (0600),
 * the trust file must hold at least one certificate.
 * @return 0; TRISA_EINVAL (a bad name or option; the message names it), TRISA_EEXISTS
 *         (a lineage of that name exists), TRISA_ECONFIG, TRISA_ENOTFOUND, TRISA_EIO.
 */
TRISA_EXTERN int trisa_lineage_add(const char *name, const trisa_lineage_add_options *opts);

/**
 * Load lineage @p name from @p state_dir (NULL: the default state directory).
 * @param out receives the lineage; free with trisa_lineage_free().
 * @return 0; TRISA_ENOTFOUND (no such lineage); TRISA_ESTATE (a lineage file is corrupt,
 *         truncated or of a newer version: the message names file and line).
 */
TRISA_EXTERN int trisa_lineage_load(trisa_lineage **out, const char *state_dir, const char *name);

/** Free a lineage. NULL is ignored. */
TRISA_EXTERN void trisa_lineage_free(trisa_lineage *l);

/**
 * The names of every lineage in @p state_dir, sorted.
 * @param out receives an array of @p n strings; free with trisa_lineage_names_free().
 * @return 0 (also when there are none); TRISA_EIO; TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_lineage_names(char ***out, size_t *n, const char *state_dir);

/** Free what trisa_lineage_names() returned. */
TRISA_EXTERN void trisa_lineage_names_free(char **names, size_t n);

/** What a lineage holds, for listing. Borrowed from the lineage. */
typedef struct trisa_lineage_info {
    const char *name;
    const char *dir;          /**< the lineage's folder */
    const char *live_dir;     /**< `DIR/live`, or NULL before the first certificate */
    int imported;             /**< certificates come as delivered bundles */
    unsigned current_version; /**< the live version, 0 when none */
    unsigned versions;        /**< the highest version number made */
    const char *subject;      /**< RFC 4514 subject of the live certificate, or NULL */
    const char *const *sans;  /**< its DNS names (and other SANs as "IP:...", ...) */
    size_t san_count;
    const char *serial;       /**< its serial, lowercase hex with colons, or NULL */
    time_t not_before;        /**< 0 when none */
    time_t not_after;         /**< 0 when none */
    time_t renewal_due;       /**< when renewal is due (0: now, no certificate) */
    const char *key_spec;     /**< "rsa:4096", ... */
    const char *key_location; /**< the live key: a file path or a token URI; NULL */
    long long profile_id;
    long long batch_id;      /**< the batch of the live certificate, 0 when imported */
    time_t last_attempt;     /**< 0 when never */
    const char *last_result; /**< "issued", "failed: ...", or NULL */
    int last_exit;           /**< the exit code of the last attempt (0 on success) */
    time_t last_success;     /**< 0 when never */
    unsigned consecutive_failures;
    time_t next_attempt; /**< back-off: no attempt before this time (0: none) */
    int pending;         /**< a renewal is in progress (its key and CSR are recorded) */
} trisa_lineage_info;

/**
 * Fill @p out with what @p l holds, as of time @p now (0: the current time), reading the
 * live certificate's details from the state file (no certificate is parsed).
 * @return 0; TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_lineage_get_info(trisa_lineage_info *out, const trisa_lineage *l,
                                        time_t now);

/**
 * Whether @p l is due for renewal at @p now (0: the current time): it has no certificate,
 * or less than its `renew_before` remains (less a fixed random offset of the lineage of at
 * most 1/50 of the lifetime, at most one day, so a fleet does not renew in one minute).
 * @param back_off receives 1 when due but held back by a back-off after failures (may be
 *                 NULL).
 * @return 1 due, 0 not due.
 */
TRISA_EXTERN int trisa_lineage_due(const trisa_lineage *l, time_t now, int *back_off);

#define TRISA_LINEAGE_RENEW_OPTIONS_VERSION 1

/** A step of a renewal, reported to the progress callback. */
typedef enum trisa_lineage_step {
    TRISA_LINEAGE_STEP_NOT_DUE = 1, /**< nothing to do; `text` says when it is due */
    TRISA_LINEAGE_STEP_BACKING_OFF, /**< due, but after failures not before `when` */
    TRISA_LINEAGE_STEP_KEY,         /**< a new key was made (`text`: where), or reused */
    TRISA_LINEAGE_STEP_CSR,         /**< the CSR was made (`text`: its public key hash) */
    TRISA_LINEAGE_STEP_RESUMING,    /**< an interrupted renewal continues (`version`) */
    TRISA_LINEAGE_STEP_ENROLL,      /**< an event of the enrolment engine (`enroll`) */
    TRISA_LINEAGE_STEP_DRY_RUN,     /**< `text`: what would be uploaded where */
    TRISA_LINEAGE_STEP_SWITCHED,    /**< `live` now points at `version` */
    TRISA_LINEAGE_STEP_HOOK,        /**< a hook ran; `text`: the command, `exit`: its status */
    TRISA_LINEAGE_STEP_REVOKED,     /**< a superseded certificate was revoked (`text`: serial) */
    TRISA_LINEAGE_STEP_PRUNED       /**< superseded token objects were removed (`text`) */
} trisa_lineage_step;

/** One progress event; pointers are borrowed for the callback's duration. */
typedef struct trisa_lineage_event {
    trisa_lineage_step step;
    const char *lineage;
    unsigned version;
    const char *text;
    time_t when;
    int exit; /**< HOOK: the hook's exit status (-1: killed at its timeout) */
    const trisa_enroll_event *enroll; /**< ENROLL: the engine's event */
} trisa_lineage_event;

typedef void (*trisa_lineage_progress_fn)(const trisa_lineage_event *event, void *data);
typedef void (*trisa_lineage_warn_fn)(const char *lineage, const char *message, void *data);

/** How to renew. Start from TRISA_LINEAGE_RENEW_OPTIONS_INIT. */
typedef struct trisa_lineage_renew_options {
    unsigned int version;    /**< TRISA_LINEAGE_RENEW_OPTIONS_VERSION */
    time_t now;              /**< the time due-ness is judged at; 0: the current time */
    int force;               /**< renew even when not due, and ignore the back-off */
    int reuse_key;           /**< keep the live key (a new request all the same) */
    int dry_run;             /**< everything up to the upload; the key is made in a temporary
                                  place and removed; nothing recorded */
    int no_hooks;            /**< do not run the lineage's hooks */
    int prune;               /**< remove token objects of versions superseded for longer than
                                  keep_previous_days */
    long keep_previous_days; /**< grace period in days; 0: 7; negative: none */
    int revoke_superseded;   /**< revoke the previous certificate (reason superseded) once
                                  the new one has been live for keep_previous_days */
    long interval_s;         /**< as trisa_enroll_options */
    long timeout_s;          /**< as trisa_enroll_options */
    long hook_timeout_s;     /**< a hook is killed after this; 0: 300 */
    const char *cache_dir;   /**< the Sectigo token cache; NULL: the default */
    /** An interrupted renewal whose upload's outcome is unknown (killed between sending
     *  and the reply): upload its CSR again (check `sectigo find` first: a second batch
     *  costs a licence). Only with a pending renewal. */
    int force_upload;
    /** An interrupted renewal whose batch the operator found on the server: finish the
     *  pending version from this batch (its certificate must carry the pending key). */
    long long batch_id;
    trisa_lineage_progress_fn progress;
    trisa_lineage_warn_fn warn;
    void *data;
} trisa_lineage_renew_options;

/* clang-format off */
#define TRISA_LINEAGE_RENEW_OPTIONS_INIT {.version = TRISA_LINEAGE_RENEW_OPTIONS_VERSION}
/* clang-format on */

/**
 * Renew @p l when it is due (or `force`): lock it (another process renewing it is waited
 * for), make a new key and CSR (or continue the recorded ones), run the request, verify,
 * write `versions/N/`, switch `live`, record, run the deploy hook. A failure is recorded
 * with a back-off (1 h doubling to 24 h, never past the point where 3 days remain) and
 * the failure hook runs; `live` is never moved to a certificate that did not verify.
 * An imported lineage is never renewed here: when due, a warning says a new bundle is
 * needed and 0 is returned.
 * @param renewed receives 1 when `live` was switched to a new version (may be NULL).
 * @return 0 (renewed, or nothing due); TRISA_EPENDING (held by a back-off; see
 *         trisa_lineage_info.next_attempt); or what trisa_enroll_run(), key generation,
 *         the token or the switch failed with.
 */
TRISA_EXTERN int trisa_lineage_renew(trisa_lineage *l, const trisa_lineage_renew_options *opts,
                                     int *renewed);

/**
 * Make the certificate of a delivered bundle (a ZIP from the TRISA directory with its
 * PKCS#12 password, or one member file) the next version of lineage @p name, created as
 * an imported lineage when it does not exist. The bundle is verified as trisa-fetch
 * does; its own key is used. Hooks run after the switch.
 * @param password_source secret source of the PKCS#12 password (`file:PATH`, ...).
 * @param trust_file      PEM trust anchors (NULL: the lineage's, or `trust_bundle_root`).
 * @return 0; what trisa_enroll_run() returns for a bundle; TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_lineage_import(const char *state_dir, const char *name,
                                      const char *bundle_file, const char *password_source,
                                      const char *trust_file, int trust_bundle_root,
                                      const trisa_lineage_renew_options *opts);

/**
 * Switch `live` back to the version before the live one and run the deploy hook.
 * @return 0; TRISA_ENOTFOUND (no earlier version); TRISA_EIO.
 */
TRISA_EXTERN int trisa_lineage_rollback(trisa_lineage *l, const trisa_lineage_renew_options *opts);

/**
 * Forget lineage @p name: its folder is removed when @p purge, else renamed to
 * `lineages/.removed/NAME-<time>` so its files (keys included) stay. Token objects are
 * never deleted.
 * @return 0; TRISA_ENOTFOUND; TRISA_EIO.
 */
TRISA_EXTERN int trisa_lineage_remove(const char *state_dir, const char *name, int purge);

#ifdef __cplusplus
}
#endif
#endif
