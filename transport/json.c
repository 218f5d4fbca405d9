/*
 * JSON for the Sectigo client: typed replies parsed with json-c, and output printed the
 * way the reference Go CLI prints it (json.Encoder with SetIndent("", "  ")), so scripts
 * that parse the reference's output keep working.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "transport/internal.h"

/* ---- Go-compatible writer ---------------------------------------------------------- */

void gojson_init(gojson *w, trisa_buf *b)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
}

void gojson_init_compact(gojson *w, trisa_buf *b)
{
    gojson_init(w, b);
    w->compact = 1;
}

static void indent(gojson *w)
{
    if (w->compact) {
        return;
    }
    trisa_buf_puts(w->b, "\n");
    for (int i = 0; i < w->depth; i++) {
        trisa_buf_puts(w->b, "  ");
    }
}

/* Before a value: nothing after a key; a comma and a new line inside an array. */
static void before_value(gojson *w)
{
    if (w->pending_key) {
        w->pending_key = 0;
        return;
    }
    if (w->depth > GOJSON_MAX_DEPTH) {
        w->b->failed = 1;
        return;
    }
    if (w->depth > 0) {
        if (w->count[w->depth] > 0) {
            trisa_buf_puts(w->b, ",");
        }
        w->count[w->depth]++;
        indent(w);
    }
}

void gojson_open(gojson *w, char c)
{
    before_value(w);
    trisa_buf_append(w->b, &c, 1);
    /* Past the deepest level the writer keeps count of, the output is refused rather than
     * printed wrong: the buffer fails, and opens and closes still balance. */
    w->depth++;
    if (w->depth > GOJSON_MAX_DEPTH) {
        w->b->failed = 1;
        return;
    }
    w->count[w->depth] = 0;
}

void gojson_close(gojson *w, char c)
{
    int had;
    if (w->depth <= 0) {
        w->b->failed = 1;
        return;
    }
    had = w->depth <= GOJSON_MAX_DEPTH && w->count[w->depth] > 0;
    w->depth--;
    if (had) {
        indent(w);
    }
    trisa_buf_append(w->b, &c, 1);
}

void gojson_key(gojson *w, const char *key)
{
    if (w->depth > GOJSON_MAX_DEPTH) {
        w->b->failed = 1;
        return;
    }
    if (w->count[w->depth] > 0) {
        trisa_buf_puts(w->b, ",");
    }
    w->count[w->depth]++;
    indent(w);
    gojson_escape(w->b, key);
    trisa_buf_puts(w->b, w->compact ? ":" : ": ");
    w->pending_key = 1;
}

void gojson_escape(trisa_buf *b, const char *s)
{
    /* Go's rules (<, >, & escaped; invalid UTF-8 as U+FFFD) through the project's one
     * escaper; NULL prints as "" here, as Go prints an empty string field. */
    trisa_json_str(b, s != NULL ? s : "", TRISA_JSON_GO);
}

void gojson_str(gojson *w, const char *s)
{
    before_value(w);
    gojson_escape(w->b, s);
}

void gojson_int(gojson *w, long long v)
{
    before_value(w);
    trisa_buf_printf(w->b, "%lld", v);
}

void gojson_bool(gojson *w, int v)
{
    before_value(w);
    trisa_buf_puts(w->b, v ? "true" : "false");
}

void gojson_null(gojson *w)
{
    before_value(w);
    trisa_buf_puts(w->b, "null");
}

/* Go prints a float64 in the shortest form that reads back the same, without an
 * exponent between 1e-6 and 1e21. */
static void go_float(trisa_buf *b, double d)
{
    char tmp[64];
    double a = fabs(d);
    if (!isfinite(d)) {
        trisa_buf_puts(b, "null");
        return;
    }
    if (a == 0 || (a >= 1e-6 && a < 1e21)) {
        for (int prec = 0; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*f", prec, d);
            if (strtod(tmp, NULL) == d) { /* checksrc: allow strtod: our own digits */
                break;
            }
        }
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d) { /* checksrc: allow strtod: our own digits */
                break;
            }
        }
    }
    trisa_buf_puts(b, tmp);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void gojson_value(gojson *w, struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        gojson_null(w);
        break;
    case json_type_boolean:
        gojson_bool(w, json_object_get_boolean(v));
        break;
    case json_type_int:
        before_value(w);
        /* Go decodes a number into float64; integers print as integers. */
        trisa_buf_printf(w->b, "%lld", (long long)json_object_get_int64(v));
        break;
    case json_type_double:
        before_value(w);
        go_float(w->b, json_object_get_double(v));
        break;
    case json_type_string:
        gojson_str(w, json_object_get_string(v));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        gojson_open(w, '[');
        for (size_t i = 0; i < n; i++) {
            gojson_value(w, json_object_array_get_idx(v, i));
        }
        gojson_close(w, ']');
        break;
    }
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (keys == NULL) {
            w->b->failed = 1;
            return;
        }
        json_object_object_foreach(v, k, val)
        {
            (void)val;
            keys[i++] = k;
        }
        qsort(keys, i, sizeof(*keys), cmp_str);
        gojson_open(w, '{');
        for (size_t j = 0; j < i; j++) {
            gojson_key(w, keys[j]);
            gojson_value(w, json_object_object_get(v, keys[j]));
        }
        gojson_close(w, '}');
        free(keys);
        break;
    }
    }
}

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

void gojson_string_map(gojson *w, const char *const *params)
{
    size_t n = 0;
    const char *const **order;

    while (params != NULL && params[2 * n] != NULL && params[2 * n + 1] != NULL) {
        n++;
    }
    if ((order = calloc(n ? n : 1, sizeof(*order))) == NULL) {
        w->b->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = &params[2 * i];
    }
    /* Go writes a map's keys sorted. */
    qsort(order, n, sizeof(*order), cmp_pair);
    gojson_open(w, '{');
    for (size_t i = 0; i < n; i++) {
        gojson_key(w, order[i][0]);
        gojson_str(w, order[i][1]);
    }
    gojson_close(w, '}');
    free(order);
}

void gojson_raw(gojson *w, const char *json)
{
    struct json_object *v = json ? json_tokener_parse(json) : NULL;
    gojson_value(w, v); /* NULL is json_type_null */
    json_object_put(v);
}

/* ---- Parsing helpers ----------------------------------------------------------------- */

static int parse_root(struct json_object **out, const char *body, const char *what)
{
    enum json_tokener_error jerr;
    *out = json_tokener_parse_verbose(body ? body : "", &jerr);
    if (*out == NULL && jerr != json_tokener_success) {
        return trisa_error_set(TRISA_EAPI, "%s: the reply is not JSON (%s)", what,
                               json_tokener_error_desc(jerr));
    }
    return 0;
}

static char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    const char *s = "";
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
        v != NULL) {
        s = json_object_get_string(v);
    }
    return strdup(s ? s : "");
}

static long long get_int(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v)) {
        return (long long)json_object_get_int64(v);
    }
    return 0;
}

static int get_bool(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v)) {
        return json_object_get_boolean(v) ? 1 : 0;
    }
    return 0;
}

static char *get_raw(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
        v != NULL) {
        return strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    return strdup("null");
}

static struct json_object *get_array(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (key == NULL) {
        v = o;
    } else if (!json_object_is_type(o, json_type_object) ||
               !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return json_object_is_type(v, json_type_array) ? v : NULL;
}

static void free_strings(trisa_sectigo_strings *s)
{
    for (size_t i = 0; s->items != NULL && i < s->count; i++) {
        free(s->items[i]);
    }
    free(s->items);
}

static int nomem(const char *what)
{
    return trisa_error_set(TRISA_ENOMEM, "%s: out of memory", what);
}

/* A reply that must be a JSON array, or null. */
static int parse_root_array(struct json_object **out, const char *body, const char *what)
{
    int rc = parse_root(out, body, what);
    if (rc == 0 && *out != NULL && !json_object_is_type(*out, json_type_array)) {
        json_object_put(*out);
        *out = NULL;
        return trisa_error_set(TRISA_EAPI, "%s: the reply is not a JSON array", what);
    }
    return rc;
}

typedef int (*fill_fn)(void *item, struct json_object *o);

/* The items of JSON array a (NULL: none, *is_null set), each filled by fill(). *items and
 * *count are set even on failure, so the list's free function releases what was made
 * (unfilled items are zero). */
static int parse_items(void **items, size_t *count, int *is_null, struct json_object *a,
                       size_t item_size, fill_fn fill)
{
    *items = NULL;
    *count = 0;
    if (a == NULL) {
        *is_null = 1;
        return 0;
    }
    if ((*items = calloc(json_object_array_length(a) + 1, item_size)) == NULL) {
        return TRISA_ENOMEM;
    }
    *count = json_object_array_length(a);
    for (size_t i = 0; i < *count; i++) {
        if (fill((char *)*items + i * item_size, json_object_array_get_idx(a, i)) != 0) {
            return TRISA_ENOMEM;
        }
    }
    return 0;
}

static int string_fill(void *item, struct json_object *o)
{
    const char *s = json_object_get_string(o);
    return (*(char **)item = strdup(s ? s : "")) != NULL ? 0 : TRISA_ENOMEM;
}

static int parse_strings(trisa_sectigo_strings *out, struct json_object *o, const char *key)
{
    void *items;
    int rc = parse_items(&items, &out->count, &out->is_null, get_array(o, key), sizeof(char *),
                         string_fill);
    out->items = items;
    return rc;
}

/* ---- Batch ------------------------------------------------------------------------- */

void trisa_sectigo_batch_free(trisa_sectigo_batch *b)
{
    if (b == NULL) {
        return;
    }
    free(b->creation_date);
    free(b->profile);
    free(b->status);
    free(b->batch_name);
    free(b->reject_reason);
    free(b->generator_parameters_values);
    free(b);
}

int sectigo_parse_batch(trisa_sectigo_batch **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_batch *b;
    int rc;

    *out = NULL;
    if ((rc = parse_root(&o, body, "batch")) != 0) {
        return rc;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return trisa_error_set(TRISA_EAPI, "batch: the reply is not a JSON object");
    }
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        json_object_put(o);
        return nomem("batch");
    }
    b->batch_id = get_int(o, "batchId");
    b->order_number = get_int(o, "orderNumber");
    b->creation_date = get_str(o, "creationDate");
    b->profile = get_str(o, "profile");
    b->size = get_int(o, "size");
    b->status = get_str(o, "status");
    b->active = get_bool(o, "active");
    b->batch_name = get_str(o, "batchName");
    b->reject_reason = get_str(o, "rejectReason");
    b->generator_parameters_values = get_raw(o, "generatorParametersValues");
    b->user_id = get_int(o, "userId");
    b->downloadable = get_bool(o, "downloadable");
    b->rejectable = get_bool(o, "rejectable");
    json_object_put(o);
    if (!b->creation_date || !b->profile || !b->status || !b->batch_name || !b->reject_reason ||
        !b->generator_parameters_values) {
        trisa_sectigo_batch_free(b);
        return nomem("batch");
    }
    *out = b;
    return 0;
}

static int finish(char **out, trisa_buf *b)
{
    trisa_buf_puts(b, "\n");
    *out = trisa_buf_detach(b, NULL);
    return *out ? 0
                : trisa_error_set(TRISA_ENOMEM,
                                  "JSON output: out of memory or nested deeper than %d",
                                  GOJSON_MAX_DEPTH);
}

int trisa_sectigo_batch_json(char **out, const trisa_sectigo_batch *b)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    if (b == NULL) {
        gojson_null(&w);
        return finish(out, &buf);
    }
    gojson_open(&w, '{');
    gojson_key(&w, "batchId");
    gojson_int(&w, b->batch_id);
    gojson_key(&w, "orderNumber");
    gojson_int(&w, b->order_number);
    gojson_key(&w, "creationDate");
    gojson_str(&w, b->creation_date);
    gojson_key(&w, "profile");
    gojson_str(&w, b->profile);
    gojson_key(&w, "size");
    gojson_int(&w, b->size);
    gojson_key(&w, "status");
    gojson_str(&w, b->status);
    gojson_key(&w, "active");
    gojson_bool(&w, b->active);
    gojson_key(&w, "batchName");
    gojson_str(&w, b->batch_name);
    gojson_key(&w, "rejectReason");
    gojson_str(&w, b->reject_reason);
    gojson_key(&w, "generatorParametersValues");
    gojson_raw(&w, b->generator_parameters_values);
    gojson_key(&w, "userId");
    gojson_int(&w, b->user_id);
    gojson_key(&w, "downloadable");
    gojson_bool(&w, b->downloadable);
    gojson_key(&w, "rejectable");
    gojson_bool(&w, b->rejectable);
    gojson_close(&w, '}');
    return finish(out, &buf);
}

/* ---- Processing info, licences, balance -------------------------------------------- */

int sectigo_parse_processing_info(trisa_sectigo_processing_info *out, const char *body)
{
    struct json_object *o = NULL;
    int rc = parse_root(&o, body, "processing info");
    if (rc != 0) {
        return rc;
    }
    out->active = get_int(o, "active");
    out->success = get_int(o, "success");
    out->failed = get_int(o, "failed");
    json_object_put(o);
    return 0;
}

int trisa_sectigo_processing_info_json(char **out, const trisa_sectigo_processing_info *p)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    gojson_open(&w, '{');
    gojson_key(&w, "active");
    gojson_int(&w, p->active);
    gojson_key(&w, "success");
    gojson_int(&w, p->success);
    gojson_key(&w, "failed");
    gojson_int(&w, p->failed);
    gojson_close(&w, '}');
    return finish(out, &buf);
}

int sectigo_parse_licenses(trisa_sectigo_licenses *out, const char *body)
{
    struct json_object *o = NULL;
    int rc = parse_root(&o, body, "licences");
    if (rc != 0) {
        return rc;
    }
    out->ordered = get_int(o, "ordered");
    out->issued = get_int(o, "issued");
    json_object_put(o);
    return 0;
}

int trisa_sectigo_licenses_json(char **out, const trisa_sectigo_licenses *l)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    gojson_open(&w, '{');
    gojson_key(&w, "ordered");
    gojson_int(&w, l->ordered);
    gojson_key(&w, "issued");
    gojson_int(&w, l->issued);
    gojson_close(&w, '}');
    return finish(out, &buf);
}

int sectigo_parse_balance(long long *out, const char *body)
{
    struct json_object *o = NULL;
    int rc = parse_root(&o, body, "balance");
    if (rc != 0) {
        return rc;
    }
    if (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_double)) {
        json_object_put(o);
        return trisa_error_set(TRISA_EAPI, "balance: the reply is not a number");
    }
    *out = (long long)json_object_get_int64(o);
    json_object_put(o);
    return 0;
}

int trisa_sectigo_balances_json(char **out, const long long *ids, const long long *balances,
                                size_t count)
{
    trisa_buf buf = TRISA_BUF_INIT;
    struct json_object *o = json_object_new_object();
    gojson w;
    int rc;

    if (o == NULL) {
        return nomem("balances");
    }
    for (size_t i = 0; i < count; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%lld", ids[i]);
        json_object_object_add(o, key, json_object_new_int64(balances[i]));
    }
    gojson_init(&w, &buf);
    gojson_value(&w, o); /* sorts the keys as text, like Go's map[int]int */
    json_object_put(o);
    rc = finish(out, &buf);
    return rc;
}

/* ---- Authorities -------------------------------------------------------------------- */

static void authority_clear(trisa_sectigo_authority *a)
{
    free(a->ecosystem_name);
    free(a->profile_name);
}

static int authority_fill(void *item, struct json_object *o)
{
    trisa_sectigo_authority *a = item;
    a->id = get_int(o, "id");
    a->ecosystem_id = get_int(o, "ecosystemId");
    a->signer_certificate_id = get_int(o, "signerCertificateId");
    a->ecosystem_name = get_str(o, "ecosystemName");
    a->balance = get_int(o, "balance");
    a->enabled = get_bool(o, "enabled");
    a->profile_id = get_int(o, "profileId");
    a->profile_name = get_str(o, "profileName");
    return a->ecosystem_name && a->profile_name ? 0 : TRISA_ENOMEM;
}

static void authority_list_clear(trisa_sectigo_authority_list *l)
{
    for (size_t i = 0; l->items != NULL && i < l->count; i++) {
        authority_clear(&l->items[i]);
    }
    free(l->items);
}

void trisa_sectigo_authority_list_free(trisa_sectigo_authority_list *l)
{
    if (l != NULL) {
        authority_list_clear(l);
        free(l);
    }
}

static int authority_list_fill(trisa_sectigo_authority_list *l, struct json_object *a)
{
    void *items;
    int rc = parse_items(&items, &l->count, &l->is_null, a, sizeof(*l->items), authority_fill);
    l->items = items;
    return rc;
}

int sectigo_parse_authorities(trisa_sectigo_authority_list **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_authority_list *l;
    int rc;

    *out = NULL;
    if ((rc = parse_root_array(&o, body, "authorities")) != 0) {
        return rc;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL || authority_list_fill(l, o) != 0) {
        json_object_put(o);
        trisa_sectigo_authority_list_free(l);
        return nomem("authorities");
    }
    json_object_put(o);
    *out = l;
    return 0;
}

static void authorities_write(gojson *w, const trisa_sectigo_authority_list *l)
{
    if (l == NULL || l->is_null) {
        gojson_null(w);
        return;
    }
    gojson_open(w, '[');
    for (size_t i = 0; i < l->count; i++) {
        const trisa_sectigo_authority *a = &l->items[i];
        gojson_open(w, '{');
        gojson_key(w, "id");
        gojson_int(w, a->id);
        gojson_key(w, "ecosystemId");
        gojson_int(w, a->ecosystem_id);
        gojson_key(w, "signerCertificateId");
        gojson_int(w, a->signer_certificate_id);
        gojson_key(w, "ecosystemName");
        gojson_str(w, a->ecosystem_name);
        gojson_key(w, "balance");
        gojson_int(w, a->balance);
        gojson_key(w, "enabled");
        gojson_bool(w, a->enabled);
        gojson_key(w, "profileId");
        gojson_int(w, a->profile_id);
        gojson_key(w, "profileName");
        gojson_str(w, a->profile_name);
        gojson_close(w, '}');
    }
    gojson_close(w, ']');
}

int trisa_sectigo_authorities_json(char **out, const trisa_sectigo_authority_list *l)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    authorities_write(&w, l);
    return finish(out, &buf);
}

/* ---- Profiles ------------------------------------------------------------------------ */

void trisa_sectigo_profile_list_free(trisa_sectigo_profile_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; l->items != NULL && i < l->count; i++) {
        free_strings(&l->items[i].algorithms);
        free(l->items[i].ca);
    }
    free(l->items);
    free(l);
}

static int profile_fill(void *item, struct json_object *o)
{
    trisa_sectigo_profile *p = item;
    p->profile_id = get_int(o, "profileId");
    if (parse_strings(&p->algorithms, o, "algorithms") != 0) {
        return TRISA_ENOMEM;
    }
    return (p->ca = get_str(o, "ca")) != NULL ? 0 : TRISA_ENOMEM;
}

int sectigo_parse_profiles(trisa_sectigo_profile_list **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_profile_list *l;
    void *items = NULL;
    int rc;

    *out = NULL;
    if ((rc = parse_root_array(&o, body, "profiles")) != 0) {
        return rc;
    }
    if ((l = calloc(1, sizeof(*l))) != NULL) {
        rc = parse_items(&items, &l->count, &l->is_null, o, sizeof(*l->items), profile_fill);
        l->items = items;
    }
    json_object_put(o);
    if (l == NULL || rc != 0) {
        trisa_sectigo_profile_list_free(l);
        return nomem("profiles");
    }
    *out = l;
    return 0;
}

static void strings_write(gojson *w, const trisa_sectigo_strings *s)
{
    if (s->is_null) {
        gojson_null(w);
        return;
    }
    gojson_open(w, '[');
    for (size_t i = 0; i < s->count; i++) {
        gojson_str(w, s->items[i]);
    }
    gojson_close(w, ']');
}

int trisa_sectigo_profiles_json(char **out, const trisa_sectigo_profile_list *l)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    if (l == NULL || l->is_null) {
        gojson_null(&w);
        return finish(out, &buf);
    }
    gojson_open(&w, '[');
    for (size_t i = 0; i < l->count; i++) {
        gojson_open(&w, '{');
        gojson_key(&w, "profileId");
        gojson_int(&w, l->items[i].profile_id);
        gojson_key(&w, "algorithms");
        strings_write(&w, &l->items[i].algorithms);
        gojson_key(&w, "ca");
        gojson_str(&w, l->items[i].ca);
        gojson_close(&w, '}');
    }
    gojson_close(&w, ']');
    return finish(out, &buf);
}

void trisa_sectigo_profile_detail_free(trisa_sectigo_profile_detail *d)
{
    if (d == NULL) {
        return;
    }
    free(d->profile_name);
    free(d->raw_profile_config);
    free(d->name);
    free(d->key_algorithm_info);
    free(d);
}

int sectigo_parse_profile_detail(trisa_sectigo_profile_detail **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_profile_detail *d;
    int rc;

    *out = NULL;
    if ((rc = parse_root(&o, body, "profile detail")) != 0) {
        return rc;
    }
    if ((d = calloc(1, sizeof(*d))) == NULL) {
        json_object_put(o);
        return nomem("profile detail");
    }
    d->profile_name = get_str(o, "profileName");
    d->profile_id = get_int(o, "profileId");
    d->raw_profile_config = get_str(o, "rawProfileConfig");
    d->name = get_str(o, "name");
    d->key_algorithm_info = get_str(o, "keyAlgorithmInfo");
    json_object_put(o);
    if (!d->profile_name || !d->raw_profile_config || !d->name || !d->key_algorithm_info) {
        trisa_sectigo_profile_detail_free(d);
        return nomem("profile detail");
    }
    *out = d;
    return 0;
}

int trisa_sectigo_profile_detail_json(char **out, const trisa_sectigo_profile_detail *d)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    gojson_open(&w, '{');
    gojson_key(&w, "profileName");
    gojson_str(&w, d->profile_name);
    gojson_key(&w, "profileId");
    gojson_int(&w, d->profile_id);
    gojson_key(&w, "rawProfileConfig");
    gojson_str(&w, d->raw_profile_config);
    gojson_key(&w, "name");
    gojson_str(&w, d->name);
    gojson_key(&w, "keyAlgorithmInfo");
    gojson_str(&w, d->key_algorithm_info);
    gojson_close(&w, '}');
    return finish(out, &buf);
}

void trisa_sectigo_profile_param_list_free(trisa_sectigo_profile_param_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; l->items != NULL && i < l->count; i++) {
        trisa_sectigo_profile_param *p = &l->items[i];
        free(p->name);
        free(p->input_type);
        free(p->placeholder);
        free(p->validation_pattern);
        free(p->message);
        free(p->value);
        free(p->title);
        free_strings(&p->scopes);
    }
    free(l->items);
    free(l);
}

static int param_fill(void *item, struct json_object *j)
{
    trisa_sectigo_profile_param *p = item;
    p->name = get_str(j, "name");
    p->input_type = get_str(j, "inputType");
    p->required = get_bool(j, "required");
    p->placeholder = get_raw(j, "placeholder");
    p->validation_pattern = get_str(j, "validationPattern");
    p->message = get_str(j, "message");
    p->value = get_raw(j, "value");
    p->title = get_str(j, "title");
    p->dynamic = get_bool(j, "dynamic");
    if (parse_strings(&p->scopes, j, "scopes") != 0 || !p->name || !p->input_type ||
        !p->placeholder || !p->validation_pattern || !p->message || !p->value || !p->title) {
        return TRISA_ENOMEM;
    }
    return 0;
}

int sectigo_parse_profile_params(trisa_sectigo_profile_param_list **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_profile_param_list *l;
    void *items = NULL;
    int rc;

    *out = NULL;
    if ((rc = parse_root_array(&o, body, "profile parameters")) != 0) {
        return rc;
    }
    if ((l = calloc(1, sizeof(*l))) != NULL) {
        rc = parse_items(&items, &l->count, &l->is_null, o, sizeof(*l->items), param_fill);
        l->items = items;
    }
    json_object_put(o);
    if (l == NULL || rc != 0) {
        trisa_sectigo_profile_param_list_free(l);
        return nomem("profile parameters");
    }
    *out = l;
    return 0;
}

int trisa_sectigo_profile_params_json(char **out, const trisa_sectigo_profile_param_list *l)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    if (l == NULL || l->is_null) {
        gojson_null(&w);
        return finish(out, &buf);
    }
    gojson_open(&w, '[');
    for (size_t i = 0; i < l->count; i++) {
        const trisa_sectigo_profile_param *p = &l->items[i];
        gojson_open(&w, '{');
        gojson_key(&w, "name");
        gojson_str(&w, p->name);
        gojson_key(&w, "inputType");
        gojson_str(&w, p->input_type);
        gojson_key(&w, "required");
        gojson_bool(&w, p->required);
        gojson_key(&w, "placeholder");
        gojson_raw(&w, p->placeholder);
        gojson_key(&w, "validationPattern");
        gojson_str(&w, p->validation_pattern);
        gojson_key(&w, "message");
        gojson_str(&w, p->message);
        gojson_key(&w, "value");
        gojson_raw(&w, p->value);
        gojson_key(&w, "title");
        gojson_str(&w, p->title);
        gojson_key(&w, "scopes");
        strings_write(&w, &p->scopes);
        gojson_key(&w, "dynamic");
        gojson_bool(&w, p->dynamic);
        gojson_close(&w, '}');
    }
    gojson_close(&w, ']');
    return finish(out, &buf);
}

/* ---- Organization ------------------------------------------------------------------- */

void trisa_sectigo_organization_free(trisa_sectigo_organization *g)
{
    if (g == NULL) {
        return;
    }
    free(g->organization_name);
    free(g->address);
    free(g->primary_contact_name);
    free(g->primary_contact_email);
    free(g->primary_contact_phone);
    free(g->logo);
    free(g->manufacture_id);
    authority_list_clear(&g->authorities);
    for (size_t i = 0; g->organization_parameters && i < g->organization_parameters_count; i++) {
        free(g->organization_parameters[i].name);
        free(g->organization_parameters[i].value);
    }
    free(g->organization_parameters);
    free(g->org_status);
    free(g);
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const trisa_sectigo_param *)a)->name, ((const trisa_sectigo_param *)b)->name);
}

int sectigo_parse_organization(trisa_sectigo_organization **out, const char *body)
{
    struct json_object *o = NULL, *params = NULL;
    trisa_sectigo_organization *g;
    int rc;

    *out = NULL;
    if ((rc = parse_root(&o, body, "organization")) != 0) {
        return rc;
    }
    if ((g = calloc(1, sizeof(*g))) == NULL) {
        json_object_put(o);
        return nomem("organization");
    }
    g->organization_id = get_int(o, "organizationId");
    g->organization_name = get_str(o, "organizationName");
    g->address = get_str(o, "address");
    g->primary_contact_name = get_str(o, "primaryContactName");
    g->primary_contact_email = get_str(o, "primaryContactEmail");
    g->primary_contact_phone = get_str(o, "primaryContactPhone");
    g->manufacture_id = get_raw(o, "manufactureId");
    g->logo = get_str(o, "logo");
    g->ecosystem_id = get_int(o, "ecosystemId");
    g->org_status = get_str(o, "orgStatus");
    if (!g->organization_name || !g->address || !g->primary_contact_name ||
        !g->primary_contact_email || !g->primary_contact_phone || !g->logo || !g->manufacture_id ||
        !g->org_status || authority_list_fill(&g->authorities, get_array(o, "authorities")) != 0) {
        goto oom;
    }
    if (json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "organizationParameters", &params) &&
        json_object_is_type(params, json_type_object)) {
        size_t n = (size_t)json_object_object_length(params), i = 0;
        g->organization_parameters = calloc(n ? n : 1, sizeof(trisa_sectigo_param));
        if (g->organization_parameters == NULL) {
            goto oom;
        }
        json_object_object_foreach(params, k, v)
        {
            const char *s = v ? json_object_get_string(v) : "";
            g->organization_parameters[i].name = strdup(k);
            g->organization_parameters[i].value = strdup(s ? s : "");
            g->organization_parameters_count = ++i;
            if (!g->organization_parameters[i - 1].name ||
                !g->organization_parameters[i - 1].value) {
                goto oom;
            }
        }
        qsort(g->organization_parameters, i, sizeof(trisa_sectigo_param), cmp_param);
    } else {
        g->organization_parameters_null = 1;
    }
    json_object_put(o);
    *out = g;
    return 0;
oom:
    json_object_put(o);
    trisa_sectigo_organization_free(g);
    return nomem("organization");
}

int trisa_sectigo_organization_json(char **out, const trisa_sectigo_organization *g)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    gojson_open(&w, '{');
    gojson_key(&w, "organizationId");
    gojson_int(&w, g->organization_id);
    gojson_key(&w, "organizationName");
    gojson_str(&w, g->organization_name);
    gojson_key(&w, "address");
    gojson_str(&w, g->address);
    gojson_key(&w, "primaryContactName");
    gojson_str(&w, g->primary_contact_name);
    gojson_key(&w, "primaryContactEmail");
    gojson_str(&w, g->primary_contact_email);
    gojson_key(&w, "primaryContactPhone");
    gojson_str(&w, g->primary_contact_phone);
    gojson_key(&w, "manufactureId");
    gojson_raw(&w, g->manufacture_id);
    gojson_key(&w, "logo");
    gojson_str(&w, g->logo);
    gojson_key(&w, "authorities");
    authorities_write(&w, &g->authorities);
    gojson_key(&w, "ecosystemId");
    gojson_int(&w, g->ecosystem_id);
    gojson_key(&w, "organizationParameters");
    if (g->organization_parameters_null) {
        gojson_null(&w);
    } else {
        gojson_open(&w, '{');
        for (size_t i = 0; i < g->organization_parameters_count; i++) {
            gojson_key(&w, g->organization_parameters[i].name);
            gojson_str(&w, g->organization_parameters[i].value);
        }
        gojson_close(&w, '}');
    }
    gojson_key(&w, "orgStatus");
    gojson_str(&w, g->org_status);
    gojson_close(&w, '}');
    return finish(out, &buf);
}

/* ---- Find ----------------------------------------------------------------------------- */

void trisa_sectigo_find_result_free(trisa_sectigo_find_result *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; r->items != NULL && i < r->count; i++) {
        free(r->items[i].device_id);
        free(r->items[i].common_name);
        free(r->items[i].serial_number);
        free(r->items[i].creation_date);
        free(r->items[i].status);
    }
    free(r->items);
    free(r);
}

static int cert_fill(void *item, struct json_object *j)
{
    trisa_sectigo_cert *c = item;
    /* A string (UUIDs from the reference server, "42" from its mock); a number from other
     * servers is kept as its JSON text, so it prints as the string the reference shows. */
    c->device_id = get_str(j, "deviceId");
    c->common_name = get_str(j, "commonName");
    c->serial_number = get_str(j, "serialNumber");
    c->creation_date = get_str(j, "creationDate");
    c->status = get_str(j, "status");
    return c->device_id && c->common_name && c->serial_number && c->creation_date && c->status
               ? 0
               : TRISA_ENOMEM;
}

int sectigo_parse_find_result(trisa_sectigo_find_result **out, const char *body)
{
    struct json_object *o = NULL;
    trisa_sectigo_find_result *r;
    void *items = NULL;
    int rc;

    *out = NULL;
    if ((rc = parse_root(&o, body, "find")) != 0) {
        return rc;
    }
    if ((r = calloc(1, sizeof(*r))) != NULL) {
        r->total_count = get_int(o, "totalCount");
        rc = parse_items(&items, &r->count, &r->items_null, get_array(o, "items"),
                         sizeof(*r->items), cert_fill);
        r->items = items;
    }
    json_object_put(o);
    if (r == NULL || rc != 0) {
        trisa_sectigo_find_result_free(r);
        return nomem("find");
    }
    *out = r;
    return 0;
}

int trisa_sectigo_find_result_json(char **out, const trisa_sectigo_find_result *r)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    gojson_open(&w, '{');
    gojson_key(&w, "totalCount");
    gojson_int(&w, r->total_count);
    gojson_key(&w, "items");
    if (r->items_null) {
        gojson_null(&w);
    } else {
        gojson_open(&w, '[');
        for (size_t i = 0; i < r->count; i++) {
            const trisa_sectigo_cert *c = &r->items[i];
            gojson_open(&w, '{');
            gojson_key(&w, "deviceId");
            gojson_str(&w, c->device_id);
            gojson_key(&w, "commonName");
            gojson_str(&w, c->common_name);
            gojson_key(&w, "serialNumber");
            gojson_str(&w, c->serial_number);
            gojson_key(&w, "creationDate");
            gojson_str(&w, c->creation_date);
            gojson_key(&w, "status");
            gojson_str(&w, c->status);
            gojson_close(&w, '}');
        }
        gojson_close(&w, ']');
    }
    gojson_close(&w, '}');
    return finish(out, &buf);
}

/* ---- Secrets in JSON -------------------------------------------------------------------- */

struct json_object *sectigo_json_parse_secret(const char *text, enum json_tokener_error *err)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = NULL;
    size_t n = text != NULL ? strlen(text) : 0;
    enum json_tokener_error e = json_tokener_error_size; /* no memory, or too long */

    if (tok != NULL && n < (size_t)INT32_MAX - 16 &&
        /* Grow the tokener's string buffer once, now, while it holds nothing: growing it
         * later (realloc) would leave pieces of the secret in freed memory. */
        printbuf_memset(tok->pb, 0, 0, (int)n + 8) >= 0) {
        printbuf_reset(tok->pb);
        o = json_tokener_parse_ex(tok, text != NULL ? text : "", -1);
        e = json_tokener_get_error(tok);
        if (e != json_tokener_success) {
            sectigo_json_put_secret(o);
            o = NULL;
        }
        OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
    }
    if (tok != NULL) {
        json_tokener_free(tok);
    }
    if (err != NULL) {
        *err = e;
    }
    return o;
}

static void wipe_strings(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string:
        /* The whole stored string and its terminator. */
        OPENSSL_cleanse((void *)(uintptr_t)json_object_get_string(o),
                        (size_t)json_object_get_string_len(o) + 1);
        break;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            wipe_strings(json_object_array_get_idx(o, i));
        }
        break;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            wipe_strings(v);
        }
        break;
    }
    default:
        break;
    }
}

void sectigo_json_put_secret(struct json_object *o)
{
    if (o != NULL) {
        wipe_strings(o);
        json_object_put(o);
    }
}

/* ---- Tokens and errors ------------------------------------------------------------------ */

int sectigo_parse_tokens(char **access, char **refresh, const char *body)
{
    enum json_tokener_error jerr;
    struct json_object *o = sectigo_json_parse_secret(body, &jerr);
    *access = *refresh = NULL;
    if (o == NULL && jerr != json_tokener_success) {
        return trisa_error_set(TRISA_EAPI, "login reply: the reply is not JSON (%s)",
                               json_tokener_error_desc(jerr));
    }
    if (!json_object_is_type(o, json_type_object)) {
        sectigo_json_put_secret(o);
        return trisa_error_set(TRISA_EAPI, "login reply: not a JSON object");
    }
    *access = get_str(o, "accessToken");
    *refresh = get_str(o, "refreshToken");
    sectigo_json_put_secret(o);
    if (*access == NULL || *refresh == NULL) {
        if (*access != NULL) {
            trisa_free_secret(*access, strlen(*access) + 1);
        }
        if (*refresh != NULL) {
            trisa_free_secret(*refresh, strlen(*refresh) + 1);
        }
        *access = *refresh = NULL;
        return nomem("login reply");
    }
    return 0;
}

char *sectigo_error_message(const char *body, size_t len)
{
    struct json_object *o = NULL, *m = NULL;
    const char *s = body ? body : "";
    size_t n = body ? len : 0;
    char *out;

    if (n > 0) {
        o = json_tokener_parse(body);
    }
    /* {"message": ...} (Sectigo), {"error": ...} (the reference staging server), or a bare
     * JSON string (the reference mock's c.JSON(404, "unrecognized authority id")). */
    if (json_object_is_type(o, json_type_string)) {
        m = o;
    } else if (!json_object_is_type(o, json_type_object) ||
               !(json_object_object_get_ex(o, "message", &m) ||
                 json_object_object_get_ex(o, "error", &m))) {
        m = NULL;
    }
    if (m != NULL && json_object_is_type(m, json_type_string)) {
        s = json_object_get_string(m);
        n = strlen(s);
    }
    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++, n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        n--;
    }
    if (n > 300) {
        n = 300; /* an HTML error page says nothing useful past its start */
    }
    out = malloc(n + 1);
    if (out != NULL) {
        for (size_t i = 0; i < n; i++) {
            /* Keep messages on one line and free of terminal control characters. */
            unsigned char c = (unsigned char)s[i];
            out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        }
        out[n] = '\0';
    }
    json_object_put(o);
    return out;
}
