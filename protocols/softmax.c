/* protocols/softmax.c - masked softmax: maximum, exp, sum, reciprocal,
 * product. The dealer walks the same steps with the same public mask. */
#include "protocols/softmax.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/fn.h"
#include "protocols/select.h"
#include "protocols/trunc.h"

#define SITE_K(site, k) ((site) + ((uint64_t)(k) << 32))

static int is_valid(const uint8_t *valid, size_t k)
{
    return !valid || valid[k];
}

static void check_args(size_t n, int in_scale, int f)
{
    MPC_ASSERT(n >= 1 && n <= SOFTMAX_MAX_N);
    MPC_ASSERT(in_scale >= 12 && in_scale + SOFTMAX_INT_BITS + 2 <= 52);
    MPC_ASSERT(f > 0 && f < SOFTMAX_E_SCALE + SOFTMAX_R_SCALE);
}

/* The comparison width of the maximum: |a − b| < 2^(SOFTMAX_INT_BITS + 1 +
 * in_scale). */
static int max_bits(int in_scale)
{
    return in_scale + SOFTMAX_INT_BITS + 2;
}

static fn_inv_t recip_params(void)
{
    return (fn_inv_t){1, SOFTMAX_E_SCALE, SOFTMAX_R_SCALE, 0, 15, 1.0};
}

/* Valid entries per row (len) and in all (the return value). */
static size_t count_valid(size_t *len, const uint8_t *valid, size_t rows, size_t n)
{
    size_t cnt = 0;
    for (size_t r = 0; r < rows; r++) {
        len[r] = 0;
        for (size_t i = 0; i < n; i++)
            len[r] += (size_t)is_valid(valid, r * n + i);
        cnt += len[r];
    }
    return cnt;
}

/* xm = x with masked entries replaced by the sentinel (p0: the constant's
 * share holder). */
static void sentinel_fill(uint64_t *xm, const uint64_t *x, size_t m, const uint8_t *valid,
                          int in_scale, int p0)
{
    const uint64_t sent = p0 ? 0 - ((uint64_t)1 << (SOFTMAX_INT_BITS + in_scale)) : 0;
    for (size_t k = 0; k < m; k++)
        xm[k] = is_valid(valid, k) ? x[k] : sent;
}

/* z (compact) = x − max of the row, over valid entries. */
static void centre(uint64_t *z, const uint64_t *x, const uint64_t *mx, const uint8_t *valid,
                   size_t rows, size_t n)
{
    size_t c = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++)
            if (is_valid(valid, r * n + i)) z[c++] = x[r * n + i] - mx[r];
}

/* S[r] = Σ e over the row; a row with no valid entry gets S = 1 (public). */
static void row_sums(uint64_t *S, const uint64_t *e, const size_t *len, size_t rows, int p0)
{
    size_t c = 0;
    for (size_t r = 0; r < rows; r++) {
        uint64_t s = 0;
        for (size_t i = 0; i < len[r]; i++)
            s += e[c++];
        S[r] = len[r] ? s : (p0 ? (uint64_t)1 << SOFTMAX_E_SCALE : 0);
    }
}

static void scatter(uint64_t *out, const uint64_t *p, const uint8_t *valid, size_t m)
{
    size_t c = 0;
    for (size_t k = 0; k < m; k++)
        out[k] = is_valid(valid, k) ? p[c++] : 0;
}

mpc_err_t softmax_gen(mpc_ctx_t *ctx, size_t rows, size_t n, const uint8_t *valid, int in_scale,
                      int out_scale, uint64_t site)
{
    const int f = out_scale;
    check_args(n, in_scale, f);
    stats_push(&ctx->stats, "softmax");
    arena_mark_t mark = arena_mark(&ctx->arena);
    size_t *len = arena_alloc(&ctx->arena, (rows + 1) * sizeof *len);
    mpc_err_t e = MPC_OK;
    if (!len) {
        e = mpc_fail(ctx, MPC_ENOMEM, "softmax_gen: out of memory");
        goto out;
    }
    const size_t cnt = count_valid(len, valid, rows, n);
    const fn_inv_t rp = recip_params();
    e = sel_max_gen(ctx, rows, n, max_bits(in_scale));
    if (!e && cnt) e = fn_exp_gen(ctx, cnt, in_scale, SOFTMAX_E_SCALE, SITE_K(site, 0));
    if (!e) e = fn_inv_gen(ctx, rows, &rp, SITE_K(site, 2));
    if (!e && cnt) e = fn_rowmul_gen(ctx, rows, n, len);
    if (!e && cnt) e = trunc_gen(ctx, cnt, SOFTMAX_E_SCALE + SOFTMAX_R_SCALE - f, SITE_K(site, 3));
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t softmax_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                       const uint8_t *valid, int in_scale, int out_scale, uint64_t site)
{
    const int f = out_scale, p0 = ctx->party == MPC_P0;
    check_args(n, in_scale, f);
    stats_push(&ctx->stats, "softmax");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t m = rows * n;
    size_t *len = arena_alloc(&ctx->arena, (rows + 1) * sizeof *len);
    uint64_t *w = arena_alloc(&ctx->arena, (2 * m + 3 * rows + 1) * sizeof *w);
    mpc_err_t e = MPC_OK;
    if (!len || !w) {
        e = mpc_fail(ctx, MPC_ENOMEM, "softmax: out of memory for %zu x %zu", rows, n);
        goto out;
    }
    uint64_t *xm = w, *z = xm + m, *mx = z + m, *S = mx + rows, *R = S + rows;
    const size_t cnt = count_valid(len, valid, rows, n);
    const fn_inv_t rp = recip_params();
    sentinel_fill(xm, x, m, valid, in_scale, p0);
    e = sel_max_eval(ctx, mx, xm, rows, n, max_bits(in_scale));
    if (e) goto wipe;
    centre(z, x, mx, valid, rows, n);
    if (cnt) e = fn_exp_eval(ctx, z, z, cnt, in_scale, SOFTMAX_E_SCALE, SITE_K(site, 0));
    if (e) goto wipe;
    row_sums(S, z, len, rows, p0);
    e = fn_inv_eval(ctx, R, S, rows, &rp, SITE_K(site, 2));
    if (!e && cnt) e = fn_rowmul_eval(ctx, z, z, R, rows, n, len);
    if (!e && cnt)
        e = trunc_eval(ctx, z, z, cnt, SOFTMAX_E_SCALE + SOFTMAX_R_SCALE - f, SITE_K(site, 3));
    if (!e) scatter(out, z, valid, m);
wipe:
    sodium_memzero(w, (2 * m + 3 * rows + 1) * sizeof *w);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void softmax_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, const uint8_t *valid,
                   int in_scale, int out_scale, const uint8_t round_seed[PRG_SEED_BYTES],
                   uint64_t site)
{
    const int f = out_scale;
    check_args(n, in_scale, f);
    const size_t m = rows * n;
    size_t *len = malloc((rows + 1) * sizeof *len);
    uint64_t *w = malloc((2 * m + 3 * rows + 1) * sizeof *w);
    MPC_ASSERT(len && w);
    uint64_t *xm = w, *z = xm + m, *mx = z + m, *S = mx + rows, *R = S + rows;
    const int64_t bound = (int64_t)1 << (SOFTMAX_INT_BITS + in_scale);
    for (size_t k = 0; k < m; k++) {
        int64_t s = fxp_signed(x[k]);
        MPC_ASSERT(!is_valid(valid, k) || (s > -bound && s < bound)); /* |x| < 2^6 */
    }
    const size_t cnt = count_valid(len, valid, rows, n);
    const fn_inv_t rp = recip_params();
    sentinel_fill(xm, x, m, valid, in_scale, 1);
    sel_max_plain(mx, xm, rows, n, max_bits(in_scale));
    centre(z, x, mx, valid, rows, n);
    if (cnt) fn_exp_plain(z, z, cnt, in_scale, SOFTMAX_E_SCALE, round_seed, SITE_K(site, 0));
    row_sums(S, z, len, rows, 1);
    fn_inv_plain(R, S, rows, &rp, round_seed, SITE_K(site, 2));
    for (size_t r = 0, c = 0; r < rows; r++)
        for (size_t i = 0; i < len[r]; i++, c++)
            z[c] *= R[r];
    if (cnt)
        trunc_plain(z, z, cnt, SOFTMAX_E_SCALE + SOFTMAX_R_SCALE - f, round_seed, SITE_K(site, 3));
    scatter(out, z, valid, m);
    free(len);
    free(w);
}
