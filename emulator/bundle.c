/* Batch bundles: the ZIP the download returns, the ZIP a CSR upload may carry, PKCS#12. */
#include <stdlib.h>
#include <string.h>

#include <openssl/pkcs12.h>
#include <zip.h>

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

int emu_zip_read(emu_zip_member **out, size_t *n, const unsigned char *zip, size_t len,
                 size_t max_total)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *z = NULL;
    emu_zip_member *m = NULL;
    zip_int64_t count;
    size_t total = 0, k = 0;
    int err = TRISA_EZIP;

    *out = NULL;
    *n = 0;
    zip_error_init(&ze);
    src = zip_source_buffer_create(zip, len, 0, &ze);
    if (src == NULL) {
        goto done;
    }
    z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (z == NULL) {
        zip_source_free(src);
        err = trisa_error_set(TRISA_EZIP, "not a ZIP archive: %s", zip_error_strerror(&ze));
        goto done;
    }
    count = zip_get_num_entries(z, 0);
    if (count < 0 || count > 1000) {
        err = trisa_error_set(TRISA_EZIP, "ZIP has too many members");
        goto done;
    }
    m = calloc((size_t)count + 1, sizeof(*m));
    if (m == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    for (zip_int64_t i = 0; i < count; i++) {
        zip_stat_t st;
        zip_file_t *f;
        const char *name, *dot;

        if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
            !(st.valid & ZIP_STAT_SIZE)) {
            err = trisa_error_set(TRISA_EZIP, "ZIP member %lld unreadable", (long long)i);
            goto done;
        }
        name = st.name;
        dot = strrchr(name, '.');
        if (name[0] == '\0' || name[strlen(name) - 1] == '/' || dot == NULL ||
            (strcmp(dot, ".csr") != 0 && strcmp(dot, ".pem") != 0)) {
            continue; /* folders and other files are ignored, as the real service does */
        }
        if (st.size > max_total || total + st.size > max_total) {
            err = trisa_error_set(TRISA_ETOOBIG, "ZIP members exceed %zu bytes", max_total);
            goto done;
        }
        total += st.size;
        m[k].name = strdup(name);
        m[k].data = malloc(st.size + 1);
        m[k].len = st.size;
        k++;
        if (m[k - 1].name == NULL || m[k - 1].data == NULL) {
            err = TRISA_ENOMEM;
            goto done;
        }
        f = zip_fopen_index(z, (zip_uint64_t)i, 0);
        if (f == NULL || zip_fread(f, m[k - 1].data, st.size) != (zip_int64_t)st.size) {
            if (f) {
                zip_fclose(f);
            }
            err = trisa_error_set(TRISA_EZIP, "ZIP member %s unreadable", name);
            goto done;
        }
        zip_fclose(f);
        m[k - 1].data[st.size] = '\0';
    }
    *out = m;
    *n = k;
    m = NULL;
    err = 0;
done:
    emu_zip_members_free(m, k);
    if (z != NULL) {
        zip_discard(z);
    }
    zip_error_fini(&ze);
    return err;
}

void emu_zip_members_free(emu_zip_member *m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++) {
        free(m[i].name);
        free(m[i].data);
    }
    free(m);
}

int emu_p12_build(unsigned char **out, size_t *outlen, OSSL_LIB_CTX *libctx, const char *pass,
                  const char *friendly, EVP_PKEY *key, X509 *leaf, X509 *issuing, X509 *root,
                  int modern)
{
    STACK_OF(X509) *ca = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL;
    int len, err = TRISA_ECRYPTO;
    /* Real bundles: certificates under 40-bit RC2, the key under 3DES, 2048 iterations,
     * a SHA-1 MAC with one iteration. The modern switch: PBES2/AES-256-CBC, SHA-256 MAC. */
    int nid_key = modern ? NID_aes_256_cbc : NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
    int nid_cert = modern ? NID_aes_256_cbc : NID_pbe_WithSHA1And40BitRC2_CBC;

    *out = NULL;
    *outlen = 0;
    if (ca == NULL || !sk_X509_push(ca, issuing) || !sk_X509_push(ca, root)) {
        goto done;
    }
    /* No MAC here: OpenSSL 3 would pick SHA-256; the MAC is set below, explicitly. */
    p12 = PKCS12_create_ex(pass, friendly, key, leaf, ca, nid_key, nid_cert, 2048, -1, 0, libctx,
                           NULL);
    if (p12 == NULL) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "PKCS#12 bundle");
        goto done;
    }
    if (!PKCS12_set_mac(p12, pass, -1, NULL, 0, modern ? 2048 : 1,
                        modern ? EVP_sha256() : EVP_sha1())) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "PKCS#12 MAC");
        goto done;
    }
    len = i2d_PKCS12(p12, &der);
    if (len <= 0) {
        err = trisa_error_set_ssl(TRISA_ECRYPTO, "PKCS#12 encoding");
        goto done;
    }
    *out = malloc((size_t)len);
    if (*out == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    memcpy(*out, der, (size_t)len);
    *outlen = (size_t)len;
    err = 0;
done:
    OPENSSL_free(der);
    PKCS12_free(p12);
    sk_X509_free(ca);
    return err;
}
