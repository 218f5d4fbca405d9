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
    PKCS11_SLOT *slot;       /* the selected token's slot */
    CK_FUNCTION_LIST_PTR fn; /* the module's own function list, for what libp11 lacks */
    void *dl;                /* our reference on the module (dlopen) */
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

/* Load the module with libp11 and take our own reference on its function list. */
int hsm_load(trisa_hsm *h, const char *module);
/* A fixed-width PKCS#11 text field as a C string without its blank padding. */
void hsm_field(char *out, const unsigned char *field, size_t width);
/* URI for an object on the selected token (class, id, label); caller frees. */
char *hsm_object_uri(const trisa_hsm *h, CK_OBJECT_CLASS cls, const unsigned char *id,
                     size_t id_len, const char *label);
/* URI for a token; caller frees. */
char *hsm_token_uri(const CK_TOKEN_INFO *info);
/* Describe a CKR code ("CKR_PIN_INCORRECT"-like text). */
const char *hsm_ckr_text(CK_RV rv);
/* The CKR code libp11 left in OpenSSL's error queue, or CKR_OK when none. */
CK_RV hsm_last_ckr(void);

#endif
