/* protocols/softmax.h - softmax over rows with a public validity mask.
 *
 * p_i = e^(x_i − m) / Σ_j e^(x_j − m) over the valid entries of a row,
 * m = the row's maximum; masked entries get exactly 0 (DESIGN.md §4). The
 * mask is public (causal attention, a KV budget), so masked entries never
 * enter the exponentials, the sum or the product: only the maximum sees
 * them, as the finite sentinel −2^(SOFTMAX_INT_BITS + in_scale), inside the
 * comparisons' range (DESIGN.md §3).
 *
 * Steps (SIGMA's softmax, Gupta et al. PETS 2024 §5.3, with this project's
 * lookups), all rows batched level by level:
 *   1. m = sel_max over the row (tournament, 2⌈log2 n⌉ rounds, DReLU on
 *      in_scale + 8 bits);
 *   2. e = fn_exp(x − m) at scale 24 on the valid entries (3 rounds;
 *      clipped to 0 below about −14);
 *   3. S = Σ e (local; a fully masked row gets the public S = 1);
 *   4. R = fn_recip(S) from scale 24 to 30 (3 rounds);
 *   5. p = trunc(e · R) from scale 54 to out_scale (rowmul + truncation,
 *      2 rounds).
 * Rounds: 2⌈log2 n⌉ + 8 (30 at n = 2048). Bytes sent per party with all
 * entries valid, in_scale = f = 16: (n − 1)·(3 + 16) for the maximum,
 * 27·n for exp, 335 per row for the reciprocal, 8·(n + 1) + 8·n for the
 * product and truncation: about 62·n (127 KB at n = 2048). Masked entries
 * cost only their share of the maximum.
 * Error: the row's L1 error is at most about 2^-11 (exp's grid) + 2^-12
 * (reciprocal) + n/3 · 2^-out_scale (the stochastic rounding of p);
 * scale 24 for e and 30 for R keep the sum and the normaliser from
 * adding more.
 *
 * Output scale. The stochastic rounding of p at scale s adds about n/3 ·
 * 2^-s to the L1 error of a row whose mass is spread out (0.0104 at
 * n = 2048, s = 16; 0.041 at n = 8192), so out_scale = f meets 1e-2 only
 * up to n of about 2000; pass f + 8 (24) beyond and let P·V truncate the
 * extra bits (2.5e-4 at n = 8192).
 *
 * Inputs: scores at scale in_scale, either f (truncated) or 2f (MPCache
 * gathers untruncated scores and softmaxes only the selected ones), with
 * |x| < 2^SOFTMAX_INT_BITS for valid entries; n <= SOFTMAX_MAX_N;
 * out_scale <= 53. valid is rows × n bytes,
 * nonzero = attend, or NULL for all valid; both parties and the dealer pass
 * the same mask. Sites: SOFTMAX_SITES (site + (k << 32), k < 4).
 */
#ifndef PROTOCOLS_SOFTMAX_H
#define PROTOCOLS_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

#define SOFTMAX_INT_BITS 9
#define SOFTMAX_MAX_N    32768
#define SOFTMAX_SITES    4
#define SOFTMAX_E_SCALE  24
#define SOFTMAX_R_SCALE  30

/* Dealer: correlations for rows × n softmax. Fails with the tape's error or
 * MPC_ENOMEM. */
mpc_err_t softmax_gen(mpc_ctx_t *ctx, size_t rows, size_t n, const uint8_t *valid, int in_scale,
                      int out_scale, uint64_t site) MPC_WUR;
/* Party: out (rows × n, scale out_scale) = softmax of each row of x (rows × n, scale
 * in_scale); x is not modified. Fails on the channel's or the tape's error,
 * or MPC_ENOMEM. */
mpc_err_t softmax_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                       const uint8_t *valid, int in_scale, int out_scale, uint64_t site) MPC_WUR;
/* The plaintext twin. Aborts when a valid input breaks the
 * bound. */
void softmax_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, const uint8_t *valid,
                   int in_scale, int out_scale, const uint8_t round_seed[PRG_SEED_BYTES],
                   uint64_t site);

#endif
