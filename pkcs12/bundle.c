/*
 * Bundles: members (PKCS#12, PEM, DER, PKCS#7), keys, identities and chains, writing.
 *
 * PKCS#12 is unpacked bag by bag from d2i_PKCS12 rather than through OSSL_STORE (which
 * drops certificates from 3DES bundles) or PKCS12_parse (which decrypts in the default
 * library context): each bundle has its own library context with the legacy provider
 * for the RC2 / 3DES algorithms of Sectigo's bundles, and no global state is touched.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "keygen/internal.h"
#include "pkcs12/bundle_internal.h"
#include "trisa/keygen.h"

/* A fuzz build derives keys over ten times slower (AddressSanitizer's allocator under the
 * allocations OpenSSL makes in every iteration): it takes a hundredth of the counts, so
 * that an input at a limit stays well within the fuzzer's timeout. The checks are the
 * same; the seeds of fuzz/corpus/ sit on both sides of both limits. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define KDF_MAX   (TRISA_BUNDLE_MAX_ITERATIONS / 100)
#define KDF_TOTAL (TRISA_BUNDLE_MAX_TOTAL_ITERATIONS / 100)
#else
#define KDF_MAX   TRISA_BUNDLE_MAX_ITERATIONS
#define KDF_TOTAL TRISA_BUNDLE_MAX_TOTAL_ITERATIONS
#endif

#define MAX_FILE     (64u * 1024u * 1024u + 1024u)
#define MAX_KEY_FILE (1024u * 1024u)

void bundle_cert_fp(char out[96], X509 *x)
{
    trisa_cert_fingerprint(out, x);
}

void bundle_key_fp(char out[96], EVP_PKEY *k)
{
    if (trisa_keygen_fingerprint_hex(out, k) != 0) {
        out[0] = '\0';
        ERR_clear_error();
    }
}

char *bundle_name(const X509_NAME *n)
{
    return trisa_name_string(n);
}

const char *bundle_shown(char out[160], const char *name)
{
    return trisa_printable(out, 160, name != NULL ? name : "");
}

static char *common_name(X509 *x)
{
    X509_NAME *n = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    char *cn = NULL;
    int len;
    if (i < 0) {
        return NULL;
    }
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    if (len >= 0 && memchr(utf8, '\0', (size_t)len) == NULL) {
        cn = strdup((char *)utf8);
    }
    OPENSSL_free(utf8);
    return cn;
}

/* ---------------------------------------------------------------------------------- */

/* The providers are loaded on first need (a PKCS#12 member, a key file): bundles of
 * plain certificates never pay for them. */
static int ensure_providers(trisa_bundle *b)
{
    if (b->prov_default != NULL) {
        return 0;
    }
    b->prov_default = OSSL_PROVIDER_load(b->libctx, "default");
    if (b->prov_default == NULL) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot load OpenSSL's default provider");
    }
    /* Absence is only an error when a member needs RC2 (see decrypt_failed). */
    b->prov_legacy = OSSL_PROVIDER_load(b->libctx, "legacy");
    ERR_clear_error();
    return 0;
}

int trisa_bundle_new(trisa_bundle **out, const trisa_bundle_options *opts)
{
    trisa_bundle *b;
    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_new: no output");
    }
    *out = NULL;
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    b->libctx = OSSL_LIB_CTX_new();
    b->certs = sk_X509_new_null();
    b->kdf_budget = KDF_TOTAL;
    if (b->libctx == NULL || b->certs == NULL) {
        trisa_bundle_free(b);
        return trisa_error_set_ssl(TRISA_ENOMEM, "cannot create an OpenSSL library context");
    }
    if (opts != NULL) {
        if (opts->password != NULL && (b->password = OPENSSL_strdup(opts->password)) == NULL) {
            trisa_bundle_free(b);
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        b->limits = opts->limits;
    }
    *out = b;
    return 0;
}

static void free_ids(trisa_bundle *b)
{
    for (size_t i = 0; i < b->nids; i++) {
        sk_X509_free(b->ids[i].chain);
        free(b->ids[i].cn);
    }
    free(b->ids);
    b->ids = NULL;
    b->nids = 0;
}

void trisa_bundle_free(trisa_bundle *b)
{
    if (b == NULL) {
        return;
    }
    free_ids(b);
    sk_X509_pop_free(b->certs, X509_free);
    for (size_t i = 0; i < b->nkeys; i++) {
        EVP_PKEY_free(b->keys[i].key);
    }
    free(b->keys);
    if (b->password != NULL) {
        OPENSSL_clear_free(b->password, strlen(b->password));
    }
    OSSL_PROVIDER_unload(b->prov_legacy);
    OSSL_PROVIDER_unload(b->prov_default);
    OSSL_LIB_CTX_free(b->libctx);
    free(b);
}

/* Takes ownership of x. Duplicates (the same certificate in several members) are dropped. */
static int add_cert(trisa_bundle *b, X509 *x)
{
    if (sk_X509_num(b->certs) >= TRISA_BUNDLE_MAX_CERTS) {
        X509_free(x);
        return trisa_error_set(TRISA_EBUNDLE, "the bundle holds more than %d certificates",
                               TRISA_BUNDLE_MAX_CERTS);
    }
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        if (X509_cmp(sk_X509_value(b->certs, i), x) == 0) {
            X509_free(x);
            return 0;
        }
    }
    if (sk_X509_push(b->certs, x) <= 0) {
        X509_free(x);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    return 0;
}

/* Takes a reference of its own. */
static int add_key(trisa_bundle *b, EVP_PKEY *k, int from_bundle)
{
    bundle_key *nk;
    for (size_t i = 0; i < b->nkeys; i++) {
        if (EVP_PKEY_eq(b->keys[i].key, k) == 1) {
            return 0;
        }
    }
    nk = realloc(b->keys, (b->nkeys + 1) * sizeof(*nk));
    if (nk == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    b->keys = nk;
    if (EVP_PKEY_up_ref(k) != 1) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot reference key");
    }
    b->keys[b->nkeys].key = k;
    b->keys[b->nkeys].from_bundle = from_bundle;
    b->nkeys++;
    return 0;
}

/* A key bag's key, as the bundle's own. */
static int add_bag_key(trisa_bundle *b, const PKCS8_PRIV_KEY_INFO *p8, const char *member)
{
    EVP_PKEY *k = EVP_PKCS82PKEY_ex(p8, b->libctx, NULL);
    int rc;
    if (k == NULL) {
        return trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': unreadable key", member);
    }
    rc = add_key(b, k, 1);
    EVP_PKEY_free(k);
    return rc;
}

int trisa_bundle_add_key(trisa_bundle *b, EVP_PKEY *key)
{
    if (b == NULL || key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_add_key: no bundle or no key");
    }
    return add_key(b, key, 0);
}

int trisa_bundle_add_key_file(trisa_bundle *b, const char *path, const char *password)
{
    unsigned char *data = NULL;
    size_t len = 0;
    EVP_PKEY *k = NULL;
    int rc;

    if (b == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_add_key_file: no bundle or path");
    }
    if ((rc = ensure_providers(b)) != 0) {
        return rc;
    }
    /* The messages of both name the file already. */
    if ((rc = trisa_file_read(&data, &len, path, MAX_KEY_FILE)) == 0 &&
        (rc = keygen_decode_ex(&k, data, len, password, path, b->libctx)) == 0) {
        rc = add_key(b, k, 0);
    }
    EVP_PKEY_free(k);
    trisa_free_secret(data, len);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Members                                                                            */

static int is_legacy_alg(int nid)
{
    switch (nid) {
    case NID_pbe_WithSHA1And40BitRC2_CBC:
    case NID_pbe_WithSHA1And128BitRC2_CBC:
    case NID_pbe_WithSHA1And40BitRC4:
    case NID_pbe_WithSHA1And128BitRC4:
    case NID_pbeWithMD5AndDES_CBC:
    case NID_pbeWithSHA1AndDES_CBC:
    case NID_pbeWithMD5AndRC2_CBC:
    case NID_pbeWithSHA1AndRC2_CBC:
        return 1;
    default:
        return 0;
    }
}

static int decrypt_failed(const trisa_bundle *b, const char *member, const X509_ALGOR *alg,
                          int mac_checked, const char *what)
{
    /* member is already escaped by the caller */
    int nid = NID_undef;
    char algname[80] = "unknown algorithm";
    if (alg != NULL) {
        nid = OBJ_obj2nid(alg->algorithm);
        OBJ_obj2txt(algname, sizeof(algname), alg->algorithm, 0);
    }
    if (is_legacy_alg(nid) && b->prov_legacy == NULL) {
        return trisa_error_set(TRISA_ELEGACY,
                               "member '%s': the %s are encrypted with %s, which needs OpenSSL's "
                               "legacy provider (legacy.so), and it could not be loaded "
                               "(check OPENSSL_MODULES)",
                               member, what, algname);
    }
    if (!mac_checked) {
        return trisa_error_set_ssl(TRISA_EPASSWORD, "member '%s': cannot decrypt the %s (%s)",
                                   member, what, algname);
    }
    return trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': cannot decrypt the %s (%s)", member,
                               what, algname);
}

/* Spend part of the bundle's key-derivation budget, before the derivation: one derivation
 * may not ask for more than TRISA_BUNDLE_MAX_ITERATIONS, all of them together not more
 * than the budget left. */
static int spend(trisa_bundle *b, const char *member, const char *what, const X509_ALGOR *alg)
{
    uint64_t cost = 0;
    const char *kdf = NULL;
    if (keygen_kdf_cost(alg, &cost, &kdf) != 0) {
        char oid[80] = "?";
        if (alg != NULL) {
            OBJ_obj2txt(oid, sizeof(oid), alg->algorithm, 0);
        }
        return trisa_error_set(TRISA_EBUNDLE,
                               "member '%s': the %s are encrypted with %s, which trisa does not "
                               "read",
                               member, what, oid);
    }
    if (cost > KDF_MAX) {
        return trisa_error_set(TRISA_EBUNDLE,
                               "member '%s': decrypting the %s would take %llu iterations of "
                               "%s; at most %d are accepted (Sectigo's bundles use 2048)",
                               member, what, (unsigned long long)cost, kdf, KDF_MAX);
    }
    if (cost > b->kdf_budget) {
        return trisa_error_set(TRISA_EBUNDLE,
                               "member '%s': decrypting the %s would take the bundle's key "
                               "derivations over %d iterations in all",
                               member, what, KDF_TOTAL);
    }
    b->kdf_budget -= cost;
    return 0;
}

/* Count the bags (all levels) and spend the budget of every shrouded key among them,
 * before any of them is decrypted. */
static int survey_bags(trisa_bundle *b, const char *member, const STACK_OF(PKCS12_SAFEBAG) * bags,
                       size_t *nbags, int depth)
{
    if (depth > 3) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': PKCS#12 bags nested too deeply",
                               member);
    }
    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
        const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
        int rc = 0;
        if (++*nbags > TRISA_BUNDLE_MAX_BAGS) {
            return trisa_error_set(TRISA_EBUNDLE, "member '%s': more than %d PKCS#12 bags", member,
                                   TRISA_BUNDLE_MAX_BAGS);
        }
        switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_pkcs8ShroudedKeyBag: {
            const X509_ALGOR *alg = NULL;
            X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
            rc = spend(b, member, "private key", alg);
            break;
        }
        case NID_safeContentsBag:
            rc = survey_bags(b, member, PKCS12_SAFEBAG_get0_safes(bag), nbags, depth + 1);
            break;
        default:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int add_bags(trisa_bundle *b, const char *member, const STACK_OF(PKCS12_SAFEBAG) * bags,
                    const char *pass, int passlen, int mac_checked, int depth)
{
    int rc = 0;
    if (depth > 3) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': PKCS#12 bags nested too deeply",
                               member);
    }
    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags) && rc == 0; i++) {
        const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
        PKCS8_PRIV_KEY_INFO *p8 = NULL;
        X509 *x;
        switch (PKCS12_SAFEBAG_get_nid(bag)) {
        case NID_keyBag:
            rc = add_bag_key(b, PKCS12_SAFEBAG_get0_p8inf(bag), member);
            break;
        case NID_pkcs8ShroudedKeyBag:
            /* Its iterations were counted by survey_bags before we got here. */
            p8 = PKCS12_decrypt_skey_ex(bag, pass, passlen, b->libctx, NULL);
            if (p8 == NULL) {
                const X509_ALGOR *alg = NULL;
                X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
                rc = decrypt_failed(b, member, alg, mac_checked, "private key");
                break;
            }
            rc = add_bag_key(b, p8, member);
            PKCS8_PRIV_KEY_INFO_free(p8);
            break;
        case NID_certBag:
            if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate) {
                break;
            }
            x = PKCS12_SAFEBAG_get1_cert(bag);
            if (x == NULL) {
                rc = trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': unreadable certificate",
                                         member);
                break;
            }
            rc = add_cert(b, x);
            break;
        case NID_safeContentsBag:
            rc = add_bags(b, member, PKCS12_SAFEBAG_get0_safes(bag), pass, passlen, mac_checked,
                          depth + 1);
            break;
        default:
            break; /* CRL and secret bags: nothing we use */
        }
    }
    return rc;
}

#define MAX_SAFES 16 /* authenticated safes (PKCS#7 parts) in one PKCS#12 */

/* The plain parts' bags, unpacked once: they are surveyed before anything is derived
 * and added after the MAC is checked. */
typedef struct p12_parts {
    STACK_OF(PKCS7) * safes;
    STACK_OF(PKCS12_SAFEBAG) * plain[MAX_SAFES];
} p12_parts;

/* Every count that can be read before a derivation: the MAC's, each encrypted part's,
 * each shrouded key's in the plain parts; and the number of parts and bags. */
static int survey_p12(trisa_bundle *b, const char *member, PKCS12 *p12, p12_parts *parts,
                      size_t *nbags)
{
    int nsafes, rc;

    if (PKCS12_mac_present(p12)) {
        const ASN1_INTEGER *iter = NULL;
        uint64_t n = 1;
        PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
        if (iter != NULL && ASN1_INTEGER_get_uint64(&n, iter) != 1) {
            ERR_clear_error();
            n = UINT64_MAX;
        }
        if (n > KDF_MAX) {
            return trisa_error_set(TRISA_EBUNDLE,
                                   "member '%s': the MAC asks for %llu iterations; at most %d "
                                   "are accepted (Sectigo's bundles use 1 or 2048)",
                                   member, (unsigned long long)n, KDF_MAX);
        }
        /* The MAC may be checked twice (the empty password has two encodings). */
        if (2 * n > b->kdf_budget) {
            return trisa_error_set(TRISA_EBUNDLE,
                                   "member '%s': checking the MAC would take the bundle's key "
                                   "derivations over %d iterations in all",
                                   member, KDF_TOTAL);
        }
        b->kdf_budget -= 2 * n;
    }
    parts->safes = PKCS12_unpack_authsafes(p12);
    if (parts->safes == NULL) {
        return trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': unreadable PKCS#12 contents",
                                   member);
    }
    nsafes = sk_PKCS7_num(parts->safes);
    if (nsafes > MAX_SAFES) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': more than %d PKCS#12 parts", member,
                               MAX_SAFES);
    }
    for (int i = 0; i < nsafes; i++) {
        PKCS7 *p7 = sk_PKCS7_value(parts->safes, i);
        int nid = OBJ_obj2nid(p7->type);
        if (nid == NID_pkcs7_data) {
            parts->plain[i] = PKCS12_unpack_p7data(p7);
            if (parts->plain[i] == NULL) {
                return trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': unreadable PKCS#12 bags",
                                           member);
            }
            if ((rc = survey_bags(b, member, parts->plain[i], nbags, 0)) != 0) {
                return rc;
            }
        } else if (nid == NID_pkcs7_encrypted) {
            if (p7->d.encrypted == NULL || p7->d.encrypted->enc_data == NULL ||
                p7->d.encrypted->enc_data->enc_data == NULL) {
                return trisa_error_set(TRISA_EBUNDLE, "member '%s': empty encrypted PKCS#12 part",
                                       member);
            }
            if ((rc = spend(b, member, "certificates", p7->d.encrypted->enc_data->algorithm)) !=
                0) {
                return rc;
            }
        }
    }
    return 0;
}

/* `member` is the member's name, escaped for messages (as in every add_*). */
static int add_p12(trisa_bundle *b, const char *member, const unsigned char *data, size_t len)
{
    const unsigned char *p = data;
    PKCS12 *p12 = NULL;
    p12_parts parts;
    const char *pass = b->password != NULL ? b->password : "";
    int passlen = (int)strlen(pass);
    int mac_checked = 0;
    size_t nbags = 0;
    int rc = 0;

    memset(&parts, 0, sizeof(parts));
    if ((rc = ensure_providers(b)) != 0) {
        return rc;
    }
    ERR_clear_error();
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (p12 == NULL) {
        return trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': not a PKCS#12 file", member);
    }
    /* Nothing is derived before every count that can be read has been. */
    if ((rc = survey_p12(b, member, p12, &parts, &nbags)) != 0) {
        goto done;
    }
    if (PKCS12_mac_present(p12)) {
        if (PKCS12_verify_mac(p12, pass, passlen) != 1) {
            /* The empty password has two encodings; OpenSSL's own parser tries both. */
            if (passlen == 0 && PKCS12_verify_mac(p12, NULL, 0) == 1) {
                pass = NULL;
            } else {
                rc = trisa_error_set(TRISA_EPASSWORD,
                                     "member '%s': wrong PKCS#12 password (MAC check failed)",
                                     member);
                goto done;
            }
        }
        mac_checked = 1;
    }
    for (int i = 0; i < sk_PKCS7_num(parts.safes) && rc == 0; i++) {
        PKCS7 *p7 = sk_PKCS7_value(parts.safes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        int nid = OBJ_obj2nid(p7->type);
        if (nid == NID_pkcs7_data) {
            rc = add_bags(b, member, parts.plain[i], pass, pass != NULL ? passlen : 0, mac_checked,
                          0);
        } else if (nid == NID_pkcs7_encrypted) {
            const X509_ALGOR *alg = p7->d.encrypted->enc_data->algorithm;
            bags = PKCS12_item_decrypt_d2i_ex(
                alg, ASN1_ITEM_rptr(PKCS12_SAFEBAGS), pass, pass != NULL ? passlen : 0,
                p7->d.encrypted->enc_data->enc_data, 1, b->libctx, NULL);
            if (bags == NULL) {
                rc = decrypt_failed(b, member, alg, mac_checked, "certificates");
            } else if ((rc = survey_bags(b, member, bags, &nbags, 0)) == 0) {
                rc = add_bags(b, member, bags, pass, pass != NULL ? passlen : 0, mac_checked, 0);
            }
            sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
        }
    }
done:
    for (int i = 0; i < MAX_SAFES; i++) {
        sk_PKCS12_SAFEBAG_pop_free(parts.plain[i], PKCS12_SAFEBAG_free);
    }
    sk_PKCS7_pop_free(parts.safes, PKCS7_free);
    PKCS12_free(p12);
    return rc;
}

static int add_p7(trisa_bundle *b, const char *member, PKCS7 *p7)
{
    STACK_OF(X509) *certs = NULL;
    int rc = 0;
    if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL) {
        certs = p7->d.sign->cert;
    }
    if (certs == NULL || sk_X509_num(certs) == 0) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': PKCS#7 without certificates", member);
    }
    for (int i = 0; i < sk_X509_num(certs) && rc == 0; i++) {
        X509 *x = sk_X509_value(certs, i);
        if (X509_up_ref(x) != 1) {
            return trisa_error_set_ssl(TRISA_ENOMEM, "cannot reference certificate");
        }
        rc = add_cert(b, x);
    }
    return rc;
}

/* PEM blocks: certificates and PKCS#7; other blocks (keys, CRLs) are not ours to use. */
static int add_pem(trisa_bundle *b, const char *member, const unsigned char *data, size_t len)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    int rc = 0, found = 0;
    if (bio == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long dlen = 0;
        const unsigned char *p;
        if (PEM_read_bio(bio, &name, &header, &der, &dlen) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
                found > 0) {
                ERR_clear_error();
            } else {
                rc = trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': bad PEM", member);
            }
            break;
        }
        p = der;
        if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
            X509 *x = d2i_X509(NULL, &p, dlen);
            if (x == NULL) {
                rc = trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': bad certificate", member);
            } else {
                rc = add_cert(b, x);
                found++;
            }
        } else if (strcmp(name, PEM_STRING_PKCS7) == 0) {
            PKCS7 *p7 = d2i_PKCS7(NULL, &p, dlen);
            if (p7 == NULL) {
                rc = trisa_error_set_ssl(TRISA_EBUNDLE, "member '%s': bad PKCS#7", member);
            } else {
                rc = add_p7(b, member, p7);
                PKCS7_free(p7);
                found++;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, (size_t)dlen);
        if (rc != 0) {
            break;
        }
    }
    BIO_free(bio);
    return rc;
}

/* DER: one or more concatenated certificates, or a PKCS#7. */
static int add_der(trisa_bundle *b, const char *member, const unsigned char *data, size_t len)
{
    const unsigned char *p = data, *end = data + len;
    PKCS7 *p7;
    int rc = 0, n = 0;
    while (p < end && rc == 0) {
        const unsigned char *q = p;
        X509 *x = d2i_X509(NULL, &q, (long)(end - p));
        if (x == NULL) {
            break;
        }
        p = q;
        rc = add_cert(b, x);
        n++;
    }
    if (rc != 0) {
        return rc;
    }
    if (n > 0 && p == end) {
        ERR_clear_error();
        return 0;
    }
    if (n > 0) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': %zu bytes of garbage after DER", member,
                               (size_t)(end - p));
    }
    p = data;
    p7 = d2i_PKCS7(NULL, &p, (long)len);
    if (p7 == NULL) {
        return trisa_error_set_ssl(TRISA_EBUNDLE,
                                   "member '%s': neither a DER certificate nor PKCS#7", member);
    }
    rc = add_p7(b, member, p7);
    PKCS7_free(p7);
    return rc;
}

static const char *extension(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash != NULL ? slash + 1 : name, '.');
    return dot != NULL ? dot + 1 : "";
}

/* The one list of member extensions. */
static const struct {
    const char *ext;
    enum trisa_bundle_member kind;
} member_exts[] = {
    {"p12", TRISA_MEMBER_PKCS12}, {"pfx", TRISA_MEMBER_PKCS12}, {"pem", TRISA_MEMBER_CERTS},
    {"crt", TRISA_MEMBER_CERTS},  {"cer", TRISA_MEMBER_CERTS},  {"der", TRISA_MEMBER_CERTS},
    {"p7b", TRISA_MEMBER_CERTS},  {"p7c", TRISA_MEMBER_CERTS},
};
#define NMEMBER_EXTS (sizeof(member_exts) / sizeof(member_exts[0]))

enum trisa_bundle_member trisa_bundle_member_type(const char *name)
{
    const char *e;
    if (name == NULL) {
        return TRISA_MEMBER_NONE;
    }
    e = extension(name);
    for (size_t i = 0; i < NMEMBER_EXTS; i++) {
        if (strcasecmp(e, member_exts[i].ext) == 0) {
            return member_exts[i].kind;
        }
    }
    return TRISA_MEMBER_NONE;
}

static int looks_pem(const unsigned char *data, size_t len)
{
    static const char tag[] = "-----BEGIN ";
    size_t n = sizeof(tag) - 1;
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(data + i, tag, n) == 0) {
            return 1;
        }
    }
    return 0;
}

int trisa_bundle_add_member(trisa_bundle *b, const char *name, const void *data, size_t len)
{
    enum trisa_bundle_member kind;
    char member[160];
    if (b == NULL || name == NULL || (data == NULL && len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_add_member: missing argument");
    }
    /* The name may come from a hostile ZIP: only its escaped form goes in messages. */
    bundle_shown(member, name);
    if (len > (size_t)0x7fffffff) {
        return trisa_error_set(TRISA_ETOOBIG, "member '%s': too large", member);
    }
    kind = trisa_bundle_member_type(name);
    if (kind == TRISA_MEMBER_NONE) {
        b->ignored++;
        return 0;
    }
    if (len == 0) {
        return trisa_error_set(TRISA_EBUNDLE, "member '%s': empty", member);
    }
    if (kind == TRISA_MEMBER_PKCS12) {
        return add_p12(b, member, data, len);
    }
    if (looks_pem(data, len)) {
        return add_pem(b, member, data, len);
    }
    return add_der(b, member, data, len);
}

int trisa_bundle_open_zip(trisa_bundle **out, const void *data, size_t len,
                          const trisa_bundle_options *opts)
{
    trisa_bundle *b = NULL;
    trisa_bundle_zip *z = NULL;
    int rc;

    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_open_zip: no output");
    }
    *out = NULL;
    if ((rc = trisa_bundle_new(&b, opts)) != 0) {
        goto done;
    }
    if ((rc = trisa_bundle_zip_read(&z, data, len, &b->limits)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < trisa_bundle_zip_count(z); i++) {
        const char *name;
        const unsigned char *bytes;
        size_t n;
        trisa_bundle_zip_entry(z, i, &name, &bytes, &n);
        if ((rc = trisa_bundle_add_member(b, name, bytes, n)) != 0) {
            goto done;
        }
    }
    if (sk_X509_num(b->certs) == 0) {
        trisa_buf exts = TRISA_BUF_INIT;
        for (size_t i = 0; i < NMEMBER_EXTS; i++) {
            trisa_buf_printf(&exts, "%s.%s",
                             i == 0                 ? ""
                             : i + 1 < NMEMBER_EXTS ? ", "
                                                    : " or ",
                             member_exts[i].ext);
        }
        rc = trisa_error_set(TRISA_EBUNDLE, "the ZIP holds no certificate (%zu entries, none %s)",
                             trisa_bundle_zip_count(z), exts.failed ? "a member" : exts.data);
        trisa_buf_free(&exts, 0);
        goto done;
    }
    *out = b;
    b = NULL;
done:
    trisa_bundle_zip_free(z);
    trisa_bundle_free(b);
    return rc;
}

int trisa_bundle_open_file(trisa_bundle **out, const char *path, const trisa_bundle_options *opts)
{
    unsigned char *data = NULL;
    size_t len = 0;
    trisa_bundle *b = NULL;
    int rc;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_open_file: missing argument");
    }
    *out = NULL;
    if ((rc = trisa_file_read(&data, &len, path, MAX_FILE)) != 0) {
        return rc; /* the message names the file */
    }
    if (trisa_bundle_member_type(path) != TRISA_MEMBER_NONE) {
        const char *slash = strrchr(path, '/');
        const char *base = slash != NULL ? slash + 1 : path;
        if ((rc = trisa_bundle_new(&b, opts)) == 0 &&
            (rc = trisa_bundle_add_member(b, base, data, len)) == 0) {
            *out = b;
            b = NULL;
        }
    } else {
        rc = trisa_bundle_open_zip(out, data, len, opts);
        if (rc != 0) {
            char shown_path[160];
            trisa_error_prefix("%s", bundle_shown(shown_path, path));
        }
    }
    trisa_bundle_free(b);
    trisa_free_secret(data, len);
    return rc;
}

size_t trisa_bundle_ignored(const trisa_bundle *b)
{
    return b != NULL ? b->ignored : 0;
}

size_t trisa_bundle_cert_count(const trisa_bundle *b)
{
    return b != NULL ? (size_t)sk_X509_num(b->certs) : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Identities and chains                                                               */

static int self_signed(X509 *x)
{
    return X509_check_issued(x, x) == X509_V_OK;
}

static int is_ca(X509 *x)
{
    return X509_check_ca(x) != 0 || self_signed(x);
}

static int in_stack(STACK_OF(X509) * s, X509 *x)
{
    for (int i = 0; i < sk_X509_num(s); i++) {
        if (sk_X509_value(s, i) == x) {
            return 1;
        }
    }
    return 0;
}

/* Issuer of cur among the bundle's certificates: names and key identifiers must agree
 * (X509_check_issued) and the signature must verify, whatever the order in the files. */
static X509 *find_issuer(const trisa_bundle *b, X509 *cur, STACK_OF(X509) * seen)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *c = sk_X509_value(b->certs, i);
        if (c == cur || in_stack(seen, c)) {
            continue;
        }
        if (X509_check_issued(c, cur) == X509_V_OK && X509_verify(cur, X509_get0_pubkey(c)) > 0) {
            return c;
        }
    }
    ERR_clear_error();
    return NULL;
}

static int build_chain(const trisa_bundle *b, bundle_ident *id)
{
    X509 *cur = id->leaf;
    id->chain = sk_X509_new_null();
    if (id->chain == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (int depth = 0; depth < 16 && !self_signed(cur); depth++) {
        X509 *issuer = find_issuer(b, cur, id->chain);
        if (issuer == NULL || issuer == id->leaf) {
            break; /* missing intermediate: the verifier reports it */
        }
        if (self_signed(issuer)) {
            id->root = issuer;
            break;
        }
        if (sk_X509_push(id->chain, issuer) <= 0) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        cur = issuer;
    }
    return 0;
}

static EVP_PKEY *matching_key(const trisa_bundle *b, X509 *x, int *from_bundle)
{
    EVP_PKEY *pub = X509_get0_pubkey(x);
    if (pub == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < b->nkeys; i++) {
        if (EVP_PKEY_eq(pub, b->keys[i].key) == 1) {
            *from_bundle = b->keys[i].from_bundle;
            return b->keys[i].key;
        }
    }
    ERR_clear_error();
    return NULL;
}

static int mismatch(const trisa_bundle *b, X509 *x)
{
    char cfp[96], kfp[96];
    char *subj = bundle_name(X509_get_subject_name(x));
    trisa_buf keys = TRISA_BUF_INIT;
    int rc;
    bundle_cert_fp(cfp, x);
    for (size_t i = 0; i < b->nkeys; i++) {
        bundle_key_fp(kfp, b->keys[i].key);
        trisa_buf_printf(&keys, "%s%s", i > 0 ? ", " : "", kfp);
    }
    rc = trisa_error_set(TRISA_EMISMATCH,
                         "certificate '%s' (SHA-256 %s) matches none of the keys (public key "
                         "SHA-256 %s)",
                         subj != NULL ? subj : "?", cfp, keys.data != NULL ? keys.data : "");
    trisa_buf_free(&keys, 0);
    free(subj);
    return rc;
}

/* A certificate of the bundle that x signed, or NULL: x acts as a CA. Names and the
 * signature decide, not x's extensions (which may say it is no CA). */
static X509 *issued_by(const trisa_bundle *b, X509 *x)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *c = sk_X509_value(b->certs, i);
        if (c != x && X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(c)) == 0 &&
            X509_verify(c, X509_get0_pubkey(x)) > 0) {
            return c;
        }
    }
    ERR_clear_error();
    return NULL;
}

/* An end-entity certificate that issued another one of the bundle: the chain cannot be
 * valid, and "matches none of the keys" would send the operator looking for a key. */
static int not_a_ca(X509 *x, X509 *child)
{
    char fp[96];
    char *subj = bundle_name(X509_get_subject_name(x));
    char *csubj = bundle_name(X509_get_subject_name(child));
    int rc;
    bundle_cert_fp(fp, x);
    rc = trisa_error_set(TRISA_EVERIFY,
                         "certificate '%s' (SHA-256 %s) issued '%s' but is not a CA "
                         "(basicConstraints CA:FALSE or absent): the bundle's chain is invalid",
                         subj != NULL ? subj : "?", fp, csubj != NULL ? csubj : "?");
    free(subj);
    free(csubj);
    return rc;
}

int trisa_bundle_resolve(trisa_bundle *b)
{
    int n, rc = 0;
    if (b == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_resolve: no bundle");
    }
    free_ids(b);
    n = sk_X509_num(b->certs);
    if (n == 0) {
        return trisa_error_set(TRISA_EBUNDLE, "the bundle holds no certificate");
    }
    b->ids = calloc((size_t)n, sizeof(*b->ids));
    if (b->ids == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(b->certs, i);
        int from_bundle = 0;
        EVP_PKEY *k = matching_key(b, x, &from_bundle);
        bundle_ident *id;
        if (k == NULL) {
            X509 *child;
            if (is_ca(x)) {
                continue;
            }
            if ((child = issued_by(b, x)) != NULL) {
                rc = not_a_ca(x, child);
                goto done;
            }
            if (b->nkeys > 0) {
                rc = mismatch(b, x);
                goto done;
            }
        }
        id = &b->ids[b->nids++];
        id->leaf = x;
        id->key = k;
        id->bundle_key = from_bundle;
        id->cn = common_name(x);
        if ((rc = build_chain(b, id)) != 0) {
            goto done;
        }
    }
    if (b->nids == 0) {
        rc = trisa_error_set(TRISA_EBUNDLE,
                             "the bundle holds %d certificate(s), all CAs: no end-entity "
                             "certificate",
                             n);
    }
done:
    if (rc != 0) {
        free_ids(b);
    }
    return rc;
}

size_t trisa_bundle_identity_count(const trisa_bundle *b)
{
    return b != NULL ? b->nids : 0;
}

const char *trisa_bundle_common_name(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids ? b->ids[index].cn : NULL;
}

X509 *trisa_bundle_leaf(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids ? b->ids[index].leaf : NULL;
}

const STACK_OF(X509) * trisa_bundle_chain(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids ? b->ids[index].chain : NULL;
}

int trisa_bundle_has_bundle_key(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids && b->ids[index].key != NULL && b->ids[index].bundle_key;
}

X509 *trisa_bundle_root(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids ? b->ids[index].root : NULL;
}

EVP_PKEY *trisa_bundle_key(const trisa_bundle *b, size_t index)
{
    return b != NULL && index < b->nids ? b->ids[index].key : NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Writing                                                                            */

int trisa_bundle_write(const trisa_bundle *b, size_t index, const char *dir,
                       const trisa_bundle_write_options *opts)
{
    static const char *const names[5] = {"cert.pem", "chain.pem", "fullchain.pem", "root.pem",
                                         "key.pem"};
    trisa_buf text[5] = {TRISA_BUF_INIT, TRISA_BUF_INIT, TRISA_BUF_INIT, TRISA_BUF_INIT,
                         TRISA_BUF_INIT};
    char *paths[5] = {NULL}, *key = NULL;
    size_t key_len = 0;
    const bundle_ident *id;
    int force = opts != NULL && opts->force;
    trisa_file_set *set = NULL;
    int rc = 0;

    if (b == NULL || dir == NULL || index >= b->nids) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_write: no bundle, folder or identity");
    }
    id = &b->ids[index];
    /* cert.pem, chain.pem, fullchain.pem, root.pem (a root only), key.pem (a bundle key only) */
    rc = trisa_buf_put_cert_pem(&text[0], id->leaf);
    for (int i = 0; rc == 0 && i < sk_X509_num(id->chain); i++) {
        rc = trisa_buf_put_cert_pem(&text[1], sk_X509_value(id->chain, i));
    }
    if (rc == 0 &&
        (trisa_buf_append(&text[2], text[0].data, text[0].len) != 0 ||
         trisa_buf_append(&text[2], text[1].data != NULL ? text[1].data : "", text[1].len) != 0)) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (rc == 0 && id->root != NULL) {
        rc = trisa_buf_put_cert_pem(&text[3], id->root);
    }
    if (rc == 0 && id->key != NULL && id->bundle_key) {
        rc = trisa_keygen_to_pem(&key, &key_len, id->key, opts != NULL ? opts->key_password : NULL);
    }
    if (rc != 0 || (rc = trisa_file_set_new(&set)) != 0) {
        goto done;
    }
    for (int i = 0; i < 5; i++) {
        struct stat st;
        const char *data = i == 4 ? key : text[i].data;
        size_t len = i == 4 ? key_len : text[i].len;
        trisa_buf path = TRISA_BUF_INIT;
        if ((i == 3 && id->root == NULL) || (i == 4 && key == NULL)) {
            continue;
        }
        trisa_buf_printf(&path, "%s/%s", dir, names[i]);
        if ((paths[i] = trisa_buf_detach(&path, NULL)) == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
        /* Every target first, so that an existing file stops the write before any is made. */
        if (!force && lstat(paths[i], &st) == 0) {
            rc = trisa_error_set(TRISA_EEXISTS, "%s exists; nothing written (force to replace)",
                                 paths[i]);
            goto done;
        }
        if ((rc = trisa_file_set_add(set, paths[i], data != NULL ? data : "", len,
                                     i == 4 ? 0600 : 0644, force ? TRISA_WRITE_REPLACE : 0)) != 0) {
            goto done;
        }
    }
    rc = trisa_file_set_commit(set);
done:
    trisa_file_set_free(set);
    for (int i = 0; i < 5; i++) {
        trisa_buf_free(&text[i], 0);
        free(paths[i]);
    }
    trisa_free_secret(key, key_len + 1);
    return rc;
}

int trisa_bundle_p12_build(unsigned char **out, size_t *out_len, EVP_PKEY *key, X509 *leaf,
                           X509 *const *chain, size_t chain_len, const char *password,
                           const trisa_bundle_p12_options *opts)
{
    static const trisa_bundle_p12_options dflt = TRISA_BUNDLE_P12_OPTIONS_INIT;
    OSSL_LIB_CTX *own = NULL, *libctx;
    OSSL_PROVIDER *pdef = NULL, *pleg = NULL;
    STACK_OF(X509) *ca = NULL;
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL, *copy = NULL;
    char *cn = NULL;
    const char *pass = password != NULL ? password : "";
    int nid_key, nid_cert, mac_iter = PKCS12_DEFAULT_ITER, len = 0, rc = 0;
    const EVP_MD *mac_md;

    if (out == NULL || out_len == NULL || key == NULL || leaf == NULL ||
        (chain == NULL && chain_len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_p12_build: missing argument");
    }
    *out = NULL;
    *out_len = 0;
    if (opts == NULL) {
        opts = &dflt;
    }
    if (opts->version != TRISA_BUNDLE_P12_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_p12_options: unknown version %u",
                               opts->version);
    }
    switch (opts->format) {
    case TRISA_P12_MODERN:
        nid_key = nid_cert = NID_aes_256_cbc;
        mac_md = EVP_sha256();
        break;
    case TRISA_P12_LEGACY:
        nid_key = nid_cert = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
        mac_md = EVP_sha1();
        break;
    case TRISA_P12_SECTIGO:
        nid_key = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
        nid_cert = NID_pbe_WithSHA1And40BitRC2_CBC;
        mac_md = EVP_sha1();
        mac_iter = 1;
        break;
    default:
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_p12_build: unknown format %d",
                               (int)opts->format);
    }
    if (X509_check_private_key(leaf, key) != 1) {
        return trisa_error_set(TRISA_EINVAL, "the key does not match the certificate");
    }
    libctx = opts->libctx;
    if (libctx == NULL) {
        own = OSSL_LIB_CTX_new();
        pdef = own != NULL ? OSSL_PROVIDER_load(own, "default") : NULL;
        if (pdef == NULL) {
            rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot load OpenSSL's default provider");
            goto done;
        }
        if (opts->format == TRISA_P12_SECTIGO &&
            (pleg = OSSL_PROVIDER_load(own, "legacy")) == NULL) {
            rc = trisa_error_set_ssl(TRISA_ELEGACY,
                                     "RC2 (Sectigo's PKCS#12) needs OpenSSL's legacy provider, "
                                     "which could not be loaded");
            goto done;
        }
        libctx = own;
    }
    ca = sk_X509_new_null();
    for (size_t i = 0; ca != NULL && i < chain_len; i++) {
        if (chain[i] == NULL || sk_X509_push(ca, chain[i]) <= 0) {
            sk_X509_free(ca);
            ca = NULL;
        }
    }
    if (ca == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (opts->friendly_name == NULL) {
        cn = common_name(leaf);
    }
    /* No MAC from PKCS12_create: it is set below with the digest the format calls for. */
    p12 = PKCS12_create_ex(pass, opts->friendly_name != NULL ? opts->friendly_name : cn, key, leaf,
                           ca, nid_key, nid_cert, PKCS12_DEFAULT_ITER, -1, 0, libctx, NULL);
    if (p12 == NULL || PKCS12_set_mac(p12, pass, -1, NULL, 0, mac_iter, mac_md) != 1) {
        rc = trisa_error_set_ssl(opts->format == TRISA_P12_SECTIGO && opts->libctx != NULL
                                     ? TRISA_ELEGACY
                                     : TRISA_ECRYPTO,
                                 "cannot build the PKCS#12");
        goto done;
    }
    len = i2d_PKCS12(p12, &der);
    if (len <= 0) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the PKCS#12");
        goto done;
    }
    copy = malloc((size_t)len);
    if (copy == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(copy, der, (size_t)len);
    *out = copy;
    *out_len = (size_t)len;
done:
    if (der != NULL) {
        OPENSSL_clear_free(der, len > 0 ? (size_t)len : 0);
    }
    free(cn);
    PKCS12_free(p12);
    sk_X509_free(ca);
    OSSL_PROVIDER_unload(pleg);
    OSSL_PROVIDER_unload(pdef);
    OSSL_LIB_CTX_free(own);
    return rc;
}

int trisa_bundle_export_p12(unsigned char **out, size_t *out_len, const trisa_bundle *b,
                            size_t index, const char *password, enum trisa_p12_format format)
{
    trisa_bundle_p12_options o = TRISA_BUNDLE_P12_OPTIONS_INIT;
    const bundle_ident *id;
    X509 **chain = NULL;
    size_t n = 0;
    int rc;

    if (out == NULL || out_len == NULL || b == NULL || index >= b->nids) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_export_p12: missing argument");
    }
    *out = NULL;
    *out_len = 0;
    id = &b->ids[index];
    /* Loading the providers is a cache fill, not a change the caller can see. */
    if ((rc = ensure_providers((trisa_bundle *)b)) != 0) {
        return rc;
    }
    if (id->key == NULL) {
        return trisa_error_set(TRISA_EINVAL, "a PKCS#12 needs the private key: none matches '%s'",
                               id->cn != NULL ? id->cn : "the certificate");
    }
    chain = calloc((size_t)sk_X509_num(id->chain) + 1, sizeof(*chain));
    if (chain == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (int i = 0; i < sk_X509_num(id->chain); i++) {
        chain[n++] = sk_X509_value(id->chain, i);
    }
    if (id->root != NULL) {
        chain[n++] = id->root;
    }
    o.format = format;
    o.friendly_name = id->cn;
    o.libctx = b->libctx;
    rc = trisa_bundle_p12_build(out, out_len, id->key, id->leaf, chain, n, password, &o);
    free(chain);
    return rc;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Whether s has this form exactly: 'd' a digit, anything else itself. */
static int shape(const char *s, const char *form)
{
    for (; *form != '\0'; s++, form++) {
        if (*form == 'd' ? !isdigit((unsigned char)*s) : *s != *form) {
            return 0;
        }
    }
    return *s == '\0';
}

/* The number of n digits at s (checked by shape()). */
static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int trisa_bundle_parse_time(time_t *out, const char *s)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, se = 0;
    char shown_s[64];
    long epoch;
    time_t t;

    if (out == NULL || s == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_bundle_parse_time: no text or output");
    }
    trisa_printable(shown_s, sizeof(shown_s), s);
    if (s[0] == '@') {
        if (trisa_parse_long(s + 1, 1, 253402300799L, &epoch) != 0) {
            return trisa_error_set(TRISA_EINVAL,
                                   "'%s': expected @SECONDS since 1970-01-01T00:00:00Z, from 1",
                                   shown_s);
        }
        *out = (time_t)epoch;
        return 0;
    }
    /* Digits exactly where they belong: sscanf alone would take " 2021-1-5", or an hour
     * "-1" that timegm() turns into the day before. */
    if (!shape(s, "dddd-dd-dd") && !shape(s, "dddd-dd-ddTdd:dd:ddZ")) {
        goto bad;
    }
    y = num(s, 4);
    mo = num(s + 5, 2);
    d = num(s + 8, 2);
    if (s[10] == 'T') {
        h = num(s + 11, 2);
        mi = num(s + 14, 2);
        se = num(s + 17, 2);
    }
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || se > 59) {
        return trisa_error_set(TRISA_EINVAL, "'%s': no such date or time", shown_s);
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    if (t <= 0) {
        return trisa_error_set(TRISA_EINVAL,
                               "'%s': the epoch itself means \"now\" to the verifier; give a "
                               "later time",
                               shown_s);
    }
    *out = t;
    return 0;
bad:
    return trisa_error_set(
        TRISA_EINVAL, "'%s': expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS (UTC)", shown_s);
}
