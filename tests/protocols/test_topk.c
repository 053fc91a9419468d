/* tests/protocols/test_topk.c - oblivious top-k: both algorithms' twins
 * equal a direct reference (order by value, then by lower index) on many
 * sizes, ties and all-equal rows, with exactly k selections; both protocols
 * equal the twin over the three-thread harness, with the rounds and bytes
 * topk_cost states; the plan keeps top-16 of 128 within 8 rounds; the
 * traffic does not depend on the inputs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/topk.h"

#define NB 28 /* |x| < 1000 at scale 16: differences < 2^27 */

/* The reference: row j of the selection is the j-th element in the order
 * (greater value first, then lower index). */
static void reference(uint64_t *out, const uint64_t *x, size_t rows, size_t n, size_t k)
{
    memset(out, 0, rows * k * n * 8);
    uint8_t *taken = malloc(n);
    assert_non_null(taken);
    for (size_t r = 0; r < rows; r++) {
        memset(taken, 0, n);
        for (size_t j = 0; j < k; j++) {
            size_t best = n;
            for (size_t i = 0; i < n; i++)
                if (!taken[i] &&
                    (best == n || fxp_signed(x[r * n + i]) > fxp_signed(x[r * n + best])))
                    best = i;
            taken[best] = 1;
            out[(r * k + j) * n + best] = 1;
        }
    }
    free(taken);
}

/* Exactly one 1 per selection row, at most one per column. */
static void assert_selection(const uint64_t *s, size_t rows, size_t n, size_t k)
{
    for (size_t r = 0; r < rows; r++) {
        size_t total = 0;
        for (size_t j = 0; j < k; j++) {
            size_t ones = 0;
            for (size_t i = 0; i < n; i++) {
                assert_true(s[(r * k + j) * n + i] <= 1);
                ones += s[(r * k + j) * n + i];
            }
            assert_int_equal(ones, 1);
            total += ones;
        }
        for (size_t i = 0; i < n; i++) {
            size_t col = 0;
            for (size_t j = 0; j < k; j++) col += s[(r * k + j) * n + i];
            assert_true(col <= 1);
        }
        assert_int_equal(total, k);
    }
}

static void fill(uint64_t *x, size_t count, double lim, int ties)
{
    double *d = malloc(count * sizeof *d);
    assert_non_null(d);
    tu_uniform(d, count, -lim, lim);
    for (size_t i = 0; i < count; i++)
        x[i] = ties ? (uint64_t)(int64_t)((int)d[i] % 3) : fxp_encode(d[i], 16);
    free(d);
}

static void test_topk_twins_equal_the_reference_with_ties(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 70; n += (n < 20 ? 1 : 7))
        for (size_t k = 1; k <= n; k += (k < 4 ? 1 : 5))
            for (int ties = 0; ties < 3; ties++) {
                enum { ROWS = 3 };
                uint64_t *x = malloc(ROWS * n * 8), *want = malloc(ROWS * k * n * 8);
                uint64_t *got = malloc(ROWS * k * n * 8);
                assert_non_null(x);
                assert_non_null(want);
                assert_non_null(got);
                fill(x, ROWS * n, 1000, ties == 1);
                if (ties == 2)
                    for (size_t i = 0; i < ROWS * n; i++) x[i] = 42; /* all equal */
                reference(want, x, ROWS, n, k);
                for (int a = TOPK_RANK; a <= TOPK_SORT; a++) {
                    topk_plain(got, x, ROWS, n, k, NB, (topk_algo_t)a);
                    assert_memory_equal(got, want, ROWS * k * n * 8);
                    assert_selection(got, ROWS, n, k);
                }
                free(x);
                free(want);
                free(got);
            }
}

typedef struct {
    topk_algo_t algo;
    size_t rows, n, k;
    int nbits;
    uint64_t *x[2], *out[2];
} tk_case_t;

static mpc_err_t tk_role(mpc_ctx_t *ctx, void *arg)
{
    tk_case_t *c = arg;
    if (ctx->party == MPC_DEALER) return topk_gen(ctx, c->rows, c->n, c->k, c->nbits, c->algo);
    int p = ctx->party;
    return topk_eval(ctx, c->out[p], c->x[p], c->rows, c->n, c->k, c->nbits, c->algo);
}

static tu_result_t *run_case(topk_algo_t algo, const uint64_t *x, size_t rows, size_t n, size_t k,
                             int nbits)
{
    tk_case_t c = {.algo = algo, .rows = rows, .n = n, .k = k, .nbits = nbits};
    size_t outn = rows * k * n;
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(rows * n * 8);
        c.out[p] = malloc(outn * 8);
        assert_non_null(c.x[p]);
        assert_non_null(c.out[p]);
    }
    tu_share(c.x[0], c.x[1], x, rows * n);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    if (tu_run(NULL, tk_role, &c, res) != 0)
        fail_msg("run failed: P0 '%s' P1 '%s' dealer '%s'", res->msg[0], res->msg[1], res->msg[2]);
    uint64_t *want = malloc(outn * 8), *ref = malloc(outn * 8), *got = malloc(outn * 8);
    assert_non_null(want);
    assert_non_null(ref);
    assert_non_null(got);
    topk_plain(want, x, rows, n, k, nbits, algo);
    reference(ref, x, rows, n, k);
    assert_memory_equal(want, ref, outn * 8);
    for (size_t i = 0; i < outn; i++) got[i] = c.out[0][i] + c.out[1][i];
    assert_memory_equal(got, want, outn * 8);
    assert_selection(got, rows, n, k);

    topk_net_t lan = topk_net_lan();
    topk_algo_t used = algo == TOPK_AUTO ? topk_plan(rows, n, k, nbits, &lan) : algo;
    topk_cost_t cost = topk_cost(rows, n, k, nbits, used, &lan);
    assert_int_equal(tu_rounds(res), cost.rounds);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(stats_total(&res->stats[p], -1).rounds, cost.rounds);
        assert_int_equal(tu_bytes_sent(res, p), cost.bytes);
    }
    assert_int_equal(tu_offline_bytes(res, 1), cost.offline_bytes);
    free(want);
    free(ref);
    free(got);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.out[p]);
    }
    return res;
}

static void test_topk_protocols_match_the_twin_with_stated_rounds(void **state)
{
    (void)state;
    static const size_t shapes[][3] = {{2, 16, 2}, {1, 37, 5}, {2, 128, 16}, {1, 2, 1},
                                       {3, 5, 5},  {1, 1, 1},  {1, 9, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t rows = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        uint64_t *x = malloc(rows * n * 8);
        assert_non_null(x);
        for (int ties = 0; ties < 2; ties++) {
            fill(x, rows * n, 1000, ties);
            for (int a = TOPK_RANK; a <= TOPK_SORT; a++) free(run_case((topk_algo_t)a, x, rows, n, k, NB));
        }
        free(x);
    }
}

/* All-equal rows, values at the bound and masked entries at the sentinel:
 * still exactly k selections, the lowest indices first. */
static void test_topk_edges_all_equal_bound_and_sentinel(void **state)
{
    (void)state;
    enum { ROWS = 4, N = 24, K = 6 };
    static const int widths[] = {3, 20, 50};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int nb = widths[w];
        uint64_t top = ((uint64_t)1 << (nb - 2)) - 1, sentinel = (uint64_t)0 - (top + 1);
        uint64_t x[ROWS * N];
        for (size_t i = 0; i < N; i++) {
            x[0 * N + i] = 0;                             /* all equal */
            x[1 * N + i] = sentinel;                      /* fully masked */
            x[2 * N + i] = i % 4 ? sentinel : top;        /* 6 at the top, rest masked */
            x[3 * N + i] = i < 20 ? sentinel : top - i % 2; /* 4 real, k = 6: then masked, lowest first */
        }
        for (int a = TOPK_RANK; a <= TOPK_SORT; a++) free(run_case((topk_algo_t)a, x, ROWS, N, K, nb));
    }
}

/* The plan: top-16 of 128 within 8 rounds on the LAN defaults; a large n
 * on a slow link with the dealer streaming prefers the network. */
static void test_topk_plan_meets_the_round_target(void **state)
{
    (void)state;
    topk_net_t lan = topk_net_lan();
    topk_algo_t a = topk_plan(1, 128, 16, NB, &lan);
    topk_cost_t c = topk_cost(1, 128, 16, NB, a, &lan);
    assert_true(c.rounds <= 8);
    assert_int_equal(a, TOPK_RANK);
    topk_cost_t s = topk_cost(1, 128, 16, NB, TOPK_SORT, &lan);
    assert_true(s.comparisons < c.comparisons);
    assert_true(s.rounds > c.rounds);
    topk_net_t stream = {.bandwidth = 1e8 / 8, .rtt = 0.5e-3, .offline_weight = 1};
    assert_int_equal(topk_plan(1, 4096, 64, NB, &stream), TOPK_SORT);
    /* The auto path runs what the plan chose. */
    uint64_t x[128];
    fill(x, 128, 1000, 0);
    free(run_case(TOPK_AUTO, x, 1, 128, 16, NB));
}

static void test_topk_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { N = 40, K = 5 };
    uint64_t a[N], b[N];
    fill(a, N, 1000, 0);
    for (size_t i = 0; i < N; i++) b[i] = 7;
    for (int alg = TOPK_RANK; alg <= TOPK_SORT; alg++) {
        tu_result_t *ra = run_case((topk_algo_t)alg, a, 1, N, K, NB);
        tu_result_t *rb = run_case((topk_algo_t)alg, b, 1, N, K, NB);
        for (int p = 0; p < 3; p++) {
            stats_row_t sa = stats_total(&ra->stats[p], -1), sb = stats_total(&rb->stats[p], -1);
            assert_int_equal(sa.bytes_sent, sb.bytes_sent);
            assert_int_equal(sa.bytes_recv, sb.bytes_recv);
            assert_int_equal(sa.msgs_sent, sb.msgs_sent);
            assert_int_equal(sa.msgs_recv, sb.msgs_recv);
            assert_int_equal(sa.rounds, sb.rounds);
            assert_int_equal(sa.offline_bytes, sb.offline_bytes);
        }
        free(ra);
        free(rb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_twins_equal_the_reference_with_ties),
        cmocka_unit_test(test_topk_protocols_match_the_twin_with_stated_rounds),
        cmocka_unit_test(test_topk_edges_all_equal_bound_and_sentinel),
        cmocka_unit_test(test_topk_plan_meets_the_round_target),
        cmocka_unit_test(test_topk_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
