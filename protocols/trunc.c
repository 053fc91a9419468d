/* protocols/trunc.c - truncation with a known MSB. */
#include "protocols/trunc.h"

#include <sodium.h>

#define TRUNC_TAG CHAN_TAG('t', 'r', 'n', 'c')
#define OFFSET ((uint64_t)1 << TRUNC_BOUND_BITS)

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
    for (size_t i = 0; i < n; i++) c[i] = x[i] + r[i] + (p0 ? OFFSET : 0);
    e = mpc_open(ctx, TRUNC_TAG, c, c, n);
    if (e) goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = msb[i] * (1 - (c[i] >> 63)); /* share of MSB(r) AND NOT MSB(c) */
        uint64_t v = w * ((uint64_t)1 << (64 - f)) - rhi[i];
        if (p0) v += (c[i] >> f) - (OFFSET >> f);
        out[i] = v;
    }
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
