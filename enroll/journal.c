/*
 * The journal of one request: plain "key=value" lines between a versioned first line and
 * an "end" line, written atomically (0600). Anything else is refused with the file and
 * line, never reset: a journal is what stands between a crash and a second licence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enroll/internal.h"

static const char *const state_names[] = {"none",     "sent", "uploaded",
                                          "verified", "done", "rejected"};

const char *journal_state_name(journal_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

void journal_init(journal *j, journal_kind kind, const char *endpoint)
{
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->generation = 1;
    set_str(j->endpoint, sizeof(j->endpoint), endpoint != NULL ? endpoint : "");
}

/* The fields, one table for reading and writing. */
typedef enum ftype { F_STR, F_LL, F_INT, F_STATE, F_KIND, F_HEX64 } ftype;

typedef struct field {
    const char *name;
    ftype type;
    size_t off;
    size_t cap; /* F_STR: buffer size */
    int required;
} field;

#define STR(n, req)                                                                                \
    {                                                                                              \
#n, F_STR, offsetof(journal, n), sizeof(((journal *)0)->n), req                            \
    }
#define NUM(n, t, req)                                                                             \
    {                                                                                              \
#n, t, offsetof(journal, n), 0, req                                                        \
    }

static const field fields[] = {
    NUM(kind, F_KIND, 1),
    STR(endpoint, 1),
    NUM(profile, F_LL, 0),
    {"csr_sha256", F_HEX64, offsetof(journal, csr_sha256), 65, 0},
    STR(name, 0),
    NUM(state, F_STATE, 1),
    NUM(generation, F_INT, 1),
    NUM(attempt, F_INT, 1),
    NUM(batch_id, F_LL, 0),
    NUM(supersedes, F_LL, 0),
    STR(status, 0),
    STR(reason, 0),
    NUM(created, F_LL, 1),
    NUM(updated, F_LL, 1),
    NUM(sent_at, F_LL, 0),
    NUM(done_at, F_LL, 0),
    NUM(bundle_key, F_INT, 0),
    STR(out_dir, 0),
    STR(error, 0),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    long long v;
    if (s[0] == '\0' || s[0] == ' ' || s[0] == '+') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) {
            return 0;
        }
    }
    return n == 64;
}

static int set_field(journal *j, const field *f, const char *value)
{
    char *base = (char *)j;
    long long v;
    switch (f->type) {
    case F_STR:
        if (strlen(value) >= f->cap) {
            return -1;
        }
        memcpy(base + f->off, value, strlen(value) + 1);
        return 0;
    case F_HEX64:
        if (!is_hex64(value)) {
            return -1;
        }
        memcpy(base + f->off, value, 65);
        return 0;
    case F_LL:
        if (parse_ll(value, 0, 0x7fffffffffffffffLL, &v) != 0) {
            return -1;
        }
        memcpy(base + f->off, &v, sizeof(v));
        return 0;
    case F_INT: {
        int i;
        if (parse_ll(value, 0, 1000000, &v) != 0) {
            return -1;
        }
        i = (int)v;
        memcpy(base + f->off, &i, sizeof(i));
        return 0;
    }
    case F_STATE:
        for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
            if (strcmp(value, state_names[i]) == 0) {
                j->state = (journal_state)i;
                return 0;
            }
        }
        return -1;
    case F_KIND:
        if (strcmp(value, "csr") == 0) {
            j->kind = KIND_CSR;
        } else if (strcmp(value, "batch") == 0) {
            j->kind = KIND_BATCH;
        } else {
            return -1;
        }
        return 0;
    }
    return -1;
}

static size_t field_index(const char *name)
{
    size_t i = 0;
    while (i < NFIELDS - 1 && strcmp(fields[i].name, name) != 0) {
        i++;
    }
    return i;
}

int journal_parse(journal *j, const char *text, size_t len, const char *path)
{
    const char *p = text, *end = text + len;
    int seen[NFIELDS] = {0};
    int lineno = 0, ended = 0;
    char line[4200];

    memset(j, 0, sizeof(*j));
    if (path == NULL) {
        path = "journal";
    }
    if (memchr(text, '\0', len) != NULL) {
        return trisa_error_set(TRISA_ESTATE, "%s: holds a NUL byte: not a journal (corrupt)", path);
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n;
        char *eq;
        lineno++;
        if (nl == NULL) {
            return trisa_error_set(TRISA_ESTATE,
                                   "%s:%d: the last line has no end: the file is truncated", path,
                                   lineno);
        }
        n = (size_t)(nl - p);
        if (n >= sizeof(line)) {
            return trisa_error_set(TRISA_ESTATE, "%s:%d: line too long (corrupt)", path, lineno);
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        if (ended) {
            return trisa_error_set(TRISA_ESTATE, "%s:%d: text after the end line (corrupt)", path,
                                   lineno);
        }
        if (lineno == 1) {
            size_t m = strlen(JOURNAL_MAGIC);
            long long version;
            if (strncmp(line, JOURNAL_MAGIC " ", m + 1) != 0) {
                return trisa_error_set(TRISA_ESTATE,
                                       "%s:1: not a trisa enrolment journal (it starts '%.40s'); "
                                       "move it away if it is not wanted",
                                       path, line);
            }
            if (parse_ll(line + m + 1, 1, 1000000, &version) != 0) {
                return trisa_error_set(TRISA_ESTATE, "%s:1: bad version '%s' (corrupt)", path,
                                       line + m + 1);
            }
            if (version > JOURNAL_VERSION) {
                return trisa_error_set(TRISA_ESTATE,
                                       "%s:1: written by a newer trisa-certkit (journal version "
                                       "%lld; this one reads %d): use the newer version",
                                       path, version, JOURNAL_VERSION);
            }
            continue;
        }
        if (strcmp(line, "end") == 0) {
            ended = 1;
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            return trisa_error_set(TRISA_ESTATE, "%s:%d: expected key=value (corrupt)", path,
                                   lineno);
        }
        *eq = '\0';
        for (const char *v = eq + 1; *v != '\0'; v++) {
            if ((unsigned char)*v < 0x20 || *v == 0x7f) {
                /* never written by us: values are one line of printable text */
                return trisa_error_set(TRISA_ESTATE, "%s:%d: a control character in %s (corrupt)",
                                       path, lineno, line);
            }
        }
        {
            size_t i;
            for (i = 0; i < NFIELDS; i++) {
                if (strcmp(fields[i].name, line) == 0) {
                    break;
                }
            }
            if (i == NFIELDS) {
                return trisa_error_set(TRISA_ESTATE, "%s:%d: unknown field '%s' (corrupt)", path,
                                       lineno, line);
            }
            if (seen[i]) {
                return trisa_error_set(TRISA_ESTATE, "%s:%d: %s given twice (corrupt)", path,
                                       lineno, line);
            }
            seen[i] = 1;
            if (set_field(j, &fields[i], eq + 1) != 0) {
                return trisa_error_set(TRISA_ESTATE, "%s:%d: bad value for %s: '%.80s' (corrupt)",
                                       path, lineno, line, eq + 1);
            }
        }
    }
    if (lineno == 0) {
        return trisa_error_set(TRISA_ESTATE, "%s: empty: the file is truncated", path);
    }
    if (!ended) {
        return trisa_error_set(TRISA_ESTATE, "%s:%d: no end line: the file is truncated", path,
                               lineno);
    }
    for (size_t i = 0; i < NFIELDS; i++) {
        if (fields[i].required && !seen[i]) {
            return trisa_error_set(TRISA_ESTATE, "%s: %s is missing (corrupt)", path,
                                   fields[i].name);
        }
    }
    if (j->kind == KIND_CSR &&
        (!seen[field_index("profile")] || !seen[field_index("csr_sha256")])) {
        return trisa_error_set(TRISA_ESTATE,
                               "%s: a CSR request without profile or csr_sha256 "
                               "(corrupt)",
                               path);
    }
    if ((j->state == ST_UPLOADED || j->state == ST_VERIFIED || j->state == ST_DONE ||
         j->state == ST_REJECTED || j->kind == KIND_BATCH) &&
        j->batch_id <= 0) {
        return trisa_error_set(TRISA_ESTATE, "%s: state %s without a batch id (corrupt)", path,
                               journal_state_name(j->state));
    }
    return 0;
}

/* Values go on one line: control characters become spaces. */
static void put_str(trisa_buf *b, const char *name, const char *value)
{
    trisa_buf_printf(b, "%s=", name);
    for (const char *s = value; *s != '\0'; s++) {
        char ch = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
        trisa_buf_append(b, &ch, 1);
    }
    trisa_buf_puts(b, "\n");
}

int journal_format(trisa_buf *b, const journal *j)
{
    const char *base = (const char *)j;
    trisa_buf_printf(b, "%s %d\n", JOURNAL_MAGIC, JOURNAL_VERSION);
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *f = &fields[i];
        long long v;
        int iv;
        switch (f->type) {
        case F_STR:
        case F_HEX64:
            if (base[f->off] != '\0' || f->required) {
                put_str(b, f->name, base + f->off);
            }
            break;
        case F_LL:
            memcpy(&v, base + f->off, sizeof(v));
            if (v != 0 || f->required || (j->kind == KIND_CSR && strcmp(f->name, "profile") == 0)) {
                trisa_buf_printf(b, "%s=%lld\n", f->name, v);
            }
            break;
        case F_INT:
            memcpy(&iv, base + f->off, sizeof(iv));
            if (iv != 0 || f->required) {
                trisa_buf_printf(b, "%s=%d\n", f->name, iv);
            }
            break;
        case F_STATE:
            trisa_buf_printf(b, "state=%s\n", journal_state_name(j->state));
            break;
        case F_KIND:
            trisa_buf_printf(b, "kind=%s\n", j->kind == KIND_BATCH ? "batch" : "csr");
            break;
        }
    }
    trisa_buf_puts(b, "end\n");
    return b->failed ? trisa_error_set(TRISA_ENOMEM, "out of memory") : 0;
}

int journal_load(journal *j, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = trisa_file_read(&data, &len, path, JOURNAL_MAX);
    if (rc == TRISA_ETOOBIG) {
        rc = trisa_error_set(TRISA_ESTATE, "%s: larger than a journal can be (corrupt)", path);
    }
    if (rc != 0) {
        memset(j, 0, sizeof(*j));
        return rc;
    }
    rc = journal_parse(j, (const char *)data, len, path);
    free(data);
    return rc;
}

int journal_save(journal *j, const char *path)
{
    trisa_buf b = TRISA_BUF_INIT;
    int rc;
    j->updated = (long long)time(NULL);
    if (j->created == 0) {
        j->created = j->updated;
    }
    rc = journal_format(&b, j);
    if (rc == 0) {
        rc = trisa_file_write_atomic(path, b.data, b.len, 0600, TRISA_WRITE_REPLACE);
    }
    trisa_buf_free(&b, 0);
    return rc;
}
