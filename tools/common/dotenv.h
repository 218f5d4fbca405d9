/*
 * .env files as godotenv reads them (the reference tools call godotenv.Load()): NAME=VALUE
 * and NAME: VALUE lines, `export` before a name, # comments (a # after white space ends an
 * unquoted value), 'single quotes' taken literally, "double quotes" with \n, \r and \X
 * escapes, values spanning lines inside quotes, and ${NAME} / $NAME expansion (upper-case
 * names: earlier values of the file first, then the environment, else empty) in unquoted
 * and double-quoted values. A file with an error sets nothing.
 */
#ifndef TRISA_TOOLS_DOTENV_H
#define TRISA_TOOLS_DOTENV_H

#include <stddef.h>

/* Called for each setting in file order; name and value are valid during the call. */
typedef void (*tool_dotenv_fn)(void *arg, const char *name, const char *value);

/* Parse text; 0, or -1 with "line N: why" in err. */
int tool_dotenv_parse(const char *text, size_t len, tool_dotenv_fn fn, void *arg, char *err,
                      size_t errcap);

/* Load path into the environment: only names starting with one of prefixes (a NULL-ended
 * list), never replacing a variable already set. 0 when loaded or when path does not
 * exist; -1 with "path: line N: why" in err (nothing set). Values are wiped after use. */
int tool_dotenv_load(const char *path, const char *const *prefixes, char *err, size_t errcap);

#endif
