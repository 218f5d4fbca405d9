/*
 * JWT access and refresh tokens, HS256 (HMAC-SHA256, base64url without padding),
 * signed with a 32-byte secret kept in DIR/jwt.key (0600) so tokens survive a restart.
 * Verification is strict: one spelling per token (canonical base64url), alg HS256 only,
 * claims of the right JSON types.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "emulator/emu.h"

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

char *emu_jwt_sign(const unsigned char *key, size_t keylen, const emu_claims *c)
{
    trisa_buf b = TRISA_BUF_INIT;
    json_object *o = json_object_new_object();
    const char *payload;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (o == NULL) {
        return NULL;
    }
    if (c->iss[0] != '\0') {
        json_object_object_add(o, "iss", json_object_new_string(c->iss));
    }
    json_object_object_add(o, "sub", json_object_new_string(c->sub));
    json_object_object_add(o, "typ", json_object_new_string(c->typ));
    json_object_object_add(o, "iat", json_object_new_int64(c->iat));
    json_object_object_add(o, "nbf", json_object_new_int64(c->nbf));
    json_object_object_add(o, "exp", json_object_new_int64(c->exp));
    json_object_object_add(o, "jti", json_object_new_string(c->jti));
    payload =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    trisa_b64url_encode(&b, jwt_header, strlen(jwt_header));
    trisa_buf_puts(&b, ".");
    trisa_b64url_encode(&b, payload, strlen(payload));
    json_object_put(o);
    if (b.failed || HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)b.data, b.len, mac,
                         &maclen) == NULL) {
        trisa_buf_free(&b, 0);
        return NULL;
    }
    trisa_buf_puts(&b, ".");
    trisa_b64url_encode(&b, mac, maclen);
    return trisa_buf_detach(&b, NULL);
}

/* A JSON object from one strictly decoded token part. */
static json_object *part_object(const char *s, size_t len)
{
    unsigned char *text = NULL;
    size_t n = 0;
    json_tokener *tok;
    json_object *o = NULL;

    if (trisa_b64url_decode(&text, &n, s, len, TRISA_B64_STRICT) != 0) {
        return NULL;
    }
    tok = json_tokener_new();
    if (tok != NULL && n < INT32_MAX) {
        o = json_tokener_parse_ex(tok, (const char *)text, (int)n);
        if (o != NULL &&
            (json_tokener_get_error(tok) != json_tokener_success ||
             json_tokener_get_parse_end(tok) != n || !json_object_is_type(o, json_type_object))) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    free(text);
    return o;
}

/* A NumericDate claim: a JSON number (a string holding digits is not one). */
static int number_claim(json_object *o, const char *key, int required, int64_t *out)
{
    json_object *v;
    double d;

    if (!json_object_object_get_ex(o, key, &v)) {
        return required ? -1 : 1;
    }
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        d = json_object_get_double(v);
        if (!isfinite(d) || d < -9.2e18 || d > 9.2e18) {
            return -1;
        }
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

static int string_claim(json_object *o, const char *key, int required, char *out, size_t cap)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        return required ? -1 : 0;
    }
    /* A NUL inside ("\u0000") would cut the claim: "/account/42/user/staging\u0000x"
     * must not name the account staging. */
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) >= cap ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
        return -1;
    }
    memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    return 0;
}

int emu_jwt_verify(const unsigned char *key, size_t keylen, const char *token, size_t len,
                   emu_claims *out)
{
    const char *d1, *d2;
    unsigned char mac[EVP_MAX_MD_SIZE], *sig = NULL;
    unsigned int maclen = 0;
    size_t siglen = 0;
    json_object *header = NULL, *payload = NULL, *v;
    int err = TRISA_EAUTH;

    memset(out, 0, sizeof(*out));
    if (len > 4096) {
        return TRISA_EAUTH;
    }
    d1 = memchr(token, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL) {
        return TRISA_EAUTH;
    }
    /* Only the algorithm we sign with: never "none", never one the token picks. */
    header = part_object(token, (size_t)(d1 - token));
    if (header == NULL || !json_object_object_get_ex(header, "alg", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "HS256") != 0) {
        goto done;
    }
    if (json_object_object_get_ex(header, "typ", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         strcmp(json_object_get_string(v), "JWT") != 0)) {
        goto done;
    }
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)token, (size_t)(d2 - token),
             mac, &maclen) == NULL) {
        goto done;
    }
    /* Strict: a signature has one spelling, so a tampered last character never passes. */
    if (trisa_b64url_decode(&sig, &siglen, d2 + 1, len - (size_t)(d2 + 1 - token),
                            TRISA_B64_STRICT) != 0 ||
        siglen != maclen || CRYPTO_memcmp(sig, mac, maclen) != 0) {
        goto done;
    }
    payload = part_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (payload == NULL || string_claim(payload, "sub", 1, out->sub, sizeof(out->sub)) != 0 ||
        string_claim(payload, "typ", 1, out->typ, sizeof(out->typ)) != 0 ||
        string_claim(payload, "jti", 1, out->jti, sizeof(out->jti)) != 0 ||
        string_claim(payload, "iss", 0, out->iss, sizeof(out->iss)) != 0 ||
        number_claim(payload, "iat", 1, &out->iat) != 0 ||
        number_claim(payload, "exp", 1, &out->exp) != 0) {
        goto done;
    }
    out->nbf = out->iat;
    if (number_claim(payload, "nbf", 0, &out->nbf) < 0) {
        goto done;
    }
    err = 0;
done:
    if (err != 0) {
        memset(out, 0, sizeof(*out));
    }
    free(sig);
    json_object_put(header);
    json_object_put(payload);
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
