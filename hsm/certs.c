/*
 * Certificates on the selected token: the issued certificate beside its key (same id and
 * label, so one URI names both), and the issuing CA certificates beside it, so that a
 * server loading its certificate from the token can send the chain.
 *
 * The template is our own and minimal: libp11's carries newer PKCS#11 attributes
 * (CKA_NAME_HASH_ALGORITHM, CKA_HASH_OF_SUBJECT_PUBLIC_KEY) that tokens such as
 * opencryptoki refuse. PKCS#11 does not say which attribute a refusal is about, so on
 * one we retry without each optional attribute in turn, and name the one refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/internal.h"

enum cert_attr {
    A_CLASS,
    A_TYPE,
    A_TOKEN,
    A_ID,
    A_LABEL,
    A_SUBJECT,
    A_ISSUER,
    A_SERIAL,
    A_CATEGORY,
    A_VALUE,
    A_COUNT
};
#define BIT(a) (1u << (a))

typedef struct cert_tmpl {
    CK_ATTRIBUTE attr[A_COUNT];
    unsigned present;  /* attributes in the template */
    unsigned optional; /* those a token may refuse: the certificate is stored without them */
    CK_OBJECT_CLASS cls;
    CK_CERTIFICATE_TYPE type;
    CK_ULONG category;
    unsigned char *der[4]; /* subject, issuer, serial, value */
} cert_tmpl;

static void tmpl_free(cert_tmpl *t)
{
    for (int i = 0; i < 4; i++) {
        OPENSSL_free(t->der[i]);
    }
}

static void tmpl_set(cert_tmpl *t, enum cert_attr a, CK_ATTRIBUTE_TYPE type, void *v, size_t len)
{
    t->attr[a].type = type;
    t->attr[a].pValue = v;
    t->attr[a].ulValueLen = len;
    t->present |= BIT(a);
}

/* authority: a CA certificate (CKA_CERTIFICATE_CATEGORY 2, which older tokens lack). */
static int tmpl_init(cert_tmpl *t, X509 *x, const unsigned char *id, size_t id_len,
                     const char *label, int authority)
{
    int len[4];

    memset(t, 0, sizeof(*t));
    t->cls = CKO_CERTIFICATE;
    t->type = CKC_X_509;
    t->category = 2; /* CK_CERTIFICATE_CATEGORY_AUTHORITY */
    len[0] = i2d_X509_NAME(X509_get_subject_name(x), &t->der[0]);
    len[1] = i2d_X509_NAME(X509_get_issuer_name(x), &t->der[1]);
    len[2] = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &t->der[2]);
    len[3] = i2d_X509(x, &t->der[3]);
    if (len[0] <= 0 || len[1] <= 0 || len[2] <= 0 || len[3] <= 0) {
        tmpl_free(t);
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode the certificate");
    }
    tmpl_set(t, A_CLASS, CKA_CLASS, &t->cls, sizeof(t->cls));
    tmpl_set(t, A_TYPE, CKA_CERTIFICATE_TYPE, &t->type, sizeof(t->type));
    tmpl_set(t, A_TOKEN, CKA_TOKEN, NULL, sizeof(CK_BBOOL)); /* set when creating */
    tmpl_set(t, A_ID, CKA_ID, (void *)id, id_len);
    tmpl_set(t, A_LABEL, CKA_LABEL, (void *)label, strlen(label));
    tmpl_set(t, A_SUBJECT, CKA_SUBJECT, t->der[0], (size_t)len[0]);
    tmpl_set(t, A_ISSUER, CKA_ISSUER, t->der[1], (size_t)len[1]);
    tmpl_set(t, A_SERIAL, CKA_SERIAL_NUMBER, t->der[2], (size_t)len[2]);
    if (authority) {
        tmpl_set(t, A_CATEGORY, CKA_CERTIFICATE_CATEGORY, &t->category, sizeof(t->category));
    }
    tmpl_set(t, A_VALUE, CKA_VALUE, t->der[3], (size_t)len[3]);
    t->optional = (BIT(A_CATEGORY) | BIT(A_ISSUER) | BIT(A_SERIAL)) & t->present;
    return 0;
}

/* C_CreateObject with the template less the `drop` attributes. */
static CK_RV tmpl_create(trisa_hsm *h, CK_SESSION_HANDLE s, const cert_tmpl *t, unsigned drop,
                         CK_BBOOL on_token, CK_OBJECT_HANDLE *obj)
{
    CK_ATTRIBUTE a[A_COUNT];
    CK_ULONG n = 0;
    for (int i = 0; i < A_COUNT; i++) {
        if ((t->present & BIT(i)) && !(drop & BIT(i))) {
            a[n] = t->attr[i];
            if (i == A_TOKEN) {
                a[n].pValue = &on_token;
            }
            n++;
        }
    }
    return h->fn->C_CreateObject(s, a, n, obj);
}

/* How tokens say "I do not take this attribute" (or this value of it). */
static int refusal(CK_RV rv)
{
    return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
           rv == CKR_TEMPLATE_INCONSISTENT;
}

/* When even the template without the optional attributes is refused: find the needed
 * attribute the token refuses, trying session objects that vanish with the session. */
static int name_needed_refusal(trisa_hsm *h, CK_SESSION_HANDLE s, const cert_tmpl *t, CK_RV first,
                               const char *what)
{
    static const enum cert_attr needed[] = {A_ID, A_LABEL, A_SUBJECT};
    CK_OBJECT_HANDLE obj;
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (tmpl_create(h, s, t, t->optional | BIT(needed[i]), CK_FALSE, &obj) == CKR_OK) {
            h->fn->C_DestroyObject(s, obj);
            return trisa_error_set(TRISA_EHSM,
                                   "token '%s' refuses %s on certificates (%s): the %s was not "
                                   "stored",
                                   h->label, hsm_cka_name(t->attr[needed[i]].type),
                                   hsm_ckr_name(first), what);
        }
    }
    return trisa_error_set(TRISA_EHSM,
                           "token '%s' refuses the %s (%s) even with only CKA_CLASS, "
                           "CKA_CERTIFICATE_TYPE, CKA_TOKEN, CKA_ID, CKA_LABEL, CKA_SUBJECT and "
                           "CKA_VALUE: it was not stored",
                           h->label, what, hsm_ckr_name(first));
}

static int create_cert(trisa_hsm *h, CK_SESSION_HANDLE s, const cert_tmpl *t, const char *what)
{
    CK_OBJECT_HANDLE obj;
    CK_RV first = tmpl_create(h, s, t, 0, CK_TRUE, &obj), rv;

    if (first == CKR_OK) {
        return 0;
    }
    if (!refusal(first)) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot store the %s (%s)", h->label, what,
                               hsm_ckr_name(first));
    }
    for (int i = 0; i < A_COUNT; i++) {
        if (!(t->optional & BIT(i))) {
            continue;
        }
        rv = tmpl_create(h, s, t, BIT(i), CK_TRUE, &obj);
        if (rv == CKR_OK) {
            hsm_warn(h, "token '%s' refuses %s on certificates (%s): the %s is stored without it",
                     h->label, hsm_cka_name(t->attr[i].type), hsm_ckr_name(first), what);
            return 0;
        }
        if (!refusal(rv)) {
            return trisa_error_set(TRISA_EHSM, "token '%s': cannot store the %s (%s)", h->label,
                                   what, hsm_ckr_name(rv));
        }
    }
    rv = tmpl_create(h, s, t, t->optional, CK_TRUE, &obj);
    if (rv == CKR_OK) {
        trisa_buf names = TRISA_BUF_INIT;
        for (int i = 0; i < A_COUNT; i++) {
            if (t->optional & BIT(i)) {
                trisa_buf_printf(&names, "%s%s", names.len ? ", " : "",
                                 hsm_cka_name(t->attr[i].type));
            }
        }
        hsm_warn(h,
                 "token '%s' refuses more than one of %s on certificates (%s): the %s is "
                 "stored without them",
                 h->label, names.data ? names.data : "", hsm_ckr_name(first), what);
        trisa_buf_free(&names, 0);
        return 0;
    }
    if (!refusal(rv)) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot store the %s (%s)", h->label, what,
                               hsm_ckr_name(rv));
    }
    return name_needed_refusal(h, s, t, first, what);
}

/* A certificate object already on the token with exactly these bytes (0 when none). */
static CK_OBJECT_HANDLE find_same(trisa_hsm *h, CK_SESSION_HANDLE s, const cert_tmpl *t)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE q[2] = {{CKA_CLASS, &cls, sizeof(cls)}, t->attr[A_SUBJECT]};
    CK_OBJECT_HANDLE objs[32], found = CK_INVALID_HANDLE;
    CK_ULONG got = 0;

    if (h->fn->C_FindObjectsInit(s, q, 2) != CKR_OK) {
        return CK_INVALID_HANDLE;
    }
    while (found == CK_INVALID_HANDLE && h->fn->C_FindObjects(s, objs, 32, &got) == CKR_OK &&
           got > 0) {
        for (CK_ULONG i = 0; i < got && found == CK_INVALID_HANDLE; i++) {
            CK_ULONG len = 0;
            unsigned char *v = hsm_get_attr(h->fn, s, objs[i], CKA_VALUE, &len);
            if (v != NULL && len == t->attr[A_VALUE].ulValueLen &&
                memcmp(v, t->attr[A_VALUE].pValue, len) == 0) {
                found = objs[i];
            }
            free(v);
        }
    }
    h->fn->C_FindObjectsFinal(s);
    return found;
}

/* How many certificates other than this one the token holds under the same id. */
static CK_ULONG count_others_with_id(trisa_hsm *h, CK_SESSION_HANDLE s, const cert_tmpl *t)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE q[2] = {{CKA_CLASS, &cls, sizeof(cls)}, t->attr[A_ID]};
    CK_OBJECT_HANDLE objs[32];
    CK_ULONG got = 0, n = 0;
    if (h->fn->C_FindObjectsInit(s, q, 2) != CKR_OK) {
        return 0;
    }
    while (h->fn->C_FindObjects(s, objs, 32, &got) == CKR_OK && got > 0) {
        n += got;
    }
    h->fn->C_FindObjectsFinal(s);
    return n;
}

static int open_rw(CK_SESSION_HANDLE *s, trisa_hsm *h)
{
    CK_RV rv = h->fn->C_OpenSession(h->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
    if (rv != CKR_OK) {
        *s = CK_INVALID_HANDLE;
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot open a read-write session (%s)",
                               h->label, hsm_ckr_name(rv));
    }
    return 0;
}

/* The private key on the token whose public key the certificate carries. */
static PKCS11_KEY *key_of(trisa_hsm *h, X509 *cert)
{
    PKCS11_KEY *keys = NULL, *match = NULL;
    unsigned int nk = 0;
    EVP_PKEY *cert_key = X509_get0_pubkey(cert);

    if (cert_key == NULL || PKCS11_enumerate_keys(h->slot->token, &keys, &nk) != 0) {
        return NULL;
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
    return match;
}

int trisa_hsm_store_certificate(char **out_uri, trisa_hsm *h, X509 *cert)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    PKCS11_KEY *key;
    cert_tmpl t;
    int rc;

    if (h == NULL || cert == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_store_certificate: NULL argument");
    }
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    if ((key = key_of(h, cert)) == NULL) {
        return trisa_error_set(TRISA_EMISMATCH,
                               "no private key on token '%s' matches the certificate's public "
                               "key",
                               h->label);
    }
    if ((rc = tmpl_init(&t, cert, key->id, key->id_len, key->label ? key->label : "", 0)) != 0) {
        return rc;
    }
    if ((rc = open_rw(&s, h)) != 0) {
        goto done;
    }
    if (find_same(h, s, &t) == CK_INVALID_HANDLE) {
        CK_ULONG others = count_others_with_id(h, s, &t);
        if (others > 0) {
            hsm_warn(h,
                     "token '%s' already holds %lu other certificate(s) under this key's id and "
                     "label: all are kept, and a server selecting by URI may load any of them",
                     h->label, (unsigned long)others);
        }
        if ((rc = create_cert(h, s, &t, "certificate")) != 0) {
            goto done;
        }
    }
    if (out_uri != NULL &&
        (*out_uri = hsm_object_uri(h, CKO_CERTIFICATE, key->id, key->id_len, key->label)) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory formatting the URI");
        goto done;
    }
    rc = 0;
done:
    if (s != CK_INVALID_HANDLE) {
        h->fn->C_CloseSession(s);
    }
    tmpl_free(&t);
    return rc;
}

/* A CA certificate's id: its subject key identifier, else the SHA-1 of its public key
 * (RFC 5280's first method), as most tools name CA objects. Its label: its CN. */
static int ca_names(unsigned char *id, size_t *id_len, char *label, size_t label_size, X509 *ca)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
    X509_NAME *subject = X509_get_subject_name(ca);
    unsigned int md_len = 0;
    char hex[9];

    if (ski != NULL && ASN1_STRING_length(ski) > 0 && ASN1_STRING_length(ski) <= 64) {
        *id_len = (size_t)ASN1_STRING_length(ski);
        memcpy(id, ASN1_STRING_get0_data(ski), *id_len);
    } else if (X509_pubkey_digest(ca, EVP_sha1(), id, &md_len) == 1) {
        *id_len = md_len;
    } else {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot hash the CA's public key");
    }
    if (X509_NAME_get_text_by_NID(subject, NID_commonName, label, (int)label_size) <= 0) {
        snprintf(label, label_size, "ca-%s", trisa_hex(hex, id, *id_len < 4 ? *id_len : 4, 0));
    }
    return 0;
}

int trisa_hsm_store_ca_certificate(char **out_uri, int *out_added, trisa_hsm *h, X509 *ca)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    unsigned char id[EVP_MAX_MD_SIZE > 64 ? EVP_MAX_MD_SIZE : 64];
    size_t id_len = 0;
    char label[80];
    cert_tmpl t;
    CK_OBJECT_HANDLE existing;
    int rc;

    if (h == NULL || ca == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_store_ca_certificate: NULL argument");
    }
    if (out_uri != NULL) {
        *out_uri = NULL;
    }
    if (out_added != NULL) {
        *out_added = 0;
    }
    if (X509_check_ca(ca) == 0) {
        return trisa_error_set(TRISA_EINVAL, "not a CA certificate: it is not stored as one");
    }
    if ((rc = ca_names(id, &id_len, label, sizeof(label), ca)) != 0 ||
        (rc = tmpl_init(&t, ca, id, id_len, label, 1)) != 0) {
        return rc;
    }
    if ((rc = open_rw(&s, h)) != 0) {
        goto done;
    }
    existing = find_same(h, s, &t);
    if (existing == CK_INVALID_HANDLE) {
        if ((rc = create_cert(h, s, &t, "CA certificate")) != 0) {
            goto done;
        }
        if (out_added != NULL) {
            *out_added = 1;
        }
    } else {
        /* Stored before, perhaps by another tool: its URI is from its own id and label. */
        CK_ULONG len = 0;
        unsigned char *v = hsm_get_attr(h->fn, s, existing, CKA_ID, &len);
        id_len = v != NULL && len <= sizeof(id) ? len : 0;
        if (id_len > 0) {
            memcpy(id, v, id_len);
        }
        free(v);
        v = hsm_get_attr(h->fn, s, existing, CKA_LABEL, &len);
        snprintf(label, sizeof(label), "%s", v != NULL ? (char *)v : "");
        free(v);
    }
    if (out_uri != NULL &&
        (*out_uri = hsm_object_uri(h, CKO_CERTIFICATE, id, id_len, label)) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory formatting the URI");
        goto done;
    }
    rc = 0;
done:
    if (s != CK_INVALID_HANDLE) {
        h->fn->C_CloseSession(s);
    }
    tmpl_free(&t);
    return rc;
}
