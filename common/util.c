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

/* ---- base64url (RFC 4648 section 5), the one codec of the project ---- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int trisa_b64url_encode(trisa_buf *out, const void *in, size_t len)
{
    const unsigned char *p = in;
    char q[4];
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        q[2] = b64url_alphabet[(v >> 6) & 63];
        q[3] = b64url_alphabet[v & 63];
        trisa_buf_append(out, q, 4);
    }
    if (len - i > 0) {
        unsigned v = (unsigned)p[i] << 16 | (len - i == 2 ? (unsigned)p[i + 1] << 8 : 0u);
        q[0] = b64url_alphabet[(v >> 18) & 63];
        q[1] = b64url_alphabet[(v >> 12) & 63];
        q[2] = b64url_alphabet[(v >> 6) & 63];
        trisa_buf_append(out, q, len - i + 1);
    }
    return out->failed ? TRISA_ENOMEM : 0;
}

static int b64_value(unsigned char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-' || (c == '+' && !(flags & TRISA_B64_STRICT))) {
        return 62;
    }
    if (c == '_' || (c == '/' && !(flags & TRISA_B64_STRICT))) {
        return 63;
    }
    return -1;
}

int trisa_b64url_decode(unsigned char **out, size_t *out_len, const char *in, size_t len,
                        unsigned flags)
{
    unsigned char *buf;
    unsigned acc = 0;
    int bits = 0, v = 0;
    size_t o = 0, n = len;

    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (!(flags & TRISA_B64_STRICT)) {
        const char *pad = memchr(in, '=', len);
        n = pad != NULL ? (size_t)(pad - in) : len; /* padding ends the text */
    }
    if (n % 4 == 1) {
        return trisa_error_set(TRISA_EINVAL, "base64url: %zu characters cannot be a whole encoding",
                               n);
    }
    buf = malloc(n / 4 * 3 + 3);
    if (buf == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v = b64_value((unsigned char)in[i], flags);
        if (v < 0) {
            free(buf);
            return trisa_error_set(TRISA_EINVAL, "base64url: character %zu is not in the alphabet",
                                   i + 1);
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The bits left over must be zero: otherwise several texts would decode to the same
     * bytes, and a signature would have more than one spelling. */
    if ((flags & TRISA_B64_STRICT) && acc != 0) {
        free(buf);
        return trisa_error_set(TRISA_EINVAL, "base64url: the last character has unused bits set");
    }
    buf[o] = '\0';
    *out = buf;
    if (out_len != NULL) {
        *out_len = o;
    }
    return 0;
}
