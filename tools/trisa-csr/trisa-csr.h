/*
 * trisa-csr: keys and CSRs from trisa.conf. main.c dispatches to a subcommand
 * (cmd_<verb>.c); with no subcommand name the default one, `new`, runs, so that the
 * openssl req command line works with the program name swapped.
 */
#ifndef TRISA_TOOLS_TRISA_CSR_H
#define TRISA_TOOLS_TRISA_CSR_H

#include <stdio.h>

#include "trisa/csr.h"

#define PROG "trisa-csr"

/* A subcommand gets its own argv (argv[0] is the command's name). */
typedef int (*csr_cmd_fn)(int argc, char **argv);

typedef struct csr_command {
    const char *name;
    csr_cmd_fn fn;
    const char *summary;
} csr_command;

int cmd_new(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_hsm(int argc, char **argv);

/* Output helpers (output.c): one request's summary, in human form or as a JSON object
 * (with the CSR's PEM text when it went to no file). */
void out_print_summary(FILE *f, const char *config, const char *keyfile, const char *csrfile,
                       const trisa_csr *csr);
void out_json_summary(FILE *f, const char *config, const char *keyfile, const char *csrfile,
                      const trisa_csr *csr, const char *csr_pem);

#endif
