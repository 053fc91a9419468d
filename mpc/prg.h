/* mpc/prg.h - the bulk pseudo-random generator: AES-128-CTR through OpenSSL.
 *
 * A stream is named by a 16-byte seed and a 64-bit stream id; the pair always
 * yields the same bytes, so a party and the dealer that share a seed derive
 * identical streams (DESIGN.md §4, seed compression). The counter block is
 * (stream id || block index), so a stream can also be read from any offset:
 * keyed correlations such as a weight mask or a truncation's rounding stream
 * are addressed by (stream id, element) rather than by position in a tape.
 *
 * Seeds come from libsodium's randombytes_buf. prg_free zeroes the key
 * schedule and the seed before releasing them.
 */
#ifndef MPC_PRG_H
#define MPC_PRG_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/err.h"

#define PRG_SEED_BYTES 16

typedef struct prg prg_t;

/* Fills seed with fresh randomness from libsodium. */
void prg_seed_random(uint8_t seed[PRG_SEED_BYTES]);

/* Derives a child seed from (seed, label) with BLAKE2b; used to split one test
 * seed into independent per-role seeds. */
void prg_seed_derive(uint8_t out[PRG_SEED_BYTES], const uint8_t seed[PRG_SEED_BYTES],
                     const char *label);

/* A new stream for (seed, stream). The caller owns it; free with prg_free.
 * Returns NULL when out of memory. */
prg_t *prg_new(const uint8_t seed[PRG_SEED_BYTES], uint64_t stream);

/* Zeroes and frees *p, and sets *p to NULL; accepts NULL and *p == NULL. */
void prg_free(prg_t **p);

/* Moves the read position to byte offset off of the stream. */
void prg_seek(prg_t *p, uint64_t off);

/* The next len bytes of the stream. */
void prg_bytes(prg_t *p, void *out, size_t len);

/* The next n 64-bit words of the stream. */
void prg_u64(prg_t *p, uint64_t *out, size_t n);

/* Bytes read from the stream so far (the position), for tape accounting. */
uint64_t prg_pos(const prg_t *p);

#endif
