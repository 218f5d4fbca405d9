/* Process hardening for the tools: no core dumps, argv secrets overwritten once read. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "tools/common/harden.h"

/* Secrets copied out of argv, wiped at exit. A command line holds a handful. */
#define MAX_SECRETS 32

static struct {
    char *data;
    size_t size;
} secrets[MAX_SECRETS];
static int nsecrets;
static int registered;

static void wipe_secrets(void)
{
    for (int i = 0; i < nsecrets; i++) {
        OPENSSL_cleanse(secrets[i].data, secrets[i].size);
        free(secrets[i].data);
        secrets[i].data = NULL;
    }
    nsecrets = 0;
}

void tool_harden(void)
{
    struct rlimit none = {0, 0};

    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)setrlimit(RLIMIT_CORE, &none);
    if (!registered) {
        registered = atexit(wipe_secrets) == 0;
    }
}

const char *tool_secret_arg(char *arg)
{
    size_t size;
    char *copy;

    if (arg == NULL) {
        return NULL;
    }
    size = strlen(arg) + 1;
    if (nsecrets == MAX_SECRETS || (copy = malloc(size)) == NULL) {
        return NULL;
    }
    if (!registered) {
        registered = atexit(wipe_secrets) == 0;
    }
    memcpy(copy, arg, size);
    memset(arg, 'x', size - 1);
    secrets[nsecrets].data = copy;
    secrets[nsecrets].size = size;
    nsecrets++;
    return copy;
}
