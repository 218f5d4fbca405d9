/*
 * Times on the command line (--at, --now): one parser for every tool.
 */
#ifndef TRISA_TOOLS_TIMEARG_H
#define TRISA_TOOLS_TIMEARG_H

#include <time.h>

/* Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` (UTC) or `@EPOCH` (seconds, at least 1) into
 * *out. A date that does not exist (2021-02-30), the epoch itself (1970-01-01, which
 * callers could mistake for "unset"), earlier years and trailing text are refused. Returns 0 or -1 (the caller names the option). */
int tool_parse_time(const char *s, time_t *out);

#endif
