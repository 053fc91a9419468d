/* protocols/rmsnorm.c - RMSNorm: one flight for x² and x ⊙ w, a reciprocal
 * square root per row, a row product and a truncation. */
#include "protocols/rmsnorm.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>

#include "protocols/fn.h"
#include "protocols/trunc.h"

#define RMS_TAG         CHAN_TAG('r', 'm', 's', ' ')
#define SITE_K(site, k) ((site) + ((uint64_t)(k) << 32))

/* round(eps · 2^(2f)): eps at scale 2f. */
static uint64_t eps_2f(int f)
{
    return (uint64_t)llround(ldexp(RMSNORM_EPS, 2 * f));
}

static int floor_log2(double v)
{
    return (int)floor(log2(v));
}

/* rsqrt over the exponents Q can take, √n folded into the tables. */
static fn_inv_t rms_params(size_t n, int f)
{
    const double qmin = (double)n * ldexp((double)eps_2f(f), -2 * f);
    return (fn_inv_t){2,
                      2 * f,
                      RMSNORM_R_SCALE,
                      floor_log2(qmin),
                      floor_log2((double)n) + 2 * RMSNORM_INT_BITS,
                      sqrt((double)n)};
}

static void check_args(size_t n, int f)
{
    MPC_ASSERT(n >= 1 && n <= 8192);
    MPC_ASSERT(f > 0 && 2 * f + RMSNORM_R_SCALE < 62);
}

mpc_err_t rmsnorm_gen(mpc_ctx_t *ctx, const matmul_weight_t *w, size_t rows, uint64_t site)
{
    const int f = ctx->frac_bits;
    const size_t n = w->cols, m = rows * n;
    check_args(n, f);
    MPC_ASSERT(w->rows == 1 && w->b);
    stats_push(&ctx->stats, "rmsnorm");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *a = arena_alloc(&ctx->arena, (3 * m + 1) * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "rmsnorm_gen: out of memory");
        goto out;
    }
    uint64_t *a1 = a + m, *c = a1 + m;
    prg_u64(deal_prg(ctx, MPC_P0), a, m);
    prg_u64(deal_prg(ctx, MPC_P1), a1, m);
    for (size_t k = 0; k < m; k++) {
        a[k] += a1[k];
        c[k] = a[k] * a[k];
    }
    e = deal_share(ctx, c, m); /* a² */
    for (size_t k = 0; k < m; k++)
        c[k] = a1[k] * w->b[k % n];
    if (!e) e = deal_share(ctx, c, m); /* a1 ⊙ B */
    sodium_memzero(a, (3 * m + 1) * sizeof *a);
    const fn_inv_t p = rms_params(n, f);
    if (!e) e = fn_inv_gen(ctx, rows, &p, SITE_K(site, 0));
    if (!e) e = fn_rowmul_gen(ctx, rows, n, NULL);
    if (!e) e = trunc_gen(ctx, m, f + RMSNORM_R_SCALE, SITE_K(site, 1));
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t rmsnorm_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, const matmul_weight_t *w,
                       size_t rows, uint64_t site)
{
    const int f = ctx->frac_bits, p0 = ctx->party == MPC_P0;
    const size_t n = w->cols, m = rows * n;
    check_args(n, f);
    MPC_ASSERT(w->rows == 1 && (p0 ? w->w && w->b : w->f != NULL));
    stats_push(&ctx->stats, "rmsnorm");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *a = arena_alloc(&ctx->arena, (5 * m + 2 * rows + 1) * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "rmsnorm: out of memory for %zu x %zu", rows, n);
        goto out;
    }
    uint64_t *c = a + m, *C = c + m, *d = C + m, *u = d + m, *Q = u + m, *r = Q + rows;
    mpc_corr_rand(ctx, a, m);
    e = mpc_corr_share(ctx, c, m);
    if (!e) e = mpc_corr_share(ctx, C, m);
    if (e) goto wipe;
    for (size_t k = 0; k < m; k++)
        d[k] = x[k] - a[k];
    e = mpc_open(ctx, RMS_TAG, d, d, m); /* δ = x − a */
    if (e) goto wipe;
    for (size_t row = 0; row < rows; row++) {
        uint64_t q = p0 ? (uint64_t)n * eps_2f(f) : 0;
        for (size_t i = 0; i < n; i++) {
            const size_t k = row * n + i;
            q += (p0 ? d[k] * d[k] : 0) + 2 * d[k] * a[k] + c[k]; /* x² */
            if (p0) /* δ1 = δ − δ0 is P1's half of the opening */
                u[k] = x[k] * w->w[i] + (d[k] - (x[k] - a[k])) * w->b[i] + C[k];
            else
                u[k] = x[k] * w->f[i] + C[k];
        }
        Q[row] = q;
    }
    const fn_inv_t p = rms_params(n, f);
    e = fn_inv_eval(ctx, r, Q, rows, &p, SITE_K(site, 0));
    if (!e) e = fn_rowmul_eval(ctx, u, u, r, rows, n, NULL);
    if (!e) e = trunc_eval(ctx, out, u, m, f + RMSNORM_R_SCALE, SITE_K(site, 1));
wipe:
    sodium_memzero(a, (5 * m + 2 * rows + 1) * sizeof *a);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void rmsnorm_plain(uint64_t *out, const uint64_t *x, const uint64_t *W, size_t rows, size_t n,
                   int f, const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    check_args(n, f);
    const size_t m = rows * n;
    uint64_t *u = malloc((m + 2 * rows + 1) * sizeof *u), *Q = u + m, *r = Q + rows;
    MPC_ASSERT(u);
    const int64_t bound = (int64_t)1 << (RMSNORM_INT_BITS + f);
    for (size_t row = 0; row < rows; row++) {
        uint64_t q = (uint64_t)n * eps_2f(f);
        for (size_t i = 0; i < n; i++) {
            const size_t k = row * n + i;
            const int64_t s = fxp_signed(x[k]);
            MPC_ASSERT(s > -bound && s < bound); /* |x| < 2^7 */
            q += x[k] * x[k];
            u[k] = x[k] * W[i];
        }
        Q[row] = q;
    }
    const fn_inv_t p = rms_params(n, f);
    fn_inv_plain(r, Q, rows, &p, round_seed, SITE_K(site, 0));
    for (size_t k = 0; k < m; k++)
        u[k] *= r[k / n];
    trunc_plain(out, u, m, f + RMSNORM_R_SCALE, round_seed, SITE_K(site, 1)); /* |y| < 2^(46−2f) */
    free(u);
}
