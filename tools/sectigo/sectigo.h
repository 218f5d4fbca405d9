/*
 * The sectigo tool: the TRISA reference CLI's command set, plus `serve`.
 * One cmd_<verb>.c a command; main.c parses the global flags and dispatches.
 */
#ifndef TRISA_TOOLS_SECTIGO_H
#define TRISA_TOOLS_SECTIGO_H

#include "tools/common/conn.h"
#include "tools/common/opt.h"

/* Global flags of the reference CLI (each also from its environment variable). */
typedef struct sectigo_globals {
    tool_conn conn;            /* -u, -p, -E, -e, --cacert and their SECTIGO_* variables */
    const char *profile;       /* -P, --profile, SECTIGO_PROFILE */
    const char *password_file; /* --password-file: the account password's first line */
} sectigo_globals;

/* A command gets its own argv (argv[0] is the command name) and the global flags. */
typedef int (*sectigo_cmd_fn)(int argc, char **argv, sectigo_globals *g);

typedef struct sectigo_command {
    const char *name;
    const char *alias; /* another spelling, or NULL */
    sectigo_cmd_fn fn;
    const char *summary;
} sectigo_command;

struct trisa_sectigo;

int cmd_serve(int argc, char **argv, sectigo_globals *g);
int cmd_auth(int argc, char **argv, sectigo_globals *g);
int cmd_authorities(int argc, char **argv, sectigo_globals *g);
int cmd_licenses(int argc, char **argv, sectigo_globals *g);
int cmd_profiles(int argc, char **argv, sectigo_globals *g);
int cmd_organization(int argc, char **argv, sectigo_globals *g);
int cmd_create(int argc, char **argv, sectigo_globals *g);
int cmd_upload(int argc, char **argv, sectigo_globals *g);
int cmd_batches(int argc, char **argv, sectigo_globals *g);
int cmd_download(int argc, char **argv, sectigo_globals *g);
int cmd_find(int argc, char **argv, sectigo_globals *g);
int cmd_revoke(int argc, char **argv, sectigo_globals *g);

/* session.c: what every command shares. */

/* Open a client from the global flags; on failure prints the error and returns the exit
 * code (non-zero). */
int sectigo_open(struct trisa_sectigo **out, const sectigo_globals *g, const char *prog);
/* Print JSON text from a trisa_sectigo_*_json() call (rc its result) and free it; returns
 * the exit code. */
int sectigo_print_json(const char *prog, int rc, char *json);
/* Load SECTIGO_* and SIAS_* variables from a .env file (read as godotenv 1.5 reads it)
 * without overriding the environment. A file with a syntax error sets nothing (as with the
 * reference) and is reported with a warning naming its line. */
void sectigo_load_dotenv(const char *path);
/* Start parsing a command's argv: Go's forms too (-id 3, -id=3). */
void sectigo_parser_init(tool_parser *p, int argc, char **argv, const tool_opt *opts,
                         const char *prog);

/* Every command's --help, the last row of its option table. */
enum { SECTIGO_O_HELP = 999 };
#define SECTIGO_HELP_OPTION                                                                        \
    {                                                                                              \
        SECTIGO_O_HELP, 'h', "help", NULL, "show this help"                                        \
    }

/* A command's name, help text and options, for sectigo_next(). */
typedef struct sectigo_cmd_spec {
    const char *prog;     /* "sectigo download", for messages */
    const char *usage;    /* "sectigo [global options] download -i ID [-o DIR]" */
    const char *about;    /* what it does, for --help */
    const tool_opt *opts; /* ending with SECTIGO_HELP_OPTION, TOOL_OPT_END */
    int positional;       /* takes arguments (else one is a usage error) */
} sectigo_cmd_spec;

/* What sectigo_next() returns when the command must stop: *exit_code says how. */
enum { SECTIGO_STOP = -10 };

/* The next option of a command's argv (the parser started with sectigo_parser_init() on
 * cmd->opts): its id (> 0), TOOL_OPT_POSITIONAL (p->value, only when cmd->positional),
 * TOOL_OPT_DONE, or SECTIGO_STOP with *exit_code 0 after --help printed the help, 2 after
 * a usage error was printed. */
int sectigo_next(tool_parser *p, const sectigo_cmd_spec *cmd, int *exit_code);

/* The current option's value as a whole number >= 0 (an ID; 0 is "not given"); prints a usage error
 * and returns -1 when it is not one. */
int sectigo_opt_id(const tool_parser *p, long *out);

/* For a command that takes no options but --help: parse argv; returns -1 to go on, else
 * the exit code (0 after printing the help). */
int sectigo_no_options(int argc, char **argv, const char *prog, const char *usage,
                       const char *about);

#endif
