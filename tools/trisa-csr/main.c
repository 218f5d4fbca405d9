/* trisa-csr: dispatch to a subcommand; the default makes keys and CSRs. */
#include <string.h>

#include "tools/common/exit.h"
#include "tools/common/harden.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/trisa-csr.h"

/* New subcommands (e.g. `hsm`) are one line here and one cmd_<verb>.c. */
static const csr_command commands[] = {
    {"new", cmd_new, "make a key and CSR from trisa.conf (the default)"},
    {"init", cmd_init, "write a commented trisa.conf template"},
    {"hsm", cmd_hsm, "list PKCS#11 tokens, keys and certificates with their URIs"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    /* No core files, no reading of this process's memory by other processes: keys and
     * passphrases pass through it. */
    tool_harden();
    /* openssl's spelling (-json) too, as every other option of trisa-csr. */
    tool_report_init(PROG, argc, argv, 1);
    if (argc > 1) {
        for (const csr_command *c = commands; c->name != NULL; c++) {
            if (strcmp(argv[1], c->name) == 0) {
                return tool_finish(c->fn(argc - 1, argv + 1));
            }
        }
    }
    return tool_finish(cmd_new(argc, argv));
}
