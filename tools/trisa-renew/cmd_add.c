/* trisa-renew add NAME --config trisa.conf --profile ID [...]: record a lineage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trisa/lineage.h"
#include "tools/common/exit.h"
#include "tools/trisa-renew/renew.h"

enum {
    O_STATE = 1,
    O_CONFIG,
    O_PROFILE,
    O_KEY,
    O_URI,
    O_MODULE,
    O_PIN_FILE,
    O_LABEL,
    O_TRUST,
    O_TRUST_ROOT,
    O_BEFORE,
    O_DEPLOY,
    O_FAILURE,
    O_CRED,
    O_DNS,
    O_IMPORTED,
    O_HELP,
};

static const tool_opt opts[] = {
    {O_STATE, 0, "state-dir", "DIR", "the state folder"},
    {O_CONFIG, 'c', "config", "FILE", "the trisa.conf to make each CSR from (copied)"},
    {O_PROFILE, 0, "profile", "ID", "Sectigo profile to upload to"},
    {O_KEY, 0, "key", "TYPE", "rsa:2048..4096, ec:P-256, ec:P-384 (the config's)"},
    {O_URI, 0, "pkcs11-uri", "URI", "make each new key on this token (PKCS#11 URI)"},
    {O_MODULE, 0, "pkcs11-module", "PATH", "its PKCS#11 module (default: p11-kit's proxy)"},
    {O_PIN_FILE, 0, "pin-file", "FILE", "the token PIN (first line)"},
    {O_LABEL, 0, "key-label", "LABEL", "token key labels are LABEL-N (default: the name)"},
    {O_TRUST, 0, "trust", "FILE", "PEM anchors the chain must verify to (copied)"},
    {O_TRUST_ROOT, 0, "trust-bundle-root", NULL, "trust the root inside each bundle"},
    {O_BEFORE, 0, "renew-before", "DAYS|N%", "renew when this remains (default 33%)"},
    {O_DEPLOY, 0, "deploy-hook", "CMD", "run after each switch (systemctl reload ...)"},
    {O_FAILURE, 0, "failure-hook", "CMD", "run when a due renewal fails"},
    {O_CRED, 0, "credentials", "FILE", "0600 file of SECTIGO_* (default: environment)"},
    {O_DNS, 0, "dns", "NAME", "a name each certificate must carry (repeatable)"},
    {O_IMPORTED, 0, "imported", NULL, "certificates come as bundles ('trisa-renew import')"},
    {O_HELP, 'h', "help", NULL, "show this help"},
    TOOL_OPT_END,
};

int cmd_add(int argc, char **argv)
{
    trisa_lineage_add_options o = TRISA_LINEAGE_ADD_OPTIONS_INIT;
    tool_parser p;
    const char *name = NULL;
    const char **dns = NULL;
    size_t ndns = 0;
    long profile = 0;
    int id, rc, exit_code = TOOL_EXIT_OK;

    if ((dns = calloc((size_t)argc + 1, sizeof(*dns))) == NULL) {
        return tool_fail(RENEW_PROG, TRISA_ENOMEM);
    }
    tool_opt_init(&p, argc, argv, opts, "trisa-renew add");
    while ((id = tool_opt_next(&p)) != TOOL_OPT_DONE) {
        switch (id) {
        case TOOL_OPT_ERROR:
            exit_code = TOOL_EXIT_USAGE;
            goto done;
        case TOOL_OPT_POSITIONAL:
            if (name != NULL) {
                exit_code =
                    tool_usage_error("trisa-renew add", "one lineage name, not '%s' too", p.value);
                goto done;
            }
            name = p.value;
            break;
        case O_STATE:
            o.state_dir = p.value;
            break;
        case O_CONFIG:
            o.config_file = p.value;
            break;
        case O_PROFILE:
            if (tool_opt_long("trisa-renew add", p.name, p.value, 1, 0x7fffffffL, &profile) != 0) {
                exit_code = TOOL_EXIT_USAGE;
                goto done;
            }
            o.profile_id = profile;
            break;
        case O_KEY:
            o.key_spec = p.value;
            break;
        case O_URI:
            if ((o.pkcs11_uri = tool_opt_uri(&p)) == NULL) {
                exit_code = TOOL_EXIT_FAILURE;
                goto done;
            }
            break;
        case O_MODULE:
            o.pkcs11_module = p.value;
            break;
        case O_PIN_FILE:
            o.pin_file = p.value;
            break;
        case O_LABEL:
            o.key_label = p.value;
            break;
        case O_TRUST:
            o.trust_file = p.value;
            break;
        case O_TRUST_ROOT:
            o.trust_bundle_root = 1;
            break;
        case O_BEFORE:
            o.renew_before = p.value;
            break;
        case O_DEPLOY:
            o.deploy_hook = p.value;
            break;
        case O_FAILURE:
            o.failure_hook = p.value;
            break;
        case O_CRED:
            o.credentials_file = p.value;
            break;
        case O_DNS:
            dns[ndns++] = p.value;
            break;
        case O_IMPORTED:
            o.imported = 1;
            break;
        case O_HELP:
            renew_help(stdout,
                       "trisa-renew add NAME --config FILE --profile ID [options]\n"
                       "       trisa-renew add NAME --imported (--trust FILE | "
                       "--trust-bundle-root) [options]",
                       "Records lineage NAME: the config its CSRs are made from, the Sectigo\n"
                       "profile, where its keys live (files, or a PKCS#11 token), how its chain\n"
                       "is trusted, when to renew and the hooks. Nothing is generated or\n"
                       "uploaded: 'trisa-renew NAME' makes the first certificate.\n"
                       "With --imported, the certificates come as bundles delivered to you (the\n"
                       "TRISA directory's yearly ZIP): 'trisa-renew import NAME --zip FILE' makes\n"
                       "each version, with this lineage's trust, hooks and --renew-before.",
                       opts,
                       "Exit codes: 0 recorded, 2 usage, 3 invalid input (config, trust file,\n"
                       "credentials), 4 a lineage of that name exists.");
            goto done;
        }
    }
    if (name == NULL) {
        exit_code = tool_usage_error("trisa-renew add", "a lineage name is needed");
        goto done;
    }
    if (o.imported && (o.config_file != NULL || o.profile_id != 0 || o.key_spec != NULL ||
                       o.pkcs11_uri != NULL || o.credentials_file != NULL)) {
        exit_code = tool_usage_error("trisa-renew add",
                                     "--imported lineages make no requests: --config, --profile, "
                                     "--key, --pkcs11-uri and --credentials do not apply");
        goto done;
    }
    if (!o.imported && (o.config_file == NULL || o.profile_id == 0)) {
        exit_code = tool_usage_error("trisa-renew add", "--config and --profile are needed (or "
                                                        "--imported, for delivered bundles)");
        goto done;
    }
    if (o.trust_file == NULL && !o.trust_bundle_root) {
        exit_code =
            tool_usage_error("trisa-renew add", "say how the chain is trusted: --trust FILE, or "
                                                "--trust-bundle-root");
        goto done;
    }
    if (o.pin_file != NULL && o.pkcs11_uri == NULL) {
        exit_code = tool_usage_error("trisa-renew add", "--pin-file needs --pkcs11-uri");
        goto done;
    }
    o.dns_names = dns;
    o.dns_count = ndns;
    if ((rc = trisa_lineage_add(name, &o)) != 0) {
        exit_code = tool_fail(RENEW_PROG, rc);
        goto done;
    }
    if (o.imported) {
        printf("lineage %s recorded (imported); 'trisa-renew import %s --zip FILE' makes each "
               "version\n",
               name, name);
    } else {
        printf("lineage %s recorded; 'trisa-renew %s' makes its first certificate\n", name, name);
    }
done:
    free(dns);
    return exit_code;
}
