/* sectigo revoke -p PROFILE -r REASON -s SERIAL: revoke one certificate; silent on success,
 * as the reference is. */
#include <stdio.h>

#include "common/support.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

enum { O_PROFILE = 1, O_REASON, O_SERIAL };

static const tool_opt opts[] = {
    {O_PROFILE, 'p', "profile", "ID", "profile/authority id of the cert issuer"},
    {O_REASON, 'r', "reason", "REASON",
     "RFC 5280 reason text, or its number (default unspecified)"},
    {O_SERIAL, 's', "serial-number", "SERIAL", "serial number of the cert to revoke"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo revoke", "sectigo [global options] revoke -p ID [-r REASON] -s SERIAL",
    "Revoke a certificate by serial number. REASON is one of: unspecified, "
    "key compromise,\nca compromise, affiliation changed, superseded, "
    "cessation of operation, certificate hold,\nremove from crl, privilege "
    "withdrawn, aa compromise (case and spaces ignored).",
    opts, 0};

int cmd_revoke(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    const char *reason = NULL, *serial = NULL;
    tool_parser p;
    long pid = 0;
    int id, rc, code = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_PROFILE:
            if (sectigo_opt_id(&p, &pid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_REASON:
            reason = p.value;
            break;
        case O_SERIAL:
            serial = p.value;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if (pid == 0) {
        return tool_usage_error(prog, "must specify profile id");
    }
    if (trisa_sectigo_reason_code(&code, reason) != 0) {
        return tool_usage_error(prog, "%s", trisa_error_last());
    }
    if (serial == NULL || serial[0] == '\0') {
        return tool_usage_error(prog, "must specify serial number of certificate");
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_revoke(c, pid, code, serial);
    if (rc != 0) {
        rc = tool_fail(prog, rc);
    } else if (tool_report_json()) {
        /* Silent as the reference without --json; a document with it. */
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_printf(&b, "{\"revoked\": true, \"profileId\": %ld, \"serialNumber\": ", pid);
        trisa_json_str(&b, serial, 0);
        trisa_buf_printf(&b, ", \"reasonCode\": %d}\n", code);
        if (!b.failed) {
            fputs(b.data, stdout);
            tool_report_printed();
        }
        trisa_buf_free(&b, 0);
    }
    trisa_sectigo_free(c);
    return rc;
}
