/*
 * Lineages on disk: names, the record `add` writes (lineage.conf), the state file, the
 * lock, listing, removal. Both files are `key = value` lines, written atomically (0600),
 * and read strictly: an unknown key, a bad value or a newer format is an error naming the
 * file and line, never a silent reset.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lineage/internal.h"
#include "trisa/csr.h"
#include "trisa/keygen.h"

#define STATE_MAX (1u << 20)

char *lineage_path(const trisa_lineage *l, const char *name)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_printf(&b, "%s/%s", l->dir, name);
    return trisa_buf_detach(&b, NULL);
}

char *lineage_time(char out[21], time_t t)
{
    struct tm tm;
    if (t == 0 || gmtime_r(&t, &tm) == NULL) {
        out[0] = '\0';
        return out;
    }
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

int lineage_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > LINEAGE_NAME_MAX || name[0] == '.' || name[0] == '-') {
        return trisa_error_set(TRISA_EINVAL,
                               "lineage name '%.80s': 1 to %d characters, not starting with "
                               "'.' or '-'",
                               name != NULL ? name : "", LINEAGE_NAME_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return trisa_error_set(TRISA_EINVAL,
                                   "lineage name '%.80s': only letters, digits, '.', '_' and "
                                   "'-' (not '%c')",
                                   name, c >= 0x20 && c < 0x7f ? c : '?');
        }
    }
    return 0;
}

int lineage_root(char **out, const char *state_dir, int create)
{
    char *sd = NULL;
    trisa_buf b = TRISA_BUF_INIT;
    int rc;

    *out = NULL;
    if ((rc = trisa_enroll_state_dir(&sd, state_dir)) != 0) {
        return rc;
    }
    /* The state folder may not exist yet: make it and its parents, private; a symbolic
     * link in place of it or of lineages/ is refused. */
    if (create && (rc = trisa_mkdir_p_flags(sd, 0700, TRISA_MKDIR_NO_SYMLINK)) != 0) {
        goto done;
    }
    trisa_buf_printf(&b, "%s/lineages", sd);
    if (b.failed) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (create && (rc = trisa_mkdir_p_flags(b.data, 0700, TRISA_MKDIR_NO_SYMLINK)) != 0) {
        goto done;
    }
    *out = trisa_buf_detach(&b, NULL);
done:
    trisa_buf_free(&b, 0);
    free(sd);
    return rc;
}

/* ---- key = value files ---- */

typedef int (*kv_fn)(void *ctx, const char *key, char *value, const char *path, int line);

/* Parse key = value lines of text (len bytes; name in messages). A copy is cut into
 * lines, so the caller's text is left alone. */
static int kv_parse(const char *text, size_t len, const char *path, kv_fn fn, void *ctx)
{
    char *data, *line, *next;
    int rc = 0, lineno = 0, format_seen = 0;

    if (memchr(text, '\0', len) != NULL) {
        return trisa_error_set(TRISA_ESTATE, "%s: holds a NUL byte: not a lineage file", path);
    }
    if (len > 0 && text[len - 1] != '\n') {
        return trisa_error_set(TRISA_ESTATE,
                               "%s: truncated (the last line has no end); restore it from a "
                               "backup, or remove the lineage and add it again",
                               path);
    }
    if ((data = malloc(len + 1)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    memcpy(data, text, len);
    data[len] = '\0';
    for (line = data; line != NULL && *line != '\0'; line = next) {
        char *eq, *k, *v, *end;
        lineno++;
        next = strchr(line, '\n');
        *next++ = '\0';
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (*line == '#' || *line == '\0') {
            continue;
        }
        if ((eq = strchr(line, '=')) == NULL) {
            rc = trisa_error_set(TRISA_ESTATE, "%s:%d: expected 'key = value'", path, lineno);
            goto done;
        }
        k = line;
        end = eq;
        while (end > k && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        *end = '\0';
        v = eq + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        end = v + strlen(v);
        while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
            end--;
        }
        *end = '\0';
        if (strcmp(k, "format") == 0) {
            long f;
            if (trisa_parse_long(v, 1, INT_MAX, &f) != 0) {
                char shown[64];
                rc = trisa_error_set(TRISA_ESTATE, "%s:%d: format '%s' is not a number", path,
                                     lineno, trisa_printable(shown, sizeof(shown), v));
                goto done;
            }
            if (f > LINEAGE_FORMAT) {
                rc = trisa_error_set(TRISA_ESTATE,
                                     "%s:%d: format %ld is newer than this trisa-renew "
                                     "understands (%d): use the version that wrote it",
                                     path, lineno, f, LINEAGE_FORMAT);
                goto done;
            }
            format_seen = 1;
            continue;
        }
        if (!format_seen) {
            rc = trisa_error_set(TRISA_ESTATE, "%s:%d: 'format = %d' must come first", path, lineno,
                                 LINEAGE_FORMAT);
            goto done;
        }
        if ((rc = fn(ctx, k, v, path, lineno)) != 0) {
            goto done;
        }
    }
    if (rc == 0 && !format_seen) {
        rc = trisa_error_set(TRISA_ESTATE, "%s: empty or not a lineage file", path);
    }
done:
    free(data);
    return rc;
}

static int kv_read(const char *path, kv_fn fn, void *ctx)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if ((rc = trisa_file_read(&data, &len, path, STATE_MAX)) != 0) {
        return rc;
    }
    rc = kv_parse((const char *)data, len, path, fn, ctx);
    free(data);
    return rc;
}

static int set_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (c == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    free(*dst);
    *dst = c;
    return 0;
}

static int push_str(char ***list, size_t *n, const char *v)
{
    char **nl = realloc(*list, (*n + 1) * sizeof(**list));
    if (nl == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    *list = nl;
    if ((nl[*n] = strdup(v)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    (*n)++;
    return 0;
}

static int bad_value(const char *path, int line, const char *key, const char *v)
{
    char shown[120];
    return trisa_error_set(TRISA_ESTATE, "%s:%d: bad value for %s: '%s'", path, line, key,
                           trisa_printable(shown, sizeof(shown), v));
}

static int get_ll(const char *v, long long min, long long max, long long *out)
{
    long x;
    if (trisa_parse_long(v, (long)min, (long)max, &x) != 0) {
        return -1;
    }
    *out = x;
    return 0;
}

static int get_time(const char *v, time_t *out)
{
    long long x;
    if (get_ll(v, 0, 253402300799LL, &x) != 0) {
        return -1;
    }
    *out = (time_t)x;
    return 0;
}

static int get_flag(const char *v, int *out)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0) {
        *out = v[0] == '1';
        return 0;
    }
    return -1;
}

static int conf_kv(void *ctx, const char *k, char *v, const char *path, int line)
{
    trisa_lineage *l = ctx;
    int bad = 0, rc = 0;

    if (strcmp(k, "name") == 0) {
        if (strcmp(v, l->name) != 0) {
            return trisa_error_set(TRISA_ESTATE,
                                   "%s:%d: records lineage '%.80s', not '%s' (a folder copied "
                                   "or renamed by hand?)",
                                   path, line, v, l->name);
        }
    } else if (strcmp(k, "profile") == 0) {
        bad = get_ll(v, 0, LONG_MAX, &l->profile_id);
    } else if (strcmp(k, "key") == 0) {
        trisa_keygen_spec spec;
        bad = trisa_keygen_spec_parse(&spec, v) != 0;
        rc = bad ? 0 : set_str(&l->key_spec, v);
    } else if (strcmp(k, "pkcs11_uri") == 0) {
        rc = set_str(&l->pkcs11_uri, v);
    } else if (strcmp(k, "pkcs11_module") == 0) {
        rc = set_str(&l->pkcs11_module, v);
    } else if (strcmp(k, "pin_file") == 0) {
        rc = set_str(&l->pin_file, v);
    } else if (strcmp(k, "key_label") == 0) {
        rc = set_str(&l->key_label, v);
    } else if (strcmp(k, "trust") == 0) {
        if (strcmp(v, "file") == 0) {
            l->has_trust_file = 1;
        } else if (strcmp(v, "bundle-root") == 0) {
            l->trust_bundle_root = 1;
        } else if (strcmp(v, "none") != 0) {
            bad = 1;
        }
    } else if (strcmp(k, "renew_before") == 0) {
        rc = set_str(&l->renew_before, v);
    } else if (strcmp(k, "deploy_hook") == 0) {
        rc = set_str(&l->deploy_hook, v);
    } else if (strcmp(k, "failure_hook") == 0) {
        rc = set_str(&l->failure_hook, v);
    } else if (strcmp(k, "credentials") == 0) {
        rc = set_str(&l->credentials_file, v);
    } else if (strcmp(k, "dns") == 0) {
        rc = push_str(&l->dns, &l->ndns, v);
    } else if (strcmp(k, "imported") == 0) {
        bad = get_flag(v, &l->imported);
    } else if (strcmp(k, "jitter") == 0) {
        char *end = NULL;
        errno = 0;
        l->jitter = strtod(v, &end);
        bad = errno != 0 || end == v || *end != '\0' || !(l->jitter >= 0 && l->jitter < 1);
    } else {
        char shown[120];
        return trisa_error_set(TRISA_ESTATE, "%s:%d: unknown setting '%s'", path, line,
                               trisa_printable(shown, sizeof(shown), k));
    }
    return bad ? bad_value(path, line, k, v) : rc;
}

/* version.N = superseded_at batch_id revoked pruned serial key... */
static int parse_history(trisa_lineage *l, const char *k, char *v, const char *path, int line)
{
    long long n, sup, batch;
    int revoked, pruned;
    char *f[6] = {0};
    char whole[200];
    char *p = v;
    lineage_version *h;

    snprintf(whole, sizeof(whole), "%s", v); /* for the message: v is cut up below */

    if (get_ll(k + 8, 1, INT_MAX, &n) != 0) {
        return bad_value(path, line, "version.N", k);
    }
    for (int i = 0; i < 6; i++) {
        while (*p == ' ') {
            p++;
        }
        f[i] = p;
        if (i < 5) {
            if ((p = strchr(p, ' ')) == NULL) {
                return bad_value(path, line, k, whole);
            }
            *p++ = '\0';
        }
    }
    if (get_ll(f[0], 0, 253402300799LL, &sup) != 0 || get_ll(f[1], 0, LONG_MAX, &batch) != 0 ||
        get_flag(f[2], &revoked) != 0 || get_flag(f[3], &pruned) != 0) {
        return bad_value(path, line, k, whole);
    }
    if ((h = lineage_history(l, (unsigned)n)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    h->superseded_at = (time_t)sup;
    h->batch_id = batch;
    h->revoked = revoked;
    h->pruned = pruned;
    if (set_str(&h->serial, strcmp(f[4], "-") == 0 ? "" : f[4]) != 0 ||
        set_str(&h->key, strcmp(f[5], "-") == 0 ? "" : f[5]) != 0) {
        return TRISA_ENOMEM;
    }
    return 0;
}

static int state_kv(void *ctx, const char *k, char *v, const char *path, int line)
{
    trisa_lineage *l = ctx;
    long long x = 0;
    int bad = 0, rc = 0;

    if (strncmp(k, "version.", 8) == 0) {
        return parse_history(l, k, v, path, line);
    }
    if (strcmp(k, "current") == 0 || strcmp(k, "versions") == 0 || strcmp(k, "failures") == 0 ||
        strcmp(k, "pending_version") == 0) {
        if ((bad = get_ll(v, 0, INT_MAX, &x)) == 0) {
            unsigned u = (unsigned)x;
            if (k[0] == 'c') {
                l->current = u;
            } else if (k[0] == 'v') {
                l->versions = u;
            } else if (k[0] == 'f') {
                l->failures = u;
            } else {
                l->pending_version = u;
            }
        }
    } else if (strcmp(k, "subject") == 0) {
        rc = set_str(&l->subject, v);
    } else if (strcmp(k, "san") == 0) {
        rc = push_str(&l->sans, &l->nsans, v);
    } else if (strcmp(k, "serial") == 0) {
        rc = set_str(&l->serial, v);
    } else if (strcmp(k, "not_before") == 0) {
        bad = get_time(v, &l->not_before);
    } else if (strcmp(k, "not_after") == 0) {
        bad = get_time(v, &l->not_after);
    } else if (strcmp(k, "batch") == 0) {
        bad = get_ll(v, 0, LONG_MAX, &l->batch_id);
    } else if (strcmp(k, "key") == 0) {
        rc = set_str(&l->key_location, v);
    } else if (strcmp(k, "last_attempt") == 0) {
        bad = get_time(v, &l->last_attempt);
    } else if (strcmp(k, "last_result") == 0) {
        rc = set_str(&l->last_result, v);
    } else if (strcmp(k, "last_exit") == 0) {
        bad = get_ll(v, 0, 255, &x);
        l->last_exit = (int)x;
    } else if (strcmp(k, "last_success") == 0) {
        bad = get_time(v, &l->last_success);
    } else if (strcmp(k, "next_attempt") == 0) {
        bad = get_time(v, &l->next_attempt);
    } else if (strcmp(k, "pending_key") == 0) {
        rc = set_str(&l->pending_key, v);
    } else if (strcmp(k, "pending_id") == 0) {
        rc = set_str(&l->pending_id, v);
    } else if (strcmp(k, "pending_started") == 0) {
        bad = get_time(v, &l->pending_started);
    } else if (strcmp(k, "pending_reuse") == 0) {
        bad = get_flag(v, &l->pending_reuse);
    } else if (strcmp(k, "pending_new") == 0) {
        bad = get_flag(v, &l->pending_new);
    } else {
        char shown[120];
        return trisa_error_set(TRISA_ESTATE, "%s:%d: unknown setting '%s'", path, line,
                               trisa_printable(shown, sizeof(shown), k));
    }
    return bad ? bad_value(path, line, k, v) : rc;
}

lineage_version *lineage_history(trisa_lineage *l, unsigned n)
{
    lineage_version *nh;
    for (size_t i = 0; i < l->nhistory; i++) {
        if (l->history[i].number == n) {
            return &l->history[i];
        }
    }
    nh = realloc(l->history, (l->nhistory + 1) * sizeof(*nh));
    if (nh == NULL) {
        return NULL;
    }
    l->history = nh;
    memset(&nh[l->nhistory], 0, sizeof(*nh));
    nh[l->nhistory].number = n;
    return &nh[l->nhistory++];
}

static void clear_state(trisa_lineage *l)
{
    free(l->subject);
    free(l->serial);
    free(l->key_location);
    free(l->last_result);
    free(l->pending_key);
    free(l->pending_id);
    for (size_t i = 0; i < l->nsans; i++) {
        free(l->sans[i]);
    }
    free(l->sans);
    for (size_t i = 0; i < l->nhistory; i++) {
        free(l->history[i].serial);
        free(l->history[i].key);
    }
    free(l->history);
    l->subject = l->serial = l->key_location = l->last_result = NULL;
    l->pending_key = l->pending_id = NULL;
    l->sans = NULL;
    l->nsans = 0;
    l->history = NULL;
    l->nhistory = 0;
    l->current = l->versions = l->failures = l->pending_version = 0;
    l->not_before = l->not_after = l->last_attempt = l->last_success = 0;
    l->next_attempt = l->pending_started = 0;
    l->batch_id = 0;
    l->last_exit = 0;
    l->pending_reuse = 0;
    l->pending_new = 0;
}

int lineage_parse_state(trisa_lineage *l, const char *text, size_t len, const char *name)
{
    clear_state(l);
    return kv_parse(text, len, name, state_kv, l);
}

int lineage_parse_conf(trisa_lineage *l, const char *text, size_t len, const char *name)
{
    return kv_parse(text, len, name, conf_kv, l);
}

int lineage_state_load(trisa_lineage *l)
{
    char *path = lineage_path(l, "state");
    int rc;

    if (path == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    clear_state(l);
    rc = kv_read(path, state_kv, l);
    if (rc == TRISA_ENOTFOUND) {
        /* A lineage that was added and never renewed has no state yet. */
        trisa_error_clear();
        rc = 0;
    }
    if (rc == 0 && l->current > l->versions) {
        rc = trisa_error_set(TRISA_ESTATE, "%s: current version %u is above the last one %u", path,
                             l->current, l->versions);
    }
    free(path);
    free(l->live_dir);
    l->live_dir = l->current > 0 ? lineage_path(l, "live") : NULL;
    return rc;
}

static void put(trisa_buf *b, const char *key, const char *v)
{
    if (v != NULL && *v != '\0') {
        trisa_buf_printf(b, "%s = %s\n", key, v);
    }
}

static void put_num(trisa_buf *b, const char *key, long long v)
{
    if (v != 0) {
        trisa_buf_printf(b, "%s = %lld\n", key, v);
    }
}

int lineage_state_save(const trisa_lineage *l)
{
    trisa_buf b = TRISA_BUF_INIT;
    char *path = lineage_path(l, "state");
    int rc;

    trisa_buf_printf(&b, "# trisa-renew state of lineage %s: written by trisa-renew\n", l->name);
    trisa_buf_printf(&b, "format = %d\n", LINEAGE_FORMAT);
    put_num(&b, "current", l->current);
    put_num(&b, "versions", l->versions);
    put(&b, "subject", l->subject);
    for (size_t i = 0; i < l->nsans; i++) {
        put(&b, "san", l->sans[i]);
    }
    put(&b, "serial", l->serial);
    put_num(&b, "not_before", (long long)l->not_before);
    put_num(&b, "not_after", (long long)l->not_after);
    put_num(&b, "batch", l->batch_id);
    put(&b, "key", l->key_location);
    put_num(&b, "last_attempt", (long long)l->last_attempt);
    put(&b, "last_result", l->last_result);
    put_num(&b, "last_exit", l->last_exit);
    put_num(&b, "last_success", (long long)l->last_success);
    put_num(&b, "failures", l->failures);
    put_num(&b, "next_attempt", (long long)l->next_attempt);
    put_num(&b, "pending_version", l->pending_version);
    put(&b, "pending_key", l->pending_key);
    put(&b, "pending_id", l->pending_id);
    put_num(&b, "pending_started", (long long)l->pending_started);
    put_num(&b, "pending_reuse", l->pending_reuse);
    put_num(&b, "pending_new", l->pending_new);
    for (size_t i = 0; i < l->nhistory; i++) {
        const lineage_version *h = &l->history[i];
        trisa_buf_printf(&b, "version.%u = %lld %lld %d %d %s %s\n", h->number,
                         (long long)h->superseded_at, h->batch_id, h->revoked, h->pruned,
                         h->serial != NULL && *h->serial != '\0' ? h->serial : "-",
                         h->key != NULL && *h->key != '\0' ? h->key : "-");
    }
    if (b.failed || path == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    } else {
        rc = trisa_file_write_atomic(path, b.data, b.len, 0600, TRISA_WRITE_REPLACE);
    }
    trisa_buf_free(&b, 0);
    free(path);
    return rc;
}

/* ---- add / load / free ---- */

/* Copy a file into the lineage (atomic, 0600). */
static int copy_in(const char *src, const char *dst, size_t max)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;
    if ((rc = trisa_file_read(&data, &len, src, max)) != 0) {
        return rc;
    }
    rc = trisa_file_write_atomic(dst, data, len, 0600, 0);
    free(data);
    return rc;
}

static int value_ok(const char *what, const char *v)
{
    if (v != NULL && strpbrk(v, "\n\r") != NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: a line break is not allowed", what);
    }
    if (v != NULL && *v == '\0') {
        return trisa_error_set(TRISA_EINVAL, "%s: empty", what);
    }
    return 0;
}

static int renew_before_ok(const char *v)
{
    size_t n = strlen(v);
    long x;
    if (n > 1 && v[n - 1] == '%') {
        char tmp[16];
        if (n > sizeof(tmp)) {
            goto bad;
        }
        memcpy(tmp, v, n - 1);
        tmp[n - 1] = '\0';
        if (trisa_parse_long(tmp, 1, 99, &x) != 0) {
            goto bad;
        }
        return 0;
    }
    if (trisa_parse_long(v, 1, 3650, &x) == 0) {
        return 0;
    }
bad:
    return trisa_error_set(TRISA_EINVAL,
                           "--renew-before '%.40s': days (1-3650) before expiry, or a share of "
                           "the lifetime such as 33%%",
                           v);
}

static int credentials_ok(const char *path)
{
    lineage_credentials c = {0};
    int rc = lineage_credentials_load(&c, path);
    lineage_credentials_free(&c);
    return rc;
}

static int trust_ok(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = trisa_file_read(&data, &len, path, 4u << 20);
    if (rc == 0 && strstr((const char *)data, "-----BEGIN CERTIFICATE-----") == NULL) {
        rc = trisa_error_set(TRISA_EINVAL,
                             "%s: no PEM certificate in it (--trust needs the "
                             "CA certificates to trust)",
                             path);
    }
    free(data);
    return rc;
}

static int write_conf(const char *dir, const char *name, const trisa_lineage_add_options *o,
                      const char *key_spec)
{
    trisa_buf b = TRISA_BUF_INIT;
    unsigned char r[4];
    char *path = NULL;
    int rc;

    /* The lineage's fixed share of the renewal offset, so that a fleet added together
     * does not renew in the same minute. */
    if (RAND_bytes(r, sizeof(r)) != 1) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot draw the renewal offset");
    }
    trisa_buf_printf(&b,
                     "# trisa-renew lineage %s, recorded by 'trisa-renew add'.\n"
                     "# Readable on purpose; edit with care (the next run reads it).\n",
                     name);
    trisa_buf_printf(&b, "format = %d\nname = %s\n", LINEAGE_FORMAT, name);
    put_num(&b, "profile", o->profile_id);
    put(&b, "key", key_spec);
    put(&b, "pkcs11_uri", o->pkcs11_uri);
    put(&b, "pkcs11_module", o->pkcs11_module);
    put(&b, "pin_file", o->pin_file);
    put(&b, "key_label", o->pkcs11_uri != NULL ? (o->key_label ? o->key_label : name) : NULL);
    put(&b, "trust", o->trust_file ? "file" : o->trust_bundle_root ? "bundle-root" : "none");
    put(&b, "renew_before", o->renew_before ? o->renew_before : LINEAGE_DEFAULT_RENEW_BEFORE);
    put(&b, "deploy_hook", o->deploy_hook);
    put(&b, "failure_hook", o->failure_hook);
    put(&b, "credentials", o->credentials_file);
    for (size_t i = 0; i < o->dns_count; i++) {
        put(&b, "dns", o->dns_names[i]);
    }
    put_num(&b, "imported", o->imported ? 1 : 0);
    trisa_buf_printf(&b, "jitter = %.4f\n", (double)((unsigned)r[0] << 8 | r[1]) / 65536.0);
    path = b.failed ? NULL : malloc(strlen(dir) + 16);
    if (path == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    } else {
        snprintf(path, strlen(dir) + 16, "%s/lineage.conf", dir);
        rc = trisa_file_write_atomic(path, b.data, b.len, 0600, 0);
    }
    free(path);
    trisa_buf_free(&b, 0);
    return rc;
}

/* What trisa_lineage_add() checks before it touches anything: the name, the options'
 * version, what goes together, and that no value would break lineage.conf. */
static int add_options_ok(const char *name, const trisa_lineage_add_options *o)
{
    int rc;

    if (o == NULL || o->version != TRISA_LINEAGE_ADD_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "lineage options: missing or of another version");
    }
    if ((rc = lineage_name_ok(name)) != 0) {
        return rc;
    }
    if (!o->imported && (o->config_file == NULL || o->profile_id <= 0)) {
        return trisa_error_set(TRISA_EINVAL, "lineage %s: needs --config and --profile", name);
    }
    if (o->trust_file != NULL && o->trust_bundle_root) {
        return trisa_error_set(TRISA_EINVAL, "--trust and --trust-bundle-root exclude each other");
    }
    if ((rc = value_ok("--deploy-hook", o->deploy_hook)) != 0 ||
        (rc = value_ok("--failure-hook", o->failure_hook)) != 0 ||
        (rc = value_ok("--pkcs11-uri", o->pkcs11_uri)) != 0 ||
        (rc = value_ok("--pkcs11-module", o->pkcs11_module)) != 0 ||
        (rc = value_ok("--key-label", o->key_label)) != 0 ||
        (rc = value_ok("--credentials", o->credentials_file)) != 0 ||
        (rc = value_ok("--pin-file", o->pin_file)) != 0) {
        return rc;
    }
    for (size_t i = 0; i < o->dns_count; i++) {
        if ((rc = value_ok("--dns", o->dns_names[i])) != 0) {
            return rc;
        }
    }
    if (o->pkcs11_uri != NULL && strncmp(o->pkcs11_uri, "pkcs11:", 7) != 0) {
        return trisa_error_set(TRISA_EINVAL, "--pkcs11-uri '%.80s': not a pkcs11: URI",
                               o->pkcs11_uri);
    }
    if (o->renew_before != NULL && (rc = renew_before_ok(o->renew_before)) != 0) {
        return rc;
    }
    return 0;
}

int trisa_lineage_add(const char *name, const trisa_lineage_add_options *o)
{
    char *root = NULL, *dir = NULL, *tmp = NULL, *abs_cred = NULL, *abs_pin = NULL;
    trisa_csr_config *cfg = NULL;
    trisa_lineage_add_options copy;
    char spec_text[32] = "";
    trisa_buf b = TRISA_BUF_INIT;
    int rc;

    if ((rc = add_options_ok(name, o)) != 0) {
        return rc;
    }
    copy = *o;
    /* Paths recorded for later runs are made absolute now: the timer runs elsewhere. */
    if (o->credentials_file != NULL) {
        if ((abs_cred = realpath(o->credentials_file, NULL)) == NULL) {
            return trisa_error_set(TRISA_ENOTFOUND, "--credentials %s: %s", o->credentials_file,
                                   strerror(errno));
        }
        copy.credentials_file = abs_cred;
        if ((rc = credentials_ok(abs_cred)) != 0) {
            goto done;
        }
    }
    if (o->pin_file != NULL) {
        if ((abs_pin = realpath(o->pin_file, NULL)) == NULL) {
            rc =
                trisa_error_set(TRISA_ENOTFOUND, "--pin-file %s: %s", o->pin_file, strerror(errno));
            goto done;
        }
        copy.pin_file = abs_pin;
    }
    if (o->trust_file != NULL && (rc = trust_ok(o->trust_file)) != 0) {
        goto done;
    }
    if (o->config_file != NULL) {
        trisa_keygen_spec spec;
        if ((rc = trisa_csr_config_load(&cfg, o->config_file, NULL)) != 0) {
            goto done;
        }
        if (o->key_spec != NULL) {
            if ((rc = trisa_keygen_spec_parse(&spec, o->key_spec)) != 0) {
                goto done;
            }
        } else {
            trisa_csr_config_key_spec(cfg, &spec);
        }
        if ((rc = trisa_keygen_spec_format(spec_text, sizeof(spec_text), &spec)) != 0) {
            goto done;
        }
    }
    if ((rc = lineage_root(&root, o->state_dir, 1)) != 0) {
        goto done;
    }
    /* Built under a temporary name and renamed into place, so a lineage is whole or
     * absent; the rename fails when the name is taken. */
    trisa_buf_printf(&b, "%s/%s", root, name);
    dir = trisa_buf_detach(&b, NULL);
    trisa_buf_printf(&b, "%s/.add-%s.%ld", root, name, (long)getpid());
    tmp = trisa_buf_detach(&b, NULL);
    if (dir == NULL || tmp == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    {
        struct stat st;
        if (lstat(dir, &st) == 0) {
            rc = trisa_error_set(TRISA_EEXISTS,
                                 "lineage %s exists (%s); 'trisa-renew remove %s' "
                                 "first to replace it",
                                 name, dir, name);
            goto done;
        }
    }
    if (mkdir(tmp, 0700) != 0) {
        rc = trisa_error_set(TRISA_EIO, "%s: cannot make the folder: %s", tmp, strerror(errno));
        goto done;
    }
    if ((rc = write_conf(tmp, name, &copy, spec_text[0] ? spec_text : NULL)) == 0 &&
        o->config_file != NULL) {
        trisa_buf_printf(&b, "%s/trisa.conf", tmp);
        char *p = trisa_buf_detach(&b, NULL);
        rc = p != NULL ? copy_in(o->config_file, p, 1u << 20)
                       : trisa_error_set(TRISA_ENOMEM, "out of memory");
        free(p);
    }
    if (rc == 0 && o->trust_file != NULL) {
        trisa_buf_printf(&b, "%s/trust.pem", tmp);
        char *p = trisa_buf_detach(&b, NULL);
        rc = p != NULL ? copy_in(o->trust_file, p, 4u << 20)
                       : trisa_error_set(TRISA_ENOMEM, "out of memory");
        free(p);
    }
    if (rc == 0 && trisa_rename_noreplace(tmp, dir) != 0) {
        rc = errno == EEXIST ? trisa_error_set(TRISA_EEXISTS, "lineage %s exists (%s)", name, dir)
                             : trisa_error_set(TRISA_EIO, "%s: cannot rename into place: %s", dir,
                                               strerror(errno));
    }
    if (rc != 0) {
        /* Remove what was made under the temporary name. */
        static const char *const files[] = {"lineage.conf", "trisa.conf", "trust.pem"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            trisa_buf_printf(&b, "%s/%s", tmp, files[i]);
            char *p = trisa_buf_detach(&b, NULL);
            if (p != NULL) {
                unlink(p);
            }
            free(p);
        }
        rmdir(tmp);
    } else {
        int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
done:
    trisa_csr_config_free(cfg);
    trisa_buf_free(&b, 0);
    free(root);
    free(dir);
    free(tmp);
    free(abs_cred);
    free(abs_pin);
    return rc;
}

int trisa_lineage_load(trisa_lineage **out, const char *state_dir, const char *name)
{
    trisa_lineage *l = NULL;
    char *root = NULL, *conf = NULL;
    struct stat st;
    trisa_buf b = TRISA_BUF_INIT;
    int rc;

    *out = NULL;
    if ((rc = lineage_name_ok(name)) != 0 || (rc = lineage_root(&root, state_dir, 0)) != 0) {
        return rc;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    trisa_buf_printf(&b, "%s/%s", root, name);
    l->dir = trisa_buf_detach(&b, NULL);
    l->name = strdup(name);
    l->state_dir = strdup(root);
    if (l->dir == NULL || l->name == NULL || l->state_dir == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    /* state_dir keeps the state folder itself (root without "/lineages"). */
    l->state_dir[strlen(l->state_dir) - strlen("/lineages")] = '\0';
    if (lstat(l->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = trisa_error_set(TRISA_ENOTFOUND, "no lineage %s (in %s)", name, root);
        goto done;
    }
    if ((conf = lineage_path(l, "lineage.conf")) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kv_read(conf, conf_kv, l)) != 0) {
        goto done;
    }
    if (l->renew_before == NULL && (rc = set_str(&l->renew_before, "33%")) != 0) {
        goto done;
    }
    rc = lineage_state_load(l);
done:
    trisa_buf_free(&b, 0);
    free(root);
    free(conf);
    if (rc != 0) {
        trisa_lineage_free(l);
        l = NULL;
    }
    *out = l;
    return rc;
}

void trisa_lineage_free(trisa_lineage *l)
{
    if (l == NULL) {
        return;
    }
    clear_state(l);
    free(l->name);
    free(l->state_dir);
    free(l->dir);
    free(l->live_dir);
    free(l->key_spec);
    free(l->pkcs11_uri);
    free(l->pkcs11_module);
    free(l->pin_file);
    free(l->key_label);
    free(l->renew_before);
    free(l->deploy_hook);
    free(l->failure_hook);
    free(l->credentials_file);
    for (size_t i = 0; i < l->ndns; i++) {
        free(l->dns[i]);
    }
    free(l->dns);
    free(l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int trisa_lineage_names(char ***out, size_t *n, const char *state_dir)
{
    char *root = NULL;
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL;
    size_t count = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = lineage_root(&root, state_dir, 0)) != 0) {
        return rc;
    }
    if ((d = opendir(root)) == NULL) {
        rc = errno == ENOENT
                 ? 0
                 : trisa_error_set(TRISA_EIO, "%s: cannot list: %s", root, strerror(errno));
        goto done;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || lineage_name_ok(e->d_name) != 0) {
            trisa_error_clear();
            continue;
        }
        if ((rc = push_str(&names, &count, e->d_name)) != 0) {
            goto done;
        }
    }
    if (count > 1) {
        qsort(names, count, sizeof(*names), cmp_str); /* no lineage: names is NULL */
    }
    *out = names;
    *n = count;
    names = NULL;
    count = 0;
done:
    if (d != NULL) {
        closedir(d);
    }
    trisa_lineage_names_free(names, count);
    free(root);
    return rc;
}

void trisa_lineage_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* ---- lock ---- */

int lineage_lock(const trisa_lineage *l, int *fd)
{
    char *path = lineage_path(l, ".lock");
    int f;

    *fd = -1;
    if (path == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        int e = errno;
        free(path);
        return trisa_error_set(TRISA_EIO, "lineage %s: cannot open its lock: %s", l->name,
                               strerror(e));
    }
    while (flock(f, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(f);
            free(path);
            return trisa_error_set(TRISA_EIO, "lineage %s: cannot lock: %s", l->name, strerror(e));
        }
    }
    free(path);
    *fd = f;
    /* Under the lock nobody else writes here: a temporary file or a half-made live link
     * is what a killed run left. */
    {
        static const char *const names[] = {"state", "lineage.conf"};
        DIR *d = opendir(l->dir);
        struct dirent *e;
        trisa_file_clean_temps(l->dir, names, 2, 0);
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, ".live.", 6) == 0) {
                unlinkat(dirfd(d), e->d_name, 0);
            }
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    return 0;
}

void lineage_unlock(int fd)
{
    if (fd >= 0) {
        close(fd); /* releases the flock */
    }
}

/* ---- remove ---- */

static int remove_tree(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (fd < 0) {
        return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    }
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (remove_tree(dirfd(d), e->d_name) != 0) {
            rc = -1;
        }
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        rc = -1;
    }
    return rc;
}

int trisa_lineage_remove(const char *state_dir, const char *name, int purge)
{
    trisa_lineage *l = NULL;
    char *root = NULL, *dst = NULL;
    trisa_buf b = TRISA_BUF_INIT;
    int rc, fd = -1;

    if ((rc = trisa_lineage_load(&l, state_dir, name)) != 0 && rc != TRISA_ESTATE) {
        return rc;
    }
    if (rc == TRISA_ESTATE) {
        /* A lineage whose files are corrupt can still be forgotten. */
        trisa_error_clear();
        if ((rc = lineage_root(&root, state_dir, 0)) != 0) {
            return rc;
        }
    } else {
        if ((rc = lineage_lock(l, &fd)) != 0) {
            goto done;
        }
        if ((rc = lineage_root(&root, state_dir, 0)) != 0) {
            goto done;
        }
    }
    if (purge) {
        int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || remove_tree(dfd, name) != 0) {
            rc = trisa_error_set(TRISA_EIO, "%s/%s: cannot remove everything: %s", root, name,
                                 strerror(errno));
        }
        if (dfd >= 0) {
            close(dfd);
        }
        goto done;
    }
    trisa_buf_printf(&b, "%s/.removed", root);
    dst = trisa_buf_detach(&b, NULL);
    if (dst == NULL || (mkdir(dst, 0700) != 0 && errno != EEXIST)) {
        rc = trisa_error_set(TRISA_EIO, "%s: cannot make the folder: %s", dst ? dst : root,
                             strerror(errno));
        goto done;
    }
    free(dst);
    trisa_buf_printf(&b, "%s/.removed/%s-%lld", root, name, (long long)time(NULL));
    dst = trisa_buf_detach(&b, NULL);
    trisa_buf_printf(&b, "%s/%s", root, name);
    {
        char *src = trisa_buf_detach(&b, NULL);
        if (dst == NULL || src == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        } else if (trisa_rename_noreplace(src, dst) != 0) {
            rc = trisa_error_set(TRISA_EIO, "%s: cannot move to %s: %s", src, dst, strerror(errno));
        }
        free(src);
    }
done:
    lineage_unlock(fd);
    trisa_lineage_free(l);
    trisa_buf_free(&b, 0);
    free(root);
    free(dst);
    return rc;
}
