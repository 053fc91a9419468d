/* protocols/cmp.c - DReLU and less-than from one DCF on n − 1 bits. The
 * dealer's tape per call: the mask r (seed stream), the shares of MSB(r)
 * (seed for P0, data for P1), then the DCF keys in chunks of CMP_CHUNK. */
#include "protocols/cmp.h"

#include <sodium.h>
#include <string.h>

#include "protocols/fss.h"

#define CMP_TAG CHAN_TAG('c', 'm', 'p', ' ')
/* Keys generated or evaluated per pass: bounds the scratch to about 1.5 MB
 * of keys at n = 64 whatever the count. */
#define CMP_CHUNK 1024

static uint64_t low_mask(int bits)
{
    return bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
}

static void check_nbits(int nbits)
{
    MPC_ASSERT(nbits >= 2 && nbits <= 64);
}

/* The dealer's half, shared by DReLU and LT. */
static mpc_err_t drelu_gen(mpc_ctx_t *ctx, size_t count, int n)
{
    check_nbits(n);
    if (count == 0) return MPC_OK;
    const int h = n - 1;
    const size_t kb = fss_dcf_key_bytes(h, FSS_Z64);
    const size_t chunk = count < CMP_CHUNK ? count : CMP_CHUNK;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, (2 * count + 2 * chunk) * sizeof *r);
    uint8_t *keys = arena_alloc(&ctx->arena, 2 * chunk * kb + 1);
    if (!r || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "cmp_gen: out of memory for %zu comparisons", count);
    }
    uint64_t *msb = r + count, *alpha = msb + count, *beta = alpha + chunk;
    deal_rand(ctx, r, count);
    for (size_t i = 0; i < count; i++)
        msb[i] = (r[i] >> h) & 1;
    mpc_err_t e = deal_share(ctx, msb, count);
    for (size_t i0 = 0; i0 < count && !e; i0 += chunk) {
        size_t m = count - i0 < chunk ? count - i0 : chunk;
        for (size_t j = 0; j < m; j++) {
            alpha[j] = r[i0 + j] & low_mask(h);
            beta[j] = 1 - 2 * msb[i0 + j];
        }
        fss_dcf_gen_batch(keys, keys + m * kb, h, FSS_Z64, alpha, beta, m, ctx->local);
        e = deal_write(ctx, MPC_P0, keys, m * kb);
        if (!e) e = deal_write(ctx, MPC_P1, keys + m * kb, m * kb);
    }
    sodium_memzero(r, (2 * count + 2 * chunk) * sizeof *r);
    sodium_memzero(keys, 2 * chunk * kb);
    arena_reset(&ctx->arena, mark);
    return e;
}

/* The parties' half: out = shares of DReLU(d) for d shared in d. */
static mpc_err_t drelu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *d, size_t count, int n)
{
    check_nbits(n);
    if (count == 0) return MPC_OK; /* nothing to open: no message either way */
    const int h = n - 1;
    const size_t kb = fss_dcf_key_bytes(h, FSS_Z64), ob = cmp_open_bytes(n);
    const size_t chunk = count < CMP_CHUNK ? count : CMP_CHUNK;
    const uint64_t p0 = ctx->party == MPC_P0;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, (3 * count + 2 * chunk) * sizeof *r);
    uint8_t *pack = arena_alloc(&ctx->arena, 2 * count * ob + 1);
    uint8_t *keys = arena_alloc(&ctx->arena, chunk * kb + 1);
    if (!r || !pack || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "cmp_eval: out of memory for %zu comparisons", count);
    }
    uint64_t *msb = r + count, *xhat = msb + count, *xlow = xhat + count, *c = xlow + chunk;
    uint8_t *theirs = pack + count * ob;
    mpc_corr_rand(ctx, r, count);
    mpc_err_t e = mpc_corr_share(ctx, msb, count);
    if (e) goto out;

    /* Open x̂ = d + r mod 2^n: the low n bits of each share, ⌈n/8⌉ bytes. */
    for (size_t i = 0; i < count; i++) {
        xhat[i] = d[i] + r[i];
        for (size_t k = 0; k < ob; k++)
            pack[i * ob + k] = (uint8_t)(xhat[i] >> (8 * k));
    }
    e = mpc_send(ctx, CMP_TAG, pack, count * ob);
    if (!e) e = mpc_recv(ctx, CMP_TAG, theirs, count * ob);
    if (e) goto out;
    for (size_t i = 0; i < count; i++) {
        uint64_t v = 0;
        for (size_t k = 0; k < ob; k++)
            v |= (uint64_t)theirs[i * ob + k] << (8 * k);
        xhat[i] = (xhat[i] + v) & low_mask(n);
    }

    for (size_t i0 = 0; i0 < count; i0 += chunk) {
        size_t m = count - i0 < chunk ? count - i0 : chunk;
        e = mpc_corr_read(ctx, keys, m * kb);
        if (e) goto out;
        for (size_t j = 0; j < m; j++)
            xlow[j] = xhat[i0 + j] & low_mask(h);
        fss_dcf_eval_batch(c, keys, h, FSS_Z64, xlow, m, 1);
        for (size_t j = 0; j < m; j++) {
            uint64_t mpub = xhat[i0 + j] >> h;
            uint64_t w = msb[i0 + j] + c[j]; /* share of MSB(r) ⊕ carry */
            out[i0 + j] = p0 * (1 - mpub) + (2 * mpub - 1) * w;
        }
    }
out:
    sodium_memzero(r, (3 * count + 2 * chunk) * sizeof *r);
    sodium_memzero(keys, chunk * kb);
    sodium_memzero(pack, 2 * count * ob);
    arena_reset(&ctx->arena, mark);
    return e;
}

mpc_err_t cmp_drelu_gen(mpc_ctx_t *ctx, size_t count, int nbits)
{
    stats_push(&ctx->stats, "drelu");
    mpc_err_t e = drelu_gen(ctx, count, nbits);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t cmp_drelu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t count, int nbits)
{
    stats_push(&ctx->stats, "drelu");
    mpc_err_t e = drelu_eval(ctx, out, x, count, nbits);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t cmp_lt_gen(mpc_ctx_t *ctx, size_t count, int nbits)
{
    stats_push(&ctx->stats, "lt");
    mpc_err_t e = drelu_gen(ctx, count, nbits);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t cmp_lt_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const uint64_t *y,
                      size_t count, int nbits)
{
    stats_push(&ctx->stats, "lt");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *d = arena_alloc(&ctx->arena, count * sizeof *d + 1);
    mpc_err_t e;
    if (!d) {
        e = mpc_fail(ctx, MPC_ENOMEM, "cmp_lt_eval: out of memory for %zu comparisons", count);
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        d[i] = x[i] - y[i];
    e = drelu_eval(ctx, d, d, count, nbits);
    if (!e) {
        const uint64_t p0 = ctx->party == MPC_P0;
        for (size_t i = 0; i < count; i++)
            out[i] = p0 - d[i]; /* 1 − DReLU(x − y) */
    }
    sodium_memzero(d, count * sizeof *d);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

/* Whether v, read as a signed 64-bit value, lies in [−2^(n−1), 2^(n−1)). */
static int in_range(uint64_t v, int n)
{
    uint64_t half = (uint64_t)1 << (n - 1);
    return v + half <= low_mask(n); /* shifts the range to [0, 2^n) */
}

void cmp_drelu_plain(uint64_t *out, const uint64_t *x, size_t count, int nbits)
{
    check_nbits(nbits);
    for (size_t i = 0; i < count; i++) {
        MPC_ASSERT(in_range(x[i], nbits));
        out[i] = 1 - (x[i] >> 63);
    }
}

void cmp_lt_plain(uint64_t *out, const uint64_t *x, const uint64_t *y, size_t count, int nbits)
{
    check_nbits(nbits);
    for (size_t i = 0; i < count; i++) {
        uint64_t d = x[i] - y[i];
        MPC_ASSERT(in_range(d, nbits));
        out[i] = d >> 63;
    }
}
