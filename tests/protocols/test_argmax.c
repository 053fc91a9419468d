/* tests/protocols/test_argmax.c - the tournament argmax over the
 * three-thread harness: the secret one-hot and the index revealed to P1
 * equal the plaintext twin and a direct first-maximum scan (ties to the
 * lower index), on random rows, ties, all-equal rows, values at the bound
 * and masked entries at the sentinel; rounds and bytes are those argmax.h
 * states; the traffic does not depend on the inputs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/argmax.h"

typedef struct {
    int reveal;
    size_t rows, n;
    int nbits;
    uint64_t *x[2], *out[2];
} am_case_t;

static mpc_err_t am_role(mpc_ctx_t *ctx, void *arg)
{
    am_case_t *c = arg;
    if (ctx->party == MPC_DEALER)
        return c->reveal ? argmax_reveal_gen(ctx, c->rows, c->n, c->nbits)
                         : argmax_gen(ctx, c->rows, c->n, c->nbits);
    int p = ctx->party;
    if (c->reveal)
        return argmax_reveal_eval(ctx, p == MPC_P1 ? c->out[p] : NULL, c->x[p], c->rows, c->n,
                                  c->nbits);
    return argmax_eval(ctx, c->out[p], c->x[p], c->rows, c->n, c->nbits);
}

/* The first maximum of each row (signed values). */
static size_t first_max(const uint64_t *row, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (fxp_signed(row[i]) > fxp_signed(row[best])) best = i;
    return best;
}

static tu_result_t *run_case(int reveal, const uint64_t *x, size_t rows, size_t n, int nbits)
{
    am_case_t c = {.reveal = reveal, .rows = rows, .n = n, .nbits = nbits};
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(rows * n * 8);
        c.out[p] = calloc(rows * n, 8);
        assert_non_null(c.x[p]);
        assert_non_null(c.out[p]);
    }
    tu_share(c.x[0], c.x[1], x, rows * n);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    if (tu_run(NULL, am_role, &c, res) != 0)
        fail_msg("run failed: P0 '%s' P1 '%s' dealer '%s'", res->msg[0], res->msg[1], res->msg[2]);
    uint64_t *want = malloc(rows * n * 8), *idx = malloc(rows * 8);
    assert_non_null(want);
    assert_non_null(idx);
    argmax_index_plain(idx, x, rows, n, nbits);
    argmax_plain(want, x, rows, n, nbits);
    for (size_t r = 0; r < rows; r++) {
        assert_int_equal(idx[r], first_max(x + r * n, n)); /* the twin is the argmax */
        if (reveal) {
            if (c.out[1][r] != idx[r])
                fail_msg("row %zu of %zu: P1 got %llu want %llu", r, n,
                         (unsigned long long)c.out[1][r], (unsigned long long)idx[r]);
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            uint64_t got = c.out[0][r * n + j] + c.out[1][r * n + j];
            if (got != want[r * n + j])
                fail_msg("row %zu col %zu of %zu: got %llu want %llu", r, j, n,
                         (unsigned long long)got, (unsigned long long)want[r * n + j]);
        }
    }
    /* Rounds: the count argmax.h states, on each party's counters too (an
     * op's row excludes the ops nested in it, so the total is the sum). */
    assert_int_equal(tu_rounds(res), argmax_rounds(n, reveal));
    uint64_t levels = 0;
    for (size_t len = n; len > 1; len = len / 2 + len % 2) levels++;
    assert_int_equal(argmax_rounds(n, reveal), levels ? 2 * levels + (uint64_t)reveal : 0);
    for (int p = 0; p < 2; p++) {
        /* P0 only sends in the reveal's last flight, so its clock stops
         * one short of P1's. */
        uint64_t mine = argmax_rounds(n, reveal) - (reveal && n > 1 && p == MPC_P0);
        assert_int_equal(stats_total(&res->stats[p], -1).rounds, mine);
        assert_int_equal(tu_bytes_sent(res, p), argmax_bytes(rows, n, nbits, reveal, p));
    }
    free(want);
    free(idx);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.out[p]);
    }
    return res;
}

/* Random values in [−lim, lim) at scale 16. */
static void fill(uint64_t *x, size_t count, double lim)
{
    double *d = malloc(count * sizeof *d);
    assert_non_null(d);
    tu_uniform(d, count, -lim, lim);
    for (size_t i = 0; i < count; i++) x[i] = fxp_encode(d[i], 16);
    free(d);
}

#define NB 28 /* |x| < 1000 at scale 16: differences < 2^27 */

static void test_argmax_matches_plain_on_random_rows(void **state)
{
    (void)state;
    static const size_t shapes[][2] = {{3, 37}, {1, 128}, {2, 2}, {4, 3}, {1, 5}, {2, 1}, {1, 513}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t rows = shapes[s][0], n = shapes[s][1];
        uint64_t *x = malloc(rows * n * 8);
        assert_non_null(x);
        fill(x, rows * n, 1000);
        for (int reveal = 0; reveal < 2; reveal++) free(run_case(reveal, x, rows, n, NB));
        free(x);
    }
}

/* Ties everywhere: all-equal rows, a few distinct values, the maximum
 * repeated at both ends, zeros and −1 ulp. */
static void test_argmax_breaks_ties_toward_the_lower_index(void **state)
{
    (void)state;
    enum { ROWS = 6, N = 24 };
    uint64_t x[ROWS * N];
    for (size_t i = 0; i < N; i++) {
        x[0 * N + i] = fxp_encode(3.5, 16);         /* all equal: index 0 */
        x[1 * N + i] = (uint64_t)(i % 3);            /* 2 first at index 2 */
        x[2 * N + i] = (i == 5 || i == 23) ? 9 : 1;  /* repeated max */
        x[3 * N + i] = (uint64_t)0 - (i != 17);      /* −1 everywhere but 0 at 17 */
        x[4 * N + i] = 0;                            /* all zero */
        x[5 * N + i] = (uint64_t)0 - (uint64_t)(N - i) * 2; /* max at the end */
    }
    for (int reveal = 0; reveal < 2; reveal++) {
        free(run_case(reveal, x, ROWS, N, NB));
        free(run_case(reveal, x, 1, N, NB)); /* an all-equal row alone */
    }
}

/* Values at the stated bound: any two entries differ by less than
 * 2^(nbits−1); masked entries hold the sentinel −2^(nbits−2). */
static void test_argmax_at_the_bound_and_with_masked_entries(void **state)
{
    (void)state;
    static const int widths[] = {2, 16, 40, 64};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int nb = widths[w];
        enum { ROWS = 4, N = 19 };
        uint64_t x[ROWS * N];
        uint64_t top = nb == 64 ? ((uint64_t)1 << 62) - 1 : ((uint64_t)1 << (nb - 2)) - 1;
        uint64_t sentinel = (uint64_t)0 - (top + 1); /* −2^(nbits−2): the "−∞" */
        for (size_t i = 0; i < N; i++) {
            x[0 * N + i] = i == 7 ? top : sentinel;         /* extremes */
            x[1 * N + i] = sentinel;                        /* fully masked row */
            x[2 * N + i] = i < 10 ? sentinel : top - i % 2; /* masked prefix */
            x[3 * N + i] = i % 2 ? top : sentinel;          /* ties at the top */
        }
        for (int reveal = 0; reveal < 2; reveal++) free(run_case(reveal, x, ROWS, N, nb));
    }
}

static void test_argmax_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { ROWS = 2, N = 50 };
    uint64_t a[ROWS * N], b[ROWS * N];
    fill(a, ROWS * N, 1000);
    for (size_t i = 0; i < ROWS * N; i++) b[i] = 0;
    for (int reveal = 0; reveal < 2; reveal++) {
        tu_result_t *ra = run_case(reveal, a, ROWS, N, NB), *rb = run_case(reveal, b, ROWS, N, NB);
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
        cmocka_unit_test(test_argmax_matches_plain_on_random_rows),
        cmocka_unit_test(test_argmax_breaks_ties_toward_the_lower_index),
        cmocka_unit_test(test_argmax_at_the_bound_and_with_masked_entries),
        cmocka_unit_test(test_argmax_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
