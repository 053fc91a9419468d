/* protocols/lut.h - lookup tables from a DPF on the input mask, with the
 * truncation folded into the lookup.
 *
 * Construction (SIGMA, Gupta et al., PETS 2024, §3 "LUT from DPF"; the
 * BGI16 DPF of protocols/fss.h). For a public table T over m-bit inputs the
 * dealer masks x with r and gives the parties DPF keys for f_{α,1} at
 * α = r mod 2^m; they open x̂ = x + r mod 2^m and each computes
 *     Σ_j T[x̂ − j] · DPF_b(j),   j over all of Z_2^m,
 * whose sum over b is T[x̂ − α] = T[x mod 2^m]. One round, ⌈m/8⌉ bytes sent
 * per element per party, 2^m leaves of a full-domain DPF evaluation
 * (2^(m+1) MMO hashes) and 2^m multiply-adds per table.
 *
 * Fields. A lookup here reads one or more *fields* of the masked input:
 * field k is bits [shift_k, shift_k + bits_k) of x̂ = x + r mod 2^W, with
 * W = max (shift_k + bits_k), and has a DPF key of its own at
 * α_k = (r >> shift_k) mod 2^bits_k. Its index
 *     v_k = (x̂ >> shift_k) − α_k   (mod 2^bits_k)
 * equals (floor(x / 2^shift_k) + c_k) mod 2^bits_k, with the carry
 *     c_k = [(x mod 2^shift_k) + (r mod 2^shift_k) >= 2^shift_k],
 * which is exactly trunc_plain(x, shift_k) of protocols/trunc.h when r is the
 * truncation's keyed rounding stream. That is what this module uses: r is
 * word i of prg_new(round_seed, site), so a lookup on the high bits of a
 * value costs no truncation round, no 8-byte opening, and its plaintext twin
 * is bit for bit trunc_plain followed by the table. All fields of one call
 * share the single opening of ⌈W/8⌉ bytes.
 *
 * Two kinds of table read a field:
 *   LUT_WRAP: 2^bits words, entry T[v_k]: a function of the field's value
 *             mod 2^bits;
 *   LUT_DIFF: 2^(bits+1) words, entry T[2^bits + d_k] with the integer
 *             d_k = ((x̂ >> shift_k) mod 2^bits) − α_k in (−2^bits, 2^bits),
 *             i.e. v_k minus 2^bits times the field's own carry-out. A
 *             DIFF field below a WRAP field at shift_k + bits_k splits one
 *             value consistently: floor(x/2^shift_k) + c_k
 *             ≡ 2^bits · v_upper + d_k (mod 2^(bits + bits_upper)).
 * The remainder rem = x − 2^s · (floor(x / 2^s) + c), s = shift of field 0,
 * lies in (−2^s, 2^s) and is local: (x̂ mod 2^s) − (r mod 2^s). It is what a
 * linear interpolation between table points multiplies.
 *
 * Correlations: the dealer shares r mod 2^W and, when shift_0 > 0, r mod
 * 2^shift_0 (seed for P0, 8 B per word for P1), then writes each field's DPF
 * keys in chunks (fss_dpf_key_bytes(bits, FSS_Z64) = 24 + 16·bits +
 * ⌈bits/8⌉ bytes per element and field, to each party).
 *
 * Security: x̂ mod 2^W is uniform, since r mod 2^W is; each DPF key alone
 * hides its α (fss.h), and the keys of different fields use independent
 * seeds. A site must not be reused: it would reuse r.
 */
#ifndef PROTOCOLS_LUT_H
#define PROTOCOLS_LUT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/aes.h"
#include "mpc/ctx.h"

/* Largest field: the full-domain evaluation keeps 2^bits leaves. */
#define LUT_MAX_BITS 20

typedef enum lut_kind {
    LUT_WRAP = 0, /* 2^bits entries, indexed by the field's value */
    LUT_DIFF = 1, /* 2^(bits+1) entries, indexed by 2^bits + d */
} lut_kind_t;

/* One field of the masked input and the tables read through it. The
 * dealer's side only uses shift and bits. */
typedef struct lut_field {
    int shift; /* bits truncated below the field, 0..62 */
    int bits;  /* 1..LUT_MAX_BITS; shift + bits <= 64 */
    lut_kind_t kind;
    int ntab;                   /* tables on this field, >= 1 */
    const uint64_t *const *tab; /* ntab public tables (parties, twin) */
} lut_field_t;

/* Dealer: masks and keys for n lookups reading nf fields, with the mask
 * stream of site. Fails with the tape's error or MPC_ENOMEM. */
mpc_err_t lut_gen(mpc_ctx_t *ctx, size_t n, const lut_field_t *fields, int nf,
                  uint64_t site) MPC_WUR;
/* Party: out[t][i] = share of table t at element i, tables numbered field by
 * field; rem (n words, or NULL) = share of the remainder below field 0.
 * x is not modified. 1 round; ⌈W/8⌉ bytes sent per element. Fails on the
 * channel's or the tape's error, or MPC_ENOMEM. */
mpc_err_t lut_eval(mpc_ctx_t *ctx, uint64_t *const *out, uint64_t *rem, const uint64_t *x, size_t n,
                   const lut_field_t *fields, int nf, uint64_t site) MPC_WUR;

/* The plaintext twin: the same outputs in the clear, with the mask stream of
 * (round_seed, site). rem may be NULL. */
void lut_plain(uint64_t *const *out, uint64_t *rem, const uint64_t *x, size_t n,
               const lut_field_t *fields, int nf, const uint8_t round_seed[PRG_SEED_BYTES],
               uint64_t site);

/* Bytes each party sends per element: ⌈W/8⌉. */
size_t lut_open_bytes(const lut_field_t *fields, int nf);
/* DPF key bytes per element and party, over all fields. */
size_t lut_key_bytes(const lut_field_t *fields, int nf);

/* The full-domain evaluation of a DPF key over FSS_Z64 (fss.h's format):
 * y[j] = this key's share of f_{α,β}(j) for every j < 2^nbits, with
 * 2^(nbits+1) − 2 MMO hashes instead of nbits per point. mmo comes from
 * aes_mmo_init; scratch holds lut_dpf_scratch_bytes(nbits) bytes, 16-byte
 * aligned, and is left holding seeds: zero it before release. Equals
 * fss_dpf_eval at every j. */
void lut_dpf_full(uint64_t *y, const uint8_t *key, int nbits, const aes_mmo_t *mmo, void *scratch);
size_t lut_dpf_scratch_bytes(int nbits);

#endif
