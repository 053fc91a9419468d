/* protocols/gather.c - one-hot selection times a matrix, by a mask-reused
 * fixed operand or by a Beaver matrix triple. */
#include "protocols/gather.h"

#include <sodium.h>
#include <string.h>

#include "protocols/bmat.h"

mpc_err_t gather_gen(mpc_ctx_t *ctx, size_t k, size_t n, size_t d)
{
    stats_push(&ctx->stats, "gather");
    mpc_err_t e = bmat_mul_gen(ctx, 1, k, n, d, 64);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t gather_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s, const uint64_t *y,
                      size_t k, size_t n, size_t d)
{
    stats_push(&ctx->stats, "gather");
    mpc_err_t e = bmat_mul_eval(ctx, out, s, y, 1, k, n, d, 64);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t gather_fixed_gen(mpc_ctx_t *ctx, const matmul_fixed_t *y, size_t k)
{
    stats_push(&ctx->stats, "gather");
    mpc_err_t e = matmul_fixed_mul_gen(ctx, y, k, 0);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t gather_fixed_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s,
                            const matmul_fixed_t *y, size_t k)
{
    stats_push(&ctx->stats, "gather");
    mpc_err_t e = matmul_fixed_mul_eval(ctx, out, s, y, k, 0);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t gather_scatter_gen(mpc_ctx_t *ctx, size_t k, size_t n, size_t d)
{
    stats_push(&ctx->stats, "scatter");
    mpc_err_t e = bmat_mul_gen(ctx, 1, n, k, d, 64);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t gather_scatter_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s, const uint64_t *v,
                              size_t k, size_t n, size_t d)
{
    stats_push(&ctx->stats, "scatter");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *st = arena_alloc(&ctx->arena, n * k * sizeof *st + 1);
    mpc_err_t e;
    if (!st) {
        e = mpc_fail(ctx, MPC_ENOMEM, "scatter: out of memory for %zu x %zu", k, n);
        goto out;
    }
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < n; i++) st[i * k + j] = s[j * n + i];
    e = bmat_mul_eval(ctx, out, st, v, 1, n, k, d, 64);
    sodium_memzero(st, n * k * sizeof *st);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void gather_plain(uint64_t *out, const uint64_t *s, const uint64_t *y, size_t k, size_t n,
                  size_t d)
{
    memset(out, 0, k * d * sizeof *out);
    for (size_t j = 0; j < k; j++) {
        size_t ones = 0;
        for (size_t i = 0; i < n; i++) {
            MPC_ASSERT(s[j * n + i] <= 1);
            if (!s[j * n + i]) continue;
            ones++;
            for (size_t t = 0; t < d; t++) out[j * d + t] += y[i * d + t];
        }
        MPC_ASSERT(ones <= 1);
    }
}

void gather_scatter_plain(uint64_t *out, const uint64_t *s, const uint64_t *v, size_t k, size_t n,
                          size_t d)
{
    memset(out, 0, n * d * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        size_t ones = 0;
        for (size_t j = 0; j < k; j++) {
            MPC_ASSERT(s[j * n + i] <= 1);
            if (!s[j * n + i]) continue;
            ones++;
            for (size_t t = 0; t < d; t++) out[i * d + t] += v[j * d + t];
        }
        MPC_ASSERT(ones <= 1);
    }
}
