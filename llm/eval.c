/* llm/eval.c - teacher-forced scoring of a KV-cache policy against the full
 * cache (eval.h).
 *
 * The reference pass keeps the full cache's log-probabilities (double) of
 * every scored position, so that each policy pass compares its own logits
 * with them as they come, position by position, and keeps only per-token
 * figures. All buffers are sized for the model's seq_len once, in eval_new.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/eval.h"

#include "llm/xfwd.h"
#include "mpc/fxp.h"
#include "llm/fail_impl.h"

#define EVAL_SEPARATOR "<|endoftext|>"

struct eval {
    const model_t *m;
    int vocab, seq;
    int *tokens;         /* (seq) the window */
    int n, prompt_len;   /* the window's length and P; n == 0 when unset */
    double *ref_logp;    /* (seq, vocab) full-cache log-probs at scored positions */
    int *ref_top1;       /* (seq) full-cache argmax at scored positions */
    long ref_attended;   /* full cache's attended tokens over the window's decode steps */
    double *logp;        /* (vocab) the policy's log-probs at the current position */
    double *nll;         /* (seq) per scored token, policy */
    double *nll_full;    /* (seq) per scored token, full cache */
    double *kl;          /* (seq) per scored token */
    unsigned char *top1; /* (seq) per scored token */
    int last_n;          /* scored tokens of the last eval_policy */
    kv_t *kv;            /* the last policy's cache, which the engine may still point at */
};

static mpc_err_t float_begin(void *self, kv_t *kv, int prompt_len, int n_pos, char *err)
{
    (void)prompt_len; /* one token at a time, as llama2.c */
    (void)n_pos;
    return fwd_set_kv(self, kv, err);
}

static mpc_err_t float_step(void *self, int token, int pos, const float **logits, char *err)
{
    (void)err;
    *logits = fwd_step(self, token, pos);
    return MPC_OK;
}

static int float_attended(void *self, int layer)
{
    return fwd_attended(self, layer);
}

void eval_engine_float(eval_engine_t *out, fwd_t *f)
{
    out->self = f;
    out->begin = float_begin;
    out->step = float_step;
    out->attended = float_attended;
}

struct eval_fixed {
    const model_t *m;
    int f;
    uint8_t round_seed[PRG_SEED_BYTES];
    xfwd_t *x;
    int prompt_len; /* the window's prompt, run as one batch */
    int *prompt;    /* (seq_len) its tokens, gathered until its last one */
    int stepped;    /* a forward call has run in this window */
    float *logits;  /* (vocab) */
};

static mpc_err_t fixed_begin(void *self, kv_t *kv, int prompt_len, int n_pos, char *err)
{
    eval_fixed_t *s = self;
    (void)n_pos;
    xfwd_free(&s->x);
    s->prompt_len = prompt_len;
    s->stepped = 0;
    *err = '\0';
    mpc_err_t e = xfwd_new(&s->x, &s->m->cfg, s->m, NULL, XFWD_PLAIN, s->f, s->round_seed, err);
    if (!e && (e = xfwd_setup(s->x)) != MPC_OK)
        return llm_fail(err, e, "the fixed engine: %s", xfwd_error(s->x));
    if (!e && kv) {
        kv_config_t c = *kv_config(kv);
        c.prompt_len = prompt_len;
        e = xfwd_set_policy(s->x, &c);
        if (e)
            return llm_fail(err, e, "the fixed engine cannot run policy %s: %s",
                            kv_policy_name(c.policy), xfwd_error(s->x));
    }
    return e;
}

static mpc_err_t fixed_step(void *self, int token, int pos, const float **logits, char *err)
{
    eval_fixed_t *s = self;
    int next, P = s->prompt_len;
    MPC_ASSERT(pos >= 0 && pos < s->m->cfg.seq_len);
    mpc_err_t e = MPC_OK;
    *logits = s->logits;
    if (pos < P) { /* the prompt: gathered, then one batch */
        s->prompt[pos] = token;
        if (pos < P - 1) return MPC_OK;
        e = xfwd_forward(s->x, s->prompt, 0, P, &next);
    } else {
        e = xfwd_forward(s->x, &token, pos, 1, &next);
    }
    if (e) return llm_fail(err, e, "the fixed engine at position %d: %s", pos, xfwd_error(s->x));
    s->stepped = 1;
    const uint64_t *lg = xfwd_logits(s->x);
    for (int i = 0; i < s->m->cfg.vocab_size; i++)
        s->logits[i] = (float)fxp_decode(lg[i], s->f);
    return MPC_OK;
}

const uint64_t *eval_fixed_logits(const eval_fixed_t *s)
{
    return s->x && s->stepped ? xfwd_logits(s->x) : NULL;
}

static int fixed_attended(void *self, int layer)
{
    return xfwd_attended(((eval_fixed_t *)self)->x, layer);
}

mpc_err_t eval_engine_fixed(eval_engine_t *out, eval_fixed_t **state, const model_t *m,
                            int frac_bits, const uint8_t *round_seed, char *err)
{
    eval_fixed_t *s = calloc(1, sizeof *s);
    if (s) {
        s->logits = calloc((size_t)m->cfg.vocab_size, sizeof *s->logits);
        s->prompt = calloc((size_t)m->cfg.seq_len, sizeof *s->prompt);
    }
    if (!s || !s->logits || !s->prompt) {
        if (s) free(s->logits);
        if (s) free(s->prompt);
        free(s);
        return llm_fail(err, MPC_ENOMEM, "out of memory for the fixed engine");
    }
    s->m = m;
    s->f = frac_bits;
    if (round_seed)
        memcpy(s->round_seed, round_seed, PRG_SEED_BYTES);
    else
        prg_seed_random(s->round_seed);
    out->self = s;
    out->begin = fixed_begin;
    out->step = fixed_step;
    out->attended = fixed_attended;
    *state = s;
    return MPC_OK;
}

void eval_fixed_free(eval_fixed_t **state)
{
    if (!state || !*state) return;
    xfwd_free(&(*state)->x);
    free((*state)->logits);
    free((*state)->prompt);
    free(*state);
    *state = NULL;
}

mpc_err_t eval_new(eval_t **out, const model_t *m, char *err)
{
    *out = NULL;
    eval_t *ev = calloc(1, sizeof *ev);
    if (!ev) return llm_fail(err, MPC_ENOMEM, "out of memory for the scoring state");
    ev->m = m;
    ev->vocab = m->cfg.vocab_size;
    ev->seq = m->cfg.seq_len;
    const size_t seq = (size_t)ev->seq, vocab = (size_t)ev->vocab;
    ev->tokens = malloc(seq * sizeof *ev->tokens);
    ev->ref_logp = malloc(seq * vocab * sizeof *ev->ref_logp);
    ev->ref_top1 = malloc(seq * sizeof *ev->ref_top1);
    ev->logp = malloc(vocab * sizeof *ev->logp);
    ev->nll = malloc(seq * sizeof *ev->nll);
    ev->nll_full = malloc(seq * sizeof *ev->nll_full);
    ev->kl = malloc(seq * sizeof *ev->kl);
    ev->top1 = malloc(seq * sizeof *ev->top1);
    if (!ev->tokens || !ev->ref_logp || !ev->ref_top1 || !ev->logp || !ev->nll || !ev->nll_full ||
        !ev->kl || !ev->top1) {
        eval_free(&ev);
        return llm_fail(err, MPC_ENOMEM, "out of memory for scoring %zu positions of %zu logits",
                        seq, vocab);
    }
    *out = ev;
    return MPC_OK;
}

void eval_free(eval_t **ev)
{
    if (!ev || !*ev) return;
    eval_t *e = *ev;
    kv_free(&e->kv);
    free(e->tokens);
    free(e->ref_logp);
    free(e->ref_top1);
    free(e->logp);
    free(e->nll);
    free(e->nll_full);
    free(e->kl);
    free(e->top1);
    free(e);
    *ev = NULL;
}

/* out = log softmax(logits), in double: x - max - log(sum exp(x - max)). */
static void log_softmax(double *out, const float *logits, int n)
{
    double max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        out[i] = (double)logits[i] - max;
        sum += exp(out[i]);
    }
    const double lse = log(sum);
    for (int i = 0; i < n; i++)
        out[i] -= lse;
}

mpc_err_t eval_reference(eval_t *ev, const eval_engine_t *eng, const int *tokens, int n,
                         int prompt_len, char *err)
{
    ev->n = 0;
    ev->last_n = 0;
    if (n < 3 || n > ev->seq)
        return llm_fail(err, MPC_EARG, "a window of %d tokens; the model takes 3 to %d", n,
                        ev->seq);
    if (prompt_len < 1 || prompt_len > n - 2)
        return llm_fail(err, MPC_EARG,
                        "a prompt of %d tokens in a window of %d leaves nothing to score "
                        "(1 to %d)",
                        prompt_len, n, n - 2);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= ev->vocab)
            return llm_fail(err, MPC_EARG, "token %d of the window is %d, outside 0..%d", i,
                            tokens[i], ev->vocab - 1);
    mpc_err_t e = eng->begin(eng->self, NULL, prompt_len, n - 1, err);
    if (e != MPC_OK) return e;
    kv_free(&ev->kv);
    memcpy(ev->tokens, tokens, (size_t)n * sizeof *tokens);
    const model_config_t *c = &ev->m->cfg;
    const size_t vocab = (size_t)ev->vocab;
    ev->ref_attended = 0;
    for (int pos = 0; pos < n - 1; pos++) {
        const float *logits = NULL;
        e = eng->step(eng->self, tokens[pos], pos, &logits, err);
        if (e != MPC_OK) return e;
        if (pos < prompt_len) continue;
        log_softmax(ev->ref_logp + (size_t)pos * vocab, logits, ev->vocab);
        ev->ref_top1[pos] = fwd_argmax(logits, ev->vocab);
        ev->ref_attended += (long)c->n_layers * c->n_kv_heads * (pos + 1);
    }
    ev->n = n;
    ev->prompt_len = prompt_len;
    return MPC_OK;
}

/* Scores the policy's logits at pos against the reference into slot i. */
static void score_position(eval_t *ev, const float *logits, int pos, int i)
{
    const int vocab = ev->vocab;
    const double *ref = ev->ref_logp + (size_t)pos * (size_t)vocab;
    log_softmax(ev->logp, logits, vocab);
    const int next = ev->tokens[pos + 1];
    double kl = 0.0;
    for (int v = 0; v < vocab; v++)
        kl += exp(ref[v]) * (ref[v] - ev->logp[v]);
    ev->nll[i] = -ev->logp[next];
    ev->nll_full[i] = -ref[next];
    ev->kl[i] = kl;
    ev->top1[i] = fwd_argmax(logits, vocab) == ev->ref_top1[pos];
}

mpc_err_t eval_policy(eval_t *ev, const eval_engine_t *eng, const kv_config_t *cfg,
                      eval_sums_t *sums, char *err)
{
    if (ev->n == 0) return llm_fail(err, MPC_EARG, "no window to score: run eval_reference first");
    const model_config_t *c = &ev->m->cfg;
    kv_config_t k = *cfg;
    k.n_layers = c->n_layers;
    k.n_heads = c->n_heads;
    k.n_kv_heads = c->n_kv_heads;
    k.head_size = model_head_size(c);
    k.seq_len = ev->n;
    k.prompt_len = ev->prompt_len;
    char msg[CHAN_ERR_BYTES] = "";
    mpc_err_t e = kv_config_check(&k, msg, sizeof msg);
    if (e != MPC_OK) return llm_fail(err, e, "%s", msg);
    kv_t *kv = kv_new(&k, &e, msg, sizeof msg);
    if (!kv)
        return llm_fail(err, e == MPC_OK ? MPC_ENOMEM : e, "KV cache (%s): %s",
                        kv_policy_name(k.policy), e == MPC_EARG ? msg : "out of memory");
    e = eng->begin(eng->self, kv, ev->prompt_len, ev->n - 1, err);
    if (e != MPC_OK) {
        kv_free(&kv);
        return e;
    }
    kv_free(&ev->kv);
    ev->kv = kv;

    const int P = ev->prompt_len, n_scored = ev->n - P - 1;
    long attended = 0;
    for (int pos = 0; pos < ev->n - 1; pos++) {
        const float *logits = NULL;
        e = eng->step(eng->self, ev->tokens[pos], pos, &logits, err);
        if (e != MPC_OK) return e;
        if (pos < P) continue;
        score_position(ev, logits, pos, pos - P);
        for (int l = 0; l < c->n_layers; l++)
            attended += eng->attended(eng->self, l);
    }
    ev->last_n = n_scored;
    for (int i = 0; i < n_scored; i++) {
        sums->nll += ev->nll[i];
        sums->nll_full += ev->nll_full[i];
        sums->kl += ev->kl[i];
        sums->top1 += ev->top1[i];
    }
    sums->n += n_scored;
    sums->attended += attended;
    sums->attended_full += ev->ref_attended;
    return MPC_OK;
}

eval_tokens_t eval_last(const eval_t *ev)
{
    eval_tokens_t t = {ev->last_n, ev->nll, ev->nll_full, ev->kl, ev->top1};
    return t;
}

double eval_sums_ppl(const eval_sums_t *s)
{
    return s->n > 0 ? exp(s->nll / (double)s->n) : NAN;
}

double eval_sums_ppl_full(const eval_sums_t *s)
{
    return s->n > 0 ? exp(s->nll_full / (double)s->n) : NAN;
}

/* The bounds [*b, *e) of text[from..to) without surrounding whitespace. */
static void trim(const char *text, size_t from, size_t to, size_t *b, size_t *e)
{
    while (from < to && isspace((unsigned char)text[from]))
        from++;
    while (to > from && isspace((unsigned char)text[to - 1]))
        to--;
    *b = from;
    *e = to;
}

mpc_err_t eval_windows(const tok_t *t, const char *text, int n_tok, int max_windows, int *tokens,
                       int *n_windows, char *err)
{
    *n_windows = 0;
    if (n_tok < 2 || max_windows < 1)
        return llm_fail(err, MPC_EARG, "windows of %d tokens, at most %d of them: need 2+ and 1+",
                        n_tok, max_windows);
    const size_t len = strlen(text), sep_len = strlen(EVAL_SEPARATOR);
    char *story = malloc(len + 1);
    int *ids = malloc(tok_encode_cap(text) * sizeof *ids);
    if (!story || !ids) {
        free(story);
        free(ids);
        return llm_fail(err, MPC_ENOMEM, "out of memory for a text of %zu bytes", len);
    }
    mpc_err_t e = MPC_OK;
    int w = 0, fill = 0;
    size_t at = 0;
    while (at < len && w < max_windows) {
        const char *sep = strstr(text + at, EVAL_SEPARATOR);
        const size_t end = sep ? (size_t)(sep - text) : len;
        size_t b, s_end;
        trim(text, at, end, &b, &s_end);
        at = sep ? end + sep_len : len;
        if (b == s_end) continue;
        memcpy(story, text + b, s_end - b);
        story[s_end - b] = '\0';
        int k = 0;
        e = tok_encode(t, story, 1, 0, ids, &k, err);
        if (e != MPC_OK) break;
        const int take = k < n_tok - fill ? k : n_tok - fill;
        memcpy(tokens + (size_t)w * (size_t)n_tok + (size_t)fill, ids, (size_t)take * sizeof *ids);
        fill += take;
        if (fill == n_tok) {
            w++;
            fill = 0;
        }
    }
    free(story);
    free(ids);
    if (e == MPC_OK) *n_windows = w;
    return e;
}
