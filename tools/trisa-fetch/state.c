/* The --csr state file: see state.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/support.h"
#include "tools/trisa-fetch/state.h"

static const char *const phase_names[] = {"none", "uploading", "uploaded", "done", "rejected"};

const char *fetch_phase_name(fetch_phase p)
{
    return (unsigned)p < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[p] : "?";
}

static char *state_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof(FETCH_STATE_FILE) + 2;
    char *p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/%s", dir, FETCH_STATE_FILE);
    }
    return p;
}

static int copy_field(char *dst, size_t cap, const char *value)
{
    size_t n = strlen(value);
    if (n >= cap) {
        return -1;
    }
    memcpy(dst, value, n + 1);
    return 0;
}

int fetch_state_load(fetch_state *st, const char *dir)
{
    char *path = state_path(dir);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc, lineno = 0;
    char *line, *next;

    memset(st, 0, sizeof(*st));
    if (path == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    rc = trisa_file_read(&data, &len, path, 64 * 1024);
    if (rc == TRISA_ENOTFOUND) {
        free(path);
        trisa_error_clear();
        return 0;
    }
    if (rc != 0) {
        free(path);
        return rc;
    }
    for (line = (char *)data; line != NULL && *line != '\0'; line = next) {
        char *eq, *key, *value;
        long v;
        lineno++;
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            rc = trisa_error_set(TRISA_ESTATE, "%s:%d: expected key=value", path, lineno);
            break;
        }
        *eq = '\0';
        key = line;
        value = eq + 1;
        if (strcmp(key, "csr_sha256") == 0) {
            rc = copy_field(st->csr_sha256, sizeof(st->csr_sha256), value);
        } else if (strcmp(key, "profile") == 0) {
            rc = copy_field(st->profile, sizeof(st->profile), value);
        } else if (strcmp(key, "endpoint") == 0) {
            rc = copy_field(st->endpoint, sizeof(st->endpoint), value);
        } else if (strcmp(key, "batch_id") == 0) {
            rc = copy_field(st->batch_id, sizeof(st->batch_id), value);
        } else if (strcmp(key, "status") == 0) {
            rc = copy_field(st->status, sizeof(st->status), value);
        } else if (strcmp(key, "phase") == 0) {
            rc = -1;
            for (size_t i = 1; i < sizeof(phase_names) / sizeof(phase_names[0]); i++) {
                if (strcmp(value, phase_names[i]) == 0) {
                    st->phase = (fetch_phase)i;
                    rc = 0;
                }
            }
        } else if (strcmp(key, "created") == 0 || strcmp(key, "updated") == 0) {
            rc = trisa_parse_long(value, 0, 253402300799L, &v);
            if (rc == 0) {
                *(key[0] == 'c' ? &st->created : &st->updated) = (time_t)v;
            }
        } /* unknown keys: from a newer version; keep going */
        if (rc != 0) {
            rc = trisa_error_set(TRISA_ESTATE, "%s:%d: bad value for %s", path, lineno, key);
            break;
        }
    }
    if (rc == 0 && (st->phase == PHASE_NONE || st->csr_sha256[0] == '\0')) {
        rc = trisa_error_set(TRISA_ESTATE, "%s: no phase or csr_sha256: not a trisa-fetch state",
                             path);
    }
    free(data);
    free(path);
    return rc;
}

int fetch_state_save(fetch_state *st, const char *dir)
{
    trisa_buf b = TRISA_BUF_INIT;
    char *path = state_path(dir);
    int rc;
    st->updated = time(NULL);
    if (st->created == 0) {
        st->created = st->updated;
    }
    trisa_buf_printf(&b,
                     "# trisa-fetch state: lets a rerun continue this batch; do not edit\n"
                     "csr_sha256=%s\nprofile=%s\nendpoint=%s\nbatch_id=%s\nstatus=%s\n"
                     "phase=%s\ncreated=%lld\nupdated=%lld\n",
                     st->csr_sha256, st->profile, st->endpoint, st->batch_id, st->status,
                     fetch_phase_name(st->phase), (long long)st->created, (long long)st->updated);
    if (path == NULL || b.failed) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    } else {
        rc = trisa_file_write_atomic(path, b.data, b.len, 0644, TRISA_WRITE_REPLACE);
    }
    trisa_buf_free(&b, 0);
    free(path);
    return rc;
}
