/*
 * libFuzzer target: a token's PIN as the tools find it. The first line is an RFC 7512
 * PKCS#11 URI (p11-kit parses it; what we do with its pin-source and pin-value is ours),
 * the rest is a PIN file's content. The file is checked as `--pin-file` checks it
 * (trisa_hsm_pin_file_info), read as file:PATH (trisa_secret_read: the first line, at
 * most 4096 bytes, a CR before the LF dropped), put into the URI as its pin-source
 * (trisa_hsm_uri_with_pin_file) and read back through that URI as opening the token does
 * (hsm_get_pin): the same PIN each way. A pin-value in the URI must come back whole, or
 * be refused when over 4096 bytes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsm/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/trisa-fuzz-pin.XXXXXX";
static char pin_path[sizeof(dir) + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
    unsetenv("TRISA_PKCS11_PIN");
    return 0;
}

static P11KitUri *uri_parse(const char *text)
{
    P11KitUri *u = p11_kit_uri_new();
    if (u != NULL && p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK) {
        p11_kit_uri_free(u);
        u = NULL;
    }
    return u;
}

/* The PIN the URI leads to, compared with want (NULL: reading must fail). */
static void pin_through(P11KitUri *u, const char *want)
{
    trisa_hsm h;
    trisa_hsm_options o = TRISA_HSM_OPTIONS_INIT;
    char *pin = NULL;
    int rc;

    memset(&h, 0, sizeof(h));
    rc = hsm_get_pin(&pin, &h, &o, u, 0);
    if ((want == NULL) != (rc != 0) || (want != NULL && (pin == NULL || strcmp(pin, want) != 0))) {
        abort();
    }
    trisa_secret_free(pin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    const uint8_t *content = nl != NULL ? nl + 1 : data + size;
    size_t clen = size - (size_t)(content - data), line;
    char *uri_text, *with = NULL, *pin = NULL, *want = NULL;
    unsigned flags = 0;
    size_t pin_len = 0;
    P11KitUri *u;
    int fd, rc;

    uri_text = strndup((const char *)data, (size_t)(content - data) - (nl != NULL));
    if (uri_text == NULL) {
        return 0;
    }
    unlink(pin_path);
    fd = open(pin_path, O_WRONLY | O_CREAT | O_EXCL, (size & 1) ? 0640 : 0600);
    if (fd < 0 || write(fd, content, clen) != (ssize_t)clen) {
        abort();
    }
    close(fd);
    chmod(pin_path, (size & 1) ? 0640 : 0600);

    /* What the file holds by our rules: its first line without a CR before the LF. */
    for (line = 0; line < clen && content[line] != '\n'; line++) {
    }
    if (line <= 4096) {
        size_t n = line > 0 && content[line - 1] == '\r' ? line - 1 : line;
        if (memchr(content, '\0', n) == NULL) {
            want = strndup((const char *)content, n);
        }
    }

    if (trisa_hsm_pin_file_info(&flags, pin_path) != 0 ||
        !!(flags & TRISA_HSM_PIN_FILE_SHARED) != (int)(size & 1) ||
        !!(flags & TRISA_HSM_PIN_FILE_NEWLINE) !=
            (memchr(content, '\n', clen < 4098 ? clen : 4098) != NULL ||
             memchr(content, '\r', clen < 4098 ? clen : 4098) != NULL)) {
        abort();
    }
    rc = trisa_secret_read(&pin, &pin_len, "file:", NULL); /* names no file */
    if (rc == 0) {
        abort();
    }
    {
        char spec[sizeof(pin_path) + 8];
        snprintf(spec, sizeof(spec), "file:%s", pin_path);
        rc = trisa_secret_read(&pin, &pin_len, spec, NULL);
    }
    if (want != NULL && (rc != 0 || strcmp(pin, want) != 0 || pin_len != strlen(want))) {
        abort();
    }
    if (want == NULL && rc == 0 && memchr(content, '\0', line) == NULL) {
        abort(); /* more than 4096 bytes taken */
    }

    if (trisa_hsm_uri_with_pin_file(&with, uri_text, pin_path) == 0) {
        P11KitUri *back = uri_parse(with);
        if (back == NULL || p11_kit_uri_get_pin_source(back) == NULL ||
            strncmp(p11_kit_uri_get_pin_source(back), "file:", 5) != 0) {
            abort();
        }
        pin_through(back, rc == 0 ? pin : NULL);
        p11_kit_uri_free(back);
        free(with);
    }
    u = uri_parse(uri_text);
    if (u != NULL && p11_kit_uri_get_pin_source(u) == NULL &&
        p11_kit_uri_get_pin_value(u) != NULL) {
        /* Whole, or refused when over 4096 bytes: never cut. */
        const char *v = p11_kit_uri_get_pin_value(u);
        pin_through(u, strlen(v) <= 4096 ? v : NULL);
    }
    p11_kit_uri_free(u);
    trisa_secret_free(pin);
    free(want);
    free(uri_text);
    trisa_error_clear();
    return 0;
}
