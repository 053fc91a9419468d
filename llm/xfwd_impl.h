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
    int policy;                         /* KV_FULL or KV_STREAMING */
    kv_config_t kv;                     /* the budget's configuration */
    uint64_t part_bytes[XPART_COUNT], part_rounds[XPART_COUNT];
    int part;                           /* the open part */
    uint64_t part_b0, part_r0;          /* counters when it opened */
};

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
