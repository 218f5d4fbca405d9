/*
 * How every tool reports, the same way: messages for people on stderr ("prog: error: ...",
 * "prog: warning: ..."), data on stdout, and with --json exactly one JSON document on
 * stdout, errors included:
 *
 *     {"error": {"exit": 3, "code": "config", "message": "trisa.conf:26: ..."}}
 *
 * (with "details": [every message] when a run found several). A tool adopts it in three
 * lines: tool_report_init() first thing in main(), tool_report_set_json() where its parser
 * reads --json, and `return tool_finish(rc);` at the end of main(). Errors go through
 * tool_fail(), tool_usage_error() or tool_error(); all of them feed the document.
 * -V / --version prints one version string in every tool (tool_version()), and Ctrl-C
 * prints what to do next (tool_report_interrupt_hint()) before the process ends with 130.
 */
#ifndef TRISA_TOOLS_REPORT_H
#define TRISA_TOOLS_REPORT_H

#include <stdarg.h>

#include "common/support.h"

/* Exit code of Ctrl-C (128 + SIGINT), as a shell reports it. */
#define TOOL_EXIT_INTERRUPTED 130

/* Start reporting for the program `prog` ("trisa-fetch"). --json is looked for in argv
 * at once (before "--"; "--json", "--json=true", and "-json" too when single_dash), so
 * that a usage error before the parser reaches it is JSON too. */
void tool_report_init(const char *prog, int argc, char **argv, int single_dash);

/* The parser read --json (on = 1) or --json=false (on = 0). */
void tool_report_set_json(int on);

/* Whether --json is on. */
int tool_report_json(void);

/* The program name given to tool_report_init() ("trisa" before it). */
const char *tool_report_prog(void);

/* Report an error: "prog: error: MESSAGE" on stderr, and MESSAGE kept for the JSON
 * document. `code` names it for machines (tool_code_name() of a library code, or
 * "usage", "input", "exists", "failure", ...). Returns exit_code. */
int tool_error(const char *prog, int exit_code, const char *code, const char *fmt, ...)
    TRISA_PRINTF(4, 5);

/* Keep a message for the JSON document without printing it (already printed on stderr
 * in another form, e.g. a usage error's line). */
void tool_report_note(int exit_code, const char *code, const char *message);

/* JSON members (e.g. "\"certificates\": [...]") to put beside "error" in the error
 * document; copied. NULL clears. */
void tool_report_extra(const char *members);

/* The tool printed its document on stdout: tool_finish() prints nothing more. */
void tool_report_printed(void);

/* The end of main(): with --json and a non-zero rc, print the error document (unless the
 * tool printed one); then flush stdout. Returns rc (1 when stdout could not be written). */
int tool_finish(int rc);

/* Print the version, "PROG version X (trisa-certkit)" (with --json: {"program": ...,
 * "version": ..., "package": "trisa-certkit"}). Returns 0. */
int tool_version(void);

/* What Ctrl-C should tell the operator ("run the same command to continue batch 24"):
 * printed as "prog: interrupted: TEXT" (and as the JSON error's message) when SIGINT
 * arrives, before the process ends with 130. NULL: nothing (Ctrl-C ends it as usual,
 * with the JSON error under --json). Not async-signal-safe: call it from normal code. */
void tool_report_interrupt_hint(const char *text);

/* The name of a TRISA_E* code in JSON errors: the code's name without TRISA_E, lower
 * case ("config", "mismatch", "notfound"; TRISA_ERROR is "error"). */
const char *tool_code_name(int err);

/* The name of an exit code: "failure", "usage", "input", "exists", "auth", "api",
 * "network", "rejected", "pending", "verify", "password", "token", "pin", "environment",
 * "busy", "interrupted". */
const char *tool_exit_name(int exit_code);

#endif
