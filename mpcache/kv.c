/* mpcache/kv.c - the KV cache: configuration, lifetime, append, the
 * query-aware selections (MPCache's two-level clusters, Quest's pages) and
 * MPCache's look-once static eviction. The eviction baselines live in
 * kv_evict.c, the pure maths in kv_math.c.
 *
 * Where this follows MPCache's reference code and where it does not:
 *  - Static eviction keeps a fixed top-B_s, never a threshold (the reference
 *    evicts by a threshold, so the kept count would depend on the data).
 *  - The window attention is softmax(q.k / sqrt(d)) with a causal mask; the
 *    reference omits both the scaling and the mask.
 *  - The sink cluster and the newest cluster count inside the budget (the
 *    reference adds them on top), so the attended count is exact.
 *  - Cluster summaries r+ / r- are computed once, when a cluster fills,
 *    over the kept (compacted) sequence; clusters are contiguous there.
 *  - The level-1 sink and newest coarse clusters are kept too, inside K1,
 *    since their fine children are kept anyway.
 *  - A cluster's score for a KV head sums the scores of its query heads
 *    (GQA), each q . (alpha r+ + (1 - alpha) r-).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpcache/kv_impl.h"

static const char *const policy_names[KV_POLICY_COUNT] = {
    "full", "streaming", "h2o", "snapkv", "tova", "cake", "d2o", "quest", "mpcache",
};

static mpc_err_t fail(char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mpc_err_t fail(char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg && msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return MPC_EARG;
}

void kv_config_default(kv_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = KV_FULL;
    cfg->budget = 0.25;
    cfg->static_keep = 0.5;
    cfg->cluster_coarse = 32;
    cfg->cluster_fine = 16;
    cfg->sinks = 4;
    cfg->h2o_heavy = 0.1;
    cfg->h2o_recent = 0.1;
    cfg->window = 32;
    cfg->pool = 5;
    cfg->cake_tau1 = 1.0;
    cfg->cake_tau2 = 1.0;
    cfg->cake_gamma = 200.0;
    cfg->d2o_ema = 0.5;
    cfg->quest_page = 16;
    cfg->quest_full_layers = 2;
    cfg->mpc_alpha = 0.6;
    cfg->mpc_window_frac = 0.2;
    cfg->mpc_window_min = 8;
}

mpc_err_t kv_policy_parse(const char *name, kv_policy_t *out, char *msg, size_t msg_len)
{
    for (int i = 0; name && i < KV_POLICY_COUNT; i++) {
        if (strcmp(name, policy_names[i]) == 0) {
            *out = (kv_policy_t)i;
            return MPC_OK;
        }
    }
    return fail(msg, msg_len,
                "unknown policy '%s' (full, streaming, h2o, snapkv, tova, cake, d2o, quest, "
                "mpcache)",
                name ? name : "(null)");
}

const char *kv_policy_name(kv_policy_t policy)
{
    return (unsigned)policy < KV_POLICY_COUNT ? policy_names[policy] : "unknown";
}

mpc_err_t kv_config_check(const kv_config_t *c, char *msg, size_t msg_len)
{
    if ((unsigned)c->policy >= KV_POLICY_COUNT)
        return fail(msg, msg_len, "unknown policy %d", (int)c->policy);
    if (c->n_layers < 1 || c->n_heads < 1 || c->n_kv_heads < 1 || c->head_size < 1 ||
        c->seq_len < 1)
        return fail(msg, msg_len,
                    "model dims must be positive (layers %d, heads %d, kv heads "
                    "%d, head size %d, seq_len %d)",
                    c->n_layers, c->n_heads, c->n_kv_heads, c->head_size, c->seq_len);
    if (c->n_heads % c->n_kv_heads != 0)
        return fail(msg, msg_len, "n_heads %d is not a multiple of n_kv_heads %d", c->n_heads,
                    c->n_kv_heads);
    if (c->prompt_len < 1 || c->prompt_len > c->seq_len)
        return fail(msg, msg_len, "prompt length %d outside 1..seq_len %d", c->prompt_len,
                    c->seq_len);
    if (!(c->budget > 0 && c->budget <= 1))
        return fail(msg, msg_len, "--budget R must satisfy 0 < R <= 1 (got %g)", c->budget);
    if (!(c->static_keep > 0 && c->static_keep <= 1))
        return fail(msg, msg_len, "--static-keep S must satisfy 0 < S <= 1 (got %g)",
                    c->static_keep);
    if (c->policy == KV_MPCACHE && c->budget > c->static_keep)
        return fail(msg, msg_len,
                    "mpcache needs --budget R <= --static-keep S (got R %g > S %g): dynamic "
                    "selection picks a fraction R/S of what static eviction kept",
                    c->budget, c->static_keep);
    if (c->cluster_fine < 1 || c->cluster_coarse < c->cluster_fine ||
        c->cluster_coarse % c->cluster_fine != 0)
        return fail(msg, msg_len, "--clusters A,B needs B >= 1 and A a multiple of B (got %d,%d)",
                    c->cluster_coarse, c->cluster_fine);
    if (c->sinks < 0 || c->fixed_budget < 0)
        return fail(msg, msg_len, "sinks and fixed budget must be >= 0");
    if (!(c->h2o_heavy >= 0 && c->h2o_recent >= 0 && c->h2o_heavy + c->h2o_recent > 0))
        return fail(msg, msg_len, "h2o ratios must be >= 0 and not both 0");
    if (c->window < 1 || c->pool < 1 || c->pool % 2 == 0)
        return fail(msg, msg_len, "window must be >= 1 and pool a positive odd size (got %d, %d)",
                    c->window, c->pool);
    if (!(c->cake_tau1 > 0 && c->cake_tau2 > 0 && c->cake_gamma >= 0))
        return fail(msg, msg_len, "cake needs tau1, tau2 > 0 and gamma >= 0");
    if (!(c->d2o_ema >= 0 && c->d2o_ema < 1))
        return fail(msg, msg_len, "d2o EMA weight must be in [0, 1)");
    if (c->quest_page < 1 || c->quest_full_layers < 0)
        return fail(msg, msg_len, "quest page must be >= 1 and full layers >= 0");
    if (!(c->mpc_alpha >= 0 && c->mpc_alpha <= 1) || !(c->mpc_window_frac >= 0) ||
        c->mpc_window_min < 1)
        return fail(msg, msg_len,
                    "mpcache alpha must be in [0, 1], window fraction >= 0 and "
                    "window minimum >= 1");
    return MPC_OK;
}

/* --- lifetime ----------------------------------------------------------- */

static void *zalloc(size_t n, size_t size, int *ok)
{
    if (!*ok || n == 0) return NULL;
    void *p = calloc(n, size);
    if (!p) *ok = 0;
    return p;
}

/* zero, then free: the rows are the secret data of a private session */
static void zfree(void *p, size_t bytes)
{
    if (!p) return;
    volatile unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        b[i] = 0;
    free(p);
}

static int uses_window_queries(kv_policy_t p)
{
    return p == KV_SNAPKV || p == KV_CAKE || p == KV_TOVA || p == KV_MPCACHE;
}

kv_t *kv_new(const kv_config_t *cfg, mpc_err_t *err, char *msg, size_t msg_len)
{
    *err = kv_config_check(cfg, msg, msg_len);
    if (*err != MPC_OK) return NULL;
    kv_t *kv = calloc(1, sizeof *kv);
    if (!kv) {
        *err = MPC_ENOMEM;
        fail(msg, msg_len, "out of memory for the KV cache");
        return NULL;
    }
    kv->cfg = *cfg;
    int L = kv->L = cfg->n_layers, H = kv->H = cfg->n_heads, G = kv->G = cfg->n_kv_heads;
    int d = kv->d = cfg->head_size, T = kv->T = cfg->seq_len, P = cfg->prompt_len;
    kv->kv_mul = H / G;
    kv_policy_t pol = cfg->policy;
    size_t LGT = (size_t)L * G * T, LGTd = LGT * d;
    int ok = 1;

    kv->k = zalloc(LGTd, sizeof(float), &ok);
    kv->v = zalloc(LGTd, sizeof(float), &ok);
    kv->pos = zalloc(LGT, sizeof(int), &ok);
    kv->len = zalloc(L, sizeof(int), &ok);
    kv->next_pos = zalloc(L, sizeof(int), &ok);
    kv->ended = zalloc(L, sizeof(int), &ok);
    kv->sel_at = zalloc(L, sizeof(int), &ok);
    kv->sel = zalloc(L, sizeof(kv_sel_t), &ok);
    kv->sel_count = zalloc((size_t)L * G, sizeof(int), &ok);
    kv->sel_slot = zalloc(LGT, sizeof(int), &ok);
    kv->sel_pos = zalloc(LGT, sizeof(int), &ok);
    kv->sel_clu = zalloc(LGT, sizeof(int), &ok);
    kv->sel_nclu = zalloc((size_t)L * G, sizeof(int), &ok);
    kv->log = zalloc((size_t)T * L, sizeof(int), &ok);
    kv->score = zalloc(LGT, sizeof(double), &ok);
    kv->pref = zalloc(L, sizeof(double), &ok);
    kv->budgeted = zalloc(L, sizeof(int), &ok);
    kv->cap = zalloc(L, sizeof(int), &ok);
    kv->cap_prev = zalloc(L, sizeof(int), &ok);
    kv->s_a = zalloc(T, sizeof(double), &ok);
    kv->s_b = zalloc(T, sizeof(double), &ok);
    kv->s_c = zalloc(T, sizeof(double), &ok);
    kv->s_i1 = zalloc(2 * (size_t)T, sizeof(int), &ok);
    kv->s_i2 = zalloc(2 * (size_t)T, sizeof(int), &ok);
    kv->s_i3 = zalloc(2 * (size_t)T, sizeof(int), &ok);
    kv->s_q = zalloc(d, sizeof(float), &ok);

    if (uses_window_queries(pol)) {
        int w = 1;
        if (pol == KV_SNAPKV || pol == KV_CAKE) w = cfg->window;
        if (pol == KV_MPCACHE) w = kv_static_window(cfg);
        kv->nwq = w < P ? w : P;
        kv->wq = zalloc((size_t)L * kv->nwq * H * d, sizeof(float), &ok);
        kv->wqpos = zalloc(kv->nwq, sizeof(int), &ok);
        kv->s_probs = zalloc(3 * (size_t)kv->nwq * T, sizeof(double), &ok);
        for (int i = 0; ok && i < kv->nwq; i++)
            kv->wqpos[i] = P - kv->nwq + i;
    }
    if (pol == KV_CAKE) {
        kv->hw = cfg->window;
        kv->hist = zalloc(LGT * kv->hw, sizeof(float), &ok);
        kv->hist_rows = zalloc(L, sizeof(int), &ok);
        kv->hist_head = zalloc(L, sizeof(int), &ok);
    }
    if (pol == KV_D2O) {
        kv->ksum = zalloc(LGTd, sizeof(float), &ok);
        kv->vsum = zalloc(LGTd, sizeof(float), &ok);
        kv->nmerged = zalloc(LGT, sizeof(int), &ok);
        kv->tau = zalloc((size_t)L * G, sizeof(double), &ok);
        kv->tau_set = zalloc((size_t)L * G, sizeof(int), &ok);
    }
    if (pol == KV_MPCACHE || pol == KV_QUEST) {
        kv->csz2 = pol == KV_MPCACHE ? cfg->cluster_fine : cfg->quest_page;
        kv->nc2 = T / kv->csz2 + 1;
        kv->cmax2 = zalloc((size_t)L * G * kv->nc2 * d, sizeof(float), &ok);
        kv->cmin2 = zalloc((size_t)L * G * kv->nc2 * d, sizeof(float), &ok);
        kv->summ2 = zalloc(L, sizeof(int), &ok);
    }
    if (pol == KV_MPCACHE) {
        kv->csz1 = cfg->cluster_coarse;
        kv->nc1 = T / kv->csz1 + 1;
        kv->cmax1 = zalloc((size_t)L * G * kv->nc1 * d, sizeof(float), &ok);
        kv->cmin1 = zalloc((size_t)L * G * kv->nc1 * d, sizeof(float), &ok);
        kv->summ1 = zalloc(L, sizeof(int), &ok);
        kv->static_pos = zalloc((size_t)L * T, sizeof(int), &ok);
        kv->static_n = zalloc(L, sizeof(int), &ok);
    }
    if (!ok) {
        kv_free(&kv);
        *err = MPC_ENOMEM;
        fail(msg, msg_len, "out of memory for the KV cache (%d layers, %d positions)", L, T);
        return NULL;
    }
    for (int l = 0; l < L; l++) {
        kv->sel_at[l] = -1;
        kv->sel[l] = (kv_sel_t){
            .n_kv_heads = G,
            .seq_len = T,
            .count = kv->sel_count + (size_t)l * G,
            .slot = kv->sel_slot + (size_t)l * G * T,
            .pos = kv->sel_pos + (size_t)l * G * T,
        };
    }
    for (size_t i = 0; i < (size_t)T * L; i++)
        kv->log[i] = -1;
    kv->cap_pos = -1;
    return kv;
}

void kv_free(kv_t **kvp)
{
    if (!kvp || !*kvp) return;
    kv_t *kv = *kvp;
    size_t LGT = (size_t)kv->L * kv->G * kv->T, d = (size_t)kv->d;
    zfree(kv->k, LGT * d * sizeof(float));
    zfree(kv->v, LGT * d * sizeof(float));
    zfree(kv->ksum, kv->ksum ? LGT * d * sizeof(float) : 0);
    zfree(kv->vsum, kv->vsum ? LGT * d * sizeof(float) : 0);
    zfree(kv->wq, kv->wq ? (size_t)kv->L * kv->nwq * kv->H * d * sizeof(float) : 0);
    zfree(kv->cmax2, kv->cmax2 ? (size_t)kv->L * kv->G * kv->nc2 * d * sizeof(float) : 0);
    zfree(kv->cmin2, kv->cmin2 ? (size_t)kv->L * kv->G * kv->nc2 * d * sizeof(float) : 0);
    zfree(kv->cmax1, kv->cmax1 ? (size_t)kv->L * kv->G * kv->nc1 * d * sizeof(float) : 0);
    zfree(kv->cmin1, kv->cmin1 ? (size_t)kv->L * kv->G * kv->nc1 * d * sizeof(float) : 0);
    zfree(kv->s_q, d * sizeof(float));
    void *rest[] = {kv->pos,       kv->len,        kv->next_pos, kv->ended,    kv->sel_at,
                    kv->sel,       kv->sel_count,  kv->sel_slot, kv->sel_pos,  kv->sel_clu,
                    kv->sel_nclu,  kv->log,        kv->wqpos,    kv->score,    kv->hist,
                    kv->hist_rows, kv->hist_head,  kv->nmerged,  kv->tau,      kv->tau_set,
                    kv->pref,      kv->budgeted,   kv->cap,      kv->cap_prev, kv->summ2,
                    kv->summ1,     kv->static_pos, kv->static_n, kv->s_a,      kv->s_b,
                    kv->s_c,       kv->s_probs,    kv->s_i1,     kv->s_i2,     kv->s_i3};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        free(rest[i]);
    free(kv);
    *kvp = NULL;
}

const kv_config_t *kv_config(const kv_t *kv)
{
    return &kv->cfg;
}

/* --- reading --------------------------------------------------------------- */

const float *kv_key(const kv_t *kv, int layer, int g, int slot)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L && g >= 0 && g < kv->G && slot >= 0 &&
               slot < kv->len[layer]);
    return kv->k + kv_slot_ix(kv, layer, g, slot) * (size_t)kv->d;
}

const float *kv_value(const kv_t *kv, int layer, int g, int slot)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L && g >= 0 && g < kv->G && slot >= 0 &&
               slot < kv->len[layer]);
    return kv->v + kv_slot_ix(kv, layer, g, slot) * (size_t)kv->d;
}

int kv_slot_pos(const kv_t *kv, int layer, int g, int slot)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L && g >= 0 && g < kv->G && slot >= 0 &&
               slot < kv->len[layer]);
    return kv->pos[kv_slot_ix(kv, layer, g, slot)];
}

int kv_len(const kv_t *kv, int layer)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L);
    return kv->len[layer];
}

int kv_attended(const kv_t *kv, int pos, int layer)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L);
    if (pos < 0 || pos >= kv->T) return -1;
    return kv->log[(size_t)pos * kv->L + layer];
}

int kv_debug_selection(const kv_t *kv, int layer, int g, int *pos_out)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L && g >= 0 && g < kv->G);
    if (kv->sel_at[layer] < 0) return 0;
    int n = kv->sel_count[kv_lg(kv, layer, g)];
    memcpy(pos_out, kv->sel_pos + kv_slot_ix(kv, layer, g, 0), (size_t)n * sizeof *pos_out);
    return n;
}

int kv_debug_clusters(const kv_t *kv, int layer, int g, int *out)
{
    MPC_ASSERT(layer >= 0 && layer < kv->L && g >= 0 && g < kv->G);
    if (kv->cfg.policy != KV_MPCACHE || kv->sel_at[layer] < 0) return -1;
    int n = kv->sel_nclu[kv_lg(kv, layer, g)];
    if (n > 0) memcpy(out, kv->sel_clu + kv_slot_ix(kv, layer, g, 0), (size_t)n * sizeof *out);
    return n;
}

/* --- shared machinery ------------------------------------------------------ */

void kv_compact(kv_t *kv, int l, int g, const int *keep, int nkeep)
{
    size_t base = kv_slot_ix(kv, l, g, 0), d = (size_t)kv->d, hw = (size_t)kv->hw;
    for (int i = 0; i < nkeep; i++) {
        int s = keep[i];
        MPC_ASSERT(s >= i && s < kv->len[l] && (i == 0 || s > keep[i - 1]));
        if (s == i) continue;
        size_t to = base + (size_t)i, from = base + (size_t)s;
        memcpy(kv->k + to * d, kv->k + from * d, d * sizeof(float));
        memcpy(kv->v + to * d, kv->v + from * d, d * sizeof(float));
        kv->pos[to] = kv->pos[from];
        kv->score[to] = kv->score[from];
        if (kv->hist) memcpy(kv->hist + to * hw, kv->hist + from * hw, hw * sizeof(float));
        if (kv->ksum) {
            memcpy(kv->ksum + to * d, kv->ksum + from * d, d * sizeof(float));
            memcpy(kv->vsum + to * d, kv->vsum + from * d, d * sizeof(float));
            kv->nmerged[to] = kv->nmerged[from];
        }
    }
}

/* Summarises every cluster of layer l that is full and not yet summarised:
 * fine clusters (or Quest pages) and, for MPCache, coarse clusters. */
static void summarise(kv_t *kv, int l)
{
    int n = kv->len[l], d = kv->d;
    for (; (kv->summ2[l] + 1) * kv->csz2 <= n; kv->summ2[l]++) {
        int c = kv->summ2[l];
        for (int g = 0; g < kv->G; g++) {
            size_t o = (kv_lg(kv, l, g) * (size_t)kv->nc2 + (size_t)c) * (size_t)d;
            kv_minmax(kv->k + kv_slot_ix(kv, l, g, c * kv->csz2) * (size_t)d, kv->csz2, d, d,
                      kv->cmax2 + o, kv->cmin2 + o);
        }
    }
    if (!kv->summ1) return;
    for (; (kv->summ1[l] + 1) * kv->csz1 <= n; kv->summ1[l]++) {
        int c = kv->summ1[l];
        for (int g = 0; g < kv->G; g++) {
            size_t o = (kv_lg(kv, l, g) * (size_t)kv->nc1 + (size_t)c) * (size_t)d;
            kv_minmax(kv->k + kv_slot_ix(kv, l, g, c * kv->csz1) * (size_t)d, kv->csz1, d, d,
                      kv->cmax1 + o, kv->cmin1 + o);
        }
    }
}

void kv_append(kv_t *kv, int l, int pos, const float *q, const float *k, const float *v)
{
    MPC_ASSERT(l >= 0 && l < kv->L && pos == kv->next_pos[l] && kv->len[l] < kv->T);
    int P = kv->cfg.prompt_len, d = kv->d, s = kv->len[l];
    for (int g = 0; g < kv->G; g++) {
        size_t ix = kv_slot_ix(kv, l, g, s);
        memcpy(kv->k + ix * d, k + (size_t)g * d, (size_t)d * sizeof(float));
        memcpy(kv->v + ix * d, v + (size_t)g * d, (size_t)d * sizeof(float));
        kv->pos[ix] = pos;
        /* SnapKV ranks only prompt tokens; later ones are kept oldest-last */
        kv->score[ix] = kv->cfg.policy == KV_SNAPKV ? KV_PROTECT + pos : 0.0;
        if (kv->hist) memset(kv->hist + ix * kv->hw, 0, (size_t)kv->hw * sizeof(float));
        if (kv->ksum) {
            memcpy(kv->ksum + ix * d, k + (size_t)g * d, (size_t)d * sizeof(float));
            memcpy(kv->vsum + ix * d, v + (size_t)g * d, (size_t)d * sizeof(float));
            kv->nmerged[ix] = 0;
        }
    }
    if (kv->wq && pos >= P - kv->nwq && pos < P) {
        size_t row = (size_t)l * kv->nwq + (size_t)(pos - (P - kv->nwq));
        memcpy(kv->wq + row * kv->H * d, q, (size_t)kv->H * d * sizeof(float));
    }
    kv->len[l]++;
    kv->next_pos[l]++;
    /* MPCache clusters exist over the kept sequence, after static eviction;
     * Quest pages from the start (nothing is evicted). */
    if (kv->summ2 && (kv->cfg.policy == KV_QUEST || kv->ended[l])) summarise(kv, l);
}

/* --- selection -------------------------------------------------------------- */

static void select_all(kv_t *kv, int l)
{
    for (int g = 0; g < kv->G; g++) {
        int *slot = kv->sel_slot + kv_slot_ix(kv, l, g, 0);
        for (int i = 0; i < kv->len[l]; i++)
            slot[i] = i;
        kv->sel_count[kv_lg(kv, l, g)] = kv->len[l];
        kv->sel_nclu[kv_lg(kv, l, g)] = -1;
    }
}

/* Sum over the query heads of KV head g of the cluster score of cluster c. */
static double group_cluster_score(const kv_t *kv, const float *q, int g, const float *cmax,
                                  const float *cmin)
{
    double s = 0;
    for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++)
        s += kv_cluster_score(q + (size_t)h * kv->d, cmax, cmin, kv->d, kv->cfg.mpc_alpha);
    return s;
}

static void mpcache_select(kv_t *kv, int l, int pos, const float *q)
{
    int src = kv_share_source(l, kv->L);
    if (src != l) {
        /* cross-layer index sharing: the same kept positions (one static
         * set per pair) and the same length, so the same slots */
        MPC_ASSERT(kv->sel_at[src] == pos && kv->len[src] == kv->len[l]);
        size_t a = kv_slot_ix(kv, src, 0, 0), b = kv_slot_ix(kv, l, 0, 0);
        size_t n = (size_t)kv->G * kv->T;
        memcpy(kv->sel_slot + b, kv->sel_slot + a, n * sizeof(int));
        memcpy(kv->sel_clu + b, kv->sel_clu + a, n * sizeof(int));
        memcpy(kv->sel_count + kv_lg(kv, l, 0), kv->sel_count + kv_lg(kv, src, 0),
               (size_t)kv->G * sizeof(int));
        memcpy(kv->sel_nclu + kv_lg(kv, l, 0), kv->sel_nclu + kv_lg(kv, src, 0),
               (size_t)kv->G * sizeof(int));
        return;
    }
    int n = kv->len[l], A = kv->csz1, B = kv->csz2;
    kv_plan_t p = kv_mpcache_plan(n, kv->cfg.budget / kv->cfg.static_keep, A, B);
    if (p.k2 == p.g2) {
        select_all(kv, l);
        return;
    }
    MPC_ASSERT(kv->summ2[l] >= p.g2 - 1 && kv->summ1[l] >= p.g1 - 1);
    int per = A / B, d = kv->d;
    for (int g = 0; g < kv->G; g++) {
        size_t lg = kv_lg(kv, l, g);
        /* level 1: coarse clusters; the sink and the newest always survive */
        double *s1 = kv->s_a, *alive = kv->s_b, *s2 = kv->s_c;
        for (int c = 0; c < p.g1; c++) {
            size_t o = (lg * (size_t)kv->nc1 + (size_t)c) * (size_t)d;
            s1[c] = (c == 0 || c == p.g1 - 1)
                        ? INFINITY
                        : group_cluster_score(kv, q, g, kv->cmax1 + o, kv->cmin1 + o);
            alive[c] = 0;
        }
        kv_topk(s1, p.g1, p.k1, kv->s_i2, kv->s_i1);
        for (int i = 0; i < p.k1; i++)
            alive[kv->s_i2[i]] = 1;
        /* level 2: only the survivors' children are scored */
        for (int f = 0; f < p.g2; f++) {
            size_t o = (lg * (size_t)kv->nc2 + (size_t)f) * (size_t)d;
            if (f == 0 || f == p.g2 - 1)
                s2[f] = INFINITY;
            else if (alive[f / per] != 0)
                s2[f] = group_cluster_score(kv, q, g, kv->cmax2 + o, kv->cmin2 + o);
            else
                s2[f] = -INFINITY;
        }
        int *clu = kv->sel_clu + kv_slot_ix(kv, l, g, 0);
        kv_topk(s2, p.g2, p.k2, clu, kv->s_i1);
        kv->sel_nclu[lg] = p.k2;
        int *slot = kv->sel_slot + kv_slot_ix(kv, l, g, 0), m = 0;
        for (int i = 0; i < p.k2; i++)
            for (int s = clu[i] * B; s < (clu[i] + 1) * B && s < n; s++)
                slot[m++] = s;
        MPC_ASSERT(m == p.count);
        kv->sel_count[lg] = m;
    }
}

/* Quest: the newest page, then whole pages by their upper bound, and the
 * next-ranked page cut to its most recent tokens to fill the budget
 * exactly (Quest itself rounds the budget to whole pages). */
static void quest_select(kv_t *kv, int l, int pos, const float *q)
{
    int budget = kv_layer_budget(kv, l, pos), n = kv->len[l];
    if (budget < 0 || budget >= n) {
        select_all(kv, l);
        return;
    }
    int page = kv->csz2, np = (n + page - 1) / page, d = kv->d;
    for (int g = 0; g < kv->G; g++) {
        size_t lg = kv_lg(kv, l, g);
        double *take = kv->s_a, *ps = kv->s_b;
        for (int s = 0; s < n; s++)
            take[s] = 0;
        int left = budget;
        for (int s = n - 1; s >= (np - 1) * page && left > 0; s--, left--)
            take[s] = 1;
        for (int c = 0; c < np - 1; c++) {
            size_t o = (lg * (size_t)kv->nc2 + (size_t)c) * (size_t)d;
            ps[c] = 0;
            for (int h = g * kv->kv_mul; h < (g + 1) * kv->kv_mul; h++)
                ps[c] += kv_page_score(q + (size_t)h * d, kv->cmax2 + o, kv->cmin2 + o, d);
        }
        kv_argsort_desc(ps, np - 1, kv->s_i2, kv->s_i1);
        for (int r = 0; r < np - 1 && left > 0; r++) {
            int c = kv->s_i2[r];
            for (int s = (c + 1) * page - 1; s >= c * page && left > 0; s--, left--)
                take[s] = 1;
        }
        int *slot = kv->sel_slot + kv_slot_ix(kv, l, g, 0), m = 0;
        for (int s = 0; s < n; s++)
            if (take[s] != 0) slot[m++] = s;
        kv->sel_count[lg] = m;
        kv->sel_nclu[lg] = -1;
    }
}

const kv_sel_t *kv_select(kv_t *kv, int l, const float *q)
{
    MPC_ASSERT(l >= 0 && l < kv->L && kv->next_pos[l] > 0);
    int pos = kv->next_pos[l] - 1, P = kv->cfg.prompt_len;
    MPC_ASSERT(pos < P || kv->ended[l]);
    if (pos < P)
        select_all(kv, l);
    else if (kv->cfg.policy == KV_MPCACHE)
        mpcache_select(kv, l, pos, q);
    else if (kv->cfg.policy == KV_QUEST)
        quest_select(kv, l, pos, q);
    else {
        select_all(kv, l);
        /* the eviction policies hold exactly their budget at decode */
        int b = pos < P ? -1 : kv_layer_budget(kv, l, pos);
        MPC_ASSERT(b < 0 || kv->len[l] <= b);
    }
    int total = 0;
    for (int g = 0; g < kv->G; g++) {
        size_t base = kv_slot_ix(kv, l, g, 0);
        int c = kv->sel_count[kv_lg(kv, l, g)];
        for (int i = 0; i < c; i++)
            kv->sel_pos[base + i] = kv->pos[base + kv->sel_slot[base + i]];
        total += c;
    }
    kv->log[(size_t)pos * kv->L + l] = total;
    kv->sel_at[l] = pos;
    return &kv->sel[l];
}

void kv_observe(kv_t *kv, int l, const float *probs, int stride)
{
    MPC_ASSERT(l >= 0 && l < kv->L && kv->sel_at[l] == kv->next_pos[l] - 1);
    MPC_ASSERT(stride >= kv->len[l]);
    kv_evict_observe(kv, l, probs, stride);
}

/* --- MPCache static eviction --------------------------------------------- */

void kv_mpcache_static(kv_t *kv, int l)
{
    const kv_config_t *c = &kv->cfg;
    int P = c->prompt_len, n = kv->len[l], src = kv_share_source(l, kv->L);
    MPC_ASSERT(n == P);
    int *keep = kv->static_pos + (size_t)l * kv->T;
    if (src != l) {
        /* the pair's one set, so that a shared selection points at the same
         * tokens in both layers */
        MPC_ASSERT(kv->ended[src]);
        kv->static_n[l] = kv->static_n[src];
        memcpy(keep, kv->static_pos + (size_t)src * kv->T, (size_t)kv->static_n[l] * sizeof(int));
    } else {
        int bs = kv_static_keep(c), nw = kv_static_window(c), off = kv->nwq - nw;
        if (bs >= P) {
            for (int i = 0; i < P; i++)
                keep[i] = i;
            kv->static_n[l] = P;
        } else {
            /* score_j = sum over the window's queries of the attention on
             * key j, averaged over all query heads of the layer */
            double *score = kv->s_a;
            for (int j = 0; j < n; j++)
                score[j] = 0;
            for (int h = 0; h < kv->H; h++) {
                int g = h / kv->kv_mul;
                const float *qh =
                    kv->wq + (((size_t)l * kv->nwq + (size_t)off) * kv->H + (size_t)h) * kv->d;
                kv_window_attention(qh, kv->H * kv->d, kv->wqpos + off, nw,
                                    kv->k + kv_slot_ix(kv, l, g, 0) * (size_t)kv->d, kv->d,
                                    kv->pos + kv_slot_ix(kv, l, g, 0), n, kv->d, kv->s_probs);
                for (int i = 0; i < nw; i++)
                    for (int j = 0; j < n; j++)
                        score[j] += kv->s_probs[(size_t)i * n + j] / kv->H;
            }
            for (int j = 0; j < n; j++)
                if (j < c->sinks || j >= P - nw) score[j] = INFINITY;
            kv_topk(score, n, bs, keep, kv->s_i1);
            kv->static_n[l] = bs;
        }
    }
    for (int g = 0; g < kv->G; g++)
        kv_compact(kv, l, g, keep, kv->static_n[l]);
    kv->len[l] = kv->static_n[l];
    kv->summ2[l] = kv->summ1[l] = 0;
    summarise(kv, l);
}

void kv_prefill_end(kv_t *kv, int l)
{
    MPC_ASSERT(l >= 0 && l < kv->L && !kv->ended[l]);
    MPC_ASSERT(kv->next_pos[l] == kv->cfg.prompt_len);
    MPC_ASSERT(l == 0 || kv->ended[l - 1]);
    switch (kv->cfg.policy) {
    case KV_FULL:
    case KV_QUEST:
        break;
    case KV_MPCACHE:
        kv_mpcache_static(kv, l);
        break;
    default:
        kv_evict_prefill_end(kv, l);
        break;
    }
    kv->ended[l] = 1;
}

void kv_layer_budgets(const kv_t *kv, int pos, int *out)
{
    for (int l = 0; l < kv->L; l++)
        out[l] = kv_layer_budget(kv, l, pos);
}
