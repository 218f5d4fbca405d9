/*
 * The output set, written as a unit: every file is made in memory first, compared with
 * what is on disk (identical: left alone, mtime and all; missing: written; different:
 * refused unless forced, or replaced when this request wrote it for the batch it now
 * supersedes), then the files that change are committed as one of common's sets of files
 * (trisa_file_set: each written under a temporary name and synced before the first rename,
 * every replaced file restorable until the last rename, each folder synced once). A
 * pointer file (.trisa-enroll) records which request and batch the folder holds and the
 * SHA-256 of each file, so a later run knows its own files (an encrypted key is never the
 * same bytes twice) and a folder keeps its meaning when the journal is elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "enroll/internal.h"
#include "trisa/keygen.h"

#define MAX_COMPARE (4u * 1024u * 1024u)

static void sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[32];
    EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
    trisa_hex(out, md, sizeof(md), 0);
}

/* ---- Folder names ---- */

void outputs_dir_name(char *out, size_t cap, const char *cn, size_t index, char **used,
                      size_t nused)
{
    char base[200];
    size_t j = 0;
    if (cn == NULL || cn[0] == '\0' || cn[0] == '.') {
        snprintf(base, sizeof(base), "certificate-%zu", index + 1);
    } else {
        for (const char *p = cn; *p != '\0' && j + 1 < sizeof(base); p++) {
            char c = *p;
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == '_';
            base[j++] = ok ? c : '_';
        }
        base[j] = '\0';
    }
    /* Two leaves with one name (or names that clean to one) get distinct folders, in
     * the bundle's order, so a rerun finds the same ones. */
    snprintf(out, cap, "%s", base);
    for (unsigned k = 2;; k++) {
        size_t i;
        for (i = 0; i < nused && strcmp(used[i], out) != 0; i++) {
        }
        if (i == nused) {
            return;
        }
        snprintf(out, cap, "%s-%u", base, k);
    }
}

/* ---- Building ---- */

static int add_file(out_set *s, const char *dir, const char *name, trisa_buf *content, mode_t mode,
                    int secret)
{
    trisa_buf rel = TRISA_BUF_INIT, path = TRISA_BUF_INIT;
    out_file *f;
    if (content->failed) {
        trisa_buf_free(content, secret);
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        out_file *nf = realloc(s->f, cap * sizeof(*nf));
        if (nf == NULL) {
            trisa_buf_free(content, secret);
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        s->f = nf;
        s->cap = cap;
    }
    f = &s->f[s->n];
    memset(f, 0, sizeof(*f));
    if (name[0] == '/' || dir == NULL) {
        trisa_buf_puts(&rel, name); /* p12_out: its own path */
        trisa_buf_puts(&path, name);
    } else {
        trisa_buf_printf(&rel, "%s%s%s", dir, dir[0] != '\0' ? "/" : "", name);
        trisa_buf_printf(&path, "%s/%s", s->root, rel.data != NULL ? rel.data : "");
    }
    f->rel = trisa_buf_detach(&rel, NULL);
    f->path = trisa_buf_detach(&path, NULL);
    f->len = content->len;
    f->data = (unsigned char *)trisa_buf_detach(content, NULL);
    f->mode = mode;
    f->secret = secret;
    s->n++;
    if (f->rel == NULL || f->path == NULL || f->data == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    sha256_hex(f->sha256, f->data, f->len);
    return 0;
}

/* The self-signed anchor that issued the top of the chain, for the pool. */
static X509 *anchor_root(STACK_OF(X509) * anchors, X509 *top)
{
    for (int i = 0; anchors != NULL && i < sk_X509_num(anchors); i++) {
        X509 *a = sk_X509_value(anchors, i);
        if (X509_check_issued(a, top) == X509_V_OK && X509_check_issued(a, a) == X509_V_OK) {
            return a;
        }
    }
    return NULL;
}

/* The key's PEM, encrypted with pass when given (600,000 PBKDF2 iterations, as keygen). */
static int key_pem(trisa_buf *out, EVP_PKEY *key, const char *pass)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = trisa_keygen_to_pem(&pem, &len, key, pass);
    if (rc == 0 && trisa_buf_append(out, pem, len) != 0) {
        rc = trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    trisa_free_secret(pem, len);
    return rc;
}

static int build_identity(out_set *s, const char *dir, const trisa_bundle *b, size_t i,
                          const outputs_options *o)
{
    X509 *leaf = trisa_bundle_leaf(b, i), *root = trisa_bundle_root(b, i), *top = leaf;
    EVP_PKEY *key = trisa_bundle_key(b, i);
    int bundle_key = trisa_bundle_has_bundle_key(b, i);
    trisa_buf cert = TRISA_BUF_INIT, chain = TRISA_BUF_INIT, full = TRISA_BUF_INIT;
    trisa_buf rootb = TRISA_BUF_INIT, pool = TRISA_BUF_INIT, node = TRISA_BUF_INIT;
    trisa_buf keyb = TRISA_BUF_INIT;
    const char *node_pass = NULL;
    int node_key = 0, rc;

    if ((rc = trisa_buf_put_cert_pem(&cert, leaf)) != 0) {
        goto done;
    }
    const STACK_OF(X509) *ch = trisa_bundle_chain(b, i);
    for (int k = 0; k < sk_X509_num(ch); k++) {
        top = sk_X509_value(ch, k);
        if ((rc = trisa_buf_put_cert_pem(&chain, top)) != 0) {
            goto done;
        }
    }
    trisa_buf_append(&full, cert.data, cert.len);
    trisa_buf_append(&full, chain.data != NULL ? chain.data : "", chain.len);
    trisa_buf_append(&pool, chain.data != NULL ? chain.data : "", chain.len);
    if (root != NULL && (rc = trisa_buf_put_cert_pem(&rootb, root)) != 0) {
        goto done;
    }
    if (root == NULL) {
        root = anchor_root(o->anchors, top);
    }
    if (root != NULL && (rc = trisa_buf_put_cert_pem(&pool, root)) != 0) {
        goto done;
    }
    /* node.pem: the one file TRISA nodes (Envoy's TRISA_NODE_CERTS) take: leaf, chain and
     * the private key when it is a file key (never a token's). */
    trisa_buf_append(&node, full.data, full.len);
    if (key != NULL && bundle_key) {
        node_key = 1;
        node_pass = o->key_passout;
    }
    for (size_t k = 0; key != NULL && !bundle_key && k < o->nown; k++) {
        if (o->own_keys[k] == key) {
            node_key = 1;
            node_pass = o->key_passout != NULL ? o->key_passout : o->own_key_passwords[k];
        }
    }
    if (node_key && (rc = key_pem(&keyb, key, node_pass)) != 0) {
        goto done;
    }
    trisa_buf_append(&node, keyb.data != NULL ? keyb.data : "", keyb.len);

    if ((rc = add_file(s, dir, "cert.pem", &cert, 0644, 0)) != 0 ||
        (rc = add_file(s, dir, "chain.pem", &chain, 0644, 0)) != 0 ||
        (rc = add_file(s, dir, "fullchain.pem", &full, 0644, 0)) != 0 ||
        (rootb.len > 0 && (rc = add_file(s, dir, "root.pem", &rootb, 0644, 0)) != 0) ||
        (rc = add_file(s, dir, "pool.pem", &pool, 0644, 0)) != 0 ||
        (rc = add_file(s, dir, "node.pem", &node, node_key ? 0600 : 0644, node_key)) != 0) {
        goto done;
    }
    if (bundle_key && (rc = add_file(s, dir, "key.pem", &keyb, 0600, 1)) != 0) {
        goto done;
    }
done:
    trisa_buf_free(&cert, 0);
    trisa_buf_free(&chain, 0);
    trisa_buf_free(&full, 0);
    trisa_buf_free(&rootb, 0);
    trisa_buf_free(&pool, 0);
    trisa_buf_free(&node, 1);
    trisa_buf_free(&keyb, 1);
    return rc;
}

int outputs_build(out_set *s, const char *root, const trisa_bundle *b, const outputs_options *o)
{
    size_t n = trisa_bundle_identity_count(b);
    int rc = 0;

    memset(s, 0, sizeof(*s));
    s->root = strdup(root);
    s->dirs = calloc(n > 0 ? n : 1, sizeof(*s->dirs));
    if (s->root == NULL || s->dirs == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char name[256];
        if (n == 1) {
            name[0] = '\0';
        } else {
            outputs_dir_name(name, sizeof(name), trisa_bundle_common_name(b, i), i, s->dirs,
                             s->ndirs);
        }
        if ((s->dirs[i] = strdup(name)) == NULL) {
            return trisa_error_set(TRISA_ENOMEM, "out of memory");
        }
        s->ndirs++;
        if ((rc = build_identity(s, name, b, i, o)) != 0) {
            return rc;
        }
    }
    if (o->p12_out != NULL) {
        unsigned char *der = NULL;
        size_t len = 0;
        trisa_buf p12 = TRISA_BUF_INIT;
        rc = trisa_bundle_export_p12(&der, &len, b, 0, o->p12_password,
                                     o->p12_legacy ? TRISA_P12_LEGACY : TRISA_P12_MODERN);
        if (rc == 0) {
            trisa_buf_append(&p12, der, len);
            rc = add_file(s, NULL, o->p12_out, &p12, 0600, 1);
        }
        trisa_free_secret(der, len);
    }
    return rc;
}

void outputs_free(out_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->f[i].data != NULL) {
            if (s->f[i].secret) {
                OPENSSL_cleanse(s->f[i].data, s->f[i].len);
            }
            free(s->f[i].data);
        }
        free(s->f[i].rel);
        free(s->f[i].path);
    }
    for (size_t i = 0; i < s->ndirs; i++) {
        free(s->dirs[i]);
    }
    free(s->dirs);
    free(s->f);
    free(s->root);
    memset(s, 0, sizeof(*s));
}

/* ---- The pointer file ---- */

void pointer_free(pointer *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
    }
    free(p->names);
    free(p->hashes);
    memset(p, 0, sizeof(*p));
}

/* Read DIR/.trisa-enroll; anything unexpected makes it absent (its files are then nobody's:
 * the safe reading). Returns 0 when one was read. */
int pointer_load(pointer *p, const char *dir)
{
    trisa_buf path = TRISA_BUF_INIT;
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    char *line, *next;
    int rc = -1, lineno = 0, ended = 0;

    memset(p, 0, sizeof(*p));
    trisa_buf_printf(&path, "%s/%s", dir, POINTER_FILE);
    if (path.data == NULL || trisa_file_read(&data, &len, path.data, 1024 * 1024) != 0) {
        trisa_error_clear();
        trisa_buf_free(&path, 0);
        return -1;
    }
    for (line = (char *)data; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next == NULL) {
            goto done; /* truncated */
        }
        *next++ = '\0';
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, POINTER_MAGIC " 1") != 0) {
                goto done;
            }
        } else if (strcmp(line, "end") == 0) {
            ended = 1;
            break;
        } else if (strncmp(line, "request=", 8) == 0 && strlen(line + 8) == 64) {
            memcpy(p->request, line + 8, 65);
        } else if (strncmp(line, "batch_id=", 9) == 0) {
            long v;
            if (trisa_parse_long(line + 9, 0, 0x7fffffffL, &v) != 0) {
                goto done;
            }
            p->batch_id = v;
        } else if (strncmp(line, "file=", 5) == 0 && strlen(line) > 5 + 64 + 1 &&
                   line[5 + 64] == ' ') {
            if (p->n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                char **nn = realloc(p->names, nc * sizeof(*nn));
                char(*nh)[65];
                if (nn == NULL) {
                    goto done;
                }
                p->names = nn;
                nh = realloc(p->hashes, nc * sizeof(*nh));
                if (nh == NULL) {
                    goto done;
                }
                p->hashes = nh;
                cap = nc;
            }
            memcpy(p->hashes[p->n], line + 5, 64);
            p->hashes[p->n][64] = '\0';
            if ((p->names[p->n] = strdup(line + 5 + 65)) == NULL) {
                goto done;
            }
            p->n++;
        }
    }
    rc = ended && p->request[0] != '\0' ? 0 : -1;
done:
    if (rc != 0) {
        pointer_free(p);
    }
    free(data);
    trisa_buf_free(&path, 0);
    return rc;
}

static const char *pointer_hash(const pointer *p, const char *rel)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], rel) == 0) {
            return p->hashes[i];
        }
    }
    return NULL;
}

/* ---- Comparing and committing ---- */

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* What to do with f given the disk. conflict receives 1 when it differs and is not ours. */
static int compare(out_file *f, const pointer *ptr, int have_ptr, const outputs_options *o,
                   int *conflict)
{
    struct stat st;
    unsigned char *data = NULL;
    size_t len = 0;
    char sha[65];
    const char *recorded;

    *conflict = 0;
    if (lstat(f->path, &st) != 0) {
        if (errno != ENOENT) {
            return trisa_error_set(TRISA_EIO, "%s: %s", f->path, strerror(errno));
        }
        f->action = OUT_WRITE;
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        return trisa_error_set(TRISA_EEXISTS, "%s is a folder; nothing written", f->path);
    }
    if (!S_ISREG(st.st_mode)) {
        *conflict = 1;
        f->action = OUT_REPLACE;
        return 0;
    }
    f->action = OUT_REPLACE;
    if (st.st_size > (off_t)MAX_COMPARE ||
        trisa_file_read(&data, &len, f->path, MAX_COMPARE) != 0) {
        trisa_error_clear();
        *conflict = 1;
        return 0;
    }
    if (len == f->len && CRYPTO_memcmp(data, f->data, len) == 0) {
        trisa_free_secret(data, len);
        f->action = OUT_SKIP;
        return 0;
    }
    sha256_hex(sha, data, len);
    trisa_free_secret(data, len);
    recorded = have_ptr && strcmp(ptr->request, o->request) == 0 ? pointer_hash(ptr, f->rel) : NULL;
    if (recorded != NULL && strcmp(recorded, sha) == 0) {
        if (ptr->batch_id == o->batch_id) {
            /* what we wrote for this very result (an encrypted key differs every time) */
            memcpy(f->sha256, sha, sizeof(sha));
            f->action = OUT_SKIP;
            return 0;
        }
        if (o->supersedes > 0 && ptr->batch_id == o->supersedes) {
            return 0; /* ours, from the batch this request supersedes: replaced */
        }
    }
    *conflict = 1;
    return 0;
}

/* The pointer's text for the set as it will be on disk. */
static int pointer_text(trisa_buf *b, const out_set *s, const outputs_options *o)
{
    trisa_buf_printf(b, "%s %d\nrequest=%s\nbatch_id=%lld\n", POINTER_MAGIC, POINTER_VERSION,
                     o->request, o->batch_id);
    for (size_t i = 0; i < s->n; i++) {
        trisa_buf_printf(b, "file=%s %s\n", s->f[i].sha256, s->f[i].rel);
    }
    trisa_buf_puts(b, "end\n");
    return b->failed ? trisa_error_set(TRISA_ENOMEM, "out of memory") : 0;
}

/* The output folder and the identities' folders, noting which were made here. */
static int make_folders(out_set *s, int *made_root, char *made_dirs)
{
    struct stat st;
    int rc;
    if (stat(s->root, &st) != 0) {
        if ((rc = trisa_mkdir_p(s->root, 0755)) != 0) {
            return rc;
        }
        *made_root = 1;
    }
    for (size_t i = 0; i < s->ndirs; i++) {
        trisa_buf d = TRISA_BUF_INIT;
        if (s->dirs[i][0] == '\0') {
            continue;
        }
        trisa_buf_printf(&d, "%s/%s", s->root, s->dirs[i]);
        if (d.data != NULL && stat(d.data, &st) != 0) {
            made_dirs[i] = 1;
        }
        rc = d.data != NULL ? trisa_mkdir_p(d.data, 0755)
                            : trisa_error_set(TRISA_ENOMEM, "out of memory");
        trisa_buf_free(&d, 0);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* What to do with each file (and the pointer, last): an earlier run's temporary files go,
 * each target is compared with the disk, and a conflict stops everything. */
static int plan(out_set *s, const outputs_options *o)
{
    pointer ptr;
    trisa_buf ptext = TRISA_BUF_INIT;
    size_t conflicts = 0, first = 0;
    unsigned char *old = NULL;
    size_t oldlen = 0;
    out_file *pf;
    int have_ptr, rc = 0;

    for (size_t i = 0; i < s->n; i++) {
        char *dir = trisa_path_dir(s->f[i].path);
        const char *names[2] = {base_of(s->f[i].path), POINTER_FILE};
        if (dir != NULL) {
            trisa_file_clean_temps(dir, names, 2, 0);
        }
        free(dir);
    }
    have_ptr = pointer_load(&ptr, s->root) == 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        int conflict = 0;
        rc = compare(&s->f[i], &ptr, have_ptr, o, &conflict);
        if (rc == 0 && conflict && !o->force && conflicts++ == 0) {
            first = i;
        }
    }
    if (have_ptr) {
        pointer_free(&ptr);
    }
    if (rc != 0) {
        return rc;
    }
    if (conflicts > 0) {
        return trisa_error_set(TRISA_EEXISTS,
                               "%s exists and differs from the issued certificate's file%s%s; "
                               "nothing written (force to replace)",
                               s->f[first].path, conflicts > 1 ? " (and more: " : "",
                               conflicts > 1 ? "see the folder)" : "");
    }
    if ((rc = pointer_text(&ptext, s, o)) != 0 ||
        (rc = add_file(s, "", POINTER_FILE, &ptext, 0644, 0)) != 0) {
        trisa_buf_free(&ptext, 0);
        return rc;
    }
    pf = &s->f[s->n - 1];
    pf->action = OUT_REPLACE;
    if (trisa_file_read(&old, &oldlen, pf->path, 1024 * 1024) == 0 && oldlen == pf->len &&
        memcmp(old, pf->data, oldlen) == 0) {
        pf->action = OUT_SKIP;
    }
    trisa_error_clear();
    free(old);
    return 0;
}

/* The files that change, as one set of common's. A failure leaves every old file as it
 * was: nothing written. */
static int commit_set(out_set *s)
{
    trisa_file_set *set = NULL;
    int rc = trisa_file_set_new(&set);

    for (size_t i = 0; i < s->n && rc == 0; i++) {
        const out_file *f = &s->f[i];
        if (f->action != OUT_SKIP) {
            rc = trisa_file_set_add(set, f->path, f->data, f->len, f->mode,
                                    f->action == OUT_REPLACE ? TRISA_WRITE_REPLACE : 0);
        }
    }
    if (rc == 0 && (rc = trisa_file_set_commit(set)) != 0) {
        char msg[1024];
        set_str(msg, sizeof(msg), trisa_error_last());
        rc = trisa_error_set(rc, "%s; nothing written", msg);
    }
    trisa_file_set_free(set);
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        if (s->f[i].action != OUT_SKIP && strcmp(s->f[i].rel, POINTER_FILE) != 0) {
            s->written++;
        }
    }
    return rc;
}

/* A failed set: the folders made for it go when empty. */
static void undo(out_set *s, int made_root, const char *made_dirs)
{
    for (size_t i = 0; i < s->ndirs; i++) {
        trisa_buf d = TRISA_BUF_INIT;
        if (made_dirs[i]) {
            trisa_buf_printf(&d, "%s/%s", s->root, s->dirs[i]);
            if (d.data != NULL) {
                (void)rmdir(d.data);
            }
        }
        trisa_buf_free(&d, 0);
    }
    if (made_root) {
        (void)rmdir(s->root); /* only succeeds when nothing is in it */
    }
}

int outputs_commit(out_set *s, const outputs_options *o)
{
    char *made_dirs = calloc(s->ndirs + 1, sizeof(*made_dirs));
    int rc, lock_fd = -1, made_root = 0;

    s->written = 0;
    if (made_dirs == NULL) {
        return trisa_error_set(TRISA_ENOMEM, "out of memory");
    }
    if ((rc = make_folders(s, &made_root, made_dirs)) != 0) {
        goto done;
    }
    /* One writer at a time in a folder, whatever the request. */
    lock_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
        rc = trisa_error_set(TRISA_EIO, "%s: cannot lock: %s", s->root, strerror(errno));
        goto done;
    }
    if ((rc = plan(s, o)) == 0) {
        rc = commit_set(s);
    }
done:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    if (rc != 0) {
        undo(s, made_root, made_dirs);
    }
    free(made_dirs);
    return rc;
}
