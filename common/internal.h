/*
 * Internal helpers shared by the library's modules and the emulator. Not installed; not
 * part of the public API. The tools see only common/support.h.
 */
#ifndef TRISA_COMMON_INTERNAL_H
#define TRISA_COMMON_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include <openssl/types.h>

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

/* mkdir -p: make path and every missing parent with exactly mode (the umask does not
 * apply; existing ones are left as they are; each must be a folder). Returns 0,
 * TRISA_EINVAL (empty name), TRISA_EIO (a component that cannot be made or is not a
 * folder, named in the message). */
int trisa_mkdir_p(const char *path, mode_t mode);

/* The last component must be a folder itself, not a symbolic link to one (a private
 * state folder someone could point elsewhere). */
#define TRISA_MKDIR_NO_SYMLINK 1u

/* trisa_mkdir_p with flags (TRISA_MKDIR_*); a symbolic link refused is TRISA_EIO. */
int trisa_mkdir_p_flags(const char *path, mode_t mode, unsigned flags);

/* Remove from dir the temporary files trisa_file_write_atomic and file sets leave when a
 * process is killed mid-write (".NAME.<12 hex>.tmp" for each of the n names), those older
 * than min_age_s seconds (0: all; give an age where another process may be writing).
 * Returns how many were removed. */
int trisa_file_clean_temps(const char *dir, const char *const *names, size_t n, long min_age_s);

/* rename(2) that fails with EEXIST instead of replacing `to` (files or folders); 0 or -1
 * with errno set. */
int trisa_rename_noreplace(const char *from, const char *to);

/* The folder of path as a new string: "." for a bare name, "/" for "/name"; NULL when out
 * of memory. */
char *trisa_path_dir(const char *path);

/* The text of a memory BIO as a new NUL-terminated string (free with free(); with
 * trisa_free_secret(p, *len + 1) when it holds a key); *len receives its length when not
 * NULL. NULL when out of memory or bio is not a memory BIO. Records nothing. */
char *trisa_bio_text(BIO *bio, size_t *len);

/* Append certificate x to b as PEM. 0, TRISA_ECRYPTO, TRISA_ENOMEM (recorded). */
int trisa_buf_put_cert_pem(trisa_buf *b, const X509 *x);

#endif
