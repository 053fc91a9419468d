/* protocols/fn.h - the nonlinear functions of a Llama block on secret
 * shares: exp, reciprocal, reciprocal square root and SiLU, each as a
 * dealer/party pair with a plaintext twin that is the fixed-point engine's
 * specification (bit for bit, given the dealer's round seed).
 *
 * Every function is built from DPF lookups whose truncation is folded into
 * the lookup (protocols/lut.h: a field on the high bits of the masked input
 * is a stochastic truncation, with the carry of trunc's keyed rounding
 * stream), Beaver products (protocols/mul.h), DReLU (protocols/cmp.h) and
 * one final truncation (protocols/trunc.h). A function that uses rounding
 * streams takes a site and uses site + (k << 32) for k < FN_*_SITES (the
 * op field of TRUNC_SITE), so callers space their sites by that much.
 *
 * Scales: inputs at scale in_scale, outputs at scale out_scale (both the
 * fixed-point fraction bits; the engine passes f, or 2f for an untruncated
 * product). Costs are per element and party, online, at in = out = f = 16.
 *
 * Measured choices (mpcllm-bench op, n = 10^4, loopback): exp by lookup
 * takes 3 rounds, 27 B per element and party, max error 4.4e-4; CrypTen's
 * (1 + x/2^8)^(2^8) (op exp-poly) takes 16 rounds, 192 B and misses the
 * bound (3.6e-3), though it computes 13x faster (no DPF leaves). For 1/x,
 * Newton on the same exponent normalisation would need about 17 rounds
 * (3 iterations from a linear seed) for 267 B against the lookup's 3
 * rounds and 335 B, so the lookup is kept (estimated, not built).
 */
#ifndef PROTOCOLS_FN_H
#define PROTOCOLS_FN_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* --- exp on x <= 0 -------------------------------------------------------
 * e^x for −2^FN_EXP_INT_BITS < x <= 0, 0 below about −14 (the high table is
 * zero from −14.25 down, where e^x < 2^-20). Range reduction by one lookup
 * on two fields of u = −x (SIGMA's nExp, Gupta et al. PETS 2024 §5.2, with
 * the truncation folded into the lookup):
 *   V = floor(u / 2^k) + c,  k = in_scale − 11   (u to a 2^-11 grid)
 *   V = 2^9 · h + d,  h in [0, 2^13) (WRAP field), d in (−2^9, 2^9) (DIFF)
 *   e^-u ≈ T_hi[h] · T_lo[d] = e^(−V·2^-11),
 * both tables at scale 24, one Beaver product at scale 48 and one
 * truncation to out_scale (out_scale <= 47).
 * Error: |e^x − out| <= 2^-11 + 1 ulp of out_scale + 2^-23.
 * Rounds 3 (lookup, product, truncation). Bytes sent ⌈(in_scale + 11)/8⌉
 * + 16 + 8 = 28 at in = 16. Offline: DPF keys of 9 and 13 bits to each
 * party, plus 8 (mask) + 8 (triple) + 24 (truncation) to P1. The 13-bit
 * high field covers −x < 2^11, so a softmax row may span 2^10 (scores of
 * |s| < 2^9, SOFTMAX_INT_BITS: stories260K's reach 276 on TinyStories)
 * before its clip at −14 takes over. Only the first 57 entries of the high
 * table are nonzero, so lut evaluates that field at 57 points, not 2^13.
 * Leaves: 2^9 + 2^10 per element. Sites: FN_EXP_SITES. */
#define FN_EXP_INT_BITS 10
#define FN_EXP_SITES    2

mpc_err_t fn_exp_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site) MPC_WUR;
mpc_err_t fn_exp_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                      int out_scale, uint64_t site) MPC_WUR;
/* Aborts when an input breaks the range. */
void fn_exp_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                  const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* --- inverse powers by range reduction: 1/x and 1/sqrt(x) ----------------
 * g(x) = gain · x^(−1/root) for root 1 (reciprocal) or 2 (rsqrt), on
 * x in [2^e_lo, 2^(e_hi+1)). The exponent is found exactly by DReLUs
 * b_e = [x >= 2^e], e = e_lo+1..e_hi (one round, BCG+21), and the mantissa
 * by one lookup per exponent on the field of x that holds its top
 * FN_INV_MANT + 1 bits (shift_e = max(0, in_scale + e − 12)), all from one
 * opening; the one-hot o_e = b_e − b_(e+1) then picks the right lookup with
 * Beaver products: out = Σ_e o_e · T_e[v_e] (SIGMA §5 and Orca use the
 * same range reduction, with a DCF-based MSNZB instead of DReLUs).
 * Error: the mantissa index has 12 bits and rounds stochastically, so the
 * relative error is below 2^-12/root plus half an ulp of out_scale.
 * Rounds 3 (DReLU, lookup, product). Per element (row), with
 * E = e_hi − e_lo + 1 exponents and nb = e_hi + in_scale + 2 comparison
 * bits: (E − 1)·⌈nb/8⌉ + ⌈(in_scale + e_hi + 1)/8⌉ + 16·E bytes sent;
 * offline (E − 1) DCF keys on nb − 1 bits plus E DPF keys on 13 bits
 * (234 B each). Sites: FN_INV_SITES. */
#define FN_INV_MANT  12
#define FN_INV_SITES 1

typedef struct fn_inv {
    int root; /* 1: 1/x, 2: 1/sqrt(x) */
    int in_scale, out_scale;
    int e_lo, e_hi; /* x in [2^e_lo, 2^(e_hi+1)); e_lo + in_scale >= 0 */
    double gain;    /* public factor folded into the tables */
} fn_inv_t;

mpc_err_t fn_inv_gen(mpc_ctx_t *ctx, size_t n, const fn_inv_t *p, uint64_t site) MPC_WUR;
mpc_err_t fn_inv_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, const fn_inv_t *p,
                      uint64_t site) MPC_WUR;
void fn_inv_plain(uint64_t *out, const uint64_t *x, size_t n, const fn_inv_t *p,
                  const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* 1/x on [1, 2^15] (works up to 2^16): fn_inv with root 1, exponents 0..15.
 * 16 DReLUs less one, 16 lookups: 3 rounds, 15·5 + 4 + 256 = 335 B per
 * element at in = 16. Error <= 2^-12 relative + half an ulp. */
mpc_err_t fn_recip_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale,
                       uint64_t site) MPC_WUR;
mpc_err_t fn_recip_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                        int out_scale, uint64_t site) MPC_WUR;
void fn_recip_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                    const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* 1/sqrt(x) on [2^-8, 2^15] (up to 2^16): root 2, exponents −8..15.
 * 3 rounds, 23·5 + 4 + 384 = 503 B per element at in = 16. Error <= 2^-13
 * relative + half an ulp. */
mpc_err_t fn_rsqrt_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale,
                       uint64_t site) MPC_WUR;
mpc_err_t fn_rsqrt_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                        int out_scale, uint64_t site) MPC_WUR;
void fn_rsqrt_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                    const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* --- SiLU on all reals ----------------------------------------------------
 * silu(x) = x·σ(x) for |x| < 2^FN_SILU_INT_BITS. One opening read by two
 * fields: a fine one (v = x on a 2^-5 grid, 11 bits) with tables A (value,
 * minimax-shifted) and B (slope) for a linear interpolation A + B·rem, and a
 * coarse one (x on a grid of 8, 9 bits) with the selectors s_hi = [v' >= 3]
 * and s_mid = [|v'| <= 2]:
 *   silu(x) ≈ s_hi · x + s_mid · (A[v] + B[v]·rem)
 * The coarse field rounds stochastically too, so the boundaries are fuzzy
 * but safe: s_mid = 1 only for x in [−24, 24), inside the fine table;
 * s_hi = 1 only for x >= 16 and neither only for x < −16, where
 * |silu(x) − x| resp. |silu(x)| < 2^-19. No comparison is needed.
 * Error <= 2^-13 + 2 ulp of out_scale. Rounds 4 (lookup, two products,
 * truncation); bytes sent ⌈(in_scale + 12)/8⌉ + 32 + 16 + 8 = 60 at
 * in = 16; offline DPF keys of 11 and 9 bits (372 B each party).
 * Sites: FN_SILU_SITES. */
#define FN_SILU_INT_BITS 10
#define FN_SILU_SITES    2

mpc_err_t fn_silu_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site) MPC_WUR;
mpc_err_t fn_silu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                       int out_scale, uint64_t site) MPC_WUR;
void fn_silu_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                   const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* --- rows times a secret scalar --------------------------------------------
 * z[k] = x[k] · s[r] over Z_2^64 (no truncation) for every element k of row
 * r, rows stored one after another: n elements each, or len[r] each when len
 * is not NULL. One Beaver correlation per element, with the scalar's mask
 * shared by its row: 1 round, 8·(elements + rows) bytes sent per party;
 * offline 8 B per element to P1. z may alias x. */
mpc_err_t fn_rowmul_gen(mpc_ctx_t *ctx, size_t rows, size_t n, const size_t *len) MPC_WUR;
mpc_err_t fn_rowmul_eval(mpc_ctx_t *ctx, uint64_t *z, const uint64_t *x, const uint64_t *s,
                         size_t rows, size_t n, const size_t *len) MPC_WUR;

#endif
