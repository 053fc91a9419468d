/* protocols/argmax.c - tournament argmax with the index carried as a value
 * and a fused one-hot at the last level. Gen and eval walk the same shape
 * (argmax_walk), so the dealer writes exactly what the parties read. */
#include "protocols/argmax.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/bmat.h"
#include "protocols/cmp.h"
#include "protocols/eq.h"
#include "protocols/fss.h"

#define FINAL_TAG CHAN_TAG('a', 'm', 'x', 'f')
#define REVEAL_TAG CHAN_TAG('a', 'm', 'x', 'r')

/* The width of carried values and indices. */
static int carry_bits(size_t n, int nbits)
{
    int m = eq_index_bits(n);
    return nbits > m ? nbits : m;
}

/* Pairs at level len: len/2; the survivors: len/2 + len%2. */
static size_t next_len(size_t len)
{
    return len / 2 + len % 2;
}

uint64_t argmax_rounds(size_t n, int reveal)
{
    MPC_ASSERT(n >= 1);
    uint64_t levels = 0;
    for (size_t len = n; len > 1; len = next_len(len)) levels++;
    return levels ? 2 * levels + (reveal ? 1 : 0) : 0;
}

uint64_t argmax_bytes(size_t rows, size_t n, int nbits, int reveal, int p)
{
    const uint64_t q = bmat_word_bytes(nbits), qw = bmat_word_bytes(carry_bits(n, nbits));
    const uint64_t qm = bmat_word_bytes(eq_index_bits(n));
    uint64_t b = 0;
    for (size_t len = n, level = 1; len > 1; len = next_len(len), level++) {
        uint64_t pairs = len / 2;
        b += q * pairs;
        if (len > 2)
            b += (level == 1 ? 2 * q : 3 * qw) * pairs;
        else
            b += reveal ? 2 * qm + (p == MPC_P0 ? qm : 0) : 3 * qm;
    }
    return rows * b;
}

/* The last level's correlations for the one-hot: per row ρ, r_a, r_b (seed
 * streams), then the DPF keys (r_a, μ), (r_a, 1 − μ) of every row, then
 * (r_b, μ), (r_b, 1 − μ) of every row. */
static mpc_err_t final_gen(mpc_ctx_t *ctx, size_t rows, int m)
{
    const size_t kb = fss_dpf_key_bytes(m, FSS_Z64);
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *r = arena_alloc(&ctx->arena, 7 * rows * sizeof *r);
    uint8_t *keys = arena_alloc(&ctx->arena, 4 * rows * kb);
    if (!r || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "argmax_gen: out of memory");
    }
    uint64_t *alpha = r + 3 * rows, *beta = alpha + 2 * rows;
    deal_rand(ctx, r, 3 * rows);
    mpc_err_t e = MPC_OK;
    for (int side = 0; side < 2 && !e; side++) {
        for (size_t i = 0; i < rows; i++) {
            uint64_t mu = r[3 * i] & 1;
            alpha[2 * i] = alpha[2 * i + 1] = bmat_low(r[3 * i + 1 + side], m);
            beta[2 * i] = mu;
            beta[2 * i + 1] = 1 - mu;
        }
        fss_dpf_gen_batch(keys, keys + 2 * rows * kb, m, FSS_Z64, alpha, beta, 2 * rows,
                          ctx->local);
        e = deal_write(ctx, MPC_P0, keys, 2 * rows * kb);
        if (!e) e = deal_write(ctx, MPC_P1, keys + 2 * rows * kb, 2 * rows * kb);
    }
    sodium_memzero(r, 7 * rows * sizeof *r);
    sodium_memzero(keys, 4 * rows * kb);
    arena_reset(&ctx->arena, mark);
    return e;
}

/* The fused last level: c (rows) the comparison bits, ia/ib the finalists'
 * indices; out (rows x n) the one-hot. */
static mpc_err_t final_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *c, const uint64_t *ia,
                            const uint64_t *ib, size_t rows, size_t n)
{
    const int m = eq_index_bits(n);
    const size_t kb = fss_dpf_key_bytes(m, FSS_Z64);
    const size_t s = (size_t)1 << (m - 1), sb = n - s; /* the blocks [0, s), [s, n) */
    const size_t width = s > sb ? s : sb;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *o = arena_alloc(&ctx->arena, (3 * rows + 4 * rows * width) * sizeof *o);
    uint8_t *keys = arena_alloc(&ctx->arena, 2 * rows * kb);
    if (!o || !keys) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "argmax_eval: out of memory");
    }
    uint64_t *pts = o + 3 * rows, *y = pts + 2 * rows * width;
    mpc_corr_rand(ctx, o, 3 * rows);
    for (size_t i = 0; i < rows; i++) {
        o[3 * i] += c[i];
        o[3 * i + 1] += ia[i];
        o[3 * i + 2] += ib[i];
    }
    mpc_err_t e = bmat_open_bits(ctx, FINAL_TAG, o, o, 3 * rows, m);
    for (int side = 0; side < 2 && !e; side++) {
        const size_t lo = side ? s : 0, len = side ? sb : s;
        e = mpc_corr_read(ctx, keys, 2 * rows * kb);
        if (e) break;
        for (size_t i = 0; i < rows; i++)
            for (size_t t = 0; t < 2; t++)
                for (size_t j = 0; j < len; j++)
                    pts[(2 * i + t) * len + j] = bmat_low(o[3 * i + 1 + side] - (lo + j), m);
        fss_dpf_eval_batch(y, keys, m, FSS_Z64, pts, 2 * rows, len);
        for (size_t i = 0; i < rows; i++) {
            /* ĉ = c ⊕ μ is public; side a takes y_{1−μ} when ĉ = 1, side b
             * takes y_μ. Selected arithmetically, without a branch. */
            uint64_t chat = o[3 * i] & 1, pick = side ? 1 - chat : chat;
            const uint64_t *ym = y + 2 * i * len, *y1m = ym + len;
            for (size_t j = 0; j < len; j++)
                out[i * n + lo + j] = ym[j] + pick * (y1m[j] - ym[j]);
        }
    }
    sodium_memzero(keys, 2 * rows * kb);
    arena_reset(&ctx->arena, mark);
    return e;
}

/* Walks the tournament. The dealer (ctx->party == MPC_DEALER) generates,
 * the parties evaluate; out is the one-hot (reveal = 0) or P1's indices. */
static mpc_err_t argmax_walk(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows,
                             size_t n, int nbits, int reveal)
{
    MPC_ASSERT(n >= 1 && nbits >= 2 && nbits <= 64);
    const int dealer = ctx->party == MPC_DEALER, m = eq_index_bits(n);
    const int w = carry_bits(n, nbits);
    const uint64_t p0 = ctx->party == MPC_P0;
    mpc_err_t e = MPC_OK;
    if (n == 1) { /* the only entry wins: no traffic */
        for (size_t i = 0; i < rows && !dealer; i++) {
            if (!reveal)
                out[i] = p0;
            else if (ctx->party == MPC_P1)
                out[i] = 0;
        }
        return MPC_OK;
    }
    if (dealer) {
        for (size_t len = n, level = 1; len > 1 && !e; len = next_len(len), level++) {
            size_t pairs = rows * (len / 2);
            e = cmp_drelu_gen(ctx, pairs, nbits);
            if (e) break;
            if (len > 2)
                e = level == 1 ? bmat_mul_gen(ctx, pairs, 1, 1, 1, nbits)
                               : bmat_mul_gen(ctx, pairs, 1, 1, 2, w);
            else
                e = reveal ? bmat_mul_gen(ctx, rows, 1, 1, 1, m) : final_gen(ctx, rows, m);
        }
        return e;
    }

    const size_t half = (n + 1) / 2;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *val = arena_alloc(&ctx->arena, 2 * rows * n * sizeof *val);
    uint64_t *c = arena_alloc(&ctx->arena, (5 * rows * half + 2 * rows) * sizeof *c);
    if (!val || !c) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "argmax_eval: out of memory for %zu x %zu", rows, n);
    }
    uint64_t *idx = val + rows * n, *y = c + rows * half, *z = y + 2 * rows * half;
    uint64_t *ia = z + 2 * rows * half, *ib = ia + rows; /* the finalists' indices */
    memcpy(val, x, rows * n * sizeof *val);
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++) idx[r * n + i] = p0 * i;

    for (size_t len = n, level = 1; len > 1 && !e; len = next_len(len), level++) {
        const size_t p = len / 2, pairs = rows * p;
        for (size_t r = 0; r < rows; r++)
            for (size_t i = 0; i < p; i++) {
                const uint64_t *v = val + r * n + 2 * i, *ix = idx + r * n + 2 * i;
                c[r * p + i] = v[0] - v[1];
                y[2 * (r * p + i)] = v[0] - v[1];
                y[2 * (r * p + i) + 1] = ix[0] - ix[1];
            }
        e = cmp_drelu_eval(ctx, c, c, pairs, nbits); /* [a >= b]: keep the left */
        if (e) break;
        if (len == 2) {
            for (size_t r = 0; r < rows; r++) {
                ia[r] = idx[r * n];
                ib[r] = idx[r * n + 1];
                y[r] = ia[r] - ib[r];
            }
            if (!reveal) {
                e = final_eval(ctx, out, c, ia, ib, rows, n);
                break;
            }
            e = bmat_mul_eval(ctx, z, c, y, rows, 1, 1, 1, m);
            if (e) break;
            /* P0 sends its share of i_b + c·(i_a − i_b); P1 adds its own. */
            for (size_t r = 0; r < rows; r++) z[r] += ib[r];
            const size_t qm = bmat_word_bytes(m);
            uint8_t *pack = (uint8_t *)y;
            if (ctx->party == MPC_P0) {
                for (size_t r = 0; r < rows; r++)
                    for (size_t b = 0; b < qm; b++) pack[r * qm + b] = (uint8_t)(z[r] >> (8 * b));
                e = mpc_send(ctx, REVEAL_TAG, pack, rows * qm);
            } else {
                e = mpc_recv(ctx, REVEAL_TAG, pack, rows * qm);
                for (size_t r = 0; r < rows && !e; r++) {
                    uint64_t v = 0;
                    for (size_t b = 0; b < qm; b++) v |= (uint64_t)pack[r * qm + b] << (8 * b);
                    out[r] = bmat_low(z[r] + v, m);
                }
            }
            break;
        }
        if (level == 1) {
            /* Public indices 2i and 2i + 1: the survivor's is 2i + 1 − c. */
            for (size_t t = 0; t < pairs; t++) y[t] = y[2 * t];
            e = bmat_mul_eval(ctx, z, c, y, pairs, 1, 1, 1, nbits);
            if (e) break;
            for (size_t t = pairs; t-- > 0;) { /* spread to (value, index) pairs */
                z[2 * t + 1] = (uint64_t)0 - c[t]; /* c·(i_a − i_b) = −c */
                z[2 * t] = z[t];
            }
        } else {
            e = bmat_mul_eval(ctx, z, c, y, pairs, 1, 1, 2, w);
            if (e) break;
        }
        for (size_t r = 0; r < rows; r++) {
            uint64_t *v = val + r * n, *ix = idx + r * n;
            const uint64_t ov = v[len - 1], oi = ix[len - 1];
            for (size_t i = 0; i < p; i++) {
                const uint64_t *zz = z + 2 * (r * p + i);
                uint64_t vb = v[2 * i + 1], ib = ix[2 * i + 1];
                v[i] = vb + zz[0];
                ix[i] = ib + zz[1];
            }
            if (len % 2) {
                v[p] = ov;
                ix[p] = oi;
            }
        }
    }
    sodium_memzero(val, 2 * rows * n * sizeof *val);
    sodium_memzero(c, (5 * rows * half + 2 * rows) * sizeof *c);
    arena_reset(&ctx->arena, mark);
    return e;
}

mpc_err_t argmax_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits)
{
    stats_push(&ctx->stats, "argmax");
    mpc_err_t e = argmax_walk(ctx, NULL, NULL, rows, n, nbits, 0);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t argmax_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                      int nbits)
{
    stats_push(&ctx->stats, "argmax");
    mpc_err_t e = argmax_walk(ctx, out, x, rows, n, nbits, 0);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t argmax_reveal_gen(mpc_ctx_t *ctx, size_t rows, size_t n, int nbits)
{
    stats_push(&ctx->stats, "argmax_reveal");
    mpc_err_t e = argmax_walk(ctx, NULL, NULL, rows, n, nbits, 1);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t argmax_reveal_eval(mpc_ctx_t *ctx, uint64_t *idx, const uint64_t *x, size_t rows,
                             size_t n, int nbits)
{
    stats_push(&ctx->stats, "argmax_reveal");
    mpc_err_t e = argmax_walk(ctx, idx, x, rows, n, nbits, 1);
    stats_pop(&ctx->stats);
    return e;
}

void argmax_index_plain(uint64_t *idx, const uint64_t *x, size_t rows, size_t n, int nbits)
{
    MPC_ASSERT(n >= 1 && nbits >= 2 && nbits <= 64);
    /* The same tournament: survivors in place, (value, index) pairs. */
    uint64_t *v = malloc(2 * n * sizeof *v);
    MPC_ASSERT(v);
    uint64_t *ix = v + n;
    for (size_t r = 0; r < rows; r++) {
        memcpy(v, x + r * n, n * sizeof *v);
        for (size_t i = 0; i < n; i++) ix[i] = i;
        for (size_t len = n; len > 1; len = next_len(len)) {
            size_t p = len / 2;
            uint64_t ov = v[len - 1], oi = ix[len - 1];
            for (size_t i = 0; i < p; i++) {
                uint64_t bit, d = v[2 * i] - v[2 * i + 1];
                cmp_drelu_plain(&bit, &d, 1, nbits);
                v[i] = bit ? v[2 * i] : v[2 * i + 1];
                ix[i] = bit ? ix[2 * i] : ix[2 * i + 1];
            }
            if (len % 2) {
                v[p] = ov;
                ix[p] = oi;
            }
        }
        idx[r] = ix[0];
    }
    free(v);
}

void argmax_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, int nbits)
{
    uint64_t *idx = malloc(rows * sizeof *idx + 1);
    MPC_ASSERT(idx);
    argmax_index_plain(idx, x, rows, n, nbits);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) out[r * n + j] = idx[r] == j;
    free(idx);
}
