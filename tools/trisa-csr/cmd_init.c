/* trisa-csr init: write a commented trisa.conf template. */
#include <stdio.h>
#include <string.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/trisa-csr.h"

enum { I_CN = 1, I_OUT, I_FORCE, I_JSON, I_HELP };

static const tool_opt init_opts[] = {
    {I_CN, 0, "cn", "NAME", "the endpoint's host name (CN and first DNS name)"},
    {I_OUT, 'o', "out", "FILE", "write the template here; - for standard output [trisa.conf]"},
    {I_FORCE, 'f', "force", NULL, "replace an existing file"},
    {I_JSON, 0, "json", NULL, "say what was written as JSON (errors too)"},
    {I_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

/* Each <placeholder> is refused by validation until it is filled in. */
static const char template_head[] =
    "# trisa.conf: the request for a TRISA identity certificate, in the format of an\n"
    "# OpenSSL req config. Fill in every <placeholder>, then make the key and CSR:\n"
    "#\n"
    "#   trisa-csr -config trisa.conf -keyout key.pem -out req.csr\n"
    "#\n"
    "# The same file works with: openssl req -new -newkey rsa:4096 -nodes -sha384 \\\n"
    "#   -config trisa.conf -keyout key.pem -out req.csr\n"
    "#\n"
    "# Values must not start or end with a space: it would become part of the certificate.\n"
    "\n"
    "[req]\n"
    "# Take the subject from [dn_req] instead of asking.\n"
    "prompt = no\n"
    "# RSA key size (2048, 3072 or 4096) and signature digest.\n"
    "default_bits = 4096\n"
    "default_md = sha384\n"
    "string_mask = utf8only\n"
    "utf8 = yes\n"
    "distinguished_name = dn_req\n"
    "req_extensions = v3ext_req\n"
    "\n"
    "[dn_req]\n"
    "# The endpoint's host name; it must also be a DNS name in [alt_names].\n";

static const char template_tail[] =
    "# Your organisation's legal name, as registered with the TRISA directory.\n"
    "O = <legal name of your organisation>\n"
    "L = <city>\n"
    "ST = <state or province>\n"
    "# Two letters (ISO 3166), e.g. US, GB, SG.\n"
    "C = <two-letter country code>\n"
    "\n"
    "[v3ext_req]\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth, clientAuth\n"
    "subjectAltName = @alt_names\n"
    "\n"
    "[alt_names]\n"
    "# Every host name the certificate is for; add DNS.2, DNS.3, ... as needed.\n";

int cmd_init(int argc, char **argv)
{
    tool_parser p;
    const char *cn = NULL, *out = "trisa.conf";
    int force = 0, json = 0, id, rc;
    trisa_buf b = TRISA_BUF_INIT;

    tool_opt_init(&p, argc, argv, init_opts, PROG " init");
    p.single_dash_long = 1;
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(PROG " init", "unexpected argument '%s'", p.value);
        case I_CN:
            cn = p.value;
            break;
        case I_OUT:
            out = p.value;
            break;
        case I_FORCE:
            force = 1;
            break;
        case I_JSON:
            json = 1;
            tool_report_set_json(1);
            break;
        case I_HELP:
            printf("usage: trisa-csr init [--cn NAME] [-o FILE] [--force]\n\n"
                   "Writes a commented trisa.conf template. It is refused by validation until\n"
                   "every <placeholder> in it is filled in.\n\nOptions:\n");
            tool_opt_help(stdout, init_opts);
            return TOOL_EXIT_OK;
        }
    }
    if (cn != NULL && (cn[0] == '\0' || strpbrk(cn, " \t\n\r#\"\\$") != NULL)) {
        return tool_usage_error(PROG " init", "--cn '%s': not a host name", cn);
    }
    if (json && strcmp(out, "-") == 0) {
        return tool_usage_error(PROG " init", "--json and -o -: the template would mix with the "
                                              "JSON; give -o FILE");
    }
    if (cn == NULL) {
        cn = "<host name, e.g. trisa.example.com>";
    }
    trisa_buf_puts(&b, template_head);
    trisa_buf_printf(&b, "CN = %s\n", cn);
    trisa_buf_puts(&b, template_tail);
    trisa_buf_printf(&b, "DNS.1 = %s\n", cn);
    if (b.failed) {
        trisa_buf_free(&b, 0);
        return tool_fail(PROG, TRISA_ENOMEM);
    }
    if (strcmp(out, "-") == 0) {
        fwrite(b.data, 1, b.len, stdout);
        trisa_buf_free(&b, 0);
        return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILURE;
    }
    rc = trisa_file_write_atomic(out, b.data, b.len, 0644, force ? TRISA_WRITE_REPLACE : 0);
    trisa_buf_free(&b, 0);
    if (rc != 0) {
        return tool_fail(PROG, rc);
    }
    if (json) {
        trisa_buf j = TRISA_BUF_INIT;
        trisa_buf_puts(&j, "{\"file\": ");
        trisa_json_str(&j, out, 0);
        trisa_buf_puts(&j, ", \"next\": ");
        trisa_buf_printf(&b, "trisa-csr -config %s -keyout key.pem -out req.csr", out);
        trisa_json_str(&j, b.data, 0);
        trisa_buf_puts(&j, "}\n");
        if (!j.failed) {
            fputs(j.data, stdout);
            tool_report_printed();
        }
        trisa_buf_free(&j, 0);
        trisa_buf_free(&b, 0);
        return TOOL_EXIT_OK;
    }
    fprintf(stderr,
            "%s: wrote %s; fill in its <placeholders>, then run:\n"
            "  trisa-csr -config %s -keyout key.pem -out req.csr\n",
            PROG, out, out);
    return TOOL_EXIT_OK;
}
