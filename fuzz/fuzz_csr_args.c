/*
 * libFuzzer target: the values trisa-csr takes on its command line and from scripts that
 * build one, checked as the tool checks them before any file is read: line 1 is a key
 * spec (--key rsa:4096, ec:P-384) and a digest name (--digest), line 2 a --cn, line 3 a
 * -reqexts section name, every further line a --san (DNS name, or DNS:/IP:/email:/URI:).
 * Values that pass go into a valid trisa.conf, and the request is made with a fixed EC
 * key, signed, encoded and read back: the CN given is the CSR's, and no SAN is lost.
 * A key spec that parses formats back into a spec that parses the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trisa/csr.h"
#include "trisa/keygen.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] = "[req]\n"
                           "prompt = no\n"
                           "distinguished_name = dn\n"
                           "req_extensions = ext\n"
                           "[dn]\n"
                           "C = US\n"
                           "O = Fuzz VASP\n"
                           "CN = fuzz.example.com\n"
                           "[ext]\n"
                           "subjectAltName = DNS:fuzz.example.com\n"
                           "keyUsage = critical, digitalSignature\n"
                           "extendedKeyUsage = serverAuth, clientAuth\n";

static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    trisa_keygen_spec spec;

    (void)argc;
    (void)argv;
    if (trisa_keygen_spec_parse(&spec, "ec:P-256") != 0 ||
        trisa_keygen_generate(&key, &spec) != 0) {
        abort();
    }
    return 0;
}

static void key_spec(const char *text)
{
    trisa_keygen_spec a, b;
    char back[32];

    (void)trisa_csr_digest_check(text);
    if (trisa_keygen_spec_parse(&a, text) != 0) {
        return;
    }
    if (trisa_keygen_spec_format(back, sizeof(back), &a) != 0 ||
        trisa_keygen_spec_parse(&b, back) != 0 || memcmp(&a, &b, sizeof(a)) != 0) {
        abort();
    }
}

static void request(const trisa_csr_config_options *o)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL, *back = NULL;
    char *pem = NULL;
    size_t len = 0;

    if (trisa_csr_config_parse(&cfg, conf, sizeof(conf) - 1, "fuzz.conf", o) != 0) {
        goto done;
    }
    if (trisa_csr_create(&csr, cfg, key, NULL) != 0) {
        goto done;
    }
    if (trisa_csr_to_pem(&pem, &len, csr) != 0 ||
        trisa_csr_parse(&back, (const unsigned char *)pem, len, "again") != 0) {
        abort(); /* what we signed, we must read */
    }
    if (o->common_name != NULL && (trisa_csr_common_name(back) == NULL ||
                                   strcmp(trisa_csr_common_name(back), o->common_name) != 0)) {
        abort();
    }
    if (trisa_csr_san_count(back) < 1 || trisa_csr_san_count(back) > o->san_count + 1) {
        abort();
    }
done:
    free(pem);
    trisa_csr_free(back);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *lines[20];
    size_t n = 0;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *p = text; n < sizeof(lines) / sizeof(lines[0]);) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    key_spec(lines[0]);
    o.common_name = n > 1 && lines[1][0] != '\0' ? lines[1] : NULL;
    o.extensions = n > 2 && lines[2][0] != '\0' ? lines[2] : NULL;
    o.sans = n > 3 ? (const char *const *)&lines[3] : NULL;
    o.san_count = n > 3 ? n - 3 : 0;
    if (trisa_csr_config_options_check(&o) == 0) {
        request(&o);
    }
    free(text);
    trisa_error_clear();
    return 0;
}
