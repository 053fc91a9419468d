/* llm/xfwd_h2o.c - H2O inside the fixed-point engine (DESIGN.md §7): the
 * secure eviction baseline, one code path for the plain engine, the two
 * parties and the dealer.
 *
 * Each KV head keeps, per cached slot, the accumulated attention its query
 * heads paid to that slot (column sums of the probabilities, at scale
 * f + XFWD_P_EXTRA, as shares). Every step attends the whole cache, adds
 * the step's probabilities to the sums, and then evicts down to the next
 * step's budget minus one, so that the next append brings the cache to the
 * budget exactly (kv_budget_tokens: MPCache's count, equal across
 * policies). As in the plaintext policy (mpcache/kv_evict.c), the budget
 * splits into heavy = floor((t + 1) hh / (hh + rr)) and recent = t - heavy:
 * the last `recent` slots are kept, and the others compete by their sums,
 * ties toward the lower slot.
 *
 * How many to evict is public (it follows from the positions). Evicting one
 * of the nc candidates is a secure argmin (the argmax tournament on the
 * reversed negated sums, so that a tie evicts the higher slot, as keeping
 * the top nc - 1 does), and the write is oblivious: with c_i = [i >= the
 * evicted slot] (prefix sums of the one-hot, local), slot i takes
 * old_i + c_i (old_{i+1} - old_i), one Beaver product per word of K, V and
 * the sums. Evicting several (when MPCache's newest cluster starts afresh,
 * the budget drops) is a top-k with the same position-order compaction as
 * MPCache's static eviction (llm/xfwd_mpcache.c). Either way every slot the
 * write may have changed is re-masked (DESIGN.md §3): the rewritten cache
 * is appended afresh, which opens its every word once. That re-masking is
 * most of what H2O costs in MPC beyond the full attention over its budget.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/xfwd_impl.h"
#include "mpc/fxp.h"

#define ALLOC(p, n) XFWD_ALLOC(p, n, "H2O")

mpc_err_t xh2o_init(xfwd_t *x)
{
    size_t L = (size_t)x->cfg.n_layers, G = (size_t)x->cfg.n_kv_heads;
    x->h2o_acc = calloc(L * G * (size_t)x->cfg.seq_len + 1, sizeof *x->h2o_acc);
    return x->h2o_acc ? MPC_OK : xfwd_fail(x, MPC_ENOMEM, "out of memory for H2O's scores");
}

void xh2o_free(xfwd_t *x)
{
    free(x->h2o_acc);
    x->h2o_acc = NULL;
}

/* The comparisons' bound: sums of at most seq_len * kv_mul probabilities. */
static int acc_bits(const xfwd_t *x)
{
    int nb = x->f + XFWD_P_EXTRA + 2;
    for (size_t v = (size_t)x->cfg.seq_len * (size_t)x->kv_mul; v; v >>= 1) nb++;
    return nb;
}

mpc_err_t xh2o_observe(xfwd_t *x, int l, const uint64_t *p, size_t N, size_t T)
{
    if (x->role == MPC_DEALER) return MPC_OK;
    size_t G = (size_t)x->cfg.n_kv_heads, km = (size_t)x->kv_mul, cap = (size_t)x->cfg.seq_len;
    for (size_t g = 0; g < G; g++) {
        uint64_t *acc = x->h2o_acc + ((size_t)l * G + g) * cap;
        for (size_t h = g * km; h < (g + 1) * km; h++)
            for (size_t i = 0; i < N; i++)
                for (size_t j = 0; j < T; j++) acc[j] += p[(h * N + i) * T + j];
    }
    return MPC_OK;
}

/* Rewrites every KV head's cache of layer l from rows (G, 2, n, hs) of
 * fresh shares, re-masked; acc (G, n) are the new sums. */
static mpc_err_t rewrite(xfwd_t *x, int l, const uint64_t *rows, const uint64_t *acc, size_t n)
{
    size_t G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs, cap = (size_t)x->cfg.seq_len;
    matmul_fixed_t *ops[2 * 64];
    const uint64_t *fresh[2 * 64];
    size_t cnt[2 * 64];
    for (size_t g = 0; g < G; g++) {
        ops[2 * g] = &x->kc[(size_t)l * G + g];
        ops[2 * g + 1] = &x->vc[(size_t)l * G + g];
        for (int kv = 0; kv < 2; kv++) {
            ops[2 * g + (size_t)kv]->rows = 0;
            fresh[2 * g + (size_t)kv] = rows + (g * 2 + (size_t)kv) * n * hs;
            cnt[2 * g + (size_t)kv] = n;
        }
        uint64_t *a = x->h2o_acc + ((size_t)l * G + g) * cap;
        if (x->role != MPC_DEALER) memcpy(a, acc + g * n, n * 8);
        memset(a + n, 0, (cap - n) * 8);
    }
    return x_append(x, ops, fresh, cnt, (int)(2 * G));
}

mpc_err_t xh2o_evict(xfwd_t *x, int l, int target)
{
    size_t G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs, cap = (size_t)x->cfg.seq_len;
    size_t n = x->kc[(size_t)l * G].rows, t = (size_t)target;
    if (n <= t) return MPC_OK;
    const kv_config_t *c = &x->kv;
    double y = (double)(t + 1) * c->h2o_heavy / (c->h2o_heavy + c->h2o_recent);
    size_t heavy = (size_t)floor(y + 1e-9);
    if (heavy > t) heavy = t;
    size_t recent = t - heavy, nc = n - recent, k = heavy, W = 2 * hs + 1;
    int dealer = x->role == MPC_DEALER, nb = acc_bits(x);
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    uint64_t *Y, *out, *rows, *acc;
    /* per KV head, the candidates' words: K row, V row, sum */
    ALLOC(Y, G * nc * W);
    ALLOC(out, G * k * W); /* the kept candidates' words, (G, k, W) */
    ALLOC(rows, G * 2 * t * hs + 1);
    ALLOC(acc, G * t + 1);
    for (size_t g = 0; g < G && !dealer; g++) {
        const matmul_fixed_t *K = &x->kc[(size_t)l * G + g], *V = &x->vc[(size_t)l * G + g];
        const uint64_t *a = x->h2o_acc + ((size_t)l * G + g) * cap;
        for (size_t i = 0; i < nc; i++) {
            uint64_t *y = Y + (g * nc + i) * W;
            for (size_t j = 0; j < hs; j++) {
                y[j] = x_fixed_share(x, K, i * hs + j);
                y[hs + j] = x_fixed_share(x, V, i * hs + j);
            }
            y[2 * hs] = a[i];
        }
    }
    if (k > 0 && nc - k == 1) {
        /* one eviction: argmin (ties to the higher slot), then a shift */
        uint64_t *neg, *oh, *cbit, *d;
        ALLOC(neg, G * nc);
        ALLOC(oh, G * nc);
        ALLOC(cbit, G * (nc - 1) * W);
        ALLOC(d, G * (nc - 1) * W);
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t i = 0; i < nc; i++) neg[g * nc + (nc - 1 - i)] = 0 - Y[(g * nc + i) * W + 2 * hs];
        e = x_argmax(x, oh, neg, G, nc, nb);
        if (e) goto out;
        for (size_t g = 0; g < G && !dealer; g++) {
            uint64_t pre = 0;
            for (size_t i = 0; i + 1 < nc; i++) {
                pre += oh[g * nc + (nc - 1 - i)]; /* [i >= evicted] */
                for (size_t w = 0; w < W; w++) {
                    size_t o = (g * (nc - 1) + i) * W + w;
                    cbit[o] = pre;
                    d[o] = Y[(g * nc + i + 1) * W + w] - Y[(g * nc + i) * W + w];
                }
            }
        }
        e = x_mul(x, d, cbit, d, G * (nc - 1) * W);
        if (e) goto out;
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t i = 0; i + 1 < nc; i++)
                for (size_t w = 0; w < W; w++)
                    out[(g * k + i) * W + w] =
                        Y[(g * nc + i) * W + w] + d[(g * (nc - 1) + i) * W + w];
    } else if (k > 0) {
        /* several: the top k by sum, compacted in position order */
        uint64_t *S, *dd, *Mt, *M;
        ALLOC(S, G * k * nc);
        ALLOC(dd, G * nc);
        ALLOC(Mt, G * nc * k);
        ALLOC(M, G * k * nc);
        uint64_t *sc;
        ALLOC(sc, G * nc);
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t i = 0; i < nc; i++) sc[g * nc + i] = Y[(g * nc + i) * W + 2 * hs];
        e = x_topk(x, S, sc, G, nc, k, nb);
        if (e) goto out;
        for (size_t g = 0; g < G && !dealer; g++) {
            uint64_t cc = 0;
            for (size_t i = 0; i < nc; i++) {
                uint64_t b = 0;
                for (size_t r = 0; r < k; r++) b += S[(g * k + r) * nc + i];
                dd[g * nc + i] = cc + x_public(x, (uint64_t)k) - (uint64_t)k * b;
                cc += b;
            }
        }
        e = x_onehot(x, Mt, dd, G * nc, 2 * k + 1, k);
        if (e) goto out;
        for (size_t g = 0; g < G; g++)
            for (size_t i = 0; i < nc; i++)
                for (size_t r = 0; r < k; r++) M[(g * k + r) * nc + i] = Mt[(g * nc + i) * k + r];
        e = x_bmat(x, out, M, Y, G, k, nc, W);
        if (e) goto out;
    }
    /* the new cache: [kept heavy | recent], every word re-masked */
    for (size_t g = 0; g < G && !dealer; g++) {
        const matmul_fixed_t *K = &x->kc[(size_t)l * G + g], *V = &x->vc[(size_t)l * G + g];
        const uint64_t *a = x->h2o_acc + ((size_t)l * G + g) * cap;
        uint64_t *rk = rows + (g * 2) * t * hs, *rv = rows + (g * 2 + 1) * t * hs;
        for (size_t i = 0; i < k; i++) {
            const uint64_t *o = out + (g * k + i) * W;
            memcpy(rk + i * hs, o, hs * 8);
            memcpy(rv + i * hs, o + hs, hs * 8);
            acc[g * t + i] = o[2 * hs];
        }
        for (size_t i = 0; i < recent; i++) {
            size_t s = n - recent + i;
            for (size_t j = 0; j < hs; j++) {
                rk[(k + i) * hs + j] = x_fixed_share(x, K, s * hs + j);
                rv[(k + i) * hs + j] = x_fixed_share(x, V, s * hs + j);
            }
            acc[g * t + k + i] = a[s];
        }
    }
    e = rewrite(x, l, rows, acc, t);
out:
    arena_reset(x->ar, mk);
    return e;
}
