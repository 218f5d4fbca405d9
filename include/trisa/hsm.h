/**
 * @file trisa/hsm.h
 * @brief Keys on PKCS#11 tokens (HSMs): generate a key that never leaves the token,
 * sign with it through an EVP_PKEY, store the issued certificate beside it.
 *
 * Tokens and objects are chosen with RFC 7512 URIs such as
 * `pkcs11:token=trisa;object=vasp-2026;type=private`, parsed by p11-kit.
 *
 * Typical use:
 *
 *     trisa_hsm_open(&hsm, &opts);                        // module, token, login
 *     trisa_hsm_generate_key(&key, &key_uri, hsm, NULL);  // or trisa_hsm_find_key()
 *     ... sign a CSR with key; the certificate comes back ...
 *     trisa_hsm_store_certificate(&cert_uri, hsm, leaf);  // beside the key
 *     trisa_hsm_store_ca_certificate(NULL, NULL, hsm, intermediate);  // each issuing CA
 *     EVP_PKEY_free(key);
 *     trisa_hsm_free(hsm);
 *
 * Before spending anything on a request for a token key (a licence), one call checks the
 * token, the PIN and the key, and hands back the public key to compare with the CSR's:
 * trisa_hsm_check_key().
 *
 * Warnings (a PIN in the URI, a PIN file others can read, an attribute the token refused)
 * go to the warn callback of the options; the library never prints.
 */
#ifndef TRISA_HSM_H
#define TRISA_HSM_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "trisa/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An open PKCS#11 module with one selected token, logged in (opaque). */
typedef struct trisa_hsm trisa_hsm;

/** Receives warnings (for example a PIN given in the URI); the library never prints. */
typedef void (*trisa_hsm_warn_cb)(const char *message, void *data);

/** Options for trisa_hsm_open() and trisa_hsm_list(). */
typedef struct trisa_hsm_options {
    unsigned int version;
    /** Module path. NULL: the URI's module-path, else p11-kit's proxy module
     *  (trisa_hsm_default_module()), which reaches every module p11-kit has registered. */
    const char *module;
    /** Token (and possibly object) URI. NULL or "pkcs11:": the only token present. */
    const char *uri;
    /** PIN as a secret spec (file:, fd:, env:, pass:, prompt; see trisa_secret_read()).
     *  NULL: the URI's pin-source, then its pin-value (with a warning), then the
     *  environment variable TRISA_PKCS11_PIN, then a prompt on the terminal (open only).
     *  A PIN file is read up to its first line end; one readable by group or others is
     *  used with a warning. */
    const char *pin;
    /** Non-zero: do not log in (only public objects are visible). */
    int no_login;
    trisa_hsm_warn_cb warn;
    void *warn_data;
} trisa_hsm_options;

#define TRISA_HSM_OPTIONS_VERSION 1
#define TRISA_HSM_OPTIONS_INIT                                                                     \
    {                                                                                              \
        TRISA_HSM_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, NULL                                 \
    }

/** p11-kit's proxy module, the default module: the path `pkg-config --variable=proxy_module
 *  p11-kit-1` gave when the library was built (borrowed), or NULL when it gave none. */
TRISA_EXTERN const char *trisa_hsm_default_module(void);

/**
 * Load the module, select exactly one token by the URI and log in.
 *
 * @param out receives the handle; free with trisa_hsm_free().
 * @return 0; TRISA_EINVAL (bad URI); TRISA_EHSM (module missing or not a PKCS#11 module,
 *         the token cannot be read, login failed otherwise); TRISA_ENOTFOUND (no token
 *         matches: the message lists the tokens present, and the slots whose token could
 *         not be read); TRISA_EAMBIGUOUS (several match: listed); TRISA_EPIN (wrong PIN;
 *         the message adds what the token's flags say: one more wrong PIN locks it, or an
 *         earlier login failed too); TRISA_ELOCKED (the user PIN is locked, or this wrong
 *         PIN locked it; a PIN found locked is not tried); TRISA_ESECRET (no PIN source).
 */
TRISA_EXTERN int trisa_hsm_open(trisa_hsm **out, const trisa_hsm_options *opts);

/** Log out, close the sessions and unload the module. NULL is ignored. Keys obtained
 *  from this handle must be freed before. */
TRISA_EXTERN void trisa_hsm_free(trisa_hsm *hsm);

/** The selected token's label (borrowed, valid while the handle is open). */
TRISA_EXTERN const char *trisa_hsm_token_label(const trisa_hsm *hsm);

/** Options for trisa_hsm_generate_key(). */
typedef struct trisa_hsm_keygen_options {
    unsigned int version;
    /** As trisa_keygen_spec_parse(): "rsa:4096" (default), "rsa:2048", "rsa:3072",
     *  "ec:P-256", "ec:P-384". */
    const char *spec;
    /** CKA_LABEL of the key pair. NULL: the object= of the URI given to trisa_hsm_open(),
     *  else "trisa-" followed by the id's first 4 bytes in hex. */
    const char *label;
    /** CKA_ID. NULL: the id= of the URI given to trisa_hsm_open(), else 16 random bytes. */
    const unsigned char *id;
    size_t id_len;
} trisa_hsm_keygen_options;

#define TRISA_HSM_KEYGEN_OPTIONS_VERSION 1
#define TRISA_HSM_KEYGEN_OPTIONS_INIT                                                              \
    {                                                                                              \
        TRISA_HSM_KEYGEN_OPTIONS_VERSION, NULL, NULL, NULL, 0                                      \
    }

/**
 * Generate a key pair on the token. The private key is a token object, private,
 * sensitive and not extractable, allowed to sign; it never leaves the token.
 *
 * @param out_key receives an EVP_PKEY whose private operations run on the token; free it
 *                with EVP_PKEY_free() before trisa_hsm_free().
 * @param out_uri receives the private key's URI (may be NULL); free with free().
 * @return 0; TRISA_EINVAL (bad spec); TRISA_EEXISTS (the id or label is already used on
 *         the token: nothing is replaced); TRISA_EUNSUPPORTED (the token cannot make such
 *         keys); TRISA_EHSM.
 */
TRISA_EXTERN int trisa_hsm_generate_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *hsm,
                                        const trisa_hsm_keygen_options *opts);

/**
 * Find an existing private key on the token by URI (its id and/or object label).
 * @param out_uri receives the key's full URI (may be NULL); free with free().
 * @return 0; TRISA_ENOTFOUND; TRISA_EAMBIGUOUS (several keys match: listed); TRISA_EHSM.
 */
TRISA_EXTERN int trisa_hsm_find_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *hsm,
                                    const char *uri);

/**
 * The pre-flight of a request for a token key: load the module, select the token, log
 * in, find exactly one private key, and return a copy of its public key; then close.
 * Nothing on the token changes. A caller compares the public key with its CSR's before
 * anything is sent.
 *
 * @param out_pub receives the public key (no tie to the token); free with EVP_PKEY_free().
 * @param out_uri receives the key's full URI (may be NULL); free with free().
 * @param opts module, PIN and warnings as for trisa_hsm_open(); opts->uri selects the token
 *             (NULL: key_uri does).
 * @param key_uri the key (its id= and/or object=); NULL: opts->uri.
 * @return 0, or any error of trisa_hsm_open() and trisa_hsm_find_key().
 */
TRISA_EXTERN int trisa_hsm_check_key(EVP_PKEY **out_pub, char **out_uri,
                                     const trisa_hsm_options *opts, const char *key_uri);

/**
 * Store a certificate on the token with the CKA_ID and label of the private key whose
 * public key it carries, so that key and certificate share one URI. Storing the same
 * certificate again is not an error (nothing is duplicated); other certificates already
 * under that id are kept (with a warning).
 *
 * The object is made from CKA_CLASS, CKA_CERTIFICATE_TYPE, CKA_TOKEN, CKA_ID, CKA_LABEL,
 * CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER and CKA_VALUE. A token that refuses
 * CKA_ISSUER or CKA_SERIAL_NUMBER gets the certificate without it, with a warning naming
 * the attribute; one that refuses another attribute gets nothing, and the error names it.
 *
 * @param out_uri receives the certificate's URI (may be NULL); free with free().
 * @return 0; TRISA_EMISMATCH (no private key on the token matches the certificate);
 *         TRISA_EHSM (the token refused: the message names the attribute or the CKR code).
 */
TRISA_EXTERN int trisa_hsm_store_certificate(char **out_uri, trisa_hsm *hsm, X509 *cert);

/**
 * Store an issuing CA certificate on the token, so that a server loading its certificate
 * from the token can send the chain. Its CKA_ID is its subject key identifier (else the
 * SHA-1 of its public key), its label its CN, and CKA_CERTIFICATE_CATEGORY says
 * "authority" where the token takes that attribute (else it is left out, with a warning).
 * A certificate already on the token (same bytes) is not stored again.
 *
 * @param out_uri receives the URI of the certificate on the token (may be NULL); free().
 * @param out_added receives 1 when stored now, 0 when it was already there (may be NULL).
 * @return 0; TRISA_EINVAL (not a CA certificate); TRISA_EHSM (as for
 *         trisa_hsm_store_certificate()).
 */
TRISA_EXTERN int trisa_hsm_store_ca_certificate(char **out_uri, int *out_added, trisa_hsm *hsm,
                                                X509 *ca);

/** What a listed entry is. */
typedef enum trisa_hsm_kind {
    TRISA_HSM_TOKEN = 0,
    TRISA_HSM_PRIVATE_KEY,
    TRISA_HSM_PUBLIC_KEY,
    TRISA_HSM_CERTIFICATE
} trisa_hsm_kind;

/** One token or object found by trisa_hsm_list(). */
typedef struct trisa_hsm_entry {
    trisa_hsm_kind kind;
    char *uri;    /**< RFC 7512 URI selecting this token or object */
    char *label;  /**< token or object label */
    char *id_hex; /**< object CKA_ID in hex ("" for tokens) */
    char *detail; /**< "RSA 4096", "sensitive, never extractable", a subject, a model */
} trisa_hsm_entry;

/**
 * List the tokens of a module (those matching opts->uri when given) and their objects.
 * Logs in only when a PIN is given (opts->pin, the URI's pin-source or pin-value, or
 * TRISA_PKCS11_PIN; never a prompt) and no_login is 0, and then only to the one token the
 * URI names: when several match, none is logged in to (a warning says so), since each
 * wrong PIN counts towards locking a token. Other tokens show what is visible without
 * login. A token entry's detail ends with "logged in" or "not logged in (private objects
 * not shown)", after what its PIN flags say.
 *
 * @param out receives an array of *n entries; free with trisa_hsm_list_free().
 * @return 0; TRISA_EINVAL (bad URI); TRISA_EHSM; TRISA_EPIN; TRISA_ELOCKED; TRISA_ESECRET;
 *         TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_hsm_list(trisa_hsm_entry **out, size_t *n, const trisa_hsm_options *opts);

/** Free a list from trisa_hsm_list(). NULL is ignored. */
TRISA_EXTERN void trisa_hsm_list_free(trisa_hsm_entry *entries, size_t n);

/** trisa_hsm_pin_file_info() flag: group or others may read the file. */
#define TRISA_HSM_PIN_FILE_SHARED 0x1u
/** trisa_hsm_pin_file_info() flag: the PIN is followed by a line end. Our tools read the
 *  first line without it; the libp11 engine's pin-source=file: sends it as part of the
 *  PIN, so a server using such a file fails to log in (and counts a wrong PIN). */
#define TRISA_HSM_PIN_FILE_NEWLINE 0x2u

/**
 * What matters about a PIN file for the programs that read it.
 * @param out_flags receives TRISA_HSM_PIN_FILE_* flags.
 * @return 0; TRISA_ENOTFOUND; TRISA_ESECRET (unreadable, or not a regular file).
 */
TRISA_EXTERN int trisa_hsm_pin_file_info(unsigned *out_flags, const char *path);

/**
 * A key or token URI with `pin-source=file:ABSOLUTE-PATH` added, encoded as RFC 7512
 * wants it: what a server using the libp11 engine or OpenSSL's pkcs11 provider can be
 * given to read its PIN from @p pin_file.
 * @param out receives the URI; free with free().
 * @return 0; TRISA_EINVAL (bad URI); TRISA_ENOTFOUND (no such file); TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_hsm_uri_with_pin_file(char **out, const char *uri, const char *pin_file);

#ifdef __cplusplus
}
#endif
#endif
