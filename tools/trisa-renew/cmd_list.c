/* trisa-renew list [--json | --prometheus] and trisa-renew check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/support.h"
#include "trisa/lineage.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"
#include "trisa/bundle.h"
#include "tools/trisa-renew/renew.h"

enum { O_STATE = 1, O_JSON, O_PROM, O_OUTPUT, O_NOW, O_VERBOSE, O_HELP };

static const tool_opt list_opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_JSON, 0, "json", NULL, "JSON (format 1: see man trisa-renew)"},
    {O_PROM, 0, "prometheus", NULL, "Prometheus text (node_exporter textfile)"},
    {O_OUTPUT, 'o', "output", "FILE", "write to FILE atomically, not stdout"},
    {O_NOW, 0, "now", "TIME", "judge days left and due-ness as at TIME"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static const tool_opt check_opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_NOW, 0, "now", "TIME", "judge due-ness as at TIME"},
    {O_VERBOSE, 'v', "verbose", NULL, "print the names of the lineages that are due"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

static const char *iso(char buf[21], time_t t)
{
    struct tm tm;
    if (t == 0 || gmtime_r(&t, &tm) == NULL) {
        buf[0] = '\0';
        return buf;
    }
    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* A JSON string or null: the project's one escaper. */
static void json_str(trisa_buf *b, const char *s)
{
    trisa_json_str(b, s, 0);
}

static void json_time(trisa_buf *b, time_t t)
{
    char buf[21];
    json_str(b, t != 0 ? iso(buf, t) : NULL);
}

static long days_left(time_t not_after, time_t now)
{
    /* Whole days, rounded down; negative once expired. */
    long long d = (long long)not_after - (long long)now;
    return (long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

void renew_json_lineage(trisa_buf *b, const trisa_lineage *l, time_t now)
{
    trisa_lineage_info i;
    int back_off = 0, due = trisa_lineage_due(l, now, &back_off);
    trisa_lineage_get_info(&i, l, now);
    trisa_buf_puts(b, "{\"name\":");
    json_str(b, i.name);
    trisa_buf_printf(b, ",\"imported\":%s,\"version\":%u,\"versions\":%u,\"live_dir\":",
                     i.imported ? "true" : "false", i.current_version, i.versions);
    json_str(b, i.live_dir);
    trisa_buf_puts(b, ",\"subject\":");
    json_str(b, i.subject);
    trisa_buf_puts(b, ",\"sans\":[");
    for (size_t k = 0; k < i.san_count; k++) {
        if (k > 0) {
            trisa_buf_puts(b, ",");
        }
        json_str(b, i.sans[k]);
    }
    trisa_buf_puts(b, "],\"serial\":");
    json_str(b, i.serial);
    trisa_buf_puts(b, ",\"not_before\":");
    json_time(b, i.not_before);
    trisa_buf_puts(b, ",\"not_after\":");
    json_time(b, i.not_after);
    if (i.not_after != 0) {
        trisa_buf_printf(b, ",\"days_left\":%ld", days_left(i.not_after, now));
    } else {
        trisa_buf_puts(b, ",\"days_left\":null");
    }
    trisa_buf_puts(b, ",\"renewal_due\":");
    json_time(b, i.renewal_due);
    trisa_buf_printf(b, ",\"due\":%s,\"backing_off\":%s,\"key\":{\"spec\":", due ? "true" : "false",
                     back_off ? "true" : "false");
    json_str(b, i.key_spec);
    trisa_buf_puts(b, ",\"type\":");
    json_str(b, i.key_location == NULL                       ? NULL
                : strncmp(i.key_location, "pkcs11:", 7) == 0 ? "pkcs11"
                                                             : "file");
    trisa_buf_puts(b, ",\"location\":");
    json_str(b, i.key_location);
    trisa_buf_printf(b, "},\"profile_id\":%lld,\"batch_id\":%lld,\"last_attempt\":", i.profile_id,
                     i.batch_id);
    json_time(b, i.last_attempt);
    trisa_buf_puts(b, ",\"last_result\":");
    json_str(b, i.last_result);
    trisa_buf_printf(b, ",\"last_exit\":%d,\"last_success\":", i.last_exit);
    json_time(b, i.last_success);
    trisa_buf_printf(b, ",\"consecutive_failures\":%u,\"next_attempt\":", i.consecutive_failures);
    json_time(b, i.next_attempt);
    trisa_buf_printf(b, ",\"pending\":%s}", i.pending ? "true" : "false");
}

/* A Prometheus label value: backslash, double quote and line feed escaped. */
static void prom_label(trisa_buf *b, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            trisa_buf_printf(b, "\\%c", *p);
        } else if (*p == '\n') {
            trisa_buf_puts(b, "\\n");
        } else {
            trisa_buf_append(b, p, 1);
        }
    }
}

typedef struct metric {
    const char *name;
    const char *help;
} metric;

static const metric metrics[] = {
    {"trisa_certificate_not_after_seconds",
     "Expiry of the lineage's live certificate, Unix time (absent before the first one)."},
    {"trisa_certificate_renewal_due_seconds",
     "When renewal of the lineage is due, Unix time (0: due now, no certificate)."},
    {"trisa_renew_last_success_seconds",
     "Last successful renewal or import of the lineage, Unix time (0: never)."},
    {"trisa_renew_consecutive_failures",
     "Failed renewal attempts of the lineage since its last success."},
};

static void prometheus(trisa_buf *b, trisa_lineage **ls, size_t n)
{
    for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        trisa_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", metrics[m].name, metrics[m].help,
                         metrics[m].name);
        for (size_t k = 0; k < n; k++) {
            trisa_lineage_info i;
            long long v;
            trisa_lineage_get_info(&i, ls[k], 0);
            if (m == 0) {
                if (i.not_after == 0) {
                    continue;
                }
                v = (long long)i.not_after;
            } else if (m == 1) {
                v = (long long)i.renewal_due;
            } else if (m == 2) {
                v = (long long)i.last_success;
            } else {
                v = i.consecutive_failures;
            }
            trisa_buf_printf(b, "%s{lineage=\"", metrics[m].name);
            prom_label(b, i.name);
            trisa_buf_printf(b, "\"} %lld\n", v);
        }
    }
}

static void text(trisa_buf *b, trisa_lineage **ls, size_t n, time_t now)
{
    char t1[21], t2[21];
    if (n == 0) {
        trisa_buf_puts(b, "no lineages (add one with 'trisa-renew add NAME --config ... "
                          "--profile ...')\n");
    }
    for (size_t k = 0; k < n; k++) {
        trisa_lineage_info i;
        int back_off = 0, due = trisa_lineage_due(ls[k], now, &back_off);
        trisa_lineage_get_info(&i, ls[k], now);
        trisa_buf_printf(b, "%s%s%s\n", k > 0 ? "\n" : "", i.name, i.imported ? " (imported)" : "");
        if (i.current_version == 0) {
            trisa_buf_puts(b, "  no certificate yet");
            trisa_buf_puts(b, i.imported ? ": import one\n" : ": due now\n");
        } else {
            trisa_buf_printf(b, "  subject:     %s\n", i.subject ? i.subject : "");
            for (size_t s = 0; s < i.san_count; s++) {
                trisa_buf_printf(b, "  %-12s %s\n", s == 0 ? "names:" : "", i.sans[s]);
            }
            trisa_buf_printf(b, "  serial:      %s\n", i.serial ? i.serial : "");
            trisa_buf_printf(b, "  valid:       %s to %s (%ld days left%s)\n",
                             iso(t1, i.not_before), iso(t2, i.not_after),
                             days_left(i.not_after, now), i.not_after <= now ? ", EXPIRED" : "");
            trisa_buf_printf(b, "  renewal:     %s%s\n", iso(t1, i.renewal_due),
                             due ? (back_off ? " (due; backing off after failures)" : " (due)")
                                 : "");
            trisa_buf_printf(b, "  key:         %s (%s)\n", i.key_location ? i.key_location : "",
                             i.key_spec ? i.key_spec : "from the bundle");
            trisa_buf_printf(b, "  version:     %u of %u, %s\n", i.current_version, i.versions,
                             i.live_dir ? i.live_dir : "");
        }
        if (i.last_attempt != 0) {
            trisa_buf_printf(b, "  last:        %s %s\n", iso(t1, i.last_attempt),
                             i.last_result ? i.last_result : "");
        }
        if (i.consecutive_failures > 0) {
            trisa_buf_printf(b, "  failures:    %u; next attempt not before %s\n",
                             i.consecutive_failures, iso(t1, i.next_attempt));
        }
        if (i.pending) {
            trisa_buf_puts(b,
                           "  pending:     a renewal is in progress (the next run continues it)\n");
        }
    }
}

static int load_all(trisa_lineage ***out, size_t *n, const char *state_dir, char **names,
                    size_t nnames)
{
    char **all = NULL;
    size_t nall = 0;
    trisa_lineage **ls = NULL;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (nnames == 0) {
        if ((rc = trisa_lineage_names(&all, &nall, state_dir)) != 0) {
            return rc;
        }
        names = all;
        nnames = nall;
    }
    if ((ls = calloc(nnames + 1, sizeof(*ls))) == NULL) {
        rc = TRISA_ENOMEM;
        goto done;
    }
    for (size_t k = 0; k < nnames; k++) {
        if ((rc = trisa_lineage_load(&ls[k], state_dir, names[k])) != 0) {
            for (size_t j = 0; j < k; j++) {
                trisa_lineage_free(ls[j]);
            }
            free(ls);
            ls = NULL;
            goto done;
        }
    }
    *out = ls;
    *n = nnames;
done:
    trisa_lineage_names_free(all, nall);
    return rc;
}

static void free_all(trisa_lineage **ls, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        trisa_lineage_free(ls[k]);
    }
    free(ls);
}

int cmd_list(int argc, char **argv)
{
    tool_parser p;
    const char *state_dir = NULL, *output = NULL;
    char **names = calloc((size_t)argc + 1, sizeof(char *));
    size_t nnames = 0, n = 0;
    trisa_lineage **ls = NULL;
    trisa_buf b = TRISA_BUF_INIT;
    time_t now = 0;
    int id, rc, json = 0, prom = 0, exit_code = TOOL_EXIT_OK;

    if (names == NULL) {
        return tool_fail(RENEW_PROG, TRISA_ENOMEM);
    }
    tool_opt_init(&p, argc, argv, list_opts, "trisa-renew list");
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            exit_code = TOOL_EXIT_USAGE;
            goto done;
        case TOOL_OPT_POSITIONAL:
            names[nnames++] = (char *)p.value;
            break;
        case O_STATE:
            state_dir = p.value;
            break;
        case O_JSON:
            json = 1;
            tool_report_set_json(1);
            break;
        case O_PROM:
            prom = 1;
            break;
        case O_OUTPUT:
            output = p.value;
            break;
        case O_NOW:
            if (trisa_bundle_parse_time(&now, p.value) != 0) {
                exit_code = tool_usage_error("trisa-renew list",
                                             "--now '%s': expected YYYY-MM-DD, "
                                             "YYYY-MM-DDTHH:MM:SSZ or @EPOCH",
                                             p.value);
                goto done;
            }
            break;
        case O_HELP:
            renew_help(stdout, "trisa-renew list [--json | --prometheus] [-o FILE] [NAME...]",
                       "Every lineage (or those named): subject, names, serial, validity, when\n"
                       "renewal is due, where the key lives, the last attempt and its result.",
                       list_opts, "Exit codes: 0 listed, 2 usage, 3 a lineage file is corrupt.");
            goto done;
        }
    }
    if (json && prom) {
        exit_code =
            tool_usage_error("trisa-renew list", "--json and --prometheus exclude each other");
        goto done;
    }
    if (now == 0) {
        now = time(NULL);
    }
    if ((rc = load_all(&ls, &n, state_dir, names, nnames)) != 0) {
        exit_code = tool_fail(RENEW_PROG, rc);
        goto done;
    }
    if (json) {
        trisa_buf_puts(&b, "{\"format\":1,\"lineages\":[");
        for (size_t k = 0; k < n; k++) {
            if (k > 0) {
                trisa_buf_puts(&b, ",");
            }
            renew_json_lineage(&b, ls[k], now);
        }
        trisa_buf_puts(&b, "]}\n");
    } else if (prom) {
        prometheus(&b, ls, n);
    } else {
        text(&b, ls, n, now);
    }
    if (b.failed) {
        exit_code = tool_fail(RENEW_PROG, TRISA_ENOMEM);
    } else if (output != NULL) {
        /* Whole or not at all: a textfile collector never reads half a file. */
        if ((rc = trisa_file_write_atomic(output, b.data, b.len, 0644, TRISA_WRITE_REPLACE)) != 0) {
            exit_code = tool_fail(RENEW_PROG, rc);
        }
    } else {
        fwrite(b.data, 1, b.len, stdout);
        if (json) {
            tool_report_printed();
        }
    }
done:
    trisa_buf_free(&b, 0);
    free_all(ls, n);
    free(names);
    return exit_code;
}

int cmd_check(int argc, char **argv)
{
    tool_parser p;
    const char *state_dir = NULL;
    char **names = calloc((size_t)argc + 1, sizeof(char *));
    size_t nnames = 0, n = 0;
    trisa_lineage **ls = NULL;
    time_t now = 0;
    int id, rc, verbose = 0, exit_code = CHECK_NOT_DUE;

    if (names == NULL) {
        return CHECK_ERROR;
    }
    tool_opt_init(&p, argc, argv, check_opts, "trisa-renew check");
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            exit_code = CHECK_ERROR;
            goto done;
        case TOOL_OPT_POSITIONAL:
            names[nnames++] = (char *)p.value;
            break;
        case O_STATE:
            state_dir = p.value;
            break;
        case O_NOW:
            if (trisa_bundle_parse_time(&now, p.value) != 0) {
                tool_usage_error("trisa-renew check",
                                 "--now '%s': expected YYYY-MM-DD, "
                                 "YYYY-MM-DDTHH:MM:SSZ or @EPOCH",
                                 p.value);
                exit_code = CHECK_ERROR;
                goto done;
            }
            break;
        case O_VERBOSE:
            verbose = 1;
            break;
        case O_HELP:
            renew_help(stdout, "trisa-renew check [-v] [NAME...]",
                       "Says, by its exit code only, whether any lineage (or any named one) is\n"
                       "due for renewal; a lineage backing off after failures is not due.\n"
                       "Made for systemd's ExecCondition=, which runs the service on 0, skips\n"
                       "it on 1 to 254 and fails it on 255.",
                       check_opts,
                       "Exit codes: 0 something is due, 1 nothing is due, 255 an error (bad\n"
                       "command line, unknown or corrupt lineage).");
            exit_code = TOOL_EXIT_OK;
            goto done;
        }
    }
    if ((rc = load_all(&ls, &n, state_dir, names, nnames)) != 0) {
        tool_fail(RENEW_PROG, rc);
        exit_code = CHECK_ERROR;
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        int back_off = 0;
        trisa_lineage_info i;
        trisa_lineage_get_info(&i, ls[k], now);
        /* Imported lineages are renewed by importing: they never make the timer run. */
        if (!i.imported && trisa_lineage_due(ls[k], now, &back_off) && !back_off) {
            exit_code = CHECK_DUE;
            if (verbose) {
                printf("%s\n", i.name);
            }
        }
    }
done:
    free_all(ls, n);
    free(names);
    return exit_code;
}
