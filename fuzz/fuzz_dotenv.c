/*
 * libFuzzer target: a .env file in the working folder of `sectigo` (and `sectigo serve`),
 * read as godotenv 1.5 reads it (tools/sectigo/dotenv.c) through sectigo_dotenv_parse(),
 * without touching the environment. Only SECTIGO_* and SIAS_* keys may come out, each at
 * most once; a syntax error names a line of the text and sets nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/sectigo/sectigo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    char *keys[256];
    size_t n;
} seen;

static void take(const char *key, const char *value, void *arg)
{
    seen *s = arg;

    if (strncmp(key, "SECTIGO_", 8) != 0 && strncmp(key, "SIAS_", 5) != 0) {
        abort();
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i], key) == 0) {
            abort(); /* one value a key: the last */
        }
    }
    if (s->n < sizeof(s->keys) / sizeof(s->keys[0])) {
        s->keys[s->n++] = strdup(key);
    }
    (void)strlen(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    seen s = {{0}, 0};
    long line;
    size_t lines = 1;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    line = sectigo_dotenv_parse(text, size, take, &s);
    if (line < -1 || line > (long)lines || (line != 0 && s.n != 0)) {
        abort();
    }
    for (size_t i = 0; i < s.n; i++) {
        free(s.keys[i]);
    }
    free(text);
    return 0;
}
