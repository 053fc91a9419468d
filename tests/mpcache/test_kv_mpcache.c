/* tests/mpcache/test_kv_mpcache.c - MPCache in plaintext: the fixed static
 * budget against an oracle of the window attention, the sink and newest
 * clusters, the exact attended count at every step, query-aware selection,
 * and cross-layer index sharing (L = 6 shares layer 3 with layer 2; L = 5
 * never shares).
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

static kv_config_t small(int L, int P)
{
    kv_config_t c = kvt_config(KV_MPCACHE, L, 2, 1, 4, 128, P);
    c.cluster_coarse = 8;
    c.cluster_fine = 4;
    return c;
}

static void test_mpcache_static_keeps_fixed_top_budget(void **state)
{
    (void)state;
    enum { P = 40, H = 2, d = 4, T = 128 };
    kv_config_t c = small(1, P);
    kv_t *kv = make(&c);
    static float q[T * H * d], k[T * d], v[T * d], att[H * T];
    uint64_t s = 17;
    for (int i = 0; i < T * H * d; i++)
        q[i] = 2 * kvt_rand(&s);
    for (int i = 0; i < T * d; i++)
        k[i] = 2 * kvt_rand(&s);
    for (int pos = 0; pos < P; pos++)
        kvt_layer(kv, 0, pos, q + pos * H * d, k + pos * d, v, att);
    int bs = kv_static_keep(&c), nw = kv_static_window(&c);
    assert_int_equal(bs, 20);
    assert_int_equal(nw, 8);
    assert_int_equal(kv_len(kv, 0), bs);

    /* oracle: scaled, causal window attention, mean over heads, summed */
    double score[P] = {0}, probs[8 * P];
    int kpos[P], qpos[8];
    for (int j = 0; j < P; j++)
        kpos[j] = j;
    for (int i = 0; i < nw; i++)
        qpos[i] = P - nw + i;
    for (int h = 0; h < H; h++) {
        kv_window_attention(q + (P - nw) * H * d + h * d, H * d, qpos, nw, k, d, kpos, P, d, probs);
        for (int i = 0; i < nw; i++)
            for (int j = 0; j < P; j++)
                score[j] += probs[i * P + j] / H;
    }
    /* the middle keeps its top bs - sinks - window by that score */
    int keep_mid = bs - 4 - nw, kept[P] = {0};
    for (int s2 = 0; s2 < bs; s2++)
        kept[kv_slot_pos(kv, 0, 0, s2)] = 1;
    for (int j = 0; j < 4; j++)
        assert_true(kept[j]);
    for (int j = P - nw; j < P; j++)
        assert_true(kept[j]);
    int nmid = 0;
    for (int j = 4; j < P - nw; j++) {
        if (!kept[j]) continue;
        nmid++;
        /* every kept middle token beats every evicted one */
        for (int x = 4; x < P - nw; x++)
            if (!kept[x]) assert_true(score[j] > score[x] || (score[j] == score[x] && j < x));
    }
    assert_int_equal(nmid, keep_mid);
    kv_free(&kv);

    /* B_s >= P keeps everything */
    c = small(1, 10);
    kv = make(&c);
    kvt_run(kv, 0, 10, 1);
    assert_int_equal(kv_len(kv, 0), 10);
    kv_free(&kv);
}

static void test_mpcache_attends_exact_budget_with_sink_and_newest(void **state)
{
    (void)state;
    enum { P = 64, STEPS = 50 };
    kv_config_t c = small(2, P);
    kv_t *kv = make(&c);
    kvt_run(kv, 0, P, 23);
    int bs = kv_static_keep(&c);
    for (int pos = P; pos < P + STEPS; pos++) {
        kvt_run(kv, pos, pos + 1, 1000 + (uint64_t)pos);
        int T = bs + pos - P + 1;
        kv_plan_t p = kv_mpcache_plan(T, c.budget / c.static_keep, 8, 4);
        assert_int_equal(kv_len(kv, 0), T);
        for (int l = 0; l < 2; l++) {
            assert_int_equal(kv_attended(kv, pos, l), p.count);
            assert_int_equal(p.count, kv_budget_tokens(&c, pos));
            int clu[128], sel[128];
            int nc = kv_debug_clusters(kv, l, 0, clu);
            int n = kv_debug_selection(kv, l, 0, sel);
            assert_int_equal(n, p.count);
            if (p.k2 == p.g2) continue;
            assert_int_equal(nc, p.k2);
            assert_int_equal(clu[0], 0);             /* the sink cluster */
            assert_int_equal(clu[nc - 1], p.g2 - 1); /* the newest cluster */
            for (int i = 0; i < 4; i++)
                assert_int_equal(sel[i], i);
            assert_int_equal(sel[n - 1], pos);
        }
    }
    kv_free(&kv);
}

/* Keys: cluster 3 points along +x, cluster 5 along +y, the rest is noise. */
static int run_query(const float *qdec, int *clu)
{
    enum { P = 48, H = 2, d = 4 };
    kv_config_t c = small(1, P);
    c.static_keep = 1.0; /* no static eviction: clusters sit at known places */
    kv_t *kv = make(&c);
    float q[H * d], k[d], v[d] = {0}, att[H * 128];
    uint64_t s = 5;
    for (int pos = 0; pos <= P; pos++) {
        for (int i = 0; i < d; i++)
            k[i] = 0.1f * kvt_rand(&s);
        if (pos / 4 == 3) {
            k[0] = 3;
            k[1] = -3;
        }
        if (pos / 4 == 5) {
            k[0] = -3;
            k[1] = 3;
        }
        for (int i = 0; i < H * d; i++)
            q[i] = pos == P ? qdec[i % d] : 0.1f * kvt_rand(&s);
        kvt_layer(kv, 0, pos, q, k, v, att);
    }
    int n = kv_debug_clusters(kv, 0, 0, clu);
    kv_free(&kv);
    return n;
}

static int has(const int *a, int n, int x)
{
    for (int i = 0; i < n; i++)
        if (a[i] == x) return 1;
    return 0;
}

static void test_mpcache_selection_is_query_aware(void **state)
{
    (void)state;
    float qx[4] = {5, 0, 0, 0}, qy[4] = {0, 5, 0, 0};
    int cx[64], cy[64];
    int nx = run_query(qx, cx), ny = run_query(qy, cy);
    assert_int_equal(nx, 4); /* ceil(0.25 * 13) */
    assert_int_equal(ny, 4);
    assert_true(has(cx, nx, 3) && !has(cx, nx, 5));
    assert_true(has(cy, ny, 5) && !has(cy, ny, 3));
}

static int same_selection(kv_t *kv, int a, int b, int G)
{
    int sa[256], sb[256];
    for (int g = 0; g < G; g++) {
        int na = kv_debug_selection(kv, a, g, sa), nb = kv_debug_selection(kv, b, g, sb);
        if (na != nb || memcmp(sa, sb, (size_t)na * sizeof(int)) != 0) return 0;
    }
    return 1;
}

static void test_mpcache_shares_layer_three_with_two_on_six_layers(void **state)
{
    (void)state;
    enum { L = 6, G = 2, P = 80 };
    kv_config_t c = kvt_config(KV_MPCACHE, L, 4, G, 8, 256, P);
    c.cluster_coarse = 8;
    c.cluster_fine = 4;
    kv_t *kv = make(&c);
    kvt_run(kv, 0, P, 77);
    /* one static set per pair */
    for (int s = 0; s < kv_len(kv, 2); s++)
        assert_int_equal(kv_slot_pos(kv, 2, 0, s), kv_slot_pos(kv, 3, 0, s));
    int differ21 = 0, differ43 = 0;
    for (int pos = P; pos < P + 40; pos++) {
        kvt_run(kv, pos, pos + 1, 500 + (uint64_t)pos);
        assert_true(same_selection(kv, 2, 3, G));
        differ21 |= !same_selection(kv, 1, 2, G);
        differ43 |= !same_selection(kv, 3, 4, G);
    }
    assert_true(differ21); /* layer 2 selects for itself */
    assert_true(differ43); /* L - 2 selects for itself */
    kv_free(&kv);
}

static void test_mpcache_never_shares_on_five_layers(void **state)
{
    (void)state;
    enum { L = 5, G = 2, P = 80 };
    kv_config_t c = kvt_config(KV_MPCACHE, L, 4, G, 8, 256, P);
    c.cluster_coarse = 8;
    c.cluster_fine = 4;
    kv_t *kv = make(&c);
    kvt_run(kv, 0, P, 77);
    int differ[L] = {0};
    for (int pos = P; pos < P + 40; pos++) {
        kvt_run(kv, pos, pos + 1, 500 + (uint64_t)pos);
        for (int l = 1; l < L; l++)
            differ[l] |= !same_selection(kv, l - 1, l, G);
    }
    for (int l = 1; l < L; l++)
        assert_true(differ[l]);
    kv_free(&kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpcache_static_keeps_fixed_top_budget),
        cmocka_unit_test(test_mpcache_attends_exact_budget_with_sink_and_newest),
        cmocka_unit_test(test_mpcache_selection_is_query_aware),
        cmocka_unit_test(test_mpcache_shares_layer_three_with_two_on_six_layers),
        cmocka_unit_test(test_mpcache_never_shares_on_five_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
