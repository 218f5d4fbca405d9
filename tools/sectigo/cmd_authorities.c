/* sectigo authorities: the user's authorities, and with --balances each one's balance. */
#include <stdio.h>
#include <stdlib.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_BALANCES = 1 };

static const tool_opt opts[] = {
    {O_BALANCES, 'b', "balances", NULL, "also fetch balance for each authority"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo authorities", "sectigo [global options] authorities [--balances]",
    "Print the current user's authorities by ecosystem.", opts, 0};

int cmd_authorities(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    trisa_sectigo_authority_list *list = NULL;
    long long *ids = NULL, *bal = NULL;
    char *json = NULL;
    tool_parser p;
    int id, rc, balances = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_BALANCES:
            balances = 1;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_authorities(&list, c);
    if (rc == 0) {
        rc = trisa_sectigo_authorities_json(&json, list);
    }
    rc = sectigo_print_json(prog, rc, json);
    if (rc == 0 && balances) {
        size_t n = list->count;
        ids = calloc(n ? n : 1, sizeof(*ids));
        bal = calloc(n ? n : 1, sizeof(*bal));
        if (ids == NULL || bal == NULL) {
            rc = tool_fail(prog, TRISA_ENOMEM);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            ids[i] = list->items[i].id;
            if ((rc = trisa_sectigo_authority_balance(&bal[i], c, ids[i])) != 0) {
                rc = tool_fail(prog, rc);
                goto done;
            }
        }
        json = NULL;
        rc = trisa_sectigo_balances_json(&json, ids, bal, n);
        rc = sectigo_print_json(prog, rc, json);
    }
done:
    free(ids);
    free(bal);
    trisa_sectigo_authority_list_free(list);
    trisa_sectigo_free(c);
    return rc;
}
