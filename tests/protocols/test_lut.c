/* tests/protocols/test_lut.c - DPF lookups: the full-domain evaluation
 * against fss_dpf_eval, plain m-bit tables exactly, fields on the high bits
 * equal to trunc_plain's stochastic truncation, bit-for-bit agreement with
 * the twin under a test seed, 1 round, ⌈W/8⌉ bytes, and obliviousness. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/fss.h"
#include "protocols/lut.h"
#include "protocols/trunc.h"

typedef struct {
    size_t n;
    const lut_field_t *f;
    int nf, ntab;
    uint64_t site;
    uint64_t *x[2], *out[2][4], *rem[2];
} lut_case_t;

static mpc_err_t lut_role(mpc_ctx_t *ctx, void *arg)
{
    lut_case_t *c = arg;
    if (ctx->party == MPC_DEALER) return lut_gen(ctx, c->n, c->f, c->nf, c->site);
    int p = ctx->party;
    return lut_eval(ctx, c->out[p], c->rem[p], c->x[p], c->n, c->f, c->nf, c->site);
}

static void case_alloc(lut_case_t *c, const uint64_t *x)
{
    for (int p = 0; p < 2; p++) {
        c->x[p] = malloc(c->n * 8);
        c->rem[p] = malloc(c->n * 8);
        for (int t = 0; t < 4; t++)
            c->out[p][t] = malloc(c->n * 8);
    }
    tu_share(c->x[0], c->x[1], x, c->n);
}

static void case_free(lut_case_t *c)
{
    for (int p = 0; p < 2; p++) {
        free(c->x[p]);
        free(c->rem[p]);
        for (int t = 0; t < 4; t++)
            free(c->out[p][t]);
    }
}

static void test_lut_full_domain_equals_pointwise_dpf(void **state)
{
    (void)state;
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    aes_mmo_t mmo;
    aes_mmo_init(&mmo);
    const int widths[] = {1, 2, 5, 9, 12};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int nb = widths[w];
        size_t N = (size_t)1 << nb, kb = fss_dpf_key_bytes(nb, FSS_Z64);
        uint8_t *k0 = malloc(kb), *k1 = malloc(kb);
        void *scratch = malloc(lut_dpf_scratch_bytes(nb));
        uint64_t *y0 = malloc(N * 8), *y1 = malloc(N * 8), r[2];
        prg_u64(g, r, 2);
        uint64_t alpha = r[0] & (N - 1), beta = r[1];
        fss_dpf_gen(k0, k1, nb, FSS_Z64, alpha, beta, g);
        lut_dpf_full(y0, k0, nb, &mmo, scratch);
        lut_dpf_full(y1, k1, nb, &mmo, scratch);
        for (size_t j = 0; j < N; j++) {
            assert_int_equal(y0[j], fss_dpf_eval(k0, nb, FSS_Z64, j));
            assert_int_equal(y1[j], fss_dpf_eval(k1, nb, FSS_Z64, j));
            assert_int_equal(y0[j] + y1[j], j == alpha ? beta : 0);
        }
        free(k0);
        free(k1);
        free(scratch);
        free(y0);
        free(y1);
    }
    prg_free(&g);
}

static void test_lut_plain_table_is_exact_on_m_bits(void **state)
{
    (void)state;
    enum { N = 300, M = 8 };
    uint64_t T[1 << M], x[N];
    for (int j = 0; j < (1 << M); j++)
        T[j] = (uint64_t)j * j * 977 - 5;
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 2);
    prg_u64(g, x, N);
    prg_free(&g);
    x[0] = 0;
    x[1] = (uint64_t)-1;
    x[2] = 255;
    x[3] = 256;
    const uint64_t *tabs[1] = {T};
    lut_field_t f = {0, M, LUT_WRAP, 1, tabs};
    lut_case_t c = {.n = N, .f = &f, .nf = 1, .ntab = 1, .site = TRUNC_SITE(1, 2, 3)};
    case_alloc(&c, x);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(NULL, lut_role, &c, res), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(c.out[0][0][i] + c.out[1][0][i], T[x[i] & 255]);
    assert_int_equal(tu_rounds(res), 1);
    assert_int_equal(tu_bytes_sent(res, 0), N * 1);
    assert_int_equal(tu_bytes_sent(res, 1), N * 1);
    size_t kb = fss_dpf_key_bytes(M, FSS_Z64);
    assert_int_equal(tu_offline_bytes(res, 0), N * kb);
    assert_int_equal(tu_offline_bytes(res, 1), N * (kb + 8));
    free(res);
    case_free(&c);
}

/* Two fields split one value: a DIFF field of 6 bits above shift 5 and a
 * WRAP field of 7 bits above it; identity tables expose the indices. */
static void test_lut_high_fields_are_trunc_plain_and_match_twin(void **state)
{
    (void)state;
    enum { N = 2000, S = 5, LO = 6, HI = 7 };
    uint64_t idlo[2 << LO], idhi[1 << HI], x[N];
    for (int j = 0; j < (2 << LO); j++)
        idlo[j] = (uint64_t)(j - (1 << LO));
    for (int j = 0; j < (1 << HI); j++)
        idhi[j] = (uint64_t)j;
    const uint64_t *tl[1] = {idlo}, *th[1] = {idhi};
    lut_field_t f[2] = {{S, LO, LUT_DIFF, 1, tl}, {S + LO, HI, LUT_WRAP, 1, th}};
    double d[N];
    tu_uniform(d, N, -3000, 3000);
    for (int i = 0; i < N; i++)
        x[i] = (uint64_t)(int64_t)d[i];
    x[0] = 0;
    x[1] = 1;
    x[2] = (uint64_t)-1;
    x[3] = 31;
    x[4] = 32;
    uint8_t ts[16], rs[16];
    tu_seed(ts);
    prg_seed_derive(rs, ts, "round");
    lut_case_t c = {.n = N, .f = f, .nf = 2, .ntab = 2, .site = TRUNC_SITE(0, 9, 1)};
    case_alloc(&c, x);
    tu_opts_t o = {.test_seed = ts};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, lut_role, &c, res), 0);

    uint64_t *want[2] = {malloc(N * 8), malloc(N * 8)}, wrem[N], tr[N];
    lut_plain(want, wrem, x, N, f, 2, rs, c.site);
    trunc_plain(tr, x, N, S, rs, c.site);
    for (int i = 0; i < N; i++) {
        uint64_t lo = c.out[0][0][i] + c.out[1][0][i], hi = c.out[0][1][i] + c.out[1][1][i];
        uint64_t rem = c.rem[0][i] + c.rem[1][i];
        assert_int_equal(lo, want[0][i]);
        assert_int_equal(hi, want[1][i]);
        assert_int_equal(rem, wrem[i]);
        /* the fields read trunc's stochastic truncation, consistently split */
        const uint64_t mk = ((uint64_t)1 << (LO + HI)) - 1;
        assert_int_equal(((hi << LO) + lo) & mk, tr[i] & mk);
        assert_int_equal(x[i] - (tr[i] << S), rem);
        int64_t sr = fxp_signed(rem);
        assert_true(sr > -(1 << S) && sr < (1 << S));
    }
    assert_int_equal(tu_rounds(res), 1);
    assert_int_equal(tu_bytes_sent(res, 0), N * 3); /* W = 18 bits */
    free(res);
    free(want[0]);
    free(want[1]);
    case_free(&c);
}

static void test_lut_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { N = 64 };
    uint64_t T[1 << 10], x[N], y[N];
    for (int j = 0; j < (1 << 10); j++)
        T[j] = (uint64_t)j;
    for (int i = 0; i < N; i++) {
        x[i] = 0;
        y[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
    }
    const uint64_t *tabs[1] = {T};
    lut_field_t f = {12, 10, LUT_WRAP, 1, tabs};
    stats_row_t row[2];
    uint64_t rounds[2];
    for (int k = 0; k < 2; k++) {
        lut_case_t c = {.n = N, .f = &f, .nf = 1, .ntab = 1, .site = 77};
        case_alloc(&c, k ? y : x);
        tu_result_t *res = calloc(1, sizeof *res);
        assert_int_equal(tu_run(NULL, lut_role, &c, res), 0);
        row[k] = stats_total(&res->stats[MPC_P1], -1);
        rounds[k] = tu_rounds(res);
        free(res);
        case_free(&c);
    }
    assert_int_equal(row[0].bytes_sent, row[1].bytes_sent);
    assert_int_equal(row[0].msgs_sent, row[1].msgs_sent);
    assert_int_equal(row[0].offline_bytes, row[1].offline_bytes);
    assert_int_equal(rounds[0], rounds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lut_full_domain_equals_pointwise_dpf),
        cmocka_unit_test(test_lut_plain_table_is_exact_on_m_bits),
        cmocka_unit_test(test_lut_high_fields_are_trunc_plain_and_match_twin),
        cmocka_unit_test(test_lut_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
