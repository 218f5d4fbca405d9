/* Built when the Sectigo API client (transport/) is not part of the library. */
#include <stdio.h>

#include "tools/common/exit.h"
#include "tools/trisa-fetch/fetch.h"

int fetch_batch(const fetch_args *args)
{
    (void)args;
    fprintf(stderr, "%s: error: --batch needs the Sectigo client, which this build lacks\n",
            FETCH_PROG);
    return TOOL_EXIT_USAGE;
}

int fetch_csr(const fetch_args *args)
{
    (void)args;
    fprintf(stderr, "%s: error: --csr needs the Sectigo client, which this build lacks\n",
            FETCH_PROG);
    return TOOL_EXIT_USAGE;
}
