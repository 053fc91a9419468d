/* protocols/trunc.h - truncation by f bits with a known MSB (DESIGN.md §3).
 *
 * Input x at scale 2f with the public bound |x| < 2^62 (every call site
 * states its own bound, and the plaintext twin asserts it). With
 * x' = x + 2^62 in [0, 2^63), the parties open c = x' + r for a dealer mask r.
 * Since MSB(x') = 0, the wrap of x' + r is w = MSB(r) AND NOT MSB(c), and
 *     out = (c >> f) - (r >> f) + w * 2^(64-f) - 2^(62-f)
 *         = floor(x / 2^f) + carry,  carry = [(x' mod 2^f) + (r mod 2^f) >= 2^f]
 * so the result is x / 2^f with stochastic rounding: 0 or +1 ulp, set by r.
 * An input out of range fails silently by 2^(64-f); hence the bound.
 *
 * r is not drawn from a tape: it comes from the keyed rounding stream
 * prg_new(round_seed, site), element i being word i. The dealer shares r,
 * r >> f and MSB(r) (P0's shares from its seed; P1 receives 24 B per element).
 * The plaintext twin trunc_plain, given the same round_seed, reproduces the
 * protocol's output bit for bit; this is how the fixed-point engine matches
 * the secure engine under a test seed. A site must never be reused within a
 * session: reusing r for two inputs would reveal their difference.
 *
 * Online: 1 round; each party sends 8 B per element (its share of c).
 */
#ifndef PROTOCOLS_TRUNC_H
#define PROTOCOLS_TRUNC_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"
#include "mpc/fxp.h"

/* The public bound on every truncation input, at scale 2f. */
#define TRUNC_BOUND_BITS 62

/* A truncation site: (layer, op, step), unique within a session. Layers and
 * ops take 16 bits each, the step 32. */
#define TRUNC_SITE(layer, op, step)                                                     \
    (((uint64_t)(uint16_t)(layer) << 48) | ((uint64_t)(uint16_t)(op) << 32) |         \
     (uint64_t)(uint32_t)(step))

/* Dealer: masks for n truncations by f bits at site. */
mpc_err_t trunc_gen(mpc_ctx_t *ctx, size_t n, int f, uint64_t site) MPC_WUR;
/* Party: out = trunc(x, f) for n elements (out may alias x). The arithmetic
 * after the opening runs on ctx->device when it holds one and the job is
 * large enough (kernels/dev.h); a device failure is MPC_EDEVICE, out
 * unspecified. */
mpc_err_t trunc_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int f,
                     uint64_t site) MPC_WUR;

/* The plaintext twin: the same function in the clear, with the rounding
 * stream of round_seed at site. Aborts if an input breaks the bound. */
void trunc_plain(uint64_t *out, const uint64_t *x, size_t n, int f,
                 const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site);

/* Local truncation of a public value (no rounding stream): floor(x / 2^f). */
static inline uint64_t trunc_public(uint64_t x, int f)
{
    return (uint64_t)(fxp_signed(x) >> f);
}

#endif
