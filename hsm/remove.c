/*
 * Removing a superseded key's objects (trisa-renew --prune): every object on the selected
 * token whose CKA_ID is the one the URI names, and nothing else. A URI without an id is
 * refused, so that a label shared by several keys can never select more than one key's
 * objects.
 */
#include <stdlib.h>
#include <string.h>

#include "hsm/internal.h"

int trisa_hsm_delete_objects(trisa_hsm *h, const char *uri_text, size_t *out_count)
{
    P11KitUri *uri = NULL;
    CK_ATTRIBUTE *id;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE found[64];
    CK_ULONG n = 0;
    size_t removed = 0;
    int rc = 0;

    if (out_count != NULL) {
        *out_count = 0;
    }
    if (h == NULL || uri_text == NULL) {
        return trisa_error_set(TRISA_EINVAL, "delete objects: no token or URI");
    }
    if ((uri = p11_kit_uri_new()) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (p11_kit_uri_parse(uri_text, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, uri) != P11_KIT_URI_OK) {
        rc = trisa_error_set(TRISA_EINVAL, "%.200s: not a PKCS#11 object URI", uri_text);
        goto done;
    }
    id = p11_kit_uri_get_attribute(uri, CKA_ID);
    if (id == NULL || id->ulValueLen == 0) {
        rc = trisa_error_set(TRISA_EINVAL, "%.200s: names no id; objects are removed by id only",
                             uri_text);
        goto done;
    }
    if ((rc = hsm_open_rw(&s, h)) != 0) {
        goto done;
    }
    /* Find first, then destroy: destroying while a search is active is not allowed. */
    {
        CK_ATTRIBUTE q[1] = {{CKA_ID, id->pValue, id->ulValueLen}};
        CK_RV rv = h->fn->C_FindObjectsInit(s, q, 1);
        if (rv == CKR_OK) {
            rv = h->fn->C_FindObjects(s, found, sizeof(found) / sizeof(found[0]), &n);
            h->fn->C_FindObjectsFinal(s);
        }
        if (rv != CKR_OK) {
            rc = trisa_error_set(TRISA_EHSM, "token '%s': cannot search for %.200s (%s)", h->label,
                                 uri_text, hsm_ckr_name(rv));
            goto done;
        }
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV rv = h->fn->C_DestroyObject(s, found[i]);
        if (rv != CKR_OK) {
            rc = trisa_error_set(TRISA_EHSM, "token '%s': cannot remove an object of %.200s (%s)",
                                 h->label, uri_text, hsm_ckr_name(rv));
            goto done;
        }
        removed++;
    }
done:
    if (s != CK_INVALID_HANDLE) {
        h->fn->C_CloseSession(s);
    }
    p11_kit_uri_free(uri);
    if (out_count != NULL) {
        *out_count = removed;
    }
    return rc;
}
