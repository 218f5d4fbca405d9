/*
 * Internal helpers shared by the library's modules and the emulator. Not installed; not
 * part of the public API. The tools see only common/support.h.
 */
#ifndef TRISA_COMMON_INTERNAL_H
#define TRISA_COMMON_INTERNAL_H

#include "common/support.h"

/* As trisa_error_set, then drain OpenSSL's error queue into the message (": reason"). */
int trisa_error_set_ssl(int code, const char *fmt, ...) TRISA_PRINTF(2, 3);

/* Wipe then free; NULL ignored. */
void trisa_free_secret(void *p, size_t len);

#endif
