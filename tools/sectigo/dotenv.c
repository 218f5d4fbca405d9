/*
 * The .env file in the working folder, as the reference CLI reads it at start (godotenv:
 * see common/dotenv.c). Only SECTIGO_* (the client) and SIAS_* (`sectigo serve`) variables
 * are taken, so a .env cannot steer TLS trust (SSL_CERT_FILE), proxies or the cache
 * location; the environment wins over the file, as with the reference.
 */
#include <stdlib.h>
#include <string.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/sectigo/sectigo.h"

static void take(const char *name, const char *value, void *data)
{
    (void)data;
    if (strncmp(name, "SECTIGO_", 8) == 0 || strncmp(name, "SIAS_", 5) == 0) {
        (void)setenv(name, value, 0);
    }
}

void sectigo_load_dotenv(const char *path)
{
    trisa_dotenv *e = NULL;
    int rc = trisa_dotenv_load(&e, path);

    if (rc == 0) {
        trisa_dotenv_each(e, take, NULL);
    } else if (rc != TRISA_ENOTFOUND) {
        tool_warn("sectigo", "%s; nothing was taken from the file", trisa_error_last());
    }
    trisa_error_clear();
    trisa_dotenv_free(e);
}
