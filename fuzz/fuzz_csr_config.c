/*
 * libFuzzer target: a trisa.conf as an operator (or anything that can write one) gives it,
 * through the loader and validator. It is parsed from memory with the working folder set
 * to a private one that holds an include target (inc.cnf), so `.include` and relative
 * paths are reached without touching anything else.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trisa/csr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/trisa-fuzz-conf.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char inc[] = "[inc_section]\nDNS.9 = included.example.com\n";
    char path[sizeof(dir) + 32];
    int fd;

    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/inc.cnf", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, inc, sizeof(inc) - 1) != (ssize_t)(sizeof(inc) - 1)) {
        abort();
    }
    close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    trisa_keygen_spec spec;

    if (trisa_csr_config_parse(&cfg, (const char *)data, size, "fuzz.conf", &o) == 0) {
        trisa_csr_config_key_spec(cfg, &spec);
        (void)trisa_csr_config_digest(cfg);
        (void)trisa_csr_config_common_name(cfg);
        (void)trisa_csr_config_default_keyfile(cfg);
        for (size_t i = 0; i < trisa_csr_config_warning_count(cfg); i++) {
            (void)trisa_csr_config_warning(cfg, i);
        }
    }
    trisa_csr_config_free(cfg);
    trisa_error_clear();
    return 0;
}
