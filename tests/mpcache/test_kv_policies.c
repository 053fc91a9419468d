/* tests/mpcache/test_kv_policies.c - the eviction baselines on hand-made
 * attention patterns and keys: what StreamingLLM, H2O, SnapKV, TOVA, CAKE,
 * D2O and Quest keep, and that every budgeted policy attends the same
 * number of tokens for the same R.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kvtest.h"

static kv_t *make(const kv_config_t *c)
{
    mpc_err_t err;
    char msg[256] = "";
    kv_t *kv = kv_new(c, &err, msg, sizeof msg);
    if (!kv) fail_msg("kv_new: %s", msg);
    return kv;
}

/* Appends one token to layer l (one KV head, d floats of key), selects, and
 * observes the given probabilities (NULL: uniform). */
static void step_probs(kv_t *kv, int l, int pos, const float *q, const float *k, const float *probs)
{
    const kv_config_t *c = kv_config(kv);
    float v[64] = {0}, att[4096];
    kv_append(kv, l, pos, q, k, v);
    const kv_sel_t *sel = kv_select(kv, l, q);
    for (int h = 0; h < c->n_heads; h++)
        for (int i = 0; i < sel->count[0]; i++)
            att[h * c->seq_len + i] = probs ? probs[i] : 1.0f / sel->count[0];
    kv_observe(kv, l, att, c->seq_len);
    if (pos == c->prompt_len - 1) kv_prefill_end(kv, l);
}

static int positions(kv_t *kv, int l, int *out)
{
    int n = kv_len(kv, l);
    for (int s = 0; s < n; s++)
        out[s] = kv_slot_pos(kv, l, 0, s);
    return n;
}

static void test_streaming_keeps_sinks_and_window(void **state)
{
    (void)state;
    kv_config_t c = kvt_config(KV_STREAMING, 1, 1, 1, 2, 64, 20);
    c.fixed_budget = 10;
    kv_t *kv = make(&c);
    float q[2] = {1, 0}, k[2] = {0, 1};
    for (int pos = 0; pos < 20; pos++)
        step_probs(kv, 0, pos, q, k, NULL);
    int got[64], want[9] = {0, 1, 2, 3, 15, 16, 17, 18, 19};
    assert_int_equal(positions(kv, 0, got), 9);
    assert_memory_equal(got, want, sizeof want);
    for (int pos = 20; pos < 30; pos++) {
        step_probs(kv, 0, pos, q, k, NULL);
        assert_int_equal(kv_attended(kv, pos, 0), 10);
        int sel[64], n = kv_debug_selection(kv, 0, 0, sel);
        assert_int_equal(n, 10);
        for (int i = 0; i < 4; i++)
            assert_int_equal(sel[i], i);
        for (int i = 4; i < 10; i++)
            assert_int_equal(sel[i], pos - 9 + i);
    }
    kv_free(&kv);
    assert_null(kv);
}

static void test_h2o_keeps_heavy_and_recent_evicts_one_per_step(void **state)
{
    (void)state;
    enum { P = 12, T = 64 };
    kv_config_t c = kvt_config(KV_H2O, 1, 2, 1, 2, T, P);
    c.fixed_budget = 6; /* heavy 3, recent 3 */
    kv_t *kv = make(&c);
    float q[4] = {1, 0, 1, 0}, k[2] = {0, 1};
    uint64_t s = 11;
    for (int pos = 0; pos < 24; pos++) {
        float probs[T];
        double z = 0;
        /* heavy hitters at 2, 5 and 7, noise elsewhere */
        for (int j = 0; j <= pos; j++) {
            probs[j] = 0.1f + 0.05f * (kvt_rand(&s) + 1);
            if (j == 2 || j == 5 || j == 7) probs[j] += 3.0f;
            z += probs[j];
        }
        /* the selection is every slot during the prompt, then the cache */
        int n = pos < P ? pos + 1 : kv_len(kv, 0) + 1;
        for (int j = 0; j < n; j++)
            probs[j] = (float)(probs[j] / z);
        int before[T];
        int nb = pos < P ? 0 : positions(kv, 0, before);
        step_probs(kv, 0, pos, q, k, probs);
        if (pos < P) continue;
        /* at decode: one eviction per step, and it is the lowest score
         * outside the recent window */
        assert_int_equal(kv_attended(kv, pos, 0), 6);
        assert_int_equal(kv_len(kv, 0), 5);
        assert_int_equal(nb + 1 - kv_len(kv, 0), 1);
    }
    /* after the prompt: the top three column sums (an oracle over both
     * heads' probabilities) outside the last two tokens, and those two */
    kv_free(&kv);
    kv = make(&c);
    s = 11;
    double colsum[T] = {0};
    for (int pos = 0; pos < P; pos++) {
        float probs[T];
        double z = 0;
        for (int j = 0; j <= pos; j++) {
            probs[j] = 0.1f + 0.05f * (kvt_rand(&s) + 1);
            if (j == 2 || j == 5 || j == 7) probs[j] += 3.0f;
            z += probs[j];
        }
        for (int j = 0; j <= pos; j++) {
            probs[j] = (float)(probs[j] / z);
            colsum[j] += 2.0 * probs[j];
        }
        step_probs(kv, 0, pos, q, k, probs);
    }
    int top[3], scratch[2 * T];
    kv_topk(colsum, P - 2, 3, top, scratch);
    int got[T], want[5] = {top[0], top[1], top[2], P - 2, P - 1};
    assert_int_equal(positions(kv, 0, got), 5);
    assert_memory_equal(got, want, sizeof want);
    /* position 0 collects the whole first query: a real heavy hitter */
    assert_int_equal(top[0], 0);
    kv_free(&kv);
}

static void run_scalar(kv_t *kv, int P, const float *keys, float qval)
{
    for (int pos = 0; pos < P; pos++) {
        float q[1] = {qval}, k[1] = {keys[pos]};
        step_probs(kv, 0, pos, q, k, NULL);
    }
}

static void test_snapkv_pools_before_topk(void **state)
{
    (void)state;
    enum { P = 20 };
    float keys[P] = {0};
    keys[3] = 3.0f;                       /* a lone spike: the raw top-1 */
    keys[9] = keys[10] = keys[11] = 2.5f; /* a cluster: wins after pooling */
    kv_config_t c = kvt_config(KV_SNAPKV, 1, 1, 1, 1, 64, P);
    c.window = 4;
    c.fixed_budget = 6; /* 5 kept: 2 of the window protected + top 3 */
    kv_t *kv = make(&c);
    run_scalar(kv, P, keys, 1.0f);
    int got[64], want[5] = {9, 10, 11, 18, 19};
    assert_int_equal(positions(kv, 0, got), 5);
    assert_memory_equal(got, want, sizeof want);
    kv_free(&kv);

    /* without pooling (size 1) the spike is chosen */
    c.pool = 1;
    kv = make(&c);
    run_scalar(kv, P, keys, 1.0f);
    int want1[5] = {3, 9, 10, 18, 19};
    assert_int_equal(positions(kv, 0, got), 5);
    assert_memory_equal(got, want1, sizeof want1);
    /* at decode it drops its lowest-ranked prompt token first */
    float q[1] = {1}, k[1] = {0};
    step_probs(kv, 0, P, q, k, NULL);
    int want2[5] = {3, 9, 18, 19, 20};
    assert_int_equal(positions(kv, 0, got), 5);
    assert_memory_equal(got, want2, sizeof want2);
    kv_free(&kv);
}

static void test_tova_keeps_last_query_top(void **state)
{
    (void)state;
    enum { P = 10 };
    float keys[P] = {0.5f, -1, 2, 0, 1.5f, -2, 0.2f, 1.0f, -0.5f, 0.1f};
    kv_config_t c = kvt_config(KV_TOVA, 1, 1, 1, 1, 32, P);
    c.fixed_budget = 5;
    kv_t *kv = make(&c);
    run_scalar(kv, P, keys, 1.0f);
    int got[32], want[4] = {0, 2, 4, 7}; /* the four largest keys */
    assert_int_equal(positions(kv, 0, got), 4);
    assert_memory_equal(got, want, sizeof want);
    /* a decode step whose attention favours slot 1 (position 2) least */
    float q[1] = {1}, k[1] = {0}, probs[5] = {0.3f, 0.05f, 0.2f, 0.25f, 0.2f};
    step_probs(kv, 0, P, q, k, probs);
    int want2[4] = {0, 4, 7, 10};
    assert_int_equal(positions(kv, 0, got), 4);
    assert_memory_equal(got, want2, sizeof want2);
    kv_free(&kv);
}

/* Oracle for CAKE's preference of one layer, from the same window. */
static double cake_pref(const kv_config_t *c, const float *q, const float *k, int P)
{
    int nw = c->window < P ? c->window : P, kpos[256], qpos[64];
    double probs[64 * 256], ent = 0, var = 0;
    for (int j = 0; j < P; j++)
        kpos[j] = j;
    for (int i = 0; i < nw; i++)
        qpos[i] = P - nw + i;
    kv_window_attention(q + (P - nw) * c->head_size, c->head_size, qpos, nw, k, c->head_size, kpos,
                        P, c->head_size, probs);
    for (int j = 0; j < P; j++) {
        double m = 0, m2 = 0;
        for (int i = 0; i < nw; i++) {
            m += probs[i * P + j];
            m2 += probs[i * P + j] * probs[i * P + j];
        }
        m /= nw;
        if (m > 0) ent -= m * log(m);
        var += m2 / nw - m * m;
    }
    return ent * var;
}

static void test_cake_budgets_sum_to_total_and_follow_preferences(void **state)
{
    (void)state;
    enum { L = 4, P = 60, d = 4, T = 128 };
    kv_config_t c = kvt_config(KV_CAKE, L, 1, 1, d, T, P);
    c.window = 16;
    c.cluster_coarse = 8;
    c.cluster_fine = 4;
    kv_t *kv = make(&c);
    static float q[L][T * d], k[L][T * d], v[T * d], att[T];
    uint64_t s = 3;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < T * d; i++) {
            /* sharper attention in deeper layers */
            q[l][i] = (float)(l + 1) * kvt_rand(&s);
            k[l][i] = kvt_rand(&s);
        }
    for (int pos = 0; pos < P; pos++)
        for (int l = 0; l < L; l++)
            kvt_layer(kv, l, pos, q[l] + pos * d, k[l] + pos * d, v, att);
    double pref[L], sp = 0;
    for (int l = 0; l < L; l++)
        sp += pref[l] = cake_pref(&c, q[l], k[l], P);
    int total = L * (kv_budget_tokens(&c, P) - 1), sum = 0, bud[L];
    kv_layer_budgets(kv, P, bud);
    for (int l = 0; l < L; l++) {
        sum += kv_len(kv, l);
        assert_int_equal(bud[l], kv_len(kv, l) + 1);
        /* within one token of its share */
        assert_true(fabs(kv_len(kv, l) - pref[l] / sp * total) <= 1.0 + 1e-9);
    }
    assert_int_equal(sum, total);
    /* at every decode step, the layers attend L * count together */
    for (int pos = P; pos < 100; pos++) {
        int att_sum = 0;
        for (int l = 0; l < L; l++) {
            kvt_layer(kv, l, pos, q[l] + pos * d, k[l] + pos * d, v, att);
            att_sum += kv_attended(kv, pos, l);
        }
        assert_int_equal(att_sum, L * kv_budget_tokens(&c, pos));
    }
    kv_free(&kv);
}

/* Oracle state for D2O's merge on one layer. */
static double cosv(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void test_d2o_merges_above_threshold_with_weighted_mean(void **state)
{
    (void)state;
    enum { L = 4, P = 10, d = 2, T = 32, LB = 2 };
    kv_config_t c = kvt_config(KV_D2O, L, 1, 1, d, T, P);
    c.fixed_budget = 6; /* after the prompt: 5 kept in layer 2 */
    c.sinks = 1;
    kv_t *kv = make(&c);
    /* keys of layer 2: kept ones are 0 (sink) and the heavy 3, 6 plus
     * the recent; the evicted ones point near one of them, or nowhere */
    float keys[T][d] = {{1, 0},    {0.9f, 0.1f}, {0, 1},  {1, 1},   {-1, 0.2f},
                        {0.1f, 1}, {0.3f, 1},    {1, -1}, {-1, -1}, {1, 0.5f}};
    float q[1 * d] = {1, 0}, v0[d] = {0, 0};
    float vals[T][d];
    for (int p = 0; p < P; p++) {
        vals[p][0] = (float)p;
        vals[p][1] = 1;
    }
    for (int pos = 0; pos < P; pos++) {
        for (int l = 0; l < L; l++) {
            const kv_config_t *cc = kv_config(kv);
            float att[T] = {0};
            kv_append(kv, l, pos, q, l == LB ? keys[pos] : keys[0], l == LB ? vals[pos] : v0);
            const kv_sel_t *sel = kv_select(kv, l, q);
            for (int i = 0; i < sel->count[0]; i++)
                att[i] = (i == 3 || i == 6) ? 0.4f : 0.01f;
            kv_observe(kv, l, att, cc->seq_len);
            if (pos == P - 1) kv_prefill_end(kv, l);
        }
    }
    /* uncompressed layers keep everything */
    assert_int_equal(kv_len(kv, 0), P);
    assert_int_equal(kv_len(kv, 1), P);
    assert_int_equal(kv_len(kv, 3), P);
    /* layer 2 kept: the sink 0, heavies 3 and 6, recent 8 and 9 */
    int kept[5] = {0, 3, 6, 8, 9}, ev[5] = {1, 2, 4, 5, 7};
    assert_int_equal(kv_len(kv, LB), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kv_slot_pos(kv, LB, 0, i), kept[i]);
    /* the oracle: each evicted token's best kept match, tau = the mean */
    double m[5], mean = 0;
    int to[5];
    for (int e = 0; e < 5; e++) {
        m[e] = -2;
        for (int i = 0; i < 5; i++) {
            double x = cosv(keys[ev[e]], keys[kept[i]], d);
            if (x > m[e]) {
                m[e] = x;
                to[e] = i;
            }
        }
        mean += m[e] / 5;
    }
    int merged = 0, skipped = 0;
    for (int i = 0; i < 5; i++) {
        double ks[d] = {keys[kept[i]][0], keys[kept[i]][1]};
        double vs[d] = {vals[kept[i]][0], vals[kept[i]][1]};
        int n = 0;
        for (int e = 0; e < 5; e++) {
            if (to[e] != i) continue;
            if (m[e] > mean) {
                for (int t = 0; t < d; t++) {
                    ks[t] += m[e] * keys[ev[e]][t];
                    vs[t] += m[e] * vals[ev[e]][t];
                }
                n++;
            } else
                skipped++;
        }
        merged += n;
        const float *kk = kv_key(kv, LB, 0, i), *vv = kv_value(kv, LB, 0, i);
        for (int t = 0; t < d; t++) {
            assert_true(fabs(kk[t] - ks[t] / (1 + n)) < 1e-5);
            assert_true(fabs(vv[t] - vs[t] / (1 + n)) < 1e-5);
        }
    }
    /* the pattern exercises both sides of the threshold */
    assert_true(merged > 0);
    assert_true(skipped > 0);
    kv_free(&kv);
}

static void test_quest_attends_budget_from_layer_two_and_evicts_nothing(void **state)
{
    (void)state;
    enum { L = 3, P = 70 };
    kv_config_t c = kvt_config(KV_QUEST, L, 2, 1, 4, 128, P);
    kv_t *kv = make(&c);
    kvt_run(kv, 0, 100, 5);
    for (int pos = P; pos < 100; pos++) {
        assert_int_equal(kv_attended(kv, pos, 0), pos + 1);
        assert_int_equal(kv_attended(kv, pos, 1), pos + 1);
        assert_int_equal(kv_attended(kv, pos, 2), kv_budget_tokens(&c, pos));
    }
    for (int l = 0; l < L; l++)
        assert_int_equal(kv_len(kv, l), 100);
    /* the newest page is always in the selection */
    int sel[128], n = kv_debug_selection(kv, 2, 0, sel);
    assert_int_equal(sel[n - 1], 99);
    assert_int_equal(sel[n - 4], 96);
    kv_free(&kv);
}

static void test_budgeted_policies_attend_the_same_count(void **state)
{
    (void)state;
    enum { L = 6, G = 2, P = 90, STEPS = 60 };
    kv_policy_t pols[] = {KV_STREAMING, KV_H2O, KV_SNAPKV, KV_TOVA,
                          KV_CAKE,      KV_D2O, KV_QUEST,  KV_MPCACHE};
    for (size_t pi = 0; pi < sizeof pols / sizeof pols[0]; pi++) {
        kv_config_t c = kvt_config(pols[pi], L, 4, G, 8, 256, P);
        c.cluster_coarse = 8;
        c.cluster_fine = 4;
        c.window = 8;
        kv_t *kv = make(&c);
        kvt_run(kv, 0, P + STEPS, 99);
        for (int pos = P; pos < P + STEPS; pos++) {
            int n = kv_budget_tokens(&c, pos), sum = 0, nb = 0;
            for (int l = 0; l < L; l++) {
                int a = kv_attended(kv, pos, l);
                int budgeted = !(pols[pi] == KV_QUEST && l < 2) &&
                               !(pols[pi] == KV_D2O && (l < 2 || l == L - 1));
                if (!budgeted) {
                    assert_int_equal(a, G * (pos + 1));
                    continue;
                }
                if (pols[pi] != KV_CAKE && pols[pi] != KV_D2O) assert_int_equal(a, G * n);
                sum += a;
                nb++;
            }
            if (sum != nb * G * n)
                fail_msg("%s at %d: %d != %d", kv_policy_name(pols[pi]), pos, sum, nb * G * n);
        }
        kv_free(&kv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streaming_keeps_sinks_and_window),
        cmocka_unit_test(test_h2o_keeps_heavy_and_recent_evicts_one_per_step),
        cmocka_unit_test(test_snapkv_pools_before_topk),
        cmocka_unit_test(test_tova_keeps_last_query_top),
        cmocka_unit_test(test_cake_budgets_sum_to_total_and_follow_preferences),
        cmocka_unit_test(test_d2o_merges_above_threshold_with_weighted_mean),
        cmocka_unit_test(test_quest_attends_budget_from_layer_two_and_evicts_nothing),
        cmocka_unit_test(test_budgeted_policies_attend_the_same_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
