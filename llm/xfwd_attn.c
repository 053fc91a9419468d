/* llm/xfwd_attn.c - one layer's attention under the cache policy.
 *
 * The new K/V rows are appended to the cache (their masks opened once),
 * then the policy decides what the queries attend:
 *   full       every cached position;
 *   streaming  at a decode step, the sinks and the most recent window: a
 *              public choice, attended through views of the cache;
 *   mpcache    the prefill attends everything and then evicts (look-once,
 *              llm/xfwd_mpcache.c); a decode step attends the secret
 *              clustered selection;
 *   the others (plain engine only) the prompt attends everything and the
 *              policy library decides each decode step (llm/xfwd_kvplain.c).
 * Sizes depend only on public quantities (positions, the budget), so all
 * three roles walk the same sequence of protocol calls.
 */
#include <string.h>

#include "llm/xfwd_impl.h"
#include "mpc/fxp.h"
#include "protocols/trunc.h"

#define ALLOC(p, n) XFWD_ALLOC(p, n, "the attention")

/* Appends the new rows to layer l's cache: their masks are opened once. */
static mpc_err_t append_rows(xfwd_t *x, int l, const uint64_t *kn, const uint64_t *vn, size_t N)
{
    size_t G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs;
    matmul_fixed_t *ops[2 * 64];
    const uint64_t *fresh[2 * 64];
    size_t rows[2 * 64];
    MPC_ASSERT(G <= 64);
    for (size_t g = 0; g < G; g++) {
        ops[g] = &x->kc[(size_t)l * G + g];
        ops[G + g] = &x->vc[(size_t)l * G + g];
        fresh[g] = kn + g * N * hs;
        fresh[G + g] = vn + g * N * hs;
        rows[g] = rows[G + g] = N;
    }
    return x_append(x, ops, fresh, rows, (int)(2 * G));
}

mpc_err_t xfwd_attend(xfwd_t *x, int l, const uint64_t *qh, uint64_t *kn, const uint64_t *vn,
                      size_t N, int pos0, uint64_t *pv)
{
    size_t hs = (size_t)x->hs, H = (size_t)x->cfg.n_heads, G = (size_t)x->cfg.n_kv_heads;
    int f = x->f;
    uint64_t step = (uint64_t)pos0;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    uint64_t *sc = NULL, *p = NULL;
    /* every policy but full and streaming would have to carry the pads'
     * score bias through its own decisions */
    if (x->opts.pad && x->policy != KV_FULL && x->policy != KV_STREAMING)
        return xfwd_fail(x, MPC_EARG, "--pad-to works with the full cache and streaming only, so far");
    /* padded prompt: zero the pad positions' keys (P1's 0/1 mask, one
     * product), so that with P1's score bias they weigh nothing */
    if (x->opts.pad && pos0 == 0) {
        uint64_t *msk = NULL;
        ALLOC(msk, G * N * hs);
        if (x->role == MPC_P1 || x->role == XFWD_PLAIN)
            for (size_t g = 0; g < G; g++)
                for (size_t i = 0; i < N; i++)
                    for (size_t j = 0; j < hs; j++)
                        msk[(g * N + i) * hs + j] = i >= (size_t)x->opts.pad_len;
        e = x_mul(x, kn, kn, msk, G * N * hs);
        if (e) goto out;
    }
    e = append_rows(x, l, kn, vn, N);
    if (e) goto out;
    if (x->kvp && pos0 >= x->kv.prompt_len) { /* plaintext policies (xfwd_kvplain.c) */
        MPC_ASSERT(N == 1);
        e = xkv_decode(x, l, qh, kn, vn, pos0, pv);
        goto out;
    }
    /* the cache's rows: every position, or MPCache's kept ones */
    size_t T = x->kc[(size_t)l * G].rows;
    if (x->policy == KV_MPCACHE && x->mp_ended[l]) {
        MPC_ASSERT(N == 1);
        e = xmp_summarise(x, l, step);
        if (!e) e = xmp_decode(x, l, qh, pos0, pv);
        goto out;
    }
    ALLOC(sc, H * N * (T > hs ? T : hs)); /* scores, then the window's p V */
    ALLOC(p, H * N * T);
    /* Which positions: all of them, or (streaming, at a decode step) the
     * sinks [0, sink) and the window [T - win, T), public either way. */
    size_t cnt = T, sink = T, win = 0;
    if (x->policy == KV_STREAMING && N == 1) {
        cnt = (size_t)kv_budget_tokens(&x->kv, pos0);
        if (cnt > T) cnt = T;
        sink = cnt < (size_t)x->kv.sinks ? cnt : (size_t)x->kv.sinks;
        win = cnt - sink;
    }
    matmul_fixed_t kview[2 * 64], vview[2 * 64];
    for (size_t g = 0; g < G; g++) {
        kview[2 * g] = xfwd_fixed_view(&x->kc[(size_t)l * G + g], 0, sink);
        kview[2 * g + 1] = xfwd_fixed_view(&x->kc[(size_t)l * G + g], T - win, win);
        vview[2 * g] = xfwd_fixed_view(&x->vc[(size_t)l * G + g], 0, sink);
        vview[2 * g + 1] = xfwd_fixed_view(&x->vc[(size_t)l * G + g], T - win, win);
    }
    int parts = win ? 2 : 1;
    /* scores (H, N, cnt) at scale 2f (1/sqrt(hs) is in Wq) */
    matmul_fixed_job_t jobs[2 * 256];
    MPC_ASSERT(H <= 256);
    int nj = 0;
    for (size_t h = 0; h < H; h++) {
        size_t g = h / (size_t)x->kv_mul;
        jobs[nj++] = (matmul_fixed_job_t){sc + h * N * cnt, qh + h * N * hs, &kview[2 * g], N, 1};
        if (win)
            jobs[nj++] = (matmul_fixed_job_t){sc + h * N * cnt + sink, qh + h * N * hs,
                                              &kview[2 * g + 1], N, 1};
    }
    e = x_fixed_mul(x, jobs, nj);
    if (e) goto out;
    if (x->opts.pad && (x->role == MPC_P1 || x->role == XFWD_PLAIN)) {
        /* P1's share (or the plain value) of every score against a pad */
        uint64_t bias = fxp_encode(-400.0, 2 * f);
        for (size_t r = 0; r < H * N; r++)
            for (size_t j = 0; j < cnt; j++) {
                size_t key = j < sink ? j : T - win + (j - sink);
                if (key < (size_t)x->opts.pad_len) sc[r * cnt + j] += bias;
            }
    }
    /* causal softmax: row (h, i) sees keys 0 .. pos0 + i (a decode row
     * sees all cnt of its positions) */
    e = nl_softmax(x, p, sc, H * N, N, cnt, (int)cnt - (int)N, TRUNC_SITE(l, OP_SOFTMAX, step));
    if (!e && x->policy == KV_H2O) e = xh2o_observe(x, l, p, N, cnt);
    if (e) goto out;
    /* p V per head, (H, N, hs) at 2f + 8 (the window's part added), to f */
    nj = 0;
    for (size_t h = 0; h < H; h++) {
        size_t g = h / (size_t)x->kv_mul;
        jobs[nj++] = (matmul_fixed_job_t){pv + h * N * hs, p + h * N * cnt, &vview[2 * g], N, 0};
        if (win)
            jobs[nj++] = (matmul_fixed_job_t){sc + h * N * hs, p + h * N * cnt + sink,
                                              &vview[2 * g + 1], N, 0};
    }
    e = x_fixed_mul(x, jobs, nj);
    if (!e && parts == 2)
        for (size_t i = 0; i < H * N * hs; i++) pv[i] += sc[i];
    if (!e) e = x_trunc(x, pv, pv, H * N * hs, f + XFWD_P_EXTRA, TRUNC_SITE(l, OP_PV, step));
    if (e) goto out;
    x->attended[l] = (int)(G * cnt);
    if (x->policy == KV_MPCACHE && pos0 == 0) {
        /* the end of the prefill: look-once eviction (the prompt is one batch) */
        MPC_ASSERT(N == (size_t)x->kv.prompt_len);
        e = xmp_prefill_end(x, l, p, N);
        if (!e) e = xmp_summarise(x, l, step);
    }
    if (x->policy == KV_H2O) {
        /* down to the next step's budget minus one: its append fills it */
        MPC_ASSERT(pos0 > 0 || N == (size_t)x->kv.prompt_len);
        MPC_ASSERT(pos0 == 0 || cnt == (size_t)kv_budget_tokens(&x->kv, pos0));
        e = xh2o_evict(x, l, kv_budget_tokens(&x->kv, pos0 + (int)N) - 1);
    }
    if (x->kvp) e = xkv_prompt(x, l, qh, kn, vn, p, N, pos0); /* the policy sees the prompt */
out:
    arena_reset(x->ar, mk);
    return e;
}
