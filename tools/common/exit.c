#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"

int tool_exit_code(int err)
{
    switch (err) {
    case TRISA_OK:
        return TOOL_EXIT_OK;
    case TRISA_EINVAL:
    case TRISA_ECONFIG:
    case TRISA_EKEY:
    case TRISA_ECSR:
    case TRISA_EZIP:
    case TRISA_EBUNDLE:
    case TRISA_ENOTFOUND:
    case TRISA_ESECRET:
    case TRISA_ETOOBIG:
        return TOOL_EXIT_INPUT;
    case TRISA_EEXISTS:
        return TOOL_EXIT_EXISTS;
    case TRISA_EAUTH:
    case TRISA_EFORBIDDEN:
    case TRISA_ECERTLOGIN:
        return TOOL_EXIT_AUTH;
    case TRISA_EAPI:
    case TRISA_EBALANCE:
        return TOOL_EXIT_API;
    case TRISA_ENETWORK:
    case TRISA_ETIMEOUT:
        return TOOL_EXIT_NETWORK;
    case TRISA_EREJECTED:
        return TOOL_EXIT_REJECTED;
    case TRISA_EPENDING:
        return TOOL_EXIT_PENDING;
    case TRISA_EVERIFY:
    case TRISA_EMISMATCH:
        return TOOL_EXIT_VERIFY;
    case TRISA_EPASSWORD:
        return TOOL_EXIT_PASSWORD;
    case TRISA_EHSM:
    case TRISA_EAMBIGUOUS:
        return TOOL_EXIT_TOKEN;
    case TRISA_EPIN:
    case TRISA_ELOCKED:
        return TOOL_EXIT_PIN;
    case TRISA_EENV:
        return TOOL_EXIT_ENV;
    case TRISA_EBUSY:
        return TOOL_EXIT_BUSY;
    default:
        return TOOL_EXIT_FAILURE;
    }
}

int tool_fail(const char *prog, int err)
{
    const char *msg = trisa_error_last();
    size_t n;

    /* The recorded message is this failure's only when it was recorded with this code: an
     * older one (from a call that failed and was recovered from) would mislead. */
    if (msg[0] == '\0' || trisa_error_last_code() != err) {
        msg = trisa_strerror(err);
    }
    /* "a.zip: a.zip: cannot open": a name prefixed twice is printed once. */
    n = strcspn(msg, ":");
    if (msg[n] == ':' && msg[n + 1] == ' ' && strncmp(msg, msg + n + 2, n) == 0 &&
        msg[2 * n + 2] == ':') {
        msg += n + 2;
    }
    tool_error(prog, tool_exit_code(err), tool_code_name(err), "%s", msg);
    /* Printed once: a later failure must not show it again. */
    trisa_error_clear();
    return tool_exit_code(err);
}

void tool_warn(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: warning: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
