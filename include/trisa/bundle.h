/**
 * @file trisa/bundle.h
 * @brief Certificate bundles from the Sectigo IoT Manager: safe ZIP reading, PKCS#12
 * (legacy and modern), PEM / DER / PKCS#7 members, key matching, chain building and
 * verification, and writing the PEM files a TLS stack wants.
 *
 * A typical use:
 *
 *     trisa_bundle *b = NULL;
 *     trisa_bundle_options o = TRISA_BUNDLE_OPTIONS_INIT;
 *     o.password = pkcs12_password;
 *     trisa_bundle_open_file(&b, "batch.zip", &o);
 *     trisa_bundle_add_key_file(b, "key.pem", NULL);    // ours, if the CA never saw it
 *     trisa_bundle_resolve(b);                          // leaf(s) and chain(s)
 *     trisa_bundle_verify(&report, b, 0, &verify_opts); // checks, report
 *     trisa_bundle_write(b, 0, "out", &write_opts);     // cert.pem chain.pem ...
 *
 * Every fallible function returns 0 or a negative TRISA_E* code and records a message
 * for trisa_error_last() naming the entry, certificate or file concerned.
 */
#ifndef TRISA_BUNDLE_H
#define TRISA_BUNDLE_H

#include <stddef.h>
#include <time.h>

#include <openssl/types.h>

#include "trisa/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------- */
/* Safe ZIP reading                                                                   */
/* ---------------------------------------------------------------------------------- */

/** Limits for reading a ZIP archive; a field left 0 takes the default shown. */
typedef struct trisa_bundle_zip_limits {
    unsigned version;      /**< TRISA_BUNDLE_ZIP_LIMITS_VERSION */
    size_t max_entries;    /**< default 1000 */
    size_t max_entry_size; /**< uncompressed bytes of one entry; default 16 MiB */
    size_t max_total_size; /**< uncompressed bytes of all entries; default 64 MiB */
    unsigned max_ratio;    /**< uncompressed / compressed size; default 100 */
} trisa_bundle_zip_limits;

#define TRISA_BUNDLE_ZIP_LIMITS_VERSION 1
#define TRISA_BUNDLE_ZIP_LIMITS_INIT                                                               \
    {                                                                                              \
        TRISA_BUNDLE_ZIP_LIMITS_VERSION, 0, 0, 0, 0                                                \
    }

/** An archive read into memory, every member checked. Opaque. */
typedef struct trisa_bundle_zip trisa_bundle_zip;

/**
 * Read a ZIP archive held in memory, refusing anything unsafe: absolute paths, `..`
 * components, backslashes, drive letters, links and other non-regular entries (folders
 * included), duplicate names, encrypted entries, too many entries, an entry or a total
 * over the size limits, a compression ratio over the limit, bad CRCs and truncated or
 * inconsistent archives. Sizes declared in the headers are never trusted: each entry is
 * read with a bound and its real length compared with the declared one.
 *
 * @param out    receives the archive; free with trisa_bundle_zip_free().
 * @param data   the archive's bytes (not retained).
 * @param limits NULL for the defaults.
 * @return 0, TRISA_EZIP (message names the entry and the reason), TRISA_ETOOBIG,
 *         TRISA_EINVAL, TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_zip_read(trisa_bundle_zip **out, const void *data, size_t len,
                                       const trisa_bundle_zip_limits *limits);

/** The number of entries. */
TRISA_EXTERN size_t trisa_bundle_zip_count(const trisa_bundle_zip *zip);

/**
 * Entry @p index: its name and bytes, borrowed from @p zip (valid until trisa_bundle_zip_free).
 * @return 0, or TRISA_EINVAL when index is out of range.
 */
TRISA_EXTERN int trisa_bundle_zip_entry(const trisa_bundle_zip *zip, size_t index,
                                        const char **name, const unsigned char **data, size_t *len);

/** Free an archive. NULL is ignored. */
TRISA_EXTERN void trisa_bundle_zip_free(trisa_bundle_zip *zip);

/* ---------------------------------------------------------------------------------- */
/* Bundles                                                                            */
/* ---------------------------------------------------------------------------------- */

/** The certificates, keys and chains of one bundle. Opaque. */
typedef struct trisa_bundle trisa_bundle;

/** How to open a bundle; NULL means all defaults. */
typedef struct trisa_bundle_options {
    unsigned version;               /**< TRISA_BUNDLE_OPTIONS_VERSION */
    const char *password;           /**< PKCS#12 password; NULL is the empty password. Copied. */
    trisa_bundle_zip_limits limits; /**< ZIP limits (zeros: defaults) */
} trisa_bundle_options;

#define TRISA_BUNDLE_OPTIONS_VERSION 1
#define TRISA_BUNDLE_OPTIONS_INIT                                                                  \
    {                                                                                              \
        TRISA_BUNDLE_OPTIONS_VERSION, NULL, TRISA_BUNDLE_ZIP_LIMITS_INIT                           \
    }

/**
 * An empty bundle, with its own OpenSSL library context into which the default and
 * legacy providers are loaded when first needed (a PKCS#12 member, a key file, an
 * export); the legacy one serves RC2 / 3DES PKCS#12 bundles and its absence is reported
 * only when a member needs it. No global OpenSSL state is changed.
 * @return 0, TRISA_ENOMEM, TRISA_ECRYPTO.
 */
TRISA_EXTERN int trisa_bundle_new(trisa_bundle **out, const trisa_bundle_options *opts);

/** What a member holds, by its name's extension (see trisa_bundle_member_type()). */
enum trisa_bundle_member {
    TRISA_MEMBER_NONE = 0,   /**< not a member trisa reads (ignored in a ZIP) */
    TRISA_MEMBER_PKCS12 = 1, /**< `.p12`, `.pfx` */
    TRISA_MEMBER_CERTS = 2   /**< `.pem`, `.crt`, `.cer`, `.der`, `.p7b`, `.p7c` */
};

/**
 * The kind of member a file name is, by its extension (case-insensitive): the one list
 * of member extensions, for callers that must decide whether a file is a ZIP or a
 * member. NULL is TRISA_MEMBER_NONE.
 */
TRISA_EXTERN enum trisa_bundle_member trisa_bundle_member_type(const char *name);

/**
 * The most iterations one key derivation of a PKCS#12 member may ask for (its MAC, an
 * encrypted part, a shrouded key). Sectigo's bundles use 2048 and OpenSSL's exports
 * 2048; the count is read before anything is derived, so that a hostile bundle (one
 * that needs no password to stall: the MAC key is derived first) is refused in
 * milliseconds.
 */
#define TRISA_BUNDLE_MAX_ITERATIONS 1000000

/** The most iterations all the key derivations of one bundle may ask for together. */
#define TRISA_BUNDLE_MAX_TOTAL_ITERATIONS 4000000

/** The most bags one PKCS#12 member may hold (all levels), and certificates a bundle. */
#define TRISA_BUNDLE_MAX_BAGS  256
#define TRISA_BUNDLE_MAX_CERTS 1000

/**
 * Add one member by its name's extension (trisa_bundle_member_type()): `.p12` / `.pfx`
 * (PKCS#12), `.pem` / `.crt` / `.cer` (PEM or DER, one or more certificates), `.der`,
 * `.p7b` / `.p7c` (PKCS#7 certificates, PEM or DER). Members with other extensions are
 * ignored (counted in trisa_bundle_ignored()).
 *
 * Every iteration count of a PKCS#12 (MAC, encrypted parts, shrouded keys) is read and
 * checked against TRISA_BUNDLE_MAX_ITERATIONS and the bundle's remaining share of
 * TRISA_BUNDLE_MAX_TOTAL_ITERATIONS before anything is derived; bags are bounded by
 * TRISA_BUNDLE_MAX_BAGS and certificates by TRISA_BUNDLE_MAX_CERTS. Member names in
 * messages are escaped (a name from a ZIP may hold terminal controls).
 *
 * @return 0, TRISA_EBUNDLE (unparsable member, named; too many iterations, bags or
 *         certificates), TRISA_EPASSWORD (PKCS#12 MAC or decryption fails with the
 *         password), TRISA_ELEGACY (a member needs the legacy provider and it could not be
 *         loaded), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_add_member(trisa_bundle *b, const char *name, const void *data,
                                         size_t len);

/**
 * Open a ZIP held in memory: trisa_bundle_new(), trisa_bundle_zip_read(), then
 * trisa_bundle_add_member() for each entry.
 * @return as those functions; TRISA_EBUNDLE when the ZIP holds no certificate.
 */
TRISA_EXTERN int trisa_bundle_open_zip(trisa_bundle **out, const void *data, size_t len,
                                       const trisa_bundle_options *opts);

/**
 * Open a ZIP file (at most 64 MiB), or a single PKCS#12 / PEM / DER / PKCS#7 file when
 * @p path's extension is one of the member extensions.
 * @return as trisa_bundle_open_zip(), and TRISA_ENOTFOUND, TRISA_EIO, TRISA_ETOOBIG.
 */
TRISA_EXTERN int trisa_bundle_open_file(trisa_bundle **out, const char *path,
                                        const trisa_bundle_options *opts);

/**
 * Add a private key held by the caller (a key file, or a key on a PKCS#11 token). The
 * bundle takes its own reference; such keys are never written out by trisa_bundle_write.
 * @return 0, TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_bundle_add_key(trisa_bundle *b, EVP_PKEY *key);

/**
 * Read a PEM (or DER) private key file and add it as with trisa_bundle_add_key().
 * @param password for an encrypted key; NULL for none.
 * @return 0, TRISA_ENOTFOUND, TRISA_EIO, TRISA_EKEY, TRISA_EPASSWORD.
 */
TRISA_EXTERN int trisa_bundle_add_key_file(trisa_bundle *b, const char *path, const char *password);

/** Members that were ignored for their extension. */
TRISA_EXTERN size_t trisa_bundle_ignored(const trisa_bundle *b);

/** Certificates read from the members so far. */
TRISA_EXTERN size_t trisa_bundle_cert_count(const trisa_bundle *b);

/**
 * Find the identities: a leaf is a certificate whose public key matches a key (the
 * caller's or one from a PKCS#12 member); with no key at all, each end-entity
 * (non-CA) certificate is a leaf. Each leaf's chain is built from the bundle's
 * certificates by issuer/subject names and authority/subject key identifiers, whatever
 * their order. May be called again after adding keys.
 * @return 0; TRISA_EBUNDLE (no certificate), TRISA_EMISMATCH (an end-entity certificate
 *         matches none of the keys: the message gives the certificate's SHA-256
 *         fingerprint and that of each key's public key), TRISA_EVERIFY (a certificate
 *         that is not a CA, basicConstraints CA:FALSE, signed another one of the bundle:
 *         the message names both).
 */
TRISA_EXTERN int trisa_bundle_resolve(trisa_bundle *b);

/** Identities found by trisa_bundle_resolve() (leaf + chain + key when known). */
TRISA_EXTERN size_t trisa_bundle_identity_count(const trisa_bundle *b);

/** The commonName of identity @p index's leaf, borrowed; NULL when absent or out of range. */
TRISA_EXTERN const char *trisa_bundle_common_name(const trisa_bundle *b, size_t index);

/** Identity @p index's leaf certificate, borrowed; NULL when out of range. */
TRISA_EXTERN X509 *trisa_bundle_leaf(const trisa_bundle *b, size_t index);

/** Identity @p index's chain as chain.pem has it: the intermediates, the leaf's issuer
 *  first, without the self-signed root (borrowed: the stack and its certificates live as
 *  long as the bundle); NULL when out of range. */
const STACK_OF(X509) * trisa_bundle_chain(const trisa_bundle *b, size_t index);

/** Whether identity @p index's key came from the bundle (a server-generated key). */
TRISA_EXTERN int trisa_bundle_has_bundle_key(const trisa_bundle *b, size_t index);

/** The self-signed root the bundle holds for identity @p index, borrowed; NULL when the
 *  bundle has none or index is out of range. */
TRISA_EXTERN X509 *trisa_bundle_root(const trisa_bundle *b, size_t index);

/** The private key matched to identity @p index (the caller's or the bundle's), borrowed;
 *  NULL when none is known or index is out of range. */
TRISA_EXTERN EVP_PKEY *trisa_bundle_key(const trisa_bundle *b, size_t index);

/* ---------------------------------------------------------------------------------- */
/* Verification and the report                                                        */
/* ---------------------------------------------------------------------------------- */

/** What to check; NULL means the defaults (which need a trust anchor to pass). */
typedef struct trisa_bundle_verify_options {
    unsigned version;             /**< TRISA_BUNDLE_VERIFY_OPTIONS_VERSION */
    const char *trust_file;       /**< PEM file of trust anchors */
    int trust_bundle_root;        /**< trust the bundle's own self-signed root */
    time_t at;                    /**< verification time; 0 means now */
    const char *crl_file;         /**< PEM or DER CRL checked for the leaf; NULL: none */
    const char *const *dns_names; /**< names required in the leaf's SANs */
    size_t dns_count;
    unsigned min_rsa_bits; /**< default 2048 */
} trisa_bundle_verify_options;

#define TRISA_BUNDLE_VERIFY_OPTIONS_VERSION 1
#define TRISA_BUNDLE_VERIFY_OPTIONS_INIT                                                           \
    {                                                                                              \
        TRISA_BUNDLE_VERIFY_OPTIONS_VERSION, NULL, 0, 0, NULL, NULL, 0, 0                          \
    }

/** The result of trisa_bundle_verify(). Opaque. */
typedef struct trisa_bundle_report trisa_bundle_report;

/**
 * Verify identity @p index: the chain with OpenSSL's verifier (X509_verify_cert) for
 * both TLS client and TLS server purposes at the given time, against the trust anchors
 * (or the bundle's root when asked), the CRL when given; digitalSignature key usage;
 * the DNS names in the SANs; RSA keys of at least min_rsa_bits and no SHA-1 signature
 * on the leaf and the intermediates; the key match.
 *
 * @param out receives the report (also on TRISA_EVERIFY); free with
 *            trisa_bundle_report_free().
 * @return 0 when every check passed; TRISA_EVERIFY when one failed (the message names
 *         the first); TRISA_EINVAL (bad index, no trust anchor given), TRISA_ENOTFOUND /
 *         TRISA_EIO (trust or CRL file), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_verify(trisa_bundle_report **out, const trisa_bundle *b, size_t index,
                                     const trisa_bundle_verify_options *opts);

/** Whether every check passed. */
TRISA_EXTERN int trisa_bundle_report_ok(const trisa_bundle_report *r);

/**
 * The report as text for people, or as JSON (one object: subject, issuers, serial,
 * notBefore, notAfter, daysLeft, fingerprints, root, checks[]).
 * @param out receives a NUL-terminated string; free with free().
 * @return 0, TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_report_text(char **out, const trisa_bundle_report *r);
TRISA_EXTERN int trisa_bundle_report_json(char **out, const trisa_bundle_report *r);

/** Free a report. NULL is ignored. */
TRISA_EXTERN void trisa_bundle_report_free(trisa_bundle_report *r);

/* ---------------------------------------------------------------------------------- */
/* Writing                                                                            */
/* ---------------------------------------------------------------------------------- */

/** How to write an identity's files; NULL means the defaults. */
typedef struct trisa_bundle_write_options {
    unsigned version; /**< TRISA_BUNDLE_WRITE_OPTIONS_VERSION */
    int force;        /**< replace existing files (default: refuse, write nothing) */
    /** encrypt key.pem as trisa_keygen_to_pem() does (PKCS#8, AES-256-CBC, PBKDF2 with
     *  TRISA_KEYGEN_PBKDF2_ITER iterations); NULL: plain */
    const char *key_password;
} trisa_bundle_write_options;

#define TRISA_BUNDLE_WRITE_OPTIONS_VERSION 1
#define TRISA_BUNDLE_WRITE_OPTIONS_INIT                                                            \
    {                                                                                              \
        TRISA_BUNDLE_WRITE_OPTIONS_VERSION, 0, NULL                                                \
    }

/**
 * Write identity @p index into folder @p dir (which must exist): cert.pem (the leaf),
 * chain.pem (intermediates, leaf's issuer first), fullchain.pem (leaf + intermediates),
 * root.pem (when the chain ends at a self-signed certificate) and key.pem (mode 0600)
 * only when the key came from the bundle. The files are written as one set: every target
 * is checked before the first is written, so an existing file stops the whole write, and a
 * failure while writing (a full disk) leaves every file as it was.
 * @return 0, TRISA_EEXISTS (names the file), TRISA_EIO, TRISA_EINVAL, TRISA_ECRYPTO,
 *         TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_write(const trisa_bundle *b, size_t index, const char *dir,
                                    const trisa_bundle_write_options *opts);

/** Algorithms for trisa_bundle_export_p12() and trisa_bundle_p12_build(). */
enum trisa_p12_format {
    TRISA_P12_MODERN = 0, /**< AES-256-CBC with PBKDF2, SHA-256 MAC */
    TRISA_P12_LEGACY = 1, /**< 3DES (pbeWithSHA1And3-KeyTripleDES-CBC), SHA-1 MAC */
    /** As the Sectigo IoT Manager makes them: the key under 3DES, the certificates under
     * 40-bit RC2 (OpenSSL's legacy provider), 2048 iterations, a SHA-1 MAC of 1
     * iteration. For emulators and tests: never use it to protect a real key. */
    TRISA_P12_SECTIGO = 2
};

/**
 * Export identity @p index (its key must be known to the bundle as an in-memory key:
 * a software key or one from the bundle) as a PKCS#12 with the leaf, the chain and the
 * root, built by trisa_bundle_p12_build() with the leaf's CN as friendly name.
 * @param out receives the DER bytes; free with free().
 * @return 0, TRISA_EINVAL (no key), TRISA_ELEGACY, TRISA_ECRYPTO, TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_export_p12(unsigned char **out, size_t *out_len,
                                         const trisa_bundle *b, size_t index, const char *password,
                                         enum trisa_p12_format format);

/** How to build a PKCS#12 with trisa_bundle_p12_build(); NULL means the defaults. */
typedef struct trisa_bundle_p12_options {
    unsigned version;             /**< TRISA_BUNDLE_P12_OPTIONS_VERSION */
    enum trisa_p12_format format; /**< the algorithms; default TRISA_P12_MODERN */
    const char *friendly_name;    /**< of the key and the leaf; NULL: the leaf's CN */
    /** Where the algorithms are fetched; NULL: a private context with OpenSSL's default
     * provider, and its legacy one for TRISA_P12_SECTIGO. No global state is changed. */
    OSSL_LIB_CTX *libctx;
} trisa_bundle_p12_options;

#define TRISA_BUNDLE_P12_OPTIONS_VERSION 1
#define TRISA_BUNDLE_P12_OPTIONS_INIT                                                              \
    {                                                                                              \
        TRISA_BUNDLE_P12_OPTIONS_VERSION, TRISA_P12_MODERN, NULL, NULL                             \
    }

/**
 * The one PKCS#12 builder, for a key and certificates that are not in a bundle (a
 * server that issues certificates with keys it makes, as `sectigo serve` does): the key
 * (shrouded), the leaf, then @p chain in order (issuing CA first, the root last if
 * wanted), with a MAC, in the algorithms of @p opts->format. Every iteration count is
 * 2048 (the MAC of TRISA_P12_SECTIGO: 1), well within what trisa_bundle_add_member()
 * accepts.
 *
 * @param out       receives the DER bytes; free with free().
 * @param key       the private key (borrowed); it must be exportable (not on a token).
 * @param leaf      its certificate (borrowed).
 * @param chain     @p chain_len more certificates (borrowed), or NULL.
 * @param password  the PKCS#12 password; NULL is the empty one.
 * @return 0, TRISA_EINVAL (no key, leaf or output; the key does not match the leaf),
 *         TRISA_ELEGACY (TRISA_P12_SECTIGO without the legacy provider), TRISA_ECRYPTO,
 *         TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_bundle_p12_build(unsigned char **out, size_t *out_len, EVP_PKEY *key,
                                        X509 *leaf, X509 *const *chain, size_t chain_len,
                                        const char *password, const trisa_bundle_p12_options *opts);

/**
 * Parse a verification time as the tools take it (trisa_bundle_verify_options.at):
 * `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SSZ`, or `@SECONDS` since the epoch.
 * Dates that do not exist (2021-02-30, 2023-02-29) are refused, not moved to the next
 * month, and so is the epoch itself (1970-01-01T00:00:00Z), which the options would read
 * as "now"; years run from 1970 to 9999.
 * @return 0, or TRISA_EINVAL naming the text and the forms taken.
 */
TRISA_EXTERN int trisa_bundle_parse_time(time_t *out, const char *text);

/** Free a bundle (its keys are wiped). NULL is ignored. */
TRISA_EXTERN void trisa_bundle_free(trisa_bundle *b);

#ifdef __cplusplus
}
#endif
#endif
