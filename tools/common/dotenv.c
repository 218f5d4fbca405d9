/* .env files as godotenv reads them: see dotenv.h for the rules. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "trisa/common.h"
#include "tools/common/dotenv.h"

/* What was set so far, for ${NAME}: godotenv looks there before the environment. */
typedef struct kv {
    char *name, *value;
} kv;

typedef struct parser {
    const char *s, *end;
    size_t line;
    kv *vars;
    size_t nvars, cap;
    char *err;
    size_t errcap;
} parser;

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_putc(sbuf *b, char c)
{
    if (b->failed) {
        return;
    }
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *n = malloc(cap);
        if (n == NULL) {
            b->failed = 1;
            return;
        }
        if (b->data != NULL) {
            memcpy(n, b->data, b->len);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
        b->data = n;
        b->cap = cap;
    }
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    while (*s) {
        sb_putc(b, *s++);
    }
}

static void sb_free(sbuf *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

static int fail(parser *p, const char *why)
{
    snprintf(p->err, p->errcap, "line %zu: %s", p->line, why);
    return -1;
}

/* godotenv's white space: no line ends. */
static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static const char *lookup(const parser *p, const char *name)
{
    const char *v;

    for (size_t i = p->nvars; i > 0; i--) {
        if (strcmp(p->vars[i - 1].name, name) == 0) {
            return p->vars[i - 1].value;
        }
    }
    v = getenv(name);
    return v != NULL ? v : "";
}

/* ${NAME} and $NAME (NAME of A-Z, 0-9, _), \$ for a literal dollar. */
static void expand(const parser *p, const char *in, size_t len, sbuf *out)
{
    for (size_t i = 0; i < len; i++) {
        char name[256];
        size_t j, n = 0;
        int brace;

        if (in[i] == '\\' && i + 1 < len && in[i + 1] == '$') {
            sb_putc(out, '$');
            i++;
            continue;
        }
        if (in[i] != '$') {
            sb_putc(out, in[i]);
            continue;
        }
        j = i + 1;
        brace = j < len && in[j] == '{';
        j += (size_t)brace;
        while (j < len && n + 1 < sizeof(name) &&
               ((in[j] >= 'A' && in[j] <= 'Z') || (in[j] >= '0' && in[j] <= '9') || in[j] == '_')) {
            name[n++] = in[j++];
        }
        name[n] = '\0';
        if (n == 0) {
            sb_putc(out, '$');
            continue;
        }
        if (brace && j < len && in[j] == '}') {
            j++;
        }
        sb_puts(out, lookup(p, name));
        i = j - 1;
    }
}

/* A double-quoted value's escapes: \n, \r; \X is X (but \$ stays for expand()). */
static void unescape(const char *in, size_t len, sbuf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\\' && i + 1 < len) {
            char c = in[i + 1];
            if (c == 'n' || c == 'r') {
                sb_putc(out, c == 'n' ? '\n' : '\r');
                i++;
                continue;
            }
            if (c != '$') {
                sb_putc(out, c);
                i++;
                continue;
            }
        }
        sb_putc(out, in[i]);
    }
}

static int set_var(parser *p, const char *name, size_t nl, sbuf *value, tool_dotenv_fn fn,
                   void *arg)
{
    kv *n;

    if (p->nvars == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        n = realloc(p->vars, cap * sizeof(*n));
        if (n == NULL) {
            return fail(p, "out of memory");
        }
        p->vars = n;
        p->cap = cap;
    }
    p->vars[p->nvars].name = strndup(name, nl);
    p->vars[p->nvars].value = value->data ? value->data : strdup("");
    value->data = NULL; /* owned by vars now */
    value->len = value->cap = 0;
    if (p->vars[p->nvars].name == NULL || p->vars[p->nvars].value == NULL) {
        free(p->vars[p->nvars].name);
        free(p->vars[p->nvars].value);
        return fail(p, "out of memory");
    }
    p->nvars++;
    if (fn != NULL) {
        fn(arg, p->vars[p->nvars - 1].name, p->vars[p->nvars - 1].value);
    }
    return 0;
}

/* One NAME=VALUE statement starting at p->s. */
static int statement(parser *p, tool_dotenv_fn fn, void *arg)
{
    const char *name, *name_end;
    sbuf raw = {0}, value = {0};
    int ret = -1;

    if ((size_t)(p->end - p->s) > 7 && strncmp(p->s, "export", 6) == 0 && blank(p->s[6])) {
        p->s += 6;
        while (p->s < p->end && blank(*p->s)) {
            p->s++;
        }
    }
    name = p->s;
    while (p->s < p->end && *p->s != '=' && *p->s != ':') {
        char c = *p->s;
        if (!(isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || blank(c))) {
            return fail(p, c == '\n' ? "expected NAME=VALUE" : "unexpected character in a name");
        }
        p->s++;
    }
    if (p->s == p->end) {
        return fail(p, "expected NAME=VALUE");
    }
    name_end = p->s++;
    while (name_end > name && blank(name_end[-1])) {
        name_end--;
    }
    if (name_end == name) {
        return fail(p, "a setting without a name");
    }
    while (p->s < p->end && blank(*p->s)) {
        p->s++;
    }
    if (p->s < p->end && (*p->s == '\'' || *p->s == '"')) {
        char q = *p->s++;
        const char *start = p->s, *e;
        size_t startline = p->line;
        for (e = start; e < p->end; e++) {
            size_t bs = 0;
            if (*e == '\n') {
                p->line++;
            }
            if (*e != q) {
                continue;
            }
            for (const char *k = e; k > start && k[-1] == '\\'; k--) {
                bs++;
            }
            if (bs % 2 == 0) {
                break;
            }
        }
        if (e == p->end) {
            p->line = startline;
            return fail(p, "unterminated quoted value");
        }
        if (q == '\'') {
            for (const char *k = start; k < e; k++) {
                sb_putc(&value, *k);
            }
        } else {
            unescape(start, (size_t)(e - start), &raw);
            expand(p, raw.data ? raw.data : "", raw.len, &value);
        }
        p->s = e + 1;
        while (p->s < p->end && blank(*p->s)) {
            p->s++;
        }
        if (p->s < p->end && *p->s != '\n' && *p->s != '#') {
            fail(p, "text after a quoted value");
            goto done;
        }
        while (p->s < p->end && *p->s != '\n') {
            p->s++; /* a comment */
        }
    } else {
        const char *start = p->s, *e;
        while (p->s < p->end && *p->s != '\n') {
            p->s++;
        }
        e = p->s;
        for (const char *k = start + 1; k < e; k++) {
            if (*k == '#' && blank(k[-1])) {
                e = k;
                break;
            }
        }
        while (e > start && blank(e[-1])) {
            e--;
        }
        expand(p, start, (size_t)(e - start), &value);
    }
    if (raw.failed || value.failed) {
        fail(p, "out of memory");
        goto done;
    }
    ret = set_var(p, name, (size_t)(name_end - name), &value, fn, arg);
done:
    sb_free(&raw);
    sb_free(&value);
    return ret;
}

static void free_vars(parser *p)
{
    for (size_t i = 0; i < p->nvars; i++) {
        free(p->vars[i].name);
        OPENSSL_cleanse(p->vars[i].value, strlen(p->vars[i].value));
        free(p->vars[i].value);
    }
    free(p->vars);
    p->vars = NULL;
    p->nvars = p->cap = 0;
}

static int parse(parser *p, tool_dotenv_fn fn, void *arg)
{
    while (p->s < p->end) {
        char c = *p->s;
        if (c == '\n') {
            p->line++;
            p->s++;
        } else if (blank(c)) {
            p->s++;
        } else if (c == '#') {
            while (p->s < p->end && *p->s != '\n') {
                p->s++;
            }
        } else if (statement(p, fn, arg) != 0) {
            return -1;
        }
    }
    return 0;
}

int tool_dotenv_parse(const char *text, size_t len, tool_dotenv_fn fn, void *arg, char *err,
                      size_t errcap)
{
    parser p = {text, text + len, 1, NULL, 0, 0, err, errcap};
    int ret = parse(&p, fn, arg);

    free_vars(&p);
    return ret;
}

int tool_dotenv_load(const char *path, const char *const *prefixes, char *err, size_t errcap)
{
    unsigned char *text = NULL;
    size_t len = 0;
    parser p;
    int ret;

    /* Bounded, regular files only (a FIFO would block), and wiped after use. */
    ret = trisa_file_read(&text, &len, path, 1u << 20);
    if (ret == TRISA_ENOTFOUND) {
        return 0;
    }
    if (ret != 0) {
        snprintf(err, errcap, "%s", trisa_error_last());
        return -1;
    }
    memset(&p, 0, sizeof(p));
    p.s = (const char *)text;
    p.end = p.s + len;
    p.line = 1;
    p.err = err;
    p.errcap = errcap;
    /* All or nothing, as godotenv: parse the whole file before setting anything. */
    ret = parse(&p, NULL, NULL);
    for (size_t i = 0; ret == 0 && i < p.nvars; i++) {
        for (const char *const *pre = prefixes; *pre != NULL; pre++) {
            if (strncmp(p.vars[i].name, *pre, strlen(*pre)) == 0) {
                setenv(p.vars[i].name, p.vars[i].value, 0); /* the environment wins */
                break;
            }
        }
    }
    if (ret != 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errcap, "%s: %s", path, why);
    }
    free_vars(&p);
    OPENSSL_cleanse(text, len);
    free(text);
    return ret;
}
