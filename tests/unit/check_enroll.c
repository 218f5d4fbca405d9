/* enroll/: the journal format, the state directory, the lock, folder names, temp files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "enroll/internal.h"
#include "testutil.h"

static const char *const good =
    "trisa-enroll-journal 1\n"
    "kind=csr\n"
    "endpoint=https://iot.sectigo.com\n"
    "profile=42\n"
    "csr_sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
    "name=vasp.example\n"
    "state=uploaded\n"
    "generation=1\n"
    "attempt=1\n"
    "batch_id=7\n"
    "status=PROCESSING\n"
    "created=1700000000\n"
    "updated=1700000001\n"
    "sent_at=1700000000\n"
    "end\n";

static int parse(journal *j, const char *text)
{
    trisa_error_clear();
    return journal_parse(j, text, strlen(text), "STATE/journal");
}

/* The good text with one line replaced (or removed when repl is NULL). */
static char *with_line(const char *prefix, const char *repl)
{
    trisa_buf b = TRISA_BUF_INIT;
    const char *p = good;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p) + 1;
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            if (repl != NULL) {
                trisa_buf_puts(&b, repl);
            }
        } else {
            trisa_buf_append(&b, p, n);
        }
        p += n;
    }
    return trisa_buf_detach(&b, NULL);
}

START_TEST(journal_reads_what_it_writes)
{
    journal j, k;
    trisa_buf b = TRISA_BUF_INIT;
    ck_assert_int_eq(parse(&j, good), 0);
    ck_assert_int_eq(j.kind, KIND_CSR);
    ck_assert_int_eq(j.state, ST_UPLOADED);
    ck_assert_int_eq(j.batch_id, 7);
    ck_assert_int_eq(j.profile, 42);
    ck_assert_str_eq(j.name, "vasp.example");
    ck_assert_int_eq(journal_format(&b, &j), 0);
    ck_assert_str_eq(b.data, good);
    ck_assert_int_eq(journal_parse(&k, b.data, b.len, "x"), 0);
    ck_assert_mem_eq(&j, &k, sizeof(j));
    trisa_buf_free(&b, 0);
}
END_TEST

START_TEST(journal_values_stay_on_one_line)
{
    journal j, k;
    trisa_buf b = TRISA_BUF_INIT;
    ck_assert_int_eq(parse(&j, good), 0);
    set_str(j.error, sizeof(j.error), "HTTP 500:\nline two\r\x1b[2J");
    ck_assert_int_eq(journal_format(&b, &j), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "error=HTTP 500: line two  [2J\n"));
    ck_assert_int_eq(journal_parse(&k, b.data, b.len, "x"), 0);
    ck_assert_str_eq(k.error, "HTTP 500: line two  [2J");
    trisa_buf_free(&b, 0);
}
END_TEST

START_TEST(journal_from_a_newer_version_is_refused)
{
    journal j;
    char *t = with_line("trisa-enroll-journal", "trisa-enroll-journal 2\n");
    ck_assert_int_eq(parse(&j, t), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(),
                     "STATE/journal:1: written by a newer trisa-certkit (journal version 2; this "
                     "one reads 1): use the newer version");
    free(t);
}
END_TEST

START_TEST(journal_of_something_else_is_refused)
{
    journal j;
    ck_assert_int_eq(parse(&j, "csr_sha256=abc\nphase=uploading\n"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(),
                     "STATE/journal:1: not a trisa enrolment journal (it starts "
                     "'csr_sha256=abc'); move it away if it is not wanted");
    ck_assert_int_eq(parse(&j, "{\"state\": \"done\"}\n"), TRISA_ESTATE);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "not a trisa enrolment journal"));
}
END_TEST

START_TEST(journal_cut_short_is_refused)
{
    journal j;
    size_t cut[] = {0, 10, 40, strlen(good) - 4, strlen(good) - 1};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        char *t = strndup(good, cut[i]);
        ck_assert_int_eq(parse(&j, t), TRISA_ESTATE);
        ck_assert_msg(strstr(trisa_error_last(), "truncated") != NULL, "cut at %zu: %s", cut[i],
                      trisa_error_last());
        free(t);
    }
    /* without its end line, though every line is whole */
    {
        char *t = with_line("end\n", NULL);
        ck_assert_int_eq(parse(&j, t), TRISA_ESTATE);
        ck_assert_str_eq(trisa_error_last(),
                         "STATE/journal:14: no end line: the file is truncated");
        free(t);
    }
}
END_TEST

START_TEST(journal_corrupt_lines_are_refused_with_their_line)
{
    static const struct {
        const char *prefix, *line, *message;
    } cases[] = {
        {"state=", "state=finished\n",
         "STATE/journal:7: bad value for state: 'finished' (corrupt)"},
        {"batch_id=", "batch_id=-3\n", "STATE/journal:10: bad value for batch_id: '-3' (corrupt)"},
        {"batch_id=", "batch_id=7x\n", "STATE/journal:10: bad value for batch_id: '7x' (corrupt)"},
        {"csr_sha256=", "csr_sha256=XYZ\n",
         "STATE/journal:5: bad value for csr_sha256: 'XYZ' (corrupt)"},
        {"kind=", "kind=zip\n", "STATE/journal:2: bad value for kind: 'zip' (corrupt)"},
        {"name=", "colour=blue\n", "STATE/journal:6: unknown field 'colour' (corrupt)"},
        {"name=", "just words\n", "STATE/journal:6: expected key=value (corrupt)"},
        {"name=", "attempt=2\n", "STATE/journal:9: attempt given twice (corrupt)"},
        {"endpoint=", "endpoint=https://i\x7ft.sectigo.com\n",
         "STATE/journal:3: a control character in endpoint (corrupt)"},
        {"status=", "status=READY\r\n",
         "STATE/journal:11: a control character in status (corrupt)"},
        {"created=", NULL, "STATE/journal: created is missing (corrupt)"},
        {"batch_id=", NULL, "STATE/journal: state uploaded without a batch id (corrupt)"},
        {"profile=", NULL, "STATE/journal: a CSR request without profile or csr_sha256 (corrupt)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        journal j;
        char *t = with_line(cases[i].prefix, cases[i].line);
        ck_assert_int_eq(parse(&j, t), TRISA_ESTATE);
        ck_assert_str_eq(trisa_error_last(), cases[i].message);
        free(t);
    }
}
END_TEST

START_TEST(journal_with_a_nul_byte_is_refused)
{
    journal j;
    char text[64] = "trisa-enroll-journal 1\nkind=c";
    size_t n = strlen(text);
    text[n] = '\0';
    memcpy(text + n + 1, "sr\nend\n", 8);
    ck_assert_int_eq(journal_parse(&j, text, n + 8, "J"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(), "J: holds a NUL byte: not a journal (corrupt)");
}
END_TEST

START_TEST(journal_file_is_never_reset)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, "journal");
    journal j;
    unsigned char *data = NULL;
    size_t len = 0;
    tu_write(path, "trisa-enroll-journal 1\nkind=csr\n");
    ck_assert_int_eq(journal_load(&j, path), TRISA_ESTATE);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "truncated"));
    ck_assert_int_eq(trisa_file_read(&data, &len, path, 1024), 0);
    ck_assert_str_eq((char *)data, "trisa-enroll-journal 1\nkind=csr\n");
    free(data);
    ck_assert_int_eq(journal_load(&j, dir), TRISA_EINVAL); /* a folder: not a regular file */
    unlink(path);
    ck_assert_int_eq(journal_load(&j, path), TRISA_ENOTFOUND);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(journal_is_saved_private_and_whole)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, "journal");
    journal j, k;
    ck_assert_int_eq(parse(&j, good), 0);
    j.state = ST_DONE;
    ck_assert_int_eq(journal_save(&j, path), 0);
    ck_assert_int_eq(tu_mode(path), 0600);
    ck_assert_int_eq(journal_load(&k, path), 0);
    ck_assert_int_eq(k.state, ST_DONE);
    ck_assert_int_ge(k.updated, j.created);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(state_dir_follows_the_documented_order)
{
    char *out = NULL;
    setenv("TRISA_STATE_DIR", "/srv/trisa/", 1);
    ck_assert_int_eq(trisa_enroll_state_dir(&out, "/override"), 0);
    ck_assert_str_eq(out, "/override");
    free(out);
    ck_assert_int_eq(trisa_enroll_state_dir(&out, NULL), 0);
    ck_assert_str_eq(out, "/srv/trisa");
    free(out);
    unsetenv("TRISA_STATE_DIR");
    setenv("XDG_STATE_HOME", "/home/u/.st", 1);
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(trisa_enroll_state_dir(&out, NULL), 0);
    ck_assert_str_eq(out, geteuid() == 0 ? "/var/lib/trisa" : "/home/u/.st/trisa");
    free(out);
    if (geteuid() != 0) {
        unsetenv("XDG_STATE_HOME");
        ck_assert_int_eq(trisa_enroll_state_dir(&out, NULL), 0);
        ck_assert_str_eq(out, "/home/u/.local/state/trisa");
        free(out);
    }
}
END_TEST

START_TEST(entries_are_private_and_locked_one_at_a_time)
{
    char *dir = tu_tmpdir(), *state = tu_path(dir, "a/b/state");
    char key[65];
    entry e1, e2;
    entry_key_csr(key, "https://iot.sectigo.com", 42, "00ff");
    ck_assert_int_eq(entry_init(&e1, state, key), 0);
    ck_assert_int_eq(entry_init(&e2, state, key), 0);
    ck_assert_int_eq(entry_create(&e1, state, NULL, NULL), 0);
    ck_assert_int_eq(tu_mode(state), 0700);
    ck_assert_int_eq(tu_mode(e1.dir), 0700);
    ck_assert_int_eq(entry_create(&e2, state, NULL, NULL), 0);
    ck_assert_int_eq(entry_lock(&e1, 1, 0, NULL, NULL), 0);
    /* a second open of the lock (another process, as far as flock is concerned) */
    ck_assert_int_eq(entry_lock(&e2, 1, 0, NULL, NULL), TRISA_EBUSY);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "another process (pid "));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "not waiting (no-wait)"));
    /* waiting with a time limit ends at the limit */
    ck_assert_int_eq(entry_lock(&e2, 0, mono_ms() + 100, NULL, NULL), TRISA_EPENDING);
    entry_close(&e1);
    ck_assert_int_eq(entry_lock(&e2, 1, 0, NULL, NULL), 0);
    entry_close(&e2);
    free(state);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(request_keys_differ_by_every_field)
{
    char a[65], b[65], c[65], d[65], e[65];
    entry_key_csr(a, "https://iot.sectigo.com", 42, "aa");
    entry_key_csr(b, "https://iot.sectigo.com", 43, "aa");
    entry_key_csr(c, "https://iot.sectigo.com", 42, "ab");
    entry_key_csr(d, "https://other.example", 42, "aa");
    entry_key_batch(e, "https://iot.sectigo.com", 42);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_str_ne(a, d);
    ck_assert_str_ne(a, e);
    ck_assert_uint_eq(strlen(a), 64);
}
END_TEST

START_TEST(colliding_names_get_distinct_folders)
{
    char *used[8];
    size_t n = 0;
    static const char *const cns[] = {"vasp.example", "vasp.example", "a b",    "a_b",
                                      ".hidden",      NULL,           "a/../b", "vasp.example"};
    static const char *const want[] = {"vasp.example", "vasp.example-2", "a_b",
                                       "a_b-2",        "certificate-5",  "certificate-6",
                                       "a_.._b",       "vasp.example-3"};
    for (size_t i = 0; i < 8; i++) {
        char out[256];
        outputs_dir_name(out, sizeof(out), cns[i], i, used, n);
        ck_assert_str_eq(out, want[i]);
        used[n++] = strdup(out);
    }
    for (size_t i = 0; i < n; i++) {
        free(used[i]);
    }
}
END_TEST

START_TEST(temp_files_of_ours_are_cleaned_and_no_others)
{
    char *dir = tu_tmpdir();
    static const char *const names[] = {"cert.pem", "journal"};
    char *p1 = tu_path(dir, ".cert.pem.0123456789ab.tmp");
    char *p2 = tu_path(dir, ".journal.a1b2c3d4e5f6.tmp");
    char *p3 = tu_path(dir, ".cert.pem.0123456789AB.tmp"); /* not our pattern */
    char *p4 = tu_path(dir, ".other.pem.0123456789ab.tmp");
    char *p5 = tu_path(dir, "cert.pem");
    tu_write(p1, "x");
    tu_write(p2, "x");
    tu_write(p3, "x");
    tu_write(p4, "x");
    tu_write(p5, "x");
    /* too young for a caller that asks for an age */
    ck_assert_int_eq(trisa_file_clean_temps(dir, names, 2, 60), 0);
    ck_assert_int_eq(trisa_file_clean_temps(dir, names, 2, 0), 2);
    ck_assert_int_eq(tu_mode(p1), -1);
    ck_assert_int_eq(tu_mode(p2), -1);
    ck_assert_int_ne(tu_mode(p3), -1);
    ck_assert_int_ne(tu_mode(p4), -1);
    ck_assert_int_ne(tu_mode(p5), -1);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    free(p5);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(pointer_of_a_folder_is_read_or_ignored)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, POINTER_FILE);
    pointer p;
    tu_write(path,
             "trisa-enroll-outputs 1\n"
             "request=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
             "batch_id=9\n"
             "file=c1fe0425997c1631c75efdd501d131efac4758a63701c74ab044b7fbcf7de0e5 cert.pem\n"
             "file=c4e4afc23ed8b3d3aa8f5e5032d325b928eec6ba884dd29c82d1b0b47ccafede my dir/"
             "key.pem\n"
             "end\n");
    ck_assert_int_eq(pointer_load(&p, dir), 0);
    ck_assert_int_eq(p.batch_id, 9);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_str_eq(p.names[1], "my dir/key.pem");
    ck_assert_str_eq(p.hashes[0],
                     "c1fe0425997c1631c75efdd501d131efac4758a63701c74ab044b7fbcf7de0e5");
    pointer_free(&p);
    /* cut short, or another version: nobody's files */
    tu_write(path, "trisa-enroll-outputs 1\nrequest=00112233445566778899aabbccddeeff001122334455"
                   "66778899aabbccddeeff\nbatch_id=9\n");
    ck_assert_int_ne(pointer_load(&p, dir), 0);
    tu_write(path, "trisa-enroll-outputs 2\nend\n");
    ck_assert_int_ne(pointer_load(&p, dir), 0);
    free(path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(options_are_checked_before_anything)
{
    trisa_enroll_options o = TRISA_ENROLL_OPTIONS_INIT;
    ck_assert_int_eq(trisa_enroll_run(NULL, NULL), TRISA_EINVAL);
    o.version = 99;
    ck_assert_int_eq(trisa_enroll_run(NULL, &o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "trisa_enroll_options: version 99 not supported");
    o.version = TRISA_ENROLL_OPTIONS_VERSION;
    o.source = TRISA_ENROLL_FROM_CSR;
    o.csr_file = "req.csr";
    ck_assert_int_eq(trisa_enroll_run(NULL, &o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "a CSR is uploaded to a profile: none given");
    o.profile_id = 42;
    ck_assert_int_eq(trisa_enroll_run(NULL, &o), TRISA_EINVAL);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no trust anchor"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("enroll");
    TCase *j = tcase_create("journal");
    TCase *st = tcase_create("state");
    tcase_add_test(j, journal_reads_what_it_writes);
    tcase_add_test(j, journal_values_stay_on_one_line);
    tcase_add_test(j, journal_from_a_newer_version_is_refused);
    tcase_add_test(j, journal_of_something_else_is_refused);
    tcase_add_test(j, journal_cut_short_is_refused);
    tcase_add_test(j, journal_corrupt_lines_are_refused_with_their_line);
    tcase_add_test(j, journal_with_a_nul_byte_is_refused);
    tcase_add_test(j, journal_file_is_never_reset);
    tcase_add_test(j, journal_is_saved_private_and_whole);
    tcase_add_test(st, state_dir_follows_the_documented_order);
    tcase_add_test(st, entries_are_private_and_locked_one_at_a_time);
    tcase_add_test(st, request_keys_differ_by_every_field);
    tcase_add_test(st, colliding_names_get_distinct_folders);
    tcase_add_test(st, temp_files_of_ours_are_cleaned_and_no_others);
    tcase_add_test(st, pointer_of_a_folder_is_read_or_ignored);
    tcase_add_test(st, options_are_checked_before_anything);
    suite_add_tcase(s, j);
    suite_add_tcase(s, st);
    return s;
}

int main(void)
{
    return tu_run(suite()) == 0 ? 0 : 1;
}
