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
    const char *addr;        /* "HOST:PORT", port 0 picks a free one; ":PORT" is all interfaces
                                with TLS or insecure_bind, else loopback; NULL: 127.0.0.1:8831 */
    const char *state_dir;   /* required: CA, store, JWT secret live here */
    const char *config_path; /* accounts, authorities, profiles; NULL: a compiled-in set */
    const char *profile_set; /* the compiled-in set without config_path: "default" (NULL) or
                                "reference" (the reference staging server's ids) */
    double processing_delay; /* seconds; < 0: the configuration's value */
    int test_hooks;          /* serve /_emulator/... (to loopback clients only) */
    int tls_self_signed;     /* make DIR/tls-ca.pem and a server certificate */
    const char *tls_cert;    /* PEM server certificate (chain), with tls_key */
    const char *tls_key;     /* PEM server key */
    int insecure_bind;       /* allow a non-loopback address without TLS */
    const char *username;    /* replaces the first account's username when set */
    const char *password;    /* replaces the first account's password when set */
    const char *subject;     /* replaces the first account's token subject when set */
    const char *issuer;      /* the tokens' iss claim when set */
    const char *jwt_secret;  /* base64 of 32 bytes: the token key instead of DIR/jwt.key */
    const char *ca_path;     /* PEM issuing CA certificate (+ chain) and key; NULL: DIR/ca */
    long cert_lifetime;      /* seconds every leaf is valid; 0: each profile's */
    FILE *log;               /* one line per request; NULL: no request log */
    int log_json;            /* JSON lines instead of "METHOD PATH STATUS TIME" */
    int log_level;           /* lines logged: 0 all, 1 4xx and 5xx, 2 5xx, 3 none */
    unsigned threads;        /* HTTP worker threads; 0: default (4) */
} trisa_emu_options;

#define TRISA_EMU_OPTIONS_VERSION 2
#define TRISA_EMU_OPTIONS_INIT                                                                     \
    {                                                                                              \
        TRISA_EMU_OPTIONS_VERSION, NULL, NULL, NULL, NULL, -1.0, 0, 0, NULL, NULL, 0, NULL, NULL,  \
            NULL, NULL, NULL, NULL, 0, NULL, 0, 0, 0                                               \
    }

/** The compiled-in configuration named (NULL or "default", "reference") as JSON text,
 * borrowed; NULL for an unknown name. */
const char *trisa_emu_builtin_config(const char *name);

/**
 * Load the configuration, open (or create) the state folder: store, JWT secret, local CA
 * (generated on first use: slow, RSA-4096). Does not listen yet.
 * @return 0, TRISA_ECONFIG, TRISA_EINVAL (also: a non-loopback address without TLS or
 *         insecure_bind), TRISA_EIO, TRISA_ECRYPTO, TRISA_ENOMEM.
 * Free *out with trisa_emu_free().
 */
int trisa_emu_new(trisa_emu **out, const trisa_emu_options *opts);

/**
 * Bind and start serving on worker threads.
 * @return the bound TCP port (> 0), or a negative TRISA_E* code (TRISA_ENETWORK: bind).
 */
int trisa_emu_start(trisa_emu *e);

/** What a person should know of the address chosen (all interfaces, hooks for loopback
 * only, ":PORT" bound to loopback), or "" when nothing. Borrowed. */
const char *trisa_emu_notice(const trisa_emu *e);

/** A warning about the state folder (other users can open it), or "" when none. Borrowed. */
const char *trisa_emu_warning(const trisa_emu *e);

/** "http" or "https". */
const char *trisa_emu_scheme(const trisa_emu *e);

/** The bound host as given ("127.0.0.1"). Borrowed. */
const char *trisa_emu_host(const trisa_emu *e);

/** Stop listening and wait for the worker threads; safe to call twice. */
void trisa_emu_stop(trisa_emu *e);

/** Stop if needed and free everything. NULL is ignored. */
void trisa_emu_free(trisa_emu *e);

#endif
