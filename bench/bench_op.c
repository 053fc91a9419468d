/* bench/bench_op.c - per-protocol benchmark: offline into tape files, then
 * online over loopback TCP with CurveZMQ.
 *
 * --device cuda (mul, trunc, matmul) gives each party a device context
 * (ctx->device) with threshold 0, so the party-local arithmetic runs on the
 * GPU whatever the size: mul and trunc are the protocols themselves, which
 * dispatch through kernels/dev.h. matmul keeps the weights resident on the
 * device from the setup phase on (the protocols' dispatcher would copy them
 * per call), so its evaluation is written here, mirroring protocols/
 * matmul.c call for call (same correlations in the same order, same
 * messages) so that the dealer's tapes serve both paths; only the
 * arithmetic moves. The masking before an opening stays on the host, since
 * its result goes straight to the network. */
#include "bench/bench_op.h"

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "kernels/ring.h"
#include "mpc/ctx.h"
#include "mpc/fxp.h"
#include "net/net.h"
#include "protocols/matmul.h"
#include "protocols/mul.h"
#include "protocols/trunc.h"
#include "bench/bench_op_impl.h"

#define LAN_BPS (1e9 / 8)
#define LAN_RTT 0.5e-3
#define WAN_BPS (100e6 / 8)
#define WAN_RTT 40e-3

void bench_random_reals(double *v, size_t n, double lo, double hi, prg_t *g)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        prg_u64(g, &u, 1);
        v[i] = lo + (hi - lo) * ((double)(u >> 11) / 9007199254740992.0);
    }
}

prg_t *bench_prg(void)
{
    uint8_t seed[PRG_SEED_BYTES];
    prg_seed_random(seed);
    return prg_new(seed, 0);
}

/* Shares plain (n words) into c->x or c->y. */
void bench_share(uint64_t *s[2], const uint64_t *plain, size_t n, prg_t *g)
{
    for (int p = 0; p < 2; p++) s[p] = malloc(n * 8);
    prg_u64(g, s[0], n);
    for (size_t i = 0; i < n; i++) s[1][i] = plain[i] - s[0][i];
}

void bench_alloc_out(op_case_t *c, size_t n, int scale)
{
    c->out_n = n;
    c->out_scale = scale;
    for (int p = 0; p < 2; p++) c->out[p] = calloc(n, 8);
    c->ref = malloc(n * sizeof *c->ref);
}

static void prep_mul(op_case_t *c)
{
    prg_t *g = bench_prg();
    double *a = malloc(c->n * 8), *b = malloc(c->n * 8);
    uint64_t *u = malloc(c->n * 8);
    bench_random_reals(a, c->n, -8, 8, g);
    bench_random_reals(b, c->n, -8, 8, g);
    bench_alloc_out(c, c->n, 2 * c->f);
    for (size_t i = 0; i < c->n; i++) {
        a[i] = fxp_decode(fxp_encode(a[i], c->f), c->f);
        b[i] = fxp_decode(fxp_encode(b[i], c->f), c->f);
        c->ref[i] = a[i] * b[i];
    }
    fxp_encode_array(u, a, (int)c->n, c->f);
    bench_share(c->x, u, c->n, g);
    fxp_encode_array(u, b, (int)c->n, c->f);
    bench_share(c->y, u, c->n, g);
    free(a);
    free(b);
    free(u);
    prg_free(&g);
}

#define MATMUL_TAG CHAN_TAG('m', 'm', 'u', 'l')

/* A device failure as the context's error. */
static mpc_err_t bench_dev_err(mpc_ctx_t *ctx, mpc_err_t e)
{
    return e == MPC_EDEVICE ? mpc_fail(ctx, e, "%s", dev_error(ctx->device)) : e;
}

static mpc_err_t role_mul(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return mul_gen(ctx, c->n);
    return mul_eval(ctx, c->out[ctx->party], c->x[ctx->party], c->y[ctx->party], c->n);
}

static void prep_trunc(op_case_t *c)
{
    prg_t *g = bench_prg();
    double *a = malloc(c->n * 8);
    uint64_t *u = malloc(c->n * 8);
    bench_random_reals(a, c->n, -1000, 1000, g); /* at scale 2f: |x| < 2^10 * 2^32 << 2^62 */
    bench_alloc_out(c, c->n, c->f);
    fxp_encode_array(u, a, (int)c->n, 2 * c->f);
    for (size_t i = 0; i < c->n; i++) c->ref[i] = fxp_decode(u[i], 2 * c->f);
    bench_share(c->x, u, c->n, g);
    free(a);
    free(u);
    prg_free(&g);
}

static mpc_err_t role_trunc(mpc_ctx_t *ctx, op_case_t *c)
{
    if (ctx->party == MPC_DEALER) return trunc_gen(ctx, c->n, c->f, TRUNC_SITE(0, 1, 0));
    return trunc_eval(ctx, c->out[ctx->party], c->x[ctx->party], c->n, c->f, TRUNC_SITE(0, 1, 0));
}

static void prep_matmul(op_case_t *c)
{
    prg_t *g = bench_prg();
    size_t d = c->n;
    double *x = malloc(d * 8), *w = malloc(d * d * 8);
    uint64_t *u = malloc(d * 8);
    bench_random_reals(x, d, -4, 4, g);
    bench_random_reals(w, d * d, -1 / sqrt((double)d), 1 / sqrt((double)d), g);
    c->W = malloc(d * d * 8);
    fxp_encode_array(c->W, w, (int)(d * d), c->f);
    fxp_encode_array(u, x, (int)d, c->f);
    bench_alloc_out(c, d, c->f);
    for (size_t i = 0; i < d; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++)
            s += fxp_decode(u[j], c->f) * fxp_decode(c->W[i * d + j], c->f);
        c->ref[i] = s;
    }
    bench_share(c->x, u, d, g);
    free(x);
    free(w);
    free(u);
    prg_free(&g);
}

/* The weight's party-side buffers on ctx->device, resident from the setup
 * on: P0's W and B in g[0], g[1]; P1's F in g[0]. */
static mpc_err_t weight_upload(mpc_ctx_t *ctx, const matmul_weight_t *w, uint64_t *g[2])
{
    dev_ctx_t *d = ctx->device;
    const size_t words = w->rows * w->cols;
    const uint64_t *src[2] = {ctx->party == MPC_P0 ? w->w : w->f, w->b};
    mpc_err_t e = MPC_OK;
    for (int i = 0; i < (ctx->party == MPC_P0 ? 2 : 1) && !e; i++) {
        g[i] = dev_alloc(d, words * sizeof *g[i]);
        if (!g[i])
            return mpc_fail(ctx, MPC_ENOMEM, "weight of %zu words: device arena full", words);
        e = bench_dev_err(ctx, dev_upload(d, g[i], src[i], words * sizeof *g[i]));
    }
    return e;
}

/* matmul_eval (protocols/matmul.c) for one weight, with its products on
 * ctx->device (weights in g, from weight_upload) and the truncation's
 * arithmetic too: y (m x rows) = x (m x cols) W^T, truncated by f. */
static mpc_err_t matmul_eval_dev(mpc_ctx_t *ctx, uint64_t *y, const uint64_t *x,
                                 const matmul_weight_t *w, uint64_t *const g[2], size_t m, int f)
{
    dev_ctx_t *d = ctx->device;
    const size_t k = w->cols, rows = w->rows;
    const int p0 = ctx->party == MPC_P0;
    stats_push(&ctx->stats, "matmul");
    arena_mark_t mk = arena_mark(&ctx->arena);
    const size_t dmark = dev_mark(d);
    uint64_t *E = arena_alloc(&ctx->arena, m * k * sizeof *E);
    uint64_t *gx = dev_alloc(d, m * k * 8), *gE = dev_alloc(d, m * k * 8);
    uint64_t *gy = dev_alloc(d, m * rows * 8);
    mpc_err_t e = MPC_OK;
    if (!E || !gx || !gE || !gy) {
        e = mpc_fail(ctx, MPC_ENOMEM, "matmul_eval_dev: out of host or device memory");
        goto out;
    }
    if (!p0) {
        prg_u64(mpc_corr_prg(ctx), E, m * k); /* A */
        ring_sub(E, x, E, m * k);
    }
    e = mpc_corr_share(ctx, y, m * rows); /* C */
    if (e) goto out;
    e = p0 ? mpc_recv(ctx, MATMUL_TAG, E, m * k * sizeof *E)
           : mpc_send(ctx, MATMUL_TAG, E, m * k * sizeof *E);
    if (!e) e = bench_dev_err(ctx, dev_upload(d, gx, x, m * k * 8));
    if (!e) e = bench_dev_err(ctx, dev_upload(d, gy, y, m * rows * 8));
    /* P0: y = C0 + x0 W^T + E B^T; P1: y = C1 + x1 F^T. */
    if (!e) e = bench_dev_err(ctx, cuda_ring_gemm_nt(d, gy, gx, g[0], m, rows, k, 1));
    if (!e && p0) e = bench_dev_err(ctx, dev_upload(d, gE, E, m * k * 8));
    if (!e && p0) e = bench_dev_err(ctx, cuda_ring_gemm_nt(d, gy, gE, g[1], m, rows, k, 1));
    if (!e) e = bench_dev_err(ctx, dev_download(d, y, gy, m * rows * 8));
    sodium_memzero(E, m * k * sizeof *E);
    if (!e && f > 0) e = trunc_eval(ctx, y, y, m * rows, f, TRUNC_SITE(0, 1, 0));
out:
    dev_reset(d, dmark);
    arena_reset(&ctx->arena, mk);
    stats_pop(&ctx->stats);
    return e;
}

static mpc_err_t role_matmul(mpc_ctx_t *ctx, op_case_t *c)
{
    /* Site bound: |x| < 4, |W| < 1/sqrt(d): |x W^T| < 4 sqrt(d) << 2^62 at 2f. */
    matmul_weight_t w;
    matmul_weight_t *ws[1] = {&w};
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_weight_gen(ctx, &w, 1, c->n, c->n);
        if (!e) e = matmul_gen(ctx, ws, 1, 1, c->f, TRUNC_SITE(0, 1, 0));
    } else if (ctx->device) {
        uint64_t *g[2] = {NULL, NULL};
        const size_t dmark = dev_mark(ctx->device);
        e = matmul_weight_eval(ctx, &w, ctx->party == MPC_P0 ? c->W : NULL, 1, c->n, c->n);
        if (!e) e = weight_upload(ctx, &w, g); /* part of the setup, as F's transfer is */
        c->setup_done[ctx->party] = stats_now();
        if (!e) e = matmul_eval_dev(ctx, c->out[ctx->party], c->x[ctx->party], &w, g, 1, c->f);
        dev_reset(ctx->device, dmark);
    } else {
        e = matmul_weight_eval(ctx, &w, ctx->party == MPC_P0 ? c->W : NULL, 1, c->n, c->n);
        c->setup_done[ctx->party] = stats_now();
        uint64_t *y = c->out[ctx->party];
        if (!e) e = matmul_eval(ctx, &y, c->x[ctx->party], ws, 1, 1, c->f, TRUNC_SITE(0, 1, 0));
    }
    matmul_weight_free(&w);
    return e;
}

/* Device memory one party needs for op at size n: the operands of its
 * largest step, with room for alignment. */
static size_t bench_dev_bytes(const char *op, size_t n)
{
    if (!strcmp(op, "matmul")) return (2 * n * n + 8 * n) * 8 + ((size_t)1 << 20);
    return 6 * n * 8 + ((size_t)1 << 20); /* mul: c, a, b, e, d; trunc: c, rhi, msb */
}

static const op_def_t ops_linear[] = {
    {"mul", prep_mul, role_mul, 100000000, NULL},
    {"trunc", prep_trunc, role_trunc, 100000000, NULL},
    {"matmul", prep_matmul, role_matmul, 16384, NULL},
    {NULL, NULL, NULL, 0, NULL},
};

typedef struct party_run {
    mpc_ctx_t ctx;
    op_case_t *c;
    const op_def_t *op;
    mpc_err_t err;
    double end;
} party_run_t;

static void *party_main(void *arg)
{
    party_run_t *r = arg;
    r->c->setup_done[r->ctx.party] = stats_now();
    r->err = r->op->role(&r->ctx, r->c);
    if (!r->err) r->err = mpc_corr_finish(&r->ctx);
    r->end = stats_now();
    return NULL;
}

static void fail(const char *msg, const char *detail)
{
    fprintf(stderr, "mpcllm-bench op: %s: %s\n", msg, detail);
    exit(1);
}

/* One offline + online run. Fills the measured figures. */
static void run_once(const op_def_t *op, op_case_t *c, net_t *net, const net_opts_t ko[2],
                     dev_ctx_t *const dev[2], stats_t st[2], uint64_t depth[2], double *online_s,
                     double *offline_s, uint64_t *offline_bytes)
{
    char path[2][96], err[NET_ERR_BYTES];
    uint8_t session[16], seed[2][16];
    prg_seed_random(session);
    for (int p = 0; p < 2; p++) {
        snprintf(path[p], sizeof path[p], "/tmp/mpcllm-bench-%d-p%d.tape", (int)getpid(), p);
        prg_seed_random(seed[p]);
    }
    mpc_ctx_t dealer;
    if (mpc_ctx_init(&dealer, MPC_DEALER, c->f)) fail("dealer", "out of memory");
    prg_seed_random(dealer.round_seed);
    for (int p = 0; p < 2; p++) {
        dealer.tape[p] = tape_writer_file(path[p], p, session, seed[p], err);
        if (!dealer.tape[p]) fail("tape", err);
    }
    double t0 = stats_now();
    mpc_err_t e = op->role(&dealer, c);
    if (!e) e = deal_finish(&dealer);
    *offline_s = stats_now() - t0;
    if (e) fail("dealer", dealer.err);
    *offline_bytes = stats_total(&dealer.stats, -1).offline_bytes;
    mpc_ctx_destroy(&dealer);

    chan_t *a = net_chan_bind(net, "tcp://127.0.0.1:*", &ko[0], err);
    if (!a) fail("bind", err);
    chan_t *b = net_chan_connect(net, net_chan_endpoint(a), &ko[1], err);
    if (!b) fail("connect", err);
    memcpy(a->session, session, 16);
    memcpy(b->session, session, 16);
    party_run_t r[2];
    pthread_t th[2];
    for (int p = 0; p < 2; p++) {
        memset(&r[p], 0, sizeof r[p]);
        if (mpc_ctx_init(&r[p].ctx, p, c->f)) fail("party", "out of memory");
        uint8_t got[16];
        r[p].ctx.tape[0] = tape_reader_file(path[p], p, got, err);
        if (!r[p].ctx.tape[0]) fail("tape", err);
        r[p].ctx.peer = p ? b : a;
        r[p].ctx.device = dev[p]; /* NULL on the CPU */
        r[p].c = c;
        r[p].op = op;
    }
    for (int p = 0; p < 2; p++) pthread_create(&th[p], NULL, party_main, &r[p]);
    for (int p = 0; p < 2; p++) pthread_join(th[p], NULL);
    /* Online time runs from when both parties are past the one-off setup
     * (the weight masks, reported apart) until both are done. */
    double start = c->setup_done[0] > c->setup_done[1] ? c->setup_done[0] : c->setup_done[1];
    *online_s = (r[0].end > r[1].end ? r[0].end : r[1].end) - start;
    for (int p = 0; p < 2; p++) {
        if (r[p].err) fail(p ? "P1" : "P0", r[p].ctx.err);
        st[p] = r[p].ctx.stats;
        depth[p] = r[p].ctx.depth;
        mpc_ctx_destroy(&r[p].ctx);
        unlink(path[p]);
    }
    chan_free(&a);
    chan_free(&b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_op_main(int argc, char **argv)
{
    const char *name = NULL, *device = "cpu";
    size_t n = 0;
    int json = 0, repeats = 1;
    static const struct option opts[] = {
        {"op", required_argument, 0, 'o'},     {"n", required_argument, 0, 'n'},
        {"device", required_argument, 0, 'd'}, {"repeats", required_argument, 0, 'r'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': name = optarg; break;
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'd': device = optarg; break;
        case 'r': repeats = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: mpcllm-bench op --op NAME --n N [--device cpu|cuda] [--repeats R] "
                   "[--json]\n"
                   "ops: mul, trunc, matmul (--n is d: 1 x d times d x d)\n"
                   "--device cuda runs the parties' local arithmetic of mul, trunc and matmul\n"
                   "on the GPU (exit 1 without one)\n");
            return 0;
        default: fprintf(stderr, "mpcllm-bench op: unknown option '%s'\n", argv[optind - 1]); return 2;
        }
    }
    const op_def_t *op = NULL;
    const op_def_t *const tables[] = {ops_linear, bench_ops_cmp, bench_ops_math};
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const op_def_t *d = tables[t]; d->name; d++)
            if (name && !strcmp(name, d->name)) op = d;
    if (!op) {
        fprintf(stderr, "mpcllm-bench op: unknown --op '%s'; ops:", name ? name : "");
        for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
            for (const op_def_t *d = tables[t]; d->name; d++) fprintf(stderr, " %s", d->name);
        fputc('\n', stderr);
        return 2;
    }
    if (n < 1 || n > op->max_n || repeats < 1 || repeats > 100) {
        fprintf(stderr, "mpcllm-bench op: --n out of range, or --repeats not in 1..100\n");
        return 2;
    }
    const int cuda = !strcmp(device, "cuda");
    if (!cuda && strcmp(device, "cpu")) {
        fprintf(stderr, "mpcllm-bench op: unknown --device '%s' (cpu or cuda)\n", device);
        return 2;
    }
    if (cuda && strcmp(op->name, "mul") && strcmp(op->name, "trunc") &&
        strcmp(op->name, "matmul")) {
        fprintf(stderr, "mpcllm-bench op: --op %s has no CUDA path (mul, trunc, matmul have)\n",
                op->name);
        return 2;
    }
    /* One device context per party (its own stream), forced onto the device
     * whatever the size: --device picks the path explicitly. Each dispatch
     * is logged with MPCLLM_DEVICE_LOG set, as dev_select does. */
    const char *verbose = getenv("MPCLLM_DEVICE_LOG");
    dev_ctx_t *dev[2] = {NULL, NULL};
    if (cuda) {
        char why[DEV_ERR_BYTES];
        if (dev_count(why) == 0) {
            fprintf(stderr, "mpcllm-bench op: --device cuda: %s\n", why);
            return 1;
        }
        for (int p = 0; p < 2; p++) {
            if (dev_new(&dev[p], 0, bench_dev_bytes(op->name, n), why) != MPC_OK) {
                fprintf(stderr, "mpcllm-bench op: --device cuda: %s\n", why);
                dev_free(&dev[0]);
                return 1;
            }
            dev_set_min_work(dev[p], 0);
            if (verbose && *verbose && strcmp(verbose, "0")) dev_set_log(dev[p], stderr);
        }
        fprintf(stderr, "mpcllm-bench op: %s on %s\n", op->name, dev_name(dev[0]));
    }
    op_case_t c = {.n = n, .f = FXP_FRAC_BITS_DEFAULT};
    op->prepare(&c);

    net_t *net = net_new();
    net_opts_t ko[2];
    char dir[64], err[NET_ERR_BYTES];
    for (int p = 0; p < 2; p++) {
        net_opts_default(&ko[p]);
        snprintf(dir, sizeof dir, "/tmp/mpcllm-bench-keys-%d-%d", (int)getpid(), p);
        if (net_keygen(dir, err) || net_key_load(dir, ko[p].public_key, ko[p].secret_key, err))
            fail("keys", err);
        char f[96];
        snprintf(f, sizeof f, "%s/public.key", dir);
        unlink(f);
        snprintf(f, sizeof f, "%s/secret.key", dir);
        unlink(f);
        rmdir(dir);
    }
    memcpy(ko[1].server_key, ko[0].public_key, NET_KEY_BYTES);

    double *times = malloc((size_t)repeats * sizeof *times), offline_s = 0;
    stats_t *st = malloc(2 * sizeof *st);
    uint64_t depth[2], offline_bytes = 0;
    for (int r = 0; r < repeats; r++) {
        if (!json && repeats > 1 && isatty(2)) fprintf(stderr, "\rrepeat %d/%d", r + 1, repeats);
        run_once(op, &c, net, ko, dev, st, depth, &times[r], &offline_s, &offline_bytes);
    }
    if (!json && repeats > 1 && isatty(2)) fputc('\n', stderr);
    qsort(times, (size_t)repeats, sizeof *times, cmp_double);
    double time_s = times[repeats / 2];

    double max_abs = 0, num = 0, den = 0;
    for (size_t i = 0; i < c.out_n; i++) {
        double got = fxp_decode(c.out[0][i] + c.out[1][i], c.out_scale);
        double e = fabs(got - c.ref[i]);
        if (e > max_abs) max_abs = e;
        num += e * e;
        den += c.ref[i] * c.ref[i];
    }
    double rel = den > 0 ? sqrt(num / den) : 0;
    stats_row_t t0 = stats_total(&st[0], -1), t1 = stats_total(&st[1], -1);
    stats_row_t s0 = stats_total(&st[0], PHASE_SETUP), s1 = stats_total(&st[1], PHASE_SETUP);
    uint64_t sent0 = t0.bytes_sent - s0.bytes_sent, sent1 = t1.bytes_sent - s1.bytes_sent;
    uint64_t online = sent0 + sent1, setup = s0.bytes_sent + s1.bytes_sent;
    uint64_t rounds = (depth[0] > depth[1] ? depth[0] : depth[1]) - (s0.rounds > s1.rounds ? s0.rounds : s1.rounds);
    uint64_t maxdir = sent0 > sent1 ? sent0 : sent1;
    double lan = time_s + maxdir / LAN_BPS + rounds * LAN_RTT / 2;
    double wan = time_s + maxdir / WAN_BPS + rounds * WAN_RTT / 2;
    fprintf(stderr,
            "%-7s n=%-9zu online %llu B (P0 %llu, P1 %llu) in %llu rounds, %.6f s (median of %d); "
            "offline %llu B in %.4f s; setup %llu B; max |err| %.3g, rel L2 %.3g\n"
            "  modelled: LAN %.6f s (1 Gbit/s, 0.5 ms RTT), WAN %.6f s (100 Mbit/s, 40 ms RTT)\n",
            op->name, n, (unsigned long long)online, (unsigned long long)sent0,
            (unsigned long long)sent1, (unsigned long long)rounds, time_s, repeats,
            (unsigned long long)offline_bytes, offline_s, (unsigned long long)setup, max_abs, rel,
            lan, wan);
    if (json)
        printf("{\"op\":\"%s\",\"n\":%zu,\"device\":\"%s\",\"online_bytes\":%llu,"
               "\"online_bytes_p0\":%llu,\"online_bytes_p1\":%llu,\"rounds\":%llu,"
               "\"offline_bytes\":%llu,\"setup_bytes\":%llu,\"key_bytes\":%.6g,\"time_s\":%.6f,"
               "\"offline_s\":%.6f,\"max_abs_err\":%.6g,\"max_rel_err\":%.6g,\"lan_s\":%.6f,"
               "\"wan_s\":%.6f,\"repeats\":%d}\n",
               op->name, n, cuda ? "cuda" : "cpu", (unsigned long long)online,
               (unsigned long long)sent0, (unsigned long long)sent1, (unsigned long long)rounds,
               (unsigned long long)offline_bytes, (unsigned long long)setup,
               op->key_bytes ? op->key_bytes(c.n) : 0.0, time_s, offline_s, max_abs, rel, lan,
               wan, repeats);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
        free(c.out[p]);
        net_opts_wipe(&ko[p]);
    }
    free(c.ref);
    free(c.W);
    free(c.aux);
    free(times);
    free(st);
    net_free(&net);
    for (int p = 0; p < 2; p++) dev_free(&dev[p]);
    return 0;
}
