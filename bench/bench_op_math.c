/* bench/bench_op_math.c - the function ops of mpcllm-bench op: exp, recip,
 * rsqrt, silu, softmax (one row of n), rmsnorm (a vector of n), and the
 * polynomial exp they were measured against (exp-poly). */
#include <math.h>
#include <stdlib.h>

#include "bench/bench_op_impl.h"
#include "mpc/fxp.h"
#include "protocols/fn.h"
#include "protocols/fss.h"
#include "protocols/matmul.h"
#include "protocols/mul.h"
#include "protocols/rmsnorm.h"
#include "protocols/softmax.h"
#include "protocols/trunc.h"

#define SITE TRUNC_SITE(0, 1, 0)

/* Encodes the reals a at scale f, shares them into c->x and sets the
 * reference to fn of the encoded values. */
static void prep_unary(op_case_t *c, double *a, double (*fn)(double))
{
    prg_t *g = bench_prg();
    uint64_t *u = malloc(c->n * 8);
    fxp_encode_array(u, a, (int)c->n, c->f);
    bench_alloc_out(c, c->n, c->f);
    for (size_t i = 0; i < c->n; i++)
        c->ref[i] = fn(fxp_decode(u[i], c->f));
    bench_share(c->x, u, c->n, g);
    free(u);
    free(a);
    prg_free(&g);
}

static double *reals(size_t n, double lo, double hi)
{
    prg_t *g = bench_prg();
    double *a = malloc(n * sizeof *a);
    bench_random_reals(a, n, lo, hi, g);
    prg_free(&g);
    return a;
}

static double ref_recip(double x)
{
    return 1 / x;
}
static double ref_rsqrt(double x)
{
    return 1 / sqrt(x);
}
static double ref_silu(double x)
{
    return x / (1 + exp(-x));
}

static void prep_exp(op_case_t *c)
{
    prep_unary(c, reals(c->n, -16, 0), exp);
}

static void prep_recip(op_case_t *c)
{
    double *a = reals(c->n, 0, 15);
    for (size_t i = 0; i < c->n; i++)
        a[i] = exp2(a[i]); /* log-uniform on [1, 2^15) */
    prep_unary(c, a, ref_recip);
}

static void prep_rsqrt(op_case_t *c)
{
    double *a = reals(c->n, -8, 15);
    for (size_t i = 0; i < c->n; i++)
        a[i] = exp2(a[i]);
    prep_unary(c, a, ref_rsqrt);
}

static void prep_silu(op_case_t *c)
{
    prep_unary(c, reals(c->n, -20, 20), ref_silu);
}

static mpc_err_t role_exp(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return fn_exp_gen(ctx, c->n, c->f, c->f, SITE);
    int p = ctx->party;
    return fn_exp_eval(ctx, c->out[p], c->x[p], c->n, c->f, c->f, SITE);
}

static mpc_err_t role_recip(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return fn_recip_gen(ctx, c->n, c->f, c->f, SITE);
    int p = ctx->party;
    return fn_recip_eval(ctx, c->out[p], c->x[p], c->n, c->f, c->f, SITE);
}

static mpc_err_t role_rsqrt(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return fn_rsqrt_gen(ctx, c->n, c->f, c->f, SITE);
    int p = ctx->party;
    return fn_rsqrt_eval(ctx, c->out[p], c->x[p], c->n, c->f, c->f, SITE);
}

static mpc_err_t role_silu(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return fn_silu_gen(ctx, c->n, c->f, c->f, SITE);
    int p = ctx->party;
    return fn_silu_eval(ctx, c->out[p], c->x[p], c->n, c->f, c->f, SITE);
}

/* exp-poly: e^x ≈ (1 + x/2^8)^(2^8) on [−16, 0] (CrypTen's exp), eight
 * squarings, each a Beaver product and a truncation: the polynomial form
 * the lookup was measured against. */
#define POLY_SQUARINGS 8

static mpc_err_t role_exp_poly(mpc_ctx_t *ctx, op_case_t *c)
{
    mpc_err_t e = MPC_OK;
    if (ctx->party == MPC_DEALER) {
        for (int k = 0; k < POLY_SQUARINGS && !e; k++) {
            e = mul_gen(ctx, c->n);
            if (!e) e = trunc_gen(ctx, c->n, c->f, SITE + ((uint64_t)k << 32));
        }
        return e;
    }
    int p = ctx->party;
    uint64_t *y = c->out[p];
    /* 1 + x/2^8 by SecureML's local truncation (±1 ulp, fails with
     * probability about |x|/2^64) */
    for (size_t i = 0; i < c->n; i++)
        y[i] = p == MPC_P0 ? (c->x[p][i] >> POLY_SQUARINGS) + ((uint64_t)1 << c->f)
                           : 0 - ((0 - c->x[p][i]) >> POLY_SQUARINGS);
    for (int k = 0; k < POLY_SQUARINGS && !e; k++) {
        e = mul_eval(ctx, y, y, y, c->n);
        if (!e) e = trunc_eval(ctx, y, y, c->n, c->f, SITE + ((uint64_t)k << 32));
    }
    return e;
}

static double key_exp(size_t n)
{
    (void)n;
    return 2.0 * (double)(fss_dpf_key_bytes(9, FSS_Z64) + fss_dpf_key_bytes(10, FSS_Z64));
}

static double key_inv(int E, int nb)
{
    return 2.0 * (double)(E * fss_dpf_key_bytes(FN_INV_MANT + 1, FSS_Z64) +
                          (E - 1) * fss_dcf_key_bytes(nb - 1, FSS_Z64));
}

static double key_recip(size_t n)
{
    (void)n;
    return key_inv(16, 15 + FXP_FRAC_BITS_DEFAULT + 2);
}

static double key_rsqrt(size_t n)
{
    (void)n;
    return key_inv(24, 15 + FXP_FRAC_BITS_DEFAULT + 2);
}

static double key_silu(size_t n)
{
    (void)n;
    return 2.0 * (double)(fss_dpf_key_bytes(11, FSS_Z64) + fss_dpf_key_bytes(9, FSS_Z64));
}

/* softmax: one row of n scores in [−8, 8], all valid, output at scale
 * f + 8 (softmax.h: the L1 error of long rows at scale f is dominated by
 * the output's rounding). */
#define SOFTMAX_OUT (FXP_FRAC_BITS_DEFAULT + 8)
static void prep_softmax(op_case_t *c)
{
    prg_t *g = bench_prg();
    double *a = malloc(c->n * sizeof *a);
    uint64_t *u = malloc(c->n * 8);
    bench_random_reals(a, c->n, -8, 8, g);
    fxp_encode_array(u, a, (int)c->n, c->f);
    bench_alloc_out(c, c->n, SOFTMAX_OUT);
    double mx = -INFINITY, s = 0;
    for (size_t i = 0; i < c->n; i++)
        mx = fmax(mx, fxp_decode(u[i], c->f));
    for (size_t i = 0; i < c->n; i++)
        s += exp(fxp_decode(u[i], c->f) - mx);
    for (size_t i = 0; i < c->n; i++)
        c->ref[i] = exp(fxp_decode(u[i], c->f) - mx) / s;
    bench_share(c->x, u, c->n, g);
    free(a);
    free(u);
    prg_free(&g);
}

static mpc_err_t role_softmax(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return softmax_gen(ctx, 1, c->n, NULL, c->f, SOFTMAX_OUT, SITE);
    int p = ctx->party;
    return softmax_eval(ctx, c->out[p], c->x[p], 1, c->n, NULL, c->f, SOFTMAX_OUT, SITE);
}

static double key_softmax(size_t n)
{
    const int nb = FXP_FRAC_BITS_DEFAULT + SOFTMAX_INT_BITS + 2;
    double k = (double)(n - 1) * (double)fss_dcf_key_bytes(nb - 1, FSS_Z64) * 2 +
               (double)n * key_exp(n) + key_inv(16, 15 + SOFTMAX_E_SCALE + 2);
    return k / (double)n;
}

/* rmsnorm: one vector of n activations in [−4, 4], weight in [0.5, 1.5]
 * held by P0 (its one-off mask transfer is the setup). */
static void prep_rmsnorm(op_case_t *c)
{
    prg_t *g = bench_prg();
    double *a = malloc(c->n * sizeof *a), *w = malloc(c->n * sizeof *w);
    uint64_t *u = malloc(c->n * 8);
    bench_random_reals(a, c->n, -4, 4, g);
    bench_random_reals(w, c->n, 0.5, 1.5, g);
    c->W = malloc(c->n * 8);
    fxp_encode_array(c->W, w, (int)c->n, c->f);
    fxp_encode_array(u, a, (int)c->n, c->f);
    bench_alloc_out(c, c->n, c->f);
    double ss = 0;
    for (size_t i = 0; i < c->n; i++)
        ss += pow(fxp_decode(u[i], c->f), 2);
    double scale = 1 / sqrt(ss / (double)c->n + RMSNORM_EPS);
    for (size_t i = 0; i < c->n; i++)
        c->ref[i] = fxp_decode(u[i], c->f) * scale * fxp_decode(c->W[i], c->f);
    bench_share(c->x, u, c->n, g);
    free(a);
    free(w);
    free(u);
    prg_free(&g);
}

static mpc_err_t role_rmsnorm(mpc_ctx_t *ctx, op_case_t *c)
{
    matmul_weight_t w;
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_weight_gen(ctx, &w, 1, 1, c->n);
        if (!e) e = rmsnorm_gen(ctx, &w, 1, SITE);
    } else {
        e = matmul_weight_eval(ctx, &w, ctx->party == MPC_P0 ? c->W : NULL, 1, 1, c->n);
        c->setup_done[ctx->party] = stats_now();
        if (!e) e = rmsnorm_eval(ctx, c->out[ctx->party], c->x[ctx->party], &w, 1, SITE);
    }
    matmul_weight_free(&w);
    return e;
}

static double key_rmsnorm(size_t n)
{
    const int f = FXP_FRAC_BITS_DEFAULT;
    const double qmin = (double)n * ldexp(round(ldexp(RMSNORM_EPS, 2 * f)), -2 * f);
    const int e_lo = (int)floor(log2(qmin));
    const int e_hi = (int)floor(log2((double)n)) + 2 * RMSNORM_INT_BITS;
    return key_inv(e_hi - e_lo + 1, e_hi + 2 * f + 2) / (double)n;
}

const op_def_t bench_ops_math[] = {
    {"exp", prep_exp, role_exp, 10000000, key_exp},
    {"exp-poly", prep_exp, role_exp_poly, 10000000, NULL},
    {"recip", prep_recip, role_recip, 1000000, key_recip},
    {"rsqrt", prep_rsqrt, role_rsqrt, 1000000, key_rsqrt},
    {"silu", prep_silu, role_silu, 10000000, key_silu},
    {"softmax", prep_softmax, role_softmax, SOFTMAX_MAX_N, key_softmax},
    {"rmsnorm", prep_rmsnorm, role_rmsnorm, 8192, key_rmsnorm},
    {NULL, NULL, NULL, 0, NULL},
};
