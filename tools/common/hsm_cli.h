/*
 * PKCS#11 options shared by trisa-csr and trisa-fetch, and the `hsm list` command.
 * The module defaults to $TRISA_PKCS11_MODULE, then p11-kit's proxy module.
 */
#ifndef TRISA_TOOLS_HSM_CLI_H
#define TRISA_TOOLS_HSM_CLI_H

#include "trisa/hsm.h"

typedef struct tool_hsm_args {
    const char *module;     /* --pkcs11-module PATH */
    const char *uri;        /* --pkcs11-uri URI (token, or token and key) */
    const char *pin_file;   /* --pin-file FILE */
    const char *key_label;  /* --key-label LABEL */
    const char *key_in_uri; /* --key-in-uri URI (existing key on the token) */
} tool_hsm_args;

/* Fill hsm options from the arguments; `prog` is passed to the warning printer. */
void tool_hsm_options(trisa_hsm_options *o, const tool_hsm_args *a, const char *prog,
                      char *pin_spec, size_t pin_spec_len);

/* Exit code of a token operation's error: no token or key matching the URI, several, a
 * token that cannot do what is asked: 12; wrong or locked PIN: 13; else tool_exit_code().
 * The same in trisa-csr, trisa-fetch and `hsm list`. */
int tool_hsm_exit_code(int err);

/* tool_fail() with tool_hsm_exit_code(). */
int tool_hsm_fail(const char *prog, int err);

/* Print a library warning as "prog: warning: ..." (data is the program name). */
void tool_hsm_warn(const char *message, void *data);

/* `PROG hsm list [options]`: argv[0] is "list". Returns an exit code. */
int tool_hsm_main(int argc, char **argv, const char *prog);

#endif
