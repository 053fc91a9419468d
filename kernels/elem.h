/* kernels/elem.h - the party-local element-wise arithmetic of Beaver
 * multiplication and of truncation with a known MSB (CPU reference path).
 *
 * These are the loops protocols/mul.c and protocols/trunc.c run around their
 * openings, written once as kernels so that the CUDA path (kernels/cuda.h)
 * has a CPU twin to be checked against, and so that a dispatcher
 * (kernels/dev.h) can run either. Everything is mod 2^64; p0 is 1 for party
 * P0, whose share carries the public terms, and 0 for P1. Outputs may alias
 * any input of the same length. Kernels never allocate.
 */
#ifndef KERNELS_ELEM_H
#define KERNELS_ELEM_H

#include <stddef.h>
#include <stdint.h>

/* The public offset of truncation with a known MSB: x' = x + 2^62 lies in
 * [0, 2^63) for |x| < 2^62 (DESIGN.md §3). */
#define ELEM_TRUNC_OFFSET ((uint64_t)1 << 62)

/* Beaver reconstruction (Beaver, CRYPTO'91), after e = x - a and d = y - b
 * were opened: z = c + e*b + d*a + [p0] e*d, over n elements. */
void elem_beaver(uint64_t *z, const uint64_t *c, const uint64_t *a, const uint64_t *b,
                 const uint64_t *e, const uint64_t *d, size_t n, int p0);

/* Truncation, before the opening: this party's share of c = x' + r,
 * c = x + r + [p0] 2^62. */
void elem_trunc_open(uint64_t *c, const uint64_t *x, const uint64_t *r, size_t n, int p0);

/* Truncation by f bits (0 < f < 62), after c was opened: with the shares of
 * r >> f (rhi) and of MSB(r) (msb, in Z_2^64),
 *     out = w 2^(64-f) - rhi + [p0] ((c >> f) - 2^(62-f)),
 * where w = msb (1 - MSB(c)) is this party's share of the wrap bit. */
void elem_trunc_finish(uint64_t *out, const uint64_t *c, const uint64_t *rhi, const uint64_t *msb,
                       size_t n, int f, int p0);

#endif
