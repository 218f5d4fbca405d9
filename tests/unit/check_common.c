#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

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
    tcase_add_test(tc, buf_grows_formats_and_detaches);
    tcase_add_test(tc, parse_long_accepts_only_whole_numbers_in_range);
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
