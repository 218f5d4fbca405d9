/*
 * Internal helpers shared by the library's modules, the emulator and the tools.
 * Not installed; not part of the public API.
 */
#ifndef TRISA_COMMON_INTERNAL_H
#define TRISA_COMMON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* Decode one UTF-8 character of s (n bytes available) into *cp; returns its length, or -1
 * for a byte that does not start a valid, shortest-form UTF-8 character. */
int trisa_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* White space of any kind, zero-width ones and the BOM included (U+00A0, U+2003, U+3000,
 * U+0085, U+200B, U+FEFF, ...). */
int trisa_unicode_is_space(uint32_t c);

/* Characters that do not show as themselves on a terminal: controls (C0, DEL, C1),
 * invisible and zero-width ones, bidirectional overrides (U+202E), tags, specials. */
int trisa_unicode_is_invisible(uint32_t c);

/* Append s for a message that a terminal shows safely: invalid UTF-8 bytes and ASCII
 * controls as \xNN, invisible or bidirectional characters as \uXXXX, the rest as is.
 * max > 0 cuts after that many characters (then "..."). */
int trisa_buf_put_printable(trisa_buf *b, const char *s, size_t max);

/* The same into out (cap bytes, cut with "..." when longer); returns out. */
const char *trisa_printable(char *out, size_t cap, const char *s);

/* mkdir -p: make path and every missing parent with mode (existing ones are left as
 * they are; each must be a folder). Returns 0, TRISA_EINVAL (empty name, or a
 * component that is not a folder), TRISA_EIO (naming the component). */
int trisa_mkdir_p(const char *path, mode_t mode);

#endif
