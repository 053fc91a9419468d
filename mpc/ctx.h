/* mpc/ctx.h - the party context, passed first to everything.
 *
 * One mpc_ctx_t per party per session: P0 (the server, who holds the
 * weights), P1 (the client, who holds the prompt) or the dealer. It owns the
 * tapes, the scratch arena, the counters and the error detail, and borrows
 * the P0-P1 channel. There are no globals, so two parties and a dealer can
 * run on three threads of one test process.
 *
 * Communication goes through mpc_send/mpc_recv/mpc_open, which count bytes,
 * messages and rounds. A round is one message flight on the critical path
 * (DESIGN.md §4): each message carries the sender's depth plus one, and a
 * receiver's depth becomes the larger of its own and the message's.
 *
 * The correlation helpers come in mirrored pairs: what the dealer calls
 * (deal_*) on its side, the parties call (mpc_corr_*) on theirs, in the same
 * order, with the same sizes.
 */
#ifndef MPC_CTX_H
#define MPC_CTX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpc/arena.h"
#include "mpc/chan.h"
#include "mpc/err.h"
#include "mpc/prg.h"
#include "mpc/stats.h"
#include "mpc/tape.h"

enum { MPC_P0 = 0, MPC_P1 = 1, MPC_DEALER = 2 };

typedef struct mpc_ctx {
    int party;     /* MPC_P0, MPC_P1 or MPC_DEALER */
    int frac_bits; /* fixed-point scale f */
    chan_t *peer;  /* P0-P1 link (borrowed); NULL at the dealer */
    /* A party's own tape is tape[0]. The dealer writes tape[0] to P0 and
     * tape[1] to P1. Owned by the context. */
    tape_t *tape[2];
    /* Dealer only: the seed of the keyed rounding streams (truncation masks),
     * which the fixed-point engine replays under a test seed. */
    uint8_t round_seed[PRG_SEED_BYTES];
    prg_t *local; /* private randomness of this role; owned */
    void *device; /* the kernels' device context, or NULL for the CPU */
    arena_t arena;
    stats_t stats;
    uint64_t depth; /* Lamport round clock on the P0-P1 link */
    /* A running hash of every message's (direction, tag, length, depth) on
     * the P0-P1 link: two runs of equal public sizes must agree on it
     * whatever the secrets (the obliviousness tests compare it). */
    uint64_t trace;
    FILE *log;      /* NULL for silence */
    char err[CHAN_ERR_BYTES];
} mpc_ctx_t;

/* Initialises ctx for party with scale frac_bits; the channel and tapes are
 * attached afterwards. Returns MPC_ENOMEM if the local PRG cannot be made. */
mpc_err_t mpc_ctx_init(mpc_ctx_t *ctx, int party, int frac_bits) MPC_WUR;
/* Frees the tapes, the arena and the local PRG, zeroing secrets. */
void mpc_ctx_destroy(mpc_ctx_t *ctx);

/* Records the detail of an error in ctx->err and returns err. */
mpc_err_t mpc_fail(mpc_ctx_t *ctx, mpc_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a line to ctx->log when it is set. */
void mpc_log(mpc_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- P0-P1 link ------------------------------------------------------- */

/* Sends len bytes to the peer under tag. */
mpc_err_t mpc_send(mpc_ctx_t *ctx, uint32_t tag, const void *buf, size_t len) MPC_WUR;
/* Receives exactly len bytes from the peer under tag; any other length is
 * MPC_EFORMAT. */
mpc_err_t mpc_recv(mpc_ctx_t *ctx, uint32_t tag, void *buf, size_t len) MPC_WUR;
/* Both parties send their n words and receive the other's; out = mine +
 * theirs. One round. out may alias share. */
mpc_err_t mpc_open(mpc_ctx_t *ctx, uint32_t tag, uint64_t *out, const uint64_t *share,
                   size_t n) MPC_WUR;
/* Opens n words to one party only: the other sends its share (one flight),
 * and the receiver gets the value in out; at the sender out is untouched. */
mpc_err_t mpc_open_to(mpc_ctx_t *ctx, int to, uint32_t tag, uint64_t *out,
                      const uint64_t *share, size_t n) MPC_WUR;

/* --- correlations, party side ----------------------------------------- */

/* The party's sequential seed stream, shared with the dealer. */
prg_t *mpc_corr_prg(mpc_ctx_t *ctx);
/* The next len bytes of explicit data from the dealer (offline traffic). */
mpc_err_t mpc_corr_read(mpc_ctx_t *ctx, void *buf, size_t len) MPC_WUR;
/* This party's share of n values the dealer shared with deal_share: P0's
 * from its seed, P1's from the correction. */
mpc_err_t mpc_corr_share(mpc_ctx_t *ctx, uint64_t *out, size_t n) MPC_WUR;
/* This party's share of n uniformly random values (deal_rand); no traffic. */
void mpc_corr_rand(mpc_ctx_t *ctx, uint64_t *out, size_t n);
/* Checks the tape was used up exactly (tape_finish). */
mpc_err_t mpc_corr_finish(mpc_ctx_t *ctx) MPC_WUR;

/* --- correlations, dealer side ---------------------------------------- */

/* Party p's sequential seed stream, as the dealer expands it. */
prg_t *deal_prg(mpc_ctx_t *ctx, int p);
/* Appends explicit data to party p's tape. */
mpc_err_t deal_write(mpc_ctx_t *ctx, int p, const void *buf, size_t len) MPC_WUR;
/* Shares v (n words): P0's share from its seed, P1 receives v - share0. */
mpc_err_t deal_share(mpc_ctx_t *ctx, const uint64_t *v, size_t n) MPC_WUR;
/* A random value r (n words) shared through both seeds, written to r. */
void deal_rand(mpc_ctx_t *ctx, uint64_t *r, size_t n);
/* Ends both tapes (flush and END records). */
mpc_err_t deal_finish(mpc_ctx_t *ctx) MPC_WUR;

#endif
