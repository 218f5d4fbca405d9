/*
 * trisa-fetch: from a Sectigo batch (or its downloaded ZIP) to verified PEM files.
 * main.c parses the options into fetch_args; offline.c turns ZIP bytes into files;
 * online.c (when the Sectigo client is built) follows, uploads and downloads batches.
 */
#ifndef TRISA_TOOLS_FETCH_H
#define TRISA_TOOLS_FETCH_H

#include <stddef.h>
#include <time.h>

#include "tools/common/hsm_cli.h"

#define FETCH_PROG     "trisa-fetch"
#define FETCH_MAX_LIST 64

typedef struct fetch_args {
    const char *zip;
    const char *batch;
    const char *csr;
    const char *profile;
    const char *out_dir;
    const char *keys[FETCH_MAX_LIST];
    size_t nkeys;
    const char *key_passin;
    const char *passin; /* PKCS#12 password spec (openssl -passin forms) */
    const char *trust;
    int trust_bundle_root;
    time_t at;
    const char *crl;
    const char *dns[FETCH_MAX_LIST];
    size_t ndns;
    int json;
    int force;
    int force_upload;
    const char *passout;
    const char *p12_out;
    int legacy;
    long interval;
    long timeout;
    int quiet;
    /* connection, as sectigo's global flags */
    const char *username;
    const char *password;
    const char *environment;
    const char *endpoint;
    const char *cacert;
    /* --pkcs11-*: our key is on a token; the certificate is stored there too */
    tool_hsm_args hsm;
} fetch_args;

/* Turn a batch ZIP (or, by @p name's extension, one .p12 / .pem / ... file) into verified files
 * under args->out_dir; password may be NULL (the PKCS#12 password is then read from --passin /
 * --password-file, or prompted for on a terminal when the bundle needs one). Returns an exit code.
 */
int fetch_offline(const fetch_args *args, const char *name, const unsigned char *zip, size_t len,
                  const char *password);

/* --batch and --csr modes (online.c); exit codes. */
int fetch_batch(const fetch_args *args);
int fetch_csr(const fetch_args *args);

#endif
