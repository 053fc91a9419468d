/* parties/main_mpcllm_server.c - mpcllm-server: holds the secret operand and
 * serves many client sessions at once.
 *
 * Each client dials the listener; the server answers with its nonce and
 * key, joins the dealer for that session on its own link, and runs the
 * session on a thread with its own context, tapes and memory. A failing
 * session ends alone and the server keeps serving.
 *
 * Until the secure transformer exists the program is the private
 * matrix-vector product (parties/party_demo.c): the server's secret matrix
 * is drawn from --demo-seed.
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
    pthread_mutex_t lock;
    int running;
} server_cfg_t;

typedef struct session_job {
    server_cfg_t *cfg;
    chan_t *client;
    party_hello_t hello;
} session_job_t;

static mpc_err_t run_session(mpc_ctx_t *ctx, session_job_t *job, chan_t **dealer)
{
    server_cfg_t *cfg = job->cfg;
    const party_prog_t *pg = &job->hello.prog;
    party_hello_t reply = {0};
    memcpy(reply.magic, PARTY_MAGIC, 8);
    randombytes_buf(reply.nonce, sizeof reply.nonce);
    memcpy(reply.pk, cfg->self.public_key, 32);
    reply.prog = *pg;
    int ok = memcmp(job->hello.magic, PARTY_MAGIC, 8) == 0 &&
             pg->frac_bits >= FXP_FRAC_BITS_MIN && pg->frac_bits <= FXP_FRAC_BITS_MAX;
    if (!ok) {
        snprintf(reply.msg, sizeof reply.msg, "malformed hello or fractional bits out of range");
    } else if (pg->kind == PROG_MATVEC) {
        ok = pg->d >= 1 && pg->d <= 8192;
        if (!ok) snprintf(reply.msg, sizeof reply.msg, "the matvec demo takes d <= 8192");
    } else if (pg->kind == PROG_GENERATE) {
        ok = cfg->model != NULL;
        if (!ok) snprintf(reply.msg, sizeof reply.msg, "this server has no model (start it with --model)");
        else if (pg->steps < 1 || (int)pg->steps > cfg->model->cfg.seq_len) {
            ok = 0;
            snprintf(reply.msg, sizeof reply.msg, "--steps %u does not fit the model's context of %d",
                     pg->steps, cfg->model->cfg.seq_len);
        } else {
            party_prog_generate(&reply.prog, &cfg->model->cfg, (int)pg->frac_bits, (int)pg->steps, 0);
            reply.prog.flags = pg->flags & (PROG_PAD | PROG_REVEAL_LOGITS | PROG_EARLY_STOP);
            reply.prog.kv = pg->kv; /* the client's choice, if the check below passes */
            memcpy(reply.prog.model_hash, cfg->model_hash, 32);
            /* all but the prompt's length, which comes later: one token stands in */
            party_prog_t probe = reply.prog;
            probe.n_prompt = 1;
            char why[CHAN_ERR_BYTES];
            if (party_prog_check(&probe, 1, why) != MPC_OK) {
                ok = 0;
                snprintf(reply.msg, sizeof reply.msg, "%s", why);
            }
        }
    } else {
        ok = 0;
        snprintf(reply.msg, sizeof reply.msg, "unknown program %u", pg->kind);
    }
    if (!ok) reply.status = MPC_EARG;
    mpc_err_t e = chan_send(job->client, HELLO_TAG, 0, &reply, sizeof reply);
    if (e) return mpc_fail(ctx, e, "client: %s", job->client->err);
    if (!ok) return mpc_fail(ctx, MPC_EARG, "%s", reply.msg);

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
        if (party_prog_check(&dh.prog, 1, why) != MPC_OK)
            return mpc_fail(ctx, MPC_EARG, "%s", why);
    }
    party_net_t pn = {cfg->net, cfg->self, cfg->dealer_ep, {0}, cfg->timeout_ms};
    memcpy(pn.dealer_key, cfg->dealer_key, NET_KEY_BYTES);
    e = party_join_dealer(ctx, &pn, &dh, dealer);
    net_opts_wipe(&pn.self);
    if (e) return e;

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
    pthread_mutex_lock(&cfg->lock);
    cfg->running--;
    pthread_mutex_unlock(&cfg->lock);
    free(job);
    return NULL;
}

int main(int argc, char **argv)
{
    static server_cfg_t cfg = {.timeout_ms = 30000, .lock = PTHREAD_MUTEX_INITIALIZER};
    const char *listen = NULL, *keys = NULL, *allow = NULL, *dealer_key = NULL, *model_path = NULL;
    int plaintext = 0, ready_fd = -1, have_seed = 0;
    uint64_t max_sessions = 0;
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},   {"keys", required_argument, 0, 'k'},
        {"dealer", required_argument, 0, 'd'},   {"dealer-key", required_argument, 0, 'K'},
        {"allow", required_argument, 0, 'a'},    {"model", required_argument, 0, 'm'},
        {"demo-seed", required_argument, 0, 'S'}, {"timeout", required_argument, 0, 't'},
        {"sessions", required_argument, 0, 'n'}, {"plaintext", no_argument, 0, 'p'},
        {"ready-fd", required_argument, 0, 'r'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
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
        case 'n': max_sessions = cli_u64(prog, "--sessions", optarg, 1, UINT32_MAX); break;
        case 'p': plaintext = 1; break;
        case 'r': ready_fd = (int)cli_u64(prog, "--ready-fd", optarg, 0, 65535); break;
        case 'v': cfg.verbose = 1; break;
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
    while (!*stop && (!max_sessions || started < max_sessions)) {
        party_hello_t h;
        size_t len = 0;
        chan_t *ch = net_accept(l, 500, &h, sizeof h, &len, err);
        if (!ch) continue;
        session_job_t *job = calloc(1, sizeof *job);
        if (!job) cli_fail(prog, "out of memory");
        job->cfg = &cfg;
        job->client = ch;
        if (len == sizeof h) job->hello = h; /* else the session refuses the bad magic */
        pthread_mutex_lock(&cfg.lock);
        cfg.running++;
        pthread_mutex_unlock(&cfg.lock);
        pthread_t th;
        if (pthread_create(&th, NULL, session_main, job) != 0) cli_fail(prog, "cannot start a thread");
        pthread_detach(th);
        started++;
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
