/* sectigo batches -i ID [--status | --info]: a batch's detail, status or processing info. */
#include <stdio.h>
#include <stdlib.h>

#include "common/support.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

enum { O_ID = 1, O_STATUS, O_INFO };

static const tool_opt opts[] = {
    {O_ID, 'i', "id", "ID", "get detail for batch with id"},
    {O_STATUS, 's', "status", NULL, "get batch status (normalised text, e.g. READY_FOR_DOWNLOAD)"},
    {O_INFO, 'I', "info", NULL, "get batch processing info (active, success, failed)"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo batches", "sectigo [global options] batches -i ID [--status | --info]",
    "Print a batch's detail, its status or its processing info.", opts, 0};

int cmd_batches(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    char *json = NULL;
    tool_parser p;
    long bid = 0;
    int id, rc, status = 0, info = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_ID:
            if (sectigo_opt_id(&p, &bid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_STATUS:
            status = 1;
            break;
        case O_INFO:
            info = 1;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if (bid == 0) {
        return tool_usage_error(prog, "specify batch id to get information");
    }
    if (status && info) {
        return tool_usage_error(prog, "--status and --info cannot be combined");
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    if (status) {
        char *s = NULL;
        rc = trisa_sectigo_batch_status(&s, c, bid);
        if (rc == 0 && tool_report_json()) {
            trisa_buf b = TRISA_BUF_INIT;
            trisa_buf_printf(&b, "{\"batchId\": %ld, \"status\": ", bid);
            trisa_json_str(&b, s, 0);
            trisa_buf_puts(&b, "}\n");
            if (!b.failed) {
                fputs(b.data, stdout);
                tool_report_printed();
            }
            trisa_buf_free(&b, 0);
            free(s);
        } else if (rc == 0) {
            printf("%s\n", s);
            free(s);
        } else {
            rc = tool_fail(prog, rc);
        }
    } else if (info) {
        trisa_sectigo_processing_info pi;
        rc = trisa_sectigo_get_processing_info(&pi, c, bid);
        if (rc == 0) {
            rc = trisa_sectigo_processing_info_json(&json, &pi);
        }
        rc = sectigo_print_json(prog, rc, json);
    } else {
        trisa_sectigo_batch *b = NULL;
        rc = trisa_sectigo_batch_detail(&b, c, bid);
        if (rc == 0) {
            rc = trisa_sectigo_batch_json(&json, b);
        }
        rc = sectigo_print_json(prog, rc, json);
        trisa_sectigo_batch_free(b);
    }
    trisa_sectigo_free(c);
    return rc;
}
