/* protocols/eq.c - equality and one-hot vectors from DPF keys. The dealer's
 * tape per call: the mask r (seed streams), then the DPF keys in chunks. */
#include "protocols/eq.h"

#include <sodium.h>
#include <string.h>

#include "protocols/bmat.h"
#include "protocols/fss.h"

#define EQ_TAG CHAN_TAG('e', 'q', ' ', ' ')
#define OH_TAG CHAN_TAG('o', 'n', 'e', 'h')
/* Keys per pass; a one-hot pass also bounds its evaluation points to about
 * EQ_POINTS words. */
#define EQ_CHUNK 1024
#define EQ_POINTS 65536

int eq_index_bits(size_t n)
{
    MPC_ASSERT(n >= 1);
    int m = 1;
    while (m < 64 && ((uint64_t)1 << m) < n) m++;
    return m;
}

size_t eq_key_bytes(int nbits)
{
    return fss_dpf_key_bytes(nbits, FSS_Z64);
}

size_t eq_onehot_key_bytes(size_t n)
{
    return fss_dpf_key_bytes(eq_index_bits(n), FSS_Z64);
}

static size_t chunk_of(size_t count, size_t width)
{
    size_t c = EQ_POINTS / width;
    if (c > EQ_CHUNK) c = EQ_CHUNK;
    if (c < 1) c = 1;
    return count < c ? count : c;
}

/* The dealer's half of both: count DPFs on nbits at the masks' low bits. */
static mpc_err_t dpf_gen(mpc_ctx_t *ctx, size_t count, int nbits, size_t width)
{
    const size_t kb = fss_dpf_key_bytes(nbits, FSS_Z64), chunk = chunk_of(count, width);
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, (count + 2 * chunk) * sizeof *r + 1);
    uint8_t *keys = arena_alloc(&ctx->arena, 2 * chunk * kb + 1);
    if (!r || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "eq_gen: out of memory for %zu keys", count);
    }
    uint64_t *alpha = r + count, *beta = alpha + chunk;
    deal_rand(ctx, r, count);
    mpc_err_t e = MPC_OK;
    for (size_t i0 = 0; i0 < count && !e; i0 += chunk) {
        size_t m = count - i0 < chunk ? count - i0 : chunk;
        for (size_t j = 0; j < m; j++) {
            alpha[j] = bmat_low(r[i0 + j], nbits);
            beta[j] = 1;
        }
        fss_dpf_gen_batch(keys, keys + m * kb, nbits, FSS_Z64, alpha, beta, m, ctx->local);
        e = deal_write(ctx, MPC_P0, keys, m * kb);
        if (!e) e = deal_write(ctx, MPC_P1, keys + m * kb, m * kb);
    }
    sodium_memzero(r, (count + 2 * chunk) * sizeof *r);
    sodium_memzero(keys, 2 * chunk * kb);
    arena_reset(&ctx->arena, mark);
    return e;
}

/* The parties' half: opens v + r mod 2^nbits and evaluates key i at
 * x̂_i − j for j < width (width 1: at x̂_i itself). */
static mpc_err_t dpf_eval(mpc_ctx_t *ctx, uint32_t tag, uint64_t *out, const uint64_t *v,
                          size_t count, int nbits, size_t width)
{
    const size_t kb = fss_dpf_key_bytes(nbits, FSS_Z64), chunk = chunk_of(count, width);
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *xhat = arena_alloc(&ctx->arena, (count + chunk * width) * sizeof *xhat + 1);
    uint8_t *keys = arena_alloc(&ctx->arena, chunk * kb + 1);
    if (!xhat || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "eq_eval: out of memory for %zu keys", count);
    }
    uint64_t *pts = xhat + count;
    mpc_corr_rand(ctx, xhat, count);
    for (size_t i = 0; i < count; i++) xhat[i] += v[i];
    mpc_err_t e = bmat_open_bits(ctx, tag, xhat, xhat, count, nbits);
    for (size_t i0 = 0; i0 < count && !e; i0 += chunk) {
        size_t m = count - i0 < chunk ? count - i0 : chunk;
        e = mpc_corr_read(ctx, keys, m * kb);
        if (e) break;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < width; j++)
                pts[i * width + j] = bmat_low(xhat[i0 + i] - j, nbits);
        fss_dpf_eval_batch(out + i0 * width, keys, nbits, FSS_Z64, pts, m, width);
    }
    sodium_memzero(keys, chunk * kb);
    arena_reset(&ctx->arena, mark);
    return e;
}

mpc_err_t eq_gen(mpc_ctx_t *ctx, size_t count, int nbits)
{
    MPC_ASSERT(nbits >= 1 && nbits <= 64);
    stats_push(&ctx->stats, "eq");
    mpc_err_t e = dpf_gen(ctx, count, nbits, 1);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t eq_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const uint64_t *y,
                  size_t count, int nbits)
{
    MPC_ASSERT(nbits >= 1 && nbits <= 64);
    stats_push(&ctx->stats, "eq");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *d = arena_alloc(&ctx->arena, count * sizeof *d + 1);
    mpc_err_t e;
    if (!d) {
        e = mpc_fail(ctx, MPC_ENOMEM, "eq_eval: out of memory for %zu elements", count);
        goto out;
    }
    for (size_t i = 0; i < count; i++) d[i] = x[i] - (y ? y[i] : 0);
    e = dpf_eval(ctx, EQ_TAG, out, d, count, nbits, 1);
    sodium_memzero(d, count * sizeof *d);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t eq_onehot_gen(mpc_ctx_t *ctx, size_t count, size_t n, size_t width)
{
    MPC_ASSERT(width >= 1 && width <= n);
    stats_push(&ctx->stats, "onehot");
    mpc_err_t e = dpf_gen(ctx, count, eq_index_bits(n), width);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t eq_onehot_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *idx, size_t count,
                         size_t n, size_t width)
{
    MPC_ASSERT(width >= 1 && width <= n);
    stats_push(&ctx->stats, "onehot");
    mpc_err_t e = dpf_eval(ctx, OH_TAG, out, idx, count, eq_index_bits(n), width);
    stats_pop(&ctx->stats);
    return e;
}

void eq_plain(uint64_t *out, const uint64_t *x, const uint64_t *y, size_t count, int nbits)
{
    MPC_ASSERT(nbits >= 1 && nbits <= 64);
    for (size_t i = 0; i < count; i++) {
        uint64_t d = x[i] - (y ? y[i] : 0);
        if (nbits < 64) {
            uint64_t half = (uint64_t)1 << (nbits - 1);
            MPC_ASSERT(d + half < 2 * half); /* −2^(n−1) <= d < 2^(n−1) */
        }
        out[i] = d == 0;
    }
}

void eq_onehot_plain(uint64_t *out, const uint64_t *idx, size_t count, size_t n, size_t width)
{
    MPC_ASSERT(width >= 1 && width <= n);
    for (size_t i = 0; i < count; i++) {
        MPC_ASSERT(idx[i] < n);
        for (size_t j = 0; j < width; j++) out[i * width + j] = idx[i] == j;
    }
}
