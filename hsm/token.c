/* Loading a PKCS#11 module, choosing a token by RFC 7512 URI, logging in. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "hsm/internal.h"

#define DEFAULT_MODULE "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"

void hsm_field(char *out, const unsigned char *field, size_t width)
{
    size_t n = width;
    while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0')) {
        n--;
    }
    memcpy(out, field, n);
    out[n] = '\0';
}

const char *hsm_ckr_text(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
        return "wrong PIN";
    case CKR_PIN_LOCKED:
        return "PIN locked";
    case CKR_PIN_EXPIRED:
        return "PIN expired";
    case CKR_USER_PIN_NOT_INITIALIZED:
        return "user PIN not initialised";
    case CKR_TOKEN_NOT_PRESENT:
        return "token not present";
    case CKR_DEVICE_REMOVED:
        return "device removed";
    case CKR_MECHANISM_INVALID:
        return "mechanism not supported";
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_ATTRIBUTE_VALUE_INVALID:
        return "token refused the key attributes";
    case CKR_KEY_SIZE_RANGE:
        return "key size not supported";
    case CKR_TOKEN_WRITE_PROTECTED:
        return "token is write-protected";
    case CKR_USER_NOT_LOGGED_IN:
        return "not logged in";
    default:
        return "PKCS#11 error";
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

int hsm_load(trisa_hsm *h, const char *module)
{
    struct stat st;
    CK_C_GetFunctionList get_list;

    if (module == NULL) {
        module = DEFAULT_MODULE;
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
    if (get_list(&h->fn) != CKR_OK || h->fn == NULL) {
        return trisa_error_set(TRISA_EHSM, "%s: C_GetFunctionList failed", module);
    }
    h->ctx = PKCS11_CTX_new();
    if (h->ctx == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory loading %s", module);
    }
    if (PKCS11_CTX_load(h->ctx, module) != 0) {
        CK_RV rv = hsm_last_ckr();
        PKCS11_CTX_free(h->ctx);
        h->ctx = NULL;
        return trisa_error_set(TRISA_EHSM, "%s: the module failed to initialise (%s, 0x%lx)",
                               module, hsm_ckr_text(rv), (unsigned long)rv);
    }
    if (PKCS11_enumerate_slots(h->ctx, &h->slots, &h->nslots) != 0) {
        return trisa_error_set_ssl(TRISA_EHSM, "%s: cannot list slots", module);
    }
    return 0;
}

static int token_info(const trisa_hsm *h, PKCS11_SLOT *slot, CK_TOKEN_INFO *info)
{
    CK_SLOT_ID id = PKCS11_get_slotid_from_slot(slot);
    return h->fn->C_GetTokenInfo(id, info) == CKR_OK ? 0 : -1;
}

/* Add "'label' (serial S)" of each token matching uri to b; count them; remember first. */
static size_t match_tokens(trisa_hsm *h, P11KitUri *uri, trisa_buf *names, PKCS11_SLOT **first)
{
    size_t count = 0;
    for (unsigned int i = 0; i < h->nslots; i++) {
        PKCS11_SLOT *s = &h->slots[i];
        CK_TOKEN_INFO info;
        char label[33], serial[17];
        if (s->token == NULL || !s->token->initialized || token_info(h, s, &info) != 0) {
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

/* The PIN, from the options, the URI, the environment or a prompt, in that order. */
static int get_pin(char **pin, trisa_hsm *h, const trisa_hsm_options *o, P11KitUri *uri)
{
    const char *src = o->pin;
    char spec[4200];
    char prompt[96];

    if (src == NULL && uri != NULL && p11_kit_uri_get_pin_source(uri) != NULL) {
        const char *ps = p11_kit_uri_get_pin_source(uri);
        /* RFC 7512: pin-source is a URI; file: and plain paths are what tokens use. */
        if (strncmp(ps, "file:", 5) == 0) {
            ps += 5;
            if (strncmp(ps, "//", 2) == 0) {
                ps += 2;
            }
        }
        snprintf(spec, sizeof(spec), "file:%s", ps);
        src = spec;
    }
    if (src == NULL && uri != NULL && p11_kit_uri_get_pin_value(uri) != NULL) {
        if (h->warn != NULL) {
            h->warn("the PIN is in the PKCS#11 URI (pin-value): anyone who can list processes "
                    "or read shell history can see it; prefer pin-source=file:... or "
                    "TRISA_PKCS11_PIN",
                    h->warn_data);
        }
        snprintf(spec, sizeof(spec), "pass:%s", p11_kit_uri_get_pin_value(uri));
        src = spec;
    }
    if (src == NULL && getenv("TRISA_PKCS11_PIN") != NULL) {
        src = "env:TRISA_PKCS11_PIN";
    }
    snprintf(prompt, sizeof(prompt), "PIN for token '%s': ", h->label);
    {
        int rc = trisa_secret_read(pin, NULL, src, prompt);
        OPENSSL_cleanse(spec, sizeof(spec));
        return rc;
    }
}

static int login(trisa_hsm *h, const trisa_hsm_options *o, P11KitUri *uri)
{
    char *pin = NULL;
    int rc;
    CK_RV rv;
    CK_TOKEN_INFO after;

    if (h->tinfo.flags & CKF_USER_PIN_LOCKED) {
        return trisa_error_set(TRISA_ELOCKED,
                               "token '%s': the user PIN is locked; the security officer must "
                               "unlock it",
                               h->label);
    }
    if (PKCS11_open_session(h->slot, 1) != 0) {
        return trisa_error_set_ssl(TRISA_EHSM, "token '%s': cannot open a session", h->label);
    }
    if (!(h->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        rc = get_pin(&pin, h, o, uri);
        if (rc != 0) {
            return trisa_error_prefix("token '%s'", h->label);
        }
    }
    if (PKCS11_login(h->slot, 0, pin) == 0) {
        trisa_secret_free(pin);
        h->logged_in = 1;
        return 0;
    }
    trisa_secret_free(pin);
    rv = hsm_last_ckr();
    if (rv == CKR_PIN_LOCKED) {
        return trisa_error_set(TRISA_ELOCKED, "token '%s': the user PIN is locked", h->label);
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID) {
        const char *left = "";
        if (h->fn->C_GetTokenInfo(h->slot_id, &after) == CKR_OK) {
            if (after.flags & CKF_USER_PIN_LOCKED) {
                return trisa_error_set(TRISA_ELOCKED,
                                       "token '%s': wrong PIN; the PIN is now locked", h->label);
            }
            if (after.flags & CKF_USER_PIN_FINAL_TRY) {
                left = " (one try left before the PIN locks)";
            } else if (after.flags & CKF_USER_PIN_COUNT_LOW) {
                left = " (few tries left before the PIN locks)";
            }
        }
        return trisa_error_set(TRISA_EPIN, "token '%s': wrong PIN%s", h->label, left);
    }
    return trisa_error_set(TRISA_EHSM, "token '%s': login failed (%s, 0x%lx)", h->label,
                           hsm_ckr_text(rv), (unsigned long)rv);
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

int trisa_hsm_open(trisa_hsm **out, const trisa_hsm_options *opts)
{
    trisa_hsm_options defaults = TRISA_HSM_OPTIONS_INIT;
    const trisa_hsm_options *o = opts != NULL ? opts : &defaults;
    trisa_hsm *h = NULL;
    P11KitUri *uri = NULL;
    trisa_buf names = TRISA_BUF_INIT;
    size_t count;
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
    if ((rc = hsm_load(h, module)) != 0) {
        goto done;
    }
    count = match_tokens(h, uri, &names, &h->slot);
    if (count == 0) {
        trisa_buf all = TRISA_BUF_INIT;
        PKCS11_SLOT *ignored;
        size_t n = match_tokens(h, NULL, &all, &ignored);
        rc = trisa_error_set(TRISA_ENOTFOUND, "no token matches '%s'; tokens present: %s",
                             o->uri ? o->uri : "pkcs11:", n ? all.data : "none");
        trisa_buf_free(&all, 0);
        goto done;
    }
    if (count > 1) {
        rc = trisa_error_set(TRISA_EAMBIGUOUS,
                             "%zu tokens match '%s': %s; add token= or serial= to the URI", count,
                             o->uri ? o->uri : "pkcs11:", names.data);
        goto done;
    }
    h->slot_id = PKCS11_get_slotid_from_slot(h->slot);
    if (token_info(h, h->slot, &h->tinfo) != 0) {
        rc = trisa_error_set(TRISA_EHSM, "cannot read the token's information");
        goto done;
    }
    hsm_field(h->label, h->tinfo.label, sizeof(h->tinfo.label));
    if (uri != NULL) {
        CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
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
    if (!o->no_login && (rc = login(h, o, uri)) != 0) {
        goto done;
    }
    *out = h;
    h = NULL;
    rc = 0;
done:
    trisa_buf_free(&names, 0);
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
    if (h->ctx != NULL) {
        if (h->logged_in) {
            PKCS11_logout(h->slot);
        }
        if (h->slots != NULL) {
            PKCS11_release_all_slots(h->ctx, h->slots, h->nslots);
        }
        PKCS11_CTX_unload(h->ctx);
        PKCS11_CTX_free(h->ctx);
    }
    if (h->dl != NULL) {
        dlclose(h->dl);
    }
    free(h);
}
