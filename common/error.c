/* The error model: one X-macro list of codes, a thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "common/internal.h"

#define MSG_MAX 1024

static _Thread_local int last_code;
static _Thread_local char last_msg[MSG_MAX];

const char *trisa_strerror(int code)
{
    switch (code) {
#define TRISA_X_CASE(name, value, text)                                                            \
    case value:                                                                                    \
        return text;
        TRISA_ERRORS(TRISA_X_CASE)
#undef TRISA_X_CASE
    }
    return "unknown error";
}

int trisa_error_exit_code(int code)
{
    switch (code) {
    case TRISA_OK:
        return 0;
    case TRISA_EINVAL:
    case TRISA_ECONFIG:
    case TRISA_EKEY:
    case TRISA_ECSR:
    case TRISA_EZIP:
    case TRISA_EBUNDLE:
    case TRISA_ENOTFOUND:
    case TRISA_ESECRET:
    case TRISA_ETOOBIG:
        return 3;
    case TRISA_EEXISTS:
        return 4;
    case TRISA_EAUTH:
    case TRISA_EFORBIDDEN:
    case TRISA_ECERTLOGIN:
        return 5;
    case TRISA_EAPI:
    case TRISA_EBALANCE:
        return 6;
    case TRISA_ENETWORK:
    case TRISA_ETIMEOUT:
        return 7;
    case TRISA_EREJECTED:
        return 8;
    case TRISA_EPENDING:
        return 9;
    case TRISA_EVERIFY:
    case TRISA_EMISMATCH:
        return 10;
    case TRISA_EPASSWORD:
        return 11;
    case TRISA_EHSM:
    case TRISA_EAMBIGUOUS:
        return 12;
    case TRISA_EPIN:
    case TRISA_ELOCKED:
        return 13;
    case TRISA_EENV:
        return 14;
    case TRISA_EBUSY:
        return 15;
    default:
        return 1;
    }
}

const char *trisa_error_last(void)
{
    return last_msg;
}

int trisa_error_last_code(void)
{
    return last_code;
}

void trisa_error_clear(void)
{
    last_code = TRISA_OK;
    last_msg[0] = '\0';
}

static void vset(int code, const char *fmt, va_list ap) TRISA_PRINTF(2, 0);

static void vset(int code, const char *fmt, va_list ap)
{
    char tmp[MSG_MAX];
    /* Format into a temporary first: fmt's arguments may point into last_msg. */
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    memcpy(last_msg, tmp, sizeof(tmp));
    last_code = code;
}

int trisa_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return code;
}

/* Append the reasons in OpenSSL's queue, oldest first, deduplicated, and empty it. */
static void drain_openssl(void)
{
    unsigned long e;
    const char *data = NULL;
    int flags = 0;
    size_t len = strlen(last_msg);
    char prev[256] = "";

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char reason[256];
        const char *r = ERR_reason_error_string(e);
        if (r == NULL) {
            snprintf(reason, sizeof(reason), "error:%08lX", e);
        } else if ((flags & ERR_TXT_STRING) && data != NULL && data[0] != '\0') {
            snprintf(reason, sizeof(reason), "%s (%s)", r, data);
        } else {
            snprintf(reason, sizeof(reason), "%s", r);
        }
        if (strcmp(reason, prev) == 0) {
            continue;
        }
        memcpy(prev, reason, sizeof(prev));
        if (len < MSG_MAX - 1) {
            int n = snprintf(last_msg + len, MSG_MAX - len, ": %s", reason);
            if (n > 0) {
                len += (size_t)n < MSG_MAX - len ? (size_t)n : MSG_MAX - len - 1;
            }
        }
    }
}

int trisa_error_set_ssl(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(code, fmt, ap);
    va_end(ap);
    drain_openssl();
    return code;
}

int trisa_error_prefix(const char *fmt, ...)
{
    char prefix[MSG_MAX];
    char tmp[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* Truncation is acceptable: the message stays NUL-terminated and readable. */
    size_t plen = strnlen(prefix, MSG_MAX - 3);
    memcpy(tmp, prefix, plen);
    memcpy(tmp + plen, ": ", 2);
    snprintf(tmp + plen + 2, MSG_MAX - plen - 2, "%s", last_msg);
    memcpy(last_msg, tmp, sizeof(tmp));
    if (last_code == TRISA_OK) {
        last_code = TRISA_ERROR;
    }
    return last_code;
}

const char *trisa_version(void)
{
    return TRISA_VERSION;
}
