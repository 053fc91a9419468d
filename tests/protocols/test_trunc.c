/* tests/protocols/test_trunc.c - truncation with a known MSB: bit-for-bit
 * agreement with its plaintext twin under a test seed, the 0/+1 ulp bound
 * over 10^6 values, rounds and bytes, and an exhausted stream. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/trunc.h"

typedef struct {
    size_t n, n_eval; /* the dealer makes n; the parties use n_eval */
    int f;
    uint64_t site;
    uint64_t *x[2], *z[2];
} trunc_case_t;

static mpc_err_t trunc_role(mpc_ctx_t *ctx, void *arg)
{
    trunc_case_t *c = arg;
    if (ctx->party == MPC_DEALER) return trunc_gen(ctx, c->n, c->f, c->site);
    int p = ctx->party;
    return trunc_eval(ctx, c->z[p], c->x[p], c->n_eval, c->f, c->site);
}

static void alloc_case(trunc_case_t *c, const uint64_t *x)
{
    for (int p = 0; p < 2; p++) {
        c->x[p] = malloc(c->n * 8);
        c->z[p] = malloc(c->n * 8);
    }
    tu_share(c->x[0], c->x[1], x, c->n);
}

static void free_case(trunc_case_t *c)
{
    for (int p = 0; p < 2; p++) {
        free(c->x[p]);
        free(c->z[p]);
    }
}

static void test_trunc_equals_twin_and_stays_within_one_ulp(void **state)
{
    (void)state;
    enum { N = 1000000, F = 16 };
    uint64_t *x = malloc(N * 8), *want = malloc(N * 8);
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 3);
    prg_u64(g, x, N);
    prg_free(&g);
    for (size_t i = 0; i < N; i++) x[i] = (uint64_t)(fxp_signed(x[i]) >> 2); /* |x| < 2^62 */
    /* edges: zero, +-1, values at the documented bound, exact multiples */
    uint64_t edges[] = {0, 1, UINT64_MAX, (1ull << 62) - 1, (uint64_t)(-(int64_t)(1ull << 62) + 1),
                        (uint64_t)-65536, 65536, (uint64_t)-1 << 16, 3ull << 32, (uint64_t)-3 << 32};
    memcpy(x, edges, sizeof edges);

    uint8_t test_seed[16];
    tu_seed(test_seed);
    trunc_case_t c = {.n = N, .n_eval = N, .f = F, .site = TRUNC_SITE(3, 7, 11)};
    alloc_case(&c, x);
    tu_opts_t o = {.test_seed = test_seed};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, trunc_role, &c, res), 0);

    uint8_t round_seed[16];
    prg_seed_derive(round_seed, test_seed, "round");
    trunc_plain(want, x, N, F, round_seed, c.site);
    size_t ups = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t got = c.z[0][i] + c.z[1][i];
        assert_int_equal(got, want[i]);
        uint64_t d = got - (uint64_t)(fxp_signed(x[i]) >> F);
        assert_true(d == 0 || d == 1);
        ups += d;
    }
    /* stochastic rounding: the carry is set about as often as the fraction says */
    assert_true(ups > N / 4 && ups < 3 * (size_t)N / 4);
    assert_true(c.z[0][0] + c.z[1][0] <= 1); /* 0 -> 0 or 1 ulp */
    assert_int_equal(c.z[0][8] + c.z[1][8], 3ull << 16); /* exact multiples stay exact */
    assert_int_equal(c.z[0][9] + c.z[1][9], (uint64_t)-3 << 16);

    /* 1 round, 8 B per element each way, 24 B per element offline to P1 only */
    assert_int_equal(tu_rounds(res), 1);
    assert_int_equal(tu_bytes_sent(res, 0), 8ull * N);
    assert_int_equal(tu_bytes_sent(res, 1), 8ull * N);
    assert_int_equal(tu_offline_bytes(res, 0), 0);
    assert_int_equal(tu_offline_bytes(res, 1), 24ull * N);
    free(res);
    free_case(&c);
    free(x);
    free(want);
}

static void test_trunc_other_seed_differs_from_twin_but_stays_within_one_ulp(void **state)
{
    (void)state;
    enum { N = 4096, F = 12 };
    uint64_t x[N], want[N];
    for (int i = 0; i < N; i++) x[i] = (uint64_t)((int64_t)(i - N / 2) * 977);
    trunc_case_t c = {.n = N, .n_eval = N, .f = F, .site = 5};
    alloc_case(&c, x);
    assert_int_equal(tu_run(NULL, trunc_role, &c, NULL), 0);
    uint8_t other[16];
    tu_seed(other);
    trunc_plain(want, x, N, F, other, c.site);
    size_t same = 0;
    for (int i = 0; i < N; i++) {
        uint64_t got = c.z[0][i] + c.z[1][i];
        uint64_t d = got - (uint64_t)(fxp_signed(x[i]) >> F);
        assert_true(d == 0 || d == 1);
        same += got == want[i];
    }
    assert_true(same < N); /* the carries really come from the dealer's r */
    free_case(&c);
}

static void test_trunc_exhausted_stream_is_an_error(void **state)
{
    (void)state;
    enum { N = 100 };
    uint64_t x[2 * N] = {0};
    trunc_case_t c = {.n = N, .n_eval = 2 * N, .f = 16, .site = 9};
    c.n = 2 * N; /* allocate for the larger use */
    alloc_case(&c, x);
    c.n = N;
    tu_opts_t o = {.timeout_ms = 1500};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, trunc_role, &c, res), -1);
    assert_int_equal(res->err[MPC_P1], MPC_EEXHAUSTED);
    assert_non_null(strstr(res->msg[MPC_P1], "exhausted"));
    assert_int_not_equal(res->err[MPC_P0], MPC_OK); /* P0 times out waiting, never hangs */
    free(res);
    free_case(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trunc_equals_twin_and_stays_within_one_ulp),
        cmocka_unit_test(test_trunc_other_seed_differs_from_twin_but_stays_within_one_ulp),
        cmocka_unit_test(test_trunc_exhausted_stream_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
