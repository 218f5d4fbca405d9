/* sectigo licenses: licences ordered and issued. */
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

int cmd_licenses(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo licenses";
    trisa_sectigo *c = NULL;
    trisa_sectigo_licenses l;
    char *json = NULL;
    int rc = sectigo_no_options(argc, argv, prog, "sectigo [global options] licenses",
                                "Print how many certificates have been ordered and issued.");

    if (rc >= 0) {
        return rc;
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_licenses_used(&l, c);
    if (rc == 0) {
        rc = trisa_sectigo_licenses_json(&json, &l);
    }
    rc = sectigo_print_json(prog, rc, json);
    trisa_sectigo_free(c);
    return rc;
}
