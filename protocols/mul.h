/* protocols/mul.h - element-wise Beaver multiplication of shares.
 *
 * z = x * y element-wise over Z_2^64, from a Beaver triple (a, b, c = a*b)
 * (Beaver, CRYPTO'91). The parties open e = x - a and d = y - b together and
 * set z = c + e*b + d*a + [P0] e*d. No truncation: for fixed-point inputs at
 * scale f the product is at scale 2f, and the caller truncates.
 *
 * Correlations, with seed compression: a and b are random from both seeds
 * (no traffic); c is shared, so P1 receives c1 (8 B per element offline).
 * Online: 1 round; each party sends 16 B per element (e and d), so 32 B per
 * element both ways.
 */
#ifndef PROTOCOLS_MUL_H
#define PROTOCOLS_MUL_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

/* Dealer: triples for n multiplications. */
mpc_err_t mul_gen(mpc_ctx_t *ctx, size_t n) MPC_WUR;
/* Party: z = x * y (n elements each; z may alias x or y). The local
 * reconstruction runs on ctx->device when it holds one and the job is large
 * enough (kernels/dev.h); a device failure is MPC_EDEVICE, z unspecified. */
mpc_err_t mul_eval(mpc_ctx_t *ctx, uint64_t *z, const uint64_t *x, const uint64_t *y,
                   size_t n) MPC_WUR;

#endif
