/* tests/protocols/test_select.c - multiplexer, ReLU and row maximum against
 * their plaintext twins, with the round counts their comments state. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/select.h"

#define NB 30 /* |values| <= 1000 < 2^10 at scale 16: differences < 2^27 */

typedef struct {
    size_t rows, n;
    uint64_t *x[2], *y[2], *b[2], *out[2], *relu[2], *max[2];
} sel_case_t;

static mpc_err_t sel_role(mpc_ctx_t *ctx, void *arg)
{
    sel_case_t *c = arg;
    size_t all = c->rows * c->n;
    if (ctx->party == MPC_DEALER) {
        mpc_err_t e = sel_mux_gen(ctx, all);
        if (!e) e = sel_relu_gen(ctx, all, NB);
        if (!e) e = sel_max_gen(ctx, c->rows, c->n, NB);
        return e;
    }
    int p = ctx->party;
    mpc_err_t e = sel_mux_eval(ctx, c->out[p], c->b[p], c->x[p], c->y[p], all);
    if (!e) e = sel_relu_eval(ctx, c->relu[p], c->x[p], all, NB);
    if (!e) e = sel_max_eval(ctx, c->max[p], c->x[p], c->rows, c->n, NB);
    return e;
}

static void run_case(size_t rows, size_t n, int ties)
{
    size_t all = rows * n;
    sel_case_t c = {.rows = rows, .n = n};
    uint64_t *x = malloc(all * 8), *y = malloc(all * 8), *b = malloc(all * 8);
    double *d = malloc(all * sizeof *d);
    tu_uniform(d, all, -1000, 1000);
    for (size_t i = 0; i < all; i++) {
        x[i] = fxp_encode(ties ? (double)((int)d[i] % 3) : d[i], 16);
        y[i] = fxp_encode(-d[i] / 2, 16);
        b[i] = (uint64_t)(d[i] > 0);
    }
    x[0] = 0;
    if (all > 1) x[1] = (uint64_t)-1; /* -1 ulp */
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(all * 8);
        c.y[p] = malloc(all * 8);
        c.b[p] = malloc(all * 8);
        c.out[p] = malloc(all * 8);
        c.relu[p] = malloc(all * 8);
        c.max[p] = malloc(rows * 8);
    }
    tu_share(c.x[0], c.x[1], x, all);
    tu_share(c.y[0], c.y[1], y, all);
    tu_share(c.b[0], c.b[1], b, all);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(NULL, sel_role, &c, res), 0);

    uint64_t *want = malloc(all * 8);
    for (size_t i = 0; i < all; i++) assert_int_equal(c.out[0][i] + c.out[1][i], b[i] ? x[i] : y[i]);
    sel_relu_plain(want, x, all, NB);
    for (size_t i = 0; i < all; i++) assert_int_equal(c.relu[0][i] + c.relu[1][i], want[i]);
    sel_max_plain(want, x, rows, n, NB);
    for (size_t r = 0; r < rows; r++) assert_int_equal(c.max[0][r] + c.max[1][r], want[r]);

    int levels = 0;
    for (size_t len = n; len > 1; len = len / 2 + len % 2) levels++;
    /* mux 1 + relu 2 + max 2 per level */
    assert_int_equal(tu_rounds(res), 1 + 2 + 2 * (uint64_t)levels);
    free(res);
    free(want);
    free(x);
    free(y);
    free(b);
    free(d);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
        free(c.b[p]);
        free(c.out[p]);
        free(c.relu[p]);
        free(c.max[p]);
    }
}

static void test_select_matches_twins_on_random_rows(void **state)
{
    (void)state;
    run_case(3, 37, 0); /* odd lengths exercise the waiting element */
    run_case(1, 128, 0);
}

static void test_select_max_with_ties_and_single_element(void **state)
{
    (void)state;
    run_case(4, 16, 1);
    run_case(2, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_matches_twins_on_random_rows),
        cmocka_unit_test(test_select_max_with_ties_and_single_element),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
