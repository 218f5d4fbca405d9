/**
 * @file trisa/keygen.h
 * @brief Software keys: generate RSA and EC keys, write and read them as PEM / PKCS#8.
 *
 * Keys are OpenSSL EVP_PKEY objects, so a key from a PKCS#11 token (hsm module) can be
 * used wherever a generated one is. Free them with trisa_keygen_free() (EVP_PKEY_free).
 */
#ifndef TRISA_KEYGEN_H
#define TRISA_KEYGEN_H

#include <stddef.h>

#include <openssl/evp.h>

#include "trisa/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Key algorithms. */
typedef enum trisa_key_type {
    TRISA_KEY_RSA = 1, /**< RSA, e = 65537 */
    TRISA_KEY_EC = 2   /**< ECDSA on a NIST curve */
} trisa_key_type;

/** The current version of trisa_keygen_spec. */
#define TRISA_KEYGEN_SPEC_VERSION 1

/**
 * What key to generate. Start from TRISA_KEYGEN_SPEC_INIT (RSA 4096), or fill one with
 * trisa_keygen_spec_parse().
 */
typedef struct trisa_keygen_spec {
    unsigned int version; /**< TRISA_KEYGEN_SPEC_VERSION */
    trisa_key_type type;  /**< TRISA_KEY_RSA or TRISA_KEY_EC */
    int bits;             /**< RSA: 2048, 3072 or 4096; EC: 256 or 384 (the curve) */
} trisa_keygen_spec;

/** RSA 4096, the TRISA default. */
#define TRISA_KEYGEN_SPEC_INIT                                                                     \
    {                                                                                              \
        TRISA_KEYGEN_SPEC_VERSION, TRISA_KEY_RSA, 4096                                             \
    }

/** Length of a public-key fingerprint as text with its NUL (SHA-256: 32 lower-case hex
 *  pairs separated by colons, 95 characters). */
#define TRISA_KEYGEN_FINGERPRINT_HEX 96

/**
 * Parse a key spec as text: `rsa` (4096), `rsa:2048`, `rsa:3072`, `rsa:4096`,
 * `ec:P-256`, `ec:P-384` (also `ec:prime256v1`, `ec:secp384r1`, `ec:secp256r1`).
 * Case-insensitive.
 *
 * @param out  receives the spec.
 * @param text the spec.
 * @return 0, or TRISA_EINVAL (unknown algorithm, size or curve; message names it).
 */
TRISA_EXTERN int trisa_keygen_spec_parse(trisa_keygen_spec *out, const char *text);

/**
 * Format a spec as canonical text (`rsa:4096`, `ec:P-384`) into @p out.
 * @return 0, or TRISA_EINVAL (bad spec or @p cap too small).
 */
TRISA_EXTERN int trisa_keygen_spec_format(char *out, size_t cap, const trisa_keygen_spec *spec);

/**
 * Generate a key pair.
 *
 * @param out  receives the key; free it with trisa_keygen_free().
 * @param spec what to make; NULL means RSA 4096.
 * @return 0, TRISA_EINVAL (unsupported spec or version), TRISA_ECRYPTO (OpenSSL failed).
 */
TRISA_EXTERN int trisa_keygen_generate(EVP_PKEY **out, const trisa_keygen_spec *spec);

/**
 * Encode a private key as PKCS#8 PEM. With a passphrase the key is encrypted
 * (`ENCRYPTED PRIVATE KEY`: PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256 with
 * TRISA_KEYGEN_PBKDF2_ITER iterations and a random salt); without, it is plain
 * `PRIVATE KEY`.
 *
 * @param out        receives the NUL-terminated PEM text; it holds key material: free it
 *                   with trisa_secret_free().
 * @param out_len    receives its length (may be NULL).
 * @param key        the key (borrowed).
 * @param passphrase NULL or "" for no encryption.
 * @return 0, TRISA_EINVAL, TRISA_ECRYPTO, TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_keygen_to_pem(char **out, size_t *out_len, const EVP_PKEY *key,
                                     const char *passphrase);

/** PBKDF2 iterations used when encrypting a key (OWASP 2023 figure for HMAC-SHA256). */
#define TRISA_KEYGEN_PBKDF2_ITER 600000

/**
 * Write a private key to @p path as PKCS#8 PEM (see trisa_keygen_to_pem()), atomically
 * and with mode 0600.
 *
 * @param flags 0, or TRISA_WRITE_REPLACE to replace an existing file.
 * @return 0, TRISA_EEXISTS (the file exists and replacing was not asked for),
 *         TRISA_EIO, TRISA_ECRYPTO, TRISA_EINVAL. Nothing is left behind on error.
 */
TRISA_EXTERN int trisa_keygen_save(const char *path, const EVP_PKEY *key, const char *passphrase,
                                   unsigned flags);

/**
 * The most key-derivation work an encrypted key may ask for: iterations of PBKDF2 or of
 * a PKCS#5 / PKCS#12 PBE, or N * r * p for scrypt. Keys written by trisa use 600000
 * (TRISA_KEYGEN_PBKDF2_ITER); `openssl pkcs8` uses 2048. A count is read before anything
 * is derived, so a hostile file is refused in milliseconds instead of holding the
 * process for minutes.
 */
#define TRISA_KEYGEN_MAX_ITERATIONS 1000000

/**
 * Decode a private key from memory: PEM or DER; PKCS#8 (plain or encrypted), or the
 * traditional RSA / EC forms. An encrypted key whose key derivation asks for more than
 * TRISA_KEYGEN_MAX_ITERATIONS is refused (TRISA_EKEY) before the passphrase is used.
 *
 * @param out        receives the key; free it with trisa_keygen_free().
 * @param data, len  the encoded key.
 * @param passphrase for an encrypted key; NULL when none was given.
 * @param name       what to call the source in messages (a file name); NULL: "key".
 * @return 0, TRISA_EPASSWORD (encrypted and the passphrase is missing or wrong),
 *         TRISA_EKEY (not a private key), TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_keygen_decode(EVP_PKEY **out, const unsigned char *data, size_t len,
                                     const char *passphrase, const char *name);

/**
 * Read a private key file (at most 1 MiB) with trisa_keygen_decode().
 * @return as trisa_keygen_decode(), plus TRISA_ENOTFOUND, TRISA_EIO, TRISA_ETOOBIG.
 */
TRISA_EXTERN int trisa_keygen_load(EVP_PKEY **out, const char *path, const char *passphrase);

/**
 * Whether a key is one trisa makes and Sectigo certifies: RSA of 2048, 3072 or 4096 bits
 * with a public exponent of at least 65537, or EC on P-256 or P-384. For an existing key
 * (renewal, a key on a token) before a request is made for it.
 *
 * @param name what to call the key in the message (a file name); NULL: "key".
 * @return 0, TRISA_EKEY with the reason ("k.pem: RSA-1024 is too weak: ...", "EC curve
 *         secp256k1 ...", "ED25519 keys are not supported ..."), TRISA_EINVAL.
 */
TRISA_EXTERN int trisa_keygen_check(const EVP_PKEY *key, const char *name);

/**
 * SHA-256 of the key's DER SubjectPublicKeyInfo, the fingerprint other tools show
 * (`openssl pkey -pubout -outform DER | sha256sum`).
 *
 * @param out 32 bytes.
 * @return 0, TRISA_EINVAL, TRISA_ECRYPTO.
 */
TRISA_EXTERN int trisa_keygen_fingerprint(unsigned char out[32], const EVP_PKEY *key);

/**
 * The same fingerprint as text, lower-case hex pairs separated by colons
 * ("3f:a0:...:9c"): the form every trisa tool prints, in its human and JSON output
 * alike, for public keys and certificates. (`sha256sum` prints it without the colons.)
 * @param out TRISA_KEYGEN_FINGERPRINT_HEX bytes.
 * @return 0, TRISA_EINVAL, TRISA_ECRYPTO.
 */
TRISA_EXTERN int trisa_keygen_fingerprint_hex(char out[TRISA_KEYGEN_FINGERPRINT_HEX],
                                              const EVP_PKEY *key);

/**
 * Describe a key for people: "RSA 4096", "EC P-384". Writes at most @p cap bytes.
 * @return 0, or TRISA_EINVAL (NULL key, too small a buffer).
 */
TRISA_EXTERN int trisa_keygen_describe(char *out, size_t cap, const EVP_PKEY *key);

/** Free a key. NULL is ignored. */
TRISA_EXTERN void trisa_keygen_free(EVP_PKEY *key);

#ifdef __cplusplus
}
#endif
#endif
