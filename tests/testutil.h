/* tests/testutil.h - the shared harness of the two-party tests.
 *
 * tu_run starts P0, P1 and the real dealer on three threads of this process,
 * each with its own mpc_ctx_t, connected by net/ channels: over inproc:// in
 * plaintext debug mode by default, or over tcp://127.0.0.1 or ipc:// with
 * CurveZMQ. Tapes use seed compression exactly as between processes: each
 * party shares a seed with the dealer and P1 receives corrections. After the
 * role function returns, the harness ends the tapes and checks that each
 * party consumed its stream exactly (no data left, seed stream used as far
 * as the dealer went).
 *
 * CMocka assertions only work on the main thread, so role functions return
 * an mpc_err_t and store what they computed in their argument; the test
 * asserts afterwards on the main thread.
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mpc/ctx.h"
#include "mpc/prg.h"

typedef enum { TU_INPROC = 0, TU_TCP, TU_IPC } tu_transport_t;

typedef struct tu_opts {
    tu_transport_t transport;
    int curve;                             /* CurveZMQ (needs TU_TCP or TU_IPC) */
    int frac_bits;                         /* 0: FXP_FRAC_BITS_DEFAULT */
    const uint8_t *test_seed;              /* derive every seed from it, or NULL */
    int timeout_ms;                        /* 0: 20000 */
} tu_opts_t;

/* What each role did: its error, its message, its counters and depth. */
typedef struct tu_result {
    mpc_err_t err[3];
    char msg[3][CHAN_ERR_BYTES];
    stats_t stats[3];
    uint64_t depth[2];
    uint64_t trace[2]; /* the parties' message-shape hashes (mpc_ctx_t.trace) */
} tu_result_t;

/* A role: called once per party and once for the dealer (ctx->party tells
 * which), with the shared arg. */
typedef mpc_err_t (*tu_fn)(mpc_ctx_t *ctx, void *arg);

/* Runs fn as P0, P1 and dealer. Returns 0 when all three succeeded and the
 * tapes were consumed exactly; otherwise -1, with the details in *res (which
 * may be NULL). */
int tu_run(const tu_opts_t *opts, tu_fn fn, void *arg, tu_result_t *res);

/* Rounds of the run: the larger of the parties' final depths. */
uint64_t tu_rounds(const tu_result_t *res);
/* Bytes party p sent on the P0-P1 link. */
uint64_t tu_bytes_sent(const tu_result_t *res, int p);
/* Bytes the dealer wrote to party p (offline traffic). */
uint64_t tu_offline_bytes(const tu_result_t *res, int p);

/* Splits plain values into two shares with a fresh random P0 share. */
void tu_share(uint64_t *s0, uint64_t *s1, const uint64_t *plain, size_t n);
/* Fills x with n doubles uniform in [lo, hi) from a test PRG. */
void tu_uniform(double *x, size_t n, double lo, double hi);
/* A fresh random seed. */
void tu_seed(uint8_t seed[PRG_SEED_BYTES]);

/* The path of a file under the shared folder ($MPCLLM_SHARED, else
 * ../shared), or NULL (after printing why) when it does not exist. */
const char *tu_shared_path(const char *rel, char *buf, size_t cap);

/* Exit code CTest reads as "skipped". */
#define TU_SKIP 77

#endif
