/*
 * Example: enrol a CSR with the trisa library's engine (trisa/enroll.h): checked before
 * anything is sent, uploaded at most once, followed, downloaded, bound to our key,
 * verified, written to a folder; then the certificate from the result in memory.
 *
 *   SECTIGO_USERNAME=... SECTIGO_PASSWORD=... [SECTIGO_ENDPOINT=... SECTIGO_ENVIRONMENT=...]
 *   enroll_csr request.csr key.pem profile-id trust-anchors.pem out-dir
 *
 * Run it again: the journal (in $TRISA_STATE_DIR, ~/.local/state/trisa, ...) knows the
 * request, so nothing is uploaded twice and it says "already issued".
 *
 * Build against an installed trisa:  cc enroll_csr.c $(pkg-config --cflags --libs trisa)
 * (or this folder's CMakeLists.txt, with find_package(trisa) and trisa::trisa)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <trisa/trisa.h>

static void progress(const trisa_enroll_event *ev, void *data)
{
    (void)data;
    switch (ev->step) {
    case TRISA_ENROLL_STEP_UPLOADED:
        printf("uploaded: batch %lld\n", ev->batch_id);
        break;
    case TRISA_ENROLL_STEP_CONTINUING:
        printf("continuing batch %lld\n", ev->batch_id);
        break;
    case TRISA_ENROLL_STEP_VERIFIED:
        printf("verified: %s\n", trisa_bundle_report_ok(ev->report) ? "yes" : "no");
        break;
    case TRISA_ENROLL_STEP_WROTE:
        printf("wrote %s in %s\n", ev->text, ev->path);
        break;
    case TRISA_ENROLL_STEP_DONE:
        printf("%s\n", ev->text);
        break;
    default:
        break;
    }
}

/* A profile id: digits only. */
static long long atoll_checked(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '\0' && v > 0 ? v : 0;
}

/* The subject as the trisa tools print it: an RFC 4514 string, UTF-8 kept. */
static void name_rfc4514(char *out, size_t cap, const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = 0;
    out[0] = '\0';
    if (bio != NULL &&
        X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_read(bio, out, (int)cap - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
}

static void warn(const char *message, void *data)
{
    (void)data;
    fprintf(stderr, "warning: %s\n", message);
}

int main(int argc, char **argv)
{
    trisa_enroll_options o = TRISA_ENROLL_OPTIONS_INIT;
    trisa_enroll_result *result = NULL;
    const char *keys[1], *fullchain;
    char subject[256];
    int rc;

    if (argc != 6) {
        fprintf(stderr, "usage: %s request.csr key.pem profile-id trust.pem out-dir\n", argv[0]);
        return 2;
    }
    keys[0] = argv[2];
    o.source = TRISA_ENROLL_FROM_CSR;
    o.csr_file = argv[1];
    o.profile_id = atoll_checked(argv[3]);
    o.key_files = keys;
    o.key_count = 1;
    o.trust_file = argv[4];
    o.out_dir = argv[5];
    o.interval_s = 1;
    o.timeout_s = 300;
    o.endpoint = getenv("SECTIGO_ENDPOINT");
    o.environment = getenv("SECTIGO_ENVIRONMENT");
    o.username = getenv("SECTIGO_USERNAME");
    o.password = getenv("SECTIGO_PASSWORD");
    o.progress = progress;
    o.warn = warn;

    rc = trisa_enroll_run(&result, &o);
    if (rc != 0) {
        fprintf(stderr, "error: %s (%s)\n", trisa_error_last(), trisa_strerror(rc));
        return 1;
    }
    /* The verified result is in memory as well as in the folder. */
    name_rfc4514(subject, sizeof(subject),
                 X509_get_subject_name(trisa_enroll_result_leaf(result, 0)));
    fullchain = trisa_enroll_result_pem(result, 0, TRISA_ENROLL_PEM_FULLCHAIN);
    printf("batch %lld: %s, %zu bytes of fullchain.pem in %s\n",
           trisa_enroll_result_batch_id(result), subject, fullchain != NULL ? strlen(fullchain) : 0,
           trisa_enroll_result_dir(result, 0));
    trisa_enroll_result_free(result);
    return 0;
}
