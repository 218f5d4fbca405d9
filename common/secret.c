/* Secrets in the `openssl -passin` forms. Copies are wiped before they are freed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/internal.h"

#define SECRET_MAX 4096

/* The terminal of the prompt under way, for the signal handler: a prompt turns echo off,
 * and a Ctrl-C (or a kill, or a hang-up) must not leave the terminal that way. */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NSIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))
static volatile sig_atomic_t prompt_fd = -1;
static volatile sig_atomic_t prompt_caught;
static struct termios prompt_saved;
static struct sigaction prompt_old[NSIGNALS];
static int prompt_installed[NSIGNALS];
static int prompt_busy; /* one prompt at a time in a process: there is one terminal */

/* Async-signal-safe: tcsetattr, write, sigaction and raise are. */
static void on_prompt_signal(int sig)
{
    int fd = prompt_fd;
    if (fd >= 0) {
        (void)tcsetattr(fd, TCSANOW, &prompt_saved);
        (void)!write(fd, "\n", 1);
        prompt_fd = -1;
    }
    prompt_caught = sig;
    /* The program's own disposition again, then the signal for it: by default the
     * process ends as killed by it (a shell reports 130 for Ctrl-C). */
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (prompt_signals[i] == sig && prompt_installed[i]) {
            (void)sigaction(sig, &prompt_old[i], NULL);
            prompt_installed[i] = 0;
        }
    }
    (void)raise(sig);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++) {
        sigaddset(&sa.sa_mask, prompt_signals[i]);
    }
    sa.sa_flags = 0; /* no SA_RESTART: the read must see EINTR */
    for (size_t i = 0; i < NSIGNALS; i++) {
        struct sigaction cur;
        prompt_installed[i] = 0;
        /* A signal the program ignores (nohup) stays ignored. */
        if (sigaction(prompt_signals[i], NULL, &cur) != 0 || cur.sa_handler == SIG_IGN) {
            continue;
        }
        if (sigaction(prompt_signals[i], &sa, &prompt_old[i]) == 0) {
            prompt_installed[i] = 1;
        }
    }
}

static void release_signals(void)
{
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (prompt_installed[i]) {
            (void)sigaction(prompt_signals[i], &prompt_old[i], NULL);
            prompt_installed[i] = 0;
        }
    }
}

/* Read up to the first newline (or EOF) from fd. The result is allocated to its exact
 * size, so that trisa_secret_free() wipes the whole allocation; the work buffer is
 * wiped too. With `interruptible`, a signal caught during a prompt ends the read. */
static int read_line_fd(int fd, char **out, size_t *out_len, const char *what, int interruptible)
{
    char *buf = malloc(SECRET_MAX + 1), *exact;
    size_t len = 0;
    int rc = 0;

    if (buf == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory reading %s", what);
    }
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR && !(interruptible && prompt_caught)) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            rc = interruptible && prompt_caught
                     ? trisa_error_set(TRISA_ESECRET, "%s: interrupted", what)
                     : trisa_error_set(TRISA_ESECRET, "%s: cannot read: %s", what, strerror(e));
            goto done;
        }
        if (n == 0 || c == '\n') {
            break;
        }
        if (len == SECRET_MAX) {
            rc =
                trisa_error_set(TRISA_ESECRET, "%s: secret longer than %d bytes", what, SECRET_MAX);
            goto done;
        }
        buf[len++] = c;
    }
    if (len > 0 && buf[len - 1] == '\r') {
        len--;
    }
    exact = malloc(len + 1);
    if (exact == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory reading %s", what);
        goto done;
    }
    memcpy(exact, buf, len);
    exact[len] = '\0';
    *out = exact;
    if (out_len != NULL) {
        *out_len = len;
    }
done:
    trisa_free_secret(buf, SECRET_MAX + 1);
    return rc;
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
    struct termios quiet;
    int fd, rc;

    if (__atomic_exchange_n(&prompt_busy, 1, __ATOMIC_ACQ_REL) != 0) {
        return trisa_error_set(TRISA_ESECRET, "another prompt is already on the terminal");
    }
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        rc = trisa_error_set(TRISA_ESECRET,
                             "no terminal to prompt for a secret: give it as file:PATH, "
                             "fd:N, env:VAR or pass:TEXT");
        goto done;
    }
    if (tcgetattr(fd, &prompt_saved) != 0) {
        rc = trisa_error_set(TRISA_ESECRET, "cannot prompt: /dev/tty is not a terminal");
        goto done;
    }
    quiet = prompt_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    /* The handlers first, so that no signal can arrive between echo off and them. */
    prompt_caught = 0;
    prompt_fd = fd;
    catch_signals();
    /* Echo off before the prompt invites typing, and TCSANOW rather than TCSAFLUSH:
     * flushing would throw away what a quick typist (or a script) already typed. */
    if (tcsetattr(fd, TCSANOW, &quiet) != 0) {
        rc = trisa_error_set(TRISA_ESECRET, "cannot turn off echo on the terminal");
        goto restore;
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        rc = trisa_error_set(TRISA_ESECRET, "cannot prompt on the terminal");
        goto restore;
    }
    rc = read_line_fd(fd, out, out_len, "terminal", 1);
    /* Echo back on whatever happened; the newline the user typed was not echoed. */
    (void)!write(fd, "\n", 1);
restore:
    prompt_fd = -1;
    (void)tcsetattr(fd, TCSANOW, &prompt_saved);
    release_signals();
done:
    if (fd >= 0) {
        close(fd);
    }
    __atomic_store_n(&prompt_busy, 0, __ATOMIC_RELEASE);
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
        fd = open(spec + 5, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            return trisa_error_set(TRISA_ESECRET, "%s: cannot open: %s", spec + 5, strerror(errno));
        }
        rc = read_line_fd(fd, out, out_len, spec + 5, 0);
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
        return read_line_fd((int)fd, out, out_len, what, 0);
    }
    if (strcmp(spec, "stdin") == 0) {
        return read_line_fd(0, out, out_len, "standard input", 0);
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
