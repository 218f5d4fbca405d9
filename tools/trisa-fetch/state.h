/*
 * The --csr state file (DIR/trisa-fetch.state): what was uploaded where, so that a rerun
 * after a crash or a kill continues the same batch and never uploads the same CSR twice.
 * Plain "key=value" lines; written atomically (temp file + rename) at every change.
 */
#ifndef TRISA_TOOLS_FETCH_STATE_H
#define TRISA_TOOLS_FETCH_STATE_H

#include <time.h>

#define FETCH_STATE_FILE "trisa-fetch.state"

typedef enum fetch_phase {
    PHASE_NONE = 0,  /* no state file */
    PHASE_UPLOADING, /* the upload was attempted; no batch id came back (yet) */
    PHASE_UPLOADED,  /* the server gave a batch id */
    PHASE_DONE,      /* files written */
    PHASE_REJECTED,  /* the CA rejected the batch */
} fetch_phase;

typedef struct fetch_state {
    char csr_sha256[65];
    char profile[64];
    char endpoint[512];
    char batch_id[32];
    char status[64]; /* the server's last batch status, normalised */
    fetch_phase phase;
    time_t created;
    time_t updated;
} fetch_state;

/* Read DIR/trisa-fetch.state; 0 with phase PHASE_NONE when absent; TRISA_ESTATE when
 * unreadable or malformed (the message says which line). */
int fetch_state_load(fetch_state *st, const char *dir);

/* Write it atomically (replacing the previous one), stamping `updated`. */
int fetch_state_save(fetch_state *st, const char *dir);

const char *fetch_phase_name(fetch_phase p);

#endif
