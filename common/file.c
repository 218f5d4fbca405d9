/* Atomic file writes and bounded reads. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* glibc 2.28+ declares renameat2 in <stdio.h> only with _GNU_SOURCE. */
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags);

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Make "dir/.name.XXXXXXXXXXXX.tmp" beside path. */
static int temp_name(char *out, size_t cap, const char *path)
{
    unsigned char rnd[6];
    char hex[13];
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    int n;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }
    trisa_hex(hex, rnd, sizeof(rnd), 0);
    n = snprintf(out, cap, "%.*s.%s.%s.tmp", (int)dirlen, path, base, hex);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd;
    if (copy == NULL) {
        return;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

int trisa_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            unsigned flags)
{
    char tmp[4096];
    int fd = -1, e;
    struct stat st;

    if (path == NULL || *path == '\0' || (data == NULL && len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_write_atomic: no path or data");
    }
    if (!(flags & TRISA_WRITE_REPLACE) && lstat(path, &st) == 0) {
        return trisa_error_set(TRISA_EEXISTS, "%s: already exists (not replaced)", path);
    }
    if (path[strlen(path) - 1] == '/') {
        return trisa_error_set(TRISA_EINVAL, "%s: is a folder name, not a file name", path);
    }
    if (temp_name(tmp, sizeof(tmp), path) != 0) {
        return trisa_error_set(TRISA_EIO, "%s: path too long", path);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
    if (fd < 0) {
        e = errno;
        return trisa_error_set(TRISA_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    /* The umask must not widen or narrow the mode the caller chose. */
    if (fchmod(fd, mode & 07777) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        e = errno;
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        e = errno;
        goto fail;
    }
    fd = -1;
    if (flags & TRISA_WRITE_REPLACE) {
        if (rename(tmp, path) != 0) {
            e = errno;
            goto fail;
        }
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        e = errno;
        if (e == EINVAL || e == ENOSYS) {
            /* File system without RENAME_NOREPLACE: link() also fails if path exists. */
            if (link(tmp, path) != 0) {
                e = errno;
                goto fail;
            }
            unlink(tmp);
        } else {
            goto fail;
        }
    }
    fsync_dir_of(path);
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    if (e == EEXIST) {
        return trisa_error_set(TRISA_EEXISTS, "%s: already exists (not replaced)", path);
    }
    return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", path, strerror(e));
}

int trisa_file_read(unsigned char **out, size_t *out_len, const char *path, size_t max)
{
    int fd, e;
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0, cap;

    *out = NULL;
    /* max + 1 bytes are allocated at most: keep that from wrapping ("no limit"). */
    if (max == SIZE_MAX) {
        max = SIZE_MAX - 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        return trisa_error_set(e == ENOENT ? TRISA_ENOTFOUND : TRISA_EIO, "%s: cannot open: %s",
                               path, strerror(e));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return trisa_error_set(TRISA_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return trisa_error_set(TRISA_ETOOBIG, "%s: %lld bytes, more than the limit of %zu", path,
                               (long long)st.st_size, max);
    }
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            /* The file grew while we read it: keep within max. */
            if (cap - 1 >= max) {
                break;
            }
            unsigned char *nb = realloc(buf, cap * 2 > max + 1 ? max + 1 : cap * 2);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            e = errno;
            free(buf);
            close(fd);
            return trisa_error_set(TRISA_EIO, "%s: cannot read: %s", path, strerror(e));
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    if (out_len != NULL) {
        *out_len = len;
    }
    return 0;
}
