/* mpcache/kv_evict.c - the eviction baselines: StreamingLLM, H2O, SnapKV,
 * TOVA, CAKE and D2O, and the per-layer budgets of CAKE and D2O.
 *
 * Every policy here drops rows for real: after the prompt it evicts down to
 * the first decode step's budget minus one, and after each decode step's
 * attention down to the next step's budget minus one, so that the append of
 * the next token brings it exactly to that budget. With a constant budget
 * (cfg.fixed_budget) that is one eviction per step; with the default budget
 * (MPCache's count, which grows by at most one per step) it is zero, one, or
 * a fine cluster's worth when MPCache's newest cluster starts afresh.
 *
 * Deviations from the reference code, each forced by the exact, equal
 * budget or by GQA:
 *  - Scores of a KV head sum its query heads (GQA); H2O/D2O keep one score
 *    per KV head, not per query head.
 *  - H2O's ratios heavy/recent only split the budget (heavy =
 *    floor(N * heavy / (heavy + recent)), the rest recent).
 *  - SnapKV and CAKE protect a window of min(window, budget / 2) recent
 *    tokens; the reference assumes the capacity exceeds the window (its top-k
 *    of capacity - window fails otherwise). Their scores cover every prompt
 *    key (the reference slices off the window's keys), which matters only
 *    for the window tokens left unprotected.
 *  - SnapKV has no decode-time score. To keep the budget equal it drops its
 *    lowest-ranked prompt token first, then the oldest later token.
 *  - CAKE at decode keeps the last `window` queries' attention per token
 *    (zero before the token existed) and re-scores by mean + gamma * var,
 *    pooled; the window tokens stay protected.
 *  - CAKE's spatial entropy is that of the window's mean attention
 *    distribution over keys (mean over heads and window queries); its
 *    temporal variance sums, over keys, the variance across window queries
 *    of the head-mean attention.
 *  - D2O's layer budgets: weights softmax(-sigma) over layers decide the
 *    shares of the total (layers 0, 1, L-1 uncompressed); the clamp of
 *    ratios to [0.01, 1] becomes the bounds 0..P of a share. The merge
 *    threshold is per (layer, KV head): tau starts at the first eviction's
 *    mean maximum similarity, then tau <- ema * tau + (1 - ema) * mean,
 *    updated before comparing, and an evicted token merges when its own
 *    maximum similarity exceeds tau (for one eviction per step this equals
 *    comparing with the old tau).
 *  - CAKE's and D2O's layer budgets follow the preferences at prefill
 *    (cascaded for CAKE) and then grow one token per layer per step, taking
 *    back any excess from the layer furthest above its share, so that their
 *    sum over budgeted layers is exactly (budgeted layers) * count.
 */
#include <math.h>
#include <string.h>

#include "mpcache/kv_impl.h"

/* --- budgets ---------------------------------------------------------------- */

static int layer_varies(const kv_t *kv)
{
    return kv->cfg.policy == KV_CAKE || kv->cfg.policy == KV_D2O;
}

int kv_layer_budget(const kv_t *kv, int l, int pos)
{
    const kv_config_t *c = &kv->cfg;
    switch (c->policy) {
    case KV_FULL:
        return -1;
    case KV_QUEST:
        return l < c->quest_full_layers ? -1 : kv_budget_tokens(c, pos);
    case KV_CAKE:
    case KV_D2O:
        if (pos < c->prompt_len) return pos + 1;
        MPC_ASSERT(kv->cap_pos >= 0);
        if (!kv->budgeted[l]) return -1;
        if (pos == kv->cap_pos) return kv->cap[l];
        MPC_ASSERT(pos == kv->cap_pos - 1);
        return kv->cap_prev[l];
    default:
        return kv_budget_tokens(c, pos);
    }
}

/* Moves the CAKE/D2O schedule from cap_pos to cap_pos + 1: every budgeted
 * layer may grow by one (its next token); the excess over the common total
 * is taken, one token at a time, from the layer furthest above its share
 * (ties to the lower layer), never below one token. */
static void advance_caps(kv_t *kv)
{
    int next = kv->cap_pos + 1, nb = 0, sum = 0;
    double sw = 0;
    for (int l = 0; l < kv->L; l++) {
        kv->cap_prev[l] = kv->cap[l];
        if (!kv->budgeted[l]) continue;
        nb++;
        sw += kv->pref[l];
        kv->cap[l]++;
        sum += kv->cap[l];
    }
    int total = nb * kv_budget_tokens(&kv->cfg, next);
    MPC_ASSERT(sum >= total);
    for (int excess = sum - total; excess > 0; excess--) {
        int best = -1;
        double bo = -INFINITY;
        for (int l = 0; l < kv->L; l++) {
            if (!kv->budgeted[l] || kv->cap[l] <= 1) continue;
            double share = sw > 0 ? kv->pref[l] / sw : 1.0 / nb;
            double over = kv->cap[l] - share * total;
            if (over > bo) {
                bo = over;
                best = l;
            }
        }
        MPC_ASSERT(best >= 0);
        kv->cap[best]--;
    }
    kv->cap_pos = next;
}

/* --- keeping the top slots -------------------------------------------------- */

/* Writes the complement of keep[0..nkeep) in 0..n to out; returns its size. */
static int complement(const int *keep, int nkeep, int n, int *out)
{
    int m = 0, j = 0;
    for (int s = 0; s < n; s++) {
        if (j < nkeep && keep[j] == s)
            j++;
        else
            out[m++] = s;
    }
    return m;
}

static double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* D2O: merges the evicted slots ev[0..ne) of (l, g) into their most
 * cosine-similar kept slots when the similarity is above the EMA threshold:
 * k_c <- (k_c + sum m_e k_e) / (1 + n_c), and v likewise. */
static void d2o_merge(kv_t *kv, int l, int g, const int *keep, int nkeep, const int *ev, int ne)
{
    if (ne == 0 || nkeep == 0) return;
    size_t lg = kv_lg(kv, l, g), d = (size_t)kv->d;
    double *best = kv->s_b, mean = 0;
    int *to = kv->s_i3;
    for (int e = 0; e < ne; e++) {
        const float *ke = kv->k + kv_slot_ix(kv, l, g, ev[e]) * d;
        best[e] = -INFINITY;
        to[e] = -1;
        for (int i = 0; i < nkeep; i++) {
            double m = cosine(ke, kv->k + kv_slot_ix(kv, l, g, keep[i]) * d, kv->d);
            if (m > best[e]) {
                best[e] = m;
                to[e] = keep[i];
            }
        }
        mean += best[e];
    }
    mean /= ne;
    kv->tau[lg] =
        kv->tau_set[lg] ? kv->cfg.d2o_ema * kv->tau[lg] + (1 - kv->cfg.d2o_ema) * mean : mean;
    kv->tau_set[lg] = 1;
    for (int e = 0; e < ne; e++) {
        if (!(best[e] > kv->tau[lg])) continue;
        size_t c = kv_slot_ix(kv, l, g, to[e]), x = kv_slot_ix(kv, l, g, ev[e]);
        for (size_t i = 0; i < d; i++) {
            kv->ksum[c * d + i] += (float)(best[e] * kv->k[x * d + i]);
            kv->vsum[c * d + i] += (float)(best[e] * kv->v[x * d + i]);
        }
        kv->nmerged[c]++;
        for (size_t i = 0; i < d; i++) {
            kv->k[c * d + i] = kv->ksum[c * d + i] / (float)(1 + kv->nmerged[c]);
            kv->v[c * d + i] = kv->vsum[c * d + i] / (float)(1 + kv->nmerged[c]);
        }
    }
}

/* Keeps, in (l, g), the `target` slots with the highest sc (indexed by
 * slot; modified: the last `recent` slots get KV_PROTECT + position and,
 * for D2O, the first `sinks` positions 2 * KV_PROTECT + position). Merges
 * the rest first under D2O. Does not set len. */
static void keep_top(kv_t *kv, int l, int g, double *sc, int target, int recent, int sinks)
{
    int n = kv->len[l];
    const int *pos = kv->pos + kv_slot_ix(kv, l, g, 0);
    for (int s = n - recent; s < n; s++)
        if (s >= 0) sc[s] = KV_PROTECT + pos[s];
    for (int s = 0; s < n; s++)
        if (pos[s] < sinks) sc[s] = 2 * KV_PROTECT + pos[s];
    int *keep = kv->s_i2;
    kv_topk(sc, n, target, keep, kv->s_i1);
    if (kv->cfg.policy == KV_D2O) {
        int ne = complement(keep, target, n, kv->s_i1);
        d2o_merge(kv, l, g, keep, target, kv->s_i1, ne);
    }
    kv_compact(kv, l, g, keep, target);
}

/* H2O and D2O: accumulated column sums, the last `recent` kept. */
static void evict_heavy(kv_t *kv, int l, int target)
{
    if (kv->len[l] <= target) return;
    const kv_config_t *c = &kv->cfg;
    int heavy = (int)floor((target + 1) * c->h2o_heavy / (c->h2o_heavy + c->h2o_recent) + 1e-9);
    int recent = target - heavy;
    if (recent < 0) recent = 0;
    int sinks = c->policy == KV_D2O ? c->sinks : 0; /* D2O keeps positions 0-3 */
    for (int g = 0; g < kv->G; g++) {
        memcpy(kv->s_a, kv->score + kv_slot_ix(kv, l, g, 0), (size_t)kv->len[l] * sizeof(double));
        keep_top(kv, l, g, kv->s_a, target, recent, sinks);
    }
    kv->len[l] = target;
}

static void evict_streaming(kv_t *kv, int l, int target)
{
    int n = kv->len[l];
    if (n <= target) return;
    int sinks = kv->cfg.sinks < target ? kv->cfg.sinks : target, m = 0;
    int *keep = kv->s_i2;
    for (int s = 0; s < sinks; s++)
        keep[m++] = s;
    for (int s = n - (target - sinks); s < n; s++)
        keep[m++] = s;
    for (int g = 0; g < kv->G; g++)
        kv_compact(kv, l, g, keep, target);
    kv->len[l] = target;
}

/* SnapKV, CAKE: the stored pooled scores, a recent window protected. */
static void evict_pooled(kv_t *kv, int l, int target)
{
    if (kv->len[l] <= target) return;
    int recent = kv->cfg.window < target / 2 ? kv->cfg.window : target / 2;
    if (kv->cfg.policy == KV_SNAPKV) recent = 0; /* its protection is in the score */
    for (int g = 0; g < kv->G; g++) {
        memcpy(kv->s_a, kv->score + kv_slot_ix(kv, l, g, 0), (size_t)kv->len[l] * sizeof(double));
        keep_top(kv, l, g, kv->s_a, target, recent, 0);
    }
    kv->len[l] = target;
}

/* TOVA: one set per layer, by sc (the mean over query heads). */
static void evict_tova(kv_t *kv, int l, double *sc, int target)
{
    if (kv->len[l] <= target) return;
    int *keep = kv->s_i2;
    kv_topk(sc, kv->len[l], target, keep, kv->s_i1);
    for (int g = 0; g < kv->G; g++)
        kv_compact(kv, l, g, keep, target);
    kv->len[l] = target;
}

/* --- prefill -------------------------------------------------------------- */

/* Causal window attention of head h over layer l's slots: (nwq, len) into
 * out. */
static void head_window(kv_t *kv, int l, int h, double *out)
{
    int g = h / kv->kv_mul;
    const float *q = kv->wq + ((size_t)l * kv->nwq * kv->H + (size_t)h) * kv->d;
    kv_window_attention(q, kv->H * kv->d, kv->wqpos, kv->nwq,
                        kv->k + kv_slot_ix(kv, l, g, 0) * (size_t)kv->d, kv->d,
                        kv->pos + kv_slot_ix(kv, l, g, 0), kv->len[l], kv->d, out);
}

static void snapkv_prefill(kv_t *kv, int l, int target)
{
    int n = kv->len[l], nw = kv->nwq;
    int recent = nw < target / 2 ? nw : target / 2;
    for (int g = 0; g < kv->G; g++) {
        double *sum = kv->s_a, *sc = kv->score + kv_slot_ix(kv, l, g, 0);
        for (int j = 0; j < n; j++)
            sum[j] = 0;
        for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++) {
            head_window(kv, l, h, kv->s_probs);
            for (int i = 0; i < nw; i++)
                for (int j = 0; j < n; j++)
                    sum[j] += kv->s_probs[(size_t)i * n + j];
        }
        /* pool before top-k: a token's neighbours vote for it */
        kv_avg_pool(sum, n, kv->cfg.pool, sc);
        const int *pos = kv->pos + kv_slot_ix(kv, l, g, 0);
        for (int s = n - recent; s < n; s++)
            sc[s] = KV_PROTECT + pos[s];
    }
    evict_pooled(kv, l, target);
}

static void tova_prefill(kv_t *kv, int l, int target)
{
    int n = kv->len[l];
    double *sc = kv->s_c;
    for (int j = 0; j < n; j++)
        sc[j] = 0;
    for (int h = 0; h < kv->H; h++) {
        head_window(kv, l, h, kv->s_probs); /* nwq == 1: the last query */
        for (int j = 0; j < n; j++)
            sc[j] += kv->s_probs[j] / kv->H;
    }
    evict_tova(kv, l, sc, target);
}

/* mean + gamma * var over the `rows` history rows of each slot, pooled, into
 * kv->score of (l, g). */
static void cake_indicator(kv_t *kv, int l, int g, int rows)
{
    int n = kv->len[l], hw = kv->hw;
    double *ind = kv->s_a;
    for (int s = 0; s < n; s++) {
        const float *r = kv->hist + kv_slot_ix(kv, l, g, s) * (size_t)hw;
        double m = 0, m2 = 0;
        for (int i = 0; i < hw; i++) {
            m += r[i];
            m2 += (double)r[i] * r[i];
        }
        m /= rows;
        double var = m2 / rows - m * m;
        ind[s] = m + kv->cfg.cake_gamma * (var > 0 ? var : 0);
    }
    kv_avg_pool(ind, n, kv->cfg.pool, kv->score + kv_slot_ix(kv, l, g, 0));
}

static void cake_prefill(kv_t *kv, int l)
{
    const kv_config_t *c = &kv->cfg;
    int n = kv->len[l], nw = kv->nwq, P = c->prompt_len;
    size_t area = (size_t)nw * n;
    double *cur = kv->s_probs, *lay = cur + (size_t)nw * kv->T, *grp = lay + (size_t)nw * kv->T;
    memset(lay, 0, area * sizeof(double));
    for (int g = 0; g < kv->G; g++) {
        memset(grp, 0, area * sizeof(double));
        for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++) {
            head_window(kv, l, h, cur);
            for (size_t x = 0; x < area; x++) {
                grp[x] += cur[x] / kv->kv_mul;
                lay[x] += cur[x] / kv->H;
            }
        }
        for (int s = 0; s < n; s++) {
            float *r = kv->hist + kv_slot_ix(kv, l, g, s) * (size_t)kv->hw;
            for (int i = 0; i < nw; i++)
                r[i] = (float)grp[(size_t)i * n + s];
        }
        cake_indicator(kv, l, g, nw);
    }
    kv->hist_rows[l] = nw;
    kv->hist_head[l] = nw % kv->hw;
    /* preference: spatial entropy and temporal variance of the window */
    double ent = 0, var = 0;
    for (int j = 0; j < n; j++) {
        double m = 0, m2 = 0;
        for (int i = 0; i < nw; i++) {
            m += lay[(size_t)i * n + j];
            m2 += lay[(size_t)i * n + j] * lay[(size_t)i * n + j];
        }
        m /= nw;
        if (m > 0) ent -= m * log(m);
        double v = m2 / nw - m * m;
        var += v > 0 ? v : 0;
    }
    kv->pref[l] = pow(ent, 1.0 / c->cake_tau1) * pow(var, 1.0 / c->cake_tau2);
    kv->budgeted[l] = 1;

    /* the cascade: layers 0..l share the whole cache budget in proportion
     * to their preferences, and earlier layers are evicted again */
    int total = kv->L * (kv_budget_tokens(c, P) - 1), sum_hi = 0;
    int *lo = kv->s_i3, *hi = lo + kv->L;
    MPC_ASSERT(kv->L <= kv->T);
    for (int i = 0; i <= l; i++) {
        lo[i] = 0;
        hi[i] = kv->len[i];
        sum_hi += hi[i];
    }
    kv_alloc_shares(kv->pref, lo, hi, l + 1, total < sum_hi ? total : sum_hi, kv->cap);
    for (int i = 0; i <= l; i++)
        evict_pooled(kv, i, kv->cap[i]);
    if (l == kv->L - 1) {
        for (int i = 0; i < kv->L; i++)
            kv->cap[i] = kv->cap_prev[i] = kv->len[i] + 1;
        kv->cap_pos = P;
    }
}

static void d2o_prefill(kv_t *kv, int l)
{
    const kv_config_t *c = &kv->cfg;
    int n = kv->len[l], L = kv->L, P = c->prompt_len;
    /* sigma_l: per head, the variance of the attention column sums,
     * min-max normalised across heads, then averaged */
    double *sig = kv->s_c, lo_s = INFINITY, hi_s = -INFINITY;
    for (int g = 0; g < kv->G; g++) {
        const double *col = kv->score + kv_slot_ix(kv, l, g, 0);
        double m = 0, m2 = 0;
        for (int j = 0; j < n; j++) {
            m += col[j];
            m2 += col[j] * col[j];
        }
        m /= n;
        sig[g] = m2 / n - m * m;
        if (sig[g] < lo_s) lo_s = sig[g];
        if (sig[g] > hi_s) hi_s = sig[g];
    }
    double s = 0;
    for (int g = 0; g < kv->G; g++)
        s += hi_s > lo_s ? (sig[g] - lo_s) / (hi_s - lo_s) : 0;
    kv->pref[l] = s / kv->G;
    kv->budgeted[l] = !(l == 0 || l == 1 || l == L - 1);
    if (l != L - 1) return;

    /* all layers known: weights softmax(-sigma), shares of the total */
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < L; i++)
        if (-kv->pref[i] > mx) mx = -kv->pref[i];
    for (int i = 0; i < L; i++) {
        kv->pref[i] = exp(-kv->pref[i] - mx);
        z += kv->pref[i];
    }
    int nb = 0;
    for (int i = 0; i < L; i++) {
        kv->pref[i] = kv->budgeted[i] ? kv->pref[i] / z : 0;
        nb += kv->budgeted[i];
    }
    /* the shares go to cap first: the merges below use the scratch */
    int *lo = kv->s_i3, *hi = lo + L;
    MPC_ASSERT(L <= kv->T);
    for (int i = 0; i < L; i++) {
        lo[i] = 0;
        hi[i] = kv->budgeted[i] ? kv->len[i] : 0;
    }
    kv_alloc_shares(kv->pref, lo, hi, L, nb * (kv_budget_tokens(c, P) - 1), kv->cap);
    for (int i = 0; i < L; i++) {
        if (kv->budgeted[i]) evict_heavy(kv, i, kv->cap[i]);
        kv->cap[i] = kv->cap_prev[i] = kv->budgeted[i] ? kv->len[i] + 1 : -1;
    }
    kv->cap_pos = P;
}

void kv_evict_prefill_end(kv_t *kv, int l)
{
    int target = kv_budget_tokens(&kv->cfg, kv->cfg.prompt_len) - 1;
    switch (kv->cfg.policy) {
    case KV_STREAMING:
        evict_streaming(kv, l, target);
        break;
    case KV_H2O:
        evict_heavy(kv, l, target);
        break;
    case KV_SNAPKV:
        snapkv_prefill(kv, l, target);
        break;
    case KV_TOVA:
        tova_prefill(kv, l, target);
        break;
    case KV_CAKE:
        cake_prefill(kv, l);
        break;
    case KV_D2O:
        d2o_prefill(kv, l);
        break;
    default:
        MPC_ASSERT(0);
    }
}

/* --- decode ----------------------------------------------------------------- */

void kv_evict_observe(kv_t *kv, int l, const float *probs, int stride)
{
    const kv_config_t *c = &kv->cfg;
    kv_policy_t pol = c->policy;
    int pos = kv->next_pos[l] - 1, decode = pos >= c->prompt_len;
    const int *cnt = kv->sel_count + kv_lg(kv, l, 0);

    if (pol == KV_H2O || pol == KV_D2O) {
        for (int g = 0; g < kv->G; g++) {
            double *sc = kv->score + kv_slot_ix(kv, l, g, 0);
            const int *slot = kv->sel_slot + kv_slot_ix(kv, l, g, 0);
            for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++)
                for (int i = 0; i < cnt[g]; i++)
                    sc[slot[i]] += probs[(size_t)h * stride + i];
        }
    }
    if (!decode) return;
    if (layer_varies(kv) && kv->cap_pos == pos) advance_caps(kv);
    int b = kv_layer_budget(kv, l, pos + 1);
    if (b < 0) return;
    int target = b - 1;

    switch (pol) {
    case KV_STREAMING:
        evict_streaming(kv, l, target);
        break;
    case KV_H2O:
    case KV_D2O:
        evict_heavy(kv, l, target);
        break;
    case KV_SNAPKV:
        evict_pooled(kv, l, target);
        break;
    case KV_TOVA: {
        double *sc = kv->s_c;
        const int *slot = kv->sel_slot + kv_slot_ix(kv, l, 0, 0);
        for (int s = 0; s < kv->len[l]; s++)
            sc[s] = 0;
        for (int h = 0; h < kv->H; h++)
            for (int i = 0; i < cnt[h / kv->kv_mul]; i++)
                sc[slot[i]] += probs[(size_t)h * stride + i] / kv->H;
        evict_tova(kv, l, sc, target);
        break;
    }
    case KV_CAKE: {
        int head = kv->hist_head[l];
        for (int g = 0; g < kv->G; g++) {
            const int *slot = kv->sel_slot + kv_slot_ix(kv, l, g, 0);
            for (int s = 0; s < kv->len[l]; s++)
                kv->hist[kv_slot_ix(kv, l, g, s) * (size_t)kv->hw + (size_t)head] = 0;
            for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++)
                for (int i = 0; i < cnt[g]; i++)
                    kv->hist[kv_slot_ix(kv, l, g, slot[i]) * (size_t)kv->hw + (size_t)head] +=
                        probs[(size_t)h * stride + i] / kv->kv_mul;
        }
        kv->hist_head[l] = (head + 1) % kv->hw;
        if (kv->hist_rows[l] < kv->hw) kv->hist_rows[l]++;
        if (kv->len[l] > target)
            for (int g = 0; g < kv->G; g++)
                cake_indicator(kv, l, g, kv->hist_rows[l]);
        evict_pooled(kv, l, target);
        break;
    }
    default:
        break; /* full, Quest, MPCache evict nothing after prefill */
    }
}
