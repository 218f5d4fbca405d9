/* sectigo profiles (also "profile"): list profiles, one's detail, or its parameters. */
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_ID = 1, O_PARAMS };

static const tool_opt opts[] = {
    {O_ID, 'i', "id", "ID", "if specified get detail for profile with id"},
    {O_PARAMS, 'p', "params", NULL, "if specified, get params for profile with id"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo profiles", "sectigo [global options] profiles [-i ID [--params]]",
    "List the profiles available to the user, or one profile's detail or "
    "parameters.",
    opts, 0};

int cmd_profiles(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    char *json = NULL;
    tool_parser p;
    long pid = 0;
    int id, rc, params = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_ID:
            if (sectigo_opt_id(&p, &pid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_PARAMS:
            params = 1;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
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
