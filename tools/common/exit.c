#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"

int tool_exit_code(int err)
{
    return trisa_error_exit_code(err);
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
