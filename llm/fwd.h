/* llm/fwd.h - the plain float engine: the reference Llama forward pass, one
 * position at a time, with a KV cache.
 *
 * Its arithmetic is llama2.c run.c's, float operation for float operation,
 * so that a build with -O2 (no -Ofast, no FMA contraction) gives the same
 * logits and so the same greedy tokens: RMSNorm sums x^2 in float in index
 * order, adds eps 1e-5 to the mean and scales by 1/sqrtf; matrix-vector
 * products sum w[i][j] * x[j] in j order; RoPE rotates adjacent pairs by
 * pos * 1/powf(10000, (i % head_size) / head_size), q over all of dim and k
 * over kv_dim; scores are q.k / sqrtf(head_size); softmax subtracts the max
 * and divides by the sum of expf; the weighted sum of V runs over the
 * attended positions in order; the FFN is w2(silu(w1 x) * w3 x).
 *
 * Attention is over an index list: at each layer, for each KV head, an
 * attention policy (fwd_attn_t) picks which cached positions the query heads
 * of that KV head attend over, and is shown the resulting probabilities. With
 * no policy every position 0..pos is attended, which is llama2.c. The K/V
 * rows of every position stay in the cache; a policy evicts by not selecting.
 *
 * Every buffer is allocated by fwd_new; fwd_step allocates nothing.
 *
 *     fwd_t *f = NULL;
 *     fwd_new(&f, model, err);
 *     for (int pos = 0; pos < n; pos++) logits = fwd_step(f, tokens[pos], pos);
 *     int next = fwd_argmax(logits, model->cfg.vocab_size);
 *     fwd_free(&f);
 */
#ifndef LLM_FWD_H
#define LLM_FWD_H

#include "llm/model.h"
#include "mpc/chan.h"
#include "mpc/err.h"

/* What a policy sees when it chooses the positions for one KV head of one
 * layer at one step. Query head h belongs to KV head h / kv_mul. All pointers
 * are owned by the engine and valid during the call only. */
typedef struct fwd_attn_query {
    int layer;
    int kv_head;
    int pos;       /* the current position; its K/V row is already cached */
    int kv_mul;    /* query heads per KV head, n_heads / n_kv_heads */
    int head_size;
    int kv_dim;
    const float *q;       /* (kv_mul, head_size): query heads kv_head * kv_mul + j, after RoPE */
    const float *k_cache; /* (seq_len, kv_dim): this layer's keys after RoPE; rows 0..pos set */
    const float *v_cache; /* (seq_len, kv_dim): this layer's values; rows 0..pos set */
} fwd_attn_query_t;

/* An attention policy. select writes to idx (room for pos + 1 entries) the
 * cached positions to attend over, distinct, ascending and each in 0..pos,
 * and returns how many (at least 1); the engine asserts these rules.
 * observe, when not NULL, receives after softmax the probabilities probs[k]
 * of query head `head` (0..n_heads-1) over position idx[k], k < n. ctx is
 * the policy's own state, borrowed. */
typedef struct fwd_attn {
    void *ctx;
    int (*select)(void *ctx, const fwd_attn_query_t *qr, int *idx);
    void (*observe)(void *ctx, const fwd_attn_query_t *qr, int head, const int *idx, int n,
                    const float *probs);
} fwd_attn_t;

typedef struct fwd fwd_t;

/* A run state for model m, which it borrows: m must outlive it. Allocates the
 * activations, the KV cache (n_layers, seq_len, kv_dim) for K and for V, and
 * the index lists. The caller owns *out (fwd_free). Fails with MPC_ENOMEM,
 * leaving *out NULL; err (CHAN_ERR_BYTES, may be NULL) says how much was
 * asked. */
mpc_err_t fwd_new(fwd_t **out, const model_t *m, char *err) MPC_WUR;

/* Frees *f and sets it to NULL; accepts NULL and *f == NULL. */
void fwd_free(fwd_t **f);

/* Sets the attention policy, copied; NULL restores full attention. */
void fwd_set_attn(fwd_t *f, const fwd_attn_t *a);

/* Runs token (0 <= token < vocab_size) at position pos (0 <= pos < seq_len),
 * after positions 0..pos-1 have been run, and returns the logits
 * (vocab_size), owned by f and valid until the next fwd_step. Arguments out
 * of range are programmer errors and abort. */
const float *fwd_step(fwd_t *f, int token, int pos);

/* The number of positions attended at the last fwd_step, summed over layers
 * and KV heads: n_layers * n_kv_heads * (pos + 1) under full attention. */
long fwd_attended(const fwd_t *f);

/* The index of the largest of v[0..n), the first one on ties (as run.c's
 * greedy sampler). n >= 1. */
int fwd_argmax(const float *v, int n);

#endif
