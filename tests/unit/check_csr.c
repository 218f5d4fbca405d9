#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/internal.h"
#include "csr/internal.h"
#include "trisa/csr.h"
#include "testutil.h"

/* One RSA-2048 key for the whole file, made before the tests fork. */
static EVP_PKEY *key;

static void make_key(void)
{
    trisa_keygen_spec s;
    ck_assert_int_eq(trisa_keygen_spec_parse(&s, "rsa:2048"), 0);
    ck_assert_int_eq(trisa_keygen_generate(&key, &s), 0);
}

static void free_key(void)
{
    trisa_keygen_free(key);
}

/* A valid config; each bad case below changes one piece of it. Line numbers matter. */
static const char base[] = "[req]\n"                                                  /* 1 */
                           "prompt = no\n"                                            /* 2 */
                           "default_bits = 2048\n"                                    /* 3 */
                           "default_md = sha384\n"                                    /* 4 */
                           "distinguished_name = dn\n"                                /* 5 */
                           "req_extensions = ext\n"                                   /* 6 */
                           "\n"                                                       /* 7 */
                           "[dn]\n"                                                   /* 8 */
                           "CN = api.example.com\n"                                   /* 9 */
                           "O = Example VASP\n"                                       /* 10 */
                           "0.OU = Ops\n"                                             /* 11 */
                           "1.OU = TRISA\n"                                           /* 12 */
                           "C = US\n"                                                 /* 13 */
                           "\n"                                                       /* 14 */
                           "[ext]\n"                                                  /* 15 */
                           "keyUsage = critical, digitalSignature, keyEncipherment\n" /* 16 */
                           "extendedKeyUsage = serverAuth, clientAuth\n"              /* 17 */
                           "subjectAltName = @alt\n"                                  /* 18 */
                           "\n"                                                       /* 19 */
                           "[alt]\n"                                                  /* 20 */
                           "DNS.1 = api.example.com\n"                                /* 21 */
                           "DNS.2 = www.example.com\n";                               /* 22 */

/* base with the first `from` replaced by `to`; the caller frees. */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(base, from);
    trisa_buf b = TRISA_BUF_INIT;
    ck_assert_msg(at != NULL, "'%s' not in the base config", from);
    trisa_buf_append(&b, base, (size_t)(at - base));
    trisa_buf_puts(&b, to);
    trisa_buf_puts(&b, at + strlen(from));
    return trisa_buf_detach(&b, NULL);
}

static int parse(trisa_csr_config **cfg, const char *text, const trisa_csr_config_options *o)
{
    return trisa_csr_config_parse(cfg, text, strlen(text), "t.conf", o);
}

static const struct bad {
    const char *from, *to;
    int code;
    const char *message; /* the whole message, or its start when it ends with '*' */
} bad[] = {
    {"CN = api.example.com\n", "", TRISA_ECONFIG,
     "t.conf:8: [dn]: no common name (CN) in the subject"},
    {"CN = api.example.com", "CN =", TRISA_ECONFIG,
     "t.conf:9: [dn] CN: the common name (CN) is empty"},
    {"CN = api.example.com", "CN = \"\"", TRISA_ECONFIG,
     "t.conf:9: [dn] CN: the common name (CN) is empty"},
    {"O = Example VASP", "O =", TRISA_ECONFIG, "t.conf:10: [dn] O: the value is empty"},
    {"req_extensions = ext\n\n[dn]\n",
     "req_extensions = ext\nattributes = at\n[at]\nchallengePasswrd = x\n[dn]\n", TRISA_ECONFIG,
     "t.conf:9: [at] challengePasswrd: unknown attribute 'challengePasswrd' (expected "
     "challengePassword or unstructuredName)"},
    {"req_extensions = ext\n", "req_extensions = ext\nattributes = nosuch\n", TRISA_ECONFIG,
     "t.conf:7: [req] attributes: section [nosuch] does not exist"},
    {"C = US", "C = USA", TRISA_ECONFIG,
     "t.conf:13: [dn] C: country must be a two-letter ISO 3166 code (e.g. US), not 'USA'"},
    {"C = US", "C = U", TRISA_ECONFIG,
     "t.conf:13: [dn] C: country must be a two-letter ISO 3166 code (e.g. US), not 'U'"},
    {"C = US", "C = U1", TRISA_ECONFIG,
     "t.conf:13: [dn] C: country must be a two-letter ISO 3166 code (e.g. US), not 'U1'"},
    {"O = Example VASP", "O = \" Example VASP\"", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value ' Example VASP' has leading or trailing white space (it would "
     "be part of the certificate)"},
    {"O = Example VASP", "O = \"Example VASP \"", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Example VASP ' has leading or trailing white space*"},
    {"CN = api.example.com", "CN = api.example.com\\t", TRISA_ECONFIG,
     "t.conf:9: [dn] CN: value 'api.example.com\\x09' has leading or trailing white space*"},
    {"O = Example VASP", "O = <legal name of your organisation>", TRISA_ECONFIG,
     "t.conf:10: [dn] O: placeholder '<legal name of your organisation>' not filled in"},
    {"O = Example VASP", "Organisation = Example VASP", TRISA_ECONFIG,
     "t.conf:10: [dn] Organisation: unknown subject field 'Organisation' (expected CN, O, OU, "
     "L, ST, C, emailAddress, ... or a dotted OID)"},
    {"subjectAltName = @alt", "subjectAltName = IP:192.0.2.1", TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: no DNS name in the subjectAltName (Sectigo rejects "
     "such requests)"},
    {"subjectAltName = @alt\n", "", TRISA_ECONFIG,
     "t.conf:15: [ext] subjectAltName: no DNS name in the subjectAltName*"},
    {"req_extensions = ext\n", "", TRISA_ECONFIG,
     "t.conf:1: [req] req_extensions: no extensions, so no subjectAltName DNS name*"},
    {"DNS.2 = www.example.com", "DNS.2 = www..example.com", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: 'www..example.com' is not a valid DNS name"},
    {"DNS.2 = www.example.com", "DNS.2 = -www.example.com", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: '-www.example.com' is not a valid DNS name"},
    {"DNS.2 = www.example.com", "DNS.2 = www_1.example.com", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: 'www_1.example.com' is not a valid DNS name"},
    {"DNS.2 = www.example.com", "DNS.2 = www.example.com.", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: 'www.example.com.' is not a valid DNS name"},
    {"DNS.2 = www.example.com", "DNS.2 = a.*.example.com", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: 'a.*.example.com' is not a valid DNS name"},
    {"DNS.2 = www.example.com", "DNS.2 = http://www.example.com", TRISA_ECONFIG,
     "t.conf:22: [ext] subjectAltName: 'http://www.example.com' is not a valid DNS name"},
    {"digitalSignature,", "digitalSignatur,", TRISA_ECONFIG,
     "t.conf:16: [ext] keyUsage: unknown keyUsage word 'digitalSignatur' (expected "
     "digitalSignature, keyEncipherment, ...)"},
    {"serverAuth,", "serverAuthh,", TRISA_ECONFIG,
     "t.conf:17: [ext] extendedKeyUsage: unknown extendedKeyUsage word 'serverAuthh' (expected "
     "serverAuth, clientAuth, or a dotted OID)"},
    {"distinguished_name = dn", "distinguished_name = nodn", TRISA_ECONFIG,
     "t.conf:5: [req] distinguished_name: section [nodn] does not exist"},
    {"req_extensions = ext", "req_extensions = noext", TRISA_ECONFIG,
     "t.conf:6: [req] req_extensions: section [noext] does not exist"},
    {"subjectAltName = @alt", "subjectAltName = @noalt", TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: section [noalt] does not exist"},
    {"[req]", "[request]", TRISA_ECONFIG, "t.conf: no [req] section"},
    {"distinguished_name = dn\n", "", TRISA_ECONFIG,
     "t.conf:1: [req]: no distinguished_name (the section naming the subject)"},
    {"[dn]", "[dn", TRISA_ECONFIG, "t.conf:8: cannot parse the config*"},
    {"default_bits = 2048", "default_bits = 1024", TRISA_ECONFIG,
     "t.conf:3: [req] default_bits: must be 2048, 3072 or 4096, not '1024'"},
    {"default_md = sha384", "default_md = sha999", TRISA_ECONFIG,
     "t.conf:4: [req] default_md: unknown digest 'sha999' (expected sha256, sha384 or sha512)"},
    {"default_md = sha384", "default_md = sha384\nstring_mask = utf9only", TRISA_ECONFIG,
     "t.conf:5: [req] string_mask: unknown string mask 'utf9only'*"},
    /* Digests a CSR may not be signed with: refused at load, with file:line. */
    {"default_md = sha384", "default_md = md5", TRISA_ECONFIG,
     "t.conf:4: [req] default_md: digest 'md5' is too weak for a certificate request "
     "(certificates signed with it are refused): use sha384 (or sha256, sha512)"},
    {"default_md = sha384", "default_md = sha1", TRISA_ECONFIG,
     "t.conf:4: [req] default_md: digest 'sha1' is too weak*"},
    {"default_md = sha384", "default_md = shake128", TRISA_ECONFIG,
     "t.conf:4: [req] default_md: digest 'shake128' is an extendable-output function and "
     "cannot sign a request: use sha384 (or sha256, sha512)"},
    {"default_md = sha384", "default_md = sha3-256", TRISA_ECONFIG,
     "t.conf:4: [req] default_md: digest 'sha3-256' is not one Sectigo takes in a request*"},
    /* Placeholders inside a value, and in a SAN. */
    {"O = Example VASP", "O = Example <your org> Ltd", TRISA_ECONFIG,
     "t.conf:10: [dn] O: placeholder '<your org>' not filled in"},
    {"DNS.2 = www.example.com", "DNS.2 = <second host>", TRISA_ECONFIG,
     "t.conf:22: [alt] DNS.2: placeholder '<second host>' not filled in"},
    /* Controls: escaped in the message, named by code. */
    {"O = Example VASP", "O = Example\x1b[2JVASP", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Example\\x1b[2JVASP' has a control character (0x1B)"},
    {"O = Example VASP", "O = Example\x07VASP", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Example\\x07VASP' has a control character (0x07)"},
    {"O = Example VASP", "O = Example\x7fVASP", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Example\\x7fVASP' has a control character (0x7F)"},
    {"O = Example VASP", "O = Example\x01VASP", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Example\\x01VASP' has a control character (0x01)"},
    {"O = Example VASP", "O = Example\\nVASP", TRISA_ECONFIG, /* openssl's \n escape */
     "t.conf:10: [dn] O: value 'Example\\x0aVASP' has a control character (0x0A)"},
    {"O = Example VASP", "O = Z\xc3\xbcrich VASP", TRISA_ECONFIG,
     "t.conf:10: [dn] O: value 'Z\xc3\xbcrich VASP' has UTF-8 characters, but the config does "
     "not say utf8 = yes in [req]*"},
    /* SAN emails and URIs. */
    {"subjectAltName = @alt", "subjectAltName = DNS:api.example.com, email:j\xc3\xb6rg@example.com",
     TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: email 'j\xc3\xb6rg@example.com' is not ASCII (an email "
     "address in a certificate is ASCII: give the domain in its xn-- form)"},
    {"subjectAltName = @alt", "subjectAltName = DNS:api.example.com, email:nobody", TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: email 'nobody' is not an email address (local@domain, "
     "one @, a DNS domain)"},
    {"subjectAltName = @alt", "subjectAltName = DNS:api.example.com, URI:https://example.com/a b",
     TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: URI 'https://example.com/a b' has a space or a control "
     "character"},
    {"subjectAltName = @alt", "subjectAltName = DNS:api.example.com, URI:example.com",
     TRISA_ECONFIG,
     "t.conf:18: [ext] subjectAltName: URI 'example.com' is not a URI (scheme:..., e.g. "
     "https://host/)"},
    /* .include, read strictly. */
    {"\n[dn]\n", "\n.include /nonexistent/dn.conf\n[dn]\n", TRISA_ECONFIG,
     "t.conf:8: .include /nonexistent/dn.conf: cannot open: No such file or directory"},
    {"\n[dn]\n", "\n.include /dev/zero\n[dn]\n", TRISA_ECONFIG,
     "t.conf:8: .include /dev/zero: not a regular file (a character device)"},
    {"\n[dn]\n", "\n.include \"dn.conf\"\n[dn]\n", TRISA_ECONFIG,
     "t.conf:8: .include \"dn.conf\": quotes, backslashes and $variables in the file name are "
     "not supported: give the name as it is"},
};

/* With utf8 = yes (line 3 instead of default_bits): values of any script, judged as such. */
static const struct {
    const char *from, *to, *message;
} bad_utf8[] = {
    {"O = Example VASP", "O = Example VASP\xc2\xa0",
     "t.conf:10: [dn] O: value 'Example VASP\\u00A0' has white space (U+00A0) at an end (it "
     "would be part of the certificate)"},
    {"O = Example VASP",
     "O = \xe2\x80\x83"
     "Example VASP",
     "t.conf:10: [dn] O: value '\\u2003Example VASP' has white space (U+2003) at an end*"},
    {"O = Example VASP", "O = Example VASP\xe3\x80\x80",
     "t.conf:10: [dn] O: value 'Example VASP\\u3000' has white space (U+3000) at an end*"},
    {"O = Example VASP", "O = Example VASP\xc2\x85",
     "t.conf:10: [dn] O: value 'Example VASP\\u0085' has white space (U+0085) at an end*"},
    {"O = Example VASP", "O = Example VASP\xe2\x80\x8b",
     "t.conf:10: [dn] O: value 'Example VASP\\u200B' has white space (U+200B) at an end*"},
    {"O = Example VASP",
     "O = \xef\xbb\xbf"
     "Example VASP",
     "t.conf:10: [dn] O: value '\\uFEFFExample VASP' has white space (U+FEFF) at an end*"},
    {"O = Example VASP",
     "O = Example\xe2\x80\xae"
     "PSAV",
     "t.conf:10: [dn] O: value 'Example\\u202EPSAV' has an invisible or control character "
     "(U+202E) that would be part of the certificate"},
    {"O = Example VASP", "O = Example\xc2\x9bVASP",
     "t.conf:10: [dn] O: value 'Example\\u009BVASP' has an invisible or control character "
     "(U+009B)*"},
    {"O = Example VASP", "O = Example\xff VASP",
     "t.conf:10: [dn] O: value 'Example\\xff VASP' is not valid UTF-8 (utf8 = yes says it is)"},
    {"O = Example VASP", "O = Z\xc3\xbcrich VASP", NULL}, /* fine as UTF-8 */
};

static void assert_message(const char *want)
{
    const char *got = trisa_error_last();
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*') {
        ck_assert_msg(strncmp(got, want, n - 1) == 0, "got '%s', want '%s'", got, want);
    } else {
        ck_assert_str_eq(got, want);
    }
}

START_TEST(config_rejects_each_bad_input_naming_file_line_and_field)
{
    trisa_csr_config *cfg = NULL;
    char *text = edit(bad[_i].from, bad[_i].to);
    ck_assert_int_eq(parse(&cfg, text, NULL), bad[_i].code);
    assert_message(bad[_i].message);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_null(strchr(trisa_error_last(), '\n')); /* one line */
    free(text);
}
END_TEST

START_TEST(config_judges_values_as_utf8_when_the_config_says_so)
{
    trisa_csr_config *cfg = NULL;
    char *t1 = edit("default_bits = 2048", "utf8 = yes");
    const char *at = strstr(t1, bad_utf8[_i].from);
    trisa_buf b = TRISA_BUF_INIT;
    char *text;
    trisa_buf_append(&b, t1, (size_t)(at - t1));
    trisa_buf_puts(&b, bad_utf8[_i].to);
    trisa_buf_puts(&b, at + strlen(bad_utf8[_i].from));
    text = trisa_buf_detach(&b, NULL);
    if (bad_utf8[_i].message == NULL) {
        ck_assert_msg(parse(&cfg, text, NULL) == 0, "%s", trisa_error_last());
        trisa_csr_config_free(cfg);
    } else {
        ck_assert_int_eq(parse(&cfg, text, NULL), TRISA_ECONFIG);
        assert_message(bad_utf8[_i].message);
        ck_assert_ptr_null(cfg);
    }
    free(text);
    free(t1);
}
END_TEST

START_TEST(config_refuses_a_nul_byte_that_would_join_two_lines)
{
    /* OpenSSL stopped the value at the NUL and took the next line as its rest:
     * "O = Example VASP Ltd0.OU = Compliance", the OU lost. */
    static const char text[] = "[req]\nprompt = no\ndistinguished_name = dn\n"
                               "req_extensions = ext\n[dn]\nCN = api.example.com\n"
                               "O = Example VASP Ltd\0\n0.OU = Compliance\n[ext]\n"
                               "subjectAltName = DNS:api.example.com\n";
    trisa_csr_config *cfg = NULL;
    ck_assert_int_eq(trisa_csr_config_parse(&cfg, text, sizeof(text) - 1, "t.conf", NULL),
                     TRISA_ECONFIG);
    ck_assert_str_eq(trisa_error_last(), "t.conf:7: a NUL byte in the line (not a text file?)");
    ck_assert_ptr_null(cfg);
}
END_TEST

/* Every error of a config, in one run. */
typedef struct seen {
    char msg[8][512];
    int n;
} seen;

static void collect(const char *message, void *ctx)
{
    seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s", message);
    }
    s->n++;
}

START_TEST(config_reports_every_error_in_one_run)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    seen got;
    char *t1 = edit("O = Example VASP", "O = <legal name>");
    char *t2, *t3, *t4;
    trisa_buf b = TRISA_BUF_INIT;

    memset(&got, 0, sizeof(got));
    /* Four independent mistakes, in three sections. */
    trisa_buf_puts(&b, t1);
    t2 = trisa_buf_detach(&b, NULL);
    {
        char *p = strstr(t2, "C = US");
        p[4] = 'X'; /* C = XS is fine; make it three letters below */
    }
    free(t1);
    t1 = t2;
    t2 = NULL;
    {
        const char *at = strstr(t1, "C = XS");
        trisa_buf_append(&b, t1, (size_t)(at - t1));
        trisa_buf_puts(&b, "C = USA");
        trisa_buf_puts(&b, at + 6);
        t2 = trisa_buf_detach(&b, NULL);
    }
    {
        const char *at = strstr(t2, "serverAuth,");
        trisa_buf_append(&b, t2, (size_t)(at - t2));
        trisa_buf_puts(&b, "serverAuthh,");
        trisa_buf_puts(&b, at + strlen("serverAuth,"));
        t3 = trisa_buf_detach(&b, NULL);
    }
    {
        const char *at = strstr(t3, "default_md = sha384");
        trisa_buf_append(&b, t3, (size_t)(at - t3));
        trisa_buf_puts(&b, "default_md = md5");
        trisa_buf_puts(&b, at + strlen("default_md = sha384"));
        t4 = trisa_buf_detach(&b, NULL);
    }
    o.on_error = collect;
    o.on_error_ctx = &got;
    ck_assert_int_eq(parse(&cfg, t4, &o), TRISA_ECONFIG);
    ck_assert_int_eq(got.n, 4);
    ck_assert_str_eq(got.msg[0], "t.conf:4: [req] default_md: digest 'md5' is too weak for a "
                                 "certificate request (certificates signed with it are "
                                 "refused): use sha384 (or sha256, sha512)");
    ck_assert_str_eq(got.msg[1], "t.conf:10: [dn] O: placeholder '<legal name>' not filled in");
    ck_assert_str_eq(got.msg[2], "t.conf:13: [dn] C: country must be a two-letter ISO 3166 code "
                                 "(e.g. US), not 'USA'");
    ck_assert_str_eq(got.msg[3], "t.conf:17: [ext] extendedKeyUsage: unknown extendedKeyUsage "
                                 "word 'serverAuthh' (expected serverAuth, clientAuth, or a "
                                 "dotted OID)");
    /* The return carries the first, and how many more there were. */
    ck_assert_str_eq(trisa_error_last(), "t.conf:4: [req] default_md: digest 'md5' is too weak "
                                         "for a certificate request (certificates signed with "
                                         "it are refused): use sha384 (or sha256, sha512) (and "
                                         "3 more errors)");
    ck_assert_ptr_null(cfg);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
}
END_TEST

/* A wrong extension word does not hide the bad DNS names: both in one run, each named
 * by its line, and a placeholder name only once (as a placeholder). */
START_TEST(config_reports_bad_dns_names_next_to_a_bad_extension_word)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    seen got;
    char *t1 = edit("serverAuth,", "serverAuthh,");
    char *t2, *t3;
    trisa_buf b = TRISA_BUF_INIT;

    memset(&got, 0, sizeof(got));
    {
        const char *at = strstr(t1, "DNS.1 = api.example.com\n");
        trisa_buf_append(&b, t1, (size_t)(at - t1));
        trisa_buf_puts(&b, "DNS.1 = api..example.com\nDNS.2 = -www.example.com\n"
                           "DNS.3 = <your.host>\n");
        trisa_buf_puts(&b, at + strlen("DNS.1 = api.example.com\n"));
        t2 = trisa_buf_detach(&b, NULL);
    }
    {
        const char *at = strstr(t2, "DNS.2 = www.example.com\n");
        trisa_buf_append(&b, t2, (size_t)(at - t2));
        trisa_buf_puts(&b, at + strlen("DNS.2 = www.example.com\n"));
        t3 = trisa_buf_detach(&b, NULL);
    }
    o.on_error = collect;
    o.on_error_ctx = &got;
    ck_assert_int_eq(parse(&cfg, t3, &o), TRISA_ECONFIG);
    ck_assert_int_eq(got.n, 4);
    ck_assert_str_eq(got.msg[0], "t.conf:17: [ext] extendedKeyUsage: unknown extendedKeyUsage "
                                 "word 'serverAuthh' (expected serverAuth, clientAuth, or a "
                                 "dotted OID)");
    ck_assert_str_eq(got.msg[1], "t.conf:23: [alt] DNS.3: placeholder '<your.host>' not filled in");
    ck_assert_str_eq(got.msg[2], "t.conf:21: [ext] subjectAltName: 'api..example.com' is not a "
                                 "valid DNS name");
    ck_assert_str_eq(got.msg[3], "t.conf:22: [ext] subjectAltName: '-www.example.com' is not a "
                                 "valid DNS name");
    ck_assert_ptr_null(cfg);
    free(t1);
    free(t2);
    free(t3);
}
END_TEST

/* .include with real files, in a folder of the test's own (relative names are taken
 * from the current folder, as OpenSSL does). */
static char *in_tmpdir(void)
{
    char *dir = tu_tmpdir();
    ck_assert_int_eq(chdir(dir), 0);
    return dir;
}

static const char dn_part[] = "[dn]\nCN = api.example.com\nO = Example VASP\nC = US\n";
static const char head_part[] = "[req]\nprompt = no\ndistinguished_name = dn\n"
                                "req_extensions = ext\n[ext]\n"
                                "subjectAltName = DNS:api.example.com\n";

START_TEST(include_reads_files_and_folders_in_name_order)
{
    char *dir = in_tmpdir();
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    char text[1024];
    ck_assert_int_eq(mkdir("parts", 0755), 0);
    tu_write("parts/b.cnf", "1.OU = second\n");
    tu_write("parts/a.conf", "0.OU = first\n");
    tu_write("parts/notes.txt", "not = included\n");
    tu_write("dn.conf", dn_part);
    snprintf(text, sizeof(text), "%s.include dn.conf\n.include = parts\n", head_part);
    tu_write("t.conf", text);
    ck_assert_msg(trisa_csr_config_load(&cfg, "t.conf", NULL) == 0, "%s", trisa_error_last());
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_str_eq(trisa_csr_subject(csr),
                     "OU=second,OU=first,C=US,O=Example VASP,CN=api.example.com");
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    /* .pragma includedir: relative names are taken from there. */
    snprintf(text, sizeof(text),
             ".pragma includedir:parts\n%s[dn]\nCN = api.example.com\n"
             ".include a.conf\n",
             head_part);
    tu_write("t2.conf", text);
    ck_assert_msg(trisa_csr_config_load(&cfg, "t2.conf", NULL) == 0, "%s", trisa_error_last());
    trisa_csr_config_free(cfg);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* fuzz_csr_config: trisa_csr_config_parse() takes text with its length, and the directive
 * check read the line past it (strncmp over ".incl" at the end of a buffer). The buffers
 * here are exactly as long as their text: AddressSanitizer sees a read beyond. */
START_TEST(include_at_the_end_of_a_text_without_a_nul_is_read_within_its_length)
{
    char *dir = in_tmpdir();
    trisa_csr_config *cfg = NULL;
    char text[1024];
    char *exact;
    size_t n;

    exact = malloc(5);
    memcpy(exact, ".incl", 5);
    ck_assert_int_eq(trisa_csr_config_parse(&cfg, exact, 5, "t.conf", NULL), TRISA_ECONFIG);
    free(exact);
    tu_write("dn.conf", dn_part);
    n = (size_t)snprintf(text, sizeof(text), "%s.include dn.conf", head_part);
    exact = malloc(n);
    memcpy(exact, text, n);
    ck_assert_msg(trisa_csr_config_parse(&cfg, exact, n, "t.conf", NULL) == 0, "%s",
                  trisa_error_last());
    trisa_csr_config_free(cfg);
    free(exact);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static const struct {
    const char *name;
    const char *message;
} include_errors[] = {
    {"self", "t.conf:8: .include t.conf: includes itself (a loop)"},
    {"loop", "b.conf:1: .include a.conf: includes itself (a loop)"},
    {"deep", "d16.conf:1: .include d17.conf: more than 16 levels of .include"},
    {"fifo", "t.conf:8: .include fifo.conf: not a regular file (a FIFO)"},
    {"value", "dn.conf:4: [dn] C: country must be a two-letter ISO 3166 code (e.g. US), not (the "
              "value in the included file)"},
    {"shadow", "shadow:1: cannot parse the config: missing equal sign"},
    {"continued", "dn.conf:4: the last line ends with '\\', continuing past the end of the file"},
};

START_TEST(include_errors_name_the_included_file_and_never_echo_it)
{
    char *dir = in_tmpdir();
    trisa_csr_config *cfg = NULL;
    char text[1024];
    const char *name = include_errors[_i].name;
    const char *inc = "dn.conf";

    if (strcmp(name, "self") == 0) {
        inc = "t.conf";
    } else if (strcmp(name, "loop") == 0) {
        tu_write("a.conf", ".include b.conf\n");
        tu_write("b.conf", ".include a.conf\n");
        inc = "a.conf";
    } else if (strcmp(name, "deep") == 0) {
        for (int i = 1; i <= 17; i++) {
            char f[32], body[64];
            snprintf(f, sizeof(f), "d%d.conf", i);
            snprintf(body, sizeof(body), ".include d%d.conf\n", i + 1);
            tu_write(f, body);
        }
        tu_write("d18.conf", "\n");
        inc = "d1.conf";
    } else if (strcmp(name, "fifo") == 0) {
        ck_assert_int_eq(mkfifo("fifo.conf", 0600), 0);
        inc = "fifo.conf";
    } else if (strcmp(name, "value") == 0) {
        tu_write("dn.conf", "[dn]\nCN = api.example.com\nO = Example VASP\nC = USA\n");
    } else if (strcmp(name, "shadow") == 0) {
        /* A line of /etc/shadow: its hash must never reach a message. */
        tu_write("shadow", "root:$y$j9T$S3CR3TSALT$S3CR3THASHS3CR3THASH:19000:0:99999:7:::\n");
        inc = "shadow";
    } else if (strcmp(name, "continued") == 0) {
        tu_write("dn.conf", "[dn]\nCN = api.example.com\nO = Example VASP\nC = US\\\n");
    }
    snprintf(text, sizeof(text), "%s\n.include %s\n", head_part, inc);
    tu_write("t.conf", text);
    alarm(10); /* the FIFO: never waited on */
    ck_assert_int_eq(trisa_csr_config_load(&cfg, "t.conf", NULL), TRISA_ECONFIG);
    alarm(0);
    ck_assert_str_eq(trisa_error_last(), include_errors[_i].message);
    ck_assert_ptr_null(strstr(trisa_error_last(), "S3CR3T"));
    ck_assert_ptr_null(cfg);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(options_check_judges_overrides_alone)
{
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    const char *sans[1];
    ck_assert_int_eq(trisa_csr_config_options_check(NULL), 0);
    ck_assert_int_eq(trisa_csr_config_options_check(&o), 0);
    o.common_name = "api\x1b[0m.example.com";
    ck_assert_int_eq(trisa_csr_config_options_check(&o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(),
                     "--cn: 'api\\x1b[0m.example.com' has a control character (0x1B)");
    o.common_name = NULL;
    o.sans = sans;
    o.san_count = 1;
    sans[0] = "email:j\xc3\xb6rg@example.com";
    ck_assert_int_eq(trisa_csr_config_options_check(&o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "--san: 'j\xc3\xb6rg@example.com' is not ASCII (an email "
                                         "address in a certificate is ASCII: give the domain in "
                                         "its xn-- form)");
    sans[0] = "URI:https://example.com/a b";
    ck_assert_int_eq(trisa_csr_config_options_check(&o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(),
                     "--san: 'https://example.com/a b' has a space or a control character");
    sans[0] = "URI:https://example.com/";
    ck_assert_int_eq(trisa_csr_config_options_check(&o), 0);
    o.version = 1; /* the first version is still taken */
    ck_assert_int_eq(trisa_csr_config_options_check(&o), 0);
}
END_TEST

START_TEST(create_refuses_weak_digests_and_keys_before_signing)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    trisa_csr_options o = TRISA_CSR_OPTIONS_INIT;
    EVP_PKEY *weak = EVP_RSA_gen(1024);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    ck_assert_int_eq(parse(&cfg, base, NULL), 0);
    o.digest = "md5";
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, &o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "digest 'md5' is too weak for a certificate request "
                                         "(certificates signed with it are refused): use sha384 "
                                         "(or sha256, sha512)");
    o.digest = "shake128";
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, &o), TRISA_EINVAL);
    o.digest = NULL;
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, weak, &o), TRISA_EKEY);
    ck_assert_str_eq(trisa_error_last(), "the key: RSA-1024 is too weak: use RSA of 2048, 3072 "
                                         "or 4096 bits (or EC P-256 / P-384)");
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, ed, &o), TRISA_EKEY);
    ck_assert_ptr_null(csr);
    ck_assert_int_eq(trisa_csr_digest_check("SHA384"), 0);
    ck_assert_int_eq(trisa_csr_digest_check("sha512"), 0);
    ck_assert_int_eq(trisa_csr_digest_check(NULL), TRISA_EINVAL);
    EVP_PKEY_free(weak);
    EVP_PKEY_free(ed);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(config_accepts_the_base_and_reads_its_settings)
{
    trisa_csr_config *cfg = NULL;
    trisa_keygen_spec s;
    ck_assert_int_eq(parse(&cfg, base, NULL), 0);
    ck_assert_uint_eq(trisa_csr_config_warning_count(cfg), 0);
    ck_assert_str_eq(trisa_csr_config_common_name(cfg), "api.example.com");
    ck_assert_str_eq(trisa_csr_config_digest(cfg), "sha384");
    ck_assert_str_eq(trisa_csr_config_name(cfg), "t.conf");
    ck_assert_ptr_null(trisa_csr_config_default_keyfile(cfg));
    trisa_csr_config_key_spec(cfg, &s);
    ck_assert_int_eq(s.type, TRISA_KEY_RSA);
    ck_assert_int_eq(s.bits, 2048);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(config_defaults_to_rsa_4096_and_sha384)
{
    trisa_csr_config *cfg = NULL;
    trisa_keygen_spec s;
    char *t1 = edit("default_bits = 2048\ndefault_md = sha384\n", "");
    ck_assert_int_eq(parse(&cfg, t1, NULL), 0);
    trisa_csr_config_key_spec(cfg, &s);
    ck_assert_int_eq(s.bits, 4096);
    ck_assert_str_eq(trisa_csr_config_digest(cfg), "sha384");
    trisa_csr_config_free(cfg);
    free(t1);
}
END_TEST

START_TEST(config_warns_when_cn_is_not_a_san_dns_name)
{
    trisa_csr_config *cfg = NULL;
    char *text = edit("DNS.1 = api.example.com", "DNS.1 = other.example.com");
    ck_assert_int_eq(parse(&cfg, text, NULL), 0);
    ck_assert_uint_eq(trisa_csr_config_warning_count(cfg), 1);
    ck_assert_str_eq(trisa_csr_config_warning(cfg, 0),
                     "t.conf:9: [dn] CN: 'api.example.com' is not among the subjectAltName DNS "
                     "names");
    ck_assert_ptr_null(trisa_csr_config_warning(cfg, 1));
    trisa_csr_config_free(cfg);
    free(text);
    /* the same name in another case is the same DNS name */
    text = edit("DNS.1 = api.example.com", "DNS.1 = API.Example.com");
    ck_assert_int_eq(parse(&cfg, text, NULL), 0);
    ck_assert_uint_eq(trisa_csr_config_warning_count(cfg), 0);
    trisa_csr_config_free(cfg);
    free(text);
}
END_TEST

START_TEST(config_load_reports_missing_file)
{
    trisa_csr_config *cfg = NULL;
    ck_assert_int_eq(trisa_csr_config_load(&cfg, "/nonexistent/trisa.conf", NULL), TRISA_ENOTFOUND);
    ck_assert(strncmp(trisa_error_last(), "/nonexistent/trisa.conf: ", 25) == 0);
    ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(config_load_refuses_a_folder)
{
    char *dir = tu_tmpdir();
    trisa_csr_config *cfg = NULL;
    char want[4200];
    ck_assert_int_eq(trisa_csr_config_load(&cfg, dir, NULL), TRISA_EINVAL);
    snprintf(want, sizeof(want), "%s: not a regular file (a folder)", dir);
    assert_message(want);
    ck_assert_ptr_null(cfg);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(config_load_reads_a_file_and_names_it_in_errors)
{
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "trisa.conf");
    char *text = edit("C = US", "C = USA");
    trisa_csr_config *cfg = NULL;
    char want[4200];

    tu_write(path, base);
    ck_assert_int_eq(trisa_csr_config_load(&cfg, path, NULL), 0);
    trisa_csr_config_free(cfg);
    tu_write(path, text);
    ck_assert_int_eq(trisa_csr_config_load(&cfg, path, NULL), TRISA_ECONFIG);
    snprintf(want, sizeof(want), "%s:13: [dn] C: country must be*", path);
    assert_message(want);
    tu_rmtree(dir);
    free(text);
    free(path);
    free(dir);
}
END_TEST

/* The DN text of one entry, and its ASN.1 string type. */
static void assert_entry(X509_NAME *n, int idx, int nid, const char *value, int type)
{
    X509_NAME_ENTRY *e = X509_NAME_get_entry(n, idx);
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
    ck_assert_int_eq(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), nid);
    ck_assert_int_eq(ASN1_STRING_length(s), (int)strlen(value));
    ck_assert(memcmp(ASN1_STRING_get0_data(s), value, strlen(value)) == 0);
    ck_assert_int_eq(ASN1_STRING_type(s), type);
}

START_TEST(create_builds_subject_extensions_and_sha384_signature)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    X509_REQ *req;
    X509_NAME *n;
    STACK_OF(X509_EXTENSION) * exts;
    ASN1_BIT_STRING *ku;
    EXTENDED_KEY_USAGE *eku;
    int crit = 0;
    char fp[TRISA_KEYGEN_FINGERPRINT_HEX];

    ck_assert_int_eq(parse(&cfg, base, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    req = trisa_csr_get0_req(csr);
    ck_assert_int_eq(X509_REQ_verify(req, key), 1);
    ck_assert_int_eq(X509_REQ_get_version(req), 0);
    ck_assert_int_eq(X509_REQ_get_signature_nid(req), NID_sha384WithRSAEncryption);
    ck_assert_str_eq(trisa_csr_signature_algorithm(csr), "sha384WithRSAEncryption");

    /* subject in config order, repeated OU kept, C printable, the rest UTF-8 */
    n = X509_REQ_get_subject_name(req);
    ck_assert_int_eq(X509_NAME_entry_count(n), 5);
    assert_entry(n, 0, NID_commonName, "api.example.com", V_ASN1_UTF8STRING);
    assert_entry(n, 1, NID_organizationName, "Example VASP", V_ASN1_UTF8STRING);
    assert_entry(n, 2, NID_organizationalUnitName, "Ops", V_ASN1_UTF8STRING);
    assert_entry(n, 3, NID_organizationalUnitName, "TRISA", V_ASN1_UTF8STRING);
    assert_entry(n, 4, NID_countryName, "US", V_ASN1_PRINTABLESTRING);
    ck_assert_str_eq(trisa_csr_subject(csr),
                     "C=US,OU=TRISA,OU=Ops,O=Example VASP,CN=api.example.com");
    ck_assert_str_eq(trisa_csr_common_name(csr), "api.example.com");

    exts = X509_REQ_get_extensions(req);
    ck_assert_int_eq(sk_X509_EXTENSION_num(exts), 3);
    ku = X509V3_get_d2i(exts, NID_key_usage, &crit, NULL);
    ck_assert_int_eq(crit, 1);
    ck_assert(ASN1_BIT_STRING_get_bit(ku, 0));  /* digitalSignature */
    ck_assert(!ASN1_BIT_STRING_get_bit(ku, 1)); /* nonRepudiation */
    ck_assert(ASN1_BIT_STRING_get_bit(ku, 2));  /* keyEncipherment */
    eku = X509V3_get_d2i(exts, NID_ext_key_usage, &crit, NULL);
    ck_assert_int_eq(crit, 0);
    ck_assert_int_eq(sk_ASN1_OBJECT_num(eku), 2);
    ck_assert_int_eq(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
    ck_assert_int_eq(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 1)), NID_client_auth);

    ck_assert_uint_eq(trisa_csr_san_count(csr), 2);
    ck_assert_str_eq(trisa_csr_san(csr, 0), "DNS:api.example.com");
    ck_assert_str_eq(trisa_csr_san(csr, 1), "DNS:www.example.com");
    ck_assert_ptr_null(trisa_csr_san(csr, 2));
    ck_assert_str_eq(trisa_csr_key_description(csr), "RSA 2048");
    ck_assert_int_eq(trisa_keygen_fingerprint_hex(fp, key), 0);
    ck_assert_str_eq(trisa_csr_key_fingerprint(csr), fp);

    ASN1_BIT_STRING_free(ku);
    EXTENDED_KEY_USAGE_free(eku);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(string_mask_is_honoured_without_touching_the_global_default)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    X509_NAME *n;
    unsigned long before = ASN1_STRING_get_default_mask();
    char *text = edit("default_md = sha384", "default_md = sha384\nstring_mask = pkix");

    ck_assert_int_eq(parse(&cfg, text, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    n = X509_REQ_get_subject_name(trisa_csr_get0_req(csr));
    assert_entry(n, 0, NID_commonName, "api.example.com", V_ASN1_PRINTABLESTRING);
    assert_entry(n, 1, NID_organizationName, "Example VASP", V_ASN1_PRINTABLESTRING);
    /* other threads may be building requests with other masks */
    ck_assert_uint_eq(ASN1_STRING_get_default_mask(), before);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    free(text);
}
END_TEST

START_TEST(create_uses_default_md_unless_the_options_say_otherwise)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    trisa_csr_options o = TRISA_CSR_OPTIONS_INIT;
    char *text = edit("default_md = sha384", "default_md = sha256");

    ck_assert_int_eq(parse(&cfg, text, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_str_eq(trisa_csr_signature_algorithm(csr), "sha256WithRSAEncryption");
    trisa_csr_free(csr);
    o.digest = "sha512";
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, &o), 0);
    ck_assert_str_eq(trisa_csr_signature_algorithm(csr), "sha512WithRSAEncryption");
    trisa_csr_free(csr);
    o.digest = "nosuchmd";
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, &o), TRISA_EINVAL);
    ck_assert_str_eq(trisa_error_last(), "unknown digest 'nosuchmd' (expected sha256, sha384 or "
                                         "sha512)");
    ck_assert_ptr_null(csr);
    trisa_csr_config_free(cfg);
    free(text);
}
END_TEST

START_TEST(options_override_cn_and_add_sans)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    const char *sans[] = {"extra.example.com", "IP:192.0.2.7", "DNS:new.example.com"};

    o.common_name = "new.example.com";
    o.sans = sans;
    o.san_count = 3;
    ck_assert_int_eq(parse(&cfg, base, &o), 0);
    ck_assert_str_eq(trisa_csr_config_common_name(cfg), "new.example.com");
    ck_assert_uint_eq(trisa_csr_config_warning_count(cfg), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_str_eq(trisa_csr_common_name(csr), "new.example.com");
    ck_assert_str_eq(trisa_csr_subject(csr),
                     "C=US,OU=TRISA,OU=Ops,O=Example VASP,CN=new.example.com");
    ck_assert_uint_eq(trisa_csr_san_count(csr), 5);
    ck_assert_str_eq(trisa_csr_san(csr, 2), "DNS:extra.example.com");
    ck_assert_str_eq(trisa_csr_san(csr, 3), "IP:192.0.2.7");
    ck_assert_str_eq(trisa_csr_san(csr, 4), "DNS:new.example.com");
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(options_san_alone_satisfies_the_dns_name_rule)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    const char *sans[] = {"api.example.com"};
    char *text = edit("req_extensions = ext\n", "");

    trisa_csr *csr = NULL;

    ck_assert_int_eq(parse(&cfg, text, &o), TRISA_ECONFIG);
    o.sans = sans;
    o.san_count = 1;
    ck_assert_int_eq(parse(&cfg, text, &o), 0);
    /* The request made from it carries that name, and only it. */
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_uint_eq(trisa_csr_san_count(csr), 1);
    ck_assert_str_eq(trisa_csr_san(csr, 0), "DNS:api.example.com");
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    free(text);
}
END_TEST

static const struct {
    const char *cn;
    const char *san;
    const char *message;
} bad_overrides[] = {
    {NULL, "bad..example.com", "--san: 'bad..example.com' is not a valid DNS name"},
    {NULL, "DNS:-x.example.com", "--san: '-x.example.com' is not a valid DNS name"},
    {NULL, "IP:not-an-ip", "--san: cannot use 'IP:not-an-ip'*"},
    {"", NULL, "--cn: the value is empty"},
    {" x.example.com", NULL,
     "--cn: ' x.example.com' has leading or trailing white space (it would be part of the "
     "certificate)"},
};

START_TEST(options_reject_bad_cn_and_san_values)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    const char *sans[1];
    o.common_name = bad_overrides[_i].cn;
    if (bad_overrides[_i].san != NULL) {
        sans[0] = bad_overrides[_i].san;
        o.sans = sans;
        o.san_count = 1;
    }
    ck_assert_int_eq(parse(&cfg, base, &o), TRISA_EINVAL);
    assert_message(bad_overrides[_i].message);
    ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(options_with_unknown_version_are_refused)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr_config_options o = TRISA_CSR_CONFIG_OPTIONS_INIT;
    o.version = 77;
    ck_assert_int_eq(parse(&cfg, base, &o), TRISA_EINVAL);
}
END_TEST

START_TEST(prompt_mode_takes_the_default_values_like_openssl_batch)
{
    static const char text[] = "[req]\n"
                               "distinguished_name = dn\n"
                               "req_extensions = ext\n"
                               "[dn]\n"
                               "commonName = Common Name\n"
                               "commonName_default = api.example.com\n"
                               "commonName_max = 64\n"
                               "countryName = Country\n"
                               "countryName_default = GB\n"
                               "organizationName = Organisation\n"
                               "[ext]\n"
                               "subjectAltName = DNS:api.example.com\n";
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;

    ck_assert_int_eq(parse(&cfg, text, NULL), 0);
    ck_assert_uint_eq(trisa_csr_config_warning_count(cfg), 1); /* prompt is not 'no' */
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_str_eq(trisa_csr_subject(csr), "C=GB,CN=api.example.com");
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(multivalued_rdn_and_inline_san_work_as_in_openssl)
{
    char *t1 = edit("1.OU = TRISA", "1.+OU = TRISA");
    char *t2 = NULL;
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL;
    X509_NAME *n;

    ck_assert_int_eq(parse(&cfg, t1, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    n = X509_REQ_get_subject_name(trisa_csr_get0_req(csr));
    ck_assert_int_eq(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 2)),
                     X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 3)));
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);

    t2 = edit("subjectAltName = @alt", "subjectAltName = DNS:api.example.com, email:a@example.com");
    ck_assert_int_eq(parse(&cfg, t2, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_uint_eq(trisa_csr_san_count(csr), 2);
    ck_assert_str_eq(trisa_csr_san(csr, 1), "email:a@example.com");
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
    free(t1);
    free(t2);
}
END_TEST

START_TEST(pem_round_trip_and_save_refuses_to_replace)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL, *back = NULL;
    char *pem = NULL;
    size_t len = 0;
    char *dir = tu_tmpdir();
    char *path = tu_path(dir, "req.csr");

    ck_assert_int_eq(parse(&cfg, base, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    ck_assert_int_eq(trisa_csr_to_pem(&pem, &len, csr), 0);
    ck_assert(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);
    ck_assert_int_eq(trisa_csr_parse(&back, (unsigned char *)pem, len, "r.csr"), 0);
    ck_assert_str_eq(trisa_csr_subject(back), trisa_csr_subject(csr));
    ck_assert_str_eq(trisa_csr_key_fingerprint(back), trisa_csr_key_fingerprint(csr));
    trisa_csr_free(back);

    ck_assert_int_eq(trisa_csr_save(path, csr, 0), 0);
    ck_assert_int_eq(tu_mode(path), 0644);
    ck_assert_int_eq(trisa_csr_save(path, csr, 0), TRISA_EEXISTS);
    ck_assert_int_eq(trisa_csr_load(&back, path), 0);
    ck_assert_uint_eq(trisa_csr_san_count(back), 2);
    trisa_csr_free(back);
    tu_rmtree(dir);
    free(path);
    free(dir);
    free(pem);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}
END_TEST

START_TEST(parse_rejects_garbage_and_a_broken_signature)
{
    trisa_csr_config *cfg = NULL;
    trisa_csr *csr = NULL, *back = NULL;
    unsigned char *der = NULL;
    int n;

    ck_assert_int_eq(trisa_csr_parse(&back, (const unsigned char *)"nope", 4, "x.csr"), TRISA_ECSR);
    assert_message("x.csr: not a PEM or DER certificate request*");
    ck_assert_int_eq(parse(&cfg, base, NULL), 0);
    ck_assert_int_eq(trisa_csr_create(&csr, cfg, key, NULL), 0);
    n = i2d_X509_REQ(trisa_csr_get0_req(csr), &der);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(trisa_csr_parse(&back, der, (size_t)n, "x.der"), 0); /* DER works */
    trisa_csr_free(back);
    der[n - 5] ^= 0x01; /* inside the signature */
    ck_assert_int_eq(trisa_csr_parse(&back, der, (size_t)n, "x.der"), TRISA_ECSR);
    assert_message("x.der: the request's signature does not verify*");
    ck_assert_ptr_null(back);
    OPENSSL_free(der);
    trisa_csr_free(csr);
    trisa_csr_config_free(cfg);
}
END_TEST

static const struct {
    const char *name;
    int ok;
} dns_names[] = {
    {"example.com", 1},
    {"a.b-c.example.com", 1},
    {"*.example.com", 1},
    {"localhost", 1},
    {"xn--bcher-kva.example", 1},
    {"", 0},
    {".", 0},
    {"example..com", 0},
    {"-a.example.com", 0},
    {"a-.example.com", 0},
    {"a_b.example.com", 0},
    {"example.com.", 0},
    {"*", 0},
    {"*.", 0},
    {"a.*.com", 0},
    {"**.example.com", 0},
    {"exa mple.com", 0},
    {"a.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", 0}, /* 64 */
};

START_TEST(dns_name_check_follows_ldh_rules)
{
    ck_assert_msg(trisa_csr_dns_name_ok(dns_names[_i].name) == dns_names[_i].ok, "'%s'",
                  dns_names[_i].name);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csr");
    TCase *tc = tcase_create("csr");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, make_key, free_key);
    tcase_add_loop_test(tc, config_rejects_each_bad_input_naming_file_line_and_field, 0,
                        sizeof(bad) / sizeof(bad[0]));
    tcase_add_loop_test(tc, config_judges_values_as_utf8_when_the_config_says_so, 0,
                        sizeof(bad_utf8) / sizeof(bad_utf8[0]));
    tcase_add_test(tc, config_refuses_a_nul_byte_that_would_join_two_lines);
    tcase_add_test(tc, config_reports_every_error_in_one_run);
    tcase_add_test(tc, config_reports_bad_dns_names_next_to_a_bad_extension_word);
    tcase_add_test(tc, include_reads_files_and_folders_in_name_order);
    tcase_add_test(tc, include_at_the_end_of_a_text_without_a_nul_is_read_within_its_length);
    tcase_add_loop_test(tc, include_errors_name_the_included_file_and_never_echo_it, 0,
                        sizeof(include_errors) / sizeof(include_errors[0]));
    tcase_add_test(tc, options_check_judges_overrides_alone);
    tcase_add_test(tc, create_refuses_weak_digests_and_keys_before_signing);
    tcase_add_test(tc, config_accepts_the_base_and_reads_its_settings);
    tcase_add_test(tc, config_defaults_to_rsa_4096_and_sha384);
    tcase_add_test(tc, config_warns_when_cn_is_not_a_san_dns_name);
    tcase_add_test(tc, config_load_reports_missing_file);
    tcase_add_test(tc, config_load_refuses_a_folder);
    tcase_add_test(tc, config_load_reads_a_file_and_names_it_in_errors);
    tcase_add_test(tc, create_builds_subject_extensions_and_sha384_signature);
    tcase_add_test(tc, string_mask_is_honoured_without_touching_the_global_default);
    tcase_add_test(tc, create_uses_default_md_unless_the_options_say_otherwise);
    tcase_add_test(tc, options_override_cn_and_add_sans);
    tcase_add_test(tc, options_san_alone_satisfies_the_dns_name_rule);
    tcase_add_loop_test(tc, options_reject_bad_cn_and_san_values, 0,
                        sizeof(bad_overrides) / sizeof(bad_overrides[0]));
    tcase_add_test(tc, options_with_unknown_version_are_refused);
    tcase_add_test(tc, prompt_mode_takes_the_default_values_like_openssl_batch);
    tcase_add_test(tc, multivalued_rdn_and_inline_san_work_as_in_openssl);
    tcase_add_test(tc, pem_round_trip_and_save_refuses_to_replace);
    tcase_add_test(tc, parse_rejects_garbage_and_a_broken_signature);
    tcase_add_loop_test(tc, dns_name_check_follows_ldh_rules, 0,
                        sizeof(dns_names) / sizeof(dns_names[0]));
    suite_add_tcase(s, tc);
    return tu_run(s) == 0 ? 0 : 1;
}
