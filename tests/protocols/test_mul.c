/* tests/protocols/test_mul.c - Beaver multiplication against the plaintext
 * ring product, with its round and byte counts. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/mul.h"

typedef struct {
    size_t n;
    uint64_t *x[2], *y[2], *z[2];
} mul_case_t;

static mpc_err_t mul_role(mpc_ctx_t *ctx, void *arg)
{
    mul_case_t *c = arg;
    if (ctx->party == MPC_DEALER) return mul_gen(ctx, c->n);
    int p = ctx->party;
    return mul_eval(ctx, c->z[p], c->x[p], c->y[p], c->n);
}

/* Runs n products of x and y; returns the reconstructed z in out. */
static void run_mul(const uint64_t *x, const uint64_t *y, uint64_t *out, size_t n,
                    tu_result_t *res, const tu_opts_t *o)
{
    mul_case_t c = {.n = n};
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(n * 8);
        c.y[p] = malloc(n * 8);
        c.z[p] = malloc(n * 8);
    }
    tu_share(c.x[0], c.x[1], x, n);
    tu_share(c.y[0], c.y[1], y, n);
    assert_int_equal(tu_run(o, mul_role, &c, res), 0);
    for (size_t i = 0; i < n; i++) out[i] = c.z[0][i] + c.z[1][i];
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
        free(c.z[p]);
    }
}

static void test_mul_matches_ring_product_on_random_and_edges(void **state)
{
    (void)state;
    enum { N = 4096 };
    uint64_t *x = malloc(N * 8), *y = malloc(N * 8), *z = malloc(N * 8);
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    prg_u64(g, x, N);
    prg_u64(g, y, N);
    prg_free(&g);
    /* edges: zero, one, minus one, extremes, negative fixed-point values */
    uint64_t edges[][2] = {{0, 0},          {0, 12345},  {1, UINT64_MAX}, {UINT64_MAX, UINT64_MAX},
                           {1ull << 63, 2}, {1ull << 63, 1ull << 63}, {(uint64_t)-65536, 65536},
                           {(uint64_t)-3 << 16, (uint64_t)-5 << 16}};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        x[i] = edges[i][0];
        y[i] = edges[i][1];
    }
    tu_result_t *res = calloc(1, sizeof *res);
    run_mul(x, y, z, N, res, NULL);
    for (size_t i = 0; i < N; i++) assert_int_equal(z[i], x[i] * y[i]);
    /* (-3)(-5) = 15 at scale 2f */
    assert_int_equal(z[7], (uint64_t)15 << 32);
    /* 1 round; each party sends e and d: 16 B per element */
    assert_int_equal(tu_rounds(res), 1);
    assert_int_equal(tu_bytes_sent(res, 0), 16 * N);
    assert_int_equal(tu_bytes_sent(res, 1), 16 * N);
    /* seed compression: only P1 receives c1, 8 B per element */
    assert_int_equal(tu_offline_bytes(res, 0), 0);
    assert_int_equal(tu_offline_bytes(res, 1), 8 * N);
    assert_int_equal(stats_op(&res->stats[0], "mul").calls, 1);
    free(res);
    free(x);
    free(y);
    free(z);
}

static void test_mul_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { N = 64 };
    uint64_t x[N] = {0}, y[N] = {0}, z[N], x2[N], y2[N];
    for (int i = 0; i < N; i++) {
        x2[i] = (uint64_t)-i;
        y2[i] = (uint64_t)i << 40;
    }
    tu_result_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    run_mul(x, y, z, N, a, NULL);
    run_mul(x2, y2, z, N, b, NULL);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(tu_bytes_sent(a, p), tu_bytes_sent(b, p));
        assert_int_equal(stats_total(&a->stats[p], -1).msgs_sent,
                         stats_total(&b->stats[p], -1).msgs_sent);
    }
    assert_int_equal(tu_rounds(a), tu_rounds(b));
    free(a);
    free(b);
}

static void test_mul_over_tcp_with_curve(void **state)
{
    (void)state;
    enum { N = 100 };
    uint64_t x[N], y[N], z[N];
    for (int i = 0; i < N; i++) {
        x[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        y[i] = (uint64_t)-i;
    }
    tu_opts_t o = {.transport = TU_TCP, .curve = 1};
    tu_result_t *res = calloc(1, sizeof *res);
    run_mul(x, y, z, N, res, &o);
    for (int i = 0; i < N; i++) assert_int_equal(z[i], x[i] * y[i]);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mul_matches_ring_product_on_random_and_edges),
        cmocka_unit_test(test_mul_traffic_does_not_depend_on_inputs),
        cmocka_unit_test(test_mul_over_tcp_with_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
