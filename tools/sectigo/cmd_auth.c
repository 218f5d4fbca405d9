/* sectigo auth: log in or refresh and cache the tokens; --debug and --cache inspect. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
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

/* With --json: one object, {"NAME": VALUE-or-null, ...}; pairs of name and string. */
static int print_object(const char *const *pairs, size_t n)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_puts(&b, "{");
    for (size_t i = 0; i + 1 < n; i += 2) {
        trisa_buf_puts(&b, i > 0 ? ", " : "");
        trisa_json_str(&b, pairs[i], 0);
        trisa_buf_puts(&b, ": ");
        if (pairs[i + 1] != NULL &&
            (strcmp(pairs[i + 1], "true") == 0 || strcmp(pairs[i + 1], "false") == 0)) {
            trisa_buf_puts(&b, pairs[i + 1]);
        } else {
            trisa_json_str(&b, pairs[i + 1], 0);
        }
    }
    trisa_buf_puts(&b, "}\n");
    if (!b.failed) {
        fputs(b.data, stdout);
        tool_report_printed();
    }
    trisa_buf_free(&b, 0);
    return TOOL_EXIT_OK;
}

/* A Unix time as RFC 3339 UTC, for JSON. */
static void iso_time(char out[32], long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

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
        int exists = path != NULL && stat(path, &sb) == 0;
        if (tool_report_json()) {
            const char *pairs[] = {"cache", exists ? path : NULL};
            print_object(pairs, 2);
        } else if (exists) {
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
        if (tool_report_json()) {
            char until[32] = "";
            const char *pairs[] = {"state",
                                   info.valid     ? "valid"
                                   : info.current ? "current"
                                                  : "expired",
                                   "until", NULL};
            if (info.valid || info.current) {
                iso_time(until, info.valid ? info.expires_at : info.refresh_by);
                pairs[3] = until;
            }
            print_object(pairs, 4);
        } else if (info.valid) {
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
    if (rc == 0 && tool_report_json()) {
        const char *pairs[] = {"authenticated", "true", "cache", trisa_sectigo_cache_path(c)};
        print_object(pairs, 4);
    } else if (rc == 0) {
        printf("user authenticated and credentials cached\n");
    } else {
        rc = tool_fail(prog, rc);
    }
    trisa_sectigo_free(c);
    return rc;
}
