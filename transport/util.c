/* Parsers and checks of the Sectigo client that need no network. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "transport/internal.h"

/* A NumericDate claim: 0 when absent; -1 when it is no time a token can hold (from 1970 to
 * 9999, as trisa_bundle_parse_time takes them): an exp of 1e300 does not fit a long long,
 * and an iat of -9e18 would overflow exp - iat. */
#define CLAIM_MAX 253402300799LL

static int claim_int(struct json_object *o, const char *key, long long *out)
{
    struct json_object *v = NULL;
    *out = 0;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        return 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!(d >= 0 && d <= (double)CLAIM_MAX)) {
            return -1; /* NaN too */
        }
        *out = (long long)d;
    } else {
        *out = (long long)json_object_get_int64(v);
    }
    return *out >= 0 && *out <= CLAIM_MAX ? 0 : -1;
}

int trisa_sectigo_jwt_claims(const char *jwt, long long *iat, long long *exp, long long *nbf,
                             char *sub, size_t sub_cap)
{
    const char *dot1, *dot2;
    unsigned char *payload;
    struct json_object *o, *s = NULL;
    long long i, e, n;

    if (jwt == NULL || (dot1 = strchr(jwt, '.')) == NULL ||
        (dot2 = strchr(dot1 + 1, '.')) == NULL) {
        return trisa_error_set(TRISA_EINVAL, "token is not a JWT (expected three parts)");
    }
    /* Claims of a token someone else made: the lenient form of the project's codec. */
    if (trisa_b64url_decode(&payload, NULL, dot1 + 1, (size_t)(dot2 - dot1 - 1), 0) != 0) {
        return trisa_error_set(TRISA_EINVAL, "token payload is not base64url");
    }
    o = json_tokener_parse((const char *)payload);
    free(payload);
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return trisa_error_set(TRISA_EINVAL, "token payload is not a JSON object");
    }
    if (claim_int(o, "iat", &i) != 0 || claim_int(o, "exp", &e) != 0 ||
        claim_int(o, "nbf", &n) != 0) {
        json_object_put(o);
        return trisa_error_set(TRISA_EINVAL,
                               "token claims iat, exp or nbf are no time from 1970 to 9999");
    }
    if (sub != NULL && sub_cap > 0) {
        sub[0] = '\0';
        if (json_object_object_get_ex(o, "sub", &s) && json_object_is_type(s, json_type_string)) {
            snprintf(sub, sub_cap, "%s", json_object_get_string(s));
        }
    }
    json_object_put(o);
    if (i == 0 || e == 0) {
        return trisa_error_set(TRISA_EINVAL, "token claims lack iat or exp");
    }
    if (iat) {
        *iat = i;
    }
    if (exp) {
        *exp = e;
    }
    if (nbf) {
        *nbf = n;
    }
    return 0;
}

int trisa_sectigo_reason_code(int *out, const char *reason)
{
    static const char *const names[] = {
        "unspecified",   "keycompromise",        "cacompromise",    "affiliationchanged",
        "superseded",    "cessationofoperation", "certificatehold", NULL,
        "removefromcrl", "privilegewithdrawn",   "aacompromise",
    };
    char norm[64];
    size_t n = 0;
    long num;

    if (reason == NULL) {
        *out = 0;
        return 0;
    }
    for (const char *p = reason; *p != '\0'; p++) {
        if (isspace((unsigned char)*p)) {
            continue;
        }
        if (n + 1 >= sizeof(norm)) {
            return trisa_error_set(TRISA_EINVAL, "could not translate \"%s\" into a reason code",
                                   reason);
        }
        norm[n++] = (char)tolower((unsigned char)*p);
    }
    norm[n] = '\0';
    if (n == 0) {
        *out = 0;
        return 0;
    }
    if (trisa_parse_long(norm, 0, 10, &num) == 0) {
        if (num == 7) {
            return trisa_error_set(TRISA_EINVAL, "reason code 7 is not used by RFC 5280");
        }
        *out = (int)num;
        return 0;
    }
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        if (names[i] != NULL && strcmp(norm, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return trisa_error_set(TRISA_EINVAL,
                           "could not translate \"%s\" into a reason code (use one of: "
                           "unspecified, key compromise, ca compromise, affiliation changed, "
                           "superseded, cessation of operation, certificate hold, remove from "
                           "crl, privilege withdrawn, aa compromise)",
                           reason);
}

char *trisa_sectigo_status_normalize(char *status)
{
    size_t start = 0, end, o = 0;
    if (status == NULL) {
        return NULL;
    }
    end = strlen(status);
    while (start < end && isspace((unsigned char)status[start])) {
        start++;
    }
    while (end > start && isspace((unsigned char)status[end - 1])) {
        end--;
    }
    for (size_t i = start; i < end; i++) {
        char c = status[i];
        status[o++] = c == ' ' ? '_' : (char)toupper((unsigned char)c);
    }
    status[o] = '\0';
    return status;
}

/* ---- Content-Disposition (RFC 6266, with RFC 8187 filename*) ---------------------------
 * Read as Go's mime.ParseMediaType reads it, which is what the reference client uses:
 * a disposition type token, then `; name=value` parameters (token or quoted string);
 * anything malformed, or a parameter given twice with different values, means no name.
 * filename*=UTF-8''%xx... wins over filename=. */

static int is_tspecial(unsigned char c)
{
    return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\v' || *p == '\f') {
        p++;
    }
    return p;
}

/* A parameter value: a token or a quoted string (backslash escapes a special character; a
 * backslash before anything else is kept, as Go does). Returns the end, or NULL. */
static const char *param_value(trisa_buf *out, const char *p)
{
    if (*p != '"') {
        const char *q = p;
        while (is_token_char((unsigned char)*q)) {
            q++;
        }
        if (q == p) {
            return NULL;
        }
        trisa_buf_append(out, p, (size_t)(q - p));
        return q;
    }
    for (p++; *p != '\0'; p++) {
        if (*p == '"') {
            return p + 1;
        }
        if (*p == '\r' || *p == '\n') {
            return NULL;
        }
        if (*p == '\\' && is_tspecial((unsigned char)p[1])) {
            p++;
        }
        trisa_buf_append(out, p, 1);
    }
    return NULL; /* no closing quote */
}

/* RFC 8187 / 2231: charset'language'percent-encoded; UTF-8 and US-ASCII only. */
static char *ext_value(const char *v)
{
    const char *q1 = strchr(v, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    trisa_buf b = TRISA_BUF_INIT;
    size_t cs = q1 ? (size_t)(q1 - v) : 0;

    if (q2 == NULL || cs == 0 ||
        !((cs == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
          (cs == 8 && strncasecmp(v, "us-ascii", 8) == 0))) {
        return NULL;
    }
    for (const char *p = q2 + 1; *p != '\0'; p++) {
        if (*p == '%') {
            int hi, lo;
            if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])) {
                trisa_buf_free(&b, 0);
                return NULL;
            }
            hi = isdigit((unsigned char)p[1]) ? p[1] - '0'
                                              : (tolower((unsigned char)p[1]) - 'a' + 10);
            lo = isdigit((unsigned char)p[2]) ? p[2] - '0'
                                              : (tolower((unsigned char)p[2]) - 'a' + 10);
            char c = (char)(hi * 16 + lo);
            trisa_buf_append(&b, &c, 1);
            p += 2;
        } else {
            trisa_buf_append(&b, p, 1);
        }
    }
    if (b.data == NULL) {
        trisa_buf_append(&b, "", 0);
    }
    return trisa_buf_detach(&b, NULL);
}

/* A name we would write: not empty, not hidden, no path, no "..", no ':', valid UTF-8
 * without control, bidi-override or isolate characters (they disguise a name). */
static int safe_name(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    if (*p == '\0' || *p == '.' || strstr(name, "..") != NULL || strpbrk(name, "/\\:") != NULL) {
        return 0;
    }
    for (size_t left = strlen(name); left > 0;) {
        uint32_t cp;
        int n = trisa_utf8_next(p, left, &cp);
        if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0xfeff) {
            return 0;
        }
        p += n;
        left -= (size_t)n;
    }
    return 1;
}

char *trisa_sectigo_disposition_filename(const char *header)
{
    const char *p, *semi;
    trisa_buf plain = TRISA_BUF_INIT, ext = TRISA_BUF_INIT, val = TRISA_BUF_INIT;
    int have_plain = 0, have_ext = 0, ok = 0;
    char *name = NULL;

    if (header == NULL) {
        return NULL;
    }
    /* The disposition type: one token ("attachment", "inline", ...). */
    semi = strchr(header, ';');
    {
        const char *a = skip_ws(header), *e = semi ? semi : header + strlen(header);
        while (e > a && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (e == a) {
            return NULL;
        }
        for (const char *q = a; q < e; q++) {
            if (!is_token_char((unsigned char)*q)) {
                return NULL;
            }
        }
    }
    p = semi ? semi : header + strlen(header);
    for (;;) {
        const char *k, *ke;
        p = skip_ws(p);
        if (*p == '\0') {
            ok = 1;
            break;
        }
        if (*p != ';') {
            break;
        }
        p = skip_ws(p + 1);
        if (*p == '\0') {
            ok = 1; /* a trailing ';' */
            break;
        }
        k = p;
        while (is_token_char((unsigned char)*p)) {
            p++;
        }
        ke = p;
        if (ke == k) {
            break;
        }
        p = skip_ws(p);
        if (*p != '=') {
            break;
        }
        p = skip_ws(p + 1);
        trisa_buf_free(&val, 0);
        if ((p = param_value(&val, p)) == NULL) {
            break;
        }
        if (val.data == NULL) {
            trisa_buf_append(&val, "", 0);
        }
        if ((size_t)(ke - k) == 8 && strncasecmp(k, "filename", 8) == 0) {
            if (have_plain && strcmp(plain.data, val.data) != 0) {
                break; /* given twice, differently */
            }
            trisa_buf_free(&plain, 0);
            trisa_buf_puts(&plain, val.data);
            have_plain = 1;
        } else if ((size_t)(ke - k) == 9 && strncasecmp(k, "filename*", 9) == 0) {
            if (have_ext && strcmp(ext.data, val.data) != 0) {
                break;
            }
            trisa_buf_free(&ext, 0);
            trisa_buf_puts(&ext, val.data);
            have_ext = 1;
        }
    }
    if (ok && !plain.failed && !ext.failed && !val.failed) {
        if (have_ext) {
            name = ext_value(ext.data);
        }
        if (name == NULL && have_plain) {
            name = strdup(plain.data);
        }
        if (name != NULL && !safe_name(name)) {
            free(name);
            name = NULL;
        }
    }
    trisa_buf_free(&plain, 0);
    trisa_buf_free(&ext, 0);
    trisa_buf_free(&val, 0);
    return name;
}

/* Go's path/filepath.Clean for Unix paths. */
static char *clean_path(const char *path)
{
    size_t n = strlen(path), r = 0, dotdot = 0, w = 0;
    int rooted = n > 0 && path[0] == '/';
    char *out = malloc(n + 2);

    if (out == NULL) {
        return NULL;
    }
    if (n == 0) {
        memcpy(out, ".", 2);
        return out;
    }
    if (rooted) {
        out[w++] = '/';
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/') {
                    w--;
                }
            } else if (!rooted) {
                if (w > 0) {
                    out[w++] = '/';
                }
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0)) {
                out[w++] = '/';
            }
            for (; r < n && path[r] != '/'; r++) {
                out[w++] = path[r];
            }
        }
    }
    if (w == 0) {
        out[w++] = '.';
    }
    out[w] = '\0';
    return out;
}

char *sectigo_path_join(const char *dir, const char *name)
{
    trisa_buf b = TRISA_BUF_INIT;
    char *joined, *out;
    if (dir != NULL && dir[0] != '\0') {
        trisa_buf_printf(&b, "%s/%s", dir, name);
    } else {
        trisa_buf_puts(&b, name);
    }
    if ((joined = trisa_buf_detach(&b, NULL)) == NULL) {
        return NULL;
    }
    out = clean_path(joined);
    free(joined);
    return out;
}

/* "production", " Testing " -> lower case, trimmed, into out. */
static void norm_env(char *out, size_t cap, const char *env)
{
    size_t n = 0;
    const char *e;
    while (*env && isspace((unsigned char)*env)) {
        env++;
    }
    e = env + strlen(env);
    while (e > env && isspace((unsigned char)e[-1])) {
        e--;
    }
    for (const char *p = env; p < e && n + 1 < cap; p++) {
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int trisa_sectigo_check_environment(const char *endpoint, const char *environment)
{
    char env[32];
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = 0;

    norm_env(env, sizeof(env), environment ? environment : "production");
    if (env[0] == '\0') {
        snprintf(env, sizeof(env), "production");
    }
    if (strcmp(env, "production") && strcmp(env, "staging") && strcmp(env, "docker") &&
        strcmp(env, "testing")) {
        rc = trisa_error_set(TRISA_EINVAL,
                             "\"%s\" is not a valid environment, specify production, staging, "
                             "docker or testing",
                             env);
        goto done;
    }
    if (u == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (endpoint == NULL || curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = trisa_error_set(TRISA_EINVAL, "could not parse endpoint \"%s\" as a URL",
                             endpoint ? endpoint : "");
        goto done;
    }
    if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
        rc = trisa_error_set(TRISA_EENV, "endpoint scheme must be https or http, not %s", scheme);
    } else if (strcmp(env, "production") == 0) {
        /* production is the default: plain http or a loopback host is most likely a local
         * emulator run without its environment, so say which one it needs. */
        int local = strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0;
        const char *hint = local || strcmp(scheme, "http") == 0
                               ? " (for a local emulator such as `sectigo serve` set "
                                 "SECTIGO_ENVIRONMENT=testing, or -E testing)"
                               : "";
        if (strcmp(scheme, "https") != 0) {
            rc =
                trisa_error_set(TRISA_EENV, "must use https in production, not %s%s", scheme, hint);
        } else if (strcmp(host, "iot.sectigo.com") != 0) {
            rc = trisa_error_set(TRISA_EENV, "cannot connect to %s in production%s", host, hint);
        }
    } else if (strcmp(env, "staging") == 0 || strcmp(env, "docker") == 0) {
        /* Case-insensitive: host names are, and IOT.SECTIGO.COM is still production. */
        /* Plain http is allowed, as with the reference (its docker-compose file runs its
         * staging server on http); the client warns. */
        if (ends_with_ci(host, "sectigo.com") || ends_with_ci(host, "sectigo.com.")) {
            rc = trisa_error_set(TRISA_EENV, "cannot connect to %s in %s", host, env);
        }
    } else { /* testing */
        if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0) {
            rc = trisa_error_set(TRISA_EENV,
                                 "sectigo hostname must be set to localhost in testing mode "
                                 "(got %s)",
                                 host);
        }
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

long sectigo_retry_after_seconds(const char *value, long long now)
{
    long secs;
    time_t when;
    char buf[64];
    size_t n;

    if (value == NULL) {
        return -1;
    }
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1])) {
        n--;
    }
    if (n == 0 || n >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, value, n);
    buf[n] = '\0';
    if (trisa_parse_long(buf, 0, 86400L * 365, &secs) == 0) {
        return secs;
    }
    when = curl_getdate(buf, NULL);
    if (when == (time_t)-1) {
        return -1;
    }
    return when > now ? (long)(when - now) : 0;
}

/* SHA-256 (FIPS 180-4), only to name cache files. Written out here rather than fetched
 * from OpenSSL because activating OpenSSL's provider for one digest costs a plain-http
 * `sectigo licenses` about 280 KiB of its memory budget. */
typedef struct sha256 {
    uint32_t h[8];
    unsigned char block[64];
    size_t fill;
    uint64_t bits;
} sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(sha256 *s, const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1;
        d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(s, 0, sizeof(*s));
    memcpy(s->h, iv, sizeof(iv));
}

static void sha256_update(sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->bits += (uint64_t)len * 8;
    while (len > 0) {
        size_t n = 64 - s->fill < len ? 64 - s->fill : len;
        memcpy(s->block + s->fill, p, n);
        s->fill += n, p += n, len -= n;
        if (s->fill == 64) {
            sha256_block(s, s->block);
            s->fill = 0;
        }
    }
}

static void sha256_final(sha256 *s, unsigned char md[32])
{
    uint64_t bits = s->bits;
    unsigned char pad = 0x80, len[8];
    sha256_update(s, &pad, 1);
    pad = 0;
    while (s->fill != 56) {
        sha256_update(s, &pad, 1);
    }
    for (int i = 0; i < 8; i++) {
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    }
    sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++) {
        md[4 * i] = (unsigned char)(s->h[i] >> 24);
        md[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        md[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        md[4 * i + 3] = (unsigned char)s->h[i];
    }
}

void sectigo_sha256_hex(char out[65], const void *data, size_t len)
{
    sha256 s;
    unsigned char md[32];
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, md);
    trisa_hex(out, md, 32, 0);
}

int sectigo_cache_key(char out[65], const char *endpoint, const char *username)
{
    sha256 s;
    unsigned char md[32];
    sha256_init(&s);
    sha256_update(&s, endpoint, strlen(endpoint));
    sha256_update(&s, "\n", 1);
    sha256_update(&s, username, strlen(username));
    sha256_final(&s, md);
    trisa_hex(out, md, 32, 0);
    return 0;
}
