/*
 * trisa.conf loading and validation. The config is an OpenSSL `req` config read with
 * NCONF, interpreted as `openssl req -new -config` does (apps/req.c), so that a file that
 * works there works here unchanged. Everything is checked at load time, before a key is
 * made or a file written, and every error is found in one run.
 *
 * `.include` is expanded here, before NCONF sees the text, so that an included file is
 * read the way every input is (bounded, never waiting on a FIFO, never a folder or a
 * device), a missing one is an error rather than skipped, a loop is found, and each line
 * of the expanded text remembers the file and line it came from for messages.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/asn1.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "csr/internal.h"

#define CONFIG_FILE_MAX   (1024 * 1024) /* one file, and the expanded text in all */
#define INCLUDE_DEPTH_MAX 16
#define INCLUDE_FILES_MAX 64
#define ERRORS_MAX        100 /* reported in one run; more only add noise */

/* ---------------------------------------------------------------------------------- */
/* Where a line came from, and messages                                               */

/* Line (1-based, in the expanded text) of "name =" inside [section], or of the [section]
 * header itself when name is NULL; 0 when not found (e.g. the section is "default"). */
static int line_of(const trisa_csr_config *c, const char *section, const char *name)
{
    const char *p = c->text;
    int line = 1;
    int in = section == NULL || strcmp(section, "default") == 0;

    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, '\n');
        const char *end = e ? e : p + strlen(p);
        const char *s = p;
        while (s < end && (*s == ' ' || *s == '\t')) {
            s++;
        }
        if (s < end && *s == '[') {
            const char *a = s + 1, *b;
            while (a < end && isspace((unsigned char)*a)) {
                a++;
            }
            b = a;
            while (b < end && *b != ']' && !isspace((unsigned char)*b)) {
                b++;
            }
            in = section != NULL && (size_t)(b - a) == strlen(section) &&
                 strncmp(a, section, (size_t)(b - a)) == 0;
            if (in && name == NULL) {
                return line;
            }
        } else if (in && name != NULL) {
            size_t n = strlen(name);
            if ((size_t)(end - s) > n && strncmp(s, name, n) == 0) {
                const char *q = s + n;
                while (q < end && (*q == ' ' || *q == '\t')) {
                    q++;
                }
                if (q < end && *q == '=') {
                    return line;
                }
            }
        }
        p = e ? e + 1 : NULL;
        line++;
    }
    return 0;
}

/* Line of the first "... = ...value..." in the text, for values found only after
 * OpenSSL has parsed them (SAN entries). */
static int line_of_value(const trisa_csr_config *c, const char *value)
{
    const char *p = c->text;
    int line = 1;
    size_t n = strlen(value);

    while (p != NULL && *p != '\0' && n > 0) {
        const char *e = strchr(p, '\n');
        const char *end = e ? e : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq != NULL) {
            for (const char *s = eq + 1; s + n <= end; s++) {
                if (strncmp(s, value, n) == 0) {
                    return line;
                }
            }
        }
        p = e ? e + 1 : NULL;
        line++;
    }
    return 0;
}

/* Line of a subjectAltName entry: written inline ("URI:value") or as a whole value in a
 * section ("URI.1 = value"), else any line holding the value. */
static int line_of_san(const trisa_csr_config *c, const char *kind, const char *value)
{
    const char *p = c->text;
    size_t n = strlen(value), k = strlen(kind);
    int line = 1;

    while (p != NULL && *p != '\0' && n > 0) {
        const char *e = strchr(p, '\n');
        const char *end = e ? e : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        for (const char *s = p; eq != NULL && s + k + 1 + n <= end; s++) {
            if (strncmp(s, kind, k) == 0 && s[k] == ':' && strncmp(s + k + 1, value, n) == 0) {
                return line;
            }
        }
        if (eq != NULL) {
            const char *v = eq + 1, *ve = end;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r')) {
                ve--;
            }
            if ((size_t)(ve - v) == n && strncmp(v, value, n) == 0) {
                return line;
            }
        }
        p = e ? e + 1 : NULL;
        line++;
    }
    return line_of_value(c, value);
}

/* The file and line an expanded line came from. */
static const char *origin_of(const trisa_csr_config *c, int line, unsigned *file_line)
{
    if (line <= 0 || (size_t)line > c->nlines) {
        *file_line = 0;
        return c->name;
    }
    *file_line = c->origin[line - 1].line;
    return c->files[c->origin[line - 1].file];
}

static int from_include(const trisa_csr_config *c, int line)
{
    return line > 0 && (size_t)line <= c->nlines && c->origin[line - 1].file != 0;
}

/* A value to quote in a message: escaped so that a terminal shows it as it is, cut when
 * long, and never the content of an included file (it may be any file at all). */
static const char *shown(trisa_csr_config *c, int line, const char *v)
{
    char *buf = c->shown[c->nshown++ % 4];
    size_t cap = sizeof(c->shown[0]), n;
    if (from_include(c, line)) {
        snprintf(buf, cap, "(the value in the included file)");
        return buf;
    }
    buf[0] = '\'';
    trisa_printable(buf + 1, cap - 2, v);
    n = strlen(buf);
    buf[n] = '\'';
    buf[n + 1] = '\0';
    return buf;
}

/* Record an error; the message is already in trisa_error_last(). */
static int record(trisa_csr_config *c)
{
    const char *msg = trisa_error_last();
    int code = trisa_error_last_code();
    if (code != TRISA_ECONFIG) {
        if (c->fatal_code == 0) {
            c->fatal_code = code;
        }
        return code;
    }
    if (c->nerrors < ERRORS_MAX) {
        if (c->first_error == NULL) {
            c->first_error = strdup(msg);
        }
        if (c->on_error != NULL) {
            c->on_error(msg, c->on_error_ctx);
        }
    }
    c->nerrors++;
    return TRISA_ECONFIG;
}

static int oom(trisa_csr_config *c)
{
    trisa_error_set(TRISA_ENOMEM, "out of memory");
    return record(c);
}

/* "FILE:LINE: [section] field" for an expanded line, into b. */
static void where(trisa_buf *b, const trisa_csr_config *c, int line, const char *section,
                  const char *field)
{
    unsigned fl = 0;
    trisa_buf_puts(b, origin_of(c, line, &fl));
    if (fl > 0) {
        trisa_buf_printf(b, ":%u", fl);
    }
    if (section != NULL) {
        trisa_buf_printf(b, ": [%s]", section);
    }
    if (field != NULL) {
        trisa_buf_printf(b, "%s%s", section ? " " : ": ", field);
    }
}

/* "FILE:LINE: [section] field: msg" for an expanded line. */
static int vreport(trisa_csr_config *c, int ssl, int line, const char *section, const char *field,
                   const char *fmt, va_list ap) TRISA_PRINTF(6, 0);

static int vreport(trisa_csr_config *c, int ssl, int line, const char *section, const char *field,
                   const char *fmt, va_list ap)
{
    char msg[640];
    trisa_buf b = TRISA_BUF_INIT;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    where(&b, c, line, section, field);
    if (b.failed) {
        trisa_buf_free(&b, 0);
        return oom(c);
    }
    if (ssl) {
        trisa_error_set_ssl(TRISA_ECONFIG, "%s: %s", b.data, msg);
    } else {
        trisa_error_set(TRISA_ECONFIG, "%s: %s", b.data, msg);
    }
    trisa_buf_free(&b, 0);
    return record(c);
}

/* The field's line, else its section's header line. */
static int field_line(const trisa_csr_config *c, const char *section, const char *field)
{
    int line = field ? line_of(c, section, field) : 0;
    return line > 0 || section == NULL ? line : line_of(c, section, NULL);
}

/* An error about `field` in [section], at the line found in the text. */
static int cerr(trisa_csr_config *c, const char *section, const char *field, const char *fmt, ...)
    TRISA_PRINTF(4, 5);
static int cerr(trisa_csr_config *c, const char *section, const char *field, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vreport(c, 0, field_line(c, section, field), section, field, fmt, ap);
    va_end(ap);
    return rc;
}

/* As cerr, with OpenSSL's reasons appended. */
static int cerr_ssl(trisa_csr_config *c, const char *section, const char *field, const char *fmt,
                    ...) TRISA_PRINTF(4, 5);
static int cerr_ssl(trisa_csr_config *c, const char *section, const char *field, const char *fmt,
                    ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vreport(c, 1, field_line(c, section, field), section, field, fmt, ap);
    va_end(ap);
    return rc;
}

static int cerr_line(trisa_csr_config *c, int line, const char *section, const char *field,
                     const char *fmt, ...) TRISA_PRINTF(5, 6);
static int cerr_line(trisa_csr_config *c, int line, const char *section, const char *field,
                     const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vreport(c, 0, line, section, field, fmt, ap);
    va_end(ap);
    return rc;
}

static int warn(trisa_csr_config *c, int line, const char *section, const char *field,
                const char *fmt, ...) TRISA_PRINTF(5, 6);
static int warn(trisa_csr_config *c, int line, const char *section, const char *field,
                const char *fmt, ...)
{
    char msg[512];
    trisa_buf b = TRISA_BUF_INIT;
    char **grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    where(&b, c, line, section, field);
    trisa_buf_printf(&b, ": %s", msg);
    grown = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*grown));
    if (b.failed || grown == NULL) {
        trisa_buf_free(&b, 0);
        if (grown != NULL) {
            c->warnings = grown;
        }
        return oom(c);
    }
    c->warnings = grown;
    c->warnings[c->nwarnings++] = trisa_buf_detach(&b, NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* .include, read here                                                                */

typedef struct include_frame {
    dev_t dev;
    ino_t ino;
} include_frame;

typedef struct expander {
    trisa_csr_config *c;
    trisa_buf out;
    include_frame stack[INCLUDE_DEPTH_MAX + 1]; /* [0]: the config itself, when a file */
    int depth;                                  /* frames in stack */
    int levels;                                 /* of .include under way */
    char *includedir;                           /* .pragma includedir */
    int abspath;                                /* .pragma abspath:true */
} expander;

static int add_line(expander *x, const char *line, size_t len, unsigned file, unsigned lineno)
{
    trisa_csr_config *c = x->c;
    csr_line_origin *grown;
    if (len + 1 > c->text_budget) {
        unsigned fl = lineno;
        trisa_error_set(TRISA_ECONFIG,
                        "%s:%u: the config and the files it includes exceed %d "
                        "bytes",
                        c->files[file], fl, CONFIG_FILE_MAX);
        return record(c);
    }
    c->text_budget -= len + 1;
    if ((c->nlines & 63) == 0) {
        grown = realloc(c->origin, (c->nlines + 64) * sizeof(*grown));
        if (grown == NULL) {
            return oom(c);
        }
        c->origin = grown;
    }
    c->origin[c->nlines].file = file;
    c->origin[c->nlines].line = lineno;
    c->nlines++;
    trisa_buf_append(&x->out, line, len);
    trisa_buf_puts(&x->out, "\n");
    return x->out.failed ? oom(c) : 0;
}

/* An error at a line of a file being expanded (not yet a line of the expanded text). */
static int xerr(expander *x, unsigned file, unsigned line, const char *fmt, ...) TRISA_PRINTF(4, 5);
static int xerr(expander *x, unsigned file, unsigned line, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    trisa_error_set(TRISA_ECONFIG, "%s:%u: %s", x->c->files[file], line, msg);
    return record(x->c);
}

static int register_file(trisa_csr_config *c, const char *name, unsigned *index)
{
    char **grown;
    if (c->nfiles >= INCLUDE_FILES_MAX + 1) {
        return -1;
    }
    grown = realloc(c->files, (c->nfiles + 1) * sizeof(*grown));
    if (grown == NULL) {
        return oom(c);
    }
    c->files = grown;
    if ((c->files[c->nfiles] = strdup(name)) == NULL) {
        return oom(c);
    }
    *index = (unsigned)c->nfiles++;
    return 0;
}

static int expand_text(expander *x, const char *text, size_t len, unsigned file);

static int conf_file_name(const char *n)
{
    size_t k = strlen(n);
    return (k > 5 && strcasecmp(n + k - 5, ".conf") == 0) ||
           (k > 4 && strcasecmp(n + k - 4, ".cnf") == 0);
}

static int name_filter(const struct dirent *e)
{
    return e->d_name[0] != '.' && conf_file_name(e->d_name);
}

/* Read one included regular file and expand it in place. */
static int include_file(expander *x, unsigned from, unsigned line, const char *path)
{
    trisa_csr_config *c = x->c;
    unsigned char *data = NULL;
    size_t len = 0;
    struct stat st;
    unsigned idx = 0;
    char shown_path[160];
    int rc;

    trisa_printable(shown_path, sizeof(shown_path), path);
    rc = trisa_file_read(&data, &len, path, CONFIG_FILE_MAX);
    if (rc != 0) {
        /* The message names the path; keep its reason, as an error of this line. */
        const char *why = trisa_error_last();
        const char *colon = strstr(why, ": ");
        char reason[256];
        snprintf(reason, sizeof(reason), "%s", colon != NULL ? colon + 2 : why);
        if (rc == TRISA_ENOMEM) {
            return record(c);
        }
        return xerr(x, from, line, ".include %s: %s", shown_path, reason);
    }
    /* The same file (by device and inode) further up is a loop. */
    if (stat(path, &st) == 0) {
        for (int i = 0; i < x->depth; i++) {
            if (x->stack[i].dev == st.st_dev && x->stack[i].ino == st.st_ino) {
                free(data);
                return xerr(x, from, line, ".include %s: includes itself (a loop)", shown_path);
            }
        }
    }
    if (x->levels >= INCLUDE_DEPTH_MAX) {
        free(data);
        return xerr(x, from, line, ".include %s: more than %d levels of .include", shown_path,
                    INCLUDE_DEPTH_MAX);
    }
    rc = register_file(c, path, &idx);
    if (rc != 0) {
        free(data);
        return rc < 0 ? xerr(x, from, line, ".include %s: more than %d included files", shown_path,
                             INCLUDE_FILES_MAX)
                      : rc;
    }
    x->stack[x->depth].dev = st.st_dev;
    x->stack[x->depth].ino = st.st_ino;
    x->depth++;
    x->levels++;
    rc = expand_text(x, (const char *)data, len, idx);
    x->levels--;
    x->depth--;
    free(data);
    return rc;
}

/* `.include PATH`: a file, or a folder's *.conf and *.cnf files in name order. */
static int include(expander *x, unsigned from, unsigned line, const char *arg)
{
    const char *dir = getenv("OPENSSL_CONF_INCLUDE");
    char shown_path[160];
    trisa_buf path = TRISA_BUF_INIT;
    struct stat st;
    size_t n;
    int rc = 0;

    if (dir == NULL) {
        dir = x->includedir;
    }
    while (*arg == ' ' || *arg == '\t') {
        arg++;
    }
    if (*arg == '=') {
        arg++;
    }
    while (*arg == ' ' || *arg == '\t') {
        arg++;
    }
    n = strcspn(arg, "#");
    while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t' || arg[n - 1] == '\r')) {
        n--;
    }
    if (n == 0) {
        return xerr(x, from, line, ".include: no file named");
    }
    /* Relative names are taken from the include folder when there is one (OpenSSL). */
    if (arg[0] != '/' && dir != NULL && *dir != '\0') {
        size_t dl = strlen(dir);
        trisa_buf_printf(&path, "%s%s", dir, dir[dl - 1] == '/' ? "" : "/");
    }
    trisa_buf_append(&path, arg, n);
    if (path.failed) {
        return oom(x->c);
    }
    trisa_printable(shown_path, sizeof(shown_path), path.data);
    if (strpbrk(path.data, "$\"'\\") != NULL) {
        rc = xerr(x, from, line,
                  ".include %s: quotes, backslashes and $variables in the file name are not "
                  "supported: give the name as it is",
                  shown_path);
    } else if (x->abspath && path.data[0] != '/') {
        rc = xerr(x, from, line, ".include %s: .pragma abspath asks for an absolute path",
                  shown_path);
    } else if (stat(path.data, &st) == 0 && S_ISDIR(st.st_mode)) {
        struct dirent **ents = NULL;
        int k = scandir(path.data, &ents, name_filter, alphasort);
        if (k < 0) {
            rc = xerr(x, from, line, ".include %s: cannot list the folder", shown_path);
        }
        for (int i = 0; i < k; i++) {
            trisa_buf file = TRISA_BUF_INIT;
            trisa_buf_printf(&file, "%s/%s", path.data, ents[i]->d_name);
            if (file.failed) {
                rc = oom(x->c);
            } else if (rc == 0 || rc == TRISA_ECONFIG) {
                int r = include_file(x, from, line, file.data);
                if (r != 0 && (rc == 0 || r != TRISA_ECONFIG)) {
                    rc = r;
                }
            }
            trisa_buf_free(&file, 0);
            free(ents[i]);
        }
        free(ents);
    } else {
        rc = include_file(x, from, line, path.data);
    }
    trisa_buf_free(&path, 0);
    return rc;
}

/* `.pragma [=] keyword:value`: includedir and abspath matter to .include. */
static void pragma(expander *x, const char *arg)
{
    const char *colon;
    char key[32];
    size_t kn;
    while (*arg == ' ' || *arg == '\t' || *arg == '=') {
        arg++;
    }
    colon = strchr(arg, ':');
    if (colon == NULL) {
        return; /* OpenSSL reports it when it parses the text */
    }
    kn = (size_t)(colon - arg);
    while (kn > 0 && (arg[kn - 1] == ' ' || arg[kn - 1] == '\t')) {
        kn--;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(kn < sizeof(key) ? kn : sizeof(key) - 1), arg);
    colon++;
    while (*colon == ' ' || *colon == '\t') {
        colon++;
    }
    if (strcmp(key, "includedir") == 0) {
        size_t vn = strcspn(colon, "#\r");
        while (vn > 0 && (colon[vn - 1] == ' ' || colon[vn - 1] == '\t')) {
            vn--;
        }
        free(x->includedir);
        x->includedir = strndup(colon, vn);
    } else if (strcmp(key, "abspath") == 0) {
        x->abspath = strncasecmp(colon, "on", 2) == 0 || strncasecmp(colon, "true", 4) == 0;
    }
}

/* The directive the line [s, s + len) starts with: ".include" or ".pragma" followed by
 * white space or '=' (as OpenSSL reads them), or by the end of the text (last: the line is
 * the text's last, without a newline); else NULL. *rest points after it. The line is not
 * NUL-terminated: trisa_csr_config_parse() takes text with its length. */
static const char *directive(const char *s, size_t len, int last, const char **rest)
{
    static const char *const names[] = {".include", ".pragma"};
    const char *end = s + len;
    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if ((size_t)(end - s) >= n && memcmp(s, names[i], n) == 0 &&
            ((size_t)(end - s) == n
                 ? last
                 : (s[n] == ' ' || s[n] == '\t' || s[n] == '=' || s[n] == '\r'))) {
            *rest = s + n;
            return names[i];
        }
    }
    return NULL;
}

/* Does this line (without its newline) end in a line continuation, as OpenSSL sees one:
 * a backslash that is not itself escaped? */
static int continues(const char *line, size_t len)
{
    while (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    return len > 0 && line[len - 1] == '\\' && (len == 1 || line[len - 2] != '\\');
}

static int expand_text(expander *x, const char *text, size_t len, unsigned file)
{
    trisa_csr_config *c = x->c;
    const char *p = text, *end = text + len;
    unsigned lineno = 0;
    int cont = 0, rc = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        const char *rest = NULL, *d;
        int r = 0;
        lineno++;
        if (memchr(p, '\0', n) != NULL) {
            /* OpenSSL would stop the line there and join the next one to it. */
            r = xerr(x, file, lineno, "a NUL byte in the line (not a text file?)");
            if (r == TRISA_ECONFIG) {
                r = add_line(x, "", 0, file, lineno);
            }
        } else if (!cont && (d = directive(p, n, nl == NULL, &rest)) != NULL) {
            char *arg = strndup(rest, (size_t)(p + n - rest));
            if (arg == NULL) {
                r = oom(c);
            } else if (strcmp(d, ".include") == 0) {
                /* The line stays, blank, so that line numbers keep their origin. */
                if ((r = add_line(x, "", 0, file, lineno)) == 0) {
                    r = include(x, file, lineno, arg);
                }
            } else {
                /* NCONF sees the pragma too: dollarid changes how it reads values. */
                pragma(x, arg);
                r = add_line(x, p, n, file, lineno);
            }
            free(arg);
        } else {
            r = add_line(x, p, n, file, lineno);
        }
        cont = r == 0 && continues(p, n);
        if (r != 0 && r != TRISA_ECONFIG) {
            return r; /* out of memory */
        }
        if (r != 0) {
            rc = r;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (cont && file != 0) {
        /* OpenSSL would not carry it into the including file. */
        rc = xerr(x, file, lineno,
                  "the last line ends with '\\', continuing past the end of the "
                  "file");
    }
    return rc;
}

/* self: the config's own file, when it was read from one, so that including it is
 * found to be the loop it is. */
static int expand(trisa_csr_config *c, const char *text, size_t len, const struct stat *self)
{
    expander x;
    int rc;

    memset(&x, 0, sizeof(x));
    x.c = c;
    if (self != NULL) {
        x.stack[0].dev = self->st_dev;
        x.stack[0].ino = self->st_ino;
        x.depth = 1;
    }
    c->text_budget = CONFIG_FILE_MAX;
    rc = expand_text(&x, text, len, 0);
    free(x.includedir);
    if (rc == 0 || rc == TRISA_ECONFIG) {
        if (x.out.data == NULL) {
            trisa_buf_puts(&x.out, "");
        }
        c->text = trisa_buf_detach(&x.out, NULL);
        if (c->text == NULL) {
            return oom(c);
        }
    }
    trisa_buf_free(&x.out, 0);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Values                                                                             */

/* NCONF_get_string without leaving "no such value" in OpenSSL's error queue. */
static const char *get(const trisa_csr_config *c, const char *section, const char *name)
{
    const char *v = NCONF_get_string(c->conf, section, name);
    if (v == NULL) {
        ERR_clear_error();
    }
    return v;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A referenced section must exist: "[req] distinguished_name: section [dn] is missing". */
static int need_section(trisa_csr_config *c, const char *from_section, const char *from_field,
                        const char *name)
{
    if (NCONF_get_section(c->conf, name) == NULL) {
        ERR_clear_error();
        return cerr(c, from_section, from_field, "section [%s] does not exist", name);
    }
    return 0;
}

/* A template value not filled in: "<your organisation>", whole or inside the value. */
static const char *placeholder(const char *v, size_t *len)
{
    for (const char *lt = strchr(v, '<'); lt != NULL; lt = strchr(lt + 1, '<')) {
        const char *gt = strchr(lt + 1, '>');
        if (gt != NULL && gt > lt + 1) {
            *len = (size_t)(gt - lt) + 1;
            return lt;
        }
    }
    return NULL;
}

/* Characters that have no place in a certificate's names, wherever they stand:
 * controls, and invisible or direction-changing ones. */
static int bad_anywhere(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x180e ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

/* The next character of a value: UTF-8 with utf8 = yes, else one Latin-1 byte (as
 * openssl reads it). -1 for invalid UTF-8. */
static int next_char(const unsigned char *p, size_t n, int utf8, uint32_t *cp)
{
    if (utf8) {
        return trisa_utf8_next(p, n, cp);
    }
    *cp = *p;
    return 1;
}

const char *trisa_csr_value_problem(const char *v, int utf8)
{
    static _Thread_local char why[128];
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v), plen = 0;
    uint32_t first = 0, last = 0, cp;
    int count = 0, non_ascii = 0;

    /* First pass: the characters are what they claim; note the first and the last. */
    for (size_t left = n; left > 0;) {
        int k = next_char(p + (n - left), left, utf8, &cp);
        if (k < 0) {
            return "is not valid UTF-8 (utf8 = yes says it is)";
        }
        if (!utf8 && cp >= 0x80) {
            uint32_t u;
            non_ascii = non_ascii || trisa_utf8_next(p + (n - left), left, &u) > 1;
        }
        if (count++ == 0) {
            first = cp;
        }
        last = cp;
        left -= (size_t)k;
    }
    if (count > 0 && (trisa_unicode_is_space(first) || trisa_unicode_is_space(last))) {
        cp = trisa_unicode_is_space(first) ? first : last;
        if (cp == ' ' || cp == '\t') {
            return "has leading or trailing white space (it would be part of the certificate)";
        }
        snprintf(why, sizeof(why),
                 "has white space (U+%04X) at an end (it would be part of the certificate)",
                 (unsigned)cp);
        return why;
    }
    /* Second pass: nothing invisible or controlling anywhere. */
    for (size_t left = n; left > 0;) {
        int k = next_char(p + (n - left), left, utf8, &cp);
        if (bad_anywhere(cp)) {
            if (cp < 0x80) {
                snprintf(why, sizeof(why), "has a control character (0x%02X)", (unsigned)cp);
            } else {
                snprintf(why, sizeof(why),
                         "has an invisible or control character (U+%04X) that would be part "
                         "of the certificate",
                         (unsigned)cp);
            }
            return why;
        }
        left -= (size_t)k;
    }
    if (placeholder(v, &plen) != NULL) {
        return "has a <placeholder> not filled in";
    }
    if (non_ascii) {
        return "has UTF-8 characters, but the config does not say utf8 = yes in [req] (they "
               "would become Latin-1 mojibake)";
    }
    return NULL;
}

int trisa_csr_dns_name_ok(const char *name)
{
    size_t total = strlen(name), label = 0;
    const char *p = name;

    if (total == 0 || total > 253) {
        return 0;
    }
    if (strncmp(p, "*.", 2) == 0) {
        p += 2; /* a wildcard only as the whole leftmost label */
    }
    if (*p == '\0') {
        return 0;
    }
    for (const char *s = p;; s++) {
        if (*s == '.' || *s == '\0') {
            if (label == 0 || label > 63 || s[-1] == '-' || s[-(long)label] == '-') {
                return 0;
            }
            if (*s == '\0') {
                return 1;
            }
            label = 0;
        } else if (isalnum((unsigned char)*s) || *s == '-') {
            label++;
        } else {
            return 0;
        }
    }
}

const char *trisa_csr_san_problem(int type, const char *v)
{
    const char *at;
    if (type != GEN_EMAIL && type != GEN_URI) {
        return "";
    }
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        if (*p >= 0x80) {
            return type == GEN_EMAIL ? "is not ASCII (an email address in a certificate is "
                                       "ASCII: give the domain in its xn-- form)"
                                     : "is not ASCII (percent-encode it, and give the host in "
                                       "its xn-- form)";
        }
        if (*p <= 0x20 || *p == 0x7f) {
            return "has a space or a control character";
        }
    }
    if (type == GEN_EMAIL) {
        at = strchr(v, '@');
        if (at == NULL || at == v || strchr(at + 1, '@') != NULL ||
            !trisa_csr_dns_name_ok(at + 1) || at[1] == '*') {
            return "is not an email address (local@domain, one @, a DNS domain)";
        }
        return "";
    }
    if (!isalpha((unsigned char)v[0])) {
        return "is not a URI (scheme:..., e.g. https://host/)";
    }
    for (const char *p = v;; p++) {
        if (*p == ':') {
            return p[1] != '\0' ? "" : "is not a URI (nothing after the scheme)";
        }
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.') {
            return "is not a URI (scheme:..., e.g. https://host/)";
        }
    }
}

/* Make the ASN.1 string for a DN field as ASN1_STRING_set_by_NID would with the global
 * string mask set to `mask`, without touching that global (threads may be loading other
 * configs at the same time). */
ASN1_STRING *trisa_csr_encode_string(int nid, const char *value, unsigned long chtype,
                                     unsigned long mask)
{
    ASN1_STRING *s = NULL;
    ASN1_STRING_TABLE *tbl = ASN1_STRING_TABLE_get(nid);
    int ok;

    if (tbl != NULL) {
        unsigned long m = tbl->mask;
        if (!(tbl->flags & STABLE_NO_MASK)) {
            m &= mask;
        }
        ok = ASN1_mbstring_ncopy(&s, (const unsigned char *)value, -1, (int)chtype, m, tbl->minsize,
                                 tbl->maxsize) > 0;
    } else {
        ok = ASN1_mbstring_copy(&s, (const unsigned char *)value, -1, (int)chtype,
                                DIRSTRING_TYPE & mask) > 0;
    }
    if (!ok) {
        ASN1_STRING_free(s);
        return NULL;
    }
    return s;
}

/* Strip openssl's "0." / "1:" / "x," prefix that allows a field to repeat. */
static const char *field_type(const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == ':' || *p == ',' || *p == '.') {
            return p[1] != '\0' ? p + 1 : name;
        }
    }
    return name;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------------------------- */
/* The subject                                                                        */

/* Add one DN entry; `field` is the config's name for messages. */
static int add_dn_entry(trisa_csr_config *c, const char *field, const char *lookup, int line,
                        const char *value, int nid, int set)
{
    ASN1_STRING *s;
    int ok;

    s = trisa_csr_encode_string(nid, value, c->chtype, c->mask);
    if (s == NULL) {
        return cerr_ssl(c, c->dn_section, lookup, "cannot encode %s", shown(c, line, value));
    }
    ok = X509_NAME_add_entry_by_NID(c->subject, nid, ASN1_STRING_type(s),
                                    (unsigned char *)ASN1_STRING_get0_data(s),
                                    ASN1_STRING_length(s), -1, set);
    ASN1_STRING_free(s);
    if (!ok) {
        return cerr_ssl(c, c->dn_section, field, "cannot add %s to the subject",
                        shown(c, line, value));
    }
    return 0;
}

/* Check one DN value and add it. */
static int dn_field(trisa_csr_config *c, const char *field, const char *lookup, const char *value)
{
    const char *type = field_type(field);
    const char *why, *ph;
    int nid, set = 0, line;
    size_t plen = 0;

    if (*type == '+') {
        set = -1; /* openssl: a leading '+' joins the previous RDN */
        type++;
    }
    nid = OBJ_txt2nid(type);
    if (nid == NID_undef) {
        ERR_clear_error();
        return cerr(c, c->dn_section, lookup,
                    "unknown subject field '%s' (expected CN, O, OU, L, ST, C, emailAddress, "
                    "... or a dotted OID)",
                    type);
    }
    if (nid == NID_commonName) {
        c->cn_seen = 1;
    }
    if (nid == NID_commonName && c->cn_override != NULL) {
        if (c->cn_done) {
            return 0;
        }
        c->cn_done = 1;
        value = c->cn_override;
    }
    line = field_line(c, c->dn_section, lookup);
    if ((ph = placeholder(value, &plen)) != NULL) {
        char p[96];
        snprintf(p, sizeof(p), "%.*s", (int)(plen < 80 ? plen : 80), ph);
        return cerr(c, c->dn_section, lookup, "placeholder %s not filled in", shown(c, line, p));
    }
    if ((why = trisa_csr_value_problem(value, c->chtype == MBSTRING_UTF8)) != NULL) {
        return cerr(c, c->dn_section, lookup, "value %s %s", shown(c, line, value), why);
    }
    if (value[0] == '\0') {
        if (nid == NID_commonName) {
            return cerr(c, c->dn_section, lookup, "the common name (CN) is empty");
        }
        /* openssl req fails here too ("string too short") */
        return cerr(c, c->dn_section, lookup, "the value is empty");
    }
    if (nid == NID_countryName && !(strlen(value) == 2 && isalpha((unsigned char)value[0]) &&
                                    isalpha((unsigned char)value[1]))) {
        return cerr(c, c->dn_section, lookup,
                    "country must be a two-letter ISO 3166 code (e.g. US), not %s",
                    shown(c, line, value));
    }
    if (nid == NID_commonName && c->cn == NULL && (c->cn = strdup(value)) == NULL) {
        return oom(c);
    }
    return add_dn_entry(c, field, lookup, line, value, nid, set);
}

static int build_subject(trisa_csr_config *c)
{
    STACK_OF(CONF_VALUE) * sk;
    int rc, fail = 0;

    if (c->dn_section == NULL) {
        return 0; /* reported already */
    }
    sk = NCONF_get_section(c->conf, c->dn_section);
    c->subject = X509_NAME_new();
    if (c->subject == NULL) {
        return oom(c);
    }
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (c->prompt) {
            /* openssl req -batch: each field's value is its NAME_default. */
            char key[256];
            const char *dv;
            if (ends_with(v->name, "_default") || ends_with(v->name, "_min") ||
                ends_with(v->name, "_max") || ends_with(v->name, "_value")) {
                continue;
            }
            snprintf(key, sizeof(key), "%s_default", v->name);
            dv = get(c, c->dn_section, key);
            if (dv == NULL) {
                const char *t = field_type(v->name);
                if (OBJ_txt2nid(*t == '+' ? t + 1 : t) == NID_commonName &&
                    c->cn_override != NULL) {
                    dv = c->cn_override;
                } else {
                    continue;
                }
            }
            rc = dn_field(c, v->name, key, dv);
        } else {
            rc = dn_field(c, v->name, v->name, v->value);
        }
        if (rc != 0 && rc != TRISA_ECONFIG) {
            return rc;
        }
        fail = fail || rc != 0;
    }
    if (c->cn_override != NULL && !c->cn_done) {
        c->cn_done = 1;
        c->cn_seen = 1;
        if ((rc = dn_field(c, "CN", "CN", c->cn_override)) != 0) {
            return rc;
        }
    }
    if (!c->cn_seen) {
        return cerr(c, c->dn_section, NULL, "no common name (CN) in the subject");
    }
    return fail ? TRISA_ECONFIG : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Extensions                                                                         */

static const char *const key_usage_words[] = {
    "digitalSignature", "nonRepudiation", "contentCommitment", "keyEncipherment",
    "dataEncipherment", "keyAgreement",   "keyCertSign",       "cRLSign",
    "encipherOnly",     "decipherOnly",   "critical",          NULL,
};

static int known_key_usage(const char *w)
{
    for (size_t i = 0; key_usage_words[i] != NULL; i++) {
        if (strcmp(w, key_usage_words[i]) == 0) {
            return 1;
        }
    }
    /* OpenSSL also takes the long names ("Digital Signature"). */
    static const char *const long_names[] = {
        "Digital Signature", "Non Repudiation",
        "Key Encipherment",  "Data Encipherment",
        "Key Agreement",     "Certificate Sign",
        "CRL Sign",          "Encipher Only",
        "Decipher Only",     NULL,
    };
    for (size_t i = 0; long_names[i] != NULL; i++) {
        if (strcmp(w, long_names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int known_eku(const char *w)
{
    ASN1_OBJECT *o;
    if (strcmp(w, "critical") == 0) {
        return 1;
    }
    o = OBJ_txt2obj(w, 0);
    ERR_clear_error();
    ASN1_OBJECT_free(o);
    return o != NULL;
}

/* Check each comma-separated word of a keyUsage / extendedKeyUsage value. */
static int check_words(trisa_csr_config *c, const char *field, int (*known)(const char *),
                       const char *expected)
{
    const char *v = get(c, c->ext_section, field);
    const char *p;
    int rc = 0;

    if (v == NULL || strncmp(v, "DER:", 4) == 0 || strncmp(v, "ASN1:", 5) == 0) {
        return 0;
    }
    p = v;
    while (*p != '\0') {
        char word[128];
        size_t n;
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        n = (size_t)(end - p);
        while (n > 0 && isspace((unsigned char)p[n - 1])) {
            n--;
        }
        if (n >= sizeof(word)) {
            n = sizeof(word) - 1;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (n == 0 || !known(word)) {
            char w[160];
            rc = cerr(c, c->ext_section, field, "unknown %s word '%s'%s", field,
                      trisa_printable(w, sizeof(w), word), expected);
        }
        p = comma ? comma + 1 : end;
    }
    return rc;
}

/* Each "@section" named in the values of [section]; calls fn for each. */
static int each_ref(trisa_csr_config *c, const char *section,
                    int (*fn)(trisa_csr_config *c, const char *from, const char *field,
                              const char *name))
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, section);
    int rc = 0;
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        for (const char *at = strchr(v->value, '@'); at != NULL; at = strchr(at + 1, '@')) {
            char name[256];
            size_t n = strcspn(at + 1, ", \t");
            int r;
            /* A reference starts the value or follows a comma; "email:a@b" is not one. */
            const char *b = at;
            while (b > v->value && (b[-1] == ' ' || b[-1] == '\t')) {
                b--;
            }
            if (b != v->value && b[-1] != ',') {
                continue;
            }
            if (n == 0 || n >= sizeof(name)) {
                continue;
            }
            memcpy(name, at + 1, n);
            name[n] = '\0';
            r = fn(c, section, v->name, name);
            if (r != 0 && r != TRISA_ECONFIG) {
                return r;
            }
            if (r != 0) {
                rc = r;
            }
        }
    }
    return rc;
}

/* Controls and placeholders in the values of a section the request is made from. */
static int check_values(trisa_csr_config *c, const char *section)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, section);
    int rc = 0;
    ERR_clear_error();
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        const char *ph;
        size_t plen = 0;
        int line = field_line(c, section, v->name);
        for (const unsigned char *p = (const unsigned char *)v->value; *p != '\0'; p++) {
            if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
                rc = cerr(c, section, v->name, "value %s has a control character (0x%02X)",
                          shown(c, line, v->value), *p);
                break;
            }
        }
        if ((ph = placeholder(v->value, &plen)) != NULL) {
            char p[96];
            snprintf(p, sizeof(p), "%.*s", (int)(plen < 80 ? plen : 80), ph);
            rc = cerr(c, section, v->name, "placeholder %s not filled in", shown(c, line, p));
        }
    }
    return rc;
}

static int ref_exists(trisa_csr_config *c, const char *from, const char *field, const char *name)
{
    int rc = need_section(c, from, field, name);
    return rc != 0 ? rc : check_values(c, name);
}

/* Turn a --san value into a GENERAL_NAME. */
static int san_from_text(GENERAL_NAME **out, const char *text)
{
    static const struct {
        const char *prefix;
        int type;
    } kinds[] = {{"DNS:", GEN_DNS}, {"IP:", GEN_IPADD}, {"email:", GEN_EMAIL}, {"URI:", GEN_URI}};
    int type = GEN_DNS;
    const char *value = text, *why;
    char shown_v[160];

    *out = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncasecmp(text, kinds[i].prefix, n) == 0) {
            type = kinds[i].type;
            value = text + n;
        }
    }
    trisa_printable(shown_v, sizeof(shown_v), value);
    if (type == GEN_DNS && !trisa_csr_dns_name_ok(value)) {
        return trisa_error_set(TRISA_EINVAL, "--san: '%s' is not a valid DNS name", shown_v);
    }
    why = trisa_csr_san_problem(type, value);
    if (*why != '\0') {
        return trisa_error_set(TRISA_EINVAL, "--san: '%s' %s", shown_v, why);
    }
    if (out != NULL) {
        *out = a2i_GENERAL_NAME(NULL, NULL, NULL, type, value, 0);
        if (*out == NULL) {
            trisa_printable(shown_v, sizeof(shown_v), text);
            return trisa_error_set_ssl(TRISA_EINVAL, "--san: cannot use '%s'", shown_v);
        }
    }
    return 0;
}

int trisa_csr_config_extensions(STACK_OF(X509_EXTENSION) * *out, const trisa_csr_config *c,
                                X509_REQ *req, int test)
{
    STACK_OF(X509_EXTENSION) *sk = NULL;
    GENERAL_NAMES *gens = NULL;
    X509_EXTENSION *ext = NULL;
    X509V3_CTX ctx;
    int rc = TRISA_ENOMEM, idx, crit = 0;

    *out = NULL;
    if (c->ext_section != NULL) {
        X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, test ? X509V3_CTX_TEST : 0);
        X509V3_set_nconf(&ctx, c->conf);
        if (!X509V3_EXT_add_nconf_sk(c->conf, &ctx, c->ext_section, &sk)) {
            int line = line_of(c, c->ext_section, NULL);
            unsigned fl = 0;
            const char *file = origin_of(c, line, &fl);
            char at[32] = "";
            if (fl > 0) {
                snprintf(at, sizeof(at), ":%u", fl);
            }
            rc = trisa_error_set_ssl(TRISA_ECONFIG,
                                     "%s%s: [%s]: cannot make the requested extensions", file, at,
                                     c->ext_section);
            goto done;
        }
    }
    if (c->nsans > 0) {
        /* Merge --san names into the config's subjectAltName (or make one). */
        idx = X509v3_get_ext_by_NID(sk, NID_subject_alt_name, -1);
        if (idx >= 0) {
            X509_EXTENSION *old = X509v3_get_ext(sk, idx);
            crit = X509_EXTENSION_get_critical(old);
            gens = X509V3_EXT_d2i(old);
        } else {
            gens = GENERAL_NAMES_new();
        }
        if (gens == NULL) {
            goto done;
        }
        for (size_t i = 0; i < c->nsans; i++) {
            GENERAL_NAME *g = NULL;
            if ((rc = san_from_text(&g, c->sans[i])) != 0) {
                goto done;
            }
            if (!sk_GENERAL_NAME_push(gens, g)) {
                GENERAL_NAME_free(g);
                rc = TRISA_ENOMEM;
                goto done;
            }
        }
        ext = X509V3_EXT_i2d(NID_subject_alt_name, crit, gens);
        rc = TRISA_ENOMEM;
        if (ext == NULL) {
            goto done;
        }
        if (idx >= 0) {
            X509_EXTENSION_free(X509v3_delete_ext(sk, idx));
            if (sk_X509_EXTENSION_insert(sk, ext, idx) == 0) {
                goto done;
            }
        } else if (X509v3_add_ext(&sk, ext, -1) == NULL) {
            goto done;
        } else {
            X509_EXTENSION_free(ext); /* X509v3_add_ext copied it */
        }
        ext = NULL;
    }
    *out = sk;
    sk = NULL;
    rc = 0;
done:
    if (rc == TRISA_ENOMEM) {
        trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    return rc;
}

/* A control character as check_values sees one (a tab is allowed there). */
static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* Each subjectAltName entry: DNS names well formed, emails and URIs usable. */
static int check_sans(trisa_csr_config *c, GENERAL_NAMES *gens, int *ndns, int *cn_found)
{
    int rc = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s;
        const char *why;
        char name[300];
        int len, line;
        if (g->type != GEN_DNS && g->type != GEN_EMAIL && g->type != GEN_URI) {
            continue;
        }
        s = g->d.ia5;
        len = ASN1_STRING_length(s);
        snprintf(name, sizeof(name), "%.*s", len < 299 ? len : 299, ASN1_STRING_get0_data(s));
        line = line_of_san(c,
                           g->type == GEN_DNS     ? "DNS"
                           : g->type == GEN_EMAIL ? "email"
                                                  : "URI",
                           name);
        if ((size_t)len != strlen(name)) {
            rc = cerr_line(c, line, c->ext_section, "subjectAltName",
                           "a name with a NUL byte in it");
            continue;
        }
        if (strchr(name, '<') != NULL && strchr(name, '>') != NULL) {
            continue; /* an unfilled placeholder, reported with its section */
        }
        if (has_control(name)) {
            continue; /* reported with its section by check_values */
        }
        if (g->type != GEN_DNS) {
            why = trisa_csr_san_problem(g->type, name);
            if (*why != '\0') {
                rc = cerr_line(c, line, c->ext_section, "subjectAltName", "%s %s %s",
                               g->type == GEN_EMAIL ? "email" : "URI", shown(c, line, name), why);
            }
            continue;
        }
        if (!trisa_csr_dns_name_ok(name)) {
            rc = cerr_line(c, line, c->ext_section, "subjectAltName", "%s is not a valid DNS name",
                           shown(c, line, name));
            continue;
        }
        (*ndns)++;
        if (c->cn != NULL && strcasecmp(name, c->cn) == 0) {
            *cn_found = 1;
        }
    }
    return rc;
}

/* The subjectAltName value of the extension section alone, judged while other
 * extension values are wrong (so one run reports the bad words and each bad name).
 * A value OpenSSL cannot build (a missing @section) was reported already. */
static void check_sans_alone(trisa_csr_config *c)
{
    const char *value = get(c, c->ext_section, "subjectAltName");
    X509_EXTENSION *ext = NULL;
    GENERAL_NAMES *gens = NULL;
    X509V3_CTX ctx;
    int ndns = 0, cn_found = 0;

    if (value == NULL) {
        return;
    }
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
    X509V3_set_nconf(&ctx, c->conf);
    ext = X509V3_EXT_nconf(c->conf, &ctx, "subjectAltName", value);
    if (ext != NULL) {
        gens = X509V3_EXT_d2i(ext);
    }
    ERR_clear_error();
    if (gens != NULL) {
        (void)check_sans(c, gens, &ndns, &cn_found);
    }
    GENERAL_NAMES_free(gens);
    X509_EXTENSION_free(ext);
}

/* Build the extensions once, without a key, to validate them and the SAN. */
static int check_extensions(trisa_csr_config *c)
{
    STACK_OF(X509_EXTENSION) *sk = NULL;
    GENERAL_NAMES *gens = NULL;
    X509_REQ *req = NULL;
    int rc = 0, r, ndns = 0, cn_found = 0;

    if (c->ext_broken) {
        return 0; /* the missing section is reported already */
    }
    if (c->ext_section != NULL) {
        int words = check_words(c, "keyUsage", known_key_usage,
                                " (expected digitalSignature, keyEncipherment, ...)");
        int ekus = check_words(c, "extendedKeyUsage", known_eku,
                               " (expected serverAuth, clientAuth, or a dotted OID)");
        int vals = check_values(c, c->ext_section);
        int refs = each_ref(c, c->ext_section, ref_exists);
        if (refs == TRISA_ENOMEM) {
            return refs;
        }
        if (words != 0 || ekus != 0 || vals != 0 || refs != 0) {
            check_sans_alone(c);
            return TRISA_ECONFIG; /* OpenSSL would only repeat them, less clearly */
        }
    }
    req = X509_REQ_new();
    if (req == NULL || (c->subject != NULL && !X509_REQ_set_subject_name(req, c->subject))) {
        rc = oom(c);
        goto done;
    }
    if ((r = trisa_csr_config_extensions(&sk, c, req, 1)) != 0) {
        rc = record(c);
        goto done;
    }
    gens = X509V3_get_d2i(sk, NID_subject_alt_name, NULL, NULL);
    ERR_clear_error();
    rc = check_sans(c, gens, &ndns, &cn_found);
    if (rc != 0) {
        goto done;
    }
    if (ndns == 0) {
        rc = c->ext_section
                 ? cerr(c, c->ext_section, "subjectAltName",
                        "no DNS name in the subjectAltName (Sectigo rejects such requests)")
                 : cerr(c, c->section, "req_extensions",
                        "no extensions, so no subjectAltName DNS name (Sectigo rejects such "
                        "requests)");
        goto done;
    }
    if (c->cn != NULL && !cn_found) {
        rc = warn(c, line_of(c, c->dn_section, "CN"), c->dn_section, "CN",
                  "'%s' is not among the subjectAltName DNS names", c->cn);
        goto done;
    }
done:
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* [req]                                                                              */

/* openssl req's oid_section: new object names the config then uses. */
static int add_oids(trisa_csr_config *c)
{
    const char *sect = get(c, "default", "oid_section");
    STACK_OF(CONF_VALUE) * sk;
    int rc = 0;

    if (sect == NULL) {
        return 0;
    }
    sk = NCONF_get_section(c->conf, sect);
    if (sk == NULL) {
        ERR_clear_error();
        return cerr(c, "default", "oid_section", "section [%s] does not exist", sect);
    }
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (OBJ_txt2nid(v->name) != NID_undef) {
            continue; /* already known (another config, or built in) */
        }
        if (OBJ_create(v->value, v->name, v->name) == NID_undef) {
            char o[80];
            rc = cerr_ssl(c, sect, v->name, "cannot define OID '%s' (expected a dotted OID)",
                          trisa_printable(o, sizeof(o), v->value));
        }
    }
    ERR_clear_error();
    return rc;
}

/* Each request attribute (challengePassword, unstructuredName, ...) is known and
 * encodable. */
static int check_attributes(trisa_csr_config *c)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, c->attr_section);
    int rc = 0;
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        int nid = OBJ_txt2nid(v->name);
        int line = field_line(c, c->attr_section, v->name);
        const char *why;
        ASN1_STRING *str;
        if (nid == NID_undef) {
            ERR_clear_error();
            rc = cerr(c, c->attr_section, v->name,
                      "unknown attribute '%s' (expected challengePassword or "
                      "unstructuredName)",
                      v->name);
            continue;
        }
        if ((why = trisa_csr_value_problem(v->value, c->chtype == MBSTRING_UTF8)) != NULL) {
            rc = cerr(c, c->attr_section, v->name, "value %s %s", shown(c, line, v->value), why);
            continue;
        }
        str = trisa_csr_encode_string(nid, v->value, c->chtype, c->mask);
        if (str == NULL) {
            rc =
                cerr_ssl(c, c->attr_section, v->name, "cannot encode %s", shown(c, line, v->value));
            continue;
        }
        ASN1_STRING_free(str);
    }
    return rc;
}

/* The string_mask values openssl req takes (ASN1_STRING_set_default_mask_asc), parsed
 * here because that function sets a process-wide default. */
static int parse_string_mask(const char *v, unsigned long *out)
{
    if (strncmp(v, "MASK:", 5) == 0) {
        char *end = NULL;
        unsigned long m;
        if (v[5] == '\0') {
            return -1;
        }
        m = strtoul(v + 5, &end, 0);
        if (*end != '\0') {
            return -1;
        }
        *out = m;
    } else if (strcmp(v, "nombstr") == 0) {
        *out = ~(unsigned long)(B_ASN1_BMPSTRING | B_ASN1_UTF8STRING);
    } else if (strcmp(v, "pkix") == 0) {
        *out = ~(unsigned long)B_ASN1_T61STRING;
    } else if (strcmp(v, "utf8only") == 0) {
        *out = B_ASN1_UTF8STRING;
    } else if (strcmp(v, "default") == 0) {
        *out = 0xFFFFFFFFUL;
    } else {
        return -1;
    }
    return 0;
}

/* The extension section: the override, else req_extensions, each of which must exist. */
static int read_ext_section(trisa_csr_config *c, const trisa_csr_config_options *o)
{
    const char *v = o->extensions;
    int rc;
    if (v != NULL) {
        if (NCONF_get_section(c->conf, v) == NULL) {
            ERR_clear_error();
            c->ext_broken = 1;
            return cerr(c, NULL, NULL, "extension section [%s] does not exist", v);
        }
    } else {
        v = get(c, c->section, "req_extensions");
        if (v != NULL && (rc = need_section(c, c->section, "req_extensions", v)) != 0) {
            c->ext_broken = 1;
            return rc;
        }
    }
    if (v != NULL && (c->ext_section = strdup(v)) == NULL) {
        return oom(c);
    }
    return 0;
}

static int read_req_section(trisa_csr_config *c, const trisa_csr_config_options *o)
{
    const char *v;
    const char *s = c->section;
    int rc = 0, r;

    if (NCONF_get_section(c->conf, s) == NULL) {
        ERR_clear_error();
        c->ext_broken = 1;
        return cerr(c, NULL, NULL, "no [%s] section", s);
    }
    v = get(c, s, "prompt");
    c->prompt = !(v != NULL && strcmp(v, "no") == 0);
    if (c->prompt) {
        warn(c, line_of(c, s, "prompt"), s, "prompt",
             "not 'no': using each field's _default value, as openssl req -batch does");
    }
    v = get(c, s, "default_bits");
    if (v != NULL) {
        long bits;
        char shown_v[64];
        if (trisa_parse_long(v, 0, 1L << 20, &bits) != 0 ||
            (bits != 2048 && bits != 3072 && bits != 4096)) {
            rc = cerr(c, s, "default_bits", "must be 2048, 3072 or 4096, not '%s'",
                      trisa_printable(shown_v, sizeof(shown_v), v));
        } else {
            c->bits = (int)bits;
        }
    }
    v = get(c, s, "default_md");
    if (v != NULL && strcmp(v, "default") != 0) {
        if (trisa_csr_digest_check(v) != 0) {
            rc = cerr(c, s, "default_md", "%s", trisa_error_last());
        } else {
            free(c->digest);
            if ((c->digest = strdup(v)) == NULL) {
                return oom(c);
            }
        }
    }
    v = get(c, s, "string_mask");
    if (v != NULL && parse_string_mask(v, &c->mask) != 0) {
        char shown_v[64];
        rc = cerr(c, s, "string_mask",
                  "unknown string mask '%s' (utf8only, pkix, nombstr, default, MASK:N)",
                  trisa_printable(shown_v, sizeof(shown_v), v));
    }
    v = get(c, s, "utf8");
    if (v != NULL && strcmp(v, "yes") == 0) {
        c->chtype = MBSTRING_UTF8;
    }
    v = get(c, s, "distinguished_name");
    if (v == NULL) {
        rc = cerr(c, s, NULL, "no distinguished_name (the section naming the subject)");
    } else if ((r = need_section(c, s, "distinguished_name", v)) != 0) {
        rc = r;
    } else if ((c->dn_section = strdup(v)) == NULL) {
        return oom(c);
    }
    if ((r = read_ext_section(c, o)) != 0) {
        if (r != TRISA_ECONFIG) {
            return r;
        }
        rc = r;
    }
    v = get(c, s, "attributes");
    if (v != NULL) {
        if ((r = need_section(c, s, "attributes", v)) != 0) {
            rc = r;
        } else if ((c->attr_section = strdup(v)) == NULL) {
            return oom(c);
        }
    }
    if (c->attr_section != NULL && !c->prompt && (r = check_attributes(c)) != 0) {
        rc = r;
    }
    v = get(c, s, "default_keyfile");
    if (v != NULL && (c->keyfile = strdup(v)) == NULL) {
        return oom(c);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Options, digests                                                                   */

int trisa_csr_digest_check(const char *name)
{
    const EVP_MD *md;
    char n[64];
    int nid;

    if (name == NULL || *name == '\0') {
        return trisa_error_set(TRISA_EINVAL, "no digest named (expected sha256, sha384 or "
                                             "sha512)");
    }
    trisa_printable(n, sizeof(n), name);
    md = EVP_get_digestbyname(name);
    if (md == NULL) {
        ERR_clear_error();
        return trisa_error_set(TRISA_EINVAL,
                               "unknown digest '%s' (expected sha256, sha384 or sha512)", n);
    }
    nid = EVP_MD_get_type(md);
    switch (nid) {
    case NID_sha256:
    case NID_sha384:
    case NID_sha512:
        return 0;
    case NID_md5:
    case NID_md4:
    case NID_md5_sha1:
    case NID_sha1:
    case NID_sha224:
    case NID_ripemd160:
        return trisa_error_set(TRISA_EINVAL,
                               "digest '%s' is too weak for a certificate request (certificates "
                               "signed with it are refused): use sha384 (or sha256, sha512)",
                               n);
    case NID_shake128:
    case NID_shake256:
        return trisa_error_set(TRISA_EINVAL,
                               "digest '%s' is an extendable-output function and cannot sign a "
                               "request: use sha384 (or sha256, sha512)",
                               n);
    default:
        return trisa_error_set(TRISA_EINVAL,
                               "digest '%s' is not one Sectigo takes in a request: use sha384 "
                               "(or sha256, sha512)",
                               n);
    }
}

/* A name given as an option, checked as a config value would be. */
static int check_option_value(const char *option, const char *v, int utf8)
{
    char shown_v[160];
    const char *why;
    if (v[0] == '\0') {
        return trisa_error_set(TRISA_EINVAL, "%s: the value is empty", option);
    }
    why = trisa_csr_value_problem(v, utf8);
    if (why != NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: '%s' %s", option,
                               trisa_printable(shown_v, sizeof(shown_v), v), why);
    }
    return 0;
}

int trisa_csr_config_options_check(const trisa_csr_config_options *o)
{
    int rc;
    if (o == NULL) {
        return 0;
    }
    if (o->version != 1 && o->version != TRISA_CSR_CONFIG_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_options: unknown version %u",
                               o->version);
    }
    /* As UTF-8: whether the config says utf8 = yes is judged when it is read. */
    if (o->common_name != NULL && (rc = check_option_value("--cn", o->common_name, 1)) != 0) {
        return rc;
    }
    if (o->san_count > 0 && o->sans == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_options: san_count without sans");
    }
    for (size_t i = 0; i < o->san_count; i++) {
        GENERAL_NAME *g = NULL;
        if (o->sans[i] == NULL) {
            return trisa_error_set(TRISA_EINVAL, "--san: no value");
        }
        rc = san_from_text(&g, o->sans[i]);
        GENERAL_NAME_free(g);
        if (rc != 0) {
            return rc;
        }
    }
    if (o->extensions != NULL && (o->extensions[0] == '\0' || strpbrk(o->extensions, "[] \t\n"))) {
        char shown_v[80];
        return trisa_error_set(TRISA_EINVAL, "-reqexts: '%s' is not a section name",
                               trisa_printable(shown_v, sizeof(shown_v), o->extensions));
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Loading                                                                            */

/* Parse the expanded text; a syntax error is reported at its file and line, with
 * OpenSSL's reason but never the text it quotes ("HERE-->" the rest of the line). */
static int parse_text(trisa_csr_config *c)
{
    BIO *bio = BIO_new_mem_buf(c->text, (int)strlen(c->text));
    long eline = 0;
    int rc = 0;

    c->conf = NCONF_new(NULL);
    if (c->conf == NULL || bio == NULL) {
        BIO_free(bio);
        return oom(c);
    }
    ERR_clear_error();
    if (NCONF_load_bio(c->conf, bio, &eline) <= 0) {
        unsigned long e = ERR_peek_error();
        const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
        char why[160];
        snprintf(why, sizeof(why), "%s", reason != NULL ? reason : "syntax error");
        ERR_clear_error();
        rc = cerr_line(c, (int)eline, NULL, NULL, "cannot parse the config: %s", why);
    }
    BIO_free(bio);
    return rc;
}

static int validate(trisa_csr_config *c, const trisa_csr_config_options *o)
{
    int rc;
    if ((rc = add_oids(c)) != 0 && rc != TRISA_ECONFIG) {
        return rc;
    }
    if ((rc = read_req_section(c, o)) != 0 && rc != TRISA_ECONFIG) {
        return rc;
    }
    if (NCONF_get_section(c->conf, c->section) == NULL) {
        ERR_clear_error();
        return TRISA_ECONFIG; /* nothing else can be judged */
    }
    if ((rc = build_subject(c)) != 0 && rc != TRISA_ECONFIG) {
        return rc;
    }
    if ((rc = check_extensions(c)) != 0 && rc != TRISA_ECONFIG) {
        return rc;
    }
    return c->nerrors > 0 ? TRISA_ECONFIG : 0;
}

/* The result: the first error, with the count of the others. */
static int finish(trisa_csr_config *c, int rc)
{
    if (c->fatal_code != 0) {
        return c->fatal_code == TRISA_ENOMEM ? trisa_error_set(TRISA_ENOMEM, "out of memory")
                                             : c->fatal_code;
    }
    if (c->nerrors == 0) {
        return rc;
    }
    if (c->first_error == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (c->nerrors == 1) {
        return trisa_error_set(TRISA_ECONFIG, "%s", c->first_error);
    }
    return trisa_error_set(TRISA_ECONFIG, "%s (and %zu more error%s)", c->first_error,
                           c->nerrors - 1, c->nerrors == 2 ? "" : "s");
}

static int parse_with(trisa_csr_config **out, const char *text, size_t len, const char *name,
                      const trisa_csr_config_options *opts, const struct stat *self)
{
    static const trisa_csr_config_options dflt = TRISA_CSR_CONFIG_OPTIONS_INIT;
    trisa_csr_config *c = NULL;
    unsigned idx;
    int rc;

    if (out == NULL || text == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_parse: no text or output");
    }
    *out = NULL;
    if (opts == NULL) {
        opts = &dflt;
    }
    if ((rc = trisa_csr_config_options_check(opts)) != 0) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (opts->version >= 2) {
        c->on_error = opts->on_error;
        c->on_error_ctx = opts->on_error_ctx;
    }
    c->bits = 4096;
    c->chtype = opts->utf8 ? MBSTRING_UTF8 : MBSTRING_ASC;
    c->mask = B_ASN1_UTF8STRING; /* OpenSSL's default string_mask, utf8only */
    c->name = strdup(name ? name : "config");
    c->section = strdup(opts->section ? opts->section : "req");
    c->digest = strdup("sha384");
    c->cn_override = dup_or_null(opts->common_name);
    if (c->name == NULL || c->section == NULL || c->digest == NULL ||
        (opts->common_name != NULL && c->cn_override == NULL) ||
        register_file(c, c->name, &idx) != 0) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (opts->san_count > 0) {
        c->sans = calloc(opts->san_count, sizeof(char *));
        if (c->sans == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
        for (; c->nsans < opts->san_count; c->nsans++) {
            if ((c->sans[c->nsans] = strdup(opts->sans[c->nsans])) == NULL) {
                rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    /* Each step goes on after an error in its input, so that one run finds them all;
     * a step whose input is broken (no text, no parse) ends the run. */
    rc = expand(c, text, len, self);
    if (rc == 0) {
        rc = parse_text(c);
    }
    if (rc == 0) {
        rc = validate(c, opts);
    }
    rc = finish(c, rc);
    if (rc == 0) {
        *out = c;
        c = NULL;
    }
done:
    trisa_csr_config_free(c);
    return rc;
}

int trisa_csr_config_parse(trisa_csr_config **out, const char *text, size_t len, const char *name,
                           const trisa_csr_config_options *opts)
{
    return parse_with(out, text, len, name, opts, NULL);
}

int trisa_csr_config_load(trisa_csr_config **out, const char *path,
                          const trisa_csr_config_options *opts)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct stat st;
    int rc;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_load: no path or output");
    }
    *out = NULL;
    if ((rc = trisa_csr_config_options_check(opts)) != 0) {
        return rc;
    }
    rc = trisa_file_read(&data, &len, path, CONFIG_FILE_MAX);
    if (rc != 0) {
        return rc;
    }
    rc = parse_with(out, (const char *)data, len, path, opts, stat(path, &st) == 0 ? &st : NULL);
    free(data);
    return rc;
}

size_t trisa_csr_config_warning_count(const trisa_csr_config *cfg)
{
    return cfg ? cfg->nwarnings : 0;
}

const char *trisa_csr_config_warning(const trisa_csr_config *cfg, size_t i)
{
    return cfg && i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

void trisa_csr_config_key_spec(const trisa_csr_config *cfg, trisa_keygen_spec *out)
{
    trisa_keygen_spec s = TRISA_KEYGEN_SPEC_INIT;
    if (cfg != NULL) {
        s.bits = cfg->bits;
    }
    *out = s;
}

const char *trisa_csr_config_digest(const trisa_csr_config *cfg)
{
    return cfg ? cfg->digest : "sha384";
}

const char *trisa_csr_config_common_name(const trisa_csr_config *cfg)
{
    return cfg ? cfg->cn : "";
}

const char *trisa_csr_config_default_keyfile(const trisa_csr_config *cfg)
{
    return cfg ? cfg->keyfile : NULL;
}

const char *trisa_csr_config_name(const trisa_csr_config *cfg)
{
    return cfg ? cfg->name : "";
}

void trisa_csr_config_free(trisa_csr_config *c)
{
    if (c == NULL) {
        return;
    }
    NCONF_free(c->conf);
    X509_NAME_free(c->subject);
    for (size_t i = 0; i < c->nwarnings; i++) {
        free(c->warnings[i]);
    }
    for (size_t i = 0; i < c->nsans; i++) {
        free(c->sans[i]);
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i]);
    }
    free(c->files);
    free(c->origin);
    free(c->sans);
    free(c->warnings);
    free(c->first_error);
    free(c->name);
    free(c->text);
    free(c->section);
    free(c->dn_section);
    free(c->ext_section);
    free(c->attr_section);
    free(c->digest);
    free(c->keyfile);
    free(c->cn);
    free(c->cn_override);
    free(c);
}
