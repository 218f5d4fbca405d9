/* sectigo download -i ID -o DIR: save a batch's ZIP, named by the server or <id>.zip. */
#include <stdio.h>
#include <stdlib.h>

#include "common/support.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

enum { O_ID = 1, O_OUTDIR, O_FORCE };

static const tool_opt opts[] = {
    {O_ID, 'i', "id", "ID", "the batch ID to download"},
    {O_OUTDIR, 'o', "outdir", "DIR", "the directory to download the zip file to (default .)"},
    {O_FORCE, 'f', "force", NULL, "replace an existing file of the same name"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    "sectigo download", "sectigo [global options] download -i ID [-o DIR]",
    "Download a batch as a ZIP file into DIR, named from the server's Content-Disposition or "
    "<ID>.zip.",
    opts, 0};

int cmd_download(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = command.prog;
    trisa_sectigo *c = NULL;
    const char *outdir = ".";
    char *path = NULL;
    tool_parser p;
    long bid = 0;
    int id, rc, force = 0;

    sectigo_parser_init(&p, argc, argv, opts, prog);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_ID:
            if (sectigo_opt_id(&p, &bid) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_OUTDIR:
            outdir = p.value;
            break;
        case O_FORCE:
            force = 1;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if (bid == 0) {
        return tool_usage_error(prog, "must specify batch id for download");
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    rc = trisa_sectigo_download(&path, c, bid, outdir, force);
    if (rc == 0 && tool_report_json()) {
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_printf(&b, "{\"batchId\": %ld, \"path\": ", bid);
        trisa_json_str(&b, path, 0);
        trisa_buf_puts(&b, "}\n");
        if (!b.failed) {
            fputs(b.data, stdout);
            tool_report_printed();
        }
        trisa_buf_free(&b, 0);
        free(path);
    } else if (rc == 0) {
        /* stdout as the reference prints it; its hint fails on OpenSSL 3 for Sectigo's
         * legacy PKCS#12, so one line on stderr says what works. */
        printf("downloaded batch %ld to %s\n", bid, path);
        printf("after unzipping, unencrypt with your password using `openssl pkcs12 -in "
               "INFILE.p12 -out OUTFILE.crt -nodes`\n");
        fflush(stdout);
        fprintf(stderr,
                "sectigo download: hint: OpenSSL 3 refuses Sectigo's legacy PKCS#12 without "
                "-legacy; `trisa-fetch --zip %s --out-dir DIR --password-file FILE --trust "
                "ROOTS.pem` unpacks and verifies it in one step\n",
                path);
        free(path);
    } else {
        rc = tool_fail(prog, rc);
    }
    trisa_sectigo_free(c);
    return rc;
}
