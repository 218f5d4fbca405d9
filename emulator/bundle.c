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

/* The PKCS#12 of a server-made key, built by the library's one PKCS#12 builder (the one
 * trisa-fetch uses to re-export) in Sectigo's algorithms, or the modern ones. The friendly
 * name is the leaf's CN, as in Sectigo's bundles. */
int emu_p12_build(unsigned char **out, size_t *outlen, const char *pass, EVP_PKEY *key, X509 *leaf,
                  X509 *issuing, X509 *root, int modern)
{
    trisa_bundle_p12_options o = TRISA_BUNDLE_P12_OPTIONS_INIT;
    X509 *chain[2] = {issuing, root};

    o.format = modern ? TRISA_P12_MODERN : TRISA_P12_SECTIGO;
    return trisa_bundle_p12_build(out, outlen, key, leaf, chain, 2, pass, &o);
}
