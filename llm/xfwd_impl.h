/* llm/xfwd_impl.h - the engine's state and its nonlinear steps, private to
 * llm/xfwd*.c. */
#ifndef LLM_XFWD_IMPL_H
#define LLM_XFWD_IMPL_H

#include "llm/xfwd.h"
#include "mpc/arena.h"
#include "mpcache/kv.h"
#include "protocols/matmul.h"

struct xfwd {
    model_config_t cfg;
    const model_t *m; /* P0 and plain */
    mpc_ctx_t *ctx;   /* NULL for plain */
    int role, f;
    int hs, kv_dim, kv_mul;
    uint8_t round_seed[PRG_SEED_BYTES]; /* plain: the rounding stream */
    arena_t own_arena;                  /* plain: scratch */
    arena_t *ar;                        /* ctx->arena, or own_arena */
    matmul_weight_t emb;                /* (dim, vocab): the embedding, transposed */
    matmul_weight_t cls;                /* (vocab, dim) */
    matmul_weight_t *w;                 /* (n_layers, 7): q k v o 1 2 3 */
    matmul_weight_t *rms;               /* (2 n_layers + 1) norms (1 x dim): att, ffn, final */
    matmul_fixed_t *kc, *vc;            /* (n_layers, n_kv_heads): the KV cache */
    uint64_t *rope_c, *rope_s;          /* (seq_len, head_size / 2) at scale f */
    uint64_t *logits;                   /* (vocab) */
    int *attended;                      /* (n_layers) */
    char err[CHAN_ERR_BYTES];           /* plain: the last error */
    xfwd_opts_t opts;
    int policy;                         /* KV_FULL, KV_STREAMING, KV_MPCACHE; plain: any */
    kv_config_t kv;                     /* the budget's configuration */
    uint64_t part_bytes[XPART_COUNT], part_rounds[XPART_COUNT];
    int part;                           /* the open part */
    uint64_t part_b0, part_r0;          /* counters when it opened */
    /* MPCache (llm/xfwd_mpcache.c), per (layer, KV head): the cluster
     * summaries alpha r+ + (1 - alpha) r- at scale f as fixed operands,
     * fine (sum2) and coarse (sum1), and the fine clusters' r+ and r-
     * shares (rmm2: cap2 x 2 x hs), kept to build the coarse ones. */
    matmul_fixed_t *sum1, *sum2;
    uint64_t *rmm2;
    size_t cap1, cap2;
    int *summ1, *summ2;    /* (n_layers) clusters summarised so far */
    /* Per layer, the selection of the current forward call (arena memory),
     * which the second layer of a shared pair reuses: the static compaction
     * M (k x n) at the prefill, the dynamic S2 (G x k2 x g2) at a decode. */
    uint64_t **mp_static, **mp_dyn;
    size_t *mp_words;      /* (2 n_layers) their capacities, in words */
    matmul_fixed_t *mp_dynop; /* (n_layers, G) S2 opened once as a fixed operand */
    uint64_t *h2o_acc;        /* H2O: (n_layers, G, seq_len) accumulated sums */
    int *mp_ended;         /* (n_layers) static eviction done */
    uint64_t *mp_debug;    /* (n_layers, G, cap2) the last S2's column sums: tests */
    int *mp_debug_n;       /* (n_layers) their count, -1 when everything was attended */
    /* The plaintext policies on the plain engine (llm/xfwd_kvplain.c): for
     * snapkv, tova, cake, d2o and quest, the policy library's cache,
     * fed with this engine's own values decoded to float, makes every
     * decision; NULL otherwise (and always in the secure roles). */
    kv_t *kvp;
};

/* Truncation sites' op field: TRUNC_SITE(layer, op, pos0), ops 16 apart
 * (protocols with inner truncations take the following op numbers). */
enum {
    OP_RMS_ATT = 0,
    OP_QKV = 16,
    OP_SOFTMAX = 32,
    OP_PV = 48,
    OP_WO = 64,
    OP_RMS_FFN = 80,
    OP_W13 = 96,
    OP_SILU = 112,
    OP_H = 128,
    OP_W2 = 144,
    OP_RMS_FINAL = 160,
    OP_CLS = 176,
    OP_ARGMAX = 192,
    OP_SUMMARY = 208, /* MPCache: the cluster summaries' truncation */
};
/* Zeroed arena memory for n elements of *p, or: e = MPC_ENOMEM with the
 * reason, and goto out (the functions here end in an `out:` that resets
 * the arena). */
#define XFWD_ALLOC(p, n, where)                                                      \
    do {                                                                             \
        (p) = arena_zalloc(x->ar, (size_t)(n) * sizeof *(p) + 1);                     \
        if (!(p)) {                                                                  \
            e = xfwd_fail(x, MPC_ENOMEM, "out of memory in " where);                 \
            goto out;                                                                \
        }                                                                            \
    } while (0)

/* The linear steps, dispatched by role (llm/xfwd_ops.c). */
mpc_err_t x_matmul(xfwd_t *x, uint64_t *const *y, const uint64_t *in,
                   matmul_weight_t *const *ws, int nw, size_t m, int f, uint64_t site);
mpc_err_t x_trunc(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t n, int f, uint64_t site);
mpc_err_t x_mul(xfwd_t *x, uint64_t *z, const uint64_t *a, const uint64_t *b, size_t n);
mpc_err_t x_append(xfwd_t *x, matmul_fixed_t *const *ys, const uint64_t *const *fresh,
                   const size_t *rows, int count);
mpc_err_t x_fixed_mul(xfwd_t *x, const matmul_fixed_job_t *jobs, int count);
/* Z_b = X_b Y_b for batch products (m x k)(k x n) of fresh shares, exact
 * (0/1 selections times values: gather and scatter). */
mpc_err_t x_bmat(xfwd_t *x, uint64_t *Z, const uint64_t *X, const uint64_t *Y, size_t batch,
                 size_t m, size_t k, size_t n);
/* The selection matrices (rows x k x n) of each row's top k (protocols/topk.h). */
mpc_err_t x_topk(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n, size_t k,
                 int nbits);
/* One-hots (count x width) of indices in [0, n) (protocols/eq.h). */
mpc_err_t x_onehot(xfwd_t *x, uint64_t *out, const uint64_t *idx, size_t count, size_t n,
                   size_t width);
/* One-hots (rows x n) of each row's maximum, ties to the lower index
 * (protocols/argmax.h). */
mpc_err_t x_argmax(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n,
                   int nbits);
/* The maximum of each row of n (protocols/select.h). */
mpc_err_t x_max(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n, int nbits);
/* This party's share of a public constant: c for P0 and the plain engine,
 * 0 for P1 and the dealer. */
uint64_t x_public(const xfwd_t *x, uint64_t c);
/* This party's share of element i of a fixed operand (Y = F + B, F added by
 * P0), or the plain value. */
uint64_t x_fixed_share(const xfwd_t *x, const matmul_fixed_t *y, size_t i);
/* An empty fixed operand of cap rows (the plain engine keeps values in f). */
mpc_err_t x_fixed_reserve(xfwd_t *x, matmul_fixed_t *y, size_t cap, size_t cols);
/* A view of rows [start, start + rows) of a fixed operand: the same masks
 * and openings, so products over it cost only the view's rows. */
matmul_fixed_t xfwd_fixed_view(const matmul_fixed_t *y, size_t start, size_t rows);
/* Records the reason (plain) or fails the context; returns e. */
mpc_err_t xfwd_fail(xfwd_t *x, mpc_err_t e, const char *what);
/* Charges what the link carried since the last switch to the open part. */
void xfwd_part_switch(xfwd_t *x, int part);

/* The attention of layer l for rows pos0 .. pos0 + N - 1 (llm/xfwd_attn.c):
 * appends the new K/V rows kn, vn (G, N, hs) at scale f, attends with the
 * policy over qh (H, N, hs) and leaves p V in pv (H, N, hs) at scale f. */
mpc_err_t xfwd_attend(xfwd_t *x, int l, const uint64_t *qh, uint64_t *kn, const uint64_t *vn,
                      size_t N, int pos0, uint64_t *pv);
/* MPCache (llm/xfwd_mpcache.c): state for kv (after xfwd_set_policy), the
 * static eviction of layer l at the end of the prefill, the summaries of
 * newly full clusters, and the attention of a decode step. */
mpc_err_t xmp_init(xfwd_t *x);
void xmp_free(xfwd_t *x);
mpc_err_t xmp_prefill_end(xfwd_t *x, int l, const uint64_t *p, size_t N);
mpc_err_t xmp_summarise(xfwd_t *x, int l, uint64_t step);
mpc_err_t xmp_decode(xfwd_t *x, int l, const uint64_t *qh, int pos0, uint64_t *pv);
/* H2O (llm/xfwd_h2o.c): the accumulated sums, their update with a step's
 * probabilities p (H, N, T), and the eviction down to target slots. */
mpc_err_t xh2o_init(xfwd_t *x);
void xh2o_free(xfwd_t *x);
mpc_err_t xh2o_observe(xfwd_t *x, int l, const uint64_t *p, size_t N, size_t T);
mpc_err_t xh2o_evict(xfwd_t *x, int l, int target);

/* The plaintext policies (llm/xfwd_kvplain.c), plain engine only: the
 * policy's cache for x->kv; the prompt rows pos0 .. pos0 + N - 1 after the
 * full attention of layer l, with its probabilities p (H, N, T) at scale
 * f + XFWD_P_EXTRA (append, select, observe per position, and the look-once
 * decisions after the last prompt token); and a decode step's attention
 * over the policy's selection, after the new rows were appended. */
mpc_err_t xkv_init(xfwd_t *x);
void xkv_free(xfwd_t *x);
mpc_err_t xkv_prompt(xfwd_t *x, int l, const uint64_t *qh, const uint64_t *kn, const uint64_t *vn,
                     const uint64_t *p, size_t N, int pos0);
mpc_err_t xkv_decode(xfwd_t *x, int l, const uint64_t *qh, const uint64_t *kn, const uint64_t *vn,
                     int pos0, uint64_t *pv);

/* RMSNorm of rows rows of w->cols (scale f in and out) with the norm's
 * weight under its one-sided mask. */
mpc_err_t nl_rmsnorm(xfwd_t *x, uint64_t *out, const uint64_t *in, const matmul_weight_t *w,
                     size_t rows, uint64_t site);
/* Causal softmax: in holds (H, N, T) scores at scale 2f, row (h, i) seeing
 * keys 0 .. pos0 + i; out the probabilities at scale f + XFWD_P_EXTRA, 0
 * where masked. */
#define XFWD_P_EXTRA 8
mpc_err_t nl_softmax(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t rows, size_t n,
                     size_t T, int pos0, uint64_t site);
/* SiLU element-wise at scale f. */
mpc_err_t nl_silu(xfwd_t *x, uint64_t *out, const uint64_t *in, size_t n, uint64_t site);
/* Greedy argmax of the logits (scale f), ties to the lower index; the index
 * goes to P1 (and the plain engine) in *next. */
mpc_err_t nl_argmax(xfwd_t *x, int *next, const uint64_t *logits, size_t n);

#endif
