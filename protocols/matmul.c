/* protocols/matmul.c - products with the one-sided weight mask and with
 * mask-reused fixed operands. The ring products of the dealer and of the
 * parties go through the dispatcher of kernels/dev.h (product below): on
 * ctx->device when the job is large and dense enough, else kernels/ring.h
 * on the CPU, the same function either way. The plaintext twins stay on the
 * CPU. */
#include "protocols/matmul.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dev.h"
#include "kernels/ring.h"
#include "protocols/trunc.h"

#define WMASK_TAG CHAN_TAG('w', 'm', 's', 'k')
#define MATMUL_TAG CHAN_TAG('m', 'm', 'u', 'l')
#define FIXOPEN_TAG CHAN_TAG('f', 'x', 'o', 'p')
#define FIXMUL_TAG CHAN_TAG('f', 'x', 'm', 'l')

static void wipe_free(uint64_t **p, size_t n)
{
    if (*p) {
        sodium_memzero(*p, n * sizeof **p);
        free(*p);
        *p = NULL;
    }
}

/* B for weight id, keyed in P0's seed (shared by P0 and the dealer only). */
static mpc_err_t weight_mask(uint64_t *b, const uint8_t *p0_seed, uint32_t id, size_t n)
{
    prg_t *p = prg_new(p0_seed, TAPE_STREAM_KEYED | id);
    if (!p) return MPC_ENOMEM;
    prg_u64(p, b, n);
    prg_free(&p);
    return MPC_OK;
}

mpc_err_t matmul_weight_gen(mpc_ctx_t *ctx, matmul_weight_t *wt, uint32_t id, size_t rows,
                            size_t cols)
{
    memset(wt, 0, sizeof *wt);
    wt->id = id;
    wt->rows = rows;
    wt->cols = cols;
    wt->b = malloc(rows * cols * sizeof *wt->b);
    if (!wt->b || weight_mask(wt->b, tape_seed(ctx->tape[0]), id, rows * cols))
        return mpc_fail(ctx, MPC_ENOMEM, "weight mask %u: out of memory", id);
    return MPC_OK;
}

mpc_err_t matmul_weight_eval(mpc_ctx_t *ctx, matmul_weight_t *wt, const uint64_t *W, uint32_t id,
                             size_t rows, size_t cols)
{
    size_t n = rows * cols;
    memset(wt, 0, sizeof *wt);
    wt->id = id;
    wt->rows = rows;
    wt->cols = cols;
    mpc_phase_t phase = ctx->stats.phase;
    stats_phase(&ctx->stats, PHASE_SETUP);
    stats_push(&ctx->stats, "weight_mask");
    mpc_err_t e = MPC_OK;
    if (ctx->party == MPC_P0) {
        MPC_ASSERT(W);
        wt->w = malloc(n * sizeof *wt->w);
        wt->b = malloc(n * sizeof *wt->b);
        uint64_t *f = malloc(n * sizeof *f);
        if (!wt->w || !wt->b || !f || weight_mask(wt->b, tape_seed(ctx->tape[0]), id, n)) {
            free(f);
            e = mpc_fail(ctx, MPC_ENOMEM, "weight %u: out of memory", id);
            goto out;
        }
        memcpy(wt->w, W, n * sizeof *W);
        for (size_t i = 0; i < n; i++) f[i] = W[i] - wt->b[i];
        e = mpc_send(ctx, WMASK_TAG, f, n * sizeof *f);
        free(f); /* F = W - B is what P1 receives anyway: no secret to wipe */
    } else {
        wt->f = malloc(n * sizeof *wt->f);
        if (!wt->f) {
            e = mpc_fail(ctx, MPC_ENOMEM, "weight %u: out of memory", id);
            goto out;
        }
        e = mpc_recv(ctx, WMASK_TAG, wt->f, n * sizeof *wt->f);
    }
out:
    stats_pop(&ctx->stats);
    stats_phase(&ctx->stats, phase);
    return e;
}

void matmul_weight_free(matmul_weight_t *wt)
{
    size_t n = wt->rows * wt->cols;
    wipe_free(&wt->w, n);
    wipe_free(&wt->b, n);
    wipe_free(&wt->f, n);
}

/* C (m x n) (+)= A (m x k) B^T with B (n x k) (trans), or A B with B (k x n),
 * on the path kernels/dev.h picks for ctx->device. A device failure is
 * MPC_EDEVICE with its detail; C is then unspecified. */
static mpc_err_t product(mpc_ctx_t *ctx, int trans, uint64_t *C, const uint64_t *A,
                         const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    mpc_err_t e = trans ? dev_ring_gemm_nt(ctx->device, C, A, B, m, n, k, acc)
                        : dev_ring_gemm_nn(ctx->device, C, A, B, m, n, k, acc);
    return e ? mpc_fail(ctx, e, "matmul: %s", dev_error(ctx->device)) : MPC_OK;
}

static size_t out_words(matmul_weight_t *const *ws, int nw, size_t m)
{
    size_t t = 0;
    for (int j = 0; j < nw; j++) t += m * ws[j]->rows;
    return t;
}

mpc_err_t matmul_gen(mpc_ctx_t *ctx, matmul_weight_t *const *ws, int nw, size_t m, int f,
                     uint64_t site)
{
    MPC_ASSERT(nw >= 1);
    size_t k = ws[0]->cols;
    stats_push(&ctx->stats, "matmul");
    arena_mark_t mk = arena_mark(&ctx->arena);
    size_t maxr = 0;
    for (int j = 0; j < nw; j++) {
        MPC_ASSERT(ws[j]->cols == k);
        if (ws[j]->rows > maxr) maxr = ws[j]->rows;
    }
    uint64_t *A = arena_alloc(&ctx->arena, m * k * sizeof *A);
    uint64_t *C = arena_alloc(&ctx->arena, m * maxr * sizeof *C);
    mpc_err_t e = MPC_OK;
    if (!A || !C) {
        e = mpc_fail(ctx, MPC_ENOMEM, "matmul_gen: out of memory");
        goto out;
    }
    prg_u64(deal_prg(ctx, MPC_P1), A, m * k); /* A: known to P1 and the dealer */
    for (int j = 0; j < nw && !e; j++) {
        e = product(ctx, 1, C, A, ws[j]->b, m, ws[j]->rows, k, 0);
        if (!e) e = deal_share(ctx, C, m * ws[j]->rows);
    }
    sodium_memzero(A, m * k * sizeof *A);
    if (!e && f > 0) e = trunc_gen(ctx, out_words(ws, nw, m), f, site);
out:
    arena_reset(&ctx->arena, mk);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t matmul_eval(mpc_ctx_t *ctx, uint64_t *const *y, const uint64_t *x,
                      matmul_weight_t *const *ws, int nw, size_t m, int f, uint64_t site)
{
    MPC_ASSERT(nw >= 1);
    size_t k = ws[0]->cols;
    stats_push(&ctx->stats, "matmul");
    arena_mark_t mk = arena_mark(&ctx->arena);
    size_t total = out_words(ws, nw, m);
    uint64_t *E = arena_alloc(&ctx->arena, m * k * sizeof *E);
    uint64_t *cat = nw > 1 && f > 0 ? arena_alloc(&ctx->arena, total * sizeof *cat) : NULL;
    mpc_err_t e = MPC_OK;
    if (!E || (nw > 1 && f > 0 && !cat)) {
        e = mpc_fail(ctx, MPC_ENOMEM, "matmul_eval: out of memory");
        goto out;
    }
    if (ctx->party == MPC_P1) {
        prg_u64(mpc_corr_prg(ctx), E, m * k); /* A */
        for (size_t i = 0; i < m * k; i++) E[i] = x[i] - E[i];
    }
    for (int j = 0; j < nw && !e; j++) e = mpc_corr_share(ctx, y[j], m * ws[j]->rows); /* C */
    if (e) goto out;
    if (ctx->party == MPC_P1) {
        e = mpc_send(ctx, MATMUL_TAG, E, m * k * sizeof *E);
        for (int j = 0; j < nw && !e; j++) /* y1 = C1 + x1 F^T */
            e = product(ctx, 1, y[j], x, ws[j]->f, m, ws[j]->rows, k, 1);
    } else {
        e = mpc_recv(ctx, MATMUL_TAG, E, m * k * sizeof *E);
        for (int j = 0; j < nw && !e; j++) { /* y0 = C0 + x0 W^T + E B^T */
            e = product(ctx, 1, y[j], x, ws[j]->w, m, ws[j]->rows, k, 1);
            if (!e) e = product(ctx, 1, y[j], E, ws[j]->b, m, ws[j]->rows, k, 1);
        }
    }
    sodium_memzero(E, m * k * sizeof *E);
    if (e || f <= 0) goto out;
    if (nw == 1) {
        e = trunc_eval(ctx, y[0], y[0], total, f, site);
    } else {
        /* One truncation over all outputs: one opening, one round. */
        size_t o = 0;
        for (int j = 0; j < nw; j++, o += m * ws[j - 1]->rows)
            memcpy(cat + o, y[j], m * ws[j]->rows * sizeof *cat);
        e = trunc_eval(ctx, cat, cat, total, f, site);
        o = 0;
        for (int j = 0; j < nw && !e; j++, o += m * ws[j - 1]->rows)
            memcpy(y[j], cat + o, m * ws[j]->rows * sizeof *cat);
    }
out:
    arena_reset(&ctx->arena, mk);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t matmul_fixed_reserve(mpc_ctx_t *ctx, matmul_fixed_t *y, size_t cap, size_t cols)
{
    memset(y, 0, sizeof *y);
    y->cols = cols;
    y->cap = cap;
    y->b = malloc(cap * cols * sizeof *y->b + 1);
    if (ctx->party != MPC_DEALER) y->f = malloc(cap * cols * sizeof *y->f + 1);
    if (!y->b || (ctx->party != MPC_DEALER && !y->f)) {
        matmul_fixed_free(y);
        return mpc_fail(ctx, MPC_ENOMEM, "fixed operand of %zu x %zu: out of memory", cap, cols);
    }
    return MPC_OK;
}

mpc_err_t matmul_fixed_append_gen(mpc_ctx_t *ctx, matmul_fixed_t *const *ys, const size_t *rows,
                                  int count)
{
    for (int j = 0; j < count; j++) {
        MPC_ASSERT(ys[j]->rows + rows[j] <= ys[j]->cap);
        deal_rand(ctx, ys[j]->b + ys[j]->rows * ys[j]->cols, rows[j] * ys[j]->cols);
        ys[j]->rows += rows[j];
    }
    return MPC_OK;
}

mpc_err_t matmul_fixed_append_eval(mpc_ctx_t *ctx, matmul_fixed_t *const *ys,
                                   const uint64_t *const *fresh, const size_t *rows, int count)
{
    size_t total = 0;
    for (int j = 0; j < count; j++) {
        MPC_ASSERT(ys[j]->rows + rows[j] <= ys[j]->cap);
        total += rows[j] * ys[j]->cols;
    }
    stats_push(&ctx->stats, "fixed_open");
    arena_mark_t mk = arena_mark(&ctx->arena);
    uint64_t *cat = arena_alloc(&ctx->arena, total * sizeof *cat + 1);
    mpc_err_t e = MPC_OK;
    if (!cat) {
        e = mpc_fail(ctx, MPC_ENOMEM, "fixed_open: out of memory");
        goto out;
    }
    size_t o = 0;
    for (int j = 0; j < count; j++) {
        size_t n = rows[j] * ys[j]->cols;
        uint64_t *b = ys[j]->b + ys[j]->rows * ys[j]->cols;
        mpc_corr_rand(ctx, b, n);
        for (size_t i = 0; i < n; i++) cat[o + i] = fresh[j][i] - b[i];
        o += n;
    }
    e = mpc_open(ctx, FIXOPEN_TAG, cat, cat, total);
    if (e) goto out;
    o = 0;
    for (int j = 0; j < count; j++) {
        size_t n = rows[j] * ys[j]->cols;
        memcpy(ys[j]->f + ys[j]->rows * ys[j]->cols, cat + o, n * sizeof *cat);
        o += n;
        ys[j]->rows += rows[j];
    }
out:
    arena_reset(&ctx->arena, mk);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t matmul_fixed_gen(mpc_ctx_t *ctx, matmul_fixed_t *y, size_t rows, size_t cols)
{
    mpc_err_t e = matmul_fixed_reserve(ctx, y, rows, cols);
    return e ? e : matmul_fixed_append_gen(ctx, &y, &rows, 1);
}

mpc_err_t matmul_fixed_eval(mpc_ctx_t *ctx, matmul_fixed_t *y, const uint64_t *Y, size_t rows,
                            size_t cols)
{
    mpc_err_t e = matmul_fixed_reserve(ctx, y, rows, cols);
    return e ? e : matmul_fixed_append_eval(ctx, &y, &Y, &rows, 1);
}

void matmul_fixed_free(matmul_fixed_t *y)
{
    size_t n = y->cap * y->cols;
    wipe_free(&y->b, n);
    wipe_free(&y->f, n);
}

static void job_dims(const matmul_fixed_job_t *j, size_t *inner, size_t *outer)
{
    *inner = j->trans ? j->y->cols : j->y->rows;
    *outer = j->trans ? j->y->rows : j->y->cols;
}

typedef void (*gemm_fn)(uint64_t *, const uint64_t *, const uint64_t *, size_t, size_t, size_t,
                        int);

mpc_err_t matmul_fixed_mul_many_gen(mpc_ctx_t *ctx, const matmul_fixed_job_t *jobs, int count)
{
    stats_push(&ctx->stats, "fixed_mul");
    mpc_err_t e = MPC_OK;
    for (int j = 0; j < count && !e; j++) {
        size_t inner, outer, m = jobs[j].m;
        job_dims(&jobs[j], &inner, &outer);
        arena_mark_t mk = arena_mark(&ctx->arena);
        uint64_t *A = arena_alloc(&ctx->arena, m * inner * sizeof *A + 1);
        uint64_t *C = arena_alloc(&ctx->arena, m * outer * sizeof *C + 1);
        if (!A || !C) {
            e = mpc_fail(ctx, MPC_ENOMEM, "fixed_mul_gen: out of memory");
        } else {
            deal_rand(ctx, A, m * inner);
            e = product(ctx, jobs[j].trans, C, A, jobs[j].y->b, m, outer, inner, 0);
            if (!e) e = deal_share(ctx, C, m * outer);
        }
        arena_reset(&ctx->arena, mk);
    }
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t matmul_fixed_mul_many_eval(mpc_ctx_t *ctx, const matmul_fixed_job_t *jobs, int count)
{
    size_t total = 0;
    for (int j = 0; j < count; j++) {
        size_t inner, outer;
        job_dims(&jobs[j], &inner, &outer);
        total += jobs[j].m * inner;
    }
    stats_push(&ctx->stats, "fixed_mul");
    arena_mark_t mk = arena_mark(&ctx->arena);
    uint64_t *A = arena_alloc(&ctx->arena, 2 * total * sizeof *A + 1);
    mpc_err_t e = MPC_OK;
    if (!A) {
        e = mpc_fail(ctx, MPC_ENOMEM, "fixed_mul_eval: out of memory");
        goto out;
    }
    uint64_t *E = A + total;
    size_t o = 0;
    for (int j = 0; j < count && !e; j++) {
        size_t inner, outer, m = jobs[j].m;
        job_dims(&jobs[j], &inner, &outer);
        mpc_corr_rand(ctx, A + o, m * inner);
        e = mpc_corr_share(ctx, jobs[j].Z, m * outer); /* C */
        for (size_t i = 0; i < m * inner; i++) E[o + i] = jobs[j].X[i] - A[o + i];
        o += m * inner;
    }
    if (!e) e = mpc_open(ctx, FIXMUL_TAG, E, E, total);
    if (e) goto out;
    /* Z = C + E B_i + A_i F + [P0] E F, in each job's layout. */
    o = 0;
    for (int j = 0; j < count && !e; j++) {
        size_t inner, outer, m = jobs[j].m;
        job_dims(&jobs[j], &inner, &outer);
        const int t = jobs[j].trans;
        const matmul_fixed_t *y = jobs[j].y;
        e = product(ctx, t, jobs[j].Z, E + o, y->b, m, outer, inner, 1);
        if (!e) e = product(ctx, t, jobs[j].Z, A + o, y->f, m, outer, inner, 1);
        if (!e && ctx->party == MPC_P0)
            e = product(ctx, t, jobs[j].Z, E + o, y->f, m, outer, inner, 1);
        o += m * inner;
    }
out:
    arena_reset(&ctx->arena, mk);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t matmul_fixed_mul_gen(mpc_ctx_t *ctx, const matmul_fixed_t *y, size_t m, int trans)
{
    matmul_fixed_job_t j = {NULL, NULL, y, m, trans};
    return matmul_fixed_mul_many_gen(ctx, &j, 1);
}

mpc_err_t matmul_fixed_mul_eval(mpc_ctx_t *ctx, uint64_t *Z, const uint64_t *X,
                                const matmul_fixed_t *y, size_t m, int trans)
{
    matmul_fixed_job_t j = {Z, X, y, m, trans};
    return matmul_fixed_mul_many_eval(ctx, &j, 1);
}

void matmul_plain(uint64_t *const *y, const uint64_t *x, matmul_weight_t *const *ws, int nw,
                  size_t m, int f, const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    size_t total = out_words(ws, nw, m);
    for (int j = 0; j < nw; j++) ring_gemm_nt(y[j], x, ws[j]->w, m, ws[j]->rows, ws[j]->cols, 0);
    if (f <= 0) return;
    uint64_t *cat = malloc(total * sizeof *cat + 1);
    MPC_ASSERT(cat);
    size_t o = 0;
    for (int j = 0; j < nw; j++) {
        memcpy(cat + o, y[j], m * ws[j]->rows * sizeof *cat);
        o += m * ws[j]->rows;
    }
    trunc_plain(cat, cat, total, f, round_seed, site);
    o = 0;
    for (int j = 0; j < nw; j++) {
        memcpy(y[j], cat + o, m * ws[j]->rows * sizeof *cat);
        o += m * ws[j]->rows;
    }
    free(cat);
}

void matmul_fixed_mul_plain(const matmul_fixed_job_t *jobs, int count)
{
    for (int j = 0; j < count; j++) {
        size_t inner, outer;
        job_dims(&jobs[j], &inner, &outer);
        gemm_fn gemm = jobs[j].trans ? ring_gemm_nt : ring_gemm_nn;
        gemm(jobs[j].Z, jobs[j].X, jobs[j].y->f, jobs[j].m, outer, inner, 0);
    }
}
