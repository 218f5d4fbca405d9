/**
 * @file trisa/hsm.h
 * @brief Keys on PKCS#11 tokens (HSMs): generate a key that never leaves the token,
 * sign with it through an EVP_PKEY, store the issued certificate beside it.
 *
 * Tokens and objects are chosen with RFC 7512 URIs such as
 * `pkcs11:token=trisa;object=vasp-2026;type=private`, parsed by p11-kit.
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
    /** Module path. NULL: the URI's module-path, else p11-kit's proxy module. */
    const char *module;
    /** Token (and possibly object) URI. NULL or "pkcs11:": the only token present. */
    const char *uri;
    /** PIN as a secret spec (file:, fd:, env:, pass:, prompt; see trisa_secret_read()).
     *  NULL: the URI's pin-source, then its pin-value (with a warning), then the
     *  environment variable TRISA_PKCS11_PIN, then a prompt on the terminal. */
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

/**
 * Load the module, select exactly one token by the URI and log in.
 *
 * @param out receives the handle; free with trisa_hsm_free().
 * @return 0; TRISA_EHSM (module missing or not a PKCS#11 module, bad URI);
 *         TRISA_ENOTFOUND (no token matches: the message lists the tokens present);
 *         TRISA_EAMBIGUOUS (several match: listed); TRISA_EPIN (wrong PIN, with what the
 *         token says of the tries left); TRISA_ELOCKED (PIN locked); TRISA_ESECRET.
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
 * Store a certificate on the token with the CKA_ID and label of the private key whose
 * public key it carries, so that key and certificate share one URI. Storing the same
 * certificate again is not an error (nothing is duplicated).
 *
 * @param out_uri receives the certificate's URI (may be NULL); free with free().
 * @return 0; TRISA_EMISMATCH (no private key on the token matches the certificate);
 *         TRISA_EHSM.
 */
TRISA_EXTERN int trisa_hsm_store_certificate(char **out_uri, trisa_hsm *hsm, X509 *cert);

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
 * Logs in only when a PIN is given (opts->pin or TRISA_PKCS11_PIN) and no_login is 0;
 * otherwise lists what is visible without login.
 *
 * @param out receives an array of *n entries; free with trisa_hsm_list_free().
 * @return 0; TRISA_EHSM; TRISA_EPIN; TRISA_ELOCKED; TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_hsm_list(trisa_hsm_entry **out, size_t *n, const trisa_hsm_options *opts);

/** Free a list from trisa_hsm_list(). NULL is ignored. */
TRISA_EXTERN void trisa_hsm_list_free(trisa_hsm_entry *entries, size_t n);

#ifdef __cplusplus
}
#endif
#endif
