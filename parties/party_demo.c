/* parties/party_demo.c - the private matrix-vector product that the
 * processes run until the transformer exists: the client's secret x (1 x d)
 * times the server's secret W (d x d); only the client learns y = x W^T.
 * A client could recover W from d such queries: this demonstrates the
 * machinery, it is not a service to expose. */
#include "parties/party.h"

#include <math.h>
#include <stdlib.h>

#include "mpc/fxp.h"
#include "protocols/matmul.h"
#include "protocols/trunc.h"

#define DEMO_REVEAL_TAG CHAN_TAG('y', 'o', 'u', 't')

static void demo_uniform(uint64_t *v, size_t n, double lo, double hi, int f, uint64_t seed,
                         uint64_t stream)
{
    uint8_t key[PRG_SEED_BYTES] = {0};
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(seed >> (8 * i));
    prg_t *p = prg_new(key, stream);
    MPC_ASSERT(p);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        prg_u64(p, &u, 1);
        v[i] = fxp_encode(lo + (hi - lo) * ((double)(u >> 11) / 9007199254740992.0), f);
    }
    prg_free(&p);
}

void demo_matrix(uint64_t *W, uint32_t d, int f, uint64_t seed)
{
    double s = 1.0 / sqrt((double)d);
    demo_uniform(W, (size_t)d * d, -s, s, f, seed, 1);
}

void demo_vector(uint64_t *x, uint32_t d, int f, uint64_t seed)
{
    demo_uniform(x, d, -4, 4, f, seed, 2);
}

mpc_err_t demo_matvec(mpc_ctx_t *ctx, const party_prog_t *prog, const uint64_t *W,
                      const uint64_t *x, uint64_t *y)
{
    size_t d = prog->d;
    int f = (int)prog->frac_bits;
    /* Site bound: |x| < 4 and |W| < 1/sqrt(d), so |x W^T| < 4 sqrt(d) < 2^62
     * at scale 2f for every d the program accepts. */
    const uint64_t site = TRUNC_SITE(0, 1, 0);
    matmul_weight_t w;
    matmul_weight_t *ws[1] = {&w};
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_weight_gen(ctx, &w, 1, d, d);
        if (!e) e = matmul_gen(ctx, ws, 1, 1, f, site);
        matmul_weight_free(&w);
        return e;
    }
    /* P1 holds x whole: its share is x and P0's is zero. */
    uint64_t *share = calloc(d, sizeof *share), *out = calloc(d, sizeof *out);
    if (!share || !out) {
        free(share);
        free(out);
        return mpc_fail(ctx, MPC_ENOMEM, "out of memory");
    }
    if (ctx->party == MPC_P1)
        for (size_t i = 0; i < d; i++) share[i] = x[i];
    e = matmul_weight_eval(ctx, &w, W, 1, d, d);
    if (!e) {
        stats_phase(&ctx->stats, PHASE_DECODE);
        e = matmul_eval(ctx, &out, share, ws, 1, 1, f, site);
    }
    if (!e) {
        stats_push(&ctx->stats, "reveal");
        e = mpc_open_to(ctx, MPC_P1, DEMO_REVEAL_TAG, y, out, d);
        stats_pop(&ctx->stats);
    }
    stats_phase(&ctx->stats, PHASE_OTHER);
    matmul_weight_free(&w);
    free(share);
    free(out);
    return e;
}
