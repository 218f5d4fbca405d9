/* Small shared helpers: a growable buffer, hex, number parsing. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/internal.h"

static int grow(trisa_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed) {
        return TRISA_ENOMEM;
    }
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return TRISA_ENOMEM;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    /* realloc would leave secrets behind in the old block: copy and wipe instead. */
    p = malloc(cap);
    if (p == NULL) {
        b->failed = 1;
        return TRISA_ENOMEM;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int trisa_buf_append(trisa_buf *b, const void *data, size_t len)
{
    if (grow(b, len) != 0) {
        return TRISA_ENOMEM;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int trisa_buf_puts(trisa_buf *b, const char *s)
{
    return trisa_buf_append(b, s, strlen(s));
}

int trisa_buf_vprintf(trisa_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = 1;
        return TRISA_ENOMEM;
    }
    if (grow(b, (size_t)n) != 0) {
        return TRISA_ENOMEM;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int trisa_buf_printf(trisa_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trisa_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void trisa_buf_free(trisa_buf *b, int wipe)
{
    if (b == NULL) {
        return;
    }
    if (b->data != NULL && wipe) {
        OPENSSL_cleanse(b->data, b->cap);
    }
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

char *trisa_buf_detach(trisa_buf *b, size_t *len)
{
    char *p;
    if (b->failed) {
        trisa_buf_free(b, 1);
        return NULL;
    }
    if (b->data == NULL && grow(b, 0) != 0) {
        return NULL;
    }
    p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

char *trisa_hex(char *out, const unsigned char *bytes, size_t len, char sep)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (sep && i > 0) {
            out[o++] = sep;
        }
        out[o++] = digits[bytes[i] >> 4];
        out[o++] = digits[bytes[i] & 0xf];
    }
    out[o] = '\0';
    return out;
}

void trisa_free_secret(void *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}

int trisa_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t' || *s == '+') {
        return TRISA_EINVAL;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return TRISA_EINVAL;
    }
    *out = v;
    return 0;
}
