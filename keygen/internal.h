/* Shared between keygen/ and the modules that read keys (pkcs12/); not installed. */
#ifndef TRISA_KEYGEN_INTERNAL_H
#define TRISA_KEYGEN_INTERNAL_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* The one private-key decoder: trisa_keygen_decode() in a library context (NULL: the
 * default one), so that a bundle's legacy algorithms are found in its own context. The
 * iteration count of an encrypted key is checked before anything is derived. */
int keygen_decode_ex(EVP_PKEY **out, const unsigned char *data, size_t len, const char *passphrase,
                     const char *name, OSSL_LIB_CTX *libctx);

/* The work a password-based encryption algorithm asks for, read from its parameters
 * without deriving anything: the iteration count of PBKDF2 (PBES2) or of a PKCS#5 v1 /
 * PKCS#12 PBE, or N * r * p for scrypt (counts that do not fit count as UINT64_MAX).
 * *kdf names the function for messages. Returns 0, or TRISA_EINVAL for an algorithm
 * that is none of these or whose parameters do not parse (no message recorded). */
int keygen_kdf_cost(const X509_ALGOR *alg, uint64_t *cost, const char **kdf);

#endif
