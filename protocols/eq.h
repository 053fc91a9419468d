/* protocols/eq.h - equality and one-hot vectors from a distributed point
 * function (DESIGN.md §4, "equality / one-hot: DPF, 1 round").
 *
 * Equality (Boyle, Gilboa, Ishai, "Function Secret Sharing: Improvements and
 * Extensions", CCS 2016; the zero test of Boyle et al., EUROCRYPT 2021, §3):
 * the dealer draws a mask r (additively shared through the seeds: no
 * traffic) and gives each party a DPF key for f_{r mod 2^n, 1} on n bits with
 * outputs in Z_2^64. The parties open x̂ = x − y + r mod 2^n (⌈n/8⌉ bytes
 * each) and evaluate the key at x̂: the outputs add up to 1{x = y}, already
 * an arithmetic share, with no B2A step. The caller states n with the public
 * bound −2^(n−1) <= x − y < 2^(n−1) (as for cmp.h), so that x − y ≡ 0
 * mod 2^n means x = y; outside it, a difference that is a nonzero multiple
 * of 2^n reads as equal, silently.
 *
 * One-hot from a secret index: for idx ∈ [0, n) with m = eq_index_bits(n)
 * = max(1, ⌈log2 n⌉), open î = idx + r mod 2^m and evaluate one DPF
 * f_{r mod 2^m, 1} at î − j for every column j: the outputs add up to
 * 1{idx = j}. idx is read mod 2^m, so an index computed in a narrow ring
 * serves as it is. A column window (the first `width` of the n columns)
 * gives a prefix of the one-hot at a proportional cost (top-k reads the
 * first k ranks). An index that P1 knows in the clear needs no protocol: P1
 * holds the one-hot as its share and P0 holds zeros (DESIGN.md §6).
 *
 * Cost per element (K(m) = fss_dpf_key_bytes(m, FSS_Z64) = 24 + 16m + ⌈m/8⌉):
 *   eq:      1 round; each party sends ⌈n/8⌉ bytes (8 B at n = 64); offline
 *            each party receives K(n) (n = 64: 1056 B; n = 24: 411 B).
 *   one-hot: 1 round; each party sends ⌈m/8⌉ bytes per index; offline
 *            K(m) per index (m = 15, a 32000-entry vocabulary: 266 B);
 *            width·m AES blocks of local work per index (m tree levels per
 *            column, the fss_dpf_eval_batch walk).
 * Message sizes depend only on count, n and width, never on the data.
 */
#ifndef PROTOCOLS_EQ_H
#define PROTOCOLS_EQ_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* The DPF input width of a one-hot over n entries: max(1, ⌈log2 n⌉). */
int eq_index_bits(size_t n);

/* FSS key bytes per element, either party: an equality on nbits, or a
 * one-hot over n entries. */
size_t eq_key_bytes(int nbits);
size_t eq_onehot_key_bytes(size_t n);

/* Dealer: masks and DPF keys for count equalities on nbits (1..64). Fails
 * with the tape's error or MPC_ENOMEM. */
mpc_err_t eq_gen(mpc_ctx_t *ctx, size_t count, int nbits) MPC_WUR;
/* Party: out[i] = this party's share (Z_2^64) of 1{x[i] = y[i]}, with
 * −2^(nbits−1) <= x[i] − y[i] < 2^(nbits−1). y may be NULL (compare with
 * 0). out may alias x or y. 1 round, ⌈nbits/8⌉ bytes sent per element. */
mpc_err_t eq_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const uint64_t *y,
                  size_t count, int nbits) MPC_WUR;

/* Dealer: masks and DPF keys for count one-hots over n entries, of which
 * the first width (1..n) columns are evaluated. */
mpc_err_t eq_onehot_gen(mpc_ctx_t *ctx, size_t count, size_t n, size_t width) MPC_WUR;
/* Party: out (count x width, row-major) = shares of 1{idx[i] = j} for
 * j < width, where idx[i] mod 2^eq_index_bits(n) is in [0, n). out must not
 * alias idx. 1 round, ⌈m/8⌉ bytes sent per index. */
mpc_err_t eq_onehot_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *idx, size_t count,
                         size_t n, size_t width) MPC_WUR;

/* Plaintext twins. eq_plain aborts when a difference breaks the bound;
 * eq_onehot_plain when an index is not in [0, n). */
void eq_plain(uint64_t *out, const uint64_t *x, const uint64_t *y, size_t count, int nbits);
void eq_onehot_plain(uint64_t *out, const uint64_t *idx, size_t count, size_t n, size_t width);

#endif
