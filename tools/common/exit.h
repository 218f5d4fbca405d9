/*
 * Exit codes shared by trisa-csr, trisa-fetch and sectigo (documented in their man pages
 * and README.md), and the one way the tools report a library error.
 */
#ifndef TRISA_TOOLS_EXIT_H
#define TRISA_TOOLS_EXIT_H

enum tool_exit {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_FAILURE = 1,   /* anything not listed below */
    TOOL_EXIT_USAGE = 2,     /* bad command line */
    TOOL_EXIT_INPUT = 3,     /* invalid input: config, CSR, key, bundle, ZIP */
    TOOL_EXIT_EXISTS = 4,    /* refused to replace an existing file */
    TOOL_EXIT_AUTH = 5,      /* authentication or authorisation */
    TOOL_EXIT_API = 6,       /* the server answered with an error */
    TOOL_EXIT_NETWORK = 7,   /* connection, TLS or timeout */
    TOOL_EXIT_REJECTED = 8,  /* batch rejected by the CA */
    TOOL_EXIT_PENDING = 9,   /* batch still processing: run again later */
    TOOL_EXIT_VERIFY = 10,   /* certificate verification or key match failed */
    TOOL_EXIT_PASSWORD = 11, /* wrong bundle password */
    TOOL_EXIT_TOKEN = 12,    /* PKCS#11 token error */
    TOOL_EXIT_PIN = 13,      /* wrong PIN or locked token */
    TOOL_EXIT_ENV = 14,      /* endpoint refused by the environment guard */
    TOOL_EXIT_BUSY = 15,     /* another process holds the request (--no-wait) */
};

/* Map a TRISA_E* code to an exit code. */
int tool_exit_code(int err);

/* Print "prog: error: <trisa_error_last() or the code's text>" and return the exit code. */
int tool_fail(const char *prog, int err);

/* Print "prog: warning: ..." to stderr. */
void tool_warn(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
