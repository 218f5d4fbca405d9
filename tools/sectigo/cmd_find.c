/* sectigo find [-n NAME] [-s SERIAL]: search certificates. */
#include <stdio.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_NAME = 1, O_SERIAL };

static const tool_opt opts[] = {
    {O_NAME, 'n', "common-name", "NAME", "search by common name"},
    {O_SERIAL, 's', "serial-number", "SERIAL", "search by serial number"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo find", "sectigo [global options] find [-n NAME] [-s SERIAL]",
    "Search for certificates by common name and serial number.", opts, 0};

int cmd_find(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    trisa_sectigo_find_result *r = NULL;
    const char *name = NULL, *serial = NULL;
    char *json = NULL;
    tool_parser p;
    int id, rc;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_NAME:
            name = p.value;
            break;
        case O_SERIAL:
            serial = p.value;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_find_certificates(&r, c, name, serial);
    if (rc == 0) {
        rc = trisa_sectigo_find_result_json(&json, r);
    }
    rc = sectigo_print_json(prog, rc, json);
    trisa_sectigo_find_result_free(r);
    trisa_sectigo_free(c);
    return rc;
}
