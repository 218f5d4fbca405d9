/* Shared between the hsm/ source files. */
#ifndef TRISA_HSM_INTERNAL_H
#define TRISA_HSM_INTERNAL_H

#include <libp11.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "common/internal.h"
#include "trisa/hsm.h"

struct trisa_hsm {
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    PKCS11_SLOT *slot; /* the selected token's slot */
    /* The function list we call directly, for what libp11 lacks. p11-kit's proxy hands
     * each C_GetFunctionList caller a list of its own that must be initialised on its
     * own: fn_initialised says we did, so we finalise it. */
    CK_FUNCTION_LIST_PTR fn;
    int fn_initialised;
    void *dl; /* our reference on the module (dlopen) */
    CK_SLOT_ID slot_id;
    CK_TOKEN_INFO tinfo;
    char label[33]; /* token label, blank padding removed */
    int logged_in;
    char uri_label[80];       /* object= of the URI given at open: default key label */
    unsigned char uri_id[64]; /* id= of that URI: default key id */
    size_t uri_id_len;
    trisa_hsm_warn_cb warn;
    void *warn_data;
};

/* Load the module with libp11 and take (and initialise) our own function list. */
int hsm_load(trisa_hsm *h, const char *module);
/* Unload what hsm_load() loaded; the handle itself is not freed. */
void hsm_unload(trisa_hsm *h);
/* C_GetTokenInfo through our list for a libp11 slot; checks that both see one token. */
CK_RV hsm_token_info(const trisa_hsm *h, PKCS11_SLOT *slot, CK_TOKEN_INFO *info);
/* Read one attribute into a new NUL-terminated buffer (NULL when absent or unreadable);
 * *len gets its length. Caller frees. */
unsigned char *hsm_get_attr(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                            CK_ATTRIBUTE_TYPE type, CK_ULONG *len);
/* A fixed-width PKCS#11 text field as a C string without its blank padding. */
void hsm_field(char *out, const unsigned char *field, size_t width);
/* URI for an object on the selected token (class, id, label); caller frees. */
char *hsm_object_uri(const trisa_hsm *h, CK_OBJECT_CLASS cls, const unsigned char *id,
                     size_t id_len, const char *label);
/* URI for a token; caller frees. */
char *hsm_token_uri(const CK_TOKEN_INFO *info);
/* "CKR_PIN_INCORRECT"-like name of a return value ("CKR 0x...": vendor or unknown). */
const char *hsm_ckr_name(CK_RV rv);
/* "CKA_ISSUER"-like name of an attribute type. */
const char *hsm_cka_name(CK_ATTRIBUTE_TYPE type);
/* The CKR code libp11 left in OpenSSL's error queue, or CKR_OK when none. */
CK_RV hsm_last_ckr(void);
/* Pass a warning to the caller's callback, if any. */
void hsm_warn(const trisa_hsm *h, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* The PIN from the options, the URI (pin-source, pin-value), $TRISA_PKCS11_PIN, then a
 * prompt when may_prompt; *pin is NULL when there is none and no prompt. */
int hsm_get_pin(char **pin, const trisa_hsm *h, const trisa_hsm_options *o, P11KitUri *uri,
                int may_prompt);
/* The error for a failed C_Login on a token (flags_before: its flags before trying). */
int hsm_login_error(const trisa_hsm *h, CK_SLOT_ID slot, const char *label, CK_RV rv,
                    CK_FLAGS flags_before);
/* The error for a locked user PIN found before trying to log in. */
int hsm_locked_error(const char *label);

#endif
