/* trisa-csr hsm list: what is on the tokens, with the URI of each. */
#include "tools/common/hsm_cli.h"
#include "tools/trisa-csr/trisa-csr.h"

int cmd_hsm(int argc, char **argv)
{
    return tool_hsm_main(argc - 1, argv + 1, PROG);
}
