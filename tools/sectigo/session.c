/* What the sectigo commands share: opening a client from the global flags, printing
 * JSON, parsing a command's options. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "trisa/common.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

static void warn_cb(const char *message, void *data)
{
    tool_warn((const char *)data, "%s", message);
}

int sectigo_open(struct trisa_sectigo **out, const sectigo_globals *g, const char *prog)
{
    trisa_sectigo_options opts = TRISA_SECTIGO_OPTIONS_INIT;
    char *pw = NULL;
    int rc;

    *out = NULL;
    if (g->password_file != NULL) {
        char spec[4096];
        snprintf(spec, sizeof(spec), "file:%s", g->password_file);
        if ((rc = trisa_secret_read(&pw, NULL, spec, NULL)) != 0) {
            return tool_fail(prog, rc);
        }
    }
    tool_conn_apply(&g->conn, &opts);
    if (pw != NULL) {
        opts.password = pw;
    }
    opts.profile = g->profile;
    opts.warn = warn_cb;
    opts.warn_data = (void *)prog;
    rc = trisa_sectigo_new(out, &opts);
    trisa_secret_free(pw);
    if (rc != 0) {
        return tool_fail(prog, rc);
    }
    return 0;
}

int sectigo_print_json(const char *prog, int rc, char *json)
{
    if (rc != 0) {
        return tool_fail(prog, rc);
    }
    /* The reference's bytes, --json or not: they are JSON already. */
    fputs(json, stdout);
    free(json);
    tool_report_printed();
    if (fflush(stdout) != 0) {
        return tool_error(prog, TOOL_EXIT_FAILURE, "io", "cannot write to standard output");
    }
    return TOOL_EXIT_OK;
}

void sectigo_parser_init(tool_parser *p, int argc, char **argv, const tool_opt *opts,
                         const char *prog)
{
    tool_opt_init(p, argc, argv, opts, prog);
    /* Go's flag package, which the reference uses, takes -id 3 as --id 3. */
    p->single_dash_long = 1;
    /* The global --json is taken after the command too. */
    p->accept_json = 1;
}

static void help(const sectigo_cmd_spec *cmd)
{
    printf("usage: %s\n\n%s\n\nOptions:\n", cmd->usage, cmd->about);
    tool_opt_help(stdout, cmd->opts);
    printf("  %-28s  %s\n", "    --json",
           "JSON on stdout, errors included (the global option, taken here too)");
    printf("\nGlobal options (before the command) are listed by 'sectigo --help'.\n");
}

int sectigo_next(tool_parser *p, const sectigo_cmd_spec *cmd, int *exit_code)
{
    int id = tool_opt_next(p);
    switch (id) {
    case SECTIGO_O_HELP:
        help(cmd);
        *exit_code = TOOL_EXIT_OK;
        return SECTIGO_STOP;
    case TOOL_OPT_POSITIONAL:
        if (cmd->positional) {
            return id;
        }
        *exit_code = tool_usage_error(cmd->prog, "unexpected argument '%s'", p->value);
        return SECTIGO_STOP;
    case TOOL_OPT_ERROR:
        *exit_code = TOOL_EXIT_USAGE; /* tool_opt_next() said why */
        return SECTIGO_STOP;
    default:
        return id;
    }
}

int sectigo_opt_id(const tool_parser *p, long *out)
{
    return tool_opt_long(p->prog, p->name, p->value, 0, LONG_MAX, out);
}

int sectigo_no_options(int argc, char **argv, const char *prog, const char *usage,
                       const char *about)
{
    static const tool_opt opts[] = {
        SECTIGO_HELP_OPTION,
        TOOL_OPT_END,
    };
    const sectigo_cmd_spec cmd = {prog, usage, about, opts, 0};
    tool_parser p;
    int id, rc = -1;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &cmd, &rc)) > 0) {
    }
    return id == SECTIGO_STOP ? rc : -1;
}
