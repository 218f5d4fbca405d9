/*
 * The endpoints of reference/sectigo-api.md that are not about batches: authentication,
 * accounts, authorities, profiles, and certificates (find, revoke). JSON keys are added
 * in the reference's orders: json-c keeps insertion order. Every account sees only what
 * belongs to it: another account's certificate is "not found".
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "emulator/emu.h"

/* ---- small helpers ---- */

json_object *emu_parse_body(const emu_req *q)
{
    json_tokener *tok;
    json_object *o;

    if (q->body == NULL || q->body_len == 0 || q->body_len > INT32_MAX) {
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

int emu_is_json(const emu_req *q)
{
    return q->content_type == NULL || strncasecmp(q->content_type, "application/json", 16) == 0;
}

const char *emu_str_field(json_object *o, const char *key)
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

const emu_authority *emu_authority_for(const emu_req *q, long id)
{
    const emu_config *c = &q->emu->cfg;

    /* The profile id first (the reference CLI's -a is one in practice), then the profile
     * an authority issues with, then the authority's own id. */
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < c->nauthorities; i++) {
            const emu_authority *a = &c->authorities[i];
            long v = pass == 0 ? a->profile_id : pass == 1 ? a->issuing_profile_id : a->id;
            if (v == id && has_authority(q->account, a->id)) {
                return a;
            }
        }
    }
    return NULL;
}

/* ---- authentication ---- */

static int issue_tokens(emu_req *q, emu_resp *r, const emu_account *a)
{
    const emu_config *c = &q->emu->cfg;
    int64_t now = emu_now(q->emu) / 1000;
    emu_claims cl;
    unsigned char nonce[8];
    char *access, *refresh;
    json_object *o;

    memset(&cl, 0, sizeof(cl));
    snprintf(cl.sub, sizeof(cl.sub), "%s", a->subject);
    snprintf(cl.iss, sizeof(cl.iss), "%s", c->issuer);
    /* jti: every token is told apart (refresh tokens are spent by it). */
    snprintf(cl.typ, sizeof(cl.typ), "access");
    cl.iat = cl.nbf = now;
    cl.exp = now + c->access_lifetime;
    RAND_bytes(nonce, sizeof(nonce));
    trisa_hex(cl.jti, nonce, sizeof(nonce), 0);
    access = emu_jwt_sign(q->emu->jwt_key, sizeof(q->emu->jwt_key), &cl);
    snprintf(cl.typ, sizeof(cl.typ), "refresh");
    cl.nbf = now + c->refresh_not_before;
    cl.exp = now + c->refresh_lifetime;
    RAND_bytes(nonce, sizeof(nonce));
    trisa_hex(cl.jti, nonce, sizeof(nonce), 0);
    refresh = emu_jwt_sign(q->emu->jwt_key, sizeof(q->emu->jwt_key), &cl);
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
    json_object *o = emu_parse_body(q);
    const char *user, *pass;
    const emu_account *a;
    int ret;

    if (!emu_is_json(q)) {
        ret = emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
        goto done;
    }
    user = emu_str_field(o, "username");
    pass = emu_str_field(o, "password");
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
    const emu_account *a;
    int64_t now = emu_now(q->emu) / 1000;
    int err;

    /* The raw token; tolerate surrounding white space and quotes. */
    while (len > 0 && (isspace((unsigned char)*s) || *s == '"')) {
        s++;
        len--;
    }
    while (len > 0 && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '"')) {
        len--;
    }
    if (len == 0 || emu_jwt_verify(q->emu->jwt_key, sizeof(q->emu->jwt_key), s, len, &cl) != 0 ||
        strcmp(cl.typ, "refresh") != 0 || strcmp(cl.iss, q->emu->cfg.issuer) != 0) {
        return emu_error(r, 401, EMU_EC_TOKEN, "invalid refresh token");
    }
    if (cl.exp <= now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token expired");
    }
    if (cl.nbf > now) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token not yet usable");
    }
    a = emu_config_account_by_subject(&q->emu->cfg, cl.sub);
    if (a == NULL || a->certificate_login) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token names an unknown user");
    }
    if (a->nauthorities == 0) {
        return emu_error(r, 403, EMU_EC_FORBIDDEN, "user %s has no authority", a->username);
    }
    /* Each refresh token works once: the reply carries its successor. */
    err = emu_store_spend_token(q->emu->store, cl.jti, cl.exp, now);
    if (err == TRISA_ESTATE) {
        return emu_error(r, 401, EMU_EC_TOKEN, "refresh token already used");
    } else if (err != 0) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "store error");
    }
    return issue_tokens(q, r, a);
}

/* ---- accounts, authorities, profiles ---- */

int emu_api_devices(emu_req *q, emu_resp *r)
{
    long ordered, issued;
    json_object *o;

    if (emu_store_devices(q->emu->store, q->account->account_id, &ordered, &issued) != 0) {
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
    return emu_text(r, 200, "application/json;charset=UTF-8", num);
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

    if (!emu_is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    o = emu_parse_body(q);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected a JSON object");
        goto done;
    }
    cn = emu_str_field(o, "commonName");
    serial = emu_str_field(o, "serialNumber");
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
    if (emu_store_find(q->emu->store, q->account->account_id, cn, serial ? norm : NULL, &certs,
                       &n) != 0) {
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
        char device[32];
        /* A string, as the reference types it (its server sends UUIDs). */
        snprintf(device, sizeof(device), "%ld", certs[i].device_id);
        json_object_object_add(it, "deviceId", json_object_new_string(device));
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

    if (!emu_is_json(q)) {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected application/json");
    }
    if (emu_config_profile(&q->emu->cfg, q->ids[0]) == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", q->ids[0]);
    }
    o = emu_parse_body(q);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        ret = emu_error(r, 400, EMU_EC_BAD_REQUEST, "expected a JSON object");
        goto done;
    }
    serial = emu_str_field(o, "serialNumber");
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
    err = emu_store_revoke(q->emu->store, q->account->account_id, norm, q->ids[0], (int)reason,
                           emu_now(q->emu));
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
