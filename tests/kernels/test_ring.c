/* tests/kernels/test_ring.c - the ring kernels against a naive triple loop.
 *
 * Every code path the CPU supports (forced through the _isa variants, plus
 * AUTO) must give exactly what the textbook loop gives mod 2^64: on random
 * inputs of odd shapes that exercise every tile edge and the k and n tails,
 * with acc off (C poisoned beforehand) and on (C random), and on words at the
 * wrap-around extremes (all ones, 2^63, 2^32 +- 1). Guard words on both sides
 * of C catch a masked store that writes past the tile. A hand-computed
 * product pins the oracle itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/ring.h"

#define POISON 0xa5a5a5a5a5a5a5a5ull
#define GUARD  16 /* words on each side of C */

static const ring_isa_t isas[] = {RING_ISA_AUTO, RING_ISA_SCALAR, RING_ISA_AVX2, RING_ISA_AVX512};
#define N_ISAS (sizeof isas / sizeof isas[0])

static const size_t sizes[] = {1, 3, 7, 17, 65, 129};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* splitmix64: a reproducible test stream, state passed explicitly. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Words where carries and the high half matter, mixed with random ones. */
static uint64_t extreme(uint64_t *s)
{
    static const uint64_t edge[] = {UINT64_MAX,
                                    1ull << 63,
                                    (1ull << 63) - 1,
                                    (1ull << 63) + 1,
                                    0xffffffffull,
                                    1ull << 32,
                                    (1ull << 32) + 1,
                                    0,
                                    1,
                                    0xffffffff00000000ull};
    uint64_t r = rnd(s);
    return (r & 3) ? edge[(r >> 2) % (sizeof edge / sizeof edge[0])] : rnd(s);
}

enum fill { FILL_RANDOM, FILL_EXTREME, FILL_ONES };

static void fill(uint64_t *x, size_t n, enum fill how, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        x[i] = how == FILL_ONES ? UINT64_MAX : how == FILL_EXTREME ? extreme(s) : rnd(s);
}

/* The oracle: C (+)= A B^T (nt, B is n x k) or A B (nn, B is k x n). */
static void naive(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc, int nt)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t s = acc ? C[i * n + j] : 0;
            for (size_t l = 0; l < k; l++)
                s += A[i * k + l] * (nt ? B[j * k + l] : B[l * n + j]);
            C[i * n + j] = s;
        }
}

/* Runs one product on every supported path and compares with the oracle,
 * checking that the guard words around C are untouched. */
static void check_shape(size_t m, size_t n, size_t k, enum fill how, uint64_t *s)
{
    uint64_t *A = malloc((m * k + 1) * sizeof *A), *B = malloc((n * k + 1) * sizeof *B);
    uint64_t *C0 = malloc(m * n * sizeof *C0 + 1), *want = malloc(m * n * sizeof *want + 1);
    uint64_t *buf = malloc((m * n + 2 * GUARD) * sizeof *buf), *C = buf + GUARD;
    assert_non_null(A);
    assert_non_null(B);
    assert_non_null(C0);
    assert_non_null(want);
    assert_non_null(buf);
    fill(A, m * k, how, s);
    fill(B, n * k, how, s);
    fill(C0, m * n, FILL_RANDOM, s);
    for (int nt = 0; nt <= 1; nt++)
        for (int acc = 0; acc <= 1; acc++) {
            memcpy(want, C0, m * n * sizeof *want);
            naive(want, A, B, m, n, k, acc, nt);
            for (size_t v = 0; v < N_ISAS; v++) {
                if (!ring_isa_supported(isas[v])) continue;
                for (size_t i = 0; i < m * n + 2 * GUARD; i++)
                    buf[i] = POISON;
                if (acc) memcpy(C, C0, m * n * sizeof *C);
                if (nt)
                    ring_gemm_nt_isa(isas[v], C, A, B, m, n, k, acc);
                else
                    ring_gemm_nn_isa(isas[v], C, A, B, m, n, k, acc);
                for (size_t i = 0; i < GUARD; i++) {
                    assert_int_equal(buf[i], POISON);
                    assert_int_equal(C[m * n + i], POISON);
                }
                if (memcmp(C, want, m * n * sizeof *C) != 0)
                    fail_msg("%s %s m=%zu n=%zu k=%zu acc=%d fill=%d differs from naive",
                             nt ? "nt" : "nn", ring_isa_name(isas[v]), m, n, k, acc, (int)how);
            }
        }
    free(A);
    free(B);
    free(C0);
    free(want);
    free(buf);
}

static void test_ring_paths_reported(void **state)
{
    (void)state;
    assert_true(ring_isa_supported(RING_ISA_AUTO));
    assert_true(ring_isa_supported(RING_ISA_SCALAR));
    for (size_t v = 0; v < N_ISAS; v++)
        print_message("ring path %-6s %s\n", ring_isa_name(isas[v]),
                      ring_isa_supported(isas[v]) ? "tested" : "not supported here");
    assert_string_equal(ring_isa_name(RING_ISA_AVX512), "avx512");
}

/* A = [[2^63, 3], [-1, 2]], B = [[2^63, 5], [-1, 2^32]] (nn), by hand:
 * C00 = 2^126 + 3 * -1           = -3            (2^126 = 0 mod 2^64)
 * C01 = 2^63 * 5 + 3 * 2^32      = 2^63 + 3 * 2^32
 * C10 = -2^63 + 2 * -1           = 2^63 - 2
 * C11 = -5 + 2 * 2^32            = 2^33 - 5 */
static void test_ring_known_answer_wraps(void **state)
{
    (void)state;
    const uint64_t A[4] = {1ull << 63, 3, UINT64_MAX, 2};
    const uint64_t B[4] = {1ull << 63, 5, UINT64_MAX, 1ull << 32};  /* (k x n) */
    const uint64_t Bt[4] = {1ull << 63, UINT64_MAX, 5, 1ull << 32}; /* (n x k) */
    const uint64_t want[4] = {UINT64_MAX - 2, (1ull << 63) + 3 * (1ull << 32), (1ull << 63) - 2,
                              (1ull << 33) - 5};
    for (size_t v = 0; v < N_ISAS; v++) {
        if (!ring_isa_supported(isas[v])) continue;
        uint64_t C[4] = {POISON, POISON, POISON, POISON};
        ring_gemm_nn_isa(isas[v], C, A, B, 2, 2, 2, 0);
        assert_memory_equal(C, want, sizeof want);
        memset(C, 0xa5, sizeof C);
        ring_gemm_nt_isa(isas[v], C, A, Bt, 2, 2, 2, 0);
        assert_memory_equal(C, want, sizeof want);
        naive(C, A, B, 2, 2, 2, 0, 0);
        assert_memory_equal(C, want, sizeof want);
    }
}

static void test_ring_gemm_matches_naive_on_odd_sizes(void **state)
{
    (void)state;
    uint64_t s = 1;
    for (size_t a = 0; a < N_SIZES; a++)
        for (size_t b = 0; b < N_SIZES; b++)
            for (size_t c = 0; c < N_SIZES; c++)
                check_shape(sizes[a], sizes[b], sizes[c], FILL_RANDOM, &s);
}

static void test_ring_gemm_matches_naive_on_extreme_words(void **state)
{
    (void)state;
    uint64_t s = 2;
    for (size_t a = 0; a < N_SIZES; a += 2)
        for (size_t b = 0; b < N_SIZES; b++)
            for (size_t c = 0; c < N_SIZES; c++) {
                check_shape(sizes[a], sizes[b], sizes[c], FILL_EXTREME, &s);
                check_shape(sizes[a], sizes[b], sizes[c], FILL_ONES, &s);
            }
}

/* Shapes around the tile sizes of every path (2, 4, 8 rows; 4, 8, 16
 * columns; 4 and 8 lanes of k; the 128-row blocks of the nn panel), a
 * matrix-vector product with a long odd k, and empty dimensions. */
static void test_ring_gemm_matches_naive_on_tile_edges(void **state)
{
    (void)state;
    static const size_t shapes[][3] = {
        {8, 16, 8}, {9, 17, 9}, {16, 32, 16}, {15, 31, 15},   {4, 4, 4},      {5, 5, 5},
        {2, 8, 1},  {1, 1, 2},  {24, 48, 24}, {1, 257, 4099}, {130, 70, 260}, {0, 5, 5},
        {5, 0, 5},  {5, 5, 0},  {1, 4, 33},   {8, 9, 31},
    };
    uint64_t s = 3;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_shape(shapes[i][0], shapes[i][1], shapes[i][2], FILL_EXTREME, &s);
    for (size_t n = 1; n <= 17; n++) /* every column tail of the m = 1 tiles */
        check_shape(1, n, 13, FILL_EXTREME, &s);
}

static void test_ring_elementwise_match_scalar_and_alias(void **state)
{
    (void)state;
    enum { N = 1031 };
    uint64_t x[N], y[N], z[N], w[N], s = 4;
    fill(x, N, FILL_EXTREME, &s);
    fill(y, N, FILL_EXTREME, &s);

    for (size_t i = 0; i < N; i++)
        z[i] = POISON;
    ring_add(z, x, y, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(z[i], x[i] + y[i]);
    ring_sub(z, x, y, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(z[i], x[i] - y[i]);
    fill(w, N, FILL_RANDOM, &s);
    memcpy(z, w, sizeof z);
    ring_mul_acc(z, x, y, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(z[i], w[i] + x[i] * y[i]);

    /* In place: z = z - y, then z = z + y restores it; z += z * y. */
    memcpy(z, x, sizeof z);
    ring_sub(z, z, y, N);
    ring_add(z, y, z, N);
    assert_memory_equal(z, x, sizeof z);
    ring_mul_acc(z, z, y, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(z[i], x[i] + x[i] * y[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_paths_reported),
        cmocka_unit_test(test_ring_known_answer_wraps),
        cmocka_unit_test(test_ring_gemm_matches_naive_on_odd_sizes),
        cmocka_unit_test(test_ring_gemm_matches_naive_on_extreme_words),
        cmocka_unit_test(test_ring_gemm_matches_naive_on_tile_edges),
        cmocka_unit_test(test_ring_elementwise_match_scalar_and_alias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
