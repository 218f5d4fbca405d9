#include <stdarg.h>
#include <stdio.h>

#include "trisa/common.h"
#include "tools/common/exit.h"

int tool_exit_code(int err)
{
    return trisa_error_exit_code(err);
}

int tool_fail(const char *prog, int err)
{
    const char *msg = trisa_error_last();
    fprintf(stderr, "%s: error: %s\n", prog, msg[0] != '\0' ? msg : trisa_strerror(err));
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
