/* llm/xfwd_mpcache.c - MPCache inside the fixed-point engine: one code path
 * for the plain engine, the two parties and the dealer (DESIGN.md §7).
 *
 * Static, look-once eviction at the end of the prefill (per shared layer
 * pair). score_j = the sum over the window's queries and over all query
 * heads of the probability on key j (the mean over heads ranks alike). The
 * sinks [0, s) and the window [P - W, P) are always kept, so only the
 * middle [s, P - W) competes: a secure top-k of its k = B_s - s - W keeps a
 * public count and yields a k x n one-hot in rank order. The kept bits
 * b_i = sum of column i (local) and their prefix sums c_i (local) give each
 * kept key its place in position order; d_i = c_i + k (1 - b_i) sends the
 * evicted ones beyond k, so the one-hot of d_i on its first k columns
 * (one DPF round) is the compaction matrix M (k x n), in position order.
 * The middle's K and V rows of every KV head are gathered by M in one
 * Beaver product, and the new cache [sinks | M rows | window] is re-masked
 * by appending it afresh. Nothing but B_s (configuration) is revealed.
 *
 * Dynamic selection at each decode step, per KV head, over the kept cache
 * of T rows (kv_mpcache_plan fixes G1, K1, G2, K2 and the count):
 *   - each fine cluster (B rows) keeps r+ and r-, its per-dimension key max
 *     and min, computed by secure max once, when it fills; a coarse cluster
 *     (A rows) takes the max/min of its children. The summary
 *     alpha r+ + (1 - alpha) r- is truncated once and appended to a fixed
 *     operand, whose mask it keeps for life;
 *   - a cluster's score is (sum of the KV head's queries) . summary: one
 *     product over the fixed operand, whose only opening is the query's;
 *   - level 1: the top K1 - 2 of the coarse clusters 1 .. G1 - 2 (the sink
 *     cluster 0 and the newest G1 - 1 always survive) give each coarse
 *     cluster a secret survival bit a;
 *   - level 2: the fine clusters 1 .. G2 - 2 score SENT + a (s - SENT) (one
 *     product; a dead parent gives the sentinel), and their top K2 - 2 is
 *     the one-hot S2 ((K2 - 2) x (G2 - 2)). The sink cluster and the newest
 *     (partial) cluster are attended publicly, inside the budget.
 * Ties go to the lower index everywhere, as in the plaintext policy.
 *
 * Attention over the selection, form (a) of DESIGN.md §7: every kept
 * token's score costs only the query's opening (the K rows keep their
 * masks). S2 is opened once as a fixed operand (its mask then serves both
 * products below, and the shared layer of a pair); the middle scores, as a
 * (G2 - 2) x B matrix per query head, are gathered by it, opening only the
 * scores' mask; the softmax runs over the count only; and the
 * probabilities are scattered back by S2^T (opening only theirs) for p V
 * over the fixed V rows. All KV heads go in one flight each.
 *
 * Cross-layer sharing (kv_share_source): the second layer of a pair reuses
 * the first's M at the prefill and its S2 at each decode step, and keeps no
 * summaries of its own.
 *
 * Public bounds, asserted by the plain twins: keys |k| < 2^(KEY_BITS - 2)
 * at scale f (the max/min comparisons); cluster scores |s| < 2^12, truncated
 * to scale f before the top-k comparisons (4-byte openings instead of 6),
 * with the sentinel -2^(f + 12).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "llm/xfwd_impl.h"
#include "mpc/fxp.h"
#include "protocols/trunc.h"

#define KEY_BITS(f)   ((f) + 14)
#define SCORE_BITS(f) ((f) + 14)
#define SENTINEL(f)   ((uint64_t)0 - ((uint64_t)1 << ((f) + 12)))

#define ALLOC(p, n) XFWD_ALLOC(p, n, "MPCache")

static void stats_push_if(xfwd_t *x, const char *what)
{
    if (x->ctx) stats_push(&x->ctx->stats, what);
}

static void stats_pop_if(xfwd_t *x)
{
    if (x->ctx) stats_pop(&x->ctx->stats);
}

static int is_source(const xfwd_t *x, int l)
{
    return kv_share_source(l, x->cfg.n_layers) == l;
}

mpc_err_t xmp_init(xfwd_t *x)
{
    size_t L = (size_t)x->cfg.n_layers, G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs;
    size_t cap = (size_t)x->cfg.seq_len;
    x->cap2 = cap / (size_t)x->kv.cluster_fine + 1;
    x->cap1 = cap / (size_t)x->kv.cluster_coarse + 1;
    x->sum1 = calloc(L * G, sizeof *x->sum1);
    x->sum2 = calloc(L * G, sizeof *x->sum2);
    x->rmm2 = calloc(L * G * x->cap2 * 2 * hs + 1, sizeof *x->rmm2);
    x->summ1 = calloc(L, sizeof *x->summ1);
    x->summ2 = calloc(L, sizeof *x->summ2);
    x->mp_static = calloc(L, sizeof *x->mp_static);
    x->mp_dyn = calloc(L, sizeof *x->mp_dyn);
    x->mp_dynop = calloc(L * G, sizeof *x->mp_dynop);
    x->mp_words = calloc(2 * L, sizeof *x->mp_words);
    x->mp_ended = calloc(L, sizeof *x->mp_ended);
    x->mp_debug = calloc(L * G * x->cap2 + 1, sizeof *x->mp_debug);
    x->mp_debug_n = calloc(L, sizeof *x->mp_debug_n);
    if (!x->sum1 || !x->sum2 || !x->rmm2 || !x->summ1 || !x->summ2 || !x->mp_static ||
        !x->mp_dyn || !x->mp_dynop || !x->mp_words || !x->mp_ended || !x->mp_debug || !x->mp_debug_n)
        return xfwd_fail(x, MPC_ENOMEM, "out of memory for MPCache's state");
    for (size_t i = 0; i < L * G; i++) {
        if (!is_source(x, (int)(i / G))) continue;
        if (x_fixed_reserve(x, &x->sum1[i], x->cap1, hs) ||
            x_fixed_reserve(x, &x->sum2[i], x->cap2, hs))
            return xfwd_fail(x, MPC_ENOMEM, "out of memory for MPCache's summaries");
    }
    for (size_t l = 0; l < L; l++) x->mp_debug_n[l] = -1;
    return MPC_OK;
}

/* The selection buffers of layer l: mp_static[l] (k x n at the prefill)
 * and mp_dyn[l] (G x k2 x g2 at each decode step), each kept for the
 * second layer of its pair. They only grow, so a decode step allocates
 * nothing once the largest selection has been seen; their capacities in
 * words are mp_words[l] and mp_words[L + l]. */
static uint64_t **sel_slot(xfwd_t *x, int l, int dyn, size_t **cap)
{
    size_t L = (size_t)x->cfg.n_layers;
    *cap = &x->mp_words[(dyn ? L : 0) + (size_t)l];
    return dyn ? &x->mp_dyn[l] : &x->mp_static[l];
}

static void free_sel(xfwd_t *x, int l, int dyn)
{
    size_t *cap;
    uint64_t **p = sel_slot(x, l, dyn, &cap);
    if (*p) sodium_memzero(*p, *cap * 8);
    free(*p);
    *p = NULL;
    *cap = 0;
}

/* Layer l's selection buffer for words words, zeroed or holding sel. */
static uint64_t *keep_sel(xfwd_t *x, int l, int dyn, const uint64_t *sel, size_t words)
{
    size_t *cap;
    uint64_t **p = sel_slot(x, l, dyn, &cap);
    if (*cap < words || !*p) {
        free_sel(x, l, dyn);
        *p = malloc(words * 8 + 8);
        if (!*p) return NULL;
        *cap = words;
    }
    if (sel) memcpy(*p, sel, words * 8);
    else memset(*p, 0, words * 8);
    return *p;
}

void xmp_free(xfwd_t *x)
{
    size_t L = (size_t)x->cfg.n_layers, G = (size_t)x->cfg.n_kv_heads;
    if (x->sum1)
        for (size_t i = 0; i < L * G; i++) {
            matmul_fixed_free(&x->sum1[i]);
            matmul_fixed_free(&x->sum2[i]);
        }
    for (size_t l = 0; x->mp_static && x->mp_dyn && x->mp_words && l < L; l++) {
        free_sel(x, (int)l, 0);
        free_sel(x, (int)l, 1);
    }
    free(x->mp_words);
    for (size_t i = 0; x->mp_dynop && i < L * G; i++) matmul_fixed_free(&x->mp_dynop[i]);
    free(x->mp_dynop);
    if (x->rmm2) sodium_memzero(x->rmm2, L * G * x->cap2 * 2 * (size_t)x->hs * 8);
    free(x->sum1);
    free(x->sum2);
    free(x->rmm2);
    free(x->summ1);
    free(x->summ2);
    free(x->mp_static);
    free(x->mp_dyn);
    free(x->mp_ended);
    free(x->mp_debug);
    free(x->mp_debug_n);
}

/* ---- static eviction ------------------------------------------------------ */

/* Replaces the cache of operand y by n fresh rows (shares or plain values),
 * re-masked: the old masks are never reused on new contents. */
static mpc_err_t cache_replace(xfwd_t *x, matmul_fixed_t *const *ys, const uint64_t *const *rows,
                               size_t n, int count)
{
    size_t cnt[2 * 64];
    MPC_ASSERT(count <= 2 * 64);
    for (int j = 0; j < count; j++) {
        ys[j]->rows = 0;
        cnt[j] = n;
    }
    return x_append(x, ys, rows, cnt, count);
}

mpc_err_t xmp_prefill_end(xfwd_t *x, int l, const uint64_t *p, size_t N)
{
    const kv_config_t *kc = &x->kv;
    size_t G = (size_t)x->cfg.n_kv_heads, H = (size_t)x->cfg.n_heads, hs = (size_t)x->hs;
    size_t P = N, bs = (size_t)kv_static_keep(kc), W = (size_t)kv_static_window(kc);
    size_t s = (size_t)kc->sinks < P ? (size_t)kc->sinks : P;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    x->mp_ended[l] = 1;
    if (bs >= P) return MPC_OK; /* a short prompt keeps everything */
    MPC_ASSERT(bs >= s + W && P >= s + W);
    size_t n = P - W - s, k = bs - s - W; /* the middle competes for k places */
    int src = kv_share_source(l, x->cfg.n_layers);
    uint64_t *M = NULL;
    if (k > 0 && src == l) {
        /* scores of the middle keys: sum over heads and window queries */
        uint64_t *sc, *S, *d;
        ALLOC(sc, n);
        ALLOC(S, k * n);
        ALLOC(d, n);
        ALLOC(M, k * n);
        if (x->role != MPC_DEALER)
            for (size_t h = 0; h < H; h++)
                for (size_t i = P - W; i < P; i++)
                    for (size_t j = 0; j < n; j++) sc[j] += p[(h * N + i) * P + s + j];
        /* |score| < H W 2^(f + 8): the comparisons' bound */
        int nbits = x->f + XFWD_P_EXTRA + 2;
        for (size_t v = H * W; v; v >>= 1) nbits++;
        e = x_topk(x, S, sc, 1, n, k, nbits);
        if (e) goto out;
        /* kept bits, their places in position order, and the evicted beyond k */
        uint64_t c = 0;
        if (x->role != MPC_DEALER)
            for (size_t i = 0; i < n; i++) {
                uint64_t b = 0;
                for (size_t r = 0; r < k; r++) b += S[r * n + i];
                d[i] = c + x_public(x, (uint64_t)k) - (uint64_t)k * b;
                c += b;
            }
        uint64_t *Mt;
        ALLOC(Mt, n * k);
        e = x_onehot(x, Mt, d, n, 2 * k + 1, k);
        if (e) goto out;
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < k; r++) M[r * n + i] = Mt[i * k + r];
        if (!keep_sel(x, l, 0, M, k * n)) {
            e = xfwd_fail(x, MPC_ENOMEM, "out of memory in MPCache");
            goto out;
        }
    } else if (k > 0) {
        MPC_ASSERT(x->mp_static[src]);
        M = x->mp_static[src];
    }
    /* gather the kept middle rows of K and V, every KV head at once */
    {
        size_t wd = 2 * G * hs;
        uint64_t *Y, *out, *rows;
        ALLOC(Y, n * wd);
        ALLOC(out, k * wd + 1);
        ALLOC(rows, 2 * G * bs * hs);
        matmul_fixed_t *ops[2 * 64];
        const uint64_t *fresh[2 * 64];
        for (size_t j = 0; j < 2 * G; j++)
            ops[j] = j < G ? &x->kc[(size_t)l * G + j] : &x->vc[(size_t)l * G + j - G];
        if (x->role != MPC_DEALER)
            for (size_t j = 0; j < 2 * G; j++)
                for (size_t i = 0; i < n; i++)
                    for (size_t t = 0; t < hs; t++)
                        Y[i * wd + j * hs + t] = x_fixed_share(x, ops[j], (s + i) * hs + t);
        if (k > 0) {
            e = x_bmat(x, out, M, Y, 1, k, n, wd);
            if (e) goto out;
        }
        for (size_t j = 0; j < 2 * G; j++) {
            uint64_t *r = rows + j * bs * hs;
            fresh[j] = r;
            if (x->role == MPC_DEALER) continue;
            for (size_t i = 0; i < s * hs; i++) r[i] = x_fixed_share(x, ops[j], i);
            for (size_t i = 0; i < k; i++)
                memcpy(r + (s + i) * hs, out + i * wd + j * hs, hs * 8);
            for (size_t i = 0; i < W * hs; i++)
                r[(s + k) * hs + i] = x_fixed_share(x, ops[j], (P - W) * hs + i);
        }
        e = cache_replace(x, ops, fresh, bs, (int)(2 * G));
    }
out:
    arena_reset(x->ar, mk);
    return e;
}

/* ---- cluster summaries ----------------------------------------------------- */

mpc_err_t xmp_summarise(xfwd_t *x, int l, uint64_t step)
{
    if (!is_source(x, l)) return MPC_OK;
    size_t G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs;
    size_t A = (size_t)x->kv.cluster_coarse, B = (size_t)x->kv.cluster_fine, per = A / B;
    size_t T = x->kc[(size_t)l * G].rows;
    size_t c0 = (size_t)x->summ2[l], c1 = T / B, d0 = (size_t)x->summ1[l], d1 = T / A;
    if (c1 == c0 && d1 == d0) return MPC_OK;
    size_t nf = c1 - c0, nd = d1 - d0;
    int f = x->f;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    uint64_t *in = NULL, *mm = NULL, *dmm = NULL, *comb = NULL;
    int dealer = x->role == MPC_DEALER;
    /* r+ and r- of the new fine clusters: the max of [x ; -x] over B rows */
    if (nf) {
        size_t R = G * nf * hs;
        ALLOC(in, 2 * R * B);
        ALLOC(mm, 2 * R);
        for (size_t g = 0; g < G && !dealer; g++) {
            const matmul_fixed_t *K = &x->kc[(size_t)l * G + g];
            for (size_t c = 0; c < nf; c++)
                for (size_t t = 0; t < hs; t++)
                    for (size_t b = 0; b < B; b++) {
                        uint64_t v = x_fixed_share(x, K, ((c0 + c) * B + b) * hs + t);
                        size_t r = (g * nf + c) * hs + t;
                        in[r * B + b] = v;
                        in[(R + r) * B + b] = 0 - v;
                    }
        }
        e = x_max(x, mm, in, 2 * R, B, KEY_BITS(f));
        if (e) goto out;
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 0; c < nf; c++) {
                uint64_t *dst = x->rmm2 + ((((size_t)l * G + g) * x->cap2) + c0 + c) * 2 * hs;
                for (size_t t = 0; t < hs; t++) {
                    size_t r = (g * nf + c) * hs + t;
                    dst[t] = mm[r];
                    dst[hs + t] = 0 - mm[R + r];
                }
            }
    }
    /* coarse clusters: the max / min of their children's */
    if (nd) {
        size_t R = G * nd * hs;
        uint64_t *din;
        ALLOC(din, 2 * R * per);
        ALLOC(dmm, 2 * R);
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 0; c < nd; c++)
                for (size_t t = 0; t < hs; t++)
                    for (size_t ch = 0; ch < per; ch++) {
                        const uint64_t *src =
                            x->rmm2 + ((((size_t)l * G + g) * x->cap2) + (d0 + c) * per + ch) * 2 * hs;
                        size_t r = (g * nd + c) * hs + t;
                        din[r * per + ch] = src[t];
                        din[(R + r) * per + ch] = 0 - src[hs + t];
                    }
        e = x_max(x, dmm, din, 2 * R, per, KEY_BITS(f));
        if (e) goto out;
    }
    /* alpha r+ + (1 - alpha) r- at 2f, one truncation to f for all */
    {
        uint64_t a = fxp_encode(x->kv.mpc_alpha, f), ab = ((uint64_t)1 << f) - a;
        size_t n2 = G * nf * hs, n1 = G * nd * hs;
        ALLOC(comb, n2 + n1);
        for (size_t g = 0; g < G && !dealer; g++) {
            for (size_t c = 0; c < nf; c++)
                for (size_t t = 0; t < hs; t++) {
                    size_t r = (g * nf + c) * hs + t;
                    comb[r] = a * mm[r] - ab * mm[n2 + r];
                }
            for (size_t c = 0; c < nd; c++)
                for (size_t t = 0; t < hs; t++) {
                    size_t r = (g * nd + c) * hs + t;
                    comb[n2 + r] = a * dmm[r] - ab * dmm[n1 + r];
                }
        }
        e = x_trunc(x, comb, comb, n2 + n1, f, TRUNC_SITE(l, OP_SUMMARY, step));
        if (e) goto out;
        matmul_fixed_t *ops[2 * 64];
        const uint64_t *fresh[2 * 64];
        size_t rows[2 * 64];
        int cnt = 0;
        for (size_t g = 0; g < G; g++) {
            if (nf) {
                ops[cnt] = &x->sum2[(size_t)l * G + g];
                fresh[cnt] = comb + g * nf * hs;
                rows[cnt++] = nf;
            }
            if (nd) {
                ops[cnt] = &x->sum1[(size_t)l * G + g];
                fresh[cnt] = comb + n2 + g * nd * hs;
                rows[cnt++] = nd;
            }
        }
        e = x_append(x, ops, fresh, rows, cnt);
    }
    x->summ2[l] = (int)c1;
    x->summ1[l] = (int)d1;
out:
    arena_reset(x->ar, mk);
    return e;
}

/* ---- a decode step ---------------------------------------------------------- */

int xfwd_mpcache_form(size_t g, size_t k, size_t B, size_t km, size_t hs, uint64_t *cost_a,
                      uint64_t *cost_b)
{
    uint64_t a = k * g + km * B * (2 * g + k);
    uint64_t b = 2 * k * g + 2 * k * B * hs + km * k * B;
    if (cost_a) *cost_a = a;
    if (cost_b) *cost_b = b;
    return b < a ? 'b' : 'a';
}

/* Form (b): gather the selected clusters' K and V rows (S2 times the middle
 * of the cache, reshaped as g2m rows of B hs), re-mask them as fresh fixed
 * operands, and attend [sink | gathered | newest] directly. srow holds the
 * sink's and the newest's scores already; pr receives the probabilities. */
static mpc_err_t attend_gathered(xfwd_t *x, int l, const uint64_t *qh, const uint64_t *S2,
                                 size_t k2m, size_t g2m, size_t ns, size_t nn, uint64_t *srow,
                                 uint64_t *pr, uint64_t *pv, uint64_t step)
{
    size_t G = (size_t)x->cfg.n_kv_heads, H = (size_t)x->cfg.n_heads, hs = (size_t)x->hs;
    size_t km = (size_t)x->kv_mul, B = (size_t)x->kv.cluster_fine, n = k2m * B;
    size_t cnt = B + n + nn;
    int dealer = x->role == MPC_DEALER;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    matmul_fixed_t *sel = calloc(2 * G, sizeof *sel);
    uint64_t *rows = NULL, *ssc = NULL, *part = NULL;
    if (!sel) return xfwd_fail(x, MPC_ENOMEM, "out of memory in MPCache");
    ALLOC(rows, 2 * G * n * hs);
    ALLOC(ssc, H * n);
    ALLOC(part, 2 * H * hs);
    {
        matmul_fixed_t mid[2 * 64];
        matmul_fixed_job_t jobs[2 * 64];
        for (size_t j = 0; j < 2 * G; j++) {
            const matmul_fixed_t *c = j < G ? &x->kc[(size_t)l * G + j] : &x->vc[(size_t)l * G + j - G];
            mid[j] = xfwd_fixed_view(c, B, g2m * B);
            mid[j].rows = g2m; /* the same words, one row per cluster */
            mid[j].cols = B * hs;
            jobs[j] = (matmul_fixed_job_t){rows + j * n * hs, S2 + (j % G) * k2m * g2m, &mid[j], k2m, 0};
        }
        e = x_fixed_mul(x, jobs, (int)(2 * G));
        if (e) goto out;
    }
    {
        matmul_fixed_t *ops[2 * 64];
        const uint64_t *fresh[2 * 64];
        size_t cnts[2 * 64];
        for (size_t j = 0; j < 2 * G && !e; j++) {
            ops[j] = &sel[j];
            e = x_fixed_reserve(x, ops[j], n, hs);
            fresh[j] = rows + j * n * hs;
            cnts[j] = n;
        }
        if (!e) e = x_append(x, ops, fresh, cnts, (int)(2 * G));
        if (e) goto out;
    }
    {
        matmul_fixed_job_t jobs[256];
        for (size_t h = 0; h < H; h++)
            jobs[h] = (matmul_fixed_job_t){ssc + h * n, qh + h * hs, &sel[h / km], 1, 1};
        e = x_fixed_mul(x, jobs, (int)H);
        if (e) goto out;
    }
    for (size_t h = 0; h < H && !dealer; h++) memcpy(srow + h * cnt + B, ssc + h * n, n * 8);
    e = nl_softmax(x, pr, srow, H, 1, cnt, (int)cnt - 1, TRUNC_SITE(l, OP_SOFTMAX, step));
    if (e) goto out;
    {
        matmul_fixed_t views[2 * 64];
        matmul_fixed_job_t jobs[3 * 256];
        int nj = 0;
        for (size_t g = 0; g < G; g++) {
            views[2 * g] = xfwd_fixed_view(&x->vc[(size_t)l * G + g], 0, B);
            views[2 * g + 1] = xfwd_fixed_view(&x->vc[(size_t)l * G + g], ns, nn);
        }
        for (size_t h = 0; h < H; h++) {
            size_t g = h / km;
            jobs[nj++] = (matmul_fixed_job_t){pv + h * hs, pr + h * cnt, &views[2 * g], 1, 0};
            jobs[nj++] = (matmul_fixed_job_t){part + h * hs, pr + h * cnt + B, &sel[G + g], 1, 0};
            jobs[nj++] = (matmul_fixed_job_t){part + (H + h) * hs, pr + h * cnt + B + n,
                                              &views[2 * g + 1], 1, 0};
        }
        e = x_fixed_mul(x, jobs, nj);
        if (e) goto out;
        for (size_t i = 0; i < H * hs && !dealer; i++) pv[i] += part[i] + part[H * hs + i];
        e = x_trunc(x, pv, pv, H * hs, x->f + XFWD_P_EXTRA, TRUNC_SITE(l, OP_PV, step));
    }
out:
    for (size_t j = 0; j < 2 * G; j++) matmul_fixed_free(&sel[j]);
    free(sel);
    arena_reset(x->ar, mk);
    return e;
}

/* Level 1 and level 2 for every KV head of a source layer: S2 (G x k2m x
 * g2m) one-hots in rank order. */
static mpc_err_t select_clusters(xfwd_t *x, int l, const uint64_t *z1, const uint64_t *z2,
                                 kv_plan_t p, uint64_t *S2)
{
    size_t G = (size_t)x->cfg.n_kv_heads, per = (size_t)(x->kv.cluster_coarse / x->kv.cluster_fine);
    size_t g1 = (size_t)p.g1, g2 = (size_t)p.g2, k1 = (size_t)p.k1, k2 = (size_t)p.k2;
    size_t n1 = (size_t)x->summ1[l], n2 = (size_t)x->summ2[l];
    size_t g1m = g1 - 2, k1m = k1 - 2, g2m = g2 - 2, k2m = k2 - 2;
    int f = x->f, nb = SCORE_BITS(f);
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    int dealer = x->role == MPC_DEALER;
    uint64_t *alive = NULL, *cand = NULL;
    /* level 1: survival bits of the coarse clusters 1 .. G1 - 2 */
    int gated = k1m < g1m; /* else every coarse cluster survives, publicly */
    ALLOC(alive, G * (g1m + 1));
    if (gated && k1m > 0) {
        uint64_t *c1, *S1;
        ALLOC(c1, G * g1m);
        ALLOC(S1, G * k1m * g1m);
        for (size_t g = 0; g < G && !dealer; g++)
            memcpy(c1 + g * g1m, z1 + g * n1 + 1, g1m * 8);
        e = x_topk(x, S1, c1, G, g1m, k1m, nb);
        if (e) goto out;
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 0; c < g1m; c++)
                for (size_t j = 0; j < k1m; j++) alive[g * g1m + c] += S1[(g * k1m + j) * g1m + c];
    }
    /* level 2: a dead parent's children get the sentinel */
    ALLOC(cand, G * g2m);
    {
        uint64_t *gate, *diff;
        size_t ng = 0;
        ALLOC(gate, G * g2m);
        ALLOC(diff, G * g2m);
        uint64_t sent = SENTINEL(f);
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 1; c <= g2m; c++) {
                size_t par = c / per;
                uint64_t z = z2[g * n2 + c];
                if (!gated || par == 0 || par == g1 - 1) {
                    cand[g * g2m + c - 1] = z;
                } else {
                    gate[ng] = alive[g * g1m + par - 1];
                    diff[ng++] = z - x_public(x, sent);
                }
            }
        if (dealer) /* the same count, from the public shape */
            for (size_t g = 0; g < G; g++)
                for (size_t c = 1; c <= g2m; c++) {
                    size_t par = c / per;
                    if (gated && par != 0 && par != g1 - 1) ng++;
                }
        if (ng) {
            e = x_mul(x, diff, gate, diff, ng);
            if (e) goto out;
        }
        ng = 0;
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 1; c <= g2m; c++) {
                size_t par = c / per;
                if (gated && par != 0 && par != g1 - 1)
                    cand[g * g2m + c - 1] = diff[ng++] + x_public(x, sent);
            }
    }
    e = x_topk(x, S2, cand, G, g2m, k2m, nb);
out:
    arena_reset(x->ar, mk);
    return e;
}

/* Every KV head's product with its opened S2 (k2 x g2) of layer src, in
 * one flight: Z_g = X_g S2^T (trans: the gather, X_g is m x g2) or
 * Z_g = X_g S2 (the scatter, X_g is m x k2). */
static mpc_err_t s2_mul(xfwd_t *x, int src, uint64_t *Z, const uint64_t *X, size_t m, int trans)
{
    size_t G = (size_t)x->cfg.n_kv_heads;
    const matmul_fixed_t *S = &x->mp_dynop[(size_t)src * G];
    size_t in = trans ? S->cols : S->rows, out = trans ? S->rows : S->cols;
    matmul_fixed_job_t jobs[64];
    MPC_ASSERT(G <= 64);
    for (size_t g = 0; g < G; g++)
        jobs[g] = (matmul_fixed_job_t){Z + g * m * out, X + g * m * in, &S[g], m, trans};
    return x_fixed_mul(x, jobs, (int)G);
}

mpc_err_t xmp_decode(xfwd_t *x, int l, const uint64_t *qh, int pos0, uint64_t *pv)
{
    size_t G = (size_t)x->cfg.n_kv_heads, H = (size_t)x->cfg.n_heads, hs = (size_t)x->hs;
    size_t km = (size_t)x->kv_mul, B = (size_t)x->kv.cluster_fine;
    size_t T = x->kc[(size_t)l * G].rows;
    int f = x->f, src = kv_share_source(l, x->cfg.n_layers);
    uint64_t step = (uint64_t)pos0;
    kv_plan_t p = kv_mpcache_plan((int)T, x->kv.budget / x->kv.static_keep, x->kv.cluster_coarse,
                                  x->kv.cluster_fine);
    MPC_ASSERT(p.count == kv_budget_tokens(&x->kv, pos0));
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    int dealer = x->role == MPC_DEALER;
    int all = p.k2 == p.g2; /* the budget covers the cache: attend it all */
    size_t g2m = all ? 0 : (size_t)p.g2 - 2, k2m = all ? 0 : (size_t)p.k2 - 2;
    size_t n1 = (size_t)x->summ1[l], n2 = (size_t)x->summ2[l];
    size_t cnt = (size_t)p.count, ns = all ? T : ((size_t)p.g2 - 1) * B, nn = T - ns;
    size_t head = all ? T : B; /* the public part in front: the sink cluster */
    /* the form of attention over the selection: a public choice by sizes */
    int form = 'a';
    if (!all && k2m) {
        form = xfwd_mpcache_form(g2m, k2m, B, km, hs, NULL, NULL);
        if (x->opts.mpcache_form) form = x->opts.mpcache_form;
    }
    uint64_t *sc, *z, *qs, *S2 = NULL, *srow, *pr;
    ALLOC(sc, H * T);
    ALLOC(z, G * (n1 + n2) + 1);
    ALLOC(qs, G * hs);
    ALLOC(srow, H * cnt);
    ALLOC(pr, H * cnt);
    /* one flight: every kept token's score, and (source layers) every
     * cluster's */
    {
        matmul_fixed_job_t jobs[3 * 256];
        int nj = 0;
        MPC_ASSERT(H <= 256);
        for (size_t h = 0; h < H; h++)
            jobs[nj++] = (matmul_fixed_job_t){sc + h * T, qh + h * hs,
                                              &x->kc[(size_t)l * G + h / km], 1, 1};
        if (!all && src == l)
            for (size_t g = 0; g < G; g++) {
                for (size_t h = g * km; h < (g + 1) * km && !dealer; h++)
                    for (size_t t = 0; t < hs; t++) qs[g * hs + t] += qh[h * hs + t];
                if (n1)
                    jobs[nj++] = (matmul_fixed_job_t){z + g * n1, qs + g * hs,
                                                      &x->sum1[(size_t)l * G + g], 1, 1};
                jobs[nj++] = (matmul_fixed_job_t){z + G * n1 + g * n2, qs + g * hs,
                                                  &x->sum2[(size_t)l * G + g], 1, 1};
            }
        e = x_fixed_mul(x, jobs, nj);
        if (!e && !all && src == l)
            e = x_trunc(x, z, z, G * (n1 + n2), f, TRUNC_SITE(l, OP_SUMMARY + 1, step));
        if (e) goto out;
    }
    if (!all) {
        if (src == l) {
            S2 = keep_sel(x, l, 1, NULL, G * k2m * g2m);
            if (!S2) {
                e = xfwd_fail(x, MPC_ENOMEM, "out of memory in MPCache");
                goto out;
            }
            if (k2m) e = select_clusters(x, l, z, z + G * n1, p, S2);
            /* opened once: a fixed operand for the gather, the scatter and
             * the shared layer */
            matmul_fixed_t *ops[64];
            const uint64_t *fresh[64];
            size_t rows[64];
            MPC_ASSERT(G <= 64);
            for (size_t g = 0; g < G && k2m && form == 'a' && !e; g++) {
                ops[g] = &x->mp_dynop[(size_t)l * G + g];
                ops[g]->rows = 0; /* re-masked afresh; the shape changes every B steps */
                if (ops[g]->cap != k2m || ops[g]->cols != g2m) {
                    matmul_fixed_free(ops[g]);
                    e = x_fixed_reserve(x, ops[g], k2m, g2m);
                }
                fresh[g] = S2 + g * k2m * g2m;
                rows[g] = k2m;
            }
            if (!e && k2m && form == 'a') e = x_append(x, ops, fresh, rows, (int)G);
            if (e) goto out;
        } else {
            MPC_ASSERT(x->mp_dyn[src]);
            S2 = x->mp_dyn[src];
        }
        /* the test-only record: each party's share of the chosen clusters */
        x->mp_debug_n[l] = (int)g2m;
        for (size_t g = 0; g < G && !dealer; g++)
            for (size_t c = 0; c < g2m; c++) {
                uint64_t s = 0;
                for (size_t j = 0; j < k2m; j++) s += S2[(g * k2m + j) * g2m + c];
                x->mp_debug[((size_t)l * G + g) * x->cap2 + c] = s;
            }
    } else {
        x->mp_debug_n[l] = -1;
    }
    if (form == 'b') {
        for (size_t h = 0; h < H && !dealer; h++) {
            memcpy(srow + h * cnt, sc + h * T, B * 8);
            memcpy(srow + h * cnt + B + k2m * B, sc + h * T + ns, nn * 8);
        }
        stats_push_if(x, "mpcache_form_b");
        e = attend_gathered(x, l, qh, S2, k2m, g2m, ns, nn, srow, pr, pv, step);
        stats_pop_if(x);
        if (!e) x->attended[l] = (int)(G * cnt);
        goto out;
    }
    /* softmax rows: [sink cluster | gathered middle clusters | newest] */
    size_t wd = km * B;
    uint64_t *Y = NULL, *Gs = NULL;
    if (k2m) {
        /* per KV head: (S2 Y)^T = Y^T S2^T, Y^T (wd x g2m) the middle scores */
        ALLOC(Y, G * wd * g2m);
        ALLOC(Gs, G * wd * k2m);
        for (size_t h = 0; h < H && !dealer; h++) {
            size_t g = h / km, hl = h % km;
            for (size_t b = 0; b < B; b++)
                for (size_t c = 0; c < g2m; c++)
                    Y[(g * wd + hl * B + b) * g2m + c] = sc[h * T + B + c * B + b];
        }
        e = s2_mul(x, src, Gs, Y, wd, 1);
        if (e) goto out;
    }
    for (size_t h = 0; h < H && !dealer; h++) {
        size_t g = h / km, hl = h % km;
        uint64_t *r = srow + h * cnt;
        memcpy(r, sc + h * T, head * 8);
        for (size_t j = 0; j < k2m; j++)
            for (size_t b = 0; b < B; b++)
                r[head + j * B + b] = Gs[(g * wd + hl * B + b) * k2m + j];
        if (!all) memcpy(r + head + k2m * B, sc + h * T + ns, nn * 8);
    }
    e = nl_softmax(x, pr, srow, H, 1, cnt, (int)cnt - 1, TRUNC_SITE(l, OP_SOFTMAX, step));
    if (e) goto out;
    /* scatter the middle's probabilities back, for p V over the fixed V */
    uint64_t *Pf = NULL;
    if (k2m) {
        /* per KV head: (S2^T Pm)^T = Pm^T S2, Pm^T (wd x k2m) */
        uint64_t *Pm;
        ALLOC(Pm, G * wd * k2m);
        ALLOC(Pf, G * wd * g2m);
        for (size_t h = 0; h < H && !dealer; h++) {
            size_t g = h / km, hl = h % km;
            for (size_t j = 0; j < k2m; j++)
                for (size_t b = 0; b < B; b++)
                    Pm[(g * wd + hl * B + b) * k2m + j] = pr[h * cnt + head + j * B + b];
        }
        e = s2_mul(x, src, Pf, Pm, wd, 0);
        if (e) goto out;
    }
    {
        uint64_t *pmid, *part;
        ALLOC(pmid, H * (g2m * B + 1));
        ALLOC(part, 2 * H * hs);
        for (size_t h = 0; h < H && k2m && !dealer; h++) {
            size_t g = h / km, hl = h % km;
            for (size_t c = 0; c < g2m; c++)
                for (size_t b = 0; b < B; b++)
                    pmid[h * g2m * B + c * B + b] = Pf[(g * wd + hl * B + b) * g2m + c];
        }
        matmul_fixed_t views[3 * 64];
        for (size_t g = 0; g < G; g++) {
            const matmul_fixed_t *V = &x->vc[(size_t)l * G + g];
            views[3 * g] = xfwd_fixed_view(V, 0, head);
            views[3 * g + 1] = xfwd_fixed_view(V, B, g2m * B);
            views[3 * g + 2] = xfwd_fixed_view(V, ns, nn);
        }
        matmul_fixed_job_t jobs[3 * 256];
        int nj = 0;
        for (size_t h = 0; h < H; h++) {
            size_t g = h / km;
            jobs[nj++] = (matmul_fixed_job_t){pv + h * hs, pr + h * cnt, &views[3 * g], 1, 0};
            if (k2m)
                jobs[nj++] = (matmul_fixed_job_t){part + h * hs, pmid + h * g2m * B,
                                                  &views[3 * g + 1], 1, 0};
            if (!all)
                jobs[nj++] = (matmul_fixed_job_t){part + (H + h) * hs, pr + h * cnt + head + k2m * B,
                                                  &views[3 * g + 2], 1, 0};
        }
        e = x_fixed_mul(x, jobs, nj);
        if (e) goto out;
        for (size_t i = 0; i < H * hs && !dealer; i++) pv[i] += part[i] + part[H * hs + i];
        e = x_trunc(x, pv, pv, H * hs, f + XFWD_P_EXTRA, TRUNC_SITE(l, OP_PV, step));
    }
    x->attended[l] = (int)(G * cnt);
out:
    arena_reset(x->ar, mk);
    return e;
}

/* ---- tests only --------------------------------------------------------------- */

int xfwd_debug_dynamic(const xfwd_t *x, int layer, int g, uint64_t *out)
{
    if (x->policy != KV_MPCACHE) return -1;
    int n = x->mp_debug_n[layer];
    size_t G = (size_t)x->cfg.n_kv_heads;
    for (int c = 0; c < n; c++) out[c] = x->mp_debug[((size_t)layer * G + (size_t)g) * x->cap2 + (size_t)c];
    return n;
}

int xfwd_debug_static(const xfwd_t *x, int layer, uint64_t *out)
{
    if (x->policy != KV_MPCACHE) return -1;
    const kv_config_t *kc = &x->kv;
    int P = kc->prompt_len, bs = kv_static_keep(kc), W = kv_static_window(kc);
    int s = kc->sinks < P ? kc->sinks : P;
    if (bs >= P) return -1;
    int n = P - W - s, k = bs - s - W, src = kv_share_source(layer, x->cfg.n_layers);
    const uint64_t *M = x->mp_static[src];
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int r = 0; r < k && M; r++) out[i] += M[(size_t)r * (size_t)n + (size_t)i];
    }
    return n;
}
