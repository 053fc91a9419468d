/* llm/xfwd_ops.c - the engine's linear steps, dispatched by role: the
 * dealer generates, the parties evaluate, the plain engine runs the twin.
 * Sizes never depend on data, so the three walk the same sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/xfwd_impl.h"
#include "protocols/argmax.h"
#include "protocols/bmat.h"
#include "protocols/eq.h"
#include "protocols/matmul.h"
#include "protocols/mul.h"
#include "protocols/select.h"
#include "protocols/topk.h"
#include "protocols/trunc.h"

mpc_err_t x_matmul(xfwd_t *x, uint64_t *const *y, const uint64_t *in,
                          matmul_weight_t *const *ws, int nw, size_t m, int f, uint64_t site)
{
    if (x->role == MPC_DEALER) return matmul_gen(x->ctx, ws, nw, m, f, site);
    if (x->role != XFWD_PLAIN) return matmul_eval(x->ctx, y, in, ws, nw, m, f, site);
    matmul_plain(y, in, ws, nw, m, f, x->round_seed, site);
    return MPC_OK;
}

mpc_err_t x_trunc(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t n, int f,
                         uint64_t site)
{
    if (x->role == MPC_DEALER) return trunc_gen(x->ctx, n, f, site);
    if (x->role != XFWD_PLAIN) return trunc_eval(x->ctx, out, in, n, f, site);
    trunc_plain(out, in, n, f, x->round_seed, site);
    return MPC_OK;
}

mpc_err_t x_mul(xfwd_t *x, uint64_t *z, const uint64_t *a, const uint64_t *b, size_t n)
{
    if (x->role == MPC_DEALER) return mul_gen(x->ctx, n);
    if (x->role != XFWD_PLAIN) return mul_eval(x->ctx, z, a, b, n);
    for (size_t i = 0; i < n; i++) z[i] = a[i] * b[i];
    return MPC_OK;
}

mpc_err_t x_append(xfwd_t *x, matmul_fixed_t *const *ys, const uint64_t *const *fresh,
                          const size_t *rows, int count)
{
    if (x->role == MPC_DEALER) return matmul_fixed_append_gen(x->ctx, ys, rows, count);
    if (x->role != XFWD_PLAIN) return matmul_fixed_append_eval(x->ctx, ys, fresh, rows, count);
    for (int j = 0; j < count; j++) { /* plain: the values themselves, in f */
        memcpy(ys[j]->f + ys[j]->rows * ys[j]->cols, fresh[j], rows[j] * ys[j]->cols * 8);
        ys[j]->rows += rows[j];
    }
    return MPC_OK;
}

mpc_err_t x_fixed_mul(xfwd_t *x, const matmul_fixed_job_t *jobs, int count)
{
    if (x->role == MPC_DEALER) return matmul_fixed_mul_many_gen(x->ctx, jobs, count);
    if (x->role != XFWD_PLAIN) return matmul_fixed_mul_many_eval(x->ctx, jobs, count);
    matmul_fixed_mul_plain(jobs, count);
    return MPC_OK;
}

/* A view of rows [start, start + rows) of a fixed operand: the same masks
 * and openings, so products over it cost only the view's rows. */
matmul_fixed_t xfwd_fixed_view(const matmul_fixed_t *y, size_t start, size_t rows)
{
    matmul_fixed_t v = *y;
    v.rows = rows;
    if (v.f) v.f += start * y->cols;
    if (v.b) v.b += start * y->cols;
    return v;
}

mpc_err_t xfwd_fail(xfwd_t *x, mpc_err_t e, const char *what)
{
    if (x->ctx) return mpc_fail(x->ctx, e, "%s", what);
    snprintf(x->err, sizeof x->err, "%s", what);
    return e;
}

mpc_err_t x_bmat(xfwd_t *x, uint64_t *Z, const uint64_t *X, const uint64_t *Y, size_t batch,
                 size_t m, size_t k, size_t n)
{
    if (x->role == MPC_DEALER) return bmat_mul_gen(x->ctx, batch, m, k, n, 64);
    if (x->role != XFWD_PLAIN) return bmat_mul_eval(x->ctx, Z, X, Y, batch, m, k, n, 64);
    bmat_mul_plain(Z, X, Y, batch, m, k, n, 64);
    return MPC_OK;
}

mpc_err_t x_topk(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n, size_t k,
                 int nbits)
{
    topk_net_t net = topk_net_lan();
    if (x->opts.plan_wan) net = (topk_net_t){100e6 / 8, 40e-3, 0};
    topk_algo_t algo = topk_plan(rows, n, k, nbits, &net);
    if (x->role == MPC_DEALER) return topk_gen(x->ctx, rows, n, k, nbits, algo);
    if (x->role != XFWD_PLAIN) return topk_eval(x->ctx, out, in, rows, n, k, nbits, algo);
    topk_plain(out, in, rows, n, k, nbits, algo);
    return MPC_OK;
}

mpc_err_t x_onehot(xfwd_t *x, uint64_t *out, const uint64_t *idx, size_t count, size_t n,
                   size_t width)
{
    if (x->role == MPC_DEALER) return eq_onehot_gen(x->ctx, count, n, width);
    if (x->role != XFWD_PLAIN) return eq_onehot_eval(x->ctx, out, idx, count, n, width);
    eq_onehot_plain(out, idx, count, n, width);
    return MPC_OK;
}

mpc_err_t x_max(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n, int nbits)
{
    if (x->role == MPC_DEALER) return sel_max_gen(x->ctx, rows, n, nbits);
    if (x->role != XFWD_PLAIN) return sel_max_eval(x->ctx, out, in, rows, n, nbits);
    sel_max_plain(out, in, rows, n, nbits);
    return MPC_OK;
}

uint64_t x_public(const xfwd_t *x, uint64_t c)
{
    return x->role == MPC_P0 || x->role == XFWD_PLAIN ? c : 0;
}

uint64_t x_fixed_share(const xfwd_t *x, const matmul_fixed_t *y, size_t i)
{
    if (x->role == XFWD_PLAIN) return y->f[i];
    return y->b[i] + (x->role == MPC_P0 ? y->f[i] : 0);
}

mpc_err_t x_fixed_reserve(xfwd_t *x, matmul_fixed_t *y, size_t cap, size_t cols)
{
    if (x->role != XFWD_PLAIN) return matmul_fixed_reserve(x->ctx, y, cap, cols);
    memset(y, 0, sizeof *y);
    y->cols = cols;
    y->cap = cap;
    y->f = calloc(cap * cols + 1, 8);
    return y->f ? MPC_OK : MPC_ENOMEM;
}

mpc_err_t x_argmax(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n, int nbits)
{
    if (x->role == MPC_DEALER) return argmax_gen(x->ctx, rows, n, nbits);
    if (x->role != XFWD_PLAIN) return argmax_eval(x->ctx, out, in, rows, n, nbits);
    argmax_plain(out, in, rows, n, nbits);
    return MPC_OK;
}
