/* tests/protocols/test_fn.c - exp, reciprocal, rsqrt and SiLU: bit-for-bit
 * agreement with the twins under a test seed, float64 error on fresh random
 * inputs and on the edges of each range, the round and byte counts of the
 * header, and traffic that does not depend on the inputs. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/fn.h"
#include "protocols/trunc.h"

enum { FN_EXP, FN_RECIP, FN_RSQRT, FN_SILU };

typedef struct {
    int fn, in, out;
    size_t n;
    uint64_t site;
    uint64_t *x[2], *y[2];
} fn_case_t;

static mpc_err_t fn_role(mpc_ctx_t *ctx, void *arg)
{
    fn_case_t *c = arg;
    if (ctx->party == MPC_DEALER) {
        switch (c->fn) {
        case FN_EXP:
            return fn_exp_gen(ctx, c->n, c->in, c->out, c->site);
        case FN_RECIP:
            return fn_recip_gen(ctx, c->n, c->in, c->out, c->site);
        case FN_RSQRT:
            return fn_rsqrt_gen(ctx, c->n, c->in, c->out, c->site);
        default:
            return fn_silu_gen(ctx, c->n, c->in, c->out, c->site);
        }
    }
    int p = ctx->party;
    switch (c->fn) {
    case FN_EXP:
        return fn_exp_eval(ctx, c->y[p], c->x[p], c->n, c->in, c->out, c->site);
    case FN_RECIP:
        return fn_recip_eval(ctx, c->y[p], c->x[p], c->n, c->in, c->out, c->site);
    case FN_RSQRT:
        return fn_rsqrt_eval(ctx, c->y[p], c->x[p], c->n, c->in, c->out, c->site);
    default:
        return fn_silu_eval(ctx, c->y[p], c->x[p], c->n, c->in, c->out, c->site);
    }
}

static void twin(const fn_case_t *c, uint64_t *out, const uint64_t *x, const uint8_t *rs)
{
    switch (c->fn) {
    case FN_EXP:
        fn_exp_plain(out, x, c->n, c->in, c->out, rs, c->site);
        break;
    case FN_RECIP:
        fn_recip_plain(out, x, c->n, c->in, c->out, rs, c->site);
        break;
    case FN_RSQRT:
        fn_rsqrt_plain(out, x, c->n, c->in, c->out, rs, c->site);
        break;
    default:
        fn_silu_plain(out, x, c->n, c->in, c->out, rs, c->site);
        break;
    }
}

static double reference(int fn, double x)
{
    switch (fn) {
    case FN_EXP:
        return exp(x);
    case FN_RECIP:
        return 1 / x;
    case FN_RSQRT:
        return 1 / sqrt(x);
    default:
        return x / (1 + exp(-x));
    }
}

/* Per-element online bytes of the header's formulas at in = 16. */
static uint64_t header_bytes(int fn)
{
    switch (fn) {
    case FN_EXP:
        return 4 + 16 + 8; /* the opening reads bits up to in_scale + 10 */
    case FN_RECIP:
        return 15 * 5 + 4 + 16 * 16;
    case FN_RSQRT:
        return 23 * 5 + 4 + 24 * 16;
    default:
        return 4 + 32 + 16 + 8;
    }
}

static const uint64_t header_rounds[] = {3, 3, 3, 4};

typedef struct {
    double max_abs, max_rel; /* rel only where the reference is >= 2^-5 */
    uint64_t rounds, bytes[2], msgs[2];
} fn_result_t;

/* Runs fn on the reals v (encoded at c->in), checks the twin bit for bit and
 * returns the error figures. */
static fn_result_t run(int fn, int in, int out, const double *v, size_t n)
{
    fn_case_t c = {.fn = fn, .in = in, .out = out, .n = n, .site = TRUNC_SITE(2, 40, 5)};
    uint64_t *x = malloc(n * 8), *want = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        x[i] = fxp_encode(v[i], in);
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(n * 8);
        c.y[p] = malloc(n * 8);
    }
    tu_share(c.x[0], c.x[1], x, n);
    uint8_t ts[16], rs[16];
    tu_seed(ts);
    prg_seed_derive(rs, ts, "round");
    tu_opts_t o = {.test_seed = ts};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, fn_role, &c, res), 0);
    twin(&c, want, x, rs);
    fn_result_t r = {0};
    for (size_t i = 0; i < n; i++) {
        uint64_t got = c.y[0][i] + c.y[1][i];
        assert_int_equal(got, want[i]);
        double ref = reference(fn, fxp_decode(x[i], in)), e = fabs(fxp_decode(got, out) - ref);
        if (e > r.max_abs) r.max_abs = e;
        if (ref >= 1.0 / 32 && e / ref > r.max_rel) r.max_rel = e / ref;
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

/* n reals: the edges first, then random ones over the range (log-uniform
 * for the inverse powers). */
static double *inputs(int fn, size_t n, const double *edges, size_t ne)
{
    double *v = malloc(n * sizeof *v);
    tu_uniform(v, n, 0, 1);
    for (size_t i = 0; i < n; i++) {
        switch (fn) {
        case FN_EXP:
            v[i] = i % 2 ? -20 * v[i] : -127.9 * v[i];
            break;
        case FN_RECIP:
            v[i] = exp2(15 * v[i]);
            break;
        case FN_RSQRT:
            v[i] = exp2(-8 + 23 * v[i]);
            break;
        default:
            v[i] = i % 2 ? 60 * v[i] - 30 : 2046 * v[i] - 1023;
            break;
        }
    }
    if (ne) memcpy(v, edges, ne * sizeof *v);
    return v;
}

static void check(int fn, const double *edges, size_t ne)
{
    /* the inverse powers evaluate 16-24 lookups of 2^13 leaves per element */
    const size_t N = fn == FN_RECIP || fn == FN_RSQRT ? 400 : 3000;
    double *v = inputs(fn, N, edges, ne);
    fn_result_t r = run(fn, 16, 16, v, N);
    print_message("fn %d: max abs err %.3g (2^%.2f), max rel err %.3g, %llu rounds, %llu B/elt\n",
                  fn, r.max_abs, log2(r.max_abs), r.max_rel, (unsigned long long)r.rounds,
                  (unsigned long long)(r.bytes[0] / N));
    assert_true(r.max_abs <= 1.0 / 1024);
    if (fn == FN_RECIP || fn == FN_RSQRT) assert_true(r.max_rel <= 1.0 / 1024);
    assert_int_equal(r.rounds, header_rounds[fn]);
    assert_int_equal(r.bytes[0], header_bytes(fn) * N);
    assert_int_equal(r.bytes[1], header_bytes(fn) * N);

    /* the same traffic for other inputs of the same size */
    double *w = inputs(fn, N, edges, 0);
    fn_result_t r2 = run(fn, 16, 16, w, N);
    assert_int_equal(r2.rounds, r.rounds);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(r2.bytes[p], r.bytes[p]);
        assert_int_equal(r2.msgs[p], r.msgs[p]);
    }
    free(v);
    free(w);
}

static void test_fn_exp_matches_twin_and_error_bound(void **state)
{
    (void)state;
    const double u = 1.0 / 65536;
    const double edges[] = {0,     -u,  -2 * u,  -1,   -13.99,  -14,     -14.1,  -14.2,
                            -14.3, -20, -127.99, -0.5, -u * 31, -u * 32, -u * 33};
    check(FN_EXP, edges, sizeof edges / sizeof *edges);
}

static void test_fn_exp_is_zero_far_below_and_one_at_zero(void **state)
{
    (void)state;
    double v[64];
    for (int i = 0; i < 64; i++)
        v[i] = -14.3 - i * 1.7;
    v[0] = 0;
    fn_case_t c = {.fn = FN_EXP, .in = 16, .out = 16, .n = 64, .site = 3};
    uint64_t x[64], want[64];
    for (int i = 0; i < 64; i++)
        x[i] = fxp_encode(v[i], 16);
    uint8_t rs[16];
    tu_seed(rs);
    twin(&c, want, x, rs);
    assert_int_equal(want[0], 1 << 16);
    for (int i = 1; i < 64; i++)
        assert_int_equal(want[i], 0);
}

static void test_fn_recip_matches_twin_and_error_bound(void **state)
{
    (void)state;
    const double u = 1.0 / 65536;
    const double edges[] = {1, 1 + u, 2 - u, 2, 3, 32, 32 + u, 1000, 32768 - u, 32768, 4096, 1.5};
    check(FN_RECIP, edges, sizeof edges / sizeof *edges);
}

static void test_fn_rsqrt_matches_twin_and_error_bound(void **state)
{
    (void)state;
    const double u = 1.0 / 65536;
    const double edges[] = {1.0 / 256, 1.0 / 256 + u, 1.0 / 128, 0.5,       1, 1 + u, 2,
                            1024,      1024 + u,      32768,     32768 - u, 3, 7};
    check(FN_RSQRT, edges, sizeof edges / sizeof *edges);
}

static void test_fn_silu_matches_twin_and_error_bound(void **state)
{
    (void)state;
    const double u = 1.0 / 65536;
    const double edges[] = {0,        u,   -u,     16,      -16,  16 - u, -16 - u,
                            24,       -24, 24 - u, -24 + u, 8,    -8,     1023.99,
                            -1023.99, 2.4, -1.28,  100,     -100, 15.99,  -15.99};
    check(FN_SILU, edges, sizeof edges / sizeof *edges);
}

/* The scales softmax uses: exp from untruncated scores (scale 32) to 24,
 * and the reciprocal from 24 to 30. */
static void test_fn_other_scales_match_twins(void **state)
{
    (void)state;
    enum { N = 300 };
    double *v = inputs(FN_EXP, N, NULL, 0);
    fn_result_t r = run(FN_EXP, 32, 24, v, N);
    assert_true(r.max_abs <= 1.0 / 2048 + 1e-6);
    free(v);
    v = inputs(FN_RECIP, N, NULL, 0);
    r = run(FN_RECIP, 24, 30, v, N);
    assert_true(r.max_rel <= 1.0 / 2048);
    free(v);
    v = inputs(FN_SILU, N, NULL, 0);
    r = run(FN_SILU, 12, 12, v, N);
    assert_true(r.max_abs <= 1.0 / 1024);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fn_exp_matches_twin_and_error_bound),
        cmocka_unit_test(test_fn_exp_is_zero_far_below_and_one_at_zero),
        cmocka_unit_test(test_fn_recip_matches_twin_and_error_bound),
        cmocka_unit_test(test_fn_rsqrt_matches_twin_and_error_bound),
        cmocka_unit_test(test_fn_silu_matches_twin_and_error_bound),
        cmocka_unit_test(test_fn_other_scales_match_twins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
