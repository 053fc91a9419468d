/* protocols/bmat.h - Beaver products of secret-shared matrices, in a ring
 * as narrow as the caller's bound allows, and the narrow opening they use.
 *
 * Z_b = X_b Y_b for a batch of independent products (X_b m x k, Y_b k x n,
 * both secret-shared, row-major and packed one after the other) from matrix
 * triples (A, B, C = A B) (Beaver, CRYPTO'91; matrix triples as in
 * Mohassel-Zhang, SecureML, S&P 2017, §4.1): the parties open E = X − A and
 * F = Y − B together and set Z = C + E B + A F + [P0] E F.
 *
 * Narrow rings. A result that is only ever read mod 2^bits (a comparison on
 * n-bit differences reads its input mod 2^n; an index below 2^bits) needs E
 * and F only mod 2^bits, since reduction mod 2^bits is a ring homomorphism.
 * Each opened word then costs ⌈bits/8⌉ bytes instead of 8. The outputs are
 * additive shares whose sum is right mod 2^bits; the bits above are noise.
 * bits = 64 is the ordinary Z_2^64 product.
 *
 * Correlations, with seed compression: A and B are random from both seeds
 * (no traffic); C is shared, so P1 receives batch·m·n words (8 B each).
 * Online: 1 round; each party sends ⌈bits/8⌉·batch·(m·k + k·n) bytes.
 */
#ifndef PROTOCOLS_BMAT_H
#define PROTOCOLS_BMAT_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* Bytes one party sends per opened word of a bits-wide ring: ⌈bits/8⌉. */
static inline size_t bmat_word_bytes(int bits)
{
    return ((size_t)bits + 7) / 8;
}

/* The low bits of v (bits in 1..64). */
static inline uint64_t bmat_low(uint64_t v, int bits)
{
    return bits >= 64 ? v : v & (((uint64_t)1 << bits) - 1);
}

/* Opens n words mod 2^bits: both parties send the low ⌈bits/8⌉ bytes of
 * each share (little-endian) and out[i] = (mine + theirs) mod 2^bits.
 * out may alias share. 1 round. Fails on the channel's error or MPC_ENOMEM. */
mpc_err_t bmat_open_bits(mpc_ctx_t *ctx, uint32_t tag, uint64_t *out, const uint64_t *share,
                         size_t n, int bits) MPC_WUR;

/* Dealer: triples for batch products of (m x k)·(k x n) mod 2^bits. */
mpc_err_t bmat_mul_gen(mpc_ctx_t *ctx, size_t batch, size_t m, size_t k, size_t n,
                       int bits) MPC_WUR;
/* Party: Z_b = X_b Y_b for b < batch (Z: batch·m·n words; must not alias X
 * or Y), right mod 2^bits. 1 round, ⌈bits/8⌉·batch·(m·k + k·n) bytes sent
 * per party. Fails on the channel's or the tape's error, or MPC_ENOMEM. */
mpc_err_t bmat_mul_eval(mpc_ctx_t *ctx, uint64_t *Z, const uint64_t *X, const uint64_t *Y,
                        size_t batch, size_t m, size_t k, size_t n, int bits) MPC_WUR;

/* The plaintext twin: Z_b = X_b Y_b mod 2^bits, reduced to [0, 2^bits). */
void bmat_mul_plain(uint64_t *Z, const uint64_t *X, const uint64_t *Y, size_t batch, size_t m,
                    size_t k, size_t n, int bits);

#endif
