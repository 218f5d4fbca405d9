/*
 * trisa-fetch: option parsing and output over the enrolment engine (trisa/enroll.h).
 * Phases: parse the command line, check all of it (nothing is read, written or created
 * before that), turn it into engine options, run, and print what the engine reports.
 */
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/support.h"
#include "trisa/bundle.h"
#include "trisa/common.h"
#include "trisa/enroll.h"
#include "tools/common/conn.h"
#include "tools/common/exit.h"
#include "tools/common/harden.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"

#define PROG     "trisa-fetch"
#define MAX_LIST 64

typedef struct args {
    const char *zip, *batch, *csr, *profile, *out_dir;
    const char *keys[MAX_LIST];
    size_t nkeys;
    const char *key_passin, *p12_passin, *passfile;
    const char *trust;
    int trust_bundle_root;
    time_t at;
    const char *crl;
    const char *dns[MAX_LIST];
    size_t ndns;
    int json, force, force_upload, new_request, dry_run, no_wait, legacy, quiet;
    const char *passout, *p12_out, *state_dir;
    long interval, timeout;
    tool_conn conn; /* -u, -p, -E, -e, --cacert and their SECTIGO_* variables */
    const char *pkcs11_module, *pkcs11_uri, *pin_file;
    /* derived */
    long long batch_id, profile_id;
    char *passfile_spec, *pin_spec;
    int tty;
    /* what the run told, for --json and the Ctrl-C hint */
    long long last_batch;
    char **reports; /* each identity's report as JSON, by index */
    char **dirs;    /* the folder each identity is in, by index */
    size_t nslots;
    char *status; /* "issued", "already issued", "issued earlier" */
    char *plan;   /* --dry-run's text */
} args;

enum {
    O_ZIP = 1,
    O_BATCH,
    O_CSR,
    O_PROFILE,
    O_OUT,
    O_KEY,
    O_KEY_PASSIN,
    O_PASSFILE,
    O_P12_PASSIN,
    O_P_HABIT,
    O_TRUST,
    O_TRUST_ROOT,
    O_AT,
    O_CRL,
    O_DNS,
    O_JSON,
    O_FORCE,
    O_FORCE_UPLOAD,
    O_NEW_REQUEST,
    O_DRY_RUN,
    O_NO_WAIT,
    O_STATE_DIR,
    O_PASSOUT,
    O_P12,
    O_LEGACY,
    O_INTERVAL,
    O_TIMEOUT,
    O_QUIET,
    O_PKCS11_MODULE,
    O_PKCS11_URI,
    O_PIN_FILE,
    O_HELP,
    O_VERSION,
};

static const tool_opt opts[] = {
    {O_ZIP, 'z', "zip", "FILE", "offline: a downloaded batch ZIP (or one .p12 / .pem file)"},
    {O_BATCH, 'b', "batch", "ID", "follow batch ID until issued, then download it"},
    {O_CSR, 0, "csr", "REQ", "upload the CSR file REQ (with --profile) once, then follow it"},
    {O_PROFILE, 'P', "profile", "ID", "Sectigo profile id for --csr (a profileId of authorities)"},
    {O_OUT, 'o', "out-dir", "DIR", "write cert.pem, chain.pem, fullchain.pem, ... here"},
    {O_KEY, 'k', "key", "KEY", "our private key, or a folder of keys (repeatable)"},
    {O_KEY_PASSIN, 0, "passin|key-passin", "SPEC",
     "passphrase of the --key files (as trisa-csr): pass:, env:, file:, fd:..."},
    {O_PKCS11_URI, 0, "pkcs11-uri", "URI",
     "our key is on this PKCS#11 token: match it, store the certificate there"},
    {O_PKCS11_MODULE, 0, "pkcs11-module", "PATH",
     "PKCS#11 module of the token [$TRISA_PKCS11_MODULE, else p11-kit-proxy]"},
    {O_PIN_FILE, 0, "pin-file", "FILE",
     "token PIN from FILE [pin-source in the URI, $TRISA_PKCS11_PIN, else a prompt]"},
    {O_P12_PASSIN, 0, "p12-passin", "SPEC", "PKCS#12 password of the bundle, same forms"},
    {O_PASSFILE, 0, "password-file", "FILE", "PKCS#12 password in FILE (first line)"},
    {O_TRUST, 't', "trust", "FILE", "trust anchors (PEM) to verify the chain against"},
    {O_TRUST_ROOT, 0, "trust-bundle-root", NULL,
     "trust the bundle's own root (compare its SHA-256)"},
    {O_AT, 0, "at", "TIME", "verify at TIME (YYYY-MM-DD[THH:MM:SSZ] or @EPOCH), not now"},
    {O_CRL, 0, "crl", "FILE", "check the leaf against this CRL (PEM or DER)"},
    {O_DNS, 0, "dns", "NAME", "require NAME in the SANs (repeatable; the CSR's are checked)"},
    {O_JSON, 0, "json", NULL, "one JSON document: the result, or the error"},
    {O_FORCE, 'f', "force", NULL, "replace output files that differ"},
    {O_FORCE_UPLOAD, 0, "force-upload", NULL,
     "upload again although an earlier upload's outcome is unknown"},
    {O_NEW_REQUEST, 0, "new-request", NULL,
     "a new request for a CSR issued before (a renewal with the same key)"},
    {O_DRY_RUN, 'n', "dry-run", NULL, "check everything, say what would be uploaded where, stop"},
    {O_NO_WAIT, 0, "no-wait", NULL,
     "exit 15 instead of waiting while another process works on the request"},
    {O_STATE_DIR, 0, "state-dir", "DIR",
     "the journal's folder [$TRISA_STATE_DIR, /var/lib/trisa, ~/.local/state/trisa]"},
    {O_PASSOUT, 0, "passout", "SPEC", "encrypt key.pem, node.pem's key and --p12-out"},
    {O_P12, 0, "p12-out", "FILE", "also write a modern PKCS#12 (AES-256, SHA-256 MAC)"},
    {O_LEGACY, 0, "legacy", NULL, "make --p12-out a legacy PKCS#12 (3DES, SHA-1 MAC)"},
    {O_INTERVAL, 0, "interval", "SECONDS", "seconds between status polls (default 5)"},
    {O_TIMEOUT, 0, "timeout", "SECONDS",
     "the whole run's limit (default 1800; 0: look once, never wait)"},
    {O_QUIET, 'q', "quiet", NULL, "silent on success (warnings and errors still on stderr)"},
    TOOL_CONN_OPTIONS,
    /* `sectigo upload -p 42` habit: here -p would be a secret in a one-letter option. */
    {O_P_HABIT, 'p', NULL, "X", NULL},
    {O_HELP, 'h', "help", NULL, "show this help"},
    {O_VERSION, 'V', "version", NULL, "print the version"},
    TOOL_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trisa-fetch --zip FILE --out-dir DIR [--key KEY] [--password-file F]\n"
               "       trisa-fetch --batch ID --out-dir DIR [--key KEY]\n"
               "       trisa-fetch --csr REQ --profile ID --out-dir DIR [--key KEY]\n\n"
               "From a Sectigo batch to verified PEM files. Nothing is written unless the chain\n"
               "verifies (give --trust FILE or --trust-bundle-root); a CSR is uploaded once.\n\n"
               "Options:\n");
    tool_opt_help(f, opts);
    fprintf(f,
            "\nExit codes:\n"
            "  0  issued and verified, or already issued    8  batch rejected by the CA\n"
            "  1  other failure (an upload of unknown      9  not issued or not downloaded\n"
            "     outcome, an out-dir not made)               by --timeout: run it again later\n"
            "  2  usage                                    10  verification failed, or a key\n"
            "  3  invalid input (ZIP, bundle, key, CSR,        mismatch; nothing written\n"
            "     trust file, profile, journal)           11  wrong or missing password\n"
            "  4  an output differs (nothing written)     12  PKCS#11 token error\n"
            "  5  authentication                          13  wrong PIN or PIN locked\n"
            "  6  the server refused (no licence left)    15  another process works on it\n"
            "  7  network, TLS or time-out                     (--no-wait)\n"
            "130  interrupted (Ctrl-C): run the same command to continue\n"
            "With --json, an error is {\"error\": {\"exit\": N, \"code\": ..., \"message\": ...}}\n"
            "on stdout. See trisa-fetch(1).\n");
}

/* ---- Parsing -------------------------------------------------------------------------------- */

static int add_to(const char **list, size_t *n, const char *value, const char *what)
{
    if (*n == MAX_LIST) {
        return tool_usage_error(PROG, "too many %s options", what);
    }
    list[(*n)++] = value;
    return 0;
}

/* Returns -1 to go on, or the exit code to stop with (help, version, a usage error). */
static int parse(args *a, int argc, char **argv)
{
    tool_parser p;
    int id;
    tool_opt_init(&p, argc, argv, opts, PROG);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        const char *v = p.value;
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(PROG, "unexpected argument '%s'", v);
        case O_ZIP:
            a->zip = v;
            break;
        case O_BATCH:
            a->batch = v;
            break;
        case O_CSR:
            a->csr = v;
            break;
        case O_PROFILE:
            a->profile = v;
            break;
        case O_OUT:
            a->out_dir = v;
            break;
        case O_KEY:
            if (add_to(a->keys, &a->nkeys, v, "--key") != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_KEY_PASSIN:
            if ((a->key_passin = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_PASSFILE:
            a->passfile = v;
            break;
        case O_P12_PASSIN:
            if ((a->p12_passin = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_P_HABIT:
            return tool_usage_error(PROG, "-p is not an option of trisa-fetch: the profile is "
                                          "--profile ID (-P), the Sectigo password --password "
                                          "or $SECTIGO_PASSWORD");
        case O_TRUST:
            a->trust = v;
            break;
        case O_TRUST_ROOT:
            a->trust_bundle_root = 1;
            break;
        case O_AT:
            /* Strict: 2021-02-30 is no date, and the epoch would mean "now". */
            if (trisa_bundle_parse_time(&a->at, v) != 0) {
                return tool_usage_error(PROG, "--at: %s", trisa_error_last());
            }
            break;
        case O_CRL:
            a->crl = v;
            break;
        case O_DNS:
            if (add_to(a->dns, &a->ndns, v, "--dns") != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_JSON:
            a->json = 1;
            tool_report_set_json(1);
            break;
        case O_FORCE:
            a->force = 1;
            break;
        case O_FORCE_UPLOAD:
            a->force_upload = 1;
            break;
        case O_NEW_REQUEST:
            a->new_request = 1;
            break;
        case O_DRY_RUN:
            a->dry_run = 1;
            break;
        case O_NO_WAIT:
            a->no_wait = 1;
            break;
        case O_STATE_DIR:
            a->state_dir = v;
            break;
        case O_PASSOUT:
            if ((a->passout = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_P12:
            a->p12_out = v;
            break;
        case O_LEGACY:
            a->legacy = 1;
            break;
        case O_INTERVAL:
            if (tool_opt_long(PROG, "--interval", v, 1, 3600, &a->interval) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if (tool_opt_long(PROG, "--timeout", v, 0, 7L * 86400, &a->timeout) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_QUIET:
            a->quiet = 1;
            break;
        case O_PKCS11_MODULE:
            a->pkcs11_module = v;
            break;
        case O_PKCS11_URI:
            /* A pin-value= in it must not stay readable in /proc/PID/cmdline. */
            if ((a->pkcs11_uri = tool_opt_uri(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_PIN_FILE:
            a->pin_file = v;
            break;
        case O_HELP:
            usage(stdout);
            return TOOL_EXIT_OK;
        case O_VERSION:
            return tool_version();
        default: {
            int taken = tool_conn_option(&a->conn, &p, id);
            if (taken < 0) {
                return TOOL_EXIT_FAILURE;
            }
            if (taken == 0) {
                return tool_usage_error(PROG, "unhandled option");
            }
        }
        }
    }
    return -1;
}

static int parse_id(const char *what, const char *s, long long *out)
{
    long v;
    if (trisa_parse_long(s, 1, 0x7fffffffL, &v) != 0) {
        return tool_usage_error(PROG, "%s: '%s' is not a positive number", what, s);
    }
    *out = v;
    return 0;
}

/* The whole command line, before anything is read, made or sent. */
static int validate(args *a)
{
    int modes = (a->zip != NULL) + (a->batch != NULL) + (a->csr != NULL);
    if (modes != 1) {
        return tool_usage_error(PROG, "give exactly one of --zip, --batch or --csr");
    }
    if (a->out_dir == NULL) {
        return tool_usage_error(PROG, "--out-dir is required");
    }
    if (a->trust == NULL && !a->trust_bundle_root) {
        return tool_usage_error(PROG, "give --trust FILE or --trust-bundle-root: the chain is "
                                      "verified before anything is written");
    }
    if (a->passfile != NULL && a->p12_passin != NULL) {
        return tool_usage_error(PROG, "give --password-file or --p12-passin, not both");
    }
    if (a->key_passin != NULL && a->nkeys == 0) {
        return tool_usage_error(PROG, "--passin is the passphrase of --key files (as in "
                                      "trisa-csr); the bundle's PKCS#12 password is "
                                      "--p12-passin SPEC or --password-file FILE");
    }
    if (a->legacy && a->p12_out == NULL) {
        return tool_usage_error(PROG, "--legacy only applies to --p12-out");
    }
    if (a->p12_out != NULL && a->pkcs11_uri != NULL) {
        return tool_usage_error(PROG, "--p12-out cannot hold a key that stays on the token");
    }
    if (a->p12_out != NULL && a->passout == NULL &&
        (a->csr != NULL || (a->p12_passin == NULL && a->passfile == NULL))) {
        return tool_usage_error(PROG, "--p12-out needs a password: give --passout%s",
                                a->csr != NULL ? "" : " (or the bundle's --p12-passin)");
    }
    if (a->p12_out != NULL && a->csr != NULL && a->nkeys == 0) {
        return tool_usage_error(PROG, "--p12-out needs the private key: give --key");
    }
    if (a->csr != NULL && a->profile == NULL) {
        return tool_usage_error(PROG, "--csr needs --profile");
    }
    if (a->csr == NULL && (a->profile != NULL || a->force_upload || a->new_request)) {
        return tool_usage_error(PROG, "%s only applies to --csr",
                                a->profile != NULL ? "--profile"
                                : a->force_upload  ? "--force-upload"
                                                   : "--new-request");
    }
    if (a->pkcs11_uri == NULL && (a->pkcs11_module != NULL || a->pin_file != NULL)) {
        return tool_usage_error(PROG, "%s needs --pkcs11-uri",
                                a->pkcs11_module != NULL ? "--pkcs11-module" : "--pin-file");
    }
    if (a->profile != NULL && parse_id("--profile", a->profile, &a->profile_id) != 0) {
        return TOOL_EXIT_USAGE;
    }
    if (a->batch != NULL && parse_id("--batch", a->batch, &a->batch_id) != 0) {
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

static char *spec(const char *prefix, const char *value)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_printf(&b, "%s%s", prefix, value);
    return trisa_buf_detach(&b, NULL);
}

/* ---- Output --------------------------------------------------------------------------------- */

static void progress_clear(const args *a)
{
    if (a->tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* A note for people on stderr ("trisa-fetch: uploaded ..."); -q keeps it quiet. */
static void note(const args *a, const char *fmt, ...) TRISA_PRINTF(2, 3);

static void note(const args *a, const char *fmt, ...)
{
    va_list ap;
    if (a->quiet) {
        return;
    }
    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "29 min 35 s", "35 s", "2 h 5 min". */
static void fmt_duration(char *out, size_t cap, long s)
{
    if (s >= 3600) {
        snprintf(out, cap, "%ld h %ld min", s / 3600, (s % 3600) / 60);
    } else if (s >= 60) {
        snprintf(out, cap, "%ld min %ld s", s / 60, s % 60);
    } else {
        snprintf(out, cap, "%ld s", s);
    }
}

/* Room for identity `index` in the per-identity lists. */
static int slot(args *a, size_t index)
{
    if (index >= a->nslots) {
        size_t n = index + 1;
        char **r = realloc(a->reports, n * sizeof(*r));
        char **d = r != NULL ? realloc(a->dirs, n * sizeof(*d)) : NULL;
        if (r != NULL) {
            a->reports = r;
        }
        if (d == NULL) {
            return -1;
        }
        a->dirs = d;
        for (size_t i = a->nslots; i < n; i++) {
            a->reports[i] = NULL;
            a->dirs[i] = NULL;
        }
        a->nslots = n;
    }
    return 0;
}

static void keep(char **where, const char *text)
{
    free(*where);
    *where = text != NULL ? strdup(text) : NULL;
}

static void on_verified(args *a, const trisa_enroll_event *ev)
{
    char *s = NULL;
    if (a->json) {
        /* Kept for the one document printed at the end (or beside the error). */
        if (slot(a, ev->index) == 0 && trisa_bundle_report_json(&s, ev->report) == 0) {
            free(a->reports[ev->index]);
            a->reports[ev->index] = s;
        }
        return;
    }
    if (a->quiet && trisa_bundle_report_ok(ev->report)) {
        return; /* a failed report is what the operator needs to see: printed anyway */
    }
    if (trisa_bundle_report_text(&s, ev->report) == 0) {
        fputs(s, stdout);
        fflush(stdout);
    }
    free(s);
}

/* The batch is known: Ctrl-C says how to continue it. */
static void batch_known(args *a, long long batch)
{
    char hint[128];
    if (batch <= 0 || batch == a->last_batch) {
        return;
    }
    a->last_batch = batch;
    snprintf(hint, sizeof(hint), "run the same command to continue batch %lld", batch);
    tool_report_interrupt_hint(hint);
}

static void on_event(const trisa_enroll_event *ev, void *data)
{
    args *a = data;
    if (ev->step != TRISA_ENROLL_STEP_POLLING) {
        progress_clear(a);
    }
    switch (ev->step) {
    case TRISA_ENROLL_STEP_CHECKED:
        break;
    case TRISA_ENROLL_STEP_DRY_RUN:
        if (a->json) {
            keep(&a->plan, ev->text);
        } else {
            printf("%s\n", ev->text);
        }
        break;
    case TRISA_ENROLL_STEP_WAITING:
        note(a, "%s", ev->text);
        break;
    case TRISA_ENROLL_STEP_SUPERSEDING:
        note(a, "a new request for this CSR: it supersedes batch %lld", ev->batch_id);
        break;
    case TRISA_ENROLL_STEP_CONTINUING:
        batch_known(a, ev->batch_id);
        note(a, "this CSR was uploaded before: continuing batch %lld (%s)", ev->batch_id,
             ev->text != NULL && ev->text[0] != '\0' ? ev->text : "status unknown");
        break;
    case TRISA_ENROLL_STEP_UPLOADED:
        batch_known(a, ev->batch_id);
        note(a, "uploaded %s to profile %lld: batch %lld", a->csr, a->profile_id, ev->batch_id);
        break;
    case TRISA_ENROLL_STEP_POLLING:
        batch_known(a, ev->batch_id);
        if (a->tty) {
            char left[32] = "";
            if (ev->left_s >= 0) {
                fmt_duration(left, sizeof(left), ev->left_s);
            }
            fprintf(stderr, "\r\033[Kbatch %lld: %s; next poll in %ld s%s%s%s", ev->batch_id,
                    ev->status, ev->next_s, left[0] ? "; " : "", left,
                    left[0] ? " left before --timeout" : "");
            fflush(stderr);
        }
        break;
    case TRISA_ENROLL_STEP_DOWNLOADED:
        note(a, "downloaded batch %lld (%s, %zu bytes)", ev->batch_id, ev->path, ev->count);
        break;
    case TRISA_ENROLL_STEP_VERIFIED:
        on_verified(a, ev);
        break;
    case TRISA_ENROLL_STEP_WROTE:
        if (slot(a, ev->index) == 0) {
            keep(&a->dirs[ev->index], ev->path);
        }
        note(a, "wrote %s in %s", ev->text, ev->path);
        break;
    case TRISA_ENROLL_STEP_WROTE_P12:
        note(a, "wrote %s (%s)", ev->path, ev->text);
        break;
    case TRISA_ENROLL_STEP_UNCHANGED:
        if (slot(a, ev->index) == 0) {
            keep(&a->dirs[ev->index], ev->path);
        }
        note(a, "%s: every file already there, unchanged", ev->path);
        break;
    case TRISA_ENROLL_STEP_STORED:
        note(a, "stored the certificate on token '%s': %s", ev->text, ev->path);
        break;
    case TRISA_ENROLL_STEP_STORED_CA:
        note(a, "%s CA certificate on token '%s': %s", ev->count ? "stored the" : "already had the",
             ev->text, ev->path);
        break;
    case TRISA_ENROLL_STEP_DONE:
        keep(&a->status, ev->text);
        if (ev->text != NULL && strcmp(ev->text, "already issued") == 0 && ev->batch_id > 0) {
            note(a, "already issued (batch %lld): nothing to do", ev->batch_id);
        } else if (ev->text != NULL && strcmp(ev->text, "already issued") == 0) {
            note(a, "already written: nothing to do");
        }
        break;
    }
}

static void on_warn(const char *message, void *data)
{
    progress_clear(data);
    tool_warn(PROG, "%s", message);
}

/* ---- The JSON document ------------------------------------------------------------------------
 */

static void json_time(trisa_buf *b, const ASN1_TIME *t)
{
    struct tm tm;
    char s[32] = "";
    memset(&tm, 0, sizeof(tm));
    if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1) {
        strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    trisa_json_str(b, s[0] ? s : NULL, 0);
}

/* The first commonName of a name, UTF-8; NULL when none. Free with OPENSSL_free(). */
static char *common_name(const X509_NAME *n)
{
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    if (i < 0 ||
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))) < 0) {
        return NULL;
    }
    return (char *)utf8;
}

/* One certificate of the result: its facts (the same name and fingerprint formats as
 * every other output), where it is, and this run's report (null on a rerun: it was
 * verified when it was issued). */
static void json_certificate(trisa_buf *b, const args *a, const trisa_enroll_result *res, size_t i)
{
    X509 *leaf = trisa_enroll_result_leaf(res, i);
    const char *dir = trisa_enroll_result_dir(res, i);
    char fp[TRISA_FINGERPRINT_TEXT];
    char *subject = leaf != NULL ? trisa_name_string(X509_get_subject_name(leaf)) : NULL;
    char *cn = leaf != NULL ? common_name(X509_get_subject_name(leaf)) : NULL;

    trisa_buf_puts(b, "{\"commonName\": ");
    trisa_json_str(b, cn, 0);
    trisa_buf_puts(b, ", \"subject\": ");
    trisa_json_str(b, subject, 0);
    trisa_buf_puts(b, ", \"sha256\": ");
    trisa_json_str(b, leaf != NULL ? trisa_cert_fingerprint(fp, leaf) : NULL, 0);
    trisa_buf_puts(b, ", \"notAfter\": ");
    json_time(b, leaf != NULL ? X509_get0_notAfter(leaf) : NULL);
    trisa_buf_puts(b, ", \"dir\": ");
    trisa_json_str(b, dir != NULL ? dir : i < a->nslots ? a->dirs[i] : NULL, 0);
    trisa_buf_puts(b, ", \"report\": ");
    trisa_buf_puts(b, i < a->nslots && a->reports[i] != NULL ? a->reports[i] : "null");
    trisa_buf_puts(b, "}");
    free(subject);
    OPENSSL_free(cn);
}

static void print_document(const args *a, const trisa_enroll_result *res)
{
    trisa_buf b = TRISA_BUF_INIT;
    size_t n = res != NULL ? trisa_enroll_result_count(res) : 0;
    long long batch = res != NULL ? trisa_enroll_result_batch_id(res) : 0;
    long long sup = res != NULL ? trisa_enroll_result_supersedes(res) : 0;

    if (a->plan != NULL) {
        trisa_buf_puts(&b, "{\"status\": \"dry run\", \"plan\": ");
        trisa_json_str(&b, a->plan, 0);
        trisa_buf_puts(&b, "}\n");
    } else {
        trisa_buf_puts(&b, "{\"status\": ");
        trisa_json_str(&b, a->status != NULL ? a->status : "issued", 0);
        trisa_buf_puts(&b, batch > 0 ? ", \"batchId\": " : ", \"batchId\": null");
        if (batch > 0) {
            trisa_buf_printf(&b, "%lld", batch);
        }
        trisa_buf_puts(&b, sup > 0 ? ", \"supersedes\": " : ", \"supersedes\": null");
        if (sup > 0) {
            trisa_buf_printf(&b, "%lld", sup);
        }
        trisa_buf_puts(&b, ", \"outDir\": ");
        trisa_json_str(&b, a->out_dir, 0);
        trisa_buf_puts(&b, ", \"journal\": ");
        trisa_json_str(&b, res != NULL ? trisa_enroll_result_journal(res) : NULL, 0);
        trisa_buf_puts(&b, ", \"certificates\": [");
        for (size_t i = 0; i < n; i++) {
            trisa_buf_puts(&b, i > 0 ? ", " : "");
            json_certificate(&b, a, res, i);
        }
        trisa_buf_puts(&b, "]}\n");
    }
    if (!b.failed) {
        fputs(b.data, stdout);
        tool_report_printed();
    }
    trisa_buf_free(&b, 0);
}

/* Beside a JSON error: the reports of this run (a failed verification's especially). */
static void error_extra(const args *a)
{
    trisa_buf b = TRISA_BUF_INIT;
    int any = 0;
    trisa_buf_puts(&b, "\"reports\": [");
    for (size_t i = 0; i < a->nslots; i++) {
        if (a->reports[i] != NULL) {
            trisa_buf_puts(&b, any++ ? ", " : "");
            trisa_buf_puts(&b, a->reports[i]);
        }
    }
    trisa_buf_puts(&b, "]");
    if (any && !b.failed) {
        tool_report_extra(b.data);
    }
    trisa_buf_free(&b, 0);
}

/* ---- Running -------------------------------------------------------------------------------- */

static void to_options(trisa_enroll_options *o, args *a)
{
    if (a->zip != NULL) {
        o->source = TRISA_ENROLL_FROM_BUNDLE;
        o->bundle_file = a->zip;
    } else if (a->batch != NULL) {
        o->source = TRISA_ENROLL_FROM_BATCH;
        o->batch_id = a->batch_id;
    } else {
        o->source = TRISA_ENROLL_FROM_CSR;
        o->csr_file = a->csr;
        o->profile_id = a->profile_id;
    }
    o->new_request = a->new_request;
    o->force_upload = a->force_upload;
    o->dry_run = a->dry_run;
    o->no_wait = a->no_wait;
    o->interval_s = a->interval;
    o->timeout_s = a->timeout == 0 ? -1 : a->timeout;
    o->state_dir = a->state_dir;
    o->key_files = a->keys;
    o->key_count = a->nkeys;
    o->key_password = a->key_passin;
    o->pkcs11_uri = a->pkcs11_uri;
    o->pkcs11_module = a->pkcs11_module != NULL ? a->pkcs11_module : getenv("TRISA_PKCS11_MODULE");
    o->pkcs11_pin = a->pin_spec;
    o->bundle_password = a->passfile_spec != NULL ? a->passfile_spec : a->p12_passin;
    /* No password given and the bundle needs one: ask, as openssl does, at a terminal. */
    o->bundle_password_fallback = isatty(STDIN_FILENO) ? "prompt" : NULL;
    o->trust_file = a->trust;
    o->trust_bundle_root = a->trust_bundle_root;
    o->at = a->at;
    o->crl_file = a->crl;
    o->dns_names = a->dns;
    o->dns_count = a->ndns;
    o->out_dir = a->out_dir;
    o->force = a->force;
    o->key_passout = a->passout;
    o->p12_out = a->p12_out;
    o->p12_legacy = a->legacy;
    o->endpoint = a->conn.endpoint;
    o->environment = a->conn.environment;
    o->username = a->conn.username;
    o->password = a->conn.password;
    o->ca_bundle = a->conn.cacert;
    o->progress = on_event;
    o->warn = on_warn;
    o->data = a;
}

int main(int argc, char **argv)
{
    trisa_enroll_options o = TRISA_ENROLL_OPTIONS_INIT;
    trisa_enroll_result *res = NULL;
    args a;
    int rc;

    tool_harden();
    tool_report_init(PROG, argc, argv, 0);
    memset(&a, 0, sizeof(a));
    a.interval = 5;
    a.timeout = 1800;
    tool_conn_init(&a.conn);
    if ((rc = parse(&a, argc, argv)) >= 0) {
        return tool_finish(rc);
    }
    if ((rc = validate(&a)) != 0) {
        return tool_finish(rc);
    }
    if ((a.passfile != NULL && (a.passfile_spec = spec("file:", a.passfile)) == NULL) ||
        (a.pin_file != NULL && (a.pin_spec = spec("file:", a.pin_file)) == NULL)) {
        return tool_finish(tool_fail(PROG, TRISA_ENOMEM));
    }
    a.tty = !a.quiet && isatty(STDERR_FILENO);
    to_options(&o, &a);
    rc = trisa_enroll_run(&res, &o);
    progress_clear(&a);
    if (rc == 0 && a.json) {
        print_document(&a, res);
    } else if (rc != 0) {
        int passin_only = rc == TRISA_EPASSWORD && a.key_passin != NULL && a.p12_passin == NULL &&
                          a.passfile == NULL;
        rc = tool_fail(PROG, rc);
        if (passin_only) {
            fprintf(stderr,
                    "%s: hint: --passin is the passphrase of --key files; the bundle's "
                    "PKCS#12 password is --p12-passin SPEC or --password-file FILE\n",
                    PROG);
        }
        if (a.json) {
            error_extra(&a);
        }
    }
    trisa_enroll_result_free(res);
    free(a.passfile_spec);
    free(a.pin_spec);
    for (size_t i = 0; i < a.nslots; i++) {
        free(a.reports[i]);
        free(a.dirs[i]);
    }
    free(a.reports);
    free(a.dirs);
    free(a.status);
    free(a.plan);
    return tool_finish(rc);
}
