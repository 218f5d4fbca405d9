/* lineage/: names, the state and lineage.conf formats, due times, the back-off, add, the
 * live switch, hooks, credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "lineage/internal.h"
#include "testutil.h"

static const char *const good_state = "# comment\n"
                                      "format = 1\n"
                                      "current = 2\n"
                                      "versions = 3\n"
                                      "subject = CN=vasp.example.com,O=Example VASP Ltd,C=US\n"
                                      "san = DNS:vasp.example.com\n"
                                      "san = IP:192.0.2.1\n"
                                      "serial = 0a:1b\n"
                                      "not_before = 1700000000\n"
                                      "not_after = 1731536000\n"
                                      "batch = 24\n"
                                      "key = /s/lineages/vasp/versions/2/key.pem\n"
                                      "last_attempt = 1700000100\n"
                                      "last_result = failed: batch 25 was REJECTED\n"
                                      "last_exit = 8\n"
                                      "last_success = 1700000000\n"
                                      "failures = 1\n"
                                      "next_attempt = 1700003700\n"
                                      "pending_version = 3\n"
                                      "pending_key = /s/lineages/vasp/versions/3/key.pem\n"
                                      "pending_started = 1700000090\n"
                                      "pending_new = 1\n"
                                      "version.1 = 1700000000 23 1 0 09:ff /s/v1/key.pem\n";

static trisa_lineage *fresh(const char *name)
{
    trisa_lineage *l = calloc(1, sizeof(*l));
    ck_assert_ptr_nonnull(l);
    l->name = strdup(name);
    return l;
}

static int parse_state(trisa_lineage *l, const char *text)
{
    trisa_error_clear();
    return lineage_parse_state(l, text, strlen(text), "vasp/state");
}

START_TEST(names_are_checked)
{
    static const char *const good[] = {
        "vasp", "v.a-s_p9", "A",
        "x123456789012345678901234567890123456789012345678901234567890123"};
    static const char *const bad[] = {
        "",
        ".hidden",
        "-opt",
        "a/b",
        "a b",
        "..",
        "caf\xc3\xa9",
        "x1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(lineage_name_ok(good[i]) == 0, "%s refused", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(lineage_name_ok(bad[i]) == TRISA_EINVAL, "%s taken", bad[i]);
    }
    lineage_name_ok("a/b");
    ck_assert_str_eq(trisa_error_last(),
                     "lineage name 'a/b': only letters, digits, '.', '_' and '-' (not '/')");
}
END_TEST

START_TEST(state_reads_what_it_writes)
{
    trisa_lineage *l = fresh("vasp");
    char *dir = tu_tmpdir(), *path = tu_path(dir, "state");
    unsigned char *data = NULL;
    size_t len = 0;
    trisa_lineage *back = fresh("vasp");

    ck_assert_int_eq(parse_state(l, good_state), 0);
    ck_assert_uint_eq(l->current, 2);
    ck_assert_uint_eq(l->versions, 3);
    ck_assert_uint_eq(l->nsans, 2);
    ck_assert_str_eq(l->sans[1], "IP:192.0.2.1");
    ck_assert_int_eq(l->last_exit, 8);
    ck_assert_int_eq(l->pending_new, 1);
    ck_assert_uint_eq(l->nhistory, 1);
    ck_assert_str_eq(l->history[0].serial, "09:ff");
    ck_assert_int_eq(l->history[0].revoked, 1);
    /* Written back and read again: the same state. */
    l->dir = dir;
    ck_assert_int_eq(lineage_state_save(l), 0);
    ck_assert_int_eq(tu_mode(path), 0600);
    ck_assert_int_eq(trisa_file_read(&data, &len, path, 1u << 20), 0);
    ck_assert_int_eq(lineage_parse_state(back, (char *)data, len, path), 0);
    ck_assert_uint_eq(back->current, 2);
    ck_assert_str_eq(back->last_result, "failed: batch 25 was REJECTED");
    ck_assert_str_eq(back->pending_key, "/s/lineages/vasp/versions/3/key.pem");
    ck_assert_int_eq((int)back->next_attempt, 1700003700);
    ck_assert_str_eq(back->history[0].key, "/s/v1/key.pem");
    free(data);
    tu_rmtree(dir);
    l->dir = NULL;
    free(dir);
    free(path);
    trisa_lineage_free(l);
    trisa_lineage_free(back);
}
END_TEST

START_TEST(state_of_a_newer_version_is_refused)
{
    trisa_lineage *l = fresh("vasp");
    ck_assert_int_eq(parse_state(l, "format = 2\ncurrent = 1\n"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(), "vasp/state:1: format 2 is newer than this trisa-renew "
                                         "understands (1): use the version that wrote it");
    trisa_lineage_free(l);
}
END_TEST

START_TEST(state_cut_short_or_foreign_is_refused)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"format = 1\ncurrent = 1", "vasp/state: truncated (the last line has no end); restore it "
                                    "from a backup, or remove the lineage and add it again"},
        {"", "vasp/state: empty or not a lineage file"},
        {"current = 1\n", "vasp/state:1: 'format = 1' must come first"},
        {"trisa-enroll-journal 1\n", "vasp/state:1: expected 'key = value'"},
        {"format = 1\ncolour = blue\n", "vasp/state:2: unknown setting 'colour'"},
        {"format = 1\ncurrent = -1\n", "vasp/state:2: bad value for current: '-1'"},
        {"format = 1\nnot_after = 12x\n", "vasp/state:2: bad value for not_after: '12x'"},
        {"format = 1\npending_reuse = yes\n", "vasp/state:2: bad value for pending_reuse: 'yes'"},
        {"format = 1\nversion.1 = 1 2 3\n", "vasp/state:2: bad value for version.1: '1 2 3'"},
        {"format = 1\nlast_exit = 300\n", "vasp/state:2: bad value for last_exit: '300'"},
        {"format = 1\nserial = \x1b[2J\nx = 1\n", "vasp/state:3: unknown setting 'x'"},
        {"format = 1\ncurrent = 3\nversions = 2\n", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        trisa_lineage *l = fresh("vasp");
        int rc = parse_state(l, cases[i].text);
        if (cases[i].error != NULL) {
            ck_assert_msg(rc == TRISA_ESTATE, "case %zu: %d", i, rc);
            ck_assert_str_eq(trisa_error_last(), cases[i].error);
        } else {
            ck_assert_int_eq(rc, 0); /* the parse itself; the loader checks the versions */
        }
        trisa_lineage_free(l);
    }
}
END_TEST

START_TEST(state_with_a_nul_byte_is_refused_and_control_bytes_are_not_echoed)
{
    trisa_lineage *l = fresh("vasp");
    trisa_error_clear();
    ck_assert_int_eq(lineage_parse_state(l, "format = 1\n\0x\n", 13, "vasp/state"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(), "vasp/state: holds a NUL byte: not a lineage file");
    ck_assert_int_eq(parse_state(l, "format = 1\ncurrent = \x1b]0;owned\x07\n"), TRISA_ESTATE);
    ck_assert_ptr_null(strchr(trisa_error_last(), 0x1b));
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "\\x1b]0;owned\\x07"));
    trisa_lineage_free(l);
}
END_TEST

START_TEST(conf_of_another_lineage_is_refused)
{
    trisa_lineage *l = fresh("vasp");
    const char *t = "format = 1\nname = other\nprofile = 42\n";
    trisa_error_clear();
    ck_assert_int_eq(lineage_parse_conf(l, t, strlen(t), "vasp/lineage.conf"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(), "vasp/lineage.conf:2: records lineage 'other', not 'vasp' "
                                         "(a folder copied or renamed by hand?)");
    t = "format = 1\nname = vasp\nkey = rsa:1024\n";
    ck_assert_int_eq(lineage_parse_conf(l, t, strlen(t), "vasp/lineage.conf"), TRISA_ESTATE);
    ck_assert_str_eq(trisa_error_last(), "vasp/lineage.conf:3: bad value for key: 'rsa:1024'");
    t = "format = 1\nname = vasp\njitter = 1.5\n";
    ck_assert_int_eq(lineage_parse_conf(l, t, strlen(t), "vasp/lineage.conf"), TRISA_ESTATE);
    trisa_lineage_free(l);
}
END_TEST

START_TEST(due_follows_renew_before_and_the_offset)
{
    static const struct {
        const char *renew_before;
        double jitter;
        long long lifetime, due_before_end;
    } cases[] = {
        /* a third of a year, no offset */
        {"33%", 0.0, 365LL * 86400, 365LL * 86400 * 33 / 100},
        /* 30 days, the largest offset: 1/50 of a year is over a day, so one day */
        {"30", 0.9999, 365LL * 86400, 30LL * 86400 + (long long)(0.9999 * 86400)},
        /* a 10-minute certificate: 1/50 of it, 12 s, at most */
        {"33%", 0.5, 600, 198 + 6},
        {"99%", 0.0, 1000, 990},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        trisa_lineage *l = fresh("vasp");
        time_t end = 2000000000;
        int back_off = -1;
        l->renew_before = strdup(cases[i].renew_before);
        l->jitter = cases[i].jitter;
        l->current = 1;
        l->not_before = end - (time_t)cases[i].lifetime;
        l->not_after = end;
        ck_assert_msg(lineage_due_at(l) == end - (time_t)cases[i].due_before_end,
                      "case %zu: due %lld, expected %lld", i, (long long)lineage_due_at(l),
                      (long long)(end - cases[i].due_before_end));
        ck_assert_int_eq(trisa_lineage_due(l, lineage_due_at(l) - 1, &back_off), 0);
        ck_assert_int_eq(trisa_lineage_due(l, lineage_due_at(l), &back_off), 1);
        ck_assert_int_eq(back_off, 0);
        l->next_attempt = lineage_due_at(l) + 10;
        ck_assert_int_eq(trisa_lineage_due(l, lineage_due_at(l), &back_off), 1);
        ck_assert_int_eq(back_off, 1);
        trisa_lineage_free(l);
    }
}
END_TEST

START_TEST(due_without_a_certificate_except_when_imported)
{
    trisa_lineage *l = fresh("vasp");
    ck_assert_int_eq(trisa_lineage_due(l, 1, NULL), 1);
    ck_assert_int_eq((int)lineage_due_at(l), 0);
    l->imported = 1;
    ck_assert_int_eq(trisa_lineage_due(l, 1, NULL), 0);
    trisa_lineage_free(l);
}
END_TEST

START_TEST(back_off_doubles_to_a_day_and_stops_three_days_before_expiry)
{
    time_t now = 1700000000, far = now + 400 * 86400;
    ck_assert_int_eq((int)(lineage_backoff(1, now, far) - now), 3600);
    ck_assert_int_eq((int)(lineage_backoff(2, now, far) - now), 7200);
    ck_assert_int_eq((int)(lineage_backoff(5, now, far) - now), 57600);
    ck_assert_int_eq((int)(lineage_backoff(6, now, far) - now), 86400);
    ck_assert_int_eq((int)(lineage_backoff(40, now, far) - now), 86400);
    /* 3 days and 2 hours left: the wait ends where 3 days remain */
    ck_assert_int_eq((int)(lineage_backoff(5, now, now + 3 * 86400 + 7200) - now), 7200);
    /* fewer than 3 days left: no wait */
    ck_assert_int_eq((int)(lineage_backoff(5, now, now + 86400) - now), 0);
    /* no certificate: the plain back-off */
    ck_assert_int_eq((int)(lineage_backoff(1, now, 0) - now), 3600);
}
END_TEST

START_TEST(live_switch_replaces_the_link_in_one_step)
{
    trisa_lineage *l = fresh("vasp");
    char target[64];
    ssize_t n;
    char *live;
    l->dir = tu_tmpdir();
    live = tu_path(l->dir, "live");
    ck_assert_int_eq(lineage_switch(l, 1), 0);
    ck_assert_int_eq(lineage_switch(l, 12), 0);
    n = readlink(live, target, sizeof(target) - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, "versions/12");
    tu_rmtree(l->dir);
    free(live);
    trisa_lineage_free(l);
}
END_TEST

START_TEST(hooks_get_the_variables_and_are_stopped_at_their_timeout)
{
    trisa_lineage *l = fresh("vasp");
    const char *extra[] = {"TRISA_SERIAL=0a:1b", NULL};
    char *dir = tu_tmpdir(), *out = tu_path(dir, "env"), cmd[512];
    unsigned char *data = NULL;
    size_t len = 0;
    time_t t0;

    l->dir = strdup("/s/lineages/vasp");
    setenv("TRISA_LINEAGE", "spoofed", 1);
    snprintf(cmd, sizeof(cmd),
             "env | grep -E '^TRISA_(LINEAGE|LIVE_DIR|SERIAL)=' | sort >'%s'; exit 3", out);
    ck_assert_int_eq(lineage_run_hook(l, cmd, extra, 10), 3);
    ck_assert_int_eq(trisa_file_read(&data, &len, out, 4096), 0);
    ck_assert_str_eq((char *)data, "TRISA_LINEAGE=vasp\nTRISA_LIVE_DIR=/s/lineages/vasp/live\n"
                                   "TRISA_SERIAL=0a:1b\n");
    free(data);
    unsetenv("TRISA_LINEAGE");
    t0 = time(NULL);
    ck_assert_int_eq(lineage_run_hook(l, "sleep 30 & sleep 30", NULL, 1), -1);
    ck_assert_int_le((int)(time(NULL) - t0), 5);
    ck_assert_int_eq(lineage_run_hook(l, "kill -TERM $$", NULL, 10), 128 + 15);
    tu_rmtree(dir);
    free(dir);
    free(out);
    trisa_lineage_free(l);
}
END_TEST

START_TEST(credentials_are_read_as_env_files_and_must_be_private)
{
    char *dir = tu_tmpdir(), *path = tu_path(dir, "cred.env");
    lineage_credentials c;

    unsetenv("SECTIGO_ENDPOINT");
    setenv("SECTIGO_ENVIRONMENT", "testing", 1);
    tu_write(path, "# account 1\nSECTIGO_USERNAME=alice\nexport SECTIGO_PASSWORD='p w#d'\n"
                   "SECTIGO_ENDPOINT: http://127.0.0.1:8831 # local\n");
    ck_assert_int_eq(lineage_credentials_load(&c, path), TRISA_EINVAL); /* 0644 */
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "readable by others (mode 0644)"));
    chmod(path, 0600);
    ck_assert_int_eq(lineage_credentials_load(&c, path), 0);
    ck_assert_str_eq(c.username, "alice");
    ck_assert_str_eq(c.password, "p w#d");
    ck_assert_str_eq(c.endpoint, "http://127.0.0.1:8831");
    ck_assert_str_eq(c.environment, "testing"); /* from the environment */
    ck_assert_ptr_null(c.ca_bundle);
    lineage_credentials_free(&c);
    tu_write(path, "SECTIGO_USERNAME=alice\nSECTIGO_PASSWORD=\"unterminated\n");
    chmod(path, 0600);
    ck_assert_int_eq(lineage_credentials_load(&c, path), TRISA_ECONFIG);
    unsetenv("SECTIGO_ENVIRONMENT");
    tu_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

/* The state folder and its lineages/ are made private with their parents; a symbolic
 * link in place of either is refused (someone could point it elsewhere). */
START_TEST(root_is_made_private_and_a_symlink_is_refused)
{
    char *dir = tu_tmpdir();
    char *state = tu_path(dir, "var/lib/trisa");
    char *real = tu_path(dir, "real");
    char *link = tu_path(dir, "link");
    char *root = NULL;
    char expect[4096];
    struct stat st;

    ck_assert_int_eq(lineage_root(&root, state, 1), 0);
    ck_assert_int_eq(lstat(root, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(stat(state, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    free(root);
    root = NULL;
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink("real", link), 0);
    ck_assert_int_eq(lineage_root(&root, link, 1), TRISA_EIO);
    snprintf(expect, sizeof(expect), "%s: is a symbolic link, not a folder", link);
    ck_assert_str_eq(trisa_error_last(), expect);
    ck_assert_ptr_null(root);
    free(link);
    link = tu_path(dir, "var/lib/trisa/lineages");
    ck_assert_int_eq(rmdir(link), 0);
    ck_assert_int_eq(symlink("../../../real", link), 0);
    ck_assert_int_eq(lineage_root(&root, state, 1), TRISA_EIO);
    snprintf(expect, sizeof(expect), "%s: is a symbolic link, not a folder", link);
    ck_assert_str_eq(trisa_error_last(), expect);
    ck_assert_ptr_null(root);
    tu_rmtree(dir);
    free(state);
    free(real);
    free(link);
    free(dir);
}
END_TEST

START_TEST(add_makes_a_whole_lineage_or_nothing)
{
    trisa_lineage_add_options o = TRISA_LINEAGE_ADD_OPTIONS_INIT;
    char *dir = tu_tmpdir(), *conf = tu_path(dir, "trisa.conf"), *trust = tu_path(dir, "t.pem");
    char *lineages = tu_path(dir, "lineages");
    char **names = NULL;
    size_t n = 0;
    trisa_lineage *l = NULL;

    tu_write(conf, "[req]\nprompt = no\ndistinguished_name = dn\nreq_extensions = ext\n[dn]\n"
                   "CN = a.example.com\nC = US\n[ext]\nsubjectAltName = DNS:a.example.com\n");
    tu_write(trust, "no certificate here\n");
    o.state_dir = dir;
    o.config_file = conf;
    o.profile_id = 42;
    o.trust_file = trust;
    ck_assert_int_eq(trisa_lineage_add("a", &o), TRISA_EINVAL);
    ck_assert_ptr_nonnull(strstr(trisa_error_last(), "no PEM certificate in it"));
    o.trust_file = NULL;
    o.trust_bundle_root = 1;
    o.deploy_hook = "echo a\nrm -rf /";
    ck_assert_int_eq(trisa_lineage_add("a", &o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "--deploy-hook: a line break is not allowed");
    o.deploy_hook = NULL;
    o.renew_before = "100%";
    ck_assert_int_eq(trisa_lineage_add("a", &o), TRISA_EINVAL);
    o.renew_before = "20";
    ck_assert_int_eq(trisa_lineage_names(&names, &n, dir), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(trisa_lineage_add("a", &o), 0);
    ck_assert_int_eq(trisa_lineage_add("a", &o), TRISA_EEXISTS);
    ck_assert_int_eq(tu_mode(lineages), 0700);
    ck_assert_int_eq(trisa_lineage_names(&names, &n, dir), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "a");
    trisa_lineage_names_free(names, n);
    {
        /* A lineages folder with none in it (all removed): no names, nothing sorted. */
        char empty[600];
        snprintf(empty, sizeof(empty), "%s/empty-state", dir);
        ck_assert_int_eq(mkdir(empty, 0700), 0);
        snprintf(empty, sizeof(empty), "%s/empty-state/lineages", dir);
        ck_assert_int_eq(mkdir(empty, 0700), 0);
        snprintf(empty, sizeof(empty), "%s/empty-state", dir);
        ck_assert_int_eq(trisa_lineage_names(&names, &n, empty), 0);
        ck_assert_uint_eq(n, 0);
        trisa_lineage_names_free(names, n);
    }
    ck_assert_int_eq(trisa_lineage_load(&l, dir, "a"), 0);
    ck_assert_str_eq(l->renew_before, "20");
    ck_assert_int_eq(l->trust_bundle_root, 1);
    ck_assert_int_eq(l->profile_id, 42);
    ck_assert_uint_eq(l->current, 0);
    ck_assert_int_eq(trisa_lineage_due(l, 0, NULL), 1);
    trisa_lineage_free(l);
    ck_assert_int_eq(trisa_lineage_load(&l, dir, "b"), TRISA_ENOTFOUND);
    tu_rmtree(dir);
    free(dir);
    free(conf);
    free(trust);
    free(lineages);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lineage");
    TCase *f = tcase_create("files");
    TCase *t = tcase_create("time");
    TCase *r = tcase_create("run");
    tcase_add_test(f, names_are_checked);
    tcase_add_test(f, state_reads_what_it_writes);
    tcase_add_test(f, state_of_a_newer_version_is_refused);
    tcase_add_test(f, state_cut_short_or_foreign_is_refused);
    tcase_add_test(f, state_with_a_nul_byte_is_refused_and_control_bytes_are_not_echoed);
    tcase_add_test(f, conf_of_another_lineage_is_refused);
    tcase_add_test(f, add_makes_a_whole_lineage_or_nothing);
    tcase_add_test(t, due_follows_renew_before_and_the_offset);
    tcase_add_test(t, due_without_a_certificate_except_when_imported);
    tcase_add_test(t, back_off_doubles_to_a_day_and_stops_three_days_before_expiry);
    tcase_add_test(r, live_switch_replaces_the_link_in_one_step);
    tcase_add_test(r, hooks_get_the_variables_and_are_stopped_at_their_timeout);
    tcase_add_test(r, credentials_are_read_as_env_files_and_must_be_private);
    tcase_add_test(r, root_is_made_private_and_a_symlink_is_refused);
    tcase_set_timeout(r, 30);
    suite_add_tcase(s, f);
    suite_add_tcase(s, t);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return tu_run(suite()) == 0 ? 0 : 1;
}
