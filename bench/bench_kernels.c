/* bench/bench_kernels.c - `mpcllm-bench kernels`: ring kernel speed against
 * the machine's limits.
 *
 * The decode-step GEMV streams a 128 MiB weight matrix once, so its yardstick
 * is a plain vectorised read pass (a 64-bit sum) over that same buffer,
 * timed in the same run and interleaved with it, repeat by repeat, so that
 * each ratio compares runs that saw the same machine load; the target is a
 * ratio of at most 1.2. The prefill-block GEMM
 * is arithmetic-bound and is reported in G multiply-adds per second, for
 * every code path the CPU supports (the target is 8 on the AUTO path). All
 * runs are single-threaded; each figure is the median of the repeats, with
 * the min and max alongside to show the noise.
 */
#include "bench/bench_kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/ring.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define BENCH_X86 1
#include <immintrin.h>
#else
#define BENCH_X86 0
#endif

enum {
    GEMV_N = 4096,  /* W is GEMV_N x GEMV_N words: 128 MiB */
    GEMM_M = 128,   /* prefill block rows */
    GEMM_NK = 1024, /* model width */
    MAX_REPEATS = 101,
};

static const ring_isa_t bench_isas[] = {RING_ISA_AUTO, RING_ISA_SCALAR, RING_ISA_AVX2,
                                        RING_ISA_AVX512};
#define N_BENCH_ISAS (sizeof bench_isas / sizeof bench_isas[0])

/* One reported figure. Negative gmacs, gbps or ratio mean "not applicable"
 * and print as null. */
typedef struct bench_result {
    const char *kernel;
    ring_isa_t isa;
    size_t m, n, k;
    double time_s, min_s, max_s; /* median, min, max over the repeats */
    double gmacs, gbps, ratio_to_pass;
} bench_result_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills r's median, min and max from t[0..n) (sorted in place). */
static void summarise(bench_result_t *r, double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    r->time_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    r->min_s = t[0];
    r->max_s = t[n - 1];
}

/* The median of t[r] / base[r]: each ratio pairs runs made back to back, so
 * a change in machine load between repeats cancels. t is sorted afterwards,
 * so call this before summarise(). */
static double median_ratio(const double *t, const double *base, int n)
{
    double q[MAX_REPEATS];
    for (int r = 0; r < n; r++)
        q[r] = t[r] / base[r];
    qsort(q, (size_t)n, sizeof *q, cmp_double);
    return n % 2 ? q[n / 2] : 0.5 * (q[n / 2 - 1] + q[n / 2]);
}

/* splitmix64, for reproducible inputs. */
static uint64_t bench_rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the read pass: the sum of n words, as fast as this core reads ------ */

/* n is a multiple of 32 (the 128 MiB buffer), so there are no tail loops. */

#if BENCH_X86
__attribute__((target("avx512f"))) static uint64_t pass_avx512(const uint64_t *p, size_t n)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 32) {
        s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(p + i));
        s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(p + i + 8));
        s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(p + i + 16));
        s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(p + i + 24));
    }
    uint64_t lane[8], s = 0;
    _mm512_storeu_si512(lane, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    for (int i = 0; i < 8; i++)
        s += lane[i];
    return s;
}

__attribute__((target("avx2"))) static uint64_t pass_avx2(const uint64_t *p, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(p + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(p + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(p + i + 12)));
    }
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)lane,
                        _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    uint64_t s = lane[0] + lane[1] + lane[2] + lane[3];
    return s;
}
#endif

static uint64_t mem_pass(const uint64_t *p, size_t n)
{
#if BENCH_X86
    if (__builtin_cpu_supports("avx512f")) return pass_avx512(p, n);
    if (__builtin_cpu_supports("avx2")) return pass_avx2(p, n);
#endif
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

/* ---- reporting ----------------------------------------------------------- */

static void print_result(const bench_result_t *r, int json)
{
    char gm[32] = "-", gb[32] = "-", ra[32] = "-";
    if (r->gmacs >= 0) snprintf(gm, sizeof gm, "%.2f", r->gmacs);
    if (r->gbps >= 0) snprintf(gb, sizeof gb, "%.2f", r->gbps);
    if (r->ratio_to_pass >= 0) snprintf(ra, sizeof ra, "%.3f", r->ratio_to_pass);
    fprintf(stderr, "%-8s %-7s %5zu %5zu %8zu %9.3f %9.3f %9.3f %8s %8s %7s\n", r->kernel,
            ring_isa_name(r->isa), r->m, r->n, r->k, 1e3 * r->time_s, 1e3 * r->min_s,
            1e3 * r->max_s, gm, gb, ra);
    if (!json) return;
    printf("{\"kernel\":\"%s\",\"isa\":\"%s\",\"m\":%zu,\"n\":%zu,\"k\":%zu,\"time_s\":%.6g,"
           "\"min_s\":%.6g,\"max_s\":%.6g,\"gmacs\":%s,\"gbps\":%s,\"ratio_to_pass\":%s}\n",
           r->kernel, ring_isa_name(r->isa), r->m, r->n, r->k, r->time_s, r->min_s, r->max_s,
           r->gmacs >= 0 ? gm : "null", r->gbps >= 0 ? gb : "null",
           r->ratio_to_pass >= 0 ? ra : "null");
}

/* ---- the two measurements ------------------------------------------------ */

/* The read pass and the GEMV on every path, interleaved repeat by repeat.
 * W is (GEMV_N x GEMV_N), x and y GEMV_N words. Adds the pass sums to *sink
 * so that no pass can be optimised away. */
static void bench_gemv(const uint64_t *W, const uint64_t *x, uint64_t *y, int repeats, int json,
                       uint64_t *sink)
{
    const size_t n = GEMV_N, words = (size_t)GEMV_N * GEMV_N;
    const double bytes = 8.0 * (double)words;
    double tp[MAX_REPEATS], tg[N_BENCH_ISAS][MAX_REPEATS];

    *sink += mem_pass(W, words); /* warm-up: page-table walks, frequency */
    for (int r = 0; r < repeats; r++) {
        double t0 = now_s();
        *sink += mem_pass(W, words);
        tp[r] = now_s() - t0;
        for (size_t v = 0; v < N_BENCH_ISAS; v++) {
            if (!ring_isa_supported(bench_isas[v])) continue;
            t0 = now_s();
            ring_gemm_nt_isa(bench_isas[v], y, x, W, 1, n, n, 0);
            tg[v][r] = now_s() - t0;
            *sink += y[r];
        }
    }
    double tp_run[MAX_REPEATS]; /* tp in run order, for the ratios */
    memcpy(tp_run, tp, (size_t)repeats * sizeof *tp);
    bench_result_t pass = {"pass", RING_ISA_AUTO, 0, 0, words, 0, 0, 0, -1, 0, -1};
    summarise(&pass, tp, repeats);
    pass.gbps = bytes / pass.time_s / 1e9;
    print_result(&pass, json);
    for (size_t v = 0; v < N_BENCH_ISAS; v++) {
        if (!ring_isa_supported(bench_isas[v])) continue;
        bench_result_t g = {"gemv_nt", bench_isas[v], 1, n, n, 0, 0, 0, 0, 0, 0};
        g.ratio_to_pass = median_ratio(tg[v], tp_run, repeats);
        summarise(&g, tg[v], repeats);
        g.gmacs = (double)words / g.time_s / 1e9;
        g.gbps = bytes / g.time_s / 1e9;
        print_result(&g, json);
    }
}

/* C (m x n) = A (m x k) B^T or A B on every path; B holds n x k = k x n
 * words (square here, so one buffer serves both layouts). */
static void bench_gemm(uint64_t *C, const uint64_t *A, const uint64_t *B, int repeats, int json)
{
    const size_t m = GEMM_M, n = GEMM_NK, k = GEMM_NK;
    for (int nt = 1; nt >= 0; nt--)
        for (size_t v = 0; v < N_BENCH_ISAS; v++) {
            ring_isa_t isa = bench_isas[v];
            if (!ring_isa_supported(isa)) continue;
            double t[MAX_REPEATS];
            for (int r = -1; r < repeats; r++) { /* r = -1 warms the caches */
                double t0 = now_s();
                if (nt)
                    ring_gemm_nt_isa(isa, C, A, B, m, n, k, 0);
                else
                    ring_gemm_nn_isa(isa, C, A, B, m, n, k, 0);
                if (r >= 0) t[r] = now_s() - t0;
            }
            bench_result_t g = {nt ? "gemm_nt" : "gemm_nn", isa, m, n, k, 0, 0, 0, 0, -1, -1};
            summarise(&g, t, repeats);
            g.gmacs = (double)(m * n * k) / g.time_s / 1e9;
            print_result(&g, json);
        }
}

int bench_kernels_main(int argc, char **argv)
{
    int json = 0, repeats = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: mpcllm-bench kernels [--json] [--repeats N]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "kernels: --repeats must be 1..%d\n", MAX_REPEATS);
        return 2;
    }

    const size_t wv = (size_t)GEMV_N * GEMV_N, a = (size_t)GEMM_M * GEMM_NK,
                 b = (size_t)GEMM_NK * GEMM_NK;
    uint64_t *W = aligned_alloc(64, wv * 8), *x = aligned_alloc(64, GEMV_N * 8),
             *y = aligned_alloc(64, GEMV_N * 8), *A = aligned_alloc(64, a * 8),
             *B = aligned_alloc(64, b * 8), *C = aligned_alloc(64, a * 8);
    int rc = 2;
    if (!W || !x || !y || !A || !B || !C) {
        fprintf(stderr, "kernels: cannot allocate the %zu MiB of buffers\n",
                (wv + 2 * GEMV_N + 2 * a + b) * 8 >> 20);
        goto done;
    }
    uint64_t s = 1, sink = 0;
    for (size_t i = 0; i < wv; i++)
        W[i] = bench_rnd(&s);
    for (size_t i = 0; i < GEMV_N; i++)
        x[i] = bench_rnd(&s);
    for (size_t i = 0; i < a; i++)
        A[i] = bench_rnd(&s);
    for (size_t i = 0; i < b; i++)
        B[i] = bench_rnd(&s);

    fprintf(stderr, "ring kernels, one thread, median of %d (auto = fastest supported path)\n",
            repeats);
    fprintf(stderr, "%-8s %-7s %5s %5s %8s %9s %9s %9s %8s %8s %7s\n", "kernel", "isa", "m", "n",
            "k", "med ms", "min ms", "max ms", "Gmac/s", "GB/s", "x pass");
    bench_gemv(W, x, y, repeats, json, &sink);
    bench_gemm(C, A, B, repeats, json);
    fprintf(stderr, "(checksum %016llx)\n", (unsigned long long)(sink ^ C[0]));
    rc = 0;
done:
    free(W);
    free(x);
    free(y);
    free(A);
    free(B);
    free(C);
    return rc;
}
