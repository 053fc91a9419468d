/* bench/bench_op_cmp.c - the comparison and selection ops of mpcllm-bench op:
 * lt, relu, eq (n elements, full 64-bit width, as the MP-SPDZ figures they
 * are compared with), max and argmax (one row of n), topk (k = n/8 of n,
 * the algorithm topk_plan picks on the LAN defaults) and gather (k = n/8
 * rows of a fixed n x 64 operand whose mask was opened at setup).
 *
 * Inputs are reals in [−1000, 1000) at scale f, so any two differ by less
 * than 2^(10+1+f) <= 2^31: the row ops state nbits = 32. Exact ops decode
 * their outputs at scale 0 (bits, one-hots) or f (values), and report
 * max_abs_err 0 when they equal the plaintext twin. key_bytes counts both
 * parties' FSS keys per element. */
#include <stdlib.h>
#include <string.h>

#include "bench/bench_op_impl.h"
#include "mpc/fxp.h"
#include "protocols/argmax.h"
#include "protocols/cmp.h"
#include "protocols/eq.h"
#include "protocols/fss.h"
#include "protocols/gather.h"
#include "protocols/matmul.h"
#include "protocols/select.h"
#include "protocols/topk.h"

#define ROW_BITS 32  /* max, argmax, topk: |a − b| < 2^31 */
#define GATHER_D 64  /* the fixed operand's row width */

static size_t topk_k(size_t n)
{
    return n / 8 ? n / 8 : 1;
}

/* x (and y when two) uniform in [−1000, 1000) at scale f, shared. */
static uint64_t *make_inputs(op_case_t *c, size_t n, uint64_t **y, prg_t *g)
{
    double *d = malloc(n * sizeof *d);
    uint64_t *x = malloc(n * 8);
    bench_random_reals(d, n, -1000, 1000, g);
    fxp_encode_array(x, d, (int)n, c->f);
    bench_share(c->x, x, n, g);
    if (y) {
        *y = malloc(n * 8);
        bench_random_reals(d, n, -1000, 1000, g);
        fxp_encode_array(*y, d, (int)n, c->f);
        for (size_t i = 0; i < n; i += 2) (*y)[i] = x[i]; /* ties for lt, equal pairs for eq */
        bench_share(c->y, *y, n, g);
    }
    free(d);
    return x;
}

static void prep_lt(op_case_t *c)
{
    prg_t *g = bench_prg();
    uint64_t *y, *x = make_inputs(c, c->n, &y, g), *b = malloc(c->n * 8);
    bench_alloc_out(c, c->n, 0);
    cmp_lt_plain(b, x, y, c->n, 64);
    for (size_t i = 0; i < c->n; i++) c->ref[i] = (double)b[i];
    free(x);
    free(y);
    free(b);
    prg_free(&g);
}

static mpc_err_t role_lt(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return cmp_lt_gen(ctx, c->n, 64);
    int p = ctx->party;
    return cmp_lt_eval(ctx, c->out[p], c->x[p], c->y[p], c->n, 64);
}

static double keys_cmp64(size_t n)
{
    (void)n;
    return 2.0 * (double)fss_dcf_key_bytes(63, FSS_Z64);
}

static void prep_relu(op_case_t *c)
{
    prg_t *g = bench_prg();
    uint64_t *x = make_inputs(c, c->n, NULL, g), *r = malloc(c->n * 8);
    bench_alloc_out(c, c->n, c->f);
    sel_relu_plain(r, x, c->n, 64);
    for (size_t i = 0; i < c->n; i++) c->ref[i] = fxp_decode(r[i], c->f);
    free(x);
    free(r);
    prg_free(&g);
}

static mpc_err_t role_relu(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return sel_relu_gen(ctx, c->n, 64);
    int p = ctx->party;
    return sel_relu_eval(ctx, c->out[p], c->x[p], c->n, 64);
}

static void prep_max(op_case_t *c)
{
    prg_t *g = bench_prg();
    uint64_t *x = make_inputs(c, c->n, NULL, g), m;
    bench_alloc_out(c, 1, c->f);
    sel_max_plain(&m, x, 1, c->n, ROW_BITS);
    c->ref[0] = fxp_decode(m, c->f);
    free(x);
    prg_free(&g);
}

static mpc_err_t role_max(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return sel_max_gen(ctx, 1, c->n, ROW_BITS);
    int p = ctx->party;
    return sel_max_eval(ctx, c->out[p], c->x[p], 1, c->n, ROW_BITS);
}

static double keys_row(size_t n)
{
    return 2.0 * (double)(n - 1) * (double)fss_dcf_key_bytes(ROW_BITS - 1, FSS_Z64) / (double)n;
}

static void prep_argmax(op_case_t *c)
{
    prg_t *g = bench_prg();
    uint64_t *x = make_inputs(c, c->n, NULL, g), *oh = malloc(c->n * 8);
    bench_alloc_out(c, c->n, 0);
    argmax_plain(oh, x, 1, c->n, ROW_BITS);
    for (size_t i = 0; i < c->n; i++) c->ref[i] = (double)oh[i];
    free(x);
    free(oh);
    prg_free(&g);
}

static mpc_err_t role_argmax(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return argmax_gen(ctx, 1, c->n, ROW_BITS);
    int p = ctx->party;
    return argmax_eval(ctx, c->out[p], c->x[p], 1, c->n, ROW_BITS);
}

static double keys_argmax(size_t n)
{
    double dpf = n > 1 ? 4.0 * (double)eq_onehot_key_bytes(n) : 0;
    return keys_row(n) + 2.0 * dpf / (double)n;
}

static void prep_eq(op_case_t *c)
{
    prg_t *g = bench_prg();
    uint64_t *y, *x = make_inputs(c, c->n, &y, g), *b = malloc(c->n * 8);
    bench_alloc_out(c, c->n, 0);
    eq_plain(b, x, y, c->n, 64);
    for (size_t i = 0; i < c->n; i++) c->ref[i] = (double)b[i];
    free(x);
    free(y);
    free(b);
    prg_free(&g);
}

static mpc_err_t role_eq(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return eq_gen(ctx, c->n, 64);
    int p = ctx->party;
    return eq_eval(ctx, c->out[p], c->x[p], c->y[p], c->n, 64);
}

static double keys_eq(size_t n)
{
    (void)n;
    return 2.0 * (double)eq_key_bytes(64);
}

static void prep_topk(op_case_t *c)
{
    prg_t *g = bench_prg();
    size_t k = topk_k(c->n);
    uint64_t *x = make_inputs(c, c->n, NULL, g), *s = malloc(k * c->n * 8);
    bench_alloc_out(c, k * c->n, 0);
    topk_plain(s, x, 1, c->n, k, ROW_BITS, TOPK_AUTO);
    for (size_t i = 0; i < k * c->n; i++) c->ref[i] = (double)s[i];
    free(x);
    free(s);
    prg_free(&g);
}

static mpc_err_t role_topk(mpc_ctx_t *ctx, op_case_t *c)
{
    size_t k = topk_k(c->n);
    if (ctx->party == MPC_DEALER) return topk_gen(ctx, 1, c->n, k, ROW_BITS, TOPK_AUTO);
    int p = ctx->party;
    return topk_eval(ctx, c->out[p], c->x[p], 1, c->n, k, ROW_BITS, TOPK_AUTO);
}

static double keys_topk(size_t n)
{
    size_t k = topk_k(n);
    topk_net_t lan = topk_net_lan();
    topk_algo_t a = topk_plan(1, n, k, ROW_BITS, &lan);
    topk_cost_t cost = topk_cost(1, n, k, ROW_BITS, a, &lan);
    int w = a == TOPK_SORT ? ROW_BITS + eq_index_bits(n) : ROW_BITS;
    double per = (double)cost.comparisons * (double)fss_dcf_key_bytes(w - 1, FSS_Z64) +
                 (double)(a == TOPK_SORT ? k : n) * (double)eq_onehot_key_bytes(n);
    return 2.0 * per / (double)n;
}

/* gather: c->x holds the selection's shares (k x n), c->y the operand's
 * (n x 64). */
static void prep_gather(op_case_t *c)
{
    prg_t *g = bench_prg();
    size_t k = topk_k(c->n), n = c->n, d = GATHER_D;
    double *v = malloc(n * d * sizeof *v);
    uint64_t *y = malloc(n * d * 8), *s = calloc(k * n, 8), *o = malloc(k * d * 8);
    bench_random_reals(v, n * d, -8, 8, g);
    fxp_encode_array(y, v, (int)(n * d), c->f);
    for (size_t j = 0; j < k; j++) {
        uint64_t r;
        prg_u64(g, &r, 1);
        s[j * n + (j * 8 + r % 8) % n] = 1; /* one row out of each block of 8 */
    }
    bench_share(c->x, s, k * n, g);
    bench_share(c->y, y, n * d, g);
    bench_alloc_out(c, k * d, c->f);
    gather_plain(o, s, y, k, n, d);
    for (size_t i = 0; i < k * d; i++) c->ref[i] = fxp_decode(o[i], c->f);
    free(v);
    free(y);
    free(s);
    free(o);
    prg_free(&g);
}

static mpc_err_t role_gather(mpc_ctx_t *ctx, op_case_t *c)
{
    size_t k = topk_k(c->n);
    matmul_fixed_t y;
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_fixed_gen(ctx, &y, c->n, GATHER_D);
        if (!e) e = gather_fixed_gen(ctx, &y, k);
    } else {
        int p = ctx->party;
        mpc_phase_t phase = ctx->stats.phase;
        stats_phase(&ctx->stats, PHASE_SETUP); /* the operand's mask, opened once */
        e = matmul_fixed_eval(ctx, &y, c->y[p], c->n, GATHER_D);
        stats_phase(&ctx->stats, phase);
        c->setup_done[p] = stats_now();
        if (!e) e = gather_fixed_eval(ctx, c->out[p], c->x[p], &y, k);
    }
    matmul_fixed_free(&y);
    return e;
}

const op_def_t bench_ops_cmp[] = {
    {"lt", prep_lt, role_lt, 20000000, keys_cmp64},
    {"relu", prep_relu, role_relu, 20000000, keys_cmp64},
    {"max", prep_max, role_max, 4000000, keys_row},
    {"argmax", prep_argmax, role_argmax, 4000000, keys_argmax},
    {"eq", prep_eq, role_eq, 20000000, keys_eq},
    {"topk", prep_topk, role_topk, 8192, keys_topk},
    {"gather", prep_gather, role_gather, 65536, NULL},
    {NULL, NULL, NULL, 0, NULL},
};
