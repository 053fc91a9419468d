/* tests/kernels/test_cuda_ring.c - the CUDA ring GEMM and GEMV against the
 * CPU kernels of kernels/ring.h, and the dispatch between them.
 *
 * Fresh random operands (the seed is printed, for a rerun) on shapes that
 * cut every tile edge of the device kernels (64 x 64 tiles, k steps of 16,
 * the m = 1 GEMV paths, k = 0), with acc off (device C poisoned first) and
 * on (C random); the host copy of the result is poisoned before the
 * download, and the comparison is element for element with the CPU path.
 * Every call that reaches CUDA is checked. A 1024^3 product is also timed
 * with device events (median of 5), as information.
 *
 * Without a CUDA device, or without CUDA in the build, the test exits 77,
 * which CTest reports as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cudatest.h"

#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "kernels/ring.h"
#include "mpc/prg.h"


static void poison(uint64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = POISON;
}

static void assert_words_equal(const uint64_t *got, const uint64_t *want, size_t n,
                               const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: word %zu of %zu: device %016llx, cpu %016llx", what, i, n,
                     (unsigned long long)got[i], (unsigned long long)want[i]);
}

/* One product on both paths; nt selects C = A B^T (B n x k) or A B (B k x n). */
static void check_gemm(fixture_t *fx, int nt, size_t m, size_t n, size_t k, int acc)
{
    dev_ctx_t *d = fx->d;
    uint64_t *A = malloc((m * k + 1) * 8), *B = malloc((n * k + 1) * 8);
    uint64_t *C = malloc((m * n + 1) * 8), *ref = malloc((m * n + 1) * 8);
    assert_non_null(A);
    assert_non_null(B);
    assert_non_null(C);
    assert_non_null(ref);
    prg_u64(fx->g, A, m * k);
    prg_u64(fx->g, B, n * k);
    prg_u64(fx->g, ref, m * n);
    memcpy(C, ref, m * n * 8); /* the accumulator's start value */

    size_t mark = dev_mark(d);
    uint64_t *gA = dev_alloc(d, (m * k + 1) * 8), *gB = dev_alloc(d, (n * k + 1) * 8);
    uint64_t *gC = dev_alloc(d, (m * n + 1) * 8);
    assert_true(gA && gB && gC);
    DEV_OK(d, dev_upload(d, gA, A, m * k * 8));
    DEV_OK(d, dev_upload(d, gB, B, n * k * 8));
    if (acc)
        DEV_OK(d, dev_upload(d, gC, C, m * n * 8));
    else
        DEV_OK(d, dev_fill(d, gC, 0xa5, m * n * 8));
    if (nt) {
        DEV_OK(d, cuda_ring_gemm_nt(d, gC, gA, gB, m, n, k, acc));
        ring_gemm_nt(ref, A, B, m, n, k, acc);
    } else {
        DEV_OK(d, cuda_ring_gemm_nn(d, gC, gA, gB, m, n, k, acc));
        ring_gemm_nn(ref, A, B, m, n, k, acc);
    }
    poison(C, m * n);
    DEV_OK(d, dev_download(d, C, gC, m * n * 8));
    char what[96];
    snprintf(what, sizeof what, "gemm_%s m=%zu n=%zu k=%zu acc=%d", nt ? "nt" : "nn", m, n, k, acc);
    assert_words_equal(C, ref, m * n, what);
    dev_reset(d, mark);
    free(A);
    free(B);
    free(C);
    free(ref);
}

static const size_t shapes[][3] = {
    {1, 1, 1},   {1, 77, 33},  {1, 300, 1000},  {1, 1000, 300}, {2, 3, 5},
    {3, 130, 1}, {64, 64, 16}, {65, 63, 17},    {100, 1, 50},   {130, 70, 40},
    {7, 9, 0},   {1, 5, 0},    {129, 257, 200},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void test_cuda_ring_gemm_nt_matches_cpu(void **state)
{
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int acc = 0; acc < 2; acc++)
            check_gemm(*state, 1, shapes[s][0], shapes[s][1], shapes[s][2], acc);
}

static void test_cuda_ring_gemm_nn_matches_cpu(void **state)
{
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int acc = 0; acc < 2; acc++)
            check_gemm(*state, 0, shapes[s][0], shapes[s][1], shapes[s][2], acc);
}

/* The host-buffer dispatcher takes the device at threshold 0 and the CPU
 * above the job, gives the CPU's bits either way, and logs its choice. */
static void test_cuda_ring_dispatch_logs_path_and_matches(void **state)
{
    fixture_t *fx = *state;
    const size_t m = 33, n = 65, k = 70;
    uint64_t *A = malloc(m * k * 8), *B = malloc(n * k * 8), *C = malloc(m * n * 8),
             *ref = malloc(m * n * 8);
    assert_true(A && B && C && ref);
    prg_u64(fx->g, A, m * k);
    prg_u64(fx->g, B, n * k);
    ring_gemm_nt(ref, A, B, m, n, k, 0);
    FILE *log = tmpfile();
    assert_non_null(log);
    dev_set_log(fx->d, log);
    for (int gpu = 1; gpu >= 0; gpu--) {
        dev_set_min_work(fx->d, gpu ? 0 : m * n * k + 1);
        poison(C, m * n);
        DEV_OK(fx->d, dev_ring_gemm_nt(fx->d, C, A, B, m, n, k, 0));
        assert_words_equal(C, ref, m * n, gpu ? "dispatch, device" : "dispatch, cpu");
    }
    dev_set_log(fx->d, NULL);
    dev_set_min_work(fx->d, DEV_MIN_WORK);
    char line[2][256];
    rewind(log);
    for (int i = 0; i < 2; i++)
        assert_non_null(fgets(line[i], sizeof line[i], log));
    fclose(log);
    assert_non_null(strstr(line[0], dev_name(fx->d)));
    assert_non_null(strstr(line[1], "-> cpu"));
    free(A);
    free(B);
    free(C);
    free(ref);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Correctness at a size where the kernel runs full tiles, then its time. */
static void test_cuda_ring_gemm_1024_matches_cpu_and_is_timed(void **state)
{
    fixture_t *fx = *state;
    dev_ctx_t *d = fx->d;
    const size_t s = 1024;
    check_gemm(fx, 1, s, s, s, 0);
    size_t mark = dev_mark(d);
    uint64_t *g = dev_alloc(d, 3 * s * s * 8);
    assert_non_null(g);
    DEV_OK(d, dev_fill(d, g, 0x5a, 2 * s * s * 8));
    double ms[5];
    for (int r = 0; r < 5; r++) {
        DEV_OK(d, dev_timer_start(d));
        DEV_OK(d, cuda_ring_gemm_nt(d, g + 2 * s * s, g, g + s * s, s, s, s, 0));
        DEV_OK(d, dev_timer_stop(d, &ms[r]));
    }
    qsort(ms, 5, sizeof *ms, cmp_double);
    printf("# cuda ring_gemm_nt %zu^3 on %s: %.3f ms, %.1f G ring MAC/s (median of 5)\n", s,
           dev_name(d), ms[2], (double)(s * s * s) / (ms[2] * 1e6));
    dev_reset(d, mark);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_ring_gemm_nt_matches_cpu),
        cmocka_unit_test(test_cuda_ring_gemm_nn_matches_cpu),
        cmocka_unit_test(test_cuda_ring_dispatch_logs_path_and_matches),
        cmocka_unit_test(test_cuda_ring_gemm_1024_matches_cpu_and_is_timed),
    };
    CUDA_RUN_GROUP(tests);
}
