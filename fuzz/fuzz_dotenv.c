/*
 * libFuzzer target: a .env file (the one in the working folder of `sectigo` and `sectigo
 * serve`, and trisa-renew's --credentials files), read as godotenv 1.5 reads it by
 * common/dotenv.c. A syntax error names a line of the text and yields nothing; otherwise
 * every name comes out once, with a value that is a string, and looking a name up gives
 * the value it was listed with.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    const trisa_dotenv *env;
    char *names[256];
    size_t n;
} seen;

static void take(const char *name, const char *value, void *arg)
{
    seen *s = arg;
    const char *again = trisa_dotenv_get(s->env, name);

    if (again == NULL || strcmp(again, value) != 0) {
        abort(); /* the listed value is the one looked up: the last line's */
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            abort(); /* each name once */
        }
    }
    if (s->n < sizeof(s->names) / sizeof(s->names[0])) {
        s->names[s->n++] = strdup(name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trisa_dotenv *env = NULL;
    seen s = {NULL, {0}, 0};
    size_t lines = 1;
    int rc;

    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    rc = trisa_dotenv_parse(&env, (const char *)data, size, "fuzz.env");
    if (rc == 0) {
        s.env = env;
        trisa_dotenv_each(env, take, &s);
    } else {
        const char *msg = trisa_error_last();
        long line;
        if (env != NULL) {
            abort(); /* nothing of a refused file */
        }
        if (rc == TRISA_ECONFIG) {
            if (strncmp(msg, "fuzz.env:", 9) != 0) {
                abort();
            }
            line = strtol(msg + 9, NULL, 10);
            if (line < 1 || (size_t)line > lines) {
                abort();
            }
        } else if (rc != TRISA_ENOMEM) {
            abort();
        }
        trisa_error_clear();
    }
    for (size_t i = 0; i < s.n; i++) {
        free(s.names[i]);
    }
    trisa_dotenv_free(env);
    return 0;
}
