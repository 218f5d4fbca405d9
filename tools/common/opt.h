/*
 * Option tables for the tools: one table per command both parses and prints help.
 * Accepts GNU forms (-k V, -kV, --key V, --key=V, grouped short flags), the forms Go's
 * flag package takes (-k=V, --k V for a one-letter name, --flag=true|false and
 * -f=false for a flag: "false" is the same as leaving the flag out) and, when the parser
 * allows it, single-dash long forms (-config FILE, -keyout=K: openssl and Go).
 */
#ifndef TRISA_TOOLS_OPT_H
#define TRISA_TOOLS_OPT_H

#include <stdio.h>

typedef struct tool_opt {
    int id;            /* returned by tool_opt_next(); unique within a table, > 0 */
    char short_name;   /* 'o', or 0 */
    const char *names; /* long names, first is shown in help: "out|o-legacy"; or NULL */
    const char *arg;   /* NULL for a flag; else the argument's name in help, e.g. "FILE" */
    const char *help;  /* one line; NULL hides the option from help (compatibility aliases) */
} tool_opt;

#define TOOL_OPT_END                                                                               \
    {                                                                                              \
        0, 0, NULL, NULL, NULL                                                                     \
    }

enum { TOOL_OPT_DONE = -1, TOOL_OPT_ERROR = -2, TOOL_OPT_POSITIONAL = 0 };

typedef struct tool_parser {
    int argc;
    char **argv;
    const tool_opt *opts;
    const char *prog;       /* for messages: "trisa-csr" or "sectigo upload" */
    int single_dash_long;   /* accept -name for long names (openssl style) */
    int stop_at_positional; /* leave the rest for a subcommand */
    int accept_json;        /* --json (or --json=BOOL) anywhere, though not in opts: it sets
                               tool_report_set_json() (sectigo's commands) */
    /* state */
    int index;
    const char *group; /* remaining grouped short flags */
    int only_positional;
    const char *value; /* the option's argument, or the positional argument */
    const char *name;  /* how the option was spelled, for messages ("--password", "-p") */
    char spelled[64];  /* storage for name */
} tool_parser;

void tool_opt_init(tool_parser *p, int argc, char **argv, const tool_opt *opts, const char *prog);

/* Next option's id, TOOL_OPT_POSITIONAL (value = the argument), TOOL_OPT_DONE, or
 * TOOL_OPT_ERROR after printing a one-line usage error to stderr. */
int tool_opt_next(tool_parser *p);

/* The current option's value is a secret (a password, a pass:TEXT spec): returns a private
 * copy and overwrites the value in argv (see tool_secret_arg), so that it does not stay
 * readable in /proc/PID/cmdline. Prints an error and returns NULL when out of memory. */
const char *tool_opt_secret(tool_parser *p);

/* The current option's value is a PKCS#11 URI: when it holds a PIN (pin-value=), it is
 * treated as tool_opt_secret() treats a secret (the whole value overwritten in argv);
 * otherwise returned as it is. NULL (an error printed) when out of memory. */
const char *tool_opt_uri(tool_parser *p);

/* Print the option table, aligned, to f. */
void tool_opt_help(FILE *f, const tool_opt *opts);

/* A usage error: "prog: message" plus a hint to --help on stderr. Returns 2. */
int tool_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole decimal number in [min, max] for option `name`; prints a usage error
 * and returns -1 when it is not one. */
int tool_opt_long(const char *prog, const char *name, const char *value, long min, long max,
                  long *out);

#endif
