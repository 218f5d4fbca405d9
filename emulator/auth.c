/*
 * JWT access and refresh tokens, HS256 (HMAC-SHA256, base64url without padding),
 * signed with a 32-byte secret kept in DIR/jwt.key (0600) so tokens survive a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "emulator/emu.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(trisa_buf *b, const unsigned char *in, size_t len)
{
    char out[4];
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[0] = b64url[(v >> 18) & 63];
        out[1] = b64url[(v >> 12) & 63];
        out[2] = b64url[(v >> 6) & 63];
        out[3] = b64url[v & 63];
        trisa_buf_append(b, out, 4);
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[0] = b64url[(v >> 18) & 63];
        out[1] = b64url[(v >> 12) & 63];
        trisa_buf_append(b, out, 2);
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[0] = b64url[(v >> 18) & 63];
        out[1] = b64url[(v >> 12) & 63];
        out[2] = b64url[(v >> 6) & 63];
        trisa_buf_append(b, out, 3);
    }
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes strict base64url (no padding) into out (cap bytes); returns the length or -1. */
static long b64url_decode(unsigned char *out, size_t cap, const char *in, size_t len)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) {
                return -1;
            }
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

char *emu_jwt_sign(const unsigned char *key, size_t keylen, const char *sub, const char *typ,
                   int64_t iat, int64_t nbf, int64_t exp)
{
    trisa_buf b = TRISA_BUF_INIT;
    json_object *o = json_object_new_object();
    const char *payload;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char nonce[8];
    char jti[17];

    if (o == NULL) {
        return NULL;
    }
    /* jti keeps two tokens issued in the same second apart. */
    RAND_bytes(nonce, sizeof(nonce));
    trisa_hex(jti, nonce, sizeof(nonce), 0);
    json_object_object_add(o, "sub", json_object_new_string(sub));
    json_object_object_add(o, "typ", json_object_new_string(typ));
    json_object_object_add(o, "iat", json_object_new_int64(iat));
    json_object_object_add(o, "nbf", json_object_new_int64(nbf));
    json_object_object_add(o, "exp", json_object_new_int64(exp));
    json_object_object_add(o, "jti", json_object_new_string(jti));
    payload =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    b64url_encode(&b, (const unsigned char *)jwt_header, strlen(jwt_header));
    trisa_buf_puts(&b, ".");
    b64url_encode(&b, (const unsigned char *)payload, strlen(payload));
    json_object_put(o);
    if (b.failed || HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)b.data, b.len, mac,
                         &maclen) == NULL) {
        trisa_buf_free(&b, 0);
        return NULL;
    }
    trisa_buf_puts(&b, ".");
    b64url_encode(&b, mac, maclen);
    return trisa_buf_detach(&b, NULL);
}

int emu_jwt_verify(const unsigned char *key, size_t keylen, const char *token, size_t len,
                   emu_claims *out)
{
    const char *d1, *d2;
    unsigned char mac[EVP_MAX_MD_SIZE], sig[64], payload[1024];
    unsigned int maclen = 0;
    long siglen, plen;
    json_object *o = NULL, *v;
    int err = TRISA_EAUTH;

    memset(out, 0, sizeof(*out));
    d1 = memchr(token, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || len > 2048) {
        return TRISA_EAUTH;
    }
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)token, (size_t)(d2 - token),
             mac, &maclen) == NULL) {
        return TRISA_EAUTH;
    }
    siglen = b64url_decode(sig, sizeof(sig), d2 + 1, len - (size_t)(d2 + 1 - token));
    if (siglen != (long)maclen || CRYPTO_memcmp(sig, mac, maclen) != 0) {
        return TRISA_EAUTH;
    }
    plen = b64url_decode(payload, sizeof(payload) - 1, d1 + 1, (size_t)(d2 - d1 - 1));
    if (plen <= 0) {
        return TRISA_EAUTH;
    }
    payload[plen] = '\0';
    o = json_tokener_parse((const char *)payload);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        goto done;
    }
    if (!json_object_object_get_ex(o, "sub", &v) || !json_object_is_type(v, json_type_string)) {
        goto done;
    }
    snprintf(out->sub, sizeof(out->sub), "%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "typ", &v) && json_object_is_type(v, json_type_string)) {
        snprintf(out->typ, sizeof(out->typ), "%s", json_object_get_string(v));
    }
    if (!json_object_object_get_ex(o, "iat", &v)) {
        goto done;
    }
    out->iat = json_object_get_int64(v);
    if (!json_object_object_get_ex(o, "exp", &v)) {
        goto done;
    }
    out->exp = json_object_get_int64(v);
    out->nbf = out->iat;
    if (json_object_object_get_ex(o, "nbf", &v)) {
        out->nbf = json_object_get_int64(v);
    }
    err = 0;
done:
    json_object_put(o);
    return err;
}

int emu_jwt_secret(unsigned char key[32], const char *state_dir)
{
    char path[4096];
    unsigned char *data = NULL;
    size_t len = 0;
    int err;

    snprintf(path, sizeof(path), "%s/jwt.key", state_dir);
    err = trisa_file_read(&data, &len, path, 1024);
    if (err == 0 && len == 32) {
        memcpy(key, data, 32);
        trisa_free_secret(data, len);
        return 0;
    }
    if (data != NULL) {
        trisa_free_secret(data, len);
    }
    if (err == 0) {
        return trisa_error_set(TRISA_ESTATE, "%s: expected 32 bytes", path);
    }
    if (err != TRISA_ENOTFOUND) {
        return err;
    }
    if (RAND_bytes(key, 32) != 1) {
        return trisa_error_set_ssl(TRISA_ECRYPTO, "cannot make the token secret");
    }
    return trisa_file_write_atomic(path, key, 32, 0600, 0);
}
