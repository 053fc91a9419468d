/* parties/main_mpcllm_dealer.c - mpcllm-dealer: serves correlated randomness
 * to sessions of a server and a client.
 *
 * Each party dials the dealer itself with the session's hello. The dealer
 * pairs the two hellos by session id, checks that they agree and that the id
 * is the hash of their nonces and keys, refuses an id it has served before,
 * and runs the session on a thread of its own: seeds to each party over its
 * own link, then the program's correlations, streamed. A failing session
 * ends alone; the dealer keeps serving.
 */
#include <getopt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpc/fxp.h"
#include "parties/cli.h"
#include "parties/party.h"

static const char *prog = "mpcllm-dealer";

static void usage(void)
{
    printf("usage: mpcllm-dealer --listen ENDPOINT --keys DIR [options]\n"
           "\n"
           "Serves Beaver triples, masks and FSS keys to server/client sessions.\n"
           "The dealer must be independent of both parties (DESIGN.md §2).\n"
           "\n"
           "  --listen EP       where parties dial in, e.g. tcp://*:7100 or tcp://127.0.0.1:*\n"
           "  --keys DIR        the dealer's CurveZMQ key pair (mpcllm-keygen --out DIR)\n"
           "  --allow DIR       admit only party public keys found in DIR (ZAP allow-list)\n"
           "  --timeout SEC     give up on a silent party after SEC seconds (default 30)\n"
           "  --sessions N      exit after serving N sessions (default: serve forever)\n"
           "  --test-seed S     derive every seed from S (tests only; never private)\n"
           "  --plaintext       no CurveZMQ (debugging only)\n"
           "  --ready-fd FD     write the bound endpoint to FD once listening\n"
           "  --verbose         log sessions to stderr\n"
           "  --help            this text\n");
}

typedef struct pending {
    chan_t *chan;
    party_dealer_hello_t hello;
    double since;
} pending_t;

typedef struct session_job {
    chan_t *to[2];
    party_dealer_hello_t hello;
    int have_seed;
    uint8_t test_seed[16];
    int verbose, timeout_ms;
    pthread_mutex_t *lock;
    int *running;
} session_job_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sid_hex(char out[33], const uint8_t sid[16])
{
    sodium_bin2hex(out, 33, sid, 16);
}

static void *session_main(void *arg)
{
    session_job_t *job = arg;
    mpc_ctx_t ctx;
    char sid[33];
    sid_hex(sid, job->hello.sid);
    mpc_err_t e = mpc_ctx_init(&ctx, MPC_DEALER, (int)job->hello.prog.frac_bits);
    if (!e) e = party_deal_session(&ctx, job->to, &job->hello, job->have_seed ? job->test_seed : NULL,
                                    job->timeout_ms);
    if (e)
        fprintf(stderr, "%s: session %.8s failed: %s: %s\n", prog, sid, mpc_err_str(e), ctx.err);
    else if (job->verbose)
        fprintf(stderr, "%s: session %.8s done, %llu offline bytes\n", prog, sid,
                (unsigned long long)stats_total(&ctx.stats, -1).offline_bytes);
    mpc_ctx_destroy(&ctx);
    chan_free(&job->to[0]);
    chan_free(&job->to[1]);
    pthread_mutex_lock(job->lock);
    (*job->running)--;
    pthread_mutex_unlock(job->lock);
    sodium_memzero(job, sizeof *job);
    free(job);
    return NULL;
}

/* Tells a party why its session was refused, and drops the channel. */
static void refuse(chan_t **c, mpc_err_t why, const char *msg)
{
    party_seed_msg_t m = {0};
    m.status = why;
    snprintf(m.msg, sizeof m.msg, "%s", msg);
    if (chan_send(*c, PARTY_SEED_TAG, 0, &m, sizeof m) != MPC_OK)
        fprintf(stderr, "%s: could not tell a party it was refused: %s\n", prog, (*c)->err);
    chan_free(c);
}

/* MPC_OK for a hello the dealer can serve, else why not: MPC_EFORMAT for a
 * malformed one, MPC_EARG for a program it refuses to generate. */
static mpc_err_t hello_check(const party_dealer_hello_t *h, char *why, size_t cap)
{
    uint8_t sid[16];
    if (memcmp(h->magic, PARTY_MAGIC, 8) != 0) {
        snprintf(why, cap, "not an mpcllm hello");
        return MPC_EFORMAT;
    }
    if (h->role != MPC_P0 && h->role != MPC_P1) {
        snprintf(why, cap, "unknown role %u", h->role);
        return MPC_EFORMAT;
    }
    party_sid(sid, h);
    if (sodium_memcmp(sid, h->sid, 16) != 0) {
        snprintf(why, cap, "session id is not the hash of the nonces and keys");
        return MPC_EFORMAT;
    }
    if (h->prog.frac_bits < FXP_FRAC_BITS_MIN || h->prog.frac_bits > FXP_FRAC_BITS_MAX) {
        snprintf(why, cap, "fractional bits %u out of range", h->prog.frac_bits);
        return MPC_EFORMAT;
    }
    /* the generation's sizes and policy: the dealer generates what they
     * imply, so it checks them itself rather than trust either party */
    char reason[CHAN_ERR_BYTES];
    if (h->prog.kind == PROG_GENERATE && party_prog_check(&h->prog, 1, reason) != MPC_OK) {
        snprintf(why, cap, "%s", reason);
        return MPC_EARG;
    }
    return MPC_OK;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *keys = NULL, *allow = NULL;
    int timeout_ms = 30000, plaintext = 0, ready_fd = -1, verbose = 0, have_seed = 0;
    uint64_t max_sessions = 0;
    uint8_t test_seed[16];
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"keys", required_argument, 0, 'k'},
        {"allow", required_argument, 0, 'a'},  {"timeout", required_argument, 0, 't'},
        {"sessions", required_argument, 0, 'n'}, {"test-seed", required_argument, 0, 's'},
        {"plaintext", no_argument, 0, 'p'},    {"ready-fd", required_argument, 0, 'r'},
        {"verbose", no_argument, 0, 'v'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'k': keys = optarg; break;
        case 'a': allow = optarg; break;
        case 't': timeout_ms = cli_timeout_ms(prog, optarg); break;
        case 'n': max_sessions = cli_u64(prog, "--sessions", optarg, 1, UINT32_MAX); break;
        case 's': cli_test_seed(test_seed, optarg); have_seed = 1; break;
        case 'p': plaintext = 1; break;
        case 'r': ready_fd = (int)cli_u64(prog, "--ready-fd", optarg, 0, 65535); break;
        case 'v': verbose = 1; break;
        case 'h': usage(); return CLI_OK;
        default: cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (!listen) cli_usage_error(prog, "--listen is required");
    if (!keys && !plaintext) cli_usage_error(prog, "--keys is required (or --plaintext)");

    volatile int *stop = cli_stop_flag();
    net_opts_t o;
    net_opts_default(&o);
    o.curve = !plaintext;
    o.timeout_ms = timeout_ms;
    o.allow_dir = allow;
    if (!plaintext) cli_load_keys(prog, keys, &o);
    net_t *net = net_new();
    if (!net) cli_fail(prog, "cannot create a ZeroMQ context");
    char err[NET_ERR_BYTES];
    net_listener_t *l = net_listen(net, listen, &o, err);
    net_opts_wipe(&o);
    if (!l) cli_fail(prog, "cannot listen on %s: %s", listen, err);
    if (verbose) fprintf(stderr, "%s: listening on %s\n", prog, net_listener_endpoint(l));
    cli_ready(ready_fd, net_listener_endpoint(l));

    enum { MAX_PENDING = 64 };
    pending_t pend[MAX_PENDING];
    int n_pend = 0;
    uint8_t (*served)[16] = NULL;
    size_t n_served = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int running = 0;
    uint64_t started = 0;

    while (!*stop && (!max_sessions || started < max_sessions)) {
        party_dealer_hello_t h;
        size_t len = 0;
        chan_t *ch = net_accept(l, 500, &h, sizeof h, &len, err);
        double t = now_s();
        for (int i = 0; i < n_pend; i++)
            if (t - pend[i].since > timeout_ms / 1000.0) {
                refuse(&pend[i].chan, MPC_EPEER, "the other party never joined the session");
                pend[i--] = pend[--n_pend];
            }
        if (!ch) continue;
        /* every answer, a refusal too, carries the sid the party sent: the
         * party reads nothing framed with another */
        if (len == sizeof h) memcpy(ch->session, h.sid, 16);
        char why[CHAN_ERR_BYTES];
        mpc_err_t bad = len != sizeof h ? MPC_EFORMAT : hello_check(&h, why, sizeof why);
        if (bad) {
            if (len != sizeof h) snprintf(why, sizeof why, "malformed hello (%zu bytes)", len);
            if (verbose) fprintf(stderr, "%s: refused a party: %s\n", prog, why);
            refuse(&ch, bad, why);
            continue;
        }
        int replay = 0;
        for (size_t i = 0; i < n_served; i++) replay |= memcmp(served[i], h.sid, 16) == 0;
        int match = -1, dup = 0;
        for (int i = 0; i < n_pend; i++)
            if (memcmp(pend[i].hello.sid, h.sid, 16) == 0) {
                if (pend[i].hello.role == h.role) dup = 1;
                else match = i;
            }
        if (replay || dup) {
            if (verbose) fprintf(stderr, "%s: refused a replayed session\n", prog);
            refuse(&ch, MPC_EPEER, "this session id was already served (replay refused)");
            continue;
        }
        if (match < 0) {
            if (n_pend == MAX_PENDING) {
                refuse(&ch, MPC_EPEER, "the dealer is busy");
                continue;
            }
            pend[n_pend++] = (pending_t){ch, h, t};
            continue;
        }
        pending_t other = pend[match];
        pend[match] = pend[--n_pend];
        party_dealer_hello_t a = other.hello, b = h;
        a.role = b.role = 0;
        if (memcmp(&a, &b, sizeof a) != 0) {
            refuse(&ch, MPC_EPEER, "the two parties disagree on the session");
            refuse(&other.chan, MPC_EPEER, "the two parties disagree on the session");
            continue;
        }
        uint8_t(*grown)[16] = realloc(served, (n_served + 1) * sizeof *served);
        if (!grown) cli_fail(prog, "out of memory");
        served = grown;
        memcpy(served[n_served++], h.sid, 16);
        session_job_t *job = calloc(1, sizeof *job);
        if (!job) cli_fail(prog, "out of memory");
        job->to[h.role] = ch;
        job->to[other.hello.role] = other.chan;
        job->hello = h;
        job->have_seed = have_seed;
        memcpy(job->test_seed, test_seed, 16);
        job->verbose = verbose;
        job->timeout_ms = timeout_ms;
        job->lock = &lock;
        job->running = &running;
        pthread_mutex_lock(&lock);
        running++;
        pthread_mutex_unlock(&lock);
        pthread_t th;
        if (pthread_create(&th, NULL, session_main, job) != 0) cli_fail(prog, "cannot start a thread");
        pthread_detach(th);
        started++;
        if (verbose) fprintf(stderr, "%s: session %llu started\n", prog, (unsigned long long)started);
    }
    for (;;) { /* let running sessions finish */
        pthread_mutex_lock(&lock);
        int r = running;
        pthread_mutex_unlock(&lock);
        if (!r) break;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n_pend; i++) chan_free(&pend[i].chan);
    free(served);
    net_listener_free(&l);
    net_free(&net);
    return CLI_OK;
}
