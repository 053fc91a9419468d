/* mpcache/kv.h - the KV cache and its pruning policies, in plaintext.
 *
 * One interface for every engine. A kv_t owns the cache rows of every layer:
 * K and V per layer, per KV head, per slot, and each slot's original
 * position. It owns them because policies rewrite them: D2O merges rows,
 * Quest keeps page min/max keys, MPCache keeps cluster min/max keys and
 * compacts the cache after static eviction. Slots of a (layer, KV head) are
 * always kept in increasing position order, and all KV heads of a layer hold
 * the same number of slots.
 *
 * An engine that processes one token at a time, as llama2.c's forward()
 * does, calls, at position pos and for each layer l in order:
 *
 *     kv_append(kv, l, pos, q, k, v);        // q, k after RoPE
 *     const kv_sel_t *sel = kv_select(kv, l, q);
 *     for (int h = 0; h < n_heads; h++) {
 *         int g = h / (n_heads / n_kv_heads);
 *         float *att = s->att + h * seq_len; // (n_heads, seq_len)
 *         for (int i = 0; i < sel->count[g]; i++)
 *             att[i] = dot(q + h * head_size,
 *                          kv_key(kv, l, g, sel->slot[g * seq_len + i]),
 *                          head_size) / sqrtf(head_size);
 *         softmax(att, sel->count[g]);
 *         // xb += att[i] * kv_value(kv, l, g, sel->slot[g * seq_len + i])
 *     }
 *     kv_observe(kv, l, s->att);             // every position, prefill too
 *     if (pos == prompt_len - 1)
 *         kv_prefill_end(kv, l);             // after the last prompt token
 *
 * During the prompt (pos < prompt_len) every policy attends all tokens
 * appended so far (causal, full). kv_prefill_end makes the look-once
 * decisions of the layer (SnapKV, CAKE, D2O, TOVA, H2O and MPCache's static
 * eviction); from pos = prompt_len on, kv_select applies the policy's
 * budget. kv_observe must come after kv_select and before the next
 * kv_append of the same layer.
 *
 * The budget. Every budgeted policy attends, at each decode step, exactly
 * kv_budget_tokens(cfg, pos) tokens per KV head: MPCache's count for that
 * step (kv_mpcache_plan), which includes the sink cluster and the newest
 * partial cluster. The count grows by at most one per step, so eviction
 * policies evict after attention down to kv_budget_tokens(pos + 1) - 1 and
 * never need an evicted token back. Policies whose defining rule varies the
 * budget per layer (CAKE, D2O) make the sum over their budgeted layers equal
 * to (number of budgeted layers) * count. Layers that a policy's own rule
 * leaves uncompressed (Quest's layers 0 and 1, D2O's layers 0, 1 and L-1)
 * attend everything and are not budgeted. kv_attended reports what was
 * attended, per position and layer, summed over KV heads.
 *
 * The scoring maths is also exposed as pure functions (kv_topk,
 * kv_cluster_score, kv_page_score, kv_static_scores, kv_mpcache_plan, ...)
 * so that the fixed-point and secure engines can reuse the same decisions
 * and be compared against kv_debug_selection. Ties break toward the lower
 * index everywhere, as in DESIGN.md §4.
 *
 * Memory: everything is allocated by kv_new for cfg.seq_len positions;
 * nothing is allocated per token. Misuse (positions out of order, a layer
 * out of range, select before append) is a programmer bug and aborts through
 * MPC_ASSERT. Only kv_new and the config helpers return errors.
 */
#ifndef MPCACHE_KV_H
#define MPCACHE_KV_H

#include <stddef.h>

#include "mpc/err.h"

typedef enum kv_policy {
    KV_FULL = 0,  /* keep and attend everything */
    KV_STREAMING, /* StreamingLLM: sinks + recent window */
    KV_H2O,       /* heavy hitters + recent, real drop, one eviction per step */
    KV_SNAPKV,    /* look-once: pooled window attention at prefill */
    KV_TOVA,      /* evict by the last query's attention, mean over heads */
    KV_CAKE,      /* cascading layer budgets from preference scores */
    KV_D2O,       /* layer budgets from variance, merge evicted tokens */
    KV_QUEST,     /* page min/max upper bounds; nothing evicted */
    KV_MPCACHE,   /* static look-once eviction + clustered dynamic selection */
    KV_POLICY_COUNT
} kv_policy_t;

typedef struct kv_config {
    kv_policy_t policy;
    /* Model dims. n_heads must be a multiple of n_kv_heads. */
    int n_layers, n_heads, n_kv_heads, head_size;
    int seq_len;    /* positions the cache must hold (prompt + decode) */
    int prompt_len; /* P, 1..seq_len: the prompt's token count (public) */

    double budget;      /* R, 0 < R <= 1: fraction of the cache attended */
    double static_keep; /* S, 0 < S <= 1: fraction static eviction keeps */
    int cluster_coarse; /* A, level-1 cluster size (32); a multiple of B */
    int cluster_fine;   /* B, level-2 cluster size (16) */
    int sinks;          /* attention sinks kept by streaming/MPCache/D2O (4) */
    /* 0: the budget is MPCache's count (the default, equal across
     * policies). > 0: a fixed count of tokens per KV head, for the native
     * behaviour of the eviction baselines (H2O then evicts exactly one
     * token per step). MPCache ignores it. */
    int fixed_budget;

    double h2o_heavy, h2o_recent; /* 0.1, 0.1: split of the budget */
    int window;                   /* SnapKV / CAKE observation window (32) */
    int pool;                     /* SnapKV / CAKE average pooling size (5) */
    double cake_tau1, cake_tau2;  /* 1, 1 */
    double cake_gamma;            /* 200 */
    double d2o_ema;               /* weight of the old threshold (0.5) */
    int quest_page;               /* 16 */
    int quest_full_layers;        /* layers attending everything (2) */
    double mpc_alpha;             /* 0.6: weight of r+ in the cluster score */
    double mpc_window_frac;       /* 0.2: static window, fraction of P */
    int mpc_window_min;           /* 8 */
} kv_config_t;

typedef struct kv kv_t;

/* What to attend at this step in one layer, owned by the kv_t and valid
 * until the next kv_select of the same layer. For KV head g, the slots are
 * slot[g * seq_len + i] and their original positions pos[g * seq_len + i],
 * for i < count[g], in increasing position order. */
typedef struct kv_sel {
    int n_kv_heads, seq_len;
    const int *count; /* (n_kv_heads) */
    const int *slot;  /* (n_kv_heads, seq_len) */
    const int *pos;   /* (n_kv_heads, seq_len) */
} kv_sel_t;

/* --- configuration -------------------------------------------------------- */

/* Fills cfg with DESIGN.md's defaults: policy full, R 0.25, S 0.5,
 * clusters 32,16, 4 sinks, and each policy's knobs. Model dims and
 * prompt_len are zeroed; the caller sets them. */
void kv_config_default(kv_config_t *cfg);

/* The policy called name ("full", "streaming", "h2o", "snapkv", "tova",
 * "cake", "d2o", "quest", "mpcache") in *out. MPC_EARG for any other name,
 * with a message listing the valid ones in msg (which may be NULL). */
mpc_err_t kv_policy_parse(const char *name, kv_policy_t *out, char *msg, size_t msg_len) MPC_WUR;

/* The policy's name, static, never NULL. */
const char *kv_policy_name(kv_policy_t policy);

/* MPC_OK if cfg is usable, else MPC_EARG with a one-line reason in msg (may
 * be NULL): R outside (0, 1], S outside (0, 1], R > S for mpcache, cluster
 * sizes that are not positive or where A is not a multiple of B, bad dims,
 * prompt_len outside 1..seq_len, bad knobs. Front ends call it to exit 2. */
mpc_err_t kv_config_check(const kv_config_t *cfg, char *msg, size_t msg_len) MPC_WUR;

/* --- lifetime -------------------------------------------------------------- */

/* A cache for cfg (copied), with every buffer for cfg->seq_len positions.
 * On error returns NULL, sets *err to MPC_EARG (bad config, reason in msg)
 * or MPC_ENOMEM, and allocates nothing. msg may be NULL. */
kv_t *kv_new(const kv_config_t *cfg, mpc_err_t *err, char *msg, size_t msg_len) MPC_WUR;

/* Zeroes and frees the cache and nulls *kv; NULL and *kv == NULL are fine. */
void kv_free(kv_t **kv);

/* The configuration kv was made with (owned by kv). */
const kv_config_t *kv_config(const kv_t *kv);

/* --- the per-token calls, in order --------------------------------------- */

/* Appends token pos to layer's cache. q is (n_heads, head_size), k and v are
 * (n_kv_heads, head_size), all after RoPE; they are copied. q is kept only
 * for the prompt's last window (the static decisions). pos must be the
 * layer's next position (0, 1, 2, ...). */
void kv_append(kv_t *kv, int layer, int pos, const float *q, const float *k, const float *v);

/* The slots to attend in layer at the current position, per KV head, given
 * the current queries q (n_heads, head_size). During the prompt it is every
 * slot. The count is logged (kv_attended). MPCache layers that share a
 * selection (kv_share_source) return the source layer's selection of this
 * step, so the source layer must have been selected first. */
const kv_sel_t *kv_select(kv_t *kv, int layer, const float *q);

/* Reports the attention probabilities of this step: probs is
 * (n_heads, stride) and row h holds, at i < count[g], the probability of
 * query head h on the i-th selected slot of its KV head g (llama2.c's
 * s->att with stride seq_len). H2O, D2O, CAKE and TOVA update their scores
 * and, at decode steps, evict down to the next step's budget. */
void kv_observe(kv_t *kv, int layer, const float *probs, int stride);

/* The look-once decisions of layer, after its last prompt token has been
 * appended (and observed, for H2O/D2O, which use column sums of every
 * prompt query). Call once per layer, in increasing layer order. Layer
 * budgets that depend on all layers (CAKE's cascade, D2O) evict the
 * earlier layers again as later layers end. A no-op for full and Quest. */
void kv_prefill_end(kv_t *kv, int layer);

/* --- reading the cache ------------------------------------------------------ */

/* The key / value row (head_size floats) of slot in (layer, KV head g),
 * owned by kv and valid until the next append/observe/prefill_end. */
const float *kv_key(const kv_t *kv, int layer, int g, int slot);
const float *kv_value(const kv_t *kv, int layer, int g, int slot);
/* The original position of the token in slot. */
int kv_slot_pos(const kv_t *kv, int layer, int g, int slot);
/* Number of slots the layer holds now (the same for every KV head). */
int kv_len(const kv_t *kv, int layer);

/* The tokens attended at position pos in layer, summed over KV heads, or -1
 * if that layer has not been selected at pos yet. For the JSON
 * attended_tokens array, read it for pos >= prompt_len. */
int kv_attended(const kv_t *kv, int pos, int layer);

/* The last selection of (layer, KV head g): writes count positions to
 * pos_out (at least seq_len ints) and returns the count. For comparing a
 * secure selection with the plaintext one. */
int kv_debug_selection(const kv_t *kv, int layer, int g, int *pos_out);

/* MPCache only: the fine clusters chosen by the last selection of (layer,
 * KV head g), in increasing order, written to out (at least seq_len ints);
 * returns their number, or -1 for other policies and for steps that
 * attended everything without clustering. */
int kv_debug_clusters(const kv_t *kv, int layer, int g, int *out);

/* The layers' token budgets (per KV head) at position pos: out has
 * n_layers ints, -1 marking a layer that attends everything (full, Quest's
 * first layers, D2O's uncompressed layers). Most policies use the common
 * count for every layer. CAKE and D2O schedule them step by step after the
 * prompt, so for them a decode pos must be the current step or the next
 * (the one the last kv_observe evicted for); others abort. */
void kv_layer_budgets(const kv_t *kv, int pos, int *out);

/* --- pure functions: the maths, for every engine ----------------------- */

/* MPCache's plan for a kept cache of T tokens: cluster counts G1 (size A)
 * and G2 (size B), the survivors K1 of level 1 and the chosen fine
 * clusters K2 (sink and newest included), and the exact token count.
 * ratio is R/S. When K2 == G2 every token is attended and count == T. */
typedef struct kv_plan {
    int g1, g2, k1, k2, count;
} kv_plan_t;
kv_plan_t kv_mpcache_plan(int T, double ratio, int A, int B);

/* B_s = max(ceil(S * P), sinks + window), capped at P, with window =
 * max(mpc_window_min, ceil(mpc_window_frac * P)) capped at P. */
int kv_static_keep(const kv_config_t *cfg);
/* The static window (queries at the end of the prompt). */
int kv_static_window(const kv_config_t *cfg);

/* The tokens each budgeted KV head attends at position pos: pos + 1 during
 * the prompt; at decode, MPCache's count for its kept length
 * B_s + (pos - P + 1), using S' = max(S, R) for non-MPCache policies (so R = 1
 * means everything); or min(fixed_budget, pos + 1) when that is set. */
int kv_budget_tokens(const kv_config_t *cfg, int pos);

/* ceil(x) with a 1e-9 slack, so that 0.1 * 30 is 3, not 4. */
int kv_ceil(double x);

/* The k largest of score[0..n) by index, ties toward the lower index,
 * written to out in increasing index order. scratch holds 2n ints. */
void kv_topk(const double *score, int n, int k, int *out, int *scratch);

/* MPCache's cluster score for one query head: q . (alpha r+ + (1-alpha) r-). */
double kv_cluster_score(const float *q, const float *rmax, const float *rmin, int d, double alpha);

/* Quest's page bound for one query head: sum_d max(q_d M_d, q_d m_d); no
 * key k with m <= k <= M (element-wise) has q . k above it. */
double kv_page_score(const float *q, const float *kmax, const float *kmin, int d);

/* Element-wise max and min of n rows (stride floats apart) of d floats. */
void kv_minmax(const float *rows, int n, int stride, int d, float *rmax, float *rmin);

/* Causal window attention: probs (nw, n_keys) of the nw queries at
 * positions qpos[i] (keys at kpos[j] > qpos[i] get 0), softmax of
 * q . k / sqrt(d). q rows are d floats apart by q_stride, keys by k_stride. */
void kv_window_attention(const float *q, int q_stride, const int *qpos, int nw, const float *k,
                         int k_stride, const int *kpos, int n_keys, int d, double *probs);

/* Average pooling of x[0..n) with window size (odd), zero padding counted,
 * as torch's avg_pool1d(padding=size/2) does. out must not alias x. */
void kv_avg_pool(const double *x, int n, int size, double *out);

/* Integer shares out[i] of total, close to total * w[i] / sum(w), with
 * lo[i] <= out[i] <= hi[i] and sum(out) == total (largest remainder, ties to
 * the lower index, water-filling the bounds). Requires sum(lo) <= total <=
 * sum(hi); w[i] >= 0. */
void kv_alloc_shares(const double *w, const int *lo, const int *hi, int n, int total, int *out);

/* The layer whose MPCache selection layer reuses: layer itself for 0, 1,
 * L-2, L-1 and for even layers; l - 1 for odd l in 3..L-3. */
int kv_share_source(int layer, int n_layers);

#endif
