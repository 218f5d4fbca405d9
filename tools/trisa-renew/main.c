/* trisa-renew: dispatch to a subcommand; the default renews what is due. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trisa/common.h"
#include "trisa/lineage.h"
#include "tools/common/exit.h"
#include "tools/common/harden.h"
#include "tools/common/report.h"
#include "tools/trisa-renew/renew.h"

static const renew_command commands[] = {
    {"renew", cmd_renew, "renew every lineage that is due (the default; what the timer runs)"},
    {"add", cmd_add, "record a lineage: config, profile, key, hooks (nothing is uploaded)"},
    {"list", cmd_list, "what is installed, when it expires and renews (JSON, Prometheus)"},
    {"check", cmd_check, "exit 0 when something is due, 1 when nothing is (ExecCondition=)"},
    {"rollback", cmd_rollback, "switch live back to the previous version (hooks run)"},
    {"import", cmd_import, "make a delivered bundle (ZIP + password) the next version"},
    {"remove", cmd_remove, "forget a lineage (files kept unless --purge)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trisa-renew [renew] [options] [NAME...]\n"
               "       trisa-renew <command> [options]\n\n"
               "Keeps TRISA certificates valid: each lineage (a certificate kept over time\n"
               "under a name) is renewed with a new key when due, its files switched\n"
               "atomically under STATE/lineages/NAME/live, and its deploy hook run.\n\n"
               "Commands:\n");
    for (const renew_command *c = commands; c->name != NULL; c++) {
        fprintf(f, "  %-9s %s\n", c->name, c->summary);
    }
    fprintf(f, "\nOptions of renew, the default command:\n");
    tool_opt_help(f, cmd_renew_options());
    fprintf(f, "  -V, --version                 print the version\n");
    fprintf(f, "\nRun 'trisa-renew <command> --help' for a command's options.\n"
               "The state folder: --state-dir, else $TRISA_STATE_DIR, else /var/lib/trisa for\n"
               "root, else $XDG_STATE_HOME/trisa, else ~/.local/state/trisa.\n\n"
               "Exit codes: 0 done (renew: nothing due or all renewed; check: something is\n"
               "due), 1 other failure (check: nothing is due), 2 usage, 3 invalid input or no\n"
               "such lineage, 4 the lineage exists, 5 authentication, 6 API error, 7 network\n"
               "or time-out, 8 rejected by the CA, 9 still processing (run again), 10 not\n"
               "verified (live kept), 11 wrong bundle password, 12 token, 13 PIN, 255 check's\n"
               "error. renew exits with the code of the first lineage (by name) that failed.\n");
}

void renew_help(FILE *f, const char *use, const char *about, const tool_opt *opts,
                const char *exits)
{
    fprintf(f, "usage: %s\n\n%s\n\nOptions:\n", use, about);
    tool_opt_help(f, opts);
    if (exits != NULL) {
        fprintf(f, "\n%s\n", exits);
    }
}

int main(int argc, char **argv)
{
    /* Credentials, tokens and bundle passwords pass through here: no core file, no
     * /proc/PID/mem for other processes of the user. */
    tool_harden();
    signal(SIGPIPE, SIG_IGN);
    tool_report_init(RENEW_PROG, argc, argv, 0);
    if (argc > 1) {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
            strcmp(argv[1], "help") == 0) {
            usage(stdout);
            return tool_finish(TOOL_EXIT_OK);
        }
        if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
            return tool_finish(tool_version());
        }
        for (const renew_command *c = commands; c->name != NULL; c++) {
            if (strcmp(argv[1], c->name) == 0) {
                return tool_finish(c->fn(argc - 1, argv + 1));
            }
        }
    }
    return tool_finish(cmd_renew(argc, argv));
}
