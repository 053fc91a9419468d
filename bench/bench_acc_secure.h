/* bench/bench_acc_secure.h - the secure engine as an eval engine
 * (llm/eval.h), for `mpcllm-bench accuracy --engine secure`.
 *
 * Each window (each begin) is one secure session in this process: P0, P1
 * and the dealer on three threads, over in-process channels in the clear
 * (the parties' arithmetic is the secure protocols'; nothing here is
 * private, since one process holds all three roles). P0 holds the weights,
 * P1 the window's tokens, teacher-forced: the prompt goes as one batch at
 * its last position, then one decode step per token, and P1 receives the
 * logits of each step (xfwd_opts_t.reveal_logits), which the harness
 * scores. The dealer derives everything from a test seed, so the logits
 * must equal, bit for bit, the fixed-point plain engine's with the seed's
 * rounding stream (prg_seed_derive(test_seed, "round")): that engine runs
 * alongside, in lockstep, and every step is compared. Policies: those the
 * secure engine runs (acc_secure_runs).
 *
 *     acc_secure_t *s;
 *     eval_engine_t eng;
 *     acc_secure_new(&s, &eng, model, FXP_FRAC_BITS_DEFAULT, test_seed, err);
 *     ... eval_reference(ev, &eng, ...); eval_policy(ev, &eng, ...) ...
 *     acc_secure_end(s, err);          // the last session's tapes, checked
 *     acc_secure_report_t r;
 *     acc_secure_report(s, &r);        // r.mismatched == 0: equal to fixed
 *     acc_secure_free(&s);
 */
#ifndef BENCH_BENCH_ACC_SECURE_H
#define BENCH_BENCH_ACC_SECURE_H

#include <stdint.h>

#include "llm/eval.h"
#include "llm/model.h"
#include "mpc/err.h"
#include "mpcache/kv.h"

typedef struct acc_secure acc_secure_t;

/* 1 for the policies the secure engine runs: full, streaming, h2o, mpcache. */
int acc_secure_runs(kv_policy_t policy);

/* The engine for model m (borrowed; it must outlive *out) at scale
 * frac_bits, with the dealer's test_seed (copied). *eng is filled to drive
 * it. Fails with MPC_ENOMEM, with a line in err (CHAN_ERR_BYTES). */
mpc_err_t acc_secure_new(acc_secure_t **out, eval_engine_t *eng, const model_t *m, int frac_bits,
                         const uint8_t test_seed[16], char *err) MPC_WUR;

/* Ends the open session, if any: the roles finish their tapes, which must
 * be consumed exactly. begin does it for the previous window; call it after
 * the last. Fails with the first role's error, with a line in err. */
mpc_err_t acc_secure_end(acc_secure_t *s, char *err) MPC_WUR;

/* Ends any open session (ignoring its errors) and frees; accepts NULL and
 * *s == NULL. */
void acc_secure_free(acc_secure_t **s);

/* What the engine did so far. */
typedef struct acc_secure_report {
    long steps;            /* forward calls compared with the fixed engine */
    long mismatched;       /* of those, the ones whose logits differed */
    double max_diff;       /* the largest logit difference (nats) */
    uint64_t online_bytes; /* P0-P1 bytes, both directions, over all sessions */
    uint64_t rounds;       /* rounds, summed over sessions */
} acc_secure_report_t;
void acc_secure_report(const acc_secure_t *s, acc_secure_report_t *out);

#endif
