/**
 * @file trisa/csr.h
 * @brief trisa.conf (an OpenSSL `req` config) loading and validation; CSR build, sign,
 *        read and inspect.
 *
 * A config is loaded and fully validated first (trisa_csr_config_load()), before any key
 * is made or file written; then trisa_csr_create() builds and signs the request the way
 * `openssl req -new -config trisa.conf` does.
 */
#ifndef TRISA_CSR_H
#define TRISA_CSR_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "trisa/common.h"
#include "trisa/keygen.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A loaded, validated trisa.conf. Opaque; free with trisa_csr_config_free(). */
typedef struct trisa_csr_config trisa_csr_config;

/** A signed certificate signing request. Opaque; free with trisa_csr_free(). */
typedef struct trisa_csr trisa_csr;

/** The current version of trisa_csr_config_options (1 is still accepted). */
#define TRISA_CSR_CONFIG_OPTIONS_VERSION 2

/**
 * Called once for each error found in a config, in the order found, with the one-line
 * message ("FILE:LINE: [section] field: what is wrong, what is expected"). The message is
 * borrowed for the call.
 */
typedef void (*trisa_csr_config_error_fn)(const char *message, void *ctx);

/** How to read a config. NULL options mean all defaults. */
typedef struct trisa_csr_config_options {
    unsigned int version;    /**< TRISA_CSR_CONFIG_OPTIONS_VERSION */
    const char *section;     /**< the `req` section's name; NULL: "req" */
    const char *extensions;  /**< extension section (openssl -reqexts); NULL: req_extensions */
    const char *common_name; /**< replaces the config's CN when not NULL */
    /** Added to the subjectAltName: "DNS:name", "IP:addr", "email:addr", "URI:uri", or a
     * bare DNS name. */
    const char *const *sans;
    size_t san_count; /**< entries in sans */
    int utf8;         /**< non-zero: values are UTF-8 (openssl -utf8), as `utf8 = yes` */
    /** Version 2: every error found, not only the first (NULL: none). */
    trisa_csr_config_error_fn on_error;
    void *on_error_ctx; /**< passed to on_error */
} trisa_csr_config_options;

#define TRISA_CSR_CONFIG_OPTIONS_INIT                                                              \
    {                                                                                              \
        TRISA_CSR_CONFIG_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL                 \
    }

/**
 * Load and validate a trisa.conf. Everything a request needs is checked here, so that
 * nothing is generated or written for a config that would fail later: the file is
 * readable and parses; the `req` section, its `distinguished_name` section and every
 * section it references exist; the subject has a non-empty CN, a two-letter C, no value
 * with white space (of any script) at either end, no control, invisible or
 * bidirectional character, no unfilled `<placeholder>` (whole or inside a value); every
 * field name is known; the extensions parse (keyUsage and extendedKeyUsage words are
 * known); the subjectAltName has at least one well-formed DNS name, and its emails and
 * URIs are ASCII without spaces; default_bits, string_mask and default_md are valid, the
 * digest one a CSR may be signed with (trisa_csr_digest_check()). A CN that is not
 * among the SAN DNS names is a warning (see trisa_csr_config_warning()).
 *
 * `.include` is read here rather than by OpenSSL, with OpenSSL's syntax (a file, or a
 * folder's `*.conf` / `*.cnf` files in name order; `.pragma includedir` and `abspath`;
 * `$OPENSSL_CONF_INCLUDE`), but strictly: a missing file, anything that is not a regular
 * file (a FIFO is never waited on), a file that includes itself, more than 16 levels or
 * 64 files, or more than 1 MiB in all is an error naming the including file and line.
 * A NUL byte anywhere is an error (OpenSSL would join the next line to the value).
 *
 * Every error is found in one run: each is passed to @p opts->on_error when given, and
 * the first is recorded for trisa_error_last() (with "(and N more errors)" when there
 * were others). Errors are one line: "FILE:LINE: [section] field: what is wrong" (LINE
 * left out where it is unknown); FILE is the included file when the line is there, and a
 * value from an included file is never quoted.
 *
 * @param out  receives the config; free with trisa_csr_config_free().
 * @param path the file.
 * @param opts NULL for defaults.
 * @return 0, TRISA_ENOTFOUND / TRISA_EIO (unreadable file), TRISA_EINVAL (not a regular
 *         file; bad options, or a bad --san / --cn value, see
 *         trisa_csr_config_options_check()), TRISA_ECONFIG (invalid), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_csr_config_load(trisa_csr_config **out, const char *path,
                                       const trisa_csr_config_options *opts);

/**
 * Check the options alone (the --cn and --san values, the section names), so that a
 * caller can report a bad command line before any file is read.
 * @return 0, or TRISA_EINVAL naming the option ("--san: 'a..b' is not a valid DNS name").
 */
TRISA_EXTERN int trisa_csr_config_options_check(const trisa_csr_config_options *opts);

/**
 * Whether @p name is a digest a CSR may be signed with: sha256, sha384 or sha512.
 * @return 0, or TRISA_EINVAL saying why not: MD5 and SHA-1 (and SHA-224) are too weak
 *         (certificates signed with them are refused), SHAKE cannot sign, anything else
 *         is unknown or not used for CSRs.
 */
TRISA_EXTERN int trisa_csr_digest_check(const char *name);

/**
 * As trisa_csr_config_load(), from text in memory. @p name is used in messages.
 * `.include` directives are resolved against the current folder.
 */
TRISA_EXTERN int trisa_csr_config_parse(trisa_csr_config **out, const char *text, size_t len,
                                        const char *name, const trisa_csr_config_options *opts);

/** Number of warnings found while loading (e.g. CN not among the SAN DNS names). */
TRISA_EXTERN size_t trisa_csr_config_warning_count(const trisa_csr_config *cfg);

/** Warning @p i as one line ("FILE:LINE: ..."), borrowed; NULL when out of range. */
TRISA_EXTERN const char *trisa_csr_config_warning(const trisa_csr_config *cfg, size_t i);

/** The key the config asks for: RSA of `default_bits` (default 4096). */
TRISA_EXTERN void trisa_csr_config_key_spec(const trisa_csr_config *cfg, trisa_keygen_spec *out);

/** The digest name from `default_md`, or "sha384". Borrowed. */
TRISA_EXTERN const char *trisa_csr_config_digest(const trisa_csr_config *cfg);

/** The subject's (first) CN after overrides. Borrowed. */
TRISA_EXTERN const char *trisa_csr_config_common_name(const trisa_csr_config *cfg);

/** `default_keyfile` from the req section, or NULL. Borrowed. */
TRISA_EXTERN const char *trisa_csr_config_default_keyfile(const trisa_csr_config *cfg);

/** The name the config was loaded under. Borrowed. */
TRISA_EXTERN const char *trisa_csr_config_name(const trisa_csr_config *cfg);

/** Free a config. NULL is ignored. */
TRISA_EXTERN void trisa_csr_config_free(trisa_csr_config *cfg);

/** The current version of trisa_csr_options. */
#define TRISA_CSR_OPTIONS_VERSION 1

/** How to sign a request. NULL options mean all defaults. */
typedef struct trisa_csr_options {
    unsigned int version; /**< TRISA_CSR_OPTIONS_VERSION */
    const char *digest;   /**< "sha384", "sha256", ...; NULL: the config's default_md */
} trisa_csr_options;

#define TRISA_CSR_OPTIONS_INIT                                                                     \
    {                                                                                              \
        TRISA_CSR_OPTIONS_VERSION, NULL                                                            \
    }

/**
 * Build the request from a config for @p key (subject, requested extensions, attributes),
 * sign it with the key and verify the signature.
 *
 * @param out  receives the request; free with trisa_csr_free().
 * @param cfg  a loaded config (borrowed).
 * @param key  the key pair (borrowed): generated, loaded, or on a token.
 * @param opts NULL for defaults.
 * The digest is checked with trisa_csr_digest_check() and the key with
 * trisa_keygen_check() before anything is signed.
 *
 * @return 0, TRISA_EINVAL (a digest a CSR may not use, bad arguments), TRISA_EKEY (a key
 *         trisa_keygen_check() refuses), TRISA_ECONFIG (an extension that cannot be made
 *         for this key), TRISA_ECRYPTO (signing failed), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_csr_create(trisa_csr **out, const trisa_csr_config *cfg, EVP_PKEY *key,
                                  const trisa_csr_options *opts);

/**
 * Read a request from memory, PEM or DER; its signature is checked.
 * @param name used in messages (a file name); NULL: "CSR".
 * @return 0, TRISA_ECSR (not a request, or a bad signature), TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_csr_parse(trisa_csr **out, const unsigned char *data, size_t len,
                                 const char *name);

/** Read a request file (at most 1 MiB) with trisa_csr_parse(). Adds TRISA_ENOTFOUND, TRISA_EIO. */
TRISA_EXTERN int trisa_csr_load(trisa_csr **out, const char *path);

/**
 * The request as PEM ("-----BEGIN CERTIFICATE REQUEST-----").
 * @param out receives NUL-terminated text; free with free().
 * @return 0, TRISA_ENOMEM, TRISA_ECRYPTO.
 */
TRISA_EXTERN int trisa_csr_to_pem(char **out, size_t *out_len, const trisa_csr *csr);

/**
 * Write the request as PEM to @p path atomically, mode 0644.
 * @param flags 0, or TRISA_WRITE_REPLACE.
 * @return 0, TRISA_EEXISTS, TRISA_EIO, TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_csr_save(const char *path, const trisa_csr *csr, unsigned flags);

/** The subject as an RFC 4514 string, the last RDN first ("C=US,O=Example VASP,CN=api.example.com"
 *  for a subject written CN, O, C in trisa.conf): UTF-8 kept, what `openssl req -noout
 *  -subject -nameopt rfc2253,-esc_msb` prints, the form every trisa tool prints. Borrowed. */
TRISA_EXTERN const char *trisa_csr_subject(const trisa_csr *csr);

/** The subject's first CN, or "" when none. Borrowed. */
TRISA_EXTERN const char *trisa_csr_common_name(const trisa_csr *csr);

/** Number of subjectAltName entries requested. */
TRISA_EXTERN size_t trisa_csr_san_count(const trisa_csr *csr);

/** SAN entry @p i as "DNS:name", "IP:addr", "email:addr" or "URI:uri"; borrowed; NULL
 * when out of range. */
TRISA_EXTERN const char *trisa_csr_san(const trisa_csr *csr, size_t i);

/** The public key, "RSA 4096" or "EC P-384". Borrowed. */
TRISA_EXTERN const char *trisa_csr_key_description(const trisa_csr *csr);

/** The signature algorithm's long name, "sha384WithRSAEncryption". Borrowed. */
TRISA_EXTERN const char *trisa_csr_signature_algorithm(const trisa_csr *csr);

/** SHA-256 of the public key (DER SubjectPublicKeyInfo) as text, lower-case hex pairs
 * separated by colons, as trisa_keygen_fingerprint_hex(). Borrowed. */
TRISA_EXTERN const char *trisa_csr_key_fingerprint(const trisa_csr *csr);

/** The OpenSSL request, borrowed (valid while @p csr lives). */
TRISA_EXTERN X509_REQ *trisa_csr_get0_req(const trisa_csr *csr);

/** Free a request. NULL is ignored. */
TRISA_EXTERN void trisa_csr_free(trisa_csr *csr);

#ifdef __cplusplus
}
#endif
#endif
