/*
 * The state directory: one folder a request (STATE/requests/<key>/) with its journal,
 * its verified result and the lock file that one process at a time holds (flock) from
 * before the upload until the result is written. Folders 0700, files 0600, per user.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "enroll/internal.h"

long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int trisa_enroll_state_dir(char **out, const char *override)
{
    const char *env = getenv("TRISA_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    trisa_buf b = TRISA_BUF_INIT;

    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_enroll_state_dir: out is NULL");
    }
    *out = NULL;
    if (override != NULL && override[0] != '\0') {
        trisa_buf_puts(&b, override);
    } else if (env != NULL && env[0] != '\0') {
        trisa_buf_puts(&b, env);
    } else if (geteuid() == 0) {
        trisa_buf_puts(&b, "/var/lib/trisa");
    } else if (xdg != NULL && xdg[0] == '/') {
        trisa_buf_printf(&b, "%s/trisa", xdg);
    } else if (home != NULL && home[0] != '\0') {
        trisa_buf_printf(&b, "%s/.local/state/trisa", home);
    } else {
        return trisa_error_set(TRISA_ENOTFOUND,
                               "no state directory: set TRISA_STATE_DIR (or HOME, XDG_STATE_HOME)");
    }
    while (b.len > 1 && b.data != NULL && b.data[b.len - 1] == '/') {
        b.data[--b.len] = '\0';
    }
    *out = trisa_buf_detach(&b, NULL);
    return *out != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}

static void key_of(char out[65], const char *text)
{
    unsigned char md[32];
    EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
    trisa_hex(out, md, sizeof(md), 0);
}

void entry_key_csr(char out[65], const char *endpoint, long long profile, const char *csr_sha256)
{
    char text[1400];
    snprintf(text, sizeof(text), "trisa-enroll/csr\n%s\n%lld\n%s", endpoint, profile, csr_sha256);
    key_of(out, text);
}

void entry_key_batch(char out[65], const char *endpoint, long long batch_id)
{
    char text[1300];
    snprintf(text, sizeof(text), "trisa-enroll/batch\n%s\n%lld", endpoint, batch_id);
    key_of(out, text);
}

int entry_init(entry *e, const char *state_dir, const char *key)
{
    trisa_buf b = TRISA_BUF_INIT;
    memset(e, 0, sizeof(*e));
    e->lock_fd = -1;
    snprintf(e->key, sizeof(e->key), "%s", key);
    trisa_buf_printf(&b, "%s/requests/%s", state_dir, key);
    e->dir = trisa_buf_detach(&b, NULL);
    return e->dir != NULL ? 0 : trisa_error_set(TRISA_ENOMEM, "out of memory");
}

char *entry_path(const entry *e, const char *name)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_printf(&b, "%s/%s", e->dir, name);
    return trisa_buf_detach(&b, NULL);
}

/* A folder of ours: a folder, owned by us. A loose mode is said once. */
static int check_private_dir(const char *path, trisa_enroll_warn_fn warn, void *data)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return trisa_error_set(TRISA_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return trisa_error_set(TRISA_ESTATE, "%s: not a folder", path);
    }
    if (st.st_uid != geteuid()) {
        return trisa_error_set(TRISA_ESTATE,
                               "%s: owned by user %u, not by this user (%u): each user keeps "
                               "its own state (set TRISA_STATE_DIR)",
                               path, (unsigned)st.st_uid, (unsigned)geteuid());
    }
    if ((st.st_mode & 077) != 0 && warn != NULL) {
        char msg[4300];
        snprintf(msg, sizeof(msg),
                 "state folder %s is open to other users (mode %03o); it records every "
                 "request: chmod 700 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        warn(msg, data);
    }
    return 0;
}

int entry_create(entry *e, const char *state_dir, trisa_enroll_warn_fn warn, void *data)
{
    char *requests = NULL, *lock = NULL;
    trisa_buf b = TRISA_BUF_INIT;
    int rc;

    if ((rc = trisa_mkdir_p(state_dir, 0700)) != 0 ||
        (rc = check_private_dir(state_dir, warn, data)) != 0) {
        goto done;
    }
    trisa_buf_printf(&b, "%s/requests", state_dir);
    requests = trisa_buf_detach(&b, NULL);
    lock = entry_path(e, "lock");
    if (requests == NULL || lock == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if ((mkdir(requests, 0700) != 0 && errno != EEXIST) ||
        (mkdir(e->dir, 0700) != 0 && errno != EEXIST)) {
        rc = trisa_error_set(TRISA_EIO, "%s: cannot create: %s", e->dir, strerror(errno));
        goto done;
    }
    if ((rc = check_private_dir(e->dir, NULL, NULL)) != 0) {
        goto done;
    }
    if (e->lock_fd < 0) {
        e->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (e->lock_fd < 0) {
            rc = trisa_error_set(TRISA_EIO, "%s: cannot open the lock: %s", lock, strerror(errno));
        }
    }
done:
    free(requests);
    free(lock);
    return rc;
}

/* Who holds the flock on fd's file: /proc/locks lists it (pid, device, inode), so the
 * lock costs no write of our own on every run. 0 when unknown. */
static long holder_pid(int fd)
{
    struct stat st;
    char want[64];
    unsigned char *data = NULL;
    size_t len = 0;
    long pid = 0;
    if (fstat(fd, &st) != 0 || trisa_file_read(&data, &len, "/proc/locks", 4u << 20) != 0) {
        trisa_error_clear();
        return 0;
    }
    snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
             (unsigned long long)st.st_ino);
    for (char *line = (char *)data, *next; pid == 0 && line != NULL && *line != '\0'; line = next) {
        char kind[16], dev[64];
        long p;
        if ((next = strchr(line, '\n')) != NULL) {
            *next++ = '\0';
        }
        if (sscanf(line, "%*s %15s %*s %*s %ld %63s", kind, &p, dev) == 3 &&
            strcmp(kind, "FLOCK") == 0 && strcmp(dev, want) == 0) {
            pid = p;
        }
    }
    free(data);
    return pid;
}

int entry_lock(entry *e, int no_wait, long long deadline_ms, void (*waiting)(long pid, void *),
               void *data)
{
    int said = 0;

    if (e->lock_fd < 0) {
        return trisa_error_set(TRISA_EINVAL, "entry_lock: the entry is not open");
    }
    while (flock(e->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        struct timespec ts = {0, 20 * 1000000L};
        if (errno == EINTR) {
            continue;
        }
        if (errno != EWOULDBLOCK) {
            return trisa_error_set(TRISA_EIO, "%s/lock: %s", e->dir, strerror(errno));
        }
        if (no_wait) {
            long holder = holder_pid(e->lock_fd);
            char who[48] = "";
            if (holder > 0) {
                snprintf(who, sizeof(who), " (pid %ld)", holder);
            }
            return trisa_error_set(TRISA_EBUSY,
                                   "another process%s is working on this request (%s); not "
                                   "waiting (no-wait)",
                                   who, e->dir);
        }
        if (!said) {
            said = 1;
            if (waiting != NULL) {
                waiting(holder_pid(e->lock_fd), data);
            }
        }
        if (deadline_ms <= 0) {
            /* no time limit: sleep in the kernel until it is ours */
            if (flock(e->lock_fd, LOCK_EX) == 0) {
                break;
            }
            continue;
        }
        if (mono_ms() >= deadline_ms) {
            return trisa_error_set(TRISA_EPENDING,
                                   "another process still works on this request (%s) at the "
                                   "time limit: run again later",
                                   e->dir);
        }
        nanosleep(&ts, NULL);
    }
    e->locked = 1;
    return 0;
}

void entry_close(entry *e)
{
    if (e->lock_fd >= 0) {
        close(e->lock_fd); /* releases the flock */
    }
    e->lock_fd = -1;
    e->locked = 0;
    free(e->dir);
    e->dir = NULL;
}
