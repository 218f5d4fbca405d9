/*
 * The endpoints of reference/sectigo-api.md: authentication, accounts, authorities,
 * profiles, batches (create, upload, status, download), certificates (find, revoke).
 * JSON keys are added in the reference's orders: json-c keeps insertion order.
 */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "emulator/emu.h"

#define MAX_CSRS 1000

/* ---- small helpers ---- */

static json_object *parse_body(emu_req *q)
{
    json_tokener *tok;
    json_object *o;

    if (q->body == NULL || q->body_len == 0) {
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        return NULL;
    }
    o = json_tokener_parse_ex(tok, (const char *)q->body, (int)q->body_len);
    if (o != NULL && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static int is_json(const emu_req *q)
{
    return q->content_type == NULL || strncasecmp(q->content_type, "application/json", 16) == 0;
}

static const char *str_field(json_object *o, const char *key)
{
    json_object *v;

    if (o != NULL && json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        return json_object_get_string(v);
    }
    return NULL;
}

static int has_authority(const emu_account *a, long id)
{
    for (size_t i = 0; i < a->nauthorities; i++) {
        if (a->authorities[i] == id) {
            return 1;
        }
    }
    return 0;
}

/* The account's authority for a profile id (or, failing that, an authority id). */
static const emu_authority *authority_for(const emu_req *q, long id)
{
    const emu_config *c = &q->emu->cfg;

    for (size_t i = 0; i < c->nauthorities; i++) {
        if (c->authorities[i].profile_id == id && has_authority(q->account, c->authorities[i].id)) {
            return &c->authorities[i];
        }
    }
    for (size_t i = 0; i < c->nauthorities; i++) {
        if (c->authorities[i].id == id && has_authority(q->account, id)) {
            return &c->authorities[i];
        }
    }
    return NULL;
}

static int set_text(emu_resp *r, int status, const char *type, const char *text)
{
    r->status = status;
    r->content_type = type;
    r->len = strlen(text);
    r->body = (unsigned char *)strdup(text);
    if (r->body == NULL) {
        r->status = 500;
        r->len = 0;
    }
    return 0;
}

/* ---- authentication ---- */

static int issue_tokens(emu_req *q, emu_resp *r, const emu_account *a)
{
    const emu_config *c = &q->emu->cfg;
    int64_t now = emu_now_ms() / 1000;
    char sub[300];
    char *access, *refresh;
    json_object *o;

    snprintf(sub, sizeof(sub), "/account/%ld/user/%s", a->account_id, a->username);
    access = emu_jwt_sign(q->emu->jwt_key, sizeof(q->emu->jwt_key), sub, "access", now, now,
                          now + c->access_lifetime);
    refresh = emu_jwt_sign(q->emu->jwt_key, sizeof(q->emu->jwt_key), sub, "refresh", now,
                           now + c->refresh_not_before, now + c->refresh_lifetime);
    if (access == NULL || refresh == NULL) {
        free(access);
        free(refresh);
        return emu_error(r, 500, EMU_EC_INTERNAL, "cannot sign tokens");
    }
    o = json_object_new_object();
    json_object_object_add(o, "accessToken", json_object_new_string(access));
    json_object_object_add(o, "refreshToken", json_object_new_string(refresh));
    free(access);
    free(refresh);
    return emu_json(r, 200, o);
}

int emu_api_auth_pwd(emu_req *q, emu_resp *r)
{
    json_object *o = parse_body(q);
    const char *user, *pass;
    const emu_account *a;
    int ret;

    if (!is_json(q)) {
        ret = emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
        goto done;
    }
    user = str_field(o, "username");
    pass = str_field(o, "password");
    if (user == NULL || pass == NULL) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST,
                        "expected a JSON object with username and password");
        goto done;
    }
    a = emu_config_account(&q->emu->cfg, user);
    if (a == NULL || strlen(a->password) != strlen(pass) ||
        CRYPTO_memcmp(a->password, pass, strlen(pass)) != 0) {
        ret = emu_error(r, 401, EMU_EC_UNAUTHORIZED, "bad credentials");
        goto done;
    }
    if (a->certificate_login) {
        ret = emu_error(r, 307, EMU_EC_CERT_LOGIN,
                        "this account must log in with a TLS client certificate");
        snprintf(r->location, sizeof(r->location), "/auth/cert");
        goto done;
    }
    if (a->nauthorities == 0) {
        ret = emu_error(r, 403, EMU_EC_FORBIDDEN, "user %s has no authority", a->username);
        goto done;
    }
    ret = issue_tokens(q, r, a);
done:
    if (o != NULL) {
        /* the password lives in the JSON object's strings and the request body */
        json_object_put(o);
    }
    return ret;
}

int emu_api_auth_refresh(emu_req *q, emu_resp *r)
{
    const char *s = (const char *)q->body;
    size_t len = q->body_len;
    emu_claims cl;
    const char *user;
    const emu_account *a;
    int64_t now = emu_now_ms() / 1000;

    /* The raw token; tolerate surrounding white space and quotes. */
    while (len > 0 && (isspace((unsigned char)*s) || *s == '"')) {
        s++;
        len--;
    }
    while (len > 0 && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '"')) {
        len--;
    }
    if (len == 0 || emu_jwt_verify(q->emu->jwt_key, sizeof(q->emu->jwt_key), s, len, &cl) != 0 ||
        strcmp(cl.typ, "refresh") != 0) {
        return emu_error(r, 401, EMU_EC_TOKEN, "invalid refresh token");
    }
    if (cl.exp <= now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token expired");
    }
    if (cl.nbf > now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token not yet usable");
    }
    user = strstr(cl.sub, "/user/");
    a = user ? emu_config_account(&q->emu->cfg, user + 6) : NULL;
    if (a == NULL) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token names an unknown user");
    }
    if (a->nauthorities == 0) {
        return emu_error(r, 403, EMU_EC_FORBIDDEN, "user %s has no authority", a->username);
    }
    return issue_tokens(q, r, a);
}

/* ---- accounts, authorities, profiles ---- */

int emu_api_devices(emu_req *q, emu_resp *r)
{
    long ordered, issued;
    json_object *o;

    if (emu_store_devices(q->emu->store, &ordered, &issued) != 0) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "store error");
    }
    o = json_object_new_object();
    json_object_object_add(o, "ordered", json_object_new_int64(ordered));
    json_object_object_add(o, "issued", json_object_new_int64(issued));
    return emu_json(r, 200, o);
}

static json_object *authority_json(emu_req *q, const emu_authority *a)
{
    json_object *o = json_object_new_object();
    long balance = emu_store_balance(q->emu->store, a->id);

    json_object_object_add(o, "id", json_object_new_int64(a->id));
    json_object_object_add(o, "ecosystemId", json_object_new_int64(a->ecosystem_id));
    json_object_object_add(o, "signerCertificateId",
                           json_object_new_int64(a->signer_certificate_id));
    json_object_object_add(o, "ecosystemName", json_object_new_string(a->ecosystem_name));
    json_object_object_add(o, "balance", json_object_new_int64(balance < 0 ? 0 : balance));
    json_object_object_add(o, "enabled", json_object_new_boolean(a->enabled));
    json_object_object_add(o, "profileId", json_object_new_int64(a->profile_id));
    json_object_object_add(o, "profileName", json_object_new_string(a->profile_name));
    return o;
}

static json_object *authorities_json(emu_req *q)
{
    json_object *arr = json_object_new_array();

    for (size_t i = 0; i < q->account->nauthorities; i++) {
        const emu_authority *a = emu_config_authority(&q->emu->cfg, q->account->authorities[i]);
        if (a != NULL) {
            json_object_array_add(arr, authority_json(q, a));
        }
    }
    return arr;
}

int emu_api_authorities(emu_req *q, emu_resp *r)
{
    return emu_json(r, 200, authorities_json(q));
}

int emu_api_balance(emu_req *q, emu_resp *r)
{
    char num[32];
    long b;

    if (!has_authority(q->account, q->ids[0]) ||
        emu_config_authority(&q->emu->cfg, q->ids[0]) == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "authority %ld not found", q->ids[0]);
    }
    b = emu_store_balance(q->emu->store, q->ids[0]);
    snprintf(num, sizeof(num), "%ld", b < 0 ? 0 : b);
    return set_text(r, 200, "application/json;charset=UTF-8", num);
}

static json_object *strings_json(char **s, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(arr, json_object_new_string(s[i]));
    }
    return arr;
}

int emu_api_profiles(emu_req *q, emu_resp *r)
{
    const emu_config *c = &q->emu->cfg;
    json_object *arr = json_object_new_array();

    for (size_t i = 0; i < c->nprofiles; i++) {
        const emu_profile *p = &c->profiles[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "profileId", json_object_new_int64(p->id));
        json_object_object_add(o, "algorithms", strings_json(p->algorithms, p->nalgorithms));
        json_object_object_add(o, "ca", json_object_new_string(p->ca));
        json_object_array_add(arr, o);
    }
    return emu_json(r, 200, arr);
}

int emu_api_profile(emu_req *q, emu_resp *r)
{
    const emu_profile *p = emu_config_profile(&q->emu->cfg, q->ids[0]);
    json_object *o;

    if (p == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", q->ids[0]);
    }
    o = json_object_new_object();
    json_object_object_add(o, "profileName", json_object_new_string(p->profile_name));
    json_object_object_add(o, "profileId", json_object_new_int64(p->id));
    json_object_object_add(o, "rawProfileConfig", json_object_new_string(p->raw_config));
    json_object_object_add(o, "name", json_object_new_string(p->name));
    json_object_object_add(o, "keyAlgorithmInfo", json_object_new_string(p->key_algorithm_info));
    return emu_json(r, 200, o);
}

int emu_api_profile_params(emu_req *q, emu_resp *r)
{
    const emu_profile *p = emu_config_profile(&q->emu->cfg, q->ids[0]);
    json_object *arr;

    if (p == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", q->ids[0]);
    }
    arr = json_object_new_array();
    for (size_t i = 0; i < p->nparams; i++) {
        const emu_param *x = &p->params[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(x->name));
        json_object_object_add(o, "inputType", json_object_new_string(x->input_type));
        json_object_object_add(o, "required", json_object_new_boolean(x->required));
        json_object_object_add(o, "placeholder", json_object_new_string(x->placeholder));
        json_object_object_add(o, "validationPattern", json_object_new_string(x->pattern));
        json_object_object_add(o, "message", json_object_new_string(x->message));
        json_object_object_add(o, "value", json_object_new_string(x->value));
        json_object_object_add(o, "title", json_object_new_string(x->title));
        json_object_object_add(o, "scopes", strings_json(x->scopes, x->nscopes));
        json_object_object_add(o, "dynamic", json_object_new_boolean(x->dynamic));
        json_object_array_add(arr, o);
    }
    return emu_json(r, 200, arr);
}

int emu_api_organization(emu_req *q, emu_resp *r)
{
    static const char *const keys[] = {"organizationId",
                                       "organizationName",
                                       "address",
                                       "primaryContactName",
                                       "primaryContactEmail",
                                       "primaryContactPhone",
                                       "manufactureId",
                                       "logo",
                                       "authorities",
                                       "ecosystemId",
                                       "organizationParameters",
                                       "orgStatus"};
    json_object *org = q->emu->cfg.organization, *o = json_object_new_object(), *v;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i], "authorities") == 0) {
            json_object_object_add(o, keys[i], authorities_json(q));
        } else if (json_object_object_get_ex(org, keys[i], &v)) {
            json_object_object_add(o, keys[i], json_object_get(v));
        } else if (strcmp(keys[i], "organizationParameters") == 0) {
            json_object_object_add(o, keys[i], json_object_new_object());
        } else {
            json_object_object_add(o, keys[i], NULL);
        }
    }
    return emu_json(r, 200, o);
}

/* ---- batches ---- */

static const char *batch_status(const emu_batch *b, int64_t now)
{
    if (strcmp(b->status, "PROCESSING") != 0) {
        return b->status;
    }
    if (now >= b->expires_ms) {
        return "REMOVED_AFTER_EXPIRATION";
    }
    if (now < b->ready_ms) {
        return "PROCESSING";
    }
    return b->collected ? "COLLECTED" : "READY_FOR_DOWNLOAD";
}

static json_object *batch_json(const emu_batch *b)
{
    json_object *o = json_object_new_object();
    const char *st = batch_status(b, emu_now_ms());
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

static void batch_init(emu_req *q, emu_batch *b, const emu_authority *a, const emu_profile *p,
                       const char *name)
{
    memset(b, 0, sizeof(*b));
    b->profile_id = p->id;
    b->authority_id = a->id;
    b->user_id = q->account->user_id;
    b->created_ms = emu_now_ms();
    b->ready_ms = b->created_ms + (int64_t)(q->emu->cfg.processing_delay * 1000.0);
    b->expires_ms = b->created_ms + (int64_t)q->emu->cfg.expire_after * 1000;
    snprintf(b->status, sizeof(b->status), "PROCESSING");
    b->name = (char *)name;
    b->profile_name = p->profile_name;
    b->reject_reason = "";
}

/* A file name from a common name: no folders, no control characters. */
static void member_name(char *out, size_t cap, const char *cn, const char *ext, int dup)
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

static int zip_reply_batch(emu_req *q, emu_resp *r, emu_batch *b, emu_cert *certs, size_t n,
                           emu_zip_member *m, size_t nm)
{
    unsigned char *zip = NULL;
    size_t ziplen = 0;
    int err;

    if ((err = emu_zip_build(&zip, &ziplen, m, nm)) != 0 ||
        (err = emu_store_add_batch(q->emu->store, b, certs, n, zip, ziplen)) != 0) {
        free(zip);
        return err;
    }
    free(zip);
    return emu_json(r, 200, batch_json(b));
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
    long authority_id;
    int taken = 0, ret = 0, err;

    memset(&cert, 0, sizeof(cert));
    if (!is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    o = parse_body(q);
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
    batch_name = str_field(o, "batchName");
    if (!json_object_object_get_ex(o, "profileParams", &params) ||
        !json_object_is_type(params, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "profileParams (object) is required");
        goto done;
    }
    a = authority_for(q, authority_id);
    if (a == NULL) {
        ret = emu_error(r, 404, EMU_EC_NOT_FOUND, "authority %ld not found", authority_id);
        goto done;
    }
    p = emu_config_profile(&q->emu->cfg, a->profile_id);
    /* Every parameter must be known and match its pattern; required ones present. */
    json_object_object_foreach(params, key_name, val)
    {
        const emu_param *pp = NULL;
        for (size_t i = 0; i < p->nparams; i++) {
            if (strcmp(p->params[i].name, key_name) == 0) {
                pp = &p->params[i];
            }
        }
        if (pp == NULL) {
            ret =
                emu_error(r, 400, EMU_EC_VALIDATION, "unknown profile parameter %.100s", key_name);
            goto done;
        }
        if (!json_object_is_type(val, json_type_string)) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s must be a string", key_name);
            goto done;
        }
        if (!pattern_ok(pp->pattern, json_object_get_string(val))) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s: %s", key_name,
                            pp->message[0] ? pp->message : "does not match its pattern");
            goto done;
        }
    }
    for (size_t i = 0; i < p->nparams; i++) {
        if (p->params[i].required && str_field(params, p->params[i].name) == NULL) {
            ret =
                emu_error(r, 400, EMU_EC_VALIDATION, "parameter %s is required", p->params[i].name);
            goto done;
        }
    }
    cn = str_field(params, "commonName");
    pass = str_field(params, "pkcs12Password");
    if (cn == NULL || pass == NULL) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION,
                        "commonName and pkcs12Password are required for a server-made key");
        goto done;
    }
    dns_copy = strdup(str_field(params, "dNSName") ? str_field(params, "dNSName") : cn);
    if (dns_copy == NULL) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
        goto done;
    }
    ndns = split_names(dns_copy, dns, 64);

    err = emu_store_take(q->emu->store, a->id, 1);
    if (err == TRISA_EBALANCE) {
        ret = emu_error(r, 400, EMU_EC_BALANCE, "no licences left on authority %ld", a->id);
        goto done;
    } else if (err != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
        goto done;
    }
    taken = 1;
    subject = X509_NAME_new();
    if (subject == NULL || !add_entry(subject, "C", str_field(params, "countryName")) ||
        !add_entry(subject, "ST", str_field(params, "stateOrProvinceName")) ||
        !add_entry(subject, "L", str_field(params, "localityName")) ||
        !add_entry(subject, "O", str_field(params, "organizationName")) ||
        !add_entry(subject, "CN", cn)) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "subject fields rejected");
        goto done;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)p->server_key_bits);
    if (key == NULL ||
        emu_ca_issue(&q->emu->ca, &leaf, key, subject, dns, ndns, p->validity_days, cert.serial) !=
            0 ||
        emu_p12_build(&m.data, &m.len, q->emu->p12ctx, pass, cn, key, leaf, q->emu->ca.issuing,
                      q->emu->ca.root, p->modern_p12) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot issue: %s", trisa_error_last());
        goto done;
    }
    member_name(fname, sizeof(fname), cn, ".p12", 0);
    m.name = fname;
    cert.common_name = (char *)cn;
    batch_init(q, &b, a, p, batch_name ? batch_name : "");
    b.size = 1;
    b.success = 1;
    if (zip_reply_batch(q, r, &b, &cert, 1, &m, 1) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot store the batch: %s", trisa_error_last());
        goto done;
    }
    taken = 0;
done:
    if (taken) {
        emu_store_take(q->emu->store, a->id, -1);
    }
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

/* ---- CSR upload ---- */

typedef struct part {
    char name[64];
    char ctype[128];
    int has_filename;
    const unsigned char *data;
    size_t len;
} part;

static const unsigned char *find_bytes(const unsigned char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0 || hl < nl) {
        return NULL;
    }
    for (const unsigned char *p = h, *end = h + hl - nl + 1; p < end; p++) {
        p = memchr(p, n[0], (size_t)(end - p));
        if (p == NULL) {
            return NULL;
        }
        if (memcmp(p, n, nl) == 0) {
            return p;
        }
    }
    return NULL;
}

/* A parameter of a header value: name="x" or name=x. */
static int header_param(const char *h, size_t hl, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i + kl + 1 < hl; i++) {
        if ((i == 0 || h[i - 1] == ' ' || h[i - 1] == ';' || h[i - 1] == '\t') &&
            strncasecmp(h + i, key, kl) == 0 && h[i + kl] == '=') {
            size_t j = i + kl + 1, o = 0;
            int quoted = j < hl && h[j] == '"';
            j += (size_t)quoted;
            while (j < hl && (quoted ? h[j] != '"' : (h[j] != ';' && h[j] != ' '))) {
                if (o + 1 >= cap) {
                    return -1;
                }
                out[o++] = h[j++];
            }
            out[o] = '\0';
            return 1;
        }
    }
    return 0;
}

static int parse_multipart(const unsigned char *body, size_t len, const char *boundary, part *parts,
                           size_t max, size_t *n)
{
    char delim[96];
    size_t dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    const unsigned char *p = body, *end = body + len, *next;

    *n = 0;
    if (len < dl || memcmp(body, delim, dl) != 0) {
        p = find_bytes(body, len, delim, dl);
        if (p == NULL) {
            return -1;
        }
    }
    for (;;) {
        const unsigned char *hdr, *hend, *data;
        part *pt;

        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return 0; /* closing delimiter */
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;
        } else if (p < end && *p == '\n') {
            p++;
        } else {
            return -1;
        }
        hdr = p;
        hend = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL) {
            return -1;
        }
        data = hend + 4;
        /* The part ends at CRLF + delimiter. */
        {
            char crdelim[100];
            size_t cl = (size_t)snprintf(crdelim, sizeof(crdelim), "\r\n%s", delim);
            next = find_bytes(data, (size_t)(end - data), crdelim, cl);
            if (next == NULL) {
                return -1;
            }
        }
        if (*n >= max) {
            return -1;
        }
        pt = &parts[(*n)++];
        memset(pt, 0, sizeof(*pt));
        pt->data = data;
        pt->len = (size_t)(next - data);
        /* Header lines */
        while (hdr < hend) {
            const unsigned char *eol = find_bytes(hdr, (size_t)(hend - hdr) + 2, "\r\n", 2);
            size_t ll = (size_t)(eol - hdr);
            char tmp[300];
            if (ll > 22 && strncasecmp((const char *)hdr, "Content-Disposition:", 20) == 0) {
                if (header_param((const char *)hdr + 20, ll - 20, "name", pt->name,
                                 sizeof(pt->name)) < 0) {
                    return -1;
                }
                pt->has_filename = header_param((const char *)hdr + 20, ll - 20, "filename", tmp,
                                                sizeof(tmp)) != 0;
            } else if (ll > 13 && strncasecmp((const char *)hdr, "Content-Type:", 13) == 0) {
                const unsigned char *v = hdr + 13;
                while (v < eol && *v == ' ') {
                    v++;
                }
                snprintf(pt->ctype, sizeof(pt->ctype), "%.*s", (int)(eol - v), (const char *)v);
            }
            hdr = eol + 2;
        }
        p = next + 2;
    }
}

typedef struct csr_list {
    X509_REQ *reqs[MAX_CSRS];
    size_t n;
} csr_list;

/* PEM CSRs in a text; 0 when at least one parsed and nothing else looked broken. */
static int read_pem_csrs(csr_list *l, const unsigned char *data, size_t len, char *why,
                         size_t whylen)
{
    BIO *bio;
    size_t before = l->n;

    if (len > INT32_MAX) {
        return -1;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        return -1;
    }
    for (;;) {
        X509_REQ *req;
        ERR_set_mark();
        req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
        if (req == NULL) {
            unsigned long e = ERR_peek_last_error();
            ERR_pop_to_mark();
            if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
                snprintf(why, whylen, "CSR %zu does not parse", l->n + 1);
                BIO_free(bio);
                return -1;
            }
            break;
        }
        ERR_clear_last_mark();
        if (l->n >= MAX_CSRS) {
            X509_REQ_free(req);
            snprintf(why, whylen, "more than %d CSRs", MAX_CSRS);
            BIO_free(bio);
            return -1;
        }
        l->reqs[l->n++] = req;
    }
    BIO_free(bio);
    if (l->n == before) {
        /* One DER CSR is accepted too. */
        const unsigned char *p = data;
        X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req != NULL && p == data + len && l->n < MAX_CSRS) {
            l->reqs[l->n++] = req;
            return 0;
        }
        X509_REQ_free(req);
        ERR_clear_error();
        snprintf(why, whylen, "no certificate signing request found");
        return -1;
    }
    return 0;
}

static void csr_names(X509_REQ *req, char ***dns, size_t *n)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *names = NULL;

    *dns = NULL;
    *n = 0;
    if (exts != NULL) {
        names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    if (names == NULL) {
        return;
    }
    *dns = calloc((size_t)sk_GENERAL_NAME_num(names) + 1, sizeof(char *));
    for (int i = 0; *dns != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int sl = ASN1_STRING_length(g->d.dNSName);
            char *c = malloc((size_t)sl + 1);
            if (c != NULL) {
                memcpy(c, s, (size_t)sl);
                c[sl] = '\0';
                if (strlen(c) != (size_t)sl) {
                    free(c); /* embedded NUL */
                } else {
                    (*dns)[(*n)++] = c;
                }
            }
        }
    }
    GENERAL_NAMES_free(names);
}

static void free_names(char **dns, size_t n)
{
    for (size_t i = 0; dns != NULL && i < n; i++) {
        free(dns[i]);
    }
    free(dns);
}

/* Why a CSR is not acceptable, or NULL. */
static int check_csr(X509_REQ *req, const emu_profile *p, char *why, size_t whylen, size_t idx)
{
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    char **dns;
    size_t ndns;
    int bits;

    if (pk == NULL || X509_REQ_verify(req, pk) != 1) {
        ERR_clear_error();
        snprintf(why, whylen, "CSR %zu: bad signature", idx);
        return -1;
    }
    bits = EVP_PKEY_get_bits(pk);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        if (bits < p->min_key_bits) {
            snprintf(why, whylen, "CSR %zu: RSA key of %d bits; the profile needs %d", idx, bits,
                     p->min_key_bits);
            return -1;
        }
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        if (bits < p->min_ec_bits) {
            snprintf(why, whylen, "CSR %zu: EC key of %d bits; the profile needs %d", idx, bits,
                     p->min_ec_bits);
            return -1;
        }
    } else {
        snprintf(why, whylen, "CSR %zu: key type %s not allowed", idx, EVP_PKEY_get0_type_name(pk));
        return -1;
    }
    csr_names(req, &dns, &ndns);
    free_names(dns, ndns);
    if (ndns == 0) {
        snprintf(why, whylen, "CSR %zu: no subjectAltName dNSName", idx);
        return -1;
    }
    return 0;
}

static char *pem_chain(X509 *leaf, X509 *issuing, X509 *root, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (bio != NULL && PEM_write_bio_X509(bio, leaf) && PEM_write_bio_X509(bio, issuing) &&
        PEM_write_bio_X509(bio, root)) {
        n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
            *len = (size_t)n;
        }
    }
    BIO_free(bio);
    return out;
}

static char *common_name(const X509_NAME *n)
{
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    const ASN1_STRING *s;
    unsigned char *utf8 = NULL;
    char *out;
    int len;

    if (i < 0) {
        return strdup("");
    }
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len < 0) {
        return strdup("");
    }
    out = malloc((size_t)len + 1);
    if (out != NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
    }
    OPENSSL_free(utf8);
    return out;
}

int emu_api_upload(emu_req *q, emu_resp *r)
{
    char boundary[80], why[256] = "";
    part parts[8];
    size_t nparts = 0, i;
    const part *files = NULL, *req_part = NULL, *pid_part = NULL;
    long profile_id = -1;
    const emu_authority *a;
    const emu_profile *p;
    csr_list *l = calloc(1, sizeof(*l));
    emu_cert *certs = NULL;
    emu_zip_member *m = NULL, *zm = NULL;
    size_t nzm = 0;
    emu_batch b;
    int taken = 0, ret = 0, err;

    if (l == NULL) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
    }
    if (q->content_type == NULL || strncasecmp(q->content_type, "multipart/form-data", 19) != 0 ||
        header_param(q->content_type, strlen(q->content_type), "boundary", boundary,
                     sizeof(boundary)) != 1 ||
        boundary[0] == '\0') {
        ret = emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected multipart/form-data with a boundary");
        goto done;
    }
    if (q->body == NULL ||
        parse_multipart(q->body, q->body_len, boundary, parts, 8, &nparts) != 0) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "malformed multipart body");
        goto done;
    }
    for (i = 0; i < nparts; i++) {
        if (strcmp(parts[i].name, "files") == 0 && files == NULL) {
            files = &parts[i];
        } else if (strcmp(parts[i].name, "csrBatchRequest") == 0) {
            req_part = &parts[i];
        } else if (strcmp(parts[i].name, "profileId") == 0) {
            pid_part = &parts[i];
        }
    }
    if (pid_part != NULL) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(pid_part->len < 31 ? pid_part->len : 31),
                 (const char *)pid_part->data);
        if (trisa_parse_long(num, 0, 1L << 40, &profile_id) != 0) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "profileId must be a number");
            goto done;
        }
    }
    if (req_part != NULL) {
        json_tokener *tok = json_tokener_new();
        json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)req_part->data,
                                                     (int)req_part->len)
                             : NULL,
                    *v;
        if (o == NULL || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            json_tokener_free(tok);
            ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "csrBatchRequest is not a JSON object");
            goto done;
        }
        if (json_object_object_get_ex(o, "profileId", &v) &&
            json_object_is_type(v, json_type_int)) {
            long pid = (long)json_object_get_int64(v);
            if (profile_id >= 0 && pid != profile_id) {
                json_object_put(o);
                json_tokener_free(tok);
                ret = emu_error(r, 400, EMU_EC_VALIDATION,
                                "profileId %ld and csrBatchRequest.profileId %ld differ",
                                profile_id, pid);
                goto done;
            }
            profile_id = pid;
        }
        json_object_put(o);
        json_tokener_free(tok);
    }
    if (profile_id < 0) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "profileId is required");
        goto done;
    }
    if (files == NULL || files->len == 0) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "the files part with CSRs is required");
        goto done;
    }
    a = authority_for(q, profile_id);
    p = a ? emu_config_profile(&q->emu->cfg, a->profile_id) : NULL;
    if (p == NULL || a->profile_id != profile_id) {
        ret = emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", profile_id);
        goto done;
    }
    if (files->len >= 4 && memcmp(files->data, "PK\003\004", 4) == 0) {
        if (emu_zip_read(&zm, &nzm, files->data, files->len, q->emu->cfg.max_body * 4) != 0) {
            ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "ZIP upload: %s", trisa_error_last());
            goto done;
        }
        for (i = 0; i < nzm; i++) {
            if (read_pem_csrs(l, zm[i].data, zm[i].len, why, sizeof(why)) != 0) {
                ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "%s: %s", zm[i].name, why);
                goto done;
            }
        }
        if (l->n == 0) {
            ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "the ZIP holds no .csr or .pem CSR");
            goto done;
        }
    } else if (read_pem_csrs(l, files->data, files->len, why, sizeof(why)) != 0) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "%s", why);
        goto done;
    }

    batch_init(q, &b, a, p, "");
    b.size = (long)l->n;
    why[0] = '\0';
    for (i = 0; i < l->n; i++) {
        if (check_csr(l->reqs[i], p, why, sizeof(why), i + 1) != 0) {
            break;
        }
    }
    if (why[0] != '\0') {
        /* As the real service: the batch exists but is not acceptable; no licence used. */
        snprintf(b.status, sizeof(b.status), "NOT_ACCEPTABLE");
        b.reject_reason = why;
        b.failed = (long)l->n;
        if (emu_store_add_batch(q->emu->store, &b, NULL, 0, NULL, 0) != 0) {
            ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
            goto done;
        }
        ret = emu_json(r, 200, batch_json(&b));
        goto done;
    }
    err = emu_store_take(q->emu->store, a->id, (long)l->n);
    if (err == TRISA_EBALANCE) {
        ret = emu_error(r, 400, EMU_EC_BALANCE, "authority %ld has fewer than %zu licences left",
                        a->id, l->n);
        goto done;
    } else if (err != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
        goto done;
    }
    taken = 1;
    certs = calloc(l->n, sizeof(*certs));
    m = calloc(l->n, sizeof(*m));
    if (certs == NULL || m == NULL) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
        goto done;
    }
    for (i = 0; i < l->n; i++) {
        X509 *leaf = NULL;
        char **dns, fname[300];
        size_t ndns;
        int dup = 0;

        csr_names(l->reqs[i], &dns, &ndns);
        certs[i].common_name = common_name(X509_REQ_get_subject_name(l->reqs[i]));
        err = emu_ca_issue(&q->emu->ca, &leaf, X509_REQ_get0_pubkey(l->reqs[i]),
                           X509_REQ_get_subject_name(l->reqs[i]), dns, ndns, p->validity_days,
                           certs[i].serial);
        free_names(dns, ndns);
        if (err != 0 || certs[i].common_name == NULL) {
            X509_free(leaf);
            ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot issue: %s", trisa_error_last());
            goto done;
        }
        m[i].data =
            (unsigned char *)pem_chain(leaf, q->emu->ca.issuing, q->emu->ca.root, &m[i].len);
        X509_free(leaf);
        /* Two CSRs with one common name get name-2.pem, name-3.pem, ... */
        for (;;) {
            int clash = 0;
            member_name(fname, sizeof(fname),
                        certs[i].common_name[0] ? certs[i].common_name : certs[i].serial, ".pem",
                        dup);
            for (size_t j = 0; j < i; j++) {
                clash |= strcmp(m[j].name, fname) == 0;
            }
            if (!clash) {
                break;
            }
            dup++;
        }
        m[i].name = strdup(fname);
        if (m[i].data == NULL || m[i].name == NULL) {
            ret = emu_error(r, 500, EMU_EC_INTERNAL, "out of memory");
            goto done;
        }
    }
    b.success = (long)l->n;
    if (zip_reply_batch(q, r, &b, certs, l->n, m, l->n) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot store the batch: %s", trisa_error_last());
        goto done;
    }
    taken = 0;
done:
    if (taken) {
        emu_store_take(q->emu->store, a->id, -(long)l->n);
    }
    if (m != NULL) {
        for (i = 0; i < l->n; i++) {
            free(m[i].name);
            free(m[i].data);
        }
        free(m);
    }
    if (certs != NULL) {
        for (i = 0; i < l->n; i++) {
            free(certs[i].common_name);
        }
        free(certs);
    }
    emu_zip_members_free(zm, nzm);
    for (i = 0; i < l->n; i++) {
        X509_REQ_free(l->reqs[i]);
    }
    free(l);
    return ret;
}

/* ---- batch detail, status, processing info, download ---- */

static int load_batch(emu_req *q, emu_resp *r, emu_batch *b)
{
    int err = emu_store_get_batch(q->emu->store, q->ids[0], b);

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
    emu_json(r, 200, batch_json(&b));
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
    st = batch_status(&b, emu_now_ms());
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
    return set_text(r, 200, "text/plain;charset=UTF-8", text);
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
    st = batch_status(&b, emu_now_ms());
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
    st = batch_status(&b, emu_now_ms());
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

/* ---- certificates ---- */

/* Serial numbers compare as upper-case hex without separators or leading zeros. */
static int normalise_serial(const char *in, char out[80])
{
    size_t o = 0;

    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
        in += 2;
    }
    for (; *in; in++) {
        if (*in == ':' || *in == ' ') {
            continue;
        }
        if (!isxdigit((unsigned char)*in) || o >= 78) {
            return -1;
        }
        if (o == 0 && *in == '0' && in[1] != '\0') {
            continue;
        }
        out[o++] = (char)toupper((unsigned char)*in);
    }
    out[o] = '\0';
    return o > 0 ? 0 : -1;
}

int emu_api_find(emu_req *q, emu_resp *r)
{
    json_object *o = NULL, *res, *items;
    const char *cn, *serial;
    char norm[80];
    emu_cert *certs = NULL;
    size_t n = 0;
    int ret;

    if (!is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    o = parse_body(q);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected a JSON object");
        goto done;
    }
    cn = str_field(o, "commonName");
    serial = str_field(o, "serialNumber");
    if (cn != NULL && cn[0] == '\0') {
        cn = NULL;
    }
    if (serial != NULL && serial[0] == '\0') {
        serial = NULL;
    }
    if (cn == NULL && serial == NULL) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "commonName or serialNumber is required");
        goto done;
    }
    if (serial != NULL && normalise_serial(serial, norm) != 0) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "serialNumber must be hexadecimal");
        goto done;
    }
    if (emu_store_find(q->emu->store, cn, serial ? norm : NULL, &certs, &n) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
        goto done;
    }
    res = json_object_new_object();
    items = json_object_new_array();
    json_object_object_add(res, "totalCount", json_object_new_int64((int64_t)n));
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_new_object();
        char date[40];
        emu_iso_time(date, certs[i].created_ms);
        json_object_object_add(it, "deviceId", json_object_new_int64(certs[i].device_id));
        json_object_object_add(it, "commonName", json_object_new_string(certs[i].common_name));
        json_object_object_add(it, "serialNumber", json_object_new_string(certs[i].serial));
        json_object_object_add(it, "creationDate", json_object_new_string(date));
        json_object_object_add(it, "status",
                               json_object_new_string(certs[i].revoked ? "REVOKED" : "ISSUED"));
        json_object_array_add(items, it);
    }
    json_object_object_add(res, "items", items);
    ret = emu_json(r, 200, res);
done:
    emu_certs_free(certs, n);
    json_object_put(o);
    return ret;
}

int emu_api_revoke(emu_req *q, emu_resp *r)
{
    json_object *o = NULL, *v;
    const char *serial;
    char norm[80];
    long reason;
    int ret, err;

    if (!is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    if (emu_config_profile(&q->emu->cfg, q->ids[0]) == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", q->ids[0]);
    }
    o = parse_body(q);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected a JSON object");
        goto done;
    }
    serial = str_field(o, "serialNumber");
    if (serial == NULL || normalise_serial(serial, norm) != 0) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION, "serialNumber (hexadecimal) is required");
        goto done;
    }
    reason = 0;
    if (json_object_object_get_ex(o, "reasonCode", &v)) {
        if (!json_object_is_type(v, json_type_int)) {
            ret = emu_error(r, 400, EMU_EC_VALIDATION, "reasonCode must be an integer");
            goto done;
        }
        reason = (long)json_object_get_int64(v);
    }
    if (reason < 0 || reason > 10 || reason == 7) {
        ret = emu_error(r, 400, EMU_EC_VALIDATION,
                        "reasonCode must be an RFC 5280 reason: 0-10 but 7");
        goto done;
    }
    err = emu_store_revoke(q->emu->store, norm, q->ids[0], (int)reason);
    if (err == TRISA_ENOTFOUND) {
        ret = emu_error(r, 404, EMU_EC_NOT_FOUND, "certificate %s not found", norm);
        goto done;
    } else if (err == TRISA_ESTATE) {
        ret = emu_error(r, 409, EMU_EC_ALREADY_REVOKED, "certificate %s is already revoked", norm);
        goto done;
    } else if (err != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "store error");
        goto done;
    }
    if (emu_ca_write_crl(&q->emu->ca, q->emu->store) != 0) {
        ret = emu_error(r, 500, EMU_EC_INTERNAL, "cannot write the CRL: %s", trisa_error_last());
        goto done;
    }
    r->status = 200;
    ret = 0;
done:
    json_object_put(o);
    return ret;
}
