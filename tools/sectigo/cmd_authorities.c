/* sectigo authorities: the user's authorities, and with --balances each one's balance. */
#include <stdio.h>
#include <stdlib.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_BALANCES = 1, O_HELP };

static const tool_opt opts[] = {
    {O_BALANCES, 'b', "balances", NULL, "also fetch balance for each authority"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

int cmd_authorities(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo authorities";
    trisa_sectigo *c = NULL;
    trisa_sectigo_authority_list *list = NULL;
    long long *ids = NULL, *bal = NULL;
    char *json = NULL;
    tool_parser p;
    int id, rc, balances = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case O_BALANCES:
            balances = 1;
            break;
        case O_HELP:
            sectigo_help("sectigo [global options] authorities [--balances]",
                         "Print the current user's authorities by ecosystem.", opts);
            return TOOL_EXIT_OK;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(prog, "unexpected argument '%s'", p.value);
        default:
            return TOOL_EXIT_USAGE;
        }
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
