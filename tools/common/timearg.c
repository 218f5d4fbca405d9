#include <stdio.h>
#include <string.h>

#include "common/support.h"
#include "tools/common/timearg.h"

int tool_parse_time(const char *s, time_t *out)
{
    struct tm tm, back;
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    char z = 0;
    long epoch;
    time_t t;

    if (s[0] == '@') {
        if (trisa_parse_long(s + 1, 1, 253402300799L, &epoch) != 0) {
            return -1;
        }
        *out = (time_t)epoch;
        return 0;
    }
    if (strlen(s) < 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) {
        return -1;
    }
    if (s[n] != '\0') {
        int m = 0;
        if (sscanf(s + n, "T%2d:%2d:%2d%c%n", &h, &mi, &se, &z, &m) != 4 || z != 'Z' ||
            s[n + m] != '\0' || m != 10) {
            return -1;
        }
    }
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 59) {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    back = tm;
    t = timegm(&tm);
    /* timegm normalises 2021-02-30 into March: such a date does not exist. */
    if (t <= 0 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
        tm.tm_mday != back.tm_mday) {
        return -1;
    }
    *out = t;
    return 0;
}
