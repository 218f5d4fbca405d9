/*
 * libFuzzer target: a verification time as trisa-fetch --at and the bundle verifier take
 * it (trisa_bundle_parse_time): YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS. A date or
 * time that parses must be exactly the text, printed back: nothing is normalised (no
 * 2021-02-30 that becomes March, no hour -1 that becomes the day before).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trisa/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), back[64];
    time_t t = 0;

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (trisa_bundle_parse_time(&t, s) == 0) {
        struct tm tm;
        if (t <= 0 || t > 253402300799LL) {
            abort();
        }
        if (s[0] == '@' && strspn(s + 1, "0123456789") != strlen(s + 1)) {
            abort(); /* @SECONDS is digits only */
        }
        if (s[0] != '@') {
            if (gmtime_r(&t, &tm) == NULL ||
                strftime(back, sizeof(back), strlen(s) == 10 ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ",
                         &tm) == 0 ||
                strcmp(back, s) != 0 ||
                (strlen(s) == 10 && (tm.tm_hour != 0 || tm.tm_min != 0 || tm.tm_sec != 0))) {
                abort(); /* the text named another time than the one it gave */
            }
        }
    } else if (trisa_error_last()[0] == '\0') {
        abort();
    }
    free(s);
    trisa_error_clear();
    return 0;
}
