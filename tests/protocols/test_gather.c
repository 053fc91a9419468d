/* tests/protocols/test_gather.c - gather and scatter by a secret selection
 * over the three-thread harness: fresh operands (Beaver matrix triples) and
 * a mask-reused fixed operand equal their plaintext twins, with 1 round and
 * the bytes gather.h states (the fixed path opens only the selection); a
 * top-k selection feeds a gather end to end; the traffic does not depend on
 * the inputs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/gather.h"
#include "protocols/topk.h"

enum { MODE_GATHER, MODE_FIXED, MODE_SCATTER, MODE_TOPK };

typedef struct {
    int mode;
    size_t k, n, d;
    uint64_t *s[2], *y[2], *out[2];
    uint64_t *x[2]; /* MODE_TOPK: the scores */
} ga_case_t;

static mpc_err_t ga_role(mpc_ctx_t *ctx, void *arg)
{
    ga_case_t *c = arg;
    const int dealer = ctx->party == MPC_DEALER, p = ctx->party;
    mpc_err_t e = MPC_OK;
    switch (c->mode) {
    case MODE_GATHER:
        return dealer ? gather_gen(ctx, c->k, c->n, c->d)
                      : gather_eval(ctx, c->out[p], c->s[p], c->y[p], c->k, c->n, c->d);
    case MODE_SCATTER:
        return dealer ? gather_scatter_gen(ctx, c->k, c->n, c->d)
                      : gather_scatter_eval(ctx, c->out[p], c->s[p], c->y[p], c->k, c->n, c->d);
    case MODE_FIXED:
    case MODE_TOPK: {
        /* Y is written once (its F opened), then selected from. */
        matmul_fixed_t y;
        uint64_t *sel = NULL;
        if (dealer) {
            e = matmul_fixed_gen(ctx, &y, c->n, c->d);
            if (!e && c->mode == MODE_TOPK) e = topk_gen(ctx, 1, c->n, c->k, 28, TOPK_AUTO);
            if (!e) e = gather_fixed_gen(ctx, &y, c->k);
        } else {
            stats_phase(&ctx->stats, PHASE_SETUP);
            e = matmul_fixed_eval(ctx, &y, c->y[p], c->n, c->d);
            stats_phase(&ctx->stats, PHASE_SELECT);
            if (!e && c->mode == MODE_TOPK) {
                sel = malloc(c->k * c->n * 8);
                e = sel ? topk_eval(ctx, sel, c->x[p], 1, c->n, c->k, 28, TOPK_AUTO) : MPC_ENOMEM;
            }
            if (!e)
                e = gather_fixed_eval(ctx, c->out[p], sel ? sel : c->s[p], &y, c->k);
            free(sel);
        }
        matmul_fixed_free(&y);
        return e;
    }
    }
    return MPC_EARG;
}

/* A random selection: k rows, each one-hot at a distinct column, some rows
 * all zero (a padded selection). */
static void random_selection(uint64_t *s, size_t k, size_t n, prg_t *g)
{
    memset(s, 0, k * n * 8);
    uint64_t *perm = malloc(n * 8);
    assert_non_null(perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        uint64_t r;
        prg_u64(g, &r, 1);
        size_t j = r % i;
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (size_t j = 0; j < k; j++)
        if (j % 5 != 4) s[j * n + perm[j]] = 1;
    free(perm);
}

static tu_result_t *run_case(int mode, size_t k, size_t n, size_t d, const uint64_t *s,
                             const uint64_t *y, const uint64_t *x)
{
    ga_case_t c = {.mode = mode, .k = k, .n = n, .d = d};
    size_t yn = (mode == MODE_SCATTER ? k : n) * d, outn = (mode == MODE_SCATTER ? n : k) * d;
    for (int p = 0; p < 2; p++) {
        c.s[p] = malloc(k * n * 8);
        c.y[p] = malloc(yn * 8);
        c.out[p] = malloc(outn * 8);
        c.x[p] = malloc(n * 8);
        assert_true(c.s[p] && c.y[p] && c.out[p] && c.x[p]);
    }
    if (s) tu_share(c.s[0], c.s[1], s, k * n);
    tu_share(c.y[0], c.y[1], y, yn);
    if (x) tu_share(c.x[0], c.x[1], x, n);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    if (tu_run(NULL, ga_role, &c, res) != 0)
        fail_msg("run failed: P0 '%s' P1 '%s' dealer '%s'", res->msg[0], res->msg[1], res->msg[2]);
    uint64_t *want = malloc(outn * 8), *sel = malloc(k * n * 8);
    assert_non_null(want);
    assert_non_null(sel);
    if (mode == MODE_TOPK) {
        topk_plain(sel, x, 1, n, k, 28, TOPK_AUTO);
        s = sel;
    }
    if (mode == MODE_SCATTER)
        gather_scatter_plain(want, s, y, k, n, d);
    else
        gather_plain(want, s, y, k, n, d);
    for (size_t i = 0; i < outn; i++) {
        uint64_t got = c.out[0][i] + c.out[1][i];
        if (got != want[i])
            fail_msg("mode %d at %zu: got %llx want %llx", mode, i, (unsigned long long)got,
                     (unsigned long long)want[i]);
    }
    /* 1 round past the setup; the bytes gather.h states. */
    if (mode != MODE_TOPK) {
        uint64_t words = mode == MODE_FIXED ? k * n : mode == MODE_GATHER ? k * n + n * d
                                                                          : n * k + k * d;
        const char *op = mode == MODE_SCATTER ? "scatter" : "gather";
        uint64_t setup = mode == MODE_FIXED ? 1 : 0;
        assert_int_equal(tu_rounds(res), 1 + setup);
        for (int p = 0; p < 2; p++) {
            stats_row_t all = stats_total(&res->stats[p], -1);
            stats_row_t st = stats_total(&res->stats[p], PHASE_SETUP);
            assert_int_equal(all.bytes_sent - st.bytes_sent, 8 * words);
            assert_int_equal(all.rounds - st.rounds, 1);
            assert_true(stats_op(&res->stats[p], op).calls == 1);
        }
        /* P1 receives C: one word per output. */
        assert_int_equal(tu_offline_bytes(res, 1), 8 * outn);
    }
    free(want);
    free(sel);
    for (int p = 0; p < 2; p++) {
        free(c.s[p]);
        free(c.y[p]);
        free(c.out[p]);
        free(c.x[p]);
    }
    return res;
}

static void test_gather_and_scatter_match_plain(void **state)
{
    (void)state;
    static const size_t shapes[][3] = {{16, 128, 8}, {1, 1, 3}, {5, 7, 1}, {32, 256, 64}};
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        size_t k = shapes[t][0], n = shapes[t][1], d = shapes[t][2];
        uint64_t *s = malloc(k * n * 8), *y = malloc((n > k ? n : k) * d * 8);
        assert_non_null(s);
        assert_non_null(y);
        random_selection(s, k, n, g);
        prg_u64(g, y, (n > k ? n : k) * d); /* any ring values, extremes included */
        y[0] = (uint64_t)1 << 63;
        if (d > 1) y[1] = (uint64_t)-1;
        for (int mode = MODE_GATHER; mode <= MODE_SCATTER; mode++)
            free(run_case(mode, k, n, d, s, y, NULL));
        free(s);
        free(y);
    }
    prg_free(&g);
}

/* Top-k of scores selects rows of a fixed operand: the gathered rows are
 * those of the k best scores, in rank order. */
static void test_gather_of_a_topk_selection(void **state)
{
    (void)state;
    enum { N = 64, K = 8, D = 4 };
    uint64_t x[N], y[N * D];
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 2);
    prg_u64(g, y, N * D);
    for (size_t i = 0; i < N; i++) x[i] = (uint64_t)(i * 7919 % 50) << 10; /* with ties */
    prg_free(&g);
    free(run_case(MODE_TOPK, K, N, D, NULL, y, x));
}

static void test_gather_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { K = 4, N = 30, D = 5 };
    uint64_t sa[K * N], sb[K * N], y[N * D];
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 3);
    random_selection(sa, K, N, g);
    memset(sb, 0, sizeof sb);
    for (size_t j = 0; j < K; j++) sb[j * N + j] = 1;
    prg_u64(g, y, N * D);
    prg_free(&g);
    for (int mode = MODE_GATHER; mode <= MODE_SCATTER; mode++) {
        tu_result_t *ra = run_case(mode, K, N, D, sa, y, NULL);
        tu_result_t *rb = run_case(mode, K, N, D, sb, y, NULL);
        for (int p = 0; p < 3; p++) {
            stats_row_t a = stats_total(&ra->stats[p], -1), b = stats_total(&rb->stats[p], -1);
            assert_int_equal(a.bytes_sent, b.bytes_sent);
            assert_int_equal(a.msgs_sent, b.msgs_sent);
            assert_int_equal(a.rounds, b.rounds);
            assert_int_equal(a.offline_bytes, b.offline_bytes);
        }
        free(ra);
        free(rb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_and_scatter_match_plain),
        cmocka_unit_test(test_gather_of_a_topk_selection),
        cmocka_unit_test(test_gather_traffic_does_not_depend_on_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
