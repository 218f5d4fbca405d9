/*
 * The sectigo tool: the TRISA reference CLI's command set, plus `serve`.
 * One cmd_<verb>.c a command; main.c parses the global flags and dispatches.
 */
#ifndef TRISA_TOOLS_SECTIGO_H
#define TRISA_TOOLS_SECTIGO_H

/* Global flags of the reference CLI (each also from its environment variable). */
typedef struct sectigo_globals {
    const char *username;    /* -u, --username, SECTIGO_USERNAME */
    const char *password;    /* -p, --password, SECTIGO_PASSWORD */
    const char *profile;     /* -P, --profile, SECTIGO_PROFILE */
    const char *environment; /* -E, --env, --environment, SECTIGO_ENVIRONMENT */
    const char *endpoint;    /* -e, --url, --endpoint, SECTIGO_ENDPOINT */
    const char *cacert;      /* --cacert, SECTIGO_CA_BUNDLE */
} sectigo_globals;

/* A command gets its own argv (argv[0] is the command name) and the global flags. */
typedef int (*sectigo_cmd_fn)(int argc, char **argv, sectigo_globals *g);

typedef struct sectigo_command {
    const char *name;
    const char *alias; /* another spelling, or NULL */
    sectigo_cmd_fn fn;
    const char *summary;
} sectigo_command;

int cmd_serve(int argc, char **argv, sectigo_globals *g);

#endif
