/*
 * Batch bundles: the ZIP the download returns and the PKCS#12 of a server-made key. A
 * ZIP a CSR upload carries is read with the library's safe reader (upload.c); only the
 * emulator writes ZIPs, so that part is its own.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <zip.h>

#include "trisa/bundle.h"

#include "emulator/emu.h"

int emu_zip_build(unsigned char **out, size_t *outlen, const emu_zip_member *m, size_t n)
{
    zip_error_t ze;
    zip_source_t *src = NULL, *fsrc;
    zip_t *z = NULL;
    zip_int64_t len;
    unsigned char *buf = NULL;
    int err = TRISA_EZIP;

    *out = NULL;
    *outlen = 0;
    zip_error_init(&ze);
    src = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (src == NULL) {
        goto done;
    }
    zip_source_keep(src);
    z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (z == NULL) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        fsrc = zip_source_buffer(z, m[i].data, m[i].len, 0);
        if (fsrc == NULL || zip_file_add(z, m[i].name, fsrc, ZIP_FL_ENC_UTF_8) < 0) {
            zip_source_free(fsrc);
            goto done;
        }
    }
    if (zip_close(z) != 0) {
        goto done;
    }
    z = NULL;
    if (zip_source_open(src) != 0) {
        goto done;
    }
    if (zip_source_seek(src, 0, SEEK_END) != 0 || (len = zip_source_tell(src)) < 0 ||
        zip_source_seek(src, 0, SEEK_SET) != 0) {
        zip_source_close(src);
        goto done;
    }
    buf = malloc((size_t)len + 1);
    if (buf == NULL || zip_source_read(src, buf, (zip_uint64_t)len) != len) {
        zip_source_close(src);
        goto done;
    }
    zip_source_close(src);
    *out = buf;
    *outlen = (size_t)len;
    buf = NULL;
    err = 0;
done:
    if (err != 0) {
        trisa_error_set(TRISA_EZIP, "cannot build the batch ZIP: %s", zip_error_strerror(&ze));
    }
    free(buf);
    if (z != NULL) {
        zip_discard(z);
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return err;
}

/* The PKCS#12 of a server-made key goes through the library's bundle writer, the one
 * trisa-fetch uses to re-export: a bundle of the three certificates and the key, resolved
 * to its one identity, exported in Sectigo's algorithms (or the modern ones). */
int emu_p12_build(unsigned char **out, size_t *outlen, const char *pass, EVP_PKEY *key, X509 *leaf,
                  X509 *issuing, X509 *root, int modern)
{
    trisa_bundle *b = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n;
    int err;

    *out = NULL;
    *outlen = 0;
    if (bio == NULL || !PEM_write_bio_X509(bio, leaf) || !PEM_write_bio_X509(bio, issuing) ||
        !PEM_write_bio_X509(bio, root) || (n = BIO_get_mem_data(bio, &pem)) <= 0) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "PKCS#12: cannot encode the certificates");
        goto done;
    }
    if ((err = trisa_bundle_new(&b, NULL)) != 0 ||
        (err = trisa_bundle_add_member(b, "chain.pem", pem, (size_t)n)) != 0 ||
        (err = trisa_bundle_add_key(b, key)) != 0 || (err = trisa_bundle_resolve(b)) != 0) {
        goto done;
    }
    if (trisa_bundle_identity_count(b) != 1) {
        err = trisa_error_set(TRISA_ECRYPTO,
                              "PKCS#12: the leaf and the key do not make one identity");
        goto done;
    }
    err = trisa_bundle_export_p12(out, outlen, b, 0, pass,
                                  modern ? TRISA_P12_MODERN : TRISA_P12_SECTIGO);
done:
    BIO_free(bio);
    trisa_bundle_free(b);
    return err;
}
