/*
 * What the journal's lock costs uncontended: create the request's entry (folders exist
 * after the first time, as on every run but the first), open and flock its lock file,
 * close. Prints microseconds per lock.
 *
 *   enroll_lock STATE-DIR [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "enroll/internal.h"

int main(int argc, char **argv)
{
    long n = 10000;
    char key[65];
    struct timespec a, b;
    double us;

    if (argc < 2 || (argc > 2 && trisa_parse_long(argv[2], 1, 100000000L, &n) != 0)) {
        fprintf(stderr, "usage: enroll_lock STATE-DIR [N]\n");
        return 2;
    }
    entry_key_csr(key, "https://iot.sectigo.com", 42, "bench");
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        entry e;
        if (entry_init(&e, argv[1], key) != 0 || entry_create(&e, argv[1], NULL, NULL) != 0 ||
            entry_lock(&e, 1, 0, NULL, NULL) != 0) {
            fprintf(stderr, "enroll_lock: %s\n", trisa_error_last());
            return 1;
        }
        entry_close(&e);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / (double)n;
    printf("%.1f us per uncontended lock (entry, lock file, flock, close), %ld runs\n", us, n);
    return 0;
}
