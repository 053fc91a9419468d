/* tests/mpcache/test_kv_math.c - the pure maths of the KV policies: top-k
 * ties, MPCache's plan and the common budget, proportional shares, Quest's
 * page bound, pooling, the sharing rule, and bad configurations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kvtest.h"

static void test_kv_topk_breaks_ties_toward_lower_index(void **state)
{
    (void)state;
    double s[8] = {1, 3, 2, 3, 1, 3, 0, 2};
    int out[8], scratch[16];
    kv_topk(s, 8, 2, out, scratch);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 3);
    kv_topk(s, 8, 4, out, scratch);
    int want4[4] = {1, 2, 3, 5};
    assert_memory_equal(out, want4, sizeof want4);
    double inf[5] = {-INFINITY, -INFINITY, INFINITY, -INFINITY, 0};
    kv_topk(inf, 5, 3, out, scratch);
    int want3[3] = {0, 2, 4};
    assert_memory_equal(out, want3, sizeof want3);
}

static void test_kv_plan_counts_sink_and_newest_inside_budget(void **state)
{
    (void)state;
    /* T = 30, B = 4: 8 fine clusters, the newest holds 2 tokens */
    kv_plan_t p = kv_mpcache_plan(30, 0.5, 8, 4);
    assert_int_equal(p.g2, 8);
    assert_int_equal(p.g1, 4);
    assert_int_equal(p.k2, 4);
    assert_int_equal(p.k1, 4); /* max(0.5, 2 * 0.5) = 1: all survive */
    assert_int_equal(p.count, 4 + 2 * 4 + 2);
    p = kv_mpcache_plan(64, 0.25, 8, 4);
    assert_int_equal(p.g2, 16);
    assert_int_equal(p.k2, 4);
    assert_int_equal(p.k1, 4); /* ceil(0.5 * 8) */
    assert_int_equal(p.count, 16);
    p = kv_mpcache_plan(7, 0.1, 8, 4); /* two clusters: all */
    assert_int_equal(p.count, 7);
    p = kv_mpcache_plan(40, 1.0, 8, 4);
    assert_int_equal(p.count, 40);
}

static void test_kv_budget_grows_at_most_one_per_step(void **state)
{
    (void)state;
    kv_config_t c = kvt_config(KV_MPCACHE, 1, 1, 1, 4, 2048, 300);
    int prev = kv_budget_tokens(&c, c.prompt_len);
    for (int pos = c.prompt_len + 1; pos < 2048; pos++) {
        int b = kv_budget_tokens(&c, pos);
        assert_true(b <= prev + 1);
        assert_true(b >= 1 && b <= pos + 1);
        prev = b;
    }
    /* during the prompt: everything */
    assert_int_equal(kv_budget_tokens(&c, 10), 11);
    /* R = 1 for a non-MPCache policy attends everything (S raised to R) */
    c.policy = KV_H2O;
    c.budget = 1.0;
    assert_int_equal(kv_budget_tokens(&c, 400), 401);
    c.fixed_budget = 50;
    assert_int_equal(kv_budget_tokens(&c, 400), 50);
}

static void test_kv_static_keep_formula(void **state)
{
    (void)state;
    kv_config_t c = kvt_config(KV_MPCACHE, 1, 1, 1, 4, 512, 100);
    assert_int_equal(kv_static_window(&c), 20);
    assert_int_equal(kv_static_keep(&c), 50);
    c.prompt_len = 30; /* window max(8, 6) = 8; max(15, 4 + 8) = 15 */
    assert_int_equal(kv_static_window(&c), 8);
    assert_int_equal(kv_static_keep(&c), 15);
    c.prompt_len = 10; /* 4 + 8 >= 10: everything */
    assert_int_equal(kv_static_keep(&c), 10);
    c.prompt_len = 30;
    c.static_keep = 0.1; /* ceil(3) = 3 < 12 */
    assert_int_equal(kv_static_keep(&c), 12);
}

static void test_kv_alloc_shares_sum_and_proportion(void **state)
{
    (void)state;
    double w[4] = {1, 2, 3, 4};
    int lo[4] = {0, 0, 0, 0}, hi[4] = {100, 100, 100, 100}, out[4];
    kv_alloc_shares(w, lo, hi, 4, 50, out);
    int want[4] = {5, 10, 15, 20};
    assert_memory_equal(out, want, sizeof want);
    kv_alloc_shares(w, lo, hi, 4, 7, out); /* 0.7 1.4 2.1 2.8 */
    assert_int_equal(out[0] + out[1] + out[2] + out[3], 7);
    int want7[4] = {1, 1, 2, 3};
    assert_memory_equal(out, want7, sizeof want7);
    int hi2[4] = {100, 100, 100, 10}; /* a capped share flows to the rest */
    kv_alloc_shares(w, lo, hi2, 4, 50, out);
    assert_int_equal(out[3], 10);
    assert_int_equal(out[0] + out[1] + out[2], 40);
    assert_true(out[0] <= out[1] && out[1] <= out[2]);
}

static void test_kv_page_score_is_tight_upper_bound(void **state)
{
    (void)state;
    uint64_t s = 7;
    enum { d = 8, n = 16 };
    for (int trial = 0; trial < 50; trial++) {
        float q[d], keys[n][d], mx[d], mn[d];
        for (int i = 0; i < d; i++)
            q[i] = kvt_rand(&s);
        for (int r = 0; r < n; r++)
            for (int i = 0; i < d; i++)
                keys[r][i] = kvt_rand(&s);
        kv_minmax(&keys[0][0], n, d, d, mx, mn);
        double bound = kv_page_score(q, mx, mn, d);
        for (int r = 0; r < n; r++) {
            double dot = 0;
            for (int i = 0; i < d; i++)
                dot += (double)q[i] * keys[r][i];
            assert_true(dot <= bound + 1e-9);
        }
        /* a key at the corner picked by q's signs reaches the bound */
        for (int i = 0; i < d; i++)
            keys[n - 1][i] = q[i] >= 0 ? mx[i] : mn[i];
        kv_minmax(&keys[0][0], n, d, d, mx, mn);
        double dot = 0;
        for (int i = 0; i < d; i++)
            dot += (double)q[i] * keys[n - 1][i];
        assert_true(fabs(kv_page_score(q, mx, mn, d) - dot) < 1e-9);
    }
}

static void test_kv_cluster_score_is_linear_mix(void **state)
{
    (void)state;
    float q[3] = {1, -2, 0.5f}, mx[3] = {2, 1, 4}, mn[3] = {-1, 0, 2};
    /* q . (0.6 mx + 0.4 mn) = 1*0.8 - 2*0.6 + 0.5*3.2 */
    assert_true(fabs(kv_cluster_score(q, mx, mn, 3, 0.6) - (0.8 - 1.2 + 1.6)) < 1e-9);
}

static void test_kv_avg_pool_counts_padding(void **state)
{
    (void)state;
    double x[5] = {5, 0, 0, 0, 10}, out[5];
    kv_avg_pool(x, 5, 5, out);
    assert_true(fabs(out[0] - 1.0) < 1e-12); /* (5 + 0 + 0) / 5 */
    assert_true(fabs(out[2] - 3.0) < 1e-12);
    assert_true(fabs(out[4] - 2.0) < 1e-12);
}

static void test_kv_share_source_pairs(void **state)
{
    (void)state;
    for (int l = 0; l < 5; l++)
        assert_int_equal(kv_share_source(l, 5), l);
    int want6[6] = {0, 1, 2, 2, 4, 5};
    for (int l = 0; l < 6; l++)
        assert_int_equal(kv_share_source(l, 6), want6[l]);
    int want8[8] = {0, 1, 2, 2, 4, 4, 6, 7};
    for (int l = 0; l < 8; l++)
        assert_int_equal(kv_share_source(l, 8), want8[l]);
}

static void test_kv_bad_configs_are_earg(void **state)
{
    (void)state;
    char msg[256];
    mpc_err_t err;
    kv_config_t c = kvt_config(KV_MPCACHE, 2, 2, 1, 4, 64, 16);
    c.budget = 0.6;
    c.static_keep = 0.5;
    assert_null(kv_new(&c, &err, msg, sizeof msg));
    assert_int_equal(err, MPC_EARG);
    assert_non_null(strstr(msg, "R <= "));
    c.budget = 0;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "--budget"));
    c.budget = 1.5;
    c.policy = KV_H2O;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_EARG);
    c.budget = 0.25;
    c.cluster_coarse = 12;
    c.cluster_fine = 8;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "--clusters"));
    c.cluster_coarse = 32;
    c.cluster_fine = 16;
    c.prompt_len = 65;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_EARG);
    c.prompt_len = 16;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_OK);
    /* R > S is fine for the baselines */
    c.budget = 0.8;
    assert_int_equal(kv_config_check(&c, msg, sizeof msg), MPC_OK);

    kv_policy_t p;
    assert_int_equal(kv_policy_parse("nope", &p, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "nope"));
    assert_non_null(strstr(msg, "mpcache"));
    assert_int_equal(kv_policy_parse("snapkv", &p, msg, sizeof msg), MPC_OK);
    assert_int_equal(p, KV_SNAPKV);
    assert_string_equal(kv_policy_name(KV_D2O), "d2o");
    kv_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_topk_breaks_ties_toward_lower_index),
        cmocka_unit_test(test_kv_plan_counts_sink_and_newest_inside_budget),
        cmocka_unit_test(test_kv_budget_grows_at_most_one_per_step),
        cmocka_unit_test(test_kv_static_keep_formula),
        cmocka_unit_test(test_kv_alloc_shares_sum_and_proportion),
        cmocka_unit_test(test_kv_page_score_is_tight_upper_bound),
        cmocka_unit_test(test_kv_cluster_score_is_linear_mix),
        cmocka_unit_test(test_kv_avg_pool_counts_padding),
        cmocka_unit_test(test_kv_share_source_pairs),
        cmocka_unit_test(test_kv_bad_configs_are_earg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
