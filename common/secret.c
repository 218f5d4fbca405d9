/* Secrets in the `openssl -passin` forms. Copies are wiped before they are freed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/internal.h"

#define SECRET_MAX 4096

/* Read up to the first newline (or EOF) from fd into a wiped-on-free buffer. */
static int read_line_fd(int fd, char **out, size_t *out_len, const char *what)
{
    char *buf = malloc(SECRET_MAX + 1);
    size_t len = 0;

    if (buf == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory reading %s", what);
    }
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            trisa_free_secret(buf, SECRET_MAX + 1);
            return trisa_error_set(TRISA_ESECRET, "%s: cannot read: %s", what, strerror(e));
        }
        if (n == 0 || c == '\n') {
            break;
        }
        if (len == SECRET_MAX) {
            trisa_free_secret(buf, SECRET_MAX + 1);
            return trisa_error_set(TRISA_ESECRET, "%s: secret longer than %d bytes", what,
                                   SECRET_MAX);
        }
        buf[len++] = c;
    }
    if (len > 0 && buf[len - 1] == '\r') {
        len--;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len != NULL) {
        *out_len = len;
    }
    return 0;
}

static int dup_secret(const char *s, char **out, size_t *out_len)
{
    size_t len = strlen(s);
    char *p = malloc(len + 1);
    if (p == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory copying secret");
    }
    memcpy(p, s, len + 1);
    *out = p;
    if (out_len != NULL) {
        *out_len = len;
    }
    return 0;
}

static int prompt_tty(const char *prompt, char **out, size_t *out_len)
{
    struct termios old, quiet;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        return trisa_error_set(TRISA_ESECRET,
                               "no terminal to prompt for a secret: give it as file:PATH, "
                               "fd:N, env:VAR or pass:TEXT");
    }
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return trisa_error_set(TRISA_ESECRET, "cannot prompt: /dev/tty is not a terminal");
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    /* Echo off before the prompt invites typing, and TCSANOW rather than TCSAFLUSH:
     * flushing would throw away what a quick typist (or a script) already typed. */
    if (tcsetattr(fd, TCSANOW, &quiet) != 0) {
        close(fd);
        return trisa_error_set(TRISA_ESECRET, "cannot turn off echo on the terminal");
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        (void)tcsetattr(fd, TCSANOW, &old);
        close(fd);
        return trisa_error_set(TRISA_ESECRET, "cannot prompt on the terminal");
    }
    rc = read_line_fd(fd, out, out_len, "terminal");
    /* Echo back on whatever happened; the newline the user typed was not echoed. */
    (void)tcsetattr(fd, TCSANOW, &old);
    (void)!write(fd, "\n", 1);
    close(fd);
    return rc;
}

int trisa_secret_read(char **out, size_t *out_len, const char *spec, const char *prompt)
{
    if (out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_secret_read: out is NULL");
    }
    *out = NULL;
    if (spec == NULL || strcmp(spec, "prompt") == 0) {
        return prompt_tty(prompt != NULL ? prompt : "Password: ", out, out_len);
    }
    if (strncmp(spec, "pass:", 5) == 0) {
        return dup_secret(spec + 5, out, out_len);
    }
    if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);
        if (spec[4] == '\0') {
            return trisa_error_set(TRISA_EINVAL, "secret source 'env:' names no variable");
        }
        if (v == NULL) {
            return trisa_error_set(TRISA_ESECRET, "environment variable %s is not set", spec + 4);
        }
        return dup_secret(v, out, out_len);
    }
    if (strncmp(spec, "file:", 5) == 0) {
        int fd, rc;
        if (spec[5] == '\0') {
            return trisa_error_set(TRISA_EINVAL, "secret source 'file:' names no file");
        }
        fd = open(spec + 5, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return trisa_error_set(TRISA_ESECRET, "%s: cannot open: %s", spec + 5, strerror(errno));
        }
        rc = read_line_fd(fd, out, out_len, spec + 5);
        close(fd);
        return rc;
    }
    if (strncmp(spec, "fd:", 3) == 0) {
        long fd;
        char what[32];
        if (trisa_parse_long(spec + 3, 0, 1 << 20, &fd) != 0) {
            return trisa_error_set(TRISA_EINVAL, "secret source '%s': not a file descriptor", spec);
        }
        snprintf(what, sizeof(what), "fd %ld", fd);
        return read_line_fd((int)fd, out, out_len, what);
    }
    if (strcmp(spec, "stdin") == 0) {
        return read_line_fd(0, out, out_len, "standard input");
    }
    return trisa_error_set(TRISA_EINVAL,
                           "secret source '%.40s' not understood: use pass:TEXT, env:VAR, "
                           "file:PATH, fd:N, stdin or prompt",
                           spec);
}

void trisa_secret_free(char *secret)
{
    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}
