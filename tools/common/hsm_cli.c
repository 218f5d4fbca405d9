#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/exit.h"
#include "tools/common/hsm_cli.h"
#include "tools/common/opt.h"

void tool_hsm_warn(const char *message, void *data)
{
    tool_warn(data != NULL ? (const char *)data : "trisa", "%s", message);
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
     "PKCS#11 module [$TRISA_PKCS11_MODULE, else p11-kit-proxy]"},
    {H_URI, 0, "pkcs11-uri|uri", "URI", "only tokens matching this PKCS#11 URI"},
    {H_PIN_FILE, 0, "pin-file", "FILE",
     "log in with the PIN in FILE to list private keys too (or $TRISA_PKCS11_PIN)"},
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

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
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
                   "certificates with the URI that selects each.\n",
                   prog);
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
            a.uri = p.value;
            break;
        case H_PIN_FILE:
            a.pin_file = p.value;
            break;
        case H_JSON:
            json = 1;
            break;
        case H_HELP:
            printf("usage: %s [options]\n\nLists PKCS#11 tokens and, logged in, their keys "
                   "and certificates, each with the URI that selects it.\n\nOptions:\n",
                   usage_prog);
            tool_opt_help(stdout, list_opts);
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
        return tool_fail(prog, rc);
    }
    if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf("%s\n  {\"kind\": ", i ? "," : "");
            json_str(kind_name(e[i].kind));
            printf(", \"label\": ");
            json_str(e[i].label);
            printf(", \"id\": ");
            json_str(e[i].id_hex);
            printf(", \"detail\": ");
            json_str(e[i].detail);
            printf(", \"uri\": ");
            json_str(e[i].uri);
            printf("}");
        }
        printf("%s]\n", n ? "\n" : "");
    } else if (n == 0) {
        printf("no tokens found\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            int tok = e[i].kind == TRISA_HSM_TOKEN;
            printf("%s%s '%s'%s%s: %s\n%s  %s\n", tok ? "" : "  ", kind_name(e[i].kind), e[i].label,
                   e[i].id_hex[0] ? " id " : "", e[i].id_hex, e[i].detail, tok ? "" : "  ",
                   e[i].uri);
        }
    }
    trisa_hsm_list_free(e, n);
    return 0;
}
