#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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
                     "CN=api.example.com, O=Example VASP, OU=Ops, OU=TRISA, C=US");
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
                     "CN=new.example.com, O=Example VASP, OU=Ops, OU=TRISA, C=US");
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

    ck_assert_int_eq(parse(&cfg, text, &o), TRISA_ECONFIG);
    o.sans = sans;
    o.san_count = 1;
    ck_assert_int_eq(parse(&cfg, text, &o), 0);
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
    ck_assert_str_eq(trisa_csr_subject(csr), "CN=api.example.com, C=GB");
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
