/* sectigo organization: the current user's organization. */
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_HELP = 1 };

static const tool_opt opts[] = {
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

int cmd_organization(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo organization";
    trisa_sectigo *c = NULL;
    trisa_sectigo_organization *org = NULL;
    char *json = NULL;
    tool_parser p;
    int id, rc;

    tool_opt_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        if (id == O_HELP) {
            sectigo_help("sectigo [global options] organization",
                         "Print the organization of the current user.", opts);
            return TOOL_EXIT_OK;
        }
        if (id == TOOL_OPT_POSITIONAL) {
            return tool_usage_error(prog, "unexpected argument '%s'", p.value);
        }
        return TOOL_EXIT_USAGE;
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_get_organization(&org, c);
    if (rc == 0) {
        rc = trisa_sectigo_organization_json(&json, org);
    }
    rc = sectigo_print_json(prog, rc, json);
    trisa_sectigo_organization_free(org);
    trisa_sectigo_free(c);
    return rc;
}
