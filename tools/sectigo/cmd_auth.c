/* sectigo auth: log in or refresh and cache the tokens; --debug and --cache inspect. */
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_DEBUG = 1, O_CACHE };

static const tool_opt opts[] = {
    {O_DEBUG, 'd', "debug", NULL, "do not refresh or authenticate, print state and exit"},
    {O_CACHE, 'C', "cache", NULL, "print cache location and exit"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo auth", "sectigo [global options] auth [--debug | --cache]",
    "Log in (or refresh the cached tokens) and cache the tokens.", opts, 0};

/* Go's time.Time String() for a Unix time, in local time. */
static void print_time(const char *prefix, long long t)
{
    char buf[64];
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    printf("%s %s\n", prefix, buf);
}

int cmd_auth(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    tool_parser p;
    int id, debug = 0, cache = 0, rc;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_DEBUG:
            debug = 1;
            break;
        case O_CACHE:
            cache = 1;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    if (cache) {
        const char *path = trisa_sectigo_cache_path(c);
        struct stat sb;
        if (path != NULL && stat(path, &sb) == 0) {
            printf("%s\n", path);
        } else {
            printf("no credentials cache file exists\n");
        }
        trisa_sectigo_free(c);
        return TOOL_EXIT_OK;
    }
    if (debug) {
        trisa_sectigo_token_info info;
        trisa_sectigo_token_state(c, &info);
        if (info.valid) {
            print_time("credentials are valid until", info.expires_at);
        } else if (info.current) {
            print_time("credentials are current until", info.refresh_by);
        } else {
            printf("credentials are expired or invalid\n");
        }
        trisa_sectigo_free(c);
        return TOOL_EXIT_OK;
    }
    rc = trisa_sectigo_ensure_auth(c);
    if (rc == 0) {
        printf("user authenticated and credentials cached\n");
    } else {
        rc = tool_fail(prog, rc);
    }
    trisa_sectigo_free(c);
    return rc;
}
