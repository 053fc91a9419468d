/* protocols/argmax.h - the position of each row's maximum, as a secret
 * one-hot vector or revealed to P1 only (greedy decoding, DESIGN.md §6).
 *
 * Tournament tree (DESIGN.md §4): adjacent elements are paired (2i, 2i+1),
 * an odd last element waits for the next level, so every survivor stands
 * for a contiguous block of indices and the left block is the lower one.
 * Each pair is compared by cmp_drelu on a − b (1 round) and the left element
 * is kept when a >= b, which breaks ties toward the lower index as
 * llama2.c's strict `>` does. The survivor's value and index are selected
 * by one Beaver product c·(a − b, i_a − i_b) (protocols/bmat.h, batched over
 * the level, 1 round), with the comparison bit opened once for both. All rows
 * go level by level together, so the rounds do not grow with the rows.
 *
 * Why the index is carried as a value and expanded once at the end: carrying
 * a one-hot per subtree (multiplying each comparison bit into the subtree's
 * vector) costs n products per level, n⌈log2 n⌉ in all (3.8 MB per party for
 * a 32000-entry vocabulary at 8 B each); carrying the index costs one more
 * word per pair, n in all, plus one DPF one-hot at the end.
 *
 * Narrow rings. Comparisons read their inputs mod 2^nbits, and the one-hot's
 * DPF reads indices mod 2^m (m = eq_index_bits(n)), so values and indices
 * are kept mod 2^w, w = max(nbits, m): each opened word costs ⌈w/8⌉ bytes.
 * At the first level the indices are public, so only the values are
 * multiplied (⌈nbits/8⌉ bytes per word).
 *
 * The last level (two survivors a, b per row, with secret indices i_a in the
 * lower block [0, s) and i_b in [s, n), s = 2^(L−1)) is fused into one round
 * after its comparison c = [a >= b]. The dealer draws a random bit μ, masks
 * ρ (μ = ρ mod 2), r_a and r_b, and DPF keys on m bits for (r_a, μ),
 * (r_a, 1 − μ), (r_b, μ), (r_b, 1 − μ). One flight opens ĉ = (c + ρ) mod 2 =
 * c ⊕ μ, î_a = i_a + r_a and î_b = i_b + r_b (mod 2^m). Then, with y_{·,β}(j)
 * a key's share at î − j,
 *     c·onehot(i_a)     = ĉ ? y_{a,1−μ} : y_{a,μ}     on columns [0, s)
 *     (1 − c)·onehot(i_b) = ĉ ? y_{b,μ}   : y_{b,1−μ}   on columns [s, n)
 * whose concatenation is the one-hot of the winner, with no product.
 *
 * Rounds (rows of n >= 2 entries, L = ⌈log2 n⌉): argmax_eval 2L (two per
 * level, the last level's selection fused into the one-hot); n = 1 takes 0.
 * argmax_reveal_eval 2L + 1: its last level multiplies the indices only
 * (1 round) and P0 sends its share of the index to P1 (a one-way flight).
 * Bytes each party sends per row, with q = ⌈nbits/8⌉, qw = ⌈w/8⌉,
 * qm = ⌈m/8⌉ and p_l the pairs of level l (Σ p_l = n − 1):
 *     argmax:        q·(n − 1) + 2q·p_1 + 3qw·(p_2 + … + p_{L−1}) + 3qm
 *     argmax_reveal: q·(n − 1) + 2q·p_1 + 3qw·(p_2 + … + p_{L−1}) + 2qm,
 *                    plus qm from P0 to P1
 * (the 2q·p_1 term only when L >= 2: with n = 2 the first level is the last).
 * Offline: one DReLU per pair (cmp.h), 8 B per product output to P1, and for
 * the one-hot 4 DPF keys on m bits per row (eq_onehot_key_bytes(n) each).
 * Local work of the one-hot: 2n·m AES blocks per row (fss_dpf_eval_batch).
 */
#ifndef PROTOCOLS_ARGMAX_H
#define PROTOCOLS_ARGMAX_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* Dealer / party: out (rows x n) = shares of the one-hot of each row's
 * argmax, x (rows x n, row-major), with the public bound
 * |a − b| < 2^(nbits−1) for any two entries of a row (nbits in 2..64;
 * masked entries hold a finite sentinel inside it, DESIGN.md §3). out must
 * not alias x. 2⌈log2 n⌉ rounds. Fails on the channel's or the tape's error,
 * or MPC_ENOMEM. */
mpc_err_t argmax_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits) MPC_WUR;
mpc_err_t argmax_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                      int nbits) MPC_WUR;

/* Dealer / party: the argmax of each row revealed to P1 only: P1's idx
 * (rows words) receives the indices; P0's idx is left untouched (it may be
 * NULL). Same bound as argmax_eval. 2⌈log2 n⌉ + 1 rounds (0 for n = 1). */
mpc_err_t argmax_reveal_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits) MPC_WUR;
mpc_err_t argmax_reveal_eval(mpc_ctx_t *ctx, uint64_t *idx, const uint64_t *x, size_t rows,
                             size_t n, int nbits) MPC_WUR;

/* Plaintext twins: the same tournament in the clear. argmax_plain writes the
 * one-hot (rows x n), argmax_index_plain the indices (rows). They abort when
 * a comparison breaks the bound. */
void argmax_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, int nbits);
void argmax_index_plain(uint64_t *idx, const uint64_t *x, size_t rows, size_t n, int nbits);

/* Rounds of argmax_eval (reveal = 0) or argmax_reveal_eval (reveal = 1) for
 * rows of n, and the bytes party p sends for `rows` rows (the formulas
 * above, walked over the tournament's shape). */
uint64_t argmax_rounds(size_t n, int reveal);
uint64_t argmax_bytes(size_t rows, size_t n, int nbits, int reveal, int p);

#endif
