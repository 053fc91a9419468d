/* protocols/topk.c - top-k by ranks or by a pruned odd–even merge network,
 * with the cost model that chooses between them. Gen and eval walk the same
 * public schedule (the network depends on n and k only). */
#include "protocols/topk.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/bmat.h"
#include "protocols/cmp.h"
#include "protocols/eq.h"
#include "protocols/fss.h"

/* The model's compute terms, per party: one DCF tree level of a comparison
 * and one DPF tree level of a one-hot entry, as mpcllm-bench op measured
 * them on the development machine (both parties on its two cores; lt at
 * n = 10^6 and topk at n = 128 agree within 10%). */
#define TOPK_DCF_LEVEL_S 45e-9
#define TOPK_DPF_LEVEL_S 30e-9

topk_net_t topk_net_lan(void)
{
    return (topk_net_t){.bandwidth = 1e9 / 8, .rtt = 0.5e-3, .offline_weight = 0};
}

/* --- the network ------------------------------------------------------ */

/* A comparator network: comparator c is (ci[c], cj[c]), ci < cj, the larger
 * key going to ci; layer l is [end[l−1], end[l]). */
typedef struct sortnet {
    uint32_t *ci, *cj;
    size_t *end;
    size_t layers, count;
} sortnet_t;

/* Capacities for n: comparators and layers of the unpruned network on the
 * next power of two. */
static void net_caps(size_t n, size_t *comps, size_t *layers)
{
    size_t N = 1, t = 0;
    while (N < n) {
        N *= 2;
        t++;
    }
    *layers = t * (t + 1) / 2 + 1;
    *comps = *layers * (N / 2) + 1;
}

/* Builds Batcher's odd–even merge sort for n (decreasing), without the
 * comparators that touch a position >= n, then drops every comparator that
 * cannot reach an output in [0, k). live must hold n bytes, keep caps
 * comparator bytes. */
static void net_build(sortnet_t *s, size_t n, size_t k, uint8_t *live, uint8_t *keep)
{
    size_t N = 1;
    while (N < n) N *= 2;
    s->count = s->layers = 0;
    for (size_t p = 1; p < N; p *= 2)
        for (size_t kk = p; kk >= 1; kk /= 2) {
            for (size_t j = kk % p; j + kk < N; j += 2 * kk)
                for (size_t i = 0; i < kk && i + j + kk < N; i++)
                    if ((i + j) / (2 * p) == (i + j + kk) / (2 * p) && i + j + kk < n) {
                        s->ci[s->count] = (uint32_t)(i + j);
                        s->cj[s->count] = (uint32_t)(i + j + kk);
                        s->count++;
                    }
            s->end[s->layers++] = s->count;
        }
    /* Walk back from the outputs: a comparator is needed when one of its
     * outputs is; then both its inputs are. */
    for (size_t i = 0; i < n; i++) live[i] = i < k;
    for (size_t l = s->layers; l-- > 0;) {
        size_t lo = l ? s->end[l - 1] : 0;
        for (size_t c = lo; c < s->end[l]; c++) {
            keep[c] = live[s->ci[c]] || live[s->cj[c]];
            if (keep[c]) live[s->ci[c]] = live[s->cj[c]] = 1;
        }
    }
    size_t out = 0, layers = 0, lo = 0;
    for (size_t l = 0; l < s->layers; l++) {
        for (size_t c = lo; c < s->end[l]; c++)
            if (keep[c]) {
                s->ci[out] = s->ci[c];
                s->cj[out] = s->cj[c];
                out++;
            }
        lo = s->end[l];
        if (out > (layers ? s->end[layers - 1] : 0)) s->end[layers++] = out;
    }
    s->layers = layers;
    s->count = out;
}

/* The network in malloc'd memory (for the model and the twin); free with
 * net_free. */
static sortnet_t net_new(size_t n, size_t k)
{
    size_t comps, layers;
    net_caps(n, &comps, &layers);
    sortnet_t s = {0};
    s.ci = malloc(comps * sizeof *s.ci);
    s.cj = malloc(comps * sizeof *s.cj);
    s.end = malloc(layers * sizeof *s.end);
    uint8_t *live = malloc(n + comps);
    MPC_ASSERT(s.ci && s.cj && s.end && live);
    net_build(&s, n, k, live, live + n);
    free(live);
    return s;
}

static void net_free(sortnet_t *s)
{
    free(s->ci);
    free(s->cj);
    free(s->end);
}

/* The width of the combined keys. */
static int key_bits(size_t n, int nbits)
{
    return nbits + eq_index_bits(n);
}

/* --- cost model ------------------------------------------------------- */

topk_cost_t topk_cost(size_t rows, size_t n, size_t k, int nbits, topk_algo_t algo,
                      const topk_net_t *net)
{
    MPC_ASSERT(n >= 1 && k >= 1 && k <= n && nbits >= 2 && nbits <= 64);
    MPC_ASSERT(algo == TOPK_RANK || algo == TOPK_SORT);
    const int m = eq_index_bits(n);
    const uint64_t qm = bmat_word_bytes(m), kdpf = eq_onehot_key_bytes(n);
    topk_cost_t c = {0};
    double levels = 0, dpf_levels = 0;
    if (n == 1) return c;
    if (algo == TOPK_RANK) {
        uint64_t pairs = (uint64_t)n * (n - 1) / 2;
        c.comparisons = rows * pairs;
        c.rounds = 2;
        c.bytes = rows * (bmat_word_bytes(nbits) * pairs + qm * n);
        c.offline_bytes = c.comparisons * (fss_dcf_key_bytes(nbits - 1, FSS_Z64) + 8) +
                          rows * n * kdpf;
        levels = (double)c.comparisons * (nbits - 1);
        dpf_levels = (double)rows * n * k * m;
    } else {
        const int W = key_bits(n, nbits);
        if (W > 64) {
            c.rounds = UINT64_MAX;
            c.est_s = HUGE_VAL;
            return c;
        }
        sortnet_t s = net_new(n, k);
        c.comparisons = rows * s.count;
        c.rounds = 2 * s.layers + 1;
        c.bytes = 3 * bmat_word_bytes(W) * c.comparisons + rows * qm * k;
        c.offline_bytes = c.comparisons * (fss_dcf_key_bytes(W - 1, FSS_Z64) + 8 + 8) +
                          rows * k * kdpf;
        levels = (double)c.comparisons * (W - 1);
        dpf_levels = (double)rows * k * n * m;
        net_free(&s);
    }
    c.est_s = levels * TOPK_DCF_LEVEL_S + dpf_levels * TOPK_DPF_LEVEL_S +
              (double)c.bytes / net->bandwidth + (double)c.rounds * net->rtt / 2 +
              net->offline_weight * (double)c.offline_bytes / net->bandwidth;
    return c;
}

topk_algo_t topk_plan(size_t rows, size_t n, size_t k, int nbits, const topk_net_t *net)
{
    topk_cost_t a = topk_cost(rows, n, k, nbits, TOPK_RANK, net);
    topk_cost_t b = topk_cost(rows, n, k, nbits, TOPK_SORT, net);
    return b.est_s < a.est_s ? TOPK_SORT : TOPK_RANK;
}

static topk_algo_t resolve(size_t rows, size_t n, size_t k, int nbits, topk_algo_t algo)
{
    MPC_ASSERT(n >= 1 && k >= 1 && k <= n && nbits >= 2 && nbits <= 64);
    if (algo == TOPK_AUTO) {
        topk_net_t lan = topk_net_lan();
        algo = topk_plan(rows, n, k, nbits, &lan);
    }
    MPC_ASSERT(algo == TOPK_RANK || (algo == TOPK_SORT && key_bits(n, nbits) <= 64));
    return algo;
}

/* --- the protocol ----------------------------------------------------- */

/* The network in the arena (released by the caller's reset). */
static mpc_err_t net_arena(mpc_ctx_t *ctx, sortnet_t *s, size_t n, size_t k)
{
    size_t comps, layers;
    net_caps(n, &comps, &layers);
    s->ci = arena_alloc(&ctx->arena, comps * sizeof *s->ci);
    s->cj = arena_alloc(&ctx->arena, comps * sizeof *s->cj);
    s->end = arena_alloc(&ctx->arena, layers * sizeof *s->end);
    uint8_t *live = arena_alloc(&ctx->arena, n + comps);
    if (!s->ci || !s->cj || !s->end || !live)
        return mpc_fail(ctx, MPC_ENOMEM, "topk: out of memory for the network of %zu", n);
    net_build(s, n, k, live, live + n);
    return MPC_OK;
}

mpc_err_t topk_gen(mpc_ctx_t *ctx, size_t rows, size_t n, size_t k, int nbits, topk_algo_t algo)
{
    algo = resolve(rows, n, k, nbits, algo);
    if (n == 1) return MPC_OK;
    stats_push(&ctx->stats, "topk");
    arena_mark_t mark = arena_mark(&ctx->arena);
    mpc_err_t e = MPC_OK;
    if (algo == TOPK_RANK) {
        e = cmp_drelu_gen(ctx, rows * (n * (n - 1) / 2), nbits);
        if (!e) e = eq_onehot_gen(ctx, rows * n, n, k);
    } else {
        const int W = key_bits(n, nbits);
        sortnet_t s;
        e = net_arena(ctx, &s, n, k);
        for (size_t l = 0; l < s.layers && !e; l++) {
            size_t cnt = rows * (s.end[l] - (l ? s.end[l - 1] : 0));
            e = cmp_drelu_gen(ctx, cnt, W);
            if (!e) e = bmat_mul_gen(ctx, cnt, 1, 1, 1, W);
        }
        if (!e) e = eq_onehot_gen(ctx, rows * k, n, n);
    }
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

static mpc_err_t rank_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows,
                           size_t n, size_t k, int nbits)
{
    const size_t pairs = n * (n - 1) / 2;
    const uint64_t p0 = ctx->party == MPC_P0;
    uint64_t *c = arena_alloc(&ctx->arena, rows * pairs * sizeof *c);
    uint64_t *rank = arena_alloc(&ctx->arena, rows * n * (k + 1) * sizeof *rank);
    if (!c || !rank) return mpc_fail(ctx, MPC_ENOMEM, "topk: out of memory for %zu pairs", pairs);
    uint64_t *oh = rank + rows * n;
    for (size_t r = 0, t = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) c[t++] = x[r * n + i] - x[r * n + j];
    mpc_err_t e = cmp_drelu_eval(ctx, c, c, rows * pairs, nbits); /* [x_i >= x_j] */
    if (e) return e;
    for (size_t r = 0, t = 0; r < rows; r++) {
        uint64_t *rk = rank + r * n;
        for (size_t i = 0; i < n; i++) rk[i] = p0 * (n - 1 - i);
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++, t++) {
                rk[j] += c[t]; /* i precedes j */
                rk[i] -= c[t];
            }
    }
    e = eq_onehot_eval(ctx, oh, rank, rows * n, n, k);
    if (e) return e;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < k; j++) out[(r * k + j) * n + i] = oh[(r * n + i) * k + j];
    sodium_memzero(c, rows * pairs * sizeof *c);
    sodium_memzero(rank, rows * n * (k + 1) * sizeof *rank);
    return MPC_OK;
}

static mpc_err_t sort_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows,
                           size_t n, size_t k, int nbits)
{
    const int m = eq_index_bits(n), W = key_bits(n, nbits);
    const uint64_t p0 = ctx->party == MPC_P0, top = ((uint64_t)1 << m) - 1;
    sortnet_t s;
    mpc_err_t e = net_arena(ctx, &s, n, k);
    if (e) return e;
    size_t widest = 1;
    for (size_t l = 0; l < s.layers; l++) {
        size_t cnt = s.end[l] - (l ? s.end[l - 1] : 0);
        if (cnt > widest) widest = cnt;
    }
    uint64_t *key = arena_alloc(&ctx->arena, (rows * n + 3 * rows * widest) * sizeof *key);
    if (!key) return mpc_fail(ctx, MPC_ENOMEM, "topk: out of memory for %zu x %zu", rows, n);
    uint64_t *c = key + rows * n, *d = c + rows * widest, *z = d + rows * widest;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++)
            key[r * n + i] = (x[r * n + i] << m) + p0 * (top - i);
    for (size_t l = 0; l < s.layers && !e; l++) {
        const size_t lo = l ? s.end[l - 1] : 0, cnt = s.end[l] - lo;
        for (size_t r = 0; r < rows; r++)
            for (size_t t = 0; t < cnt; t++) {
                const uint64_t *kr = key + r * n;
                d[r * cnt + t] = kr[s.ci[lo + t]] - kr[s.cj[lo + t]];
            }
        e = cmp_drelu_eval(ctx, c, d, rows * cnt, W); /* [K_i > K_j]: keys are distinct */
        if (!e) e = bmat_mul_eval(ctx, z, c, d, rows * cnt, 1, 1, 1, W);
        if (e) break;
        for (size_t r = 0; r < rows; r++)
            for (size_t t = 0; t < cnt; t++) {
                uint64_t *kr = key + r * n, zz = z[r * cnt + t];
                uint64_t a = kr[s.ci[lo + t]], b = kr[s.cj[lo + t]];
                kr[s.ci[lo + t]] = b + zz; /* the larger */
                kr[s.cj[lo + t]] = a - zz;
            }
    }
    if (!e) {
        /* The index of rank j: 2^m − 1 − (K mod 2^m), read mod 2^m. */
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < k; j++) c[r * k + j] = p0 * top - key[r * n + j];
        e = eq_onehot_eval(ctx, out, c, rows * k, n, n);
    }
    sodium_memzero(key, (rows * n + 3 * rows * widest) * sizeof *key);
    return e;
}

mpc_err_t topk_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                    size_t k, int nbits, topk_algo_t algo)
{
    algo = resolve(rows, n, k, nbits, algo);
    if (n == 1) {
        for (size_t r = 0; r < rows; r++) out[r] = ctx->party == MPC_P0;
        return MPC_OK;
    }
    stats_push(&ctx->stats, "topk");
    arena_mark_t mark = arena_mark(&ctx->arena);
    mpc_err_t e = algo == TOPK_RANK ? rank_eval(ctx, out, x, rows, n, k, nbits)
                                    : sort_eval(ctx, out, x, rows, n, k, nbits);
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void topk_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, size_t k, int nbits,
                topk_algo_t algo)
{
    algo = resolve(rows, n, k, nbits, algo);
    memset(out, 0, rows * k * n * sizeof *out);
    uint64_t *key = malloc(n * sizeof *key);
    MPC_ASSERT(key);
    if (algo == TOPK_RANK) {
        for (size_t r = 0; r < rows; r++) {
            for (size_t i = 0; i < n; i++) key[i] = n - 1 - i; /* ranks */
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                    uint64_t c, dd = x[r * n + i] - x[r * n + j];
                    cmp_drelu_plain(&c, &dd, 1, nbits);
                    key[j] += c;
                    key[i] -= c;
                }
            for (size_t i = 0; i < n; i++)
                if (key[i] < k) out[(r * k + key[i]) * n + i] = 1;
        }
    } else {
        const int m = eq_index_bits(n), W = key_bits(n, nbits);
        const uint64_t top = ((uint64_t)1 << m) - 1;
        sortnet_t s = net_new(n, k);
        for (size_t r = 0; r < rows; r++) {
            for (size_t i = 0; i < n; i++) key[i] = (x[r * n + i] << m) + top - i;
            for (size_t c = 0; c < s.count; c++) {
                uint64_t bit, a = key[s.ci[c]], b = key[s.cj[c]], dd = a - b;
                cmp_drelu_plain(&bit, &dd, 1, W);
                key[s.ci[c]] = bit ? a : b;
                key[s.cj[c]] = bit ? b : a;
            }
            for (size_t j = 0; j < k; j++) out[(r * k + j) * n + (top - (key[j] & top))] = 1;
        }
        net_free(&s);
    }
    free(key);
}
