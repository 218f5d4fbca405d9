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

static int check_client(trisa_sectigo *c, const void *out, const char *fn)
{
    if (c == NULL || out == NULL) {
        return trisa_error_set(TRISA_EINVAL, "%s: NULL argument", fn);
    }
    return 0;
}

static int get(trisa_sectigo *c, const char *what, const char *fmt, ...) TRISA_PRINTF(3, 4);

static int get(trisa_sectigo *c, const char *what, const char *fmt, ...)
{
    char path[256];
    sectigo_req r = {"GET", path, NULL, 0, NULL, NULL, 1, 1, what, NULL};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return sectigo_call(c, &r);
}

/* A JSON object of profile parameters from a name, value, ... list. */
static struct json_object *params_object(const char *const *params)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; o != NULL && params != NULL && params[i] != NULL; i += 2) {
        const char *v = params[i + 1] ? params[i + 1] : "";
        json_object_object_add(o, params[i], json_object_new_string(v));
        if (params[i + 1] == NULL) {
            break;
        }
    }
    return o;
}

static const char *to_text(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
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
    struct json_object *o;
    const char *text;
    sectigo_req r = {"PUT",
                     "/api/v1/batches/createSingleCertBatch",
                     NULL,
                     0,
                     NULL,
                     NULL,
                     1,
                     0,
                     "create batch",
                     BATCH_HINT};
    int rc;

    if ((rc = check_client(c, out, "trisa_sectigo_create_single_cert_batch")) != 0) {
        return rc;
    }
    *out = NULL;
    o = json_object_new_object();
    json_object_object_add(o, "authorityId", json_object_new_int64(authority_id));
    json_object_object_add(o, "batchName", json_object_new_string(batch_name ? batch_name : ""));
    json_object_object_add(o, "profileParams", params_object(params));
    if ((text = to_text(o)) == NULL) {
        json_object_put(o);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r.body = text;
    r.body_len = strlen(text);
    rc = sectigo_call(c, &r);
    /* The body may hold the PKCS#12 password. */
    OPENSSL_cleanse((void *)text, strlen(text));
    json_object_put(o);
    if (rc == 0) {
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
    struct json_object *o;
    curl_mime *mime = NULL;
    curl_mimepart *part;
    char id[32];
    const char *text;
    int zip = is_zip(csr, csr_len), rc, ok = 1;
    sectigo_req r = {"POST",    "/api/v1/batches/upload", NULL, 0, NULL, NULL, 1, 0, "upload",
                     BATCH_HINT};

    if ((rc = check_client(c, out, "trisa_sectigo_upload_csr")) != 0) {
        return rc;
    }
    *out = NULL;
    if (csr == NULL || csr_len == 0) {
        return trisa_error_set(TRISA_EINVAL, "upload: no CSR data");
    }
    snprintf(id, sizeof(id), "%lld", profile_id);
    o = json_object_new_object();
    json_object_object_add(o, "profileId", json_object_new_int64(profile_id));
    json_object_object_add(o, "batchType", json_object_new_string("BATCH"));
    json_object_object_add(o, "profileParams", params_object(params));
    text = to_text(o);
    if (text == NULL || (mime = curl_mime_init(c->curl)) == NULL) {
        json_object_put(o);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    /* Three parts in the reference's order: profileId, csrBatchRequest, files. */
    part = curl_mime_addpart(mime);
    ok &= part && curl_mime_name(part, "profileId") == CURLE_OK &&
          curl_mime_data(part, id, CURL_ZERO_TERMINATED) == CURLE_OK;
    part = curl_mime_addpart(mime);
    ok &= part && curl_mime_name(part, "csrBatchRequest") == CURLE_OK &&
          curl_mime_filename(part, "blob") == CURLE_OK &&
          curl_mime_type(part, "application/json") == CURLE_OK &&
          curl_mime_data(part, text, CURL_ZERO_TERMINATED) == CURLE_OK;
    part = curl_mime_addpart(mime);
    ok &= part && curl_mime_name(part, "files") == CURLE_OK &&
          curl_mime_filename(part, filename ? filename
                                   : zip    ? "csrs.zip"
                                            : "csr.pem") == CURLE_OK &&
          curl_mime_type(part, zip ? "application/zip" : "text/plain") == CURLE_OK &&
          curl_mime_data(part, csr, csr_len) == CURLE_OK;
    json_object_put(o);
    if (!ok) {
        curl_mime_free(mime);
        return trisa_error_set(TRISA_ENOMEM, "upload: cannot build the form");
    }
    r.mime = mime;
    rc = sectigo_call(c, &r);
    curl_mime_free(mime);
    if (rc == 0) {
        rc = accepted_batch(out, c, "upload");
    }
    return rc;
}

int trisa_sectigo_batch_detail(trisa_sectigo_batch **out, trisa_sectigo *c, long long id)
{
    int rc = check_client(c, out, "trisa_sectigo_batch_detail");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "batch detail", "/api/v1/batches/%lld", id)) != 0) {
        return rc;
    }
    return sectigo_parse_batch(out, c->body.data);
}

int trisa_sectigo_batch_status(char **out, trisa_sectigo *c, long long id)
{
    int rc = check_client(c, out, "trisa_sectigo_batch_status");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "batch status", "/api/v1/batches/%lld/status", id)) != 0) {
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
    int rc = check_client(c, out, "trisa_sectigo_get_processing_info");
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    if ((rc = get(c, "processing info", "/api/v1/batches/%lld/processing_info", id)) != 0) {
        return rc;
    }
    return sectigo_parse_processing_info(out, c->body.data);
}

int trisa_sectigo_download_mem(unsigned char **out, size_t *out_len, char **out_filename,
                               trisa_sectigo *c, long long id)
{
    char path[128];
    sectigo_req r = {"GET", path, NULL,       0,   NULL, "application/octet-stream",
                     1,     1,    "download", NULL};
    char *name = NULL;
    int rc = check_client(c, out, "trisa_sectigo_download_mem");

    if (rc != 0) {
        return rc;
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
                sectigo_warn(c, "ignoring unsafe download file name in \"Content-Disposition: %s\"",
                             cd);
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

int trisa_sectigo_download(char **out_path, trisa_sectigo *c, long long id, const char *dir,
                           int replace)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char *name = NULL;
    trisa_buf path = TRISA_BUF_INIT;
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
    trisa_buf_printf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (path.failed) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    rc = trisa_file_write_atomic(path.data, data, len, 0644, replace ? TRISA_WRITE_REPLACE : 0);
    if (rc == 0 && out_path) {
        *out_path = trisa_buf_detach(&path, NULL);
    }
done:
    trisa_buf_free(&path, 0);
    free(name);
    free(data);
    return rc;
}

int trisa_sectigo_licenses_used(trisa_sectigo_licenses *out, trisa_sectigo *c)
{
    int rc = check_client(c, out, "trisa_sectigo_licenses_used");
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    if ((rc = get(c, "licences", "/api/v1/devices")) != 0) {
        return rc;
    }
    return sectigo_parse_licenses(out, c->body.data);
}

int trisa_sectigo_authorities(trisa_sectigo_authority_list **out, trisa_sectigo *c)
{
    int rc = check_client(c, out, "trisa_sectigo_authorities");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "authorities", "/api/v1/authorities/allowed")) != 0) {
        return rc;
    }
    return sectigo_parse_authorities(out, c->body.data);
}

int trisa_sectigo_authority_balance(long long *out, trisa_sectigo *c, long long id)
{
    int rc = check_client(c, out, "trisa_sectigo_authority_balance");
    if (rc != 0) {
        return rc;
    }
    *out = 0;
    if ((rc = get(c, "authority balance", "/api/v1/authorities/%lld/balanceavailable", id)) != 0) {
        return rc;
    }
    return sectigo_parse_balance(out, c->body.data);
}

int trisa_sectigo_profiles(trisa_sectigo_profile_list **out, trisa_sectigo *c)
{
    int rc = check_client(c, out, "trisa_sectigo_profiles");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "profiles", "/api/v1/profiles")) != 0) {
        return rc;
    }
    return sectigo_parse_profiles(out, c->body.data);
}

int trisa_sectigo_get_profile_detail(trisa_sectigo_profile_detail **out, trisa_sectigo *c,
                                     long long id)
{
    int rc = check_client(c, out, "trisa_sectigo_get_profile_detail");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "profile detail", "/api/v1/profiles/%lld", id)) != 0) {
        return rc;
    }
    return sectigo_parse_profile_detail(out, c->body.data);
}

int trisa_sectigo_profile_params(trisa_sectigo_profile_param_list **out, trisa_sectigo *c,
                                 long long id)
{
    int rc = check_client(c, out, "trisa_sectigo_profile_params");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "profile parameters", "/api/v1/profiles/%lld/parameters", id)) != 0) {
        return rc;
    }
    return sectigo_parse_profile_params(out, c->body.data);
}

int trisa_sectigo_get_organization(trisa_sectigo_organization **out, trisa_sectigo *c)
{
    int rc = check_client(c, out, "trisa_sectigo_get_organization");
    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    if ((rc = get(c, "organization", "/api/v1/organizations/user")) != 0) {
        return rc;
    }
    return sectigo_parse_organization(out, c->body.data);
}

int trisa_sectigo_find_certificates(trisa_sectigo_find_result **out, trisa_sectigo *c,
                                    const char *common_name, const char *serial_number)
{
    struct json_object *o;
    const char *text;
    /* A search changes nothing on the server, so it may be repeated like a GET. */
    sectigo_req r = {"POST", "/api/v1/certificates/find", NULL, 0, NULL, NULL, 1, 1, "find", NULL};
    int rc = check_client(c, out, "trisa_sectigo_find_certificates");

    if (rc != 0) {
        return rc;
    }
    *out = NULL;
    o = json_object_new_object();
    if (common_name != NULL && common_name[0] != '\0') {
        json_object_object_add(o, "commonName", json_object_new_string(common_name));
    }
    if (serial_number != NULL && serial_number[0] != '\0') {
        json_object_object_add(o, "serialNumber", json_object_new_string(serial_number));
    }
    if ((text = to_text(o)) == NULL) {
        json_object_put(o);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r.body = text;
    r.body_len = strlen(text);
    rc = sectigo_call(c, &r);
    json_object_put(o);
    if (rc == 0) {
        rc = sectigo_parse_find_result(out, c->body.data);
    }
    return rc;
}

int trisa_sectigo_revoke(trisa_sectigo *c, long long profile_id, int reason_code,
                         const char *serial_number)
{
    struct json_object *o;
    const char *text;
    char path[128];
    sectigo_req r = {"POST", path, NULL, 0, NULL, NULL, 1, 0, "revoke", REVOKE_HINT};
    int rc;

    if (c == NULL || serial_number == NULL || serial_number[0] == '\0') {
        return trisa_error_set(TRISA_EINVAL, "revoke: no serial number");
    }
    if (reason_code < 0 || reason_code > 10 || reason_code == 7) {
        return trisa_error_set(TRISA_EINVAL, "revoke: %d is not an RFC 5280 reason code",
                               reason_code);
    }
    snprintf(path, sizeof(path), "/api/v1/certificates/%lld/revoke", profile_id);
    o = json_object_new_object();
    json_object_object_add(o, "reasonCode", json_object_new_int(reason_code));
    json_object_object_add(o, "serialNumber", json_object_new_string(serial_number));
    if ((text = to_text(o)) == NULL) {
        json_object_put(o);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    r.body = text;
    r.body_len = strlen(text);
    rc = sectigo_call(c, &r);
    json_object_put(o);
    return rc;
}
