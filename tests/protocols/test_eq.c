/* tests/protocols/test_eq.c - equality and one-hot from a DPF over the
 * three-thread harness: results equal the plaintext twins on random values
 * and edges (zero, ±1, differences at the bound, equal pairs, indices 0 and
 * n − 1, windows), the traffic is what eq.h states (1 round, ⌈n/8⌉ bytes
 * per element, the DPF key offline) and it does not depend on the inputs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/eq.h"
#include "protocols/fss.h"

typedef struct {
    int onehot;
    size_t count, n, width; /* one-hot: domain n, first width columns */
    int nbits;              /* equality */
    uint64_t *x[2], *y[2], *z[2];
} eq_case_t;

static mpc_err_t eq_role(mpc_ctx_t *ctx, void *arg)
{
    eq_case_t *c = arg;
    if (ctx->party == MPC_DEALER)
        return c->onehot ? eq_onehot_gen(ctx, c->count, c->n, c->width)
                         : eq_gen(ctx, c->count, c->nbits);
    int p = ctx->party;
    if (c->onehot) return eq_onehot_eval(ctx, c->z[p], c->x[p], c->count, c->n, c->width);
    return eq_eval(ctx, c->z[p], c->x[p], c->y[p], c->count, c->nbits);
}

/* Runs one case, checks it against the twin and the stated traffic, and
 * returns the result record (caller frees). */
static tu_result_t *run_case(int onehot, int nbits, size_t n, size_t width, const uint64_t *x,
                             const uint64_t *y, size_t count)
{
    eq_case_t c = {.onehot = onehot, .count = count, .n = n, .width = width, .nbits = nbits};
    size_t outn = onehot ? count * width : count;
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(count * 8);
        c.y[p] = malloc(count * 8);
        c.z[p] = malloc(outn * 8);
        assert_non_null(c.x[p]);
        assert_non_null(c.y[p]);
        assert_non_null(c.z[p]);
    }
    tu_share(c.x[0], c.x[1], x, count);
    if (!onehot) tu_share(c.y[0], c.y[1], y, count);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    if (tu_run(NULL, eq_role, &c, res) != 0)
        fail_msg("run failed: P0 '%s' P1 '%s' dealer '%s'", res->msg[0], res->msg[1], res->msg[2]);
    uint64_t *want = malloc(outn * 8);
    assert_non_null(want);
    if (onehot)
        eq_onehot_plain(want, x, count, n, width);
    else
        eq_plain(want, x, y, count, nbits);
    for (size_t i = 0; i < outn; i++) {
        uint64_t got = c.z[0][i] + c.z[1][i];
        if (got != want[i])
            fail_msg("%s at %zu: got %llu want %llu", onehot ? "onehot" : "eq", i,
                     (unsigned long long)got, (unsigned long long)want[i]);
    }
    const char *op = onehot ? "onehot" : "eq";
    int bits = onehot ? eq_index_bits(n) : nbits;
    size_t kb = fss_dpf_key_bytes(bits, FSS_Z64);
    assert_int_equal(kb, 24 + 16 * (size_t)bits + ((size_t)bits + 7) / 8);
    assert_int_equal(onehot ? eq_onehot_key_bytes(n) : eq_key_bytes(nbits), kb);
    assert_int_equal(tu_rounds(res), 1);
    for (int p = 0; p < 2; p++) {
        stats_row_t row = stats_op(&res->stats[p], op);
        assert_int_equal(row.rounds, 1);
        assert_int_equal(row.bytes_sent, count * (((size_t)bits + 7) / 8));
        assert_int_equal(tu_bytes_sent(res, p), count * (((size_t)bits + 7) / 8));
        assert_int_equal(tu_offline_bytes(res, p), count * kb); /* the mask is seeded */
    }
    free(want);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
        free(c.z[p]);
    }
    return res;
}

static uint64_t lo_bound(int nbits)
{
    return (uint64_t)0 - ((uint64_t)1 << (nbits - 1));
}

static uint64_t hi_bound(int nbits)
{
    return ((uint64_t)1 << (nbits - 1)) - 1;
}

static void test_eq_matches_plain_on_edges_equal_pairs_and_random(void **state)
{
    (void)state;
    enum { N = 400 };
    static const int widths[] = {1, 2, 8, 16, 24, 37, 64};
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int nb = widths[w];
        uint64_t x[N], y[N];
        for (size_t i = 0; i < N; i++) {
            uint64_t off, d;
            prg_u64(g, &off, 1);
            prg_u64(g, &d, 1);
            d = nb == 64 ? d : (d & (((uint64_t)1 << nb) - 1)) + lo_bound(nb);
            y[i] = off;
            x[i] = off + (i % 2 ? d : 0); /* half the pairs are equal */
        }
        const uint64_t diffs[] = {0, 1, (uint64_t)-1, lo_bound(nb), hi_bound(nb), 2};
        size_t k = 0;
        for (size_t i = 0; i < sizeof diffs / sizeof *diffs; i++) {
            uint64_t d = diffs[i];
            if (nb < 64 && d + ((uint64_t)1 << (nb - 1)) >= ((uint64_t)1 << nb)) continue;
            y[k] = (uint64_t)0 - 7; /* a negative y */
            x[k] = y[k] + d;
            k++;
            y[k] = 0;
            x[k] = d;
            k++;
        }
        x[k] = y[k] = 0; /* zero against zero */
        k++;
        x[k] = y[k] = (uint64_t)1 << 63; /* the extreme value, equal */
        free(run_case(0, nb, 0, 0, x, y, N));
    }
    prg_free(&g);
}

static void test_eq_onehot_matches_plain_for_sizes_and_windows(void **state)
{
    (void)state;
    static const size_t sizes[][2] = {{1, 1}, {2, 2}, {5, 5}, {5, 3}, {128, 128}, {128, 16},
                                      {1000, 1000}, {32000, 7}};
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 2);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s][0], width = sizes[s][1], count = n > 1000 ? 20 : 40;
        uint64_t *idx = malloc(count * 8);
        assert_non_null(idx);
        prg_u64(g, idx, count);
        for (size_t i = 0; i < count; i++) idx[i] %= n;
        idx[0] = 0;
        idx[1] = n - 1;
        idx[2] = width - 1; /* the window's last column */
        free(run_case(1, 0, n, width, idx, NULL, count));
        free(idx);
    }
    prg_free(&g);
}

static void assert_same_traffic(const tu_result_t *a, const tu_result_t *b)
{
    for (int p = 0; p < 3; p++) {
        stats_row_t sa = stats_total(&a->stats[p], -1), sb = stats_total(&b->stats[p], -1);
        assert_int_equal(sa.bytes_sent, sb.bytes_sent);
        assert_int_equal(sa.bytes_recv, sb.bytes_recv);
        assert_int_equal(sa.msgs_sent, sb.msgs_sent);
        assert_int_equal(sa.msgs_recv, sb.msgs_recv);
        assert_int_equal(sa.rounds, sb.rounds);
        assert_int_equal(sa.offline_bytes, sb.offline_bytes);
    }
    assert_int_equal(tu_rounds(a), tu_rounds(b));
}

static void test_eq_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { N = 100, NB = 24, DOM = 300 };
    uint64_t a[N], b[N], y[N], ia[N], ib[N];
    for (size_t i = 0; i < N; i++) {
        a[i] = y[i] = i; /* all equal */
        b[i] = i % 2 ? hi_bound(NB) : 5;
        ia[i] = 0;
        ib[i] = (i * 37) % DOM;
    }
    tu_result_t *ra = run_case(0, NB, 0, 0, a, y, N), *rb = run_case(0, NB, 0, 0, b, y, N);
    assert_same_traffic(ra, rb);
    free(ra);
    free(rb);
    ra = run_case(1, 0, DOM, DOM, ia, NULL, N);
    rb = run_case(1, 0, DOM, DOM, ib, NULL, N);
    assert_same_traffic(ra, rb);
    free(ra);
    free(rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_matches_plain_on_edges_equal_pairs_and_random),
        cmocka_unit_test(test_eq_onehot_matches_plain_for_sizes_and_windows),
        cmocka_unit_test(test_eq_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
