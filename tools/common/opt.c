#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/support.h"
#include "tools/common/harden.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"

void tool_opt_init(tool_parser *p, int argc, char **argv, const tool_opt *opts, const char *prog)
{
    memset(p, 0, sizeof(*p));
    p->argc = argc;
    p->argv = argv;
    p->opts = opts;
    p->prog = prog;
    p->index = 1;
}

int tool_usage_error(const char *prog, const char *fmt, ...)
{
    trisa_buf b = TRISA_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    trisa_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s (see '%s --help')\n", prog, b.data != NULL ? b.data : "usage error",
            prog);
    tool_report_note(TOOL_EXIT_USAGE, "usage", b.data != NULL ? b.data : "usage error");
    trisa_buf_free(&b, 0);
    return TOOL_EXIT_USAGE;
}

/* Does `names` ("a|b|c") contain exactly name[0..len)? */
static int names_match(const char *names, const char *name, size_t len)
{
    const char *s = names;
    while (s != NULL && *s != '\0') {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        if (n == len && strncmp(s, name, len) == 0) {
            return 1;
        }
        s = bar ? bar + 1 : NULL;
    }
    return 0;
}

static const tool_opt *find_long(const tool_opt *opts, const char *name, size_t len)
{
    for (const tool_opt *o = opts; o->id != 0; o++) {
        if (o->names != NULL && names_match(o->names, name, len)) {
            return o;
        }
    }
    return NULL;
}

static const tool_opt *find_short(const tool_opt *opts, char c)
{
    for (const tool_opt *o = opts; o->id != 0; o++) {
        if (o->short_name == c) {
            return o;
        }
    }
    return NULL;
}

/* A boolean as Go's strconv.ParseBool reads it: 1 true, 0 false, -1 neither. */
static int parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(v, yes[i]) == 0) {
            return 1;
        }
        if (strcmp(v, no[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

/* The option o was found; its value is inline_value (after '='), or the next argument. */
static int take_value(tool_parser *p, const tool_opt *o, const char *inline_value)
{
    if (o->arg == NULL) {
        if (inline_value != NULL) {
            int b = parse_bool(inline_value);
            if (b < 0) {
                tool_usage_error(p->prog, "option '%s' takes true or false, not '%s'", p->name,
                                 inline_value);
                return TOOL_OPT_ERROR;
            }
            if (b == 0) {
                /* --flag=false: as if the flag were not given. */
                return tool_opt_next(p);
            }
        }
        p->value = NULL;
        return o->id;
    }
    if (inline_value != NULL) {
        p->value = inline_value;
    } else if (p->index >= p->argc) {
        tool_usage_error(p->prog, "option '%s' needs a value (%s)", p->name, o->arg);
        return TOOL_OPT_ERROR;
    } else {
        p->value = p->argv[p->index++];
    }
    return o->id;
}

const char *tool_opt_secret(tool_parser *p)
{
    /* p->value points into argv, which is writable. */
    const char *copy = tool_secret_arg((char *)(uintptr_t)p->value);
    if (copy == NULL) {
        tool_error(p->prog, TOOL_EXIT_FAILURE, "nomem", "out of memory");
    }
    return copy;
}

const char *tool_opt_uri(tool_parser *p)
{
    return strstr(p->value, "pin-value=") != NULL ? tool_opt_secret(p) : p->value;
}

static int next_short(tool_parser *p)
{
    char c = *p->group++;
    const tool_opt *o = find_short(p->opts, c);
    const char *rest;

    p->spelled[0] = '-';
    p->spelled[1] = c;
    p->spelled[2] = '\0';
    p->name = p->spelled;
    if (o == NULL) {
        p->group = NULL;
        tool_usage_error(p->prog, "unknown option '-%c'", c);
        return TOOL_OPT_ERROR;
    }
    rest = *p->group != '\0' ? p->group : NULL;
    if (o->arg != NULL) {
        /* -kVALUE, -k=VALUE (Go's form) or -k VALUE */
        p->group = NULL;
        return take_value(p, o, rest != NULL && rest[0] == '=' ? rest + 1 : rest);
    }
    if (rest != NULL && rest[0] == '=') {
        /* -f=true, -f=false */
        p->group = NULL;
        return take_value(p, o, rest + 1);
    }
    p->group = rest;
    p->value = NULL;
    return o->id;
}

int tool_opt_next(tool_parser *p)
{
    const char *a;

    if (p->group != NULL) {
        return next_short(p);
    }
    if (p->index >= p->argc) {
        return TOOL_OPT_DONE;
    }
    a = p->argv[p->index];
    if (p->only_positional || a[0] != '-' || a[1] == '\0') {
        if (p->stop_at_positional) {
            return TOOL_OPT_DONE;
        }
        p->index++;
        p->value = a;
        return TOOL_OPT_POSITIONAL;
    }
    p->index++;
    if (strcmp(a, "--") == 0) {
        p->only_positional = 1;
        return tool_opt_next(p);
    }
    if (a[1] == '-' || (p->single_dash_long && a[2] != '\0')) {
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const tool_opt *o = find_long(p->opts, name, len);
        if (o == NULL && p->accept_json && len == 4 && strncmp(name, "json", 4) == 0) {
            int on = 1;
            if (eq != NULL && (on = parse_bool(eq + 1)) < 0) {
                tool_usage_error(p->prog, "option '--json' takes true or false, not '%s'", eq + 1);
                return TOOL_OPT_ERROR;
            }
            tool_report_set_json(on);
            return tool_opt_next(p);
        }
        if (o == NULL && a[1] == '-' && len == 1) {
            /* --u alice: Go's flag package takes one or two dashes for any name. */
            o = find_short(p->opts, name[0]);
        }
        if (o != NULL) {
            size_t n = (size_t)(name - a) + len;
            if (n >= sizeof(p->spelled)) {
                n = sizeof(p->spelled) - 1;
            }
            memcpy(p->spelled, a, n);
            p->spelled[n] = '\0';
            p->name = p->spelled;
            return take_value(p, o, eq ? eq + 1 : NULL);
        }
        if (a[1] == '-') {
            tool_usage_error(p->prog, "unknown option '%.*s'", (int)(len + 2), a);
            return TOOL_OPT_ERROR;
        }
        /* -xyz with single-dash long names on: fall back to short options. */
    }
    p->group = a + 1;
    return next_short(p);
}

void tool_opt_help(FILE *f, const tool_opt *opts)
{
    for (const tool_opt *o = opts; o->id != 0; o++) {
        char left[96];
        size_t n = 0;
        if (o->help == NULL) {
            continue;
        }
        if (o->short_name) {
            n += (size_t)snprintf(left + n, sizeof(left) - n, "-%c", o->short_name);
        }
        if (o->names != NULL) {
            const char *bar = strchr(o->names, '|');
            int len = bar ? (int)(bar - o->names) : (int)strlen(o->names);
            n += (size_t)snprintf(left + n, sizeof(left) - n, "%s--%.*s", n ? ", " : "    ", len,
                                  o->names);
        }
        if (o->arg != NULL && n < sizeof(left)) {
            snprintf(left + n, sizeof(left) - n, " %s", o->arg);
        }
        if (strlen(left) > 28) {
            fprintf(f, "  %s\n  %-28s  %s\n", left, "", o->help);
        } else {
            fprintf(f, "  %-28s  %s\n", left, o->help);
        }
    }
}

int tool_opt_long(const char *prog, const char *name, const char *value, long min, long max,
                  long *out)
{
    if (trisa_parse_long(value, min, max, out) != 0) {
        tool_usage_error(prog, "option '%s' needs a whole number from %ld to %ld, not '%s'", name,
                         min, max, value);
        return -1;
    }
    return 0;
}
