/* mpc/stats.h - communication and time counters, per named operation and
 * per phase.
 *
 * Every byte a party sends or receives on the P0-P1 link, every message, every
 * round (an increase of the Lamport depth, DESIGN.md §4) and all wall time is
 * charged to the innermost open operation and the current phase. Bytes from
 * the dealer are counted apart as offline bytes. Operations nest (matmul opens
 * trunc); each counter is exclusive of nested operations, so the rows add up
 * to the totals.
 *
 * Operation names are string literals; the table keeps the pointers.
 */
#ifndef MPC_STATS_H
#define MPC_STATS_H

#include <stdint.h>
#include <stdio.h>

typedef enum mpc_phase {
    PHASE_SETUP,   /* the one-off weight-mask transfer */
    PHASE_PREFILL, /* the prompt */
    PHASE_DECODE,  /* decode steps */
    PHASE_SELECT,  /* KV selection inside decode steps */
    PHASE_OTHER,
    PHASE_COUNT
} mpc_phase_t;

typedef struct stats_row {
    uint64_t bytes_sent, bytes_recv; /* P0-P1 link */
    uint64_t msgs_sent, msgs_recv;
    uint64_t rounds;
    uint64_t offline_bytes; /* dealer -> this party */
    uint64_t calls;
    double time_s;
} stats_row_t;

#define STATS_MAX_OPS 96
#define STATS_MAX_DEPTH 16

typedef struct stats {
    const char *op_names[STATS_MAX_OPS];
    stats_row_t rows[PHASE_COUNT][STATS_MAX_OPS];
    int n_ops;
    int stack[STATS_MAX_DEPTH]; /* indices into op_names; [0] is "other" */
    int top;
    mpc_phase_t phase;
    double mark; /* time of the last charge */
} stats_t;

/* Resets every counter; the innermost operation becomes "other". */
void stats_init(stats_t *s);

/* Opens operation name (a string literal) and counts one call of it. */
void stats_push(stats_t *s, const char *name);
/* Closes the innermost operation. */
void stats_pop(stats_t *s);
/* Switches the phase, charging the time so far to the previous one. */
void stats_phase(stats_t *s, mpc_phase_t phase);

/* The row that the next charges go to. */
stats_row_t *stats_cur(stats_t *s);
/* Charges wall time since the last charge to the current row. */
void stats_tick(stats_t *s);

/* Sums of every row, over all phases (phase < 0) or one phase. */
stats_row_t stats_total(const stats_t *s, int phase);
/* The sum over phases of one operation (NULL if the name was never used). */
stats_row_t stats_op(const stats_t *s, const char *name);

/* Adds b into a, row by row (used to merge a peer's report). */
void stats_row_add(stats_row_t *a, const stats_row_t *b);

const char *stats_phase_name(mpc_phase_t phase);

/* Writes a human-readable table, one line per (phase, op) with traffic. */
void stats_report(const stats_t *s, FILE *out);

/* Monotonic wall time in seconds. */
double stats_now(void);

#endif
