/* protocols/cmp.h - secure comparison: DReLU (the sign bit) and less-than
 * from one DCF, narrow when the inputs are known to be small (DESIGN.md §3,
 * "Narrow comparisons"; §4).
 *
 * Construction (Boyle et al., "Function Secret Sharing for Mixed-Mode and
 * Fixed-Point Secure Computation", EUROCRYPT 2021, §4 signed comparison /
 * DReLU; the same gate as SIGMA's DReLU). The caller states n, with the
 * public bound −2^(n−1) <= x < 2^(n−1) (so |x| < 2^(n−1) suffices), so x
 * mod 2^n is x's n-bit two's complement and MSB_n(x) is its sign. Work mod
 * 2^n, with h = n − 1 and low(v) = v mod 2^h:
 *   - the dealer draws a mask r (additively shared through the seeds: no
 *     traffic) and the parties open x̂ = x + r mod 2^n;
 *   - the carry into bit h is c = 1{low(x̂) < low(r)}, so
 *         MSB(x) = MSB(x̂) ⊕ MSB(r) ⊕ c;
 *   - the dealer gives each party a DCF key for f^<_{low(r), β} on h bits
 *     with β = 1 − 2·MSB(r) in Z_2^64, and shares MSB(r); then
 *         w = MSB(r) + β·c = MSB(r) ⊕ c
 *     is additively shared without a B2A step, and with m = MSB(x̂) public
 *         DReLU(x) = 1 ⊕ m ⊕ w = (1 − m) + (2m − 1)·w,
 *     linear in the shares of w.
 * An input outside the bound yields a wrong bit, silently: call sites
 * choose n from architecture-only bounds and the fixed engine asserts them.
 *
 * Cost per element (n = 2..64; K = fss_dcf_key_bytes(n − 1, FSS_Z64)
 * = 24n + ⌈(n−1)/8⌉):
 *   online:  1 round; each party sends ⌈n/8⌉ bytes (its share of x̂ mod 2^n,
 *            packed little-endian), 8 B at n = 64;
 *   offline: P0 receives K bytes (its DCF key), P1 receives K + 8 (its key
 *            and its share of MSB(r)); the mask costs nothing.
 *            n = 64: 1544 / 1552 B; n = 24: 579 / 587 B.
 * Message sizes depend only on count and n, never on the data.
 */
#ifndef PROTOCOLS_CMP_H
#define PROTOCOLS_CMP_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* Dealer: the masks and DCF keys of count DReLUs on n-bit inputs
 * (2 <= nbits <= 64). Fails with the tape's error (MPC_EIO, MPC_EPEER) or
 * MPC_ENOMEM. */
mpc_err_t cmp_drelu_gen(mpc_ctx_t *ctx, size_t count, int nbits) MPC_WUR;
/* Party: out[i] = this party's additive share (Z_2^64) of
 * DReLU(x[i]) = 1{x[i] >= 0}, x shared additively, with the public bound
 * −2^(n−1) <= x < 2^(n−1). out may alias x. 1 round, ⌈n/8⌉ bytes sent per
 * element (BCG+21 §4). Fails on the channel's or the tape's error, or
 * MPC_ENOMEM. */
mpc_err_t cmp_drelu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t count,
                         int nbits) MPC_WUR;

/* Dealer: count less-than gates; the same correlations as cmp_drelu_gen. */
mpc_err_t cmp_lt_gen(mpc_ctx_t *ctx, size_t count, int nbits) MPC_WUR;
/* Party: out[i] = share of 1{x[i] < y[i]} (signed), as 1 − DReLU(x − y),
 * which needs −2^(n−1) <= x[i] − y[i] < 2^(n−1). out may alias x or y.
 * Same cost as cmp_drelu_eval: 1 round, ⌈n/8⌉ bytes sent per element. */
mpc_err_t cmp_lt_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const uint64_t *y,
                      size_t count, int nbits) MPC_WUR;

/* Plaintext twins: the same functions in the clear (out[i] ∈ {0, 1}).
 * They abort when an input breaks the bound. */
void cmp_drelu_plain(uint64_t *out, const uint64_t *x, size_t count, int nbits);
void cmp_lt_plain(uint64_t *out, const uint64_t *x, const uint64_t *y, size_t count, int nbits);

/* Bytes one party sends per element for n-bit inputs: ⌈n/8⌉. */
static inline size_t cmp_open_bytes(int nbits)
{
    return ((size_t)nbits + 7) / 8;
}

#endif
