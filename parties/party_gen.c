/* parties/party_gen.c - the private generation program, as each role runs
 * it: the same loop over the fixed-point engine (llm/xfwd.h), whose backend
 * follows the role. The loop always runs every step, since the step count
 * is public and stopping at BOS would reveal the output's length. */
#include "parties/party.h"

#include <sodium.h>
#include <stdio.h>

#include "llm/xfwd.h"

void party_prog_generate(party_prog_t *prog, const model_config_t *cfg, int frac_bits, int steps,
                         int n_prompt)
{
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
    int P = (int)prog->n_prompt, steps = (int)prog->steps;
    if (model_config_check(&cfg, err)) return 1;
    if (P < 1 || steps < P || steps > cfg.seq_len) {
        snprintf(err, CHAN_ERR_BYTES,
                 "a %d-token prompt and %d steps do not fit a %d-position model (steps must be "
                 "at least the prompt's tokens)", P, steps, cfg.seq_len);
        return 1;
    }
    return 0;
}

static xfwd_opts_t prog_opts(const party_prog_t *prog, const party_gen_io_t *io)
{
    xfwd_opts_t o = {(prog->flags & PROG_PAD) != 0, io ? io->pad_len : -1,
                     (prog->flags & PROG_REVEAL_LOGITS) != 0};
    if (!o.pad) o.pad_len = io ? 0 : -1;
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
    if (prog_bad(prog, err)) return MPC_EARG;
    model_config_t cfg = prog_cfg(prog);
    int P = (int)prog->n_prompt, steps = (int)prog->steps, next = -1;
    xfwd_t *x = NULL;
    mpc_err_t e = xfwd_new(&x, &cfg, model, NULL, XFWD_PLAIN, (int)prog->frac_bits, round_seed, err);
    if (e) return e;
    xfwd_opts_t o = prog_opts(prog, io);
    xfwd_set_opts(x, &o);
    e = xfwd_setup(x);
    if (!e) e = xfwd_forward(x, io->prompt, 0, P, &next);
    if (!e) emit(x, prog, io, next);
    for (int pos = P; pos < steps && !e; pos++) {
        if ((prog->flags & PROG_EARLY_STOP) && next == 1) {
            io->stopped_early = 1;
            break;
        }
        e = xfwd_forward(x, &next, pos, 1, &next);
        if (!e) emit(x, prog, io, next);
    }
    xfwd_free(&x);
    return e;
}

mpc_err_t party_generate(mpc_ctx_t *ctx, const party_prog_t *prog, const model_t *model,
                         party_gen_io_t *io)
{
    char err[CHAN_ERR_BYTES];
    if (prog_bad(prog, err)) return mpc_fail(ctx, MPC_EARG, "%s", err);
    model_config_t cfg = prog_cfg(prog);
    int P = (int)prog->n_prompt, steps = (int)prog->steps;
    xfwd_t *x = NULL;
    mpc_err_t e = xfwd_new(&x, &cfg, model, ctx, ctx->party, (int)prog->frac_bits, NULL, err);
    if (e) return mpc_fail(ctx, e, "%s", err);
    xfwd_opts_t o = prog_opts(prog, ctx->party == MPC_P1 ? io : NULL);
    xfwd_set_opts(x, &o);
    e = xfwd_setup(x);
    int next = -1, stop = 0;
    if (!e) {
        stats_phase(&ctx->stats, PHASE_PREFILL);
        mpc_log(ctx, "prefill of %d tokens", P);
        e = xfwd_forward(x, ctx->party == MPC_P1 ? io->prompt : NULL, 0, P, &next);
    }
    if (!e && ctx->party == MPC_P1) emit(x, prog, io, next);
    stats_phase(&ctx->stats, PHASE_DECODE);
    for (int pos = P; pos < steps && !e; pos++) {
        if (prog->flags & PROG_EARLY_STOP) {
            e = early_stop(ctx, ctx->party == MPC_P1 ? io : NULL, next, &stop);
            if (e || stop) break;
        }
        e = xfwd_forward(x, &next, pos, 1, &next);
        if (!e && ctx->party == MPC_P1) emit(x, prog, io, next);
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
