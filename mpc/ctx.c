/* mpc/ctx.c - the party context: counted messaging and tape access. */
#include "mpc/ctx.h"

#include <sodium.h>
#include <string.h>

mpc_err_t mpc_ctx_init(mpc_ctx_t *ctx, int party, int frac_bits)
{
    MPC_ASSERT(party >= MPC_P0 && party <= MPC_DEALER);
    MPC_ASSERT(frac_bits >= 1 && frac_bits <= 30);
    memset(ctx, 0, sizeof *ctx);
    ctx->party = party;
    ctx->frac_bits = frac_bits;
    uint8_t seed[PRG_SEED_BYTES];
    prg_seed_random(seed);
    ctx->local = prg_new(seed, 0);
    sodium_memzero(seed, sizeof seed);
    arena_init(&ctx->arena);
    stats_init(&ctx->stats);
    return ctx->local ? MPC_OK : MPC_ENOMEM;
}

void mpc_ctx_destroy(mpc_ctx_t *ctx)
{
    if (!ctx) return;
    tape_free(&ctx->tape[0]);
    tape_free(&ctx->tape[1]);
    prg_free(&ctx->local);
    arena_free(&ctx->arena);
    sodium_memzero(ctx->round_seed, sizeof ctx->round_seed);
}

mpc_err_t mpc_fail(mpc_ctx_t *ctx, mpc_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return err;
}

void mpc_log(mpc_ctx_t *ctx, const char *fmt, ...)
{
    if (!ctx->log) return;
    static const char *who[] = {"P0", "P1", "dealer"};
    fprintf(ctx->log, "[%s] ", who[ctx->party]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ctx->log, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->log);
}

/* FNV-1a over the message's shape, never its content. */
static void trace_add(mpc_ctx_t *ctx, uint64_t dir, uint32_t tag, uint64_t len, uint64_t depth)
{
    uint64_t v[4] = {dir, tag, len, depth};
    const unsigned char *b = (const unsigned char *)v;
    uint64_t h = ctx->trace ? ctx->trace : 1469598103934665603ull;
    for (size_t i = 0; i < sizeof v; i++) h = (h ^ b[i]) * 1099511628211ull;
    ctx->trace = h;
}

static mpc_err_t chan_fail(mpc_ctx_t *ctx, mpc_err_t e)
{
    return mpc_fail(ctx, e, "%s", ctx->peer->err);
}

mpc_err_t mpc_send(mpc_ctx_t *ctx, uint32_t tag, const void *buf, size_t len)
{
    MPC_ASSERT(ctx->peer);
    mpc_err_t e = chan_send(ctx->peer, tag, ctx->depth + 1, buf, len);
    if (e) return chan_fail(ctx, e);
    stats_row_t *r = stats_cur(&ctx->stats);
    r->bytes_sent += len;
    r->msgs_sent++;
    trace_add(ctx, 0, tag, len, ctx->depth + 1);
    return MPC_OK;
}

mpc_err_t mpc_recv(mpc_ctx_t *ctx, uint32_t tag, void *buf, size_t len)
{
    MPC_ASSERT(ctx->peer);
    uint64_t depth = 0;
    size_t got = 0;
    mpc_err_t e = chan_recv(ctx->peer, tag, &depth, buf, len, &got);
    if (e) return chan_fail(ctx, e);
    if (got != len) {
        char t[5];
        chan_tag_str(t, tag);
        return mpc_fail(ctx, MPC_EFORMAT, "wrong length: '%s' message of %zu bytes, expected %zu",
                        t, got, len);
    }
    stats_row_t *r = stats_cur(&ctx->stats);
    r->bytes_recv += len;
    r->msgs_recv++;
    trace_add(ctx, 1, tag, len, depth);
    if (depth > ctx->depth) {
        r->rounds += depth - ctx->depth;
        ctx->depth = depth;
    }
    return MPC_OK;
}

mpc_err_t mpc_open(mpc_ctx_t *ctx, uint32_t tag, uint64_t *out, const uint64_t *share, size_t n)
{
    arena_mark_t m = arena_mark(&ctx->arena);
    uint64_t *theirs = arena_alloc(&ctx->arena, n * sizeof *theirs);
    if (!theirs) return mpc_fail(ctx, MPC_ENOMEM, "out of memory opening %zu words", n);
    mpc_err_t e = mpc_send(ctx, tag, share, n * sizeof *share);
    if (!e) e = mpc_recv(ctx, tag, theirs, n * sizeof *theirs);
    if (!e)
        for (size_t i = 0; i < n; i++) out[i] = share[i] + theirs[i];
    arena_reset(&ctx->arena, m);
    return e;
}

mpc_err_t mpc_open_to(mpc_ctx_t *ctx, int to, uint32_t tag, uint64_t *out, const uint64_t *share,
                      size_t n)
{
    if (ctx->party != to) return mpc_send(ctx, tag, share, n * sizeof *share);
    mpc_err_t e = mpc_recv(ctx, tag, out, n * sizeof *out);
    if (!e)
        for (size_t i = 0; i < n; i++) out[i] += share[i];
    return e;
}

prg_t *mpc_corr_prg(mpc_ctx_t *ctx)
{
    MPC_ASSERT(ctx->party != MPC_DEALER && ctx->tape[0]);
    return tape_prg(ctx->tape[0]);
}

mpc_err_t mpc_corr_read(mpc_ctx_t *ctx, void *buf, size_t len)
{
    MPC_ASSERT(ctx->party != MPC_DEALER && ctx->tape[0]);
    mpc_err_t e = tape_read(ctx->tape[0], buf, len);
    if (e) return mpc_fail(ctx, e, "%s", tape_error(ctx->tape[0]));
    stats_cur(&ctx->stats)->offline_bytes += len;
    return MPC_OK;
}

mpc_err_t mpc_corr_share(mpc_ctx_t *ctx, uint64_t *out, size_t n)
{
    if (ctx->party == MPC_P0) {
        prg_u64(mpc_corr_prg(ctx), out, n);
        return MPC_OK;
    }
    return mpc_corr_read(ctx, out, n * sizeof *out);
}

void mpc_corr_rand(mpc_ctx_t *ctx, uint64_t *out, size_t n)
{
    prg_u64(mpc_corr_prg(ctx), out, n);
}

mpc_err_t mpc_corr_finish(mpc_ctx_t *ctx)
{
    mpc_err_t e = tape_finish(ctx->tape[0]);
    if (e) return mpc_fail(ctx, e, "%s", tape_error(ctx->tape[0]));
    return MPC_OK;
}

prg_t *deal_prg(mpc_ctx_t *ctx, int p)
{
    MPC_ASSERT(ctx->party == MPC_DEALER && (p == 0 || p == 1) && ctx->tape[p]);
    return tape_prg(ctx->tape[p]);
}

mpc_err_t deal_write(mpc_ctx_t *ctx, int p, const void *buf, size_t len)
{
    MPC_ASSERT(ctx->party == MPC_DEALER && (p == 0 || p == 1) && ctx->tape[p]);
    mpc_err_t e = tape_write(ctx->tape[p], buf, len);
    if (e) return mpc_fail(ctx, e, "tape to P%d: %s", p, tape_error(ctx->tape[p]));
    stats_cur(&ctx->stats)->offline_bytes += len;
    return MPC_OK;
}

mpc_err_t deal_share(mpc_ctx_t *ctx, const uint64_t *v, size_t n)
{
    enum { CHUNK = 4096 };
    uint64_t s0[CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        prg_u64(deal_prg(ctx, 0), s0, k);
        for (size_t j = 0; j < k; j++) s0[j] = v[i + j] - s0[j];
        mpc_err_t e = deal_write(ctx, 1, s0, k * sizeof *s0);
        if (e) return e;
    }
    sodium_memzero(s0, sizeof s0);
    return MPC_OK;
}

void deal_rand(mpc_ctx_t *ctx, uint64_t *r, size_t n)
{
    enum { CHUNK = 4096 };
    uint64_t s1[CHUNK];
    prg_u64(deal_prg(ctx, 0), r, n);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        prg_u64(deal_prg(ctx, 1), s1, k);
        for (size_t j = 0; j < k; j++) r[i + j] += s1[j];
    }
    sodium_memzero(s1, sizeof s1);
}

mpc_err_t deal_finish(mpc_ctx_t *ctx)
{
    for (int p = 0; p < 2; p++) {
        mpc_err_t e = tape_finish(ctx->tape[p]);
        if (e) return mpc_fail(ctx, e, "tape to P%d: %s", p, tape_error(ctx->tape[p]));
    }
    return MPC_OK;
}
