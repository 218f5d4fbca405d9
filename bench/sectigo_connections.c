/*
 * Ten API calls through one client handle: how many TCP connections did they take?
 * Prints the count libcurl reports; exits 1 unless it is 1.
 *
 *   sectigo_connections URL [CALLS]   (SECTIGO_USERNAME / SECTIGO_PASSWORD in the
 *                                      environment; the environment is "testing")
 */
#include <stdio.h>
#include <stdlib.h>

#include "trisa/trisa.h"

int main(int argc, char **argv)
{
    trisa_sectigo_options opts = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *c = NULL;
    trisa_sectigo_licenses l;
    long calls = 10, conns;
    char *end = NULL;
    int rc;

    if (argc > 2) {
        calls = strtol(argv[2], &end, 10);
    }
    if (argc < 2 || (end != NULL && (*end != '\0' || end == argv[2] || calls < 1))) {
        fprintf(stderr, "usage: %s URL [CALLS]\n", argv[0]);
        return 2;
    }
    opts.endpoint = argv[1];
    opts.environment = "testing";
    opts.username = getenv("SECTIGO_USERNAME");
    opts.password = getenv("SECTIGO_PASSWORD");
    opts.no_cache = 1;
    if ((rc = trisa_sectigo_new(&c, &opts)) != 0 || (rc = trisa_sectigo_ensure_auth(c)) != 0) {
        fprintf(stderr, "error: %s\n", trisa_error_last());
        trisa_sectigo_free(c);
        return 1;
    }
    /* The login above opened the connection; count what the calls add to it. */
    conns = trisa_sectigo_connection_count(c);
    for (long i = 0; i < calls; i++) {
        if ((rc = trisa_sectigo_licenses_used(&l, c)) != 0) {
            fprintf(stderr, "call %ld: %s\n", i + 1, trisa_error_last());
            trisa_sectigo_free(c);
            return 1;
        }
    }
    conns = trisa_sectigo_connection_count(c);
    printf("%ld calls (after login) used %ld TCP connection(s) in total\n", calls, conns);
    trisa_sectigo_free(c);
    return conns == 1 ? 0 : 1;
}
