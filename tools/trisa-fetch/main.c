/* trisa-fetch: parse the options into fetch_args, then run one of the three modes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/support.h"
#include "trisa/bundle.h"
#include "trisa/common.h"
#include "tools/common/conn.h"
#include "tools/common/exit.h"
#include "tools/common/harden.h"
#include "tools/common/opt.h"
#include "tools/trisa-fetch/fetch.h"

#define MAX_ZIP (64u * 1024u * 1024u + 1024u)

enum {
    O_ZIP = 1,
    O_BATCH,
    O_CSR,
    O_PROFILE,
    O_OUT,
    O_KEY,
    O_KEY_PASSIN,
    O_PASSFILE,
    O_PASSIN,
    O_TRUST,
    O_TRUST_ROOT,
    O_AT,
    O_CRL,
    O_DNS,
    O_JSON,
    O_FORCE,
    O_FORCE_UPLOAD,
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
    {O_CSR, 0, "csr", "REQ", "upload the CSR file REQ (with --profile), then follow it"},
    {O_PROFILE, 'P', "profile", "ID", "Sectigo profile (authority) ID for --csr"},
    {O_OUT, 'o', "out-dir", "DIR", "write cert.pem, chain.pem, fullchain.pem, root.pem here"},
    {O_KEY, 'k', "key", "KEY", "our private key, or a folder of keys (repeatable)"},
    {O_KEY_PASSIN, 0, "key-passin", "SPEC", "password of encrypted --key files"},
    {O_PKCS11_URI, 0, "pkcs11-uri", "URI",
     "our key is on this PKCS#11 token: match it, store the certificate there"},
    {O_PKCS11_MODULE, 0, "pkcs11-module", "PATH",
     "PKCS#11 module of the token [$TRISA_PKCS11_MODULE, else p11-kit-proxy]"},
    {O_PIN_FILE, 0, "pin-file", "FILE",
     "token PIN from FILE [pin-source in the URI, $TRISA_PKCS11_PIN, else a prompt]"},
    {O_PASSFILE, 0, "password-file", "FILE", "PKCS#12 password in FILE (first line)"},
    {O_PASSIN, 0, "passin", "SPEC", "PKCS#12 password: pass:, env:, file:, fd:, stdin, prompt"},
    {O_TRUST, 't', "trust", "FILE", "trust anchors (PEM) to verify the chain against"},
    {O_TRUST_ROOT, 0, "trust-bundle-root", NULL, "trust the bundle's own self-signed root"},
    {O_AT, 0, "at", "TIME", "verify at TIME (YYYY-MM-DD[THH:MM:SSZ] or @EPOCH), not now"},
    {O_CRL, 0, "crl", "FILE", "check the leaf against this CRL (PEM or DER)"},
    {O_DNS, 0, "dns", "NAME", "require NAME among the leaf's SANs (repeatable)"},
    {O_JSON, 0, "json", NULL, "print the report as JSON (one object per certificate)"},
    {O_FORCE, 'f', "force", NULL, "replace existing output files"},
    {O_FORCE_UPLOAD, 0, "force-upload", NULL,
     "upload again although an earlier upload's outcome is unknown"},
    {O_PASSOUT, 0, "passout", "SPEC", "encrypt key.pem and --p12-out with this password"},
    {O_P12, 0, "p12-out", "FILE", "also write a modern PKCS#12 (AES-256, SHA-256 MAC)"},
    {O_LEGACY, 0, "legacy", NULL, "make --p12-out a legacy PKCS#12 (3DES, SHA-1 MAC)"},
    {O_INTERVAL, 0, "interval", "SECONDS", "seconds between status polls (default 5)"},
    {O_TIMEOUT, 0, "timeout", "SECONDS", "give up waiting after SECONDS (default 1800)"},
    {O_QUIET, 'q', "quiet", NULL, "no progress line"},
    TOOL_CONN_OPTIONS,
    {O_HELP, 'h', "help", NULL, "show this help"},
    {O_VERSION, 0, "version", NULL, "print the version"},
    TOOL_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trisa-fetch --zip FILE --out-dir DIR [--key KEY] [--password-file F]\n"
               "       trisa-fetch --batch ID --out-dir DIR [--key KEY]\n"
               "       trisa-fetch --csr REQ --profile ID --out-dir DIR --key KEY\n\n"
               "From a Sectigo batch to verified PEM files. Nothing is written unless the chain\n"
               "verifies (give --trust FILE or --trust-bundle-root).\n\nOptions:\n");
    tool_opt_help(f, opts);
    fprintf(f, "\nExit codes: 0 issued and verified, 2 usage, 3 invalid input, 4 file exists,\n"
               "5 authentication, 6 API error, 7 network, 8 rejected, 9 still processing\n"
               "(run again later), 10 verification failed, 11 wrong password.\n");
}

static int run_zip(const fetch_args *a)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = trisa_file_read(&data, &len, a->zip, MAX_ZIP);
    if (rc != 0) {
        return tool_fail(FETCH_PROG, rc); /* the message names the file */
    }
    /* A lone .p12 / .pem file is wrapped as a one-member bundle by the library; for a
     * file the ZIP reader cannot take, say which. */
    rc = fetch_offline(a, a->zip, data, len, NULL);
    free(data);
    return rc;
}

int main(int argc, char **argv)
{
    fetch_args a;
    tool_conn conn;
    tool_parser p;
    const char *passfile = NULL;
    char *passfile_spec = NULL;
    struct stat st;
    int id, modes, rc;

    tool_harden();
    memset(&a, 0, sizeof(a));
    a.interval = 5;
    a.timeout = 1800;
    tool_conn_init(&conn);

    tool_opt_init(&p, argc, argv, opts, FETCH_PROG);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(FETCH_PROG, "unexpected argument '%s'", p.value);
        case O_ZIP:
            a.zip = p.value;
            break;
        case O_BATCH:
            a.batch = p.value;
            break;
        case O_CSR:
            a.csr = p.value;
            break;
        case O_PROFILE:
            a.profile = p.value;
            break;
        case O_OUT:
            a.out_dir = p.value;
            break;
        case O_KEY:
            if (a.nkeys == FETCH_MAX_LIST) {
                return tool_usage_error(FETCH_PROG, "too many --key options");
            }
            a.keys[a.nkeys++] = p.value;
            break;
        case O_KEY_PASSIN:
            a.key_passin = p.value;
            break;
        case O_PASSFILE:
            passfile = p.value;
            break;
        case O_PASSIN:
            if ((a.passin = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_TRUST:
            a.trust = p.value;
            break;
        case O_TRUST_ROOT:
            a.trust_bundle_root = 1;
            break;
        case O_AT:
            /* Strict: 2021-02-30 is no date, and the epoch would mean "now". */
            if (trisa_bundle_parse_time(&a.at, p.value) != 0) {
                return tool_usage_error(FETCH_PROG, "--at: %s", trisa_error_last());
            }
            break;
        case O_CRL:
            a.crl = p.value;
            break;
        case O_DNS:
            if (a.ndns == FETCH_MAX_LIST) {
                return tool_usage_error(FETCH_PROG, "too many --dns options");
            }
            a.dns[a.ndns++] = p.value;
            break;
        case O_JSON:
            a.json = 1;
            break;
        case O_FORCE:
            a.force = 1;
            break;
        case O_FORCE_UPLOAD:
            a.force_upload = 1;
            break;
        case O_PASSOUT:
            if ((a.passout = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_P12:
            a.p12_out = p.value;
            break;
        case O_LEGACY:
            a.legacy = 1;
            break;
        case O_INTERVAL:
            if (tool_opt_long(FETCH_PROG, "--interval", p.value, 1, 3600, &a.interval) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if (tool_opt_long(FETCH_PROG, "--timeout", p.value, 0, 7L * 86400, &a.timeout) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_QUIET:
            a.quiet = 1;
            break;
        case O_PKCS11_MODULE:
            a.hsm.module = p.value;
            break;
        case O_PKCS11_URI:
            a.hsm.uri = p.value;
            break;
        case O_PIN_FILE:
            a.hsm.pin_file = p.value;
            break;
        case O_HELP:
            usage(stdout);
            return TOOL_EXIT_OK;
        case O_VERSION:
            printf("trisa-fetch %s\n", trisa_version());
            return TOOL_EXIT_OK;
        default:
            if ((rc = tool_conn_option(&conn, &p, id)) < 0) {
                return TOOL_EXIT_FAILURE;
            }
            if (rc == 0) {
                return tool_usage_error(FETCH_PROG, "unhandled option");
            }
        }
    }
    a.username = conn.username;
    a.password = conn.password;
    a.environment = conn.environment;
    a.endpoint = conn.endpoint;
    a.cacert = conn.cacert;

    modes = (a.zip != NULL) + (a.batch != NULL) + (a.csr != NULL);
    if (modes != 1) {
        return tool_usage_error(FETCH_PROG, "give exactly one of --zip, --batch or --csr");
    }
    if (a.out_dir == NULL) {
        return tool_usage_error(FETCH_PROG, "--out-dir is required");
    }
    if (stat(a.out_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (mkdir(a.out_dir, 0755) != 0) {
            fprintf(stderr, "%s: error: --out-dir %s is not a folder and cannot be created\n",
                    FETCH_PROG, a.out_dir);
            return TOOL_EXIT_INPUT;
        }
    }
    if (a.trust == NULL && !a.trust_bundle_root) {
        return tool_usage_error(FETCH_PROG, "give --trust FILE or --trust-bundle-root: the chain "
                                            "is verified before anything is written");
    }
    if (passfile != NULL && a.passin != NULL) {
        return tool_usage_error(FETCH_PROG, "give --password-file or --passin, not both");
    }
    if (a.legacy && a.p12_out == NULL) {
        return tool_usage_error(FETCH_PROG, "--legacy only applies to --p12-out");
    }
    if (a.csr != NULL && (a.profile == NULL || (a.nkeys == 0 && a.hsm.uri == NULL))) {
        return tool_usage_error(FETCH_PROG, "--csr needs --profile and --key (or --pkcs11-uri)");
    }
    if (a.hsm.uri == NULL && (a.hsm.module != NULL || a.hsm.pin_file != NULL)) {
        return tool_usage_error(FETCH_PROG, "%s needs --pkcs11-uri",
                                a.hsm.module != NULL ? "--pkcs11-module" : "--pin-file");
    }
    if (passfile != NULL) {
        size_t n = strlen(passfile) + 6;
        passfile_spec = malloc(n);
        if (passfile_spec == NULL) {
            return TOOL_EXIT_FAILURE;
        }
        snprintf(passfile_spec, n, "file:%s", passfile);
        a.passin = passfile_spec;
    }
    if (a.zip != NULL) {
        rc = run_zip(&a);
    } else if (a.batch != NULL) {
        rc = fetch_batch(&a);
    } else {
        rc = fetch_csr(&a);
    }
    free(passfile_spec);
    return rc;
}
