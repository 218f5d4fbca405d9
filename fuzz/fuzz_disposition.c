/*
 * libFuzzer target: the Content-Disposition a server sends with a batch download
 * (RFC 6266, filename*= of RFC 8187), read by trisa_sectigo_disposition_filename() into
 * the name `sectigo download` saves under, and the Retry-After value the client waits by.
 * A name that comes out must be one we may write: not empty or hidden, no '/', '\\' or
 * ':', no "..", valid UTF-8 without control or bidirectional characters; joined to the
 * output folder it must stay a file directly inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    char *path;

    if (name[0] == '\0' || name[0] == '.' || strstr(name, "..") != NULL ||
        strpbrk(name, "/\\:") != NULL) {
        abort();
    }
    while (*p != '\0') {
        uint32_t cp;
        int n = trisa_utf8_next(p, strlen((const char *)p), &cp);
        if (n <= 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0xfeff) {
            abort();
        }
        p += n;
    }
    path = sectigo_path_join("out/dir", name);
    if (path == NULL || strncmp(path, "out/dir/", 8) != 0 || strcmp(path + 8, name) != 0) {
        abort(); /* the name leaves the folder, or is not kept as given */
    }
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *name;
    long wait;

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if ((name = trisa_sectigo_disposition_filename(s)) != NULL) {
        if (strlen(name) > strlen(s)) {
            abort(); /* decoding never grows a name */
        }
        check_name(name);
        free(name);
    }
    wait = sectigo_retry_after_seconds(s, 1700000000);
    if (wait < -1) {
        abort();
    }
    free(s);
    trisa_error_clear();
    return 0;
}
