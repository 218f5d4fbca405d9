/*
 * The .env file the reference CLI reads at start (github.com/joho/godotenv 1.5.1, whose
 * rules are reproduced here, written from its documented behaviour): KEY=value and
 * KEY: value lines, `export`, comments, 'single' (literal) and "double" quoted values
 * (\n, \r and backslash escapes; may span lines), unquoted values with a ` #` comment,
 * and $VAR / ${VAR} expansion in unquoted and double-quoted values. A syntax error
 * anywhere means nothing from the file is used, as with the reference.
 *
 * Differences, on purpose: only SECTIGO_* (the client) and SIAS_* (`sectigo serve`)
 * variables are taken, so a .env in the working folder cannot steer TLS trust
 * (SSL_CERT_FILE), proxies or the cache location; an expansion that names no earlier
 * line of the file falls back to the environment (godotenv does so from 1.6 on; 1.5.1
 * gives ""); the syntax error is reported with a warning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/sectigo/sectigo.h"

#define DOTENV_MAX (1u << 20)

/* A growable string that is wiped when freed: values may be passwords. */
typedef struct str {
    char *p;
    size_t n, cap;
    int failed;
} str;

static void str_add(str *s, const char *data, size_t n)
{
    if (s->failed) {
        return;
    }
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        char *p;
        while (cap < s->n + n + 1) {
            cap *= 2;
        }
        if ((p = malloc(cap)) == NULL) {
            s->failed = 1;
            return;
        }
        if (s->p != NULL) {
            memcpy(p, s->p, s->n);
            OPENSSL_cleanse(s->p, s->cap);
            free(s->p);
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->n, data, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void str_addc(str *s, char c)
{
    str_add(s, &c, 1);
}

static void str_free(str *s)
{
    if (s->p != NULL) {
        OPENSSL_cleanse(s->p, s->cap);
        free(s->p);
    }
    memset(s, 0, sizeof(*s));
}

/* The parsed pairs, in file order; a later pair of one key wins. */
typedef struct pairs {
    str *keys, *values;
    size_t n, cap;
} pairs;

static const char *lookup(const pairs *v, const char *key, size_t len)
{
    for (size_t i = v->n; i-- > 0;) {
        if (v->keys[i].n == len && memcmp(v->keys[i].p, key, len) == 0) {
            return v->values[i].p ? v->values[i].p : "";
        }
    }
    return NULL;
}

/* godotenv's isSpace: a space that is not a line break (byte-wise, as it tests runes made
 * from single bytes in key names; U+0085 and U+00A0 in values are two bytes, see below). */
static int is_space_byte(unsigned char c)
{
    return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ' || c == 0x85 || c == 0xa0;
}

/* Length of a godotenv isSpace rune at p (UTF-8), or 0. */
static size_t space_rune(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[0] == '\t' || p[0] == '\v' || p[0] == '\f' || p[0] == '\r' || p[0] == ' ')) {
        return 1;
    }
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
        return 2;
    }
    return 0;
}

/* Length of a Go unicode.IsSpace rune at p (UTF-8), or 0: the above plus line breaks and
 * the other Unicode spaces. */
static size_t uspace_rune(const unsigned char *p, size_t n)
{
    size_t k = space_rune(p, n);
    if (k > 0) {
        return k;
    }
    if (n >= 1 && p[0] == '\n') {
        return 1;
    }
    if (n >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) {
        return 3; /* U+1680 */
    }
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf) && p[2] >= 0x80) {
        return 3; /* U+2000-U+200A, U+2028, U+2029, U+202F */
    }
    if (n >= 3 && ((p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||
                   (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80))) {
        return 3; /* U+205F, U+3000 */
    }
    return 0;
}

/* A byte Go's unicode.IsLetter / IsNumber accepts when taken as the rune of that value. */
static int key_byte(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_') {
        return 1;
    }
    return c == 0xaa || c == 0xb5 || c == 0xba || (c >= 0xc0 && c != 0xd7 && c != 0xf7) ||
           c == 0xb2 || c == 0xb3 || c == 0xb9 || (c >= 0xbc && c <= 0xbe);
}

/* $VAR, ${VAR}, \$VAR (literal), as godotenv's pattern (\\)?(\$)(\()?\{?([A-Z0-9_]+)?\}? */
static void expand(str *out, const char *v, size_t n, const pairs *vars)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i, j, name, name_len;
        int escaped = 0;
        if (v[i] == '\\' && i + 1 < n && v[i + 1] == '$') {
            escaped = 1;
            j = i + 2;
        } else if (v[i] == '$') {
            j = i + 1;
        } else {
            str_addc(out, v[i++]);
            continue;
        }
        if (j < n && v[j] == '(') {
            j++;
        }
        if (j < n && v[j] == '{') {
            j++;
        }
        name = j;
        while (j < n &&
               ((v[j] >= 'A' && v[j] <= 'Z') || (v[j] >= '0' && v[j] <= '9') || v[j] == '_')) {
            j++;
        }
        name_len = j - name;
        if (j < n && v[j] == '}') {
            j++;
        }
        if (escaped) {
            str_add(out, v + start + 1, j - start - 1);
        } else if (name_len > 0) {
            char key[256];
            const char *val = lookup(vars, v + name, name_len);
            if (val == NULL && name_len < sizeof(key)) {
                memcpy(key, v + name, name_len);
                key[name_len] = '\0';
                val = getenv(key);
            }
            str_add(out, val ? val : "", val ? strlen(val) : 0);
        } else {
            str_add(out, v + start, j - start);
        }
        i = j;
    }
}

/* Double-quoted escapes: \n and \r, then a backslash before anything but '$' dropped. */
static void unescape(str *out, const char *v, size_t n)
{
    str first = {0};
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' && i + 1 < n && v[i + 1] != '\n') {
            char c = v[i + 1];
            if (c == 'n' || c == 'r') {
                str_addc(&first, c == 'n' ? '\n' : '\r');
            } else {
                str_add(&first, v + i, 2);
            }
            i++;
        } else {
            str_addc(&first, v[i]);
        }
    }
    for (size_t i = 0; i < first.n; i++) {
        if (first.p[i] == '\\' && i + 1 < first.n && first.p[i + 1] != '$') {
            i++;
        }
        str_addc(out, first.p[i]);
    }
    if (first.failed) {
        out->failed = 1;
    }
    str_free(&first);
}

/* Parse the whole text into vars. Returns 0, or -1 with *err_at the offset of the error. */
static int parse(pairs *vars, const char *src, size_t len, size_t *err_at)
{
    size_t i = 0;
    for (;;) {
        size_t key_start, key_end, k;
        str value = {0};

        /* Statement start: skip white space and comment lines. */
        for (;;) {
            while (i < len && (k = uspace_rune((const unsigned char *)src + i, len - i)) > 0) {
                i += k;
            }
            if (i >= len) {
                return 0;
            }
            if (src[i] != '#') {
                break;
            }
            while (i < len && src[i] != '\n') {
                i++;
            }
            if (i >= len) {
                return 0;
            }
        }
        /* The key, after an optional "export ". */
        if (len - i > 6 && memcmp(src + i, "export", 6) == 0 &&
            space_rune((const unsigned char *)src + i + 6, len - i - 6) > 0) {
            i += 6;
            while (i < len && (k = space_rune((const unsigned char *)src + i, len - i)) > 0) {
                i += k;
            }
        }
        key_start = i;
        while (i < len && src[i] != '=' && src[i] != ':') {
            unsigned char c = (unsigned char)src[i];
            if (!is_space_byte(c) && !key_byte(c)) {
                *err_at = i;
                return -1;
            }
            i++;
        }
        if (i >= len) {
            return 0; /* a name at the end of the file without '=': nothing to set */
        }
        key_end = i++;
        while (key_end > key_start && (unsigned char)src[key_end - 1] < 0x80 &&
               is_space_byte((unsigned char)src[key_end - 1])) {
            key_end--;
        }
        while (i < len && (k = space_rune((const unsigned char *)src + i, len - i)) > 0) {
            i += k;
        }
        /* The value. */
        if (i < len && (src[i] == '"' || src[i] == '\'')) {
            char q = src[i];
            size_t j = i + 1, a = i, b;
            while (j < len && !(src[j] == q && src[j - 1] != '\\')) {
                j++;
            }
            if (j >= len) {
                *err_at = i;
                return -1;
            }
            b = j;
            while (b > a && src[b - 1] == q) {
                b--;
            }
            while (a < b && src[a] == q) {
                a++;
            }
            if (q == '"') {
                str esc = {0};
                unescape(&esc, src + a, b - a);
                expand(&value, esc.p ? esc.p : "", esc.n, vars);
                if (esc.failed) {
                    value.failed = 1;
                }
                str_free(&esc);
            } else {
                str_add(&value, src + a, b - a);
            }
            i = j + 1;
        } else {
            size_t eol = i, end, a = i;
            while (eol < len && src[eol] != '\n' && src[eol] != '\r') {
                eol++;
            }
            end = eol;
            /* A comment: the last '#' that follows a space. */
            for (size_t c = eol; c-- > i + 1;) {
                if (src[c] == '#' &&
                    (is_space_byte((unsigned char)src[c - 1]) ||
                     (c >= i + 2 && (unsigned char)src[c - 2] == 0xc2 &&
                      ((unsigned char)src[c - 1] == 0x85 || (unsigned char)src[c - 1] == 0xa0)))) {
                    end = c;
                    break;
                }
            }
            while (a < end && (k = space_rune((const unsigned char *)src + a, end - a)) > 0) {
                a += k;
            }
            while (end > a) {
                if (space_rune((const unsigned char *)src + end - 1, 1) > 0) {
                    end--;
                } else if (end - a >= 2 && (unsigned char)src[end - 2] == 0xc2 &&
                           ((unsigned char)src[end - 1] == 0x85 ||
                            (unsigned char)src[end - 1] == 0xa0)) {
                    end -= 2;
                } else {
                    break;
                }
            }
            expand(&value, src + a, end - a, vars);
            i = eol;
        }
        /* Keep the pair. */
        if (vars->n == vars->cap) {
            size_t cap = vars->cap ? vars->cap * 2 : 16;
            str *nk = realloc(vars->keys, cap * sizeof(*nk));
            if (nk != NULL) {
                vars->keys = nk;
            }
            str *nv = nk ? realloc(vars->values, cap * sizeof(*nv)) : NULL;
            if (nv == NULL) {
                str_free(&value);
                *err_at = i;
                return -2;
            }
            vars->values = nv;
            vars->cap = cap;
        }
        memset(&vars->keys[vars->n], 0, sizeof(str));
        str_add(&vars->keys[vars->n], src + key_start, key_end - key_start);
        vars->values[vars->n] = value;
        if (value.p == NULL) {
            str_add(&vars->values[vars->n], "", 0);
        }
        if (vars->keys[vars->n].failed || vars->values[vars->n].failed) {
            vars->n++;
            *err_at = i;
            return -2;
        }
        vars->n++;
    }
}

static int wanted(const char *key)
{
    return strncmp(key, "SECTIGO_", 8) == 0 || strncmp(key, "SIAS_", 5) == 0;
}

long sectigo_dotenv_parse(char *text, size_t len,
                          void (*fn)(const char *key, const char *value, void *arg), void *arg)
{
    size_t err_at = 0, o = 0;
    pairs vars = {0};
    long line = 0;
    int rc;

    /* CRLF line ends read as LF. */
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') {
            continue;
        }
        text[o++] = text[i];
    }
    rc = parse(&vars, text, o, &err_at);
    if (rc == -2) {
        line = -1;
    } else if (rc != 0) {
        line = 1;
        for (size_t i = 0; i < err_at && i < o; i++) {
            line += text[i] == '\n';
        }
    } else {
        for (size_t i = 0; i < vars.n; i++) {
            const char *key = vars.keys[i].p;
            /* A key's last line wins. */
            if (key != NULL && wanted(key) &&
                lookup(&vars, key, vars.keys[i].n) == vars.values[i].p) {
                fn(key, vars.values[i].p, arg);
            }
        }
    }
    for (size_t i = 0; i < vars.n; i++) {
        str_free(&vars.keys[i]);
        str_free(&vars.values[i]);
    }
    free(vars.keys);
    free(vars.values);
    return line;
}

/* The environment wins over the file, as with the reference (setenv without
 * overwriting). */
static void set_default(const char *key, const char *value, void *arg)
{
    (void)arg;
    (void)setenv(key, value, 0);
}

void sectigo_load_dotenv(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    long line;
    int rc;

    if ((rc = trisa_file_read(&data, &len, path, DOTENV_MAX)) != 0) {
        if (rc != TRISA_ENOTFOUND) {
            tool_warn("sectigo", "%s; not used", trisa_error_last());
        }
        trisa_error_clear();
        return;
    }
    line = sectigo_dotenv_parse((char *)data, len, set_default, NULL);
    if (line < 0) {
        tool_warn("sectigo", "%s: out of memory; nothing was taken from the file", path);
    } else if (line > 0) {
        tool_warn("sectigo",
                  "%s:%ld: syntax error (as godotenv reads it); nothing was taken "
                  "from the file",
                  path, line);
    }
    OPENSSL_cleanse(data, len);
    free(data);
}
