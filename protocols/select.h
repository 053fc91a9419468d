/* protocols/select.h - the multiplexer, ReLU and the maximum of a row.
 *
 * A secret bit b is an additive share in Z_2^64 of 0 or 1 (what cmp_*
 * returns). sel_mux computes b ? x : y = y + b·(x − y) with one Beaver
 * product: 1 round, 16 B sent per element per party (the openings of the
 * triple), 8 B offline per element to P1.
 *
 * sel_max is the maximum of each row by a tournament tree: at each level the
 * surviving elements are paired, compared (cmp_drelu on a − b, 1 round) and
 * the larger kept (sel_mux, 1 round); an odd element waits for the next
 * level. Rows of n elements take 2⌈log2 n⌉ rounds; all rows go level by
 * level together, so the round count does not grow with the row count.
 * The caller states nbits with the public bound |a − b| < 2^(nbits−1) for
 * any two elements of a row (masked entries hold a finite sentinel inside
 * that range, DESIGN.md §3).
 */
#ifndef PROTOCOLS_SELECT_H
#define PROTOCOLS_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* Dealer / party: out = b ? x : y element-wise (n elements; out may alias
 * x or y). 1 round. */
mpc_err_t sel_mux_gen(mpc_ctx_t *ctx, size_t n) MPC_WUR;
mpc_err_t sel_mux_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *b, const uint64_t *x,
                       const uint64_t *y, size_t n) MPC_WUR;

/* Dealer / party: out = ReLU(x) = DReLU(x)·x, with |x| < 2^(nbits−1).
 * 2 rounds. */
mpc_err_t sel_relu_gen(mpc_ctx_t *ctx, size_t n, int nbits) MPC_WUR;
mpc_err_t sel_relu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n,
                        int nbits) MPC_WUR;

/* Dealer / party: out[r] = max of row r of x (rows x n, row-major). x is
 * not modified. 2⌈log2 n⌉ rounds. */
mpc_err_t sel_max_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits) MPC_WUR;
mpc_err_t sel_max_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                       int nbits) MPC_WUR;

/* Plaintext twins (exact: no rounding is involved). */
void sel_relu_plain(uint64_t *out, const uint64_t *x, size_t n, int nbits);
void sel_max_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, int nbits);

#endif
