/*
 * The Sectigo connection options that sectigo and trisa-fetch share (-u, -p, -E, -e,
 * --cacert and their SECTIGO_* variables): one table, one parser, one way to fill the
 * client's options.
 */
#ifndef TRISA_TOOLS_CONN_H
#define TRISA_TOOLS_CONN_H

#include "trisa/sectigo.h"
#include "tools/common/opt.h"

/* Option ids of the connection options; a tool's own ids stay below TOOL_CONN_FIRST. */
enum {
    TOOL_CONN_FIRST = 1000,
    TOOL_CONN_USER = TOOL_CONN_FIRST,
    TOOL_CONN_PASS,
    TOOL_CONN_ENV,
    TOOL_CONN_URL,
    TOOL_CONN_CACERT,
};

/* The rows to put in a tool's option table. No one-letter option takes a secret: the
 * password is --password only (or $SECTIGO_PASSWORD, or a file). */
#define TOOL_CONN_OPTIONS TOOL_CONN_ROWS(0)

/* sectigo's rows: the reference CLI's letters, -p for the password included. */
#define TOOL_CONN_OPTIONS_REFERENCE TOOL_CONN_ROWS('p')

#define TOOL_CONN_ROWS(pass_letter)                                                                \
    {TOOL_CONN_USER, 'u', "username", "NAME", "Sectigo username [$SECTIGO_USERNAME]"},             \
        {TOOL_CONN_PASS, pass_letter, "password", "PASS", "Sectigo password [$SECTIGO_PASSWORD]"}, \
        {TOOL_CONN_ENV, 'E', "env|environment", "ENV",                                             \
         "production, staging, docker or testing [$SECTIGO_ENVIRONMENT]"},                         \
        {TOOL_CONN_URL, 'e', "url|endpoint", "URL", "API base URL [$SECTIGO_ENDPOINT]"},           \
    {                                                                                              \
        TOOL_CONN_CACERT, 0, "cacert", "FILE", "trust this CA bundle for TLS [$SECTIGO_CA_BUNDLE]" \
    }

typedef struct tool_conn {
    const char *username; /* -u, --username, $SECTIGO_USERNAME */
    const char *password; /* -p, --password, $SECTIGO_PASSWORD (argv copy: see tool_opt_secret) */
    const char *environment; /* -E, --env, --environment, $SECTIGO_ENVIRONMENT */
    const char *endpoint;    /* -e, --url, --endpoint, $SECTIGO_ENDPOINT */
    const char *cacert;      /* --cacert, $SECTIGO_CA_BUNDLE */
} tool_conn;

/* Defaults from the SECTIGO_* variables. */
void tool_conn_init(tool_conn *c);

/* Take the current option (id, from parser p) if it is a connection option: returns 1
 * when taken, 0 when it is not one, -1 after printing an error (out of memory). The
 * password's value is overwritten in argv (tool_opt_secret). */
int tool_conn_option(tool_conn *c, tool_parser *p, int id);

/* Copy the settings into the client's options (pointers are borrowed). */
void tool_conn_apply(const tool_conn *c, trisa_sectigo_options *o);

#endif
