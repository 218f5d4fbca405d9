/*
 * libFuzzer target: what the emulator reads of an Authorization header and of a token
 * (emulator/auth.c, hooks.c). The first byte picks what the rest is:
 *   0  a token, verified as it is (almost always refused at the signature);
 *   1  a JOSE header and a claims set as JSON, one a line: the target encodes and signs
 *      them with the server's key, so that the claim checks behind the signature are
 *      reached (a client cannot forge a signature; what it puts in a token the server
 *      made is what matters);
 *   2  "header.payload" in base64url, signed by the target;
 *   3  an Authorization header, whose scheme the request log may show.
 * Whatever verifies must come back the same when the server signs its claims again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "emulator/emu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz";

static void check(const char *tok, size_t len)
{
    emu_claims c, again;
    char *t2;

    if (emu_jwt_verify(key, sizeof(key), tok, len, &c) != 0) {
        return;
    }
    if (memchr(c.sub, '\0', sizeof(c.sub)) == NULL || memchr(c.typ, '\0', sizeof(c.typ)) == NULL ||
        memchr(c.jti, '\0', sizeof(c.jti)) == NULL || memchr(c.iss, '\0', sizeof(c.iss)) == NULL) {
        abort();
    }
    t2 = emu_jwt_sign(key, sizeof(key), &c);
    if (t2 == NULL) {
        return;
    }
    if (emu_jwt_verify(key, sizeof(key), t2, strlen(t2), &again) != 0 ||
        memcmp(&c, &again, sizeof(c)) != 0) {
        abort(); /* a claim that does not survive the server's own signing */
    }
    free(t2);
}

static void sign_and_check(trisa_buf *b)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (b->failed || HMAC(EVP_sha256(), key, (int)sizeof(key), (const unsigned char *)b->data,
                          b->len, mac, &maclen) == NULL) {
        return;
    }
    trisa_buf_puts(b, ".");
    trisa_b64url_encode(b, mac, maclen);
    if (!b->failed) {
        check(b->data, b->len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    trisa_buf b = TRISA_BUF_INIT;

    if (size < 1) {
        return 0;
    }
    switch (data[0] % 4) {
    case 0:
        check(s, len);
        break;
    case 1: {
        const char *nl = memchr(s, '\n', len);
        if (nl == NULL) {
            break;
        }
        trisa_b64url_encode(&b, s, (size_t)(nl - s));
        trisa_buf_puts(&b, ".");
        trisa_b64url_encode(&b, nl + 1, len - (size_t)(nl + 1 - s));
        sign_and_check(&b);
        break;
    }
    case 2:
        trisa_buf_append(&b, s, len);
        sign_and_check(&b);
        break;
    default: {
        char *h = malloc(len + 1), scheme[32];
        const char *got;
        if (h == NULL) {
            break;
        }
        memcpy(h, s, len);
        h[len] = '\0';
        got = emu_auth_scheme(h, scheme, sizeof(scheme));
        if (got == NULL || strlen(got) >= sizeof(scheme) ||
            (got != scheme && strcmp(got, "invalid") != 0)) {
            abort();
        }
        free(h);
        break;
    }
    }
    trisa_buf_free(&b, 0);
    trisa_error_clear();
    return 0;
}
