/*
 * JSON for the Sectigo client: typed replies parsed with json-c, and output printed the
 * way the reference Go CLI prints it (json.Encoder with SetIndent("", "  ")), so scripts
 * that parse the reference's output keep working.
 */
#include <math.h>
#include <stddef.h>
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

static int finish(char **out, trisa_buf *b)
{
    trisa_buf_puts(b, "\n");
    *out = trisa_buf_detach(b, NULL);
    return *out ? 0
                : trisa_error_set(TRISA_ENOMEM,
                                  "JSON output: out of memory or nested deeper than %d",
                                  GOJSON_MAX_DEPTH);
}

/* ---- Replies as tables of fields ------------------------------------------------------
 * Each reply type is described once: its JSON fields in the reference's order and where
 * each lives in the C struct. One reader, one writer (Go's output) and one free work from
 * these tables. */

enum ftype {
    F_INT,  /* long long; 0 when absent */
    F_BOOL, /* int */
    F_STR,  /* char *, never NULL: "" when absent or null */
    F_RAW,  /* char *: the value's JSON text, "null" when absent */
    F_LIST, /* a JSON array: {size_t count; T *items; int is_null} */
    F_MAP,  /* a JSON object of strings: {size_t count; trisa_sectigo_param *items; int null},
               sorted by name */
};

typedef struct record record;

typedef struct field {
    const char *key; /* NULL: the reply itself (a list at the root) */
    enum ftype type;
    size_t off;         /* the member; F_LIST, F_MAP: its count */
    size_t items, null; /* F_LIST, F_MAP: where its items pointer and null flag are */
    const record *item; /* F_LIST: what each item is; NULL: a string */
} field;

struct record {
    const field *f;
    size_t n;
    size_t size;
};

#define FIELD(T, key, type, m)                                                                     \
    {                                                                                              \
        key, type, offsetof(T, m), 0, 0, NULL                                                      \
    }
#define LIST(T, key, count, items, null, item)                                                     \
    {                                                                                              \
        key, F_LIST, offsetof(T, count), offsetof(T, items), offsetof(T, null), item               \
    }
#define RECORD(T, fields)                                                                          \
    {                                                                                              \
        fields, sizeof(fields) / sizeof(fields[0]), sizeof(T)                                      \
    }

static void *member(const void *obj, size_t off)
{
    return (char *)(uintptr_t)obj + off;
}

/* The items pointer of a list (a T * member of the struct, read and written as bytes). */
static void *items_of(const void *obj, const field *f)
{
    void *items;
    memcpy(&items, member(obj, f->items), sizeof(items));
    return items;
}

static void set_items(void *obj, const field *f, void *items)
{
    memcpy(member(obj, f->items), &items, sizeof(items));
}

static size_t item_size(const field *f)
{
    return f->type == F_MAP  ? sizeof(trisa_sectigo_param)
           : f->item != NULL ? f->item->size
                             : sizeof(char *);
}

static void record_clear(const record *r, void *obj);

static void value_clear(const field *f, void *obj)
{
    switch (f->type) {
    case F_STR:
    case F_RAW:
        free(*(char **)member(obj, f->off));
        break;
    case F_LIST:
    case F_MAP: {
        char *items = items_of(obj, f);
        size_t count = *(size_t *)member(obj, f->off), size = item_size(f);
        for (size_t i = 0; items != NULL && i < count; i++) {
            if (f->type == F_MAP) {
                free(((trisa_sectigo_param *)(void *)(items + i * size))->name);
                free(((trisa_sectigo_param *)(void *)(items + i * size))->value);
            } else if (f->item != NULL) {
                record_clear(f->item, items + i * size);
            } else {
                free(*(char **)(void *)(items + i * size));
            }
        }
        free(items);
        break;
    }
    default:
        break;
    }
}

static void record_clear(const record *r, void *obj)
{
    for (size_t i = 0; i < r->n; i++) {
        value_clear(&r->f[i], obj);
    }
}

static void record_free(const record *r, void *obj)
{
    if (obj != NULL) {
        record_clear(r, obj);
        free(obj);
    }
}

static int record_fill(const record *r, void *obj, struct json_object *o);

/* The items of JSON array a (NULL: none, the null flag set). count and items are set before
 * the items are filled, so that a failure leaves what value_clear() releases. */
static int list_fill(const field *f, void *obj, struct json_object *a)
{
    size_t n, size = item_size(f);
    char *items;

    if (a == NULL) {
        *(int *)member(obj, f->null) = 1;
        return 0;
    }
    n = json_object_array_length(a);
    if ((items = calloc(n + 1, size)) == NULL) {
        return TRISA_ENOMEM;
    }
    set_items(obj, f, items);
    *(size_t *)member(obj, f->off) = n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        if (f->item != NULL) {
            if (record_fill(f->item, items + i * size, v) != 0) {
                return TRISA_ENOMEM;
            }
        } else {
            const char *str = json_object_get_string(v);
            if ((*(char **)(void *)(items + i * size) = strdup(str ? str : "")) == NULL) {
                return TRISA_ENOMEM;
            }
        }
    }
    return 0;
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const trisa_sectigo_param *)a)->name, ((const trisa_sectigo_param *)b)->name);
}

/* A JSON object of strings (absent or not an object: null), sorted by name as Go prints a
 * map. */
static int map_fill(const field *f, void *obj, struct json_object *o)
{
    struct json_object *m = NULL;
    trisa_sectigo_param *items;
    size_t n, i = 0;

    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, f->key, &m) ||
        !json_object_is_type(m, json_type_object)) {
        *(int *)member(obj, f->null) = 1;
        return 0;
    }
    n = (size_t)json_object_object_length(m);
    if ((items = calloc(n ? n : 1, sizeof(*items))) == NULL) {
        return TRISA_ENOMEM;
    }
    set_items(obj, f, items);
    json_object_object_foreach(m, k, v)
    {
        const char *str = v ? json_object_get_string(v) : "";
        items[i].name = strdup(k);
        items[i].value = strdup(str ? str : "");
        *(size_t *)member(obj, f->off) = ++i;
        if (items[i - 1].name == NULL || items[i - 1].value == NULL) {
            return TRISA_ENOMEM;
        }
    }
    qsort(items, i, sizeof(*items), cmp_param);
    return 0;
}

static int record_fill(const record *r, void *obj, struct json_object *o)
{
    for (size_t i = 0; i < r->n; i++) {
        const field *f = &r->f[i];
        void *m = member(obj, f->off);
        switch (f->type) {
        case F_INT:
            *(long long *)m = get_int(o, f->key);
            break;
        case F_BOOL:
            *(int *)m = get_bool(o, f->key);
            break;
        case F_STR:
        case F_RAW:
            if ((*(char **)m = f->type == F_STR ? get_str(o, f->key) : get_raw(o, f->key)) ==
                NULL) {
                return TRISA_ENOMEM;
            }
            break;
        case F_LIST:
            if (list_fill(f, obj, get_array(o, f->key)) != 0) {
                return TRISA_ENOMEM;
            }
            break;
        case F_MAP:
            if (map_fill(f, obj, o) != 0) {
                return TRISA_ENOMEM;
            }
            break;
        }
    }
    return 0;
}

static void record_write(gojson *w, const record *r, const void *obj);

static void value_write(gojson *w, const field *f, const void *obj)
{
    const void *m = member(obj, f->off);
    switch (f->type) {
    case F_INT:
        gojson_int(w, *(const long long *)m);
        break;
    case F_BOOL:
        gojson_bool(w, *(const int *)m);
        break;
    case F_STR:
        gojson_str(w, *(char *const *)m);
        break;
    case F_RAW:
        gojson_raw(w, *(char *const *)m);
        break;
    case F_LIST:
    case F_MAP: {
        const char *items = items_of(obj, f);
        size_t count = *(const size_t *)m, size = item_size(f);
        if (*(const int *)member(obj, f->null)) {
            gojson_null(w);
            break;
        }
        gojson_open(w, f->type == F_MAP ? '{' : '[');
        for (size_t i = 0; items != NULL && i < count; i++) {
            const void *it = items + i * size;
            if (f->type == F_MAP) {
                gojson_key(w, ((const trisa_sectigo_param *)it)->name);
                gojson_str(w, ((const trisa_sectigo_param *)it)->value);
            } else if (f->item != NULL) {
                record_write(w, f->item, it);
            } else {
                gojson_str(w, *(char *const *)it);
            }
        }
        gojson_close(w, f->type == F_MAP ? '}' : ']');
        break;
    }
    }
}

static void record_write(gojson *w, const record *r, const void *obj)
{
    gojson_open(w, '{');
    for (size_t i = 0; i < r->n; i++) {
        gojson_key(w, r->f[i].key);
        value_write(w, &r->f[i], obj);
    }
    gojson_close(w, '}');
}

/* The reply as the reference prints it: an object, or the list a root record holds. */
static int record_json(char **out, const record *r, const void *obj)
{
    trisa_buf buf = TRISA_BUF_INIT;
    gojson w;
    gojson_init(&w, &buf);
    if (obj == NULL) {
        gojson_null(&w);
    } else if (r->f[0].key == NULL) {
        value_write(&w, &r->f[0], obj);
    } else {
        record_write(&w, r, obj);
    }
    return finish(out, &buf);
}

/* A new object of record r from body: a list at the root when r's one field has no name,
 * else a JSON value whose fields are read (an object when must_be_object). */
static int record_parse(void **out, const char *body, const char *what, const record *r,
                        int must_be_object)
{
    struct json_object *o = NULL;
    void *obj;
    int rc = r->f[0].key == NULL ? parse_root_array(&o, body, what) : parse_root(&o, body, what);

    *out = NULL;
    if (rc != 0) {
        return rc;
    }
    if (must_be_object && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return trisa_error_set(TRISA_EAPI, "%s: the reply is not a JSON object", what);
    }
    if ((obj = calloc(1, r->size)) == NULL || record_fill(r, obj, o) != 0) {
        json_object_put(o);
        record_free(r, obj);
        return nomem(what);
    }
    json_object_put(o);
    *out = obj;
    return 0;
}

/* Fill a caller's struct of numbers (nothing to allocate). */
static int record_parse_into(void *obj, const char *body, const char *what, const record *r)
{
    struct json_object *o = NULL;
    int rc = parse_root(&o, body, what);
    if (rc == 0) {
        rc = record_fill(r, obj, o) != 0 ? nomem(what) : 0;
        json_object_put(o);
    }
    return rc;
}

/* ---- The replies --------------------------------------------------------------------- */

#define T trisa_sectigo_batch
static const field batch_fields[] = {
    FIELD(T, "batchId", F_INT, batch_id),
    FIELD(T, "orderNumber", F_INT, order_number),
    FIELD(T, "creationDate", F_STR, creation_date),
    FIELD(T, "profile", F_STR, profile),
    FIELD(T, "size", F_INT, size),
    FIELD(T, "status", F_STR, status),
    FIELD(T, "active", F_BOOL, active),
    FIELD(T, "batchName", F_STR, batch_name),
    FIELD(T, "rejectReason", F_STR, reject_reason),
    FIELD(T, "generatorParametersValues", F_RAW, generator_parameters_values),
    FIELD(T, "userId", F_INT, user_id),
    FIELD(T, "downloadable", F_BOOL, downloadable),
    FIELD(T, "rejectable", F_BOOL, rejectable),
};
static const record batch_rec = RECORD(T, batch_fields);
#undef T

#define T trisa_sectigo_processing_info
static const field processing_fields[] = {
    FIELD(T, "active", F_INT, active),
    FIELD(T, "success", F_INT, success),
    FIELD(T, "failed", F_INT, failed),
};
static const record processing_rec = RECORD(T, processing_fields);
#undef T

#define T trisa_sectigo_licenses
static const field licenses_fields[] = {
    FIELD(T, "ordered", F_INT, ordered),
    FIELD(T, "issued", F_INT, issued),
};
static const record licenses_rec = RECORD(T, licenses_fields);
#undef T

#define T trisa_sectigo_authority
static const field authority_fields[] = {
    FIELD(T, "id", F_INT, id),
    FIELD(T, "ecosystemId", F_INT, ecosystem_id),
    FIELD(T, "signerCertificateId", F_INT, signer_certificate_id),
    FIELD(T, "ecosystemName", F_STR, ecosystem_name),
    FIELD(T, "balance", F_INT, balance),
    FIELD(T, "enabled", F_BOOL, enabled),
    FIELD(T, "profileId", F_INT, profile_id),
    FIELD(T, "profileName", F_STR, profile_name),
};
static const record authority_rec = RECORD(T, authority_fields);
#undef T

#define T trisa_sectigo_authority_list
static const field authorities_fields[] = {
    LIST(T, NULL, count, items, is_null, &authority_rec),
};
static const record authorities_rec = RECORD(T, authorities_fields);
#undef T

#define T trisa_sectigo_profile
static const field profile_fields[] = {
    FIELD(T, "profileId", F_INT, profile_id),
    LIST(T, "algorithms", algorithms.count, algorithms.items, algorithms.is_null, NULL),
    FIELD(T, "ca", F_STR, ca),
};
static const record profile_rec = RECORD(T, profile_fields);
#undef T

#define T trisa_sectigo_profile_list
static const field profiles_fields[] = {
    LIST(T, NULL, count, items, is_null, &profile_rec),
};
static const record profiles_rec = RECORD(T, profiles_fields);
#undef T

#define T trisa_sectigo_profile_detail
static const field detail_fields[] = {
    FIELD(T, "profileName", F_STR, profile_name),
    FIELD(T, "profileId", F_INT, profile_id),
    FIELD(T, "rawProfileConfig", F_STR, raw_profile_config),
    FIELD(T, "name", F_STR, name),
    FIELD(T, "keyAlgorithmInfo", F_STR, key_algorithm_info),
};
static const record detail_rec = RECORD(T, detail_fields);
#undef T

#define T trisa_sectigo_profile_param
static const field param_fields[] = {
    FIELD(T, "name", F_STR, name),
    FIELD(T, "inputType", F_STR, input_type),
    FIELD(T, "required", F_BOOL, required),
    FIELD(T, "placeholder", F_RAW, placeholder),
    FIELD(T, "validationPattern", F_STR, validation_pattern),
    FIELD(T, "message", F_STR, message),
    FIELD(T, "value", F_RAW, value),
    FIELD(T, "title", F_STR, title),
    LIST(T, "scopes", scopes.count, scopes.items, scopes.is_null, NULL),
    FIELD(T, "dynamic", F_BOOL, dynamic),
};
static const record param_rec = RECORD(T, param_fields);
#undef T

#define T trisa_sectigo_profile_param_list
static const field params_fields[] = {
    LIST(T, NULL, count, items, is_null, &param_rec),
};
static const record params_rec = RECORD(T, params_fields);
#undef T

#define T trisa_sectigo_organization
static const field organization_fields[] = {
    FIELD(T, "organizationId", F_INT, organization_id),
    FIELD(T, "organizationName", F_STR, organization_name),
    FIELD(T, "address", F_STR, address),
    FIELD(T, "primaryContactName", F_STR, primary_contact_name),
    FIELD(T, "primaryContactEmail", F_STR, primary_contact_email),
    FIELD(T, "primaryContactPhone", F_STR, primary_contact_phone),
    FIELD(T, "manufactureId", F_RAW, manufacture_id),
    FIELD(T, "logo", F_STR, logo),
    LIST(T, "authorities", authorities.count, authorities.items, authorities.is_null,
         &authority_rec),
    FIELD(T, "ecosystemId", F_INT, ecosystem_id),
    {"organizationParameters", F_MAP, offsetof(T, organization_parameters_count),
     offsetof(T, organization_parameters), offsetof(T, organization_parameters_null), NULL},
    FIELD(T, "orgStatus", F_STR, org_status),
};
static const record organization_rec = RECORD(T, organization_fields);
#undef T

/* A string, as the API defines deviceId (UUIDs from the reference server, "42" from its
 * mock); a number from other servers is kept as its JSON text, so it prints as the
 * string the reference shows. */
#define T trisa_sectigo_cert
static const field cert_fields[] = {
    FIELD(T, "deviceId", F_STR, device_id),
    FIELD(T, "commonName", F_STR, common_name),
    FIELD(T, "serialNumber", F_STR, serial_number),
    FIELD(T, "creationDate", F_STR, creation_date),
    FIELD(T, "status", F_STR, status),
};
static const record cert_rec = RECORD(T, cert_fields);
#undef T

#define T trisa_sectigo_find_result
static const field find_fields[] = {
    FIELD(T, "totalCount", F_INT, total_count),
    LIST(T, "items", count, items, items_null, &cert_rec),
};
static const record find_rec = RECORD(T, find_fields);
#undef T

/* One parser, one printer and one free a reply type, from its table. */
#define REPLY(name, type, rec, what, must_be_object)                                               \
    int sectigo_parse_##name(type **out, const char *body)                                         \
    {                                                                                              \
        void *obj = NULL;                                                                          \
        int rc = record_parse(&obj, body, what, &rec, must_be_object);                             \
        *out = obj;                                                                                \
        return rc;                                                                                 \
    }                                                                                              \
    void type##_free(type *obj)                                                                    \
    {                                                                                              \
        record_free(&rec, obj);                                                                    \
    }

/* clang-format off */
REPLY(batch, trisa_sectigo_batch, batch_rec, "batch", 1)
REPLY(authorities, trisa_sectigo_authority_list, authorities_rec, "authorities", 0)
REPLY(profiles, trisa_sectigo_profile_list, profiles_rec, "profiles", 0)
REPLY(profile_detail, trisa_sectigo_profile_detail, detail_rec, "profile detail", 0)
REPLY(profile_params, trisa_sectigo_profile_param_list, params_rec, "profile parameters", 0)
REPLY(organization, trisa_sectigo_organization, organization_rec, "organization", 0)
REPLY(find_result, trisa_sectigo_find_result, find_rec, "find", 0)
/* clang-format on */

int trisa_sectigo_batch_json(char **out, const trisa_sectigo_batch *b)
{
    return record_json(out, &batch_rec, b);
}

int trisa_sectigo_authorities_json(char **out, const trisa_sectigo_authority_list *l)
{
    return record_json(out, &authorities_rec, l);
}

int trisa_sectigo_profiles_json(char **out, const trisa_sectigo_profile_list *l)
{
    return record_json(out, &profiles_rec, l);
}

int trisa_sectigo_profile_detail_json(char **out, const trisa_sectigo_profile_detail *d)
{
    return record_json(out, &detail_rec, d);
}

int trisa_sectigo_profile_params_json(char **out, const trisa_sectigo_profile_param_list *l)
{
    return record_json(out, &params_rec, l);
}

int trisa_sectigo_organization_json(char **out, const trisa_sectigo_organization *g)
{
    return record_json(out, &organization_rec, g);
}

int trisa_sectigo_find_result_json(char **out, const trisa_sectigo_find_result *r)
{
    return record_json(out, &find_rec, r);
}

int sectigo_parse_processing_info(trisa_sectigo_processing_info *out, const char *body)
{
    return record_parse_into(out, body, "processing info", &processing_rec);
}

int trisa_sectigo_processing_info_json(char **out, const trisa_sectigo_processing_info *p)
{
    return record_json(out, &processing_rec, p);
}

int sectigo_parse_licenses(trisa_sectigo_licenses *out, const char *body)
{
    return record_parse_into(out, body, "licences", &licenses_rec);
}

int trisa_sectigo_licenses_json(char **out, const trisa_sectigo_licenses *l)
{
    return record_json(out, &licenses_rec, l);
}

/* ---- Balances -------------------------------------------------------------------------- */

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
