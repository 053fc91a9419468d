/* tests/parties/test_keys.c - the dealer and the server serve a hello only
 * to the key it names, bound what a peer can make them do, and say when a
 * session is not private (issue 16, "Found, to fix", item 2 and the server
 * limits of item 3).
 *
 * Each test runs the real mpcllm-dealer (and mpcllm-server, without a model:
 * the matrix-vector demo) on 127.0.0.1 with CurveZMQ, and plays the parties,
 * honest and rogue, from this process:
 * - a rogue that replays a captured dealer hello under its own key gets no
 *   seed, at either role, and the honest parties are then served;
 * - a rogue that sends the server a client hello naming another key is
 *   refused;
 * - a replayed session id is refused at once, and the dealer keeps serving;
 * - a demo beyond the bound the server applies is refused by the dealer too;
 * - a flood of unmatched hellos neither fills the dealer nor stops honest
 *   parties;
 * - --test-seed is refused off loopback, gives each session seeds of its
 *   own (derived from the seed and the session id, so a run repeats), and
 *   tells both parties, whose client says the session is not private;
 * - the server at --max-sessions refuses the next client with the reason;
 *   under a 128-descriptor limit its default bound holds 40 silent
 *   sessions off and it keeps serving, and 125 idle connections do not
 *   make it spin;
 * - a client refuses a server that echoes another program than it asked. */
#include "partytest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* A demo session's dealer hello between the world's server and client. */
static void demo_hello(const kworld_t *w, party_dealer_hello_t *h, uint32_t d)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, PARTY_MAGIC, 8);
    memcpy(h->pk[0], w->o[K_SERVER].public_key, 32);
    memcpy(h->pk[1], w->o[K_CLIENT].public_key, 32);
    randombytes_buf(h->nonce, sizeof h->nonce);
    h->prog.kind = PROG_MATVEC;
    h->prog.frac_bits = 16;
    h->prog.d = d;
    party_sid(h->sid, h);
}

/* The session of hello h, as both honest parties join it at once: each
 * dials the dealer under its own key and reads its seed message into m[p]. */
static void serve_pair(kworld_t *w, party_dealer_hello_t *h, party_seed_msg_t m[2])
{
    party_dealer_hello_t hh[2] = {*h, *h};
    pt_dial_t d[2];
    memset(d, 0, sizeof d);
    for (int p = 0; p < 2; p++) {
        hh[p].role = (uint32_t)p;
        d[p] = (pt_dial_t){.net = w->net,
                           .ep = w->dealer_ep,
                           .opts = w->o[p ? K_CLIENT : K_SERVER],
                           .hello = &hh[p],
                           .len = sizeof hh[p]};
        pt_dial_start(&d[p]);
    }
    for (int p = 0; p < 2; p++) {
        chan_t *ch = pt_dial_join(&d[p]);
        if (!ch) fail_msg("P%d: %s", p, d[p].err);
        memcpy(ch->session, h->sid, CHAN_SESSION_BYTES);
        size_t len = 0;
        uint64_t depth;
        assert_int_equal(chan_recv(ch, PARTY_SEED_TAG, &depth, &m[p], sizeof m[p], &len), MPC_OK);
        assert_int_equal(len, sizeof m[p]);
        assert_int_equal(m[p].status, MPC_OK);
        assert_memory_equal(m[p].sid, h->sid, CHAN_SESSION_BYTES);
        chan_free(&ch);
        net_opts_wipe(&d[p].opts);
    }
}

/* --- the dealer --------------------------------------------------------- */

static void test_dealer_gives_a_seed_only_to_the_key_the_hello_names(void **state)
{
    kworld_t *w = *state;
    kw_start(w, NULL, NULL);
    party_dealer_hello_t h;
    demo_hello(w, &h, 4);
    /* a rogue with the session's hello, as the server knows it, asks for
     * each party's seed under its own key */
    for (int role = 0; role < 2; role++) {
        h.role = (uint32_t)role;
        mpc_err_t refusal;
        char err[NET_ERR_BYTES];
        double t0 = pt_now();
        chan_t *c = net_dial(w->net, w->dealer_ep, &w->o[K_OUTSIDER], &h, sizeof h, &refusal, err);
        print_message("rogue as P%d: %.2f s: %s\n", role, pt_now() - t0, err);
        assert_null(c);
        assert_int_equal(refusal, MPC_EPEER);
        assert_non_null(strstr(err, "names another key for P"));
        assert_true(pt_now() - t0 < 3);
    }
    /* the honest parties then get their session, with distinct seeds */
    party_seed_msg_t m[2];
    serve_pair(w, &h, m);
    assert_memory_not_equal(m[0].seed, m[1].seed, PRG_SEED_BYTES);
    assert_int_equal(m[0].flags, 0);
    pt_assert_in(w->dealer_log, "names another key");
    kw_stop(w);
}

static void test_dealer_refuses_a_replayed_session(void **state)
{
    kworld_t *w = *state;
    kw_start(w, NULL, NULL);
    party_dealer_hello_t h;
    demo_hello(w, &h, 4);
    party_seed_msg_t m[2];
    serve_pair(w, &h, m);
    /* the same hello again, as each party would send it */
    for (int p = 0; p < 2; p++) {
        mpc_ctx_t ctx;
        assert_int_equal(mpc_ctx_init(&ctx, p, 16), MPC_OK);
        party_net_t pn = {w->net, w->o[p ? K_CLIENT : K_SERVER], w->dealer_ep, {0}, 5000};
        memcpy(pn.dealer_key, w->dealer_key, NET_KEY_BYTES);
        h.role = (uint32_t)p;
        chan_t *d = NULL;
        double t0 = pt_now();
        mpc_err_t e = party_join_dealer(&ctx, &pn, &h, &d, NULL);
        print_message("P%d: %.2f s: %s\n", p, pt_now() - t0, ctx.err);
        assert_int_equal(e, MPC_EPEER);
        assert_true(pt_now() - t0 < 3); /* refused at once, not at a timeout */
        assert_non_null(strstr(ctx.err, "replay refused"));
        chan_free(&d);
        mpc_ctx_destroy(&ctx);
        net_opts_wipe(&pn.self);
    }
    pt_assert_in(w->dealer_log, "refused a replayed session");
    /* and it keeps serving new sessions */
    demo_hello(w, &h, 4);
    serve_pair(w, &h, m);
    kw_stop(w);
}

static void test_dealer_refuses_a_demo_beyond_the_bound(void **state)
{
    kworld_t *w = *state;
    kw_start(w, NULL, NULL);
    uint32_t bad[] = {0, PARTY_MATVEC_MAX_D + 1, 100000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        party_dealer_hello_t h;
        demo_hello(w, &h, bad[i]);
        h.role = MPC_P1;
        mpc_ctx_t ctx;
        assert_int_equal(mpc_ctx_init(&ctx, MPC_P1, 16), MPC_OK);
        party_net_t pn = {w->net, w->o[K_CLIENT], w->dealer_ep, {0}, 5000};
        memcpy(pn.dealer_key, w->dealer_key, NET_KEY_BYTES);
        chan_t *d = NULL;
        assert_int_equal(party_join_dealer(&ctx, &pn, &h, &d, NULL), MPC_EARG);
        print_message("d = %u: %s\n", bad[i], ctx.err);
        assert_non_null(strstr(ctx.err, "d in [1, 8192]"));
        chan_free(&d);
        mpc_ctx_destroy(&ctx);
        net_opts_wipe(&pn.self);
    }
    kw_stop(w);
}

static void test_dealer_keeps_serving_through_a_flood_of_unmatched_hellos(void **state)
{
    kworld_t *w = *state;
    const char *extra[] = {"--max-pending", "8", NULL}; /* 4 per key */
    kw_start(w, extra, NULL);
    /* three rogue keys send 18 hellos that no partner will ever match */
    enum { KEYS = 3, EACH = 6, N = KEYS * EACH };
    static pt_dial_t d[N];
    static party_dealer_hello_t h[N];
    net_opts_t o[KEYS];
    char err[NET_ERR_BYTES];
    for (int k = 0; k < KEYS; k++) {
        char dir[200];
        snprintf(dir, sizeof dir, "%s/rogue%d", w->dir, k);
        assert_int_equal(net_keygen(dir, err), MPC_OK);
        net_opts_default(&o[k]);
        o[k].timeout_ms = 6000;
        assert_int_equal(net_key_load(dir, o[k].public_key, o[k].secret_key, err), MPC_OK);
        memcpy(o[k].server_key, w->dealer_key, NET_KEY_BYTES);
    }
    for (int i = 0; i < N; i++) {
        demo_hello(w, &h[i], 4);
        h[i].role = MPC_P1;
        memcpy(h[i].pk[1], o[i / EACH].public_key, 32);
        party_sid(h[i].sid, &h[i]);
        d[i] = (pt_dial_t){.net = w->net,
                           .ep = w->dealer_ep,
                           .opts = o[i / EACH],
                           .hello = &h[i],
                           .len = sizeof h[i]};
        pt_dial_start(&d[i]);
        pt_sleep_ms(20);
    }
    pt_sleep_ms(300);
    /* while they wait, an honest session is served */
    party_dealer_hello_t good;
    demo_hello(w, &good, 4);
    party_seed_msg_t m[2];
    double t0 = pt_now();
    serve_pair(w, &good, m);
    print_message("served during the flood in %.2f s\n", pt_now() - t0);
    int per_key = 0, evicted = 0, expired = 0;
    for (int i = 0; i < N; i++) {
        assert_null(pt_dial_join(&d[i]));
        per_key += strstr(d[i].err, "already wait for their partner") != NULL;
        evicted += strstr(d[i].err, "yours was the oldest") != NULL;
        expired += strstr(d[i].err, "never joined") != NULL || strstr(d[i].err, "did not answer");
    }
    print_message("%d refused for their key's share, %d evicted, %d expired\n", per_key, evicted,
                  expired);
    assert_int_equal(per_key, KEYS * (EACH - 4));
    /* twelve rogues were let in to a table of eight, and the honest hello
     * that came first made room for itself too */
    assert_int_equal(evicted, KEYS * 4 - 8 + 1);
    assert_int_equal(per_key + evicted + expired, N);
    for (int k = 0; k < KEYS; k++)
        net_opts_wipe(&o[k]);
    kw_stop(w);
}

/* --- the test seed ------------------------------------------------------- */

static void test_test_seed_is_refused_off_loopback(void **state)
{
    (void)state;
    char dbin[1100], out[128], err[128], dir[64];
    pt_prog(dbin, sizeof dbin, "mpcllm-dealer");
    pt_tmp(out, sizeof out, "seed.out");
    pt_tmp(err, sizeof err, "seed.err");
    char e[256];
    assert_int_equal(launch_keys(dir, e, sizeof e), 0);
    char keys[128];
    snprintf(keys, sizeof keys, "%s/dealer", dir);
    const char *eps[] = {"tcp://*:0", "tcp://0.0.0.0:0", "tcp://10.1.2.3:7100"};
    for (size_t i = 0; i < 3; i++) {
        char *argv[] = {dbin, "--listen", (char *)eps[i], "--keys", keys, "--test-seed", "1", NULL};
        assert_int_equal(pt_run(argv, out, err, 10000), 2);
        char *why = pt_slurp(err);
        print_message("%s: %s", eps[i], why);
        assert_non_null(strstr(why, "not a loopback"));
        assert_non_null(strstr(why, "--insecure-test-seed"));
        free(why);
    }
    /* the override starts it, with a warning */
    char ep[256], *argv[] = {dbin,          "--listen", "tcp://0.0.0.0:*",      "--keys", keys,
                             "--test-seed", "1",        "--insecure-test-seed", NULL};
    pid_t pid = pt_start_logged(argv, ep, sizeof ep, err);
    kill(pid, SIGTERM);
    assert_int_equal(launch_wait(pid, 10000), 0);
    char *why = pt_slurp(err);
    assert_non_null(strstr(why, "no session this dealer serves is private"));
    free(why);
    launch_keys_remove(dir);
}

static void test_test_seed_sessions_get_their_own_seeds_and_are_told(void **state)
{
    kworld_t *w = *state;
    const char *extra[] = {"--test-seed", "1", NULL};
    kw_start(w, extra, NULL);
    party_dealer_hello_t a, b;
    demo_hello(w, &a, 4);
    demo_hello(w, &b, 4);
    party_seed_msg_t ma[2], mb[2];
    serve_pair(w, &a, ma);
    serve_pair(w, &b, mb);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(ma[p].flags, PARTY_SEED_TEST);
        assert_int_equal(mb[p].flags, PARTY_SEED_TEST);
        assert_memory_not_equal(ma[p].seed, mb[p].seed, PRG_SEED_BYTES);
    }
    pt_assert_in(w->dealer_log, "NOT private");
    /* the same seed and session id give the same seeds (a run repeats): a
     * fresh dealer with the same test seed serves session a again */
    kill(w->dealer, SIGTERM);
    assert_int_equal(launch_wait(w->dealer, 20000), 0);
    char dbin[1100];
    pt_prog(dbin, sizeof dbin, "mpcllm-dealer");
    char *dargv[] = {dbin,        "--listen", "tcp://127.0.0.1:*", "--keys", w->keydir[K_DEALER],
                     "--timeout", "5",        "--test-seed",       "1",      NULL};
    w->dealer = pt_start_logged(dargv, w->dealer_ep, sizeof w->dealer_ep, w->dealer_log);
    party_seed_msg_t again[2];
    serve_pair(w, &a, again);
    for (int p = 0; p < 2; p++)
        assert_memory_equal(again[p].seed, ma[p].seed, PRG_SEED_BYTES);
    kw_stop(w);
}

static void test_client_says_a_test_seed_session_is_not_private(void **state)
{
    (void)state;
    if (!pt_have_models) skip();
    char exe[1100], out[128], err[128];
    pt_prog(exe, sizeof exe, "mpcllm");
    pt_tmp(out, sizeof out, "np.out");
    pt_tmp(err, sizeof err, "np.err");
    char *argv[] = {exe,  "generate", "--model", pt_model,      "--tokenizer", pt_tok,   "--prompt",
                    "Hi", "--steps",  "6",       "--test-seed", "3",           "--json", NULL};
    assert_int_equal(pt_run(argv, out, err, 120000), 0);
    char *o = pt_slurp(out), *e = pt_slurp(err);
    print_message("%s", e);
    assert_non_null(strstr(o, "\"test_seed\":true"));
    assert_non_null(strstr(e, "NOT private"));
    free(o);
    free(e);
}

/* --- the server ------------------------------------------------------------ */

/* A client hello for the demo, naming key pk. */
static void client_hello(party_hello_t *h, const uint8_t pk[32])
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, PARTY_MAGIC, 8);
    randombytes_buf(h->nonce, sizeof h->nonce);
    memcpy(h->pk, pk, 32);
    h->prog.kind = PROG_MATVEC;
    h->prog.frac_bits = 16;
    h->prog.d = 4;
}

/* Runs mpcllm-client --demo against the world and asserts it is served
 * (and that the product matches the server's demo seed). */
static void assert_demo_served(kworld_t *w)
{
    char cbin[1100], out[128], err[128];
    pt_prog(cbin, sizeof cbin, "mpcllm-client");
    pt_tmp(out, sizeof out, "demo.out");
    pt_tmp(err, sizeof err, "demo.err");
    char *argv[] = {cbin,
                    "--server",
                    w->server_ep,
                    "--server-key",
                    w->pub[K_SERVER],
                    "--dealer",
                    w->dealer_ep,
                    "--dealer-key",
                    w->pub[K_DEALER],
                    "--keys",
                    w->keydir[K_CLIENT],
                    "--d",
                    "16",
                    "--verify-seed",
                    "5",
                    "--timeout",
                    "10",
                    NULL};
    int rc = pt_run(argv, out, err, 60000);
    char *e = pt_slurp(err);
    if (rc != 0) fail_msg("a good client exited %d: %s", rc, e);
    assert_non_null(strstr(e, "matches the plaintext product"));
    free(e);
}

static void test_server_takes_a_hello_only_from_the_key_it_names(void **state)
{
    kworld_t *w = *state;
    const char *none[] = {NULL};
    kw_start(w, NULL, none);
    net_opts_t o = w->o[K_OUTSIDER];
    memcpy(o.server_key, w->server_key, NET_KEY_BYTES);
    party_hello_t h;
    client_hello(&h, w->o[K_CLIENT].public_key); /* the client's key, not ours */
    mpc_err_t refusal;
    char err[NET_ERR_BYTES];
    assert_null(net_dial(w->net, w->server_ep, &o, &h, sizeof h, &refusal, err));
    print_message("rogue: %s\n", err);
    assert_int_equal(refusal, MPC_EPEER);
    assert_non_null(strstr(err, "names another key"));
    net_opts_wipe(&o);
    assert_demo_served(w);
    kw_stop(w);
}

static void test_server_at_its_session_limit_refuses_with_the_reason(void **state)
{
    kworld_t *w = *state;
    const char *extra[] = {"--max-sessions", "1", "--timeout", "3", NULL};
    kw_start(w, NULL, extra);
    /* one session, held open: its client never joins the dealer */
    net_opts_t o = w->o[K_CLIENT];
    memcpy(o.server_key, w->server_key, NET_KEY_BYTES);
    party_hello_t h, reply;
    client_hello(&h, o.public_key);
    char err[NET_ERR_BYTES];
    chan_t *held = net_dial(w->net, w->server_ep, &o, &h, sizeof h, NULL, err);
    if (!held) fail_msg("%s", err);
    size_t len;
    uint64_t depth;
    assert_int_equal(chan_recv(held, HELLO_TAG, &depth, &reply, sizeof reply, &len), MPC_OK);
    assert_int_equal(reply.status, MPC_OK);
    /* the next client is told why */
    net_opts_t o2 = w->o[K_OUTSIDER];
    memcpy(o2.server_key, w->server_key, NET_KEY_BYTES);
    client_hello(&h, o2.public_key);
    mpc_err_t refusal;
    double t0 = pt_now();
    assert_null(net_dial(w->net, w->server_ep, &o2, &h, sizeof h, &refusal, err));
    print_message("second client: %.2f s: %s\n", pt_now() - t0, err);
    assert_int_equal(refusal, MPC_EPEER);
    assert_non_null(strstr(err, "limit of 1 sessions"));
    assert_true(pt_now() - t0 < 2);
    /* once the held session gives up, the server serves again */
    chan_free(&held);
    pt_sleep_ms(3500);
    assert_demo_served(w);
    net_opts_wipe(&o);
    net_opts_wipe(&o2);
    kw_stop(w);
}

/* Starts the world's server under a limit of 128 open files (prlimit), as
 * a small container would give it. */
static void start_small_server(kworld_t *w)
{
    char sbin[1100];
    pt_prog(sbin, sizeof sbin, "mpcllm-server");
    char *argv[] = {"/usr/bin/prlimit",
                    "--nofile=128:128",
                    "--",
                    sbin,
                    "--listen",
                    "tcp://127.0.0.1:*",
                    "--keys",
                    w->keydir[K_SERVER],
                    "--dealer",
                    w->dealer_ep,
                    "--dealer-key",
                    w->pub[K_DEALER],
                    "--demo-seed",
                    "5",
                    "--timeout",
                    "3",
                    "--verbose",
                    NULL};
    w->server = pt_start_logged(argv, w->server_ep, sizeof w->server_ep, w->server_log);
}

static void test_server_with_few_descriptors_bounds_silent_sessions_and_survives(void **state)
{
    kworld_t *w = *state;
    kw_start(w, NULL, NULL);
    start_small_server(w);
    /* rogues open sessions and never say another word */
    enum { N = 40 };
    chan_t *held[N] = {0};
    int kept = 0, refused = 0;
    net_opts_t o = w->o[K_OUTSIDER];
    memcpy(o.server_key, w->server_key, NET_KEY_BYTES);
    o.timeout_ms = 2000;
    for (int i = 0; i < N; i++) {
        party_hello_t h;
        client_hello(&h, o.public_key);
        char err[NET_ERR_BYTES];
        held[i] = net_dial(w->net, w->server_ep, &o, &h, sizeof h, NULL, err);
        kept += held[i] != NULL;
        refused += !held[i] && strstr(err, "the server runs its limit of") != NULL;
    }
    print_message("%d sessions held, %d refused with the limit's reason\n", kept, refused);
    /* (128 - 64) / 12 descriptors per session */
    assert_int_equal(kept, 5);
    assert_int_equal(refused, N - kept);
    int st;
    assert_int_equal(waitpid(w->server, &st, WNOHANG), 0); /* still running */
    for (int i = 0; i < N; i++)
        chan_free(&held[i]);
    net_opts_wipe(&o);
    pt_sleep_ms(3500); /* the held sessions time out */
    assert_demo_served(w);
    kw_stop(w);
}

/* CPU seconds pid has used (user + system), from /proc. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long ut = 0, stime = 0;
    /* fields 14 and 15, counted from the state after ')' */
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime), 2);
    return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void test_idle_connections_at_the_descriptor_limit_do_not_spin_the_server(void **state)
{
    kworld_t *w = *state;
    kw_start(w, NULL, NULL);
    start_small_server(w);
    const char *port = strrchr(w->server_ep, ':');
    assert_non_null(port);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port + 1))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    enum { N = 125 };
    int fd[N], open_n = 0;
    for (int i = 0; i < N; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd[i] >= 0);
        if (connect(fd[i], (struct sockaddr *)&a, sizeof a) == 0) open_n++;
    }
    pt_sleep_ms(1000);
    double c0 = pt_now(), u0 = cpu_seconds(w->server);
    pt_sleep_ms(3000);
    double used = cpu_seconds(w->server) - u0, wall = pt_now() - c0;
    print_message("%d idle connections: the server used %.2f s of CPU in %.2f s\n", open_n, used,
                  wall);
    assert_true(used < 0.3 * wall);
    for (int i = 0; i < N; i++)
        close(fd[i]);
    pt_sleep_ms(1500);
    assert_demo_served(w);
    kw_stop(w);
}

/* --- the client ----------------------------------------------------------- */

/* A server that answers one client with its own program changed by mode
 * ('d': another d; 's': more steps; 'e': the early stop switched on). */
typedef struct fake_server {
    net_t *net;
    net_listener_t *l;
    int mode;
    char err[NET_ERR_BYTES];
} fake_server_t;

static void *fake_server_main(void *arg)
{
    fake_server_t *f = arg;
    party_hello_t h;
    size_t len = 0;
    chan_t *c = net_accept(f->l, 20000, &h, sizeof h, &len, NULL, f->err);
    if (!c) return NULL;
    party_hello_t reply = h;
    reply.status = MPC_OK;
    if (f->mode == 'd') reply.prog.d += 1;
    if (f->mode == 's') reply.prog.steps += 100;
    if (f->mode == 'e') reply.prog.flags |= PROG_EARLY_STOP;
    if (f->mode != 'd') {
        /* the architecture it may fill in: stories260K's */
        int32_t cfg[7] = {64, 172, 5, 8, 4, 512, 512};
        memcpy(reply.prog.cfg, cfg, sizeof cfg);
    }
    (void)chan_send(c, HELLO_TAG, 0, &reply, sizeof reply);
    uint8_t any[64];
    uint64_t depth;
    (void)chan_recv(c, PARTY_PLEN_TAG, &depth, any, sizeof any, &len); /* until the client leaves */
    chan_free(&c);
    return NULL;
}

static void test_client_refuses_a_server_that_changes_the_program(void **state)
{
    (void)state;
    struct {
        int mode;
        const char *need;
    } cases[] = {{'d', "(d differs)"}, {'s', "(steps differs)"}, {'e', "(flags differs)"}};
    char cbin[1100], out[128], err[128];
    pt_prog(cbin, sizeof cbin, "mpcllm-client");
    pt_tmp(out, sizeof out, "echo.out");
    pt_tmp(err, sizeof err, "echo.err");
    for (size_t i = 0; i < 3; i++) {
        fake_server_t f = {.net = net_new(), .mode = cases[i].mode};
        assert_non_null(f.net);
        net_opts_t o;
        net_opts_default(&o);
        o.curve = 0;
        o.timeout_ms = 5000;
        f.l = net_listen(f.net, "tcp://127.0.0.1:*", &o, f.err);
        assert_non_null(f.l);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, fake_server_main, &f), 0);
        char *demo[] = {cbin,
                        "--server",
                        (char *)net_listener_endpoint(f.l),
                        "--dealer",
                        "tcp://127.0.0.1:9",
                        "--plaintext",
                        "--timeout",
                        "5",
                        "--d",
                        "4",
                        NULL};
        char *gen[] = {cbin,
                       "--server",
                       (char *)net_listener_endpoint(f.l),
                       "--dealer",
                       "tcp://127.0.0.1:9",
                       "--plaintext",
                       "--timeout",
                       "5",
                       "--prompt",
                       "Hi",
                       "--steps",
                       "16",
                       "--tokenizer",
                       "/nonexistent/tok.bin",
                       NULL};
        int rc = pt_run(cases[i].mode == 'd' ? demo : gen, out, err, 30000);
        pthread_join(th, NULL);
        char *e = pt_slurp(err);
        print_message("%c: exit %d: %s", cases[i].mode, rc, e);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(e, "answered with another program"));
        assert_non_null(strstr(e, cases[i].need));
        free(e);
        net_listener_free(&f.l);
        net_free(&f.net);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dealer_gives_a_seed_only_to_the_key_the_hello_names,
                                        kw_alloc, kw_teardown),
        cmocka_unit_test_setup_teardown(test_dealer_refuses_a_replayed_session, kw_alloc,
                                        kw_teardown),
        cmocka_unit_test_setup_teardown(test_dealer_refuses_a_demo_beyond_the_bound, kw_alloc,
                                        kw_teardown),
        cmocka_unit_test_setup_teardown(
            test_dealer_keeps_serving_through_a_flood_of_unmatched_hellos, kw_alloc, kw_teardown),
        cmocka_unit_test(test_test_seed_is_refused_off_loopback),
        cmocka_unit_test_setup_teardown(test_test_seed_sessions_get_their_own_seeds_and_are_told,
                                        kw_alloc, kw_teardown),
        cmocka_unit_test(test_client_says_a_test_seed_session_is_not_private),
        cmocka_unit_test_setup_teardown(test_server_takes_a_hello_only_from_the_key_it_names,
                                        kw_alloc, kw_teardown),
        cmocka_unit_test_setup_teardown(test_server_at_its_session_limit_refuses_with_the_reason,
                                        kw_alloc, kw_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_with_few_descriptors_bounds_silent_sessions_and_survives, kw_alloc,
            kw_teardown),
        cmocka_unit_test_setup_teardown(
            test_idle_connections_at_the_descriptor_limit_do_not_spin_the_server, kw_alloc,
            kw_teardown),
        cmocka_unit_test(test_client_refuses_a_server_that_changes_the_program),
    };
    const char *filter = getenv("MPCLLM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, pt_setup, pt_teardown);
}
