/* protocols/matmul.h - matrix products with mask reuse (DESIGN.md §3).
 *
 * Two kinds of fixed operand keep one mask for life, so that each product
 * opens only the fresh input:
 *
 * 1. Weights, one-sided mask. P0 knows W in the clear; its mask B is keyed
 *    by the weight id in the P0-dealer seed, so P0 and the dealer know B and
 *    P1 does not. At setup P0 sends F = W - B to P1 once (phase "setup",
 *    rows*cols*8 bytes). For y = x W^T with x = x0 + x1 (m x k), P1 sends
 *    E = x1 - A, where A is fresh and known to P1 only (from its seed), and
 *        y0 = x0 W^T + E B^T + C0,   y1 = x1 F^T + C1,   C0 + C1 = A B^T.
 *    One flight of m*k words from P1 to P0 per product; one A may serve every
 *    weight that multiplies the same x (Wq|Wk|Wv, W1|W3). Offline: P1
 *    receives C1 (m*rows words per weight).
 *    (One-sided masking of a weight against a client's input: Mohassel-Zhang
 *    SecureML's matrix triples, specialised so that only P1's side travels.)
 *
 * 2. Secret-shared fixed operands (a KV row once written): Y = Y0 + Y1 is
 *    masked by a random shared B; F = Y - B is opened once (1 round) and
 *    kept. For Z = X Y^T (or X Y), the parties open E = X - A for a fresh
 *    shared A and set Z = [P0] E F^T + E B^T + A F^T + C with C = A B^T.
 *    Any oblivious write to such an operand must re-mask every element it
 *    may have changed (the policy that writes pays for it).
 *
 * Products are left at scale 2f; matmul_eval truncates when given a site.
 * Layout: row-major; weights [out][in] as in llama2.c checkpoints.
 *
 * The ring products (dealer's and parties') and the truncation's local
 * arithmetic run on ctx->device when it holds one and the dispatcher of
 * kernels/dev.h picks it for the job's size and shape, else on the CPU; the
 * bits are the same. A device failure is MPC_EDEVICE, outputs unspecified.
 */
#ifndef PROTOCOLS_MATMUL_H
#define PROTOCOLS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* A weight matrix (rows x cols) under its one-sided mask. Which buffer is
 * set depends on the role: P0 holds w (W) and b (B), P1 holds f (F = W - B),
 * the dealer holds b. The struct owns its buffers. */
typedef struct matmul_weight {
    uint32_t id;
    size_t rows, cols;
    uint64_t *w, *b, *f;
} matmul_weight_t;

/* Dealer: derives B for weight id (no traffic). */
mpc_err_t matmul_weight_gen(mpc_ctx_t *ctx, matmul_weight_t *wt, uint32_t id, size_t rows,
                            size_t cols) MPC_WUR;
/* Party: P0 passes W (rows x cols, fixed point), derives B and sends F to P1;
 * P1 passes W = NULL and receives F. Charged to the setup phase. One flight,
 * rows*cols*8 bytes. */
mpc_err_t matmul_weight_eval(mpc_ctx_t *ctx, matmul_weight_t *wt, const uint64_t *W, uint32_t id,
                             size_t rows, size_t cols) MPC_WUR;
/* Zeroes and frees the buffers; accepts an empty struct. */
void matmul_weight_free(matmul_weight_t *wt);

/* Dealer: correlations for y_j = x W_j^T for nw weights sharing one input
 * of m rows, then (if f > 0) truncation of every output by f at sites
 * site, site + 1, ... (one per weight). */
mpc_err_t matmul_gen(mpc_ctx_t *ctx, matmul_weight_t *const *ws, int nw, size_t m, int f,
                     uint64_t site) MPC_WUR;
/* Party: y[j] (m x ws[j]->rows) = x (m x cols) ws[j]^T, truncated by f when
 * f > 0. Rounds: 1 (P1 -> P0) plus 1 for the truncation. Bytes: P1 sends
 * m*cols*8; the truncation opens m*rows words each way. */
mpc_err_t matmul_eval(mpc_ctx_t *ctx, uint64_t *const *y, const uint64_t *x,
                      matmul_weight_t *const *ws, int nw, size_t m, int f, uint64_t site) MPC_WUR;

/* A secret-shared fixed operand Y (rows x cols) that may grow by rows up
 * to cap (a KV cache). Parties hold F (public) and their share of B; the
 * dealer holds B. Owns its buffers. */
typedef struct matmul_fixed {
    size_t rows, cols, cap;
    uint64_t *f; /* parties: F = Y - B, (cap x cols) */
    uint64_t *b; /* parties: share of B; dealer: B, (cap x cols) */
} matmul_fixed_t;

/* Any role: an empty operand with room for cap rows of cols (no traffic). */
mpc_err_t matmul_fixed_reserve(mpc_ctx_t *ctx, matmul_fixed_t *y, size_t cap, size_t cols) MPC_WUR;

/* Dealer / party: appends rows[j] rows to operand ys[j] for j < count, all
 * opened in one flight: new[j] holds this party's share of the new rows.
 * 1 round; each party sends sum(rows[j]) * cols words. Rows already there
 * keep their masks. */
mpc_err_t matmul_fixed_append_gen(mpc_ctx_t *ctx, matmul_fixed_t *const *ys, const size_t *rows,
                                  int count) MPC_WUR;
mpc_err_t matmul_fixed_append_eval(mpc_ctx_t *ctx, matmul_fixed_t *const *ys,
                                   const uint64_t *const *fresh, const size_t *rows,
                                   int count) MPC_WUR;

/* One product of a batch: Z = X Y^T (trans) or X Y, over the operand's
 * current rows; see matmul_fixed_mul_eval. */
typedef struct matmul_fixed_job {
    uint64_t *Z;
    const uint64_t *X;
    const matmul_fixed_t *y;
    size_t m;
    int trans;
} matmul_fixed_job_t;

/* Dealer / party: count independent products whose inputs are opened in one
 * flight: 1 round; each party sends the sum of the jobs' m x (inner) words. */
mpc_err_t matmul_fixed_mul_many_gen(mpc_ctx_t *ctx, const matmul_fixed_job_t *jobs,
                                    int count) MPC_WUR;
mpc_err_t matmul_fixed_mul_many_eval(mpc_ctx_t *ctx, const matmul_fixed_job_t *jobs,
                                     int count) MPC_WUR;

/* Dealer: a fresh shared mask B for a fixed operand. */
mpc_err_t matmul_fixed_gen(mpc_ctx_t *ctx, matmul_fixed_t *y, size_t rows, size_t cols) MPC_WUR;
/* Party: masks the share Y (rows x cols) and opens F = Y - B. 1 round,
 * rows*cols*8 bytes each way. */
mpc_err_t matmul_fixed_eval(mpc_ctx_t *ctx, matmul_fixed_t *y, const uint64_t *Y, size_t rows,
                            size_t cols) MPC_WUR;
void matmul_fixed_free(matmul_fixed_t *y);

/* Dealer / party: Z = X Y^T (trans = 1; X is m x cols, Z is m x rows) or
 * Z = X Y (trans = 0; X is m x rows, Z is m x cols), left at scale 2f.
 * 1 round; each party sends the m x (inner) words of its E share. */
mpc_err_t matmul_fixed_mul_gen(mpc_ctx_t *ctx, const matmul_fixed_t *y, size_t m,
                               int trans) MPC_WUR;
mpc_err_t matmul_fixed_mul_eval(mpc_ctx_t *ctx, uint64_t *Z, const uint64_t *X,
                                const matmul_fixed_t *y, size_t m, int trans) MPC_WUR;

/* Plaintext twins. matmul_plain: y[j] = x ws[j]->w^T for the plain weights
 * in ws[j]->w, then (f > 0) the truncation of the outputs concatenated, as
 * matmul_eval does, from the rounding stream of round_seed at site.
 * matmul_fixed_mul_plain: Z = X Y^T (trans) or X Y over Y's rows, with the
 * plain values in y->f. */
void matmul_plain(uint64_t *const *y, const uint64_t *x, matmul_weight_t *const *ws, int nw,
                  size_t m, int f, const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);
void matmul_fixed_mul_plain(const matmul_fixed_job_t *jobs, int count);

#endif
