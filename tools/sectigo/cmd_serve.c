/* sectigo serve: run the Sectigo-compatible emulator until SIGINT or SIGTERM. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

#ifdef TRISA_HAVE_EMULATOR
#include "emulator/emulator.h"

enum {
    O_ADDR = 1,
    O_STATE,
    O_TLS_SELF,
    O_TLS_CERT,
    O_TLS_KEY,
    O_DELAY,
    O_CONFIG,
    O_HOOKS,
    O_THREADS,
    O_QUIET,
    O_HELP
};

static const tool_opt serve_opts[] = {
    {O_ADDR, 'a', "addr", "HOST:PORT",
     "listen here (default 127.0.0.1:8831; port 0 picks one) [$SIAS_BIND_ADDR]"},
    {O_STATE, 'd', "state-dir", "DIR", "CA, store and secrets live here (default ./sectigo-state)"},
    {O_TLS_SELF, 0, "tls-self-signed", NULL,
     "serve HTTPS with a certificate from a TLS CA written to DIR/tls-ca.pem"},
    {O_TLS_CERT, 0, "tls-cert", "FILE", "serve HTTPS with this PEM certificate (chain)"},
    {O_TLS_KEY, 0, "tls-key", "FILE", "the PEM key of --tls-cert"},
    {O_DELAY, 0, "processing-delay", "SECONDS",
     "batches stay PROCESSING this long (default: the config's, 1)"},
    {O_CONFIG, 'c', "config", "FILE",
     "accounts, authorities, profiles (default: the installed emulator.json)"},
    {O_HOOKS, 0, "test-hooks", NULL,
     "serve /_emulator/requests and /_emulator/faults for client tests"},
    {O_THREADS, 0, "threads", "N", "HTTP worker threads (default 4)"},
    {O_QUIET, 'q', "quiet", NULL, "no request log on stderr"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

/* <bindir>/../share/trisa/emulator.json beside this executable, else the install path. */
static const char *default_config(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(buf, cap, "%s/../%s/emulator.json", exe, TRISA_REL_DATADIR);
            struct stat sb;
            if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode)) {
                return buf;
            }
        }
    }
    snprintf(buf, cap, "%s/emulator.json", TRISA_DATADIR);
    return buf;
}

static double parse_seconds(const char *s, int *ok)
{
    char *end = NULL;
    double v = strtod(s, &end);

    *ok = end != s && *end == '\0' && v >= 0 && v <= 86400;
    return v;
}

int cmd_serve(int argc, char **argv, sectigo_globals *g)
{
    trisa_emu_options o = TRISA_EMU_OPTIONS_INIT;
    trisa_emu *emu = NULL;
    tool_parser p;
    char cfgbuf[PATH_MAX + 64];
    sigset_t set;
    int id, port, sig = 0, quiet = 0, ok;
    long threads;

    (void)g;
    o.addr = getenv("SIAS_BIND_ADDR");
    o.username = getenv("SIAS_AUTH_USERNAME");
    o.password = getenv("SIAS_AUTH_PASSWORD");
    o.state_dir = "sectigo-state";
    tool_opt_init(&p, argc, argv, serve_opts, "sectigo serve");
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error("sectigo serve", "unexpected argument '%s'", p.value);
        case O_ADDR:
            o.addr = p.value;
            break;
        case O_STATE:
            o.state_dir = p.value;
            break;
        case O_TLS_SELF:
            o.tls_self_signed = 1;
            break;
        case O_TLS_CERT:
            o.tls_cert = p.value;
            break;
        case O_TLS_KEY:
            o.tls_key = p.value;
            break;
        case O_DELAY:
            o.processing_delay = parse_seconds(p.value, &ok);
            if (!ok) {
                return tool_usage_error("sectigo serve",
                                        "--processing-delay: expected seconds (0-86400), got '%s'",
                                        p.value);
            }
            break;
        case O_CONFIG:
            o.config_path = p.value;
            break;
        case O_HOOKS:
            o.test_hooks = 1;
            break;
        case O_THREADS:
            if (tool_opt_long("sectigo serve", "--threads", p.value, 1, 64, &threads) != 0) {
                return TOOL_EXIT_USAGE;
            }
            o.threads = (unsigned)threads;
            break;
        case O_QUIET:
            quiet = 1;
            break;
        case O_HELP:
            printf("usage: sectigo serve [options]\n\n"
                   "Run a local Sectigo IoT Manager emulator until SIGINT or SIGTERM.\n"
                   "The first line on stdout is 'listening on http://HOST:PORT'.\n\n"
                   "Options:\n");
            tool_opt_help(stdout, serve_opts);
            printf("\nEnvironment: SIAS_AUTH_USERNAME and SIAS_AUTH_PASSWORD replace the first\n"
                   "account's credentials; SIAS_BIND_ADDR sets the address.\n");
            return TOOL_EXIT_OK;
        }
    }
    if (o.tls_self_signed && (o.tls_cert != NULL || o.tls_key != NULL)) {
        return tool_usage_error("sectigo serve",
                                "--tls-self-signed and --tls-cert/--tls-key exclude each other");
    }
    if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
        return tool_usage_error("sectigo serve", "--tls-cert and --tls-key go together");
    }
    if (o.config_path == NULL) {
        o.config_path = default_config(cfgbuf, sizeof(cfgbuf));
    }
    o.log = quiet ? NULL : stderr;

    /* Block the stop signals before any thread starts, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "sectigo serve: preparing %s (the first start makes the CA)\n",
                o.state_dir);
    }
    if ((ok = trisa_emu_new(&emu, &o)) != 0) {
        return tool_fail("sectigo serve", ok);
    }
    port = trisa_emu_start(emu);
    if (port < 0) {
        trisa_emu_free(emu);
        return tool_fail("sectigo serve", port);
    }
    printf("listening on %s://%s:%d\n", trisa_emu_scheme(emu), trisa_emu_host(emu), port);
    fflush(stdout);
    while (sigwait(&set, &sig) != 0) {
    }
    fprintf(stderr, "sectigo serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    trisa_emu_free(emu);
    return TOOL_EXIT_OK;
}
#else
int cmd_serve(int argc, char **argv, sectigo_globals *g)
{
    (void)argc;
    (void)argv;
    (void)g;
    fprintf(stderr, "sectigo serve: this build has no emulator (TRISA_BUILD_EMULATOR=OFF)\n");
    return TOOL_EXIT_FAILURE;
}
#endif
