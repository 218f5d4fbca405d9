/*
 * The part of common/ that the tools may use as well as the library's modules: the error
 * recorder behind trisa_error_last(), a growable buffer, hex and whole-number parsing, the
 * one JSON string escaper, and the one way a name and a fingerprint are printed.
 * Not installed; not part of the public API (the symbols are hidden in libtrisa.so, and the
 * tools link the static library). The build lets tools/ include this header and no other
 * internal one (see trisa_module_includes in CMakeLists.txt).
 */
#ifndef TRISA_COMMON_SUPPORT_H
#define TRISA_COMMON_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "trisa/common.h"

#if defined(__GNUC__)
#define TRISA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TRISA_PRINTF(f, a)
#endif

/* Record an error for trisa_error_last(); returns code so callers can `return set(...)`.
 * Any pending OpenSSL errors are discarded (use trisa_error_set_ssl to keep them). */
int trisa_error_set(int code, const char *fmt, ...) TRISA_PRINTF(2, 3);

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
int trisa_buf_vprintf(trisa_buf *b, const char *fmt, va_list ap) TRISA_PRINTF(2, 0);
/* Frees the buffer; wipe != 0 cleanses it first (for secrets). */
void trisa_buf_free(trisa_buf *b, int wipe);
/* Hands the bytes to the caller (free with free()); the buffer is reset. NULL if failed. */
char *trisa_buf_detach(trisa_buf *b, size_t *len);

/* Lower-case hex of len bytes into out (2*len+1 bytes), with `sep` between bytes when
 * non-zero (then 3*len bytes). Returns out. */
char *trisa_hex(char *out, const unsigned char *bytes, size_t len, char sep);

/* Parse a decimal integer in [min, max]; the whole string must be a number.
 * Returns 0 or TRISA_EINVAL (no error message recorded: callers name the field). */
int trisa_parse_long(const char *s, long min, long max, long *out);

/* A .env file read as godotenv 1.5.1 reads it (common/dotenv.c): name/value pairs in file
 * order, a later line of a name winning. Values may be secrets: freeing wipes them. */
typedef struct trisa_dotenv trisa_dotenv;

/* Parse text (name is used in messages). 0; TRISA_ECONFIG "NAME:LINE: syntax error ..."
 * (nothing of the file is then used); TRISA_ENOMEM. */
int trisa_dotenv_parse(trisa_dotenv **out, const char *text, size_t len, const char *name);
/* Read (bounded, regular files only) and parse a file: 0, TRISA_ENOTFOUND, TRISA_EIO,
 * TRISA_EINVAL (not a regular file), TRISA_ETOOBIG, TRISA_ECONFIG, TRISA_ENOMEM. */
int trisa_dotenv_load(trisa_dotenv **out, const char *path);
/* The value of name (its last line), borrowed; NULL when absent. */
const char *trisa_dotenv_get(const trisa_dotenv *e, const char *name);
/* Call fn once for each name, with its last value. */
void trisa_dotenv_each(const trisa_dotenv *e,
                       void (*fn)(const char *name, const char *value, void *data), void *data);
/* Wipe and free. NULL is ignored. */
void trisa_dotenv_free(trisa_dotenv *e);

/* ---- JSON ---------------------------------------------------------------------------- */

/* Go's encoding/json rules: <, > and & as \u003c, \u003e, \u0026, and a byte that is not
 * UTF-8 as \ufffd (what the reference CLI prints). Without it, those characters are kept
 * and a byte that is not UTF-8 is written as \u00XX (its Latin-1 character), so that a
 * token label's odd byte stays visible. */
#define TRISA_JSON_GO 0x1u

/* Append s as a JSON string, quotes included; NULL appends null. The one JSON string
 * escaper of the project: " and \ escaped, \n \r \t as such, other controls as \u00XX,
 * U+2028 and U+2029 as \u2028 and \u2029 (a JavaScript reader would end a line there),
 * valid UTF-8 kept. Returns 0, or -1 when the buffer failed (out of memory). */
int trisa_json_str(trisa_buf *b, const char *s, unsigned flags);

/* ---- Names and fingerprints: one format in every tool's output ------------------------ */

/* A distinguished name as an RFC 4514 string: the name's last RDN first, "," between
 * RDNs ("CN=api.example.com,O=Example VASP\\, Ltd,C=US" for a name encoded C, O, CN, as
 * CAs encode them), what `openssl x509 -noout -subject -nameopt rfc2253,-esc_msb` prints
 * after "subject=": UTF-8 kept, special characters and controls escaped. Free with
 * free(); NULL when out of memory. */
char *trisa_name_string(const X509_NAME *name);

/* Room for a SHA-256 fingerprint as text, with its NUL: 32 pairs and 31 colons. */
#define TRISA_FINGERPRINT_TEXT 96

/* A SHA-256 as lower-case hex pairs separated by colons ("3f:a0:...:9c"): the one way
 * every tool prints a certificate's or a public key's fingerprint. Returns out. */
char *trisa_fingerprint_text(char out[TRISA_FINGERPRINT_TEXT], const unsigned char md[32]);

/* The SHA-256 fingerprint of a certificate (of its DER), as trisa_fingerprint_text().
 * out is "" when it cannot be computed. Returns out. */
char *trisa_cert_fingerprint(char out[TRISA_FINGERPRINT_TEXT], X509 *cert);

#endif
