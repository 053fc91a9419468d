/* protocols/fn.c - exp, inverse powers, SiLU and row scaling. Each
 * function's tables are built per call (they depend on the scales), from the
 * arena at the parties and from the heap in the twins. */
#include "protocols/fn.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/cmp.h"
#include "protocols/lut.h"
#include "protocols/mul.h"
#include "protocols/trunc.h"

#define ROWMUL_TAG      CHAN_TAG('r', 'm', 'u', 'l')
#define SITE_K(site, k) ((site) + ((uint64_t)(k) << 32))

/* round(v), clamped into [−2^62, 2^62], as a ring element. */
static uint64_t enc(double v)
{
    const double lim = 4611686018427387904.0; /* 2^62 */
    if (!(v > -lim)) v = -lim;
    if (v > lim) v = lim;
    return (uint64_t)llround(v);
}

/* A field index read as a two's-complement number of `bits` bits. */
static int64_t signed_index(size_t v, int bits)
{
    return v >= ((size_t)1 << (bits - 1)) ? (int64_t)v - ((int64_t)1 << bits) : (int64_t)v;
}

/* --- exp ------------------------------------------------------------------ */

#define EXP_RES  11 /* u on a 2^-11 grid */
#define EXP_LO   9  /* low field: d in (−2^9, 2^9), DIFF */
#define EXP_HI   13 /* high field: h in [0, 2^13), WRAP */
#define EXP_TAB  24 /* scale of both tables */
#define EXP_CLIP 14.0

/* The two fields of u = −x and their tables (lo: 2^10 words, hi: 2^13). */
static void exp_fields(lut_field_t f[2], const uint64_t *tabs[2], uint64_t *lo, uint64_t *hi,
                       int in_scale)
{
    MPC_ASSERT(in_scale > EXP_RES && in_scale <= 62 - EXP_HI - EXP_LO);
    const double h = ldexp(1.0, -EXP_RES);
    for (size_t i = 0; i < ((size_t)1 << (EXP_LO + 1)); i++) {
        double d = (double)i - (double)(1 << EXP_LO);
        lo[i] = enc(ldexp(exp(-d * h), EXP_TAB));
    }
    for (size_t v = 0; v < ((size_t)1 << EXP_HI); v++) {
        double t = ldexp((double)v, EXP_LO) * h;
        hi[v] = t <= EXP_CLIP ? enc(ldexp(exp(-t), EXP_TAB)) : 0;
    }
    tabs[0] = lo;
    tabs[1] = hi;
    const int k = in_scale - EXP_RES;
    f[0] = (lut_field_t){k, EXP_LO, LUT_DIFF, 1, &tabs[0]};
    f[1] = (lut_field_t){k + EXP_LO, EXP_HI, LUT_WRAP, 1, &tabs[1]};
}

static void exp_check_scales(int in_scale, int out_scale)
{
    MPC_ASSERT(out_scale > 0 && out_scale < 2 * EXP_TAB);
    MPC_ASSERT(in_scale > EXP_RES && in_scale + FN_EXP_INT_BITS <= 52);
}

mpc_err_t fn_exp_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site)
{
    exp_check_scales(in_scale, out_scale);
    stats_push(&ctx->stats, "exp");
    lut_field_t f[2];
    f[0] = (lut_field_t){in_scale - EXP_RES, EXP_LO, LUT_DIFF, 1, NULL};
    f[1] = (lut_field_t){in_scale - EXP_RES + EXP_LO, EXP_HI, LUT_WRAP, 1, NULL};
    mpc_err_t e = lut_gen(ctx, n, f, 2, SITE_K(site, 0));
    if (!e) e = mul_gen(ctx, n);
    if (!e) e = trunc_gen(ctx, n, 2 * EXP_TAB - out_scale, SITE_K(site, 1));
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t fn_exp_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                      int out_scale, uint64_t site)
{
    exp_check_scales(in_scale, out_scale);
    stats_push(&ctx->stats, "exp");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t tn = (size_t)1 << (EXP_LO + 1);
    uint64_t *lo = arena_alloc(&ctx->arena, (tn + ((size_t)1 << EXP_HI)) * sizeof *lo);
    uint64_t *u = arena_alloc(&ctx->arena, (3 * n + 1) * sizeof *u);
    mpc_err_t e = MPC_OK;
    if (!lo || !u) {
        e = mpc_fail(ctx, MPC_ENOMEM, "exp: out of memory for %zu elements", n);
        goto out;
    }
    lut_field_t f[2];
    const uint64_t *tabs[2];
    exp_fields(f, tabs, lo, lo + tn, in_scale);
    uint64_t *thi = u + n, *tlo = thi + n;
    for (size_t i = 0; i < n; i++)
        u[i] = 0 - x[i]; /* u = −x >= 0 */
    uint64_t *const outs[2] = {tlo, thi};
    e = lut_eval(ctx, outs, NULL, u, n, f, 2, SITE_K(site, 0));
    if (!e) e = mul_eval(ctx, u, thi, tlo, n); /* e^-u at scale 48 */
    if (!e) e = trunc_eval(ctx, out, u, n, 2 * EXP_TAB - out_scale, SITE_K(site, 1));
    sodium_memzero(u, (3 * n + 1) * sizeof *u);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void fn_exp_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                  const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    exp_check_scales(in_scale, out_scale);
    const size_t tn = (size_t)1 << (EXP_LO + 1);
    uint64_t *lo = malloc((tn + ((size_t)1 << EXP_HI)) * sizeof *lo), *u = malloc((3 * n + 1) * sizeof *u);
    MPC_ASSERT(lo && u);
    lut_field_t f[2];
    const uint64_t *tabs[2];
    exp_fields(f, tabs, lo, lo + tn, in_scale);
    uint64_t *thi = u + n, *tlo = thi + n;
    const int64_t bound = (int64_t)1 << (FN_EXP_INT_BITS + in_scale);
    for (size_t i = 0; i < n; i++) {
        int64_t s = fxp_signed(x[i]);
        MPC_ASSERT(s <= 0 && s > -bound); /* −2^FN_EXP_INT_BITS < x <= 0 */
        u[i] = 0 - x[i];
    }
    uint64_t *const outs[2] = {tlo, thi};
    lut_plain(outs, NULL, u, n, f, 2, round_seed, SITE_K(site, 0));
    for (size_t i = 0; i < n; i++)
        u[i] = thi[i] * tlo[i];
    trunc_plain(out, u, n, 2 * EXP_TAB - out_scale, round_seed, SITE_K(site, 1));
    free(lo);
    free(u);
}

/* --- inverse powers --------------------------------------------------------- */

#define INV_BITS (FN_INV_MANT + 1) /* field width: mantissa index up to 2^13 */

static int inv_count(const fn_inv_t *p)
{
    MPC_ASSERT(p->root == 1 || p->root == 2);
    MPC_ASSERT(p->e_lo <= p->e_hi && p->e_lo + p->in_scale >= 0);
    MPC_ASSERT(p->e_hi + p->in_scale + 2 <= 64 && p->out_scale >= 0 && p->out_scale < 62);
    return p->e_hi - p->e_lo + 1;
}

static int inv_cmp_bits(const fn_inv_t *p)
{
    return p->e_hi + p->in_scale + 2;
}

/* Field j reads exponent e = e_lo + j: its top INV_BITS bits sit above
 * shift = max(0, in_scale + e − FN_INV_MANT). */
static int inv_shift(const fn_inv_t *p, int j)
{
    int s = p->in_scale + p->e_lo + j - FN_INV_MANT;
    return s > 0 ? s : 0;
}

/* Fields (with tables when tab != NULL: E tables of 2^INV_BITS words). */
static void inv_fields(lut_field_t *f, const uint64_t **tp, uint64_t *tab, const fn_inv_t *p)
{
    const int E = inv_count(p);
    const size_t N = (size_t)1 << INV_BITS;
    for (int j = 0; j < E; j++) {
        const int sh = inv_shift(p, j);
        if (tab) {
            /* g(v 2^k) = g(v) g(2^k) for both powers: one division or root
             * per entry and a constant per table (rebuilt per call, so it
             * must be cheap) */
            uint64_t *T = tab + (size_t)j * N;
            const int k = sh - p->in_scale;
            const double c = ldexp(p->gain, p->out_scale) *
                             (p->root == 1 ? ldexp(1.0, -k) : 1.0 / sqrt(ldexp(1.0, k)));
            for (size_t v = 0; v < N; v++) {
                /* v = 0 stands for 2^INV_BITS: a carry out of the top value */
                const double X = v ? (double)v : (double)N;
                const double y = c * (p->root == 1 ? 1.0 / X : 1.0 / sqrt(X));
                T[v] = y < 4611686018427387904.0 ? (uint64_t)(int64_t)(y + 0.5) : enc(y);
            }
            tp[j] = T;
        }
        f[j] = (lut_field_t){sh, INV_BITS, LUT_WRAP, 1, tab ? &tp[j] : NULL};
    }
}

mpc_err_t fn_inv_gen(mpc_ctx_t *ctx, size_t n, const fn_inv_t *p, uint64_t site)
{
    const int E = inv_count(p);
    stats_push(&ctx->stats, p->root == 1 ? "recip" : "rsqrt");
    arena_mark_t mark = arena_mark(&ctx->arena);
    lut_field_t *f = arena_alloc(&ctx->arena, (size_t)E * sizeof *f);
    mpc_err_t e = MPC_OK;
    if (!f) {
        e = mpc_fail(ctx, MPC_ENOMEM, "inv_gen: out of memory");
        goto out;
    }
    inv_fields(f, NULL, NULL, p);
    if (E > 1) e = cmp_drelu_gen(ctx, (size_t)(E - 1) * n, inv_cmp_bits(p));
    if (!e) e = lut_gen(ctx, n, f, E, site);
    if (!e) e = mul_gen(ctx, (size_t)E * n);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

/* d[(j−1)·n + i] = x_i − 2^(in_scale + e_lo + j), j = 1..E−1 (p0: the
 * constant's share holder). */
static void inv_diffs(uint64_t *d, const uint64_t *x, size_t n, const fn_inv_t *p, int p0)
{
    const int E = inv_count(p);
    for (int j = 1; j < E; j++) {
        const uint64_t c = p0 ? (uint64_t)1 << (p->in_scale + p->e_lo + j) : 0;
        for (size_t i = 0; i < n; i++)
            d[(size_t)(j - 1) * n + i] = x[i] - c;
    }
}

/* o[j·n + i] = b_j − b_(j+1), from b[(j−1)·n + i] = [x_i >= 2^e] (b_0 = 1 at
 * P0, b_E = 0). */
static void inv_onehot(uint64_t *o, const uint64_t *b, size_t n, int E, int p0)
{
    for (int j = 0; j < E; j++)
        for (size_t i = 0; i < n; i++) {
            uint64_t bj = j == 0 ? (uint64_t)p0 : b[(size_t)(j - 1) * n + i];
            uint64_t bn = j + 1 < E ? b[(size_t)j * n + i] : 0;
            o[(size_t)j * n + i] = bj - bn;
        }
}

mpc_err_t fn_inv_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, const fn_inv_t *p,
                      uint64_t site)
{
    const int E = inv_count(p);
    const size_t N = (size_t)1 << INV_BITS, En = (size_t)E * n;
    const int p0 = ctx->party == MPC_P0;
    stats_push(&ctx->stats, p->root == 1 ? "recip" : "rsqrt");
    arena_mark_t mark = arena_mark(&ctx->arena);
    lut_field_t *f = arena_alloc(&ctx->arena, (size_t)E * sizeof *f);
    const uint64_t **tp = arena_alloc(&ctx->arena, (size_t)E * sizeof *tp);
    uint64_t **outs = arena_alloc(&ctx->arena, (size_t)E * sizeof *outs);
    uint64_t *tab = arena_alloc(&ctx->arena, (size_t)E * N * sizeof *tab);
    uint64_t *b = arena_alloc(&ctx->arena, (3 * En + 1) * sizeof *b);
    mpc_err_t e = MPC_OK;
    if (!f || !tp || !outs || !tab || !b) {
        e = mpc_fail(ctx, MPC_ENOMEM, "inv_eval: out of memory for %zu elements", n);
        goto out;
    }
    inv_fields(f, tp, tab, p);
    uint64_t *o = b + En, *L = o + En;
    for (int j = 0; j < E; j++)
        outs[j] = L + (size_t)j * n;
    if (E > 1) {
        inv_diffs(b, x, n, p, p0);
        e = cmp_drelu_eval(ctx, b, b, (size_t)(E - 1) * n, inv_cmp_bits(p));
    }
    if (!e) e = lut_eval(ctx, outs, NULL, x, n, f, E, site);
    if (e) goto wipe;
    inv_onehot(o, b, n, E, p0);
    e = mul_eval(ctx, L, o, L, En);
    if (e) goto wipe;
    for (size_t i = 0; i < n; i++) {
        uint64_t acc = 0;
        for (int j = 0; j < E; j++)
            acc += L[(size_t)j * n + i];
        out[i] = acc;
    }
wipe:
    sodium_memzero(b, (3 * En + 1) * sizeof *b);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void fn_inv_plain(uint64_t *out, const uint64_t *x, size_t n, const fn_inv_t *p,
                  const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    const int E = inv_count(p);
    const size_t N = (size_t)1 << INV_BITS, En = (size_t)E * n;
    lut_field_t *f = malloc((size_t)E * sizeof *f);
    const uint64_t **tp = malloc((size_t)E * sizeof *tp);
    uint64_t **outs = malloc((size_t)E * sizeof *outs);
    uint64_t *tab = malloc((size_t)E * N * sizeof *tab);
    uint64_t *b = malloc((3 * En + 1) * sizeof *b);
    MPC_ASSERT(f && tp && outs && tab && b);
    for (size_t i = 0; i < n; i++) { /* 2^e_lo <= x < 2^(e_hi+1) */
        MPC_ASSERT(x[i] >= (uint64_t)1 << (p->in_scale + p->e_lo));
        MPC_ASSERT(x[i] < (uint64_t)1 << (p->in_scale + p->e_hi + 1));
    }
    inv_fields(f, tp, tab, p);
    uint64_t *o = b + En, *L = o + En;
    for (int j = 0; j < E; j++)
        outs[j] = L + (size_t)j * n;
    if (E > 1) {
        inv_diffs(b, x, n, p, 1);
        cmp_drelu_plain(b, b, (size_t)(E - 1) * n, inv_cmp_bits(p));
    }
    lut_plain(outs, NULL, x, n, f, E, round_seed, site);
    inv_onehot(o, b, n, E, 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t acc = 0;
        for (int j = 0; j < E; j++)
            acc += o[(size_t)j * n + i] * L[(size_t)j * n + i];
        out[i] = acc;
    }
    free(f);
    free(tp);
    free(outs);
    free(tab);
    free(b);
}

static fn_inv_t recip_params(int in_scale, int out_scale)
{
    return (fn_inv_t){1, in_scale, out_scale, 0, 15, 1.0};
}

static fn_inv_t rsqrt_params(int in_scale, int out_scale)
{
    return (fn_inv_t){2, in_scale, out_scale, -8, 15, 1.0};
}

mpc_err_t fn_recip_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site)
{
    fn_inv_t p = recip_params(in_scale, out_scale);
    return fn_inv_gen(ctx, n, &p, site);
}

mpc_err_t fn_recip_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                        int out_scale, uint64_t site)
{
    fn_inv_t p = recip_params(in_scale, out_scale);
    return fn_inv_eval(ctx, out, x, n, &p, site);
}

void fn_recip_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                    const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    fn_inv_t p = recip_params(in_scale, out_scale);
    fn_inv_plain(out, x, n, &p, round_seed, site);
}

mpc_err_t fn_rsqrt_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site)
{
    fn_inv_t p = rsqrt_params(in_scale, out_scale);
    return fn_inv_gen(ctx, n, &p, site);
}

mpc_err_t fn_rsqrt_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                        int out_scale, uint64_t site)
{
    fn_inv_t p = rsqrt_params(in_scale, out_scale);
    return fn_inv_eval(ctx, out, x, n, &p, site);
}

void fn_rsqrt_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                    const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    fn_inv_t p = rsqrt_params(in_scale, out_scale);
    fn_inv_plain(out, x, n, &p, round_seed, site);
}

/* --- SiLU ------------------------------------------------------------------- */

#define SILU_RES    5  /* fine grid 2^-5 */
#define SILU_FINE   11 /* fine field: v in [−2^10, 2^10) */
#define SILU_CSHIFT 3  /* coarse grid 8 */
#define SILU_COARSE (FN_SILU_INT_BITS - SILU_CSHIFT + 2)

static double sigmoid(double t)
{
    return 1.0 / (1.0 + exp(-t));
}

/* Tables: A, B (2^11 words each), s_hi, s_mid (2^9 each), in that order. */
static void silu_fields(lut_field_t f[2], const uint64_t *tp[4], uint64_t *tab, int in_scale,
                        int out_scale)
{
    const size_t NF = (size_t)1 << SILU_FINE, NC = (size_t)1 << SILU_COARSE;
    if (tab) {
        uint64_t *A = tab, *B = A + NF, *sh = B + NF, *sm = sh + NC;
        const double h = ldexp(1.0, -SILU_RES);
        for (size_t v = 0; v < NF; v++) {
            double t = (double)signed_index(v, SILU_FINE) * h, s = sigmoid(t);
            double d1 = s * (1 + t * (1 - s)), d2 = s * (1 - s) * (2 + t * (1 - 2 * s));
            /* tangent at t, shifted by f''h²/4: the error over (t − h, t + h)
             * is then at most |f''| h² / 4 either way */
            A[v] = enc(ldexp(t * s + d2 * h * h / 4, out_scale + in_scale));
            B[v] = enc(ldexp(d1, out_scale));
        }
        for (size_t v = 0; v < NC; v++) {
            int64_t c = signed_index(v, SILU_COARSE);
            sh[v] = c >= 3;
            sm[v] = c >= -2 && c <= 2;
        }
        tp[0] = A;
        tp[1] = B;
        tp[2] = sh;
        tp[3] = sm;
    }
    f[0] = (lut_field_t){in_scale - SILU_RES, SILU_FINE, LUT_WRAP, 2, tab ? &tp[0] : NULL};
    f[1] = (lut_field_t){in_scale + SILU_CSHIFT, SILU_COARSE, LUT_WRAP, 2, tab ? &tp[2] : NULL};
}

static size_t silu_tab_words(void)
{
    return 2 * ((size_t)1 << SILU_FINE) + 2 * ((size_t)1 << SILU_COARSE);
}

static void silu_check_scales(int in_scale, int out_scale)
{
    MPC_ASSERT(in_scale > SILU_RES && out_scale > 0);
    MPC_ASSERT(FN_SILU_INT_BITS + in_scale + out_scale <= 61);
}

mpc_err_t fn_silu_gen(mpc_ctx_t *ctx, size_t n, int in_scale, int out_scale, uint64_t site)
{
    silu_check_scales(in_scale, out_scale);
    stats_push(&ctx->stats, "silu");
    lut_field_t f[2];
    silu_fields(f, NULL, NULL, in_scale, out_scale);
    mpc_err_t e = lut_gen(ctx, n, f, 2, SITE_K(site, 0));
    if (!e) e = mul_gen(ctx, 2 * n);
    if (!e) e = mul_gen(ctx, n);
    if (!e) e = trunc_gen(ctx, n, in_scale, SITE_K(site, 1));
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t fn_silu_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t n, int in_scale,
                       int out_scale, uint64_t site)
{
    silu_check_scales(in_scale, out_scale);
    stats_push(&ctx->stats, "silu");
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *tab = arena_alloc(&ctx->arena, silu_tab_words() * sizeof *tab);
    uint64_t *w = arena_alloc(&ctx->arena, (9 * n + 1) * sizeof *w);
    mpc_err_t e = MPC_OK;
    if (!tab || !w) {
        e = mpc_fail(ctx, MPC_ENOMEM, "silu: out of memory for %zu elements", n);
        goto out;
    }
    lut_field_t f[2];
    const uint64_t *tp[4];
    silu_fields(f, tp, tab, in_scale, out_scale);
    /* w: A | B | s_hi | s_mid | rem | (first operands: B, s_hi) | (second:
     * rem, x << out) — the products go pairwise, 2n at once */
    uint64_t *A = w, *B = A + n, *sh = B + n, *sm = sh + n, *rem = sm + n;
    uint64_t *lhs = rem + n, *rhs = lhs + 2 * n;
    uint64_t *const outs[4] = {A, B, sh, sm};
    e = lut_eval(ctx, outs, rem, x, n, f, 2, SITE_K(site, 0));
    if (e) goto wipe;
    memcpy(lhs, B, n * sizeof *lhs);
    memcpy(lhs + n, sh, n * sizeof *lhs);
    memcpy(rhs, rem, n * sizeof *rhs);
    for (size_t i = 0; i < n; i++)
        rhs[n + i] = x[i] << out_scale;
    e = mul_eval(ctx, lhs, lhs, rhs, 2 * n); /* B·rem | s_hi·x */
    if (e) goto wipe;
    for (size_t i = 0; i < n; i++)
        A[i] += lhs[i]; /* the interpolation */
    e = mul_eval(ctx, A, sm, A, n);
    if (e) goto wipe;
    for (size_t i = 0; i < n; i++)
        A[i] += lhs[n + i];
    e = trunc_eval(ctx, out, A, n, in_scale, SITE_K(site, 1));
wipe:
    sodium_memzero(w, (9 * n + 1) * sizeof *w);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void fn_silu_plain(uint64_t *out, const uint64_t *x, size_t n, int in_scale, int out_scale,
                   const uint8_t round_seed[PRG_SEED_BYTES], uint64_t site)
{
    silu_check_scales(in_scale, out_scale);
    uint64_t *tab = malloc(silu_tab_words() * sizeof *tab);
    uint64_t *w = malloc((5 * n + 1) * sizeof *w);
    MPC_ASSERT(tab && w);
    const int64_t bound = (int64_t)1 << (FN_SILU_INT_BITS + in_scale);
    for (size_t i = 0; i < n; i++) {
        int64_t s = fxp_signed(x[i]);
        MPC_ASSERT(s > -bound && s < bound); /* |x| < 2^10 */
    }
    lut_field_t f[2];
    const uint64_t *tp[4];
    silu_fields(f, tp, tab, in_scale, out_scale);
    uint64_t *A = w, *B = A + n, *sh = B + n, *sm = sh + n, *rem = sm + n;
    uint64_t *const outs[4] = {A, B, sh, sm};
    lut_plain(outs, rem, x, n, f, 2, round_seed, SITE_K(site, 0));
    for (size_t i = 0; i < n; i++)
        A[i] = sm[i] * (A[i] + B[i] * rem[i]) + sh[i] * (x[i] << out_scale);
    trunc_plain(out, A, n, in_scale, round_seed, SITE_K(site, 1));
    free(tab);
    free(w);
}

/* --- rows times a secret scalar ------------------------------------------- */

static size_t row_len(size_t r, size_t n, const size_t *len)
{
    return len ? len[r] : n;
}

static size_t rows_total(size_t rows, size_t n, const size_t *len)
{
    size_t m = 0;
    for (size_t r = 0; r < rows; r++)
        m += row_len(r, n, len);
    return m;
}

mpc_err_t fn_rowmul_gen(mpc_ctx_t *ctx, size_t rows, size_t n, const size_t *len)
{
    stats_push(&ctx->stats, "rowmul");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t m = rows_total(rows, n, len);
    uint64_t *a = arena_alloc(&ctx->arena, (2 * m + rows + 1) * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "rowmul_gen: out of memory");
        goto out;
    }
    uint64_t *b = a + m, *c = b + rows;
    deal_rand(ctx, a, m);
    deal_rand(ctx, b, rows);
    for (size_t r = 0, k = 0; r < rows; r++)
        for (size_t i = 0; i < row_len(r, n, len); i++, k++)
            c[k] = a[k] * b[r];
    e = deal_share(ctx, c, m);
    sodium_memzero(a, (2 * m + rows + 1) * sizeof *a);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t fn_rowmul_eval(mpc_ctx_t *ctx, uint64_t *z, const uint64_t *x, const uint64_t *s,
                         size_t rows, size_t n, const size_t *len)
{
    stats_push(&ctx->stats, "rowmul");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t m = rows_total(rows, n, len);
    uint64_t *a = arena_alloc(&ctx->arena, (3 * m + 2 * rows + 1) * sizeof *a);
    mpc_err_t e = MPC_OK;
    if (!a) {
        e = mpc_fail(ctx, MPC_ENOMEM, "rowmul_eval: out of memory");
        goto out;
    }
    uint64_t *b = a + m, *c = b + rows, *ed = c + m; /* ed: x − a | s − b */
    mpc_corr_rand(ctx, a, m);
    mpc_corr_rand(ctx, b, rows);
    e = mpc_corr_share(ctx, c, m);
    if (e) goto wipe;
    for (size_t k = 0; k < m; k++)
        ed[k] = x[k] - a[k];
    for (size_t r = 0; r < rows; r++)
        ed[m + r] = s[r] - b[r];
    e = mpc_open(ctx, ROWMUL_TAG, ed, ed, m + rows);
    if (e) goto wipe;
    const uint64_t p0 = ctx->party == MPC_P0;
    for (size_t r = 0, k = 0; r < rows; r++) {
        const uint64_t d = ed[m + r];
        for (size_t i = 0; i < row_len(r, n, len); i++, k++) {
            const uint64_t ek = ed[k];
            z[k] = c[k] + ek * b[r] + d * a[k] + p0 * ek * d;
        }
    }
wipe:
    sodium_memzero(a, (3 * m + 2 * rows + 1) * sizeof *a);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}
