/* tests/protocols/test_cmp.c - DReLU and less-than over the three-thread
 * harness: results equal the plaintext twins on random values and on every
 * edge (zero, ±1, the bound, ties), the traffic is what cmp.h states
 * (1 round, ⌈n/8⌉ bytes per element each way, the DCF key bytes offline),
 * and it does not depend on the inputs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "protocols/cmp.h"
#include "protocols/fss.h"

typedef struct {
    int lt; /* cmp_lt rather than cmp_drelu */
    size_t n;
    int nbits;
    uint64_t *x[2], *y[2], *z[2];
} cmp_case_t;

static mpc_err_t cmp_role(mpc_ctx_t *ctx, void *arg)
{
    cmp_case_t *c = arg;
    if (ctx->party == MPC_DEALER)
        return c->lt ? cmp_lt_gen(ctx, c->n, c->nbits) : cmp_drelu_gen(ctx, c->n, c->nbits);
    int p = ctx->party;
    if (c->lt) return cmp_lt_eval(ctx, c->z[p], c->x[p], c->y[p], c->n, c->nbits);
    return cmp_drelu_eval(ctx, c->z[p], c->x[p], c->n, c->nbits);
}

static uint64_t lo_bound(int nbits)
{
    return (uint64_t)0 - ((uint64_t)1 << (nbits - 1));
}
static uint64_t hi_bound(int nbits)
{
    return ((uint64_t)1 << (nbits - 1)) - 1;
}

/* A value uniform in [−2^(n−1), 2^(n−1)). */
static uint64_t in_range(prg_t *g, int nbits)
{
    uint64_t v;
    prg_u64(g, &v, 1);
    return nbits == 64 ? v : (v & (((uint64_t)1 << nbits) - 1)) + lo_bound(nbits);
}

/* Runs the case on x (and y for lt) and checks against the twin; returns
 * the result record (caller frees). */
static tu_result_t *run_case(int lt, int nbits, const uint64_t *x, const uint64_t *y, size_t n)
{
    cmp_case_t c = {.lt = lt, .n = n, .nbits = nbits};
    for (int p = 0; p < 2; p++) {
        c.x[p] = malloc(n * 8);
        c.y[p] = malloc(n * 8);
        c.z[p] = malloc(n * 8);
        assert_non_null(c.x[p]);
        assert_non_null(c.y[p]);
        assert_non_null(c.z[p]);
    }
    tu_share(c.x[0], c.x[1], x, n);
    if (lt) tu_share(c.y[0], c.y[1], y, n);
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    if (tu_run(NULL, cmp_role, &c, res) != 0)
        fail_msg("run failed: P0 '%s' P1 '%s' dealer '%s'", res->msg[0], res->msg[1], res->msg[2]);
    uint64_t *want = malloc(n * 8);
    assert_non_null(want);
    if (lt)
        cmp_lt_plain(want, x, y, n, nbits);
    else
        cmp_drelu_plain(want, x, n, nbits);
    size_t bit_shares = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t got = c.z[0][i] + c.z[1][i];
        if (got != want[i])
            fail_msg("%s n=%d x=%llx y=%llx: got %llu want %llu", lt ? "lt" : "drelu", nbits,
                     (unsigned long long)x[i], lt ? (unsigned long long)y[i] : 0ull,
                     (unsigned long long)got, (unsigned long long)want[i]);
        bit_shares += c.z[0][i] <= 1;
    }
    /* A share alone is not the bit: it is masked by the DCF's output. */
    if (n >= 64) assert_true(bit_shares < n / 8);

    /* 1 round; ⌈n/8⌉ bytes per element each way; the DCF key offline, and
     * P1 also gets its share of MSB(r). */
    const char *op = lt ? "lt" : "drelu";
    size_t kb = fss_dcf_key_bytes(nbits - 1, FSS_Z64);
    assert_int_equal(kb, 24 * (size_t)nbits + ((size_t)nbits - 1 + 7) / 8);
    assert_int_equal(tu_rounds(res), 1);
    for (int p = 0; p < 2; p++) {
        stats_row_t row = stats_op(&res->stats[p], op);
        assert_int_equal(row.rounds, 1);
        assert_int_equal(row.bytes_sent, n * cmp_open_bytes(nbits));
        assert_int_equal(row.bytes_recv, n * cmp_open_bytes(nbits));
        assert_int_equal(row.msgs_sent, 1);
        assert_int_equal(tu_bytes_sent(res, p), n * cmp_open_bytes(nbits));
        assert_int_equal(tu_offline_bytes(res, p), n * (kb + (p == 1 ? 8 : 0)));
    }
    assert_int_equal(cmp_open_bytes(nbits), ((size_t)nbits + 7) / 8);
    free(want);
    for (int p = 0; p < 2; p++) {
        free(c.x[p]);
        free(c.y[p]);
        free(c.z[p]);
    }
    return res;
}

/* Whether v lies in [−2^(n−1), 2^(n−1)). */
static int fits(uint64_t v, int nbits)
{
    return nbits == 64 || v - lo_bound(nbits) <= 2 * hi_bound(nbits) + 1;
}

static const int widths[] = {2, 8, 16, 24, 37, 63, 64};

static void test_cmp_drelu_matches_plain_on_edges_and_random(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        int nb = widths[w];
        uint64_t x[N];
        const uint64_t edges[] = {0,
                                  1,
                                  (uint64_t)-1,
                                  lo_bound(nb),
                                  hi_bound(nb),
                                  lo_bound(nb) + 1,
                                  hi_bound(nb) - 1,
                                  2,
                                  (uint64_t)-2};
        for (size_t i = 0; i < N; i++)
            x[i] = in_range(g, nb);
        size_t k = 0;
        for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
            if (fits(edges[i], nb)) x[k++] = edges[i];
        free(run_case(0, nb, x, NULL, N));
    }
    prg_free(&g);
}

/* x < y on random pairs, ties, neighbours and differences at the bound. */
static void test_cmp_lt_matches_plain_with_ties_and_bound_edges(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 2);
    static const int lt_widths[] = {2, 16, 24, 64};
    for (size_t w = 0; w < sizeof lt_widths / sizeof *lt_widths; w++) {
        int nb = lt_widths[w];
        uint64_t x[N], y[N];
        for (size_t i = 0; i < N; i++) {
            /* y anywhere, x − y in range: both share an offset */
            uint64_t off;
            prg_u64(g, &off, 1);
            y[i] = off;
            x[i] = off + in_range(g, nb);
        }
        const uint64_t diffs[] = {
            0, 1, (uint64_t)-1, lo_bound(nb), hi_bound(nb), lo_bound(nb) + 1, hi_bound(nb) - 1};
        size_t k = 0;
        for (size_t i = 0; i < sizeof diffs / sizeof *diffs; i++)
            if (fits(diffs[i], nb)) {
                y[k] = (uint64_t)0 - 5; /* a negative y */
                x[k] = y[k] + diffs[i];
                k++;
                y[k] = 0;
                x[k] = diffs[i];
                k++;
            }
        x[k] = y[k] = 0; /* tie at zero */
        k++;
        x[k] = y[k] = (uint64_t)1 << 40; /* tie elsewhere */
        free(run_case(1, nb, x, y, N));
    }
    prg_free(&g);
}

/* More elements than one key chunk, at full width. */
static void test_cmp_drelu_many_elements_across_chunks(void **state)
{
    (void)state;
    enum { N = 2500 };
    uint64_t *x = malloc(N * 8);
    assert_non_null(x);
    uint8_t seed[PRG_SEED_BYTES];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 3);
    prg_u64(g, x, N);
    prg_free(&g);
    free(run_case(0, 64, x, NULL, N));
    free(x);
}

/* Two runs with different inputs of the same count and width move the
 * same bytes, in the same messages and rounds, on every link. */
static void test_cmp_traffic_does_not_depend_on_inputs(void **state)
{
    (void)state;
    enum { N = 200, NB = 24 };
    uint64_t a[N], b[N], y[N];
    for (size_t i = 0; i < N; i++) {
        a[i] = 0;
        b[i] = i % 2 ? hi_bound(NB) - i : lo_bound(NB) + i;
        y[i] = 0;
    }
    for (int lt = 0; lt < 2; lt++) {
        tu_result_t *ra = run_case(lt, NB, a, y, N), *rb = run_case(lt, NB, b, y, N);
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

/* An empty batch is no message, no round and no correlation. */
static void test_cmp_empty_batch_sends_nothing(void **state)
{
    (void)state;
    uint64_t dummy[1] = {0};
    cmp_case_t c = {.lt = 1, .n = 0, .nbits = 16};
    for (int p = 0; p < 2; p++)
        c.x[p] = c.y[p] = c.z[p] = dummy;
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    assert_int_equal(tu_run(NULL, cmp_role, &c, res), 0);
    assert_int_equal(tu_rounds(res), 0);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(tu_bytes_sent(res, p), 0);
        assert_int_equal(tu_offline_bytes(res, p), 0);
    }
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmp_drelu_matches_plain_on_edges_and_random),
        cmocka_unit_test(test_cmp_lt_matches_plain_with_ties_and_bound_edges),
        cmocka_unit_test(test_cmp_drelu_many_elements_across_chunks),
        cmocka_unit_test(test_cmp_traffic_does_not_depend_on_inputs),
        cmocka_unit_test(test_cmp_empty_batch_sends_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
