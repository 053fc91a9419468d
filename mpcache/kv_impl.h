/* mpcache/kv_impl.h - the private state of kv_t, shared by kv.c (lifetime,
 * the per-token calls, selection) and kv_evict.c (the eviction policies).
 * No other folder includes it.
 *
 * Shapes use L layers, H query heads, G KV heads, d = head_size and
 * T = seq_len slots. Rows of a (layer, KV head) are compacted in place on
 * eviction, so slot order is position order.
 */
#ifndef MPCACHE_KV_IMPL_H
#define MPCACHE_KV_IMPL_H

#include "mpcache/kv.h"

/* A score above every real score: protected tokens get KV_PROTECT + their
 * position, so that among protected tokens the oldest goes first. Real
 * scores are attention sums, at most seq_len. */
#define KV_PROTECT 1e15

struct kv {
    kv_config_t cfg;
    int L, H, G, d, T, kv_mul;
    float *k, *v;  /* (L, G, T, d) */
    int *pos;      /* (L, G, T) original position of each slot */
    int *len;      /* (L) slots held (same for every KV head) */
    int *next_pos; /* (L) the position kv_append expects next */
    int *ended;    /* (L) kv_prefill_end done */
    int *sel_at;   /* (L) position of the layer's last selection, or -1 */

    /* selection output */
    kv_sel_t *sel;  /* (L) */
    int *sel_count; /* (L, G) */
    int *sel_slot;  /* (L, G, T) */
    int *sel_pos;   /* (L, G, T) */
    int *sel_clu;   /* (L, G, T) MPCache: chosen fine clusters */
    int *sel_nclu;  /* (L, G) their number, -1 when not clustered */
    int *log;       /* (T, L) attended tokens, summed over KV heads */

    /* the prompt's last queries, for the look-once decisions */
    int nwq;    /* window queries kept: positions P - nwq .. P - 1 */
    float *wq;  /* (L, nwq, H, d) */
    int *wqpos; /* (nwq) */

    double *score; /* (L, G, T) H2O/D2O column sums, SnapKV/CAKE/TOVA scores */

    /* CAKE: the last `window` queries' attention per slot, a ring */
    int hw;         /* window rows */
    float *hist;    /* (L, G, T, hw) */
    int *hist_rows; /* (L) rows filled */
    int *hist_head; /* (L) next row to overwrite */

    /* D2O merging */
    float *ksum, *vsum; /* (L, G, T, d) k_c + sum m_e k_e */
    int *nmerged;       /* (L, G, T) n_c */
    double *tau;        /* (L, G) EMA threshold */
    int *tau_set;       /* (L, G) */

    /* per-layer budgets (CAKE, D2O) */
    double *pref;  /* (L) preference / layer weight */
    int *budgeted; /* (L) 1 when the layer is compressed */
    int *cap;      /* (L) per-layer budget at cap_pos */
    int *cap_prev; /* (L) per-layer budget at cap_pos - 1 */
    int cap_pos;   /* -1 before the schedule exists */

    /* cluster summaries: MPCache fine (B) and coarse (A); Quest pages use
     * the fine arrays with the page size */
    int csz2, csz1;       /* cluster sizes */
    int nc2, nc1;         /* clusters per (layer, KV head) */
    float *cmax2, *cmin2; /* (L, G, nc2, d) */
    float *cmax1, *cmin1; /* (L, G, nc1, d) */
    int *summ2, *summ1;   /* (L) full clusters summarised so far */

    /* MPCache static sets, per layer, for the shared layer pairs */
    int *static_pos; /* (L, T) kept positions */
    int *static_n;   /* (L) */

    /* scratch, sized for T */
    double *s_a, *s_b, *s_c; /* T each */
    double *s_probs;         /* (3, nwq, T) */
    int *s_i1, *s_i2, *s_i3; /* 2T each */
    float *s_q;              /* d */
};

/* Index helpers. */
static inline size_t kv_lg(const kv_t *kv, int l, int g)
{
    return (size_t)l * (size_t)kv->G + (size_t)g;
}
static inline size_t kv_slot_ix(const kv_t *kv, int l, int g, int s)
{
    return kv_lg(kv, l, g) * (size_t)kv->T + (size_t)s;
}

/* Stable argsort of score[0..n) by decreasing score (ties: lower index
 * first) into idx; scratch holds n ints. */
void kv_argsort_desc(const double *score, int n, int *idx, int *scratch);

/* Keeps the slots keep[0..nkeep) (increasing) of (l, g), moving every
 * per-slot array with them. The caller sets kv->len afterwards. */
void kv_compact(kv_t *kv, int l, int g, const int *keep, int nkeep);

/* The budget (per KV head) of layer l at position pos: -1 when the layer
 * attends everything. */
int kv_layer_budget(const kv_t *kv, int l, int pos);

/* Eviction hooks, in kv_evict.c. */
void kv_evict_prefill_end(kv_t *kv, int l);
void kv_evict_observe(kv_t *kv, int l, const float *probs, int stride);

/* MPCache static eviction at prefill end, in kv.c. */
void kv_mpcache_static(kv_t *kv, int l);

#endif
