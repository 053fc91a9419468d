/* protocols/mul.c - Beaver multiplication. */
#include "protocols/mul.h"

#include <string.h>

#define MUL_TAG CHAN_TAG('m', 'u', 'l', ' ')

mpc_err_t mul_gen(mpc_ctx_t *ctx, size_t n)
{
    stats_push(&ctx->stats, "mul");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *a = arena_alloc(&ctx->arena, 3 * n * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "mul_gen: out of memory for %zu triples", n);
        goto out;
    }
    uint64_t *b = a + n, *c = b + n;
    deal_rand(ctx, a, n);
    deal_rand(ctx, b, n);
    for (size_t i = 0; i < n; i++) c[i] = a[i] * b[i];
    e = deal_share(ctx, c, n);
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t mul_eval(mpc_ctx_t *ctx, uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    stats_push(&ctx->stats, "mul");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *a = arena_alloc(&ctx->arena, 5 * n * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "mul_eval: out of memory for %zu products", n);
        goto out;
    }
    uint64_t *b = a + n, *c = b + n, *ed = c + n; /* ed: (e | d), 2n words */
    mpc_corr_rand(ctx, a, n);
    mpc_corr_rand(ctx, b, n);
    e = mpc_corr_share(ctx, c, n);
    if (e) goto out;
    for (size_t i = 0; i < n; i++) {
        ed[i] = x[i] - a[i];
        ed[n + i] = y[i] - b[i];
    }
    e = mpc_open(ctx, MUL_TAG, ed, ed, 2 * n);
    if (e) goto out;
    int p0 = ctx->party == MPC_P0;
    for (size_t i = 0; i < n; i++) {
        uint64_t ei = ed[i], di = ed[n + i];
        z[i] = c[i] + ei * b[i] + di * a[i] + (p0 ? ei * di : 0);
    }
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}
