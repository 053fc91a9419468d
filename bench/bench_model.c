/* bench/bench_model.c - decode and prefill benchmarks of the secure engine. */
#include "bench/bench_model.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/dev.h"
#include "llm/model.h"
#include "llm/xfwd.h"
#include "mpcache/kv.h"
#include "mpc/ctx.h"
#include "mpc/fxp.h"
#include "net/net.h"
#include "parties/party_plain.h"

#define LAN_BPS (1e9 / 8)
#define LAN_RTT 0.5e-3
#define WAN_BPS (100e6 / 8)
#define WAN_RTT 40e-3

typedef struct job {
    int prefill; /* 1: prefill of T tokens; 0: decode steps at T, T + 1, ... */
    int T;
    int steps; /* decode steps measured (their mean is reported) */
    int plan_wan; /* the top-k cost model plans for the WAN */
    const model_config_t *cfg;
    const model_t *m;
    const kv_config_t *kv; /* the policy (NULL: the full cache) */
    int *tokens; /* prefill prompt (P1) */
    double start[2], end[2];
    uint64_t part_bytes[2][XPART_COUNT], part_rounds[2][XPART_COUNT];
    int attended[256]; /* per layer, at the measured step */
} job_t;

typedef struct role {
    mpc_ctx_t ctx;
    job_t *job;
    mpc_err_t err;
} role_t;

static void *role_main(void *arg)
{
    role_t *r = arg;
    mpc_ctx_t *ctx = &r->ctx;
    job_t *j = r->job;
    int p = ctx->party;
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    r->err = xfwd_new(&x, j->cfg, p == MPC_P0 ? j->m : NULL, ctx, p, FXP_FRAC_BITS_DEFAULT, NULL,
                      err);
    if (r->err) {
        mpc_fail(ctx, r->err, "%s", err);
        return NULL;
    }
    if (j->kv) r->err = xfwd_set_policy(x, j->kv);
    xfwd_opts_t o = {.pad_len = p == MPC_P1 ? 0 : -1, .plan_wan = j->plan_wan};
    xfwd_set_opts(x, &o);
    if (!r->err) r->err = xfwd_setup(x);
    if (!r->err && !j->prefill) {
        stats_phase(&ctx->stats, PHASE_SETUP);
        r->err = xfwd_fill_random(x, j->T, 99);
    }
    uint64_t b0[XPART_COUNT], r0[XPART_COUNT];
    for (int k = 0; k < XPART_COUNT; k++) {
        b0[k] = xfwd_part_bytes(x, k);
        r0[k] = xfwd_part_rounds(x, k);
    }
    if (p != MPC_DEALER) j->start[p] = stats_now();
    int next;
    if (!r->err) {
        stats_phase(&ctx->stats, j->prefill ? PHASE_PREFILL : PHASE_DECODE);
        int tok = 1;
        if (j->prefill)
            r->err = xfwd_forward(x, p == MPC_P1 ? j->tokens : NULL, 0, j->T, &next);
        for (int s = 0; !j->prefill && s < j->steps && !r->err; s++) {
            r->err = xfwd_forward(x, p == MPC_P1 ? &tok : NULL, j->T + s, 1, &next);
            for (int l = 0; p == MPC_P0 && l < j->cfg->n_layers && l < 256; l++)
                j->attended[l] += xfwd_attended(x, l);
        }
        stats_phase(&ctx->stats, PHASE_OTHER);
    }
    if (p == MPC_P0 && j->prefill)
        for (int l = 0; l < j->cfg->n_layers && l < 256; l++) j->attended[l] = xfwd_attended(x, l);
    if (p != MPC_DEALER) {
        j->end[p] = stats_now();
        for (int k = 0; k < XPART_COUNT; k++) {
            j->part_bytes[p][k] = xfwd_part_bytes(x, k) - b0[k];
            j->part_rounds[p][k] = xfwd_part_rounds(x, k) - r0[k];
        }
    }
    if (!r->err) r->err = p == MPC_DEALER ? deal_finish(ctx) : mpc_corr_finish(ctx);
    xfwd_free(&x);
    return NULL;
}

/* The offline run's tape files (gigabytes at long T): removed on any exit. */
static char tape_path[2][128];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "mpcllm-bench: %s: %s\n", what, detail);
    for (int p = 0; p < 2; p++)
        if (tape_path[p][0]) unlink(tape_path[p]);
    exit(1);
}

static int make_model(const char *shape, int T, model_t **m, model_config_t *cfg)
{
    char err[CHAN_ERR_BYTES];
    if (!strcmp(shape, "stories260K")) {
        char path[4096];
        if (plain_find(PLAIN_DEFAULT_MODEL, path, sizeof path, err)) die("model", err);
        if (model_load(m, path, err)) die("model", err);
        *cfg = (*m)->cfg;
        if (T + 1 > cfg->seq_len) {
            fprintf(stderr, "mpcllm-bench: stories260K holds %d positions; --seq %d is too long\n",
                    cfg->seq_len, T);
            return 2;
        }
        return 0;
    }
    if (!strcmp(shape, "mpcache-1l")) {
        /* MPCache's MPC setting: one layer, hidden size 1024, 32 heads (Zeng
         * et al. 2025, §6); the FFN width and vocabulary are LLaMA's ratios. */
        *cfg = (model_config_t){1024, 2816, 1, 32, 32, 32000, 0};
    } else if (model_shape(cfg, shape, err)) {
        fprintf(stderr, "mpcllm-bench: %s (shapes: stories260K, stories15M, stories110M, "
                        "mpcache-1l, llama7b-1l)\n", err);
        return 2;
    }
    if (cfg->seq_len < T + 2) cfg->seq_len = T + 2;
    if (model_new_random(m, cfg, 1, err)) die("model", err);
    return 0;
}

/* One benchmark run from its options; the JSON line also goes to out
 * (JSON_BYTES) for the sweep. */
#define JSON_BYTES 1024
static int run(int argc, char **argv, int prefill, char *out)
{
    const char *shape = NULL, *policy = "full", *device = "cpu", *dealer_mode = "offline",
               *netname = "none";
    int T = 0, json = 0, steps = 1, ca = 32, cb = 16, fixed_budget = 0, plan_wan = 0;
    double budget = 1.0, keep = 0.5;
    static const struct option opts[] = {
        {"shape", required_argument, 0, 's'},   {"seq", required_argument, 0, 'T'},
        {"policy", required_argument, 0, 'p'},  {"budget", required_argument, 0, 'b'},
        {"static-keep", required_argument, 0, 'S'}, {"device", required_argument, 0, 'd'},
        {"dealer", required_argument, 0, 'D'},  {"json", no_argument, 0, 'j'},
        {"net", required_argument, 0, 'n'},      {"steps", required_argument, 0, 'N'},
        {"clusters", required_argument, 0, 'C'}, {"fixed-budget", required_argument, 0, 'F'},
        {"plan", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': shape = optarg; break;
        case 'T': T = atoi(optarg); break;
        case 'p': policy = optarg; break;
        case 'b': budget = atof(optarg); break;
        case 'S': keep = atof(optarg); break;
        case 'd': device = optarg; break;
        case 'D': dealer_mode = optarg; break;
        case 'n': netname = optarg; break;
        case 'j': json = 1; break;
        case 'N': steps = atoi(optarg); break;
        case 'F': fixed_budget = atoi(optarg); break;
        case 'L':
            if (strcmp(optarg, "lan") && strcmp(optarg, "wan")) {
                fprintf(stderr, "mpcllm-bench: --plan is lan or wan\n");
                return 2;
            }
            plan_wan = !strcmp(optarg, "wan");
            break;
        case 'C':
            if (sscanf(optarg, "%d,%d", &ca, &cb) != 2) {
                fprintf(stderr, "mpcllm-bench: --clusters wants A,B (e.g. 32,16)\n");
                return 2;
            }
            break;
        case 'h':
            printf("usage: mpcllm-bench %s --shape NAME --seq T [--policy full|streaming|h2o|mpcache]\n"
                   "                    [--budget R] [--static-keep S] [--clusters A,B]\n"
                   "                    [--steps N] [--fixed-budget N] [--plan lan|wan]\n"
                   "                    [--device cpu|cuda] [--dealer offline|stream]\n"
                   "                    [--net none|lan|wan] [--json]\n"
                   "       (or --sweep T1,T2,... [--out DIR] instead of --seq: a table and a plot;\n"
                   "        a policy other than full also runs full at each T, for the ratios)\n"
                   "decode: the cache holds T positions (MPCache: the ceil(S T) its static\n"
                   "eviction kept of a T-token prompt), and N steps at T, T+1, ... are measured\n"
                   "and averaged (MPCache summarises a cluster every B steps: use --steps B).\n"
                   "shapes: stories260K (real), stories15M, stories110M, mpcache-1l, llama7b-1l\n"
                   "--net shapes the P0-P1 link with the channel's own delay and rate limit\n"
                   "(LAN: 0.25 ms one way, 1 Gbit/s; WAN: 20 ms, 100 Mbit/s), to check the\n"
                   "modelled lan_s / wan_s against a real run on this machine.\n",
                   prefill ? "prefill" : "decode");
            return 0;
        default: fprintf(stderr, "mpcllm-bench: unknown option '%s'\n", argv[optind - 1]); return 2;
        }
    }
    if (!shape || T < 1 || T > 1 << 20) {
        fprintf(stderr, "mpcllm-bench: --shape and --seq T (>= 1) are required\n");
        return 2;
    }
    kv_config_t kvc;
    kv_config_default(&kvc);
    char msg[CHAN_ERR_BYTES];
    if (kv_policy_parse(policy, &kvc.policy, msg, sizeof msg)) {
        fprintf(stderr, "mpcllm-bench: %s\n", msg);
        return 2;
    }
    if (kvc.policy != KV_FULL && kvc.policy != KV_STREAMING && kvc.policy != KV_MPCACHE &&
        kvc.policy != KV_H2O) {
        fprintf(stderr, "mpcllm-bench: policy '%s' does not run inside MPC (full, streaming, h2o "
                        "and mpcache do)\n", policy);
        return 2;
    }
    if (steps < 1 || (prefill && steps != 1)) {
        fprintf(stderr, "mpcllm-bench: --steps wants N >= 1 (decode only)\n");
        return 2;
    }
    if (!(budget > 0 && budget <= 1)) {
        fprintf(stderr, "mpcllm-bench: --budget wants a number in (0, 1]\n");
        return 2;
    }
    dev_use_t use;
    char why[DEV_ERR_BYTES];
    if (dev_use_parse(device, &use)) {
        fprintf(stderr, "mpcllm-bench: --device is cpu, cuda or auto\n");
        return 2;
    }
    if (use == DEV_USE_CUDA && dev_count(why) == 0) {
        fprintf(stderr, "mpcllm-bench: --device cuda: %s\n", why);
        return 1;
    }
    double delay_ms = 0, rate_mbit = 0;
    if (!strcmp(netname, "lan")) {
        delay_ms = LAN_RTT * 1e3 / 2;
        rate_mbit = LAN_BPS * 8 / 1e6;
    } else if (!strcmp(netname, "wan")) {
        delay_ms = WAN_RTT * 1e3 / 2;
        rate_mbit = WAN_BPS * 8 / 1e6;
    } else if (strcmp(netname, "none")) {
        fprintf(stderr, "mpcllm-bench: --net is none, lan or wan\n");
        return 2;
    }
    int stream = !strcmp(dealer_mode, "stream");
    if (!stream && strcmp(dealer_mode, "offline")) {
        fprintf(stderr, "mpcllm-bench: --dealer is offline or stream\n");
        return 2;
    }
    model_t *m = NULL;
    model_config_t cfg;
    int rc = make_model(shape, prefill ? T : T + steps - 1, &m, &cfg);
    if (rc) return rc;
    job_t *j = calloc(1, sizeof *j);
    j->prefill = prefill;
    j->T = T;
    j->steps = steps;
    j->plan_wan = plan_wan;
    j->cfg = &cfg;
    j->m = m;
    if (kvc.policy != KV_FULL) {
        kvc.n_layers = cfg.n_layers;
        kvc.n_heads = cfg.n_heads;
        kvc.n_kv_heads = cfg.n_kv_heads;
        kvc.head_size = cfg.dim / cfg.n_heads;
        kvc.seq_len = cfg.seq_len;
        kvc.prompt_len = T; /* the filled cache stands for the prompt */
        kvc.budget = budget;
        kvc.static_keep = kvc.policy == KV_MPCACHE || keep > budget ? keep : budget;
        kvc.cluster_coarse = ca;
        kvc.cluster_fine = cb;
        kvc.fixed_budget = fixed_budget; /* H2O's native schedule: one eviction per step */
        if (kv_config_check(&kvc, msg, sizeof msg)) {
            fprintf(stderr, "mpcllm-bench: %s\n", msg);
            return 2;
        }
        j->kv = &kvc;
    }
    j->tokens = malloc((size_t)T * sizeof *j->tokens);
    for (int i = 0; i < T; i++) j->tokens[i] = i == 0 ? 1 : 3 + (i * 7919) % (cfg.vocab_size - 3);

    net_t *net = net_new();
    net_opts_t ko[2];
    char err[NET_ERR_BYTES], dir[96];
    for (int p = 0; p < 2; p++) {
        net_opts_default(&ko[p]);
        ko[p].timeout_ms = 600000;
        ko[p].delay_ms = delay_ms;
        ko[p].rate_mbit = rate_mbit;
        snprintf(dir, sizeof dir, "/tmp/mpcllm-benchm-keys-%d-%d", (int)getpid(), p);
        if (net_keygen(dir, err) || net_key_load(dir, ko[p].public_key, ko[p].secret_key, err))
            die("keys", err);
        char f[128];
        snprintf(f, sizeof f, "%s/public.key", dir);
        unlink(f);
        snprintf(f, sizeof f, "%s/secret.key", dir);
        unlink(f);
        rmdir(dir);
    }
    memcpy(ko[1].server_key, ko[0].public_key, NET_KEY_BYTES);
    uint8_t session[16], seed[2][16];
    prg_seed_random(session);
    prg_seed_random(seed[0]);
    prg_seed_random(seed[1]);
    role_t *r = calloc(3, sizeof *r);
    for (int p = 0; p < 3; p++) {
        if (mpc_ctx_init(&r[p].ctx, p, FXP_FRAC_BITS_DEFAULT)) die("context", "out of memory");
        r[p].job = j;
    }
    /* Each party's local arithmetic on its own context (its own stream) on
     * the device, or NULL for the CPU. The arena holds one product's
     * operands at a time: a classifier of 32000 x 4096 words is 1 GiB. */
    dev_ctx_t *dev[2] = {NULL, NULL};
    for (int p = 0; p < 2; p++) {
        if (dev_select(&dev[p], use, (size_t)2 << 30, use != DEV_USE_CPU || !json ? stderr : NULL,
                       p ? "P1" : "P0", why))
            die("--device cuda", why);
        r[p].ctx.device = dev[p];
    }
    prg_seed_random(r[2].ctx.round_seed);
    char path[2][128];
    chan_t *dl[4] = {0};
    double offline_s = 0;
    if (!stream) {
        for (int p = 0; p < 2; p++) {
            snprintf(path[p], sizeof path[p], "/tmp/mpcllm-benchm-%d-p%d.tape", (int)getpid(), p);
            snprintf(tape_path[p], sizeof tape_path[p], "%s", path[p]);
            r[2].ctx.tape[p] = tape_writer_file(path[p], p, session, seed[p], err);
            if (!r[2].ctx.tape[p]) die("tape", err);
        }
        if (!json) fprintf(stderr, "dealer: generating the correlations (offline) ...\n");
        double t0 = stats_now();
        role_main(&r[2]);
        offline_s = stats_now() - t0;
        if (r[2].err) die("dealer", r[2].ctx.err);
        for (int p = 0; p < 2; p++) {
            tape_free(&r[2].ctx.tape[p]);
            uint8_t got[16];
            r[p].ctx.tape[0] = tape_reader_file(path[p], p, got, err);
            if (!r[p].ctx.tape[0]) die("tape", err);
        }
    } else {
        net_opts_t plain;
        net_opts_default(&plain);
        plain.curve = 0;
        plain.timeout_ms = 600000;
        for (int p = 0; p < 2; p++) {
            char ep[96];
            snprintf(ep, sizeof ep, "inproc://benchm-dealer-%d", p);
            dl[2 * p] = net_chan_bind(net, ep, &plain, err);
            dl[2 * p + 1] = dl[2 * p] ? net_chan_connect(net, ep, &plain, err) : NULL;
            if (!dl[2 * p + 1]) die("dealer link", err);
            r[2].ctx.tape[p] = tape_writer_chan(dl[2 * p], seed[p]);
            r[p].ctx.tape[0] = tape_reader_chan(dl[2 * p + 1], seed[p]);
        }
    }
    chan_t *a = net_chan_bind(net, "tcp://127.0.0.1:*", &ko[0], err);
    chan_t *b = a ? net_chan_connect(net, net_chan_endpoint(a), &ko[1], err) : NULL;
    if (!b) die("link", err);
    memcpy(a->session, session, 16);
    memcpy(b->session, session, 16);
    r[0].ctx.peer = a;
    r[1].ctx.peer = b;
    if (!json) fprintf(stderr, "parties: setup, then the %s ...\n", prefill ? "prefill" : "decode step");
    pthread_t th[3];
    int nth = stream ? 3 : 2;
    for (int p = 0; p < nth; p++) pthread_create(&th[p], NULL, role_main, &r[p]);
    for (int p = 0; p < nth; p++) pthread_join(th[p], NULL);
    for (int p = 0; p < nth; p++)
        if (r[p].err) die(p == 2 ? "dealer" : p ? "P1" : "P0", r[p].ctx.err);

    mpc_phase_t ph = prefill ? PHASE_PREFILL : PHASE_DECODE;
    double start = j->start[0] > j->start[1] ? j->start[0] : j->start[1];
    double time_s = (j->end[0] > j->end[1] ? j->end[0] : j->end[1]) - start;
    stats_row_t s0 = stats_total(&r[0].ctx.stats, ph), s1 = stats_total(&r[1].ctx.stats, ph);
    stats_row_t u0 = stats_total(&r[0].ctx.stats, PHASE_SETUP), u1 = stats_total(&r[1].ctx.stats, PHASE_SETUP);
    /* decode: the mean of the measured steps */
    uint64_t ns = prefill ? 1 : (uint64_t)steps;
    time_s /= (double)ns;
    uint64_t online = (s0.bytes_sent + s1.bytes_sent) / ns;
    uint64_t rounds = (s0.rounds > s1.rounds ? s0.rounds : s1.rounds) / ns;
    uint64_t offline = (s0.offline_bytes + s1.offline_bytes) / ns;
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < XPART_COUNT; k++) {
            j->part_bytes[p][k] /= ns;
            j->part_rounds[p][k] /= ns;
        }
    s0.bytes_sent /= ns;
    s1.bytes_sent /= ns;
    uint64_t setup = u0.bytes_sent + u1.bytes_sent;
    uint64_t maxdir = s0.bytes_sent > s1.bytes_sent ? s0.bytes_sent : s1.bytes_sent;
    uint64_t attn = j->part_bytes[0][XPART_ATTN] + j->part_bytes[1][XPART_ATTN];
    double lan = time_s + maxdir / LAN_BPS + rounds * LAN_RTT / 2;
    double wan = time_s + maxdir / WAN_BPS + rounds * WAN_RTT / 2;
    long attended = 0;
    for (int l = 0; l < cfg.n_layers; l++) attended += j->attended[l];
    attended /= (long)ns;
    /* The best ratio a policy attending fraction R of the cache could reach,
     * from this run's split: attention scales with the tokens attended. */
    double full_att =
        (double)cfg.n_layers * cfg.n_kv_heads * (T + (prefill ? 0 : 1 + (double)(ns - 1) / 2));
    double frac = attended / full_att, attn_full = frac > 0 ? attn / frac : 0;
    double nonattn = (double)online - attn;
    double bound = j->kv ? (nonattn + attn_full) / (nonattn + budget * attn_full) : 1.0;
    fprintf(stderr,
            "%s %s T=%d %s: %.4f s online (%s dealer), %.2f MB online both ways, %llu rounds, "
            "%.2f MB offline, %.2f MB setup\n  modelled: LAN %.4f s (1 Gbit/s, 0.5 ms RTT), "
            "WAN %.4f s (100 Mbit/s, 40 ms RTT); offline generation %.3f s (the setup and every measured step)\n",
            prefill ? "prefill" : "decode", shape, T, policy, time_s, stream ? "streaming" : "offline",
            online / 1e6, (unsigned long long)rounds, offline / 1e6, setup / 1e6, lan, wan,
            offline_s);
    fprintf(stderr, "  %-10s %14s %8s\n", "part", "bytes", "rounds");
    for (int k = 0; k < XPART_COUNT; k++)
        fprintf(stderr, "  %-10s %14llu %8llu\n", xfwd_part_name(k),
                (unsigned long long)(j->part_bytes[0][k] + j->part_bytes[1][k]),
                (unsigned long long)(j->part_rounds[0][k] > j->part_rounds[1][k]
                                         ? j->part_rounds[0][k] : j->part_rounds[1][k]));
    fprintf(stderr, "  by protocol (P0's view):\n");
    stats_report(&r[0].ctx.stats, stderr);
    char line[JSON_BYTES];
    snprintf(line, sizeof line, "{\"shape\":\"%s\",\"device\":\"%s\",\"seq\":%d,\"mode\":\"%s\",\"policy\":\"%s\",\"budget\":%g,"
               "\"attended_tokens\":%ld,\"online_bytes\":%llu,\"offline_bytes\":%llu,"
               "\"rounds\":%llu,\"time_s\":%.6f,\"offline_s\":%.6f,\"setup_bytes\":%llu,"
               "\"attention_bytes\":%llu,\"bound_ratio\":%.4f,\"lan_s\":%.6f,\"wan_s\":%.6f,"
               "\"dealer\":\"%s\",\"net\":\"%s\",\"steps\":%d,\"plan\":\"%s\"}\n",
               shape, dev[0] ? "cuda" : "cpu", T, prefill ? "prefill" : "decode", policy, j->kv ? budget : 1.0, attended,
               (unsigned long long)online,
               (unsigned long long)offline, (unsigned long long)rounds, time_s, offline_s,
               (unsigned long long)setup, (unsigned long long)attn, bound, lan, wan,
               stream ? "stream" : "offline", netname, (int)ns, plan_wan ? "wan" : "lan");
    if (json) printf("%s", line);
    if (out) snprintf(out, JSON_BYTES, "%s", line);
    for (int p = 0; p < 3; p++) mpc_ctx_destroy(&r[p].ctx);
    for (int p = 0; p < 2; p++) dev_free(&dev[p]);
    if (!stream)
        for (int p = 0; p < 2; p++) {
            unlink(path[p]);
            tape_path[p][0] = 0;
        }
    chan_free(&a);
    chan_free(&b);
    for (int i = 0; i < 4; i++) chan_free(&dl[i]);
    net_opts_wipe(&ko[0]);
    net_opts_wipe(&ko[1]);
    net_free(&net);
    free(r);
    free(j->tokens);
    free(j);
    model_free(&m);
    return 0;
}

/* A number from a JSON line of run(): the value after "key": */
static double json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? atof(p + strlen(pat)) : 0.0;
}

/* --sweep T1,T2,... --out DIR: one run per T, then DIR/decode.jsonl, a
 * Markdown table (DIR/decode.md) and a plot of cost against T
 * (DIR/decode.png, gnuplot). */
static int sweep(int argc, char **argv, int prefill, const char *list, const char *dir)
{
    int Ts[32], n = 0;
    for (const char *p = list; *p && n < 32;) {
        Ts[n++] = atoi(p);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    if (n == 0 || mkdir(dir, 0755) != 0) {
        if (n == 0 || errno != EEXIST) {
            fprintf(stderr, "mpcllm-bench: --sweep wants T1,T2,... and --out a writable folder\n");
            return 2;
        }
    }
    /* a policy other than full is compared with full at each T, in this run */
    const char *policy = "full";
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--policy")) policy = argv[i + 1];
    int base = strcmp(policy, "full") != 0;
    char (*lines)[JSON_BYTES] = calloc((size_t)n, sizeof *lines);
    char (*full)[JSON_BYTES] = calloc((size_t)n, sizeof *full);
    char **args = calloc((size_t)argc + 8, sizeof *args);
    char tbuf[32];
    int na = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--sweep") || !strcmp(argv[i], "--out")) {
            i++;
            continue;
        }
        args[na++] = argv[i];
    }
    args[na++] = "--seq";
    args[na++] = tbuf;
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        snprintf(tbuf, sizeof tbuf, "%d", Ts[k]);
        fprintf(stderr, "== T = %d (%d of %d)%s\n", Ts[k], k + 1, n, base ? ": full" : "");
        if (base) {
            /* one full step, at T: its cost grows by one token per step, so
             * against the policy's mean over T .. T + N - 1 the ratios are
             * understated by about (N - 1) / 2T */
            args[na] = "--policy";
            args[na + 1] = "full";
            args[na + 2] = "--steps";
            args[na + 3] = "1";
            rc = run(na + 4, args, prefill, full[k]);
            if (!rc) fprintf(stderr, "== T = %d: %s\n", Ts[k], policy);
        }
        if (!rc) rc = run(na, args, prefill, lines[k]);
    }
    char path[4096];
    const char *what = prefill ? "prefill" : "decode";
    FILE *f = NULL, *md = NULL, *dat = NULL;
    if (!rc) {
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, what);
        f = fopen(path, "w");
        snprintf(path, sizeof path, "%s/%s.md", dir, what);
        md = fopen(path, "w");
        snprintf(path, sizeof path, "%s/%s.dat", dir, what);
        dat = fopen(path, "w");
        if (!f || !md || !dat) {
            fprintf(stderr, "mpcllm-bench: cannot write to %s\n", dir);
            rc = 1;
        }
    }
    if (!rc) {
        fprintf(md, "Device: %s.\n\n", strstr(lines[0], "\"device\":\"cuda\"") ? "cuda" : "cpu");
        if (base) {
            fprintf(md, "Policy %s against the full cache at each T (ratio = full / policy; "
                        "bound = full / (non-attention + R attention), from the full run).\n\n"
                        "| T | attended | online s (full) | x | LAN x | WAN x | online MB (full) | x "
                        "| attention MB (full) | x | bound | rounds (full) |\n"
                        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                        "| ---: | ---: |\n", policy);
        } else {
            fprintf(md, "| T | online s | LAN s | WAN s | online MB | attention MB | rounds | "
                        "offline MB |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        }
        for (int k = 0; k < n; k++) {
            const char *l = lines[k], *u = base ? full[k] : lines[k];
            fputs(l, f);
            if (base) fputs(u, f);
            double t = json_num(l, "time_s"), tf = json_num(u, "time_s");
            double on = json_num(l, "online_bytes"), onf = json_num(u, "online_bytes");
            double at = json_num(l, "attention_bytes"), atf = json_num(u, "attention_bytes");
            double lan = json_num(l, "lan_s"), lanf = json_num(u, "lan_s");
            double wan = json_num(l, "wan_s"), wanf = json_num(u, "wan_s");
            double R = json_num(l, "budget");
            if (base)
                fprintf(md, "| %d | %.0f | %.3f (%.3f) | %.2f | %.2f | %.2f | %.2f (%.2f) | %.2f | "
                            "%.2f (%.2f) | %.2f | %.2f | %.0f (%.0f) |\n",
                        Ts[k], json_num(l, "attended_tokens"), t, tf, tf / t, lanf / lan, wanf / wan,
                        on / 1e6, onf / 1e6, onf / on, at / 1e6, atf / 1e6, atf / at,
                        onf / (onf - atf + R * atf), json_num(l, "rounds"), json_num(u, "rounds"));
            else
                fprintf(md, "| %d | %.3f | %.3f | %.3f | %.2f | %.2f | %.0f | %.1f |\n", Ts[k], t,
                        lan, wan, on / 1e6, at / 1e6, json_num(l, "rounds"),
                        json_num(l, "offline_bytes") / 1e6);
            fprintf(dat, "%d %g %g %g %g %g %g %g %g %g %g %g\n", Ts[k], t, lan, wan, on / 1e6,
                    at / 1e6, tf, lanf, wanf, onf / 1e6, atf / 1e6, onf / (onf - atf + R * atf));
        }
        fclose(f);
        fclose(md);
        fclose(dat);
        f = md = dat = NULL;
        char plots[2048];
        if (base)
            snprintf(plots, sizeof plots,
                     "set multiplot layout 1,4 title 'secure %s step: %s against full'\n"
                     "set ylabel 'seconds'\n"
                     "plot '%s.dat' u 1:2 w lp t '%s loopback', '' u 1:7 w lp t 'full loopback', "
                     "'' u 1:3 w lp t '%s LAN', '' u 1:8 w lp t 'full LAN', "
                     "'' u 1:4 w lp t '%s WAN', '' u 1:9 w lp t 'full WAN'\n"
                     "set ylabel 'online MB (both directions)'\n"
                     "plot '%s.dat' u 1:5 w lp t '%s', '' u 1:10 w lp t 'full'\n"
                     "set ylabel 'attention MB'\n"
                     "plot '%s.dat' u 1:6 w lp t '%s', '' u 1:11 w lp t 'full'\n"
                     "set ylabel 'full / %s'\n"
                     "plot '%s.dat' u 1:($10/$5) w lp t 'online bytes', '' u 1:($11/$6) w lp "
                     "t 'attention bytes', '' u 1:($7/$2) w lp t 'loopback', '' u 1:($8/$3) w lp "
                     "t 'LAN', '' u 1:($9/$4) w lp t 'WAN', '' u 1:12 w l dt 2 t 'bound'\n",
                     what, policy, what, policy, policy, policy, what, policy, what, policy, policy,
                     what);
        else
            snprintf(plots, sizeof plots,
                     "set multiplot layout 1,2 title 'secure %s cost against the cache length T'\n"
                     "set ylabel 'seconds'\n"
                     "plot '%s.dat' u 1:2 w lp t 'loopback', '' u 1:3 w lp t 'LAN (model)', "
                     "'' u 1:4 w lp t 'WAN (model)'\n"
                     "set ylabel 'MB (both directions)'\n"
                     "plot '%s.dat' u 1:5 w lp t 'online', '' u 1:6 w lp t 'attention'\n",
                     what, what, what);
        snprintf(path, sizeof path, "cd '%s' && gnuplot 2>/dev/null <<'EOF'\n"
                 "set terminal pngcairo size %d,420 font ',10'\n"
                 "set output '%s.png'\n"
                 "set xlabel 'T'\nset logscale x 2\nset key left top\nset grid\n"
                 "%sunset multiplot\nEOF",
                 dir, base ? 1900 : 1100, what, plots);
        if (system(path) != 0)
            fprintf(stderr, "mpcllm-bench: no plot (is gnuplot installed?); the table is in %s\n",
                    dir);
        fprintf(stderr, "wrote %s/%s.md, .jsonl and .png\n", dir, what);
    }
    if (f) fclose(f);
    if (md) fclose(md);
    if (dat) fclose(dat);
    free(lines);
    free(full);
    free(args);
    return rc;
}

static int dispatch(int argc, char **argv, int prefill)
{
    const char *list = NULL, *dir = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--sweep")) list = argv[i + 1];
        if (!strcmp(argv[i], "--out")) dir = argv[i + 1];
    }
    if (list) return sweep(argc, argv, prefill, list, dir ? dir : "bench-out");
    return run(argc, argv, prefill, NULL);
}

int bench_decode_main(int argc, char **argv)
{
    return dispatch(argc, argv, 0);
}

int bench_prefill_main(int argc, char **argv)
{
    return dispatch(argc, argv, 1);
}
