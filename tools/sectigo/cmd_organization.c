/* sectigo organization: the current user's organization. */
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

int cmd_organization(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo organization";
    trisa_sectigo *c = NULL;
    trisa_sectigo_organization *org = NULL;
    char *json = NULL;
    int rc = sectigo_no_options(argc, argv, prog, "sectigo [global options] organization",
                                "Print the organization of the current user.");

    if (rc >= 0) {
        return rc;
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
