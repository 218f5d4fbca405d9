/*
 * libFuzzer target: the multipart/form-data body of a CSR upload as the emulator reads it
 * (emulator/upload.c, its own parser: the client's form comes from libcurl). The first
 * line is the request's Content-Type, whose boundary parameter is read as upload_parse()
 * reads it; the rest is the body, in a buffer of its exact size. Every part must lie
 * inside the body, with NUL-terminated name and type; the parameters of each part's
 * type are read too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/emu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char ctype[512], boundary[80], value[300];
    unsigned char *body;
    size_t blen, n = 0;
    emu_part parts[8];

    if (nl == NULL || (size_t)(nl - data) >= sizeof(ctype)) {
        return 0;
    }
    memcpy(ctype, data, (size_t)(nl - data));
    ctype[nl - data] = '\0';
    blen = size - (size_t)(nl + 1 - data);
    body = malloc(blen > 0 ? blen : 1);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, nl + 1, blen);
    if (emu_header_param(ctype, strlen(ctype), "boundary", boundary, sizeof(boundary)) == 1 &&
        boundary[0] != '\0' && emu_multipart_parse(body, blen, boundary, parts, 8, &n) == 0) {
        if (n > 8) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            const emu_part *pt = &parts[i];
            if (pt->data < body || pt->len > blen || pt->data + pt->len > body + blen ||
                memchr(pt->name, '\0', sizeof(pt->name)) == NULL ||
                memchr(pt->ctype, '\0', sizeof(pt->ctype)) == NULL) {
                abort();
            }
            (void)emu_header_param(pt->ctype, strlen(pt->ctype), "charset", value, sizeof(value));
        }
    }
    free(body);
    return 0;
}
