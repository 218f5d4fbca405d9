/* One way every tool reports: stderr for people, one JSON document on stdout for
 * machines (see report.h). */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/common/exit.h"
#include "tools/common/report.h"

#define MAX_DETAILS 64

static struct {
    const char *prog;
    int json;
    int printed;   /* the tool printed its own document */
    int exit_code; /* of the first error recorded, 0: none */
    char code[32]; /* of the first error recorded */
    char *details[MAX_DETAILS];
    size_t ndetails;
    char *extra; /* members beside "error" */
    int handler; /* our SIGINT handler is installed */
} st = {"trisa", 0, 0, 0, "", {NULL}, 0, NULL, 0};

/* What the SIGINT handler writes, made ready beforehand (it may only write()). */
static char sig_text[1024];
static char sig_json[1536];
static volatile sig_atomic_t sig_ready;

static int is_json_flag(const char *a, int single_dash)
{
    const char *name = strncmp(a, "--", 2) == 0 ? a + 2 : single_dash && a[0] == '-' ? a + 1 : NULL;
    if (name == NULL || strncmp(name, "json", 4) != 0) {
        return -1;
    }
    name += 4;
    if (*name == '\0') {
        return 1;
    }
    if (*name != '=') {
        return -1;
    }
    name++;
    if (strcmp(name, "true") == 0 || strcmp(name, "1") == 0 || strcmp(name, "t") == 0 ||
        strcmp(name, "T") == 0 || strcmp(name, "TRUE") == 0 || strcmp(name, "True") == 0) {
        return 1;
    }
    return 0;
}

static void on_sigint(int sig)
{
    if (sig_ready) {
        size_t n = strlen(sig_text);
        if (n > 0 && write(STDERR_FILENO, sig_text, n) < 0) {
            /* nothing to do: the process ends anyway */
        }
        n = strlen(sig_json);
        if (n > 0 && write(STDOUT_FILENO, sig_json, n) < 0) {
            /* as above */
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Prepare what Ctrl-C prints; install the handler once there is something to print. */
static void prepare_interrupt(const char *hint)
{
    trisa_buf j = TRISA_BUF_INIT;
    trisa_buf m = TRISA_BUF_INIT;
    struct sigaction sa, old;

    sig_ready = 0;
    trisa_buf_puts(&m, "interrupted");
    if (hint != NULL) {
        trisa_buf_printf(&m, ": %s", hint);
    }
    sig_text[0] = '\0';
    if (hint != NULL && m.data != NULL) {
        snprintf(sig_text, sizeof(sig_text), "\n%s: %s\n", st.prog, m.data);
    }
    sig_json[0] = '\0';
    if (st.json && m.data != NULL) {
        trisa_buf_printf(&j, "{\"error\": {\"exit\": %d, \"code\": \"interrupted\", \"message\": ",
                         TOOL_EXIT_INTERRUPTED);
        trisa_json_str(&j, m.data, 0);
        trisa_buf_puts(&j, "}}\n");
        if (!j.failed && j.len < sizeof(sig_json)) {
            memcpy(sig_json, j.data, j.len + 1);
        }
    }
    trisa_buf_free(&j, 0);
    trisa_buf_free(&m, 0);
    if (!st.handler && (sig_text[0] != '\0' || sig_json[0] != '\0')) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        /* A SIGINT that is ignored (a background job of a non-interactive shell) stays so. */
        if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN &&
            sigaction(SIGINT, &sa, NULL) == 0) {
            st.handler = 1;
        }
    }
    sig_ready = 1;
}

void tool_report_init(const char *prog, int argc, char **argv, int single_dash)
{
    st.prog = prog;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        int v = is_json_flag(argv[i], single_dash);
        if (v >= 0) {
            st.json = v;
        }
    }
    prepare_interrupt(NULL);
}

void tool_report_set_json(int on)
{
    if (st.json != on) {
        st.json = on;
        prepare_interrupt(NULL);
    }
}

int tool_report_json(void)
{
    return st.json;
}

const char *tool_report_prog(void)
{
    return st.prog;
}

void tool_report_note(int exit_code, const char *code, const char *message)
{
    if (st.exit_code == 0) {
        st.exit_code = exit_code;
        snprintf(st.code, sizeof(st.code), "%s", code != NULL ? code : tool_exit_name(exit_code));
    }
    if (st.ndetails < MAX_DETAILS && message != NULL) {
        char *copy = strdup(message);
        if (copy != NULL) {
            st.details[st.ndetails++] = copy;
        }
    }
}

int tool_error(const char *prog, int exit_code, const char *code, const char *fmt, ...)
{
    trisa_buf b = TRISA_BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    trisa_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: error: %s\n", prog, b.data != NULL ? b.data : "out of memory");
    tool_report_note(exit_code, code, b.data != NULL ? b.data : "out of memory");
    trisa_buf_free(&b, 0);
    return exit_code;
}

void tool_report_extra(const char *members)
{
    free(st.extra);
    st.extra = members != NULL ? strdup(members) : NULL;
}

void tool_report_printed(void)
{
    st.printed = 1;
}

static void print_error_document(int rc)
{
    trisa_buf b = TRISA_BUF_INIT;
    const char *code = st.exit_code != 0 ? st.code : tool_exit_name(rc);
    trisa_buf_printf(&b, "{\"error\": {\"exit\": %d, \"code\": ", rc);
    trisa_json_str(&b, code, 0);
    trisa_buf_puts(&b, ", \"message\": ");
    if (st.ndetails > 0) {
        trisa_json_str(&b, st.details[0], 0);
    } else {
        trisa_buf_printf(&b, "\"failed with exit code %d\"", rc);
    }
    if (st.ndetails > 1) {
        trisa_buf_puts(&b, ", \"details\": [");
        for (size_t i = 0; i < st.ndetails; i++) {
            trisa_buf_puts(&b, i > 0 ? ", " : "");
            trisa_json_str(&b, st.details[i], 0);
        }
        trisa_buf_puts(&b, "]");
    }
    trisa_buf_puts(&b, "}");
    if (st.extra != NULL && st.extra[0] != '\0') {
        trisa_buf_printf(&b, ", %s", st.extra);
    }
    trisa_buf_puts(&b, "}\n");
    if (!b.failed) {
        fputs(b.data, stdout);
    }
    trisa_buf_free(&b, 0);
}

int tool_finish(int rc)
{
    if (st.json && rc != 0 && !st.printed) {
        print_error_document(rc);
        st.printed = 1;
    }
    for (size_t i = 0; i < st.ndetails; i++) {
        free(st.details[i]);
    }
    st.ndetails = 0;
    free(st.extra);
    st.extra = NULL;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: error: cannot write to standard output\n", st.prog);
        return rc != 0 ? rc : TOOL_EXIT_FAILURE;
    }
    return rc;
}

int tool_version(void)
{
    if (st.json) {
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_puts(&b, "{\"program\": ");
        trisa_json_str(&b, st.prog, 0);
        trisa_buf_puts(&b, ", \"version\": ");
        trisa_json_str(&b, trisa_version(), 0);
        trisa_buf_puts(&b, ", \"package\": \"trisa-certkit\"}\n");
        if (!b.failed) {
            fputs(b.data, stdout);
        }
        trisa_buf_free(&b, 0);
        st.printed = 1;
    } else {
        printf("%s version %s (trisa-certkit)\n", st.prog, trisa_version());
    }
    return TOOL_EXIT_OK;
}

void tool_report_interrupt_hint(const char *text)
{
    prepare_interrupt(text);
}

const char *tool_code_name(int err)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
#define TRISA_X_NAME(name, value, text) {value, #name},
        TRISA_ERRORS(TRISA_X_NAME)
#undef TRISA_X_NAME
    };
    static char out[32];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].code == err) {
            const char *n = names[i].name + strlen("TRISA_");
            size_t k = 0;
            if (n[0] == 'E' && strcmp(n, "ERROR") != 0) {
                n++;
            }
            for (; n[k] != '\0' && k + 1 < sizeof(out); k++) {
                out[k] = (char)tolower((unsigned char)n[k]);
            }
            out[k] = '\0';
            return out;
        }
    }
    return "error";
}

const char *tool_exit_name(int exit_code)
{
    switch (exit_code) {
    case TOOL_EXIT_OK:
        return "ok";
    case TOOL_EXIT_USAGE:
        return "usage";
    case TOOL_EXIT_INPUT:
        return "input";
    case TOOL_EXIT_EXISTS:
        return "exists";
    case TOOL_EXIT_AUTH:
        return "auth";
    case TOOL_EXIT_API:
        return "api";
    case TOOL_EXIT_NETWORK:
        return "network";
    case TOOL_EXIT_REJECTED:
        return "rejected";
    case TOOL_EXIT_PENDING:
        return "pending";
    case TOOL_EXIT_VERIFY:
        return "verify";
    case TOOL_EXIT_PASSWORD:
        return "password";
    case TOOL_EXIT_TOKEN:
        return "token";
    case TOOL_EXIT_PIN:
        return "pin";
    case TOOL_EXIT_ENV:
        return "environment";
    case TOOL_EXIT_BUSY:
        return "busy";
    case TOOL_EXIT_INTERRUPTED:
        return "interrupted";
    default:
        return "failure";
    }
}
