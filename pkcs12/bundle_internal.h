/* The bundle's innards, shared by the pkcs12/ sources only. */
#ifndef TRISA_PKCS12_BUNDLE_INTERNAL_H
#define TRISA_PKCS12_BUNDLE_INTERNAL_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "trisa/bundle.h"

typedef struct bundle_key {
    EVP_PKEY *key;
    int from_bundle; /* server-generated: may be written out */
} bundle_key;

typedef struct bundle_ident {
    X509 *leaf;             /* borrowed from certs */
    EVP_PKEY *key;          /* borrowed from keys; NULL when no key was given */
    int bundle_key;         /* the key came from a PKCS#12 member */
    STACK_OF(X509) * chain; /* intermediates, leaf's issuer first; certs borrowed */
    X509 *root;             /* self-signed top found in the bundle, borrowed; or NULL */
    char *cn;
} bundle_ident;

struct trisa_bundle {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov_default;
    OSSL_PROVIDER *prov_legacy;
    char *password;
    trisa_bundle_zip_limits limits;
    STACK_OF(X509) * certs;
    bundle_key *keys;
    size_t nkeys;
    bundle_ident *ids;
    size_t nids;
    size_t ignored;
    uint64_t kdf_budget; /* iterations key derivations may still spend (all members) */
};

/* SHA-256 of a certificate (or of a key's SubjectPublicKeyInfo) as colon hex: 96 bytes. */
void bundle_cert_fp(char out[96], X509 *x);
void bundle_key_fp(char out[96], EVP_PKEY *k);
/* The subject as an RFC 2253 string; caller frees. NULL on allocation failure. */
char *bundle_name(const X509_NAME *n);
/* A member or entry name from a ZIP, safe to print (escaped, cut), into out. */
const char *bundle_shown(char out[160], const char *name);

#endif
