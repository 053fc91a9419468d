/* llm/xfwd_kvplain.c - the plaintext KV policies inside the fixed-point
 * plain engine: SnapKV, TOVA, CAKE, D2O and Quest (DESIGN.md §7; H2O runs
 * as the secure engine does, llm/xfwd_h2o.c).
 *
 * These policies exist in plaintext only (mpcache/kv.h), so the secure
 * roles refuse them (xfwd_set_policy). Here the policy library decides and
 * the fixed-point engine computes. A kv_t is fed this engine's own q, k and
 * v (after RoPE, at scale f, decoded to float); kv_select chooses the slots;
 * the attention runs over exactly those slots in fixed point, with the twins
 * and truncation sites of the full cache's path (scores at 2f by the
 * fixed-operand product, the softmax over the selection count at
 * OP_SOFTMAX, p V truncated at OP_PV); and kv_observe is told the engine's
 * own probabilities, decoded. So the accuracy harness measures each
 * policy's decisions under the secure engine's arithmetic, and a step that
 * selects every slot equals the full cache's step bit for bit.
 *
 * The queries handed to the policy are unscaled (the engine folds
 * 1/sqrt(head_size) into Wq; the policy applies it itself), as the float
 * engine hands them.
 *
 * Rows. A selected slot's K and V are the engine's own fixed-point rows at
 * the slot's original position (kv_slot_pos; the engine's cache is never
 * compacted), not the policy's float copies, except where D2O merged
 * evicted tokens into a slot: that row exists only in the policy's cache,
 * and is re-quantised from kv_key/kv_value. A slot counts as merged when its
 * float row differs from the decoded own row, which it equals bit for bit
 * until a merge (the policy stores what it was given).
 *
 * The prompt. The engine runs a prompt batch (the whole prompt, N = P)
 * with full causal attention, as every policy attends everything during the
 * prompt, and the policy takes one token at a time. So after the batch's
 * attention its rows are replayed position by position: kv_append,
 * kv_select (every slot so far), kv_observe with row i's probabilities over
 * keys 0 .. i. These are the calls, inputs and order of a token-at-a-time
 * engine (llm/fwd.c): a prompt row's probabilities do not depend on later
 * rows, so the decisions are the ones that engine would make on these
 * values (only D2O reads them, as column sums). After the last
 * prompt position, kv_prefill_end makes the look-once decisions. A prompt
 * fed token by token, or in several batches, goes the same way; a batch
 * must not run past the prompt's end.
 */
#include <math.h>
#include <string.h>

#include "llm/xfwd_impl.h"
#include "mpc/fxp.h"
#include "protocols/trunc.h"

#define ALLOC(p, n) XFWD_ALLOC(p, n, "the plaintext policy")

mpc_err_t xkv_init(xfwd_t *x)
{
    MPC_ASSERT(x->role == XFWD_PLAIN && !x->kvp);
    mpc_err_t e = MPC_OK;
    char msg[CHAN_ERR_BYTES] = "";
    x->kvp = kv_new(&x->kv, &e, msg, sizeof msg);
    if (!x->kvp)
        return xfwd_fail(x, e == MPC_EARG ? MPC_EARG : MPC_ENOMEM,
                         e == MPC_EARG ? msg : "out of memory for the policy's cache");
    return MPC_OK;
}

void xkv_free(xfwd_t *x)
{
    kv_free(&x->kvp);
}

/* Row i of each of the heads blocks of (heads, N, hs) at scale f, times
 * mult, as floats (heads, hs): the layout kv_append takes. */
static void decode_row(float *out, const uint64_t *in, size_t heads, size_t N, size_t i, size_t hs,
                       int f, double mult)
{
    for (size_t h = 0; h < heads; h++)
        for (size_t t = 0; t < hs; t++)
            out[h * hs + t] = (float)(fxp_decode(in[(h * N + i) * hs + t], f) * mult);
}

/* The policy's queries: the engine folds 1/sqrt(hs) into Wq, and the policy
 * divides by sqrt(hs) itself (SnapKV's, CAKE's window attention), so q is
 * handed over unscaled, as the float engine hands it. */
static double q_mult(const xfwd_t *x)
{
    return sqrt((double)x->hs);
}

mpc_err_t xkv_prompt(xfwd_t *x, int l, const uint64_t *qh, const uint64_t *kn, const uint64_t *vn,
                     const uint64_t *p, size_t N, int pos0)
{
    size_t H = (size_t)x->cfg.n_heads, G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs;
    size_t S = (size_t)x->cfg.seq_len, T = (size_t)pos0 + N;
    int f = x->f, P = x->kv.prompt_len;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    float *q, *k, *v, *pr;
    MPC_ASSERT(T <= (size_t)P); /* a batch never runs past the prompt */
    ALLOC(q, H * hs);
    ALLOC(k, G * hs);
    ALLOC(v, G * hs);
    ALLOC(pr, H * S);
    for (size_t i = 0; i < N; i++) {
        int pos = pos0 + (int)i;
        decode_row(q, qh, H, N, i, hs, f, q_mult(x));
        decode_row(k, kn, G, N, i, hs, f, 1);
        decode_row(v, vn, G, N, i, hs, f, 1);
        kv_append(x->kvp, l, pos, q, k, v);
        const kv_sel_t *sel = kv_select(x->kvp, l, q);
        /* the prompt attends everything, in position order: slot j is key j */
        for (size_t g = 0; g < G; g++)
            MPC_ASSERT(sel->count[g] == pos + 1);
        for (size_t h = 0; h < H; h++)
            for (size_t j = 0; j <= (size_t)pos; j++)
                pr[h * S + j] = (float)fxp_decode(p[(h * N + i) * T + j], f + XFWD_P_EXTRA);
        kv_observe(x->kvp, l, pr, (int)S);
        if (pos == P - 1) kv_prefill_end(x->kvp, l);
    }
out:
    arena_reset(x->ar, mk);
    return e;
}

/* The fixed-point row for a selected slot: the engine's own row at its
 * position, or (D2O, merged) the policy's float row re-quantised. */
static void slot_row(const xfwd_t *x, uint64_t *out, const float *row, const uint64_t *own)
{
    size_t hs = (size_t)x->hs;
    int merged = 0;
    if (x->kv.policy == KV_D2O)
        for (size_t t = 0; t < hs && !merged; t++)
            merged = row[t] != (float)fxp_decode(own[t], x->f);
    if (!merged) {
        memcpy(out, own, hs * sizeof *out);
        return;
    }
    for (size_t t = 0; t < hs; t++)
        out[t] = fxp_encode((double)row[t], x->f);
}

mpc_err_t xkv_decode(xfwd_t *x, int l, const uint64_t *qh, const uint64_t *kn, const uint64_t *vn,
                     int pos0, uint64_t *pv)
{
    size_t H = (size_t)x->cfg.n_heads, G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs;
    size_t S = (size_t)x->cfg.seq_len, km = (size_t)x->kv_mul;
    int f = x->f;
    uint64_t step = (uint64_t)pos0;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    float *q, *k, *v, *pr;
    uint64_t *kr, *vr, *sc, *p;
    MPC_ASSERT(H <= 256 && G <= 64);
    ALLOC(q, H * hs);
    ALLOC(k, G * hs);
    ALLOC(v, G * hs);
    decode_row(q, qh, H, 1, 0, hs, f, q_mult(x));
    decode_row(k, kn, G, 1, 0, hs, f, 1);
    decode_row(v, vn, G, 1, 0, hs, f, 1);
    kv_append(x->kvp, l, pos0, q, k, v);
    const kv_sel_t *sel = kv_select(x->kvp, l, q);
    /* every policy selects as many slots for each KV head of a layer */
    size_t cnt = (size_t)sel->count[0];
    for (size_t g = 0; g < G; g++)
        MPC_ASSERT((size_t)sel->count[g] == cnt);
    MPC_ASSERT(cnt >= 1);
    ALLOC(kr, G * cnt * hs);
    ALLOC(vr, G * cnt * hs);
    ALLOC(sc, H * cnt);
    ALLOC(p, H * cnt);
    ALLOC(pr, H * S);
    /* the selected rows of each KV head, (cnt, hs), as fixed operands */
    matmul_fixed_t kop[64], vop[64];
    for (size_t g = 0; g < G; g++) {
        const matmul_fixed_t *K = &x->kc[(size_t)l * G + g], *V = &x->vc[(size_t)l * G + g];
        for (size_t i = 0; i < cnt; i++) {
            int slot = sel->slot[g * S + i];
            size_t at = (size_t)sel->pos[g * S + i] * hs;
            slot_row(x, kr + (g * cnt + i) * hs, kv_key(x->kvp, l, (int)g, slot), K->f + at);
            slot_row(x, vr + (g * cnt + i) * hs, kv_value(x->kvp, l, (int)g, slot), V->f + at);
        }
        kop[g] = (matmul_fixed_t){cnt, hs, cnt, kr + g * cnt * hs, NULL};
        vop[g] = (matmul_fixed_t){cnt, hs, cnt, vr + g * cnt * hs, NULL};
    }
    /* scores (H, cnt) at scale 2f (1/sqrt(hs) is in Wq), softmax over the
     * selection, p V at 2f + 8 truncated to f: the full path's steps */
    matmul_fixed_job_t jobs[256];
    for (size_t h = 0; h < H; h++)
        jobs[h] = (matmul_fixed_job_t){sc + h * cnt, qh + h * hs, &kop[h / km], 1, 1};
    e = x_fixed_mul(x, jobs, (int)H);
    if (!e) e = nl_softmax(x, p, sc, H, 1, cnt, (int)cnt - 1, TRUNC_SITE(l, OP_SOFTMAX, step));
    if (e) goto out;
    for (size_t h = 0; h < H; h++)
        jobs[h] = (matmul_fixed_job_t){pv + h * hs, p + h * cnt, &vop[h / km], 1, 0};
    e = x_fixed_mul(x, jobs, (int)H);
    if (!e) e = x_trunc(x, pv, pv, H * hs, f + XFWD_P_EXTRA, TRUNC_SITE(l, OP_PV, step));
    if (e) goto out;
    /* the policy learns the probabilities the engine used */
    for (size_t h = 0; h < H; h++)
        for (size_t i = 0; i < cnt; i++)
            pr[h * S + i] = (float)fxp_decode(p[h * cnt + i], f + XFWD_P_EXTRA);
    kv_observe(x->kvp, l, pr, (int)S);
    x->attended[l] = (int)(G * cnt);
out:
    arena_reset(x->ar, mk);
    return e;
}
