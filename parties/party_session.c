/* parties/party_session.c - session ids, joining the dealer, the dealer's
 * side of a session, and the end-of-run report. */
#include "parties/party.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "mpc/fxp.h"

void party_sid(uint8_t sid[CHAN_SESSION_BYTES], const party_dealer_hello_t *h)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CHAN_SESSION_BYTES);
    crypto_generichash_update(&st, h->nonce[0], 32);
    crypto_generichash_update(&st, h->nonce[1], 32);
    crypto_generichash_update(&st, h->pk[0], 32);
    crypto_generichash_update(&st, h->pk[1], 32);
    crypto_generichash_final(&st, sid, CHAN_SESSION_BYTES);
}

mpc_err_t party_join_dealer(mpc_ctx_t *ctx, const party_net_t *pn, const party_dealer_hello_t *h,
                            chan_t **dealer, uint32_t *flags)
{
    if (flags) *flags = 0;
    net_opts_t o = pn->self;
    memcpy(o.server_key, pn->dealer_key, NET_KEY_BYTES);
    o.timeout_ms = pn->timeout_ms;
    char err[NET_ERR_BYTES];
    mpc_err_t refusal;
    *dealer = net_dial(pn->net, pn->dealer_ep, &o, h, sizeof *h, &refusal, err);
    net_opts_wipe(&o);
    if (!*dealer && refusal)
        return mpc_fail(ctx, refusal, "dealer refused the session: %s", err + strlen(NET_REFUSED));
    if (!*dealer) return mpc_fail(ctx, MPC_EPEER, "dealer %s: %s", pn->dealer_ep, err);
    memcpy((*dealer)->session, h->sid, CHAN_SESSION_BYTES);
    party_seed_msg_t m;
    size_t len = 0;
    uint64_t depth;
    mpc_err_t e = chan_recv(*dealer, PARTY_SEED_TAG, &depth, &m, sizeof m, &len);
    if (e) return mpc_fail(ctx, e, "dealer %s: %s", pn->dealer_ep, (*dealer)->err);
    if (len != sizeof m) return mpc_fail(ctx, MPC_EFORMAT, "dealer sent a malformed seed message");
    m.msg[sizeof m.msg - 1] = '\0';
    if (m.status != MPC_OK) {
        e = m.status <= MPC_EFORMAT ? (mpc_err_t)m.status : MPC_EPEER;
        return mpc_fail(ctx, e, "dealer refused the session: %s", m.msg);
    }
    if (sodium_memcmp(m.sid, h->sid, CHAN_SESSION_BYTES) != 0) {
        sodium_memzero(&m, sizeof m);
        return mpc_fail(ctx, MPC_EPEER, "dealer confirmed another session id");
    }
    ctx->tape[0] = tape_reader_chan(*dealer, m.seed);
    if (flags) *flags = m.flags;
    sodium_memzero(&m, sizeof m);
    return ctx->tape[0] ? MPC_OK : mpc_fail(ctx, MPC_ENOMEM, "out of memory");
}

mpc_err_t party_prog_admit(const party_prog_t *prog, char *err)
{
    if (prog->frac_bits < FXP_FRAC_BITS_MIN || prog->frac_bits > FXP_FRAC_BITS_MAX) {
        snprintf(err, CHAN_ERR_BYTES, "fractional bits %u are outside [%d, %d]", prog->frac_bits,
                 FXP_FRAC_BITS_MIN, FXP_FRAC_BITS_MAX);
        return MPC_EFORMAT;
    }
    switch (prog->kind) {
    case PROG_MATVEC:
        if (prog->d < 1 || prog->d > PARTY_MATVEC_MAX_D) {
            snprintf(err, CHAN_ERR_BYTES, "the matvec demo takes d in [1, %u], got %u",
                     PARTY_MATVEC_MAX_D, prog->d);
            return MPC_EARG;
        }
        return MPC_OK;
    case PROG_GENERATE:
        if (prog->flags & ~(uint32_t)(PROG_PAD | PROG_REVEAL_LOGITS | PROG_EARLY_STOP)) {
            snprintf(err, CHAN_ERR_BYTES, "unknown program flags 0x%x", prog->flags);
            return MPC_EARG;
        }
        return party_prog_check(prog, 1, err);
    }
    snprintf(err, CHAN_ERR_BYTES, "unknown program kind %u", prog->kind);
    return MPC_EFORMAT;
}

const char *party_prog_changed(const party_prog_t *asked, const party_prog_t *echo)
{
    if (asked->kind != echo->kind) return "kind";
    if (asked->frac_bits != echo->frac_bits) return "frac_bits";
    if (asked->d != echo->d) return "d";
    if (asked->steps != echo->steps) return "steps";
    if (asked->n_prompt != echo->n_prompt) return "n_prompt";
    if (asked->flags != echo->flags) return "flags";
    if (memcmp(&asked->kv, &echo->kv, sizeof asked->kv) != 0) return "kv";
    /* every field is named above but the server's own two */
    party_prog_t a = *asked, b = *echo;
    memset(a.cfg, 0, sizeof a.cfg), memset(b.cfg, 0, sizeof b.cfg);
    memset(a.model_hash, 0, sizeof a.model_hash), memset(b.model_hash, 0, sizeof b.model_hash);
    return memcmp(&a, &b, sizeof a) ? "program" : NULL;
}

static mpc_err_t deal_program(mpc_ctx_t *ctx, const party_prog_t *prog)
{
    switch (prog->kind) {
    case PROG_MATVEC: return demo_matvec(ctx, prog, NULL, NULL, NULL);
    case PROG_GENERATE: return party_generate(ctx, prog, NULL, NULL);
    }
    return mpc_fail(ctx, MPC_EARG, "unknown program kind %u", prog->kind);
}

mpc_err_t party_confirm_dealer(mpc_ctx_t *ctx, chan_t *dealer)
{
    uint8_t done = 1;
    mpc_err_t e = chan_send(dealer, PARTY_DONE_TAG, 0, &done, sizeof done);
    return e ? mpc_fail(ctx, e, "dealer: %s", dealer->err) : MPC_OK;
}

/* When deal_finish returns, up to two queues of the tape (1 MiB messages,
 * net/'s high-water marks) may still be on their way, and a link closed then
 * lingers only for its timeout before it drops them: a party that reads
 * slowly, as under load, would lose the end of its tape. So the dealer holds
 * both links until each party confirms. A party still connected but slow is
 * waited for one timeout at a time, taking turns, up to one timeout per
 * position of the program; an error well before the timeout (the party left,
 * or sent something else) ends the wait. */
static mpc_err_t await_confirm(mpc_ctx_t *ctx, chan_t *to[2], const party_prog_t *prog,
                               int timeout_ms)
{
    int done[2] = {0, 0};
    for (uint32_t turn = 0; turn < prog->steps + 2; turn++) {
        for (int p = 0; p < 2; p++) {
            if (done[p]) continue;
            uint8_t msg;
            size_t len = 0;
            uint64_t depth;
            double t0 = stats_now();
            mpc_err_t e = chan_recv(to[p], PARTY_DONE_TAG, &depth, &msg, sizeof msg, &len);
            if (!e) {
                done[p] = 1;
                continue;
            }
            if (timeout_ms < 0 || (stats_now() - t0) * 1000 < timeout_ms / 2.0)
                return mpc_fail(ctx, e, "P%d did not confirm its tape: %s", p, to[p]->err);
        }
        if (done[0] && done[1]) return MPC_OK;
    }
    return mpc_fail(ctx, MPC_EPEER, "P%d did not confirm its tape within %u timeouts",
                    done[0] ? 1 : 0, prog->steps + 2);
}

mpc_err_t party_deal_session(mpc_ctx_t *ctx, chan_t *to[2], const party_dealer_hello_t *h,
                             const uint8_t *test_seed, int timeout_ms)
{
    uint8_t seed[2][PRG_SEED_BYTES];
    if (test_seed) {
        /* the session's own seed: test_seed keys a hash of the session id */
        uint8_t sess[PRG_SEED_BYTES], own[PRG_SEED_BYTES];
        crypto_generichash(sess, sizeof sess, h->sid, CHAN_SESSION_BYTES, test_seed,
                           PRG_SEED_BYTES);
        prg_seed_derive(seed[0], sess, "p0");
        prg_seed_derive(seed[1], sess, "p1");
        /* the dealer's own randomness (FSS keys) too, so a run repeats */
        prg_seed_derive(own, sess, "dealer");
        /* the truncation masks, which the fixed engine must reproduce */
        prg_seed_derive(ctx->round_seed, test_seed, "round");
        sodium_memzero(sess, sizeof sess);
        prg_free(&ctx->local);
        ctx->local = prg_new(own, 0);
        sodium_memzero(own, sizeof own);
        if (!ctx->local) return mpc_fail(ctx, MPC_ENOMEM, "out of memory");
    } else {
        prg_seed_random(seed[0]);
        prg_seed_random(seed[1]);
        prg_seed_random(ctx->round_seed);
    }
    mpc_err_t e = MPC_OK;
    for (int p = 0; p < 2 && !e; p++) {
        party_seed_msg_t m = {0};
        m.flags = test_seed ? PARTY_SEED_TEST : 0;
        memcpy(m.sid, h->sid, sizeof m.sid);
        memcpy(m.seed, seed[p], sizeof m.seed);
        e = chan_send(to[p], PARTY_SEED_TAG, 0, &m, sizeof m);
        sodium_memzero(&m, sizeof m);
        if (e) {
            e = mpc_fail(ctx, e, "P%d: %s", p, to[p]->err);
            break;
        }
        ctx->tape[p] = tape_writer_chan(to[p], seed[p]);
        if (!ctx->tape[p]) e = mpc_fail(ctx, MPC_ENOMEM, "out of memory");
    }
    sodium_memzero(seed, sizeof seed);
    if (!e) e = deal_program(ctx, &h->prog);
    if (!e) e = deal_finish(ctx);
    if (!e) e = await_confirm(ctx, to, &h->prog, timeout_ms);
    if (e == MPC_EPEER && h->prog.kind == PROG_GENERATE && (h->prog.flags & PROG_EARLY_STOP)) {
        /* the parties ended at BOS, as they may: the rest of the tape is
         * never used */
        mpc_log(ctx, "session ended early by the parties");
        return MPC_OK;
    }
    return e;
}

const char *party_peer_name(const mpc_ctx_t *ctx)
{
    if (!ctx->peer || !ctx->peer->err[0] || strcmp(ctx->err, ctx->peer->err) != 0) return "";
    return ctx->party == MPC_P1 ? "server: " : "client: ";
}

/* The report message: P0's own counters. */
typedef struct report_msg {
    uint64_t sent, offline, setup_sent, depth;
    double setup_s, online_s, prefill_s, decode_s;
} report_msg_t;

mpc_err_t party_exchange_report(mpc_ctx_t *ctx, party_report_t *rep)
{
    stats_tick(&ctx->stats);
    stats_row_t all = stats_total(&ctx->stats, -1), setup = stats_total(&ctx->stats, PHASE_SETUP);
    double online_s = all.time_s - setup.time_s;
    report_msg_t mine = {all.bytes_sent - setup.bytes_sent,
                         all.offline_bytes,
                         setup.bytes_sent,
                         ctx->depth,
                         setup.time_s,
                         online_s,
                         stats_total(&ctx->stats, PHASE_PREFILL).time_s,
                         stats_total(&ctx->stats, PHASE_DECODE).time_s};
    /* The report is bookkeeping, not protocol traffic: it is sent on the
     * channel directly so that it does not count itself. */
    if (ctx->party == MPC_P0) {
        mpc_err_t e = chan_send(ctx->peer, PARTY_STAT_TAG, ctx->depth, &mine, sizeof mine);
        return e ? mpc_fail(ctx, e, "%s", ctx->peer->err) : MPC_OK;
    }
    report_msg_t theirs;
    size_t len;
    uint64_t depth;
    mpc_err_t e = chan_recv(ctx->peer, PARTY_STAT_TAG, &depth, &theirs, sizeof theirs, &len);
    if (e) return mpc_fail(ctx, e, "%s", ctx->peer->err);
    if (len != sizeof theirs) return mpc_fail(ctx, MPC_EFORMAT, "malformed report from the server");
    rep->online_bytes = mine.sent + theirs.sent;
    rep->offline_bytes = mine.offline + theirs.offline;
    rep->setup_bytes = mine.setup_sent + theirs.setup_sent;
    rep->rounds = mine.depth > theirs.depth ? mine.depth : theirs.depth;
    rep->setup_s = mine.setup_s > theirs.setup_s ? mine.setup_s : theirs.setup_s;
    rep->online_s = mine.online_s > theirs.online_s ? mine.online_s : theirs.online_s;
    rep->prefill_s = mine.prefill_s > theirs.prefill_s ? mine.prefill_s : theirs.prefill_s;
    rep->decode_s = mine.decode_s > theirs.decode_s ? mine.decode_s : theirs.decode_s;
    return MPC_OK;
}
