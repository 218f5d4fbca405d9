/**
 * @file trisa/common.h
 * @brief Errors, secrets and atomic file writes shared by every trisa module.
 *
 * Every fallible function in the library returns 0 or a negative TRISA_E* code and
 * records a message for trisa_error_last(). The library never prints.
 */
#ifndef TRISA_COMMON_H
#define TRISA_COMMON_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Marks the library's public functions: the only symbols libtrisa.so exports (the library
 * is built with -fvisibility=hidden; everything without this mark stays private).
 */
#if defined(__GNUC__) || defined(__clang__)
#define TRISA_EXTERN __attribute__((visibility("default")))
#else
#define TRISA_EXTERN
#endif

/**
 * The error codes and their texts, in one list. A code is never renumbered: new codes
 * are appended at the end with the next free number.
 */
#define TRISA_ERRORS(X)                                                                            \
    X(TRISA_OK, 0, "success")                                                                      \
    X(TRISA_ERROR, -1, "generic error")                                                            \
    X(TRISA_EINVAL, -2, "invalid argument")                                                        \
    X(TRISA_ENOMEM, -3, "out of memory")                                                           \
    X(TRISA_EIO, -4, "input/output error")                                                         \
    X(TRISA_EEXISTS, -5, "file already exists")                                                    \
    X(TRISA_ENOTFOUND, -6, "not found")                                                            \
    X(TRISA_ECONFIG, -7, "invalid configuration")                                                  \
    X(TRISA_ESECRET, -8, "cannot read secret")                                                     \
    X(TRISA_ECRYPTO, -9, "cryptographic operation failed")                                         \
    X(TRISA_EKEY, -10, "invalid or unreadable key")                                                \
    X(TRISA_ECSR, -11, "invalid certificate signing request")                                      \
    X(TRISA_EPASSWORD, -12, "wrong password")                                                      \
    X(TRISA_EAUTH, -13, "authentication failed")                                                   \
    X(TRISA_EFORBIDDEN, -14, "not authorised")                                                     \
    X(TRISA_ECERTLOGIN, -15, "account requires TLS client-certificate login")                      \
    X(TRISA_EAPI, -16, "API error")                                                                \
    X(TRISA_ENETWORK, -17, "network error")                                                        \
    X(TRISA_ETIMEOUT, -18, "timed out")                                                            \
    X(TRISA_EENV, -19, "endpoint not allowed in this environment")                                 \
    X(TRISA_EZIP, -20, "unsafe or corrupt ZIP archive")                                            \
    X(TRISA_EBUNDLE, -21, "invalid certificate bundle")                                            \
    X(TRISA_ELEGACY, -22, "OpenSSL legacy provider unavailable")                                   \
    X(TRISA_EVERIFY, -23, "certificate verification failed")                                       \
    X(TRISA_EMISMATCH, -24, "certificate does not match key")                                      \
    X(TRISA_EREJECTED, -25, "batch rejected")                                                      \
    X(TRISA_EPENDING, -26, "batch still processing")                                               \
    X(TRISA_EHSM, -27, "PKCS#11 token error")                                                      \
    X(TRISA_EPIN, -28, "wrong PIN")                                                                \
    X(TRISA_ELOCKED, -29, "token locked")                                                          \
    X(TRISA_EAMBIGUOUS, -30, "ambiguous selection")                                                \
    X(TRISA_EUNSUPPORTED, -31, "not supported")                                                    \
    X(TRISA_ESTATE, -32, "inconsistent state")                                                     \
    X(TRISA_ETOOBIG, -33, "input too large")                                                       \
    X(TRISA_EBALANCE, -34, "no licences left")                                                     \
    X(TRISA_EBUSY, -35, "another process is working on it")

/** Error codes; see TRISA_ERRORS for the texts. */
enum trisa_error_code {
#define TRISA_X_ENUM(name, value, text) name = value,
    TRISA_ERRORS(TRISA_X_ENUM)
#undef TRISA_X_ENUM
};

/** The fixed text of an error code ("unknown error" for a code not in the list). */
TRISA_EXTERN const char *trisa_strerror(int code);

/**
 * The message recorded by the last failing library call on this thread: what failed,
 * naming the file, line or field and what was expected. Never NULL; "" when none.
 * Borrowed: valid until the next library call on this thread.
 */
TRISA_EXTERN const char *trisa_error_last(void);

/** The code recorded with trisa_error_last(), or TRISA_OK. */
TRISA_EXTERN int trisa_error_last_code(void);

/**
 * The exit code the trisa tools give for an error code (README "Exit codes"): 0 for
 * TRISA_OK, 3 invalid input, 4 exists, 5 authentication, 6 API, 7 network, 8 rejected,
 * 9 still processing, 10 verification, 11 password, 12 token, 13 PIN, 14 environment
 * guard, 15 busy (another process holds the request), 1 anything else. Programs that wrap the
 * library can report the same.
 */
TRISA_EXTERN int trisa_error_exit_code(int code);

/** Forget the last error of this thread. */
TRISA_EXTERN void trisa_error_clear(void);

/**
 * Read a secret (password, passphrase, PIN) given in one of the `openssl -passin` forms:
 * `pass:TEXT`, `env:VAR`, `file:PATH` (first line), `fd:N` (first line), `stdin`, or
 * `prompt` / NULL for a prompt on the controlling terminal with echo off.
 *
 * @param out     receives a NUL-terminated copy; free it with trisa_secret_free().
 * @param out_len receives its length (may be NULL).
 * @param spec    the source, as above.
 * @param prompt  text shown when prompting (NULL: "Password: ").
 * @return 0, TRISA_ESECRET (unreadable source, no terminal, empty env var), TRISA_EINVAL
 *         (unknown form), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_secret_read(char **out, size_t *out_len, const char *spec,
                                   const char *prompt);

/** Wipe and free a secret from trisa_secret_read(). NULL is ignored. */
TRISA_EXTERN void trisa_secret_free(char *secret);

/** Flags for trisa_file_write_atomic(). */
#define TRISA_WRITE_REPLACE 0x1u /**< replace an existing file (default: refuse) */

/**
 * Write a file atomically: a temporary file beside @p path (O_EXCL|O_NOFOLLOW, @p mode
 * regardless of umask), fsync, then rename over @p path, then fsync the folder. Readers
 * see the old file or the whole new one, never a part.
 *
 * Only regular files are ever replaced. A character device or a pipe (`/dev/null`,
 * `/dev/stdout`, a FIFO) is written to directly, without TRISA_WRITE_REPLACE since
 * nothing is replaced (a FIFO that no process reads is an error, not a hang); a symbolic
 * link to one of those is written through. A symbolic link to anything else (a file: a
 * link planted where a key goes, or /dev/stdout redirected to a file), a folder, a
 * socket or a block device is refused: neither it nor what it names is replaced.
 *
 * @return 0, TRISA_EEXISTS (path exists and TRISA_WRITE_REPLACE not given),
 *         TRISA_EINVAL (path names a folder or another thing that is not a file),
 *         TRISA_EIO. On error nothing is left behind and an old file is unchanged.
 */
TRISA_EXTERN int trisa_file_write_atomic(const char *path, const void *data, size_t len,
                                         mode_t mode, unsigned flags);

/**
 * What trisa_file_write_atomic() would say about @p path before anything is made, so
 * that a caller can refuse early (before generating a key, say).
 * @return 0 when the path can be written with these @p flags; else as
 *         trisa_file_write_atomic(), with the message naming the path.
 */
TRISA_EXTERN int trisa_file_check_target(const char *path, unsigned flags);

/**
 * Several files written as one unit: all of them, or none and every old file as it was.
 * Add each file, then commit: every new content is written under a temporary name
 * beside its target; only when all exist is each renamed into place, each replaced file
 * being kept under a second name until the last rename has succeeded (then removed).
 * Devices and pipes (see trisa_file_write_atomic()) are written last, as they cannot be
 * taken back. A set is for one thread.
 */
typedef struct trisa_file_set trisa_file_set;

/** An empty set; free with trisa_file_set_free(). @return 0, TRISA_EINVAL, TRISA_ENOMEM. */
TRISA_EXTERN int trisa_file_set_new(trisa_file_set **out);

/**
 * Add a file to write. @p data is borrowed until trisa_file_set_commit() returns (it may
 * hold a key: the set never copies it).
 * @param flags 0, or TRISA_WRITE_REPLACE.
 * @return 0, TRISA_EINVAL (no path, or the same path twice), TRISA_ENOMEM.
 */
TRISA_EXTERN int trisa_file_set_add(trisa_file_set *set, const char *path, const void *data,
                                    size_t len, mode_t mode, unsigned flags);

/**
 * Write the set (see above). Each target is checked again first.
 * @return 0; else as trisa_file_write_atomic(), naming the file, and nothing changed.
 */
TRISA_EXTERN int trisa_file_set_commit(trisa_file_set *set);

/** Free a set (not what it wrote). NULL is ignored. */
TRISA_EXTERN void trisa_file_set_free(trisa_file_set *set);

/**
 * Read a whole regular file, refusing one larger than @p max bytes. The file is opened
 * without blocking: a FIFO, a device or a folder is refused at once, never waited on.
 * @param out receives the bytes plus a NUL terminator (not counted); free with free().
 * @return 0, TRISA_ENOTFOUND, TRISA_EINVAL (not a regular file), TRISA_EIO,
 *         TRISA_ETOOBIG.
 */
TRISA_EXTERN int trisa_file_read(unsigned char **out, size_t *out_len, const char *path,
                                 size_t max);

/** The library version, e.g. "0.1.0". */
TRISA_EXTERN const char *trisa_version(void);

#ifdef __cplusplus
}
#endif
#endif
