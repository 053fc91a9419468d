/* tests/protocols/test_rmsnorm.c - RMSNorm with a P0-only weight:
 * bit-for-bit agreement with the twin under a test seed, relative L2 error
 * against float64 (llama2.c's formula) on random rows and on the edges (a
 * zero row, a row below eps, values at the bound), 6 rounds, 24 bytes per
 * element plus the per-row rsqrt, and traffic that does not depend on x. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/rmsnorm.h"
#include "protocols/trunc.h"

typedef struct {
    size_t rows, n;
    uint64_t site;
    const uint64_t *W;
    uint64_t *x[2], *y[2];
} rms_case_t;

static mpc_err_t rms_role(mpc_ctx_t *ctx, void *arg)
{
    rms_case_t *c = arg;
    matmul_weight_t w;
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_weight_gen(ctx, &w, 5, 1, c->n);
        if (!e) e = rmsnorm_gen(ctx, &w, c->rows, c->site);
    } else {
        int p = ctx->party;
        e = matmul_weight_eval(ctx, &w, p == MPC_P0 ? c->W : NULL, 5, 1, c->n);
        if (!e) e = rmsnorm_eval(ctx, c->y[p], c->x[p], &w, c->rows, c->site);
    }
    matmul_weight_free(&w);
    return e;
}

typedef struct {
    double max_rel;
    uint64_t rounds, bytes[2], msgs[2];
} rms_result_t;

static rms_result_t run(const double *v, const double *wv, size_t rows, size_t n)
{
    const size_t m = rows * n;
    rms_case_t c = {.rows = rows, .n = n, .site = TRUNC_SITE(3, 1, 0)};
    uint64_t *x = malloc(m * 8), *W = malloc(n * 8), *want = malloc(m * 8);
    fxp_encode_array(x, v, (int)m, 16);
    fxp_encode_array(W, wv, (int)n, 16);
    c.W = W;
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
    assert_int_equal(tu_run(&o, rms_role, &c, res), 0);
    rmsnorm_plain(want, x, W, rows, n, 16, rs, c.site);
    rms_result_t r = {0};
    for (size_t row = 0; row < rows; row++) {
        double ss = 0, num = 0, den = 0;
        for (size_t i = 0; i < n; i++)
            ss += pow(fxp_decode(x[row * n + i], 16), 2);
        double scale = 1 / sqrt(ss / (double)n + 1e-5);
        for (size_t i = 0; i < n; i++) {
            size_t k = row * n + i;
            uint64_t got = c.y[0][k] + c.y[1][k];
            assert_int_equal(got, want[k]);
            double ref = fxp_decode(x[k], 16) * scale * fxp_decode(W[i], 16);
            num += pow(fxp_decode(got, 16) - ref, 2);
            den += ref * ref;
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (rel > r.max_rel) r.max_rel = rel;
    }
    uint64_t setup_rounds = 0;
    for (int p = 0; p < 2; p++) {
        stats_row_t t = stats_total(&res->stats[p], -1);
        stats_row_t s = stats_total(&res->stats[p], PHASE_SETUP);
        r.bytes[p] = t.bytes_sent - s.bytes_sent;
        r.msgs[p] = t.msgs_sent;
        if (s.rounds > setup_rounds) setup_rounds = s.rounds;
    }
    r.rounds = tu_rounds(res) - setup_rounds; /* the weight's one-off flight */
    free(res);
    free(x);
    free(W);
    free(want);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
    }
    return r;
}

static void test_rmsnorm_matches_twin_and_error_bound(void **state)
{
    (void)state;
    enum { ROWS = 6, N = 96 };
    double v[ROWS * N], w[N];
    tu_uniform(v, ROWS * N, -4, 4);
    tu_uniform(w, N, -1.5, 1.5);
    for (int i = 0; i < N; i++) {
        v[1 * N + i] = 0;                        /* zero row: y = 0 */
        v[2 * N + i] = (i % 2 ? 1 : -1) * 0.001; /* mean(x²) = 1e-6 < eps */
        v[3 * N + i] = (i % 5 ? 0.01 : -127.99); /* at the bound */
        v[4 * N + i] = 1.0 / 65536 * (i % 3);    /* ulps */
    }
    rms_result_t r = run(v, w, ROWS, N);
    print_message("rmsnorm %d x %d: max rel L2 %.3g, %llu rounds, P0 %llu B\n", ROWS, N, r.max_rel,
                  (unsigned long long)r.rounds, (unsigned long long)r.bytes[0]);
    assert_true(r.max_rel <= 1e-2);
    assert_int_equal(r.rounds, 6);
    /* 24 B per element, 8 per row, and the rsqrt's per row: 32 exponents at
     * n = 96 (e from −11 to 20), comparisons on 54 bits */
    const uint64_t per_row = 8 + 31 * 7 + 7 + 32 * 16;
    assert_int_equal(r.bytes[0], 24 * ROWS * N + ROWS * per_row);
    assert_int_equal(r.bytes[1], r.bytes[0]);
}

static void test_rmsnorm_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { ROWS = 2, N = 768 };
    double *v = malloc(ROWS * N * sizeof *v), w[N];
    tu_uniform(w, N, 0.5, 2);
    tu_uniform(v, ROWS * N, -8, 8);
    rms_result_t a = run(v, w, ROWS, N);
    for (int i = 0; i < ROWS * N; i++)
        v[i] = 0.5;
    rms_result_t b = run(v, w, ROWS, N);
    assert_true(a.max_rel <= 1e-2 && b.max_rel <= 1e-2);
    assert_int_equal(a.rounds, b.rounds);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(a.bytes[p], b.bytes[p]);
        assert_int_equal(a.msgs[p], b.msgs[p]);
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm_matches_twin_and_error_bound),
        cmocka_unit_test(test_rmsnorm_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
