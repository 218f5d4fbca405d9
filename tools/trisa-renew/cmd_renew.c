/* trisa-renew [renew] [NAME...]: renew every lineage that is due, --jobs at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/support.h"
#include "trisa/lineage.h"
#include "tools/common/exit.h"
#include "tools/common/report.h"
#include "trisa/bundle.h"
#include "tools/trisa-renew/renew.h"

enum {
    O_STATE = 1,
    O_FORCE,
    O_REUSE,
    O_DRY,
    O_JOBS,
    O_PRUNE,
    O_KEEP,
    O_REVOKE,
    O_INTERVAL,
    O_TIMEOUT,
    O_HOOK_TIMEOUT,
    O_NO_HOOKS,
    O_NOW,
    O_QUIET,
    O_VERBOSE,
    O_FORCE_UPLOAD,
    O_BATCH,
    O_JSON,
    O_HELP,
};

static const tool_opt opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder (see trisa-renew --help)"},
    {O_FORCE, 'f', "force", NULL, "renew now, due or not, back-off or not"},
    {O_REUSE, 0, "reuse-key", NULL, "keep the live key (still a new request)"},
    {O_DRY, 'n', "dry-run", NULL, "check all up to the upload; say what it would do"},
    {O_JOBS, 'j', "jobs", "N", "renew N lineages at a time (default 1)"},
    {O_PRUNE, 0, "prune", NULL, "remove old versions' token keys after the grace"},
    {O_KEEP, 0, "keep-previous", "DAYS", "the grace period of those two (default 7)"},
    {O_REVOKE, 0, "revoke-superseded", NULL, "revoke the previous certificate after the grace"},
    {O_INTERVAL, 0, "interval", "SECONDS", "between polls of a batch (default 5)"},
    {O_TIMEOUT, 0, "timeout", "SECONDS", "one lineage's request at most (default 1800)"},
    {O_HOOK_TIMEOUT, 0, "hook-timeout", "SECONDS", "a hook is killed after (default 300)"},
    {O_NO_HOOKS, 0, "no-hooks", NULL, "do not run deploy and failure hooks"},
    {O_NOW, 0, "now", "TIME", "as at TIME (YYYY-MM-DD[THH:MM:SSZ], @EPOCH)"},
    {O_FORCE_UPLOAD, 0, "force-upload", NULL, "NAME's interrupted renewal: upload it again"},
    {O_BATCH, 0, "batch", "ID", "NAME's interrupted renewal: finish from batch ID"},
    {O_JSON, 0, "json", NULL, "one JSON document of results (see man trisa-renew)"},
    {O_QUIET, 'q', "quiet", NULL, "print only errors"},
    {O_VERBOSE, 'v', "verbose", NULL, "also say what is not due and when it will be"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

const tool_opt *cmd_renew_options(void)
{
    return opts;
}

static const char exits[] =
    "Exit codes: 0 nothing was due, or every due renewal succeeded (a lineage held back by\n"
    "its back-off after failures counts as nothing due); otherwise the code of the first\n"
    "lineage (by name) that failed: 3 invalid input, 5 authentication, 6 API error,\n"
    "7 network, 8 rejected, 9 still processing (run again), 10 verification failed,\n"
    "12 token, 13 PIN, 1 other. 2: bad command line.";

typedef struct job {
    const char *state_dir;
    char **names;
    size_t count;
    size_t next;
    int *codes;
    char **messages;
    int *renewed;
    trisa_lineage_renew_options ro;
    pthread_mutex_t lock;
} job;

static renew_output out;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int verbose;

static const char *when(char buf[21], time_t t)
{
    struct tm tm;
    if (t == 0 || gmtime_r(&t, &tm) == NULL) {
        return "-";
    }
    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void renew_print_event(const trisa_lineage_event *e, void *data)
{
    const renew_output *o = data;
    const trisa_enroll_event *ev = e->enroll;
    char t[21];

    pthread_mutex_lock(&print_lock);
    switch (e->step) {
    case TRISA_LINEAGE_STEP_NOT_DUE:
        if (verbose && !o->quiet) {
            if (e->text != NULL) {
                fprintf(stderr, "%s: not renewed (%s)\n", e->lineage, e->text);
            } else {
                fprintf(stderr, "%s: not due; renewal due %s\n", e->lineage, when(t, e->when));
            }
        }
        break;
    case TRISA_LINEAGE_STEP_BACKING_OFF:
        if (!o->quiet) {
            fprintf(stderr,
                    "%s: due, but backing off after failures until %s (--force to try now)\n",
                    e->lineage, when(t, e->when));
        }
        break;
    case TRISA_LINEAGE_STEP_KEY:
        if (!o->quiet) {
            fprintf(stderr, "%s: version %u: new key %s\n", e->lineage, e->version, e->text);
        }
        break;
    case TRISA_LINEAGE_STEP_CSR:
        if (!o->quiet) {
            fprintf(stderr, "%s: version %u: CSR made (public key SHA-256 %s)\n", e->lineage,
                    e->version, e->text);
        }
        break;
    case TRISA_LINEAGE_STEP_RESUMING:
        if (!o->quiet) {
            fprintf(stderr, "%s: version %u: continuing an interrupted renewal%s%s\n", e->lineage,
                    e->version, e->text != NULL ? " with " : "", e->text != NULL ? e->text : "");
        }
        break;
    case TRISA_LINEAGE_STEP_ENROLL:
        if (o->quiet || ev == NULL) {
            break;
        }
        if (ev->step == TRISA_ENROLL_STEP_UPLOADED) {
            fprintf(stderr, "%s: uploaded: batch %lld\n", e->lineage, ev->batch_id);
        } else if (ev->step == TRISA_ENROLL_STEP_CONTINUING) {
            fprintf(stderr, "%s: continuing batch %lld\n", e->lineage, ev->batch_id);
        } else if (ev->step == TRISA_ENROLL_STEP_POLLING && o->tty) {
            fprintf(stderr, "%s: batch %lld %s (%lds; next poll in %lds)\n", e->lineage,
                    ev->batch_id, ev->status ? ev->status : "", ev->elapsed_s, ev->next_s);
        } else if (ev->step == TRISA_ENROLL_STEP_WAITING) {
            fprintf(stderr, "%s: %s\n", e->lineage,
                    ev->text != NULL ? ev->text : "waiting for another process");
        } else if (ev->step == TRISA_ENROLL_STEP_STORED) {
            fprintf(stderr, "%s: certificate stored on the token: %s\n", e->lineage, ev->path);
        }
        break;
    case TRISA_LINEAGE_STEP_DRY_RUN:
        fprintf(o->json ? stderr : stdout, "%s: %s\n", e->lineage, e->text);
        break;
    case TRISA_LINEAGE_STEP_SWITCHED:
        if (!o->quiet) {
            fprintf(o->json ? stderr : stdout, "%s: version %u is live (%s), valid until %s\n",
                    e->lineage, e->version, e->text, when(t, e->when));
        }
        break;
    case TRISA_LINEAGE_STEP_HOOK:
        /* A hook that failed is reported once, by the library's warning. */
        if (!o->quiet && e->exit == 0) {
            fprintf(stderr, "%s: hook '%s' exited 0\n", e->lineage, e->text);
        }
        break;
    case TRISA_LINEAGE_STEP_REVOKED:
        if (!o->quiet) {
            fprintf(stderr, "%s: version %u revoked as superseded (serial %s)\n", e->lineage,
                    e->version, e->text);
        }
        break;
    case TRISA_LINEAGE_STEP_PRUNED:
        if (!o->quiet) {
            fprintf(stderr, "%s: version %u's token objects removed (%s)\n", e->lineage, e->version,
                    e->text);
        }
        break;
    }
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

void renew_print_warning(const char *lineage, const char *message, void *data)
{
    (void)data;
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "%s: warning: %s: %s\n", RENEW_PROG, lineage, message);
    pthread_mutex_unlock(&print_lock);
}

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        size_t i;
        trisa_lineage *l = NULL;
        int rc;
        pthread_mutex_lock(&j->lock);
        i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->count) {
            return NULL;
        }
        trisa_error_clear();
        rc = trisa_lineage_load(&l, j->state_dir, j->names[i]);
        if (rc == 0) {
            rc = trisa_lineage_renew(l, &j->ro, &j->renewed[i]);
        }
        j->codes[i] = rc;
        if (rc != 0) {
            j->messages[i] =
                strdup(trisa_error_last()[0] ? trisa_error_last() : trisa_strerror(rc));
        }
        trisa_lineage_free(l);
    }
}

/* The command line: into j (options), names (positional; *nnames), *jobs, *state_dir.
 * -1 to go on; else the exit code (0 after --help). */
static int parse(int argc, char **argv, job *j, char **names, size_t *nnames, long *jobs,
                 const char **state_dir)
{
    tool_parser p;
    int id;

    tool_opt_init(&p, argc, argv, opts, RENEW_PROG);
    /* `trisa-renew NAME` and `trisa-renew renew NAME` alike. */
    if (argc > 0 && strcmp(argv[0], "renew") != 0) {
        p.index = 1;
    }
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            return TOOL_EXIT_USAGE;
        case TOOL_OPT_POSITIONAL:
            names[(*nnames)++] = (char *)p.value;
            break;
        case O_STATE:
            *state_dir = p.value;
            break;
        case O_FORCE:
            j->ro.force = 1;
            break;
        case O_REUSE:
            j->ro.reuse_key = 1;
            break;
        case O_DRY:
            j->ro.dry_run = 1;
            break;
        case O_JOBS:
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 1, 64, jobs) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_PRUNE:
            j->ro.prune = 1;
            break;
        case O_KEEP:
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 0, 3650, &j->ro.keep_previous_days) !=
                0) {
                return TOOL_EXIT_USAGE;
            }
            if (j->ro.keep_previous_days == 0) {
                /* 0 means "no grace": the library reads 0 as the default. */
                j->ro.keep_previous_days = -1;
            }
            break;
        case O_REVOKE:
            j->ro.revoke_superseded = 1;
            break;
        case O_INTERVAL:
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 1, 3600, &j->ro.interval_s) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 1, 86400, &j->ro.timeout_s) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_HOOK_TIMEOUT:
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 1, 86400, &j->ro.hook_timeout_s) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_NO_HOOKS:
            j->ro.no_hooks = 1;
            break;
        case O_NOW:
            if (trisa_bundle_parse_time(&j->ro.now, p.value) != 0) {
                return tool_usage_error(RENEW_PROG,
                                        "--now '%s': expected YYYY-MM-DD, "
                                        "YYYY-MM-DDTHH:MM:SSZ or @EPOCH",
                                        p.value);
            }
            break;
        case O_QUIET:
            out.quiet = 1;
            break;
        case O_JSON:
            out.json = 1;
            tool_report_set_json(1);
            break;
        case O_VERBOSE:
            verbose = 1;
            break;
        case O_FORCE_UPLOAD:
            j->ro.force_upload = 1;
            break;
        case O_BATCH: {
            long batch;
            if (tool_opt_long(RENEW_PROG, p.name, p.value, 1, 0x7fffffffL, &batch) != 0) {
                return TOOL_EXIT_USAGE;
            }
            j->ro.batch_id = batch;
            break;
        }
        case O_HELP:
            renew_help(stdout, "trisa-renew [renew] [options] [NAME...]",
                       "Renews each named lineage (default: all) that is due: a new key, a CSR\n"
                       "from the lineage's config, one request to Sectigo, verification, then\n"
                       "live/ switched and the deploy hook run. Nothing is printed when nothing\n"
                       "is due (add -v to hear why).",
                       opts, exits);
            return TOOL_EXIT_OK;
        }
    }
    if ((j->ro.force_upload || j->ro.batch_id > 0) && *nnames != 1) {
        return tool_usage_error(RENEW_PROG, "--force-upload and --batch take one lineage NAME");
    }
    if (j->ro.force_upload && j->ro.batch_id > 0) {
        return tool_usage_error(RENEW_PROG, "--force-upload and --batch exclude each other");
    }
    if (out.quiet && verbose) {
        return tool_usage_error(RENEW_PROG, "--quiet and --verbose exclude each other");
    }
    return -1;
}

/* Run the workers: `jobs` threads (one: this thread). 0 or TRISA_ENOMEM. */
static int run_workers(job *j, long jobs)
{
    pthread_t *threads;
    long started = 0;

    if (jobs > (long)j->count) {
        jobs = (long)j->count;
    }
    if (jobs <= 1) {
        worker(j);
        return 0;
    }
    if ((threads = calloc((size_t)jobs, sizeof(*threads))) == NULL) {
        return TRISA_ENOMEM;
    }
    for (; started < jobs; started++) {
        if (pthread_create(&threads[started], NULL, worker, j) != 0) {
            break;
        }
    }
    if (started == 0) {
        worker(j);
    }
    for (long t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
    }
    free(threads);
    return 0;
}

/* --json: {"format": 1, "results": [...]}, one result a lineage in the order run: its name,
 * whether a new version went live, its exit code and error (null when none), and the
 * lineage as `list --json` shows it afterwards (null when it cannot be read). */
static int print_results(const job *j)
{
    trisa_buf b = TRISA_BUF_INIT;
    time_t now = j->ro.now != 0 ? j->ro.now : time(NULL);

    trisa_buf_puts(&b, "{\"format\":1,\"results\":[");
    for (size_t i = 0; i < j->count; i++) {
        trisa_lineage *l = NULL;
        int code = j->codes[i] != 0 ? tool_exit_code(j->codes[i]) : 0;
        trisa_buf_puts(&b, i > 0 ? ",{\"name\":" : "{\"name\":");
        trisa_json_str(&b, j->names[i], 0);
        trisa_buf_printf(
            &b, ",\"renewed\":%s,\"exit\":%d,\"code\":", j->renewed[i] ? "true" : "false", code);
        trisa_json_str(&b, j->codes[i] != 0 ? tool_code_name(j->codes[i]) : NULL, 0);
        trisa_buf_puts(&b, ",\"error\":");
        trisa_json_str(&b, j->codes[i] != 0 ? j->messages[i] : NULL, 0);
        trisa_buf_puts(&b, ",\"lineage\":");
        if (trisa_lineage_load(&l, j->state_dir, j->names[i]) == 0) {
            renew_json_lineage(&b, l, now);
        } else {
            trisa_error_clear();
            trisa_buf_puts(&b, "null");
        }
        trisa_lineage_free(l);
        trisa_buf_puts(&b, "}");
    }
    trisa_buf_puts(&b, "]}\n");
    if (b.failed) {
        trisa_buf_free(&b, 0);
        return TRISA_ENOMEM;
    }
    fwrite(b.data, 1, b.len, stdout);
    tool_report_printed();
    trisa_buf_free(&b, 0);
    return 0;
}

int cmd_renew(int argc, char **argv)
{
    job j;
    const char *state_dir = NULL;
    char **names = NULL, **all = NULL;
    size_t nnames = 0, nall = 0;
    long jobs = 1;
    int exit_code = TOOL_EXIT_OK, rc;

    memset(&j, 0, sizeof(j));
    j.ro = (trisa_lineage_renew_options)TRISA_LINEAGE_RENEW_OPTIONS_INIT;
    out.tty = isatty(2);
    if ((names = calloc((size_t)argc, sizeof(*names))) == NULL) {
        return tool_fail(RENEW_PROG, TRISA_ENOMEM);
    }
    if ((rc = parse(argc, argv, &j, names, &nnames, &jobs, &state_dir)) >= 0) {
        exit_code = rc;
        goto done;
    }
    if (nnames == 0) {
        if ((rc = trisa_lineage_names(&all, &nall, state_dir)) != 0) {
            exit_code = tool_fail(RENEW_PROG, rc);
            goto done;
        }
        j.names = all;
        j.count = nall;
    } else {
        j.names = names;
        j.count = nnames;
    }
    j.state_dir = state_dir;
    j.ro.progress = renew_print_event;
    j.ro.warn = renew_print_warning;
    j.ro.data = &out;
    j.codes = calloc(j.count + 1, sizeof(*j.codes));
    j.messages = calloc(j.count + 1, sizeof(*j.messages));
    j.renewed = calloc(j.count + 1, sizeof(*j.renewed));
    if (j.codes == NULL || j.messages == NULL || j.renewed == NULL) {
        exit_code = tool_fail(RENEW_PROG, TRISA_ENOMEM);
        goto done;
    }
    pthread_mutex_init(&j.lock, NULL);
    rc = run_workers(&j, jobs);
    pthread_mutex_destroy(&j.lock);
    if (rc != 0) {
        exit_code = tool_fail(RENEW_PROG, rc);
        goto done;
    }
    if (out.json && (rc = print_results(&j)) != 0) {
        exit_code = tool_fail(RENEW_PROG, rc);
        goto done;
    }
    for (size_t i = 0; i < j.count; i++) {
        if (j.codes[i] != 0) {
            int code = tool_exit_code(j.codes[i]);
            tool_error(RENEW_PROG, code, tool_code_name(j.codes[i]), "%s: %s", j.names[i],
                       j.messages[i] != NULL ? j.messages[i] : "out of memory");
            if (exit_code == TOOL_EXIT_OK) {
                exit_code = code;
            }
        }
    }
done:
    if (j.messages != NULL) {
        for (size_t i = 0; i < j.count; i++) {
            free(j.messages[i]);
        }
    }
    free(j.messages);
    free(j.codes);
    free(j.renewed);
    free(names);
    trisa_lineage_names_free(all, nall);
    return exit_code;
}
