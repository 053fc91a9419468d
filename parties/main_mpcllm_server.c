/* parties/main_mpcllm_server.c - mpcllm-server: holds the model and serves
 * many client sessions at once.
 *
 * Each client dials the listener. The server takes the hello only from the
 * key it names (pk, as CurveZMQ authenticated the connection), and only
 * while fewer than --max-sessions run; then it opens a channel that admits
 * that key alone, answers with its nonce and key, joins the dealer for that
 * session on its own link, and runs the session on a thread with its own
 * context, tapes and memory. A failing session ends alone and the server
 * keeps serving. It logs at --log-level, answers the status query, and
 * drains on SIGTERM (parties/party_service.h).
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
#include "parties/party_service.h"

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
           "  --max-steps N      refuse generations of more than N steps (default: the\n"
           "                     model's context)\n"
           "  --grace SEC        on SIGTERM, let running sessions finish for SEC seconds\n"
           "                     (default 60); a second SIGINT stops at once\n"
           "  --sessions N       exit after N sessions (default: serve forever)\n"
           "  --log-level L      error, warn (default), info (a line per session start and\n"
           "                     end) or debug\n"
           "  --verbose          --log-level info\n"
           "  --plaintext        no CurveZMQ (debugging only)\n"
           "  --ready-fd FD      write the bound endpoint to FD once listening\n"
           "  --help             this text\n"
           "\n"
           "mpcllm-client --status --server EP --server-key FILE asks a running server for\n"
           "its status (JSON).\n");
}

typedef struct server_cfg {
    net_t *net;
    net_opts_t self;
    const char *dealer_ep;
    uint8_t dealer_key[NET_KEY_BYTES];
    int timeout_ms;
    uint64_t demo_seed;
    model_t *model; /* NULL: the demo only; shared read-only by sessions */
    uint8_t model_hash[32];
    int max_sessions, max_steps;
    svc_t svc; /* logs, counters, the running sessions */
} server_cfg_t;

/* Descriptors a running session holds: its channel to the client, the
 * dealer's, their monitors and connections, and slack. */
#define FDS_PER_SESSION 12

typedef struct session_job {
    server_cfg_t *cfg;
    chan_t *client;
    party_hello_t hello;
    const uint8_t *sid;                   /* once the session has one */
    char hex[2 * CHAN_SESSION_BYTES + 1]; /* the id in hex, for the log */
    uint32_t tokens;                      /* tokens the generation produces (public) */
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
    if (cfg->max_steps && pg->steps > (uint32_t)cfg->max_steps) {
        snprintf(why, CHAN_ERR_BYTES,
                 "this server serves at most %d steps per session (--steps %u)", cfg->max_steps,
                 pg->steps);
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
    sodium_bin2hex(job->hex, sizeof job->hex, dh.sid, CHAN_SESSION_BYTES);
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
    job->sid = dh.sid;
    if (seed_flags & PARTY_SEED_TEST)
        svc_log(&cfg->svc, SVC_WARN,
                "session %.8s: the dealer used a test seed: this session is NOT private", job->hex);
    if (pg->kind == PROG_GENERATE) {
        svc_log(&cfg->svc, SVC_INFO,
                "session %.8s started: generation, %u prompt tokens, %u steps, policy %s", job->hex,
                dh.prog.n_prompt, dh.prog.steps, kv_policy_name((kv_policy_t)dh.prog.kv.policy));
        job->tokens = dh.prog.steps - dh.prog.n_prompt + 1;
        e = party_generate(ctx, &dh.prog, cfg->model, NULL);
    } else {
        svc_log(&cfg->svc, SVC_INFO, "session %.8s started: matvec demo, d = %u", job->hex, pg->d);
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
    snprintf(job->hex, sizeof job->hex, "-");
    mpc_err_t e = mpc_ctx_init(&ctx, MPC_P0, f);
    ctx.peer = job->client;
    double t0 = stats_now();
    if (!e) e = run_session(&ctx, job, &dealer);
    stats_row_t all = stats_total(&ctx.stats, -1);
    uint64_t online = all.bytes_sent + all.bytes_recv;
    if (e)
        svc_log(&cfg->svc, SVC_ERROR, "session %.8s failed: %s: %s%s", job->hex, mpc_err_str(e),
                party_peer_name(&ctx), ctx.err);
    else
        svc_log(&cfg->svc, SVC_INFO,
                "session %.8s ended: %u tokens, %llu bytes online both ways (setup included), "
                "%llu rounds, %llu offline bytes, %.3f s",
                job->hex, job->tokens, (unsigned long long)online, (unsigned long long)ctx.depth,
                (unsigned long long)all.offline_bytes, stats_now() - t0);
    svc_ended(&cfg->svc, !e, e ? 0 : job->tokens, online, all.offline_bytes);
    mpc_ctx_destroy(&ctx);
    chan_free(&dealer);
    chan_free(&job->client);
    sodium_memzero(job, sizeof *job);
    free(job);
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

/* Takes one client's hello: answers a status query; refuses on the
 * rendezvous a hello that is malformed, names another key than its
 * connection's, or comes while the server drains or runs its limit of
 * sessions; else starts a session on a thread of its own. Returns 1 when a
 * session started. */
static int admit(server_cfg_t *cfg, net_listener_t *l, net_request_t **r, int draining)
{
    size_t len;
    const void *p = net_request_hello(*r, &len);
    const uint8_t *key = net_request_key(*r);
    svc_t *svc = &cfg->svc;
    party_hello_t h;
    char why[CHAN_ERR_BYTES];
    if (svc_is_status_query(p, len)) {
        char extra[160];
        snprintf(extra, sizeof extra, "\"max_sessions\":%d,\"max_steps\":%d,\"model\":%s",
                 cfg->max_sessions, cfg->max_steps, cfg->model ? "true" : "false");
        svc_answer_status(svc, l, r, extra);
        return 0;
    }
    if (len != sizeof h) {
        snprintf(why, sizeof why, "malformed hello (%zu bytes; this server speaks %s)", len,
                 PARTY_MAGIC);
        svc_refused(svc, SVC_REF_MALFORMED, why);
        net_request_refuse(l, r, MPC_EFORMAT, why);
        return 0;
    }
    memcpy(&h, p, sizeof h);
    if (key && sodium_memcmp(key, h.pk, NET_KEY_BYTES) != 0) {
        snprintf(why, sizeof why,
                 "the hello names another key than the one this connection authenticated with");
        svc_refused(svc, SVC_REF_KEY, why);
        net_request_refuse(l, r, MPC_EPEER, why);
        return 0;
    }
    if (draining) {
        snprintf(why, sizeof why, "the server is shutting down; try another or later");
        svc_refused(svc, SVC_REF_DRAINING, why);
        net_request_refuse(l, r, MPC_EPEER, why);
        return 0;
    }
    if (svc_open(svc, 0) >= cfg->max_sessions) {
        snprintf(why, sizeof why, "the server runs its limit of %d sessions; try again later",
                 cfg->max_sessions);
        svc_refused(svc, SVC_REF_LIMIT, why);
        net_request_refuse(l, r, MPC_EPEER, why);
        return 0;
    }
    char err[NET_ERR_BYTES];
    chan_t *ch = net_request_accept(l, r, err);
    if (!ch) {
        svc_refused(svc, SVC_REF_INTERNAL, err);
        return 0;
    }
    session_job_t *job = calloc(1, sizeof *job);
    if (!job) {
        svc_refused(svc, SVC_REF_INTERNAL, "out of memory for a session");
        refuse_on(&ch, "the server is out of memory");
        return 0;
    }
    job->cfg = cfg;
    job->client = ch;
    job->hello = h;
    svc_open(svc, +1);
    pthread_t th;
    if (pthread_create(&th, NULL, session_main, job) != 0) {
        svc_refused(svc, SVC_REF_INTERNAL, "cannot start a session thread");
        refuse_on(&job->client, "the server could not start the session");
        free(job);
        svc_open(svc, -1);
        return 0;
    }
    pthread_detach(th);
    return 1;
}

/* After SIGTERM (or --sessions): refuses new sessions, answers status
 * queries, and waits for the running ones, for grace_s at most (forever
 * when grace_s < 0) or until a second SIGINT. Returns how many still run. */
static int drain(server_cfg_t *cfg, net_listener_t *l, svc_signals_t *sig, double grace_s)
{
    svc_drain(&cfg->svc);
    int open = svc_open(&cfg->svc, 0);
    if (open) svc_log(&cfg->svc, SVC_WARN, "draining: waiting for %d sessions", open);
    double until = stats_now() + grace_s;
    char err[NET_ERR_BYTES];
    while ((open = svc_open(&cfg->svc, 0)) > 0 && !sig->now &&
           (grace_s < 0 || stats_now() < until)) {
        net_request_t *r = NULL;
        if (net_next(l, 50, &r, err) == MPC_OK) admit(cfg, l, &r, 1);
    }
    return open;
}

int main(int argc, char **argv)
{
    static server_cfg_t cfg = {.timeout_ms = 30000};
    const char *listen = NULL, *keys = NULL, *allow = NULL, *dealer_key = NULL, *model_path = NULL;
    int plaintext = 0, ready_fd = -1, have_seed = 0, level = SVC_WARN;
    double grace_s = 60;
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
                                         {"log-level", required_argument, 0, 'L'},
                                         {"max-sessions", required_argument, 0, 'M'},
                                         {"max-steps", required_argument, 0, 'T'},
                                         {"grace", required_argument, 0, 'g'},
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
        case 'S':
            cfg.demo_seed = cli_u64(prog, "--demo-seed", optarg, 0, UINT64_MAX);
            have_seed = 1;
            break;
        case 't':
            cfg.timeout_ms = cli_timeout_ms(prog, optarg);
            break;
        case 'n':
            total = cli_u64(prog, "--sessions", optarg, 1, UINT32_MAX);
            break;
        case 'p': plaintext = 1; break;
        case 'r': ready_fd = (int)cli_u64(prog, "--ready-fd", optarg, 0, 65535); break;
        case 'v':
            level = SVC_INFO;
            break;
        case 'L':
            if ((level = svc_level_parse(optarg)) < 0)
                cli_usage_error(prog, "--log-level wants error, warn, info or debug, got '%s'",
                                optarg);
            break;
        case 'M':
            cfg.max_sessions = (int)cli_u64(prog, "--max-sessions", optarg, 1, 65536);
            break;
        case 'T':
            cfg.max_steps = (int)cli_u64(prog, "--max-steps", optarg, 1, 1 << 20);
            break;
        case 'g':
            grace_s = cli_timeout_ms(prog, optarg) / 1000.0;
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
    svc_init(&cfg.svc, prog, level);

    if (model_path) {
        char err[CHAN_ERR_BYTES];
        if (model_load(&cfg.model, model_path, err)) cli_fail(prog, "%s", err);
        if (party_file_hash(model_path, cfg.model_hash)) cli_fail(prog, "cannot hash %s", model_path);
    }
    long fds = cli_raise_fd_limit();
    if (!cfg.max_sessions) cfg.max_sessions = cli_default_sessions(fds, FDS_PER_SESSION);
    svc_signals_t *sig = svc_signals();
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
    svc_log(&cfg.svc, SVC_INFO, "listening on %s; at most %d sessions at once (%ld open files)",
            net_listener_endpoint(l), cfg.max_sessions, fds);
    cli_ready(ready_fd, net_listener_endpoint(l));

    uint64_t started = 0;
    while (!sig->drain && (!total || started < total)) {
        net_request_t *r = NULL;
        if (net_next(l, 500, &r, err) == MPC_EIO) svc_log(&cfg.svc, SVC_ERROR, "%s", err);
        if (r) started += (uint64_t)admit(&cfg, l, &r, 0);
    }
    /* --sessions waits for its sessions; a signal gives them the grace */
    int left = drain(&cfg, l, sig, sig->drain ? grace_s : -1);
    if (left) {
        /* the sessions' threads still use the context: leave it to the exit */
        svc_log(&cfg.svc, SVC_ERROR, "stopped with %d sessions still running", left);
        net_opts_wipe(&cfg.self);
        return CLI_FAIL;
    }
    net_listener_free(&l);
    net_free(&cfg.net);
    net_opts_wipe(&cfg.self);
    model_free(&cfg.model);
    return CLI_OK;
}
