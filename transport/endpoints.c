/* Every endpoint of the Sectigo IoT Manager API that the reference client uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "transport/internal.h"

#define BATCH_HINT                                                                                 \
    "before trying again, check with `sectigo batches -i ID` or `sectigo find -n NAME` whether "   \
    "a batch was created, because each new batch costs a licence"
#define REVOKE_HINT "check with `sectigo find -s SERIAL` whether the certificate is REVOKED"

/* Check the client and the output (cleared: size bytes), then GET the formatted path. */
static int get(trisa_sectigo *c, void *out, size_t size, const char *fn, const char *what,
               const char *fmt, ...) TRISA_PRINTF(6, 7);

static int get(trisa_sectigo *c, void *out, size_t size, const char *fn, const char *what,
               const char *fmt, ...)
{
    char path[256];
    sectigo_req r = {.method = "GET", .path = path, .auth = 1, .idempotent = 1, .what = what};
    va_list ap;

    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", fn);
    }
    memset(out, 0, size);
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return sectigo_call(c, &r);
}

/* Request bodies are written as the reference's json.Encoder writes them: compact, keys in
 * its struct order, map keys sorted, HTML characters escaped, a final new line. Sends r with
 * the body, then frees it (wiped when it holds a secret). */
static int send_json(trisa_sectigo *c, sectigo_req *r, trisa_buf *body, int secret)
{
    int rc;
    trisa_buf_puts(body, "\n");
    if (body->failed) {
        trisa_buf_free(body, 1);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r->body = body->data;
    r->body_len = body->len;
    rc = sectigo_call(c, r);
    trisa_buf_free(body, secret);
    return rc;
}

/* The batch of a 2xx reply to create or upload. If it cannot be read, the batch most
 * likely exists all the same: say so, so nobody spends a second licence on a retry. */
static int accepted_batch(trisa_sectigo_batch **out, trisa_sectigo *c, const char *what)
{
    int rc = sectigo_parse_batch(out, c->body.data);
    if (rc != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", trisa_error_last());
        rc = trisa_error_set(rc,
                             "%s: the server accepted the request (HTTP %ld) but its reply "
                             "could not be read (%s): the batch probably exists; %s",
                             what, c->status, msg, BATCH_HINT);
    }
    return rc;
}

int trisa_sectigo_create_single_cert_batch(trisa_sectigo_batch **out, trisa_sectigo *c,
                                           long long authority_id, const char *batch_name,
                                           const char *const *params)
{
    trisa_buf body = TRISA_BUF_INIT;
    gojson w;
    sectigo_req r = {.method = "PUT",
                     .path = "/api/v1/batches/createSingleCertBatch",
                     .auth = 1,
                     .what = "create batch",
                     .hint = BATCH_HINT};
    int rc;

    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", __func__);
    }
    *out = NULL;
    gojson_init_compact(&w, &body);
    gojson_open(&w, '{');
    gojson_key(&w, "authorityId");
    gojson_int(&w, authority_id);
    gojson_key(&w, "batchName");
    gojson_str(&w, batch_name ? batch_name : "");
    gojson_key(&w, "profileParams");
    gojson_string_map(&w, params);
    gojson_close(&w, '}');
    /* The body holds the PKCS#12 password. */
    if ((rc = send_json(c, &r, &body, 1)) == 0) {
        rc = accepted_batch(out, c, "create batch");
    }
    return rc;
}

static int is_zip(const void *data, size_t len)
{
    return len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0;
}

int trisa_sectigo_upload_csr(trisa_sectigo_batch **out, trisa_sectigo *c, long long profile_id,
                             const char *filename, const void *csr, size_t csr_len,
                             const char *const *params)
{
    trisa_buf json = TRISA_BUF_INIT;
    gojson w;
    char id[32];
    int zip = is_zip(csr, csr_len), rc;
    sectigo_part parts[3];
    sectigo_req r = {.method = "POST",
                     .path = "/api/v1/batches/upload",
                     .parts = parts,
                     .nparts = 3,
                     .auth = 1,
                     .what = "upload",
                     .hint = BATCH_HINT};

    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", __func__);
    }
    *out = NULL;
    if (csr == NULL || csr_len == 0) {
        return trisa_error_set(TRISA_EINVAL, "upload: no CSR data");
    }
    snprintf(id, sizeof(id), "%lld", profile_id);
    gojson_init_compact(&w, &json);
    gojson_open(&w, '{');
    gojson_key(&w, "profileId");
    gojson_int(&w, profile_id);
    gojson_key(&w, "batchType");
    gojson_str(&w, "BATCH");
    gojson_key(&w, "profileParams");
    gojson_string_map(&w, params);
    gojson_close(&w, '}');
    if (trisa_buf_puts(&json, "\n") != 0 || json.failed) {
        trisa_buf_free(&json, 0);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    /* Three parts in the reference's order: profileId, csrBatchRequest, files (typed
     * application/octet-stream as the reference types a text file; a ZIP must be
     * application/zip). */
    parts[0] = (sectigo_part){"profileId", NULL, NULL, id, strlen(id)};
    parts[1] = (sectigo_part){"csrBatchRequest", "blob", "application/json", json.data, json.len};
    parts[2] = (sectigo_part){"files",
                              filename ? filename
                              : zip    ? "csrs.zip"
                                       : "csr.pem",
                              zip ? "application/zip" : "application/octet-stream", csr, csr_len};
    rc = sectigo_call(c, &r);
    trisa_buf_free(&json, 0);
    if (rc == 0) {
        rc = accepted_batch(out, c, "upload");
    }
    return rc;
}

int trisa_sectigo_batch_detail(trisa_sectigo_batch **out, trisa_sectigo *c, long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "batch detail", "/api/v1/batches/%lld", id);
    return rc != 0 ? rc : sectigo_parse_batch(out, c->body.data);
}

int trisa_sectigo_batch_status(char **out, trisa_sectigo *c, long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "batch status", "/api/v1/batches/%lld/status", id);
    if (rc != 0) {
        return rc;
    }
    /* Plain text; tolerate a JSON string too. */
    {
        const char *s = c->body.data;
        size_t n = c->body.len;
        while (n > 0 && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
            s++, n--;
        }
        while (n > 0 &&
               (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t')) {
            n--;
        }
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
            s++, n -= 2;
        }
        if ((*out = strndup(s, n)) == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
    }
    trisa_sectigo_status_normalize(*out);
    return 0;
}

int trisa_sectigo_get_processing_info(trisa_sectigo_processing_info *out, trisa_sectigo *c,
                                      long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "processing info",
                 "/api/v1/batches/%lld/processing_info", id);
    return rc != 0 ? rc : sectigo_parse_processing_info(out, c->body.data);
}

int trisa_sectigo_download_mem(unsigned char **out, size_t *out_len, char **out_filename,
                               trisa_sectigo *c, long long id)
{
    char path[128];
    sectigo_req r = {.method = "GET",
                     .path = path,
                     .accept = "application/octet-stream",
                     .auth = 1,
                     .idempotent = 1,
                     .what = "download"};
    char *name = NULL;
    int rc;

    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", __func__);
    }
    *out = NULL;
    if (out_len) {
        *out_len = 0;
    }
    if (out_filename) {
        *out_filename = NULL;
    }
    snprintf(path, sizeof(path), "/api/v1/batches/%lld/download", id);
    if ((rc = sectigo_call(c, &r)) != 0) {
        return rc;
    }
    if (out_filename != NULL) {
        const char *cd = sectigo_header(c, "Content-Disposition");
        name = trisa_sectigo_disposition_filename(cd);
        if (name == NULL) {
            if (cd != NULL) {
                char shown[128];
                size_t n = 0;
                /* The header as text we may print: no control characters, bounded. */
                for (const char *q = cd; *q != '\0' && n + 4 < sizeof(shown); q++) {
                    unsigned char u = (unsigned char)*q;
                    shown[n++] = u < 0x20 || u >= 0x7f ? '?' : (char)u;
                }
                if (strlen(cd) > n) {
                    memcpy(shown + n, "...", 3);
                    n += 3;
                }
                shown[n] = '\0';
                sectigo_warn(c,
                             "no safe file name in \"Content-Disposition: %s\" (malformed, or "
                             "a path, hidden or control characters); saving as %lld.zip",
                             shown, id);
            }
            trisa_buf b = TRISA_BUF_INIT;
            trisa_buf_printf(&b, "%lld.zip", id);
            name = trisa_buf_detach(&b, NULL);
        }
        if (name == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        *out_filename = name;
    }
    if (out_len) {
        *out_len = c->body.len;
    }
    *out = (unsigned char *)trisa_buf_detach(&c->body, NULL);
    if (*out == NULL) {
        if (out_filename) {
            free(*out_filename);
            *out_filename = NULL;
        }
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    return 0;
}

/* The atomic writer's temporary name is ".NAME.<12 hex>.tmp" in the same folder: a name
 * longer than this leaves no room for it within NAME_MAX (255). */
#define DOWNLOAD_NAME_MAX (255 - 18)

int trisa_sectigo_download(char **out_path, trisa_sectigo *c, long long id, const char *dir,
                           int replace)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char *name = NULL, *path = NULL;
    struct stat st;
    int rc;

    if (out_path) {
        *out_path = NULL;
    }
    if (c == NULL || dir == NULL || dir[0] == '\0') {
        return trisa_error_set(TRISA_EINVAL, "download: no output folder");
    }
    if (stat(dir, &st) != 0) {
        return trisa_error_set(TRISA_ENOTFOUND, "directory \"%s\" does not exist", dir);
    }
    if (!S_ISDIR(st.st_mode)) {
        return trisa_error_set(TRISA_EINVAL, "path \"%s\" is not a directory", dir);
    }
    if ((rc = trisa_sectigo_download_mem(&data, &len, &name, c, id)) != 0) {
        return rc;
    }
    if (strlen(name) > DOWNLOAD_NAME_MAX) {
        trisa_buf b = TRISA_BUF_INIT;
        sectigo_warn(c,
                     "the server's file name is %zu bytes long, more than %d; saving as %lld.zip",
                     strlen(name), DOWNLOAD_NAME_MAX, id);
        free(name);
        trisa_buf_printf(&b, "%lld.zip", id);
        if ((name = trisa_buf_detach(&b, NULL)) == NULL) {
            rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
    }
    /* dir/name cleaned as the reference's filepath.Join prints it ("-o ." gives "1.zip"). */
    if ((path = sectigo_path_join(dir, name)) == NULL) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    /* 0600: a server-generated key is inside. */
    rc = trisa_file_write_atomic(path, data, len, 0600, replace ? TRISA_WRITE_REPLACE : 0);
    if (rc == 0 && out_path) {
        *out_path = path;
        path = NULL;
    }
done:
    free(path);
    free(name);
    trisa_free_secret(data, len);
    return rc;
}

int trisa_sectigo_licenses_used(trisa_sectigo_licenses *out, trisa_sectigo *c)
{
    int rc = get(c, out, sizeof(*out), __func__, "licences", "/api/v1/devices");
    return rc != 0 ? rc : sectigo_parse_licenses(out, c->body.data);
}

int trisa_sectigo_authorities(trisa_sectigo_authority_list **out, trisa_sectigo *c)
{
    int rc = get(c, out, sizeof(*out), __func__, "authorities", "/api/v1/authorities/allowed");
    return rc != 0 ? rc : sectigo_parse_authorities(out, c->body.data);
}

int trisa_sectigo_authority_balance(long long *out, trisa_sectigo *c, long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "authority balance",
                 "/api/v1/authorities/%lld/balanceavailable", id);
    return rc != 0 ? rc : sectigo_parse_balance(out, c->body.data);
}

int trisa_sectigo_profiles(trisa_sectigo_profile_list **out, trisa_sectigo *c)
{
    int rc = get(c, out, sizeof(*out), __func__, "profiles", "/api/v1/profiles");
    return rc != 0 ? rc : sectigo_parse_profiles(out, c->body.data);
}

int trisa_sectigo_get_profile_detail(trisa_sectigo_profile_detail **out, trisa_sectigo *c,
                                     long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "profile detail", "/api/v1/profiles/%lld", id);
    return rc != 0 ? rc : sectigo_parse_profile_detail(out, c->body.data);
}

int trisa_sectigo_profile_params(trisa_sectigo_profile_param_list **out, trisa_sectigo *c,
                                 long long id)
{
    int rc = get(c, out, sizeof(*out), __func__, "profile parameters",
                 "/api/v1/profiles/%lld/parameters", id);
    return rc != 0 ? rc : sectigo_parse_profile_params(out, c->body.data);
}

int trisa_sectigo_get_organization(trisa_sectigo_organization **out, trisa_sectigo *c)
{
    int rc = get(c, out, sizeof(*out), __func__, "organization", "/api/v1/organizations/user");
    return rc != 0 ? rc : sectigo_parse_organization(out, c->body.data);
}

int trisa_sectigo_find_certificates(trisa_sectigo_find_result **out, trisa_sectigo *c,
                                    const char *common_name, const char *serial_number)
{
    trisa_buf body = TRISA_BUF_INIT;
    gojson w;
    /* A search changes nothing on the server, so it may be repeated like a GET. */
    sectigo_req r = {.method = "POST",
                     .path = "/api/v1/certificates/find",
                     .auth = 1,
                     .idempotent = 1,
                     .what = "find"};
    int rc;

    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", __func__);
    }
    *out = NULL;
    /* The reference leaves an empty criterion out (omitempty). */
    gojson_init_compact(&w, &body);
    gojson_open(&w, '{');
    if (common_name != NULL && common_name[0] != '\0') {
        gojson_key(&w, "commonName");
        gojson_str(&w, common_name);
    }
    if (serial_number != NULL && serial_number[0] != '\0') {
        gojson_key(&w, "serialNumber");
        gojson_str(&w, serial_number);
    }
    gojson_close(&w, '}');
    if ((rc = send_json(c, &r, &body, 0)) == 0) {
        rc = sectigo_parse_find_result(out, c->body.data);
    }
    return rc;
}

int trisa_sectigo_revoke(trisa_sectigo *c, long long profile_id, int reason_code,
                         const char *serial_number)
{
    trisa_buf body = TRISA_BUF_INIT;
    gojson w;
    char path[128];
    sectigo_req r = {
        .method = "POST", .path = path, .auth = 1, .what = "revoke", .hint = REVOKE_HINT};

    if (c == NULL || serial_number == NULL || serial_number[0] == '\0') {
        return trisa_error_set(TRISA_EINVAL, "revoke: no serial number");
    }
    if (reason_code < 0 || reason_code > 10 || reason_code == 7) {
        return trisa_error_set(TRISA_EINVAL, "revoke: %d is not an RFC 5280 reason code",
                               reason_code);
    }
    snprintf(path, sizeof(path), "/api/v1/certificates/%lld/revoke", profile_id);
    gojson_init_compact(&w, &body);
    gojson_open(&w, '{');
    gojson_key(&w, "reasonCode");
    gojson_int(&w, reason_code);
    gojson_key(&w, "serialNumber");
    gojson_str(&w, serial_number);
    gojson_close(&w, '}');
    return send_json(c, &r, &body, 0);
}
