/* Keys and certificates on the selected token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "hsm/internal.h"
#include "trisa/keygen.h"

/* DER of the named-curve OIDs, for CKA_EC_PARAMS. */
static const unsigned char OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

typedef struct keyspec {
    int rsa;       /* 1: RSA; 0: EC */
    CK_ULONG bits; /* RSA modulus or EC field size */
    const unsigned char *ec_params;
    size_t ec_params_len;
    char name[32]; /* "rsa:4096", for messages */
} keyspec;

/* The same spec text as software keys (trisa_keygen_spec_parse), as PKCS#11 wants it. */
static int parse_spec(keyspec *k, const char *text)
{
    trisa_keygen_spec spec;
    int rc;

    memset(k, 0, sizeof(*k));
    if ((rc = trisa_keygen_spec_parse(&spec, text != NULL ? text : "rsa:4096")) != 0) {
        return rc;
    }
    trisa_keygen_spec_format(k->name, sizeof(k->name), &spec);
    k->rsa = spec.type == TRISA_KEY_RSA;
    k->bits = (CK_ULONG)spec.bits;
    if (!k->rsa) {
        k->ec_params = spec.bits == 256 ? OID_P256 : OID_P384;
        k->ec_params_len = spec.bits == 256 ? sizeof(OID_P256) : sizeof(OID_P384);
    }
    return 0;
}

/* Count objects on the token with this attribute value (any class). */
static int count_objects(trisa_hsm *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                         CK_ULONG *count)
{
    CK_OBJECT_HANDLE objs[16];
    CK_ULONG got = 0;
    *count = 0;
    if (h->fn->C_FindObjectsInit(s, tmpl, n) != CKR_OK) {
        return -1;
    }
    do {
        if (h->fn->C_FindObjects(s, objs, 16, &got) != CKR_OK) {
            h->fn->C_FindObjectsFinal(s);
            return -1;
        }
        *count += got;
    } while (got == 16);
    h->fn->C_FindObjectsFinal(s);
    return 0;
}

static int check_mechanism(trisa_hsm *h, const keyspec *k)
{
    CK_MECHANISM_INFO mi;
    CK_MECHANISM_TYPE mech = k->rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
    CK_RV rv = h->fn->C_GetMechanismInfo(h->slot_id, mech, &mi);
    if (rv == CKR_MECHANISM_INVALID) {
        return trisa_error_set(TRISA_EUNSUPPORTED, "token '%s' cannot generate %s keys", h->label,
                               k->rsa ? "RSA" : "EC");
    }
    if (rv != CKR_OK) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot read mechanism info (%s)", h->label,
                               hsm_ckr_name(rv));
    }
    if (!(mi.flags & CKF_GENERATE_KEY_PAIR)) {
        return trisa_error_set(TRISA_EUNSUPPORTED, "token '%s' cannot generate %s key pairs",
                               h->label, k->rsa ? "RSA" : "EC");
    }
    /* Sizes are in bits for RSA and EC alike (some tokens report EC in bytes: accept). */
    if (mi.ulMaxKeySize != 0 && k->bits > mi.ulMaxKeySize &&
        !(!k->rsa && k->bits <= mi.ulMaxKeySize * 8)) {
        return trisa_error_set(
            TRISA_EUNSUPPORTED, "token '%s' cannot make %s-%lu keys (at most %lu bits)", h->label,
            k->rsa ? "RSA" : "EC", (unsigned long)k->bits, (unsigned long)mi.ulMaxKeySize);
    }
    if (k->rsa && k->bits < mi.ulMinKeySize) {
        return trisa_error_set(TRISA_EUNSUPPORTED,
                               "token '%s' cannot make RSA-%lu keys (at least %lu bits)", h->label,
                               (unsigned long)k->bits, (unsigned long)mi.ulMinKeySize);
    }
    return 0;
}

/* The libp11 private key with this id, after a fresh enumeration. */
static PKCS11_KEY *key_by_id(trisa_hsm *h, const unsigned char *id, size_t id_len)
{
    PKCS11_KEY *keys = NULL;
    unsigned int n = 0;
    if (PKCS11_enumerate_keys(h->slot->token, &keys, &n) != 0) {
        return NULL;
    }
    for (unsigned int i = 0; i < n; i++) {
        if (keys[i].id_len == id_len && memcmp(keys[i].id, id, id_len) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

/* The id and label of a new key pair: given, else from the URI given at open, else a
 * random 16-byte id and "trisa-" with its first 4 bytes in hex. */
typedef struct key_names {
    unsigned char id[64];
    size_t id_len;
    char label[80];
} key_names;

static int choose_names(key_names *kn, const trisa_hsm *h, const trisa_hsm_keygen_options *o)
{
    memset(kn, 0, sizeof(*kn));
    if (o->id != NULL) {
        if (o->id_len == 0 || o->id_len > sizeof(kn->id)) {
            return trisa_error_set(TRISA_EINVAL, "key id must be 1 to %zu bytes", sizeof(kn->id));
        }
        memcpy(kn->id, o->id, o->id_len);
        kn->id_len = o->id_len;
    } else if (h->uri_id_len > 0) {
        memcpy(kn->id, h->uri_id, h->uri_id_len);
        kn->id_len = h->uri_id_len;
    } else {
        if (RAND_bytes(kn->id, 16) != 1) {
            return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot make a random key id");
        }
        kn->id_len = 16;
    }
    if (o->label != NULL) {
        if (o->label[0] == '\0' || strlen(o->label) >= sizeof(kn->label)) {
            return trisa_error_set(TRISA_EINVAL, "key label must be 1 to %zu characters",
                                   sizeof(kn->label) - 1);
        }
        snprintf(kn->label, sizeof(kn->label), "%s", o->label);
    } else if (h->uri_label[0] != '\0') {
        snprintf(kn->label, sizeof(kn->label), "%s", h->uri_label);
    } else {
        char hex[9];
        trisa_hex(hex, kn->id, kn->id_len < 4 ? kn->id_len : 4, 0);
        snprintf(kn->label, sizeof(kn->label), "trisa-%s", hex);
    }
    return 0;
}

/* Never replace or shadow an existing object: refuse a taken id or label. */
static int refuse_taken(trisa_hsm *h, CK_SESSION_HANDLE s, const key_names *kn)
{
    CK_ATTRIBUTE by_id = {CKA_ID, (void *)kn->id, kn->id_len};
    CK_ATTRIBUTE by_label = {CKA_LABEL, (void *)kn->label, strlen(kn->label)};
    CK_ULONG count = 0;
    char hex[129];

    if (count_objects(h, s, &by_id, 1, &count) != 0) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot search objects", h->label);
    }
    if (count > 0) {
        return trisa_error_set(TRISA_EEXISTS,
                               "token '%s': id %s is already used by %lu object(s); "
                               "nothing was generated",
                               h->label, trisa_hex(hex, kn->id, kn->id_len, 0),
                               (unsigned long)count);
    }
    if (count_objects(h, s, &by_label, 1, &count) != 0) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot search objects", h->label);
    }
    if (count > 0) {
        return trisa_error_set(TRISA_EEXISTS,
                               "token '%s': label '%s' is already used by %lu object(s); "
                               "choose another --key-label",
                               h->label, kn->label, (unsigned long)count);
    }
    return 0;
}

/* The key pair itself: the private key a token object, private, sensitive, not
 * extractable, allowed to sign (and for RSA to decrypt: TLS 1.2 RSA key exchange). */
static int generate_pair(trisa_hsm *h, CK_SESSION_HANDLE s, const keyspec *k, const key_names *kn)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE e65537[] = {0x01, 0x00, 0x01};
    CK_ULONG bits = k->bits, label_len = strlen(kn->label);
    CK_MECHANISM mech = {k->rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub_h, priv_h;
    CK_ATTRIBUTE pub[8] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_ID, (void *)kn->id, kn->id_len},
        {CKA_LABEL, (void *)kn->label, label_len},
    };
    CK_ATTRIBUTE priv[10] = {
        {CKA_TOKEN, &yes, sizeof(yes)},       {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},   {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_ID, (void *)kn->id, kn->id_len}, {CKA_LABEL, (void *)kn->label, label_len},
    };
    CK_ULONG npub = 5, npriv = 8;
    CK_RV rv;

    if (k->rsa) {
        pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537)};
        pub[npub++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &yes, sizeof(yes)};
        priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &yes, sizeof(yes)};
    } else {
        pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)k->ec_params, k->ec_params_len};
    }
    rv = h->fn->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv, &pub_h, &priv_h);
    if (rv != CKR_OK) {
        return trisa_error_set(
            rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE ? TRISA_EUNSUPPORTED
                                                                    : TRISA_EHSM,
            "token '%s': cannot generate a %s key (%s)", h->label, k->name, hsm_ckr_name(rv));
    }
    return 0;
}

/* The new key as an EVP_PKEY that signs on the token (through libp11), and its URI. */
static int wrap_new_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *h, const key_names *kn)
{
    PKCS11_KEY *key = key_by_id(h, kn->id, kn->id_len);
    if (key == NULL || (*out_key = PKCS11_get_private_key(key)) == NULL) {
        CK_RV rv = hsm_last_ckr();
        return trisa_error_set(TRISA_EHSM, "token '%s': the new key cannot be used (%s)", h->label,
                               hsm_ckr_name(rv));
    }
    if (out_uri != NULL) {
        *out_uri = hsm_object_uri(h, CKO_PRIVATE_KEY, kn->id, kn->id_len, kn->label);
        if (*out_uri == NULL) {
            EVP_PKEY_free(*out_key);
            *out_key = NULL;
            return trisa_error_set(TRISA_ENOMEM, "out of memory formatting the key's URI");
        }
    }
    return 0;
}

int trisa_hsm_generate_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *h,
                           const trisa_hsm_keygen_options *opts)
{
    trisa_hsm_keygen_options defaults = TRISA_HSM_KEYGEN_OPTIONS_INIT;
    const trisa_hsm_keygen_options *o = opts != NULL ? opts : &defaults;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    keyspec k;
    key_names kn;
    CK_RV rv;
    int rc;

    if (out_key == NULL || h == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_generate_key: NULL argument");
    }
    *out_key = NULL;
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    if (o->version != TRISA_HSM_KEYGEN_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_keygen_options: unknown version %u",
                               o->version);
    }
    if (!h->logged_in) {
        return trisa_error_set(TRISA_EHSM, "token '%s': log in before generating keys", h->label);
    }
    if ((rc = parse_spec(&k, o->spec)) != 0 || (rc = check_mechanism(h, &k)) != 0 ||
        (rc = choose_names(&kn, h, o)) != 0) {
        return rc;
    }
    rv = h->fn->C_OpenSession(h->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot open a read-write session (%s)",
                               h->label, hsm_ckr_name(rv));
    }
    if ((rc = refuse_taken(h, s, &kn)) == 0 && (rc = generate_pair(h, s, &k, &kn)) == 0) {
        rc = wrap_new_key(out_key, out_uri, h, &kn);
    }
    h->fn->C_CloseSession(s);
    ERR_clear_error();
    return rc;
}

int trisa_hsm_find_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *h, const char *uri_text)
{
    P11KitUri *uri = NULL;
    CK_ATTRIBUTE *want_id, *want_label;
    PKCS11_KEY *keys = NULL, *found = NULL;
    unsigned int n = 0;
    size_t matches = 0;
    trisa_buf names = TRISA_BUF_INIT;
    int r, rc;

    if (out_key == NULL || h == NULL || uri_text == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_find_key: NULL argument");
    }
    *out_key = NULL;
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    uri = p11_kit_uri_new();
    if (uri == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r = p11_kit_uri_parse(uri_text, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri);
    if (r != P11_KIT_URI_OK) {
        rc =
            trisa_error_set(TRISA_EINVAL, "PKCS#11 URI '%s': %s", uri_text, p11_kit_uri_message(r));
        goto done;
    }
    if (!p11_kit_uri_match_token_info(uri, &h->tinfo)) {
        rc = trisa_error_set(TRISA_ENOTFOUND, "URI '%s' names another token than '%s'", uri_text,
                             h->label);
        goto done;
    }
    want_id = p11_kit_uri_get_attribute(uri, CKA_ID);
    want_label = p11_kit_uri_get_attribute(uri, CKA_LABEL);
    if (PKCS11_enumerate_keys(h->slot->token, &keys, &n) != 0) {
        rc = trisa_error_set_ssl(TRISA_EHSM, "token '%s': cannot list keys", h->label);
        goto done;
    }
    for (unsigned int i = 0; i < n; i++) {
        const char *l = keys[i].label ? keys[i].label : "";
        if (want_id != NULL && (keys[i].id_len != want_id->ulValueLen ||
                                memcmp(keys[i].id, want_id->pValue, keys[i].id_len) != 0)) {
            continue;
        }
        if (want_label != NULL && (strlen(l) != want_label->ulValueLen ||
                                   memcmp(l, want_label->pValue, want_label->ulValueLen) != 0)) {
            continue;
        }
        trisa_buf_printf(&names, "%s'%s'", matches ? ", " : "", l);
        found = &keys[i];
        matches++;
    }
    if (matches == 0) {
        rc = trisa_error_set(TRISA_ENOTFOUND, "no private key on token '%s' matches '%s'", h->label,
                             uri_text);
        goto done;
    }
    if (matches > 1) {
        rc = trisa_error_set(TRISA_EAMBIGUOUS,
                             "%zu private keys on token '%s' match '%s': %s; add id= or "
                             "object= to the URI",
                             matches, h->label, uri_text, names.data);
        goto done;
    }
    *out_key = PKCS11_get_private_key(found);
    if (*out_key == NULL) {
        rc = trisa_error_set_ssl(TRISA_EHSM, "token '%s': key '%s' cannot be used", h->label,
                                 found->label ? found->label : "");
        goto done;
    }
    if (out_uri != NULL) {
        *out_uri = hsm_object_uri(h, CKO_PRIVATE_KEY, found->id, found->id_len, found->label);
    }
    rc = 0;
done:
    trisa_buf_free(&names, 0);
    p11_kit_uri_free(uri);
    return rc;
}

int trisa_hsm_check_key(EVP_PKEY **out_pub, char **out_uri, const trisa_hsm_options *opts,
                        const char *key_uri)
{
    trisa_hsm_options o;
    trisa_hsm *h = NULL;
    EVP_PKEY *key = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len, rc;

    if (out_pub == NULL || opts == NULL || (key_uri == NULL && opts->uri == NULL)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_check_key: NULL argument");
    }
    *out_pub = NULL;
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    o = *opts;
    if (o.uri == NULL) {
        o.uri = key_uri;
    }
    o.no_login = 0;
    if ((rc = trisa_hsm_open(&h, &o)) != 0 ||
        (rc = trisa_hsm_find_key(&key, out_uri, h, key_uri != NULL ? key_uri : o.uri)) != 0) {
        goto done;
    }
    /* A copy of the public half that owes nothing to the token once it is closed. */
    len = i2d_PUBKEY(key, &der);
    p = der;
    if (len <= 0 || (*out_pub = d2i_PUBKEY(NULL, &p, len)) == NULL) {
        rc = trisa_error_set_ssl(TRISA_EHSM, "token '%s': cannot read the key's public half",
                                 h->label);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0 && out_uri != NULL) {
        free(*out_uri);
        *out_uri = NULL;
    }
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    trisa_hsm_free(h);
    return rc;
}
