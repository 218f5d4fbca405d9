/*
 * Internal helpers shared by the library's modules and the emulator. Not installed; not
 * part of the public API. The tools see only common/support.h.
 */
#ifndef TRISA_COMMON_INTERNAL_H
#define TRISA_COMMON_INTERNAL_H

#include "common/support.h"

/* As trisa_error_set, then drain OpenSSL's error queue into the message (": reason"). */
int trisa_error_set_ssl(int code, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* Wipe then free; NULL ignored. */
void trisa_free_secret(void *p, size_t len);

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
