/* parties/main_mpcllm_dealer.c - mpcllm-dealer: serves correlated randomness
 * to sessions of a server and a client.
 *
 * Each party dials the dealer itself with the session's hello. The dealer
 * checks each hello before it opens anything for it: the id must be the
 * hash of the nonces and keys, the program one it will generate, and the
 * hello must come from the key it names for its role (pk[role], as CurveZMQ
 * authenticated the connection), so that nobody can ask for another party's
 * seed. It pairs the two hellos of a session by id, refuses an id it has
 * served, and only then opens a channel for each party, which admits that
 * party's key alone, and runs the session on a thread of its own: seeds to
 * each party over its own link, then the program's correlations, streamed.
 * A failing session ends alone; the dealer keeps serving.
 *
 * Bounds: a hello waiting for its partner holds only its connection, and at
 * most --max-pending of them wait (a fraction per key, the oldest giving way
 * to a newer one when the table is full, since honest partners arrive within
 * moments of each other); at most --max-sessions run at once; the served
 * ids are remembered in a ring of the last REPLAY_CAP. It logs at
 * --log-level, answers the status query, and drains on SIGTERM
 * (parties/party_service.h).
 */
#include <getopt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpc/stats.h"
#include "parties/cli.h"
#include "parties/party.h"
#include "parties/party_service.h"

static const char *prog = "mpcllm-dealer";

/* Descriptors a running session holds: two channels (socket, monitor,
 * listening socket, connection) and slack. */
#define FDS_PER_SESSION 12
/* Served session ids remembered against replays. Seeds are fresh for every
 * session (unless --test-seed), so an id older than these would only get
 * fresh correlations; the ring bounds the memory. */
#define REPLAY_CAP 65536

static void usage(void)
{
    printf("usage: mpcllm-dealer --listen ENDPOINT --keys DIR [options]\n"
           "\n"
           "Serves Beaver triples, masks and FSS keys to server/client sessions.\n"
           "The dealer must be independent of both parties (DESIGN.md §2).\n"
           "\n"
           "  --listen EP          where parties dial in, e.g. tcp://*:7100 or tcp://127.0.0.1:*\n"
           "  --keys DIR           the dealer's CurveZMQ key pair (mpcllm-keygen --out DIR)\n"
           "  --allow DIR          admit only party public keys found in DIR (ZAP allow-list)\n"
           "  --timeout SEC        give up on a silent party after SEC seconds (default 30)\n"
           "  --max-sessions N     sessions served at once (default: from the open-file limit)\n"
           "  --max-pending N      hellos waiting for their partner (default: 4 x max-sessions)\n"
           "  --sessions N         exit after serving N sessions (default: serve forever)\n"
           "  --test-seed S        derive every seed from S and the session id (tests only:\n"
           "                       NOT private; refused unless --listen is a loopback or\n"
           "                       ipc:// endpoint, or --insecure-test-seed is given)\n"
           "  --insecure-test-seed allow --test-seed on any endpoint\n"
           "  --max-steps N        refuse generations of more than N steps\n"
           "  --grace SEC          on SIGTERM, let running sessions finish for SEC seconds\n"
           "                       (default 60); a second SIGINT stops at once\n"
           "  --log-level L        error, warn (default), info (a line per session start and\n"
           "                       end) or debug\n"
           "  --verbose            --log-level info\n"
           "  --plaintext          no CurveZMQ, no key checks (debugging only)\n"
           "  --ready-fd FD        write the bound endpoint to FD once listening\n"
           "  --help               this text\n"
           "\n"
           "mpcllm-client --status --server EP --server-key FILE asks a running dealer for\n"
           "its status (JSON).\n");
}

typedef struct pending {
    net_request_t *req;
    party_dealer_hello_t hello;
    double since;
} pending_t;

/* What the accept loop knows; sessions touch `running` only. */
typedef struct dealer {
    net_listener_t *l;
    int timeout_ms, plaintext;
    int max_sessions, max_pending, per_key, max_steps;
    int have_seed;
    uint8_t test_seed[16];
    pending_t *pend;
    int n_pend;
    uint8_t (*served)[CHAN_SESSION_BYTES];
    size_t n_served, next_served;
    svc_t svc; /* logs, counters, the running sessions */
} dealer_t;

typedef struct session_job {
    dealer_t *d;
    chan_t *to[2];
    party_dealer_hello_t hello;
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
    dealer_t *d = job->d;
    mpc_ctx_t ctx;
    char sid[33];
    sid_hex(sid, job->hello.sid);
    if (d->have_seed)
        svc_log(&d->svc, SVC_WARN, "session %.8s uses the test seed: it is NOT private", sid);
    const party_prog_t *pg = &job->hello.prog;
    if (pg->kind == PROG_GENERATE)
        svc_log(&d->svc, SVC_INFO,
                "session %.8s started: generation, %u prompt tokens, %u steps, policy %s", sid,
                pg->n_prompt, pg->steps, kv_policy_name((kv_policy_t)pg->kv.policy));
    else
        svc_log(&d->svc, SVC_INFO, "session %.8s started: matvec demo, d = %u", sid, pg->d);
    double t0 = stats_now();
    mpc_err_t e = mpc_ctx_init(&ctx, MPC_DEALER, (int)pg->frac_bits);
    if (!e)
        e = party_deal_session(&ctx, job->to, &job->hello, d->have_seed ? d->test_seed : NULL,
                               d->timeout_ms);
    uint64_t offline = stats_total(&ctx.stats, -1).offline_bytes;
    uint32_t tokens = pg->kind == PROG_GENERATE ? pg->steps - pg->n_prompt + 1 : 0;
    if (e)
        svc_log(&d->svc, SVC_ERROR, "session %.8s failed: %s: %s", sid, mpc_err_str(e), ctx.err);
    else
        svc_log(&d->svc, SVC_INFO, "session %.8s ended: %llu offline bytes in %.3f s", sid,
                (unsigned long long)offline, stats_now() - t0);
    svc_ended(&d->svc, !e, e ? 0 : tokens, 0, offline);
    mpc_ctx_destroy(&ctx);
    chan_free(&job->to[0]);
    chan_free(&job->to[1]);
    sodium_memzero(job, sizeof *job);
    free(job);
    return NULL;
}

static void refuse(dealer_t *d, net_request_t **r, svc_refusal_t cause, mpc_err_t code,
                   const char *why)
{
    svc_refused(&d->svc, cause, why);
    net_request_refuse(d->l, r, code, why);
}

/* MPC_OK for a hello the dealer can serve, else why not. */
static mpc_err_t hello_check(const dealer_t *d, const party_dealer_hello_t *h, const uint8_t *key,
                             char *why)
{
    if (memcmp(h->magic, PARTY_MAGIC, 8) != 0) {
        snprintf(why, CHAN_ERR_BYTES, "not an mpcllm hello of this version (%s)", PARTY_MAGIC);
        return MPC_EFORMAT;
    }
    if (h->role != MPC_P0 && h->role != MPC_P1) {
        snprintf(why, CHAN_ERR_BYTES, "unknown role %u", h->role);
        return MPC_EFORMAT;
    }
    uint8_t sid[CHAN_SESSION_BYTES];
    party_sid(sid, h);
    if (sodium_memcmp(sid, h->sid, CHAN_SESSION_BYTES) != 0) {
        snprintf(why, CHAN_ERR_BYTES, "session id is not the hash of the nonces and keys");
        return MPC_EFORMAT;
    }
    /* the program's sizes and policy: the dealer generates what they imply,
     * so it checks them itself rather than trust either party */
    mpc_err_t e = party_prog_admit(&h->prog, why);
    if (e) return e;
    if (d->max_steps && h->prog.kind == PROG_GENERATE && h->prog.steps > (uint32_t)d->max_steps) {
        snprintf(why, CHAN_ERR_BYTES,
                 "this dealer serves at most %d steps per session (--steps %u)", d->max_steps,
                 h->prog.steps);
        return MPC_EARG;
    }
    /* key is NULL only in plaintext mode, where nobody is authenticated */
    if (key && sodium_memcmp(key, h->pk[h->role], NET_KEY_BYTES) != 0) {
        snprintf(why, CHAN_ERR_BYTES,
                 "the hello names another key for P%u than the one this connection "
                 "authenticated with",
                 h->role);
        return MPC_EPEER;
    }
    return MPC_OK;
}

static int was_served(const dealer_t *d, const uint8_t sid[CHAN_SESSION_BYTES])
{
    int hit = 0;
    for (size_t i = 0; i < d->n_served; i++)
        hit |= !memcmp(d->served[i], sid, CHAN_SESSION_BYTES);
    return hit;
}

static void mark_served(dealer_t *d, const uint8_t sid[CHAN_SESSION_BYTES])
{
    memcpy(d->served[d->next_served], sid, CHAN_SESSION_BYTES);
    d->next_served = (d->next_served + 1) % REPLAY_CAP;
    if (d->n_served < REPLAY_CAP) d->n_served++;
}

static void drop_pending(dealer_t *d, int i, const char *why)
{
    refuse(d, &d->pend[i].req, SVC_REF_LIMIT, MPC_EPEER, why);
    d->pend[i] = d->pend[--d->n_pend];
}

/* Refuses the hellos that waited longer than the timeout. */
static void expire_pending(dealer_t *d)
{
    double t = now_s();
    for (int i = 0; i < d->n_pend; i++)
        if (t - d->pend[i].since > d->timeout_ms / 1000.0)
            drop_pending(d, i--, "the other party never joined the session");
}

/* Makes room for a hello from the party of role in h: 0, or -1 (with why)
 * when its key already has its share of the table. */
static int make_room(dealer_t *d, const party_dealer_hello_t *h, char *why)
{
    int mine = 0, oldest = 0;
    for (int i = 0; i < d->n_pend; i++) {
        const party_dealer_hello_t *o = &d->pend[i].hello;
        mine += !memcmp(o->pk[o->role], h->pk[h->role], NET_KEY_BYTES);
        if (d->pend[i].since < d->pend[oldest].since) oldest = i;
    }
    if (mine >= d->per_key) {
        snprintf(why, CHAN_ERR_BYTES,
                 "%d hellos from this key already wait for their partner (at most %d)", mine,
                 d->per_key);
        return -1;
    }
    if (d->n_pend == d->max_pending)
        drop_pending(d, oldest, "the dealer had too many waiting hellos; yours was the oldest");
    return 0;
}

/* Starts the session of two agreeing hellos: their channels, then a
 * thread. Returns 1, or 0 after refusing both when that cannot be done. */
static int start_session(dealer_t *d, net_request_t **r, pending_t *other,
                         const party_dealer_hello_t *h)
{
    char why[CHAN_ERR_BYTES];
    if (svc_open(&d->svc, 0) >= d->max_sessions) {
        snprintf(why, sizeof why, "the dealer runs its limit of %d sessions; try again later",
                 d->max_sessions);
        refuse(d, r, SVC_REF_LIMIT, MPC_EPEER, why);
        refuse(d, &other->req, SVC_REF_LIMIT, MPC_EPEER, why);
        return 0;
    }
    mark_served(d, h->sid);
    session_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        refuse(d, r, SVC_REF_INTERNAL, MPC_ENOMEM, "the dealer is out of memory");
        refuse(d, &other->req, SVC_REF_INTERNAL, MPC_ENOMEM, "the dealer is out of memory");
        return 0;
    }
    job->d = d;
    job->hello = *h;
    char err[NET_ERR_BYTES];
    job->to[h->role] = net_request_accept(d->l, r, err);
    if (!job->to[h->role]) {
        svc_refused(&d->svc, SVC_REF_INTERNAL, err);
        refuse(d, &other->req, SVC_REF_INTERNAL, MPC_EIO, "the dealer could not open a channel");
    } else if (!(job->to[other->hello.role] = net_request_accept(d->l, &other->req, err))) {
        svc_refused(&d->svc, SVC_REF_INTERNAL, err);
    }
    /* every frame on the session's links carries its id: a party reads
     * nothing framed with another */
    for (int p = 0; p < 2; p++)
        if (job->to[p]) memcpy(job->to[p]->session, h->sid, CHAN_SESSION_BYTES);
    pthread_t th;
    svc_open(&d->svc, +1);
    if (!job->to[0] || !job->to[1] || pthread_create(&th, NULL, session_main, job) != 0) {
        if (job->to[0] && job->to[1])
            svc_refused(&d->svc, SVC_REF_INTERNAL, "cannot start a session thread");
        for (int p = 0; p < 2; p++) {
            party_seed_msg_t m = {.status = MPC_ENOMEM};
            memcpy(m.sid, h->sid, sizeof m.sid);
            snprintf(m.msg, sizeof m.msg, "the dealer could not start the session");
            if (job->to[p]) (void)chan_send(job->to[p], PARTY_SEED_TAG, 0, &m, sizeof m);
            chan_free(&job->to[p]);
        }
        free(job);
        svc_open(&d->svc, -1);
        return 0;
    }
    pthread_detach(th);
    return 1;
}

/* Serves one hello (or a status query); while draining, refuses every
 * session. Returns 1 when it started a session. */
static int serve(dealer_t *d, net_request_t **r, int draining)
{
    size_t len;
    const void *p = net_request_hello(*r, &len);
    char why[CHAN_ERR_BYTES];
    party_dealer_hello_t h;
    if (svc_is_status_query(p, len)) {
        char extra[160];
        snprintf(extra, sizeof extra,
                 "\"max_sessions\":%d,\"max_pending\":%d,\"pending\":%d,\"test_seed\":%s",
                 d->max_sessions, d->max_pending, d->n_pend, d->have_seed ? "true" : "false");
        svc_answer_status(&d->svc, d->l, r, extra);
        return 0;
    }
    if (len != sizeof h) {
        snprintf(why, sizeof why, "malformed hello (%zu bytes)", len);
        refuse(d, r, SVC_REF_MALFORMED, MPC_EFORMAT, why);
        return 0;
    }
    memcpy(&h, p, sizeof h);
    mpc_err_t bad = hello_check(d, &h, net_request_key(*r), why);
    if (bad) {
        svc_refusal_t cause = bad == MPC_EFORMAT ? SVC_REF_MALFORMED
                              : bad == MPC_EPEER ? SVC_REF_KEY
                                                 : SVC_REF_PROGRAM;
        refuse(d, r, cause, bad, why);
        return 0;
    }
    if (draining) {
        refuse(d, r, SVC_REF_DRAINING, MPC_EPEER, "the dealer is shutting down; try again later");
        return 0;
    }
    int match = -1, dup = 0;
    for (int i = 0; i < d->n_pend; i++)
        if (!memcmp(d->pend[i].hello.sid, h.sid, CHAN_SESSION_BYTES)) {
            if (d->pend[i].hello.role == h.role)
                dup = 1;
            else
                match = i;
        }
    if (dup || was_served(d, h.sid)) {
        svc_log(&d->svc, SVC_WARN, "refused a replayed session");
        refuse(d, r, SVC_REF_REPLAY, MPC_EPEER,
               "this session id was already served (replay refused)");
        return 0;
    }
    if (match < 0) {
        if (make_room(d, &h, why) != 0) {
            refuse(d, r, SVC_REF_LIMIT, MPC_EPEER, why);
            return 0;
        }
        d->pend[d->n_pend++] = (pending_t){*r, h, now_s()};
        *r = NULL;
        return 0;
    }
    pending_t other = d->pend[match];
    d->pend[match] = d->pend[--d->n_pend];
    party_dealer_hello_t a = other.hello, b = h;
    a.role = b.role = 0;
    if (memcmp(&a, &b, sizeof a) != 0) {
        refuse(d, r, SVC_REF_PROGRAM, MPC_EPEER, "the two parties disagree on the session");
        refuse(d, &other.req, SVC_REF_PROGRAM, MPC_EPEER,
               "the two parties disagree on the session");
        return 0;
    }
    return start_session(d, r, &other, &h);
}

/* After SIGTERM (or --sessions): refuses new sessions and the waiting
 * hellos, answers status queries, and waits for the running sessions, for
 * grace_s at most (forever when grace_s < 0) or until a second SIGINT.
 * Returns how many still run. */
static int drain(dealer_t *d, svc_signals_t *sig, double grace_s)
{
    svc_drain(&d->svc);
    while (d->n_pend)
        drop_pending(d, 0, "the dealer is shutting down; try again later");
    int open = svc_open(&d->svc, 0);
    if (open) svc_log(&d->svc, SVC_WARN, "draining: waiting for %d sessions", open);
    double until = stats_now() + grace_s;
    char err[NET_ERR_BYTES];
    while ((open = svc_open(&d->svc, 0)) > 0 && !sig->now && (grace_s < 0 || stats_now() < until)) {
        net_request_t *r = NULL;
        if (net_next(d->l, 50, &r, err) == MPC_OK) serve(d, &r, 1);
    }
    return open;
}

int main(int argc, char **argv)
{
    static dealer_t d = {.timeout_ms = 30000};
    const char *listen = NULL, *keys = NULL, *allow = NULL;
    int ready_fd = -1, insecure_seed = 0, level = SVC_WARN;
    double grace_s = 60;
    uint64_t max_sessions = 0, max_pending = 0, total = 0;
    static const struct option opts[] = {{"listen", required_argument, 0, 'l'},
                                         {"keys", required_argument, 0, 'k'},
                                         {"allow", required_argument, 0, 'a'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"sessions", required_argument, 0, 'n'},
                                         {"test-seed", required_argument, 0, 's'},
                                         {"insecure-test-seed", no_argument, 0, 'I'},
                                         {"max-sessions", required_argument, 0, 'M'},
                                         {"max-pending", required_argument, 0, 'P'},
                                         {"max-steps", required_argument, 0, 'T'},
                                         {"grace", required_argument, 0, 'g'},
                                         {"plaintext", no_argument, 0, 'p'},
                                         {"ready-fd", required_argument, 0, 'r'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"log-level", required_argument, 0, 'L'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'k':
            keys = optarg;
            break;
        case 'a':
            allow = optarg;
            break;
        case 't':
            d.timeout_ms = cli_timeout_ms(prog, optarg);
            break;
        case 'n':
            total = cli_u64(prog, "--sessions", optarg, 1, UINT32_MAX);
            break;
        case 's':
            cli_test_seed(d.test_seed, optarg);
            d.have_seed = 1;
            break;
        case 'I':
            insecure_seed = 1;
            break;
        case 'M':
            max_sessions = cli_u64(prog, "--max-sessions", optarg, 1, 65536);
            break;
        case 'P':
            max_pending = cli_u64(prog, "--max-pending", optarg, 2, 1 << 20);
            break;
        case 'T':
            d.max_steps = (int)cli_u64(prog, "--max-steps", optarg, 1, 1 << 20);
            break;
        case 'g':
            grace_s = cli_timeout_ms(prog, optarg) / 1000.0;
            break;
        case 'p':
            d.plaintext = 1;
            break;
        case 'r':
            ready_fd = (int)cli_u64(prog, "--ready-fd", optarg, 0, 65535);
            break;
        case 'v':
            level = SVC_INFO;
            break;
        case 'L':
            if ((level = svc_level_parse(optarg)) < 0)
                cli_usage_error(prog, "--log-level wants error, warn, info or debug, got '%s'",
                                optarg);
            break;
        case 'h':
            usage();
            return CLI_OK;
        default:
            cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (!listen) cli_usage_error(prog, "--listen is required");
    if (!keys && !d.plaintext) cli_usage_error(prog, "--keys is required (or --plaintext)");
    if (d.have_seed && !insecure_seed && !cli_endpoint_is_loopback(listen))
        cli_usage_error(prog,
                        "--test-seed makes every session's masks public; it is refused on %s, "
                        "which is not a loopback or ipc:// endpoint (--insecure-test-seed "
                        "overrides)",
                        listen);
    svc_init(&d.svc, prog, level);
    if (d.have_seed)
        svc_log(&d.svc, SVC_WARN, "--test-seed: no session this dealer serves is private");

    long fds = cli_raise_fd_limit();
    d.max_sessions = max_sessions ? (int)max_sessions : cli_default_sessions(fds, FDS_PER_SESSION);
    d.max_pending = max_pending ? (int)max_pending : 4 * d.max_sessions;
    d.per_key = d.max_pending / 8 > 4 ? d.max_pending / 8 : 4;
    if (d.per_key > d.max_pending) d.per_key = d.max_pending;
    d.pend = calloc((size_t)d.max_pending, sizeof *d.pend);
    d.served = calloc(REPLAY_CAP, sizeof *d.served);
    if (!d.pend || !d.served) cli_fail(prog, "out of memory");

    svc_signals_t *sig = svc_signals();
    net_opts_t o;
    net_opts_default(&o);
    o.curve = !d.plaintext;
    o.timeout_ms = d.timeout_ms;
    o.allow_dir = allow;
    if (!d.plaintext) cli_load_keys(prog, keys, &o);
    net_t *net = net_new();
    if (!net) cli_fail(prog, "cannot create a ZeroMQ context");
    char err[NET_ERR_BYTES];
    d.l = net_listen(net, listen, &o, err);
    net_opts_wipe(&o);
    if (!d.l) cli_fail(prog, "cannot listen on %s: %s", listen, err);
    svc_log(&d.svc, SVC_INFO,
            "listening on %s; at most %d sessions at once, %d waiting hellos (%ld open files)",
            net_listener_endpoint(d.l), d.max_sessions, d.max_pending, fds);
    cli_ready(ready_fd, net_listener_endpoint(d.l));

    uint64_t started = 0;
    while (!sig->drain && (!total || started < total)) {
        net_request_t *r = NULL;
        mpc_err_t e = net_next(d.l, 500, &r, err);
        expire_pending(&d);
        if (e == MPC_EIO) svc_log(&d.svc, SVC_ERROR, "%s", err);
        if (r) started += (uint64_t)serve(&d, &r, 0);
    }
    /* --sessions waits for its sessions; a signal gives them the grace */
    int left = drain(&d, sig, sig->drain ? grace_s : -1);
    sodium_memzero(d.test_seed, sizeof d.test_seed);
    if (left) {
        /* the sessions' threads still use the context: leave it to the exit */
        svc_log(&d.svc, SVC_ERROR, "stopped with %d sessions still running", left);
        return CLI_FAIL;
    }
    free(d.pend);
    free(d.served);
    net_listener_free(&d.l);
    net_free(&net);
    return CLI_OK;
}
