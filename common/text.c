/*
 * Text every output shares: the one JSON string escaper, and the one way a distinguished
 * name and a fingerprint are printed (so that what one tool prints can be grepped for in
 * another's output).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/internal.h"

int trisa_json_str(trisa_buf *b, const char *s, unsigned flags)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (s == NULL) {
        return trisa_buf_puts(b, "null");
    }
    n = strlen(s);
    trisa_buf_puts(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        uint32_t cp = 0;
        int len;
        if (c < 0x80) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf], 0};
            switch (c) {
            case '"':
                trisa_buf_puts(b, "\\\"");
                break;
            case '\\':
                trisa_buf_puts(b, "\\\\");
                break;
            case '\n':
                trisa_buf_puts(b, "\\n");
                break;
            case '\r':
                trisa_buf_puts(b, "\\r");
                break;
            case '\t':
                trisa_buf_puts(b, "\\t");
                break;
            case '<':
            case '>':
            case '&':
                /* Go's encoding/json escapes these for HTML; the reference prints them so. */
                if (flags & TRISA_JSON_GO) {
                    trisa_buf_puts(b, esc);
                } else {
                    trisa_buf_append(b, p + i, 1);
                }
                break;
            default:
                if (c < 0x20) {
                    trisa_buf_puts(b, esc);
                } else {
                    trisa_buf_append(b, p + i, 1);
                }
            }
            i++;
            continue;
        }
        len = trisa_utf8_next(p + i, n - i, &cp);
        if (len < 0) {
            if (flags & TRISA_JSON_GO) {
                trisa_buf_puts(b, "\\ufffd");
            } else {
                trisa_buf_printf(b, "\\u%04x", c); /* the byte as its Latin-1 character */
            }
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            trisa_buf_puts(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
            i += (size_t)len;
        } else {
            trisa_buf_append(b, p + i, (size_t)len);
            i += (size_t)len;
        }
    }
    trisa_buf_puts(b, "\"");
    return b->failed ? -1 : 0;
}

char *trisa_name_string(const X509_NAME *name)
{
    /* RFC 2253 as OpenSSL prints it (most specific first, "," between RDNs, "+" inside
     * one, ,+"\<>; escaped, controls as \XX, unknown types as #DER) is RFC 4514's string
     * form; UTF-8 is kept rather than escaped byte by byte. */
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (bio == NULL) {
        return NULL;
    }
    if (name != NULL && X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        out = trisa_bio_text(bio, NULL);
    } else if (name == NULL) {
        out = strdup("");
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

char *trisa_fingerprint_text(char out[TRISA_FINGERPRINT_TEXT], const unsigned char md[32])
{
    return trisa_hex(out, md, 32, ':');
}

char *trisa_cert_fingerprint(char out[TRISA_FINGERPRINT_TEXT], X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (cert != NULL && X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32) {
        trisa_fingerprint_text(out, md);
    }
    ERR_clear_error();
    return out;
}
