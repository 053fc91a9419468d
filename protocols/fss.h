/* protocols/fss.h - function secret sharing: distributed point functions
 * (DPF) and distributed comparison functions (DCF) over n-bit inputs.
 *
 * A dealer splits a function f into two keys; each key alone is
 * pseudorandom (it reveals nothing of the function's secret point α or
 * payload β), and for every public x the parties' outputs add up to f(x):
 *   DPF  f_{α,β}(x)   = β if x = α, else 0
 *   DCF  f^<_{α,β}(x) = β if x < α (unsigned n-bit), else 0
 * with 1 <= n <= 64. Outputs live in Z_2^64 (FSS_Z64: y0 + y1 = f(x) mod 2^64)
 * or in Z_2 (FSS_Z2: y0 ⊕ y1 = f(x), β ∈ {0, 1}). A Z_2 output is a boolean
 * share, so a protocol that needs arithmetic shares follows it with a B2A
 * step; the Z_2^64 output needs none, at the price of 64-bit value
 * corrections in the key.
 *
 * Constructions.
 *   - DPF: Boyle, Gilboa, Ishai, "Function Secret Sharing: Improvements and
 *     Extensions", CCS 2016, Fig. 1: a binary tree of λ-bit seeds, one
 *     control bit per party and node, and per level one correction word
 *     CW_i = s_cw ‖ t_cw^L ‖ t_cw^R, plus a final output correction CW_{n+1}.
 *   - DCF: Boyle, Chandran, Gilboa, Gupta, Ishai, Kumar, Rathee, "Function
 *     Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation",
 *     EUROCRYPT 2021, Fig. 3: the same tree with a value correction V_cw per
 *     level, so that the parties' value words summed along x's path give β
 *     exactly when x leaves α's path to the left of it.
 *   - The PRG is the fixed-key MMO hash of kernels/aes.h (λ = 128):
 *     G(s) = H_k0(s) ‖ H_k1(s) gives the two children, the control bit is the
 *     child block's low bit, which is then cleared in the seed (so seeds have
 *     127 free bits); the DCF's value words are v_L ‖ v_R = H_k2(s).
 *     Convert(s) of a leaf seed is its high word (bits 64..127), and
 *     Convert(v_L) = v_L (Convert(v) mod 2 for Z_2).
 *
 * Key format (party b, n input bits, λ = 128, little-endian throughout).
 * Because every seed's low bit is zero, the seed correction s_cw (an XOR of
 * two seeds) has a free low bit; it carries t_cw^L there, and the root seed
 * carries the party bit b there. Bit arrays are packed LSB first.
 *   DPF, Z_2^64: root 16 | s_cw 16·n | CW_{n+1} 8 | t_cw^R bits ⌈n/8⌉
 *       = 24 + 16n + ⌈n/8⌉ bytes;  λ + n(λ+1) + 64 bits of content
 *   DPF, Z_2:    root 16 | s_cw 16·n | bits: t_cw^R [0,n), CW_{n+1} at n
 *       = 16 + 16n + ⌈(n+1)/8⌉ bytes;  λ + n(λ+1) + 1 bits
 *   DCF, Z_2^64: root 16 | s_cw 16·n | V_cw 8·n | CW_{n+1} 8 | t_cw^R ⌈n/8⌉
 *       = 24 + 24n + ⌈n/8⌉ bytes;  λ + n(λ+1+64) + 64 bits
 *   DCF, Z_2:    root 16 | s_cw 16·n | bits: t_cw^R [0,n), V_cw [n,2n),
 *                CW_{n+1} at 2n
 *       = 16 + 16n + ⌈(2n+1)/8⌉ bytes;  λ + n(λ+2) + 1 bits
 * (Counting s_cw as λ bits and t_cw^L apart, as papers do, gives the same
 * totals: n(λ + 2 + ℓ) + λ + ℓ − n for a DCF with ℓ-bit outputs.) At n = 64
 * a DCF key is 1568 bytes (Z_2^64) or 1057 bytes (Z_2); at n = 24, 603 or
 * 407 bytes. Both keys have the same size; the parties' keys differ only in
 * the root seed. Unused padding bits are zero.
 *
 * Gen and eval mirror each other: gen(keys0, keys1, nbits, group, α, β,
 * ...) and eval(out, key, nbits, group, x, ...). Gen draws its randomness,
 * 32 bytes per key (both root seeds), from a caller-supplied prg_t, so a
 * dealer under a test seed is deterministic. Inputs must be < 2^n and are
 * public to the evaluator (they are masked values), so eval may take their
 * bits as branch-free selectors. The batched entry points walk FSS_LANES
 * trees level by level so that the AES unit always has blocks in flight.
 *
 * Seeds on the stack are zeroed before return; keys are the caller's
 * buffers: zero them with sodium_memzero before freeing.
 */
#ifndef PROTOCOLS_FSS_H
#define PROTOCOLS_FSS_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/prg.h"

/* Output group of a key. */
typedef enum fss_group {
    FSS_Z2 = 1,   /* boolean shares, β ∈ {0, 1} */
    FSS_Z64 = 64, /* additive shares mod 2^64 */
} fss_group_t;

/* Trees evaluated together by the batched calls. */
#define FSS_LANES 16

/* --- DPF: β at x = α ------------------------------------------------- */

/* Bytes of one DPF key (either party) for nbits inputs and group g. */
size_t fss_dpf_key_bytes(int nbits, fss_group_t g);

/* Splits f_{α,β} into key0 (P0) and key1 (P1), each fss_dpf_key_bytes
 * long. Needs alpha < 2^nbits (and beta <= 1 for FSS_Z2); violations
 * abort. Never fails otherwise. */
void fss_dpf_gen(uint8_t *key0, uint8_t *key1, int nbits, fss_group_t g, uint64_t alpha,
                 uint64_t beta, prg_t *prg);
/* This key's share of f_{α,β}(x), x < 2^nbits. Never fails. */
uint64_t fss_dpf_eval(const uint8_t *key, int nbits, fss_group_t g, uint64_t x);

/* count keys at once: key i (at keys0/keys1 + i·key_bytes) shares
 * f_{alpha[i],beta[i]}. Draws from prg exactly what count calls of
 * fss_dpf_gen would, in order, so it produces the same keys. */
void fss_dpf_gen_batch(uint8_t *keys0, uint8_t *keys1, int nbits, fss_group_t g,
                       const uint64_t *alpha, const uint64_t *beta, size_t count, prg_t *prg);
/* Evaluates count keys, per_key inputs each:
 * out[i·per_key + j] = Eval(key i, x[i·per_key + j]). */
void fss_dpf_eval_batch(uint64_t *out, const uint8_t *keys, int nbits, fss_group_t g,
                        const uint64_t *x, size_t count, size_t per_key);

/* --- DCF: β for x < α ------------------------------------------------ */

/* Bytes of one DCF key (either party) for nbits inputs and group g. */
size_t fss_dcf_key_bytes(int nbits, fss_group_t g);

/* Splits f^<_{α,β} into key0 and key1, each fss_dcf_key_bytes long. Needs
 * alpha < 2^nbits (alpha = 0 shares the zero function) and beta <= 1 for
 * FSS_Z2; violations abort. */
void fss_dcf_gen(uint8_t *key0, uint8_t *key1, int nbits, fss_group_t g, uint64_t alpha,
                 uint64_t beta, prg_t *prg);
/* This key's share of f^<_{α,β}(x), x < 2^nbits. */
uint64_t fss_dcf_eval(const uint8_t *key, int nbits, fss_group_t g, uint64_t x);

/* Batched generation, as fss_dpf_gen_batch. */
void fss_dcf_gen_batch(uint8_t *keys0, uint8_t *keys1, int nbits, fss_group_t g,
                       const uint64_t *alpha, const uint64_t *beta, size_t count, prg_t *prg);
/* Batched evaluation, as fss_dpf_eval_batch: the hot loop of every
 * comparison. */
void fss_dcf_eval_batch(uint64_t *out, const uint8_t *keys, int nbits, fss_group_t g,
                        const uint64_t *x, size_t count, size_t per_key);

#endif
