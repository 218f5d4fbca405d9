/*
 * Process hardening shared by the tools: what a password or a token leaves behind in a
 * process is kept from other users and from core files.
 */
#ifndef TRISA_TOOLS_HARDEN_H
#define TRISA_TOOLS_HARDEN_H

/* Make this process non-dumpable (prctl PR_SET_DUMPABLE 0: no core file, /proc/PID/mem,
 * environ and ptrace closed to other processes of the user) with a core size limit of 0,
 * from now to exit. Call first thing in main(). Failures are ignored (best effort). */
void tool_harden(void);

/* A secret given on the command line: returns a private copy of arg and overwrites arg
 * in place with 'x' (same length), so /proc/PID/cmdline no longer shows it. The copy
 * lives until exit, when it is wiped (OPENSSL_cleanse, whole allocation) and freed.
 * NULL when out of memory. */
const char *tool_secret_arg(char *arg);

#endif
