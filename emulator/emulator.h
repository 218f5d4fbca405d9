/*
 * The Sectigo IoT Manager emulator: a server handle for `sectigo serve` and the tests.
 * Internal to the project (not installed): the tool and check_emulator include it.
 *
 *     trisa_emu_options o = TRISA_EMU_OPTIONS_INIT;
 *     o.state_dir = "state";
 *     trisa_emu *e;
 *     if (trisa_emu_new(&e, &o) == 0 && (port = trisa_emu_start(e)) > 0) { ... }
 *     trisa_emu_stop(e);
 *     trisa_emu_free(e);
 */
#ifndef TRISA_EMULATOR_H
#define TRISA_EMULATOR_H

#include <stdio.h>

typedef struct trisa_emu trisa_emu;

typedef struct trisa_emu_options {
    unsigned version;
    const char *addr;        /* "HOST:PORT", port 0 picks a free one; NULL: 127.0.0.1:8831 */
    const char *state_dir;   /* required: CA, store, JWT secret live here */
    const char *config_path; /* accounts, authorities, profiles; NULL: built-in defaults */
    double processing_delay; /* seconds; < 0: the configuration's value */
    int test_hooks;          /* serve /_emulator/requests and /_emulator/faults */
    int tls_self_signed;     /* make DIR/tls-ca.pem and a server certificate */
    const char *tls_cert;    /* PEM server certificate (chain), with tls_key */
    const char *tls_key;     /* PEM server key */
    const char *username;    /* replaces the first account's username when set */
    const char *password;    /* replaces the first account's password when set */
    FILE *log;               /* one line per request; NULL: no request log */
    unsigned threads;        /* HTTP worker threads; 0: default (4) */
} trisa_emu_options;

#define TRISA_EMU_OPTIONS_VERSION 1
#define TRISA_EMU_OPTIONS_INIT                                                                     \
    {                                                                                              \
        TRISA_EMU_OPTIONS_VERSION, NULL, NULL, NULL, -1.0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0   \
    }

/**
 * Load the configuration, open (or create) the state folder: store, JWT secret, local CA
 * (generated on first use: slow, RSA-4096). Does not listen yet.
 * @return 0, TRISA_ECONFIG, TRISA_EINVAL, TRISA_EIO, TRISA_ECRYPTO, TRISA_ENOMEM.
 * Free *out with trisa_emu_free().
 */
int trisa_emu_new(trisa_emu **out, const trisa_emu_options *opts);

/**
 * Bind and start serving on worker threads.
 * @return the bound TCP port (> 0), or a negative TRISA_E* code (TRISA_ENETWORK: bind).
 */
int trisa_emu_start(trisa_emu *e);

/** "http" or "https". */
const char *trisa_emu_scheme(const trisa_emu *e);

/** The bound host as given ("127.0.0.1"). Borrowed. */
const char *trisa_emu_host(const trisa_emu *e);

/** Stop listening and wait for the worker threads; safe to call twice. */
void trisa_emu_stop(trisa_emu *e);

/** Stop if needed and free everything. NULL is ignored. */
void trisa_emu_free(trisa_emu *e);

#endif
