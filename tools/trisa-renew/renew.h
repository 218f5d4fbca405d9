/* trisa-renew: what the subcommands share. */
#ifndef TRISA_TOOLS_RENEW_H
#define TRISA_TOOLS_RENEW_H

#include <stdio.h>
#include <time.h>

#include "tools/common/opt.h"

#define RENEW_PROG "trisa-renew"

/* Exit codes of `check` (systemd ExecCondition=: 0 runs the service, 1-254 skip it,
 * 255 fails it). */
enum { CHECK_DUE = 0, CHECK_NOT_DUE = 1, CHECK_ERROR = 255 };

typedef struct renew_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} renew_command;

int cmd_renew(int argc, char **argv);
/* The options of renew, the default command (also listed by trisa-renew --help). */
const tool_opt *cmd_renew_options(void);
int cmd_add(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* Print a subcommand's help: usage line, description, options, exit codes. */
void renew_help(FILE *f, const char *usage, const char *about, const tool_opt *opts,
                const char *exits);

/* Events and warnings of the library, on stderr (events only unless quiet). */
typedef struct renew_output {
    int quiet;
    int json; /* --json: stdout holds the document only (progress lines go to stderr) */
    int tty;  /* stderr is a terminal: polling progress is shown */
} renew_output;

/* A lineage as `list --json` shows it (format 1), appended to b as one JSON object. */
struct trisa_buf;
struct trisa_lineage;
void renew_json_lineage(struct trisa_buf *b, const struct trisa_lineage *l, time_t now);

struct trisa_lineage_event;
void renew_print_event(const struct trisa_lineage_event *e, void *data);
void renew_print_warning(const char *lineage, const char *message, void *data);

#endif
