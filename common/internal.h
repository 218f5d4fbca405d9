/*
 * Internal helpers shared by the library's modules, the emulator and the tools.
 * Not installed; not part of the public API.
 */
#ifndef TRISA_COMMON_INTERNAL_H
#define TRISA_COMMON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "trisa/common.h"

#if defined(__GNUC__)
#define TRISA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TRISA_PRINTF(f, a)
#endif

/* Record an error for trisa_error_last(); returns code so callers can `return set(...)`.
 * Any pending OpenSSL errors are discarded (use trisa_error_set_ssl to keep them). */
int trisa_error_set(int code, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* As trisa_error_set, then drain OpenSSL's error queue into the message (": reason"). */
int trisa_error_set_ssl(int code, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* Put "prefix: " in front of the current message (keeps its code); returns the code. */
int trisa_error_prefix(const char *fmt, ...) TRISA_PRINTF(1, 2);

/* Growable byte buffer, always NUL-terminated. A failed allocation sets `failed` and makes
 * further appends no-ops, so a caller checks once at the end. */
typedef struct trisa_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} trisa_buf;

#define TRISA_BUF_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

int trisa_buf_append(trisa_buf *b, const void *data, size_t len);
int trisa_buf_puts(trisa_buf *b, const char *s);
int trisa_buf_printf(trisa_buf *b, const char *fmt, ...) TRISA_PRINTF(2, 3);
int trisa_buf_vprintf(trisa_buf *b, const char *fmt, va_list ap);
/* Frees the buffer; wipe != 0 cleanses it first (for secrets). */
void trisa_buf_free(trisa_buf *b, int wipe);
/* Hands the bytes to the caller (free with free()); the buffer is reset. NULL if failed. */
char *trisa_buf_detach(trisa_buf *b, size_t *len);

/* Lower-case hex of len bytes into out (2*len+1 bytes), with `sep` between bytes when
 * non-zero (then 3*len bytes). Returns out. */
char *trisa_hex(char *out, const unsigned char *bytes, size_t len, char sep);

/* Wipe then free; NULL ignored. */
void trisa_free_secret(void *p, size_t len);

/* Parse a decimal integer in [min, max]; the whole string must be a number.
 * Returns 0 or TRISA_EINVAL (no error message recorded: callers name the field). */
int trisa_parse_long(const char *s, long min, long max, long *out);

/* base64url without padding (RFC 4648 section 5), appended to out. 0 or TRISA_ENOMEM. */
int trisa_b64url_encode(trisa_buf *out, const void *in, size_t len);

/* Decode base64url into a new NUL-terminated buffer (free with free()). Lenient by
 * default (also '+' and '/', '=' ends the text: for reading claims of tokens we did not
 * make). TRISA_B64_STRICT: the url alphabet only, no padding, and the unused bits of the
 * last character zero, so that one byte string has one spelling (for signatures).
 * Returns 0, TRISA_EINVAL (message says where), TRISA_ENOMEM. */
#define TRISA_B64_STRICT 1u
int trisa_b64url_decode(unsigned char **out, size_t *out_len, const char *in, size_t len,
                        unsigned flags);

#endif
