/*
 * The emulator's persistent store: one SQLite database in WAL mode under the state
 * folder, so a batch created before a restart can be downloaded after it. One
 * connection behind a mutex for writes: every statement is short, and licence
 * arithmetic stays exact under concurrent requests.
 *
 * Licences are taken in the transaction that records the batch, and an accepted CSR
 * batch keeps its CSRs until the certificates are stored in a second transaction: a kill
 * at any moment leaves either no batch and every licence, or a batch that the next start
 * finishes issuing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emulator/emu.h"

struct emu_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *get_batch, *balance;
    char *path;
    unsigned long gen; /* unique per store, so a thread never reuses a stale reader */
    struct reader *readers;
};

/* Hot reads (batch detail, balance) go through a read-only connection per worker
 * thread: WAL lets them run beside each other and beside the writer, without the
 * store's mutex. The store closes them all. */
struct reader {
    sqlite3 *db;
    sqlite3_stmt *get_batch, *balance;
    struct reader *next;
};

static const char get_batch_sql[] =
    "SELECT id, order_number, profile_id, authority_id, user_id, size, created_ms, ready_ms,"
    " expires_ms, status, collected, name, reject_reason, profile_name, success, failed,"
    " account_id, issued FROM batches WHERE id=?";
static const char balance_sql[] = "SELECT balance FROM authorities WHERE id=?";

static unsigned long next_gen = 1;
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct {
    unsigned long gen;
    struct reader *r;
} my_reader;

static struct reader *reader_of(emu_store *s)
{
    struct reader *r;

    if (my_reader.gen == s->gen) {
        return my_reader.r;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    if (sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(r->db, get_batch_sql, -1, &r->get_batch, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, balance_sql, -1, &r->balance, NULL) != SQLITE_OK) {
        sqlite3_finalize(r->get_batch);
        sqlite3_finalize(r->balance);
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, 5000);
    pthread_mutex_lock(&s->lock);
    r->next = s->readers;
    s->readers = r;
    pthread_mutex_unlock(&s->lock);
    my_reader.gen = s->gen;
    my_reader.r = r;
    return r;
}

#define SCHEMA_VERSION 2

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA secure_delete=ON;"
    "CREATE TABLE IF NOT EXISTS authorities (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " order_number INTEGER NOT NULL, profile_id INTEGER NOT NULL, authority_id INTEGER NOT NULL,"
    " user_id INTEGER NOT NULL, size INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " ready_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, status TEXT NOT NULL,"
    " collected INTEGER NOT NULL DEFAULT 0, name TEXT NOT NULL, reject_reason TEXT NOT NULL,"
    " profile_name TEXT NOT NULL, success INTEGER NOT NULL, failed INTEGER NOT NULL, zip BLOB,"
    " account_id INTEGER NOT NULL DEFAULT 0, issued INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS certs (device_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " serial TEXT NOT NULL UNIQUE, batch_id INTEGER NOT NULL, profile_id INTEGER NOT NULL,"
    " common_name TEXT NOT NULL, created_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
    " reason INTEGER NOT NULL DEFAULT 0, revoked_ms INTEGER NOT NULL DEFAULT 0,"
    " account_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS certs_cn ON certs(common_name);"
    "CREATE TABLE IF NOT EXISTS batch_csrs (batch_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " der BLOB NOT NULL, PRIMARY KEY (batch_id, idx));"
    "CREATE TABLE IF NOT EXISTS spent_tokens (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);";

static int dberr(emu_store *s, const char *what)
{
    return trisa_error_set(TRISA_EIO, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int prepare(emu_store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : dberr(s, "prepare");
}

/* Every row of st (prepared and bound; the caller holds the lock) into a new array of
 * items of `size` bytes, each filled by read() from zeroes. *out and *n are set even on
 * failure, so that the caller frees the n items made. */
static int rows(emu_store *s, sqlite3_stmt *st, const char *what, size_t size,
                int (*read)(sqlite3_stmt *, void *), void **out, size_t *n)
{
    char *v = NULL;
    size_t cap = 0;
    int err = 0, rc;

    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            char *nv = realloc(v, (cap ? cap * 2 : 16) * size);
            if (nv == NULL) {
                err = TRISA_ENOMEM;
                break;
            }
            cap = cap ? cap * 2 : 16;
            v = nv;
        }
        memset(v + *n * size, 0, size);
        err = read(st, v + (*n)++ * size);
        if (err != 0) {
            break;
        }
    }
    if (err == 0 && rc != SQLITE_DONE) {
        err = dberr(s, what);
    }
    *out = v;
    return err;
}

/* A store written by an older emulator: add the account and issuing columns, and give
 * its batches and certificates the account of the user who made them. */
static int migrate(emu_store *s, const emu_config *c)
{
    static const char *const alters[] = {
        "ALTER TABLE batches ADD COLUMN account_id INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE batches ADD COLUMN issued INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE certs ADD COLUMN account_id INTEGER NOT NULL DEFAULT 0",
    };
    sqlite3_stmt *st = NULL;
    int version = 0, err = 0;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (version >= SCHEMA_VERSION) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(alters) / sizeof(alters[0]); i++) {
        sqlite3_exec(s->db, alters[i], NULL, NULL, NULL); /* "duplicate column": a new store */
    }
    if (sqlite3_prepare_v2(s->db, "UPDATE batches SET account_id = ? WHERE user_id = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        return dberr(s, "migrate");
    }
    for (size_t i = 0; i < c->naccounts; i++) {
        sqlite3_bind_int64(st, 1, c->accounts[i].account_id);
        sqlite3_bind_int64(st, 2, c->accounts[i].user_id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            err = dberr(s, "migrate");
            break;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (err == 0 && (sqlite3_exec(s->db,
                                  "UPDATE certs SET account_id = (SELECT account_id FROM batches"
                                  " WHERE batches.id = certs.batch_id);"
                                  "PRAGMA user_version = 2;",
                                  NULL, NULL, NULL) != SQLITE_OK)) {
        err = dberr(s, "migrate");
    }
    return err;
}

/* Create path 0600 when missing; take group and other bits off when present. */
static int private_file(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), rc = 0;

    if (fd < 0) {
        return trisa_error_set(TRISA_EIO, "store %s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || ((st.st_mode & 077) != 0 && fchmod(fd, st.st_mode & 0700) != 0)) {
        rc = trisa_error_set(TRISA_EIO, "store %s: %s", path, strerror(errno));
    }
    close(fd);
    return rc;
}

int emu_store_open(emu_store **out, const char *path, const emu_config *c)
{
    emu_store *s = calloc(1, sizeof(*s));
    sqlite3_stmt *st = NULL;
    int err;

    *out = NULL;
    if (s == NULL) {
        return TRISA_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(&gen_lock);
    s->gen = next_gen++;
    pthread_mutex_unlock(&gen_lock);
    s->path = strdup(path);
    if (s->path == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    /* The file first, 0600: SQLite would make it 0644 less the umask, and gives its -wal
     * and -shm files the database's mode. A database from an earlier run is narrowed. */
    if ((err = private_file(path)) != 0) {
        goto done;
    }
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = trisa_error_set(TRISA_EIO, "store %s: %s", path,
                              s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto done;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        err = dberr(s, "schema");
        goto done;
    }
    if ((err = migrate(s, c)) != 0) {
        goto done;
    }
    /* Authorities keep their balance across restarts; new ones start from the config. */
    if ((err = prepare(s, "INSERT OR IGNORE INTO authorities (id, balance) VALUES (?, ?)", &st)) !=
        0) {
        goto done;
    }
    for (size_t i = 0; i < c->nauthorities; i++) {
        sqlite3_bind_int64(st, 1, c->authorities[i].id);
        sqlite3_bind_int64(st, 2, c->authorities[i].balance);
        if (sqlite3_step(st) != SQLITE_DONE) {
            err = dberr(s, "seed authorities");
            goto done;
        }
        sqlite3_reset(st);
    }
    if (sqlite3_prepare_v2(s->db, get_batch_sql, -1, &s->get_batch, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, balance_sql, -1, &s->balance, NULL) != SQLITE_OK) {
        err = dberr(s, "prepare");
        goto done;
    }
    *out = s;
    s = NULL;
    err = 0;
done:
    sqlite3_finalize(st);
    emu_store_close(s);
    return err;
}

void emu_store_close(emu_store *s)
{
    if (s == NULL) {
        return;
    }
    while (s->readers != NULL) {
        struct reader *r = s->readers;
        s->readers = r->next;
        sqlite3_finalize(r->get_batch);
        sqlite3_finalize(r->balance);
        sqlite3_close(r->db);
        free(r);
    }
    if (my_reader.gen == s->gen) {
        my_reader.gen = 0;
        my_reader.r = NULL;
    }
    sqlite3_finalize(s->get_batch);
    sqlite3_finalize(s->balance);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

/* ---- transactions (the caller holds s->lock) ---- */

static int begin(emu_store *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : dberr(s, "begin");
}

static int commit(emu_store *s)
{
    return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : dberr(s, "commit");
}

static void rollback(emu_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Take count licences (negative: give them back). TRISA_EBALANCE when too few remain. */
static int take(emu_store *s, long authority_id, long count)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if ((err = prepare(s,
                       "UPDATE authorities SET balance = balance - ?1 WHERE id = ?2 AND "
                       "balance >= ?1",
                       &st)) != 0) {
        return err;
    }
    sqlite3_bind_int64(st, 1, count);
    sqlite3_bind_int64(st, 2, authority_id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        err = dberr(s, "take licences");
    } else if (sqlite3_changes(s->db) != 1) {
        err = trisa_error_set(TRISA_EBALANCE, "authority %ld has fewer than %ld licences left",
                              authority_id, count);
    }
    sqlite3_finalize(st);
    return err;
}

static int insert_certs(emu_store *s, long batch_id, long profile_id, long account_id,
                        int64_t created_ms, emu_cert *certs, size_t n)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if (n == 0) {
        return 0;
    }
    if ((err = prepare(s,
                       "INSERT INTO certs (serial, batch_id, profile_id, common_name,"
                       " created_ms, account_id) VALUES (?, ?, ?, ?, ?, ?)",
                       &st)) != 0) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, certs[i].serial, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, batch_id);
        sqlite3_bind_int64(st, 3, profile_id);
        sqlite3_bind_text(st, 4, certs[i].common_name ? certs[i].common_name : "", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, created_ms);
        sqlite3_bind_int64(st, 6, account_id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            err = dberr(s, "insert certificate");
            break;
        }
        certs[i].device_id = (long)sqlite3_last_insert_rowid(s->db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return err;
}

static int insert_batch(emu_store *s, emu_batch *b, const unsigned char *zip, size_t ziplen)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if ((err = prepare(s,
                       "INSERT INTO batches (order_number, profile_id, authority_id, user_id,"
                       " size, created_ms, ready_ms, expires_ms, status, name, reject_reason,"
                       " profile_name, success, failed, zip, account_id, issued) VALUES"
                       " ((SELECT COALESCE(MAX(id), 0) + 1001 FROM batches), ?, ?, ?, ?, ?, ?,"
                       " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, order_number",
                       &st)) != 0) {
        return err;
    }
    sqlite3_bind_int64(st, 1, b->profile_id);
    sqlite3_bind_int64(st, 2, b->authority_id);
    sqlite3_bind_int64(st, 3, b->user_id);
    sqlite3_bind_int64(st, 4, b->size);
    sqlite3_bind_int64(st, 5, b->created_ms);
    sqlite3_bind_int64(st, 6, b->ready_ms);
    sqlite3_bind_int64(st, 7, b->expires_ms);
    sqlite3_bind_text(st, 8, b->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, b->name ? b->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, b->reject_reason ? b->reject_reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, b->profile_name ? b->profile_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, b->success);
    sqlite3_bind_int64(st, 13, b->failed);
    if (zip != NULL) {
        sqlite3_bind_blob64(st, 14, zip, ziplen, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 14);
    }
    sqlite3_bind_int64(st, 15, b->account_id);
    sqlite3_bind_int(st, 16, b->issued);
    if (sqlite3_step(st) != SQLITE_ROW) {
        err = dberr(s, "insert batch");
    } else {
        b->id = (long)sqlite3_column_int64(st, 0);
        b->order_number = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return err;
}

static int insert_csrs(emu_store *s, long batch_id, const emu_blob *csrs, size_t n)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if (n == 0) {
        return 0;
    }
    if ((err = prepare(s, "INSERT INTO batch_csrs (batch_id, idx, der) VALUES (?, ?, ?)", &st)) !=
        0) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, batch_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_blob64(st, 3, csrs[i].data, csrs[i].len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            err = dberr(s, "insert CSR");
            break;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return err;
}

int emu_store_add_batch(emu_store *s, emu_batch *b, long licences, const emu_blob *csrs,
                        size_t ncsrs, emu_cert *certs, size_t ncerts, const unsigned char *zip,
                        size_t ziplen)
{
    int err;

    b->issued = ncsrs == 0;
    pthread_mutex_lock(&s->lock);
    if ((err = begin(s)) != 0) {
        goto done;
    }
    if ((licences > 0 && (err = take(s, b->authority_id, licences)) != 0) ||
        (err = insert_batch(s, b, ncsrs == 0 ? zip : NULL, ziplen)) != 0 ||
        (err = insert_csrs(s, b->id, csrs, ncsrs)) != 0 ||
        (err = insert_certs(s, b->id, b->profile_id, b->account_id, b->created_ms, certs,
                            ncerts)) != 0 ||
        (err = commit(s)) != 0) {
        rollback(s);
    }
done:
    pthread_mutex_unlock(&s->lock);
    return err;
}

static int read_id(sqlite3_stmt *st, void *item)
{
    *(long *)item = (long)sqlite3_column_int64(st, 0);
    return 0;
}

int emu_store_pending(emu_store *s, long **ids, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *v = NULL;
    int err;

    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s, "SELECT id FROM batches WHERE issued = 0 ORDER BY id", &st)) == 0) {
        err = rows(s, st, "pending", sizeof(long), read_id, &v, n);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (err != 0) {
        free(v);
        *n = 0;
        return err;
    }
    *ids = v;
    return 0;
}

void emu_blobs_free(emu_blob *b, size_t n)
{
    for (size_t i = 0; b != NULL && i < n; i++) {
        free(b[i].data);
    }
    free(b);
}

static int read_blob(sqlite3_stmt *st, void *item)
{
    emu_blob *b = item;
    b->len = (size_t)sqlite3_column_bytes(st, 0);
    if ((b->data = malloc(b->len ? b->len : 1)) == NULL) {
        return TRISA_ENOMEM;
    }
    memcpy(b->data, sqlite3_column_blob(st, 0), b->len);
    return 0;
}

int emu_store_get_csrs(emu_store *s, long id, emu_blob **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *v = NULL;
    int err;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s, "SELECT der FROM batch_csrs WHERE batch_id = ? ORDER BY idx", &st)) ==
        0) {
        sqlite3_bind_int64(st, 1, id);
        err = rows(s, st, "CSRs", sizeof(emu_blob), read_blob, &v, n);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (err != 0) {
        emu_blobs_free(v, *n);
        *n = 0;
        return err;
    }
    *out = v;
    return 0;
}

/* The fields of a pending batch that its certificates need. */
static int pending_batch(emu_store *s, long id, long *profile_id, long *account_id,
                         long *authority_id, long *size, int64_t *created_ms)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if ((err = prepare(s,
                       "SELECT profile_id, account_id, authority_id, size, created_ms FROM"
                       " batches WHERE id = ? AND issued = 0",
                       &st)) != 0) {
        return err;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        err = trisa_error_set(TRISA_ESTATE, "batch %ld is not waiting for its certificates", id);
    } else {
        *profile_id = (long)sqlite3_column_int64(st, 0);
        *account_id = (long)sqlite3_column_int64(st, 1);
        *authority_id = (long)sqlite3_column_int64(st, 2);
        *size = (long)sqlite3_column_int64(st, 3);
        *created_ms = sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    return err;
}

static int exec_id(emu_store *s, const char *sql, long id, const char *text)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if ((err = prepare(s, sql, &st)) != 0) {
        return err;
    }
    if (text != NULL) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, id);
    } else {
        sqlite3_bind_int64(st, 1, id);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        err = dberr(s, "update");
    }
    sqlite3_finalize(st);
    return err;
}

int emu_store_complete(emu_store *s, long id, emu_cert *certs, size_t n, const unsigned char *zip,
                       size_t ziplen)
{
    sqlite3_stmt *st = NULL;
    long profile_id, account_id, authority_id, size;
    int64_t created_ms;
    int err;

    pthread_mutex_lock(&s->lock);
    if ((err = begin(s)) != 0) {
        goto done;
    }
    if ((err = pending_batch(s, id, &profile_id, &account_id, &authority_id, &size, &created_ms)) !=
            0 ||
        (err = insert_certs(s, id, profile_id, account_id, created_ms, certs, n)) != 0) {
        goto fail;
    }
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE batches SET zip = ?, issued = 1, success = ? WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK) {
        err = dberr(s, "prepare");
        goto fail;
    }
    sqlite3_bind_blob64(st, 1, zip, ziplen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        err = dberr(s, "complete batch");
        goto fail;
    }
    if ((err = exec_id(s, "DELETE FROM batch_csrs WHERE batch_id = ?", id, NULL)) != 0 ||
        (err = commit(s)) != 0) {
        goto fail;
    }
    goto done;
fail:
    rollback(s);
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int emu_store_fail(emu_store *s, long id, const char *reason)
{
    long profile_id, account_id, authority_id, size;
    int64_t created_ms;
    int err;

    pthread_mutex_lock(&s->lock);
    if ((err = begin(s)) != 0) {
        goto done;
    }
    if ((err = pending_batch(s, id, &profile_id, &account_id, &authority_id, &size, &created_ms)) !=
            0 ||
        (err = take(s, authority_id, -size)) != 0 ||
        (err = exec_id(s,
                       "UPDATE batches SET status = 'FAILED', issued = 1, reject_reason = ?,"
                       " failed = size, success = 0 WHERE id = ?",
                       id, reason)) != 0 ||
        (err = exec_id(s, "DELETE FROM batch_csrs WHERE batch_id = ?", id, NULL)) != 0 ||
        (err = commit(s)) != 0) {
        rollback(s);
    }
done:
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* ---- reads ---- */

long emu_store_balance(emu_store *s, long authority_id)
{
    struct reader *r = reader_of(s);
    sqlite3_stmt *st = r ? r->balance : s->balance;
    long v = -1;

    if (r == NULL) {
        pthread_mutex_lock(&s->lock);
    }
    sqlite3_bind_int64(st, 1, authority_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (r == NULL) {
        pthread_mutex_unlock(&s->lock);
    }
    return v;
}

static long scalar(emu_store *s, const char *sql, long arg)
{
    sqlite3_stmt *st = NULL;
    long v = -1;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, arg);
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = (long)sqlite3_column_int64(st, 0);
        }
    }
    sqlite3_finalize(st);
    return v;
}

int emu_store_devices(emu_store *s, long account_id, long *ordered, long *issued)
{
    pthread_mutex_lock(&s->lock);
    *ordered = scalar(s,
                      "SELECT COALESCE(SUM(size), 0) FROM batches WHERE status = 'PROCESSING'"
                      " AND account_id = ?",
                      account_id);
    *issued = scalar(s, "SELECT COUNT(*) FROM certs WHERE account_id = ?", account_id);
    pthread_mutex_unlock(&s->lock);
    return (*ordered < 0 || *issued < 0) ? trisa_error_set(TRISA_EIO, "store: devices") : 0;
}

static char *coltext(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

int emu_store_get_batch(emu_store *s, long id, emu_batch *b)
{
    struct reader *r = reader_of(s);
    sqlite3_stmt *st = r ? r->get_batch : s->get_batch;
    int err = 0, rc;

    memset(b, 0, sizeof(*b));
    if (r == NULL) {
        pthread_mutex_lock(&s->lock);
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *status = sqlite3_column_text(st, 9);
        b->id = (long)sqlite3_column_int64(st, 0);
        b->order_number = (long)sqlite3_column_int64(st, 1);
        b->profile_id = (long)sqlite3_column_int64(st, 2);
        b->authority_id = (long)sqlite3_column_int64(st, 3);
        b->user_id = (long)sqlite3_column_int64(st, 4);
        b->size = (long)sqlite3_column_int64(st, 5);
        b->created_ms = sqlite3_column_int64(st, 6);
        b->ready_ms = sqlite3_column_int64(st, 7);
        b->expires_ms = sqlite3_column_int64(st, 8);
        snprintf(b->status, sizeof(b->status), "%s", status ? (const char *)status : "");
        b->collected = sqlite3_column_int(st, 10);
        b->name = coltext(st, 11);
        b->reject_reason = coltext(st, 12);
        b->profile_name = coltext(st, 13);
        b->success = (long)sqlite3_column_int64(st, 14);
        b->failed = (long)sqlite3_column_int64(st, 15);
        b->account_id = (long)sqlite3_column_int64(st, 16);
        b->issued = sqlite3_column_int(st, 17);
        if (b->name == NULL || b->reject_reason == NULL || b->profile_name == NULL) {
            err = TRISA_ENOMEM;
        }
    } else if (rc == SQLITE_DONE) {
        err = trisa_error_set(TRISA_ENOTFOUND, "batch %ld not found", id);
    } else {
        err = trisa_error_set(TRISA_EIO, "store: get batch: %s",
                              sqlite3_errmsg(sqlite3_db_handle(st)));
    }
    sqlite3_reset(st);
    if (r == NULL) {
        pthread_mutex_unlock(&s->lock);
    }
    if (err != 0) {
        emu_batch_clear(b);
    }
    return err;
}

void emu_batch_clear(emu_batch *b)
{
    free(b->name);
    free(b->reject_reason);
    free(b->profile_name);
    b->name = b->reject_reason = b->profile_name = NULL;
}

int emu_store_get_zip(emu_store *s, long id, unsigned char **zip, size_t *len)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    *zip = NULL;
    *len = 0;
    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s, "SELECT zip FROM batches WHERE id = ?", &st)) != 0) {
        goto done;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_BLOB) {
        err = trisa_error_set(TRISA_ENOTFOUND, "batch %ld has no bundle", id);
        goto done;
    }
    *len = (size_t)sqlite3_column_bytes(st, 0);
    *zip = malloc(*len ? *len : 1);
    if (*zip == NULL) {
        err = TRISA_ENOMEM;
        goto done;
    }
    memcpy(*zip, sqlite3_column_blob(st, 0), *len);
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int emu_store_mark_collected(emu_store *s, long id)
{
    int err;

    pthread_mutex_lock(&s->lock);
    err = exec_id(s, "UPDATE batches SET collected = 1 WHERE id = ?", id, NULL);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int emu_store_force(emu_store *s, long id, const char *status, int64_t ready_ms, int64_t expires_ms,
                    int collected, const char *reason)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s,
                       "UPDATE batches SET status = ?, ready_ms = COALESCE(?, ready_ms),"
                       " expires_ms = COALESCE(?, expires_ms), collected = ?,"
                       " reject_reason = ? WHERE id = ?",
                       &st)) != 0) {
        goto done;
    }
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    if (ready_ms >= 0) {
        sqlite3_bind_int64(st, 2, ready_ms);
    }
    if (expires_ms >= 0) {
        sqlite3_bind_int64(st, 3, expires_ms);
    }
    sqlite3_bind_int(st, 4, collected);
    sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        err = dberr(s, "force status");
    } else if (sqlite3_changes(s->db) != 1) {
        err = trisa_error_set(TRISA_ENOTFOUND, "batch %ld not found", id);
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

static int read_cert(sqlite3_stmt *st, void *item)
{
    emu_cert *c = item;
    const unsigned char *serial = sqlite3_column_text(st, 1);

    memset(c, 0, sizeof(*c));
    c->device_id = (long)sqlite3_column_int64(st, 0);
    snprintf(c->serial, sizeof(c->serial), "%s", serial ? (const char *)serial : "");
    c->batch_id = (long)sqlite3_column_int64(st, 2);
    c->profile_id = (long)sqlite3_column_int64(st, 3);
    c->common_name = coltext(st, 4);
    c->created_ms = sqlite3_column_int64(st, 5);
    c->revoked = sqlite3_column_int(st, 6);
    c->reason = sqlite3_column_int(st, 7);
    c->revoked_ms = sqlite3_column_int64(st, 8);
    c->account_id = (long)sqlite3_column_int64(st, 9);
    return c->common_name ? 0 : TRISA_ENOMEM;
}

#define CERT_COLUMNS                                                                               \
    "SELECT device_id, serial, batch_id, profile_id, common_name, created_ms, revoked, reason,"    \
    " revoked_ms, account_id FROM certs "

int emu_store_find(emu_store *s, long account_id, const char *cn, const char *serial,
                   emu_cert **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *v = NULL;
    int err;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s,
                       CERT_COLUMNS "WHERE account_id = ?3 AND (?1 IS NULL OR common_name = ?1)"
                                    " AND (?2 IS NULL OR serial = ?2) ORDER BY device_id",
                       &st)) == 0) {
        if (cn != NULL) {
            sqlite3_bind_text(st, 1, cn, -1, SQLITE_STATIC);
        }
        if (serial != NULL) {
            sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int64(st, 3, account_id);
        err = rows(s, st, "find", sizeof(emu_cert), read_cert, &v, n);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (err != 0) {
        emu_certs_free(v, *n);
        *n = 0;
        return err;
    }
    *out = v;
    return 0;
}

void emu_certs_free(emu_cert *c, size_t n)
{
    for (size_t i = 0; c != NULL && i < n; i++) {
        free(c[i].common_name);
    }
    free(c);
}

int emu_store_revoke(emu_store *s, long account_id, const char *serial, long profile_id, int reason,
                     int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int err = 0, rc;

    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s,
                       "SELECT revoked FROM certs WHERE serial = ? AND profile_id = ? AND"
                       " account_id = ?",
                       &st)) != 0) {
        goto done;
    }
    sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, profile_id);
    sqlite3_bind_int64(st, 3, account_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = trisa_error_set(TRISA_ENOTFOUND, "no certificate with serial %s in profile %ld",
                              serial, profile_id);
        goto done;
    }
    if (sqlite3_column_int(st, 0) != 0) {
        err = trisa_error_set(TRISA_ESTATE, "certificate %s is already revoked", serial);
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((err = prepare(s,
                       "UPDATE certs SET revoked = 1, reason = ?, revoked_ms = ? WHERE serial"
                       " = ?",
                       &st)) != 0) {
        goto done;
    }
    sqlite3_bind_int(st, 1, reason);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_text(st, 3, serial, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        err = dberr(s, "revoke");
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int emu_store_each_revoked(emu_store *s, void (*fn)(void *, const emu_cert *), void *arg)
{
    sqlite3_stmt *st = NULL;
    emu_cert c;
    int err = 0, rc;

    pthread_mutex_lock(&s->lock);
    if ((err = prepare(s, CERT_COLUMNS "WHERE revoked = 1 ORDER BY device_id", &st)) != 0) {
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (read_cert(st, &c) == 0) {
            fn(arg, &c);
        }
        free(c.common_name);
    }
    if (rc != SQLITE_DONE) {
        err = dberr(s, "revoked");
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int emu_store_spend_token(emu_store *s, const char *jti, int64_t exp, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int err = 0, rc;

    pthread_mutex_lock(&s->lock);
    /* Spent tokens past their exp can no longer be replayed anyway. */
    if (sqlite3_prepare_v2(s->db, "DELETE FROM spent_tokens WHERE exp < ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((err = prepare(s, "INSERT OR IGNORE INTO spent_tokens (jti, exp) VALUES (?, ?)", &st)) !=
        0) {
        goto done;
    }
    sqlite3_bind_text(st, 1, jti, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, exp);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        err = dberr(s, "spend token");
    } else if (sqlite3_changes(s->db) != 1) {
        err = trisa_error_set(TRISA_ESTATE, "refresh token already used");
    }
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return err;
}
