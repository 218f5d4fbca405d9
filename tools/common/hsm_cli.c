#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/exit.h"
#include "tools/common/hsm_cli.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"

void tool_hsm_warn(const char *message, void *data)
{
    tool_warn(data != NULL ? (const char *)data : "trisa", "%s", message);
}

int tool_hsm_exit_code(int err)
{
    switch (err) {
    case TRISA_ENOTFOUND:    /* no token, or no key, matches the URI */
    case TRISA_EAMBIGUOUS:   /* several do */
    case TRISA_EUNSUPPORTED: /* the token cannot make such keys */
    case TRISA_EHSM:
        return TOOL_EXIT_TOKEN;
    case TRISA_EPIN:
    case TRISA_ELOCKED:
        return TOOL_EXIT_PIN;
    default:
        return tool_exit_code(err);
    }
}

int tool_hsm_fail(const char *prog, int err)
{
    tool_fail(prog, err);
    return tool_hsm_exit_code(err);
}

void tool_hsm_options(trisa_hsm_options *o, const tool_hsm_args *a, const char *prog,
                      char *pin_spec, size_t pin_spec_len)
{
    o->module = a->module != NULL ? a->module : getenv("TRISA_PKCS11_MODULE");
    o->uri = a->key_in_uri != NULL && a->uri == NULL ? a->key_in_uri : a->uri;
    o->pin = NULL;
    if (a->pin_file != NULL) {
        snprintf(pin_spec, pin_spec_len, "file:%s", a->pin_file);
        o->pin = pin_spec;
    }
    o->warn = tool_hsm_warn;
    o->warn_data = (void *)prog;
}

enum { H_MODULE = 1, H_URI, H_PIN_FILE, H_JSON, H_HELP };

static const tool_opt list_opts[] = {
    {H_MODULE, 0, "pkcs11-module|module", "PATH",
     "PKCS#11 module [$TRISA_PKCS11_MODULE, else p11-kit's proxy]"},
    {H_URI, 0, "pkcs11-uri|uri", "URI", "only tokens matching this PKCS#11 URI"},
    {H_PIN_FILE, 0, "pin-file", "FILE",
     "log in to the token the URI names, to list its private keys too (or "
     "$TRISA_PKCS11_PIN)"},
    {H_JSON, 0, "json", NULL, "print JSON"},
    {H_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static const char *kind_name(trisa_hsm_kind k)
{
    switch (k) {
    case TRISA_HSM_TOKEN:
        return "token";
    case TRISA_HSM_PRIVATE_KEY:
        return "private-key";
    case TRISA_HSM_PUBLIC_KEY:
        return "public-key";
    case TRISA_HSM_CERTIFICATE:
        return "certificate";
    }
    return "object";
}

/* Length of the valid UTF-8 sequence at s (0 when it is not one). */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8 || n == 0) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

/* A label as typed between quotes: token labels are bytes, and a quote, a control
 * character or a byte that is not UTF-8 would garble the line; those are escaped. */
static void text_label(const char *label)
{
    const unsigned char *s = (const unsigned char *)label;
    putchar('\'');
    while (*s) {
        size_t n = *s >= 0x80 ? utf8_len(s) : 1;
        if (*s == '\'' || *s == '\\') {
            printf("\\%c", *s);
        } else if (*s < 0x20 || *s == 0x7f || n == 0) {
            printf("\\x%02x", *s);
            n = 1;
        } else {
            fwrite(s, 1, n, stdout);
        }
        s += n;
    }
    putchar('\'');
}

/* After a listing logged in with --pin-file: how a server reads the same PIN. */
static void pin_hint(const char *prog, const char *pin_file, const trisa_hsm_entry *e, size_t n)
{
    const char *key_uri = NULL;
    size_t keys = 0;
    unsigned flags = 0;
    char *uri = NULL;

    for (size_t i = 0; i < n; i++) {
        if (e[i].kind == TRISA_HSM_PRIVATE_KEY) {
            key_uri = e[i].uri;
            keys++;
        }
    }
    if (keys == 0 || trisa_hsm_pin_file_info(&flags, pin_file) != 0) {
        return;
    }
    if (flags & TRISA_HSM_PIN_FILE_NEWLINE) {
        tool_warn(prog,
                  "%s ends its PIN with a line end: our tools ignore it, but the libp11 "
                  "engine's pin-source=file: sends it as part of the PIN, so a server given "
                  "this file fails to log in; for servers, write the PIN without it: "
                  "(umask 077; tr -d '\\r\\n' <%s >%s.nonl)",
                  pin_file, pin_file, pin_file);
        return;
    }
    if (trisa_hsm_uri_with_pin_file(&uri, keys == 1 ? key_uri : "pkcs11:", pin_file) == 0) {
        fprintf(stderr, "%s: hint: %s %s\n", prog,
                keys == 1 ? "a server using the libp11 engine reads this PIN with"
                          : "a server using the libp11 engine reads this PIN when its key URI "
                            "ends with",
                keys == 1                  ? uri
                : strchr(uri, '?') != NULL ? strchr(uri, '?')
                                           : uri);
    }
    free(uri);
}

int tool_hsm_main(int argc, char **argv, const char *prog)
{
    tool_hsm_args a = {0};
    trisa_hsm_options o = TRISA_HSM_OPTIONS_INIT;
    trisa_hsm_entry *e = NULL;
    tool_parser p;
    char usage_prog[64], pin_spec[4200];
    size_t n = 0;
    int id, json = 0, rc;

    snprintf(usage_prog, sizeof(usage_prog), "%s hsm list", prog);
    if (argc < 1 || strcmp(argv[0], "list") != 0) {
        if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
            printf("usage: %s hsm list [options]\n\nLists PKCS#11 tokens, keys and "
                   "certificates with the URI that selects each.\n\nCommands:\n"
                   "  list   tokens, keys and certificates ('%s hsm list --help')\n",
                   prog, prog);
            return 0;
        }
        return tool_usage_error(prog, "'hsm' needs a subcommand: list");
    }
    tool_opt_init(&p, argc, argv, list_opts, usage_prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case H_MODULE:
            a.module = p.value;
            break;
        case H_URI:
            if ((a.uri = tool_opt_uri(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case H_PIN_FILE:
            a.pin_file = p.value;
            break;
        case H_JSON:
            json = 1;
            tool_report_set_json(1);
            break;
        case H_HELP:
            printf("usage: %s [options]\n\nLists PKCS#11 tokens and, logged in, their keys "
                   "and certificates, each with the URI that selects it.\n\nOptions:\n",
                   usage_prog);
            tool_opt_help(stdout, list_opts);
            printf("\nExit codes: 0 listed, 2 usage, 3 invalid URI, 12 token error (module, no "
                   "or several\nmatching tokens), 13 wrong PIN or PIN locked, 1 other failure. "
                   "With --json, an\nerror is {\"error\": {\"exit\": N, \"code\": ..., "
                   "\"message\": ...}} on stdout.\n");
            return 0;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(usage_prog, "unexpected argument '%s'", p.value);
        default:
            return TOOL_EXIT_USAGE;
        }
    }
    tool_hsm_options(&o, &a, prog, pin_spec, sizeof(pin_spec));
    rc = trisa_hsm_list(&e, &n, &o);
    if (rc != 0) {
        return tool_hsm_fail(prog, rc);
    }
    if (json) {
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            trisa_buf_puts(&b, i ? ",\n  {\"kind\": " : "\n  {\"kind\": ");
            trisa_json_str(&b, kind_name(e[i].kind), 0);
            trisa_buf_puts(&b, ", \"label\": ");
            trisa_json_str(&b, e[i].label, 0);
            trisa_buf_puts(&b, ", \"id\": ");
            trisa_json_str(&b, e[i].id_hex, 0);
            trisa_buf_puts(&b, ", \"detail\": ");
            trisa_json_str(&b, e[i].detail, 0);
            trisa_buf_puts(&b, ", \"uri\": ");
            trisa_json_str(&b, e[i].uri, 0);
            trisa_buf_puts(&b, "}");
        }
        trisa_buf_puts(&b, n ? "\n]\n" : "]\n");
        if (!b.failed) {
            fputs(b.data, stdout);
            tool_report_printed();
        }
        trisa_buf_free(&b, 0);
    } else {
        const char *module = o.module != NULL ? o.module : trisa_hsm_default_module();
        /* Which module was asked (unless the URI's module-path chose it). */
        if (o.uri == NULL || strstr(o.uri, "module-path=") == NULL) {
            printf("module %s\n", module != NULL ? module : "(none)");
        }
        if (n == 0) {
            printf("no tokens found\n");
        }
        for (size_t i = 0; i < n; i++) {
            int tok = e[i].kind == TRISA_HSM_TOKEN;
            printf("%s%s ", tok ? "" : "  ", kind_name(e[i].kind));
            text_label(e[i].label);
            printf("%s%s: %s\n%s  %s\n", e[i].id_hex[0] ? " id " : "", e[i].id_hex, e[i].detail,
                   tok ? "" : "  ", e[i].uri);
        }
    }
    if (a.pin_file != NULL) {
        pin_hint(prog, a.pin_file, e, n);
    }
    trisa_hsm_list_free(e, n);
    return 0;
}
