/* What the sectigo commands share: opening a client from the global flags, printing
 * JSON, reading .env. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "trisa/common.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

static void warn_cb(const char *message, void *data)
{
    tool_warn((const char *)data, "%s", message);
}

int sectigo_open(struct trisa_sectigo **out, const sectigo_globals *g, const char *prog)
{
    trisa_sectigo_options opts = TRISA_SECTIGO_OPTIONS_INIT;
    char *pw = NULL;
    int rc;

    *out = NULL;
    if (g->password_file != NULL) {
        char spec[4096];
        snprintf(spec, sizeof(spec), "file:%s", g->password_file);
        if ((rc = trisa_secret_read(&pw, NULL, spec, NULL)) != 0) {
            return tool_fail(prog, rc);
        }
    }
    opts.endpoint = g->endpoint;
    opts.environment = g->environment;
    opts.username = g->username;
    opts.password = pw != NULL ? pw : g->password;
    opts.profile = g->profile;
    opts.ca_bundle = g->cacert;
    opts.warn = warn_cb;
    opts.warn_data = (void *)prog;
    rc = trisa_sectigo_new(out, &opts);
    trisa_secret_free(pw);
    if (rc != 0) {
        return tool_fail(prog, rc);
    }
    return 0;
}

int sectigo_print_json(const char *prog, int rc, char *json)
{
    if (rc != 0) {
        return tool_fail(prog, rc);
    }
    fputs(json, stdout);
    free(json);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: error: cannot write to standard output\n", prog);
        return TOOL_EXIT_FAILURE;
    }
    return TOOL_EXIT_OK;
}

void sectigo_help(const char *usage, const char *about, const void *opts)
{
    printf("usage: %s\n\n%s\n\nOptions:\n", usage, about);
    tool_opt_help(stdout, (const tool_opt *)opts);
    printf("\nGlobal options (before the command) are listed by 'sectigo --help'.\n");
}

int sectigo_no_options(int argc, char **argv, const char *prog, const char *usage,
                       const char *about)
{
    enum { O_HELP = 1 };
    static const tool_opt opts[] = {
        {O_HELP, 'h', "help", NULL, "show this help"},
        TOOL_OPT_END,
    };
    tool_parser p;
    int id;

    tool_opt_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        if (id == O_HELP) {
            sectigo_help(usage, about, opts);
            return TOOL_EXIT_OK;
        }
        if (id == TOOL_OPT_POSITIONAL) {
            return tool_usage_error(prog, "unexpected argument '%s'", p.value);
        }
        return TOOL_EXIT_USAGE;
    }
    return -1;
}

/* The value part of a .env line: unquoted (trailing comment and blanks dropped),
 * 'single quoted' (literal) or "double quoted" (\n, \", \\ understood). */
static int dotenv_value(char *out, size_t cap, const char *v)
{
    size_t n = 0;
    if (*v == '\'' || *v == '"') {
        char q = *v++;
        while (*v != '\0' && *v != q) {
            char c = *v++;
            if (q == '"' && c == '\\' && *v != '\0') {
                c = *v++;
                c = c == 'n' ? '\n' : c;
            }
            if (n + 1 >= cap) {
                return -1;
            }
            out[n++] = c;
        }
        if (*v != q) {
            return -1;
        }
    } else {
        while (*v != '\0' && !(*v == '#' && n > 0 && isspace((unsigned char)out[n - 1]))) {
            if (n + 1 >= cap) {
                return -1;
            }
            out[n++] = *v++;
        }
        while (n > 0 && isspace((unsigned char)out[n - 1])) {
            n--;
        }
    }
    out[n] = '\0';
    return 0;
}

void sectigo_load_dotenv(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char value[4096];
    char *next;

    /* The file holds the API password: read it whole (bounded, regular files only) and
     * wipe it afterwards, rather than through stdio's unwiped buffers. */
    if (trisa_file_read(&data, &len, path, 1u << 20) != 0) {
        trisa_error_clear();
        return;
    }
    for (char *line = (char *)data; line != NULL; line = next) {
        char *p = line, *eq, *name_end;
        size_t n;
        if ((next = strchr(line, '\n')) != NULL) {
            *next++ = '\0';
        }
        n = strlen(line);
        while (n > 0 && line[n - 1] == '\r') {
            line[--n] = '\0';
        }
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '#' || *p == '\0') {
            continue;
        }
        if (strncmp(p, "export ", 7) == 0) {
            p += 7;
            while (isspace((unsigned char)*p)) {
                p++;
            }
        }
        if ((eq = strchr(p, '=')) == NULL) {
            continue;
        }
        name_end = eq;
        while (name_end > p && isspace((unsigned char)name_end[-1])) {
            name_end--;
        }
        *name_end = '\0';
        /* Only the tool's own variables: a .env must not steer anything else. */
        if (strncmp(p, "SECTIGO_", 8) != 0) {
            continue;
        }
        eq++;
        while (*eq == ' ' || *eq == '\t') {
            eq++;
        }
        if (dotenv_value(value, sizeof(value), eq) == 0) {
            setenv(p, value, 0); /* the environment wins, as with the reference */
        }
    }
    OPENSSL_cleanse(data, len + 1);
    free(data);
    OPENSSL_cleanse(value, sizeof(value));
}
