/*
 * Batches: the batch object, status, processing info, download, and createSingleCertBatch
 * (a server-made key). A batch is seen only by the account that made it; to any other it
 * does not exist (404).
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "emulator/emu.h"

/* The status a client sees: PROCESSING until the delay has passed and the certificates
 * exist, then ready (or collected), and removed after expiry. */
static const char *batch_status(const emu_batch *b, int64_t now)
{
    if (strcmp(b->status, "PROCESSING") != 0) {
        return b->status;
    }
    if (now >= b->expires_ms) {
        return "REMOVED_AFTER_EXPIRATION";
    }
    if (now < b->ready_ms || !b->issued) {
        return "PROCESSING";
    }
    return b->collected ? "COLLECTED" : "READY_FOR_DOWNLOAD";
}

json_object *emu_batch_json(const trisa_emu *e, const emu_batch *b)
{
    json_object *o = json_object_new_object();
    const char *st = batch_status(b, emu_now(e));
    char date[40];
    int ready = strcmp(st, "READY_FOR_DOWNLOAD") == 0 || strcmp(st, "COLLECTED") == 0;

    emu_iso_time(date, b->created_ms);
    json_object_object_add(o, "batchId", json_object_new_int64(b->id));
    json_object_object_add(o, "orderNumber", json_object_new_int64(b->order_number));
    json_object_object_add(o, "creationDate", json_object_new_string(date));
    json_object_object_add(o, "profile", json_object_new_string(b->profile_name));
    json_object_object_add(o, "size", json_object_new_int64(b->size));
    json_object_object_add(o, "status", json_object_new_string(st));
    json_object_object_add(o, "active", json_object_new_boolean(strcmp(st, "PROCESSING") == 0));
    json_object_object_add(o, "batchName", json_object_new_string(b->name));
    json_object_object_add(o, "rejectReason", json_object_new_string(b->reject_reason));
    json_object_object_add(o, "generatorParametersValues", NULL);
    json_object_object_add(o, "userId", json_object_new_int64(b->user_id));
    json_object_object_add(o, "downloadable", json_object_new_boolean(ready));
    json_object_object_add(o, "rejectable",
                           json_object_new_boolean(ready || strcmp(st, "PROCESSING") == 0));
    return o;
}

void emu_batch_init(const emu_req *q, emu_batch *b, const emu_authority *a, const emu_profile *p,
                    const char *name)
{
    memset(b, 0, sizeof(*b));
    b->profile_id = p->id;
    b->authority_id = a->id;
    b->user_id = q->account->user_id;
    b->account_id = q->account->account_id;
    b->created_ms = emu_now(q->emu);
    b->ready_ms = b->created_ms + (int64_t)(q->emu->cfg.processing_delay * 1000.0);
    b->expires_ms = b->created_ms + (int64_t)q->emu->cfg.expire_after * 1000;
    snprintf(b->status, sizeof(b->status), "PROCESSING");
    b->name = (char *)name;
    b->profile_name = p->profile_name;
    b->reject_reason = "";
}

void emu_member_name(char *out, size_t cap, const char *cn, const char *ext, int dup)
{
    size_t o = 0;

    for (const char *p = cn; *p && o + 1 < cap - 24; p++) {
        unsigned char ch = (unsigned char)*p;
        out[o++] = (ch == '/' || ch == '\\' || ch < 0x20 || ch == 0x7f) ? '_' : (char)ch;
    }
    if (o == 0 || (o <= 2 && out[0] == '.')) {
        o = (size_t)snprintf(out, cap - 24, "certificate");
    }
    if (dup > 0) {
        o += (size_t)snprintf(out + o, cap - o, "-%d", dup + 1);
    }
    snprintf(out + o, cap - o, "%s", ext);
}

static int add_entry(X509_NAME *n, const char *field, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return 1;
    }
    return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                      0);
}

static int pattern_ok(const char *pattern, const char *value)
{
    regex_t re;
    int ok;

    if (pattern == NULL || pattern[0] == '\0') {
        return 1;
    }
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        return 1; /* a pattern the C library cannot read does not block requests */
    }
    ok = regexec(&re, value, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Split names separated by new lines, commas or spaces into a list (s is modified). */
static size_t split_names(char *s, char **out, size_t max)
{
    size_t n = 0;

    while (*s != '\0' && n < max) {
        size_t len;
        s += strspn(s, "\r\n, ");
        len = strcspn(s, "\r\n, ");
        if (len == 0) {
            break;
        }
        out[n++] = s;
        s += len;
        if (*s != '\0') {
            *s++ = '\0';
        }
    }
    return n;
}

/* Every parameter must be known to the profile, a string and match its pattern; the
 * required ones present. 1 (the reply made, *ret its result) when they are not. */
static int params_refused(emu_resp *r, const emu_profile *p, json_object *params, int *ret)
{
    json_object_object_foreach(params, key_name, val)
    {
        const emu_param *pp = NULL;
        for (size_t i = 0; i < p->nparams; i++) {
            if (strcmp(p->params[i].name, key_name) == 0) {
                pp = &p->params[i];
            }
        }
        if (pp == NULL) {
            *ret =
                emu_error(r, 400, EMU_EC_VALIDATION, "unknown profile parameter %.100s", key_name);
            return 1;
        }
        if (!json_object_is_type(val, json_type_string)) {
            *ret = emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s must be a string", key_name);
            return 1;
        }
        if (!pattern_ok(pp->pattern, json_object_get_string(val))) {
            *ret = emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s: %s", key_name,
                             pp->message[0] ? pp->message : "does not match its pattern");
            return 1;
        }
    }
    for (size_t i = 0; i < p->nparams; i++) {
        if (p->params[i].required && emu_str_field(params, p->params[i].name) == NULL) {
            *ret =
                emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s is required", p->params[i].name);
            return 1;
        }
    }
    return 0;
}

int emu_api_create(emu_req *q, emu_resp *r)
{
    json_object *o = NULL, *params, *v;
    const emu_authority *a;
    const emu_profile *p;
    emu_batch b;
    emu_cert cert;
    emu_zip_member m = {NULL, NULL, 0};
    const char *cn, *pass, *batch_name;
    char *dns_copy = NULL, *dns[64], fname[300];
    size_t ndns = 0;
    X509_NAME *subject = NULL;
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    unsigned char *zip = NULL;
    size_t ziplen = 0;
    long authority_id;
    int ret = 0, err;

    memset(&cert, 0, sizeof(cert));
    if (!emu_is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    o = emu_parse_body(q);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected a JSON object");
        goto done;
    }
    if (!json_object_object_get_ex(o, "authorityId", &v) ||
        !json_object_is_type(v, json_type_int)) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "authorityId (integer) is required");
        goto done;
    }
    authority_id = (long)json_object_get_int64(v);
    batch_name = emu_str_field(o, "batchName");
    if (!json_object_object_get_ex(o, "profileParams", &params) ||
        !json_object_is_type(params, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "profileParams (object) is required");
        goto done;
    }
    a = emu_authority_for(q, authority_id);
    if (a == NULL) {
        ret = emu_error(r, 404, EMU_EC_NOT_FOUND, "authority %ld not found", authority_id);
        goto done;
    }
    p = emu_config_profile(&q->emu->cfg, a->issuing_profile_id);
    if (params_refused(r, p, params, &ret)) {
        goto done;
    }
    cn = emu_str_field(params, "commonName");
    pass = emu_str_field(params, "pkcs12Password");
    if (cn == NULL || pass == NULL) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION,
                        "commonName and pkcs12Password are required for a server-made key");
        goto done;
    }
    dns_copy = strdup(emu_str_field(params, "dNSName") ? emu_str_field(params, "dNSName") : cn);
    if (dns_copy == NULL) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
        goto done;
    }
    ndns = split_names(dns_copy, dns, 64);

    /* Checked first so that no key is made for nothing; taken below in the transaction
     * that records the batch. */
    if (emu_store_balance(q->emu->store, a->id) < 1) {
        ret = emu_error(r, 400, EMU_EC_BALANCE, "no licences left on authority %ld", a->id);
        goto done;
    }
    subject = X509_NAME_new();
    if (subject == NULL || !add_entry(subject, "C", emu_str_field(params, "countryName")) ||
        !add_entry(subject, "ST", emu_str_field(params, "stateOrProvinceName")) ||
        !add_entry(subject, "L", emu_str_field(params, "localityName")) ||
        !add_entry(subject, "O", emu_str_field(params, "organizationName")) ||
        !add_entry(subject, "CN", cn)) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "subject fields rejected");
        goto done;
    }
    emu_member_name(fname, sizeof(fname), cn, ".p12", 0);
    m.name = fname;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)p->server_key_bits);
    if (key == NULL ||
        emu_ca_issue(&q->emu->ca, &leaf, key, subject, dns, ndns, p->validity, cert.serial) != 0 ||
        emu_p12_build(&m.data, &m.len, pass, key, leaf, q->emu->ca.issuing, q->emu->ca.root,
                      p->modern_p12) != 0 ||
        emu_zip_build(&zip, &ziplen, &m, 1) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot issue: %s", trisa_error_last());
        goto done;
    }
    cert.common_name = (char *)cn;
    emu_batch_init(q, &b, a, p, batch_name ? batch_name : "");
    b.size = 1;
    b.success = 1;
    /* The licence and the batch in one transaction: a kill leaves both or neither. */
    err = emu_store_add_batch(q->emu->store, &b, 1, NULL, 0, &cert, 1, zip, ziplen);
    if (err == TRISA_EBALANCE) {
        ret = emu_error(r, 400, EMU_EC_BALANCE, "no licences left on authority %ld", a->id);
        goto done;
    } else if (err != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot store the batch: %s", trisa_error_last());
        goto done;
    }
    ret = emu_json(r, 200, emu_batch_json(q->emu, &b));
done:
    free(zip);
    if (m.data != NULL) {
        OPENSSL_cleanse(m.data, m.len);
        free(m.data);
    }
    X509_free(leaf);
    EVP_PKEY_free(key);
    X509_NAME_free(subject);
    free(dns_copy);
    json_object_put(o);
    return ret;
}

/* ---- batch detail, status, processing info, download ---- */

static int load_batch(emu_req *q, emu_resp *r, emu_batch *b)
{
    int err = emu_store_get_batch(q->emu->store, q->ids[0], b);

    if (err == 0 && b->account_id != q->account->account_id) {
        emu_batch_clear(b);
        err = TRISA_ENOTFOUND; /* another account's batch does not exist for this one */
    }
    if (err == TRISA_ENOTFOUND) {
        emu_error(r, 404, EMU_EC_NOT_FOUND, "batch %ld not found", q->ids[0]);
        return -1;
    } else if (err != 0) {
        emu_error(r, 500, EMU_EC_INTERNAL, "store error");
        return -1;
    }
    return 0;
}

int emu_api_batch(emu_req *q, emu_resp *r)
{
    emu_batch b;

    if (load_batch(q, r, &b) != 0) {
        return 0;
    }
    emu_json(r, 200, emu_batch_json(q->emu, &b));
    emu_batch_clear(&b);
    return 0;
}

int emu_api_batch_status(emu_req *q, emu_resp *r)
{
    emu_batch b;
    const char *st;
    char text[400];

    if (load_batch(q, r, &b) != 0) {
        return 0;
    }
    st = batch_status(&b, emu_now(q->emu));
    if (strcmp(st, "PROCESSING") == 0) {
        snprintf(text, sizeof(text), "Processing");
    } else if (strcmp(st, "READY_FOR_DOWNLOAD") == 0) {
        snprintf(text, sizeof(text), "Ready for download");
    } else if (strcmp(st, "COLLECTED") == 0) {
        snprintf(text, sizeof(text), "Collected");
    } else if (strcmp(st, "NOT_ACCEPTABLE") == 0) {
        snprintf(text, sizeof(text), "Not Acceptable. Status: %s", b.reject_reason);
    } else if (strcmp(st, "REMOVED_AFTER_EXPIRATION") == 0) {
        snprintf(text, sizeof(text), "Removed after expiration");
    } else if (strcmp(st, "REJECTED") == 0) {
        snprintf(text, sizeof(text), "Rejected");
    } else if (strcmp(st, "BROKEN") == 0) {
        snprintf(text, sizeof(text), "Broken");
    } else if (strcmp(st, "REVOKED") == 0) {
        snprintf(text, sizeof(text), "Revoked");
    } else {
        snprintf(text, sizeof(text), "Failed");
    }
    emu_batch_clear(&b);
    return emu_text(r, 200, "text/plain;charset=UTF-8", text);
}

int emu_api_batch_info(emu_req *q, emu_resp *r)
{
    emu_batch b;
    const char *st;
    json_object *o;
    int processing, failed;

    if (load_batch(q, r, &b) != 0) {
        return 0;
    }
    st = batch_status(&b, emu_now(q->emu));
    processing = strcmp(st, "PROCESSING") == 0;
    failed = strcmp(st, "FAILED") == 0 || strcmp(st, "REJECTED") == 0 ||
             strcmp(st, "NOT_ACCEPTABLE") == 0 || strcmp(st, "BROKEN") == 0;
    o = json_object_new_object();
    json_object_object_add(o, "active", json_object_new_int64(processing ? b.size : 0));
    json_object_object_add(o, "success",
                           json_object_new_int64(processing || failed ? 0 : b.success));
    json_object_object_add(o, "failed", json_object_new_int64(failed ? b.size : b.failed));
    emu_batch_clear(&b);
    return emu_json(r, 200, o);
}

int emu_api_batch_download(emu_req *q, emu_resp *r)
{
    emu_batch b;
    const char *st;
    unsigned char *zip = NULL;
    size_t len = 0;

    if (load_batch(q, r, &b) != 0) {
        return 0;
    }
    st = batch_status(&b, emu_now(q->emu));
    if (strcmp(st, "REMOVED_AFTER_EXPIRATION") == 0) {
        emu_error(r, 404, EMU_EC_EXPIRED, "batch %ld was removed after expiration", b.id);
    } else if (strcmp(st, "READY_FOR_DOWNLOAD") != 0 && strcmp(st, "COLLECTED") != 0) {
        emu_error(r, 400, EMU_EC_NOT_READY, "batch %ld is not ready for download (%s)", b.id, st);
    } else if (emu_store_get_zip(q->emu->store, b.id, &zip, &len) != 0) {
        emu_error(r, 500, EMU_EC_INTERNAL, "batch %ld has no bundle", b.id);
    } else {
        if (!b.collected) {
            emu_store_mark_collected(q->emu->store, b.id);
        }
        r->status = 200;
        r->content_type = "application/octet-stream";
        r->body = zip;
        r->len = len;
        snprintf(r->disposition, sizeof(r->disposition), "attachment; filename=\"%ld.zip\"", b.id);
    }
    emu_batch_clear(&b);
    return 0;
}
