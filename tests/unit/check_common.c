#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/internal.h"
#include "testutil.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

START_TEST(strerror_gives_each_code_its_text)
{
    ck_assert_str_eq(trisa_strerror(TRISA_OK), "success");
    ck_assert_str_eq(trisa_strerror(TRISA_EEXISTS), "file already exists");
    ck_assert_str_eq(trisa_strerror(TRISA_EPASSWORD), "wrong password");
    ck_assert_str_eq(trisa_strerror(12345), "unknown error");
    /* Codes are part of the ABI: never renumbered. */
    ck_assert_int_eq(TRISA_EINVAL, -2);
    ck_assert_int_eq(TRISA_EBALANCE, -34);
}
END_TEST

START_TEST(error_last_is_never_null_and_records_code)
{
    trisa_error_clear();
    ck_assert_ptr_nonnull(trisa_error_last());
    ck_assert_str_eq(trisa_error_last(), "");
    ck_assert_int_eq(trisa_error_set(TRISA_ECONFIG, "a.conf:%d: field %s", 3, "CN"), TRISA_ECONFIG);
    ck_assert_str_eq(trisa_error_last(), "a.conf:3: field CN");
    ck_assert_int_eq(trisa_error_last_code(), TRISA_ECONFIG);
    trisa_error_prefix("loading %s", "x");
    ck_assert_str_eq(trisa_error_last(), "loading x: a.conf:3: field CN");
    ck_assert_int_eq(trisa_error_last_code(), TRISA_ECONFIG);
}
END_TEST

START_TEST(error_set_ssl_drains_openssl_queue_into_message)
{
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf("not a key", -1);
    ck_assert_ptr_null(PEM_read_bio_PrivateKey(b, &k, NULL, NULL));
    BIO_free(b);
    ck_assert_int_ne(ERR_peek_error(), 0);
    trisa_error_set_ssl(TRISA_EKEY, "k.pem: not a key");
    ck_assert_int_eq(ERR_peek_error(), 0);
    ck_assert_msg(strncmp(trisa_error_last(), "k.pem: not a key: ", 18) == 0, "got '%s'",
                  trisa_error_last());
    ck_assert_msg(strlen(trisa_error_last()) > 18, "no OpenSSL reason in '%s'", trisa_error_last());
}
END_TEST

START_TEST(secret_reads_pass_env_file_and_fd_forms)
{
    char *s = NULL;
    size_t n = 0;
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "pw");
    char spec[4200];
    int fds[2];

    ck_assert_int_eq(trisa_secret_read(&s, &n, "pass:hunter2", NULL), 0);
    ck_assert_str_eq(s, "hunter2");
    ck_assert_int_eq(n, 7);
    trisa_secret_free(s);

    setenv("TRISA_TEST_PW", "from env", 1);
    ck_assert_int_eq(trisa_secret_read(&s, &n, "env:TRISA_TEST_PW", NULL), 0);
    ck_assert_str_eq(s, "from env");
    trisa_secret_free(s);

    tu_write(f, "first line\r\nsecond line\n");
    snprintf(spec, sizeof(spec), "file:%s", f);
    ck_assert_int_eq(trisa_secret_read(&s, &n, spec, NULL), 0);
    ck_assert_str_eq(s, "first line");
    ck_assert_int_eq(n, 10);
    trisa_secret_free(s);

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "piped\n", 6), 6);
    close(fds[1]);
    snprintf(spec, sizeof(spec), "fd:%d", fds[0]);
    ck_assert_int_eq(trisa_secret_read(&s, &n, spec, NULL), 0);
    ck_assert_str_eq(s, "piped");
    trisa_secret_free(s);
    close(fds[0]);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(secret_rejects_bad_sources_with_named_errors)
{
    char *s = NULL;
    unsetenv("TRISA_TEST_UNSET");
    ck_assert_int_eq(trisa_secret_read(&s, NULL, "env:TRISA_TEST_UNSET", NULL), TRISA_ESECRET);
    ck_assert_str_eq(trisa_error_last(), "environment variable TRISA_TEST_UNSET is not set");
    ck_assert_int_eq(trisa_secret_read(&s, NULL, "file:/nonexistent/pw", NULL), TRISA_ESECRET);
    ck_assert_str_eq(trisa_error_last(), "/nonexistent/pw: cannot open: No such file or directory");
    ck_assert_int_eq(trisa_secret_read(&s, NULL, "fd:abc", NULL), TRISA_EINVAL);
    ck_assert_int_eq(trisa_secret_read(&s, NULL, "hunter2", NULL), TRISA_EINVAL);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "not understood"));
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(atomic_write_sets_mode_regardless_of_umask)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "key.pem");
    unsigned char *back = NULL;
    size_t n = 0;
    mode_t old = umask(0);
    ck_assert_int_eq(trisa_file_write_atomic(f, "secret", 6, 0600, 0), 0);
    umask(old);
    ck_assert_int_eq(tu_mode(f), 0600);
    ck_assert_int_eq(trisa_file_read(&back, &n, f, 100), 0);
    ck_assert_int_eq(n, 6);
    ck_assert_mem_eq(back, "secret", 6);
    free(back);
    ck_assert_int_eq(count_entries(dir), 1);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(atomic_write_refuses_existing_file_unless_replace)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "key.pem");
    unsigned char *back = NULL;
    tu_write(f, "old");
    ck_assert_int_eq(trisa_file_write_atomic(f, "new", 3, 0600, 0), TRISA_EEXISTS);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "already exists"));
    ck_assert_int_eq(trisa_file_read(&back, NULL, f, 100), 0);
    ck_assert_str_eq((char *)back, "old");
    free(back);
    ck_assert_int_eq(count_entries(dir), 1);
    ck_assert_int_eq(trisa_file_write_atomic(f, "new", 3, 0640, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_read(&back, NULL, f, 100), 0);
    ck_assert_str_eq((char *)back, "new");
    free(back);
    ck_assert_int_eq(tu_mode(f), 0640);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(atomic_write_does_not_follow_a_planted_symlink)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "key.pem");
    char *victim = tu_path(dir, "victim");
    unsigned char *back = NULL;
    tu_write(victim, "untouched");
    ck_assert_int_eq(symlink(victim, f), 0);
    /* Without REPLACE the link counts as an existing file. */
    ck_assert_int_eq(trisa_file_write_atomic(f, "x", 1, 0600, 0), TRISA_EEXISTS);
    /* With REPLACE neither the link nor the file it points to is replaced. */
    ck_assert_int_eq(trisa_file_write_atomic(f, "x", 1, 0600, TRISA_WRITE_REPLACE), TRISA_EINVAL);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "is a symbolic link"));
    ck_assert_int_eq(trisa_file_read(&back, NULL, victim, 100), 0);
    ck_assert_str_eq((char *)back, "untouched");
    free(back);
    {
        struct stat st;
        ck_assert_int_eq(lstat(f, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
    }
    tu_rmtree(dir);
    free(victim);
    free(f);
    free(dir);
}
END_TEST

START_TEST(atomic_write_into_missing_folder_fails_and_leaves_nothing)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "no/such/key.pem");
    ck_assert_int_eq(trisa_file_write_atomic(f, "x", 1, 0600, 0), TRISA_EIO);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "cannot create"));
    ck_assert_int_eq(count_entries(dir), 0);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(file_read_with_no_limit_reads_the_whole_file)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "f");
    unsigned char *back = NULL;
    size_t n = 0;
    tu_write(f, "0123456789");
    /* SIZE_MAX ("no limit") must not wrap the buffer size to 0. */
    ck_assert_int_eq(trisa_file_read(&back, &n, f, SIZE_MAX), 0);
    ck_assert_int_eq(n, 10);
    ck_assert_str_eq((char *)back, "0123456789");
    free(back);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(file_read_refuses_files_over_the_limit)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "big");
    unsigned char *back = NULL;
    tu_write(f, "0123456789");
    ck_assert_int_eq(trisa_file_read(&back, NULL, f, 9), TRISA_ETOOBIG);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(trisa_file_read(&back, NULL, dir, 9), TRISA_EINVAL);
    ck_assert_int_eq(trisa_file_read(&back, NULL, "/nonexistent", 9), TRISA_ENOTFOUND);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

START_TEST(buf_grows_formats_and_detaches)
{
    trisa_buf b = TRISA_BUF_INIT;
    char *s;
    size_t n;
    for (int i = 0; i < 1000; i++) {
        trisa_buf_printf(&b, "%d,", i % 10);
    }
    ck_assert_int_eq(b.len, 2000);
    s = trisa_buf_detach(&b, &n);
    ck_assert_int_eq(n, 2000);
    ck_assert_int_eq(strncmp(s, "0,1,2,", 6), 0);
    ck_assert_int_eq(s[2000], '\0');
    free(s);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(parse_long_accepts_only_whole_numbers_in_range)
{
    long v = 0;
    ck_assert_int_eq(trisa_parse_long("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(trisa_parse_long("101", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("4x", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long(" 4", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("-1", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("-1", -5, 100, &v), 0);
    ck_assert_int_eq(v, -1);
    /* fuzz_bundle_time: strtol() skips every white space, so "@\n5" was a time */
    ck_assert_int_eq(trisa_parse_long("\n5", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("\v5", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("\r5", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("+5", 0, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("- 5", -9, 100, &v), TRISA_EINVAL);
    ck_assert_int_eq(trisa_parse_long("-", -9, 100, &v), TRISA_EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Inputs that are not regular files, outputs that are not, sets of files              */

START_TEST(file_read_refuses_a_fifo_without_waiting_for_a_writer)
{
    char *dir = tu_tmpdir();
    char *fifo = tu_path(dir, "trisa.conf");
    unsigned char *back = NULL;
    char want[4200];
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    /* Nobody ever writes: the old open() blocked here until the test's timeout. */
    alarm(5);
    ck_assert_int_eq(trisa_file_read(&back, NULL, fifo, 100), TRISA_EINVAL);
    alarm(0);
    snprintf(want, sizeof(want), "%s: not a regular file (a FIFO)", fifo);
    ck_assert_str_eq(trisa_error_last(), want);
    ck_assert_ptr_null(back);
    tu_rmtree(dir);
    free(fifo);
    free(dir);
}
END_TEST

START_TEST(file_read_with_the_largest_limit_does_not_wrap)
{
    char *dir = tu_tmpdir();
    char *f = tu_path(dir, "f");
    unsigned char *back = NULL;
    size_t n = 0;
    tu_write(f, "0123456789");
    ck_assert_int_eq(trisa_file_read(&back, &n, f, SIZE_MAX), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq((char *)back, "0123456789");
    free(back);
    ck_assert_int_eq(trisa_file_read(&back, &n, f, SIZE_MAX - 1), 0);
    ck_assert_uint_eq(n, 10);
    free(back);
    /* Exactly the limit is fine; one byte more is not. */
    ck_assert_int_eq(trisa_file_read(&back, &n, f, 10), 0);
    free(back);
    ck_assert_int_eq(trisa_file_read(&back, &n, f, 0), TRISA_ETOOBIG);
    tu_rmtree(dir);
    free(f);
    free(dir);
}
END_TEST

/* A reader for a FIFO: returns what it read (caller frees). */
typedef struct fifo_reader {
    const char *path;
    char got[256];
} fifo_reader;

static void *read_fifo(void *arg)
{
    fifo_reader *r = arg;
    int fd = open(r->path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, r->got, sizeof(r->got) - 1) : -1;
    r->got[n > 0 ? n : 0] = '\0';
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

START_TEST(atomic_write_writes_into_a_fifo_and_never_replaces_it)
{
    char *dir = tu_tmpdir();
    char *fifo = tu_path(dir, "out.csr");
    fifo_reader r = {fifo, ""};
    pthread_t t;
    struct stat st;
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    /* Nobody reads: an error at once, not a hang. */
    alarm(5);
    ck_assert_int_eq(trisa_file_write_atomic(fifo, "x", 1, 0644, TRISA_WRITE_REPLACE), TRISA_EIO);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no process reads from this FIFO"));
    ck_assert_int_eq(pthread_create(&t, NULL, read_fifo, &r), 0);
    /* The reader opens the FIFO when it gets to run; until then there is none. */
    for (int i = 0; i < 500; i++) {
        if (trisa_file_write_atomic(fifo, "CSR\n", 4, 0644, 0) == 0) {
            break;
        }
        ck_assert_int_eq(trisa_error_last_code(), TRISA_EIO);
        usleep(10000);
    }
    pthread_join(t, NULL);
    alarm(0);
    ck_assert_str_eq(r.got, "CSR\n");
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(count_entries(dir), 1);
    tu_rmtree(dir);
    free(fifo);
    free(dir);
}
END_TEST

START_TEST(atomic_write_to_a_character_device_writes_through_it)
{
    char *dir = tu_tmpdir();
    char *null = tu_path(dir, "null");
    char *link = tu_path(dir, "stdout");
    struct stat st;
    /* A private copy of /dev/null (1, 3), so that the old behaviour, replacing the node
     * with a file, could do no harm here. */
    if (mknod(null, S_IFCHR | 0666, makedev(1, 3)) != 0) {
        fprintf(stderr, "skipped: cannot make a device node here\n");
        tu_rmtree(dir);
        free(null);
        free(link);
        free(dir);
        return;
    }
    ck_assert_int_eq(trisa_file_write_atomic(null, "gone", 4, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_write_atomic(null, "gone", 4, 0644, 0), 0);
    ck_assert_int_eq(lstat(null, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    /* Through a symbolic link, as /dev/stdout is one. */
    ck_assert_int_eq(symlink(null, link), 0);
    ck_assert_int_eq(trisa_file_write_atomic(link, "gone", 4, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(count_entries(dir), 2);
    tu_rmtree(dir);
    free(null);
    free(link);
    free(dir);
}
END_TEST

START_TEST(atomic_write_refuses_a_folder_as_the_file)
{
    char *dir = tu_tmpdir();
    char want[4200];
    ck_assert_int_eq(trisa_file_write_atomic(dir, "x", 1, 0644, TRISA_WRITE_REPLACE), TRISA_EINVAL);
    snprintf(want, sizeof(want), "%s: is a folder, not a file (not replaced)", dir);
    ck_assert_str_eq(trisa_error_last(), want);
    ck_assert_int_eq(trisa_file_check_target(dir, TRISA_WRITE_REPLACE), TRISA_EINVAL);
    ck_assert_int_eq(count_entries(dir), 0);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static char *slurp(const char *path)
{
    unsigned char *b = NULL;
    ck_assert_int_eq(trisa_file_read(&b, NULL, path, 1 << 20), 0);
    return (char *)b;
}

START_TEST(file_set_writes_all_files_or_leaves_every_old_one)
{
    char *dir = tu_tmpdir();
    char *key = tu_path(dir, "key.pem"), *csr = tu_path(dir, "req.csr");
    char *folder = tu_path(dir, "all.csr");
    char *missing = tu_path(dir, "no/such/dir/x");
    trisa_file_set *set = NULL;
    char *got;

    tu_write(key, "old key");
    tu_write(csr, "old csr");
    ck_assert_int_eq(mkdir(folder, 0755), 0);
    /* A folder where a file should go: refused before anything is written. */
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    ck_assert_int_eq(trisa_file_set_add(set, csr, "new csr", 7, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, key, "new key", 7, 0600, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, folder, "both", 4, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, key, "again", 5, 0600, 0), TRISA_EINVAL);
    ck_assert_int_eq(trisa_file_set_commit(set), TRISA_EINVAL);
    trisa_file_set_free(set);
    /* A write that fails after the others were made (here: no such folder). */
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    ck_assert_int_eq(trisa_file_set_add(set, csr, "new csr", 7, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, key, "new key", 7, 0600, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, missing, "both", 4, 0644, 0), 0);
    ck_assert_int_eq(trisa_file_set_commit(set), TRISA_EIO);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no/such/dir/x: cannot create"));
    trisa_file_set_free(set);
    got = slurp(key);
    ck_assert_str_eq(got, "old key");
    free(got);
    got = slurp(csr);
    ck_assert_str_eq(got, "old csr");
    free(got);
    ck_assert_int_eq(count_entries(dir), 3); /* no temporary or kept file left */
    /* And when everything can be written, all of it is. */
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    ck_assert_int_eq(trisa_file_set_add(set, csr, "new csr", 7, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, key, "new key", 7, 0600, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_commit(set), 0);
    trisa_file_set_free(set);
    got = slurp(key);
    ck_assert_str_eq(got, "new key");
    free(got);
    ck_assert_int_eq(tu_mode(key), 0600);
    ck_assert_int_eq(count_entries(dir), 3);
    tu_rmtree(dir);
    free(key);
    free(csr);
    free(folder);
    free(missing);
    free(dir);
}
END_TEST

/* The disk fills up (RLIMIT_FSIZE) while the second file is written: the first, already
 * written under its temporary name, never replaces the old one. */
START_TEST(file_set_keeps_the_old_key_when_the_disk_fills_up)
{
    char *dir = tu_tmpdir();
    char *csr = tu_path(dir, "req.csr"), *key = tu_path(dir, "key.pem");
    char big[4096];
    trisa_file_set *set = NULL;
    struct rlimit rl = {2048, 2048};
    char *got;

    memset(big, 'K', sizeof(big));
    tu_write(csr, "old csr");
    tu_write(key, "old key");
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    ck_assert_int_eq(trisa_file_set_add(set, csr, "new csr", 7, 0644, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_add(set, key, big, sizeof(big), 0600, TRISA_WRITE_REPLACE), 0);
    ck_assert_int_eq(trisa_file_set_commit(set), TRISA_EIO);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "key.pem: cannot write: File too large"));
    trisa_file_set_free(set);
    got = slurp(csr);
    ck_assert_str_eq(got, "old csr");
    free(got);
    got = slurp(key);
    ck_assert_str_eq(got, "old key");
    free(got);
    ck_assert_int_eq(count_entries(dir), 2);
    tu_rmtree(dir);
    free(csr);
    free(key);
    free(dir);
}
END_TEST

/* A set of many files in many folders (an output set of a large batch) never holds all
 * of them open: it commits under a limit of 100 descriptors, and a failure in its last
 * file removes every one it made. */
START_TEST(file_set_of_many_files_keeps_few_descriptors_open)
{
    char *dir = tu_tmpdir();
    char *paths[300], *first = tu_path(dir, "d0"), *lost = tu_path(dir, "none/f");
    struct rlimit rl = {100, 100};
    trisa_file_set *set = NULL;
    char *got;

    for (size_t i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d%zu", i / 6);
        paths[i] = tu_path(dir, name);
        (void)mkdir(paths[i], 0755);
        free(paths[i]);
        snprintf(name, sizeof(name), "d%zu/f%zu", i / 6, i);
        paths[i] = tu_path(dir, name);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    for (size_t i = 0; i < 300; i++) {
        ck_assert_int_eq(trisa_file_set_add(set, paths[i], paths[i], strlen(paths[i]), 0644, 0), 0);
    }
    ck_assert_int_eq(trisa_file_set_commit(set), 0);
    trisa_file_set_free(set);
    got = slurp(paths[299]);
    ck_assert_str_eq(got, paths[299]);
    free(got);
    ck_assert_int_eq(count_entries(dir), 50);
    /* Again, replacing them all, with a last file whose folder is missing: every old file
     * stays, no temporary file is left. */
    ck_assert_int_eq(trisa_file_set_new(&set), 0);
    for (size_t i = 0; i < 299; i++) {
        ck_assert_int_eq(trisa_file_set_add(set, paths[i], "new", 3, 0644, TRISA_WRITE_REPLACE), 0);
    }
    ck_assert_int_eq(trisa_file_set_add(set, lost, "new", 3, 0644, 0), 0);
    ck_assert_int_eq(trisa_file_set_commit(set), TRISA_EIO);
    trisa_file_set_free(set);
    got = slurp(paths[0]);
    ck_assert_str_eq(got, paths[0]);
    free(got);
    ck_assert_int_eq(count_entries(first), 6);
    for (size_t i = 0; i < 300; i++) {
        free(paths[i]);
    }
    tu_rmtree(dir);
    free(first);
    free(lost);
    free(dir);
}
END_TEST

START_TEST(mkdir_p_makes_every_missing_parent)
{
    char *dir = tu_tmpdir();
    char *deep = tu_path(dir, "a/b//c/");
    char *file = tu_path(dir, "a/f");
    char *under = tu_path(dir, "a/f/g");
    struct stat st;
    ck_assert_int_eq(trisa_mkdir_p(deep, 0700), 0);
    ck_assert_int_eq(stat(deep, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(trisa_mkdir_p(deep, 0700), 0); /* again: nothing to do */
    tu_write(file, "x");
    ck_assert_int_eq(trisa_mkdir_p(under, 0700), TRISA_EIO);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "a/f: exists and is not a folder"));
    ck_assert_int_eq(trisa_mkdir_p("", 0700), TRISA_EINVAL);
    tu_rmtree(dir);
    free(deep);
    free(file);
    free(under);
    free(dir);
}
END_TEST

/* A private folder given as a symbolic link to a folder is refused with the flag (also
 * with a trailing slash); parents that are links are followed, and without the flag the
 * link is used as before. */
START_TEST(mkdir_p_refuses_a_symlink_as_the_last_folder_when_asked)
{
    char *dir = tu_tmpdir();
    char *real = tu_path(dir, "real");
    char *link = tu_path(dir, "link");
    char *slash = tu_path(dir, "link/");
    char *below = tu_path(dir, "link/state");
    char expect[4096];
    struct stat st;
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink("real", link), 0);
    ck_assert_int_eq(trisa_mkdir_p_flags(link, 0700, TRISA_MKDIR_NO_SYMLINK), TRISA_EIO);
    snprintf(expect, sizeof(expect), "%s: is a symbolic link, not a folder", link);
    ck_assert_str_eq(trisa_error_last(), expect);
    ck_assert_int_eq(trisa_mkdir_p_flags(slash, 0700, TRISA_MKDIR_NO_SYMLINK), TRISA_EIO);
    ck_assert_str_eq(trisa_error_last(), expect);
    ck_assert_int_eq(trisa_mkdir_p_flags(below, 0700, TRISA_MKDIR_NO_SYMLINK), 0);
    ck_assert_int_eq(lstat(below, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(trisa_mkdir_p(link, 0700), 0);
    tu_rmtree(dir);
    free(real);
    free(link);
    free(slash);
    free(below);
    free(dir);
}
END_TEST

/* An output folder other users read is 0755 whatever the umask; a folder that exists
 * keeps its mode. */
START_TEST(mkdir_p_gives_made_folders_exactly_the_mode)
{
    char *dir = tu_tmpdir();
    char *outer = tu_path(dir, "out");
    char *inner = tu_path(dir, "out/in");
    struct stat st;
    mode_t old = umask(077);
    ck_assert_int_eq(trisa_mkdir_p(inner, 0755), 0);
    ck_assert_int_eq(stat(outer, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755);
    ck_assert_int_eq(stat(inner, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755);
    ck_assert_int_eq(chmod(inner, 0711), 0);
    umask(0);
    ck_assert_int_eq(trisa_mkdir_p(inner, 0700), 0);
    ck_assert_int_eq(stat(inner, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0711);
    umask(old);
    tu_rmtree(dir);
    free(outer);
    free(inner);
    free(dir);
}
END_TEST

static const struct {
    const char *in, *out;
} printable_cases[] = {
    {"plain.p12", "plain.p12"},
    {"\x1b[2Jx.pem", "\\x1b[2Jx.pem"}, /* ESC would clear the screen */
    {"evil\xe2\x80\xae"
     "mep.p12",
     "evil\\u202Emep.p12"},                   /* U+202E reverses the line */
    {"caf\xc3\xa9.pem", "caf\xc3\xa9.pem"},   /* printable UTF-8 stays */
    {"bad\xff\xc3.pem", "bad\\xff\\xc3.pem"}, /* not UTF-8 */
    {"nb\xc2\xa0sp", "nb\\u00A0sp"},          /* U+00A0 is made visible */
    {"\xef\xbb\xbf"
     "bom",
     "\\uFEFFbom"}, /* BOM */
    {"over\xc0\xaf"
     "long",
     "over\\xc0\\xaf"
     "long"}, /* overlong '/' */
    {"bell\x07", "bell\\x07"},
    {"", ""}, /* nothing: the buffer never grows (found by fuzz_lineage: memcpy of NULL) */
};

START_TEST(printable_escapes_what_a_terminal_would_act_on)
{
    char out[160];
    ck_assert_str_eq(trisa_printable(out, sizeof(out), printable_cases[_i].in),
                     printable_cases[_i].out);
}
END_TEST

START_TEST(printable_cuts_long_names_on_a_character_boundary)
{
    char in[400], out[20];
    for (size_t i = 0; i + 2 < sizeof(in); i += 2) {
        in[i] = '\xc3';
        in[i + 1] = '\xa9';
    }
    in[sizeof(in) - 2] = '\0';
    trisa_printable(out, sizeof(out), in);
    ck_assert_uint_le(strlen(out), 19);
    ck_assert_str_eq(out + strlen(out) - 3, "...");
    ck_assert_int_ne((unsigned char)out[strlen(out) - 4], 0xc3); /* no half character */
}
END_TEST

/* Found by fuzz_bundle_time: "" was copied from a buffer that was never allocated. */
START_TEST(printable_of_an_empty_text_is_empty)
{
    char out[8] = "xxxxxxx";
    ck_assert_str_eq(trisa_printable(out, sizeof(out), ""), "");
    ck_assert_str_eq(trisa_printable(out, sizeof(out), NULL), "");
}
END_TEST

/* ---- The one JSON escaper: expected bytes, both rule sets ---- */

static const struct {
    const char *in;
    unsigned flags;
    const char *want;
} json_cases[] = {
    {"plain", 0, "\"plain\""},
    {"a\"b\\c", 0, "\"a\\\"b\\\\c\""},
    {"l1\nl2\r\t", 0, "\"l1\\nl2\\r\\t\""},
    {"\x01\x1f\x7f", 0, "\"\\u0001\\u001f\x7f\""},
    {"<a&b>", 0, "\"<a&b>\""},
    {"<a&b>", TRISA_JSON_GO, "\"\\u003ca\\u0026b\\u003e\""},
    {"caf\xc3\xa9 \xe2\x82\xac", 0, "\"caf\xc3\xa9 \xe2\x82\xac\""},
    {"x\xe2\x80\xa8y\xe2\x80\xa9", 0, "\"x\\u2028y\\u2029\""},
    {"bad\xff\xc3", 0, "\"bad\\u00ff\\u00c3\""},
    {"bad\xff\xc3", TRISA_JSON_GO, "\"bad\\ufffd\\ufffd\""},
    {"\xc0\xaf", TRISA_JSON_GO, "\"\\ufffd\\ufffd\""}, /* an overlong '/' is not UTF-8 */
    {"", 0, "\"\""},
};

START_TEST(json_str_escapes_as_pinned)
{
    trisa_buf b = TRISA_BUF_INIT;
    ck_assert_int_eq(trisa_json_str(&b, json_cases[_i].in, json_cases[_i].flags), 0);
    ck_assert_str_eq(b.data, json_cases[_i].want);
    trisa_buf_free(&b, 0);
}
END_TEST

START_TEST(json_str_of_null_is_null)
{
    trisa_buf b = TRISA_BUF_INIT;
    ck_assert_int_eq(trisa_json_str(&b, NULL, 0), 0);
    ck_assert_str_eq(b.data, "null");
    trisa_buf_free(&b, 0);
}
END_TEST

/* ---- Names and fingerprints: one format ---- */

START_TEST(name_string_is_rfc4514_last_rdn_first_utf8_kept)
{
    X509_NAME *n = X509_NAME_new();
    char *s;
    ck_assert_ptr_nonnull(n);
    /* Encoded as a CA does: C, O, OU, CN; a multi-valued RDN; specials; UTF-8. */
    ck_assert(
        X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"US", -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                         (const unsigned char *)"Example VASP, Ltd", -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8,
                                         (const unsigned char *)"Z\xc3\xbcrich+Ops", -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                         (const unsigned char *)"api.example.com", -1, -1, 0));
    ck_assert(X509_NAME_add_entry_by_txt(n, "L", MBSTRING_UTF8, (const unsigned char *)"#1 <x>", -1,
                                         -1, -1));
    s = trisa_name_string(n);
    ck_assert_str_eq(s, "L=\\#1 \\<x\\>+CN=api.example.com,OU=Z\xc3\xbcrich\\+Ops,"
                        "O=Example VASP\\, Ltd,C=US");
    free(s);
    X509_NAME_free(n);
}
END_TEST

START_TEST(fingerprint_text_is_lower_case_hex_with_colons)
{
    unsigned char md[32];
    char out[TRISA_FINGERPRINT_TEXT];
    for (size_t i = 0; i < 32; i++) {
        md[i] = (unsigned char)(i * 8 + 0x0a);
    }
    trisa_fingerprint_text(out, md);
    ck_assert_str_eq(out, "0a:12:1a:22:2a:32:3a:42:4a:52:5a:62:6a:72:7a:82:8a:92:9a:a2:aa:b2:ba:"
                          "c2:ca:d2:da:e2:ea:f2:fa:02");
    ck_assert_uint_eq(strlen(out) + 1, TRISA_FINGERPRINT_TEXT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("common");

    tcase_add_test(tc, strerror_gives_each_code_its_text);
    tcase_add_test(tc, error_last_is_never_null_and_records_code);
    tcase_add_test(tc, error_set_ssl_drains_openssl_queue_into_message);
    tcase_add_test(tc, secret_reads_pass_env_file_and_fd_forms);
    tcase_add_test(tc, secret_rejects_bad_sources_with_named_errors);
    tcase_add_test(tc, atomic_write_sets_mode_regardless_of_umask);
    tcase_add_test(tc, atomic_write_refuses_existing_file_unless_replace);
    tcase_add_test(tc, atomic_write_does_not_follow_a_planted_symlink);
    tcase_add_test(tc, atomic_write_into_missing_folder_fails_and_leaves_nothing);
    tcase_add_test(tc, file_read_refuses_files_over_the_limit);
    tcase_add_test(tc, file_read_with_no_limit_reads_the_whole_file);
    tcase_add_test(tc, buf_grows_formats_and_detaches);
    tcase_add_test(tc, parse_long_accepts_only_whole_numbers_in_range);
    tcase_add_test(tc, file_read_refuses_a_fifo_without_waiting_for_a_writer);
    tcase_add_test(tc, file_read_with_the_largest_limit_does_not_wrap);
    tcase_add_test(tc, atomic_write_writes_into_a_fifo_and_never_replaces_it);
    tcase_add_test(tc, atomic_write_to_a_character_device_writes_through_it);
    tcase_add_test(tc, atomic_write_refuses_a_folder_as_the_file);
    tcase_add_test(tc, file_set_writes_all_files_or_leaves_every_old_one);
    tcase_add_test(tc, file_set_keeps_the_old_key_when_the_disk_fills_up);
    tcase_add_test(tc, file_set_of_many_files_keeps_few_descriptors_open);
    tcase_add_test(tc, mkdir_p_makes_every_missing_parent);
    tcase_add_test(tc, mkdir_p_refuses_a_symlink_as_the_last_folder_when_asked);
    tcase_add_test(tc, mkdir_p_gives_made_folders_exactly_the_mode);
    tcase_add_loop_test(tc, printable_escapes_what_a_terminal_would_act_on, 0,
                        sizeof(printable_cases) / sizeof(printable_cases[0]));
    tcase_add_test(tc, printable_cuts_long_names_on_a_character_boundary);
    tcase_add_test(tc, printable_of_an_empty_text_is_empty);
    tcase_add_loop_test(tc, json_str_escapes_as_pinned, 0,
                        sizeof(json_cases) / sizeof(json_cases[0]));
    tcase_add_test(tc, json_str_of_null_is_null);
    tcase_add_test(tc, name_string_is_rfc4514_last_rdn_first_utf8_kept);
    tcase_add_test(tc, fingerprint_text_is_lower_case_hex_with_colons);
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
