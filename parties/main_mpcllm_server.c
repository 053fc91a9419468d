/* parties/main_mpcllm_server.c - mpcllm-server: holds the model and serves
 * many client sessions at once.
 *
 * Each client dials the listener. The server takes the hello only from the
 * key it names (pk, as CurveZMQ authenticated the connection), and only
 * while fewer than --max-sessions run; then it opens a channel that admits
 * that key alone, answers with its nonce and key, joins the dealer for that
 * session on its own link, and runs the session on a thread with its own
 * context, tapes and memory. A failing session ends alone and the server
 * keeps serving.
 *
 * Without --model the server serves the private matrix-vector demo only
 * (parties/party_demo.c): its secret matrix is drawn from --demo-seed.
 */
#include <getopt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "parties/cli.h"
#include "parties/party.h"

#define HELLO_TAG CHAN_TAG('H', 'E', 'L', 'O')

static const char *prog = "mpcllm-server";

static void usage(void)
{
    printf("usage: mpcllm-server --listen ENDPOINT --keys DIR --dealer ENDPOINT --dealer-key FILE\n"
           "                     [options]\n"
           "\n"
           "Serves private computations to clients; each session joins the dealer itself.\n"
           "\n"
           "  --listen EP        where clients dial in, e.g. tcp://*:7000\n"
           "  --keys DIR         the server's CurveZMQ key pair (mpcllm-keygen --out DIR)\n"
           "  --dealer EP        the dealer's endpoint\n"
           "  --dealer-key FILE  the dealer's public key, pinned\n"
           "  --allow DIR        admit only client public keys found in DIR (ZAP allow-list)\n"
           "  --model PATH       the llama2.c checkpoint to serve privately (without it, only\n"
           "                     the matrix-vector demo is served)\n"
           "  --demo-seed N      seed of the server's secret demo matrix (default: random)\n"
           "  --timeout SEC      give up on a silent peer after SEC seconds (default 30)\n"
           "  --max-sessions N   sessions served at once (default: from the open-file limit);\n"
           "                     beyond it a client is refused with the reason\n"
           "  --sessions N       exit after N sessions (default: serve forever)\n"
           "  --plaintext        no CurveZMQ (debugging only)\n"
           "  --ready-fd FD      write the bound endpoint to FD once listening\n"
           "  --verbose          log sessions to stderr\n"
           "  --help             this text\n");
}

typedef struct server_cfg {
    net_t *net;
    net_opts_t self;
    const char *dealer_ep;
    uint8_t dealer_key[NET_KEY_BYTES];
    int timeout_ms, verbose;
    uint64_t demo_seed;
    model_t *model; /* NULL: the demo only; shared read-only by sessions */
    uint8_t model_hash[32];
    int max_sessions;
    pthread_mutex_t lock;
    int running;
} server_cfg_t;

/* Descriptors a running session holds: its channel to the client, the
 * dealer's, their monitors and connections, and slack. */
#define FDS_PER_SESSION 12

typedef struct session_job {
    server_cfg_t *cfg;
    chan_t *client;
    party_hello_t hello;
} session_job_t;

/* The generation the client asked for, on this server's model: the
 * architecture and model hash filled into out, and checked with every
 * field but the prompt's length, which comes later. */
static mpc_err_t fill_generation(const server_cfg_t *cfg, const party_prog_t *pg, party_prog_t *out,
                                 char *why)
{
    if (!cfg->model) {
        snprintf(why, CHAN_ERR_BYTES, "this server has no model (start it with --model)");
        return MPC_EARG;
    }
    if (pg->steps < 1 || pg->steps > (uint32_t)cfg->model->cfg.seq_len) {
        snprintf(why, CHAN_ERR_BYTES, "--steps %u does not fit the model's context of %d",
                 pg->steps, cfg->model->cfg.seq_len);
        return MPC_EARG;
    }
    party_prog_generate(out, &cfg->model->cfg, (int)pg->frac_bits, (int)pg->steps, 0);
    out->flags = pg->flags;
    out->kv = pg->kv; /* the client's choice, if the check below passes */
    memcpy(out->model_hash, cfg->model_hash, 32);
    party_prog_t probe = *out;
    probe.n_prompt = 1; /* one token stands in for the prompt */
    return party_prog_admit(&probe, why);
}

static mpc_err_t run_session(mpc_ctx_t *ctx, session_job_t *job, chan_t **dealer)
{
    server_cfg_t *cfg = job->cfg;
    const party_prog_t *pg = &job->hello.prog;
    party_hello_t reply = {0};
    memcpy(reply.magic, PARTY_MAGIC, 8);
    randombytes_buf(reply.nonce, sizeof reply.nonce);
    memcpy(reply.pk, cfg->self.public_key, 32);
    reply.prog = *pg;
    mpc_err_t bad = MPC_OK;
    if (memcmp(job->hello.magic, PARTY_MAGIC, 8) != 0) {
        snprintf(reply.msg, sizeof reply.msg, "not an mpcllm hello of this version (%s)",
                 PARTY_MAGIC);
        bad = MPC_EFORMAT;
    } else if (pg->kind == PROG_GENERATE) {
        bad = fill_generation(cfg, pg, &reply.prog, reply.msg);
    } else {
        bad = party_prog_admit(pg, reply.msg);
    }
    int ok = bad == MPC_OK;
    if (!ok) reply.status = bad;
    mpc_err_t e = chan_send(job->client, HELLO_TAG, 0, &reply, sizeof reply);
    if (e) return mpc_fail(ctx, e, "client: %s", job->client->err);
    if (!ok) return mpc_fail(ctx, bad, "%s", reply.msg);

    party_dealer_hello_t dh = {0};
    memcpy(dh.magic, PARTY_MAGIC, 8);
    dh.role = MPC_P0;
    memcpy(dh.nonce[0], reply.nonce, 32);
    memcpy(dh.nonce[1], job->hello.nonce, 32);
    memcpy(dh.pk[0], reply.pk, 32);
    memcpy(dh.pk[1], job->hello.pk, 32);
    dh.prog = reply.prog;
    party_sid(dh.sid, &dh);
    memcpy(job->client->session, dh.sid, CHAN_SESSION_BYTES);
    if (pg->kind == PROG_GENERATE) {
        /* the client's prompt length (public), once it knows the vocabulary */
        uint32_t plen = 0;
        size_t len = 0;
        uint64_t depth;
        e = chan_recv(job->client, PARTY_PLEN_TAG, &depth, &plen, sizeof plen, &len);
        if (e) return mpc_fail(ctx, e, "client: %s", job->client->err);
        if (len != sizeof plen || plen < 1 || plen > dh.prog.steps)
            return mpc_fail(ctx, MPC_EFORMAT, "client sent a bad prompt length");
        dh.prog.n_prompt = plen;
        /* the policy again, now with the prompt's length (the dealer checks
         * it too, and tells the client) */
        char why[CHAN_ERR_BYTES];
        if (party_prog_admit(&dh.prog, why) != MPC_OK) return mpc_fail(ctx, MPC_EARG, "%s", why);
    }
    party_net_t pn = {cfg->net, cfg->self, cfg->dealer_ep, {0}, cfg->timeout_ms};
    memcpy(pn.dealer_key, cfg->dealer_key, NET_KEY_BYTES);
    uint32_t seed_flags = 0;
    e = party_join_dealer(ctx, &pn, &dh, dealer, &seed_flags);
    net_opts_wipe(&pn.self);
    if (e) return e;
    if (seed_flags & PARTY_SEED_TEST)
        fprintf(stderr, "%s: WARNING: the dealer used a test seed: this session is NOT private\n",
                prog);

    if (pg->kind == PROG_GENERATE) {
        if (cfg->verbose) fprintf(stderr, "%s: generation, %u prompt tokens, %u steps, policy %s\n",
                                  prog, dh.prog.n_prompt, dh.prog.steps,
                                  kv_policy_name((kv_policy_t)dh.prog.kv.policy));
        e = party_generate(ctx, &dh.prog, cfg->model, NULL);
    } else {
        uint64_t *W = malloc((size_t)pg->d * pg->d * sizeof *W);
        if (!W) return mpc_fail(ctx, MPC_ENOMEM, "out of memory for the %u x %u matrix", pg->d, pg->d);
        demo_matrix(W, pg->d, (int)pg->frac_bits, cfg->demo_seed);
        e = demo_matvec(ctx, pg, W, NULL, NULL);
        sodium_memzero(W, (size_t)pg->d * pg->d * sizeof *W);
        free(W);
    }
    /* an early stop leaves the tape unfinished, by design */
    if (!e && !(dh.prog.flags & PROG_EARLY_STOP)) {
        e = mpc_corr_finish(ctx);
        if (!e) e = party_confirm_dealer(ctx, *dealer);
    }
    if (!e) e = party_exchange_report(ctx, NULL);
    return e;
}

static int running_now(server_cfg_t *cfg, int delta)
{
    pthread_mutex_lock(&cfg->lock);
    cfg->running += delta;
    int r = cfg->running;
    pthread_mutex_unlock(&cfg->lock);
    return r;
}

static void *session_main(void *arg)
{
    session_job_t *job = arg;
    server_cfg_t *cfg = job->cfg;
    mpc_ctx_t ctx;
    chan_t *dealer = NULL;
    int f = job->hello.prog.frac_bits >= FXP_FRAC_BITS_MIN &&
                    job->hello.prog.frac_bits <= FXP_FRAC_BITS_MAX
                ? (int)job->hello.prog.frac_bits
                : FXP_FRAC_BITS_DEFAULT;
    mpc_err_t e = mpc_ctx_init(&ctx, MPC_P0, f);
    ctx.peer = job->client;
    if (!e) e = run_session(&ctx, job, &dealer);
    if (e)
        fprintf(stderr, "%s: session failed: %s: %s%s\n", prog, mpc_err_str(e),
                party_peer_name(&ctx), ctx.err);
    else if (cfg->verbose)
        fprintf(stderr, "%s: session done\n", prog);
    mpc_ctx_destroy(&ctx);
    chan_free(&dealer);
    chan_free(&job->client);
    sodium_memzero(job, sizeof *job);
    free(job);
    running_now(cfg, -1);
    return NULL;
}

/* Answers a client whose session cannot start, on its channel. */
static void refuse_on(chan_t **c, const char *why)
{
    party_hello_t reply = {0};
    memcpy(reply.magic, PARTY_MAGIC, 8);
    reply.status = MPC_ENOMEM;
    snprintf(reply.msg, sizeof reply.msg, "%s", why);
    (void)chan_send(*c, HELLO_TAG, 0, &reply, sizeof reply);
    chan_free(c);
}

/* Takes one client's hello: refused on the rendezvous when it is malformed,
 * names another key than its connection's, or comes while the server runs
 * its limit of sessions; else a session on a thread of its own. Returns 1
 * when a session started. */
static int admit(server_cfg_t *cfg, net_listener_t *l, net_request_t **r)
{
    size_t len;
    const void *p = net_request_hello(*r, &len);
    const uint8_t *key = net_request_key(*r);
    party_hello_t h;
    char why[CHAN_ERR_BYTES];
    if (len != sizeof h) {
        snprintf(why, sizeof why, "malformed hello (%zu bytes; this server speaks %s)", len,
                 PARTY_MAGIC);
        net_request_refuse(l, r, MPC_EFORMAT, why);
        return 0;
    }
    memcpy(&h, p, sizeof h);
    if (key && sodium_memcmp(key, h.pk, NET_KEY_BYTES) != 0) {
        if (cfg->verbose) fprintf(stderr, "%s: refused a hello under another key\n", prog);
        net_request_refuse(l, r, MPC_EPEER,
                           "the hello names another key than the one this connection "
                           "authenticated with");
        return 0;
    }
    if (running_now(cfg, 0) >= cfg->max_sessions) {
        snprintf(why, sizeof why, "the server runs its limit of %d sessions; try again later",
                 cfg->max_sessions);
        if (cfg->verbose) fprintf(stderr, "%s: refused a client: %s\n", prog, why);
        net_request_refuse(l, r, MPC_EPEER, why);
        return 0;
    }
    char err[NET_ERR_BYTES];
    chan_t *ch = net_request_accept(l, r, err);
    if (!ch) {
        fprintf(stderr, "%s: cannot open a session channel: %s\n", prog, err);
        return 0;
    }
    session_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        fprintf(stderr, "%s: out of memory for a session; refused it\n", prog);
        refuse_on(&ch, "the server is out of memory");
        return 0;
    }
    job->cfg = cfg;
    job->client = ch;
    job->hello = h;
    running_now(cfg, +1);
    pthread_t th;
    if (pthread_create(&th, NULL, session_main, job) != 0) {
        fprintf(stderr, "%s: cannot start a session thread; refused it\n", prog);
        refuse_on(&job->client, "the server could not start the session");
        free(job);
        running_now(cfg, -1);
        return 0;
    }
    pthread_detach(th);
    return 1;
}

int main(int argc, char **argv)
{
    static server_cfg_t cfg = {.timeout_ms = 30000, .lock = PTHREAD_MUTEX_INITIALIZER};
    const char *listen = NULL, *keys = NULL, *allow = NULL, *dealer_key = NULL, *model_path = NULL;
    int plaintext = 0, ready_fd = -1, have_seed = 0;
    uint64_t total = 0;
    static const struct option opts[] = {{"listen", required_argument, 0, 'l'},
                                         {"keys", required_argument, 0, 'k'},
                                         {"dealer", required_argument, 0, 'd'},
                                         {"dealer-key", required_argument, 0, 'K'},
                                         {"allow", required_argument, 0, 'a'},
                                         {"model", required_argument, 0, 'm'},
                                         {"demo-seed", required_argument, 0, 'S'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"sessions", required_argument, 0, 'n'},
                                         {"plaintext", no_argument, 0, 'p'},
                                         {"ready-fd", required_argument, 0, 'r'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"max-sessions", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'k': keys = optarg; break;
        case 'd': cfg.dealer_ep = optarg; break;
        case 'K': dealer_key = optarg; break;
        case 'a': allow = optarg; break;
        case 'm': model_path = optarg; break;
        case 'S': cfg.demo_seed = cli_u64(prog, "--demo-seed", optarg, 0, UINT64_MAX); have_seed = 1; break;
        case 't': cfg.timeout_ms = cli_timeout_ms(prog, optarg); break;
        case 'n':
            total = cli_u64(prog, "--sessions", optarg, 1, UINT32_MAX);
            break;
        case 'p': plaintext = 1; break;
        case 'r': ready_fd = (int)cli_u64(prog, "--ready-fd", optarg, 0, 65535); break;
        case 'v': cfg.verbose = 1; break;
        case 'M':
            cfg.max_sessions = (int)cli_u64(prog, "--max-sessions", optarg, 1, 65536);
            break;
        case 'h': usage(); return CLI_OK;
        default: cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (!listen) cli_usage_error(prog, "--listen is required");
    if (!cfg.dealer_ep) cli_usage_error(prog, "--dealer is required");
    if (!plaintext && (!keys || !dealer_key))
        cli_usage_error(prog, "--keys and --dealer-key are required (or --plaintext)");
    if (!have_seed) randombytes_buf(&cfg.demo_seed, sizeof cfg.demo_seed);

    if (model_path) {
        char err[CHAN_ERR_BYTES];
        if (model_load(&cfg.model, model_path, err)) cli_fail(prog, "%s", err);
        if (party_file_hash(model_path, cfg.model_hash)) cli_fail(prog, "cannot hash %s", model_path);
    }
    long fds = cli_raise_fd_limit();
    if (!cfg.max_sessions) cfg.max_sessions = cli_default_sessions(fds, FDS_PER_SESSION);
    volatile int *stop = cli_stop_flag();
    net_opts_default(&cfg.self);
    cfg.self.curve = !plaintext;
    cfg.self.timeout_ms = cfg.timeout_ms;
    cfg.self.allow_dir = allow;
    if (!plaintext) {
        cli_load_keys(prog, keys, &cfg.self);
        cli_load_public(prog, dealer_key, cfg.dealer_key);
    }
    cfg.net = net_new();
    if (!cfg.net) cli_fail(prog, "cannot create a ZeroMQ context");
    char err[NET_ERR_BYTES];
    net_listener_t *l = net_listen(cfg.net, listen, &cfg.self, err);
    if (!l) cli_fail(prog, "cannot listen on %s: %s", listen, err);
    if (cfg.verbose) fprintf(stderr, "%s: listening on %s\n", prog, net_listener_endpoint(l));
    cli_ready(ready_fd, net_listener_endpoint(l));

    uint64_t started = 0;
    while (!*stop && (!total || started < total)) {
        net_request_t *r = NULL;
        if (net_next(l, 500, &r, err) == MPC_EIO) fprintf(stderr, "%s: %s\n", prog, err);
        if (r) started += (uint64_t)admit(&cfg, l, &r);
    }
    for (;;) {
        pthread_mutex_lock(&cfg.lock);
        int r = cfg.running;
        pthread_mutex_unlock(&cfg.lock);
        if (!r) break;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    net_listener_free(&l);
    net_free(&cfg.net);
    net_opts_wipe(&cfg.self);
    model_free(&cfg.model);
    return CLI_OK;
}
