/* Summaries of a made request: human form (--print) and JSON (--json). The subject is an
 * RFC 4514 string and the fingerprint colon-separated hex, as every tool prints them. */
#include <stdio.h>

#include "common/support.h"
#include "tools/trisa-csr/trisa-csr.h"

void out_print_summary(FILE *f, const char *config, const char *keyfile, const char *csrfile,
                       const trisa_csr *csr)
{
    size_t n = trisa_csr_san_count(csr);
    fprintf(f, "config:      %s\n", config);
    fprintf(f, "subject:     %s\n", trisa_csr_subject(csr));
    fprintf(f, "SANs:        ");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s%s", i ? ", " : "", trisa_csr_san(csr, i));
    }
    fprintf(f, "\n");
    fprintf(f, "key:         %s\n", trisa_csr_key_description(csr));
    fprintf(f, "signature:   %s\n", trisa_csr_signature_algorithm(csr));
    fprintf(f, "key SHA-256: %s\n", trisa_csr_key_fingerprint(csr));
    fprintf(f, "key file:    %s\n", keyfile ? keyfile : "-");
    fprintf(f, "CSR file:    %s\n", csrfile ? csrfile : "(standard output)");
}

void out_json_summary(FILE *f, const char *config, const char *keyfile, const char *csrfile,
                      const trisa_csr *csr, const char *csr_pem)
{
    trisa_buf b = TRISA_BUF_INIT;
    size_t n = trisa_csr_san_count(csr);
    trisa_buf_puts(&b, "{\"config\": ");
    trisa_json_str(&b, config, 0);
    trisa_buf_puts(&b, ", \"keyFile\": ");
    trisa_json_str(&b, keyfile, 0);
    trisa_buf_puts(&b, ", \"csrFile\": ");
    trisa_json_str(&b, csrfile, 0);
    trisa_buf_puts(&b, ", \"subject\": ");
    trisa_json_str(&b, trisa_csr_subject(csr), 0);
    trisa_buf_puts(&b, ", \"commonName\": ");
    trisa_json_str(&b, trisa_csr_common_name(csr), 0);
    trisa_buf_puts(&b, ", \"subjectAltNames\": [");
    for (size_t i = 0; i < n; i++) {
        trisa_buf_puts(&b, i ? ", " : "");
        trisa_json_str(&b, trisa_csr_san(csr, i), 0);
    }
    trisa_buf_puts(&b, "], \"key\": ");
    trisa_json_str(&b, trisa_csr_key_description(csr), 0);
    trisa_buf_puts(&b, ", \"signatureAlgorithm\": ");
    trisa_json_str(&b, trisa_csr_signature_algorithm(csr), 0);
    trisa_buf_puts(&b, ", \"publicKeySha256\": ");
    trisa_json_str(&b, trisa_csr_key_fingerprint(csr), 0);
    if (csr_pem != NULL) {
        /* No CSR file: the request is here, where a pipeline can take it. */
        trisa_buf_puts(&b, ", \"csrPem\": ");
        trisa_json_str(&b, csr_pem, 0);
    }
    trisa_buf_puts(&b, "}");
    if (!b.failed) {
        fputs(b.data, f);
    }
    trisa_buf_free(&b, 0);
}
