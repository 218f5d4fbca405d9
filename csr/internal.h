/* Shared between csr/config.c and csr/csr.c; not installed. */
#ifndef TRISA_CSR_INTERNAL_H
#define TRISA_CSR_INTERNAL_H

#include <openssl/conf.h>
#include <openssl/x509.h>

#include "trisa/csr.h"

struct trisa_csr_config {
    char *name;           /* file name for messages */
    char *text;           /* the file's text, to find line numbers */
    CONF *conf;           /* parsed by NCONF */
    char *section;        /* "req" */
    char *dn_section;     /* distinguished_name */
    char *ext_section;    /* req_extensions or the override; NULL when none */
    char *attr_section;   /* attributes; NULL when none */
    char *digest;         /* default_md or "sha384" */
    char *keyfile;        /* default_keyfile or NULL */
    int bits;             /* default_bits or 4096 */
    int prompt;           /* prompt != no: values from NAME_default */
    unsigned long chtype; /* MBSTRING_ASC, or MBSTRING_UTF8 with utf8 = yes */
    unsigned long mask;   /* string_mask */
    char *cn_override;
    int cn_done;
    char **sans; /* --san values */
    size_t nsans;
    X509_NAME *subject; /* built and checked at load time */
    char *cn;           /* the subject's first CN */
    char **warnings;
    size_t nwarnings;
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

#endif
