/* ZIP bytes to verified files: open, match keys, verify, then write. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trisa/bundle.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/trisa-fetch/fetch.h"

static int has_key_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot != NULL && (strcmp(dot, ".pem") == 0 || strcmp(dot, ".key") == 0);
}

/* A --key is a file, or a folder whose *.pem / *.key files that hold keys are used. */
static int add_keys(trisa_bundle *b, const fetch_args *a, const char *key_pass)
{
    for (size_t i = 0; i < a->nkeys; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;
        int rc = 0;
        if (stat(a->keys[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = trisa_bundle_add_key_file(b, a->keys[i], key_pass);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        d = opendir(a->keys[i]);
        if (d == NULL) {
            fprintf(stderr, "%s: error: cannot read key folder %s: %s\n", FETCH_PROG, a->keys[i],
                    strerror(errno));
            return TRISA_EIO;
        }
        while ((e = readdir(d)) != NULL && rc == 0) {
            size_t n = strlen(a->keys[i]) + strlen(e->d_name) + 2;
            char *path;
            if (e->d_name[0] == '.' || !has_key_extension(e->d_name)) {
                continue;
            }
            path = malloc(n);
            if (path == NULL) {
                rc = TRISA_ENOMEM;
                break;
            }
            snprintf(path, n, "%s/%s", a->keys[i], e->d_name);
            rc = trisa_bundle_add_key_file(b, path, key_pass);
            if (rc == TRISA_EKEY) {
                rc = 0; /* a CSR or a certificate beside the keys */
                trisa_error_clear();
            }
            free(path);
        }
        closedir(d);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* A folder name from a certificate's commonName, which the server chose: never a path. */
static void safe_dir_name(char *out, size_t cap, const char *cn, size_t index)
{
    size_t j = 0;
    if (cn == NULL || cn[0] == '\0' || cn[0] == '.') {
        snprintf(out, cap, "certificate-%zu", index + 1);
        return;
    }
    for (const char *p = cn; *p != '\0' && j + 1 < cap; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        out[j++] = ok ? c : '_';
    }
    out[j] = '\0';
}

static int print_report(const trisa_bundle_report *r, int json)
{
    char *s = NULL;
    int rc = json ? trisa_bundle_report_json(&s, r) : trisa_bundle_report_text(&s, r);
    if (rc == 0) {
        fputs(s, stdout);
        if (json) {
            fputc('\n', stdout);
        }
        fflush(stdout);
    }
    free(s);
    return rc;
}

static int write_p12(const trisa_bundle *b, const fetch_args *a, const char *pass)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = trisa_bundle_export_p12(&der, &len, b, 0, pass,
                                     a->legacy ? TRISA_P12_LEGACY : TRISA_P12_MODERN);
    if (rc == 0) {
        rc =
            trisa_file_write_atomic(a->p12_out, der, len, 0600, a->force ? TRISA_WRITE_REPLACE : 0);
    }
    free(der);
    if (rc == 0) {
        fprintf(stderr, "%s: wrote %s (%s PKCS#12)\n", FETCH_PROG, a->p12_out,
                a->legacy ? "legacy 3DES/SHA-1" : "AES-256/SHA-256");
    }
    return rc;
}

static int open_bytes(trisa_bundle **out, const char *name, const unsigned char *data, size_t len,
                      const trisa_bundle_options *bo)
{
    trisa_bundle *b = NULL;
    int rc;
    if (trisa_bundle_member_type(name) != TRISA_MEMBER_NONE) {
        /* One member file given directly rather than a ZIP. */
        if ((rc = trisa_bundle_new(&b, bo)) == 0 &&
            (rc = trisa_bundle_add_member(b, name, data, len)) == 0) {
            *out = b;
            return 0;
        }
        trisa_bundle_free(b);
        return rc;
    }
    return trisa_bundle_open_zip(out, data, len, bo);
}

/* Our key on a token joins the bundle like a key file: the leaf is the certificate
 * whose public key is the token key's. */
static int add_token_key(trisa_hsm **hsm, trisa_bundle *b, const fetch_args *a)
{
    trisa_hsm_options ho = TRISA_HSM_OPTIONS_INIT;
    EVP_PKEY *key = NULL;
    char pin_spec[4200];
    int rc;

    tool_hsm_options(&ho, &a->hsm, FETCH_PROG, pin_spec, sizeof(pin_spec));
    if ((rc = trisa_hsm_open(hsm, &ho)) != 0 ||
        (rc = trisa_hsm_find_key(&key, NULL, *hsm, a->hsm.uri)) != 0) {
        return rc;
    }
    rc = trisa_bundle_add_key(b, key);
    EVP_PKEY_free(key);
    return rc;
}

/* After the files: the certificate goes on the token beside its key (same id and label),
 * and the issuing CAs beside it, so that a server loading the certificate from the token
 * can send the chain. Returns an exit code: the files are written whatever happens here. */
static int store_on_token(trisa_hsm *hsm, const trisa_bundle *b, const char *dir)
{
    const STACK_OF(X509) *chain = trisa_bundle_chain(b, 0);
    char *uri = NULL;
    int rc = trisa_hsm_store_certificate(&uri, hsm, trisa_bundle_leaf(b, 0));

    if (rc == 0) {
        fprintf(stderr, "%s: stored the certificate on token '%s': %s\n", FETCH_PROG,
                trisa_hsm_token_label(hsm), uri);
    }
    for (int i = 0; rc == 0 && i < sk_X509_num(chain); i++) {
        int added = 0;
        free(uri);
        uri = NULL;
        rc = trisa_hsm_store_ca_certificate(&uri, &added, hsm, sk_X509_value(chain, i));
        if (rc == 0) {
            fprintf(stderr, "%s: %s CA certificate on token '%s': %s\n", FETCH_PROG,
                    added ? "stored the" : "already had the", trisa_hsm_token_label(hsm), uri);
        }
    }
    free(uri);
    if (rc != 0) {
        fprintf(stderr, "%s: error: %s; the PEM files in %s are written\n", FETCH_PROG,
                trisa_error_last(), dir);
        return tool_hsm_exit_code(rc);
    }
    return TOOL_EXIT_OK;
}

int fetch_offline(const fetch_args *a, const char *name, const unsigned char *zip, size_t len,
                  const char *password)
{
    trisa_hsm *hsm = NULL;
    trisa_bundle_options bo = TRISA_BUNDLE_OPTIONS_INIT;
    trisa_bundle_verify_options vo = TRISA_BUNDLE_VERIFY_OPTIONS_INIT;
    trisa_bundle_write_options wo = TRISA_BUNDLE_WRITE_OPTIONS_INIT;
    trisa_bundle *b = NULL;
    trisa_bundle_report **reports = NULL;
    char *pass = NULL, *key_pass = NULL, *passout = NULL;
    size_t n = 0;
    struct stat sb;
    int rc = 0, exit_code = TOOL_EXIT_OK;

    if (password == NULL && a->passin != NULL) {
        if ((rc = trisa_secret_read(&pass, NULL, a->passin, "PKCS#12 password: ")) != 0) {
            goto fail;
        }
        password = pass;
    }
    if (a->key_passin != NULL &&
        (rc = trisa_secret_read(&key_pass, NULL, a->key_passin, "Key password: ")) != 0) {
        goto fail;
    }
    if (a->passout != NULL &&
        (rc = trisa_secret_read(&passout, NULL, a->passout, "Output password: ")) != 0) {
        goto fail;
    }
    bo.password = password;
    rc = open_bytes(&b, name, zip, len, &bo);
    if (rc == TRISA_EPASSWORD && password == NULL && isatty(STDIN_FILENO)) {
        /* No password given and the bundle needs one: ask, as openssl does. */
        if ((rc = trisa_secret_read(&pass, NULL, "prompt", "PKCS#12 password: ")) != 0) {
            goto fail;
        }
        password = pass;
        bo.password = password;
        rc = open_bytes(&b, name, zip, len, &bo);
    }
    if (rc == TRISA_EPASSWORD && password == NULL) {
        fprintf(stderr, "%s: the bundle is password-protected: give --password-file or --passin\n",
                FETCH_PROG);
    }
    if (rc != 0 || (rc = add_keys(b, a, key_pass)) != 0) {
        goto fail;
    }
    if (a->hsm.uri != NULL && (rc = add_token_key(&hsm, b, a)) != 0) {
        exit_code = tool_hsm_fail(FETCH_PROG, rc); /* the same codes as trisa-csr */
        goto done;
    }
    if ((rc = trisa_bundle_resolve(b)) != 0) {
        goto fail;
    }
    n = trisa_bundle_identity_count(b);
    if (hsm != NULL && n != 1) {
        exit_code = tool_usage_error(FETCH_PROG,
                                     "--pkcs11-uri takes a batch of one certificate; this one "
                                     "holds %zu",
                                     n);
        goto done;
    }
    if (a->p12_out != NULL && n != 1) {
        exit_code = tool_usage_error(FETCH_PROG,
                                     "--p12-out needs a bundle of one certificate; "
                                     "this one holds %zu",
                                     n);
        goto done;
    }
    if (a->p12_out != NULL && !a->force && lstat(a->p12_out, &sb) == 0) {
        fprintf(stderr, "%s: error: %s exists; nothing written (--force to replace)\n", FETCH_PROG,
                a->p12_out);
        exit_code = TOOL_EXIT_EXISTS;
        goto done;
    }
    vo.trust_file = a->trust;
    vo.trust_bundle_root = a->trust_bundle_root;
    vo.at = a->at;
    vo.crl_file = a->crl;
    vo.dns_names = a->dns;
    vo.dns_count = a->ndns;
    reports = calloc(n, sizeof(*reports));
    if (reports == NULL) {
        rc = TRISA_ENOMEM;
        goto fail;
    }
    /* Verify everything before writing anything. */
    for (size_t i = 0; i < n; i++) {
        int vrc = trisa_bundle_verify(&reports[i], b, i, &vo);
        if (reports[i] != NULL) {
            print_report(reports[i], a->json);
        }
        if (vrc != 0) {
            exit_code = tool_fail(FETCH_PROG, vrc);
            if (vrc == TRISA_EVERIFY) {
                fprintf(stderr, "%s: nothing written\n", FETCH_PROG);
            }
            goto done;
        }
    }
    wo.force = a->force;
    wo.key_password = passout;
    for (size_t i = 0; i < n; i++) {
        char dname[256], *dir = NULL;
        size_t dlen;
        if (n == 1) {
            dir = strdup(a->out_dir);
        } else {
            safe_dir_name(dname, sizeof(dname), trisa_bundle_common_name(b, i), i);
            dlen = strlen(a->out_dir) + strlen(dname) + 2;
            dir = malloc(dlen);
            if (dir != NULL) {
                snprintf(dir, dlen, "%s/%s", a->out_dir, dname);
                if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                    fprintf(stderr, "%s: error: cannot create %s: %s\n", FETCH_PROG, dir,
                            strerror(errno));
                    free(dir);
                    exit_code = TOOL_EXIT_FAILURE;
                    goto done;
                }
            }
        }
        if (dir == NULL) {
            rc = TRISA_ENOMEM;
            goto fail;
        }
        rc = trisa_bundle_write(b, i, dir, &wo);
        if (rc == 0) {
            fprintf(stderr, "%s: wrote cert.pem, chain.pem, fullchain.pem%s in %s\n", FETCH_PROG,
                    trisa_bundle_has_bundle_key(b, i) ? ", key.pem" : "", dir);
        }
        free(dir);
        if (rc != 0) {
            goto fail;
        }
    }
    if (hsm != NULL && (exit_code = store_on_token(hsm, b, a->out_dir)) != TOOL_EXIT_OK) {
        goto done;
    }
    if (a->p12_out != NULL) {
        const char *p = passout != NULL ? passout : password;
        if (p == NULL) {
            exit_code = tool_usage_error(FETCH_PROG, "--p12-out needs a password: give --passout");
            goto done;
        }
        if ((rc = write_p12(b, a, p)) != 0) {
            goto fail;
        }
    }
    goto done;
fail:
    exit_code = tool_fail(FETCH_PROG, rc);
done:
    for (size_t i = 0; reports != NULL && i < n; i++) {
        trisa_bundle_report_free(reports[i]);
    }
    free(reports);
    trisa_bundle_free(b);
    trisa_hsm_free(hsm); /* after the bundle, which holds a reference to the token key */
    trisa_secret_free(pass);
    trisa_secret_free(key_pass);
    trisa_secret_free(passout);
    return exit_code;
}
