/* tests/protocols/test_matmul.c - products with the one-sided weight mask
 * and with mask-reused fixed operands, against the plaintext ring product
 * and the truncation twin. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ring.h"
#include "mpc/fxp.h"
#include "protocols/matmul.h"
#include "protocols/trunc.h"

#define NW 3

typedef struct {
    size_t m, k, rows[NW];
    int nw, f;
    uint64_t site;
    const uint64_t *W[NW]; /* P0's weights (plain, fixed point) */
    uint64_t *x[2], *y[2][NW];
} mm_case_t;

static mpc_err_t mm_role(mpc_ctx_t *ctx, void *arg)
{
    mm_case_t *c = arg;
    matmul_weight_t w[NW];
    matmul_weight_t *ws[NW];
    mpc_err_t e = MPC_OK;
    int made = 0;
    for (int j = 0; j < c->nw && !e; j++, made++) {
        ws[j] = &w[j];
        if (ctx->party == MPC_DEALER)
            e = matmul_weight_gen(ctx, &w[j], 10 + j, c->rows[j], c->k);
        else
            e = matmul_weight_eval(ctx, &w[j], ctx->party == MPC_P0 ? c->W[j] : NULL, 10 + j,
                                   c->rows[j], c->k);
    }
    if (!e) {
        if (ctx->party == MPC_DEALER)
            e = matmul_gen(ctx, ws, c->nw, c->m, c->f, c->site);
        else
            e = matmul_eval(ctx, c->y[ctx->party], c->x[ctx->party], ws, c->nw, c->m, c->f,
                            c->site);
    }
    for (int j = 0; j < made; j++) matmul_weight_free(&w[j]);
    return e;
}

static void random_fixed(uint64_t *v, size_t n, double lo, double hi, int f)
{
    double *d = malloc(n * sizeof *d);
    tu_uniform(d, n, lo, hi);
    for (size_t i = 0; i < n; i++) v[i] = fxp_encode(d[i], f);
    free(d);
}

static void run_weights(size_t m, size_t k, int nw, const size_t *rows)
{
    const int f = 16;
    mm_case_t c = {.m = m, .k = k, .nw = nw, .f = f, .site = TRUNC_SITE(1, 2, 3)};
    uint64_t *x = malloc(m * k * 8), *W[NW];
    random_fixed(x, m * k, -4, 4, f);
    x[0] = 0;
    x[1] = fxp_encode(-1, f);
    for (int j = 0; j < nw; j++) {
        c.rows[j] = rows[j];
        W[j] = malloc(rows[j] * k * 8);
        random_fixed(W[j], rows[j] * k, -1, 1, f);
        c.W[j] = W[j];
        for (int p = 0; p < 2; p++) c.y[p][j] = malloc(m * rows[j] * 8);
    }
    for (int p = 0; p < 2; p++) c.x[p] = malloc(m * k * 8);
    tu_share(c.x[0], c.x[1], x, m * k);
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, mm_role, &c, res), 0);

    /* Plaintext oracle: the ring product, then the twin of the truncation
     * over all outputs concatenated. Site bound: |x| <= 4, |W| <= 1, so
     * |y| <= 4k < 2^62 at scale 2f for any k here. */
    size_t total = 0;
    for (int j = 0; j < nw; j++) total += m * rows[j];
    uint64_t *cat = malloc(total * 8), *want = malloc(total * 8);
    size_t o2 = 0;
    for (int j = 0; j < nw; j++) {
        ring_gemm_nt(cat + o2, x, W[j], m, rows[j], k, 0);
        o2 += m * rows[j];
    }
    trunc_plain(want, cat, total, f, round_seed, c.site);
    o2 = 0;
    for (int j = 0; j < nw; j++)
        for (size_t i = 0; i < m * rows[j]; i++, o2++)
            assert_int_equal(c.y[0][j][i] + c.y[1][j][i], want[o2]);

    /* 1 setup round (F), then 2 online rounds: P1's flight of E, and the
     * truncation's opening. P1 sends m*k words plus its truncation share;
     * P0 only its truncation share. */
    stats_row_t setup1 = stats_total(&res->stats[1], PHASE_SETUP);
    assert_int_equal(setup1.rounds, 1);
    assert_int_equal(tu_rounds(res) - setup1.rounds, 2);
    stats_row_t setup0 = stats_total(&res->stats[0], PHASE_SETUP);
    size_t wwords = 0;
    for (int j = 0; j < nw; j++) wwords += rows[j] * k;
    assert_int_equal(setup0.bytes_sent, 8 * wwords);
    assert_int_equal(setup1.bytes_recv, 8 * wwords);
    assert_int_equal(setup1.bytes_sent, 0);
    stats_row_t on0 = stats_total(&res->stats[0], PHASE_OTHER);
    stats_row_t on1 = stats_total(&res->stats[1], PHASE_OTHER);
    assert_int_equal(on1.bytes_sent, 8 * (m * k + total));
    assert_int_equal(on0.bytes_sent, 8 * total);
    /* offline: P1 gets C1 (total words) and 3 words per truncated element */
    assert_int_equal(tu_offline_bytes(res, 1), 8 * total + 24 * total);
    assert_int_equal(tu_offline_bytes(res, 0), 0);

    free(res);
    free(cat);
    free(want);
    free(x);
    for (int j = 0; j < nw; j++) {
        free(W[j]);
        for (int p = 0; p < 2; p++) free(c.y[p][j]);
    }
    for (int p = 0; p < 2; p++) free(c.x[p]);
}

static void test_matmul_weight_vector_768_matches_twin(void **state)
{
    (void)state;
    size_t rows[1] = {768};
    run_weights(1, 768, 1, rows);
}

static void test_matmul_three_weights_share_one_mask_and_one_round(void **state)
{
    (void)state;
    size_t rows[3] = {64, 32, 32}; /* Wq | Wk | Wv under GQA */
    run_weights(5, 64, 3, rows);
}

typedef struct {
    size_t rows, cols, m;
    uint64_t *Y[2], *X1[2], *X2[2], *Z1[2], *Z2[2];
} fx_case_t;

static mpc_err_t fixed_role(mpc_ctx_t *ctx, void *arg)
{
    fx_case_t *c = arg;
    matmul_fixed_t y;
    mpc_err_t e;
    if (ctx->party == MPC_DEALER) {
        e = matmul_fixed_gen(ctx, &y, c->rows, c->cols);
        if (!e) e = matmul_fixed_mul_gen(ctx, &y, c->m, 1);
        if (!e) e = matmul_fixed_mul_gen(ctx, &y, c->m, 0);
    } else {
        int p = ctx->party;
        e = matmul_fixed_eval(ctx, &y, c->Y[p], c->rows, c->cols);
        if (!e) e = matmul_fixed_mul_eval(ctx, c->Z1[p], c->X1[p], &y, c->m, 1);
        if (!e) e = matmul_fixed_mul_eval(ctx, c->Z2[p], c->X2[p], &y, c->m, 0);
    }
    matmul_fixed_free(&y);
    return e;
}

static void test_matmul_fixed_operand_reuses_its_mask(void **state)
{
    (void)state;
    /* Y: a 40-token K cache of head size 8; X1: a query (1 x 8) for
     * scores = q K^T; X2: probabilities (1 x 40) for p V. */
    fx_case_t c = {.rows = 40, .cols = 8, .m = 1};
    size_t ny = c.rows * c.cols;
    uint64_t Y[320], X1[8], X2[40], W1[40], W2[8];
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    prg_u64(g, Y, ny);
    prg_u64(g, X1, 8);
    prg_u64(g, X2, 40);
    prg_free(&g);
    for (int p = 0; p < 2; p++) {
        c.Y[p] = malloc(ny * 8);
        c.X1[p] = malloc(8 * 8);
        c.X2[p] = malloc(40 * 8);
        c.Z1[p] = malloc(40 * 8);
        c.Z2[p] = malloc(8 * 8);
    }
    tu_share(c.Y[0], c.Y[1], Y, ny);
    tu_share(c.X1[0], c.X1[1], X1, 8);
    tu_share(c.X2[0], c.X2[1], X2, 40);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(NULL, fixed_role, &c, res), 0);
    ring_gemm_nt(W1, X1, Y, 1, 40, 8, 0);
    ring_gemm_nn(W2, X2, Y, 1, 8, 40, 0);
    for (int i = 0; i < 40; i++) assert_int_equal(c.Z1[0][i] + c.Z1[1][i], W1[i]);
    for (int i = 0; i < 8; i++) assert_int_equal(c.Z2[0][i] + c.Z2[1][i], W2[i]);
    /* the operand is opened once; each product opens only its input */
    stats_row_t open = stats_op(&res->stats[0], "fixed_open");
    stats_row_t mul = stats_op(&res->stats[0], "fixed_mul");
    assert_int_equal(open.bytes_sent, 8 * ny);
    assert_int_equal(open.rounds, 1);
    assert_int_equal(mul.bytes_sent, 8 * (8 + 40));
    assert_int_equal(mul.rounds, 2);
    free(res);
    for (int p = 0; p < 2; p++) {
        free(c.Y[p]);
        free(c.X1[p]);
        free(c.X2[p]);
        free(c.Z1[p]);
        free(c.Z2[p]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_weight_vector_768_matches_twin),
        cmocka_unit_test(test_matmul_three_weights_share_one_mask_and_one_round),
        cmocka_unit_test(test_matmul_fixed_operand_reuses_its_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
