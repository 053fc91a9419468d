/* mpcache/kv_math.c - the pure maths of the KV policies: budgets, MPCache's
 * plan, top-k with lower-index ties, cluster and page scores, causal window
 * attention, pooling and proportional shares.
 *
 * Nothing here touches a kv_t, so the fixed-point and secure engines can
 * reproduce each decision from the same public numbers (budgets, plans) and
 * compare their secret choices with these plaintext ones.
 */
#include <math.h>
#include <string.h>

#include "mpcache/kv_impl.h"

int kv_ceil(double x)
{
    return (int)ceil(x - 1e-9);
}

kv_plan_t kv_mpcache_plan(int T, double ratio, int A, int B)
{
    MPC_ASSERT(T >= 1 && A >= B && B >= 1 && A % B == 0);
    kv_plan_t p;
    p.g2 = (T + B - 1) / B;
    p.g1 = (T + A - 1) / A;
    if (p.g2 <= 2) {
        p.k2 = p.g2;
        p.k1 = p.g1;
        p.count = T;
        return p;
    }
    /* The sink cluster and the newest (partial) cluster are two of the K2:
     * the budget counts them, unlike the reference code, which adds them on
     * top, so that every step attends a public, exact number of tokens. */
    p.k2 = kv_ceil(ratio * p.g2);
    if (p.k2 < 2) p.k2 = 2;
    if (p.k2 > p.g2) p.k2 = p.g2;
    double f1 = 2.0 * ratio;
    if (f1 < 0.5) f1 = 0.5;
    if (f1 > 1.0) f1 = 1.0;
    p.k1 = kv_ceil(f1 * p.g1);
    int min1 = p.g1 < 2 ? p.g1 : 2;
    if (p.k1 < min1) p.k1 = min1;
    if (p.k1 > p.g1) p.k1 = p.g1;
    /* Every fine cluster but the newest is full, so the count depends only
     * on T: the sink, K2 - 2 full clusters and the newest. */
    p.count = p.k2 == p.g2 ? T : B * (p.k2 - 1) + (T - (p.g2 - 1) * B);
    return p;
}

int kv_static_window(const kv_config_t *cfg)
{
    int P = cfg->prompt_len;
    int w = kv_ceil(cfg->mpc_window_frac * P);
    if (w < cfg->mpc_window_min) w = cfg->mpc_window_min;
    return w < P ? w : P;
}

/* B_s for a given S (kv_budget_tokens uses S' = max(S, R)). */
static int static_keep_for(const kv_config_t *cfg, double S)
{
    int P = cfg->prompt_len;
    int b = kv_ceil(S * P);
    int floor_b = cfg->sinks + kv_static_window(cfg);
    if (b < floor_b) b = floor_b;
    return b < P ? b : P;
}

int kv_static_keep(const kv_config_t *cfg)
{
    return static_keep_for(cfg, cfg->static_keep);
}

int kv_budget_tokens(const kv_config_t *cfg, int pos)
{
    int P = cfg->prompt_len;
    if (pos < P) return pos + 1;
    if (cfg->policy != KV_MPCACHE && cfg->fixed_budget > 0)
        return cfg->fixed_budget < pos + 1 ? cfg->fixed_budget : pos + 1;
    /* Non-MPCache policies may run with R > S (MPCache itself refuses it);
     * their count is MPCache's with S raised to R, so R = 1 attends all. */
    double S = cfg->static_keep;
    if (cfg->policy != KV_MPCACHE && cfg->budget > S) S = cfg->budget;
    int T = static_keep_for(cfg, S) + (pos - P + 1);
    return kv_mpcache_plan(T, cfg->budget / S, cfg->cluster_coarse, cfg->cluster_fine).count;
}

void kv_argsort_desc(const double *score, int n, int *idx, int *scratch)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
    /* bottom-up merge sort: stable, so equal scores keep index order */
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n;
            int hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                scratch[o++] = score[idx[b]] > score[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid)
                scratch[o++] = idx[a++];
            while (b < hi)
                scratch[o++] = idx[b++];
        }
        memcpy(idx, scratch, (size_t)n * sizeof *idx);
    }
}

void kv_topk(const double *score, int n, int k, int *out, int *scratch)
{
    MPC_ASSERT(k >= 0 && k <= n);
    int *idx = scratch, *tmp = scratch + n;
    kv_argsort_desc(score, n, idx, tmp);
    /* back to index order: mark the chosen, then sweep */
    memset(tmp, 0, (size_t)n * sizeof *tmp);
    for (int i = 0; i < k; i++)
        tmp[idx[i]] = 1;
    int o = 0;
    for (int i = 0; i < n; i++)
        if (tmp[i]) out[o++] = i;
}

double kv_cluster_score(const float *q, const float *rmax, const float *rmin, int d, double alpha)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)q[i] * (alpha * rmax[i] + (1.0 - alpha) * rmin[i]);
    return s;
}

double kv_page_score(const float *q, const float *kmax, const float *kmin, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) {
        double a = (double)q[i] * kmax[i], b = (double)q[i] * kmin[i];
        s += a > b ? a : b;
    }
    return s;
}

void kv_minmax(const float *rows, int n, int stride, int d, float *rmax, float *rmin)
{
    MPC_ASSERT(n >= 1);
    memcpy(rmax, rows, (size_t)d * sizeof *rmax);
    memcpy(rmin, rows, (size_t)d * sizeof *rmin);
    for (int r = 1; r < n; r++) {
        const float *x = rows + (size_t)r * (size_t)stride;
        for (int i = 0; i < d; i++) {
            if (x[i] > rmax[i]) rmax[i] = x[i];
            if (x[i] < rmin[i]) rmin[i] = x[i];
        }
    }
}

void kv_window_attention(const float *q, int q_stride, const int *qpos, int nw, const float *k,
                         int k_stride, const int *kpos, int n_keys, int d, double *probs)
{
    double scale = 1.0 / sqrt((double)d);
    for (int i = 0; i < nw; i++) {
        const float *qi = q + (size_t)i * (size_t)q_stride;
        double *row = probs + (size_t)i * (size_t)n_keys;
        double mx = -INFINITY;
        for (int j = 0; j < n_keys; j++) {
            if (kpos[j] > qpos[i]) continue;
            const float *kj = k + (size_t)j * (size_t)k_stride;
            double s = 0;
            for (int t = 0; t < d; t++)
                s += (double)qi[t] * kj[t];
            row[j] = s * scale;
            if (row[j] > mx) mx = row[j];
        }
        double sum = 0;
        for (int j = 0; j < n_keys; j++) {
            if (kpos[j] > qpos[i]) {
                row[j] = 0;
                continue;
            }
            row[j] = exp(row[j] - mx);
            sum += row[j];
        }
        for (int j = 0; j < n_keys; j++)
            row[j] = sum > 0 ? row[j] / sum : 0;
    }
}

void kv_avg_pool(const double *x, int n, int size, double *out)
{
    MPC_ASSERT(size >= 1 && size % 2 == 1);
    int r = size / 2;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = i - r; j <= i + r; j++)
            if (j >= 0 && j < n) s += x[j];
        out[i] = s / size;
    }
}

void kv_alloc_shares(const double *w, const int *lo, const int *hi, int n, int total, int *out)
{
    /* Water-filling: fix every share that its ideal pushes past a bound,
     * then split what is left in proportion among the rest. out[i] >= 0
     * marks a fixed share; -1 an open one. */
    int slo = 0, shi = 0;
    for (int i = 0; i < n; i++) {
        MPC_ASSERT(lo[i] <= hi[i] && w[i] >= 0);
        slo += lo[i];
        shi += hi[i];
        out[i] = -1;
    }
    MPC_ASSERT(slo <= total && total <= shi);
    for (;;) {
        int rest = total, nopen = 0;
        double sw = 0;
        for (int i = 0; i < n; i++) {
            if (out[i] >= 0)
                rest -= out[i];
            else {
                sw += w[i];
                nopen++;
            }
        }
        if (nopen == 0) break;
        int fixed_any = 0;
        for (int pass = 0; pass < 2 && !fixed_any; pass++) {
            for (int i = 0; i < n; i++) {
                if (out[i] >= 0) continue;
                double ideal = sw > 0 ? rest * w[i] / sw : (double)rest / nopen;
                if (pass == 0 && ideal > hi[i]) {
                    out[i] = hi[i];
                    fixed_any = 1;
                } else if (pass == 1 && ideal < lo[i]) {
                    out[i] = lo[i];
                    fixed_any = 1;
                }
            }
        }
        if (fixed_any) continue;
        /* no bound binds: floors, then the remainder by largest fraction;
         * an open share is held as -1 - floor until it is final */
        int given = 0;
        for (int i = 0; i < n; i++) {
            if (out[i] >= 0) continue;
            double ideal = sw > 0 ? rest * w[i] / sw : (double)rest / nopen;
            int f = (int)floor(ideal + 1e-9);
            if (f > hi[i]) f = hi[i];
            out[i] = -1 - f;
            given += f;
        }
        for (int left = rest - given; left > 0; left--) {
            int best = -1;
            double bf = -1;
            for (int i = 0; i < n; i++) {
                if (out[i] >= 0 || -1 - out[i] >= hi[i]) continue;
                double ideal = sw > 0 ? rest * w[i] / sw : (double)rest / nopen;
                double fr = ideal - (-1 - out[i]);
                if (fr > bf) {
                    bf = fr;
                    best = i;
                }
            }
            MPC_ASSERT(best >= 0);
            out[best]--; /* one more token: -1 - (f + 1) */
        }
        for (int i = 0; i < n; i++)
            if (out[i] < 0) out[i] = -1 - out[i];
        break;
    }
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += out[i];
    MPC_ASSERT(sum == total);
}

int kv_share_source(int layer, int n_layers)
{
    if (layer % 2 == 1 && layer >= 3 && layer <= n_layers - 3) return layer - 1;
    return layer;
}
