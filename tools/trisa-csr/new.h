/*
 * trisa-csr [new]: the state shared by its phases, each in its own file:
 *
 *   parse   (cmd_new.c)    argv into new_args; the command line alone is judged
 *   plan    (new_plan.c)   every config loaded and validated (all errors reported), every
 *                          output named and checked: nothing is made while anything is
 *                          wrong
 *   secrets (new_make.c)   passphrases read once; an existing key read and judged, or the
 *                          token opened
 *   make    (new_make.c)   keys and CSRs in memory, on --jobs threads
 *   commit  (new_commit.c) every file under a temporary name, renamed into place only
 *                          when all exist (an old key is kept until then); then stdout
 *
 * Each phase returns -1 to go on, or the exit code to stop with (after saying why).
 */
#ifndef TRISA_TOOLS_TRISA_CSR_NEW_H
#define TRISA_TOOLS_TRISA_CSR_NEW_H

#include <pthread.h>

#include "tools/common/hsm_cli.h"
#include "tools/trisa-csr/trisa-csr.h"
#include "trisa/keygen.h"

#define PHASE_GO_ON (-1)

enum key_source { KEY_GENERATE, KEY_FILE, KEY_TOKEN };

typedef struct new_args {
    const char **configs;
    size_t nconfigs;
    const char **sans;
    size_t nsans;
    const char *keyout, *out, *out_dir, *bundle_out;
    const char *key_spec, *key_in, *passout, *passin;
    const char *cn, *digest, *reqexts;
    enum key_source source;
    tool_hsm_args hsm;
    int force, print, json, utf8, noout, nodes;
    long jobs;
} new_args;

typedef struct job {
    const char *config;
    char *keyout; /* NULL: none (an existing key is used) */
    char *out;    /* NULL: standard output */
    trisa_csr_config *cfg;
    trisa_keygen_spec spec;
    EVP_PKEY *key;
    trisa_csr *csr;
    char *key_pem;
    size_t key_len;
    char *csr_pem;
    size_t csr_len;
    int rc;
    char err[1024];
} job;

typedef struct run {
    new_args *a;
    char **configs; /* folders expanded */
    size_t nconfigs;
    int named; /* outputs named after each config (NAME.key, NAME.csr) */
    trisa_keygen_spec cli_spec;
    job *jobs;
    size_t njobs;
    size_t next;
    char *passout;        /* the secrets, read once */
    char *passin;         /*   */
    EVP_PKEY *shared_key; /* --key-in or a token key: one key for the one job */
    trisa_hsm *hsm;       /* the token, while its key is in use */
    char *key_uri;        /* the token key's URI */
    int progress;         /* stderr is a terminal and there are several jobs */
    size_t done;
    pthread_mutex_t lock;
} run;

int new_parse(new_args *a, int argc, char **argv);
int new_plan(run *r);
int new_secrets(run *r);
int new_make(run *r);
int new_commit(run *r);

/* Append v to a growable array of strings; -1 when out of memory. */
int new_push(const char ***list, size_t *n, const char *v);

#endif
