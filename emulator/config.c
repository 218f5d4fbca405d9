/* The emulator's configuration: accounts, authorities, profiles (conf/emulator.json). */
#include <stdlib.h>
#include <string.h>

#include "emulator/emu.h"

#define EMU_MAX_LIFETIME (3650L * 86400L)
#define EMU_MAX_SETTING  (100L * 365 * 86400)

int emu_parse_duration(const char *s, long max, long *out)
{
    long v = 0, unit;
    size_t n = 0;

    if (s == NULL) {
        return TRISA_EINVAL;
    }
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (v > max) {
            return TRISA_EINVAL;
        }
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || s[n] == '\0' || s[n + 1] != '\0') {
        return TRISA_EINVAL;
    }
    switch (s[n]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return TRISA_EINVAL;
    }
    if (v < 1 || v > max / unit) {
        return TRISA_EINVAL;
    }
    *out = v * unit;
    return 0;
}

static char *dupstr(json_object *o, const char *key, const char *def)
{
    json_object *v;
    const char *s = def;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)) {
        s = json_object_get_string(v);
    }
    return strdup(s != NULL ? s : "");
}

static long getlong(json_object *o, const char *key, long def)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) &&
        (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
        return (long)json_object_get_int64(v);
    }
    return def;
}

static int getbool(json_object *o, const char *key, int def)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean)) {
        return json_object_get_boolean(v);
    }
    return def;
}

static json_object *getarray(json_object *o, const char *key)
{
    json_object *v;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array)) {
        return v;
    }
    return NULL;
}

static int strings(json_object *arr, char ***out, size_t *n)
{
    size_t len = arr ? json_object_array_length(arr) : 0;

    *out = calloc(len + 1, sizeof(char *));
    if (*out == NULL) {
        return TRISA_ENOMEM;
    }
    *n = len;
    for (size_t i = 0; i < len; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
        (*out)[i] = strdup(s ? s : "");
        if ((*out)[i] == NULL) {
            return TRISA_ENOMEM;
        }
    }
    return 0;
}

static void freestrings(char **s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        free(s[i]);
    }
    free(s);
}

static int load_profile(emu_profile *p, json_object *o)
{
    json_object *params = getarray(o, "parameters");
    char *bundle;

    p->id = getlong(o, "profileId", 0);
    p->profile_name = dupstr(o, "profileName", "");
    p->name = dupstr(o, "name", p->profile_name);
    p->ca = dupstr(o, "ca", "");
    p->raw_config = dupstr(o, "rawProfileConfig", "");
    p->key_algorithm_info = dupstr(o, "keyAlgorithmInfo", "");
    {
        /* Ranges first, then the conversions: a long that does not fit an int, or days
         * that overflow in seconds, must be an error and not another number. */
        long bits = getlong(o, "serverKeyBits", 4096), rsa = getlong(o, "minRsaBits", 2048),
             ec = getlong(o, "minEcBits", 256);
        if (bits < 1024 || bits > 16384) {
            return trisa_error_set(TRISA_ECONFIG, "profile %ld: serverKeyBits out of range", p->id);
        }
        if (rsa < 0 || rsa > 16384 || ec < 0 || ec > 16384) {
            return trisa_error_set(TRISA_ECONFIG, "profile %ld: minRsaBits and minEcBits 0-16384",
                                   p->id);
        }
        p->server_key_bits = (int)bits;
        p->min_key_bits = (int)rsa;
        p->min_ec_bits = (int)ec;
    }
    {
        json_object *v;
        if (json_object_object_get_ex(o, "validity", &v)) {
            if (!json_object_is_type(v, json_type_string) ||
                emu_parse_duration(json_object_get_string(v), EMU_MAX_LIFETIME, &p->validity) !=
                    0) {
                return trisa_error_set(TRISA_ECONFIG,
                                       "profile %ld: validity must be a duration such as \"60s\", "
                                       "\"10m\", \"12h\" or \"397d\" (at most 3650d)",
                                       p->id);
            }
        } else {
            long days = getlong(o, "validityDays", 397);
            p->validity = days >= 1 && days <= EMU_MAX_LIFETIME / 86400L ? days * 86400L : 0;
        }
    }
    if (p->validity < 1 || p->validity > EMU_MAX_LIFETIME) {
        return trisa_error_set(TRISA_ECONFIG, "profile %ld: validityDays must be 1-3650", p->id);
    }
    bundle = dupstr(o, "bundle", "legacy");
    if (bundle == NULL) {
        return TRISA_ENOMEM;
    }
    p->modern_p12 = strcmp(bundle, "modern") == 0;
    if (!p->modern_p12 && strcmp(bundle, "legacy") != 0) {
        free(bundle);
        return trisa_error_set(TRISA_ECONFIG, "profile %ld: bundle must be legacy or modern",
                               p->id);
    }
    free(bundle);
    bundle = dupstr(o, "csrBundle", "pem");
    if (bundle == NULL) {
        return TRISA_ENOMEM;
    }
    p->csr_format = strcmp(bundle, "der") == 0   ? EMU_CSR_DER
                    : strcmp(bundle, "p7b") == 0 ? EMU_CSR_P7B
                    : strcmp(bundle, "pem") == 0 ? EMU_CSR_PEM
                                                 : -1;
    free(bundle);
    if (p->csr_format < 0) {
        return trisa_error_set(TRISA_ECONFIG, "profile %ld: csrBundle must be pem, der or p7b",
                               p->id);
    }
    if (strings(getarray(o, "algorithms"), &p->algorithms, &p->nalgorithms) != 0) {
        return TRISA_ENOMEM;
    }
    p->nparams = params ? json_object_array_length(params) : 0;
    p->params = calloc(p->nparams + 1, sizeof(*p->params));
    if (p->params == NULL) {
        return TRISA_ENOMEM;
    }
    for (size_t i = 0; i < p->nparams; i++) {
        json_object *po = json_object_array_get_idx(params, i);
        emu_param *q = &p->params[i];
        q->name = dupstr(po, "name", "");
        q->input_type = dupstr(po, "inputType", "TEXT");
        q->placeholder = dupstr(po, "placeholder", "");
        q->pattern = dupstr(po, "validationPattern", "");
        q->message = dupstr(po, "message", "");
        q->value = dupstr(po, "value", "");
        q->title = dupstr(po, "title", "");
        q->required = getbool(po, "required", 0);
        q->dynamic = getbool(po, "dynamic", 0);
        if (strings(getarray(po, "scopes"), &q->scopes, &q->nscopes) != 0 || q->name == NULL ||
            q->input_type == NULL || q->placeholder == NULL || q->pattern == NULL ||
            q->message == NULL || q->value == NULL || q->title == NULL) {
            return TRISA_ENOMEM;
        }
        if (q->name[0] == '\0') {
            return trisa_error_set(TRISA_ECONFIG, "profile %ld: parameter %zu has no name", p->id,
                                   i);
        }
    }
    if (p->profile_name == NULL || p->name == NULL || p->ca == NULL || p->raw_config == NULL ||
        p->key_algorithm_info == NULL) {
        return TRISA_ENOMEM;
    }
    return 0;
}

int emu_config_load(emu_config *c, const char *path)
{
    unsigned char *text = NULL;
    size_t len;
    int err;

    memset(c, 0, sizeof(*c));
    if (path == NULL) {
        return trisa_error_set(TRISA_ECONFIG, "no emulator configuration file given");
    }
    err = trisa_file_read(&text, &len, path, 1 << 20);
    if (err != 0) {
        return trisa_error_prefix("emulator configuration %s", path);
    }
    err = emu_config_parse(c, (const char *)text, len, path);
    free(text);
    return err;
}

static int load_accounts(emu_config *c, json_object *arr)
{
    c->naccounts = arr ? json_object_array_length(arr) : 0;
    c->accounts = calloc(c->naccounts + 1, sizeof(*c->accounts));
    if (c->accounts == NULL) {
        return TRISA_ENOMEM;
    }
    for (size_t i = 0; i < c->naccounts; i++) {
        emu_account *a = &c->accounts[i];
        json_object *o = json_object_array_get_idx(arr, i), *auths;
        a->username = dupstr(o, "username", "");
        a->password = dupstr(o, "password", "");
        a->user_id = getlong(o, "userId", (long)i + 1);
        a->account_id = getlong(o, "accountId", 1);
        a->certificate_login = getbool(o, "certificateLogin", 0);
        a->subject = dupstr(o, "subject", "");
        if (a->subject != NULL && a->subject[0] == '\0' && a->username != NULL) {
            size_t n = strlen(a->username) + 64;
            free(a->subject);
            a->subject = malloc(n);
            if (a->subject != NULL) {
                snprintf(a->subject, n, "/account/%ld/user/%s", a->account_id, a->username);
            }
        }
        auths = getarray(o, "authorities");
        a->nauthorities = auths ? json_object_array_length(auths) : 0;
        a->authorities = calloc(a->nauthorities + 1, sizeof(long));
        if (a->username == NULL || a->password == NULL || a->subject == NULL ||
            a->authorities == NULL) {
            return TRISA_ENOMEM;
        }
        for (size_t j = 0; j < a->nauthorities; j++) {
            a->authorities[j] = (long)json_object_get_int64(json_object_array_get_idx(auths, j));
        }
    }
    return 0;
}

static int load_authorities(emu_config *c, json_object *arr)
{
    c->nauthorities = arr ? json_object_array_length(arr) : 0;
    c->authorities = calloc(c->nauthorities + 1, sizeof(*c->authorities));
    if (c->authorities == NULL) {
        return TRISA_ENOMEM;
    }
    for (size_t i = 0; i < c->nauthorities; i++) {
        emu_authority *a = &c->authorities[i];
        json_object *o = json_object_array_get_idx(arr, i);
        a->id = getlong(o, "id", (long)i + 1);
        a->ecosystem_id = getlong(o, "ecosystemId", 0);
        a->signer_certificate_id = getlong(o, "signerCertificateId", 0);
        a->ecosystem_name = dupstr(o, "ecosystemName", "");
        a->balance = getlong(o, "balance", 0);
        a->enabled = getbool(o, "enabled", 1);
        a->profile_id = getlong(o, "profileId", 0);
        a->profile_name = dupstr(o, "profileName", "");
        a->issuing_profile_id = getlong(o, "issuingProfileId", a->profile_id);
        if (a->ecosystem_name == NULL || a->profile_name == NULL) {
            return TRISA_ENOMEM;
        }
    }
    return 0;
}

static int load_profiles(emu_config *c, json_object *arr, const char *path)
{
    int err;

    c->nprofiles = arr ? json_object_array_length(arr) : 0;
    c->profiles = calloc(c->nprofiles + 1, sizeof(*c->profiles));
    if (c->profiles == NULL) {
        return TRISA_ENOMEM;
    }
    for (size_t i = 0; i < c->nprofiles; i++) {
        if ((err = load_profile(&c->profiles[i], json_object_array_get_idx(arr, i))) != 0) {
            return err;
        }
    }
    for (size_t i = 0; i < c->nauthorities; i++) {
        if (emu_config_profile(c, c->authorities[i].issuing_profile_id) == NULL) {
            return trisa_error_set(TRISA_ECONFIG, "%s: authority %ld names unknown profile %ld",
                                   path, c->authorities[i].id,
                                   c->authorities[i].issuing_profile_id);
        }
    }
    return 0;
}

/* organization, tokens, batches, limits. */
static int load_settings(emu_config *c, json_object *root, const char *path)
{
    json_object *o = NULL, *v;
    long conns, per_ip, inl, body;

    if (json_object_object_get_ex(root, "organization", &o) &&
        json_object_is_type(o, json_type_object)) {
        c->organization = json_object_get(o);
    } else {
        c->organization = json_object_new_object();
    }
    o = NULL;
    json_object_object_get_ex(root, "tokens", &o);
    c->access_lifetime = getlong(o, "accessLifetime", 600);
    c->refresh_lifetime = getlong(o, "refreshLifetime", 3600);
    c->refresh_not_before = getlong(o, "refreshNotBefore", 0);
    if ((c->issuer = dupstr(o, "issuer", "")) == NULL) {
        return TRISA_ENOMEM;
    }
    o = NULL;
    json_object_object_get_ex(root, "batches", &o);
    c->processing_delay = 1.0;
    if (o != NULL && json_object_object_get_ex(o, "processingDelay", &v)) {
        c->processing_delay = json_object_get_double(v);
    }
    c->expire_after = getlong(o, "expireAfter", 30L * 24 * 3600);
    o = NULL;
    json_object_object_get_ex(root, "limits", &o);
    body = getlong(o, "maxBodyBytes", 4L << 20);
    conns = getlong(o, "maxConnections", 10000);
    per_ip = getlong(o, "maxConnectionsPerIp", 256);
    inl = getlong(o, "inlineIssue", 16);
    c->header_timeout = getlong(o, "headerTimeout", 10);
    c->body_timeout = getlong(o, "bodyTimeout", 60);
    if (conns < 16 || conns > 1000000 || per_ip < 1 || per_ip > conns || inl < 0 || inl > 1000 ||
        c->header_timeout < 1 || c->header_timeout > 3600 || c->body_timeout < 1 ||
        c->body_timeout > 3600) {
        return trisa_error_set(TRISA_ECONFIG,
                               "%s: limits: maxConnections 16-1000000, maxConnectionsPerIp "
                               "1-maxConnections, inlineIssue 0-1000, headerTimeout and "
                               "bodyTimeout 1-3600 seconds",
                               path);
    }
    if (body < 1024 || body > (1L << 40)) {
        return trisa_error_set(TRISA_ECONFIG, "%s: limits.maxBodyBytes 1024 to 2^40", path);
    }
    c->max_body = (size_t)body;
    c->max_connections = (unsigned)conns;
    c->max_per_ip = (unsigned)per_ip;
    c->inline_issue = (size_t)inl;
    /* The server adds these to times in seconds and milliseconds: 100 years at most. */
    if (c->access_lifetime <= 0 || c->access_lifetime > EMU_MAX_SETTING ||
        c->refresh_lifetime <= 0 || c->refresh_lifetime > EMU_MAX_SETTING ||
        c->refresh_not_before < -EMU_MAX_SETTING || c->refresh_not_before > EMU_MAX_SETTING ||
        !(c->processing_delay >= 0 && c->processing_delay <= (double)EMU_MAX_SETTING) ||
        c->expire_after < 0 || c->expire_after > EMU_MAX_SETTING) {
        return trisa_error_set(TRISA_ECONFIG,
                               "%s: a lifetime, delay or limit is out of range (tokens and "
                               "batches: 0 to 100 years in seconds, lifetimes at least 1)",
                               path);
    }
    return 0;
}

int emu_config_parse(emu_config *c, const char *text, size_t len, const char *path)
{
    json_object *root = NULL;
    json_tokener *tok = NULL;
    int err;

    memset(c, 0, sizeof(*c));
    if (len > INT32_MAX) {
        return trisa_error_set(TRISA_ECONFIG, "%s: too large", path);
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    root = json_tokener_parse_ex(tok, text, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object)) {
        err = trisa_error_set(TRISA_ECONFIG, "%s: not a JSON object (%s)", path,
                              json_tokener_error_desc(json_tokener_get_error(tok)));
        goto done;
    }
    if ((err = load_accounts(c, getarray(root, "accounts"))) != 0 ||
        (err = load_authorities(c, getarray(root, "authorities"))) != 0 ||
        (err = load_profiles(c, getarray(root, "profiles"), path)) != 0 ||
        (err = load_settings(c, root, path)) != 0) {
        goto done;
    }
done:
    json_object_put(root);
    json_tokener_free(tok);
    if (err != 0) {
        emu_config_free(c);
    }
    return err;
}

void emu_config_free(emu_config *c)
{
    for (size_t i = 0; c->accounts && i < c->naccounts; i++) {
        free(c->accounts[i].username);
        free(c->accounts[i].subject);
        if (c->accounts[i].password) {
            trisa_free_secret(c->accounts[i].password, strlen(c->accounts[i].password));
        }
        free(c->accounts[i].authorities);
    }
    free(c->accounts);
    for (size_t i = 0; c->authorities && i < c->nauthorities; i++) {
        free(c->authorities[i].ecosystem_name);
        free(c->authorities[i].profile_name);
    }
    free(c->authorities);
    for (size_t i = 0; c->profiles && i < c->nprofiles; i++) {
        emu_profile *p = &c->profiles[i];
        free(p->profile_name);
        free(p->name);
        free(p->ca);
        free(p->raw_config);
        free(p->key_algorithm_info);
        freestrings(p->algorithms, p->nalgorithms);
        for (size_t j = 0; p->params && j < p->nparams; j++) {
            emu_param *q = &p->params[j];
            free(q->name);
            free(q->input_type);
            free(q->placeholder);
            free(q->pattern);
            free(q->message);
            free(q->value);
            free(q->title);
            freestrings(q->scopes, q->nscopes);
        }
        free(p->params);
    }
    free(c->profiles);
    json_object_put(c->organization);
    free(c->issuer);
    memset(c, 0, sizeof(*c));
}

const emu_profile *emu_config_profile(const emu_config *c, long id)
{
    for (size_t i = 0; i < c->nprofiles; i++) {
        if (c->profiles[i].id == id) {
            return &c->profiles[i];
        }
    }
    return NULL;
}

const emu_authority *emu_config_authority(const emu_config *c, long id)
{
    for (size_t i = 0; i < c->nauthorities; i++) {
        if (c->authorities[i].id == id) {
            return &c->authorities[i];
        }
    }
    return NULL;
}

const emu_account *emu_config_account_by_subject(const emu_config *c, const char *subject)
{
    for (size_t i = 0; i < c->naccounts; i++) {
        if (strcmp(c->accounts[i].subject, subject) == 0) {
            return &c->accounts[i];
        }
    }
    return NULL;
}

const emu_account *emu_config_account(const emu_config *c, const char *username)
{
    for (size_t i = 0; i < c->naccounts; i++) {
        if (strcmp(c->accounts[i].username, username) == 0) {
            return &c->accounts[i];
        }
    }
    return NULL;
}
