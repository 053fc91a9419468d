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
 * Attention is over an index list. Without a KV-cache policy every position
 * 0..pos is attended from the engine's own cache, which is llama2.c. With
 * one (mpcache/kv.h, fwd_set_kv), the policy's cache owns the rows: at each
 * layer the new q, k, v are appended to it, each KV head attends over the
 * slots the policy selects, the attention probabilities are fed back to it
 * (kv_observe), and after the last prompt position its look-once decisions
 * run (kv_prefill_end). A policy of type KV_FULL gives the same logits, bit
 * for bit, as no policy.
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
#include "mpcache/kv.h"
#include "mpc/chan.h"
#include "mpc/err.h"

typedef struct fwd fwd_t;

/* A run state for model m, which it borrows: m must outlive it. Allocates the
 * activations and the KV cache (n_layers, seq_len, kv_dim) for K and for V. The caller owns *out
 * (fwd_free). Fails with MPC_ENOMEM, leaving *out NULL; err (CHAN_ERR_BYTES, may be NULL) says how
 * much was asked. */
mpc_err_t fwd_new(fwd_t **out, const model_t *m, char *err) MPC_WUR;

/* Frees *f and sets it to NULL; accepts NULL and *f == NULL. */
void fwd_free(fwd_t **f);

/* Attaches the KV-cache policy kv (borrowed; it must outlive its use), or
 * detaches it when kv is NULL, restoring full attention over the engine's
 * own cache. kv must have been made for this model's n_layers, n_heads,
 * n_kv_heads and head_size, with seq_len at most the model's, and must be
 * fresh: positions are fed to it from 0. Fails with MPC_EARG, naming the
 * mismatch in err (CHAN_ERR_BYTES, may be NULL), and leaves f unchanged. */
mpc_err_t fwd_set_kv(fwd_t *f, kv_t *kv, char *err) MPC_WUR;

/* Runs token (0 <= token < vocab_size) at position pos (0 <= pos < seq_len,
 * and below the policy's seq_len), after positions 0..pos-1 have been run,
 * and returns the logits (vocab_size), owned by f and valid until the next
 * fwd_step. Arguments out of range are programmer errors and abort. */
const float *fwd_step(fwd_t *f, int token, int pos);

/* The positions layer attended at the last fwd_step, summed over KV heads:
 * n_kv_heads * (pos + 1) under full attention. */
int fwd_attended(const fwd_t *f, int layer);

/* The index of the largest of v[0..n), the first one on ties (as run.c's
 * greedy sampler). n >= 1. */
int fwd_argmax(const float *v, int n);

#endif
