/* trisa-renew rollback NAME, remove NAME, import NAME --zip FILE --password-file F. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trisa/lineage.h"
#include "tools/common/exit.h"
#include "tools/trisa-renew/renew.h"

enum {
    O_STATE = 1,
    O_PURGE,
    O_ZIP,
    O_PASSFILE,
    O_PASSIN,
    O_TRUST,
    O_TRUST_ROOT,
    O_NO_HOOKS,
    O_HOOK_TIMEOUT,
    O_QUIET,
    O_HELP,
};

static const tool_opt rollback_opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_NO_HOOKS, 0, "no-hooks", NULL, "do not run the deploy hook"},
    {O_HOOK_TIMEOUT, 0, "hook-timeout", "SECONDS", "a hook is killed after this (default 300)"},
    {O_QUIET, 'q', "quiet", NULL, "print only errors"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static const tool_opt remove_opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_PURGE, 0, "purge", NULL, "delete the lineage's files, keys included"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static const tool_opt import_opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_ZIP, 'z', "zip", "FILE", "the delivered ZIP (or one .p12 / .pem file)"},
    {O_PASSFILE, 0, "password-file", "FILE", "its PKCS#12 password (first line)"},
    {O_PASSIN, 0, "p12-passin", "SPEC", "password: pass:, env:, file:, fd:, stdin, prompt"},
    {O_TRUST, 0, "trust", "FILE", "PEM trust anchors (default: the lineage's)"},
    {O_TRUST_ROOT, 0, "trust-bundle-root", NULL, "trust the root inside the bundle"},
    {O_NO_HOOKS, 0, "no-hooks", NULL, "do not run the deploy hook"},
    {O_HOOK_TIMEOUT, 0, "hook-timeout", "SECONDS", "a hook is killed after this (default 300)"},
    {O_QUIET, 'q', "quiet", NULL, "print only errors"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static renew_output out;

/* Shared parsing of the three: one NAME and the options above. */
typedef struct manage_args {
    const char *name;
    const char *state_dir;
    const char *zip;
    const char *passin; /* one of the two below */
    char *passfile;     /* "file:PATH" for --password-file (malloc'd) */
    const char *trust;
    int trust_root;
    int purge;
    trisa_lineage_renew_options ro;
} manage_args;

static int parse(manage_args *a, int argc, char **argv, const tool_opt *opts, const char *prog,
                 const char *use, const char *about, const char *exits)
{
    tool_parser p;
    int id;
    long v;

    memset(a, 0, sizeof(*a));
    a->ro = (trisa_lineage_renew_options)TRISA_LINEAGE_RENEW_OPTIONS_INIT;
    tool_opt_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            if (a->name != NULL) {
                return tool_usage_error(prog, "one lineage name, not '%s' too", p.value);
            }
            a->name = p.value;
            break;
        case O_STATE:
            a->state_dir = p.value;
            break;
        case O_PURGE:
            a->purge = 1;
            break;
        case O_ZIP:
            a->zip = p.value;
            break;
        case O_PASSFILE: {
            size_t n = strlen(p.value) + 6;
            free(a->passfile);
            if ((a->passfile = malloc(n)) == NULL) {
                return tool_fail(RENEW_PROG, TRISA_ENOMEM);
            }
            snprintf(a->passfile, n, "file:%s", p.value);
            a->passin = a->passfile;
            break;
        }
        case O_PASSIN:
            /* A pass:TEXT value is overwritten in argv; the copy is wiped at exit. */
            if ((a->passin = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_TRUST:
            a->trust = p.value;
            break;
        case O_TRUST_ROOT:
            a->trust_root = 1;
            break;
        case O_NO_HOOKS:
            a->ro.no_hooks = 1;
            break;
        case O_HOOK_TIMEOUT:
            if (tool_opt_long(prog, p.name, p.value, 1, 86400, &v) != 0) {
                return TOOL_EXIT_USAGE;
            }
            a->ro.hook_timeout_s = v;
            break;
        case O_QUIET:
            out.quiet = 1;
            break;
        case O_HELP:
            renew_help(stdout, use, about, opts, exits);
            return -1;
        }
    }
    if (a->name == NULL) {
        return tool_usage_error(prog, "a lineage name is needed");
    }
    out.tty = isatty(2);
    a->ro.progress = renew_print_event;
    a->ro.warn = renew_print_warning;
    a->ro.data = &out;
    return 0;
}

int cmd_rollback(int argc, char **argv)
{
    manage_args a;
    trisa_lineage *l = NULL;
    int rc =
        parse(&a, argc, argv, rollback_opts, "trisa-renew rollback", "trisa-renew rollback NAME",
              "Switches NAME's live/ back to the version before the live one, and runs\n"
              "the deploy hook.",
              "Exit codes: 0 switched, 2 usage, 3 no such lineage or no earlier version.");
    if (rc != 0) {
        return rc < 0 ? TOOL_EXIT_OK : rc;
    }
    if ((rc = trisa_lineage_load(&l, a.state_dir, a.name)) != 0 ||
        (rc = trisa_lineage_rollback(l, &a.ro)) != 0) {
        rc = tool_fail(RENEW_PROG, rc);
    }
    trisa_lineage_free(l);
    return rc;
}

int cmd_remove(int argc, char **argv)
{
    manage_args a;
    int rc = parse(&a, argc, argv, remove_opts, "trisa-renew remove",
                   "trisa-renew remove NAME [--purge]",
                   "Forgets lineage NAME: its folder moves to STATE/lineages/.removed/ (keys\n"
                   "and certificates kept), or is deleted with --purge. Token objects are\n"
                   "never deleted.",
                   "Exit codes: 0 removed, 2 usage, 3 no such lineage.");
    if (rc != 0) {
        return rc < 0 ? TOOL_EXIT_OK : rc;
    }
    if ((rc = trisa_lineage_remove(a.state_dir, a.name, a.purge)) != 0) {
        return tool_fail(RENEW_PROG, rc);
    }
    printf("lineage %s removed%s\n", a.name, a.purge ? " and its files deleted" : "");
    return TOOL_EXIT_OK;
}

int cmd_import(int argc, char **argv)
{
    manage_args a;
    int rc = parse(&a, argc, argv, import_opts, "trisa-renew import",
                   "trisa-renew import NAME --zip FILE --password-file F [--trust FILE]",
                   "Makes the certificate of a delivered bundle (the ZIP the TRISA directory\n"
                   "sends, with its PKCS#12 password) the next version of lineage NAME, created\n"
                   "as an imported lineage when new: verified as trisa-fetch does, written\n"
                   "with its key, live/ switched, the deploy hook run.",
                   "Exit codes: 0 imported, 2 usage, 3 unreadable or unsafe bundle, 10\n"
                   "verification failed, 11 wrong password; as trisa-fetch otherwise.");
    if (rc != 0) {
        free(a.passfile);
        return rc < 0 ? TOOL_EXIT_OK : rc;
    }
    if (a.zip == NULL) {
        free(a.passfile);
        return tool_usage_error("trisa-renew import", "--zip FILE is needed");
    }
    if (a.trust != NULL && a.trust_root) {
        free(a.passfile);
        return tool_usage_error("trisa-renew import",
                                "--trust and --trust-bundle-root exclude each other");
    }
    rc = trisa_lineage_import(a.state_dir, a.name, a.zip, a.passin, a.trust, a.trust_root, &a.ro);
    free(a.passfile);
    if (rc != 0) {
        return tool_fail(RENEW_PROG, rc);
    }
    return TOOL_EXIT_OK;
}
