/*
 * libFuzzer target: enroll's two text files, as a rerun of trisa-fetch reads them: a
 * request's journal (enroll/journal.c) from the state directory, and the pointer file an
 * output folder keeps (enroll/outputs.c, .trisa-enroll, naming the files of the set and
 * their SHA-256). The input is read as both. Whatever journal parses must format back
 * into a text that parses to the same journal; anything else must be refused with a
 * message, never reset. A pointer that loads has a 64-character request and names with a
 * 64-character hash each.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enroll/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], pointer_path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct stat st;

    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/trisa-fuzz-journal.XXXXXX",
             stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(pointer_path, sizeof(pointer_path), "%s/%s", dir, POINTER_FILE);
    return 0;
}

static void pointer_check(const uint8_t *data, size_t size)
{
    pointer p;
    int fd = open(pointer_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        abort();
    }
    close(fd);
    if (pointer_load(&p, dir) == 0) {
        if (strlen(p.request) != 64) {
            abort();
        }
        for (size_t i = 0; i < p.n; i++) {
            if (strlen(p.hashes[i]) != 64 || p.names[i] == NULL) {
                abort();
            }
        }
        pointer_free(&p);
    }
}

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
    pointer_check(data, size);
    return 0;
}
