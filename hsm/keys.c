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
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot read mechanism info (0x%lx)",
                               h->label, (unsigned long)rv);
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

int trisa_hsm_generate_key(EVP_PKEY **out_key, char **out_uri, trisa_hsm *h,
                           const trisa_hsm_keygen_options *opts)
{
    trisa_hsm_keygen_options defaults = TRISA_HSM_KEYGEN_OPTIONS_INIT;
    const trisa_hsm_keygen_options *o = opts != NULL ? opts : &defaults;
    keyspec k;
    unsigned char rid[16];
    const unsigned char *id = o->id;
    size_t id_len = o->id_len;
    char label[80];
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE e65537[] = {0x01, 0x00, 0x01};
    CK_ULONG count = 0, npub = 0, npriv = 0;
    CK_OBJECT_HANDLE pub_h, priv_h;
    CK_MECHANISM mech = {0, NULL, 0};
    CK_RV rv;
    PKCS11_KEY *key;
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
    if ((rc = parse_spec(&k, o->spec)) != 0 || (rc = check_mechanism(h, &k)) != 0) {
        return rc;
    }
    if (id == NULL && h->uri_id_len > 0) {
        id = h->uri_id;
        id_len = h->uri_id_len;
    }
    if (id == NULL) {
        if (RAND_bytes(rid, sizeof(rid)) != 1) {
            return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot make a random key id");
        }
        id = rid;
        id_len = sizeof(rid);
    }
    if (id_len == 0 || id_len > 64) {
        return trisa_error_set(TRISA_EINVAL, "key id must be 1 to 64 bytes");
    }
    if (o->label == NULL && h->uri_label[0] != '\0') {
        snprintf(label, sizeof(label), "%s", h->uri_label);
    } else if (o->label != NULL) {
        if (o->label[0] == '\0' || strlen(o->label) >= sizeof(label)) {
            return trisa_error_set(TRISA_EINVAL, "key label must be 1 to %zu characters",
                                   sizeof(label) - 1);
        }
        snprintf(label, sizeof(label), "%s", o->label);
    } else {
        char hex[9];
        trisa_hex(hex, id, id_len < 4 ? id_len : 4, 0);
        snprintf(label, sizeof(label), "trisa-%s", hex);
    }

    rv = h->fn->C_OpenSession(h->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot open a read-write session (%s)",
                               h->label, hsm_ckr_text(rv));
    }
    /* Never replace or shadow an existing object: refuse a taken id or label. */
    {
        CK_ATTRIBUTE by_id = {CKA_ID, (void *)id, id_len};
        CK_ATTRIBUTE by_label = {CKA_LABEL, label, strlen(label)};
        char hex[129];
        if (count_objects(h, s, &by_id, 1, &count) != 0) {
            rc = trisa_error_set(TRISA_EHSM, "token '%s': cannot search objects", h->label);
            goto done;
        }
        if (count > 0) {
            rc = trisa_error_set(TRISA_EEXISTS,
                                 "token '%s': id %s is already used by %lu object(s); "
                                 "nothing was generated",
                                 h->label, trisa_hex(hex, id, id_len, 0), (unsigned long)count);
            goto done;
        }
        if (count_objects(h, s, &by_label, 1, &count) != 0) {
            rc = trisa_error_set(TRISA_EHSM, "token '%s': cannot search objects", h->label);
            goto done;
        }
        if (count > 0) {
            rc = trisa_error_set(TRISA_EEXISTS,
                                 "token '%s': label '%s' is already used by %lu object(s); "
                                 "choose another --key-label",
                                 h->label, label, (unsigned long)count);
            goto done;
        }
    }
    {
        CK_ULONG bits = k.bits;
        CK_ATTRIBUTE pub[8] = {
            {CKA_TOKEN, &yes, sizeof(yes)},    {CKA_VERIFY, &yes, sizeof(yes)},
            {CKA_WRAP, &no, sizeof(no)},       {CKA_ID, (void *)id, id_len},
            {CKA_LABEL, label, strlen(label)},
        };
        CK_ATTRIBUTE priv[10] = {
            {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_PRIVATE, &yes, sizeof(yes)},
            {CKA_SENSITIVE, &yes, sizeof(yes)}, {CKA_EXTRACTABLE, &no, sizeof(no)},
            {CKA_SIGN, &yes, sizeof(yes)},      {CKA_UNWRAP, &no, sizeof(no)},
            {CKA_ID, (void *)id, id_len},       {CKA_LABEL, label, strlen(label)},
        };
        npub = 5;
        npriv = 8;
        if (k.rsa) {
            mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
            pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
            pub[npub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537)};
            pub[npub++] = (CK_ATTRIBUTE){CKA_ENCRYPT, &yes, sizeof(yes)};
            /* keyEncipherment: TLS 1.2 RSA key exchange decrypts with the key. */
            priv[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &yes, sizeof(yes)};
        } else {
            mech.mechanism = CKM_EC_KEY_PAIR_GEN;
            pub[npub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)k.ec_params, k.ec_params_len};
        }
        rv = h->fn->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv, &pub_h, &priv_h);
        if (rv != CKR_OK) {
            rc = trisa_error_set(rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE
                                     ? TRISA_EUNSUPPORTED
                                     : TRISA_EHSM,
                                 "token '%s': cannot generate a %s key (%s, 0x%lx)", h->label,
                                 k.name, hsm_ckr_text(rv), (unsigned long)rv);
            goto done;
        }
    }
    key = key_by_id(h, id, id_len);
    if (key == NULL || (*out_key = PKCS11_get_private_key(key)) == NULL) {
        rc = trisa_error_set_ssl(TRISA_EHSM, "token '%s': the new key cannot be used", h->label);
        goto done;
    }
    if (out_uri != NULL) {
        *out_uri = hsm_object_uri(h, CKO_PRIVATE_KEY, id, id_len, label);
        if (*out_uri == NULL) {
            EVP_PKEY_free(*out_key);
            *out_key = NULL;
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory formatting the key's URI");
            goto done;
        }
    }
    rc = 0;
done:
    if (s != CK_INVALID_HANDLE) {
        h->fn->C_CloseSession(s);
    }
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

int trisa_hsm_store_certificate(char **out_uri, trisa_hsm *h, X509 *cert)
{
    PKCS11_KEY *keys = NULL, *match = NULL;
    PKCS11_CERT *certs = NULL, *stored = NULL;
    unsigned int nk = 0, nc = 0;
    EVP_PKEY *cert_key;
    int rc;

    if (h == NULL || cert == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_store_certificate: NULL argument");
    }
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    cert_key = X509_get0_pubkey(cert);
    if (cert_key == NULL) {
        return trisa_error_set_ssl(TRISA_EINVAL, "certificate has no readable public key");
    }
    if (PKCS11_enumerate_keys(h->slot->token, &keys, &nk) != 0) {
        return trisa_error_set_ssl(TRISA_EHSM, "token '%s': cannot list keys", h->label);
    }
    /* The private key's EVP_PKEY carries its public half; libp11 0.4.12's
     * PKCS11_get_public_key() leaks, so it is not used. */
    for (unsigned int i = 0; i < nk && match == NULL; i++) {
        EVP_PKEY *pk = PKCS11_get_private_key(&keys[i]);
        if (pk != NULL && EVP_PKEY_eq(pk, cert_key) == 1) {
            match = &keys[i];
        }
        EVP_PKEY_free(pk);
    }
    ERR_clear_error();
    if (match == NULL) {
        return trisa_error_set(TRISA_EMISMATCH,
                               "no private key on token '%s' matches the certificate's public "
                               "key",
                               h->label);
    }
    if (PKCS11_enumerate_certs(h->slot->token, &certs, &nc) != 0) {
        return trisa_error_set_ssl(TRISA_EHSM, "token '%s': cannot list certificates", h->label);
    }
    for (unsigned int i = 0; i < nc; i++) {
        if (certs[i].x509 != NULL && X509_cmp(certs[i].x509, cert) == 0) {
            stored = &certs[i]; /* already there: storing again is a no-op */
        }
    }
    if (stored == NULL && PKCS11_store_certificate(h->slot->token, cert, match->label, match->id,
                                                   match->id_len, &stored) != 0) {
        CK_RV rv = hsm_last_ckr();
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot store the certificate (%s, 0x%lx)",
                               h->label, hsm_ckr_text(rv), (unsigned long)rv);
    }
    rc = 0;
    if (out_uri != NULL) {
        *out_uri = hsm_object_uri(h, CKO_CERTIFICATE, match->id, match->id_len, match->label);
        if (*out_uri == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory formatting the URI");
        }
    }
    return rc;
}
