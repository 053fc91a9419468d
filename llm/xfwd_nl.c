/* llm/xfwd_nl.c - the engine's nonlinear steps, dispatched by role to the
 * protocols (parties), their generation (dealer) or their twins (plain).
 *
 * Public bounds (architecture-only, DESIGN.md §3, each asserted by the twin
 * the plain engine runs):
 *   - RMSNorm inputs |x| < 2^7 (protocols/rmsnorm.h);
 *   - attention scores |s| < 2^9 at scale 2f, the softmax's input range
 *     (protocols/softmax.h; stories260K's reach 276 on TinyStories windows);
 *     probabilities come out at f + XFWD_P_EXTRA so
 *     that long rows keep their L1 error under 1e-2, and p V truncates the
 *     extra bits;
 *   - SiLU on |x| < 2^10 (protocols/fn.h);
 *   - the greedy argmax compares logits with |a - b| < 2^21 at scale f. */
#include "llm/xfwd_impl.h"

#include <string.h>

#include "protocols/argmax.h"
#include "protocols/fn.h"
#include "protocols/rmsnorm.h"
#include "protocols/softmax.h"

mpc_err_t nl_rmsnorm(xfwd_t *x, uint64_t *out, const uint64_t *in, const matmul_weight_t *w,
                     size_t rows, uint64_t site)
{
    if (x->role == MPC_DEALER) return rmsnorm_gen(x->ctx, w, rows, site);
    if (x->role != XFWD_PLAIN) return rmsnorm_eval(x->ctx, out, in, w, rows, site);
    rmsnorm_plain(out, in, w->w, rows, w->cols, x->f, x->round_seed, site);
    return MPC_OK;
}

mpc_err_t nl_softmax(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n,
                     size_t T, int pos0, uint64_t site)
{
    /* Causal mask, public: row (h, i) sees keys 0 .. pos0 + i. A row of a
     * decode step (n = 1, pos0 + 1 = T) sees everything: no mask. */
    uint8_t *valid = NULL;
    arena_mark_t mk = arena_mark(x->ar);
    if (!(n == 1 && (size_t)pos0 + 1 == T)) {
        valid = arena_alloc(x->ar, rows * T + 1);
        if (!valid) return MPC_ENOMEM;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < T; j++) valid[r * T + j] = j <= (size_t)pos0 + r % n;
    }
    int f = x->f, out_scale = f + XFWD_P_EXTRA;
    mpc_err_t e = MPC_OK;
    if (x->role == MPC_DEALER)
        e = softmax_gen(x->ctx, rows, T, valid, 2 * f, out_scale, site);
    else if (x->role != XFWD_PLAIN)
        e = softmax_eval(x->ctx, out, in, rows, T, valid, 2 * f, out_scale, site);
    else
        softmax_plain(out, in, rows, T, valid, 2 * f, out_scale, x->round_seed, site);
    arena_reset(x->ar, mk);
    return e;
}

mpc_err_t nl_silu(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t n, uint64_t site)
{
    if (x->role == MPC_DEALER) return fn_silu_gen(x->ctx, n, x->f, x->f, site);
    if (x->role != XFWD_PLAIN) return fn_silu_eval(x->ctx, out, in, n, x->f, x->f, site);
    fn_silu_plain(out, in, n, x->f, x->f, x->round_seed, site);
    return MPC_OK;
}

mpc_err_t nl_argmax(xfwd_t *x, int *next, const uint64_t *logits, size_t n)
{
    int nb = x->f + 22;
    uint64_t idx = 0;
    mpc_err_t e = MPC_OK;
    if (x->role == MPC_DEALER) return argmax_reveal_gen(x->ctx, 1, n, nb);
    if (x->role == XFWD_PLAIN) argmax_index_plain(&idx, logits, 1, n, nb);
    else e = argmax_reveal_eval(x->ctx, &idx, logits, 1, n, nb);
    if (!e && next) *next = (int)idx;
    return e;
}
