/*
 * libFuzzer target: the emulator's configuration (`sectigo serve --config`, conf/emulator.json's
 * form) through emu_config_parse(), and a duration as its "validity" takes one. A
 * configuration that loads must hold only values the server can compute with: each is
 * checked here against the ranges docs/emulator.md gives, so that a lifetime, a delay or a
 * limit never overflows where the server adds, multiplies or converts it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/emu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define YEARS_100 (100LL * 366 * 86400)

static void check(const emu_config *c)
{
    /* Tokens: now + lifetime in seconds (int64); batches: delay and expiry in ms. */
    if (c->access_lifetime <= 0 || c->access_lifetime > YEARS_100 || c->refresh_lifetime <= 0 ||
        c->refresh_lifetime > YEARS_100 || c->refresh_not_before < -YEARS_100 ||
        c->refresh_not_before > YEARS_100 || !isfinite(c->processing_delay) ||
        c->processing_delay < 0 || c->processing_delay > (double)YEARS_100 || c->expire_after < 0 ||
        c->expire_after > YEARS_100 || c->max_body < 1024 || c->max_body > ((size_t)1 << 40) ||
        c->issuer == NULL) {
        abort();
    }
    for (size_t i = 0; i < c->nprofiles; i++) {
        const emu_profile *p = &c->profiles[i];
        if (p->validity < 1 || p->validity > 3650L * 86400 || p->server_key_bits < 1024 ||
            p->server_key_bits > 16384) {
            abort();
        }
    }
    for (size_t i = 0; i < c->nauthorities; i++) {
        if (emu_config_profile(c, c->authorities[i].issuing_profile_id) == NULL) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emu_config c;
    char *s = malloc(size + 1);
    long secs;

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (emu_config_parse(&c, s, size, "fuzz.json") == 0) {
        check(&c);
        emu_config_free(&c);
    } else if (trisa_error_last()[0] == '\0') {
        abort(); /* a refusal says why */
    }
    if (emu_parse_duration(s, 3650L * 86400, &secs) == 0 && (secs < 1 || secs > 3650L * 86400)) {
        abort();
    }
    free(s);
    trisa_error_clear();
    return 0;
}
