/* sectigo: dispatch to one command; global flags come before the command name. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/harden.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

static const sectigo_command commands[] = {
    {"auth", NULL, cmd_auth, "check authentication status with server"},
    {"create", NULL, cmd_create, "create single certificate batch"},
    {"upload", NULL, cmd_upload, "upload a certificate signing request"},
    {"batches", NULL, cmd_batches, "view batch jobs for certificate creation"},
    {"download", NULL, cmd_download, "download batch as a ZIP file"},
    {"licenses", NULL, cmd_licenses, "view the ordered/issued certificates"},
    {"authorities", NULL, cmd_authorities, "view the current users authorities by ecosystem"},
    {"profiles", "profile", cmd_profiles, "view profiles available to the user"},
    {"organization", NULL, cmd_organization, "view organization of the current user"},
    {"find", NULL, cmd_find, "search for certs by common name and serial number"},
    {"revoke", NULL, cmd_revoke, "revoke a certificate by serial number"},
    {"serve", NULL, cmd_serve, "run a local Sectigo-compatible server (the emulator)"},
    {NULL, NULL, NULL, NULL},
};

enum { G_PASSFILE = 1, G_PROFILE, G_JSON, G_HELP, G_VERSION };

static const tool_opt global_opts[] = {
    TOOL_CONN_OPTIONS_REFERENCE,
    {G_PASSFILE, 0, "password-file", "FILE", "read the Sectigo password from FILE's first line"},
    {G_PROFILE, 'P', "profile", "NAME", "Sectigo profile [$SECTIGO_PROFILE]"},
    {G_JSON, 0, "json", NULL,
     "JSON from every command (output as the reference's where it prints JSON), errors "
     "too: one document on stdout (also after the command)"},
    {G_HELP, 'h', "help", NULL, "show this help"},
    {G_VERSION, 'v', "version", NULL, "print the version (-V too)"},
    {G_VERSION, 'V', NULL, NULL, NULL},
    TOOL_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sectigo [global options] <command> [command options]\n\n"
               "Commands:\n");
    for (const sectigo_command *c = commands; c->name != NULL; c++) {
        fprintf(f, "  %-14s %s\n", c->name, c->summary);
        if (c->alias != NULL) {
            fprintf(f, "  %-14s the same as %s\n", c->alias, c->name);
        }
    }
    fprintf(f, "  %-14s %s\n", "help", "show this help, or a command's: help COMMAND");
    fprintf(f, "\nGlobal options:\n");
    tool_opt_help(f, global_opts);
    fprintf(f, "\nRun 'sectigo <command> --help' for a command's options.\n"
               "Exit codes: 0 success, 1 other failure, 2 usage, 3 invalid input, 4 file exists,\n"
               "5 authentication, 6 API error, 7 network, TLS or time-out, 14 endpoint refused\n"
               "by the environment guard, 130 interrupted (Ctrl-C). With --json, an error is\n"
               "{\"error\": {\"exit\": N, \"code\": ..., \"message\": ...}} on stdout. "
               "See sectigo(1).\n");
}

static const sectigo_command *find_command(const char *name)
{
    for (const sectigo_command *c = commands; c->name != NULL; c++) {
        if (strcmp(name, c->name) == 0 || (c->alias != NULL && strcmp(name, c->alias) == 0)) {
            return c;
        }
    }
    return NULL;
}

/* Levenshtein distance, for "did you mean"; names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63) {
        return 64;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* "unknown command 'x'", with the nearest command when one is near enough: a prefix of
 * it, or at most a third of the letters (at least two) wrong. */
static int unknown_command(const char *name)
{
    const char *best = NULL;
    size_t n = strlen(name), best_d = 64, near = n / 3 > 2 ? n / 3 : 2;

    for (const sectigo_command *c = commands; c->name != NULL; c++) {
        size_t d = n > 0 && strncmp(name, c->name, n) == 0 ? 0 : distance(name, c->name);
        if (d < best_d) {
            best_d = d;
            best = c->name;
        }
    }
    if (best != NULL && best_d <= near) {
        return tool_usage_error("sectigo", "unknown command '%s'; did you mean '%s'?", name, best);
    }
    return tool_usage_error("sectigo", "unknown command '%s'", name);
}

/* A .env holds the API password: one that others can read is worth a word (it is read
 * all the same, as the reference reads it). */
static void check_dotenv_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 044) != 0) {
        tool_warn("sectigo",
                  "%s is readable by %s (mode %03o) and may hold the API password: chmod 600 %s",
                  path, (st.st_mode & 004) ? "every user" : "its group",
                  (unsigned)(st.st_mode & 0777), path);
    }
}

/* sectigo help [COMMAND]: the overview, or a command's own --help. */
static int help(int argc, char **argv, sectigo_globals *g)
{
    const sectigo_command *c;
    char *sub[3];

    if (argc < 2) {
        usage(stdout);
        return TOOL_EXIT_OK;
    }
    if ((c = find_command(argv[1])) == NULL) {
        return unknown_command(argv[1]);
    }
    sub[0] = argv[1];
    sub[1] = (char *)"--help";
    sub[2] = NULL;
    return c->fn(2, sub, g);
}

int main(int argc, char **argv)
{
    sectigo_globals g;
    const sectigo_command *c;
    tool_parser p;
    int id, rc;

    /* Before anything holds a secret: no core files, no reading of this process's memory
     * by other processes of the user. */
    tool_harden();
    /* Go's flag package takes -json as --json. */
    tool_report_init("sectigo", argc, argv, 1);
    /* A peer closing a TLS connection must be an error to report, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    check_dotenv_mode(".env");
    /* As the reference does (godotenv): ./.env fills the variables the environment lacks;
     * ours takes only SECTIGO_* (the client) and SIAS_* (serve) from it. */
    sectigo_load_dotenv(".env");
    memset(&g, 0, sizeof(g));
    tool_conn_init(&g.conn);
    g.profile = getenv("SECTIGO_PROFILE");

    sectigo_parser_init(&p, argc, argv, global_opts, "sectigo");
    p.stop_at_positional = 1;
    while ((id = tool_opt_next(&p)) > 0) {
        if ((rc = tool_conn_option(&g.conn, &p, id)) != 0) {
            if (rc < 0) {
                return tool_finish(TOOL_EXIT_FAILURE);
            }
            continue;
        }
        switch (id) {
        case G_PASSFILE:
            g.password_file = p.value;
            break;
        case G_PROFILE:
            g.profile = p.value;
            break;
        case G_JSON:
            tool_report_set_json(1);
            break;
        case G_HELP:
            usage(stdout);
            return tool_finish(TOOL_EXIT_OK);
        case G_VERSION:
            return tool_finish(tool_version());
        }
    }
    if (id == TOOL_OPT_ERROR) {
        return tool_finish(TOOL_EXIT_USAGE);
    }
    if (p.index >= argc) {
        /* As the reference: no command shows the help. */
        usage(stdout);
        return tool_finish(TOOL_EXIT_OK);
    }
    if (strcmp(argv[p.index], "help") == 0 || strcmp(argv[p.index], "h") == 0) {
        return tool_finish(help(argc - p.index, argv + p.index, &g));
    }
    if ((c = find_command(argv[p.index])) == NULL) {
        return tool_finish(unknown_command(argv[p.index]));
    }
    return tool_finish(c->fn(argc - p.index, argv + p.index, &g));
}
