/* bench/bench_acc_secure.c - the secure engine as an eval engine, checked
 * step by step against the fixed-point plain engine (bench_acc_secure.h).
 *
 * The schedule of a window is public (the prompt as one batch, then one
 * decode step per position up to n_pos), so P0 and the dealer run it
 * through on their own: the dealer streams its tapes ahead (a tape is sent
 * in chunks, so a dealer that waited for each step would hold back the
 * tail of the last chunk). Only P1 needs the tokens, which come one step at
 * a time: the scoring thread hands each forward call to P1 through a
 * command slot and waits for its answer. A role that fails fails the
 * others by their links (at once, or by the link's timeout), and P1's
 * answer then carries the error. At the end of a session the roles finish
 * their tapes (consumed exactly, or an error).
 *
 * One session per window: fresh contexts, links and tapes, so that no mask
 * or rounding site is used twice under one seed; the test seed derives the
 * parties' tape seeds and the dealer's rounding stream as `mpcllm-dealer
 * --test-seed` does, and so every session repeats the same stream, as the
 * fixed engine does with a fresh run state per window.
 */
#include "bench/bench_acc_secure.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/xfwd.h"
#include "mpc/ctx.h"
#include "mpc/fxp.h"
#include "net/net.h"

#define ACC_SECURE_TIMEOUT_MS 120000

enum { CMD_STEP, CMD_END };

typedef struct acc_role {
    mpc_ctx_t ctx;
    acc_secure_t *s;
    pthread_t th;
    int started, ready; /* thread running; ctx initialised */
    mpc_err_t err;      /* under the engine's mu */
} acc_role_t;

struct acc_secure {
    const model_t *m;
    int f;
    uint8_t test_seed[16];
    eval_engine_t twin; /* the fixed engine with the seed's rounding stream */
    eval_fixed_t *fx;
    float *logits; /* (vocab) decoded from raw */
    uint64_t *raw; /* (vocab) P1's logits, scale f */
    int *prompt;   /* (seq_len) the window's prompt, gathered */
    int *attended; /* (n_layers) P1's count at the last forward call */
    int token;     /* the decode step's token */
    /* the session */
    net_t *net;
    chan_t *ch[6]; /* P0-P1, P1-P0, dealer-P0, P0-dealer, dealer-P1, P1-dealer */
    acc_role_t r[3];
    int live;
    kv_config_t kv; /* the window's policy, when has_kv */
    int has_kv, prompt_len, n_pos;
    /* P1's command slot, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gen, cmd, pos0, n, done;
    const int *tokens;
    /* totals */
    acc_secure_report_t rep;
    unsigned sessions;
};

/* ---- the roles ------------------------------------------------------------ */

/* P1: waits for command number want; returns it with its arguments. */
static int wait_cmd(acc_secure_t *s, int want, int *pos0, int *n)
{
    pthread_mutex_lock(&s->mu);
    while (s->gen < want)
        pthread_cond_wait(&s->cv, &s->mu);
    int cmd = s->cmd;
    *pos0 = s->pos0;
    *n = s->n;
    pthread_mutex_unlock(&s->mu);
    return cmd;
}

/* Records a role's error; P1 also answers its command. */
static void answer(acc_secure_t *s, acc_role_t *r, mpc_err_t e)
{
    pthread_mutex_lock(&s->mu);
    if (e && !r->err) r->err = e;
    if (r->ctx.party == MPC_P1) s->done++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* One forward call of the schedule: the prompt at pos P - 1, else one
 * decode step. */
static mpc_err_t forward(acc_secure_t *s, xfwd_t *x, int p, int pos0, int n)
{
    int next;
    mpc_err_t e = xfwd_forward(x, p == MPC_P1 ? s->tokens : NULL, pos0, n, &next);
    if (e || p != MPC_P1) return e;
    /* read by the scoring thread after P1's answer; the counts are public,
     * so P1 knows them as P0 does */
    memcpy(s->raw, xfwd_logits(x), (size_t)s->m->cfg.vocab_size * sizeof *s->raw);
    for (int l = 0; l < s->m->cfg.n_layers; l++)
        s->attended[l] = xfwd_attended(x, l);
    return e;
}

static void *role_main(void *arg)
{
    acc_role_t *r = arg;
    acc_secure_t *s = r->s;
    mpc_ctx_t *ctx = &r->ctx;
    const int p = ctx->party;
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    mpc_err_t e = xfwd_new(&x, &s->m->cfg, p == MPC_P0 ? s->m : NULL, ctx, p, s->f, NULL, err);
    if (e) mpc_fail(ctx, e, "%s", err);
    if (!e && s->has_kv) e = xfwd_set_policy(x, &s->kv);
    if (!e) {
        xfwd_opts_t o;
        memset(&o, 0, sizeof o);
        o.reveal_logits = 1; /* P1 scores the logits */
        xfwd_set_opts(x, &o);
        e = xfwd_setup(x);
    }
    const int P = s->prompt_len;
    int ended = 1;
    if (p != MPC_P1) { /* the whole schedule, at its own pace */
        for (int pos = P - 1; pos < s->n_pos && !e; pos++)
            e = pos == P - 1 ? forward(s, x, p, 0, P) : forward(s, x, p, pos, 1);
    } else { /* each step when its token comes */
        for (int want = 1;; want++) {
            int pos0, n;
            if (wait_cmd(s, want, &pos0, &n) == CMD_END) break;
            if (!e) e = forward(s, x, p, pos0, n);
            ended = !e && pos0 + n == s->n_pos;
            answer(s, r, e);
        }
    }
    /* P1 stopped early when the scoring failed: its tape is not used up */
    if (!e && ended) e = p == MPC_DEALER ? deal_finish(ctx) : mpc_corr_finish(ctx);
    xfwd_free(&x);
    answer(s, r, e);
    return NULL;
}

/* The first role's error (in role order), its detail in err. */
static mpc_err_t role_error(acc_secure_t *s, char *err)
{
    static const char *names[3] = {"P0", "P1", "dealer"};
    mpc_err_t e = MPC_OK;
    pthread_mutex_lock(&s->mu);
    for (int p = 0; p < 3 && !e; p++)
        if (s->r[p].err) {
            e = s->r[p].err;
            snprintf(err, CHAN_ERR_BYTES, "secure engine, %s: %s", names[p], s->r[p].ctx.err);
        }
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Hands P1 a command and waits for its answer (none for CMD_END). Fails
 * with a role's error, its detail in err. */
static mpc_err_t run_cmd(acc_secure_t *s, int cmd, int pos0, int n, const int *tokens, char *err)
{
    pthread_mutex_lock(&s->mu);
    s->cmd = cmd;
    s->pos0 = pos0;
    s->n = n;
    s->tokens = tokens;
    s->done = 0;
    s->gen++;
    pthread_cond_broadcast(&s->cv);
    while (cmd != CMD_END && s->done < 1 && s->r[1].started)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return role_error(s, err);
}

/* ---- sessions --------------------------------------------------------------- */

static void session_free(acc_secure_t *s)
{
    for (int p = 0; p < 3; p++) {
        if (s->r[p].ready) mpc_ctx_destroy(&s->r[p].ctx);
        s->r[p].ready = 0;
    }
    for (int i = 0; i < 6; i++)
        chan_free(&s->ch[i]);
}

mpc_err_t acc_secure_end(acc_secure_t *s, char *err)
{
    if (!s->live) return MPC_OK;
    (void)run_cmd(s, CMD_END, 0, 0, NULL, err);
    for (int p = 0; p < 3; p++)
        if (s->r[p].started) pthread_join(s->r[p].th, NULL);
    mpc_err_t e = role_error(s, err);
    for (int p = 0; p < 2; p++)
        s->rep.online_bytes += stats_total(&s->r[p].ctx.stats, -1).bytes_sent;
    s->rep.rounds += s->r[0].ctx.depth > s->r[1].ctx.depth ? s->r[0].ctx.depth : s->r[1].ctx.depth;
    session_free(s);
    s->live = 0;
    return e;
}

/* A linked pair of channels in this process: a bound, b connected. */
static mpc_err_t pair(acc_secure_t *s, int i, char *err)
{
    char ep[96];
    net_opts_t o;
    net_opts_default(&o);
    o.curve = 0; /* one process holds all three roles: nothing to hide */
    o.timeout_ms = ACC_SECURE_TIMEOUT_MS;
    snprintf(ep, sizeof ep, "inproc://acc-secure-%p-%u-%d", (void *)s, s->sessions, i);
    s->ch[2 * i] = net_chan_bind(s->net, ep, &o, err);
    if (s->ch[2 * i]) s->ch[2 * i + 1] = net_chan_connect(s->net, ep, &o, err);
    return s->ch[2 * i + 1] ? MPC_OK : MPC_EIO;
}

/* Opens the window's session and starts its roles. */
static mpc_err_t session_open(acc_secure_t *s, char *err)
{
    mpc_err_t e = MPC_OK;
    s->sessions++;
    for (int i = 0; i < 3 && !e; i++)
        e = pair(s, i, err);
    uint8_t sid[CHAN_SESSION_BYTES], seed[3][PRG_SEED_BYTES];
    prg_seed_random(sid);
    for (int i = 0; i < 6 && !e; i++)
        memcpy(s->ch[i]->session, sid, sizeof sid);
    prg_seed_derive(seed[0], s->test_seed, "p0");
    prg_seed_derive(seed[1], s->test_seed, "p1");
    prg_seed_derive(seed[2], s->test_seed, "round");
    memset(s->r, 0, sizeof s->r);
    for (int p = 0; p < 3 && !e; p++) {
        s->r[p].s = s;
        e = mpc_ctx_init(&s->r[p].ctx, p, s->f);
        s->r[p].ready = !e;
    }
    if (!e) {
        s->r[0].ctx.peer = s->ch[0];
        s->r[1].ctx.peer = s->ch[1];
        s->r[0].ctx.tape[0] = tape_reader_chan(s->ch[3], seed[0]);
        s->r[1].ctx.tape[0] = tape_reader_chan(s->ch[5], seed[1]);
        s->r[2].ctx.tape[0] = tape_writer_chan(s->ch[2], seed[0]);
        s->r[2].ctx.tape[1] = tape_writer_chan(s->ch[4], seed[1]);
        memcpy(s->r[2].ctx.round_seed, seed[2], PRG_SEED_BYTES);
        if (!s->r[0].ctx.tape[0] || !s->r[1].ctx.tape[0] || !s->r[2].ctx.tape[0] ||
            !s->r[2].ctx.tape[1])
            e = MPC_ENOMEM;
    }
    memset(seed, 0, sizeof seed);
    if (e) {
        if (!*err) snprintf(err, CHAN_ERR_BYTES, "secure engine: out of memory for a session");
        session_free(s);
        return e;
    }
    s->gen = 0;
    s->live = 1;
    for (int p = 0; p < 3; p++) {
        /* a role that cannot start fails the session; the others fail by
         * their links' timeout */
        s->r[p].started = pthread_create(&s->r[p].th, NULL, role_main, &s->r[p]) == 0;
        if (!s->r[p].started)
            s->r[p].err = mpc_fail(&s->r[p].ctx, MPC_ENOMEM, "cannot start a thread");
    }
    return MPC_OK;
}

/* ---- the eval engine ------------------------------------------------------- */

int acc_secure_runs(kv_policy_t policy)
{
    return policy == KV_FULL || policy == KV_STREAMING || policy == KV_H2O || policy == KV_MPCACHE;
}

static mpc_err_t secure_begin(void *self, kv_t *kv, int prompt_len, int n_pos, char *err)
{
    acc_secure_t *s = self;
    *err = '\0';
    mpc_err_t e = acc_secure_end(s, err);
    if (e) return e;
    s->has_kv = kv != NULL;
    if (kv) {
        s->kv = *kv_config(kv);
        s->kv.prompt_len = prompt_len;
        if (!acc_secure_runs(s->kv.policy)) {
            snprintf(err, CHAN_ERR_BYTES,
                     "the secure engine runs full, streaming, h2o and mpcache, not %s",
                     kv_policy_name(s->kv.policy));
            return MPC_EARG;
        }
    }
    MPC_ASSERT(prompt_len >= 1 && n_pos >= prompt_len && n_pos <= s->m->cfg.seq_len);
    s->prompt_len = prompt_len;
    s->n_pos = n_pos;
    e = s->twin.begin(s->twin.self, kv, prompt_len, n_pos, err);
    return e ? e : session_open(s, err);
}

static mpc_err_t secure_step(void *self, int token, int pos, const float **logits, char *err)
{
    acc_secure_t *s = self;
    const int V = s->m->cfg.vocab_size, P = s->prompt_len;
    const float *want = NULL;
    *logits = s->logits;
    MPC_ASSERT(s->live && pos < s->n_pos);
    mpc_err_t e = s->twin.step(s->twin.self, token, pos, &want, err);
    if (e) return e;
    if (pos < P - 1) { /* the prompt goes as one batch at its last position */
        s->prompt[pos] = token;
        return MPC_OK;
    }
    if (pos == P - 1) {
        s->prompt[pos] = token;
        e = run_cmd(s, CMD_STEP, 0, P, s->prompt, err);
    } else {
        s->token = token;
        e = run_cmd(s, CMD_STEP, pos, 1, &s->token, err);
    }
    if (e) return e;
    const uint64_t *fixed = eval_fixed_logits(s->fx);
    int64_t worst = 0;
    for (int i = 0; i < V; i++) {
        s->logits[i] = (float)fxp_decode(s->raw[i], s->f);
        int64_t d = fxp_signed(s->raw[i] - fixed[i]);
        d = d < 0 ? -d : d;
        worst = d > worst ? d : worst;
    }
    const double diff = fxp_decode((uint64_t)worst, s->f);
    s->rep.steps++;
    s->rep.mismatched += worst != 0;
    if (diff > s->rep.max_diff) s->rep.max_diff = diff;
    return MPC_OK;
}

static int secure_attended(void *self, int layer)
{
    return ((acc_secure_t *)self)->attended[layer];
}

mpc_err_t acc_secure_new(acc_secure_t **out, eval_engine_t *eng, const model_t *m, int frac_bits,
                         const uint8_t test_seed[16], char *err)
{
    *out = NULL;
    acc_secure_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, CHAN_ERR_BYTES, "out of memory for the secure engine");
        return MPC_ENOMEM;
    }
    s->m = m;
    s->f = frac_bits;
    memcpy(s->test_seed, test_seed, sizeof s->test_seed);
    s->logits = calloc((size_t)m->cfg.vocab_size, sizeof *s->logits);
    s->raw = calloc((size_t)m->cfg.vocab_size, sizeof *s->raw);
    s->prompt = calloc((size_t)m->cfg.seq_len, sizeof *s->prompt);
    s->attended = calloc((size_t)m->cfg.n_layers, sizeof *s->attended);
    s->net = net_new();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    uint8_t round_seed[PRG_SEED_BYTES];
    prg_seed_derive(round_seed, test_seed, "round");
    mpc_err_t e = s->logits && s->raw && s->prompt && s->attended && s->net ? MPC_OK : MPC_ENOMEM;
    if (e) snprintf(err, CHAN_ERR_BYTES, "out of memory for the secure engine");
    if (!e) e = eval_engine_fixed(&s->twin, &s->fx, m, frac_bits, round_seed, err);
    memset(round_seed, 0, sizeof round_seed);
    if (e) {
        acc_secure_free(&s);
        return e;
    }
    eng->self = s;
    eng->begin = secure_begin;
    eng->step = secure_step;
    eng->attended = secure_attended;
    *out = s;
    return MPC_OK;
}

void acc_secure_free(acc_secure_t **sp)
{
    if (!sp || !*sp) return;
    acc_secure_t *s = *sp;
    char err[CHAN_ERR_BYTES];
    if (acc_secure_end(s, err) != MPC_OK) {
        /* the window's error was reported by the step that failed */
    }
    eval_fixed_free(&s->fx);
    net_free(&s->net);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->logits);
    free(s->raw);
    free(s->prompt);
    free(s->attended);
    free(s);
    *sp = NULL;
}

void acc_secure_report(const acc_secure_t *s, acc_secure_report_t *out)
{
    *out = s->rep;
}
