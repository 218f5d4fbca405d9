/* sectigo profiles (also "profile"): list profiles, one's detail, or its parameters. */
#include <limits.h>
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_ID = 1, O_PARAMS, O_HELP };

static const tool_opt opts[] = {
    {O_ID, 'i', "id", "ID", "if specified get detail for profile with id"},
    {O_PARAMS, 'p', "params", NULL, "if specified, get params for profile with id"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

int cmd_profiles(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo profiles";
    trisa_sectigo *c = NULL;
    char *json = NULL;
    tool_parser p;
    long pid = 0;
    int id, rc, params = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case O_ID:
            if (tool_opt_long(prog, p.name, p.value, 0, LONG_MAX, &pid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_PARAMS:
            params = 1;
            break;
        case O_HELP:
            sectigo_help("sectigo [global options] profiles [-i ID [--params]]",
                         "List the profiles available to the user, or one profile's detail or "
                         "parameters.",
                         opts);
            return TOOL_EXIT_OK;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(prog, "unexpected argument '%s'", p.value);
        default:
            return TOOL_EXIT_USAGE;
        }
    }
    if (params && pid == 0) {
        return tool_usage_error(prog, "must specify id to get profile params");
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    if (pid != 0 && params) {
        trisa_sectigo_profile_param_list *l = NULL;
        rc = trisa_sectigo_profile_params(&l, c, pid);
        if (rc == 0) {
            rc = trisa_sectigo_profile_params_json(&json, l);
        }
        trisa_sectigo_profile_param_list_free(l);
    } else if (pid != 0) {
        trisa_sectigo_profile_detail *d = NULL;
        rc = trisa_sectigo_get_profile_detail(&d, c, pid);
        if (rc == 0) {
            rc = trisa_sectigo_profile_detail_json(&json, d);
        }
        trisa_sectigo_profile_detail_free(d);
    } else {
        trisa_sectigo_profile_list *l = NULL;
        rc = trisa_sectigo_profiles(&l, c);
        if (rc == 0) {
            rc = trisa_sectigo_profiles_json(&json, l);
        }
        trisa_sectigo_profile_list_free(l);
    }
    rc = sectigo_print_json(prog, rc, json);
    trisa_sectigo_free(c);
    return rc;
}
