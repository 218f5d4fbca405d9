/* Loading a PKCS#11 module, choosing a token by RFC 7512 URI, opening and closing. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "hsm/internal.h"

/* p11-kit's proxy module, as `pkg-config --variable=proxy_module p11-kit-1` told the build. */
#ifndef TRISA_P11KIT_PROXY
#define TRISA_P11KIT_PROXY ""
#endif

const char *trisa_hsm_default_module(void)
{
    return TRISA_P11KIT_PROXY[0] != '\0' ? TRISA_P11KIT_PROXY : NULL;
}

void hsm_field(char *out, const unsigned char *field, size_t width)
{
    size_t n = width;
    while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0')) {
        n--;
    }
    memcpy(out, field, n);
    out[n] = '\0';
}

unsigned char *hsm_get_attr(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                            CK_ATTRIBUTE_TYPE type, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    unsigned char *buf;
    if (fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
        a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
        return NULL;
    }
    buf = malloc(a.ulValueLen + 1);
    if (buf == NULL) {
        return NULL;
    }
    a.pValue = buf;
    if (fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) {
        free(buf);
        return NULL;
    }
    buf[a.ulValueLen] = '\0';
    *len = a.ulValueLen;
    return buf;
}

void hsm_warn(const trisa_hsm *h, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (h == NULL || h->warn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->warn(msg, h->warn_data);
}

const char *hsm_ckr_name(CK_RV rv)
{
    static const struct {
        CK_RV rv;
        const char *name;
    } names[] = {
#define N(x) {x, #x}
        N(CKR_OK),
        N(CKR_HOST_MEMORY),
        N(CKR_SLOT_ID_INVALID),
        N(CKR_GENERAL_ERROR),
        N(CKR_FUNCTION_FAILED),
        N(CKR_ARGUMENTS_BAD),
        N(CKR_ATTRIBUTE_READ_ONLY),
        N(CKR_ATTRIBUTE_SENSITIVE),
        N(CKR_ATTRIBUTE_TYPE_INVALID),
        N(CKR_ATTRIBUTE_VALUE_INVALID),
        N(CKR_DATA_LEN_RANGE),
        N(CKR_DEVICE_ERROR),
        N(CKR_DEVICE_MEMORY),
        N(CKR_DEVICE_REMOVED),
        N(CKR_FUNCTION_NOT_SUPPORTED),
        N(CKR_KEY_HANDLE_INVALID),
        N(CKR_KEY_SIZE_RANGE),
        N(CKR_KEY_TYPE_INCONSISTENT),
        N(CKR_MECHANISM_INVALID),
        N(CKR_MECHANISM_PARAM_INVALID),
        N(CKR_OBJECT_HANDLE_INVALID),
        N(CKR_OPERATION_ACTIVE),
        N(CKR_OPERATION_NOT_INITIALIZED),
        N(CKR_PIN_INCORRECT),
        N(CKR_PIN_INVALID),
        N(CKR_PIN_LEN_RANGE),
        N(CKR_PIN_EXPIRED),
        N(CKR_PIN_LOCKED),
        N(CKR_SESSION_CLOSED),
        N(CKR_SESSION_COUNT),
        N(CKR_SESSION_HANDLE_INVALID),
        N(CKR_SESSION_READ_ONLY),
        N(CKR_TEMPLATE_INCOMPLETE),
        N(CKR_TEMPLATE_INCONSISTENT),
        N(CKR_TOKEN_NOT_PRESENT),
        N(CKR_TOKEN_NOT_RECOGNIZED),
        N(CKR_TOKEN_WRITE_PROTECTED),
        N(CKR_USER_ALREADY_LOGGED_IN),
        N(CKR_USER_NOT_LOGGED_IN),
        N(CKR_USER_PIN_NOT_INITIALIZED),
        N(CKR_USER_TYPE_INVALID),
        N(CKR_DOMAIN_PARAMS_INVALID),
        N(CKR_CURVE_NOT_SUPPORTED),
        N(CKR_CRYPTOKI_NOT_INITIALIZED),
        N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
#undef N
    };
    static _Thread_local char other[32];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].rv == rv) {
            return names[i].name;
        }
    }
    snprintf(other, sizeof(other), "CKR 0x%lx", (unsigned long)rv);
    return other;
}

const char *hsm_cka_name(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_CLASS:
        return "CKA_CLASS";
    case CKA_TOKEN:
        return "CKA_TOKEN";
    case CKA_LABEL:
        return "CKA_LABEL";
    case CKA_VALUE:
        return "CKA_VALUE";
    case CKA_CERTIFICATE_TYPE:
        return "CKA_CERTIFICATE_TYPE";
    case CKA_ISSUER:
        return "CKA_ISSUER";
    case CKA_SERIAL_NUMBER:
        return "CKA_SERIAL_NUMBER";
    case CKA_CERTIFICATE_CATEGORY:
        return "CKA_CERTIFICATE_CATEGORY";
    case CKA_ID:
        return "CKA_ID";
    case CKA_SUBJECT:
        return "CKA_SUBJECT";
    default:
        return "CKA_?";
    }
}

CK_RV hsm_last_ckr(void)
{
    unsigned long e;
    CK_RV rv = CKR_OK;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_get_CKR_code()) {
            rv = (CK_RV)ERR_GET_REASON(e);
        }
    }
    return rv;
}

char *hsm_token_uri(const CK_TOKEN_INFO *info)
{
    P11KitUri *u = p11_kit_uri_new();
    char *s = NULL;
    if (u == NULL) {
        return NULL;
    }
    memcpy(p11_kit_uri_get_token_info(u), info, sizeof(*info));
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) != P11_KIT_URI_OK) {
        s = NULL;
    }
    p11_kit_uri_free(u);
    return s;
}

char *hsm_object_uri(const trisa_hsm *h, CK_OBJECT_CLASS cls, const unsigned char *id,
                     size_t id_len, const char *label)
{
    P11KitUri *u = p11_kit_uri_new();
    CK_ATTRIBUTE a;
    char *s = NULL;
    if (u == NULL) {
        return NULL;
    }
    memcpy(p11_kit_uri_get_token_info(u), &h->tinfo, sizeof(h->tinfo));
    if (id != NULL && id_len > 0) {
        a.type = CKA_ID;
        a.pValue = (void *)id;
        a.ulValueLen = id_len;
        p11_kit_uri_set_attribute(u, &a);
    }
    if (label != NULL && label[0] != '\0') {
        a.type = CKA_LABEL;
        a.pValue = (void *)label;
        a.ulValueLen = strlen(label);
        p11_kit_uri_set_attribute(u, &a);
    }
    a.type = CKA_CLASS;
    a.pValue = &cls;
    a.ulValueLen = sizeof(cls);
    p11_kit_uri_set_attribute(u, &a);
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK) {
        s = NULL;
    }
    p11_kit_uri_free(u);
    return s;
}

/* Our own function list, initialised when it is one of its own (see struct trisa_hsm). It
 * is taken after libp11's, so that with a plain module libp11 initialises the module and
 * ours answers CKR_CRYPTOKI_ALREADY_INITIALIZED. */
static int init_own_list(trisa_hsm *h, const char *module)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = h->fn->C_Initialize(&args);
    if (rv == CKR_OK) {
        h->fn_initialised = 1;
    } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        return trisa_error_set(TRISA_EHSM, "%s: C_Initialize failed (%s)", module,
                               hsm_ckr_name(rv));
    }
    return 0;
}

int hsm_load(trisa_hsm *h, const char *module)
{
    struct stat st;
    CK_C_GetFunctionList get_list;
    CK_RV rv;

    if (module == NULL) {
        module = trisa_hsm_default_module();
        if (module == NULL) {
            return trisa_error_set(TRISA_EHSM, "no PKCS#11 module given, and p11-kit named no "
                                               "proxy module when this library was built");
        }
    }
    if (stat(module, &st) != 0) {
        return trisa_error_set(TRISA_EHSM, "%s: PKCS#11 module not found", module);
    }
    if (!S_ISREG(st.st_mode)) {
        return trisa_error_set(TRISA_EHSM, "%s: not a file, so not a PKCS#11 module", module);
    }
    /* Our own reference first: it tells "not a PKCS#11 module" apart from a token
     * failing to initialise. */
    h->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (h->dl == NULL) {
        return trisa_error_set(TRISA_EHSM, "%s: cannot load as a PKCS#11 module: %s", module,
                               dlerror());
    }
    get_list = (CK_C_GetFunctionList)dlsym(h->dl, "C_GetFunctionList");
    if (get_list == NULL) {
        return trisa_error_set(TRISA_EHSM, "%s: not a PKCS#11 module (it has no C_GetFunctionList)",
                               module);
    }
    h->ctx = PKCS11_CTX_new();
    if (h->ctx == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory loading %s", module);
    }
    if (PKCS11_CTX_load(h->ctx, module) != 0) {
        rv = hsm_last_ckr();
        PKCS11_CTX_free(h->ctx);
        h->ctx = NULL;
        return trisa_error_set(TRISA_EHSM, "%s: the module failed to initialise (%s)", module,
                               hsm_ckr_name(rv));
    }
    if ((rv = get_list(&h->fn)) != CKR_OK || h->fn == NULL) {
        return trisa_error_set(TRISA_EHSM, "%s: C_GetFunctionList failed (%s)", module,
                               hsm_ckr_name(rv));
    }
    if (init_own_list(h, module) != 0) {
        return TRISA_EHSM;
    }
    if (PKCS11_enumerate_slots(h->ctx, &h->slots, &h->nslots) != 0) {
        return trisa_error_set_ssl(TRISA_EHSM, "%s: cannot list slots", module);
    }
    return 0;
}

void hsm_unload(trisa_hsm *h)
{
    if (h->fn_initialised) {
        h->fn->C_Finalize(NULL);
        h->fn_initialised = 0;
    }
    if (h->ctx != NULL) {
        if (h->slots != NULL) {
            PKCS11_release_all_slots(h->ctx, h->slots, h->nslots);
            h->slots = NULL;
        }
        PKCS11_CTX_unload(h->ctx);
        PKCS11_CTX_free(h->ctx);
        h->ctx = NULL;
    }
    if (h->dl != NULL) {
        dlclose(h->dl);
        h->dl = NULL;
    }
}

CK_RV hsm_token_info(const trisa_hsm *h, PKCS11_SLOT *slot, CK_TOKEN_INFO *info)
{
    CK_RV rv = h->fn->C_GetTokenInfo(PKCS11_get_slotid_from_slot(slot), info);
    char label[33];
    if (rv != CKR_OK) {
        return rv;
    }
    /* Our list and libp11's number slots alike for the modules we know; should a module
     * not, say so rather than act on another token. */
    hsm_field(label, info->label, sizeof(info->label));
    if (slot->token != NULL && slot->token->label != NULL &&
        strcmp(label, slot->token->label) != 0) {
        return CKR_SLOT_ID_INVALID;
    }
    return CKR_OK;
}

/* Add "'label' (serial S)" of each token matching uri to names; count them; remember the
 * first. Tokens whose information cannot be read are told in `unreadable`. */
static size_t match_tokens(trisa_hsm *h, P11KitUri *uri, trisa_buf *names, trisa_buf *unreadable,
                           PKCS11_SLOT **first)
{
    size_t count = 0;
    for (unsigned int i = 0; i < h->nslots; i++) {
        PKCS11_SLOT *s = &h->slots[i];
        CK_TOKEN_INFO info;
        char label[33], serial[17];
        CK_RV rv;
        if (s->token == NULL || !s->token->initialized) {
            continue;
        }
        if ((rv = hsm_token_info(h, s, &info)) != CKR_OK) {
            if (unreadable != NULL) {
                trisa_buf_printf(unreadable, "%sslot %lu: %s", unreadable->len ? ", " : "",
                                 PKCS11_get_slotid_from_slot(s), hsm_ckr_name(rv));
            }
            continue;
        }
        if (uri != NULL && !p11_kit_uri_match_token_info(uri, &info)) {
            continue;
        }
        hsm_field(label, info.label, sizeof(info.label));
        hsm_field(serial, info.serialNumber, sizeof(info.serialNumber));
        trisa_buf_printf(names, "%s'%s' (serial %s)", count ? ", " : "", label, serial);
        if (count++ == 0) {
            *first = s;
        }
    }
    return count;
}

static int parse_uri(P11KitUri **out, const char *text)
{
    P11KitUri *u;
    int r;
    *out = NULL;
    if (text == NULL) {
        return 0;
    }
    u = p11_kit_uri_new();
    if (u == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory parsing a PKCS#11 URI");
    }
    r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, u);
    if (r != P11_KIT_URI_OK) {
        p11_kit_uri_free(u);
        return trisa_error_set(TRISA_EINVAL, "PKCS#11 URI '%s': %s", text, p11_kit_uri_message(r));
    }
    *out = u;
    return 0;
}

/* Exactly one token matches the URI: it becomes the selected one. */
static int select_token(trisa_hsm *h, P11KitUri *uri, const char *uri_text)
{
    trisa_buf names = TRISA_BUF_INIT, all = TRISA_BUF_INIT, unreadable = TRISA_BUF_INIT;
    PKCS11_SLOT *ignored;
    size_t count, n;
    CK_RV rv;
    int rc = 0;

    count = match_tokens(h, uri, &names, NULL, &h->slot);
    if (count == 0) {
        n = match_tokens(h, NULL, &all, &unreadable, &ignored);
        rc =
            trisa_error_set(TRISA_ENOTFOUND, "no token matches '%s'; tokens present: %s%s%s%s",
                            uri_text, n ? all.data : "none", unreadable.len ? " (unreadable: " : "",
                            unreadable.len ? unreadable.data : "", unreadable.len ? ")" : "");
    } else if (count > 1) {
        rc = trisa_error_set(TRISA_EAMBIGUOUS,
                             "%zu tokens match '%s': %s; add token= or serial= to the URI", count,
                             uri_text, names.data);
    } else if ((rv = hsm_token_info(h, h->slot, &h->tinfo)) != CKR_OK) {
        rc = trisa_error_set(TRISA_EHSM, "cannot read the token's information (%s)",
                             hsm_ckr_name(rv));
    } else {
        h->slot_id = PKCS11_get_slotid_from_slot(h->slot);
        hsm_field(h->label, h->tinfo.label, sizeof(h->tinfo.label));
    }
    trisa_buf_free(&names, 0);
    trisa_buf_free(&all, 0);
    trisa_buf_free(&unreadable, 0);
    return rc;
}

/* The URI's object= and id=: the defaults of a key generated on the token. */
static void remember_key_names(trisa_hsm *h, P11KitUri *uri)
{
    CK_ATTRIBUTE *a;
    if (uri == NULL) {
        return;
    }
    a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
    if (a != NULL && a->ulValueLen < sizeof(h->uri_label)) {
        memcpy(h->uri_label, a->pValue, a->ulValueLen);
        h->uri_label[a->ulValueLen] = '\0';
    }
    a = p11_kit_uri_get_attribute(uri, CKA_ID);
    if (a != NULL && a->ulValueLen <= sizeof(h->uri_id)) {
        memcpy(h->uri_id, a->pValue, a->ulValueLen);
        h->uri_id_len = a->ulValueLen;
    }
}

static int login(trisa_hsm *h, const trisa_hsm_options *o, P11KitUri *uri)
{
    char *pin = NULL;
    CK_RV rv;

    if (h->tinfo.flags & CKF_USER_PIN_LOCKED) {
        return hsm_locked_error(h->label);
    }
    if (PKCS11_open_session(h->slot, 1) != 0) {
        rv = hsm_last_ckr();
        return trisa_error_set(TRISA_EHSM, "token '%s': cannot open a session (%s)", h->label,
                               hsm_ckr_name(rv));
    }
    if (!(h->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH) &&
        hsm_get_pin(&pin, h, o, uri, 1) != 0) {
        return trisa_error_prefix("token '%s'", h->label);
    }
    if (PKCS11_login(h->slot, 0, pin) == 0) {
        trisa_secret_free(pin);
        h->logged_in = 1;
        return 0;
    }
    trisa_secret_free(pin);
    rv = hsm_last_ckr();
    return hsm_login_error(h, h->slot_id, h->label, rv, h->tinfo.flags);
}

int trisa_hsm_open(trisa_hsm **out, const trisa_hsm_options *opts)
{
    trisa_hsm_options defaults = TRISA_HSM_OPTIONS_INIT;
    const trisa_hsm_options *o = opts != NULL ? opts : &defaults;
    trisa_hsm *h = NULL;
    P11KitUri *uri = NULL;
    const char *module;
    int rc;

    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_open: out is NULL");
    }
    *out = NULL;
    if (o->version != TRISA_HSM_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_options: unknown version %u", o->version);
    }
    if ((rc = parse_uri(&uri, o->uri)) != 0) {
        return rc;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    h->warn = o->warn;
    h->warn_data = o->warn_data;
    module = o->module;
    if (module == NULL && uri != NULL) {
        module = p11_kit_uri_get_module_path(uri);
    }
    if ((rc = hsm_load(h, module)) != 0 ||
        (rc = select_token(h, uri, o->uri ? o->uri : "pkcs11:")) != 0) {
        goto done;
    }
    remember_key_names(h, uri);
    if (!o->no_login && (rc = login(h, o, uri)) != 0) {
        goto done;
    }
    *out = h;
    h = NULL;
    rc = 0;
done:
    p11_kit_uri_free(uri);
    trisa_hsm_free(h);
    return rc;
}

const char *trisa_hsm_token_label(const trisa_hsm *hsm)
{
    return hsm != NULL ? hsm->label : "";
}

void trisa_hsm_free(trisa_hsm *h)
{
    if (h == NULL) {
        return;
    }
    if (h->ctx != NULL && h->logged_in) {
        PKCS11_logout(h->slot);
    }
    hsm_unload(h);
    free(h);
}
