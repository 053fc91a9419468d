/* llm/xfwd.h - the fixed-point transformer, run one of three ways.
 *
 * One forward pass, written once, runs under a backend chosen by role:
 *   XFWD_PLAIN   the fixed-point plain engine: values in the clear, every
 *                nonlinear step through its protocol's plaintext twin, and
 *                truncation carries from the rounding stream of round_seed;
 *   MPC_P0/P1    the secure engine: the same steps as two-party protocols on
 *                additive shares (P0 holds the weights, P1 the tokens);
 *   MPC_DEALER   the dealer: the same steps' correlation generation.
 * Because the three walk the same code, the dealer generates exactly what
 * the parties consume, and under the dealer's test seed the plain engine
 * reproduces the secure engine bit for bit (DESIGN.md §6).
 *
 * Arithmetic (DESIGN.md §3): fixed point at scale f. Weights are P0's with
 * one-sided masks (setup sends F = W - B once); K and V rows are fixed
 * operands whose masks are opened once, on append. 1/sqrt(head_size) is
 * folded into Wq; RoPE is a public linear map applied at scale 3f and undone
 * by one truncation together with V's.
 *
 *     xfwd_t *x;
 *     xfwd_new(&x, &cfg, model_or_NULL, ctx_or_NULL, role, f, round_seed, err);
 *     xfwd_setup(x);                          // weight masks (setup phase)
 *     xfwd_forward(x, prompt, 0, P, &next);   // prefill, batched
 *     xfwd_forward(x, &next, P, 1, &next);    // one decode step, ...
 *
 * The next token is known to P1 and to the plain engine only; P0 and the
 * dealer get -1.
 */
#ifndef LLM_XFWD_H
#define LLM_XFWD_H

#include <stdint.h>

#include "llm/model.h"
#include "mpc/ctx.h"
#include "mpcache/kv.h"

#define XFWD_PLAIN 3

typedef struct xfwd xfwd_t;

/* A run state. cfg is the public architecture; m supplies the weights and
 * is needed by P0 and the plain engine only (NULL otherwise; borrowed, must
 * outlive the state). ctx is the party's or dealer's context (NULL for the
 * plain engine; borrowed). round_seed is the plain engine's rounding stream
 * (NULL: a random one). Fails with MPC_EARG (bad sizes, frac_bits out of
 * 12..20) or MPC_ENOMEM, with the reason in err (CHAN_ERR_BYTES). */
mpc_err_t xfwd_new(xfwd_t **out, const model_config_t *cfg, const model_t *m, mpc_ctx_t *ctx,
                   int role, int frac_bits, const uint8_t *round_seed, char *err) MPC_WUR;
/* Zeroes and frees; accepts NULL. */
void xfwd_free(xfwd_t **x);

/* The one-off setup: P0 sends F = W - B for every weight matrix (phase
 * setup); the plain engine quantises its weights. */
mpc_err_t xfwd_setup(xfwd_t *x) MPC_WUR;

/* Runs positions pos0 .. pos0+n-1 (the prompt as one batch, or one decode
 * step) with their tokens (P1 and plain; NULL elsewhere) and leaves the
 * greedy next token of the last position in *next (P1 and plain; -1
 * elsewhere). Positions must continue the previous call. Fails with the
 * protocols' errors; x->ctx->err says why. */
mpc_err_t xfwd_forward(xfwd_t *x, const int *tokens, int pos0, int n, int *next) MPC_WUR;

/* The reason for the plain engine's last failure (a party's or the
 * dealer's is in its context's err); never NULL. */
const char *xfwd_error(const xfwd_t *x);

/* This party's share of the last logits (vocab_size, scale f), or the plain
 * values; for tests, which add the two parties' shares. With reveal_logits,
 * P1's buffer holds the logits themselves after each step. */
const uint64_t *xfwd_logits(const xfwd_t *x);

/* Attention policy of the secure and fixed engines, set once before the
 * first forward call: NULL or KV_FULL (the full cache); KV_STREAMING (the
 * sinks and the most recent tokens, at every decode step exactly
 * kv_budget_tokens positions: a public choice, so no secret selection is
 * needed); or KV_MPCACHE (look-once static eviction at the end of the
 * prefill, then clustered dynamic selection at every decode step, both
 * secret, with cross-layer sharing: llm/xfwd_mpcache.c). kv is copied; its
 * prompt_len must be set, and the model's dims are taken from the engine.
 * The prompt must then come as one batch of prompt_len tokens. The plain
 * engine also runs every other policy of mpcache/kv.h (snapkv, tova, cake,
 * d2o, quest), deciding in plaintext on its own fixed-point values
 * (llm/xfwd_kvplain.c); its prompt may come in any batches that stop at
 * prompt_len. Those policies in a secure role, and a bad configuration:
 * MPC_EARG with the reason. */
mpc_err_t xfwd_set_policy(xfwd_t *x, const kv_config_t *kv) MPC_WUR;

/* Tests only: this party's additive share (the plain engine: the value) of
 * MPCache's last decisions in layer, for KV head g. Nothing crosses the
 * link: a test that runs both parties in one process adds the two shares
 * to compare them with the plain engine (the programs never call these).
 *   xfwd_debug_dynamic: out[c] = 1 when middle fine cluster c + 1 was chosen
 *     at the last decode step; returns their number, or -1 when that step
 *     attended everything.
 *   xfwd_debug_static: out[i] = 1 when middle prompt key sinks + i survived
 *     the static eviction (layer's pair source); returns their number, or
 *     -1 when nothing was evicted. */
int xfwd_debug_dynamic(const xfwd_t *x, int layer, int g, uint64_t *out);
int xfwd_debug_static(const xfwd_t *x, int layer, uint64_t *out);

/* Options of a session, public to all three roles (DESIGN.md §2):
 *   pad: the prompt is left-padded to a public length (--pad-to). P1 and the
 *     plain engine pass the number of pad positions in pad_len; P0 and the
 *     dealer pass -1. Pad keys are zeroed by one product with P1's 0/1 mask
 *     at the prefill, and P1 adds -400 at scale 2f to its share of every
 *     score against a pad key: inside the softmax's range (|s| < 2^9), and
 *     e^-14 or less against any row whose best real score exceeds -386,
 *     so pads weigh nothing. RoPE
 *     is relative, so shifting the prompt right changes scores only by the
 *     rounding of the cos/sin tables.
 *   reveal_logits: P1 receives the logits each step (one flight) and takes
 *     the argmax itself, instead of the secure argmax (--reveal-logits). */
typedef struct xfwd_opts {
    int pad;
    int pad_len;
    int reveal_logits;
    /* MPCache's attention over the selection: 0 chooses per step by the
     * cost model (xfwd_mpcache_form), 'a' or 'b' forces a form (tests).
     * Both give the same values bit for bit; only the traffic differs. */
    int mpcache_form;
    /* The network the top-k cost model plans for (protocols/topk.h): 0
     * LAN (1 Gbit/s, 0.5 ms), 1 WAN (100 Mbit/s, 40 ms), where the rank
     * algorithm's 2 rounds beat a sorting network's dozens. Public: all
     * three roles must agree. */
    int plan_wan;
} xfwd_opts_t;

/* MPCache's two forms of attention over a selection of k of the g middle
 * fine clusters (B tokens each) of a KV head with km query heads of size
 * hs (DESIGN.md §7): the words each party opens for it beyond what both
 * share. (a) opens S2 once and the middle scores' and probabilities'
 * masks: k g + km B (2g + k). (b) gathers the K and V rows (S2 opened for
 * each) and re-masks them: 2 k g + 2 k B hs + km k B. (b) is cheaper only
 * when k/g is below about km / hs: never at the benchmarks' shapes, where
 * (a) opens 5-12x less. Returns 'a' or 'b'. */
int xfwd_mpcache_form(size_t g, size_t k, size_t B, size_t km, size_t hs, uint64_t *cost_a,
                      uint64_t *cost_b);
void xfwd_set_opts(xfwd_t *x, const xfwd_opts_t *o);

/* Positions attended at the last forward call per layer, summed over KV
 * heads: the whole cache, or at a decode step the policy's selection. */
int xfwd_attended(const xfwd_t *x, int layer);

/* The layer parts whose traffic is accounted apart (the benchmarks' and the
 * bound's breakdown): attention is everything from the new K/V rows to the
 * heads' outputs (append, scores, softmax, p V). */
enum {
    XPART_EMBED,
    XPART_NORM,
    XPART_QKV,
    XPART_ATTN,
    XPART_WO,
    XPART_FFN,
    XPART_HEAD,
    XPART_SETUP, /* weight masks and benchmark cache fills */
    XPART_COUNT
};
const char *xfwd_part_name(int part);
/* Bytes this party sent, and rounds it saw, in each part since xfwd_new. */
uint64_t xfwd_part_bytes(const xfwd_t *x, int part);
uint64_t xfwd_part_rounds(const xfwd_t *x, int part);

/* Benchmarks only: fills every layer's cache with T positions of seeded
 * random rows (fresh shares of values in [-1, 1)), opening their masks as
 * an append would. Must come right after xfwd_setup. */
mpc_err_t xfwd_fill_random(xfwd_t *x, int T, uint64_t seed) MPC_WUR;

#endif
