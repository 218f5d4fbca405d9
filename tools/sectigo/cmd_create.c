/* sectigo create -a ID -d DOMAIN [-p PASS | --password-file FILE] [-b NAME] [-c -s -l]:
 * a single-certificate batch whose key the server generates, returned as PKCS#12. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "trisa/sectigo.h"
#include "tools/common/exit.h"
#include "tools/common/opt.h"
#include "tools/sectigo/sectigo.h"

enum {
    O_AUTHORITY = 1,
    O_DOMAIN,
    O_PASSWORD,
    O_PASSFILE,
    O_BATCH,
    O_COUNTRY,
    O_STATE,
    O_LOCALITY,
    O_HELP
};

static const tool_opt opts[] = {
    {O_AUTHORITY, 'a', "authority", "ID", "id of the authority or profile to issue the cert"},
    {O_DOMAIN, 'd', "domain", "DOMAIN", "common name of the subject to issue the cert for"},
    {O_PASSWORD, 'p', "password", "PASS", "pkcs12 password (generated and printed by default)"},
    {O_PASSFILE, 0, "password-file", "FILE",
     "read the pkcs12 password from FILE, or save a generated one there (mode 0600)"},
    {O_BATCH, 'b', "batch-name", "NAME",
     "description of the batch for review purposes (default: new certs for DOMAIN)"},
    {O_COUNTRY, 'c', "country", "CC", "countryName of the subject"},
    {O_STATE, 's', "state", "STATE", "stateOrProvinceName of the subject"},
    {O_LOCALITY, 'l', "locality", "CITY", "localityName of the subject"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

#define PW_LEN 20

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

int cmd_create(int argc, char **argv, sectigo_globals *g)
{
    const char *prog = "sectigo create";
    trisa_sectigo *c = NULL;
    trisa_sectigo_batch *batch = NULL;
    const char *domain = NULL, *password = NULL, *passfile = NULL, *batch_name = NULL;
    const char *country = NULL, *state = NULL, *locality = NULL;
    const char *params[16];
    char generated[PW_LEN + 1], *from_file = NULL, *name_buf = NULL, *json = NULL;
    size_t np = 0;
    tool_parser p;
    long authority = 0;
    int id, rc;

    tool_opt_init(&p, argc, argv, opts, prog);
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case O_AUTHORITY:
            if (tool_opt_long(prog, p.name, p.value, 0, LONG_MAX, &authority) != 0) {
                return TOOL_EXIT_USAGE;
            }
            break;
        case O_DOMAIN:
            domain = p.value;
            break;
        case O_PASSWORD:
            password = p.value;
            break;
        case O_PASSFILE:
            passfile = p.value;
            break;
        case O_BATCH:
            batch_name = p.value;
            break;
        case O_COUNTRY:
            country = p.value;
            break;
        case O_STATE:
            state = p.value;
            break;
        case O_LOCALITY:
            locality = p.value;
            break;
        case O_HELP:
            sectigo_help("sectigo [global options] create -a ID -d DOMAIN [-p PASS | "
                         "--password-file FILE] [-b NAME] [-c CC] [-s STATE] [-l CITY]",
                         "Create a single certificate batch; the server generates the key and "
                         "returns it in a PKCS#12\nfile encrypted with the pkcs12 password.",
                         opts);
            return TOOL_EXIT_OK;
        case TOOL_OPT_POSITIONAL:
            return tool_usage_error(prog, "unexpected argument '%s'", p.value);
        default:
            return TOOL_EXIT_USAGE;
        }
    }
    if (domain == NULL || domain[0] == '\0') {
        return tool_usage_error(prog, "must specify domain name of cert subject");
    }
    if (authority == 0) {
        return tool_usage_error(prog, "must specify authority ID");
    }
    if (password != NULL && passfile != NULL) {
        return tool_usage_error(prog, "give either --password or --password-file, not both");
    }
    if ((rc = sectigo_open(&c, g, prog)) != 0) {
        return rc;
    }
    if (password == NULL && passfile != NULL) {
        struct stat st;
        if (stat(passfile, &st) == 0) {
            char spec[4096];
            snprintf(spec, sizeof(spec), "file:%s", passfile);
            if ((rc = trisa_secret_read(&from_file, NULL, spec, NULL)) != 0) {
                rc = tool_fail(prog, rc);
                goto done;
            }
            if (from_file[0] == '\0') {
                tool_warn(prog, "%s is empty", passfile);
                rc = TOOL_EXIT_INPUT;
                goto done;
            }
            password = from_file;
        } else {
            char line[PW_LEN + 2];
            if (generate_password(generated) != 0) {
                rc = tool_fail(prog, TRISA_ECRYPTO);
                goto done;
            }
            snprintf(line, sizeof(line), "%s\n", generated);
            rc = trisa_file_write_atomic(passfile, line, strlen(line), 0600, 0);
            OPENSSL_cleanse(line, sizeof(line));
            if (rc != 0) {
                rc = tool_fail(prog, rc);
                goto done;
            }
            fprintf(stderr, "%s: pkcs12 password saved to %s\n", prog, passfile);
            password = generated;
        }
    } else if (password == NULL) {
        if (generate_password(generated) != 0) {
            rc = tool_fail(prog, TRISA_ECRYPTO);
            goto done;
        }
        password = generated;
        /* Printed before the request, as the reference does: if the reply is lost the
         * batch may still exist, and its bundle is useless without this password. */
        printf("pkcs12 password: %s\n", password);
        fflush(stdout);
    }
    if (batch_name == NULL || batch_name[0] == '\0') {
        size_t n = strlen(domain) + sizeof("new certs for ");
        if ((name_buf = malloc(n)) == NULL) {
            rc = tool_fail(prog, TRISA_ENOMEM);
            goto done;
        }
        snprintf(name_buf, n, "new certs for %s", domain);
        batch_name = name_buf;
    }
    params[np++] = "commonName";
    params[np++] = domain;
    params[np++] = "dNSName";
    params[np++] = domain;
    params[np++] = "pkcs12Password";
    params[np++] = password;
    if (country != NULL) {
        params[np++] = "countryName";
        params[np++] = country;
    }
    if (state != NULL) {
        params[np++] = "stateOrProvinceName";
        params[np++] = state;
    }
    if (locality != NULL) {
        params[np++] = "localityName";
        params[np++] = locality;
    }
    params[np] = NULL;
    rc = trisa_sectigo_create_single_cert_batch(&batch, c, authority, batch_name, params);
    if (rc == 0) {
        rc = trisa_sectigo_batch_json(&json, batch);
    }
    rc = sectigo_print_json(prog, rc, json);
done:
    OPENSSL_cleanse(generated, sizeof(generated));
    trisa_secret_free(from_file);
    free(name_buf);
    trisa_sectigo_batch_free(batch);
    trisa_sectigo_free(c);
    return rc;
}
