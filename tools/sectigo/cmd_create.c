/* sectigo create -a ID -d DOMAIN [-p PASS | --password-file FILE] [-b NAME] [-c -s -l]:
 * a single-certificate batch whose key the server generates, returned as PKCS#12.
 *
 * In phases, each on its own: the command line (parse), which parameters the profile
 * takes (plan), the pkcs12 password (given, read, or generated), then the one request
 * that costs a licence (send). Everything local is settled before that request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/support.h"
#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/common/report.h"
#include "tools/sectigo/sectigo.h"

#define PROG "sectigo create"

enum {
    O_AUTHORITY = 1,
    O_DOMAIN,
    O_PASSWORD,
    O_PASSFILE,
    O_BATCH,
    O_COUNTRY,
    O_STATE,
    O_LOCALITY,
};

static const tool_opt opts[] = {
    {O_AUTHORITY, 'a', "authority", "ID", "id of the authority or profile to issue the cert"},
    {O_DOMAIN, 'd', "domain", "DOMAIN", "common name of the subject to issue the cert for"},
    {O_PASSWORD, 'p', "password", "PASS", "pkcs12 password (generated and printed by default)"},
    {O_PASSFILE, 0, "password-file", "FILE",
     "read the pkcs12 password from FILE, or save a generated one there (mode 0600)"},
    {O_BATCH, 'b', "batch-name", "NAME",
     "description of the batch for review purposes (default: new certs for DOMAIN)"},
    {O_COUNTRY, 'c', "country", "CC", "two-letter ISO 3166-1 country code (countryName)"},
    {O_STATE, 's', "state", "STATE", "state or province name (stateOrProvinceName)"},
    {O_LOCALITY, 'l', "locality", "CITY", "city or locality name (localityName)"},
    SECTIGO_HELP_OPTION,
    TOOL_OPT_END,
};

static const sectigo_cmd_spec command = {
    PROG,
    "sectigo [global options] create -a ID -d DOMAIN [-p PASS | --password-file FILE] [-b NAME] "
    "[-c CC] [-s STATE] [-l CITY]",
    "Create a single certificate batch; the server generates the key and returns it in a "
    "PKCS#12\nfile encrypted with the pkcs12 password. -c, -s and -l are sent when the profile "
    "takes them\n(its parameters, or -P / $SECTIGO_PROFILE naming the CipherTrace End Entity "
    "profile, 85).",
    opts, 0};

#define PW_LEN 20

typedef struct create_args {
    long authority;
    const char *domain, *password, *passfile, *batch_name;
    const char *subject[3]; /* -c, -s, -l: countryName, stateOrProvinceName, localityName */
} create_args;

/* The subject parameters create can set, with the flag that sets each. */
static const struct {
    const char *name, *flag;
} subject_params[3] = {
    {"countryName", "-c"},
    {"stateOrProvinceName", "-s"},
    {"localityName", "-l"},
};

/* What is sent: the profile parameters, name then value, NULL-terminated. */
typedef struct create_plan {
    const char *params[2 * 6 + 1];
    size_t n;
    int wants_password; /* the profile takes pkcs12Password */
} create_plan;

/* ---- Phase 1: the command line -------------------------------------------------------- */

static int parse(create_args *a, int argc, char **argv)
{
    tool_parser p;
    int id, rc;

    sectigo_parser_init(&p, argc, argv, opts, PROG);
    while ((id = sectigo_next(&p, &command, &rc)) > 0) {
        switch (id) {
        case O_AUTHORITY:
            if (sectigo_opt_id(&p, &a->authority) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_DOMAIN:
            a->domain = p.value;
            break;
        case O_PASSWORD:
            if ((a->password = tool_opt_secret(&p)) == NULL) {
                return TOOL_EXIT_FAILURE;
            }
            break;
        case O_PASSFILE:
            a->passfile = p.value;
            break;
        case O_BATCH:
            a->batch_name = p.value;
            break;
        case O_COUNTRY:
        case O_STATE:
        case O_LOCALITY:
            a->subject[id - O_COUNTRY] = p.value;
            break;
        }
    }
    if (id == SECTIGO_STOP) {
        return rc;
    }
    if (a->domain == NULL || a->domain[0] == '\0') {
        return tool_usage_error(PROG, "must specify domain name of cert subject");
    }
    if (a->authority == 0) {
        return tool_usage_error(PROG, "must specify authority ID");
    }
    if (a->password != NULL && a->passfile != NULL) {
        return tool_usage_error(PROG, "give either --password or --password-file, not both");
    }
    return -1;
}

/* ---- Phase 2: the parameters the profile takes ----------------------------------------- */

static void plan_add(create_plan *pl, const char *name, const char *value)
{
    pl->params[pl->n++] = name;
    pl->params[pl->n++] = value;
    pl->params[pl->n] = NULL;
    if (strcmp(name, "pkcs12Password") == 0) {
        pl->wants_password = 1;
    }
}

static const trisa_sectigo_profile_param *find_param(const trisa_sectigo_profile_param_list *l,
                                                     const char *name)
{
    for (size_t i = 0; l != NULL && i < l->count; i++) {
        if (strcmp(l->items[i].name, name) == 0) {
            return &l->items[i];
        }
    }
    return NULL;
}

/* The password is filled in later (phase 3); its slot holds "" until then. */
static int plan_from_list(create_plan *pl, const create_args *a, long long pid,
                          const trisa_sectigo_profile_param_list *l)
{
    const char *base[3] = {"commonName", "dNSName", "pkcs12Password"};
    const char *base_value[3] = {a->domain, a->domain, ""};

    for (int i = 0; i < 3; i++) {
        if (find_param(l, base[i]) != NULL) {
            plan_add(pl, base[i], base_value[i]);
        } else {
            tool_warn(PROG, "profile %lld takes no %s; not sent", pid, base[i]);
        }
    }
    for (int i = 0; i < 3; i++) {
        if (a->subject[i] == NULL) {
            continue;
        }
        if (find_param(l, subject_params[i].name) != NULL) {
            plan_add(pl, subject_params[i].name, a->subject[i]);
        } else {
            tool_warn(PROG, "profile %lld takes no %s; %s ignored", pid, subject_params[i].name,
                      subject_params[i].flag);
        }
    }
    /* What the profile requires and the command does not send is refused here, before
     * the request that would cost a licence. */
    for (size_t i = 0; i < l->count; i++) {
        const trisa_sectigo_profile_param *p = &l->items[i];
        int sent = 0;
        if (!p->required) {
            continue;
        }
        for (size_t j = 0; j < pl->n; j += 2) {
            sent |= strcmp(pl->params[j], p->name) == 0;
        }
        if (sent) {
            continue;
        }
        for (int j = 0; j < 3; j++) {
            if (strcmp(p->name, subject_params[j].name) == 0) {
                return tool_usage_error(PROG, "profile %lld requires %s: give %s", pid, p->name,
                                        subject_params[j].flag);
            }
        }
        return tool_error(PROG, TOOL_EXIT_INPUT, "input",
                          "profile %lld requires %s, which create cannot set (upload a CSR "
                          "with `sectigo upload` instead)",
                          pid, p->name);
    }
    return -1;
}

/* Without the profile's parameters: the reference's rule, by -P / $SECTIGO_PROFILE. */
static int plan_from_profile(create_plan *pl, const create_args *a, const char *profile)
{
    int end_entity =
        profile != NULL &&
        (strcmp(profile, "CipherTrace End Entity Certificate") == 0 || strcmp(profile, "85") == 0);
    plan_add(pl, "commonName", a->domain);
    plan_add(pl, "dNSName", a->domain);
    plan_add(pl, "pkcs12Password", "");
    for (int i = 0; i < 3; i++) {
        if (end_entity) {
            plan_add(pl, subject_params[i].name, a->subject[i] ? a->subject[i] : "");
        } else if (a->subject[i] != NULL) {
            tool_warn(PROG,
                      "%s ignored: the profile's parameters are unknown and -P names no "
                      "profile that takes %s",
                      subject_params[i].flag, subject_params[i].name);
        }
    }
    return -1;
}

/* The profile behind -a, which is an authority id or (in practice, and in the reference's
 * document) a profile id: an authority whose profileId is -a, else the profileId of the
 * authority whose id is -a, else -a itself. 0 when the authority names no profile. */
static int profile_of(long long *out, trisa_sectigo *c, long authority)
{
    trisa_sectigo_authority_list *l = NULL;
    int rc = trisa_sectigo_authorities(&l, c);

    *out = authority;
    if (rc == TRISA_EAPI || rc == TRISA_EFORBIDDEN) {
        trisa_error_clear();
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < l->count; i++) {
        if (l->items[i].profile_id == authority) {
            goto done;
        }
    }
    for (size_t i = 0; rc == 0 && i < l->count; i++) {
        if (l->items[i].id == authority) {
            *out = l->items[i].profile_id;
            goto done;
        }
    }
done:
    trisa_sectigo_authority_list_free(l);
    return rc;
}

/* GET /profiles/{id}/parameters when the server answers it; else the -P rule. Returns -1
 * to go on, else the exit code. */
static int plan(create_plan *pl, trisa_sectigo *c, const create_args *a, const char *profile)
{
    trisa_sectigo_profile_param_list *l = NULL;
    long long pid = 0;
    int rc;

    memset(pl, 0, sizeof(*pl));
    if ((rc = profile_of(&pid, c, a->authority)) != 0) {
        return tool_fail(PROG, rc);
    }
    rc = pid > 0 ? trisa_sectigo_profile_params(&l, c, pid) : TRISA_EAPI;
    if (rc == 0 && !l->is_null) {
        rc = plan_from_list(pl, a, pid, l);
    } else if (rc == 0 || rc == TRISA_EAPI || rc == TRISA_EFORBIDDEN) {
        trisa_error_clear();
        rc = plan_from_profile(pl, a, profile);
    } else {
        rc = tool_fail(PROG, rc);
    }
    trisa_sectigo_profile_param_list_free(l);
    return rc;
}

/* ---- Phase 3: the pkcs12 password ------------------------------------------------------ */

/* A password from the CSPRNG, letters and digits only so it survives copy and paste and
 * shells: 20 characters of 62 give about 119 bits. */
static int generate_password(char out[PW_LEN + 1])
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = 0;
    while (n < PW_LEN) {
        unsigned char b[32];
        if (RAND_bytes(b, sizeof(b)) != 1) {
            return -1;
        }
        for (size_t i = 0; i < sizeof(b) && n < PW_LEN; i++) {
            if (b[i] < 248) { /* 248 = 4 * 62: reject the rest so no character is favoured */
                out[n++] = set[b[i] % 62];
            }
        }
        OPENSSL_cleanse(b, sizeof(b));
    }
    out[PW_LEN] = '\0';
    return 0;
}

/* The password: -p; else --password-file's (read when the file exists, else generated and
 * saved there 0600); else generated and printed first, as the reference does, so that it
 * is known even if the reply is lost. *from_file is freed by the caller. Returns -1 to go
 * on, else the exit code. */
static int pkcs12_password(const char **out, char generated[PW_LEN + 1], char **from_file,
                           const create_args *a)
{
    struct stat st;
    int rc;

    if (a->password != NULL) {
        *out = a->password;
        return -1;
    }
    if (a->passfile != NULL && stat(a->passfile, &st) == 0) {
        char spec[4096];
        snprintf(spec, sizeof(spec), "file:%s", a->passfile);
        if ((rc = trisa_secret_read(from_file, NULL, spec, NULL)) != 0) {
            return tool_fail(PROG, rc);
        }
        if ((*from_file)[0] == '\0') {
            return tool_error(PROG, TOOL_EXIT_INPUT, "secret", "%s is empty", a->passfile);
        }
        *out = *from_file;
        return -1;
    }
    if (generate_password(generated) != 0) {
        return tool_error(PROG, TOOL_EXIT_FAILURE, "crypto", "the random generator failed");
    }
    *out = generated;
    if (a->passfile != NULL) {
        char line[PW_LEN + 2];
        snprintf(line, sizeof(line), "%s\n", generated);
        rc = trisa_file_write_atomic(a->passfile, line, strlen(line), 0600, 0);
        OPENSSL_cleanse(line, sizeof(line));
        if (rc != 0) {
            return tool_fail(PROG, rc);
        }
        fprintf(stderr, "%s: pkcs12 password saved to %s\n", PROG, a->passfile);
        return -1;
    }
    if (tool_report_json()) {
        /* In the document (and beside an error: the batch may exist although its reply
         * was lost). */
        trisa_buf b = TRISA_BUF_INIT;
        trisa_buf_puts(&b, "\"pkcs12Password\": ");
        trisa_json_str(&b, generated, 0);
        tool_report_extra(b.data);
        trisa_buf_free(&b, 1);
        return -1;
    }
    printf("pkcs12 password: %s\n", generated);
    fflush(stdout);
    return -1;
}

/* ---- Phase 4: the request ------------------------------------------------------------- */

/* With --json: {"pkcs12Password": generated or null, "passwordFile": ..., "batch": the
 * reference's JSON}. */
static int print_document(const char *generated, const create_args *a, const char *json)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_puts(&b, "{\"pkcs12Password\": ");
    trisa_json_str(
        &b, generated != NULL && generated[0] != '\0' && a->passfile == NULL ? generated : NULL, 0);
    trisa_buf_puts(&b, ", \"passwordFile\": ");
    trisa_json_str(&b, a->passfile, 0);
    trisa_buf_printf(&b, ", \"batch\": %s}\n", json);
    if (b.failed) {
        trisa_buf_free(&b, 1);
        return tool_error(PROG, TOOL_EXIT_FAILURE, "nomem", "out of memory");
    }
    fputs(b.data, stdout);
    trisa_buf_free(&b, 1);
    tool_report_printed();
    return fflush(stdout) == 0
               ? TOOL_EXIT_OK
               : tool_error(PROG, TOOL_EXIT_FAILURE, "io", "cannot write to standard output");
}

static int send_batch(trisa_sectigo *c, const create_args *a, const create_plan *pl,
                      const char *generated)
{
    trisa_sectigo_batch *batch = NULL;
    char *name_buf = NULL, *json = NULL;
    const char *batch_name = a->batch_name;
    int rc;

    if (batch_name == NULL || batch_name[0] == '\0') {
        size_t n = strlen(a->domain) + sizeof("new certs for ");
        if ((name_buf = malloc(n)) == NULL) {
            return tool_error(PROG, TOOL_EXIT_FAILURE, "nomem", "out of memory");
        }
        snprintf(name_buf, n, "new certs for %s", a->domain);
        batch_name = name_buf;
    }
    rc = trisa_sectigo_create_single_cert_batch(&batch, c, a->authority, batch_name, pl->params);
    if (rc == 0) {
        rc = trisa_sectigo_batch_json(&json, batch);
    }
    if (rc == 0 && tool_report_json()) {
        /* The batch JSON ends with a new line; inside the document it need not. */
        size_t n = strlen(json);
        while (n > 0 && json[n - 1] == '\n') {
            json[--n] = '\0';
        }
        rc = print_document(generated, a, json);
        free(json);
    } else {
        rc = sectigo_print_json(PROG, rc, json);
    }
    trisa_sectigo_batch_free(batch);
    free(name_buf);
    return rc;
}

int cmd_create(int argc, char **argv, sectigo_globals *g)
{
    create_args a;
    create_plan pl;
    trisa_sectigo *c = NULL;
    char generated[PW_LEN + 1] = "", *from_file = NULL;
    const char *password = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = parse(&a, argc, argv)) >= 0) {
        return rc;
    }
    if ((rc = sectigo_open(&c, g, PROG)) != 0) {
        return rc;
    }
    if ((rc = plan(&pl, c, &a, g->profile)) >= 0) {
        goto done;
    }
    if (pl.wants_password && (rc = pkcs12_password(&password, generated, &from_file, &a)) >= 0) {
        goto done;
    }
    for (size_t i = 0; i < pl.n; i += 2) {
        if (strcmp(pl.params[i], "pkcs12Password") == 0) {
            pl.params[i + 1] = password;
        }
    }
    rc = send_batch(c, &a, &pl, generated);
done:
    OPENSSL_cleanse(generated, sizeof(generated));
    trisa_secret_free(from_file);
    trisa_sectigo_free(c);
    return rc;
}
