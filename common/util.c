/* Small shared helpers: a growable buffer, hex, number parsing. */
#include <ctype.h>
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

    /* A digit first (after a minus): strtol() would skip any white space, '\n' too. */
    if (s == NULL ||
        !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1])))) {
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

int trisa_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len;

    if (n == 0) {
        return -1;
    }
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07u;
    } else {
        return -1; /* a continuation byte, an overlong lead (c0, c1) or beyond U+10FFFF */
    }
    if (n < len) {
        return -1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return -1;
        }
        c = (c << 6) | (s[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff)) {
        return -1;
    }
    *cp = c;
    return (int)len;
}

int trisa_unicode_is_space(uint32_t c)
{
    switch (c) {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x20:
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x180e:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x2060:
    case 0x3000:
    case 0xfeff:
        return 1;
    default:
        /* U+2000..U+200A: the typographic spaces; U+200B..U+200D: zero-width ones */
        return c >= 0x2000 && c <= 0x200d;
    }
}

int trisa_unicode_is_invisible(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x34f || c == 0x61c ||
           c == 0x115f || c == 0x1160 || c == 0x1680 || c == 0x17b4 || c == 0x17b5 ||
           (c >= 0x180b && c <= 0x180f) || (c >= 0x2000 && c <= 0x200f) ||
           (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
           c == 0x3164 || (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff || c == 0xffa0 ||
           (c >= 0xfff0 && c <= 0xffff) || (c >= 0xe0000 && c <= 0xe0fff);
}

int trisa_buf_put_printable(trisa_buf *b, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), shown = 0;

    while (n > 0) {
        uint32_t c = 0;
        int k = trisa_utf8_next(p, n, &c);
        if (max > 0 && shown >= max) {
            return trisa_buf_puts(b, "...");
        }
        if (k < 0) {
            trisa_buf_printf(b, "\\x%02x", p[0]);
            k = 1;
        } else if (c < 0x80 && !trisa_unicode_is_invisible(c)) {
            trisa_buf_append(b, p, 1);
        } else if (c < 0x80) {
            trisa_buf_printf(b, "\\x%02x", (unsigned)c);
        } else if (trisa_unicode_is_invisible(c)) {
            trisa_buf_printf(b, "\\u%04X", (unsigned)c);
        } else {
            trisa_buf_append(b, p, (size_t)k);
        }
        p += k;
        n -= (size_t)k;
        shown++;
    }
    return b->failed ? TRISA_ENOMEM : 0;
}

const char *trisa_printable(char *out, size_t cap, const char *s)
{
    trisa_buf b = TRISA_BUF_INIT;
    if (cap == 0) {
        return out;
    }
    trisa_buf_put_printable(&b, s != NULL ? s : "", 0);
    if (b.failed) {
        snprintf(out, cap, "?");
    } else if (b.data == NULL) {
        out[0] = '\0'; /* an empty text: nothing was appended */
    } else if (b.len < cap) {
        memcpy(out, b.data, b.len + 1);
    } else {
        /* Cut on a character boundary of the escaped text (escapes are ASCII). */
        size_t n = cap > 4 ? cap - 4 : 0;
        while (n > 0 && ((unsigned char)b.data[n] & 0xc0) == 0x80) {
            n--;
        }
        memcpy(out, b.data, n);
        snprintf(out + n, cap - n, "%s", cap > 4 ? "..." : "");
    }
    trisa_buf_free(&b, 0);
    return out;
}
