/*
 * trisa-csr [new]: make a key and CSR for each trisa.conf given.
 *
 * Three steps, so that nothing is half-written: (1) parse the command line and load and
 * validate every config, and check every output name; (2) make the keys and CSRs, on
 * --jobs threads; (3) only when all of them succeeded, write the files, undoing what
 * this run wrote if a write fails.
 *
 * Where keys come from is a `key_source`: made here, an existing key file, or a PKCS#11
 * token (--pkcs11-*), where the key is made or found on the token and never leaves it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/common/hsm_cli.h"
#include "tools/common/opt.h"
#include "tools/trisa-csr/trisa-csr.h"

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
    const new_args *a;
    job *jobs;
    size_t njobs;
    size_t next;
    const char *passout;  /* the secret, read once */
    EVP_PKEY *shared_key; /* --key-in or a token key: one key for the one job */
    trisa_hsm *hsm;       /* the token, while its key is in use */
    char *key_uri;        /* the token key's URI */
    int progress;         /* stderr is a terminal and there are several jobs */
    size_t done;
    pthread_mutex_t lock;
} run;

enum {
    O_CONFIG = 1,
    O_KEYOUT,
    O_OUT,
    O_OUT_DIR,
    O_KEY,
    O_NEWKEY,
    O_KEY_IN,
    O_PASSOUT,
    O_PASSIN,
    O_CN,
    O_SAN,
    O_DIGEST,
    O_SHA256,
    O_SHA384,
    O_SHA512,
    O_NEW,
    O_NODES,
    O_REQEXTS,
    O_UTF8,
    O_BATCH,
    O_VERIFY,
    O_NOOUT,
    O_FORCE,
    O_PRINT,
    O_JSON,
    O_JOBS,
    O_BUNDLE,
    O_PKCS11_MODULE,
    O_PKCS11_URI,
    O_KEY_LABEL,
    O_KEY_IN_URI,
    O_PIN_FILE,
    O_HELP,
    O_VERSION,
};

/* One table parses the command line and prints --help. Entries with no help text are the
 * openssl req spellings kept for compatibility. */
static const tool_opt new_opts[] = {
    {O_CONFIG, 'c', "config", "FILE", "the trisa.conf to use; repeat, or give a folder of *.conf"},
    {O_KEYOUT, 'k', "keyout|key-out", "FILE", "write the new private key here (mode 0600)"},
    {O_OUT, 'o', "out", "FILE", "write the CSR here (default: standard output)"},
    {O_OUT_DIR, 'd', "out-dir", "DIR", "with several configs: write NAME.key, NAME.csr here"},
    {O_BUNDLE, 0, "bundle-out", "FILE", "also write every CSR into this one PEM file"},
    {O_KEY, 0, "key", "SPEC", "key to make: rsa:2048|3072|4096, ec:P-256|P-384 [rsa:4096]"},
    {O_NEWKEY, 0, "newkey", "SPEC", NULL},
    {O_KEY_IN, 0, "key-in", "FILE", "use this existing key (renewal; it is never rewritten)"},
    {O_PASSOUT, 0, "passout", "SPEC", "encrypt the new key: pass:, env:, file:, fd:, stdin"},
    {O_PASSIN, 0, "passin", "SPEC", "passphrase of the --key-in key, same forms"},
    {O_CN, 0, "cn", "NAME", "use this common name instead of the config's"},
    {O_SAN, 0, "san", "NAME", "add a subjectAltName (DNS name, or DNS:/IP:/email:/URI:)"},
    {O_DIGEST, 0, "digest|md", "NAME", "signature digest [config default_md, else sha384]"},
    {O_SHA256, 0, "sha256", NULL, NULL},
    {O_SHA384, 0, "sha384", NULL, NULL},
    {O_SHA512, 0, "sha512", NULL, NULL},
    {O_REQEXTS, 0, "reqexts|extensions", "SECTION", "take the extensions from this section"},
    {O_UTF8, 0, "utf8", NULL, "config values are UTF-8 (as utf8 = yes)"},
    {O_NEW, 0, "new", NULL, NULL},
    {O_NODES, 0, "nodes|noenc", NULL, NULL},
    {O_BATCH, 0, "batch", NULL, NULL},
    {O_VERIFY, 0, "verify", NULL, NULL},
    {O_NOOUT, 0, "noout", NULL, "do not write the CSR to standard output"},
    {O_FORCE, 'f', "force", NULL, "replace existing output files (keys included)"},
    {O_PRINT, 'p', "print", NULL, "print what was made: subject, SANs, key, fingerprint"},
    {O_JSON, 0, "json", NULL, "print the same as JSON"},
    {O_JOBS, 'j', "jobs", "N", "make keys on N threads [number of cores]"},
    {O_PKCS11_MODULE, 0, "pkcs11-module", "PATH",
     "PKCS#11 module of the token [$TRISA_PKCS11_MODULE, else p11-kit-proxy]"},
    {O_PKCS11_URI, 0, "pkcs11-uri", "URI", "make the key on this token (it never leaves it)"},
    {O_KEY_LABEL, 0, "key-label", "LABEL", "label of the key made on the token [trisa-<id>]"},
    {O_KEY_IN_URI, 0, "key-in-uri", "URI", "use this existing key on a token (renewal)"},
    {O_PIN_FILE, 0, "pin-file", "FILE",
     "token PIN from FILE [pin-source in the URI, "
     "$TRISA_PKCS11_PIN, else a prompt]"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    {O_VERSION, 'V', "version", NULL, "print the version"},
    TOOL_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trisa-csr [new] -config trisa.conf -keyout key.pem -out req.csr [options]\n"
               "       trisa-csr [new] [options] CONFIG|FOLDER...\n"
               "       trisa-csr [new] -config trisa.conf --pkcs11-uri URI -out req.csr\n"
               "       trisa-csr init --cn NAME [-o trisa.conf]\n"
               "       trisa-csr hsm list [--pkcs11-module PATH] [--pin-file FILE]\n\n"
               "Makes a private key (RSA 4096 unless told otherwise) and a SHA-384 certificate\n"
               "signing request from each OpenSSL req config (trisa.conf). The flags of\n"
               "'openssl req -new -newkey rsa:4096 -nodes -sha384 -config F -keyout K -out R'\n"
               "are accepted with the same meaning (-newkey SPEC, -key FILE, -nodes, -sha256,\n"
               "-sha384, -sha512, -passin, -passout, -reqexts, -utf8, -batch, -verify).\n\n"
               "Options:\n");
    tool_opt_help(f, new_opts);
    fprintf(f, "\nExit codes: 0 done, 1 failure, 2 usage, 3 invalid config or key,\n"
               "4 output exists (use --force), 11 wrong passphrase, 12 token error,\n"
               "13 wrong PIN or PIN locked.\n"
               "See trisa-csr(1).\n");
}

static int push(const char ***list, size_t *n, const char *v)
{
    const char **grown = realloc((void *)*list, (*n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    grown[(*n)++] = v;
    *list = grown;
    return 0;
}

/* Parse argv into a; returns -1 to continue, else the exit code. */
static int parse(new_args *a, int argc, char **argv)
{
    tool_parser p;
    int id;

    tool_opt_init(&p, argc, argv, new_opts, PROG);
    p.single_dash_long = 1;
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
        case O_CONFIG:
            if (push(&a->configs, &a->nconfigs, p.value) != 0) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_KEYOUT:
            a->keyout = p.value;
            break;
        case O_OUT:
            a->out = p.value;
            break;
        case O_OUT_DIR:
            a->out_dir = p.value;
            break;
        case O_BUNDLE:
            a->bundle_out = p.value;
            break;
        case O_KEY:
            /* openssl's -key FILE is an existing key; our --key SPEC is a key to make. */
            if (p.name[1] != '-') {
                a->key_in = p.value;
            } else {
                a->key_spec = p.value;
            }
            break;
        case O_NEWKEY:
            a->key_spec = p.value;
            break;
        case O_KEY_IN:
            a->key_in = p.value;
            break;
        case O_PASSOUT:
            a->passout = p.value;
            break;
        case O_PASSIN:
            a->passin = p.value;
            break;
        case O_CN:
            a->cn = p.value;
            break;
        case O_SAN:
            if (push(&a->sans, &a->nsans, p.value) != 0) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_DIGEST:
            a->digest = p.value;
            break;
        case O_SHA256:
            a->digest = "sha256";
            break;
        case O_SHA384:
            a->digest = "sha384";
            break;
        case O_SHA512:
            a->digest = "sha512";
            break;
        case O_REQEXTS:
            a->reqexts = p.value;
            break;
        case O_UTF8:
            a->utf8 = 1;
            break;
        case O_NODES:
            a->nodes = 1;
            break;
        case O_NEW:
        case O_BATCH:
        case O_VERIFY:
            break; /* always so: a new request, no prompts, its signature checked */
        case O_NOOUT:
            a->noout = 1;
            break;
        case O_FORCE:
            a->force = 1;
            break;
        case O_PRINT:
            a->print = 1;
            break;
        case O_JSON:
            a->json = 1;
            break;
        case O_JOBS:
            if (tool_opt_long(PROG, p.name, p.value, 1, 256, &a->jobs) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_PKCS11_MODULE:
            a->hsm.module = p.value;
            break;
        case O_PKCS11_URI:
            a->hsm.uri = p.value;
            break;
        case O_KEY_LABEL:
            a->hsm.key_label = p.value;
            break;
        case O_KEY_IN_URI:
            a->hsm.key_in_uri = p.value;
            break;
        case O_PIN_FILE:
            a->hsm.pin_file = p.value;
            break;
        case O_HELP:
            usage(stdout);
            return TOOL_EXIT_OK;
        case O_VERSION:
            printf("trisa-csr (trisa-certkit) %s\n", trisa_version());
            return TOOL_EXIT_OK;
        }
    }
    a->source = a->key_in ? KEY_FILE : KEY_GENERATE;
    if (a->nconfigs == 0) {
        return tool_usage_error(PROG, "no config: give -config trisa.conf");
    }
    if (a->hsm.uri != NULL || a->hsm.key_in_uri != NULL) {
        a->source = KEY_TOKEN;
        if (a->key_in != NULL) {
            return tool_usage_error(PROG, "--key-in is a key file; on a token use --key-in-uri");
        }
        if (a->keyout != NULL || a->passout != NULL) {
            return tool_usage_error(PROG, "the token key never leaves the token: drop %s",
                                    a->keyout != NULL ? "--keyout" : "--passout");
        }
        if (a->hsm.key_in_uri != NULL && (a->key_spec != NULL || a->hsm.key_label != NULL)) {
            return tool_usage_error(PROG, "--key-in-uri uses an existing key: drop %s",
                                    a->key_spec != NULL ? "--key" : "--key-label");
        }
        if (a->nconfigs > 1) {
            return tool_usage_error(PROG, "a token key makes one CSR: give one config");
        }
    } else if (a->hsm.module != NULL || a->hsm.key_label != NULL || a->hsm.pin_file != NULL) {
        return tool_usage_error(PROG, "%s needs --pkcs11-uri or --key-in-uri",
                                a->hsm.module != NULL      ? "--pkcs11-module"
                                : a->hsm.key_label != NULL ? "--key-label"
                                                           : "--pin-file");
    }
    if (a->key_in && a->key_spec) {
        return tool_usage_error(PROG, "--key-in uses an existing key: drop --key/-newkey");
    }
    if (a->key_in && a->keyout) {
        return tool_usage_error(PROG, "--key-in: the existing key is never rewritten, so "
                                      "--keyout makes no sense");
    }
    if (a->key_in && a->passout) {
        return tool_usage_error(PROG, "--passout encrypts a new key; with --key-in there is none");
    }
    if (a->nodes && a->passout) {
        return tool_usage_error(PROG, "-nodes and --passout contradict each other");
    }
    if (a->print && a->json) {
        return tool_usage_error(PROG, "--print and --json: choose one");
    }
    return -1;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int conf_filter(const struct dirent *e)
{
    return e->d_name[0] != '.' && has_suffix(e->d_name, ".conf");
}

/* Expand folders into their *.conf files (sorted). Paths are newly allocated. */
static int expand_configs(const new_args *a, char ***out, size_t *nout, int *had_folder)
{
    char **list = NULL;
    size_t n = 0;

    *had_folder = 0;
    for (size_t i = 0; i < a->nconfigs; i++) {
        struct stat st;
        if (stat(a->configs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **ents = NULL;
            *had_folder = 1;
            int k = scandir(a->configs[i], &ents, conf_filter, alphasort);
            if (k < 0) {
                fprintf(stderr, "%s: error: %s: cannot list the folder: %s\n", PROG, a->configs[i],
                        strerror(errno));
                goto fail;
            }
            if (k == 0) {
                fprintf(stderr, "%s: error: %s: no *.conf files in the folder\n", PROG,
                        a->configs[i]);
                free(ents);
                goto fail;
            }
            for (int j = 0; j < k; j++) {
                trisa_buf b = TRISA_BUF_INIT;
                char **grown = realloc(list, (n + 1) * sizeof(*list));
                trisa_buf_printf(&b, "%s/%s", a->configs[i], ents[j]->d_name);
                free(ents[j]);
                if (grown == NULL || b.failed) {
                    trisa_buf_free(&b, 0);
                    if (grown != NULL) {
                        list = grown;
                    }
                    for (int r = j + 1; r < k; r++) {
                        free(ents[r]);
                    }
                    free(ents);
                    goto fail;
                }
                list = grown;
                list[n++] = trisa_buf_detach(&b, NULL);
            }
            free(ents);
        } else {
            char **grown = realloc(list, (n + 1) * sizeof(*list));
            if (grown == NULL) {
                goto fail;
            }
            list = grown;
            if ((list[n] = strdup(a->configs[i])) == NULL) {
                goto fail;
            }
            n++;
        }
    }
    *out = list;
    *nout = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
    return -1;
}

/* "dir/NAME.suffix" for config "some/where/NAME.conf". */
static char *named_after(const char *dir, const char *config, const char *suffix)
{
    const char *base = strrchr(config, '/');
    size_t len;
    trisa_buf b = TRISA_BUF_INIT;

    base = base ? base + 1 : config;
    len = strlen(base);
    if (has_suffix(base, ".conf")) {
        len -= 5;
    }
    trisa_buf_printf(&b, "%s/%.*s%s", dir, (int)len, base, suffix);
    return trisa_buf_detach(&b, NULL);
}

/* Make (or fetch) the key of one job. */
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

/* Step 2 for one job: key, CSR, and their encodings, all in memory. */
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

/* A file this run wrote, to undo on a later failure. */
typedef struct written {
    const char **paths;
    size_t n;
} written;

static int write_file(written *w, const char *path, const char *data, size_t len, mode_t mode,
                      int force)
{
    int rc = trisa_file_write_atomic(path, data, len, mode, force ? TRISA_WRITE_REPLACE : 0);
    if (rc == 0 && push(&w->paths, &w->n, path) != 0) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    return rc;
}

static void undo(written *w)
{
    for (size_t i = 0; i < w->n; i++) {
        unlink(w->paths[i]);
    }
}

/* Refuse early, before any key is made, to replace what exists. */
static int check_free(const char *path, int force)
{
    struct stat st;
    if (path != NULL && !force && lstat(path, &st) == 0) {
        trisa_error_set(TRISA_EEXISTS, "%s: already exists (not replaced; --force replaces it)",
                        path);
        return tool_fail(PROG, TRISA_EEXISTS);
    }
    return 0;
}

/* The same file: the same name, or (both existing) the same inode. */
static int same_file(const char *x, const char *y)
{
    struct stat sx, sy;
    if (x == NULL || y == NULL) {
        return 0;
    }
    if (strcmp(x, y) == 0) {
        return 1;
    }
    return stat(x, &sx) == 0 && stat(y, &sy) == 0 && sx.st_dev == sy.st_dev &&
           sx.st_ino == sy.st_ino;
}

/* No output may be an input (even with --force) or another output. */
static int check_clashes(const run *r, const char *key_in, const char *bundle_out)
{
    for (size_t i = 0; i < r->njobs; i++) {
        const job *j = &r->jobs[i];
        const char *outs[2] = {j->keyout, j->out};
        for (int o = 0; o < 2; o++) {
            if (outs[o] == NULL) {
                continue;
            }
            if (same_file(outs[o], key_in)) {
                return tool_usage_error(PROG, "%s is the --key-in key: it is never rewritten",
                                        outs[o]);
            }
            if (same_file(outs[o], bundle_out)) {
                return tool_usage_error(PROG, "%s is also the --bundle-out file", outs[o]);
            }
            for (size_t k = 0; k < r->njobs; k++) {
                if (same_file(outs[o], r->jobs[k].config)) {
                    return tool_usage_error(PROG, "%s is a config: it is never overwritten",
                                            outs[o]);
                }
                if (k < i &&
                    (same_file(outs[o], r->jobs[k].out) || same_file(outs[o], r->jobs[k].keyout))) {
                    return tool_usage_error(PROG, "%s and %s would both write %s",
                                            r->jobs[k].config, j->config, outs[o]);
                }
            }
        }
        if (same_file(j->keyout, j->out)) {
            return tool_usage_error(PROG, "the key and the CSR cannot both go to %s", j->out);
        }
    }
    if (same_file(bundle_out, key_in)) {
        return tool_usage_error(PROG, "%s is the --key-in key: it is never rewritten", bundle_out);
    }
    for (size_t k = 0; k < r->njobs; k++) {
        if (same_file(bundle_out, r->jobs[k].config)) {
            return tool_usage_error(PROG, "%s is a config: it is never overwritten", bundle_out);
        }
    }
    return 0;
}

/* The token key: made on the token (--pkcs11-uri) or found there (--key-in-uri). A key
 * made on the token stays there even if a later step fails: its URI is printed so that
 * --key-in-uri can use it, and nothing on a token is ever deleted. */
static int open_token_key(run *r, const new_args *a)
{
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    char pin_spec[4200];
    int rc;

    tool_hsm_options(&ho, &a->hsm, PROG, pin_spec, sizeof(pin_spec));
    rc = trisa_hsm_open(&r->hsm, &ho);
    if (rc == 0 && a->hsm.key_in_uri != NULL) {
        rc = trisa_hsm_find_key(&r->shared_key, &r->key_uri, r->hsm, a->hsm.key_in_uri);
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
        return TOOL_EXIT_OK;
    }
    /* No token or key matching the URI is a token problem, not a bad input file. */
    return tool_hsm_fail(PROG, rc);
}

static int config_options(const new_args *a, trisa_csr_config_options *co)
{
    co->common_name = a->cn;
    co->sans = a->sans;
    co->san_count = a->nsans;
    co->extensions = a->reqexts;
    co->utf8 = a->utf8;
    return 0;
}

int cmd_new(int argc, char **argv)
{
    new_args a = {0};
    run r = {0};
    written w = {0};
    trisa_csr_config_options co = TRISA_CSR_CONFIG_OPTIONS_INIT;
    trisa_keygen_spec cli_spec = TRISA_KEYGEN_SPEC_INIT;
    char **configs = NULL;
    size_t nconfigs = 0;
    char *passout = NULL, *passin = NULL;
    trisa_buf bundle = TRISA_BUF_INIT;
    int rc, ret = TOOL_EXIT_FAILURE, failed = 0;
    int csr_to_stdout, named, had_folder = 0;

    pthread_mutex_init(&r.lock, NULL);
    ret = parse(&a, argc, argv);
    if (ret >= 0) {
        goto done;
    }
    ret = TOOL_EXIT_FAILURE;
    if (a.key_spec && trisa_keygen_spec_parse(&cli_spec, a.key_spec) != 0) {
        ret = tool_usage_error(PROG, "%s", trisa_error_last());
        goto done;
    }
    if (expand_configs(&a, &configs, &nconfigs, &had_folder) != 0) {
        ret = TOOL_EXIT_INPUT;
        goto done;
    }
    /* Several configs, a folder or --out-dir: outputs are named after each config. */
    named = nconfigs > 1 || had_folder || a.out_dir != NULL;
    if (named && (a.keyout || a.out)) {
        ret = tool_usage_error(PROG, "with several configs, a folder or --out-dir the outputs "
                                     "are named after each config (NAME.key, NAME.csr), so "
                                     "--keyout and --out cannot be used");
        goto done;
    }
    if (nconfigs > 1 && a.source != KEY_GENERATE) {
        ret = tool_usage_error(PROG, "--key-in makes one CSR: give one config");
        goto done;
    }
    r.a = &a;
    r.njobs = nconfigs;
    r.jobs = calloc(nconfigs, sizeof(job));
    if (r.jobs == NULL) {
        goto done;
    }

    /* Step 1: load and validate every config, name every output. */
    config_options(&a, &co);
    for (size_t i = 0; i < nconfigs; i++) {
        job *j = &r.jobs[i];
        j->config = configs[i];
        rc = trisa_csr_config_load(&j->cfg, configs[i], &co);
        if (rc != 0) {
            tool_fail(PROG, rc);
            /* an unreadable config is bad input too, not a system failure */
            ret = rc == TRISA_EINVAL ? TOOL_EXIT_USAGE
                  : rc == TRISA_EIO  ? TOOL_EXIT_INPUT
                                     : tool_exit_code(rc);
            failed = 1;
            continue;
        }
        for (size_t k = 0; k < trisa_csr_config_warning_count(j->cfg); k++) {
            tool_warn(PROG, "%s", trisa_csr_config_warning(j->cfg, k));
        }
        if (a.key_spec) {
            j->spec = cli_spec;
        } else {
            trisa_csr_config_key_spec(j->cfg, &j->spec);
        }
        if (named) {
            const char *dir = a.out_dir ? a.out_dir : ".";
            j->out = named_after(dir, configs[i], ".csr");
            if (j->out == NULL) {
                goto done;
            }
            if (a.source == KEY_GENERATE &&
                (j->keyout = named_after(dir, configs[i], ".key")) == NULL) {
                goto done;
            }
        } else {
            const char *k = a.keyout ? a.keyout : trisa_csr_config_default_keyfile(j->cfg);
            if (a.source == KEY_GENERATE) {
                if (k == NULL) {
                    ret = tool_usage_error(PROG, "where should the new key go? give --keyout FILE");
                    goto done;
                }
                if ((j->keyout = strdup(k)) == NULL) {
                    goto done;
                }
            }
            if (a.out && strcmp(a.out, "-") != 0 && (j->out = strdup(a.out)) == NULL) {
                goto done;
            }
        }
    }
    if (failed) {
        goto done;
    }
    if ((ret = check_clashes(&r, a.key_in, a.bundle_out)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < nconfigs; i++) {
        if ((ret = check_free(r.jobs[i].keyout, a.force)) != 0 ||
            (ret = check_free(r.jobs[i].out, a.force)) != 0) {
            goto done;
        }
    }
    if ((ret = check_free(a.bundle_out, a.force)) != 0) {
        goto done;
    }
    ret = TOOL_EXIT_FAILURE;

    /* Secrets, once for all jobs. */
    if (a.passout != NULL) {
        rc = trisa_secret_read(&passout, NULL, a.passout, "Passphrase for the new key: ");
        if (rc != 0) {
            ret = tool_fail(PROG, rc);
            goto done;
        }
        if (passout[0] == '\0') {
            trisa_error_set(TRISA_ESECRET, "--passout: the passphrase is empty");
            ret = tool_fail(PROG, TRISA_ESECRET);
            goto done;
        }
        if (strcmp(a.passout, "prompt") == 0) {
            /* Typed blind: a typo would lock the operator out of the new key. */
            char *again = NULL;
            rc = trisa_secret_read(&again, NULL, "prompt", "Passphrase again: ");
            if (rc == 0 && strcmp(again, passout) != 0) {
                rc = trisa_error_set(TRISA_ESECRET, "the two passphrases differ; nothing made");
            }
            trisa_secret_free(again);
            if (rc != 0) {
                ret = tool_fail(PROG, rc);
                goto done;
            }
        }
        r.passout = passout;
    }
    if (a.source == KEY_FILE) {
        if (a.passin != NULL) {
            rc = trisa_secret_read(&passin, NULL, a.passin, "Passphrase of the key: ");
            if (rc != 0) {
                ret = tool_fail(PROG, rc);
                goto done;
            }
        }
        rc = trisa_keygen_load(&r.shared_key, a.key_in, passin);
        if (rc != 0) {
            ret = tool_fail(PROG, rc);
            goto done;
        }
    }

    if (a.source == KEY_TOKEN && (ret = open_token_key(&r, &a)) != TOOL_EXIT_OK) {
        goto done;
    }
    ret = TOOL_EXIT_FAILURE;

    /* Step 2: make everything in memory. */
    if (a.jobs == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a.jobs = n > 0 ? n : 1;
    }
    r.progress = nconfigs > 1 && isatty(STDERR_FILENO);
    make_all(&r, a.jobs);
    if (r.progress) {
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < nconfigs; i++) {
        if (r.jobs[i].rc != 0 && a.source == KEY_TOKEN) {
            /* The CSR was signed on the token: its failure is the token's (removed...). */
            fprintf(stderr, "%s: error: token '%s': %s\n", PROG, trisa_hsm_token_label(r.hsm),
                    r.jobs[i].err);
            ret = TOOL_EXIT_TOKEN;
            failed = 1;
        } else if (r.jobs[i].rc != 0) {
            fprintf(stderr, "%s: error: %s\n", PROG, r.jobs[i].err);
            ret = tool_exit_code(r.jobs[i].rc);
            failed = 1;
        }
    }
    if (failed) {
        goto done;
    }

    /* Step 3: write. The CSR before the key, so that a failure leaves no orphan key. */
    csr_to_stdout = nconfigs == 1 && r.jobs[0].out == NULL && !a.noout && !a.print && !a.json;
    for (size_t i = 0; i < nconfigs; i++) {
        job *j = &r.jobs[i];
        if (j->out != NULL &&
            (rc = write_file(&w, j->out, j->csr_pem, j->csr_len, 0644, a.force)) != 0) {
            goto write_failed;
        }
        if (j->keyout != NULL &&
            (rc = write_file(&w, j->keyout, j->key_pem, j->key_len, 0600, a.force)) != 0) {
            goto write_failed;
        }
        trisa_buf_append(&bundle, j->csr_pem, j->csr_len);
    }
    if (a.bundle_out != NULL) {
        if (bundle.failed) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto write_failed;
        }
        if ((rc = write_file(&w, a.bundle_out, bundle.data, bundle.len, 0644, a.force)) != 0) {
            goto write_failed;
        }
    }
    if (csr_to_stdout) {
        fwrite(r.jobs[0].csr_pem, 1, r.jobs[0].csr_len, stdout);
    }
    if (a.json && nconfigs > 1) {
        fputs("[", stdout);
    }
    for (size_t i = 0; i < nconfigs && (a.print || a.json); i++) {
        job *j = &r.jobs[i];
        const char *keyfile = j->keyout ? j->keyout : a.key_in ? a.key_in : r.key_uri;
        if (a.json) {
            fputs(i ? ",\n " : "", stdout);
            out_json_summary(stdout, j->config, keyfile, j->out, j->csr);
        } else {
            if (i) {
                fputc('\n', stdout);
            }
            out_print_summary(stdout, j->config, keyfile, j->out, j->csr);
        }
    }
    if (a.json) {
        fputs(nconfigs > 1 ? "]\n" : "\n", stdout);
    }
    if (fflush(stdout) != 0) {
        ret = TOOL_EXIT_FAILURE;
        goto done;
    }
    ret = TOOL_EXIT_OK;
    goto done;

write_failed:
    undo(&w);
    ret = tool_fail(PROG, rc);
done:
    for (size_t i = 0; i < r.njobs; i++) {
        job *j = &r.jobs[i];
        trisa_csr_config_free(j->cfg);
        trisa_keygen_free(j->key);
        trisa_csr_free(j->csr);
        trisa_secret_free(j->key_pem);
        free(j->csr_pem);
        free(j->keyout);
        free(j->out);
    }
    free(r.jobs);
    trisa_keygen_free(r.shared_key);
    trisa_hsm_free(r.hsm); /* after every key that signs on it */
    free(r.key_uri);
    for (size_t i = 0; i < nconfigs; i++) {
        free(configs[i]);
    }
    free(configs);
    free((void *)w.paths);
    free((void *)a.configs);
    free((void *)a.sans);
    trisa_buf_free(&bundle, 0);
    trisa_secret_free(passout);
    trisa_secret_free(passin);
    pthread_mutex_destroy(&r.lock);
    return ret;
}
