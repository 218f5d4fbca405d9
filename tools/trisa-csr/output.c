/* Summaries of a made request: human form (--print) and JSON (--json). */
#include <stdio.h>

#include "tools/trisa-csr/trisa-csr.h"

void out_json_string(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            } else {
                fputc(*p, f);
            }
        }
    }
    fputc('"', f);
}

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
                      const trisa_csr *csr)
{
    size_t n = trisa_csr_san_count(csr);
    fputs("{\"config\": ", f);
    out_json_string(f, config);
    fputs(", \"keyFile\": ", f);
    out_json_string(f, keyfile);
    fputs(", \"csrFile\": ", f);
    out_json_string(f, csrfile);
    fputs(", \"subject\": ", f);
    out_json_string(f, trisa_csr_subject(csr));
    fputs(", \"commonName\": ", f);
    out_json_string(f, trisa_csr_common_name(csr));
    fputs(", \"subjectAltNames\": [", f);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            fputs(", ", f);
        }
        out_json_string(f, trisa_csr_san(csr, i));
    }
    fputs("], \"key\": ", f);
    out_json_string(f, trisa_csr_key_description(csr));
    fputs(", \"signatureAlgorithm\": ", f);
    out_json_string(f, trisa_csr_signature_algorithm(csr));
    fputs(", \"publicKeySha256\": ", f);
    out_json_string(f, trisa_csr_key_fingerprint(csr));
    fputs("}", f);
}
