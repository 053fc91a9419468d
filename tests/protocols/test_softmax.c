/* tests/protocols/test_softmax.c - masked softmax: bit-for-bit agreement
 * with the twin under a test seed, row L1 error against float64 on random,
 * all-equal, partly and fully masked rows, masked entries exactly 0, the
 * round count 2⌈log2 n⌉ + 8, the byte budget at n = 2048, the untruncated
 * (scale 2f) input, and traffic that does not depend on the scores. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/softmax.h"
#include "protocols/trunc.h"

typedef struct {
    size_t rows, n;
    int in, out;
    const uint8_t *valid;
    uint64_t site;
    uint64_t *x[2], *y[2];
} sm_case_t;

static mpc_err_t sm_role(mpc_ctx_t *ctx, void *arg)
{
    sm_case_t *c = arg;
    if (ctx->party == MPC_DEALER)
        return softmax_gen(ctx, c->rows, c->n, c->valid, c->in, c->out, c->site);
    int p = ctx->party;
    return softmax_eval(ctx, c->y[p], c->x[p], c->rows, c->n, c->valid, c->in, c->out, c->site);
}

typedef struct {
    double max_l1;
    uint64_t rounds, bytes[2], msgs[2];
} sm_result_t;

static int ceil_log2(size_t n)
{
    int l = 0;
    while (((size_t)1 << l) < n)
        l++;
    return l;
}

/* Runs softmax on the reals v (rows × n) and checks the twin, the masked
 * zeros and the L1 error of each row. */
static sm_result_t run_at(const double *v, size_t rows, size_t n, const uint8_t *valid, int in,
                          int out)
{
    const size_t m = rows * n;
    sm_case_t c = {
        .rows = rows, .n = n, .in = in, .out = out, .valid = valid, .site = TRUNC_SITE(1, 80, 2)};
    uint64_t *x = malloc(m * 8), *want = malloc(m * 8);
    for (size_t k = 0; k < m; k++)
        x[k] = fxp_encode(v[k], in);
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(m * 8);
        c.y[p] = malloc(m * 8);
    }
    tu_share(c.x[0], c.x[1], x, m);
    uint8_t ts[16], rs[16];
    tu_seed(ts);
    prg_seed_derive(rs, ts, "round");
    tu_opts_t o = {.test_seed = ts};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, sm_role, &c, res), 0);
    softmax_plain(want, x, rows, n, valid, in, out, rs, c.site);
    sm_result_t r = {0};
    for (size_t row = 0; row < rows; row++) {
        double mx = -INFINITY, s = 0, l1 = 0;
        for (size_t i = 0; i < n; i++)
            if (!valid || valid[row * n + i]) mx = fmax(mx, fxp_decode(x[row * n + i], in));
        for (size_t i = 0; i < n; i++)
            if (!valid || valid[row * n + i]) s += exp(fxp_decode(x[row * n + i], in) - mx);
        for (size_t i = 0; i < n; i++) {
            size_t k = row * n + i;
            uint64_t got = c.y[0][k] + c.y[1][k];
            assert_int_equal(got, want[k]);
            int ok = !valid || valid[k];
            if (!ok) assert_int_equal(got, 0);
            double ref = ok ? exp(fxp_decode(x[k], in) - mx) / s : 0;
            l1 += fabs(fxp_decode(got, out) - ref);
        }
        if (l1 > r.max_l1) r.max_l1 = l1;
    }
    r.rounds = tu_rounds(res);
    for (int p = 0; p < 2; p++) {
        stats_row_t t = stats_total(&res->stats[p], -1);
        r.bytes[p] = t.bytes_sent;
        r.msgs[p] = t.msgs_sent;
    }
    free(res);
    free(x);
    free(want);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
    }
    return r;
}

static sm_result_t run(const double *v, size_t rows, size_t n, const uint8_t *valid, int in)
{
    return run_at(v, rows, n, valid, in, 16);
}

static void test_softmax_matches_twin_on_masked_rows(void **state)
{
    (void)state;
    enum { ROWS = 6, N = 37 };
    double v[ROWS * N];
    uint8_t valid[ROWS * N];
    tu_uniform(v, ROWS * N, -20, 20);
    for (size_t r = 0; r < ROWS; r++)
        for (size_t i = 0; i < N; i++)
            valid[r * N + i] = i <= r * 7; /* causal-like */
    for (size_t i = 0; i < N; i++) {
        valid[3 * N + i] = 0; /* row 3 fully masked */
        v[4 * N + i] = 1.5;   /* row 4 all equal */
        valid[4 * N + i] = 1;
        valid[5 * N + i] = i % 3 != 1; /* row 5 partly masked */
    }
    v[5 * N] = 63.99; /* one dominant entry, the rest far below */
    v[5 * N + 2] = -63.99;
    sm_result_t r = run(v, ROWS, N, valid, 16);
    print_message("rows of %d: max row L1 %.3g, %llu rounds\n", N, r.max_l1,
                  (unsigned long long)r.rounds);
    assert_true(r.max_l1 <= 1e-2);
    assert_int_equal(r.rounds, 2 * (uint64_t)ceil_log2(N) + 8);
}

static void test_softmax_untruncated_scores_and_single_entry(void **state)
{
    (void)state;
    enum { ROWS = 3, N = 20 };
    double v[ROWS * N];
    tu_uniform(v, ROWS * N, -30, 30);
    sm_result_t r = run(v, ROWS, N, NULL, 32);
    assert_true(r.max_l1 <= 1e-2);
    assert_int_equal(r.rounds, 2 * (uint64_t)ceil_log2(N) + 8);
    double one[2] = {3.25, -7};
    r = run(one, 2, 1, NULL, 16); /* n = 1: p = 1 exactly or within an ulp */
    assert_true(r.max_l1 <= 2.0 / 65536);
    assert_int_equal(r.rounds, 8);
}

static void test_softmax_2048_meets_rounds_bytes_and_error(void **state)
{
    (void)state;
    enum { N = 2048 };
    double *v = malloc(N * sizeof *v);
    tu_uniform(v, N, -8, 8);
    sm_result_t r = run(v, 1, N, NULL, 16);
    print_message("n = 2048: L1 %.3g, %llu rounds, P0 %llu B, P1 %llu B\n", r.max_l1,
                  (unsigned long long)r.rounds, (unsigned long long)r.bytes[0],
                  (unsigned long long)r.bytes[1]);
    assert_true(r.max_l1 <= 1e-2);
    assert_int_equal(r.rounds, 30);
    assert_true(r.bytes[0] <= 200000 && r.bytes[1] <= 200000);
    for (size_t i = 0; i < N; i++)
        v[i] = 0.25; /* all equal: p = 2^-11 */
    sm_result_t eq = run(v, 1, N, NULL, 16);
    assert_true(eq.max_l1 <= 1e-2);
    /* the same traffic for other scores */
    assert_int_equal(eq.rounds, r.rounds);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(eq.bytes[p], r.bytes[p]);
        assert_int_equal(eq.msgs[p], r.msgs[p]);
    }
    free(v);
}

/* Spread-out rows: at scale 16 the output's stochastic rounding alone costs
 * about n/3 · 2^-16 of L1 (0.0104 at n = 2048), so long rows take their
 * output at scale 24. */
static void test_softmax_long_flat_rows_at_scale_24(void **state)
{
    (void)state;
    enum { N = 8192 };
    double *v = malloc(N * sizeof *v);
    tu_uniform(v, N, -1, 1);
    sm_result_t r = run_at(v, 1, N, NULL, 16, 24);
    print_message("n = 8192 flat, out scale 24: L1 %.3g, %llu rounds, P0 %llu B\n", r.max_l1,
                  (unsigned long long)r.rounds, (unsigned long long)r.bytes[0]);
    assert_true(r.max_l1 <= 1e-2);
    assert_int_equal(r.rounds, 2 * 13 + 8);
    r = run_at(v, 1, 2048, NULL, 16, 24);
    assert_true(r.max_l1 <= 1e-2);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_matches_twin_on_masked_rows),
        cmocka_unit_test(test_softmax_untruncated_scores_and_single_entry),
        cmocka_unit_test(test_softmax_2048_meets_rounds_bytes_and_error),
        cmocka_unit_test(test_softmax_long_flat_rows_at_scale_24),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
