/*
 * CSR upload (POST /api/v1/batches/upload), in phases: the multipart form, the account's
 * profile, the CSRs (PEM, DER, or a ZIP of them), judging them, one transaction for the
 * licences, the batch and its CSRs, and the reply (the certificates of a small batch are
 * made before it, those of a large one in the background, as a real CA does).
 *
 * The CSRs are parsed here with OpenSSL directly, not with the library's csr/ module, on
 * purpose: the emulator judges what our client sends, so it must not share the client's
 * reading of it. The ZIP of CSRs goes through the library's safe ZIP reader, since a
 * hostile archive is the same danger on either side.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "emulator/emu.h"
#include "trisa/bundle.h"

#define MAX_CSRS 1000

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

int emu_header_param(const char *h, size_t hl, const char *key, char *out, size_t cap)
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

int emu_multipart_parse(const unsigned char *body, size_t len, const char *boundary,
                        emu_part *parts, size_t max, size_t *n)
{
    char delim[96];
    size_t dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    const unsigned char *p = body, *end = body + len, *next;

    *n = 0;
    if (dl >= sizeof(delim)) {
        return -1; /* RFC 2046 allows 70 bytes; upload_parse reads at most 79 */
    }
    if (len < dl || memcmp(body, delim, dl) != 0) {
        p = find_bytes(body, len, delim, dl);
        if (p == NULL) {
            return -1;
        }
    }
    for (;;) {
        const unsigned char *hdr, *hend, *data;
        emu_part *pt;

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
                if (emu_header_param((const char *)hdr + 20, ll - 20, "name", pt->name,
                                     sizeof(pt->name)) < 0) {
                    return -1;
                }
                pt->has_filename = emu_header_param((const char *)hdr + 20, ll - 20, "filename",
                                                    tmp, sizeof(tmp)) != 0;
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

void emu_csr_dns_names(X509_REQ *req, char ***dns, size_t *n)
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

void emu_names_free(char **dns, size_t n)
{
    for (size_t i = 0; dns != NULL && i < n; i++) {
        free(dns[i]);
    }
    free(dns);
}

/* Why a CSR is not acceptable (in why), or 0. */
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
    emu_csr_dns_names(req, &dns, &ndns);
    emu_names_free(dns, ndns);
    if (ndns == 0) {
        snprintf(why, whylen, "CSR %zu: no subjectAltName dNSName", idx);
        return -1;
    }
    return 0;
}

/* ---- the phases ---- */

typedef struct upload {
    emu_part parts[8];
    size_t nparts;
    const emu_part *files;
    long profile_id;
    const emu_authority *a;
    const emu_profile *p;
    csr_list *csrs;
    emu_blob *ders;
    emu_batch b;
    char why[256];
} upload;

/* The multipart form: profileId (field and/or csrBatchRequest's) and the files part. */
static int upload_parse(emu_req *q, emu_resp *r, upload *u)
{
    char boundary[80];
    const emu_part *req_part = NULL, *pid_part = NULL;

    if (q->content_type == NULL || strncasecmp(q->content_type, "multipart/form-data", 19) != 0 ||
        emu_header_param(q->content_type, strlen(q->content_type), "boundary", boundary,
                         sizeof(boundary)) != 1 ||
        boundary[0] == '\0') {
        return emu_error(r, 415, EMU_EC_MEDIA_TYPE, "expected multipart/form-data with a boundary"),
               -1;
    }
    if (q->body == NULL ||
        emu_multipart_parse(q->body, q->body_len, boundary, u->parts, 8, &u->nparts) != 0) {
        return emu_error(r, 400, EMU_EC_BAD_REQUEST, "malformed multipart body"), -1;
    }
    for (size_t i = 0; i < u->nparts; i++) {
        if (strcmp(u->parts[i].name, "files") == 0 && u->files == NULL) {
            u->files = &u->parts[i];
        } else if (strcmp(u->parts[i].name, "csrBatchRequest") == 0) {
            req_part = &u->parts[i];
        } else if (strcmp(u->parts[i].name, "profileId") == 0) {
            pid_part = &u->parts[i];
        }
    }
    u->profile_id = -1;
    if (pid_part != NULL) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(pid_part->len < 31 ? pid_part->len : 31),
                 (const char *)pid_part->data);
        if (trisa_parse_long(num, 0, 1L << 40, &u->profile_id) != 0) {
            return emu_error(r, 400, EMU_EC_VALIDATION, "profileId must be a number"), -1;
        }
    }
    if (req_part != NULL) {
        json_tokener *tok = json_tokener_new();
        json_object *o = tok != NULL && req_part->len < INT32_MAX
                             ? json_tokener_parse_ex(tok, (const char *)req_part->data,
                                                     (int)req_part->len)
                             : NULL,
                    *v;
        int bad = o == NULL || !json_object_is_type(o, json_type_object);
        long pid = -1;

        if (!bad && json_object_object_get_ex(o, "profileId", &v) &&
            json_object_is_type(v, json_type_int)) {
            pid = (long)json_object_get_int64(v);
        }
        json_object_put(o);
        json_tokener_free(tok);
        if (bad) {
            return emu_error(r, 400, EMU_EC_BAD_REQUEST, "csrBatchRequest is not a JSON object"),
                   -1;
        }
        if (pid >= 0 && u->profile_id >= 0 && pid != u->profile_id) {
            return emu_error(r, 400, EMU_EC_VALIDATION,
                             "profileId %ld and csrBatchRequest.profileId %ld differ",
                             u->profile_id, pid),
                   -1;
        }
        if (pid >= 0) {
            u->profile_id = pid;
        }
    }
    if (u->profile_id < 0) {
        return emu_error(r, 400, EMU_EC_VALIDATION, "profileId is required"), -1;
    }
    if (u->files == NULL || u->files->len == 0) {
        return emu_error(r, 400, EMU_EC_VALIDATION, "the files part with CSRs is required"), -1;
    }
    return 0;
}

/* The caller's authority for the profile, and the profile its certificates are made with. */
static int upload_profile(emu_req *q, emu_resp *r, upload *u)
{
    u->a = emu_authority_for(q, u->profile_id);
    if (u->a != NULL && u->a->id == u->profile_id && u->a->profile_id != u->profile_id &&
        u->a->issuing_profile_id != u->profile_id) {
        u->a = NULL; /* an authority id is not a profile id */
    }
    u->p = u->a ? emu_config_profile(&q->emu->cfg, u->a->issuing_profile_id) : NULL;
    if (u->p == NULL) {
        return emu_error(r, 404, EMU_EC_NOT_FOUND, "profile %ld not found", u->profile_id), -1;
    }
    return 0;
}

/* The CSRs of the files part: PEM (one or several), one DER, or a ZIP of .csr / .pem
 * members (others ignored). */
static int upload_read_csrs(emu_req *q, emu_resp *r, upload *u)
{
    const emu_part *f = u->files;
    trisa_bundle_zip *zip = NULL;
    trisa_bundle_zip_limits lim = TRISA_BUNDLE_ZIP_LIMITS_INIT;
    int ret = 0;

    u->csrs = calloc(1, sizeof(*u->csrs));
    if (u->csrs == NULL) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "out of memory"), -1;
    }
    if (f->len < 4 || memcmp(f->data, "PK\003\004", 4) != 0) {
        if (read_pem_csrs(u->csrs, f->data, f->len, u->why, sizeof(u->why)) != 0) {
            return emu_error(r, 400, EMU_EC_BAD_REQUEST, "%s", u->why), -1;
        }
        return 0;
    }
    lim.max_entries = MAX_CSRS;
    lim.max_entry_size = q->emu->cfg.max_body * 4;
    lim.max_total_size = q->emu->cfg.max_body * 4;
    if (trisa_bundle_zip_read(&zip, f->data, f->len, &lim) != 0) {
        return emu_error(r, 400, EMU_EC_BAD_REQUEST, "ZIP upload: %s", trisa_error_last()), -1;
    }
    for (size_t i = 0; i < trisa_bundle_zip_count(zip) && ret == 0; i++) {
        const char *name, *dot;
        const unsigned char *data;
        size_t len;
        trisa_bundle_zip_entry(zip, i, &name, &data, &len);
        dot = strrchr(name, '.');
        if (dot == NULL || (strcmp(dot, ".csr") != 0 && strcmp(dot, ".pem") != 0)) {
            continue; /* other files are ignored, as the real service does */
        }
        if (read_pem_csrs(u->csrs, data, len, u->why, sizeof(u->why)) != 0) {
            emu_error(r, 400, EMU_EC_BAD_REQUEST, "%s: %s", name, u->why);
            ret = -1;
        }
    }
    trisa_bundle_zip_free(zip);
    if (ret == 0 && u->csrs->n == 0) {
        emu_error(r, 400, EMU_EC_BAD_REQUEST, "the ZIP holds no .csr or .pem CSR");
        ret = -1;
    }
    return ret;
}

/* Judge every CSR, then record the batch: NOT_ACCEPTABLE without a licence when one is
 * wrong, else the licences, the batch and its CSRs in one transaction. */
static int upload_store(emu_req *q, emu_resp *r, upload *u)
{
    size_t n = u->csrs->n;
    int err;

    emu_batch_init(q, &u->b, u->a, u->p, "");
    u->b.size = (long)n;
    u->why[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (check_csr(u->csrs->reqs[i], u->p, u->why, sizeof(u->why), i + 1) != 0) {
            break;
        }
    }
    if (u->why[0] != '\0') {
        /* As the real service: the batch exists but is not acceptable; no licence used. */
        snprintf(u->b.status, sizeof(u->b.status), "NOT_ACCEPTABLE");
        u->b.reject_reason = u->why;
        u->b.failed = (long)n;
        if (emu_store_add_batch(q->emu->store, &u->b, 0, NULL, 0, NULL, 0, NULL, 0) != 0) {
            return emu_error(r, 500, EMU_EC_INTERNAL, "store error"), -1;
        }
        return 0;
    }
    u->ders = calloc(n, sizeof(*u->ders));
    if (u->ders == NULL) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "out of memory"), -1;
    }
    for (size_t i = 0; i < n; i++) {
        int len = i2d_X509_REQ(u->csrs->reqs[i], &u->ders[i].data);
        if (len <= 0) {
            return emu_error(r, 500, EMU_EC_INTERNAL, "cannot encode CSR %zu", i + 1), -1;
        }
        u->ders[i].len = (size_t)len;
    }
    err = emu_store_add_batch(q->emu->store, &u->b, (long)n, u->ders, n, NULL, 0, NULL, 0);
    if (err == TRISA_EBALANCE) {
        return emu_error(r, 400, EMU_EC_BALANCE, "authority %ld has fewer than %zu licences left",
                         u->a->id, n),
               -1;
    } else if (err != 0) {
        return emu_error(r, 500, EMU_EC_INTERNAL, "store error"), -1;
    }
    return 0;
}

/* The batch as it stands after its certificates were made (small batches), or as it was
 * recorded, PROCESSING, with the background issuer at work. */
static int upload_reply(emu_req *q, emu_resp *r, upload *u)
{
    emu_batch now;

    if (u->b.issued) { /* NOT_ACCEPTABLE */
        return emu_json(r, 200, emu_batch_json(q->emu, &u->b));
    }
    if ((size_t)u->b.size > q->emu->cfg.inline_issue) {
        emu_issuer_enqueue(q->emu, u->b.id);
        return emu_json(r, 200, emu_batch_json(q->emu, &u->b));
    }
    emu_issue_batch(q->emu, u->b.id);
    if (emu_store_get_batch(q->emu->store, u->b.id, &now) != 0) {
        return emu_json(r, 200, emu_batch_json(q->emu, &u->b));
    }
    emu_json(r, 200, emu_batch_json(q->emu, &now));
    emu_batch_clear(&now);
    return 0;
}

int emu_api_upload(emu_req *q, emu_resp *r)
{
    upload u;

    memset(&u, 0, sizeof(u));
    if (upload_parse(q, r, &u) == 0 && upload_profile(q, r, &u) == 0 &&
        upload_read_csrs(q, r, &u) == 0 && upload_store(q, r, &u) == 0) {
        upload_reply(q, r, &u);
    }
    if (u.ders != NULL) {
        for (size_t i = 0; i < u.csrs->n; i++) {
            OPENSSL_free(u.ders[i].data);
        }
        free(u.ders);
    }
    for (size_t i = 0; u.csrs != NULL && i < u.csrs->n; i++) {
        X509_REQ_free(u.csrs->reqs[i]);
    }
    free(u.csrs);
    return 0;
}
