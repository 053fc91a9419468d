/* tests/mpcache/kvtest.h - a tiny llama2.c-style driver for the KV policy
 * tests: per layer and position it appends q/k/v, selects, computes float
 * attention over exactly the selection, observes, and ends the prefill after
 * the last prompt token, the order kv.h documents. Data come from a seeded
 * xorshift, or from the caller.
 */
#ifndef TESTS_MPCACHE_KVTEST_H
#define TESTS_MPCACHE_KVTEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpcache/kv.h"

static inline float kvt_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A config with the given dims and policy, defaults elsewhere. */
static inline kv_config_t kvt_config(kv_policy_t pol, int L, int H, int G, int d, int T, int P)
{
    kv_config_t c;
    kv_config_default(&c);
    c.policy = pol;
    c.n_layers = L;
    c.n_heads = H;
    c.n_kv_heads = G;
    c.head_size = d;
    c.seq_len = T;
    c.prompt_len = P;
    return c;
}

/* One position of one layer: attention over the selection (scaled, softmax
 * in float as llama2.c does), then observe, then prefill end if due. att is
 * (H, T) scratch. */
static inline void kvt_layer(kv_t *kv, int l, int pos, const float *q, const float *k,
                             const float *v, float *att)
{
    const kv_config_t *c = kv_config(kv);
    int H = c->n_heads, d = c->head_size, T = c->seq_len, mul = H / c->n_kv_heads;
    kv_append(kv, l, pos, q, k, v);
    const kv_sel_t *sel = kv_select(kv, l, q);
    for (int h = 0; h < H; h++) {
        int g = h / mul, n = sel->count[g];
        float *a = att + (size_t)h * T, mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) {
            const float *kk = kv_key(kv, l, g, sel->slot[(size_t)g * T + i]);
            float s = 0;
            for (int t = 0; t < d; t++)
                s += q[h * d + t] * kk[t];
            a[i] = s / sqrtf((float)d);
            if (a[i] > mx) mx = a[i];
        }
        for (int i = 0; i < n; i++) {
            a[i] = expf(a[i] - mx);
            sum += a[i];
        }
        for (int i = 0; i < n; i++)
            a[i] /= sum;
    }
    kv_observe(kv, l, att, T);
    if (pos == c->prompt_len - 1) kv_prefill_end(kv, l);
}

/* Runs positions from..to-1 on every layer with seeded random q, k, v
 * (the same stream for a given seed, whatever the policy). */
static inline void kvt_run(kv_t *kv, int from, int to, uint64_t seed)
{
    const kv_config_t *c = kv_config(kv);
    int L = c->n_layers, H = c->n_heads, G = c->n_kv_heads, d = c->head_size;
    float *q = malloc(sizeof(float) * H * d), *k = malloc(sizeof(float) * G * d);
    float *v = malloc(sizeof(float) * G * d), *att = malloc(sizeof(float) * H * c->seq_len);
    uint64_t s = seed;
    for (int pos = 0; pos < to; pos++) {
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < H * d; i++)
                q[i] = 2 * kvt_rand(&s);
            for (int i = 0; i < G * d; i++)
                k[i] = 2 * kvt_rand(&s);
            for (int i = 0; i < G * d; i++)
                v[i] = kvt_rand(&s);
            if (pos >= from) kvt_layer(kv, l, pos, q, k, v, att);
        }
    }
    free(q);
    free(k);
    free(v);
    free(att);
}

#endif
