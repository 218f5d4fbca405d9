/*
 * libFuzzer target: a request's journal file (enroll/journal.c) as a rerun of trisa-fetch
 * reads it from the state directory. Whatever parses must format back into a text that
 * parses to the same journal; anything else must be refused with a message, never reset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    journal j, k;
    trisa_buf b = TRISA_BUF_INIT;

    if (journal_parse(&j, (const char *)data, size, "fuzz/journal") == 0) {
        if (journal_format(&b, &j) != 0 || journal_parse(&k, b.data, b.len, "again") != 0 ||
            memcmp(&j, &k, sizeof(j)) != 0) {
            abort(); /* what we read, we must write back the same */
        }
    } else if (trisa_error_last()[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    trisa_buf_free(&b, 0);
    trisa_error_clear();
    return 0;
}
