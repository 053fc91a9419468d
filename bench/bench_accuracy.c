/* bench/bench_accuracy.c - `mpcllm-bench accuracy` (bench_accuracy.h): the
 * command line around llm/eval.h.
 *
 * It finds and loads the model, the tokenizer and the text, cuts the text
 * into windows of the model's context, opens the engine that yields the
 * logits, and then, window by window, runs the full cache once and every
 * requested policy after it, summing per policy. The windows are the first W
 * that the text fills, so every run on the same files scores the same tokens.
 * Windows are split between threads, each with its own engine; each window's
 * sums are kept apart and added in window order, so the figures do not
 * depend on the number of threads.
 * An engine is an eval_engine_t made by engine_open: the float engine, the
 * fixed-point plain engine (every policy; its rounding stream from --seed),
 * or the secure engine (bench_acc_secure.h: the three roles in this process
 * under the dealer's test seed --seed, checked step by step against the
 * fixed engine with that seed's stream). The secure engine is slow, so it
 * scores a slice by default: one window, 16 scored tokens (--windows,
 * --scored).
 */
#include "bench/bench_accuracy.h"
#include "bench/bench_acc_secure.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm/eval.h"
#include "mpc/fxp.h"
#include "mpc/prg.h"
#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "parties/cli.h"
#include "parties/party_plain.h"

#define ACC_DATA_FILE       "tinystories_valid800.txt"
#define ACC_DEFAULT_PREFILL 384
#define ACC_DEFAULT_WINDOWS 64
#define ACC_SECURE_WINDOWS  1  /* the secure engine's slice: one window, */
#define ACC_SECURE_SCORED   16 /* 16 scored tokens */
#define ACC_DEFAULT_SEED    "1"
#define ACC_MAX_THREADS     16
#define ACC_PATH_BYTES      4096
#define ACC_N_BUDGETS       3
#define ACC_N_POLICIES      8
#define ACC_MAX_RUNS        (ACC_N_POLICIES * ACC_N_BUDGETS)

static const double sweep_budgets[ACC_N_BUDGETS] = {0.1, 0.2, 0.5};
static const kv_policy_t sweep_policies[ACC_N_POLICIES] = {
    KV_STREAMING, KV_H2O, KV_SNAPKV, KV_TOVA, KV_CAKE, KV_D2O, KV_QUEST, KV_MPCACHE};

typedef struct acc_opts {
    const char *policy, *engine, *model, *tokenizer, *data, *out, *seed;
    double budget, static_keep;
    int static_keep_set;
    int cluster_a, cluster_b;
    int prefill, windows, threads; /* threads 0: one per online CPU */
    int scored;                    /* scored tokens per window; 0: all */
    int windows_set;
    int json, sweep;
} acc_opts_t;

/* One policy configuration and what it scored. */
typedef struct acc_run {
    kv_config_t cfg;
    eval_sums_t sums;
    double time_s; /* engine seconds of its passes, summed over threads */
    long steps;    /* positions run in them */
} acc_run_t;

/* The engine that yields the logits, and what it owns. */
typedef struct acc_engine {
    fwd_t *f;
    eval_fixed_t *fx;
    acc_secure_t *sec;
    eval_engine_t eng;
} acc_engine_t;

/* Everything a run loads. */
typedef struct acc_data {
    model_t *m;
    tok_t *t;
    int *tokens; /* (n_windows, n_tok) */
    int n_windows, n_tok;
    int n_use;            /* tokens run of each window: the prompt, the scored tokens and one */
    char model_name[256]; /* the model file's name without folder and ".bin" */
} acc_data_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mpcllm-bench accuracy --policy NAME [--budget R] [--static-keep S]\n"
            "                             [--clusters A,B] [--engine float|fixed|secure]\n"
            "                             [--seed S] [--model PATH] [--tokenizer PATH]\n"
            "                             [--data PATH] [--prefill P] [--windows W]\n"
            "                             [--scored N] [--threads N] [--json]\n"
            "       mpcllm-bench accuracy --sweep [--out DIR] [...the same files and sizes]\n"
            "\n"
            "Teacher-forced perplexity of a KV-cache policy on TinyStories windows of the\n"
            "model's context: the first P tokens (%d) are the prompt, the rest are scored\n"
            "one decode step at a time, against the full cache on the same windows.\n"
            "Policies: full, streaming, h2o, snapkv, tova, cake, d2o, quest, mpcache.\n"
            "--budget R (0.25) is the fraction attended per step; mpcache needs R <= S\n"
            "(--static-keep, 0.5). --windows W (%d) windows are scored, --scored N tokens\n"
            "of each (all of them).\n"
            "--engine fixed: the fixed-point plain engine with the rounding stream of test\n"
            "seed S (--seed, %s), every policy. --engine secure: the three roles in this\n"
            "process, the dealer under test seed S, checked step by step against the fixed\n"
            "engine (matches_fixed); full, streaming, h2o, mpcache; by default %d window and\n"
            "%d scored tokens.\n"
            "--sweep runs every budgeted policy at R = 0.1, 0.2, 0.5 (S = max(0.5, R)) and\n"
            "writes DIR/accuracy.jsonl, DIR/accuracy.md and DIR/accuracy.png (gnuplot).\n",
            ACC_DEFAULT_PREFILL, ACC_DEFAULT_WINDOWS, ACC_DEFAULT_SEED, ACC_SECURE_WINDOWS,
            ACC_SECURE_SCORED);
}

/* Parses all of s as a finite double. */
static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Parses all of s as an int in lo..hi. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* Parses "A,B" as two positive ints. */
static int parse_clusters(const char *s, int *a, int *b)
{
    const char *comma = strchr(s, ',');
    char first[32];
    if (!comma || (size_t)(comma - s) >= sizeof first) return -1;
    memcpy(first, s, (size_t)(comma - s));
    first[comma - s] = '\0';
    return parse_int(first, 1, 1 << 20, a) || parse_int(comma + 1, 1, 1 << 20, b) ? -1 : 0;
}

/* Reads the options into o; returns -1 after printing why (exit 2), 1 for
 * --help (exit 0), 0 to run. */
static int parse_args(int argc, char **argv, acc_opts_t *o)
{
    static const struct option opts[] = {{"policy", required_argument, 0, 'p'},
                                         {"budget", required_argument, 0, 'b'},
                                         {"static-keep", required_argument, 0, 's'},
                                         {"clusters", required_argument, 0, 'c'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"model", required_argument, 0, 'm'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"data", required_argument, 0, 'd'},
                                         {"prefill", required_argument, 0, 'P'},
                                         {"windows", required_argument, 0, 'W'},
                                         {"scored", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 'x'},
                                         {"sweep", no_argument, 0, 'S'},
                                         {"out", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 'T'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *me = "mpcllm-bench accuracy";
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            o->policy = optarg;
            break;
        case 'b':
            if (parse_double(optarg, &o->budget) || !(o->budget > 0 && o->budget <= 1)) {
                fprintf(stderr, "%s: --budget %s is not a number in (0, 1]\n", me, optarg);
                return -1;
            }
            break;
        case 's':
            if (parse_double(optarg, &o->static_keep) ||
                !(o->static_keep > 0 && o->static_keep <= 1)) {
                fprintf(stderr, "%s: --static-keep %s is not a number in (0, 1]\n", me, optarg);
                return -1;
            }
            o->static_keep_set = 1;
            break;
        case 'c':
            if (parse_clusters(optarg, &o->cluster_a, &o->cluster_b) ||
                o->cluster_a % o->cluster_b) {
                fprintf(stderr, "%s: --clusters %s is not A,B with A a multiple of B\n", me,
                        optarg);
                return -1;
            }
            break;
        case 'e':
            if (strcmp(optarg, "float") && strcmp(optarg, "fixed") && strcmp(optarg, "secure")) {
                fprintf(stderr, "%s: --engine %s is not float, fixed or secure\n", me, optarg);
                return -1;
            }
            o->engine = optarg;
            break;
        case 'm':
            o->model = optarg;
            break;
        case 't':
            o->tokenizer = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'P':
            if (parse_int(optarg, 1, MODEL_MAX_SEQ, &o->prefill)) {
                fprintf(stderr, "%s: --prefill %s is not a positive count\n", me, optarg);
                return -1;
            }
            break;
        case 'W':
            if (parse_int(optarg, 1, 1 << 20, &o->windows)) {
                fprintf(stderr, "%s: --windows %s is not a positive count\n", me, optarg);
                return -1;
            }
            o->windows_set = 1;
            break;
        case 'n':
            if (parse_int(optarg, 1, MODEL_MAX_SEQ, &o->scored)) {
                fprintf(stderr, "%s: --scored %s is not a positive count\n", me, optarg);
                return -1;
            }
            break;
        case 'x':
            if (!*optarg) {
                fprintf(stderr, "%s: --seed needs a value\n", me);
                return -1;
            }
            o->seed = optarg;
            break;
        case 'T':
            if (parse_int(optarg, 1, ACC_MAX_THREADS, &o->threads)) {
                fprintf(stderr, "%s: --threads %s is not in 1..%d\n", me, optarg, ACC_MAX_THREADS);
                return -1;
            }
            break;
        case 'S':
            o->sweep = 1;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fprintf(stderr, "%s: unknown option or missing value '%s' (see --help)\n", me,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", me, argv[optind]);
        return -1;
    }
    if (!o->sweep && !o->policy) {
        fprintf(stderr, "%s: --policy NAME is required (or --sweep)\n", me);
        return -1;
    }
    if (!strcmp(o->engine, "secure")) {
        if (o->sweep) {
            fprintf(stderr,
                    "%s: --sweep runs the float and fixed engines; the secure engine "
                    "scores one policy on a slice\n",
                    me);
            return -1;
        }
        if (!o->windows_set) o->windows = ACC_SECURE_WINDOWS;
        if (!o->scored) o->scored = ACC_SECURE_SCORED;
        if (!o->threads) o->threads = 1;
    }
    return 0;
}

/* The kv configuration of policy at budget R with the options' knobs. */
static kv_config_t make_config(const acc_opts_t *o, kv_policy_t policy, double budget,
                               double static_keep)
{
    kv_config_t c;
    kv_config_default(&c);
    c.policy = policy;
    c.budget = budget;
    c.static_keep = static_keep;
    if (o->cluster_a) {
        c.cluster_coarse = o->cluster_a;
        c.cluster_fine = o->cluster_b;
    }
    return c;
}

/* Finds name in data/, ../shared/data/ and $MPCLLM_SHARED/data/ (the model
 * lookup of plain_find, for the text). 0, or -1 after printing where it
 * looked and where to get the file. */
static int find_data(const char *name, char *path, size_t cap)
{
    const char *shared = getenv("MPCLLM_SHARED");
    for (int i = 0; i < 3; i++) {
        int n;
        if (i == 0)
            n = snprintf(path, cap, "data/%s", name);
        else if (i == 1)
            n = snprintf(path, cap, "../shared/data/%s", name);
        else if (shared && shared[0])
            n = snprintf(path, cap, "%s/data/%s", shared, name);
        else
            break;
        if (n >= 0 && (size_t)n < cap && access(path, R_OK) == 0) return 0;
    }
    fprintf(stderr,
            "mpcllm-bench accuracy: %s not found in data/, ../shared/data/ or "
            "$MPCLLM_SHARED/data/; it is the first 800 stories of TinyStories' validation "
            "split (huggingface.co/datasets/roneneldan/TinyStories), separated by "
            "\"\\n<|endoftext|>\\n\"; or pass --data PATH\n",
            name);
    return -1;
}

/* Reads the whole file at path, NUL-terminated, into a heap buffer (caller
 * frees); NULL after printing why. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
    } else {
        fprintf(stderr, "mpcllm-bench accuracy: cannot read %s: %s\n", path,
                buf ? "read failed"
                : f ? "out of memory or not seekable"
                    : strerror(errno));
        free(buf);
        buf = NULL;
    }
    if (f) fclose(f);
    return buf;
}

/* The tokenizer beside model_path, else the default lookup. */
static mpc_err_t find_tokenizer(const char *model_path, char *path, size_t cap, char *err)
{
    const char *slash = strrchr(model_path, '/');
    const int dir_len = slash ? (int)(slash - model_path) + 1 : 0;
    const int n = snprintf(path, cap, "%.*s%s", dir_len, model_path, PLAIN_DEFAULT_TOKENIZER);
    if (n >= 0 && (size_t)n < cap && access(path, R_OK) == 0) return MPC_OK;
    return plain_find(PLAIN_DEFAULT_TOKENIZER, path, cap, err);
}

static void data_free(acc_data_t *d)
{
    free(d->tokens);
    tok_free(&d->t);
    model_free(&d->m);
    memset(d, 0, sizeof *d);
}

/* Loads the model, the tokenizer and the windows. 0, 1 on a runtime error
 * and 2 on a bad --prefill, after printing why. */
static int data_load(const acc_opts_t *o, acc_data_t *d)
{
    char mbuf[ACC_PATH_BYTES], tbuf[ACC_PATH_BYTES], dbuf[ACC_PATH_BYTES];
    char err[CHAN_ERR_BYTES] = "";
    const char *mpath = o->model, *tpath = o->tokenizer, *dpath = o->data;
    mpc_err_t e = MPC_OK;
    memset(d, 0, sizeof *d);
    if (!mpath) {
        e = plain_find(PLAIN_DEFAULT_MODEL, mbuf, sizeof mbuf, err);
        mpath = mbuf;
    }
    if (e == MPC_OK) e = model_load(&d->m, mpath, err);
    const char *base = strrchr(mpath, '/') ? strrchr(mpath, '/') + 1 : mpath;
    const size_t base_len = strlen(base);
    const int stem =
        base_len > 4 && !strcmp(base + base_len - 4, ".bin") ? (int)base_len - 4 : (int)base_len;
    snprintf(d->model_name, sizeof d->model_name, "%.*s", stem, base);
    if (e == MPC_OK && !tpath) {
        e = find_tokenizer(mpath, tbuf, sizeof tbuf, err);
        tpath = tbuf;
    }
    if (e == MPC_OK) e = tok_load(&d->t, tpath, d->m->cfg.vocab_size, err);
    if (e != MPC_OK) {
        fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
        data_free(d);
        return 1;
    }
    d->n_tok = d->m->cfg.seq_len;
    if (o->prefill > d->n_tok - 2) {
        fprintf(stderr,
                "mpcllm-bench accuracy: --prefill %d leaves nothing to score in windows of %d "
                "tokens (at most %d)\n",
                o->prefill, d->n_tok, d->n_tok - 2);
        data_free(d);
        return 2;
    }
    d->n_use = d->n_tok;
    if (o->scored) {
        if (o->scored > d->n_tok - 1 - o->prefill) {
            fprintf(stderr,
                    "mpcllm-bench accuracy: --scored %d after a prompt of %d does not fit windows "
                    "of %d tokens (at most %d)\n",
                    o->scored, o->prefill, d->n_tok, d->n_tok - 1 - o->prefill);
            data_free(d);
            return 2;
        }
        d->n_use = o->prefill + 1 + o->scored;
    }
    if (!dpath) {
        if (find_data(ACC_DATA_FILE, dbuf, sizeof dbuf)) {
            data_free(d);
            return 1;
        }
        dpath = dbuf;
    }
    char *text = read_text(dpath);
    d->tokens = malloc((size_t)o->windows * (size_t)d->n_tok * sizeof *d->tokens);
    if (!text || !d->tokens) {
        if (text) fprintf(stderr, "mpcllm-bench accuracy: out of memory for the windows\n");
        free(text);
        data_free(d);
        return 1;
    }
    e = eval_windows(d->t, text, d->n_tok, o->windows, d->tokens, &d->n_windows, err);
    free(text);
    if (e != MPC_OK || d->n_windows < o->windows) {
        if (e == MPC_OK)
            fprintf(stderr, "mpcllm-bench accuracy: %s fills only %d windows of %d tokens\n", dpath,
                    d->n_windows, d->n_tok);
        else
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
        data_free(d);
        return 1;
    }
    return 0;
}

/* Opens the engine called name for m; seed is the test seed (fixed: its
 * rounding stream; secure: the dealer's). 0, or 1 after printing why. */
static int engine_open(acc_engine_t *en, const char *name, const model_t *m, const char *seed)
{
    char err[CHAN_ERR_BYTES] = "";
    uint8_t test_seed[16], round_seed[16];
    cli_test_seed(test_seed, seed); /* as mpcllm generate --test-seed / --seed */
    prg_seed_derive(round_seed, test_seed, "round");
    memset(en, 0, sizeof *en);
    if (!strcmp(name, "float")) {
        if (fwd_new(&en->f, m, err) != MPC_OK) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
            return 1;
        }
        eval_engine_float(&en->eng, en->f);
        return 0;
    }
    if (!strcmp(name, "fixed")) {
        if (eval_engine_fixed(&en->eng, &en->fx, m, FXP_FRAC_BITS_DEFAULT, round_seed, err) !=
            MPC_OK) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
            return 1;
        }
        return 0;
    }
    MPC_ASSERT(!strcmp(name, "secure"));
    if (acc_secure_new(&en->sec, &en->eng, m, FXP_FRAC_BITS_DEFAULT, test_seed, err) != MPC_OK) {
        fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
        return 1;
    }
    return 0;
}

static void engine_close(acc_engine_t *en)
{
    fwd_free(&en->f);
    eval_fixed_free(&en->fx);
    acc_secure_free(&en->sec);
}

/* One scoring thread: windows first, first + stride, ... on its own engine
 * and scoring state. Each window's sums go to their own slot, so that the
 * totals are summed in window order whatever the number of threads. */
typedef struct acc_worker {
    const acc_data_t *d;
    const eval_engine_t *eng;
    const acc_run_t *runs;
    int n_runs, prefill, first, stride;
    eval_sums_t *win_sums; /* (n_runs, n_windows), shared; slots are disjoint */
    atomic_int *done;      /* windows finished, over all workers */
    double run_s[ACC_MAX_RUNS], full_s;
    int rc;
    char err[CHAN_ERR_BYTES];
} acc_worker_t;

static void *worker_main(void *arg)
{
    acc_worker_t *wk = arg;
    const acc_data_t *d = wk->d;
    eval_t *ev = NULL;
    if (eval_new(&ev, d->m, wk->err) != MPC_OK) {
        wk->rc = 1;
        return NULL;
    }
    const int progress = isatty(2);
    for (int w = wk->first; w < d->n_windows && !wk->rc; w += wk->stride) {
        double t0 = now_s();
        const int *tokens = d->tokens + (size_t)w * (size_t)d->n_tok;
        if (eval_reference(ev, wk->eng, tokens, d->n_use, wk->prefill, wk->err) != MPC_OK) {
            wk->rc = 1;
            break;
        }
        wk->full_s += now_s() - t0;
        for (int r = 0; r < wk->n_runs && !wk->rc; r++) {
            t0 = now_s();
            eval_sums_t *s = &wk->win_sums[(size_t)r * (size_t)d->n_windows + (size_t)w];
            if (eval_policy(ev, wk->eng, &wk->runs[r].cfg, s, wk->err) != MPC_OK) wk->rc = 1;
            wk->run_s[r] += now_s() - t0;
        }
        const int done = atomic_fetch_add(wk->done, 1) + 1;
        if (progress) fprintf(stderr, "\raccuracy: window %d/%d", done, d->n_windows);
    }
    eval_free(&ev);
    return NULL;
}

/* Scores every run on every window with n_engines threads, one per engine:
 * the full cache once per window, then each run's policy. Fills each run's
 * sums, time_s (engine seconds, over all threads) and steps, and *full_s and
 * *full_steps for the full passes. 0, or 1 after printing why. */
static int score_all(const acc_data_t *d, const acc_engine_t *engines, int n_engines, int prefill,
                     acc_run_t *runs, int n_runs, double *full_s, long *full_steps)
{
    acc_worker_t wk[ACC_MAX_THREADS];
    pthread_t th[ACC_MAX_THREADS];
    int started[ACC_MAX_THREADS] = {0};
    eval_sums_t *win_sums = calloc((size_t)n_runs * (size_t)d->n_windows, sizeof *win_sums);
    if (!win_sums) {
        fprintf(stderr, "mpcllm-bench accuracy: out of memory\n");
        return 1;
    }
    atomic_int done;
    atomic_init(&done, 0);
    int rc = 0;
    for (int i = 0; i < n_engines; i++) {
        wk[i] = (acc_worker_t){.d = d,
                               .eng = &engines[i].eng,
                               .runs = runs,
                               .n_runs = n_runs,
                               .prefill = prefill,
                               .first = i,
                               .stride = n_engines,
                               .win_sums = win_sums,
                               .done = &done};
        started[i] = i == 0 || pthread_create(&th[i], NULL, worker_main, &wk[i]) == 0;
        if (!started[i]) {
            snprintf(wk[i].err, sizeof wk[i].err, "cannot start scoring thread %d", i);
            wk[i].rc = 1;
        }
    }
    worker_main(&wk[0]);
    for (int i = 1; i < n_engines; i++)
        if (started[i]) pthread_join(th[i], NULL);
    if (isatty(2)) fputc('\n', stderr);
    *full_s = 0.0;
    *full_steps = (long)d->n_windows * (d->n_use - 1);
    for (int i = 0; i < n_engines; i++) {
        if (wk[i].rc && !rc) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", wk[i].err);
            rc = 1;
        }
        *full_s += wk[i].full_s;
        for (int r = 0; r < n_runs; r++)
            runs[r].time_s += wk[i].run_s[r];
    }
    for (int r = 0; r < n_runs; r++) {
        eval_sums_t *t = &runs[r].sums;
        runs[r].steps = *full_steps;
        for (int w = 0; w < d->n_windows; w++) {
            const eval_sums_t *s = &win_sums[(size_t)r * (size_t)d->n_windows + (size_t)w];
            t->nll += s->nll;
            t->nll_full += s->nll_full;
            t->kl += s->kl;
            t->top1 += s->top1;
            t->n += s->n;
            t->attended += s->attended;
            t->attended_full += s->attended_full;
        }
    }
    free(win_sums);
    return rc;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* One run's JSON object, on one line; sec: the secure engine's check
 * against the fixed engine, or NULL. */
static void write_json(FILE *out, const acc_opts_t *o, const acc_data_t *d, const acc_run_t *r,
                       double full_s, long full_steps, double wall_s, int threads,
                       const acc_secure_report_t *sec)
{
    const eval_sums_t *s = &r->sums;
    const double n = s->n > 0 ? (double)s->n : NAN;
    fprintf(out,
            "{\"engine\":\"%s\",\"policy\":\"%s\",\"budget\":%.9g,\"static_keep\":%.9g,"
            "\"clusters\":[%d,%d],\"ppl\":%.9g,\"ppl_full\":%.9g,\"kl\":%.9g,"
            "\"top1_agree\":%.9g,\"scored_tokens\":%ld,\"attended_ratio\":%.9g,"
            "\"prefill\":%d,\"window_tokens\":%d,\"windows\":%d,\"time_s\":%.6g,"
            "\"tok_per_s\":%.6g,\"full_tok_per_s\":%.6g,\"wall_s\":%.6g,\"threads\":%d",
            o->engine, kv_policy_name(r->cfg.policy), r->cfg.budget, r->cfg.static_keep,
            r->cfg.cluster_coarse, r->cfg.cluster_fine, eval_sums_ppl(s), eval_sums_ppl_full(s),
            s->kl / n, (double)s->top1 / n, s->n,
            ratio((double)s->attended, (double)s->attended_full), o->prefill, d->n_use,
            d->n_windows, r->time_s, ratio((double)r->steps, r->time_s),
            ratio((double)full_steps, full_s), wall_s, threads);
    if (strcmp(o->engine, "float")) fprintf(out, ",\"seed\":\"%s\"", o->seed);
    if (sec)
        fprintf(out,
                ",\"matches_fixed\":%s,\"max_logit_diff\":%.9g,\"compared_steps\":%ld,"
                "\"online_bytes\":%llu,\"rounds\":%llu",
                sec->steps > 0 && sec->mismatched == 0 ? "true" : "false", sec->max_diff,
                sec->steps, (unsigned long long)sec->online_bytes, (unsigned long long)sec->rounds);
    fputs("}\n", out);
}

/* One run's summary for a person. */
static void write_text(FILE *out, const acc_opts_t *o, const acc_data_t *d, const acc_run_t *r,
                       double full_s, long full_steps, double wall_s, int threads,
                       const acc_secure_report_t *sec)
{
    const eval_sums_t *s = &r->sums;
    const double ppl = eval_sums_ppl(s), ppl_full = eval_sums_ppl_full(s);
    fprintf(out,
            "%s, budget %g (static keep %g, clusters %d,%d), %s engine:\n"
            "  ppl %.4f, full cache %.4f (ratio %.4f), KL(full||policy) %.5f, top-1 agreement "
            "%.4f\n"
            "  %ld tokens scored in %d windows of %d (prompt %d); attended %.3f of the full "
            "cache\n"
            "  per thread: %.0f tok/s under the policy, %.0f tok/s with the full cache; "
            "%.1f s on %d threads\n",
            kv_policy_name(r->cfg.policy), r->cfg.budget, r->cfg.static_keep, r->cfg.cluster_coarse,
            r->cfg.cluster_fine, o->engine, ppl, ppl_full, ratio(ppl, ppl_full),
            s->kl / (double)s->n, (double)s->top1 / (double)s->n, s->n, d->n_windows, d->n_use,
            o->prefill, ratio((double)s->attended, (double)s->attended_full),
            ratio((double)r->steps, r->time_s), ratio((double)full_steps, full_s), wall_s, threads);
    if (sec)
        fprintf(out,
                "  %s the fixed engine with seed %s bit for bit: %ld of %ld steps differ, by at "
                "most %.6g; %.2f MB online over %llu rounds\n",
                sec->steps > 0 && sec->mismatched == 0 ? "equals" : "DIFFERS FROM", o->seed,
                sec->mismatched, sec->steps, sec->max_diff, (double)sec->online_bytes / 1e6,
                (unsigned long long)sec->rounds);
}

/* 1 when sweep policy p attended more than 5% over MPCache at some R: its
 * own rule leaves layers whole (D2O, Quest), so its figures are not at the
 * common budget, which MPCache's runs hold. */
static int attends_more(const acc_run_t *runs, int p)
{
    int mp = 0;
    while (sweep_policies[mp] != KV_MPCACHE)
        mp++;
    for (int b = 0; b < ACC_N_BUDGETS; b++) {
        const eval_sums_t *s = &runs[p * ACC_N_BUDGETS + b].sums;
        const eval_sums_t *m = &runs[mp * ACC_N_BUDGETS + b].sums;
        if ((double)s->attended > 1.05 * (double)m->attended) return 1;
    }
    return 0;
}

/* The Markdown tables of a sweep: policies x budgets, one table per figure. */
static void write_markdown(FILE *out, const acc_opts_t *o, const acc_data_t *d,
                           const acc_run_t *runs)
{
    const eval_sums_t *s0 = &runs[0].sums;
    fprintf(out,
            "# KV-cache policies: teacher-forced accuracy\n\n"
            "%s, %s engine, %d windows of %d tokens of TinyStories, prompt %d, %ld tokens "
            "scored per policy; clusters %d,%d; static keep S = max(0.5, R). Full cache: "
            "ppl %.4f. A * marks a policy whose own rule leaves layers whole, so that it "
            "attends more than the common budget (last table).\n",
            d->model_name, o->engine, d->n_windows, d->n_use, o->prefill, s0->n,
            runs[0].cfg.cluster_coarse, runs[0].cfg.cluster_fine, eval_sums_ppl_full(s0));
    static const char *const titles[4] = {
        "Perplexity / full-cache perplexity", "Mean KL(full || policy) per token (nats)",
        "Top-1 agreement with the full cache", "Attended tokens / full cache's"};
    for (int fig = 0; fig < 4; fig++) {
        fprintf(out, "\n## %s\n\n| policy |", titles[fig]);
        for (int b = 0; b < ACC_N_BUDGETS; b++)
            fprintf(out, " R = %g |", sweep_budgets[b]);
        fprintf(out, "\n| --- |");
        for (int b = 0; b < ACC_N_BUDGETS; b++)
            fprintf(out, " ---: |");
        fputc('\n', out);
        for (int p = 0; p < ACC_N_POLICIES; p++) {
            fprintf(out, "| %s%s |", kv_policy_name(sweep_policies[p]),
                    attends_more(runs, p) ? "*" : "");
            for (int b = 0; b < ACC_N_BUDGETS; b++) {
                const eval_sums_t *s = &runs[p * ACC_N_BUDGETS + b].sums;
                const double n = (double)s->n;
                switch (fig) {
                case 0:
                    fprintf(out, " %.4f |", ratio(eval_sums_ppl(s), eval_sums_ppl_full(s)));
                    break;
                case 1:
                    fprintf(out, " %.5f |", s->kl / n);
                    break;
                case 2:
                    fprintf(out, " %.4f |", (double)s->top1 / n);
                    break;
                default:
                    fprintf(out, " %.3f |", ratio((double)s->attended, (double)s->attended_full));
                }
            }
            fputc('\n', out);
        }
    }
}

/* The gnuplot script of the sweep's plot: three panels against R (ppl
 * ratio, KL, top-1 agreement), one line per policy, data inline. */
static void write_gnuplot(FILE *out, const char *png, const acc_opts_t *o, const acc_data_t *d,
                          const acc_run_t *runs)
{
    fprintf(out, "set terminal pngcairo size 1500,520 font 'sans,11'\nset output '%s'\n", png);
    fprintf(out, "$d << EOD\n");
    for (int b = 0; b < ACC_N_BUDGETS; b++) {
        fprintf(out, "%g", sweep_budgets[b]);
        for (int p = 0; p < ACC_N_POLICIES; p++) {
            const eval_sums_t *s = &runs[p * ACC_N_BUDGETS + b].sums;
            fprintf(out, " %.6g %.6g %.6g", ratio(eval_sums_ppl(s), eval_sums_ppl_full(s)),
                    s->kl / (double)s->n, (double)s->top1 / (double)s->n);
        }
        fputc('\n', out);
    }
    fprintf(out, "EOD\nnames = \"");
    for (int p = 0; p < ACC_N_POLICIES; p++)
        fprintf(out, "%s%s%s", p ? " " : "", kv_policy_name(sweep_policies[p]),
                attends_more(runs, p) ? "*" : "");
    fprintf(out,
            "\"\n"
            "set multiplot layout 1,3 title '%s, %s engine, clusters %d,%d: %d windows of %d "
            "tokens, prompt %d, "
            "%ld tokens scored teacher-forced; * attends more than the common budget "
            "(layers left whole)'\n"
            "set xlabel 'budget R (fraction attended per step)'\n"
            "set logscale x\nset xtics (0.1, 0.2, 0.5)\nset xrange [0.085:0.6]\n"
            "set grid\nset key top right box opaque\nset offsets 0, 0, graph 0.45, 0\n"
            "set title 'perplexity / full-cache perplexity'\n"
            "plot for [i=1:%d] $d using 1:(column(3*i-1)) with linespoints lw 2 pt i ps 1.3 "
            "title word(names, i), 1 with lines dt 2 lc 'black' notitle\n"
            "set offsets 0, 0, 0, 0\nset key off\nset logscale y\n"
            "set title 'mean KL(full || policy) per token, nats'\n"
            "plot for [i=1:%d] $d using 1:(column(3*i)) with linespoints lw 2 pt i ps 1.3\n"
            "unset logscale y\nset title 'top-1 agreement with the full cache'\n"
            "set yrange [*:1]\n"
            "plot for [i=1:%d] $d using 1:(column(3*i+1)) with linespoints lw 2 pt i ps 1.3\n"
            "unset multiplot\n",
            d->model_name, o->engine, runs[0].cfg.cluster_coarse, runs[0].cfg.cluster_fine,
            d->n_windows, d->n_use, o->prefill, runs[0].sums.n, ACC_N_POLICIES, ACC_N_POLICIES,
            ACC_N_POLICIES);
}

/* Runs gnuplot on script; 0, or -1 (after saying why) when it is missing or
 * fails. */
static int run_gnuplot(const char *script)
{
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        fprintf(stderr, "mpcllm-bench accuracy: gnuplot not found (Debian: gnuplot-nox); "
                        "the table is written, the plot is not\n");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "mpcllm-bench accuracy: gnuplot failed on %s; the plot is not written\n",
                script);
        return -1;
    }
    return 0;
}

/* Opens dir/name for writing into *f; 0, or 1 after printing why. */
static int open_out(const char *dir, const char *name, char *path, FILE **f)
{
    const int n = snprintf(path, ACC_PATH_BYTES, "%s/%s", dir, name);
    *f = n >= 0 && n < ACC_PATH_BYTES ? fopen(path, "w") : NULL;
    if (!*f) {
        fprintf(stderr, "mpcllm-bench accuracy: cannot write %s/%s: %s\n", dir, name,
                strerror(errno));
        return 1;
    }
    return 0;
}

/* Closes f, reporting a write error; 0 or 1. */
static int close_out(FILE *f, const char *path)
{
    const int bad = ferror(f) | fclose(f);
    if (bad) fprintf(stderr, "mpcllm-bench accuracy: writing %s failed\n", path);
    return bad ? 1 : 0;
}

/* Writes the sweep's files into o->out and prints the table on stderr. */
static int write_sweep(const acc_opts_t *o, const acc_data_t *d, const acc_run_t *runs, int n_runs,
                       double full_s, long full_steps, double wall_s, int threads)
{
    char path[ACC_PATH_BYTES], png[ACC_PATH_BYTES];
    FILE *f;
    if (mkdir(o->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mpcllm-bench accuracy: cannot make %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    if (open_out(o->out, "accuracy.jsonl", path, &f)) return 1;
    for (int r = 0; r < n_runs; r++) {
        write_json(f, o, d, &runs[r], full_s, full_steps, wall_s, threads, NULL);
        if (o->json) write_json(stdout, o, d, &runs[r], full_s, full_steps, wall_s, threads, NULL);
    }
    if (close_out(f, path)) return 1;
    if (open_out(o->out, "accuracy.md", path, &f)) return 1;
    write_markdown(f, o, d, runs);
    if (close_out(f, path)) return 1;
    write_markdown(stderr, o, d, runs);
    fprintf(stderr,
            "\n%s engine: %.0f tok/s per thread with the full cache; %.1f s on %d threads\n",
            o->engine, ratio((double)full_steps, full_s), wall_s, threads);
    if (strchr(o->out, '\'')) {
        fprintf(stderr, "mpcllm-bench accuracy: %s has a quote in its name; no plot\n", o->out);
        return 0;
    }
    snprintf(png, sizeof png, "%s/accuracy.png", o->out);
    if (open_out(o->out, "accuracy.gp", path, &f)) return 1;
    write_gnuplot(f, png, o, d, runs);
    if (close_out(f, path)) return 1;
    if (run_gnuplot(path) == 0)
        fprintf(stderr, "wrote %s/accuracy.jsonl, accuracy.md and accuracy.png\n", o->out);
    return 0;
}

int bench_accuracy_main(int argc, char **argv)
{
    acc_opts_t o = {.engine = "float",
                    .out = ".",
                    .budget = 0.25,
                    .static_keep = 0.5,
                    .seed = ACC_DEFAULT_SEED,
                    .prefill = ACC_DEFAULT_PREFILL,
                    .windows = ACC_DEFAULT_WINDOWS};
    const int parsed = parse_args(argc, argv, &o);
    if (parsed) return parsed < 0 ? 2 : 0;

    acc_run_t runs[ACC_MAX_RUNS];
    int n_runs = 0;
    memset(runs, 0, sizeof runs);
    if (o.sweep) {
        for (int p = 0; p < ACC_N_POLICIES; p++)
            for (int b = 0; b < ACC_N_BUDGETS; b++) {
                const double r = sweep_budgets[b];
                runs[n_runs++].cfg = make_config(&o, sweep_policies[p], r, r > 0.5 ? r : 0.5);
            }
    } else {
        kv_policy_t policy;
        char msg[CHAN_ERR_BYTES];
        if (kv_policy_parse(o.policy, &policy, msg, sizeof msg) != MPC_OK) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", msg);
            return 2;
        }
        if (policy == KV_MPCACHE && o.budget > o.static_keep) {
            fprintf(stderr,
                    "mpcllm-bench accuracy: mpcache needs --budget %g <= --static-keep %g\n",
                    o.budget, o.static_keep);
            return 2;
        }
        if (!strcmp(o.engine, "secure") && !acc_secure_runs(policy)) {
            fprintf(stderr,
                    "mpcllm-bench accuracy: the secure engine runs full, streaming, h2o and "
                    "mpcache; %s runs on --engine fixed or float\n",
                    o.policy);
            return 2;
        }
        runs[n_runs++].cfg = make_config(&o, policy, o.budget, o.static_keep);
    }

    acc_data_t d;
    int rc = data_load(&o, &d);
    if (rc) return rc;
    /* Settle configuration errors (exit 2) before any scoring. */
    for (int r = 0; r < n_runs; r++) {
        kv_config_t c = runs[r].cfg;
        char msg[CHAN_ERR_BYTES] = "";
        c.n_layers = d.m->cfg.n_layers;
        c.n_heads = d.m->cfg.n_heads;
        c.n_kv_heads = d.m->cfg.n_kv_heads;
        c.head_size = model_head_size(&d.m->cfg);
        c.seq_len = d.n_use;
        c.prompt_len = o.prefill;
        if (kv_config_check(&c, msg, sizeof msg) != MPC_OK) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", msg);
            data_free(&d);
            return 2;
        }
    }
    int n_threads = o.threads;
    if (n_threads == 0) {
        const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus < 1 ? 1 : cpus > ACC_MAX_THREADS ? ACC_MAX_THREADS : (int)cpus;
    }
    if (n_threads > d.n_windows) n_threads = d.n_windows;
    acc_engine_t en[ACC_MAX_THREADS];
    int n_open = 0;
    while (!rc && n_open < n_threads)
        rc = engine_open(&en[n_open++], o.engine, d.m, o.seed);
    double full_s = 0.0, wall_s = now_s();
    long full_steps = 0;
    if (!rc) rc = score_all(&d, en, n_threads, o.prefill, runs, n_runs, &full_s, &full_steps);
    /* the secure engine: the last sessions' tapes, and its check against the
     * fixed engine, over every engine */
    acc_secure_report_t sec = {0}, *secp = NULL;
    for (int i = 0; i < n_open && en[i].sec; i++) {
        char err[CHAN_ERR_BYTES] = "";
        acc_secure_report_t one;
        if (!rc && acc_secure_end(en[i].sec, err) != MPC_OK) {
            fprintf(stderr, "mpcllm-bench accuracy: %s\n", err);
            rc = 1;
        }
        acc_secure_report(en[i].sec, &one);
        sec.steps += one.steps;
        sec.mismatched += one.mismatched;
        sec.max_diff = one.max_diff > sec.max_diff ? one.max_diff : sec.max_diff;
        sec.online_bytes += one.online_bytes;
        sec.rounds += one.rounds;
        secp = &sec;
    }
    wall_s = now_s() - wall_s;
    if (!rc && o.sweep) {
        rc = write_sweep(&o, &d, runs, n_runs, full_s, full_steps, wall_s, n_threads);
    } else if (!rc) {
        if (o.json)
            write_json(stdout, &o, &d, &runs[0], full_s, full_steps, wall_s, n_threads, secp);
        else
            write_text(stdout, &o, &d, &runs[0], full_s, full_steps, wall_s, n_threads, secp);
        if (fflush(stdout) != 0) rc = 1;
    }
    for (int i = 0; i < n_open; i++)
        engine_close(&en[i]);
    data_free(&d);
    return rc;
}
