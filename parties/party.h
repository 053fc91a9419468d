/* parties/party.h - sessions between server, client and dealer processes.
 *
 * A session starts when the client dials the server's listener. They trade
 * fresh nonces and public keys, and both derive the session id
 *     sid = BLAKE2b-128(nonce0 || nonce1 || pk0 || pk1)
 * (DESIGN.md §5). Then each party dials the dealer itself, pinning the
 * dealer's key, and presents the same (sid, nonces, keys, program). The
 * dealer recomputes sid, refuses one it has served before (a replayed
 * session would reuse correlations), waits for both parties, and answers
 * each with its own tape seed over its own link; every frame on all three
 * links then carries sid. The server never relays the client's
 * correlations.
 *
 * Keys: the pk fields of a hello are bound to the connections. The server
 * refuses a client hello whose pk is not the key the client authenticated
 * with (CurveZMQ), and the dealer refuses a dealer hello whose pk[role] is
 * not the key of the connection it came on, so nobody can ask for another
 * party's seed by replaying that party's hello under a key of their own.
 * Each channel a listener opens for a session admits the key of its hello
 * and no other (net.h). In plaintext mode nobody is authenticated and none
 * of this holds (debugging only).
 *
 * The program (what is computed, and its public sizes) travels in the
 * hellos, so the dealer can generate exactly what the parties consume.
 */
#ifndef PARTIES_PARTY_H
#define PARTIES_PARTY_H

#include <stdint.h>
#include <stdio.h>

#include "llm/model.h"
#include "mpc/ctx.h"
#include "mpcache/kv.h"
#include "net/net.h"

/* 02: the program carries the KV-cache policy (party_kv_t); 03: hellos are
 * bound to their keys, dealer refusals come on the rendezvous, and the seed
 * message says when the session is not private (PARTY_SEED_TEST) */
#define PARTY_MAGIC "MPCLLM03"

enum { PROG_MATVEC = 1, PROG_GENERATE = 2 };
enum {
    PROG_PAD = 1,           /* the prompt is left-padded to n_prompt (--pad-to) */
    PROG_REVEAL_LOGITS = 2, /* P1 receives the logits (--reveal-logits) */
    PROG_EARLY_STOP = 4,    /* the session ends at BOS, revealing the length */
};

/* The KV-cache policy of a generation (DESIGN.md §2 and §7: the budgets are
 * public), as it travels in the hellos: the client chooses it, the server
 * and the dealer check it, and all three build the same kv_config_t from it
 * (party_prog_kv). It holds every field the fixed-point engine reads for the
 * policies it runs; the others take kv_config_default's values. Doubles
 * travel as their IEEE-754 binary64 bits, low word first, so that the three
 * roles agree bit for bit on R, S and the rest (a decimal string or a
 * rational could round differently on the way). Only 32-bit words, so the
 * struct has no padding to compare. */
typedef struct party_kv {
    uint32_t policy;          /* kv_policy_t (KV_FULL = 0) */
    int32_t cluster[2];       /* A, B: --clusters */
    int32_t sinks;            /* sinks kept by streaming and MPCache */
    int32_t window_min;       /* mpc_window_min */
    int32_t fixed_budget;     /* 0: MPCache's count */
    uint32_t budget[2];       /* R: --budget */
    uint32_t static_keep[2];  /* S: --static-keep */
    uint32_t alpha[2];        /* mpc_alpha */
    uint32_t window_frac[2];  /* mpc_window_frac */
    uint32_t h2o_heavy[2];    /* H2O's split of the budget */
    uint32_t h2o_recent[2];
} party_kv_t;

/* The public description of a session's computation: everything here is
 * known to all three roles and fixes every message size. */
typedef struct party_prog {
    uint32_t kind;      /* PROG_MATVEC or PROG_GENERATE */
    uint32_t frac_bits; /* fixed-point scale */
    uint32_t d;         /* PROG_MATVEC: x (1 x d) times W (d x d) */
    uint32_t steps;     /* PROG_GENERATE: positions, the prompt's included */
    uint32_t n_prompt;  /* PROG_GENERATE: the prompt's tokens, BOS included (padded) */
    uint32_t flags;     /* PROG_GENERATE: PROG_PAD, PROG_REVEAL_LOGITS, PROG_EARLY_STOP */
    int32_t cfg[7];     /* PROG_GENERATE: dim, hidden, layers, heads, kv heads, vocab, seq_len
                           (the server fills them in its reply) */
    uint8_t model_hash[32]; /* PROG_GENERATE: SHA-256 of the server's checkpoint */
    party_kv_t kv;          /* PROG_GENERATE: the KV-cache policy */
} party_prog_t;

/* Client -> server, and server -> client. */
typedef struct party_hello {
    char magic[8];
    uint32_t status; /* reply: 0 ok, else an mpc_err_t */
    uint32_t reserved;
    uint8_t nonce[32];
    uint8_t pk[32];
    party_prog_t prog;
    char msg[256]; /* reply: the reason when status != 0 */
} party_hello_t;

/* Party -> dealer. */
typedef struct party_dealer_hello {
    char magic[8];
    uint32_t role; /* MPC_P0 or MPC_P1 */
    uint32_t reserved;
    uint8_t sid[CHAN_SESSION_BYTES];
    uint8_t nonce[2][32];
    uint8_t pk[2][32];
    party_prog_t prog;
} party_dealer_hello_t;

/* party_seed_msg_t.flags */
enum {
    /* the seeds derive from the dealer's --test-seed: anyone who knows it can
     * recompute every mask, so the session is not private */
    PARTY_SEED_TEST = 1,
};

/* Dealer -> party, the first message on the assigned channel. */
typedef struct party_seed_msg {
    uint32_t status; /* 0 ok, else an mpc_err_t, and msg says why */
    uint32_t flags;  /* PARTY_SEED_TEST */
    uint8_t sid[CHAN_SESSION_BYTES];
    uint8_t seed[PRG_SEED_BYTES];
    char msg[256];
} party_seed_msg_t;

#define PARTY_SEED_TAG CHAN_TAG('S', 'E', 'E', 'D')
#define PARTY_STAT_TAG CHAN_TAG('S', 'T', 'A', 'T')
#define PARTY_PLEN_TAG CHAN_TAG('P', 'L', 'E', 'N') /* client -> server: the prompt's tokens */
#define PARTY_DONE_TAG CHAN_TAG('D', 'O', 'N', 'E') /* party -> dealer: the tape was read to END */

/* sid = BLAKE2b-128(nonce0 || nonce1 || pk0 || pk1) of a dealer hello. */
void party_sid(uint8_t sid[CHAN_SESSION_BYTES], const party_dealer_hello_t *h);

/* A party's connection options: its keys, the dealer's endpoint and key,
 * timeouts. */
typedef struct party_net {
    net_t *net;
    net_opts_t self;        /* own keys; server_key unused */
    const char *dealer_ep;
    uint8_t dealer_key[NET_KEY_BYTES];
    int timeout_ms;
} party_net_t;

/* Party side: dials the dealer with the session's hello, waits for its seed,
 * checks the echoed sid, and attaches a tape reader to ctx->tape[0]. The
 * dealer channel is returned in *dealer (owned by the caller, freed after
 * ctx); the seed message's flags (PARTY_SEED_TEST) in *flags when flags is
 * not NULL. On failure ctx->err says why: a refusal by the dealer returns
 * its code, with "dealer refused the session: WHY". */
mpc_err_t party_join_dealer(mpc_ctx_t *ctx, const party_net_t *pn, const party_dealer_hello_t *h,
                            chan_t **dealer, uint32_t *flags) MPC_WUR;

/* Party side, once mpc_corr_finish has passed: tells the dealer that the
 * tape was read to its END, so that the dealer may close the link. */
mpc_err_t party_confirm_dealer(mpc_ctx_t *ctx, chan_t *dealer) MPC_WUR;

/* Runs the dealer's side of one session whose two channels are connected
 * and whose hellos agree: sends the seeds, generates the program's
 * correlations, finishes the tapes and waits until both parties confirm
 * they read them (party_confirm_dealer). The links time out after
 * timeout_ms, as they were opened.
 *
 * With test_seed (not NULL; tests only), the run repeats: the parties' tape
 * seeds and the dealer's own randomness derive from test_seed and the
 * session id, so two sessions never share a seed, and the rounding stream
 * from test_seed alone, so that the fixed engine under the same seed
 * (--engine fixed --seed) reproduces the run bit for bit. Both parties are
 * told (PARTY_SEED_TEST): whoever knows test_seed can recompute every
 * truncation mask, so such a session is not private. */
mpc_err_t party_deal_session(mpc_ctx_t *ctx, chan_t *to[2], const party_dealer_hello_t *h,
                             const uint8_t *test_seed, int timeout_ms) MPC_WUR;

/* --- the private matrix-vector product (the demo program) --------------- */

/* The server's d x d matrix for a demo seed: entries uniform in
 * [-1, 1)/sqrt(d), fixed point at scale f (row-major, [out][in]). */
void demo_matrix(uint64_t *W, uint32_t d, int f, uint64_t seed);
/* The client's vector for a demo seed: entries uniform in [-4, 4). */
void demo_vector(uint64_t *x, uint32_t d, int f, uint64_t seed);

/* The program's three roles. P0 passes W, P1 passes x and receives y (the
 * product, at scale f); the dealer passes neither. Phases: setup (the F
 * transfer), then the product and its reveal to P1. */
mpc_err_t demo_matvec(mpc_ctx_t *ctx, const party_prog_t *prog, const uint64_t *W,
                      const uint64_t *x, uint64_t *y) MPC_WUR;

/* --- private generation ------------------------------------------------- */

/* Called at P1 with each generated token, in order (all steps, BOS
 * included: printing stops at BOS, the loop does not). */
typedef void (*party_token_fn)(void *arg, int token);

/* What P1 (or the plain engine) brings to a generation and gets back. */
typedef struct party_gen_io {
    const int *prompt;        /* n_prompt ids, pads first when padded */
    int pad_len;              /* pad positions at the front */
    party_token_fn on_token;  /* each generated token */
    /* with PROG_REVEAL_LOGITS, the logits of each step (vocab, scale f) */
    void (*on_logits)(void *arg, const uint64_t *logits, int n, int frac_bits);
    void *arg;
    int stopped_early;        /* set when PROG_EARLY_STOP ended the loop at BOS */
    /* NULL, or (steps - n_prompt, n_layers): after each decode step, the
     * tokens each layer attended, summed over KV heads (xfwd_attended);
     * n_attended says how many steps were written. */
    int *attended;
    int n_attended;
    /* party_generate_fixed: the times of the weights' quantisation, of the
     * prompt's batch, and of all decode steps together, in seconds */
    double setup_s, prefill_s, decode_s;
} party_gen_io_t;

/* The generation program of all three roles (DESIGN.md §6): setup (weight
 * masks), the prompt as one batch, then steps - n_prompt + 1 greedy tokens,
 * one decode step each, attending what prog's policy selects (DESIGN.md §7;
 * party_prog_check with secure set must pass, else MPC_EARG). P0 passes the
 * model, P1 its io; the dealer neither (NULL). Phases: setup, prefill, decode. With PROG_EARLY_STOP, P1 tells
 * P0 after each token whether it was BOS (one flight per step), and both
 * stop there; the tapes are then left unfinished. */
mpc_err_t party_generate(mpc_ctx_t *ctx, const party_prog_t *prog, const model_t *model,
                         party_gen_io_t *io) MPC_WUR;

/* The same loop on the fixed-point plain engine, in this process (not
 * private): the truncation carries come from round_seed, so with the
 * dealer's test seed it reproduces party_generate bit for bit. It takes any
 * policy the fixed engine runs (xfwd_set_policy), not only the secure
 * engine's. MPC_EARG, with err saying why, for a program or a policy it
 * cannot run; else the engine's errors. */
mpc_err_t party_generate_fixed(const party_prog_t *prog, const model_t *model, party_gen_io_t *io,
                               const uint8_t round_seed[PRG_SEED_BYTES], char *err) MPC_WUR;

/* SHA-256 of a file (the model's identity). Returns 0, or -1 when it
 * cannot be read. */
int party_file_hash(const char *path, uint8_t out[32]);

/* The public program of a generation on model m, with the full cache
 * (party_kv_pack sets another policy). */
void party_prog_generate(party_prog_t *prog, const model_config_t *cfg, int frac_bits, int steps,
                         int n_prompt);

/* The wire form of kv's policy fields (party_kv_t). */
void party_kv_pack(party_kv_t *w, const kv_config_t *kv);

/* The configuration that prog's policy describes, as all three roles build
 * it: kv_config_default, then the wire fields, the model dims of prog->cfg,
 * seq_len and prompt_len = prog->n_prompt. Fails with MPC_EARG and a
 * one-line reason in err (CHAN_ERR_BYTES) when kv_config_check refuses it. */
mpc_err_t party_prog_kv(const party_prog_t *prog, kv_config_t *kv, char *err) MPC_WUR;

/* 1 when the secure engine runs policy (full, streaming, h2o, mpcache:
 * those xfwd_set_policy takes in a party's role), else 0. */
int party_policy_secure(int policy);
/* 1 when policy works with --pad-to (not mpcache or h2o yet), else 0. */
int party_policy_pads(int policy);

/* MPC_OK when a PROG_GENERATE program can run, else MPC_EARG with a
 * one-line reason in err (CHAN_ERR_BYTES): the architecture, the prompt and
 * the steps, and the policy (kv_config_check; one the secure engine runs,
 * when secure; no --pad-to with mpcache or h2o). The server and the dealer call it
 * on what the client sent, the engines before they start. */
mpc_err_t party_prog_check(const party_prog_t *prog, int secure, char *err) MPC_WUR;

/* The largest d of the matrix-vector demo (PROG_MATVEC). */
#define PARTY_MATVEC_MAX_D 8192u

/* MPC_OK when the server and the dealer may serve prog as a peer sent it,
 * else a code (MPC_EFORMAT: not a program of ours; MPC_EARG: one we refuse)
 * with a one-line reason in err (CHAN_ERR_BYTES): the fixed-point scale,
 * the kind, the demo's d within [1, PARTY_MATVEC_MAX_D], no unknown flags,
 * and for a generation party_prog_check with secure set. Every size the
 * dealer and the server compute from the program is bounded by what this
 * admits. */
mpc_err_t party_prog_admit(const party_prog_t *prog, char *err) MPC_WUR;

/* The first field of the server's echo of a program that differs from the
 * client's request, by name ("steps", "flags", "kv", ...), or NULL when the
 * two agree. The architecture and the model's hash are the server's to fill
 * in and are not compared. */
const char *party_prog_changed(const party_prog_t *asked, const party_prog_t *echo);

/* The run's traffic as the client reports it (both parties' counters). */
typedef struct party_report {
    uint64_t online_bytes, offline_bytes, setup_bytes, rounds;
    double setup_s, online_s, prefill_s, decode_s;
} party_report_t;

/* "server: " at P1 or "client: " at P0 when ctx->err is the P0-P1 channel's
 * own message (mpc/ passes a link's error on word for word, so a bare "peer
 * closed the connection" would not say which peer), else "". */
const char *party_peer_name(const mpc_ctx_t *ctx);

/* P0 sends its totals to P1; P1 combines them with its own into *rep. */
mpc_err_t party_exchange_report(mpc_ctx_t *ctx, party_report_t *rep) MPC_WUR;

#endif
