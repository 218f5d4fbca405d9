/* Small OpenSSL helpers every module shares: a memory BIO's text, certificates as PEM. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>

#include "common/internal.h"

char *trisa_bio_text(BIO *bio, size_t *len)
{
    BUF_MEM *mem = NULL;
    char *text;

    if (bio == NULL || BIO_get_mem_ptr(bio, &mem) <= 0 || mem == NULL) {
        return NULL;
    }
    text = malloc(mem->length + 1);
    if (text == NULL) {
        return NULL;
    }
    memcpy(text, mem->data, mem->length);
    text[mem->length] = '\0';
    if (len != NULL) {
        *len = mem->length;
    }
    return text;
}

int trisa_buf_put_cert_pem(trisa_buf *b, const X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem = NULL;
    int rc = 0;

    if (bio == NULL || PEM_write_bio_X509(bio, x) != 1 || BIO_get_mem_ptr(bio, &mem) <= 0) {
        rc = trisa_error_set_ssl(TRISA_ECRYPTO, "cannot encode a certificate");
    } else if (trisa_buf_append(b, mem->data, mem->length) != 0) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    BIO_free(bio);
    return rc;
}
