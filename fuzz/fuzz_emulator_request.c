/*
 * libFuzzer target: requests to `sectigo serve` as any client may send them, answered by
 * the emulator's own request code (emu_handle(): routing and {id} path segments, test-hook
 * faults, the body limit, the Bearer token check, every endpoint with its JSON or
 * multipart body, CSR and ZIP uploads, issuing, downloads, revocation, the hooks).
 * libmicrohttpd's HTTP parsing is not ours and is left out: the input is up to four
 * requests, each
 *
 *     METHOD PATH[?query]
 *     Header: value          (Content-Type, Authorization, Content-Length, Accept,
 *     ...                     User-Agent; others are ignored)
 *
 *     body
 *
 * separated by a line "@@NEXT@@". A client cannot forge the server's tokens, so in a
 * header or body "@ACCESS@" stands for a valid access token of the first account,
 * "@ACCESS2@" for one of an account of another accountId, "@EXPIRED@" for an expired
 * one and "@REFRESH@" for a refresh token; "@SERIAL@" is the serial number of the first
 * certificate the first account holds (for a revocation). Every input starts from an empty store
 * (its batches, balances and spent tokens), no faults and the real clock; the CA (an EC key, fast)
 * and the configuration below are made once.
 *
 * What must hold, besides no crash, leak or hang: a status from 100 to 599; a JSON reply
 * parses as JSON; a download is a ZIP the library's hostile-ZIP reader accepts, named by
 * a Content-Disposition our client reads.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "emulator/emu.h"
#include "transport/internal.h"
#include "trisa/bundle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small keys and no processing delay, so that issuing is quick; two accounts of
 * different accountIds; one profile a bundle format (42 PEM and legacy PKCS#12, 43 DER,
 * 44 PKCS#7, which authority 3 reaches through its profile id 45). */
static const char config[] =
    "{\"accounts\": ["
    " {\"username\": \"staging\", \"password\": \"staging-password\", \"userId\": 10,"
    "  \"accountId\": 42, \"authorities\": [1, 2, 3]},"
    " {\"username\": \"other\", \"password\": \"other-password\", \"userId\": 20,"
    "  \"accountId\": 43, \"authorities\": [1]},"
    " {\"username\": \"noauthority\", \"password\": \"noauthority-password\", \"userId\": 11,"
    "  \"accountId\": 42, \"authorities\": []},"
    " {\"username\": \"certlogin\", \"password\": \"certlogin-password\", \"userId\": 12,"
    "  \"accountId\": 42, \"authorities\": [1], \"certificateLogin\": true}],"
    " \"authorities\": ["
    " {\"id\": 1, \"ecosystemId\": 100, \"ecosystemName\": \"TRISA\", \"balance\": 6,"
    "  \"profileId\": 42, \"profileName\": \"TRISA Profile\"},"
    " {\"id\": 2, \"ecosystemId\": 100, \"ecosystemName\": \"TRISA\", \"balance\": 3,"
    "  \"profileId\": 43, \"profileName\": \"TRISA DER\"},"
    " {\"id\": 3, \"ecosystemId\": 100, \"ecosystemName\": \"TRISA\", \"balance\": 3,"
    "  \"profileId\": 45, \"issuingProfileId\": 44, \"profileName\": \"TRISA P7B\"}],"
    " \"profiles\": ["
    " {\"profileId\": 42, \"profileName\": \"TRISA Profile\", \"ca\": \"Fuzz CA\","
    "  \"algorithms\": [\"RSA2048\", \"EC256\"], \"serverKeyBits\": 1024, \"minRsaBits\": 1024,"
    "  \"minEcBits\": 256, \"bundle\": \"legacy\", \"validity\": \"1d\", \"parameters\": ["
    "  {\"name\": \"commonName\", \"required\": true,"
    "   \"validationPattern\": \"^[A-Za-z0-9*]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$\"},"
    "  {\"name\": \"dNSName\", \"validationPattern\": \"^[A-Za-z0-9*.[:space:]-]+$\"},"
    "  {\"name\": \"pkcs12Password\", \"required\": true, \"validationPattern\": \"^.{8,128}$\"},"
    "  {\"name\": \"organizationName\", \"validationPattern\": \"^.{1,64}$\"},"
    "  {\"name\": \"countryName\", \"validationPattern\": \"^[A-Z]{2}$\"}]},"
    " {\"profileId\": 43, \"profileName\": \"TRISA DER\", \"serverKeyBits\": 1024,"
    "  \"minRsaBits\": 1024, \"bundle\": \"modern\", \"csrBundle\": \"der\","
    "  \"parameters\": [{\"name\": \"commonName\"}, {\"name\": \"pkcs12Password\"}]},"
    " {\"profileId\": 44, \"profileName\": \"TRISA P7B\", \"serverKeyBits\": 1024,"
    "  \"minRsaBits\": 1024, \"bundle\": \"modern\", \"csrBundle\": \"p7b\","
    "  \"parameters\": [{\"name\": \"commonName\"}, {\"name\": \"pkcs12Password\"}]}],"
    " \"organization\": {\"organizationId\": 42, \"organizationName\": \"Fuzz\"},"
    " \"tokens\": {\"accessLifetime\": 600, \"refreshLifetime\": 3600, \"refreshNotBefore\": 0,"
    "  \"issuer\": \"https://fuzz.example\"},"
    " \"batches\": {\"processingDelay\": 0, \"expireAfter\": 3600},"
    " \"limits\": {\"maxBodyBytes\": 65536, \"inlineIssue\": 4}}";

static char dir[64];
static char db_path[sizeof(dir) + 64];
static trisa_emu *emu;
static char *tok_access, *tok_access2, *tok_expired, *tok_refresh;
static sqlite3 *reset_db;
static int trace; /* TRISA_FUZZ_TRACE=1: each request and its reply on stderr (seeds) */

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        abort();
    }
    close(fd);
}

/* A self-signed EC CA with its key, as SIAS_CA_PATH takes it. */
static void write_ca(const char *path)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = x ? X509_get_subject_name(x) : NULL;
    X509V3_CTX ctx;
    X509_EXTENSION *bc, *ku, *ski;
    BIO *b;

    if (k == NULL || x == NULL || !X509_set_version(x, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Fuzz CA", -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, n) || !X509_set_pubkey(x, k)) {
        abort();
    }
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    ski = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    if (bc == NULL || ku == NULL || ski == NULL || !X509_add_ext(x, bc, -1) ||
        !X509_add_ext(x, ku, -1) || !X509_add_ext(x, ski, -1) || !X509_sign(x, k, EVP_sha256()) ||
        (b = BIO_new_file(path, "w")) == NULL || !PEM_write_bio_X509(b, x) ||
        !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        abort();
    }
    BIO_free(b);
    X509_EXTENSION_free(bc);
    X509_EXTENSION_free(ku);
    X509_EXTENSION_free(ski);
    X509_free(x);
    EVP_PKEY_free(k);
}

static char *token(const emu_account *a, const char *typ, int64_t iat, int64_t exp)
{
    emu_claims c;
    char *t;

    memset(&c, 0, sizeof(c));
    snprintf(c.sub, sizeof(c.sub), "%s", a->subject);
    snprintf(c.typ, sizeof(c.typ), "%s", typ);
    snprintf(c.jti, sizeof(c.jti), "fuzz-%s-%s", a->username, typ);
    snprintf(c.iss, sizeof(c.iss), "%s", emu->cfg.issuer);
    c.iat = c.nbf = iat;
    c.exp = exp;
    if ((t = emu_jwt_sign(emu->jwt_key, sizeof(emu->jwt_key), &c)) == NULL) {
        abort();
    }
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    trisa_emu_options o = TRISA_EMU_OPTIONS_INIT;
    char conf[sizeof(dir) + 32], ca[sizeof(dir) + 32], state[sizeof(dir) + 32];
    struct stat st;
    int64_t now;

    (void)argc;
    (void)argv;
    trace = getenv("TRISA_FUZZ_TRACE") != NULL;
    /* In memory where there is a tmpfs: the store is made again for every input. */
    snprintf(dir, sizeof(dir), "%s/trisa-fuzz-emu.XXXXXX",
             stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(conf, sizeof(conf), "%s/emulator.json", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(db_path, sizeof(db_path), "%s/emulator.db", state);
    write_file(conf, config, sizeof(config) - 1);
    write_ca(ca);
    o.state_dir = state;
    o.config_path = conf;
    o.ca_path = ca;
    o.test_hooks = 1;
    if (trisa_emu_new(&emu, &o) != 0) {
        fprintf(stderr, "fuzz_emulator_request: %s\n", trisa_error_last());
        abort();
    }
    if (sqlite3_open_v2(db_path, &reset_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        abort();
    }
    sqlite3_busy_timeout(reset_db, 5000);
    now = emu_now(NULL) / 1000;
    tok_access = token(&emu->cfg.accounts[0], "access", now, now + 10L * 365 * 86400);
    tok_access2 = token(&emu->cfg.accounts[1], "access", now, now + 10L * 365 * 86400);
    tok_expired = token(&emu->cfg.accounts[0], "access", now - 7200, now - 3600);
    tok_refresh = token(&emu->cfg.accounts[0], "refresh", now, now + 10L * 365 * 86400);
    return 0;
}

/* An empty store (batches, certificates, spent tokens; the configuration's balances; ids
 * from 1 again), no faults, no recorded requests, the real clock. Through a connection of
 * our own: making the store again for every input costs ten times more. */
static void reset(void)
{
    static const char sql[] = "BEGIN;"
                              "DELETE FROM batches; DELETE FROM certs; DELETE FROM batch_csrs;"
                              "DELETE FROM spent_tokens; DELETE FROM sqlite_sequence;"
                              "UPDATE authorities SET balance = 6 WHERE id = 1;"
                              "UPDATE authorities SET balance = 3 WHERE id IN (2, 3);"
                              "COMMIT;";
    emu_hooks *h = &emu->hooks;
    char *err = NULL;

    if (sqlite3_exec(reset_db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "fuzz_emulator_request: reset: %s\n", err ? err : "?");
        abort();
    }
    for (size_t i = 0; i < h->nfaults; i++) {
        free(h->faults[i].path);
    }
    h->nfaults = 0;
    for (size_t i = 0; i < h->loglen; i++) {
        free(h->log[(h->logstart + i) % h->logcap].path);
        free(h->log[(h->logstart + i) % h->logcap].info);
    }
    h->loglen = h->logstart = 0;
    h->next_fault_id = h->next_seq = 1;
    atomic_store(&emu->clock_offset_ms, 0);
    emu->issuer.qlen = 0; /* batches too large to issue inline stay pending */
}

/* The serial of the first certificate the first account holds, or "00". */
static char *first_serial(void)
{
    emu_cert *certs = NULL;
    size_t n = 0;
    char *s;

    if (emu_store_find(emu->store, emu->cfg.accounts[0].account_id, NULL, NULL, &certs, &n) != 0 ||
        n == 0) {
        emu_certs_free(certs, n);
        return strdup("00");
    }
    s = strdup(certs[0].serial);
    emu_certs_free(certs, n);
    return s;
}

/* s with every placeholder replaced by its token (a new NUL-terminated copy). */
static char *substitute(const char *s, size_t len, size_t *out_len)
{
    static const struct {
        const char *name;
        char **value;
    } subs[] = {{"@ACCESS@", &tok_access},
                {"@ACCESS2@", &tok_access2},
                {"@EXPIRED@", &tok_expired},
                {"@REFRESH@", &tok_refresh}};
    trisa_buf b = TRISA_BUF_INIT;
    size_t i = 0;

    while (i < len) {
        size_t k;
        for (k = 0; k < sizeof(subs) / sizeof(subs[0]); k++) {
            size_t n = strlen(subs[k].name);
            if (len - i >= n && memcmp(s + i, subs[k].name, n) == 0) {
                trisa_buf_puts(&b, *subs[k].value);
                i += n;
                break;
            }
        }
        if (k == sizeof(subs) / sizeof(subs[0]) && len - i >= 8 &&
            memcmp(s + i, "@SERIAL@", 8) == 0) {
            char *serial = first_serial();
            trisa_buf_puts(&b, serial != NULL ? serial : "00");
            free(serial);
            i += 8;
        } else if (k == sizeof(subs) / sizeof(subs[0])) {
            trisa_buf_append(&b, s + i, 1);
            i++;
        }
    }
    trisa_buf_append(&b, "", 0);
    if (b.failed) {
        abort();
    }
    *out_len = b.len;
    return trisa_buf_detach(&b, NULL);
}

static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl != NULL ? nl : end;
}

/* The value of a header line "Name: value" (trimmed), or NULL when it is another. */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    size_t out_len;

    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return NULL;
    }
    line += n + 1;
    len -= n + 1;
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) {
        len--;
    }
    return substitute(line, len, &out_len);
}

static void check_reply(const emu_resp *r)
{
    if (r->status < 100 || r->status > 599) {
        abort();
    }
    if (r->content_type != NULL && strncmp(r->content_type, "application/json", 16) == 0 &&
        r->body != NULL) {
        /* With its NUL: a bare number ("6", a balance) ends there. */
        char *text = strndup((const char *)r->body, r->len);
        json_tokener *tok = json_tokener_new();
        json_object *o = json_tokener_parse_ex(tok, text, (int)r->len + 1);
        if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            strlen(text) != r->len) {
            fprintf(stderr, "not JSON: %.*s\n", (int)r->len, (const char *)r->body);
            abort(); /* the emulator wrote broken JSON */
        }
        json_object_put(o);
        free(text);
        json_tokener_free(tok);
    }
    if (r->disposition[0] != '\0') {
        trisa_bundle_zip *zip = NULL;
        char *name = trisa_sectigo_disposition_filename(r->disposition);
        if (name == NULL || trisa_bundle_zip_read(&zip, r->body, r->len, NULL) != 0) {
            fprintf(stderr, "download refused: %s: %s\n", r->disposition, trisa_error_last());
            abort();
        }
        trisa_bundle_zip_free(zip);
        free(name);
    }
}

/* One request of the input, [p, end). */
static void one_request(const char *p, const char *end)
{
    const char *eol = line_end(p, end), *sp;
    char method[16], *path = NULL, *ctype = NULL, *auth = NULL, *clen = NULL, *accept = NULL,
                     *agent = NULL, *body = NULL, scheme[32];
    size_t body_len = 0;
    emu_req q;
    emu_resp r;
    long cut, n;
    int hook, too_big = 0;

    sp = memchr(p, ' ', (size_t)(eol - p));
    if (sp == NULL || (size_t)(sp - p) >= sizeof(method)) {
        return;
    }
    snprintf(method, sizeof(method), "%.*s", (int)(sp - p), p);
    /* The path as sent, without the query string (as the handler takes it). */
    {
        const char *q = memchr(sp + 1, '?', (size_t)(eol - sp - 1));
        path = strndup(sp + 1, (size_t)((q != NULL ? q : eol) - sp - 1));
    }
    if (path == NULL) {
        abort();
    }
    for (p = eol < end ? eol + 1 : end; p < end;) {
        const char *e = line_end(p, end);
        size_t len = (size_t)(e - p);
        char *v;
        if (len == 0 || (len == 1 && *p == '\r')) {
            p = e < end ? e + 1 : end;
            break;
        }
        if ((v = header_value(p, len, "Content-Type")) != NULL) {
            free(ctype), ctype = v;
        } else if ((v = header_value(p, len, "Authorization")) != NULL) {
            free(auth), auth = v;
        } else if ((v = header_value(p, len, "Content-Length")) != NULL) {
            free(clen), clen = v;
        } else if ((v = header_value(p, len, "Accept")) != NULL) {
            free(accept), accept = v;
        } else if ((v = header_value(p, len, "User-Agent")) != NULL) {
            free(agent), agent = v;
        }
        p = e < end ? e + 1 : end;
    }
    if (p < end) {
        body = substitute(p, (size_t)(end - p), &body_len);
    }
    /* As the handler: a Content-Length over the limit is refused before the body. */
    if ((clen != NULL &&
         (trisa_parse_long(clen, 0, LONG_MAX, &n) != 0 || (size_t)n > emu->cfg.max_body)) ||
        body_len > emu->cfg.max_body) {
        too_big = 1;
    }
    /* A delay fault would only make the fuzzer wait. */
    for (size_t i = 0; i < emu->hooks.nfaults; i++) {
        emu->hooks.faults[i].delay_ms = 0;
    }
    memset(&q, 0, sizeof(q));
    q.emu = emu;
    q.method = method;
    q.path = path;
    q.content_type = ctype;
    q.auth = auth;
    q.body = (const unsigned char *)(too_big ? NULL : body);
    q.body_len = too_big ? 0 : body_len;
    if (emu_handle(emu, &q, &r, 1, too_big, &hook, &cut) == EMU_HANDLE_SEND) {
        check_reply(&r);
    }
    if (trace) {
        fprintf(stderr, "%s %s -> %d %.*s\n", method, path, r.status,
                r.content_type != NULL && strncmp(r.content_type, "application/o", 13) == 0
                    ? 0
                    : (int)(r.len < 300 ? r.len : 300),
                r.body != NULL ? (const char *)r.body : "");
    }
    if (!hook) {
        emu_reqinfo info = {ctype, accept, agent,
                            auth != NULL ? emu_auth_scheme(auth, scheme, sizeof(scheme)) : NULL,
                            body_len};
        emu_hooks_record(&emu->hooks, method, path, r.status, 0.5, &info);
    }
    free(r.body);
    free(path);
    free(ctype);
    free(auth);
    free(clen);
    free(accept);
    free(agent);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n@@NEXT@@\n";
    const char *p = (const char *)data, *end = p + size;

    if (size > 128 * 1024) {
        return 0;
    }
    reset();
    for (int i = 0; i < 4 && p < end; i++) {
        const char *next = NULL;
        for (const char *s = p; s + sizeof(sep) - 1 <= end; s++) {
            s = memchr(s, '\n', (size_t)(end - s));
            if (s == NULL || (size_t)(end - s) < sizeof(sep) - 1) {
                break;
            }
            if (memcmp(s, sep, sizeof(sep) - 1) == 0) {
                next = s;
                break;
            }
        }
        one_request(p, next != NULL ? next : end);
        p = next != NULL ? next + sizeof(sep) - 1 : end;
    }
    trisa_error_clear();
    return 0;
}
