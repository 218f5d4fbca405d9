/* sectigo: dispatch to one command; global flags come before the command name. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
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

enum { G_USER = 1, G_PASS, G_PASSFILE, G_PROFILE, G_ENV, G_URL, G_CACERT, G_HELP, G_VERSION };

static const tool_opt global_opts[] = {
    {G_USER, 'u', "username", "NAME", "Sectigo username [$SECTIGO_USERNAME]"},
    {G_PASS, 'p', "password", "PASS", "Sectigo password [$SECTIGO_PASSWORD]"},
    {G_PASSFILE, 0, "password-file", "FILE", "read the Sectigo password from FILE's first line"},
    {G_PROFILE, 'P', "profile", "NAME", "Sectigo profile [$SECTIGO_PROFILE]"},
    {G_ENV, 'E', "env|environment", "ENV",
     "production, staging, docker or testing [$SECTIGO_ENVIRONMENT]"},
    {G_URL, 'e', "url|endpoint", "URL", "API base URL [$SECTIGO_ENDPOINT]"},
    {G_CACERT, 0, "cacert", "FILE", "trust this CA bundle for TLS [$SECTIGO_CA_BUNDLE]"},
    {G_HELP, 'h', "help", NULL, "show this help"},
    {G_VERSION, 0, "version", NULL, "print the version"},
    TOOL_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sectigo [global options] <command> [command options]\n\n"
               "Commands:\n");
    for (const sectigo_command *c = commands; c->name != NULL; c++) {
        fprintf(f, "  %-14s %s\n", c->name, c->summary);
    }
    fprintf(f, "\nGlobal options:\n");
    tool_opt_help(f, global_opts);
    fprintf(f, "\nRun 'sectigo <command> --help' for a command's options.\n"
               "Exit codes: 0 success, 1 other failure, 2 usage, 3 invalid input, 4 file exists,\n"
               "5 authentication, 6 API error, 7 network, 14 endpoint refused by the\n"
               "environment guard.\n");
}

int main(int argc, char **argv)
{
    sectigo_globals g = {0};
    tool_parser p;
    int id;

    /* A peer closing a TLS connection must be an error to report, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    /* As the reference does: ./.env fills SECTIGO_* variables the environment lacks. */
    sectigo_load_dotenv(".env");
    g.username = getenv("SECTIGO_USERNAME");
    g.password = getenv("SECTIGO_PASSWORD");
    g.profile = getenv("SECTIGO_PROFILE");
    g.environment = getenv("SECTIGO_ENVIRONMENT");
    g.endpoint = getenv("SECTIGO_ENDPOINT");
    g.cacert = getenv("SECTIGO_CA_BUNDLE");

    tool_opt_init(&p, argc, argv, global_opts, "sectigo");
    p.stop_at_positional = 1;
    while ((id = tool_opt_next(&p)) > 0) {
        switch (id) {
        case G_USER:
            g.username = p.value;
            break;
        case G_PASS:
            g.password = p.value;
            break;
        case G_PASSFILE:
            g.password_file = p.value;
            break;
        case G_PROFILE:
            g.profile = p.value;
            break;
        case G_ENV:
            g.environment = p.value;
            break;
        case G_URL:
            g.endpoint = p.value;
            break;
        case G_CACERT:
            g.cacert = p.value;
            break;
        case G_HELP:
            usage(stdout);
            return 0;
        case G_VERSION:
            printf("sectigo (trisa-certkit) %s\n", trisa_version());
            return 0;
        }
    }
    if (id == TOOL_OPT_ERROR) {
        return TOOL_EXIT_USAGE;
    }
    if (p.index >= argc) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    for (const sectigo_command *c = commands; c->name != NULL; c++) {
        if (strcmp(argv[p.index], c->name) == 0 ||
            (c->alias != NULL && strcmp(argv[p.index], c->alias) == 0)) {
            return c->fn(argc - p.index, argv + p.index, &g);
        }
    }
    return tool_usage_error("sectigo", "unknown command '%s'", argv[p.index]);
}
