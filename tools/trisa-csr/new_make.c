/*
 * trisa-csr [new], secrets and make: the passphrases read once, the existing key read
 * and judged or the token opened; then every key and CSR made in memory on --jobs
 * threads. Nothing is written here.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/new.h"

/* The token key: made on the token (--pkcs11-uri) or found there (--key-in-uri). A key
 * made on the token stays there even if a later step fails: its URI is printed so that
 * --key-in-uri can use it, and nothing on a token is ever deleted. */
static int open_token_key(run *r)
{
    const new_args *a = r->a;
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    char pin_spec[4200];
    int rc;

    tool_hsm_options(&ho, &a->hsm, PROG, pin_spec, sizeof(pin_spec));
    rc = trisa_hsm_open(&r->hsm, &ho);
    if (rc == 0 && a->hsm.key_in_uri != NULL) {
        rc = trisa_hsm_find_key(&r->shared_key, &r->key_uri, r->hsm, a->hsm.key_in_uri);
        if (rc == 0) {
            rc = trisa_keygen_check(r->shared_key, a->hsm.key_in_uri);
        }
    } else if (rc == 0) {
        trisa_hsm_keygen_options ko = TRISA_HSM_KEYGEN_OPTIONS_INIT;
        char spec[32];
        trisa_keygen_spec_format(spec, sizeof(spec), &r->jobs[0].spec);
        ko.spec = spec;
        ko.label = a->hsm.key_label;
        rc = trisa_hsm_generate_key(&r->shared_key, &r->key_uri, r->hsm, &ko);
        if (rc == 0) {
            fprintf(stderr, "%s: made a %s key on token '%s': %s\n", PROG, spec,
                    trisa_hsm_token_label(r->hsm), r->key_uri);
        }
    }
    if (rc == 0) {
        return PHASE_GO_ON;
    }
    /* No token or key matching the URI is a token problem, not a bad input file. */
    return tool_hsm_fail(PROG, rc);
}

/* The new key's passphrase; typed at a prompt, it is asked twice. */
static int read_passout(run *r)
{
    const char *spec = r->a->passout;
    char *again = NULL;
    int rc = trisa_secret_read(&r->passout, NULL, spec, "Passphrase for the new key: ");
    if (rc != 0) {
        return tool_fail(PROG, rc);
    }
    if (r->passout[0] == '\0') {
        trisa_error_set(TRISA_ESECRET, "--passout: the passphrase is empty");
        return tool_fail(PROG, TRISA_ESECRET);
    }
    if (strcmp(spec, "prompt") != 0) {
        return PHASE_GO_ON;
    }
    /* Typed blind: a typo would lock the operator out of the new key. */
    rc = trisa_secret_read(&again, NULL, "prompt", "Passphrase again: ");
    if (rc == 0 && strcmp(again, r->passout) != 0) {
        rc = trisa_error_set(TRISA_ESECRET, "the two passphrases differ; nothing made");
    }
    trisa_secret_free(again);
    return rc != 0 ? tool_fail(PROG, rc) : PHASE_GO_ON;
}

/* The --key-in key, read and judged before anything is made with it. */
static int read_key_in(run *r)
{
    const new_args *a = r->a;
    int rc;
    if (a->passin != NULL &&
        (rc = trisa_secret_read(&r->passin, NULL, a->passin, "Passphrase of the key: ")) != 0) {
        return tool_fail(PROG, rc);
    }
    rc = trisa_keygen_load(&r->shared_key, a->key_in, r->passin);
    if (rc == 0) {
        rc = trisa_keygen_check(r->shared_key, a->key_in);
    }
    if (rc == 0) {
        return PHASE_GO_ON;
    }
    /* An unreadable key file is bad input (exit 3), as an unreadable config is. */
    return rc == TRISA_EIO ? (tool_fail(PROG, rc), TOOL_EXIT_INPUT) : tool_fail(PROG, rc);
}

int new_secrets(run *r)
{
    int ret = PHASE_GO_ON;
    if (r->a->passout != NULL && (ret = read_passout(r)) != PHASE_GO_ON) {
        return ret;
    }
    if (r->a->source == KEY_FILE) {
        ret = read_key_in(r);
    } else if (r->a->source == KEY_TOKEN) {
        ret = open_token_key(r);
    }
    return ret;
}

/* Make (or share) the key of one job. */
static int obtain_key(run *r, job *j)
{
    switch (r->a->source) {
    case KEY_GENERATE:
        return trisa_keygen_generate(&j->key, &j->spec);
    case KEY_FILE:
    case KEY_TOKEN:
        if (!EVP_PKEY_up_ref(r->shared_key)) {
            return trisa_error_set(TRISA_ECRYPTO, "cannot share the key");
        }
        j->key = r->shared_key;
        return 0;
    }
    return trisa_error_set(TRISA_EINVAL, "no key source");
}

/* One job: key, CSR, and their encodings, all in memory. */
static void make_one(run *r, job *j)
{
    trisa_csr_options co = TRISA_CSR_OPTIONS_INIT;
    int rc;

    co.digest = r->a->digest;
    rc = obtain_key(r, j);
    if (rc == 0) {
        rc = trisa_csr_create(&j->csr, j->cfg, j->key, &co);
    }
    if (rc == 0) {
        rc = trisa_csr_to_pem(&j->csr_pem, &j->csr_len, j->csr);
    }
    if (rc == 0 && r->a->source == KEY_GENERATE) {
        rc = trisa_keygen_to_pem(&j->key_pem, &j->key_len, j->key, r->passout);
    }
    j->rc = rc;
    if (rc != 0) {
        snprintf(j->err, sizeof(j->err), "%s", trisa_error_last());
    }
}

static void *worker(void *arg)
{
    run *r = arg;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&r->lock);
        i = r->next++;
        pthread_mutex_unlock(&r->lock);
        if (i >= r->njobs) {
            return NULL;
        }
        make_one(r, &r->jobs[i]);
        if (r->progress) {
            pthread_mutex_lock(&r->lock);
            fprintf(stderr, "\r%s: made %zu of %zu", PROG, ++r->done, r->njobs);
            pthread_mutex_unlock(&r->lock);
        }
    }
}

static void make_all(run *r, long nthreads)
{
    pthread_t *threads;
    long started = 0;

    if (nthreads > (long)r->njobs) {
        nthreads = (long)r->njobs;
    }
    if (nthreads <= 1) {
        worker(r);
        return;
    }
    threads = calloc((size_t)nthreads, sizeof(*threads));
    for (long i = 0; threads != NULL && i < nthreads; i++) {
        if (pthread_create(&threads[i], NULL, worker, r) != 0) {
            break;
        }
        started++;
    }
    if (started == 0) {
        worker(r); /* no threads to be had: do it here */
    }
    for (long i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    free(threads);
}

int new_make(run *r)
{
    long jobs = r->a->jobs;
    int ret = PHASE_GO_ON;

    if (jobs == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = n > 0 ? n : 1;
    }
    r->progress = r->njobs > 1 && isatty(STDERR_FILENO);
    make_all(r, jobs);
    if (r->progress) {
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < r->njobs; i++) {
        if (r->jobs[i].rc != 0 && r->a->source == KEY_TOKEN) {
            /* The CSR was signed on the token: its failure is the token's (removed...). */
            ret = tool_error(PROG, TOOL_EXIT_TOKEN, "hsm", "token '%s': %s",
                             trisa_hsm_token_label(r->hsm), r->jobs[i].err);
        } else if (r->jobs[i].rc != 0) {
            ret = tool_error(PROG, tool_exit_code(r->jobs[i].rc), tool_code_name(r->jobs[i].rc),
                             "%s", r->jobs[i].err);
        }
    }
    return ret;
}
