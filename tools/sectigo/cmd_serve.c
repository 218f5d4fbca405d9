/* sectigo serve: run the Sectigo-compatible emulator until SIGINT or SIGTERM. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/support.h"
#include "trisa/common.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

#ifdef TRISA_HAVE_EMULATOR
#include "emulator/emulator.h"

enum {
    O_ADDR = 1,
    O_STATE,
    O_TLS_SELF,
    O_TLS_CERT,
    O_TLS_KEY,
    O_INSECURE,
    O_DELAY,
    O_LIFETIME,
    O_CONFIG,
    O_PROFILE_SET,
    O_PRINT_CONFIG,
    O_HOOKS,
    O_THREADS,
    O_QUIET,
    O_JSON,
    O_HELP
};

static const tool_opt serve_opts[] = {
    {O_ADDR, 'a', "addr", "HOST:PORT",
     "listen here (default 127.0.0.1:8831; port 0 picks one; :PORT all interfaces with TLS "
     "or --insecure-bind) [$SIAS_BIND_ADDR]"},
    {O_STATE, 'd', "state-dir", "DIR", "CA, store and secrets live here (default ./sectigo-state)"},
    {O_TLS_SELF, 0, "tls-self-signed", NULL,
     "serve HTTPS with a certificate from a TLS CA written to DIR/tls-ca.pem"},
    {O_TLS_CERT, 0, "tls-cert", "FILE", "serve HTTPS with this PEM certificate (chain)"},
    {O_TLS_KEY, 0, "tls-key", "FILE", "the PEM key of --tls-cert"},
    {O_INSECURE, 0, "insecure-bind", NULL,
     "allow a non-loopback address without TLS (the test hooks stay loopback-only)"},
    {O_DELAY, 0, "processing-delay", "SECONDS",
     "batches stay PROCESSING this long (default: the config's, 1)"},
    {O_LIFETIME, 0, "cert-lifetime", "DURATION",
     "every certificate is valid this long: 60s, 10m, 12h, 397d (default: each profile's)"},
    {O_CONFIG, 'c', "config", "FILE",
     "accounts, authorities, profiles (default: the compiled-in set; see --print-config)"},
    {O_PROFILE_SET, 0, "profile-set", "SET",
     "the compiled-in set without --config: default, or reference (the reference staging "
     "server's authorities 489, 423 and profiles 85, 17)"},
    {O_PRINT_CONFIG, 0, "print-config", NULL,
     "write the compiled-in configuration (of --profile-set) to stdout and exit"},
    {O_HOOKS, 0, "test-hooks", NULL,
     "serve /_emulator/... (requests, faults, batch states, clock) for client tests"},
    {O_THREADS, 0, "threads", "N", "HTTP worker threads (default 4)"},
    {O_QUIET, 'q', "quiet", NULL, "no request log on stderr"},
    {O_JSON, 0, "json", NULL,
     "the first line is {\"listening\": URL, \"port\": N, ...}; errors as JSON too"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static double parse_seconds(const char *s, int *ok)
{
    char *end = NULL;
    double v = strtod(s, &end);

    *ok = end != s && *end == '\0' && v >= 0 && v <= 86400;
    return v;
}

/* A duration: digits then s, m, h or d; at most 3650 days. */
static long parse_duration(const char *s)
{
    long v = 0, unit = 0;
    size_t n = 0;

    for (; s[n] >= '0' && s[n] <= '9' && n < 12; n++) {
        v = v * 10 + (s[n] - '0');
    }
    if (n > 0 && s[n] != '\0' && s[n + 1] == '\0') {
        unit = s[n] == 's' ? 1 : s[n] == 'm' ? 60 : s[n] == 'h' ? 3600 : s[n] == 'd' ? 86400 : 0;
    }
    if (unit == 0 || v < 1 || v > 3650L * 86400 / unit) {
        return -1;
    }
    return v * unit;
}

/* Go's strconv.ParseBool, which the reference's envconfig uses. */
static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* The reference server's SIAS_* variables (after ./.env). */
static int sias_env(trisa_emu_options *o)
{
    const char *v;
    int b;

    o->addr = getenv("SIAS_BIND_ADDR");
    o->username = getenv("SIAS_AUTH_USERNAME");
    o->password = getenv("SIAS_AUTH_PASSWORD");
    o->subject = getenv("SIAS_AUTH_SUBJECT");
    o->issuer = getenv("SIAS_AUTH_ISSUER");
    o->jwt_secret = getenv("SIAS_AUTH_SECRET");
    o->ca_path = getenv("SIAS_CA_PATH");
    if (o->jwt_secret != NULL && o->jwt_secret[0] == '\0') {
        o->jwt_secret = NULL;
    }
    if (o->ca_path != NULL && o->ca_path[0] == '\0') {
        o->ca_path = NULL;
    }
    if ((v = getenv("SIAS_LOG_LEVEL")) != NULL && v[0] != '\0') {
        /* Request lines are info (2xx, 3xx), warn (4xx) or error (5xx), as the reference
         * server's logger files them. */
        if (strcasecmp(v, "trace") == 0 || strcasecmp(v, "debug") == 0 ||
            strcasecmp(v, "info") == 0) {
            o->log_level = 0;
        } else if (strcasecmp(v, "warn") == 0) {
            o->log_level = 1;
        } else if (strcasecmp(v, "error") == 0) {
            o->log_level = 2;
        } else if (strcasecmp(v, "fatal") == 0 || strcasecmp(v, "panic") == 0) {
            o->log_level = 3;
        } else {
            return tool_usage_error("sectigo serve",
                                    "SIAS_LOG_LEVEL: expected trace, debug, info, warn, error, "
                                    "fatal or panic, got '%s'",
                                    v);
        }
    }
    if ((v = getenv("SIAS_CONSOLE_LOG")) != NULL && v[0] != '\0') {
        if (parse_bool(v, &b) != 0) {
            return tool_usage_error("sectigo serve",
                                    "SIAS_CONSOLE_LOG: expected true or false, "
                                    "got '%s'",
                                    v);
        }
        o->log_json = !b;
    }
    if ((v = getenv("SIAS_MODE")) != NULL && v[0] != '\0' && strcmp(v, "release") != 0 &&
        strcmp(v, "debug") != 0 && strcmp(v, "test") != 0) {
        return tool_usage_error("sectigo serve",
                                "SIAS_MODE: expected release, debug or test, "
                                "got '%s'",
                                v);
    }
    return 0;
}

/* Room for every connection the emulator may hold: raise the soft descriptor limit to
 * the hard one (the default 1,024 is what a slowloris exhausts first). */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void print_json_str(const char *s)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_json_str(&b, s, 0);
    if (!b.failed) {
        fputs(b.data, stdout);
    }
    trisa_buf_free(&b, 0);
}

static void help(void)
{
    printf("usage: sectigo serve [options]\n\n"
           "Run a local Sectigo IoT Manager emulator until SIGINT or SIGTERM.\n"
           "The first line on stdout is 'listening on http://HOST:PORT'.\n\n"
           "Options:\n");
    tool_opt_help(stdout, serve_opts);
    printf("\nEnvironment (also from ./.env, read as godotenv reads it), as the reference\n"
           "staging server takes it:\n"
           "  SIAS_BIND_ADDR        the address (--addr wins)\n"
           "  SIAS_AUTH_USERNAME    replaces the first account's username\n"
           "  SIAS_AUTH_PASSWORD    replaces the first account's password\n"
           "  SIAS_AUTH_SUBJECT     the first account's token subject (sub)\n"
           "  SIAS_AUTH_ISSUER      the tokens' issuer (iss), checked on every token\n"
           "  SIAS_AUTH_SECRET      base64 of the 32-byte token key (default DIR/jwt.key)\n"
           "  SIAS_CA_PATH          PEM issuing CA certificate, its chain and its key\n"
           "  SIAS_LOG_LEVEL        trace|debug|info: every request; warn: 4xx and 5xx;\n"
           "                        error: 5xx; fatal|panic: none\n"
           "  SIAS_CONSOLE_LOG      true: 'METHOD PATH STATUS TIME' lines (the default);\n"
           "                        false: one JSON object a line\n"
           "  SIAS_MODE             release, debug or test (accepted, no effect)\n\n"
           "Exit codes: 0 stopped by a signal, 2 usage, 3 invalid configuration or address\n"
           "(a non-loopback address without TLS or --insecure-bind too), 7 cannot listen,\n"
           "1 other failure.\n");
}

/* "listening on URL" (with --json: the URL, port, state folder, root and TLS CA). */
static void announce(trisa_emu *emu, const trisa_emu_options *o, int port)
{
    if (tool_report_json()) {
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_printf(&b, "%s://%s:%d", trisa_emu_scheme(emu), trisa_emu_host(emu), port);
        printf("{\"listening\": ");
        print_json_str(b.data);
        printf(", \"port\": %d, \"stateDir\": ", port);
        print_json_str(o->state_dir);
        printf(", \"root\": ");
        trisa_buf_free(&b, 0);
        trisa_buf_printf(&b, "%s/ca/root.pem", o->state_dir);
        print_json_str(b.data);
        printf(", \"tlsCa\": ");
        trisa_buf_free(&b, 0);
        trisa_buf_printf(&b, "%s/tls-ca.pem", o->state_dir);
        print_json_str(o->tls_self_signed ? b.data : NULL);
        printf("}\n");
        trisa_buf_free(&b, 0);
        tool_report_printed();
    } else {
        printf("listening on %s://%s:%d\n", trisa_emu_scheme(emu), trisa_emu_host(emu), port);
    }
}

int cmd_serve(int argc, char **argv, sectigo_globals *g)
{
    trisa_emu_options o = TRISA_EMU_OPTIONS_INIT;
    trisa_emu *emu = NULL;
    tool_parser p;
    sigset_t set;
    const char *addr = NULL, *notice;
    int id, port, sig = 0, quiet = 0, ok, print_config = 0;
    long threads;

    (void)g;
    tool_opt_init(&p, argc, argv, serve_opts, "sectigo serve");
    o.state_dir = "sectigo-state";
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error("sectigo serve", "unexpected argument '%s'", p.value);
        case O_ADDR:
            addr = p.value;
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
        case O_INSECURE:
            o.insecure_bind = 1;
            break;
        case O_DELAY:
            o.processing_delay = parse_seconds(p.value, &ok);
            if (!ok) {
                return tool_usage_error("sectigo serve",
                                        "--processing-delay: expected seconds (0-86400), got '%s'",
                                        p.value);
            }
            break;
        case O_LIFETIME:
            if ((o.cert_lifetime = parse_duration(p.value)) < 0) {
                return tool_usage_error("sectigo serve",
                                        "--cert-lifetime: expected a duration such as 60s, 10m, "
                                        "12h or 397d (at most 3650d), got '%s'",
                                        p.value);
            }
            break;
        case O_CONFIG:
            o.config_path = p.value;
            break;
        case O_PROFILE_SET:
            if (trisa_emu_builtin_config(p.value) == NULL) {
                return tool_usage_error("sectigo serve",
                                        "--profile-set: expected default or reference, got '%s'",
                                        p.value);
            }
            o.profile_set = p.value;
            break;
        case O_PRINT_CONFIG:
            print_config = 1;
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
        case O_JSON:
            tool_report_set_json(1);
            break;
        case O_HELP:
            help();
            return TOOL_EXIT_OK;
        }
    }
    if (print_config) {
        fputs(trisa_emu_builtin_config(o.profile_set), stdout);
        return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILURE;
    }
    if (o.tls_self_signed && (o.tls_cert != NULL || o.tls_key != NULL)) {
        return tool_usage_error("sectigo serve",
                                "--tls-self-signed and --tls-cert/--tls-key exclude each other");
    }
    if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
        return tool_usage_error("sectigo serve", "--tls-cert and --tls-key go together");
    }
    if (o.config_path != NULL && o.profile_set != NULL) {
        return tool_usage_error("sectigo serve", "--config and --profile-set exclude each other");
    }
    /* ./.env's SIAS_* variables are in the environment already: main() read the file
     * (sectigo_load_dotenv, as godotenv reads it) before dispatching here. */
    if ((ok = sias_env(&o)) != 0) {
        return ok;
    }
    if (addr != NULL) {
        o.addr = addr;
    }
    o.log = quiet ? NULL : stderr;

    /* Block the stop signals before any thread starts, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "sectigo serve: preparing %s (the first start makes the CA)\n",
                o.state_dir);
    }
    if ((ok = trisa_emu_new(&emu, &o)) != 0) {
        return tool_fail("sectigo serve", ok);
    }
    if (trisa_emu_warning(emu)[0] != '\0') {
        tool_warn("sectigo serve", "%s", trisa_emu_warning(emu));
    }
    port = trisa_emu_start(emu);
    if (port < 0) {
        trisa_emu_free(emu);
        return tool_fail("sectigo serve", port);
    }
    notice = trisa_emu_notice(emu);
    if (notice[0] != '\0') {
        fprintf(stderr, "sectigo serve: %s\n", notice);
    }
    announce(emu, &o, port);
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
    return tool_error("sectigo serve", TOOL_EXIT_FAILURE, "unsupported",
                      "this build has no emulator (TRISA_BUILD_EMULATOR=OFF)");
}
#endif
