/* Shared between csr/config.c and csr/csr.c; not installed. */
#ifndef TRISA_CSR_INTERNAL_H
#define TRISA_CSR_INTERNAL_H

#include <openssl/conf.h>
#include <openssl/x509.h>

#include "trisa/csr.h"

/* Where a line of the expanded text came from: the config, or a file it includes. */
typedef struct csr_line_origin {
    unsigned file; /* index into files */
    unsigned line; /* 1-based line in that file */
} csr_line_origin;

struct trisa_csr_config {
    char *name;              /* file name for messages */
    char *text;              /* the text with every .include expanded, as NCONF read it */
    char **files;            /* files[0] is name; then each included file */
    size_t nfiles;           /*   */
    csr_line_origin *origin; /* origin[i] for line i + 1 of text */
    size_t nlines;           /*   */
    size_t text_budget;      /* bytes the expanded text may still grow by */
    CONF *conf;              /* parsed by NCONF */
    char *section;           /* "req" */
    char *dn_section;        /* distinguished_name */
    char *ext_section;       /* req_extensions or the override; NULL when none */
    int ext_broken;          /* the extension section is missing: no SAN checks */
    char *attr_section;      /* attributes; NULL when none */
    char *digest;            /* default_md or "sha384" */
    char *keyfile;           /* default_keyfile or NULL */
    int bits;                /* default_bits or 4096 */
    int prompt;              /* prompt != no: values from NAME_default */
    unsigned long chtype;    /* MBSTRING_ASC, or MBSTRING_UTF8 with utf8 = yes */
    unsigned long mask;      /* string_mask */
    char *cn_override;
    int cn_done;
    int cn_seen; /* a CN field was there, valid or not */
    char **sans; /* --san values */
    size_t nsans;
    X509_NAME *subject; /* built and checked at load time */
    char *cn;           /* the subject's first CN */
    char **warnings;
    size_t nwarnings;
    /* Errors: every one is reported (on_error), the first is kept for the return. */
    size_t nerrors;
    char *first_error;
    int fatal_code; /* a code other than TRISA_ECONFIG (out of memory) */
    trisa_csr_config_error_fn on_error;
    void *on_error_ctx;
    char shown[4][192]; /* values quoted in messages, escaped */
    unsigned nshown;
};

/* The requested extensions for req (subject and, unless test, public key set), with the
 * config's SAN merged with the --san values. *out may come back NULL (no extensions). */
int trisa_csr_config_extensions(STACK_OF(X509_EXTENSION) * *out, const trisa_csr_config *c,
                                X509_REQ *req, int test);

/* An ASN.1 string for attribute or DN field `nid`, chosen as ASN1_STRING_set_by_NID
 * would with the process-wide string mask set to `mask` (which is left alone: other
 * threads may be using it). NULL on error (OpenSSL's queue says why). */
ASN1_STRING *trisa_csr_encode_string(int nid, const char *value, unsigned long chtype,
                                     unsigned long mask);

/* A syntactically valid DNS name for a certificate: LDH labels of 1..63, total <= 253,
 * an optional leading "*." wildcard, no trailing dot. */
int trisa_csr_dns_name_ok(const char *name);

/* Why a subjectAltName value of this type is unusable ("" when it is fine): emails and
 * URIs are ASCII without spaces or controls, an email is local@domain with a DNS domain,
 * a URI has a scheme. */
const char *trisa_csr_san_problem(int gen_type, const char *value);

/* Why a subject value is unusable, NULL when fine: controls, invisible or bidirectional
 * characters, white space (of any script) at an end, an unfilled <placeholder>, UTF-8
 * that is not, or UTF-8 bytes in a config that does not say utf8 = yes. */
const char *trisa_csr_value_problem(const char *v, int utf8);

#endif
