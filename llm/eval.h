/* llm/eval.h - teacher-forced scoring of a KV-cache policy against the full
 * cache, the core of `mpcllm-bench accuracy`.
 *
 * A window is n tokens of real text. Its first P tokens are the prompt: the
 * engine runs them with the policy attached, and after the last one the
 * policy makes its look-once decisions (kv_prefill_end, as in generation).
 * From position P on the engine runs one token at a time, as it would while
 * generating, except that the token fed at each position is the text's, not
 * the argmax (teacher forcing). The scored tokens are those predicted by these
 * decode steps: the logits at position pos (P <= pos <= n - 2) predict token
 * pos + 1, so a window scores n - P - 1 tokens. The logits of position P - 1
 * are left out because the prompt is attended in full under every policy, so
 * they never differ from the full cache's.
 *
 * For each scored token, with p the full cache's distribution and p' the
 * policy's (softmax of the logits, in double): the negative log-likelihood
 * -log p'(true token), KL(p || p') = sum_v p_v (log p_v - log p'_v), and
 * whether the argmaxes agree (ties to the lower index). The full cache is run
 * once per window (eval_reference) and then compared with as many policies as
 * wanted (eval_policy), so a sweep does not recompute it.
 *
 * Engines. The scoring does not care how the logits are made: an
 * eval_engine_t yields the logits of a position with a policy attached. The
 * float engine (llm/fwd.h) is eval_engine_float; the fixed-point and secure
 * engines plug in the same way, and the reference may come from another
 * engine than the policy (float full cache against fixed-point with a policy
 * separates approximation error from eviction error).
 *
 * Memory: eval_new allocates everything for windows of up to the model's
 * seq_len tokens; scoring allocates nothing per token (the policy's kv_t is
 * made once per window). Results are deterministic: the same windows and
 * configuration give the same numbers, bit for bit.
 *
 *     eval_t *ev = NULL;
 *     eval_new(&ev, model, err);
 *     eval_engine_t eng;
 *     eval_engine_float(&eng, f);
 *     eval_sums_t s = {0};
 *     for (int w = 0; w < n_windows; w++) {
 *         eval_reference(ev, &eng, tokens + w * n, n, 384, err);
 *         eval_policy(ev, &eng, &cfg, &s, err);   // cfg: policy and its knobs
 *     }
 *     printf("ppl %g vs %g\n", eval_sums_ppl(&s), eval_sums_ppl_full(&s));
 *     eval_free(&ev);
 */
#ifndef LLM_EVAL_H
#define LLM_EVAL_H

#include <stdint.h>

#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "mpcache/kv.h"
#include "mpc/chan.h"
#include "mpc/err.h"

/* Something that yields logits position by position. */
typedef struct eval_engine {
    void *self; /* the engine's state, borrowed */
    /* Starts a window at position 0 under the policy kv (fresh, borrowed
     * until the next begin), or with full attention when kv is NULL; the
     * window's prompt is its first prompt_len tokens either way, and
     * positions 0 .. n_pos - 1 will be fed (public, as a generation's step
     * count is: the secure engine's dealer runs ahead on it). Fails with
     * the engine's error and a line in err (CHAN_ERR_BYTES). */
    mpc_err_t (*begin)(void *self, kv_t *kv, int prompt_len, int n_pos, char *err);
    /* Feeds token at pos, positions fed 0, 1, 2, ..., and points *logits
     * at the logits (vocab_size) after it, owned by the engine and valid
     * until the next step. An engine that runs the prompt as one batch
     * (fixed, secure) runs it at the prompt's last position, and its logits
     * before that are meaningless (nobody scores them). Fails with the
     * engine's error and a line in err (CHAN_ERR_BYTES). */
    mpc_err_t (*step)(void *self, int token, int pos, const float **logits, char *err);
    /* Tokens that layer attended at the last step, summed over KV heads. */
    int (*attended)(void *self, int layer);
} eval_engine_t;

/* The float engine f (borrowed, it must outlive *out) as an eval engine:
 * begin attaches the policy with fwd_set_kv. */
void eval_engine_float(eval_engine_t *out, fwd_t *f);

/* The fixed-point plain engine (llm/xfwd.h) as an eval engine: each window
 * starts a fresh run state with the policy's configuration (every policy:
 * full, streaming and mpcache as the secure engine runs them, the others
 * decided in plaintext on the engine's values), runs the prompt as one
 * batch, as the secure engine does (MPCache requires it), and then one
 * token at a time; logits are decoded to float. round_seed is its rounding
 * stream (NULL: random; the dealer's test seed's "round" derivation
 * reproduces the secure engine bit for bit). The caller owns *state
 * (eval_fixed_free). */
typedef struct eval_fixed eval_fixed_t;
mpc_err_t eval_engine_fixed(eval_engine_t *out, eval_fixed_t **state, const model_t *m,
                            int frac_bits, const uint8_t *round_seed, char *err) MPC_WUR;
void eval_fixed_free(eval_fixed_t **state);
/* The last step's logits as the engine holds them (vocab_size, scale
 * frac_bits), owned by *state: for comparing with the secure engine bit for
 * bit. NULL before the first step. */
const uint64_t *eval_fixed_logits(const eval_fixed_t *state);

/* Sums over scored tokens, for one policy over any number of windows. */
typedef struct eval_sums {
    double nll;         /* sum of -log p'(true token) under the policy */
    double nll_full;    /* the same under the full cache */
    double kl;          /* sum of KL(full || policy) */
    long top1;          /* tokens whose argmaxes agree */
    long n;             /* scored tokens */
    long attended;      /* tokens attended at the decode steps, over layers and KV heads */
    long attended_full; /* what the full cache attends at the same steps */
} eval_sums_t;

/* Per-token results of the last eval_policy, owned by the eval_t and valid
 * until the next eval_reference or eval_policy. */
typedef struct eval_tokens {
    int n;                     /* scored tokens: window length - P - 1 */
    const double *nll;         /* (n) -log p'(true token) under the policy */
    const double *nll_full;    /* (n) -log p(true token) under the full cache */
    const double *kl;          /* (n) KL(full || policy) */
    const unsigned char *top1; /* (n) 1 where the argmaxes agree */
} eval_tokens_t;

typedef struct eval eval_t;

/* Scoring state for model m (borrowed, it must outlive *out), for windows of
 * up to m->cfg.seq_len tokens. The caller owns *out (eval_free). Fails with
 * MPC_ENOMEM, leaving *out NULL, with a line in err (CHAN_ERR_BYTES, may be
 * NULL). */
mpc_err_t eval_new(eval_t **out, const model_t *m, char *err) MPC_WUR;

/* Frees *ev and sets it to NULL; accepts NULL and *ev == NULL. */
void eval_free(eval_t **ev);

/* Runs the window tokens[0..n) (copied) with full attention on eng and keeps
 * the full cache's distribution at every scored position, for the
 * eval_policy calls that follow. prompt_len is P. Fails with MPC_EARG when n
 * is above the model's seq_len, P is not in 1..n-2 (nothing to score) or a
 * token is outside the vocabulary; with the engine's error otherwise; err
 * (CHAN_ERR_BYTES, may be NULL) says why, and the window is then unset. */
mpc_err_t eval_reference(eval_t *ev, const eval_engine_t *eng, const int *tokens, int n,
                         int prompt_len, char *err) MPC_WUR;

/* Runs the window of the last eval_reference on eng under the policy cfg
 * (its model dims, seq_len and prompt_len are filled in from the model and
 * the window), scores it against the full cache and adds the window's sums to
 * *sums. The per-token figures are then readable with eval_last. Fails with
 * MPC_EARG when no window is set or kv_config_check refuses cfg (the reason
 * in err), MPC_ENOMEM, or the engine's error; *sums is then unchanged. */
mpc_err_t eval_policy(eval_t *ev, const eval_engine_t *eng, const kv_config_t *cfg,
                      eval_sums_t *sums, char *err) MPC_WUR;

/* The per-token results of the last successful eval_policy (n 0 before). */
eval_tokens_t eval_last(const eval_t *ev);

/* exp(mean NLL) under the policy, and under the full cache; NaN when no
 * token was scored. */
double eval_sums_ppl(const eval_sums_t *s);
double eval_sums_ppl_full(const eval_sums_t *s);

/* Cuts text into windows of real stories for scoring. text holds stories
 * separated by "\n<|endoftext|>\n"; each story, trimmed of surrounding
 * whitespace, is encoded with BOS first (the dummy prefix included, as in
 * TinyStories' training data). Windows are filled with consecutive stories,
 * so that BOS stands between them; a window starts at a story and, when the
 * story that fills it is cut at n_tok tokens, the next window starts at the
 * story after. Writes up to max_windows windows of n_tok ids each into
 * tokens (max_windows * n_tok ints) and their number into *n_windows; the
 * text running out before max_windows is not an error (fewer windows), and a
 * last window that the text cannot fill is dropped. text is not changed.
 * Fails with MPC_EARG when n_tok < 2 or max_windows < 1, MPC_ENOMEM, with a
 * line in err (CHAN_ERR_BYTES, may be NULL). */
mpc_err_t eval_windows(const tok_t *t, const char *text, int n_tok, int max_windows, int *tokens,
                       int *n_windows, char *err) MPC_WUR;

#endif
