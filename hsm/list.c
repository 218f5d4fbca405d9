/* Listing tokens and their objects, each with the URI that selects it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "hsm/internal.h"

typedef struct list_state {
    trisa_hsm_entry *items;
    size_t n, cap;
} list_state;

static int add(list_state *st, trisa_hsm_kind kind, char *uri, const char *label,
               const char *id_hex, const char *detail)
{
    trisa_hsm_entry *e;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        trisa_hsm_entry *p = realloc(st->items, cap * sizeof(*p));
        if (p == NULL) {
            free(uri);
            return trisa_error_set(TRISA_ENOMEM, "out of memory listing the token");
        }
        st->items = p;
        st->cap = cap;
    }
    e = &st->items[st->n];
    e->kind = kind;
    e->uri = uri;
    e->label = strdup(label);
    e->id_hex = strdup(id_hex);
    e->detail = strdup(detail);
    st->n++;
    if (uri == NULL || e->label == NULL || e->id_hex == NULL || e->detail == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory listing the token");
    }
    return 0;
}

static int get_bool(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                    CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};
    if (fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) {
        return -1;
    }
    return v == CK_TRUE;
}

static void describe_key(trisa_buf *d, CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s,
                         CK_OBJECT_HANDLE o, int is_private)
{
    CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof(kt)};
    CK_ULONG len = 0;
    fn->C_GetAttributeValue(s, o, &a, 1);
    if (kt == CKK_RSA) {
        unsigned char *mod = hsm_get_attr(fn, s, o, CKA_MODULUS, &len);
        if (mod != NULL) {
            trisa_buf_printf(d, "RSA %lu", (unsigned long)len * 8);
        } else {
            CK_ULONG bits = 0;
            CK_ATTRIBUTE b = {CKA_MODULUS_BITS, &bits, sizeof(bits)};
            if (fn->C_GetAttributeValue(s, o, &b, 1) == CKR_OK) {
                trisa_buf_printf(d, "RSA %lu", (unsigned long)bits);
            } else {
                trisa_buf_puts(d, "RSA");
            }
        }
        free(mod);
    } else if (kt == CKK_EC) {
        unsigned char *params = hsm_get_attr(fn, s, o, CKA_EC_PARAMS, &len);
        const unsigned char *p = params;
        ASN1_OBJECT *oid = params ? d2i_ASN1_OBJECT(NULL, &p, (long)len) : NULL;
        int nid = oid ? OBJ_obj2nid(oid) : NID_undef;
        trisa_buf_printf(d, "EC %s", nid != NID_undef ? OBJ_nid2sn(nid) : "");
        ASN1_OBJECT_free(oid);
        free(params);
    } else {
        trisa_buf_puts(d, "key");
    }
    if (is_private) {
        int sens = get_bool(fn, s, o, CKA_SENSITIVE);
        int ext = get_bool(fn, s, o, CKA_EXTRACTABLE);
        int never = get_bool(fn, s, o, CKA_NEVER_EXTRACTABLE);
        trisa_buf_printf(d, ", %s, %s", sens == 1 ? "sensitive" : "NOT sensitive",
                         never == 1 ? "never extractable"
                                    : (ext == 0 ? "not extractable" : "EXTRACTABLE"));
    }
}

static int list_objects(list_state *st, trisa_hsm *h, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE objs[64];
    CK_ULONG got = 0;
    int rc = 0;

    if (h->fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
        return 0; /* a token we cannot open still shows as a token */
    }
    if (h->fn->C_FindObjectsInit(s, NULL, 0) != CKR_OK) {
        h->fn->C_CloseSession(s);
        return 0;
    }
    memcpy(&h->tinfo, ti, sizeof(*ti));
    while (rc == 0 && h->fn->C_FindObjects(s, objs, 64, &got) == CKR_OK && got > 0) {
        for (CK_ULONG i = 0; i < got && rc == 0; i++) {
            CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
            CK_ATTRIBUTE ca = {CKA_CLASS, &cls, sizeof(cls)};
            CK_ULONG id_len = 0, label_len = 0, val_len = 0;
            unsigned char *id, *label;
            char *hex;
            trisa_buf d = TRISA_BUF_INIT;
            trisa_hsm_kind kind;

            if (h->fn->C_GetAttributeValue(s, objs[i], &ca, 1) != CKR_OK) {
                continue;
            }
            if (cls == CKO_PRIVATE_KEY) {
                kind = TRISA_HSM_PRIVATE_KEY;
            } else if (cls == CKO_PUBLIC_KEY) {
                kind = TRISA_HSM_PUBLIC_KEY;
            } else if (cls == CKO_CERTIFICATE) {
                kind = TRISA_HSM_CERTIFICATE;
            } else {
                continue;
            }
            id = hsm_get_attr(h->fn, s, objs[i], CKA_ID, &id_len);
            label = hsm_get_attr(h->fn, s, objs[i], CKA_LABEL, &label_len);
            hex = malloc(id_len * 2 + 1);
            if (hex == NULL) {
                free(id);
                free(label);
                rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
                break;
            }
            trisa_hex(hex, id ? id : (const unsigned char *)"", id ? id_len : 0, 0);
            if (kind == TRISA_HSM_CERTIFICATE) {
                unsigned char *der = hsm_get_attr(h->fn, s, objs[i], CKA_VALUE, &val_len);
                const unsigned char *p = der;
                X509 *x = der ? d2i_X509(NULL, &p, (long)val_len) : NULL;
                char *subj = x ? trisa_name_string(X509_get_subject_name(x)) : NULL;
                trisa_buf_puts(&d, subj ? subj : "certificate");
                free(subj);
                X509_free(x);
                free(der);
            } else {
                describe_key(&d, h->fn, s, objs[i], kind == TRISA_HSM_PRIVATE_KEY);
            }
            rc = add(st, kind,
                     hsm_object_uri(h, cls, id, id ? id_len : 0, label ? (char *)label : NULL),
                     label ? (char *)label : "", hex, d.data ? d.data : "");
            trisa_buf_free(&d, 0);
            free(hex);
            free(id);
            free(label);
        }
    }
    h->fn->C_FindObjectsFinal(s);
    h->fn->C_CloseSession(s);
    return rc;
}

/* Log in to one token through our own list, for the listing only. */
static int login_token(trisa_hsm *h, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti, const char *label,
                       const char *pin, CK_SESSION_HANDLE *s)
{
    CK_RV rv;
    if (ti->flags & CKF_USER_PIN_LOCKED) {
        return hsm_locked_error(label);
    }
    rv = h->fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, s);
    if (rv != CKR_OK) {
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot open a session (%s)", label,
                               hsm_ckr_name(rv));
    }
    rv = h->fn->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        return 0;
    }
    h->fn->C_CloseSession(*s);
    *s = CK_INVALID_HANDLE;
    return hsm_login_error(h, slot, label, rv, ti->flags);
}

/* "SoftHSM project SoftHSM v2, serial 0123, logged in": what the token says of itself. */
static void describe_token(trisa_buf *d, const CK_TOKEN_INFO *ti, int logged_in)
{
    char model[17], manuf[33], serial[17];
    hsm_field(model, ti->model, sizeof(ti->model));
    hsm_field(manuf, ti->manufacturerID, sizeof(ti->manufacturerID));
    hsm_field(serial, ti->serialNumber, sizeof(ti->serialNumber));
    trisa_buf_printf(d, "%s %s, serial %s", manuf, model, serial);
    if (!(ti->flags & CKF_TOKEN_INITIALIZED)) {
        trisa_buf_puts(d, ", not initialised");
        return;
    }
    if (ti->flags & CKF_USER_PIN_LOCKED) {
        trisa_buf_puts(d, ", user PIN LOCKED");
    } else if (ti->flags & CKF_USER_PIN_FINAL_TRY) {
        trisa_buf_puts(d, ", one wrong PIN locks it");
    } else if (ti->flags & CKF_USER_PIN_COUNT_LOW) {
        trisa_buf_puts(d, ", a wrong PIN was given since the last good login");
    }
    trisa_buf_puts(d, logged_in ? ", logged in" : ", not logged in (private objects not shown)");
}

/* The tokens the listing covers: initialised or not, those matching the URI. */
static int covered(const trisa_hsm *h, PKCS11_SLOT *slot, P11KitUri *uri, CK_TOKEN_INFO *ti)
{
    if (slot->token == NULL || hsm_token_info(h, slot, ti) != CKR_OK) {
        return 0;
    }
    return uri == NULL || p11_kit_uri_match_token_info(uri, ti);
}

int trisa_hsm_list(trisa_hsm_entry **out, size_t *n, const trisa_hsm_options *opts)
{
    trisa_hsm_options defaults = TRISA_HSM_OPTIONS_INIT;
    const trisa_hsm_options *o = opts != NULL ? opts : &defaults;
    trisa_hsm h;
    list_state st = {NULL, 0, 0};
    P11KitUri *uri = NULL;
    char *pin = NULL;
    const char *module = o->module;
    size_t matching = 0;
    CK_TOKEN_INFO ti;
    int rc;

    if (out == NULL || n == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_list: NULL argument");
    }
    *out = NULL;
    *n = 0;
    memset(&h, 0, sizeof(h));
    h.warn = o->warn;
    h.warn_data = o->warn_data;
    if (o->uri != NULL) {
        int r;
        uri = p11_kit_uri_new();
        r = uri ? p11_kit_uri_parse(o->uri, P11_KIT_URI_FOR_ANY, uri) : P11_KIT_URI_NO_MEMORY;
        if (r != P11_KIT_URI_OK) {
            rc = trisa_error_set(TRISA_EINVAL, "PKCS#11 URI '%s': %s", o->uri,
                                 p11_kit_uri_message(r));
            goto done;
        }
        if (module == NULL) {
            module = p11_kit_uri_get_module_path(uri);
        }
    }
    if ((rc = hsm_load(&h, module)) != 0) {
        goto done;
    }
    for (unsigned int i = 0; i < h.nslots; i++) {
        matching += covered(&h, &h.slots[i], uri, &ti) && (ti.flags & CKF_TOKEN_INITIALIZED);
    }
    /* A PIN is for one token: the one the URI names. Trying it on others would count a
     * failed login on each, and three listings can lock a token that locks after three. */
    if (!o->no_login && (rc = hsm_get_pin(&pin, &h, o, uri, 0)) != 0) {
        goto done;
    }
    if (pin != NULL && matching > 1) {
        hsm_warn(&h,
                 "a PIN was given but %zu tokens match '%s': listed without logging in; name "
                 "one token in the URI (token=... or serial=...)",
                 matching, o->uri != NULL ? o->uri : "pkcs11:");
        trisa_secret_free(pin);
        pin = NULL;
    }
    for (unsigned int i = 0; i < h.nslots; i++) {
        CK_SLOT_ID sid = PKCS11_get_slotid_from_slot(&h.slots[i]);
        CK_SESSION_HANDLE login_session = CK_INVALID_HANDLE;
        char label[33];
        trisa_buf d = TRISA_BUF_INIT;
        int initialised;

        if (!covered(&h, &h.slots[i], uri, &ti)) {
            continue;
        }
        initialised = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
        hsm_field(label, ti.label, sizeof(ti.label));
        if (initialised && pin != NULL &&
            (rc = login_token(&h, sid, &ti, label, pin, &login_session)) != 0) {
            goto done;
        }
        describe_token(&d, &ti, login_session != CK_INVALID_HANDLE);
        rc = add(&st, TRISA_HSM_TOKEN, hsm_token_uri(&ti), label, "", d.data ? d.data : "");
        trisa_buf_free(&d, 0);
        if (rc == 0 && initialised) {
            rc = list_objects(&st, &h, sid, &ti);
        }
        if (login_session != CK_INVALID_HANDLE) {
            h.fn->C_Logout(login_session);
            h.fn->C_CloseSession(login_session);
        }
        if (rc != 0) {
            goto done;
        }
    }
    *out = st.items;
    *n = st.n;
    st.items = NULL;
    st.n = 0;
    rc = 0;
done:
    trisa_secret_free(pin);
    trisa_hsm_list_free(st.items, st.n);
    p11_kit_uri_free(uri);
    hsm_unload(&h);
    return rc;
}

void trisa_hsm_list_free(trisa_hsm_entry *entries, size_t n)
{
    if (entries == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(entries[i].uri);
        free(entries[i].label);
        free(entries[i].id_hex);
        free(entries[i].detail);
    }
    free(entries);
}
