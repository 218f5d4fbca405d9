/*
 * Example: list the authorities of a Sectigo account and upload a CSR, with the trisa
 * library directly.
 *
 *   SECTIGO_USERNAME=... SECTIGO_PASSWORD=... [SECTIGO_ENDPOINT=... SECTIGO_ENVIRONMENT=...]
 *   sectigo_upload request.csr
 *
 * Build against an installed trisa:  cc sectigo_upload.c $(pkg-config --cflags --libs trisa)
 * (or this folder's CMakeLists.txt, with find_package(trisa) and trisa::trisa)
 */
#include <stdio.h>
#include <stdlib.h>

#include <trisa/trisa.h>

static void warn(const char *message, void *data)
{
    (void)data;
    fprintf(stderr, "warning: %s\n", message);
}

int main(int argc, char **argv)
{
    trisa_sectigo_options opts = TRISA_SECTIGO_OPTIONS_INIT;
    trisa_sectigo *client = NULL;
    trisa_sectigo_authority_list *authorities = NULL;
    trisa_sectigo_batch *batch = NULL;
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    int rc, status = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s request.csr\n", argv[0]);
        return 2;
    }
    opts.endpoint = getenv("SECTIGO_ENDPOINT");
    opts.environment = getenv("SECTIGO_ENVIRONMENT");
    opts.username = getenv("SECTIGO_USERNAME");
    opts.password = getenv("SECTIGO_PASSWORD");
    opts.ca_bundle = getenv("SECTIGO_CA_BUNDLE");
    opts.warn = warn;

    /* NULL-safe frees and one exit path: every error is reported the same way. */
    if ((rc = trisa_sectigo_new(&client, &opts)) != 0 ||
        (rc = trisa_sectigo_authorities(&authorities, client)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < authorities->count; i++) {
        const trisa_sectigo_authority *a = &authorities->items[i];
        printf("authority %lld: %s, profile %lld (%s), balance %lld\n", a->id, a->ecosystem_name,
               a->profile_id, a->profile_name, a->balance);
    }
    if (authorities->count == 0) {
        fprintf(stderr, "the account has no authority to upload under\n");
        goto done;
    }
    if ((rc = trisa_file_read(&csr, &csr_len, argv[1], 1 << 20)) != 0 ||
        (rc = trisa_sectigo_upload_csr(&batch, client, authorities->items[0].profile_id, NULL, csr,
                                       csr_len, NULL)) != 0) {
        goto done;
    }
    printf("batch %lld: %s\n", batch->batch_id, batch->status);
    status = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", trisa_error_last());
    }
    trisa_sectigo_batch_free(batch);
    free(csr);
    trisa_sectigo_authority_list_free(authorities);
    trisa_sectigo_free(client);
    return status;
}
