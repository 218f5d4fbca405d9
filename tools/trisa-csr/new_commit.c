/*
 * trisa-csr [new], commit: every CSR and key (and the --bundle-out file) written as one
 * set: each under a temporary name first, renamed into place only when all exist, so
 * that a failure anywhere (a full disk, a folder where a file should be) leaves every
 * file as it was, and an old key replaced with --force is kept until the new one is in
 * place. Then the CSR on standard output, and the summaries.
 */
#include <stdlib.h>
#include <string.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/new.h"

static int write_files(run *r)
{
    const new_args *a = r->a;
    unsigned flags = a->force ? TRISA_WRITE_REPLACE : 0;
    trisa_file_set *set = NULL;
    trisa_buf bundle = TRISA_BUF_INIT;
    int rc;

    if ((rc = trisa_file_set_new(&set)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < r->njobs; i++) {
        job *j = &r->jobs[i];
        if ((j->out != NULL &&
             (rc = trisa_file_set_add(set, j->out, j->csr_pem, j->csr_len, 0644, flags)) != 0) ||
            (j->keyout != NULL &&
             (rc = trisa_file_set_add(set, j->keyout, j->key_pem, j->key_len, 0600, flags)) != 0)) {
            goto done;
        }
        trisa_buf_append(&bundle, j->csr_pem, j->csr_len);
    }
    if (a->bundle_out != NULL) {
        if (bundle.failed) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = trisa_file_set_add(set, a->bundle_out, bundle.data, bundle.len, 0644, flags)) !=
            0) {
            goto done;
        }
    }
    rc = trisa_file_set_commit(set);
done:
    trisa_file_set_free(set);
    trisa_buf_free(&bundle, 0);
    return rc;
}

static void print_summaries(const run *r)
{
    const new_args *a = r->a;
    if (a->json && r->njobs > 1) {
        fputs("[", stdout);
    }
    for (size_t i = 0; i < r->njobs && (a->print || a->json); i++) {
        const job *j = &r->jobs[i];
        const char *keyfile = j->keyout ? j->keyout : a->key_in ? a->key_in : r->key_uri;
        if (a->json) {
            fputs(i ? ",\n " : "", stdout);
            out_json_summary(stdout, j->config, keyfile, j->out, j->csr,
                             j->out == NULL ? j->csr_pem : NULL);
        } else {
            if (i) {
                fputc('\n', stdout);
            }
            out_print_summary(stdout, j->config, keyfile, j->out, j->csr);
        }
    }
    if (a->json) {
        fputs(r->njobs > 1 ? "]\n" : "\n", stdout);
    }
}

int new_commit(run *r)
{
    const new_args *a = r->a;
    int rc = write_files(r);

    if (rc != 0) {
        return tool_fail(PROG, rc);
    }
    if (r->njobs == 1 && r->jobs[0].out == NULL && !a->noout && !a->print && !a->json) {
        fwrite(r->jobs[0].csr_pem, 1, r->jobs[0].csr_len, stdout);
    }
    print_summaries(r);
    if (a->json) {
        tool_report_printed();
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return tool_error(PROG, TOOL_EXIT_FAILURE, "io", "cannot write to standard output");
    }
    return TOOL_EXIT_OK;
}
