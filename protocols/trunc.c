/* protocols/trunc.c - truncation with a known MSB. The arithmetic after the
 * opening is kernels/elem.h's elem_trunc_finish, run by the dispatcher of
 * kernels/dev.h on ctx->device when the job is large enough, else on the
 * CPU: the same function either way. */
#include "protocols/trunc.h"

#include <sodium.h>

#include "kernels/dev.h"
#include "kernels/elem.h"

#define TRUNC_TAG CHAN_TAG('t', 'r', 'n', 'c')
#define OFFSET ((uint64_t)1 << TRUNC_BOUND_BITS)
_Static_assert(OFFSET == ELEM_TRUNC_OFFSET, "the kernels' offset is the protocol's bound");

/* Fills r with the rounding stream of (round_seed, site). */
static mpc_err_t trunc_masks(uint64_t *r, size_t n, const uint8_t round_seed[PRG_SEED_BYTES],
                             uint64_t site)
{
    prg_t *p = prg_new(round_seed, site);
    if (!p) return MPC_ENOMEM;
    prg_u64(p, r, n);
    prg_free(&p);
    return MPC_OK;
}

mpc_err_t trunc_gen(mpc_ctx_t *ctx, size_t n, int f, uint64_t site)
{
    MPC_ASSERT(f > 0 && f < 62);
    stats_push(&ctx->stats, "trunc");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, 2 * n * sizeof *r);
    mpc_err_t e;
    if (!r || trunc_masks(r, n, ctx->round_seed, site)) {
        e = mpc_fail(ctx, MPC_ENOMEM, "trunc_gen: out of memory for %zu masks", n);
        goto out;
    }
    uint64_t *t = r + n;
    e = deal_share(ctx, r, n);
    for (size_t i = 0; i < n; i++) t[i] = r[i] >> f;
    if (!e) e = deal_share(ctx, t, n);
    for (size_t i = 0; i < n; i++) t[i] = r[i] >> 63;
    if (!e) e = deal_share(ctx, t, n);
    sodium_memzero(r, 2 * n * sizeof *r);
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t trunc_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int f,
                     uint64_t site)
{
    MPC_ASSERT(f > 0 && f < 62);
    (void)site; /* the dealer keys r by site; the parties only see its shares */
    stats_push(&ctx->stats, "trunc");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, 4 * n * sizeof *r);
    mpc_err_t e;
    if (!r) {
        e = mpc_fail(ctx, MPC_ENOMEM, "trunc_eval: out of memory for %zu elements", n);
        goto out;
    }
    uint64_t *rhi = r + n, *msb = rhi + n, *c = msb + n;
    e = mpc_corr_share(ctx, r, n);
    if (!e) e = mpc_corr_share(ctx, rhi, n);
    if (!e) e = mpc_corr_share(ctx, msb, n);
    if (e) goto out;
    int p0 = ctx->party == MPC_P0;
    elem_trunc_open(c, x, r, n, p0); /* c = x + r + [P0] 2^62, on the host: it is sent */
    e = mpc_open(ctx, TRUNC_TAG, c, c, n);
    if (e) goto out;
    /* out = w 2^(64-f) - (r >> f) + [P0] ((c >> f) - 2^(62-f)), with w this
     * party's share of MSB(r) AND NOT MSB(c) */
    e = dev_trunc_finish(ctx->device, out, c, rhi, msb, n, f, p0);
    if (e) e = mpc_fail(ctx, e, "trunc_eval: %s", dev_error(ctx->device));
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

void trunc_plain(uint64_t *out, const uint64_t *x, size_t n, int f,
                 const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    MPC_ASSERT(f > 0 && f < 62);
    prg_t *p = prg_new(round_seed, site);
    MPC_ASSERT(p);
    uint64_t mask = ((uint64_t)1 << f) - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r;
        prg_u64(p, &r, 1);
        int64_t s = fxp_signed(x[i]);
        MPC_ASSERT(s > -(int64_t)OFFSET && s < (int64_t)OFFSET); /* |x| < 2^62 */
        uint64_t xp = x[i] + OFFSET;
        uint64_t carry = ((xp & mask) + (r & mask)) >> f;
        out[i] = (uint64_t)(s >> f) + carry;
    }
    prg_free(&p);
}
