/* tests/testutil.c - three-thread runner for two-party tests. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpc/fxp.h"
#include "net/net.h"

typedef struct role {
    mpc_ctx_t ctx;
    tu_fn fn;
    void *arg;
    mpc_err_t err;
    char msg[CHAN_ERR_BYTES];
} role_t;

static void *role_main(void *p)
{
    role_t *r = p;
    r->err = r->fn(&r->ctx, r->arg);
    if (r->err) {
        snprintf(r->msg, sizeof r->msg, "%s", r->ctx.err);
        return NULL;
    }
    r->err = r->ctx.party == MPC_DEALER ? deal_finish(&r->ctx) : mpc_corr_finish(&r->ctx);
    if (r->err) snprintf(r->msg, sizeof r->msg, "tape: %.240s", r->ctx.err);
    return NULL;
}

static unsigned tu_counter(void)
{
    static unsigned n;
    return __atomic_add_fetch(&n, 1, __ATOMIC_SEQ_CST);
}

/* A connected pair of channels (bound a, connected b) on the transport. */
static int tu_pair(net_t *net, const tu_opts_t *o, chan_t **a, chan_t **b, uint8_t keys[2][32],
                   uint8_t secs[2][32])
{
    char ep[128], err[NET_ERR_BYTES];
    unsigned id = tu_counter();
    switch (o->transport) {
    case TU_INPROC: snprintf(ep, sizeof ep, "inproc://tu-%d-%u", (int)getpid(), id); break;
    case TU_TCP: snprintf(ep, sizeof ep, "tcp://127.0.0.1:*"); break;
    case TU_IPC: snprintf(ep, sizeof ep, "ipc:///tmp/mpcllm-tu-%d-%u", (int)getpid(), id); break;
    }
    net_opts_t sa, sb;
    net_opts_default(&sa);
    net_opts_default(&sb);
    sa.curve = sb.curve = o->curve;
    sa.timeout_ms = sb.timeout_ms = o->timeout_ms ? o->timeout_ms : 20000;
    if (o->curve) {
        memcpy(sa.public_key, keys[0], 32);
        memcpy(sa.secret_key, secs[0], 32);
        memcpy(sb.public_key, keys[1], 32);
        memcpy(sb.secret_key, secs[1], 32);
        memcpy(sb.server_key, keys[0], 32);
    }
    *a = net_chan_bind(net, ep, &sa, err);
    if (!*a) {
        fprintf(stderr, "tu: bind %s: %s\n", ep, err);
        return -1;
    }
    *b = net_chan_connect(net, net_chan_endpoint(*a), &sb, err);
    if (!*b) {
        fprintf(stderr, "tu: connect: %s\n", err);
        chan_free(a);
        return -1;
    }
    return 0;
}

int tu_run(const tu_opts_t *opts, tu_fn fn, void *arg, tu_result_t *res)
{
    tu_opts_t o = {0};
    if (opts) o = *opts;
    int f = o.frac_bits ? o.frac_bits : FXP_FRAC_BITS_DEFAULT;
    net_t *net = net_new();
    MPC_ASSERT(net);
    uint8_t pub[2][32] = {{0}}, sec[2][32] = {{0}};
    if (o.curve) {
        /* zmq_curve_keypair through the key-file API would touch disk; a
         * temp dir keeps the test honest about the real key path. */
        for (int i = 0; i < 2; i++) {
            char dir[64], err[NET_ERR_BYTES];
            snprintf(dir, sizeof dir, "/tmp/mpcllm-tu-keys-%d-%u", (int)getpid(), tu_counter());
            MPC_ASSERT(net_keygen(dir, err) == MPC_OK);
            MPC_ASSERT(net_key_load(dir, pub[i], sec[i], err) == MPC_OK);
            char p[96];
            snprintf(p, sizeof p, "%s/public.key", dir);
            unlink(p);
            snprintf(p, sizeof p, "%s/secret.key", dir);
            unlink(p);
            rmdir(dir);
        }
    }
    /* links[0]: P0-P1, links[1]: dealer-P0, links[2]: dealer-P1 */
    chan_t *c01 = NULL, *c10 = NULL, *cd0 = NULL, *c0d = NULL, *cd1 = NULL, *c1d = NULL;
    int ok = tu_pair(net, &o, &c01, &c10, pub, sec) == 0 &&
             tu_pair(net, &o, &cd0, &c0d, pub, sec) == 0 &&
             tu_pair(net, &o, &cd1, &c1d, pub, sec) == 0;
    MPC_ASSERT(ok);
    uint8_t session[CHAN_SESSION_BYTES];
    tu_seed(session);
    chan_t *all[6] = {c01, c10, cd0, c0d, cd1, c1d};
    for (int i = 0; i < 6; i++) memcpy(all[i]->session, session, sizeof session);

    uint8_t s0[PRG_SEED_BYTES], s1[PRG_SEED_BYTES], rs[PRG_SEED_BYTES];
    if (o.test_seed) {
        prg_seed_derive(s0, o.test_seed, "p0");
        prg_seed_derive(s1, o.test_seed, "p1");
        prg_seed_derive(rs, o.test_seed, "round");
    } else {
        tu_seed(s0);
        tu_seed(s1);
        tu_seed(rs);
    }
    role_t *r = calloc(3, sizeof *r);
    MPC_ASSERT(r);
    for (int p = 0; p < 3; p++) {
        MPC_ASSERT(mpc_ctx_init(&r[p].ctx, p, f) == MPC_OK);
        r[p].fn = fn;
        r[p].arg = arg;
    }
    r[0].ctx.peer = c01;
    r[1].ctx.peer = c10;
    r[0].ctx.tape[0] = tape_reader_chan(c0d, s0);
    r[1].ctx.tape[0] = tape_reader_chan(c1d, s1);
    r[2].ctx.tape[0] = tape_writer_chan(cd0, s0);
    r[2].ctx.tape[1] = tape_writer_chan(cd1, s1);
    memcpy(r[2].ctx.round_seed, rs, sizeof rs);

    pthread_t th[3];
    for (int p = 0; p < 3; p++) MPC_ASSERT(pthread_create(&th[p], NULL, role_main, &r[p]) == 0);
    for (int p = 0; p < 3; p++) pthread_join(th[p], NULL);

    int rc = 0;
    for (int p = 0; p < 3; p++) {
        if (r[p].err) {
            rc = -1;
            fprintf(stderr, "tu: %s failed: %s: %s\n", p == 2 ? "dealer" : p ? "P1" : "P0",
                    mpc_err_str(r[p].err), r[p].msg);
        }
        if (res) {
            res->err[p] = r[p].err;
            memcpy(res->msg[p], r[p].msg, sizeof r[p].msg);
            res->stats[p] = r[p].ctx.stats;
            if (p < 2) {
                res->depth[p] = r[p].ctx.depth;
                res->trace[p] = r[p].ctx.trace;
            }
        }
        mpc_ctx_destroy(&r[p].ctx);
    }
    free(r);
    for (int i = 0; i < 6; i++) chan_free(&all[i]);
    net_free(&net);
    return rc;
}

uint64_t tu_rounds(const tu_result_t *res)
{
    return res->depth[0] > res->depth[1] ? res->depth[0] : res->depth[1];
}

uint64_t tu_bytes_sent(const tu_result_t *res, int p)
{
    return stats_total(&res->stats[p], -1).bytes_sent;
}

uint64_t tu_offline_bytes(const tu_result_t *res, int p)
{
    return stats_total(&res->stats[p], -1).offline_bytes;
}

void tu_seed(uint8_t seed[PRG_SEED_BYTES])
{
    prg_seed_random(seed);
}

void tu_share(uint64_t *s0, uint64_t *s1, const uint64_t *plain, size_t n)
{
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *p = prg_new(seed, 7);
    prg_u64(p, s0, n);
    prg_free(&p);
    for (size_t i = 0; i < n; i++) s1[i] = plain[i] - s0[i];
}

void tu_uniform(double *x, size_t n, double lo, double hi)
{
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *p = prg_new(seed, 9);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        prg_u64(p, &u, 1);
        x[i] = lo + (hi - lo) * ((double)(u >> 11) / 9007199254740992.0);
    }
    prg_free(&p);
}

const char *tu_shared_path(const char *rel, char *buf, size_t cap)
{
    const char *root = getenv("MPCLLM_SHARED");
    snprintf(buf, cap, "%s/%s", root && *root ? root : "../shared", rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        fprintf(stderr, "skipped: %s not found (get the shared models and data; see README)\n",
                buf);
        return NULL;
    }
    return buf;
}
