/*
 * trisa-csr [new]: make a key and CSR for each trisa.conf given. This file holds the
 * option table, the parse phase and the order of the phases (see new.h).
 *
 * Where keys come from is a `key_source`: made here, an existing key file, or a PKCS#11
 * token (--pkcs11-*), where the key is made or found on the token and never leaves it.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/new.h"

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
    {O_KEY, 0, "key", "TYPE", "key to make: rsa:2048|3072|4096, ec:P-256|P-384 [rsa:4096]"},
    {O_NEWKEY, 0, "newkey", "TYPE", NULL},
    {O_KEY_IN, 0, "key-in", "FILE", "use this existing key (renewal; it is never rewritten)"},
    {O_PASSOUT, 0, "passout", "SPEC", "encrypt the new key: pass:, env:, file:, fd:, stdin"},
    {O_PASSIN, 0, "passin", "SPEC", "passphrase of the --key-in key, same forms"},
    {O_CN, 0, "cn", "NAME", "use this common name instead of the config's"},
    {O_SAN, 0, "san", "NAME", "add a subjectAltName (DNS name, or DNS:/IP:/email:/URI:)"},
    {O_DIGEST, 0, "digest|md", "DIGEST", "signature digest: sha256|sha384|sha512 [default_md]"},
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
    {O_JSON, 0, "json", NULL, "print the same as JSON (errors too)"},
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

/* Options that only store their value, or set a flag: where each goes. */
static const struct {
    int id;
    size_t value; /* offset of a `const char *` in new_args, or (size_t)-1 */
    size_t flag;  /* offset of an `int` flag in new_args, or (size_t)-1 */
} stores[] = {
#define V(id, field)                                                                               \
    {                                                                                              \
        id, offsetof(new_args, field), (size_t)-1                                                  \
    }
#define F(id, field)                                                                               \
    {                                                                                              \
        id, (size_t)-1, offsetof(new_args, field)                                                  \
    }
    V(O_KEYOUT, keyout),
    V(O_OUT, out),
    V(O_OUT_DIR, out_dir),
    V(O_BUNDLE, bundle_out),
    V(O_NEWKEY, key_spec),
    V(O_KEY_IN, key_in),
    V(O_CN, cn),
    V(O_DIGEST, digest),
    V(O_REQEXTS, reqexts),
    V(O_PKCS11_MODULE, hsm.module),
    V(O_PKCS11_URI, hsm.uri),
    V(O_KEY_LABEL, hsm.key_label),
    V(O_KEY_IN_URI, hsm.key_in_uri),
    V(O_PIN_FILE, hsm.pin_file),
    F(O_UTF8, utf8),
    F(O_NODES, nodes),
    F(O_NOOUT, noout),
    F(O_FORCE, force),
    F(O_PRINT, print),
#undef V
#undef F
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
               "Commands:\n"
               "  new    make a key and CSR from each config (the default: may be left out)\n"
               "  init   write a commented trisa.conf template\n"
               "  hsm    list PKCS#11 tokens, keys and certificates with their URIs\n\n"
               "Options of new:\n");
    tool_opt_help(f, new_opts);
    fprintf(f,
            "\nExit codes:\n"
            "  0  done                                  4  an output exists (--force)\n"
            "  1  other failure (a file not written)   11  wrong or missing passphrase\n"
            "  2  usage                                12  PKCS#11 token error\n"
            "  3  invalid config, key or secret        13  wrong PIN or PIN locked\n"
            "     source (every config error listed) 130  interrupted (Ctrl-C)\n"
            "With --json, an error is {\"error\": {\"exit\": N, \"code\": ..., \"message\": ...}}\n"
            "on stdout. See trisa-csr(1).\n");
}

int new_push(const char ***list, size_t *n, const char *v)
{
    const char **grown = realloc((void *)*list, (*n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    grown[(*n)++] = v;
    *list = grown;
    return 0;
}

/* One option: PHASE_GO_ON, or the exit code. */
static int apply(new_args *a, int id, tool_parser *p)
{
    for (size_t i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        if (stores[i].id != id) {
            continue;
        }
        if (stores[i].value != (size_t)-1) {
            /* A URI's pin-value= must not stay readable in /proc/PID/cmdline. */
            const char *v = id == O_PKCS11_URI || id == O_KEY_IN_URI ? tool_opt_uri(p) : p->value;
            if (v == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            *(const char **)((char *)a + stores[i].value) = v;
        } else {
            *(int *)((char *)a + stores[i].flag) = 1;
        }
        return PHASE_GO_ON;
    }
    switch (id) {
    case TOOL_OPT_ERROR:
        return TOOL_EXIT_USAGE;
    case TOOL_OPT_POSITIONAL:
    case O_CONFIG:
        return new_push(&a->configs, &a->nconfigs, p->value) == 0
                   ? PHASE_GO_ON
                   : tool_error(PROG, TOOL_EXIT_FAILURE, "nomem", "out of memory");
    case O_SAN:
        return new_push(&a->sans, &a->nsans, p->value) == 0
                   ? PHASE_GO_ON
                   : tool_error(PROG, TOOL_EXIT_FAILURE, "nomem", "out of memory");
    case O_PASSOUT:
    case O_PASSIN:
        /* A private copy; the value in argv is overwritten, so that a pass:TEXT does not stay
         * readable in /proc/PID/cmdline while the keys are made. */
        if ((*(id == O_PASSOUT ? &a->passout : &a->passin) = tool_opt_secret(p)) == NULL) {
            return TOOL_EXIT_FAILURE;
        }
        return PHASE_GO_ON;
    case O_JSON:
        a->json = 1;
        tool_report_set_json(1);
        return PHASE_GO_ON;
    case O_KEY:
        /* openssl's -key FILE is an existing key; our --key SPEC is a key to make. */
        *(p->name[1] != '-' ? &a->key_in : &a->key_spec) = p->value;
        return PHASE_GO_ON;
    case O_SHA256:
    case O_SHA384:
    case O_SHA512:
        a->digest = id == O_SHA256 ? "sha256" : id == O_SHA384 ? "sha384" : "sha512";
        return PHASE_GO_ON;
    case O_NEW:
    case O_BATCH:
    case O_VERIFY:
        return PHASE_GO_ON; /* always so: a new request, no prompts, its signature checked */
    case O_JOBS:
        return tool_opt_long(PROG, p->name, p->value, 1, 256, &a->jobs) == 0 ? PHASE_GO_ON
                                                                             : TOOL_EXIT_USAGE;
    case O_HELP:
        usage(stdout);
        return TOOL_EXIT_OK;
    case O_VERSION:
        return tool_version();
    default:
        return PHASE_GO_ON;
    }
}

/* The options that only make sense together, or not at all together. */
static int check_combinations(new_args *a)
{
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
    return PHASE_GO_ON;
}

int new_parse(new_args *a, int argc, char **argv)
{
    tool_parser p;
    int id, rc;

    tool_opt_init(&p, argc, argv, new_opts, PROG);
    p.single_dash_long = 1;
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        if ((rc = apply(a, id, &p)) != PHASE_GO_ON) {
            return rc;
        }
    }
    return check_combinations(a);
}

int cmd_new(int argc, char **argv)
{
    new_args a;
    run r;
    int ret;

    memset(&a, 0, sizeof(a));
    memset(&r, 0, sizeof(r));
    r.a = &a;
    pthread_mutex_init(&r.lock, NULL);
    if ((ret = new_parse(&a, argc, argv)) == PHASE_GO_ON && (ret = new_plan(&r)) == PHASE_GO_ON &&
        (ret = new_secrets(&r)) == PHASE_GO_ON && (ret = new_make(&r)) == PHASE_GO_ON) {
        ret = new_commit(&r);
    }
    for (size_t i = 0; r.jobs != NULL && i < r.njobs; i++) {
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
    for (size_t i = 0; i < r.nconfigs; i++) {
        free(r.configs[i]);
    }
    free(r.configs);
    free((void *)a.configs);
    free((void *)a.sans);
    trisa_secret_free(r.passout);
    trisa_secret_free(r.passin);
    pthread_mutex_destroy(&r.lock);
    return ret;
}
