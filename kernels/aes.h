/* kernels/aes.h - AES-128 on AES-NI, and the fixed-key hash that expands
 * DPF/DCF seeds (DESIGN.md §4, "The DPF/DCF PRG").
 *
 * Two layers:
 *   - aes_key_expand / aes_encrypt: plain AES-128 (FIPS-197) encryption of
 *     independent blocks, eight in flight so that the AESENC latency is hidden
 *     behind the throughput of the unit.
 *   - aes_mmo_*: the length-doubling PRG of the FSS trees,
 *         G(s) = (H_k0(s), H_k1(s)),   H_k(x) = AES_k(σ(x)) ⊕ σ(x),
 *     Matyas–Meyer–Oseas over a fixed-key cipher with the linear orthomorphism
 *     σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L of Guo, Katz, Wang and Yu ("Efficient
 *     and Secure Multiparty Computation from Fixed-Key Block Ciphers",
 *     S&P 2020), which makes H correlation robust in the ideal-cipher model.
 *     A third key k2 gives the DCF its value words (H_k2(s) = v_L ‖ v_R).
 *
 * Why not G(s) = (AES_k0(s), AES_k1(s))? A bare fixed-key AES is a public
 * permutation, so anyone can invert it. In a DPF/DCF tree the correction
 * word makes the two parties' children off the special path equal, so party
 * 0 knows party 1's off-path child exactly (its own child XOR the seed
 * correction); inverting AES on it yields party 1's parent seed, and from
 * there party 1's whole path: the point α, i.e. the comparison mask and with
 * it the input. H is not invertible: knowing H(x) does not give x, since
 * the feed-forward XOR destroys the permutation structure.
 *
 * Block convention. A block is 16 bytes; read as two little-endian words,
 * lo = bytes 0..7 and hi = bytes 8..15, the halves of σ are x_L = hi and
 * x_R = lo, so σ(x) = (lo: x_L, hi: x_L ⊕ x_R).
 *
 * The fixed keys are public nothing-up-my-sleeve constants: k_i is the first
 * 16 bytes of SHA-256("mpcllm/fss/mmo/k<i>") for i = 0, 1, 2 (the test
 * recomputes them). They are fixed for the life of the key format: changing
 * them changes every key.
 *
 * All functions need a CPU with AES-NI and SSE4.1 (every x86-64 server
 * since 2010); aes_key_expand asserts it once. Where the CPU has VAES
 * (Ice Lake, Zen 3 and later), the MMO hash runs on 256-bit registers, two
 * blocks per instruction. Kernels never allocate.
 */
#ifndef KERNELS_AES_H
#define KERNELS_AES_H

#include <stddef.h>
#include <stdint.h>

#define AES_BLOCK_BYTES 16
/* Number of blocks the kernels keep in flight. */
#define AES_LANES 8

/* An expanded AES-128 key: 11 round keys. Not secret for the fixed keys;
 * zero it yourself if you expand a secret key. */
typedef struct aes_key {
    _Alignas(16) uint8_t rk[11][AES_BLOCK_BYTES];
} aes_key_t;

/* One 128-bit block as two little-endian words (the in-memory layout of a
 * 16-byte block on x86). */
typedef struct aes_block {
    uint64_t lo, hi;
} aes_block_t;

/* The fixed keys of the FSS hash. */
enum { AES_MMO_K0 = 0, AES_MMO_K1 = 1, AES_MMO_K2 = 2, AES_MMO_KEYS = 3 };

typedef struct aes_mmo {
    aes_key_t key[AES_MMO_KEYS];
    /* For VAES: the round keys of every ordered pair of keys (a, b) side by
     * side, a in the low 128 bits, so two blocks under different keys go
     * through one 256-bit AESENC. Index a·AES_MMO_KEYS + b. */
    _Alignas(32) uint8_t pair[AES_MMO_KEYS * AES_MMO_KEYS][11][2 * AES_BLOCK_BYTES];
    /* Nonzero when aes_mmo_init found VAES and AVX2 (then aes_mmo_hash runs
     * two blocks per instruction); tests clear it to check the AES-NI path. */
    int vaes;
} aes_mmo_t;

/* Expands a 16-byte key into k. Aborts (MPC_ASSERT) when the CPU lacks
 * AES-NI. */
void aes_key_expand(aes_key_t *k, const uint8_t key[AES_BLOCK_BYTES]);

/* out[i] = AES_k(in[i]) for nblocks 16-byte blocks (ECB). out may alias
 * in. */
void aes_encrypt(const aes_key_t *k, uint8_t *out, const uint8_t *in, size_t nblocks);

/* The fixed public key k_i of the FSS hash (i < AES_MMO_KEYS), for tests. */
const uint8_t *aes_mmo_fixed_key(int i);

/* Expands the three fixed keys into g and picks the widest AES path the
 * CPU has. */
void aes_mmo_init(aes_mmo_t *g);

/* out[i] = H_{k[sel[i]]}(in[i]) = AES_{k[sel[i]]}(σ(in[i])) ⊕ σ(in[i]) for
 * i < n, with sel[i] < AES_MMO_KEYS. Blocks of any key mix freely in one
 * call, so a tree walk that takes the left child of one seed and the right
 * child of another hashes both in the same pass. out may alias in. This is
 * the hot loop of DPF/DCF generation and evaluation. */
void aes_mmo_hash(const aes_mmo_t *g, aes_block_t *out, const aes_block_t *in, const uint8_t *sel,
                  size_t n);

#endif
