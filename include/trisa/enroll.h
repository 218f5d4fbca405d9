/**
 * @file trisa/enroll.h
 * @brief One certificate request, licence-safe: from a CSR (or a batch id, or a
 * downloaded bundle) to verified files, uploaded at most once whatever the folder, the
 * race or the crash.
 *
 * A request goes through these phases, each of which may be where a run stops and a
 * later run of the same request picks up:
 *
 * 1. Pre-flight, before anything is sent or written: the CSR parses and its signature
 *    verifies; the operator's key (files, or a PKCS#11 token: module, token, PIN, key
 *    object) is readable, with its passphrase, and matches the CSR; the trust anchors
 *    and the CRL load; the output folder exists or can be made and is writable; the
 *    outputs have what they need (a password for the PKCS#12); then, when an upload may
 *    follow, the credentials log in, the profile is one of the account's and its
 *    authority has a licence left. `dry_run` stops here.
 * 2. The journal: one entry per request in the user's state directory (see
 *    trisa_enroll_state_dir()), keyed by endpoint, profile and the CSR's SHA-256, locked
 *    (flock) from before the upload until the result is written, so that one process at a
 *    time works on a request whatever its folder.
 * 3. The upload, recorded as sent just before its bytes leave (after the connection and
 *    the TLS handshake): a failure before that point leaves the request "not uploaded"
 *    and a later run uploads; a request sent without a usable reply stays "unknown" and
 *    is never sent again without `force_upload`; a 4xx or 501 reply clears the attempt.
 * 4. Polling until the batch can be downloaded, within `timeout_s` for the whole run; a
 *    permanent error (TLS verification, 401 after a fresh login, 404) ends it.
 * 5. Download (into memory), the bundle opened, its certificates bound to the operator's
 *    key (or the CSR's public key): a certificate for another key is refused, and a
 *    bundle's own key is used only when neither a key nor a CSR was given (the
 *    server-generated-key path). Every identity verified.
 * 6. The verified result kept in the journal, then the output set written as a unit:
 *    identical files are left untouched, missing ones written, every new file staged
 *    and synced before the first is renamed into place; a file that differs stops the
 *    whole write unless `force`. Then the certificate goes on the token, and the journal
 *    records the request done.
 *
 * The library never prints: what happens is told through the progress and warning
 * callbacks, and errors through trisa_error_last().
 */
#ifndef TRISA_ENROLL_H
#define TRISA_ENROLL_H

#include <stddef.h>
#include <time.h>

#include <openssl/types.h>

#include "trisa/bundle.h"
#include "trisa/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where a request starts. */
typedef enum trisa_enroll_source {
    TRISA_ENROLL_FROM_CSR = 0,   /**< upload a CSR (once), follow the batch, download it */
    TRISA_ENROLL_FROM_BATCH = 1, /**< follow an existing batch (e.g. `sectigo create`) */
    TRISA_ENROLL_FROM_BUNDLE = 2 /**< a downloaded ZIP or one member file: no network */
} trisa_enroll_source;

/** What a progress event reports. */
typedef enum trisa_enroll_step {
    TRISA_ENROLL_STEP_CHECKED = 1, /**< pre-flight passed; `text` says what was checked */
    TRISA_ENROLL_STEP_DRY_RUN,     /**< `text`: what would be uploaded where; the run stops */
    TRISA_ENROLL_STEP_WAITING,     /**< another process holds the request: waiting (once) */
    TRISA_ENROLL_STEP_SUPERSEDING, /**< `new_request`: `batch_id` is the earlier batch */
    TRISA_ENROLL_STEP_CONTINUING,  /**< an earlier run's batch is continued (`batch_id`) */
    TRISA_ENROLL_STEP_UPLOADED,    /**< the server made batch `batch_id` */
    TRISA_ENROLL_STEP_POLLING,     /**< `status`, `elapsed_s`, next poll in `next_s`, `left_s`
                                        before the time limit; sent after each poll, then at
                                        each whole second of the wait (counting down) */
    TRISA_ENROLL_STEP_DOWNLOADED,  /**< `path`: the bundle's name; `count`: its bytes */
    TRISA_ENROLL_STEP_VERIFIED,    /**< `report` of identity `index` (also when it failed) */
    TRISA_ENROLL_STEP_WROTE,       /**< `path`: a folder; `text`: the files written in it */
    TRISA_ENROLL_STEP_UNCHANGED,   /**< `path`: a folder whose outputs were already there */
    TRISA_ENROLL_STEP_WROTE_P12,   /**< `path`: the PKCS#12 written; `text`: its algorithms */
    TRISA_ENROLL_STEP_STORED,      /**< the certificate went on the token; `path`: its URI,
                                        `text`: the token's label */
    TRISA_ENROLL_STEP_STORED_CA,   /**< an issuing CA certificate is on the token: `path` its
                                        URI, `text` the token's label, `count` 1 when stored
                                        now, 0 when it was there already */
    TRISA_ENROLL_STEP_DONE         /**< the request is done; `text`: "issued" or "already issued" */
} trisa_enroll_step;

/** One progress event; every pointer is borrowed for the duration of the callback. */
typedef struct trisa_enroll_event {
    trisa_enroll_step step;
    long long batch_id;                /**< the batch concerned, or 0 */
    const char *status;                /**< the batch's status, or NULL */
    const char *path;                  /**< a file, folder or URI, or NULL */
    const char *text;                  /**< a sentence for people, or NULL */
    size_t index;                      /**< identity index (VERIFIED, WROTE, UNCHANGED) */
    size_t count;                      /**< identities, or bytes (DOWNLOADED) */
    long elapsed_s;                    /**< POLLING: seconds since the run started */
    long next_s;                       /**< POLLING: seconds until the next poll */
    const trisa_bundle_report *report; /**< VERIFIED */
    long left_s; /**< POLLING: seconds left before `timeout_s` runs out (-1: no limit) */
} trisa_enroll_event;

/** Receives progress events. */
typedef void (*trisa_enroll_progress_fn)(const trisa_enroll_event *event, void *data);

/** Receives warnings (a loose state folder mode, a retry, what the server holds for an
 *  upload of unknown outcome, ...). */
typedef void (*trisa_enroll_warn_fn)(const char *message, void *data);

#define TRISA_ENROLL_OPTIONS_VERSION 1

/**
 * What to do. Start from TRISA_ENROLL_OPTIONS_INIT; NULL / 0 means the default. Strings
 * are borrowed for the duration of trisa_enroll_run(). Secrets are given as sources in
 * the trisa_secret_read() forms (`file:PATH`, `fd:N`, `env:VAR`, `pass:TEXT`, `stdin`,
 * `prompt`) and wiped after use.
 */
typedef struct trisa_enroll_options {
    unsigned int version; /**< TRISA_ENROLL_OPTIONS_VERSION */
    trisa_enroll_source source;

    /* ---- the request ---- */
    const char *csr_file; /**< FROM_CSR: PEM file of one or several requests */
    const void *csr_data; /**< FROM_CSR: the request bytes instead of a file */
    size_t csr_len;       /**< length of csr_data */
    long long profile_id; /**< FROM_CSR: the Sectigo profile to upload to */
    long long batch_id;   /**< FROM_BATCH: the batch to follow */
    const char
        *bundle_file; /**< FROM_BUNDLE: a ZIP, or one .p12/.pfx/.pem/.crt/.cer/.der/.p7b file */
    const void *bundle_data; /**< FROM_BUNDLE: the bytes instead of a file */
    size_t bundle_len;       /**< length of bundle_data */
    const char *bundle_name; /**< name of bundle_data (its extension says a lone member) */
    /** Start a new request for a CSR whose earlier request is done (a renewal with the
     *  same key: RSA CSRs are byte-identical); an unfinished one is still continued. */
    int new_request;
    /** Upload although an earlier upload's outcome is unknown (the server may hold a
     *  batch for it: check first). */
    int force_upload;
    int dry_run;     /**< pre-flight only: report what would be uploaded where */
    int no_wait;     /**< another process holds the request: fail with TRISA_EBUSY */
    long interval_s; /**< seconds between polls; 0: 5 */
    /** Bound of the whole run in seconds; 0: 1800; negative: look once, never wait. */
    long timeout_s;
    /** The journal's folder; NULL: trisa_enroll_state_dir() (e.g. $TRISA_STATE_DIR). */
    const char *state_dir;

    /* ---- the operator's key ---- */
    const char *const *key_files; /**< private key files, or folders of *.pem / *.key */
    size_t key_count;
    const char *key_password;  /**< secret source for encrypted key files */
    const char *pkcs11_uri;    /**< the key is on this token (the certificate goes there too) */
    const char *pkcs11_module; /**< its module; NULL: $TRISA_PKCS11_MODULE, else p11-kit's */
    const char *pkcs11_pin;    /**< secret source of the PIN; NULL: as trisa_hsm_open() */

    /* ---- the bundle ---- */
    const char *bundle_password; /**< secret source of the PKCS#12 password */
    /** Used only when the bundle needs a password and bundle_password is NULL (a tool
     *  passes "prompt" when a person is at the terminal). */
    const char *bundle_password_fallback;

    /* ---- checks ---- */
    const char *trust_file;       /**< PEM trust anchors */
    int trust_bundle_root;        /**< trust the bundle's own self-signed root */
    time_t at;                    /**< verification time; 0: now */
    const char *crl_file;         /**< PEM or DER CRL for the leaf */
    const char *const *dns_names; /**< names required in the leaf's SANs */
    size_t dns_count;

    /* ---- outputs ---- */
    /** Folder of the output set (created, 0755, when missing); NULL: nothing is written
     *  and the result is only in memory. A batch of several certificates is written to
     *  one folder a certificate below it, named after the commonName (colliding names get
     *  "-2", "-3", ...). */
    const char *out_dir;
    int force;               /**< replace outputs that differ (default: refuse, exit) */
    const char *key_passout; /**< secret source: encrypt key.pem, node.pem's key, p12_out */
    const char *p12_out;     /**< also write a PKCS#12 of the one identity here (0600) */
    int p12_legacy;          /**< p12_out in the legacy algorithms (3DES, SHA-1 MAC) */

    /* ---- the server (as trisa_sectigo_options) ---- */
    const char *endpoint;
    const char *environment;
    const char *username;
    const char *password;
    const char *ca_bundle;
    const char *cache_dir;

    /* ---- callbacks ---- */
    trisa_enroll_progress_fn progress;
    trisa_enroll_warn_fn warn;
    void *data; /**< passed to both */
} trisa_enroll_options;

/* clang-format off */
#define TRISA_ENROLL_OPTIONS_INIT {.version = TRISA_ENROLL_OPTIONS_VERSION}
/* clang-format on */

/** The verified outcome of a request. Opaque. */
typedef struct trisa_enroll_result trisa_enroll_result;

/** The PEM texts of an identity, see trisa_enroll_result_pem(). */
typedef enum trisa_enroll_pem {
    TRISA_ENROLL_PEM_CERT = 0,  /**< cert.pem: the leaf */
    TRISA_ENROLL_PEM_CHAIN,     /**< chain.pem: intermediates, the leaf's issuer first */
    TRISA_ENROLL_PEM_FULLCHAIN, /**< fullchain.pem: leaf and intermediates */
    TRISA_ENROLL_PEM_ROOT,      /**< root.pem: the bundle's self-signed root */
    TRISA_ENROLL_PEM_POOL       /**< pool.pem: intermediates and root (TRISA_NODE_POOL) */
} trisa_enroll_pem;

/**
 * Run one request (see the phases above).
 *
 * @param out  receives the result on success (may be NULL); free with
 *             trisa_enroll_result_free().
 * @param opts the options; not NULL.
 * @return 0 (issued, verified and written; or already done, with nothing changed) or:
 *   TRISA_EINVAL (options), TRISA_ECSR (the CSR does not parse or verify),
 *   TRISA_EKEY / TRISA_EPASSWORD (a key file unreadable or its passphrase missing or
 *   wrong), TRISA_EMISMATCH (the key does not match the CSR; a certificate carries
 *   neither the key nor the CSR's public key: the message names both fingerprints),
 *   TRISA_EHSM / TRISA_EPIN / TRISA_ELOCKED / TRISA_EAMBIGUOUS (the token),
 *   TRISA_ENOTFOUND / TRISA_EIO (a file, the output folder, the profile),
 *   TRISA_EAUTH / TRISA_EFORBIDDEN / TRISA_ECERTLOGIN (login), TRISA_EBALANCE (no
 *   licence left), TRISA_EBUSY (`no_wait` and another process holds the request),
 *   TRISA_ESTATE (an upload of unknown outcome, or an unreadable journal: the message
 *   says which and what to do), TRISA_ENETWORK / TRISA_ETIMEOUT / TRISA_EAPI (the
 *   server), TRISA_EREJECTED (the CA rejected the batch; its reason),
 *   TRISA_EPENDING (not finished within the time limit: run again later),
 *   TRISA_EZIP / TRISA_EBUNDLE / TRISA_ELEGACY (the bundle), TRISA_EVERIFY (a check
 *   failed: nothing written), TRISA_EEXISTS (an output differs from the result and
 *   `force` was not given: nothing written), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_enroll_run(trisa_enroll_result **out, const trisa_enroll_options *opts);

/** Free a result. NULL is ignored. */
TRISA_EXTERN void trisa_enroll_result_free(trisa_enroll_result *result);

/** The batch that was issued (0 for a bundle read from a file). */
TRISA_EXTERN long long trisa_enroll_result_batch_id(const trisa_enroll_result *result);

/** The earlier batch a `new_request` superseded, or 0. */
TRISA_EXTERN long long trisa_enroll_result_supersedes(const trisa_enroll_result *result);

/** Whether the request was already done and every output was already in place. */
TRISA_EXTERN int trisa_enroll_result_already_issued(const trisa_enroll_result *result);

/** The number of identities (certificates) in the result. */
TRISA_EXTERN size_t trisa_enroll_result_count(const trisa_enroll_result *result);

/** Identity @p index's leaf certificate, borrowed; NULL when out of range. */
TRISA_EXTERN X509 *trisa_enroll_result_leaf(const trisa_enroll_result *result, size_t index);

/** A PEM text of identity @p index, borrowed; NULL when out of range or absent (no root). */
TRISA_EXTERN const char *trisa_enroll_result_pem(const trisa_enroll_result *result, size_t index,
                                                 trisa_enroll_pem which);

/** The folder identity @p index was written to, borrowed; NULL when nothing was written. */
TRISA_EXTERN const char *trisa_enroll_result_dir(const trisa_enroll_result *result, size_t index);

/** The request's journal folder, borrowed; NULL for a bundle read from a file. */
TRISA_EXTERN const char *trisa_enroll_result_journal(const trisa_enroll_result *result);

/**
 * The state directory the journal lives in: @p override when given, else
 * $TRISA_STATE_DIR, else /var/lib/trisa for root, else $XDG_STATE_HOME/trisa, else
 * ~/.local/state/trisa. Nothing is created.
 * @param out receives the path; free with free().
 * @return 0, TRISA_ENOTFOUND (no HOME to put it in), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_enroll_state_dir(char **out, const char *override);

#ifdef __cplusplus
}
#endif
#endif
