/* PINs: where they come from, PIN files, and what a failed login tells. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hsm/internal.h"

/* The longest PIN: what trisa_secret_read() takes from a file, a descriptor or a prompt. */
#define HSM_PIN_MAX 4096

int trisa_hsm_pin_file_info(unsigned *out_flags, const char *path)
{
    struct stat st;
    unsigned char buf[4098];
    ssize_t n;
    int fd;

    if (out_flags == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_pin_file_info: NULL argument");
    }
    *out_flags = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return trisa_error_set(e == ENOENT ? TRISA_ENOTFOUND : TRISA_ESECRET, "%s: %s", path,
                               strerror(e));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return trisa_error_set(TRISA_ESECRET, "%s: not a regular file", path);
    }
    if (st.st_mode & (S_IRGRP | S_IROTH)) {
        *out_flags |= TRISA_HSM_PIN_FILE_SHARED;
    }
    /* Our readers stop at the first line end; the libp11 engine keeps it in the PIN. */
    n = read(fd, buf, sizeof(buf));
    close(fd);
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || buf[i] == '\r') {
            *out_flags |= TRISA_HSM_PIN_FILE_NEWLINE;
            break;
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

int trisa_hsm_uri_with_pin_file(char **out, const char *uri_text, const char *pin_file)
{
    P11KitUri *u;
    char *abs = NULL, *src = NULL;
    size_t len;
    int r, rc;

    if (out == NULL || uri_text == NULL || pin_file == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_hsm_uri_with_pin_file: NULL argument");
    }
    *out = NULL;
    u = p11_kit_uri_new();
    if (u == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if ((r = p11_kit_uri_parse(uri_text, P11_KIT_URI_FOR_ANY, u)) != P11_KIT_URI_OK) {
        rc =
            trisa_error_set(TRISA_EINVAL, "PKCS#11 URI '%s': %s", uri_text, p11_kit_uri_message(r));
        goto done;
    }
    /* A server starts elsewhere: the path must not depend on our working folder. */
    abs = realpath(pin_file, NULL);
    if (abs == NULL) {
        rc = trisa_error_set(TRISA_ENOTFOUND, "%s: %s", pin_file, strerror(errno));
        goto done;
    }
    len = strlen(abs) + sizeof("file:");
    src = malloc(len);
    if (src == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(src, len, "file:%s", abs);
    p11_kit_uri_set_pin_source(u, src);
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_ANY, out) != P11_KIT_URI_OK) {
        *out = NULL;
        rc = trisa_error_set(TRISA_ENOMEM, "cannot format the URI");
        goto done;
    }
    rc = 0;
done:
    free(src);
    free(abs);
    p11_kit_uri_free(u);
    return rc;
}

/* A PIN file others can read is a PIN others know: say so, once per read. */
static void check_pin_file(const trisa_hsm *h, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH))) {
        hsm_warn(h, "PIN file %s is readable by %s (mode %03o): chmod 600 %s", path,
                 (st.st_mode & S_IROTH) ? "other users" : "its group",
                 (unsigned)(st.st_mode & 0777), path);
    }
}

/* The path of a pin-source URI value: file:PATH, file://PATH or a plain path. */
static const char *pin_source_path(const char *ps)
{
    if (strncmp(ps, "file:", 5) == 0) {
        ps += 5;
        if (strncmp(ps, "//", 2) == 0) {
            ps += 2;
        }
    }
    return ps;
}

int hsm_get_pin(char **pin, const trisa_hsm *h, const trisa_hsm_options *o, P11KitUri *uri,
                int may_prompt)
{
    const char *src = o->pin;
    char spec[4200];
    char prompt[96];
    int rc;

    *pin = NULL;
    /* Both go through spec, which must hold them whole: a cut pin-value would be another
     * PIN (a wrong login, perhaps a locked token), a cut path another file. */
    if (src == NULL && uri != NULL && p11_kit_uri_get_pin_source(uri) != NULL) {
        const char *path = pin_source_path(p11_kit_uri_get_pin_source(uri));
        if ((size_t)snprintf(spec, sizeof(spec), "file:%s", path) >= sizeof(spec)) {
            return trisa_error_set(TRISA_ESECRET, "the PKCS#11 URI's pin-source is too long");
        }
        src = spec;
    }
    if (src == NULL && uri != NULL && p11_kit_uri_get_pin_value(uri) != NULL) {
        hsm_warn(h, "the PIN is in the PKCS#11 URI (pin-value): anyone who can list processes "
                    "or read shell history can see it; prefer pin-source=file:... or "
                    "TRISA_PKCS11_PIN");
        if (strlen(p11_kit_uri_get_pin_value(uri)) > HSM_PIN_MAX) {
            return trisa_error_set(
                TRISA_ESECRET, "the PKCS#11 URI's pin-value is longer than %d bytes", HSM_PIN_MAX);
        }
        snprintf(spec, sizeof(spec), "pass:%s", p11_kit_uri_get_pin_value(uri));
        src = spec;
    }
    if (src == NULL && getenv("TRISA_PKCS11_PIN") != NULL) {
        src = "env:TRISA_PKCS11_PIN";
    }
    if (src == NULL && !may_prompt) {
        return 0;
    }
    if (src != NULL && strncmp(src, "file:", 5) == 0) {
        check_pin_file(h, src + 5);
    }
    snprintf(prompt, sizeof(prompt), "PIN for token '%s': ", h->label);
    rc = trisa_secret_read(pin, NULL, src, prompt);
    OPENSSL_cleanse(spec, sizeof(spec));
    return rc;
}

int hsm_locked_error(const char *label)
{
    return trisa_error_set(TRISA_ELOCKED,
                           "token '%s': the user PIN is locked; the security officer must "
                           "unlock it (nothing was tried)",
                           label);
}

/* What the token's flags say after a wrong PIN. PKCS#11 defines CKF_USER_PIN_COUNT_LOW as
 * "a wrong PIN was given at least once since the last good login", not as "few tries
 * left": tokens that never lock (SoftHSM2) set it too. */
int hsm_login_error(const trisa_hsm *h, CK_SLOT_ID slot, const char *label, CK_RV rv,
                    CK_FLAGS flags_before)
{
    CK_TOKEN_INFO after;
    int have_after = h->fn->C_GetTokenInfo(slot, &after) == CKR_OK;

    if (rv == CKR_PIN_LOCKED || (have_after && (after.flags & CKF_USER_PIN_LOCKED))) {
        if (flags_before & CKF_USER_PIN_LOCKED) {
            return hsm_locked_error(label);
        }
        return trisa_error_set(TRISA_ELOCKED,
                               "token '%s': wrong PIN, and the user PIN is now locked; the "
                               "security officer must unlock it",
                               label);
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID) {
        if (have_after && (after.flags & CKF_USER_PIN_FINAL_TRY)) {
            return trisa_error_set(TRISA_EPIN,
                                   "token '%s': wrong PIN; one more wrong PIN locks the user "
                                   "PIN",
                                   label);
        }
        if (flags_before & CKF_USER_PIN_COUNT_LOW) {
            return trisa_error_set(TRISA_EPIN,
                                   "token '%s': wrong PIN (an earlier login since the last good "
                                   "one failed too: is another program using an old PIN?)",
                                   label);
        }
        return trisa_error_set(TRISA_EPIN, "token '%s': wrong PIN", label);
    }
    if (rv == CKR_PIN_LEN_RANGE) {
        return trisa_error_set(TRISA_EPIN,
                               "token '%s': wrong PIN (the token takes %lu to %lu characters)",
                               label, have_after ? (unsigned long)after.ulMinPinLen : 0UL,
                               have_after ? (unsigned long)after.ulMaxPinLen : 0UL);
    }
    if (rv == CKR_PIN_EXPIRED) {
        return trisa_error_set(TRISA_EPIN, "token '%s': the PIN has expired: change it first",
                               label);
    }
    return trisa_error_set(TRISA_EHSM, "token '%s': login failed (%s)", label, hsm_ckr_name(rv));
}
