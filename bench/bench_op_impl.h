/* bench/bench_op_impl.h - what the op benchmark's tables share: a case
 * (inputs' shares, outputs, the float64 reference) and an op definition.
 * Each family of protocols registers its ops in a table of its own file
 * (bench_op.c: linear; bench_op_cmp.c: comparisons and selection;
 * bench_op_math.c: functions), ended by an entry with a NULL name. */
#ifndef BENCH_BENCH_OP_IMPL_H
#define BENCH_BENCH_OP_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* One benchmark case: inputs per party, outputs per party, and the float64
 * reference of the reconstructed output. */
typedef struct op_case {
    size_t n;
    int f;
    uint64_t *x[2], *y[2]; /* operands' shares */
    uint64_t *out[2];
    size_t out_n;
    int out_scale;
    double *ref;
    uint64_t *W;          /* matmul: P0's weight */
    void *aux;            /* anything else an op needs (freed with free) */
    double setup_done[2]; /* when each party finished its setup phase */
} op_case_t;

typedef struct op_def {
    const char *name;
    /* Makes the inputs, their shares, the outputs and the reference. */
    void (*prepare)(op_case_t *c);
    /* The dealer's generation when ctx->party is MPC_DEALER, else the
     * party's evaluation. */
    mpc_err_t (*role)(mpc_ctx_t *ctx, op_case_t *c);
    size_t max_n;
    /* FSS key bytes per element (both parties' keys), or NULL. */
    double (*key_bytes)(size_t n);
} op_def_t;


/* Uniform reals in [lo, hi). */
void bench_random_reals(double *v, size_t n, double lo, double hi, prg_t *g);
/* A fresh PRG with a random seed. */
prg_t *bench_prg(void);
/* Shares plain (n words) into s[0], s[1] (allocated here). */
void bench_share(uint64_t *s[2], const uint64_t *plain, size_t n, prg_t *g);
/* Allocates the outputs (n words per party) and the reference; the output
 * decodes at fixed-point scale `scale` (0 for exact integer outputs). */
void bench_alloc_out(op_case_t *c, size_t n, int scale);

extern const op_def_t bench_ops_cmp[];
extern const op_def_t bench_ops_math[];

#endif
