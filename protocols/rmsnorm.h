/* protocols/rmsnorm.h - RMSNorm with a weight known only to P0.
 *
 * y = x · rsqrt(mean(x²) + eps) ⊙ w per row of n (llama2.c's rmsnorm),
 * eps = 1e-5 added at scale 2f (DESIGN.md §3): with E = round(eps·2^(2f)),
 *     Q = Σ x_i² + n·E   (scale 2f, no truncation),
 *     r = √n · rsqrt(Q)  (fn_inv from scale 2f to RMSNORM_R_SCALE, the √n
 *                         folded into its tables),
 *     y = trunc(u · r),  u = x ⊙ w at scale 2f.
 *
 * The weight is a matmul_weight_t of 1 × n under its one-sided mask B
 * (protocols/matmul.h, set up once with matmul_weight_gen/_eval: P1 holds
 * F = w − B). The square of x and the product with w share one flight:
 * the parties open δ = x − a for a square correlation (a, a²); P1's half,
 * δ1 = x1 − a1, is exactly the one-sided product's E = x1 − A with A = a1
 * (known to P1 and the dealer, not to P0), so with C0 + C1 = a1 ⊙ B
 *     u0 = x0 ⊙ w + δ1 ⊙ B + C0,   u1 = x1 ⊙ F + C1,
 *     x² = δ² + 2δ·a + a²  (shared).
 * P0 learns δ, as in any Beaver square, and nothing else; w never leaves
 * P0 except as F.
 *
 * Public bounds (asserted by the twin): |x| < 2^RMSNORM_INT_BITS, so
 * mean(x²) + eps lies in [eps, 2^14 + eps) and the reciprocal root covers
 * exponents ⌊log2(n·E·2^-2f)⌋ .. ⌊log2 n⌋ + 14 of Q; and |y| < 2^(46 − 2f)
 * (2^14 at f = 16), the truncation's bound at scale 2f + 16.
 * Error: relative 2^-13 from rsqrt's mantissa, 2^-10 from r at scale 16
 * (r >= 2^-7), one ulp of y: relative L2 well under 1e-2.
 *
 * Rounds 6: the shared flight, 3 for rsqrt, rowmul, truncation. Bytes sent
 * per party: 8 per element (δ) + 8 per element and 8 per row (rowmul) + 8
 * per element (truncation) = 24·n + 8, plus the rsqrt's per-row
 * (E − 1)·⌈nb/8⌉ + ⌈W/8⌉ + 16·E (E = 32 exponents at n = 768).
 * Offline to P1: 16 B per element (a², a1⊙B shares) + rowmul + truncation.
 * Sites: RMSNORM_SITES (site for the rsqrt lookup, site + (1 << 32) for the
 * truncation).
 */
#ifndef PROTOCOLS_RMSNORM_H
#define PROTOCOLS_RMSNORM_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"
#include "protocols/matmul.h"

#define RMSNORM_INT_BITS 7
#define RMSNORM_EPS      1e-5
#define RMSNORM_R_SCALE  16
#define RMSNORM_SITES    2

/* Dealer: correlations for rows rows of w->cols elements; w holds B
 * (matmul_weight_gen with rows 1). Fails with the tape's error or
 * MPC_ENOMEM. */
mpc_err_t rmsnorm_gen(mpc_ctx_t *ctx, const matmul_weight_t *w, size_t rows, uint64_t site) MPC_WUR;
/* Party: out (rows × n, scale f) = rmsnorm of x (rows × n, scale f) with
 * the weight w (P0: w and b; P1: f, from matmul_weight_eval). out may alias
 * x. Fails on the channel's or the tape's error, or MPC_ENOMEM. */
mpc_err_t rmsnorm_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const matmul_weight_t *w,
                       size_t rows, uint64_t site) MPC_WUR;
/* The plaintext twin, with P0's weight W (n words, scale f). Aborts when an
 * input breaks the bounds. */
void rmsnorm_plain(uint64_t *out, const uint64_t *x, const uint64_t *W, size_t rows, size_t n,
                   int f, const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

#endif
