/*
 * What a lineage holds and when it is due; the live switch; recording a certificate;
 * the credentials file; the hooks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lineage/internal.h"

extern char **environ;

/* ---- due ---- */

/* Seconds before not_after at which renewal is due, without the offset. */
static time_t renew_before_seconds(const trisa_lineage *l, time_t lifetime)
{
    const char *v = l->renew_before != NULL ? l->renew_before : LINEAGE_DEFAULT_RENEW_BEFORE;
    size_t n = strlen(v);
    long x = 33;

    if (n > 1 && v[n - 1] == '%') {
        char tmp[16];
        if (n <= sizeof(tmp)) {
            memcpy(tmp, v, n - 1);
            tmp[n - 1] = '\0';
            if (trisa_parse_long(tmp, 1, 99, &x) != 0) {
                x = 33;
            }
        }
        return (time_t)((long long)lifetime * x / 100);
    }
    if (trisa_parse_long(v, 1, 3650, &x) != 0) {
        return (time_t)((long long)lifetime / 3);
    }
    return (time_t)x * 86400;
}

time_t lineage_due_at(const trisa_lineage *l)
{
    time_t lifetime, offset;

    if (l->current == 0 || l->not_after == 0) {
        return 0;
    }
    lifetime = l->not_after > l->not_before ? l->not_after - l->not_before : 0;
    offset = (time_t)(l->jitter * (double)(lifetime / 50 < 86400 ? lifetime / 50 : 86400));
    return l->not_after - renew_before_seconds(l, lifetime) - offset;
}

time_t lineage_backoff(unsigned failures, time_t now, time_t not_after)
{
    long long wait = 3600;
    time_t next, cap;

    for (unsigned i = 1; i < failures && wait < 86400; i++) {
        wait *= 2;
    }
    if (wait > 86400) {
        wait = 86400;
    }
    /* Never wait past the point where fewer than 3 days remain. */
    next = now + (time_t)wait;
    cap = not_after != 0 ? not_after - 3 * 86400 : next;
    if (next > cap) {
        next = cap > now ? cap : now;
    }
    return next;
}

int trisa_lineage_due(const trisa_lineage *l, time_t now, int *back_off)
{
    int due;

    if (now == 0) {
        now = time(NULL);
    }
    due = l->current == 0 ? !l->imported : now >= lineage_due_at(l);
    if (back_off != NULL) {
        *back_off = due && l->next_attempt > now;
    }
    return due;
}

int trisa_lineage_get_info(trisa_lineage_info *out, const trisa_lineage *l, time_t now)
{
    if (out == NULL || l == NULL) {
        return trisa_error_set(TRISA_EINVAL, "lineage info: no lineage");
    }
    (void)now;
    memset(out, 0, sizeof(*out));
    out->name = l->name;
    out->dir = l->dir;
    out->live_dir = l->live_dir;
    out->imported = l->imported;
    out->current_version = l->current;
    out->versions = l->versions;
    out->subject = l->subject;
    out->sans = (const char *const *)l->sans;
    out->san_count = l->nsans;
    out->serial = l->serial;
    out->not_before = l->not_before;
    out->not_after = l->not_after;
    out->renewal_due = lineage_due_at(l);
    out->key_spec = l->key_spec;
    out->key_location = l->key_location;
    out->profile_id = l->profile_id;
    out->batch_id = l->batch_id;
    out->last_attempt = l->last_attempt;
    out->last_result = l->last_result;
    out->last_exit = l->last_exit;
    out->last_success = l->last_success;
    out->consecutive_failures = l->failures;
    out->next_attempt = l->next_attempt;
    out->pending = l->pending_version != 0;
    return 0;
}

/* ---- the switch ---- */

int lineage_switch(const trisa_lineage *l, unsigned version)
{
    char target[32], tmp[64];
    int dfd, rc = 0;

    snprintf(target, sizeof(target), "versions/%u", version);
    snprintf(tmp, sizeof(tmp), ".live.%ld", (long)getpid());
    if ((dfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return trisa_error_set(TRISA_EIO, "%s: cannot open: %s", l->dir, strerror(errno));
    }
    unlinkat(dfd, tmp, 0);
    if (symlinkat(target, dfd, tmp) != 0) {
        rc = trisa_error_set(TRISA_EIO, "%s/%s: cannot make the link: %s", l->dir, tmp,
                             strerror(errno));
    } else if (renameat(dfd, tmp, dfd, "live") != 0) {
        /* rename(2) replaces the old link in one step: readers of live/ see the old
         * version or the new one, never a mix. */
        rc = trisa_error_set(TRISA_EIO, "%s/live: cannot switch: %s", l->dir, strerror(errno));
        unlinkat(dfd, tmp, 0);
    } else if (fsync(dfd) != 0) {
        rc = trisa_error_set(TRISA_EIO, "%s: cannot sync: %s", l->dir, strerror(errno));
    }
    close(dfd);
    return rc;
}

/* ---- a certificate's details into the state ---- */

static char *serial_text(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    unsigned char buf[64];
    char *out = NULL;
    int n;

    if (bn != NULL && (n = BN_bn2bin(bn, buf)) > 0 && n <= (int)sizeof(buf) &&
        (out = malloc((size_t)n * 3)) != NULL) {
        trisa_hex(out, buf, (size_t)n, ':');
    }
    BN_free(bn);
    return out;
}

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return timegm(&tm);
}

int lineage_record_cert(trisa_lineage *l, const char *cert_path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *x = NULL;
    GENERAL_NAMES *gens = NULL;
    int rc;

    if ((rc = trisa_file_read(&data, &len, cert_path, 1u << 20)) != 0) {
        return rc;
    }
    if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
        (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
        rc = trisa_error_set_ssl(TRISA_EBUNDLE, "%s: not a PEM certificate", cert_path);
        goto done;
    }
    free(l->subject);
    free(l->serial);
    l->subject = trisa_name_string(X509_get_subject_name(x));
    l->serial = serial_text(x);
    l->not_before = asn1_time(X509_get0_notBefore(x));
    l->not_after = asn1_time(X509_get0_notAfter(x));
    for (size_t i = 0; i < l->nsans; i++) {
        free(l->sans[i]);
    }
    free(l->sans);
    l->sans = NULL;
    l->nsans = 0;
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char text[300];
        if (g->type == GEN_DNS) {
            snprintf(text, sizeof(text), "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_EMAIL) {
            snprintf(text, sizeof(text), "email:%.*s", ASN1_STRING_length(g->d.rfc822Name),
                     (const char *)ASN1_STRING_get0_data(g->d.rfc822Name));
        } else if (g->type == GEN_URI) {
            snprintf(text, sizeof(text), "URI:%.*s",
                     ASN1_STRING_length(g->d.uniformResourceIdentifier),
                     (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
        } else if (g->type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN] = "?";
            int n = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            if (n == 4 || n == 16) {
                inet_ntop(n == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip));
            }
            snprintf(text, sizeof(text), "IP:%s", ip);
        } else {
            continue;
        }
        /* State lines end at a line break: keep the value on one line. */
        for (char *p = text; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                *p = '?';
            }
        }
        char **ns = realloc(l->sans, (l->nsans + 1) * sizeof(*ns));
        if (ns == NULL || (ns[l->nsans] = strdup(text)) == NULL) {
            if (ns != NULL) {
                l->sans = ns;
            }
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
        l->sans = ns;
        l->nsans++;
    }
    if (l->subject == NULL || l->serial == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (char *p = l->subject; p != NULL && *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20) {
            *p = '?';
        }
    }
done:
    GENERAL_NAMES_free(gens);
    X509_free(x);
    BIO_free(bio);
    free(data);
    return rc;
}

/* ---- credentials ---- */

static int cred_value(char **dst, const char *v)
{
    char *c = strdup(v);
    if (c == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (*dst != NULL) {
        OPENSSL_cleanse(*dst, strlen(*dst));
    }
    free(*dst);
    *dst = c;
    return 0;
}

int lineage_credentials_load(lineage_credentials *c, const char *path)
{
    trisa_dotenv *env = NULL;
    struct stat st;
    int rc = 0;
    struct {
        const char *name;
        char **dst;
    } vars[] = {
        {"SECTIGO_USERNAME", &c->username},   {"SECTIGO_PASSWORD", &c->password},
        {"SECTIGO_ENDPOINT", &c->endpoint},   {"SECTIGO_ENVIRONMENT", &c->environment},
        {"SECTIGO_CA_BUNDLE", &c->ca_bundle},
    };

    memset(c, 0, sizeof(*c));
    if (path != NULL) {
        if (stat(path, &st) != 0) {
            return trisa_error_set(TRISA_ENOTFOUND, "credentials %s: %s", path, strerror(errno));
        }
        if ((st.st_mode & 077) != 0) {
            return trisa_error_set(TRISA_EINVAL,
                                   "credentials %s: readable by others (mode %04o); it holds the "
                                   "API password: chmod 600 it",
                                   path, (unsigned)(st.st_mode & 07777));
        }
        /* The same reader as sectigo's .env (godotenv's rules): one syntax for both. */
        if ((rc = trisa_dotenv_load(&env, path)) != 0) {
            return rc;
        }
    }
    /* What the file does not say comes from the environment, as for the other tools. */
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = trisa_dotenv_get(env, vars[i].name);
        if (v == NULL || *v == '\0') {
            v = getenv(vars[i].name);
        }
        if (v != NULL && *v != '\0' && (rc = cred_value(vars[i].dst, v)) != 0) {
            break;
        }
    }
    trisa_dotenv_free(env);
    if (rc != 0) {
        lineage_credentials_free(c);
    }
    return rc;
}

void lineage_credentials_free(lineage_credentials *c)
{
    if (c->password != NULL) {
        OPENSSL_cleanse(c->password, strlen(c->password));
    }
    free(c->username);
    free(c->password);
    free(c->endpoint);
    free(c->environment);
    free(c->ca_bundle);
    memset(c, 0, sizeof(*c));
}

/* ---- hooks ---- */

int lineage_run_hook(const trisa_lineage *l, const char *command, const char *const *extra,
                     long timeout_s)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char **env = NULL, *var_lineage = NULL, *var_live = NULL;
    size_t nenv = 0, nextra = 0;
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    trisa_buf b = TRISA_BUF_INIT;
    pid_t pid;
    int status = -1, rc;
    sigset_t none;
    struct timespec start, now;

    while (environ[nenv] != NULL) {
        nenv++;
    }
    while (extra != NULL && extra[nextra] != NULL) {
        nextra++;
    }
    if ((env = calloc(nenv + nextra + 4, sizeof(*env))) == NULL) {
        return -1;
    }
    {
        size_t k = 0;
        /* Our variables replace any of the same name in the environment. */
        for (size_t i = 0; i < nenv; i++) {
            if (strncmp(environ[i], "TRISA_LINEAGE=", 14) != 0 &&
                strncmp(environ[i], "TRISA_LIVE_DIR=", 15) != 0) {
                int shadowed = 0;
                for (size_t j = 0; j < nextra; j++) {
                    const char *eq = strchr(extra[j], '=');
                    size_t n = eq ? (size_t)(eq - extra[j]) + 1 : 0;
                    if (n > 0 && strncmp(environ[i], extra[j], n) == 0) {
                        shadowed = 1;
                    }
                }
                if (!shadowed) {
                    env[k++] = environ[i];
                }
            }
        }
        trisa_buf_printf(&b, "TRISA_LINEAGE=%s", l->name);
        var_lineage = trisa_buf_detach(&b, NULL);
        trisa_buf_printf(&b, "TRISA_LIVE_DIR=%s/live", l->dir);
        var_live = trisa_buf_detach(&b, NULL);
        if (var_lineage == NULL || var_live == NULL) {
            goto done;
        }
        env[k++] = var_lineage;
        env[k++] = var_live;
        for (size_t j = 0; j < nextra; j++) {
            env[k++] = (char *)extra[j];
        }
        env[k] = NULL;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* The hook's output is diagnostics: its stdout goes to our stderr, so that a tool's
     * stdout stays data (JSON, metrics). Its own process group, so that a timeout kills
     * whatever it started. */
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        status = -1;
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int ws;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid) {
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            break;
        }
        if (w < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s) {
            kill(-pid, SIGTERM);
            nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
            kill(-pid, SIGKILL);
            waitpid(pid, &ws, 0);
            status = -1;
            break;
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
done:
    free(var_lineage);
    free(var_live);
    free(env);
    trisa_buf_free(&b, 0);
    return status;
}
