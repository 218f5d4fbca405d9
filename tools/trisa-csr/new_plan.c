/*
 * trisa-csr [new], plan: every config loaded and validated, every error of every config
 * reported; every output named, checked against the inputs and the other outputs, and
 * against what is on disk. Nothing is made while anything is wrong.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/support.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/trisa-csr/new.h"

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int conf_filter(const struct dirent *e)
{
    return e->d_name[0] != '.' && has_suffix(e->d_name, ".conf");
}

static int oom(void)
{
    return tool_error(PROG, TOOL_EXIT_FAILURE, "nomem", "out of memory");
}

/* Append a copy of path to the run's list of configs. */
static int add_config(run *r, const char *dir, const char *name)
{
    trisa_buf b = TRISA_BUF_INIT;
    char **grown = realloc(r->configs, (r->nconfigs + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    r->configs = grown;
    if (dir != NULL) {
        trisa_buf_printf(&b, "%s/%s", dir, name);
    } else {
        trisa_buf_puts(&b, name);
    }
    if ((r->configs[r->nconfigs] = trisa_buf_detach(&b, NULL)) == NULL) {
        return -1;
    }
    r->nconfigs++;
    return 0;
}

/* Expand folders into their *.conf files (sorted). */
static int expand_configs(run *r, int *had_folder)
{
    const new_args *a = r->a;
    *had_folder = 0;
    for (size_t i = 0; i < a->nconfigs; i++) {
        struct stat st;
        struct dirent **ents = NULL;
        int k, failed = 0;
        if (stat(a->configs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (add_config(r, NULL, a->configs[i]) != 0) {
                return oom();
            }
            continue;
        }
        *had_folder = 1;
        k = scandir(a->configs[i], &ents, conf_filter, alphasort);
        if (k < 0) {
            return tool_error(PROG, TOOL_EXIT_INPUT, "io", "%s: cannot list the folder: %s",
                              a->configs[i], strerror(errno));
        }
        for (int j = 0; j < k; j++) {
            failed = failed || add_config(r, a->configs[i], ents[j]->d_name) != 0;
            free(ents[j]);
        }
        free(ents);
        if (failed) {
            return oom();
        }
        if (k == 0) {
            return tool_error(PROG, TOOL_EXIT_INPUT, "config", "%s: no *.conf files in the folder",
                              a->configs[i]);
        }
    }
    return PHASE_GO_ON;
}

/* "dir/NAME.suffix" for config "some/where/NAME.conf". */
static char *named_after(const char *dir, const char *config, const char *suffix)
{
    const char *base = strrchr(config, '/');
    size_t len;
    trisa_buf b = TRISA_BUF_INIT;

    base = base ? base + 1 : config;
    len = strlen(base);
    if (has_suffix(base, ".conf")) {
        len -= 5;
    }
    trisa_buf_printf(&b, "%s/%.*s%s", dir, (int)len, base, suffix);
    return trisa_buf_detach(&b, NULL);
}

/* Every error of a config, as it is found. */
static void print_config_error(const char *message, void *ctx)
{
    size_t *count = ctx;
    (*count)++;
    tool_error(PROG, TOOL_EXIT_INPUT, "config", "%s", message);
}

/* What the command line says about configs, checked before any is read. */
static int check_overrides(run *r, trisa_csr_config_options *co)
{
    const new_args *a = r->a;
    co->common_name = a->cn;
    co->sans = a->sans;
    co->san_count = a->nsans;
    co->extensions = a->reqexts;
    co->utf8 = a->utf8;
    if (a->key_spec && trisa_keygen_spec_parse(&r->cli_spec, a->key_spec) != 0) {
        return tool_usage_error(PROG, "%s", trisa_error_last());
    }
    if (trisa_csr_config_options_check(co) != 0) {
        return tool_usage_error(PROG, "%s", trisa_error_last());
    }
    if (a->digest != NULL && trisa_csr_digest_check(a->digest) != 0) {
        return tool_usage_error(PROG, "--digest: %s", trisa_error_last());
    }
    return PHASE_GO_ON;
}

/* Load and validate each config, reporting every error of every one; exit 3 if any. */
static int load_configs(run *r, const trisa_csr_config_options *co)
{
    int ret = PHASE_GO_ON;
    for (size_t i = 0; i < r->njobs; i++) {
        job *j = &r->jobs[i];
        size_t printed = 0;
        trisa_csr_config_options o = *co;
        int rc;
        o.on_error = print_config_error;
        o.on_error_ctx = &printed;
        j->config = r->configs[i];
        rc = trisa_csr_config_load(&j->cfg, r->configs[i], &o);
        if (rc != 0) {
            if (printed == 0) {
                tool_fail(PROG, rc);
            }
            /* An unreadable config is bad input too, not a system failure. */
            if (rc == TRISA_ENOMEM) {
                return TOOL_EXIT_FAILURE;
            }
            ret = TOOL_EXIT_INPUT;
            continue;
        }
        for (size_t k = 0; k < trisa_csr_config_warning_count(j->cfg); k++) {
            tool_warn(PROG, "%s", trisa_csr_config_warning(j->cfg, k));
        }
        if (r->a->key_spec) {
            j->spec = r->cli_spec;
        } else {
            trisa_csr_config_key_spec(j->cfg, &j->spec);
        }
    }
    return ret;
}

/* Where each job's key and CSR go. */
static int name_outputs(run *r)
{
    const new_args *a = r->a;
    for (size_t i = 0; i < r->njobs; i++) {
        job *j = &r->jobs[i];
        if (r->named) {
            const char *dir = a->out_dir ? a->out_dir : ".";
            if ((j->out = named_after(dir, j->config, ".csr")) == NULL ||
                (a->source == KEY_GENERATE &&
                 (j->keyout = named_after(dir, j->config, ".key")) == NULL)) {
                return oom();
            }
            continue;
        }
        if (a->source == KEY_GENERATE) {
            const char *k = a->keyout ? a->keyout : trisa_csr_config_default_keyfile(j->cfg);
            if (k == NULL) {
                return tool_usage_error(PROG, "where should the new key go? give --keyout FILE");
            }
            if ((j->keyout = strdup(k)) == NULL) {
                return oom();
            }
        }
        if (a->out && strcmp(a->out, "-") != 0 && (j->out = strdup(a->out)) == NULL) {
            return oom();
        }
    }
    return PHASE_GO_ON;
}

/* The same file: the same name, or (both existing) the same inode. */
static int same_file(const char *x, const char *y)
{
    struct stat sx, sy;
    if (x == NULL || y == NULL) {
        return 0;
    }
    if (strcmp(x, y) == 0) {
        return 1;
    }
    return stat(x, &sx) == 0 && stat(y, &sy) == 0 && sx.st_dev == sy.st_dev &&
           sx.st_ino == sy.st_ino && S_ISREG(sx.st_mode);
}

/* No output may be an input (even with --force) or another output. */
static int check_clashes(const run *r, const char *key_in, const char *bundle_out)
{
    for (size_t i = 0; i < r->njobs; i++) {
        const job *j = &r->jobs[i];
        const char *outs[2] = {j->keyout, j->out};
        for (int o = 0; o < 2; o++) {
            if (outs[o] == NULL) {
                continue;
            }
            if (same_file(outs[o], key_in)) {
                return tool_usage_error(PROG, "%s is the --key-in key: it is never rewritten",
                                        outs[o]);
            }
            if (same_file(outs[o], bundle_out)) {
                return tool_usage_error(PROG, "%s is also the --bundle-out file", outs[o]);
            }
            for (size_t k = 0; k < r->njobs; k++) {
                if (same_file(outs[o], r->jobs[k].config)) {
                    return tool_usage_error(PROG, "%s is a config: it is never overwritten",
                                            outs[o]);
                }
                if (k < i &&
                    (same_file(outs[o], r->jobs[k].out) || same_file(outs[o], r->jobs[k].keyout))) {
                    return tool_usage_error(PROG, "%s and %s would both write %s",
                                            r->jobs[k].config, j->config, outs[o]);
                }
            }
        }
        if (same_file(j->keyout, j->out)) {
            return tool_usage_error(PROG, "the key and the CSR cannot both go to %s", j->out);
        }
    }
    if (same_file(bundle_out, key_in)) {
        return tool_usage_error(PROG, "%s is the --key-in key: it is never rewritten", bundle_out);
    }
    for (size_t k = 0; k < r->njobs; k++) {
        if (same_file(bundle_out, r->jobs[k].config)) {
            return tool_usage_error(PROG, "%s is a config: it is never overwritten", bundle_out);
        }
    }
    return PHASE_GO_ON;
}

/* A private key must not end up on a terminal (-keyout /dev/stdout, /dev/tty). */
static int is_terminal(const char *path)
{
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int tty = fd >= 0 && isatty(fd);
    if (fd >= 0) {
        close(fd);
    }
    return tty;
}

/* Refuse early, before any key is made, what the commit would refuse: an existing file
 * without --force, a folder, a symbolic link. */
static int check_target(const char *path, int force, int secret)
{
    int rc;
    if (path == NULL) {
        return PHASE_GO_ON;
    }
    rc = trisa_file_check_target(path, force ? TRISA_WRITE_REPLACE : 0);
    if (rc == TRISA_EEXISTS) {
        return tool_error(PROG, TOOL_EXIT_EXISTS, "exists",
                          "%s: already exists (not replaced; --force replaces it)", path);
    }
    if (rc != 0) {
        return tool_fail(PROG, rc);
    }
    if (secret && is_terminal(path)) {
        return tool_usage_error(PROG, "%s is a terminal: the private key would be shown on it",
                                path);
    }
    return PHASE_GO_ON;
}

int new_plan(run *r)
{
    const new_args *a = r->a;
    trisa_csr_config_options co = TRISA_CSR_CONFIG_OPTIONS_INIT;
    int had_folder = 0, ret;

    if ((ret = check_overrides(r, &co)) != PHASE_GO_ON ||
        (ret = expand_configs(r, &had_folder)) != PHASE_GO_ON) {
        return ret;
    }
    /* Several configs, a folder or --out-dir: outputs are named after each config. */
    r->named = r->nconfigs > 1 || had_folder || a->out_dir != NULL;
    if (r->named && (a->keyout || a->out)) {
        return tool_usage_error(PROG, "with several configs, a folder or --out-dir the outputs "
                                      "are named after each config (NAME.key, NAME.csr), so "
                                      "--keyout and --out cannot be used");
    }
    if (r->nconfigs > 1 && a->source != KEY_GENERATE) {
        return tool_usage_error(PROG, "--key-in makes one CSR: give one config");
    }
    r->jobs = calloc(r->nconfigs, sizeof(job));
    if (r->jobs == NULL) {
        return oom();
    }
    r->njobs = r->nconfigs;
    if ((ret = load_configs(r, &co)) != PHASE_GO_ON || (ret = name_outputs(r)) != PHASE_GO_ON ||
        (ret = check_clashes(r, a->key_in, a->bundle_out)) != PHASE_GO_ON) {
        return ret;
    }
    for (size_t i = 0; i < r->njobs; i++) {
        if ((ret = check_target(r->jobs[i].keyout, a->force, 1)) != PHASE_GO_ON ||
            (ret = check_target(r->jobs[i].out, a->force, 0)) != PHASE_GO_ON) {
            return ret;
        }
    }
    return check_target(a->bundle_out, a->force, 0);
}
