/*
 * trisa.conf loading and validation. The config is an OpenSSL `req` config read with
 * NCONF, interpreted as `openssl req -new -config` does (apps/req.c), so that a file that
 * works there works here unchanged. Everything is checked at load time, before a key is
 * made or a file written.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "csr/internal.h"

#define CONFIG_FILE_MAX (1024 * 1024)

/* Line (1-based) of "name =" inside [section] of the config text, or of the [section]
 * header itself when name is NULL; 0 when not found (e.g. the value came from an
 * .include or the section is "default"). */
static int line_of(const trisa_csr_config *c, const char *section, const char *name)
{
    const char *p = c->text;
    int line = 1;
    int in = section == NULL || strcmp(section, "default") == 0;

    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, '\n');
        const char *end = e ? e : p + strlen(p);
        const char *s = p;
        while (s < end && (*s == ' ' || *s == '\t')) {
            s++;
        }
        if (s < end && *s == '[') {
            const char *a = s + 1, *b;
            while (a < end && isspace((unsigned char)*a)) {
                a++;
            }
            b = a;
            while (b < end && *b != ']' && !isspace((unsigned char)*b)) {
                b++;
            }
            in = section != NULL && (size_t)(b - a) == strlen(section) &&
                 strncmp(a, section, (size_t)(b - a)) == 0;
            if (in && name == NULL) {
                return line;
            }
        } else if (in && name != NULL) {
            size_t n = strlen(name);
            if ((size_t)(end - s) > n && strncmp(s, name, n) == 0) {
                const char *q = s + n;
                while (q < end && (*q == ' ' || *q == '\t')) {
                    q++;
                }
                if (q < end && *q == '=') {
                    return line;
                }
            }
        }
        p = e ? e + 1 : NULL;
        line++;
    }
    return 0;
}

/* Line of the first "... = ...value..." in the text, for values found only after
 * OpenSSL has parsed them (SAN entries). */
static int line_of_value(const trisa_csr_config *c, const char *value)
{
    const char *p = c->text;
    int line = 1;
    size_t n = strlen(value);

    while (p != NULL && *p != '\0' && n > 0) {
        const char *e = strchr(p, '\n');
        const char *end = e ? e : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq != NULL) {
            for (const char *s = eq + 1; s + n <= end; s++) {
                if (strncmp(s, value, n) == 0) {
                    return line;
                }
            }
        }
        p = e ? e + 1 : NULL;
        line++;
    }
    return 0;
}

/* "FILE:LINE: [section] field" into out. */
static void where(char *out, size_t cap, const trisa_csr_config *c, int line, const char *section,
                  const char *field)
{
    trisa_buf b = TRISA_BUF_INIT;
    trisa_buf_puts(&b, c->name);
    if (line > 0) {
        trisa_buf_printf(&b, ":%d", line);
    }
    if (section != NULL) {
        trisa_buf_printf(&b, ": [%s]", section);
    }
    if (field != NULL) {
        trisa_buf_printf(&b, "%s%s", section ? " " : ": ", field);
    }
    snprintf(out, cap, "%s", b.failed ? c->name : b.data);
    trisa_buf_free(&b, 0);
}

/* The field's line, else its section's header line. */
static int field_line(const trisa_csr_config *c, const char *section, const char *field)
{
    int line = field ? line_of(c, section, field) : 0;
    return line > 0 || section == NULL ? line : line_of(c, section, NULL);
}

static int verr(const trisa_csr_config *c, int ssl, int line, const char *section,
                const char *field, const char *fmt, va_list ap)
{
    char head[512], msg[512];
    where(head, sizeof(head), c, line, section, field);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ssl) {
        return trisa_error_set_ssl(TRISA_ECONFIG, "%s: %s", head, msg);
    }
    return trisa_error_set(TRISA_ECONFIG, "%s: %s", head, msg);
}

/* A config error about `field` in [section], with the line found in the text. */
static int cerr(const trisa_csr_config *c, const char *section, const char *field, const char *fmt,
                ...) TRISA_PRINTF(4, 5);
static int cerr(const trisa_csr_config *c, const char *section, const char *field, const char *fmt,
                ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = verr(c, 0, field_line(c, section, field), section, field, fmt, ap);
    va_end(ap);
    return rc;
}

/* As cerr, with OpenSSL's reasons appended. */
static int cerr_ssl(const trisa_csr_config *c, const char *section, const char *field,
                    const char *fmt, ...) TRISA_PRINTF(4, 5);
static int cerr_ssl(const trisa_csr_config *c, const char *section, const char *field,
                    const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = verr(c, 1, field_line(c, section, field), section, field, fmt, ap);
    va_end(ap);
    return rc;
}

static int cerr_line(const trisa_csr_config *c, int line, const char *section, const char *field,
                     const char *fmt, ...) TRISA_PRINTF(5, 6);
static int cerr_line(const trisa_csr_config *c, int line, const char *section, const char *field,
                     const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = verr(c, 0, line, section, field, fmt, ap);
    va_end(ap);
    return rc;
}

static int warn(trisa_csr_config *c, int line, const char *section, const char *field,
                const char *fmt, ...) TRISA_PRINTF(5, 6);
static int warn(trisa_csr_config *c, int line, const char *section, const char *field,
                const char *fmt, ...)
{
    char head[512], msg[512];
    trisa_buf b = TRISA_BUF_INIT;
    char **grown;
    va_list ap;

    where(head, sizeof(head), c, line, section, field);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    trisa_buf_printf(&b, "%s: %s", head, msg);
    grown = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*grown));
    if (b.failed || grown == NULL) {
        trisa_buf_free(&b, 0);
        if (grown != NULL) {
            c->warnings = grown;
        }
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    c->warnings = grown;
    c->warnings[c->nwarnings++] = trisa_buf_detach(&b, NULL);
    return 0;
}

/* NCONF_get_string without leaving "no such value" in OpenSSL's error queue. */
static const char *get(const trisa_csr_config *c, const char *section, const char *name)
{
    const char *v = NCONF_get_string(c->conf, section, name);
    if (v == NULL) {
        ERR_clear_error();
    }
    return v;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A referenced section must exist: "[req] distinguished_name: section [dn] is missing". */
static int need_section(const trisa_csr_config *c, const char *from_section, const char *from_field,
                        const char *name)
{
    if (NCONF_get_section(c->conf, name) == NULL) {
        ERR_clear_error();
        return cerr(c, from_section, from_field, "section [%s] does not exist", name);
    }
    return 0;
}

/* Values written to the certificate must not start or end with white space. */
static int has_outer_space(const char *v)
{
    size_t n = strlen(v);
    return n > 0 && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]));
}

/* A template value not filled in: "<your organisation>". */
static int is_placeholder(const char *v)
{
    size_t n = strlen(v);
    return n >= 2 && v[0] == '<' && v[n - 1] == '>';
}

int trisa_csr_dns_name_ok(const char *name)
{
    size_t total = strlen(name), label = 0;
    const char *p = name;

    if (total == 0 || total > 253) {
        return 0;
    }
    if (strncmp(p, "*.", 2) == 0) {
        p += 2; /* a wildcard only as the whole leftmost label */
    }
    if (*p == '\0') {
        return 0;
    }
    for (const char *s = p;; s++) {
        if (*s == '.' || *s == '\0') {
            if (label == 0 || label > 63 || s[-1] == '-' || s[-(long)label] == '-') {
                return 0;
            }
            if (*s == '\0') {
                return 1;
            }
            label = 0;
        } else if (isalnum((unsigned char)*s) || *s == '-') {
            label++;
        } else {
            return 0;
        }
    }
}

/* Make the ASN.1 string for a DN field as ASN1_STRING_set_by_NID would with the global
 * string mask set to `mask`, without touching that global (threads may be loading other
 * configs at the same time). */
ASN1_STRING *trisa_csr_encode_string(int nid, const char *value, unsigned long chtype,
                                     unsigned long mask)
{
    ASN1_STRING *s = NULL;
    ASN1_STRING_TABLE *tbl = ASN1_STRING_TABLE_get(nid);
    int ok;

    if (tbl != NULL) {
        unsigned long m = tbl->mask;
        if (!(tbl->flags & STABLE_NO_MASK)) {
            m &= mask;
        }
        ok = ASN1_mbstring_ncopy(&s, (const unsigned char *)value, -1, (int)chtype, m, tbl->minsize,
                                 tbl->maxsize) > 0;
    } else {
        ok = ASN1_mbstring_copy(&s, (const unsigned char *)value, -1, (int)chtype,
                                DIRSTRING_TYPE & mask) > 0;
    }
    if (!ok) {
        ASN1_STRING_free(s);
        return NULL;
    }
    return s;
}

/* Strip openssl's "0." / "1:" / "x," prefix that allows a field to repeat. */
static const char *field_type(const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == ':' || *p == ',' || *p == '.') {
            return p[1] != '\0' ? p + 1 : name;
        }
    }
    return name;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Add one DN entry; `field` is the config's name for messages. */
static int add_dn_entry(trisa_csr_config *c, const char *field, const char *value, int set)
{
    const char *type = field_type(field);
    int nid;
    ASN1_STRING *s;
    int ok;

    if (*type == '+') {
        type++;
    }
    nid = OBJ_txt2nid(type);
    if (nid == NID_undef) {
        ERR_clear_error();
        return cerr(c, c->dn_section, field, "unknown subject field '%s'", type);
    }
    s = trisa_csr_encode_string(nid, value, c->chtype, c->mask);
    if (s == NULL) {
        return cerr_ssl(c, c->dn_section, field, "cannot encode '%s'", value);
    }
    ok = X509_NAME_add_entry_by_NID(c->subject, nid, ASN1_STRING_type(s),
                                    (unsigned char *)ASN1_STRING_get0_data(s),
                                    ASN1_STRING_length(s), -1, set);
    ASN1_STRING_free(s);
    if (!ok) {
        return cerr_ssl(c, c->dn_section, field, "cannot add '%s' to the subject", value);
    }
    return 0;
}

/* Check one DN value and add it. */
static int dn_field(trisa_csr_config *c, const char *field, const char *lookup, const char *value)
{
    const char *type = field_type(field);
    int nid, set = 0;

    if (*type == '+') {
        set = -1; /* openssl: a leading '+' joins the previous RDN */
        type++;
    }
    nid = OBJ_txt2nid(type);
    if (nid == NID_undef) {
        ERR_clear_error();
        return cerr(c, c->dn_section, lookup, "unknown subject field '%s'", type);
    }
    if (nid == NID_commonName && c->cn_override != NULL) {
        if (c->cn_done) {
            return 0;
        }
        c->cn_done = 1;
        value = c->cn_override;
    }
    if (is_placeholder(value)) {
        return cerr(c, c->dn_section, lookup, "placeholder '%s' not filled in", value);
    }
    if (has_outer_space(value)) {
        return cerr(c, c->dn_section, lookup,
                    "value '%s' has leading or trailing white space (it would be part of the "
                    "certificate)",
                    value);
    }
    if (value[0] == '\0') {
        if (nid == NID_commonName) {
            return cerr(c, c->dn_section, lookup, "the common name (CN) is empty");
        }
        /* openssl req fails here too ("string too short") */
        return cerr(c, c->dn_section, lookup, "the value is empty");
    }
    if (nid == NID_countryName && !(strlen(value) == 2 && isalpha((unsigned char)value[0]) &&
                                    isalpha((unsigned char)value[1]))) {
        return cerr(c, c->dn_section, lookup,
                    "country must be a two-letter ISO 3166 code (e.g. US), not '%s'", value);
    }
    if (nid == NID_commonName && c->cn == NULL && (c->cn = strdup(value)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    return add_dn_entry(c, field, value, set);
}

static int build_subject(trisa_csr_config *c)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, c->dn_section);
    int rc;

    c->subject = X509_NAME_new();
    if (c->subject == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (c->prompt) {
            /* openssl req -batch: each field's value is its NAME_default. */
            char key[256];
            const char *dv;
            if (ends_with(v->name, "_default") || ends_with(v->name, "_min") ||
                ends_with(v->name, "_max") || ends_with(v->name, "_value")) {
                continue;
            }
            snprintf(key, sizeof(key), "%s_default", v->name);
            dv = get(c, c->dn_section, key);
            if (dv == NULL) {
                const char *t = field_type(v->name);
                if (OBJ_txt2nid(*t == '+' ? t + 1 : t) == NID_commonName &&
                    c->cn_override != NULL) {
                    dv = c->cn_override;
                } else {
                    continue;
                }
            }
            rc = dn_field(c, v->name, key, dv);
        } else {
            rc = dn_field(c, v->name, v->name, v->value);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (c->cn_override != NULL && !c->cn_done) {
        c->cn_done = 1;
        if ((rc = dn_field(c, "CN", "CN", c->cn_override)) != 0) {
            return rc;
        }
    }
    if (c->cn == NULL) {
        return cerr(c, c->dn_section, NULL, "no common name (CN) in the subject");
    }
    return 0;
}

static const char *const key_usage_words[] = {
    "digitalSignature", "nonRepudiation", "contentCommitment", "keyEncipherment",
    "dataEncipherment", "keyAgreement",   "keyCertSign",       "cRLSign",
    "encipherOnly",     "decipherOnly",   "critical",          NULL,
};

static int known_key_usage(const char *w)
{
    for (size_t i = 0; key_usage_words[i] != NULL; i++) {
        if (strcmp(w, key_usage_words[i]) == 0) {
            return 1;
        }
    }
    /* OpenSSL also takes the long names ("Digital Signature"). */
    static const char *const long_names[] = {
        "Digital Signature", "Non Repudiation",
        "Key Encipherment",  "Data Encipherment",
        "Key Agreement",     "Certificate Sign",
        "CRL Sign",          "Encipher Only",
        "Decipher Only",     NULL,
    };
    for (size_t i = 0; long_names[i] != NULL; i++) {
        if (strcmp(w, long_names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int known_eku(const char *w)
{
    ASN1_OBJECT *o;
    if (strcmp(w, "critical") == 0) {
        return 1;
    }
    o = OBJ_txt2obj(w, 0);
    ERR_clear_error();
    ASN1_OBJECT_free(o);
    return o != NULL;
}

/* Check each comma-separated word of a keyUsage / extendedKeyUsage value. */
static int check_words(trisa_csr_config *c, const char *field, int (*known)(const char *))
{
    const char *v = get(c, c->ext_section, field);
    const char *p;

    if (v == NULL || strncmp(v, "DER:", 4) == 0 || strncmp(v, "ASN1:", 5) == 0) {
        return 0;
    }
    p = v;
    while (*p != '\0') {
        char word[128];
        size_t n;
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        n = (size_t)(end - p);
        while (n > 0 && isspace((unsigned char)p[n - 1])) {
            n--;
        }
        if (n >= sizeof(word)) {
            n = sizeof(word) - 1;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (n == 0 || !known(word)) {
            return cerr(c, c->ext_section, field, "unknown %s word '%s'", field, word);
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* Every "@section" in the extension section's values must exist. */
static int check_ext_refs(trisa_csr_config *c)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, c->ext_section);
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        for (const char *at = strchr(v->value, '@'); at != NULL; at = strchr(at + 1, '@')) {
            char name[256];
            size_t n = strcspn(at + 1, ", \t");
            int rc;
            /* A reference starts the value or follows a comma; "email:a@b" is not one. */
            const char *b = at;
            while (b > v->value && (b[-1] == ' ' || b[-1] == '\t')) {
                b--;
            }
            if (b != v->value && b[-1] != ',') {
                continue;
            }
            if (n == 0 || n >= sizeof(name)) {
                continue;
            }
            memcpy(name, at + 1, n);
            name[n] = '\0';
            if ((rc = need_section(c, c->ext_section, v->name, name)) != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Turn a --san value into a GENERAL_NAME. */
static int san_from_text(GENERAL_NAME **out, const char *text)
{
    static const struct {
        const char *prefix;
        int type;
    } kinds[] = {{"DNS:", GEN_DNS}, {"IP:", GEN_IPADD}, {"email:", GEN_EMAIL}, {"URI:", GEN_URI}};
    int type = GEN_DNS;
    const char *value = text;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncasecmp(text, kinds[i].prefix, n) == 0) {
            type = kinds[i].type;
            value = text + n;
        }
    }
    if (type == GEN_DNS && !trisa_csr_dns_name_ok(value)) {
        return trisa_error_set(TRISA_EINVAL, "--san: '%s' is not a valid DNS name", value);
    }
    *out = a2i_GENERAL_NAME(NULL, NULL, NULL, type, value, 0);
    if (*out == NULL) {
        return trisa_error_set_ssl(TRISA_EINVAL, "--san: cannot use '%s'", text);
    }
    return 0;
}

int trisa_csr_config_extensions(STACK_OF(X509_EXTENSION) * *out, const trisa_csr_config *c,
                                X509_REQ *req, int test)
{
    STACK_OF(X509_EXTENSION) *sk = NULL;
    GENERAL_NAMES *gens = NULL;
    X509_EXTENSION *ext = NULL;
    X509V3_CTX ctx;
    int rc = TRISA_ENOMEM, idx, crit = 0;

    *out = NULL;
    if (c->ext_section != NULL) {
        X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, test ? X509V3_CTX_TEST : 0);
        X509V3_set_nconf(&ctx, c->conf);
        if (!X509V3_EXT_add_nconf_sk(c->conf, &ctx, c->ext_section, &sk)) {
            rc = cerr_ssl(c, c->ext_section, NULL, "cannot make the requested extensions");
            goto done;
        }
    }
    if (c->nsans > 0) {
        /* Merge --san names into the config's subjectAltName (or make one). */
        idx = X509v3_get_ext_by_NID(sk, NID_subject_alt_name, -1);
        if (idx >= 0) {
            X509_EXTENSION *old = X509v3_get_ext(sk, idx);
            crit = X509_EXTENSION_get_critical(old);
            gens = X509V3_EXT_d2i(old);
        } else {
            gens = GENERAL_NAMES_new();
        }
        if (gens == NULL) {
            goto done;
        }
        for (size_t i = 0; i < c->nsans; i++) {
            GENERAL_NAME *g = NULL;
            if ((rc = san_from_text(&g, c->sans[i])) != 0) {
                goto done;
            }
            if (!sk_GENERAL_NAME_push(gens, g)) {
                GENERAL_NAME_free(g);
                rc = TRISA_ENOMEM;
                goto done;
            }
        }
        ext = X509V3_EXT_i2d(NID_subject_alt_name, crit, gens);
        rc = TRISA_ENOMEM;
        if (ext == NULL) {
            goto done;
        }
        if (idx >= 0) {
            X509_EXTENSION_free(X509v3_delete_ext(sk, idx));
            if (sk_X509_EXTENSION_insert(sk, ext, idx) == 0) {
                goto done;
            }
        } else if (X509v3_add_ext(&sk, ext, -1) == NULL) {
            goto done;
        } else {
            X509_EXTENSION_free(ext); /* X509v3_add_ext copied it */
        }
        ext = NULL;
    }
    *out = sk;
    sk = NULL;
    rc = 0;
done:
    if (rc == TRISA_ENOMEM) {
        trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    return rc;
}

/* Build the extensions once, without a key, to validate them and the SAN. */
static int check_extensions(trisa_csr_config *c)
{
    STACK_OF(X509_EXTENSION) *sk = NULL;
    GENERAL_NAMES *gens = NULL;
    X509_REQ *req = NULL;
    int rc, ndns = 0, cn_found = 0;

    if (c->ext_section != NULL && ((rc = check_words(c, "keyUsage", known_key_usage)) != 0 ||
                                   (rc = check_words(c, "extendedKeyUsage", known_eku)) != 0 ||
                                   (rc = check_ext_refs(c)) != 0)) {
        return rc;
    }
    req = X509_REQ_new();
    if (req == NULL || !X509_REQ_set_subject_name(req, c->subject)) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = trisa_csr_config_extensions(&sk, c, req, 1)) != 0) {
        goto done;
    }
    gens = X509V3_get_d2i(sk, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s;
        char name[300];
        int len;
        if (g->type != GEN_DNS) {
            continue;
        }
        s = g->d.dNSName;
        len = ASN1_STRING_length(s);
        snprintf(name, sizeof(name), "%.*s", len < 299 ? len : 299, ASN1_STRING_get0_data(s));
        if ((size_t)len != strlen(name) || !trisa_csr_dns_name_ok(name)) {
            rc = cerr_line(c, line_of_value(c, name), c->ext_section, "subjectAltName",
                           "'%s' is not a valid DNS name", name);
            goto done;
        }
        ndns++;
        if (strcasecmp(name, c->cn) == 0) {
            cn_found = 1;
        }
    }
    ERR_clear_error();
    if (ndns == 0) {
        rc = c->ext_section
                 ? cerr(c, c->ext_section, "subjectAltName",
                        "no DNS name in the subjectAltName (Sectigo rejects such requests)")
                 : cerr(c, c->section, "req_extensions",
                        "no extensions, so no subjectAltName DNS name (Sectigo rejects such "
                        "requests)");
        goto done;
    }
    if (!cn_found) {
        rc = warn(c, line_of(c, c->dn_section, "CN"), c->dn_section, "CN",
                  "'%s' is not among the subjectAltName DNS names", c->cn);
        goto done;
    }
    rc = 0;
done:
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

/* openssl req's oid_section: new object names the config then uses. */
static int add_oids(trisa_csr_config *c)
{
    const char *sect = get(c, "default", "oid_section");
    STACK_OF(CONF_VALUE) * sk;

    if (sect == NULL) {
        return 0;
    }
    sk = NCONF_get_section(c->conf, sect);
    if (sk == NULL) {
        ERR_clear_error();
        return cerr(c, "default", "oid_section", "section [%s] does not exist", sect);
    }
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (OBJ_txt2nid(v->name) != NID_undef) {
            continue; /* already known (another config, or built in) */
        }
        if (OBJ_create(v->value, v->name, v->name) == NID_undef) {
            return cerr_ssl(c, sect, v->name, "cannot define OID '%s'", v->value);
        }
    }
    ERR_clear_error();
    return 0;
}

/* Each request attribute (challengePassword, unstructuredName, ...) is known and
 * encodable. */
static int check_attributes(const trisa_csr_config *c)
{
    STACK_OF(CONF_VALUE) *sk = NCONF_get_section(c->conf, c->attr_section);
    for (int i = 0; i < sk_CONF_VALUE_num(sk); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        int nid = OBJ_txt2nid(v->name);
        ASN1_STRING *str;
        if (nid == NID_undef) {
            ERR_clear_error();
            return cerr(c, c->attr_section, v->name, "unknown attribute '%s'", v->name);
        }
        str = trisa_csr_encode_string(nid, v->value, c->chtype, c->mask);
        if (str == NULL) {
            return cerr_ssl(c, c->attr_section, v->name, "cannot encode '%s'", v->value);
        }
        ASN1_STRING_free(str);
    }
    return 0;
}

/* The string_mask values openssl req takes (ASN1_STRING_set_default_mask_asc), parsed
 * here because that function sets a process-wide default. */
static int parse_string_mask(const char *v, unsigned long *out)
{
    if (strncmp(v, "MASK:", 5) == 0) {
        char *end = NULL;
        unsigned long m;
        if (v[5] == '\0') {
            return -1;
        }
        m = strtoul(v + 5, &end, 0);
        if (*end != '\0') {
            return -1;
        }
        *out = m;
    } else if (strcmp(v, "nombstr") == 0) {
        *out = ~(unsigned long)(B_ASN1_BMPSTRING | B_ASN1_UTF8STRING);
    } else if (strcmp(v, "pkix") == 0) {
        *out = ~(unsigned long)B_ASN1_T61STRING;
    } else if (strcmp(v, "utf8only") == 0) {
        *out = B_ASN1_UTF8STRING;
    } else if (strcmp(v, "default") == 0) {
        *out = 0xFFFFFFFFUL;
    } else {
        return -1;
    }
    return 0;
}

static int read_req_section(trisa_csr_config *c, const trisa_csr_config_options *o)
{
    const char *v;
    const char *s = c->section;
    int rc;

    if (NCONF_get_section(c->conf, s) == NULL) {
        ERR_clear_error();
        return cerr(c, NULL, NULL, "no [%s] section", s);
    }
    v = get(c, s, "prompt");
    c->prompt = !(v != NULL && strcmp(v, "no") == 0);
    if (c->prompt) {
        warn(c, line_of(c, s, "prompt"), s, "prompt",
             "not 'no': using each field's _default value, as openssl req -batch does");
    }
    v = get(c, s, "default_bits");
    if (v != NULL) {
        long bits;
        if (trisa_parse_long(v, 0, 1L << 20, &bits) != 0 ||
            (bits != 2048 && bits != 3072 && bits != 4096)) {
            return cerr(c, s, "default_bits", "must be 2048, 3072 or 4096, not '%s'", v);
        }
        c->bits = (int)bits;
    }
    v = get(c, s, "default_md");
    if (v != NULL && strcmp(v, "default") != 0) {
        if (EVP_get_digestbyname(v) == NULL) {
            return cerr(c, s, "default_md", "unknown digest '%s'", v);
        }
        free(c->digest);
        if ((c->digest = strdup(v)) == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
    }
    v = get(c, s, "string_mask");
    if (v != NULL && parse_string_mask(v, &c->mask) != 0) {
        return cerr(c, s, "string_mask",
                    "unknown string mask '%s' (utf8only, pkix, nombstr, default, MASK:N)", v);
    }
    v = get(c, s, "utf8");
    if (v != NULL && strcmp(v, "yes") == 0) {
        c->chtype = MBSTRING_UTF8;
    }
    v = get(c, s, "distinguished_name");
    if (v == NULL) {
        return cerr(c, s, NULL, "no distinguished_name (the section naming the subject)");
    }
    if ((rc = need_section(c, s, "distinguished_name", v)) != 0) {
        return rc;
    }
    if ((c->dn_section = strdup(v)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    v = o->extensions;
    if (v != NULL) {
        if (NCONF_get_section(c->conf, v) == NULL) {
            ERR_clear_error();
            return cerr(c, NULL, NULL, "extension section [%s] does not exist", v);
        }
    } else {
        v = get(c, s, "req_extensions");
        if (v != NULL && (rc = need_section(c, s, "req_extensions", v)) != 0) {
            return rc;
        }
    }
    if (v != NULL && (c->ext_section = strdup(v)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    v = get(c, s, "attributes");
    if (v != NULL) {
        if ((rc = need_section(c, s, "attributes", v)) != 0) {
            return rc;
        }
        if ((c->attr_section = strdup(v)) == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
    }
    if (c->attr_section != NULL && !c->prompt && (rc = check_attributes(c)) != 0) {
        return rc;
    }
    v = get(c, s, "default_keyfile");
    if (v != NULL && (c->keyfile = strdup(v)) == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    return 0;
}

int trisa_csr_config_parse(trisa_csr_config **out, const char *text, size_t len, const char *name,
                           const trisa_csr_config_options *opts)
{
    static const trisa_csr_config_options dflt = TRISA_CSR_CONFIG_OPTIONS_INIT;
    trisa_csr_config *c = NULL;
    BIO *bio = NULL;
    long eline = 0;
    int rc = TRISA_ENOMEM;

    if (out == NULL || text == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_parse: no text or output");
    }
    *out = NULL;
    if (opts == NULL) {
        opts = &dflt;
    }
    if (opts->version != TRISA_CSR_CONFIG_OPTIONS_VERSION) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_options: unknown version %u",
                               opts->version);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    c->bits = 4096;
    c->chtype = opts->utf8 ? MBSTRING_UTF8 : MBSTRING_ASC;
    c->mask = B_ASN1_UTF8STRING; /* OpenSSL's default string_mask, utf8only */
    c->name = strdup(name ? name : "config");
    c->text = malloc(len + 1);
    c->section = strdup(opts->section ? opts->section : "req");
    c->digest = strdup("sha384");
    c->cn_override = dup_or_null(opts->common_name);
    if (c->name == NULL || c->text == NULL || c->section == NULL || c->digest == NULL ||
        (opts->common_name != NULL && c->cn_override == NULL)) {
        trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    if (opts->san_count > 0) {
        c->sans = calloc(opts->san_count, sizeof(char *));
        if (c->sans == NULL) {
            trisa_error_set(TRISA_ENOMEM, "out of memory");
            goto done;
        }
        for (; c->nsans < opts->san_count; c->nsans++) {
            if ((c->sans[c->nsans] = strdup(opts->sans[c->nsans])) == NULL) {
                trisa_error_set(TRISA_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    if (c->cn_override != NULL && (c->cn_override[0] == '\0' || has_outer_space(c->cn_override))) {
        rc = trisa_error_set(TRISA_EINVAL, "--cn: '%s' is empty or has white space at an end",
                             c->cn_override);
        goto done;
    }

    c->conf = NCONF_new(NULL);
    bio = BIO_new_mem_buf(c->text, (int)len);
    if (c->conf == NULL || bio == NULL) {
        trisa_error_set(TRISA_ENOMEM, "out of memory");
        goto done;
    }
    if (NCONF_load_bio(c->conf, bio, &eline) <= 0) {
        if (eline > 0) {
            rc = trisa_error_set_ssl(TRISA_ECONFIG, "%s:%ld: cannot parse the config", c->name,
                                     eline);
        } else {
            rc = trisa_error_set_ssl(TRISA_ECONFIG, "%s: cannot parse the config", c->name);
        }
        goto done;
    }
    if ((rc = add_oids(c)) != 0 || (rc = read_req_section(c, opts)) != 0 ||
        (rc = build_subject(c)) != 0 || (rc = check_extensions(c)) != 0) {
        goto done;
    }
    *out = c;
    c = NULL;
    rc = 0;
done:
    BIO_free(bio);
    trisa_csr_config_free(c);
    return rc;
}

int trisa_csr_config_load(trisa_csr_config **out, const char *path,
                          const trisa_csr_config_options *opts)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc;

    if (out == NULL || path == NULL) {
        return trisa_error_set(TRISA_EINVAL, "trisa_csr_config_load: no path or output");
    }
    *out = NULL;
    rc = trisa_file_read(&data, &len, path, CONFIG_FILE_MAX);
    if (rc != 0) {
        return rc;
    }
    rc = trisa_csr_config_parse(out, (const char *)data, len, path, opts);
    free(data);
    return rc;
}

size_t trisa_csr_config_warning_count(const trisa_csr_config *cfg)
{
    return cfg ? cfg->nwarnings : 0;
}

const char *trisa_csr_config_warning(const trisa_csr_config *cfg, size_t i)
{
    return cfg && i < cfg->nwarnings ? cfg->warnings[i] : NULL;
}

void trisa_csr_config_key_spec(const trisa_csr_config *cfg, trisa_keygen_spec *out)
{
    trisa_keygen_spec s = TRISA_KEYGEN_SPEC_INIT;
    if (cfg != NULL) {
        s.bits = cfg->bits;
    }
    *out = s;
}

const char *trisa_csr_config_digest(const trisa_csr_config *cfg)
{
    return cfg ? cfg->digest : "sha384";
}

const char *trisa_csr_config_common_name(const trisa_csr_config *cfg)
{
    return cfg ? cfg->cn : "";
}

const char *trisa_csr_config_default_keyfile(const trisa_csr_config *cfg)
{
    return cfg ? cfg->keyfile : NULL;
}

const char *trisa_csr_config_name(const trisa_csr_config *cfg)
{
    return cfg ? cfg->name : "";
}

void trisa_csr_config_free(trisa_csr_config *c)
{
    if (c == NULL) {
        return;
    }
    NCONF_free(c->conf);
    X509_NAME_free(c->subject);
    for (size_t i = 0; i < c->nwarnings; i++) {
        free(c->warnings[i]);
    }
    for (size_t i = 0; i < c->nsans; i++) {
        free(c->sans[i]);
    }
    free(c->sans);
    free(c->warnings);
    free(c->name);
    free(c->text);
    free(c->section);
    free(c->dn_section);
    free(c->ext_section);
    free(c->attr_section);
    free(c->digest);
    free(c->keyfile);
    free(c->cn);
    free(c->cn_override);
    free(c);
}
