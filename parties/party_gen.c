/* parties/party_gen.c - the private generation program, as each role runs
 * it: the same loop over the fixed-point engine (llm/xfwd.h), whose backend
 * follows the role. The loop runs every step, since the step count is
 * public and stopping at BOS would reveal the output's length, unless the
 * client opted into that reveal (PROG_EARLY_STOP). The
 * program's KV-cache policy travels in the hellos (party_kv_t), and every
 * role builds its kv_config_t here, the same way. */
#include "parties/party.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "llm/xfwd.h"

/* A double as its IEEE-754 binary64 bits, low word first, and back. */
static void f64_pack(uint32_t w[2], double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    w[0] = (uint32_t)b;
    w[1] = (uint32_t)(b >> 32);
}

static double f64_unpack(const uint32_t w[2])
{
    uint64_t b = (uint64_t)w[0] | (uint64_t)w[1] << 32;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

void party_kv_pack(party_kv_t *w, const kv_config_t *kv)
{
    memset(w, 0, sizeof *w);
    w->policy = (uint32_t)kv->policy;
    w->cluster[0] = kv->cluster_coarse;
    w->cluster[1] = kv->cluster_fine;
    w->sinks = kv->sinks;
    w->window_min = kv->mpc_window_min;
    w->fixed_budget = kv->fixed_budget;
    f64_pack(w->budget, kv->budget);
    f64_pack(w->static_keep, kv->static_keep);
    f64_pack(w->alpha, kv->mpc_alpha);
    f64_pack(w->window_frac, kv->mpc_window_frac);
    f64_pack(w->h2o_heavy, kv->h2o_heavy);
    f64_pack(w->h2o_recent, kv->h2o_recent);
}

mpc_err_t party_prog_kv(const party_prog_t *prog, kv_config_t *kv, char *err)
{
    const party_kv_t *w = &prog->kv;
    kv_config_default(kv);
    if (w->policy >= KV_POLICY_COUNT) {
        snprintf(err, CHAN_ERR_BYTES, "unknown KV-cache policy %u", w->policy);
        return MPC_EARG;
    }
    kv->policy = (kv_policy_t)w->policy;
    kv->cluster_coarse = w->cluster[0];
    kv->cluster_fine = w->cluster[1];
    kv->sinks = w->sinks;
    kv->mpc_window_min = w->window_min;
    kv->fixed_budget = w->fixed_budget;
    kv->budget = f64_unpack(w->budget);
    kv->static_keep = f64_unpack(w->static_keep);
    kv->mpc_alpha = f64_unpack(w->alpha);
    kv->mpc_window_frac = f64_unpack(w->window_frac);
    kv->h2o_heavy = f64_unpack(w->h2o_heavy);
    kv->h2o_recent = f64_unpack(w->h2o_recent);
    kv->n_layers = prog->cfg[2];
    kv->n_heads = prog->cfg[3];
    kv->n_kv_heads = prog->cfg[4];
    kv->head_size = prog->cfg[3] > 0 ? prog->cfg[0] / prog->cfg[3] : 0;
    kv->seq_len = prog->cfg[6];
    kv->prompt_len = (int)prog->n_prompt;
    return kv_config_check(kv, err, CHAN_ERR_BYTES) ? MPC_EARG : MPC_OK;
}

int party_policy_secure(int policy)
{
    return policy == KV_FULL || policy == KV_STREAMING || policy == KV_H2O ||
           policy == KV_MPCACHE;
}

int party_policy_pads(int policy)
{
    return policy != KV_MPCACHE && policy != KV_H2O;
}

void party_prog_generate(party_prog_t *prog, const model_config_t *cfg, int frac_bits, int steps,
                         int n_prompt)
{
    kv_config_t kv;
    kv_config_default(&kv);
    party_kv_pack(&prog->kv, &kv);
    prog->kind = PROG_GENERATE;
    prog->frac_bits = (uint32_t)frac_bits;
    prog->steps = (uint32_t)steps;
    prog->n_prompt = (uint32_t)n_prompt;
    if (cfg) {
        int32_t v[7] = {cfg->dim,     cfg->hidden_dim, cfg->n_layers, cfg->n_heads,
                        cfg->n_kv_heads, cfg->vocab_size, cfg->seq_len};
        for (int i = 0; i < 7; i++) prog->cfg[i] = v[i];
    }
}

static model_config_t prog_cfg(const party_prog_t *prog)
{
    model_config_t cfg = {prog->cfg[0], prog->cfg[1], prog->cfg[2], prog->cfg[3],
                          prog->cfg[4], prog->cfg[5], prog->cfg[6]};
    return cfg;
}

static int prog_bad(const party_prog_t *prog, char *err)
{
    model_config_t cfg = prog_cfg(prog);
    uint32_t P = prog->n_prompt, steps = prog->steps;
    if (model_config_check(&cfg, err)) return 1;
    if (P < 1 || steps < P || steps > (uint32_t)cfg.seq_len) {
        snprintf(err, CHAN_ERR_BYTES,
                 "a %u-token prompt and %u steps do not fit a %d-position model (steps must be "
                 "at least the prompt's tokens)",
                 P, steps, cfg.seq_len);
        return 1;
    }
    return 0;
}

mpc_err_t party_prog_check(const party_prog_t *prog, int secure, char *err)
{
    if (prog_bad(prog, err)) return MPC_EARG;
    uint32_t pol = prog->kv.policy;
    const char *name = pol < KV_POLICY_COUNT ? kv_policy_name((kv_policy_t)pol) : "?";
    if (secure && pol < KV_POLICY_COUNT && !party_policy_secure((int)pol)) {
        snprintf(err, CHAN_ERR_BYTES,
                 "--policy %s does not run in the secure engine (full, streaming, h2o and "
                 "mpcache do)",
                 name);
        return MPC_EARG;
    }
    if ((prog->flags & PROG_PAD) && pol < KV_POLICY_COUNT && !party_policy_pads((int)pol)) {
        snprintf(err, CHAN_ERR_BYTES, "--pad-to does not work with --policy %s yet", name);
        return MPC_EARG;
    }
    kv_config_t kv;
    return party_prog_kv(prog, &kv, err);
}

/* The program's policy into x (before its setup). */
static mpc_err_t set_policy(xfwd_t *x, const party_prog_t *prog, char *err)
{
    kv_config_t kv;
    mpc_err_t e = party_prog_kv(prog, &kv, err);
    if (!e && xfwd_set_policy(x, &kv) != MPC_OK) {
        snprintf(err, CHAN_ERR_BYTES, "%s", xfwd_error(x));
        e = MPC_EARG;
    }
    return e;
}

/* After a decode step: the tokens each layer attended, when io asks. */
static void log_attended(const xfwd_t *x, const party_prog_t *prog, party_gen_io_t *io)
{
    if (!io || !io->attended) return;
    int L = prog->cfg[2];
    MPC_ASSERT(io->n_attended < (int)(prog->steps - prog->n_prompt));
    int *row = io->attended + (size_t)io->n_attended * (size_t)L;
    for (int l = 0; l < L; l++) row[l] = xfwd_attended(x, l);
    io->n_attended++;
}

static xfwd_opts_t prog_opts(const party_prog_t *prog, const party_gen_io_t *io)
{
    xfwd_opts_t o = {.pad = (prog->flags & PROG_PAD) != 0, .pad_len = io ? io->pad_len : -1,
                     .reveal_logits = (prog->flags & PROG_REVEAL_LOGITS) != 0};
    return o;
}

/* After each token: P1 says whether the session ends here (early stop). */
#define STOP_TAG CHAN_TAG('s', 't', 'o', 'p')

static mpc_err_t early_stop(mpc_ctx_t *ctx, party_gen_io_t *io, int token, int *stop)
{
    uint8_t flag = io && token == 1;
    mpc_err_t e = MPC_OK;
    stats_push(&ctx->stats, "early_stop");
    if (ctx->party == MPC_P1) e = mpc_send(ctx, STOP_TAG, &flag, 1);
    else if (ctx->party == MPC_P0) e = mpc_recv(ctx, STOP_TAG, &flag, 1);
    stats_pop(&ctx->stats);
    *stop = flag != 0;
    return e;
}

static void emit(const xfwd_t *x, const party_prog_t *prog, party_gen_io_t *io, int next)
{
    if (!io) return;
    if (io->on_logits && (prog->flags & PROG_REVEAL_LOGITS))
        io->on_logits(io->arg, xfwd_logits(x), prog->cfg[5], (int)prog->frac_bits);
    if (io->on_token) io->on_token(io->arg, next);
}

mpc_err_t party_generate_fixed(const party_prog_t *prog, const model_t *model, party_gen_io_t *io,
                               const uint8_t round_seed[PRG_SEED_BYTES], char *err)
{
    if (party_prog_check(prog, 0, err)) return MPC_EARG;
    model_config_t cfg = prog_cfg(prog);
    int P = (int)prog->n_prompt, steps = (int)prog->steps, next = -1;
    xfwd_t *x = NULL;
    mpc_err_t e = xfwd_new(&x, &cfg, model, NULL, XFWD_PLAIN, (int)prog->frac_bits, round_seed, err);
    if (e) return e;
    xfwd_opts_t o = prog_opts(prog, io);
    xfwd_set_opts(x, &o);
    io->n_attended = 0;
    e = set_policy(x, prog, err);
    double t0 = stats_now();
    if (!e) e = xfwd_setup(x);
    double t1 = stats_now();
    if (!e) e = xfwd_forward(x, io->prompt, 0, P, &next);
    if (!e) emit(x, prog, io, next);
    double t2 = stats_now();
    for (int pos = P; pos < steps && !e; pos++) {
        if ((prog->flags & PROG_EARLY_STOP) && next == 1) {
            io->stopped_early = 1;
            break;
        }
        e = xfwd_forward(x, &next, pos, 1, &next);
        if (!e) log_attended(x, prog, io);
        if (!e) emit(x, prog, io, next);
    }
    io->setup_s = t1 - t0;
    io->prefill_s = t2 - t1;
    io->decode_s = stats_now() - t2;
    xfwd_free(&x);
    return e;
}

mpc_err_t party_generate(mpc_ctx_t *ctx, const party_prog_t *prog, const model_t *model,
                         party_gen_io_t *io)
{
    char err[CHAN_ERR_BYTES];
    if (party_prog_check(prog, 1, err)) return mpc_fail(ctx, MPC_EARG, "%s", err);
    model_config_t cfg = prog_cfg(prog);
    int P = (int)prog->n_prompt, steps = (int)prog->steps;
    xfwd_t *x = NULL;
    mpc_err_t e = xfwd_new(&x, &cfg, model, ctx, ctx->party, (int)prog->frac_bits, NULL, err);
    if (e) return mpc_fail(ctx, e, "%s", err);
    if (ctx->party != MPC_P1) io = NULL;
    xfwd_opts_t o = prog_opts(prog, io);
    xfwd_set_opts(x, &o);
    if (io) io->n_attended = 0;
    kv_config_t kv;
    e = party_prog_kv(prog, &kv, err);
    if (e) e = mpc_fail(ctx, e, "%s", err);
    if (!e) e = xfwd_set_policy(x, &kv);
    if (!e) e = xfwd_setup(x);
    int next = -1, stop = 0;
    if (!e) {
        stats_phase(&ctx->stats, PHASE_PREFILL);
        mpc_log(ctx, "prefill of %d tokens", P);
        e = xfwd_forward(x, io ? io->prompt : NULL, 0, P, &next);
    }
    if (!e) emit(x, prog, io, next);
    stats_phase(&ctx->stats, PHASE_DECODE);
    for (int pos = P; pos < steps && !e; pos++) {
        if (prog->flags & PROG_EARLY_STOP) {
            e = early_stop(ctx, io, next, &stop);
            if (e || stop) break;
        }
        e = xfwd_forward(x, &next, pos, 1, &next);
        if (!e) log_attended(x, prog, io);
        if (!e) emit(x, prog, io, next);
    }
    if (stop && io) io->stopped_early = 1;
    stats_phase(&ctx->stats, PHASE_OTHER);
    xfwd_free(&x);
    return e;
}

int party_file_hash(const char *path, uint8_t out[32])
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) crypto_hash_sha256_update(&st, buf, n);
    int bad = ferror(f);
    fclose(f);
    crypto_hash_sha256_final(&st, out);
    return bad ? -1 : 0;
}
