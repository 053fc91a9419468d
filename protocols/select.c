/* protocols/select.c - multiplexer, ReLU and row maximum. */
#include "protocols/select.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/cmp.h"
#include "protocols/mul.h"

mpc_err_t sel_mux_gen(mpc_ctx_t *ctx, size_t n)
{
    stats_push(&ctx->stats, "mux");
    mpc_err_t e = mul_gen(ctx, n);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t sel_mux_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *b, const uint64_t *x,
                       const uint64_t *y, size_t n)
{
    stats_push(&ctx->stats, "mux");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *d = arena_alloc(&ctx->arena, n * sizeof *d);
    mpc_err_t e = MPC_OK;
    if (!d) {
        e = mpc_fail(ctx, MPC_ENOMEM, "mux: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) d[i] = x[i] - y[i];
    e = mul_eval(ctx, d, b, d, n);
    if (!e)
        for (size_t i = 0; i < n; i++) out[i] = y[i] + d[i];
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t sel_relu_gen(mpc_ctx_t *ctx, size_t n, int nbits)
{
    stats_push(&ctx->stats, "relu");
    mpc_err_t e = cmp_drelu_gen(ctx, n, nbits);
    if (!e) e = mul_gen(ctx, n);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t sel_relu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int nbits)
{
    stats_push(&ctx->stats, "relu");
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *b = arena_alloc(&ctx->arena, n * sizeof *b);
    mpc_err_t e = b ? cmp_drelu_eval(ctx, b, x, n, nbits)
                    : mpc_fail(ctx, MPC_ENOMEM, "relu: out of memory");
    if (!e) e = mul_eval(ctx, out, b, x, n);
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

/* The tournament's shape: at each level, `len` survivors per row become
 * len/2 pairs and, when len is odd, one that waits. Gen and eval walk the
 * same shape, so the dealer generates exactly what the parties consume. */
mpc_err_t sel_max_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits)
{
    MPC_ASSERT(n >= 1);
    stats_push(&ctx->stats, "max");
    mpc_err_t e = MPC_OK;
    for (size_t len = n; len > 1 && !e; len = len / 2 + len % 2) {
        e = cmp_drelu_gen(ctx, rows * (len / 2), nbits);
        if (!e) e = sel_mux_gen(ctx, rows * (len / 2));
    }
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t sel_max_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                       int nbits)
{
    MPC_ASSERT(n >= 1);
    stats_push(&ctx->stats, "max");
    arena_mark_t m = arena_mark(&ctx->arena);
    size_t half = (n + 1) / 2;
    uint64_t *cur = arena_alloc(&ctx->arena, rows * n * sizeof *cur);
    uint64_t *a = arena_alloc(&ctx->arena, 3 * rows * half * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!cur || !a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "max: out of memory");
        goto out;
    }
    uint64_t *b = a + rows * half, *bit = b + rows * half;
    memcpy(cur, x, rows * n * sizeof *cur);
    for (size_t len = n; len > 1 && !e; len = len / 2 + len % 2) {
        size_t p = len / 2, next = p + len % 2;
        /* pair element i with element p + i of the same row */
        for (size_t r = 0; r < rows; r++)
            for (size_t i = 0; i < p; i++) {
                a[r * p + i] = cur[r * n + i];
                b[r * p + i] = cur[r * n + p + i];
                bit[r * p + i] = cur[r * n + i] - cur[r * n + p + i];
            }
        e = cmp_drelu_eval(ctx, bit, bit, rows * p, nbits); /* 1{a >= b} */
        if (!e) e = sel_mux_eval(ctx, a, bit, a, b, rows * p);
        if (e) break;
        for (size_t r = 0; r < rows; r++) {
            uint64_t odd = cur[r * n + len - 1];
            memcpy(cur + r * n, a + r * p, p * sizeof *cur);
            if (next > p) cur[r * n + p] = odd;
        }
    }
    if (!e)
        for (size_t r = 0; r < rows; r++) out[r] = cur[r * n];
out:
    arena_reset(&ctx->arena, m);
    stats_pop(&ctx->stats);
    return e;
}

void sel_relu_plain(uint64_t *out, const uint64_t *x, size_t n, int nbits)
{
    uint64_t *b = malloc(n * sizeof *b);
    MPC_ASSERT(b);
    cmp_drelu_plain(b, x, n, nbits);
    for (size_t i = 0; i < n; i++) out[i] = b[i] * x[i];
    free(b);
}

void sel_max_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, int nbits)
{
    for (size_t r = 0; r < rows; r++) {
        uint64_t best = x[r * n];
        for (size_t i = 1; i < n; i++) {
            uint64_t bit, d = best - x[r * n + i];
            cmp_drelu_plain(&bit, &d, 1, nbits);
            if (!bit) best = x[r * n + i];
        }
        out[r] = best;
    }
}
