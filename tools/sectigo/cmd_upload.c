/* sectigo upload -p ID FILE: upload one file of PEM CSRs (or a ZIP of them) as a batch. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum { O_PROFILE = 1 };

static const tool_opt opts[] = {
    {O_PROFILE, 'p', "profile", "ID", "profile/authority id of the cert issuer"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo upload", "sectigo [global options] upload -p ID request.csr",
    "Upload a certificate signing request (one PEM file holding one or "
    "more CSRs, or a ZIP of them).",
    opts, 1};

#define CSR_MAX (16u * 1024 * 1024)

int cmd_upload(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    trisa_sectigo_batch *batch = NULL;
    const char *file = NULL, *base;
    unsigned char *data = NULL;
    size_t len = 0;
    char *json = NULL;
    tool_parser p;
    long pid = 0;
    int id, rc, nargs = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) >= TOOL_OPT_POSITIONAL) {
        switch (id) {
        case O_PROFILE:
            if (sectigo_opt_id(&p, &pid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case TOOL_OPT_POSITIONAL:
            file = p.value;
            nargs++;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if (nargs != 1) {
        return tool_usage_error(prog, "specify the path to one CSR for upload");
    }
    if (pid == 0) {
        return tool_usage_error(prog, "specify the profile ID to sign the cert under");
    }
    if ((rc = trisa_file_read(&data, &len, file, CSR_MAX)) != 0) {
        return tool_fail(prog, rc);
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        free(data);
        return rc;
    }
    base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    rc = trisa_sectigo_upload_csr(&batch, c, pid, base, data, len, NULL);
    if (rc == 0) {
        rc = trisa_sectigo_batch_json(&json, batch);
    }
    rc = sectigo_print_json(prog, rc, json);
    trisa_sectigo_batch_free(batch);
    trisa_sectigo_free(c);
    free(data);
    return rc;
}
