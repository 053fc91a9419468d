/* protocols/mul.c - Beaver multiplication. The reconstruction after the
 * opening is kernels/elem.h's elem_beaver, run by the dispatcher of
 * kernels/dev.h on ctx->device when the job is large enough, else on the
 * CPU: the same function either way. */
#include "protocols/mul.h"

#include <string.h>

#include "kernels/dev.h"

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
    /* z = c + e b + d a + [P0] e d */
    e = dev_beaver(ctx->device, z, c, a, b, ed, ed + n, n, ctx->party == MPC_P0);
    if (e) e = mpc_fail(ctx, e, "mul_eval: %s", dev_error(ctx->device));
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}
