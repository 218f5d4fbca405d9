/*
 * Files: bounded reads that never block, atomic writes, sets of files written as one
 * unit, and mkdir -p.
 *
 * A write replaces only a regular file: a character device or a pipe (/dev/null,
 * /dev/stdout, a FIFO) is written to directly, and anything else (a folder, a symbolic
 * link to a file, a socket) is refused rather than replaced. A set writes every file under a
 * temporary name first and renames them into place only when all of them exist and are synced,
 * keeping each replaced file as a hard link until the last rename has succeeded, so that a
 * failure anywhere (a full disk, a folder where a file should be) leaves every old file as it
 * was; then each folder is synced once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* glibc 2.28+ declares renameat2 in <stdio.h> and sync_file_range in <fcntl.h> only with
 * _GNU_SOURCE. */
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags);
#ifndef SYNC_FILE_RANGE_WRITE
#define SYNC_FILE_RANGE_WRITE 2
#endif
int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags);

/* How many temporary files of a set are open at once: their writeback starts together
 * (one journal commit of the file system can carry them all), and a set of thousands
 * of files stays far below the descriptor limit. */
#define SYNC_WINDOW 64

int trisa_rename_noreplace(const char *from, const char *to)
{
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* "dir/.name.XXXXXXXXXXXX.tag" beside path; NULL when out of memory or no randomness. */
static char *side_name(const char *path, const char *tag)
{
    unsigned char rnd[6];
    char hex[13];
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    trisa_buf b = TRISA_BUF_INIT;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }
    trisa_hex(hex, rnd, sizeof(rnd), 0);
    trisa_buf_printf(&b, "%.*s.%s.%s.%s", (int)dirlen, path, base, hex, tag);
    return trisa_buf_detach(&b, NULL);
}

char *trisa_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return strdup(".");
    }
    if (slash == path) {
        return strdup("/");
    }
    return strndup(path, (size_t)(slash - path));
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)    ? "a folder"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "not a regular file";
}

/* ---------------------------------------------------------------------------------- */
/* Reading                                                                            */

int trisa_file_read(unsigned char **out, size_t *out_len, const char *path, size_t max)
{
    int fd = -1, e, rc = 0;
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0, cap;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_read: no path or output");
    }
    *out = NULL;
    /* Room for the terminating NUL, and for one byte more than max to detect growth. */
    if (max > SIZE_MAX - 2) {
        max = SIZE_MAX - 2;
    }
    /* O_NONBLOCK: opening a FIFO with no writer (or a tty, a device) must not block;
     * whatever is not a regular file is refused right after. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        e = errno;
        return trisa_error_set(e == ENOENT ? TRISA_ENOTFOUND : TRISA_EIO, "%s: cannot open: %s",
                               path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        rc = trisa_error_set(TRISA_EIO, "%s: cannot read: %s", path, strerror(e));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc =
            trisa_error_set(TRISA_EINVAL, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
        goto done;
    }
    if ((unsigned long long)st.st_size > max) {
        rc = trisa_error_set(TRISA_ETOOBIG, "%s: %lld bytes, more than the limit of %zu", path,
                             (long long)st.st_size, max);
        goto done;
    }
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            /* Full: the file grew while we read it (or is at its size). */
            unsigned char probe;
            size_t ncap;
            unsigned char *nb;
            if (len == max) {
                n = read(fd, &probe, 1);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n > 0) {
                    rc = trisa_error_set(TRISA_ETOOBIG, "%s: more than the limit of %zu bytes",
                                         path, max);
                    goto done;
                }
                if (n < 0) {
                    e = errno;
                    rc = trisa_error_set(TRISA_EIO, "%s: cannot read: %s", path, strerror(e));
                    goto done;
                }
                break;
            }
            ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            /* Copy rather than realloc: keys are read here, and realloc would leave the
             * old block unwiped. */
            nb = malloc(ncap);
            if (nb == NULL) {
                rc = trisa_error_set(TRISA_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            memcpy(nb, buf, len);
            OPENSSL_cleanse(buf, cap);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            e = errno;
            rc = trisa_error_set(TRISA_EIO, "%s: cannot read: %s", path, strerror(e));
            goto done;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (out_len != NULL) {
        *out_len = len;
    }
done:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* What a write would do to a path                                                    */

enum target_kind {
    T_NEW,     /* nothing there: create */
    T_REPLACE, /* a regular file */
    T_STREAM,  /* a character device or a pipe: write to it directly */
};

typedef struct target {
    enum target_kind kind;
} target;

/* Decide what writing path means; records the error and returns it when it must not be
 * written at all. */
static int classify(target *t, const char *path, unsigned flags)
{
    struct stat st, ts;

    t->kind = T_NEW;
    if (path == NULL || *path == '\0') {
        return trisa_error_set(TRISA_EINVAL, "no file name");
    }
    if (path[strlen(path) - 1] == '/') {
        return trisa_error_set(TRISA_EINVAL, "%s: is a folder name, not a file name", path);
    }
    if (lstat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT) {
            return 0;
        }
        return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    if (S_ISLNK(st.st_mode)) {
        if (stat(path, &ts) == 0 && (S_ISCHR(ts.st_mode) || S_ISFIFO(ts.st_mode))) {
            t->kind = T_STREAM; /* /dev/stdout on a terminal or a pipe */
            return 0;
        }
        if (!(flags & TRISA_WRITE_REPLACE)) {
            return trisa_error_set(TRISA_EEXISTS, "%s: already exists (not replaced)", path);
        }
        /* Neither the link (/dev/stdout redirected to a file is one) nor the file it names
         * (a link planted where a key goes) is replaced. */
        return trisa_error_set(TRISA_EINVAL,
                               "%s: is a symbolic link; only a regular file is replaced (name "
                               "the file itself)",
                               path);
    }
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        t->kind = T_STREAM; /* /dev/null, a FIFO: never replaced by a file */
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        return trisa_error_set(TRISA_EINVAL, "%s: is %s, not a file (not replaced)", path,
                               kind_of(st.st_mode));
    }
    if (!(flags & TRISA_WRITE_REPLACE)) {
        return trisa_error_set(TRISA_EEXISTS, "%s: already exists (not replaced)", path);
    }
    t->kind = T_REPLACE;
    return 0;
}

int trisa_file_check_target(const char *path, unsigned flags)
{
    target t;
    return classify(&t, path, flags);
}

/* Write to a character device or a pipe; a FIFO nobody reads is an error, not a hang. */
static int write_stream(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), e, flags;
    if (fd < 0) {
        e = errno;
        if (e == ENXIO) {
            return trisa_error_set(TRISA_EIO, "%s: no process reads from this FIFO", path);
        }
        return trisa_error_set(TRISA_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        write_all(fd, data, len) != 0) {
        e = errno;
        close(fd);
        return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    if (close(fd) != 0) {
        e = errno;
        return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sets of files                                                                      */

typedef struct set_entry {
    char *path;
    const void *data; /* borrowed until commit returns */
    size_t len;
    mode_t mode;
    unsigned flags;
    target t;
    char *tmp;    /* the new content under its temporary name */
    int fd;       /* tmp while it is written and synced, else -1 */
    char *backup; /* T_REPLACE: a hard link to the old file, until success */
    int placed;   /* renamed into place */
} set_entry;

struct trisa_file_set {
    set_entry *e;
    size_t n;
};

int trisa_file_set_new(trisa_file_set **out)
{
    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_set_new: no output");
    }
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}

int trisa_file_set_add(trisa_file_set *set, const char *path, const void *data, size_t len,
                       mode_t mode, unsigned flags)
{
    set_entry *grown;
    if (set == NULL || path == NULL || *path == '\0' || (data == NULL && len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_set_add: no set, path or data");
    }
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->e[i].path, path) == 0) {
            return trisa_error_set(TRISA_EINVAL, "%s: named twice in one set of files", path);
        }
    }
    grown = realloc(set->e, (set->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    set->e = grown;
    memset(&set->e[set->n], 0, sizeof(set->e[set->n]));
    set->e[set->n].path = strdup(path);
    if (set->e[set->n].path == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    set->e[set->n].fd = -1;
    set->e[set->n].data = data;
    set->e[set->n].len = len;
    set->e[set->n].mode = mode & 07777;
    set->e[set->n].flags = flags;
    set->n++;
    return 0;
}

/* The new content beside the file it will become, its writeback started; the file stays
 * open for settle(). */
static int write_temp(set_entry *e)
{
    int err;
    e->tmp = side_name(e->path, "tmp");
    if (e->tmp == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", e->path);
    }
    e->fd = open(e->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e->mode);
    if (e->fd < 0) {
        err = errno;
        free(e->tmp);
        e->tmp = NULL;
        return trisa_error_set(TRISA_EIO, "%s: cannot create: %s", e->path, strerror(err));
    }
    /* The umask must not widen or narrow the mode the caller chose. */
    if (fchmod(e->fd, e->mode) != 0 || write_all(e->fd, e->data, e->len) != 0) {
        err = errno;
        return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", e->path, strerror(err));
    }
    (void)sync_file_range(e->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return 0;
}

/* Wait for the written temporary files of entries [from, to) to be on disk, and close
 * them. */
static int settle(trisa_file_set *set, size_t from, size_t to)
{
    int rc = 0;
    for (size_t i = from; i < to; i++) {
        set_entry *e = &set->e[i];
        int err = 0;
        if (e->fd < 0) {
            continue;
        }
        if (fsync(e->fd) != 0) {
            err = errno;
        }
        if (close(e->fd) != 0 && err == 0) {
            err = errno;
        }
        e->fd = -1;
        if (err != 0 && rc == 0) {
            rc = trisa_error_set(TRISA_EIO, "%s: cannot write: %s", e->path, strerror(err));
        }
    }
    return rc;
}

/* Every new content on disk under its temporary name, SYNC_WINDOW files at a time. */
static int write_temps(trisa_file_set *set)
{
    int rc = 0;
    for (size_t from = 0; from < set->n && rc == 0; from += SYNC_WINDOW) {
        size_t to = set->n - from > SYNC_WINDOW ? from + SYNC_WINDOW : set->n;
        for (size_t i = from; i < to && rc == 0; i++) {
            if (set->e[i].t.kind != T_STREAM) {
                rc = write_temp(&set->e[i]);
            }
        }
        if (rc == 0) {
            rc = settle(set, from, to);
        }
    }
    return rc;
}

/* Each file to be replaced kept under a second name until all is in place. */
static int keep_old(set_entry *e)
{
    e->backup = side_name(e->path, "old");
    if (e->backup == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", e->path);
    }
    if (link(e->path, e->backup) != 0) {
        int err = errno;
        free(e->backup);
        e->backup = NULL;
        return trisa_error_set(TRISA_EIO, "%s: cannot keep the old file while replacing it: %s",
                               e->path, strerror(err));
    }
    return 0;
}

/* Put the temporary file in place; a new name is never allowed to replace a file that
 * appeared in the meantime. */
static int place(set_entry *e)
{
    int err;
    if (e->t.kind == T_REPLACE) {
        if (rename(e->tmp, e->path) != 0) {
            err = errno;
            return trisa_error_set(TRISA_EIO, "%s: cannot write: %s", e->path, strerror(err));
        }
    } else if (renameat2(AT_FDCWD, e->tmp, AT_FDCWD, e->path, RENAME_NOREPLACE) != 0) {
        err = errno;
        if (err != EINVAL && err != ENOSYS) {
            return trisa_error_set(err == EEXIST ? TRISA_EEXISTS : TRISA_EIO,
                                   err == EEXIST ? "%s: already exists (not replaced)"
                                                 : "%s: cannot write: %s",
                                   e->path, strerror(err));
        }
        /* File system without RENAME_NOREPLACE: link() also fails if path exists. */
        if (link(e->tmp, e->path) != 0) {
            err = errno;
            return trisa_error_set(err == EEXIST ? TRISA_EEXISTS : TRISA_EIO,
                                   err == EEXIST ? "%s: already exists (not replaced)"
                                                 : "%s: cannot write: %s",
                                   e->path, strerror(err));
        }
        unlink(e->tmp);
    }
    free(e->tmp);
    e->tmp = NULL;
    e->placed = 1;
    return 0;
}

/* Undo everything a failed commit did: old files back, new ones and temporaries gone. */
static void roll_back(trisa_file_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        set_entry *e = &set->e[i];
        if (e->fd >= 0) {
            close(e->fd);
            e->fd = -1;
        }
        if (e->placed) {
            if (e->backup != NULL) {
                (void)rename(e->backup, e->path);
            } else {
                (void)unlink(e->path);
            }
            e->placed = 0;
        } else if (e->backup != NULL) {
            (void)unlink(e->backup);
        }
        free(e->backup);
        e->backup = NULL;
        if (e->tmp != NULL) {
            (void)unlink(e->tmp);
            free(e->tmp);
            e->tmp = NULL;
        }
    }
}

/* Make the renames durable with one sync a folder, then drop the old files. */
static void finish(trisa_file_set *set)
{
    char **synced = calloc(set->n + 1, sizeof(*synced));
    size_t nsynced = 0;

    for (size_t i = 0; i < set->n; i++) {
        set_entry *e = &set->e[i];
        char *dir;
        size_t k;
        if (e->t.kind == T_STREAM || (dir = trisa_path_dir(e->path)) == NULL) {
            continue; /* out of memory: the renames are done, their sync is best effort */
        }
        for (k = 0; synced != NULL && k < nsynced && strcmp(synced[k], dir) != 0; k++) {
        }
        if (synced != NULL && k < nsynced) {
            free(dir);
            continue;
        }
        sync_dir(dir);
        if (synced != NULL) {
            synced[nsynced++] = dir;
        } else {
            free(dir);
        }
    }
    for (size_t k = 0; k < nsynced; k++) {
        free(synced[k]);
    }
    free(synced);
    for (size_t i = 0; i < set->n; i++) {
        set_entry *e = &set->e[i];
        if (e->backup != NULL) {
            (void)unlink(e->backup);
            free(e->backup);
            e->backup = NULL;
        }
    }
}

int trisa_file_set_commit(trisa_file_set *set)
{
    int rc = 0;
    size_t i;

    if (set == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_set_commit: no set");
    }
    /* 1. Every target is still what it may be (the plan may be minutes old). */
    for (i = 0; i < set->n; i++) {
        if ((rc = classify(&set->e[i].t, set->e[i].path, set->e[i].flags)) != 0) {
            return rc;
        }
    }
    /* 2. Every new content exists under a temporary name, on disk. */
    if ((rc = write_temps(set)) != 0) {
        goto fail;
    }
    /* 3. Each file to be replaced is kept under a second name until all is in place. */
    for (i = 0; i < set->n; i++) {
        if (set->e[i].t.kind == T_REPLACE && (rc = keep_old(&set->e[i])) != 0) {
            goto fail;
        }
    }
    /* 4. Renames, then the devices and pipes, which cannot be taken back. */
    for (i = 0; i < set->n; i++) {
        if (set->e[i].t.kind != T_STREAM && (rc = place(&set->e[i])) != 0) {
            goto fail;
        }
    }
    for (i = 0; i < set->n; i++) {
        set_entry *e = &set->e[i];
        if (e->t.kind == T_STREAM && (rc = write_stream(e->path, e->data, e->len)) != 0) {
            goto fail;
        }
    }
    /* 5. Done: each folder synced once, the old files dropped. */
    finish(set);
    return 0;
fail:
    roll_back(set);
    return rc;
}

void trisa_file_set_free(trisa_file_set *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (set->e[i].fd >= 0) {
            close(set->e[i].fd);
        }
        free(set->e[i].path);
        free(set->e[i].tmp);
        free(set->e[i].backup);
    }
    free(set->e);
    free(set);
}

int trisa_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            unsigned flags)
{
    trisa_file_set *set = NULL;
    int rc;

    if (path == NULL || *path == '\0' || (data == NULL && len > 0)) {
        return trisa_error_set(TRISA_EINVAL, "trisa_file_write_atomic: no path or data");
    }
    if ((rc = trisa_file_set_new(&set)) == 0 &&
        (rc = trisa_file_set_add(set, path, data, len, mode, flags)) == 0) {
        rc = trisa_file_set_commit(set);
    }
    trisa_file_set_free(set);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Folders                                                                            */

int trisa_mkdir_p(const char *path, mode_t mode)
{
    return trisa_mkdir_p_flags(path, mode, 0);
}

int trisa_mkdir_p_flags(const char *path, mode_t mode, unsigned flags)
{
    char *tmp;
    size_t n;
    int rc = 0;

    if (path == NULL || *path == '\0') {
        return trisa_error_set(TRISA_EINVAL, "no folder name");
    }
    n = strlen(path);
    tmp = strdup(path);
    if (tmp == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (size_t i = 1; i <= n && rc == 0; i++) {
        struct stat st;
        char c = tmp[i];
        if (c != '/' && c != '\0') {
            continue;
        }
        if (tmp[i - 1] == '/') {
            continue; /* "a//b" */
        }
        tmp[i] = '\0';
        if (mkdir(tmp, mode) != 0) {
            int e = errno;
            if (e != EEXIST) {
                rc = trisa_error_set(TRISA_EIO, "%s: cannot create the folder: %s", tmp,
                                     strerror(e));
            } else if ((flags & TRISA_MKDIR_NO_SYMLINK) &&
                       path[i + strspn(path + i, "/")] == '\0' && lstat(tmp, &st) == 0 &&
                       S_ISLNK(st.st_mode)) {
                rc = trisa_error_set(TRISA_EIO, "%s: is a symbolic link, not a folder", tmp);
            } else if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
                rc = trisa_error_set(TRISA_EIO, "%s: exists and is not a folder", tmp);
            }
        } else if (chmod(tmp, mode) != 0) {
            /* The umask must neither widen nor narrow a folder made here (an output
             * folder other users read is 0755 whatever the umask). */
            int e = errno;
            rc = trisa_error_set(TRISA_EIO, "%s: %s", tmp, strerror(e));
        }
        tmp[i] = c;
    }
    free(tmp);
    return rc;
}

/* ".NAME.<12 hex>.tmp" or ".old", the atomic writer's temporary name for NAME and the
 * name under which a file set keeps the file it replaces until the whole set is in place. */
static int is_temp_of(const char *file, const char *name)
{
    size_t n = strlen(name), len = strlen(file);
    if (len != 1 + n + 1 + 12 + 4 || file[0] != '.' || strncmp(file + 1, name, n) != 0 ||
        file[1 + n] != '.' ||
        (strcmp(file + len - 4, ".tmp") != 0 && strcmp(file + len - 4, ".old") != 0)) {
        return 0;
    }
    for (size_t i = 2 + n; i < 2 + n + 12; i++) {
        if (!((file[i] >= '0' && file[i] <= '9') || (file[i] >= 'a' && file[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int trisa_file_clean_temps(const char *dir, const char *const *names, size_t n, long min_age_s)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    int removed = 0;
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            struct stat st;
            if (!is_temp_of(de->d_name, names[i])) {
                continue;
            }
            if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode) && (min_age_s <= 0 || now - st.st_mtime >= min_age_s) &&
                unlinkat(dirfd(d), de->d_name, 0) == 0) {
                removed++;
            }
            break;
        }
    }
    closedir(d);
    return removed;
}
