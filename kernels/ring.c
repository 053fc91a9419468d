/* kernels/ring.c - ring matrix products over Z_2^64: register-blocked tiles.
 *
 * Both products walk C in tiles of MR x NR (or MR x NV vectors) and keep the
 * whole tile in registers for the full length of k (or of one k block), so
 * that each element loaded from A or B feeds several multiply-adds and C is
 * read and written once. A matrix-vector product (m = 1) streams B row by row
 * at the memory's pace.
 *
 * nt (C = A B^T, both operands contiguous along k) uses dot-product tiles:
 * vector accumulators along k, reduced horizontally at the end; it needs no
 * packing, since every operand is read sequentially. nn (B is k x n)
 * broadcasts one A element against vectors of a B row; its B strips are
 * strided, so they are copied into a small panel on the stack when several
 * row blocks reuse them (ring_walk_nn). The edges use masked loads (k tail in
 * nt, n tail in nn), so there are no scalar clean-up loops.
 *
 * The tile functions are always_inline with constant shapes, and their shape
 * loops carry "#pragma GCC unroll", which unrolls them before scalar
 * replacement runs, so that the accumulator arrays live in registers; a switch per path
 * instantiates the shapes the edges need. The AVX2 and AVX-512 code carries target attributes, so
 * the file builds without -mavx*, and the path is picked per call from __builtin_cpu_supports.
 */
#include "kernels/ring.h"

#include <string.h>

#include "mpc/err.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RING_X86 1
#include <immintrin.h>
#else
#define RING_X86 0
#endif

#define RING_INLINE static inline __attribute__((always_inline))

static size_t ring_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- portable C ---------------------------------------------------------- */

/* Tile shapes of the portable path: 8 scalar accumulators fit the 16 GPRs. */
enum { SC_NT_MR = 2, SC_NT_NR = 4, SC_NN_MR = 2, SC_NN_NC = 4 };

/* C (mr x nr, row stride n) (+)= A (mr rows of k) . B (nr rows of k)^T. */
RING_INLINE void sc_nt_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                            int acc, int MR, int NR)
{
    uint64_t s[SC_NT_MR][SC_NT_NR] = {{0}};
    for (size_t l = 0; l < k; l++)
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
            for (int c = 0; c < NR; c++)
                s[r][c] += A[r * k + l] * B[c * k + l];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NR; c++)
            C[r * n + c] = (acc ? C[r * n + c] : 0) + s[r][c];
}

static void sc_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k, int acc,
                  size_t mr, size_t nr)
{
    if (mr == SC_NT_MR && nr == SC_NT_NR)
        sc_nt_tile(C, A, B, n, k, acc, SC_NT_MR, SC_NT_NR);
    else if (mr == 1 && nr == SC_NT_NR) /* matrix-vector */
        sc_nt_tile(C, A, B, n, k, acc, 1, SC_NT_NR);
    else
        for (size_t r = 0; r < mr; r++)
            for (size_t c = 0; c < nr; c++)
                sc_nt_tile(C + r * n + c, A + r * k, B + c * k, n, k, acc, 1, 1);
}

/* C (MR x NC, row stride ldc) (+)= A (MR rows of k, stride lda) . B (k rows,
 * stride ldb). */
RING_INLINE void sc_nn_tile(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda,
                            const uint64_t *B, size_t ldb, size_t k, int acc, int MR, int NC)
{
    uint64_t s[SC_NN_MR][SC_NN_NC];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++)
            s[r][c] = acc ? C[r * ldc + c] : 0;
    for (size_t l = 0; l < k; l++)
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            uint64_t a = A[r * lda + l];
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++)
                s[r][c] += a * B[l * ldb + c];
        }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++)
            C[r * ldc + c] = s[r][c];
}

static void sc_nn(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda, const uint64_t *B,
                  size_t ldb, size_t k, int acc, size_t mr, size_t nc)
{
    if (mr == SC_NN_MR && nc == SC_NN_NC)
        sc_nn_tile(C, ldc, A, lda, B, ldb, k, acc, SC_NN_MR, SC_NN_NC);
    else
        for (size_t r = 0; r < mr; r++)
            for (size_t c = 0; c < nc; c++)
                sc_nn_tile(C + r * ldc + c, ldc, A + r * lda, lda, B + c, ldb, k, acc, 1, 1);
}

/* ---- tile walks, shared by all paths ------------------------------------- */

/* An nt tile: C (mr x nr, row stride n) (+)= A (mr rows of k) . B (nr rows of
 * k)^T. */
typedef void (*ring_nt_fn)(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                           int acc, size_t mr, size_t nr);
/* An nn tile: C (mr x nc, row stride ldc) (+)= A (mr rows of k, stride lda) .
 * B (k rows of nc, stride ldb). */
typedef void (*ring_nn_fn)(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda,
                           const uint64_t *B, size_t ldb, size_t k, int acc, size_t mr, size_t nc);

/* Walks C (m x n) in nt tiles of MR x NR. The columns are the outer loop: the
 * NR rows of B stay in cache while every row block of A passes over them. A
 * matrix-vector product (m = 1) streams B once, NR rows side by side. */
static void ring_walk_nt(ring_nt_fn tile, size_t MR, size_t NR, uint64_t *C, const uint64_t *A,
                         const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    for (size_t j = 0; j < n; j += NR)
        for (size_t i = 0; i < m; i += MR)
            tile(C + i * n + j, A + i * k, B + j * k, n, k, acc, ring_min(MR, m - i),
                 ring_min(NR, n - j));
}

/* The packed panel of B for nn: NN_KC rows of at most NN_NC words, 16 KiB of
 * stack. */
enum { NN_KC = 128, NN_NC = 16 };

/* Walks C (m x n) in nn tiles of MR x NC. A strip of B (k x NC) is read with
 * a row stride of n words, which for a power-of-two n maps every row to the
 * same cache sets, so no strip would stay cached while the row blocks of A
 * pass over it. So when there are several row blocks, each NN_KC x NC block of
 * the strip is first copied into a contiguous panel on the stack; C takes
 * the partial sums of successive blocks. With one row block, B is read once
 * anyway and is used in place. */
static void ring_walk_nn(ring_nn_fn tile, size_t MR, size_t NC, uint64_t *C, const uint64_t *A,
                         const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    uint64_t panel[NN_KC * NN_NC];
    MPC_ASSERT(NC <= NN_NC);
    if (m == 0) return;
    for (size_t j = 0; j < n; j += NC) {
        size_t nc = ring_min(NC, n - j), l = 0;
        if (m <= MR) {
            tile(C + j, n, A, k, B + j, n, k, acc, m, nc);
            continue;
        }
        do { /* at least once, so that k = 0 still sets C */
            size_t kc = ring_min(NN_KC, k - l);
            for (size_t p = 0; p < kc; p++)
                memcpy(panel + p * NC, B + (l + p) * n + j, nc * sizeof *B);
            for (size_t i = 0; i < m; i += MR)
                tile(C + i * n + j, n, A + i * k + l, k, panel, NC, kc, acc || l > 0,
                     ring_min(MR, m - i), nc);
            l += kc;
        } while (l < k);
    }
}

#if RING_X86

/* ---- AVX2 ---------------------------------------------------------------- */

#define AVX2_FN RING_INLINE __attribute__((target("avx2")))

/* AVX2 has no 64-bit low multiply. With a = ah 2^32 + al and b likewise,
 *   a b mod 2^64 = al bl + ((ah bl + al bh) mod 2^32) 2^32,
 * and the cross term needs only its low 32 bits. So each product is split in
 * two accumulators: lo += vpmuludq(a, b) (al bl, exact in 64 bits), and
 * x += vpmulld(a, swap(b)) added as 32-bit lanes, whose two halves collect
 * al bh and ah bl mod 2^32 without carrying into each other. The halves are
 * folded once per tile (v2_fold): two multiplies and two adds per 4 products
 * instead of three multiplies, two shifts and three adds. */

/* Tile shapes: 8 ymm accumulators (4 lo/x pairs) plus operands; a
 * matrix-vector product (m = 1) reads 4 rows of B side by side instead. */
enum { V2_NT_MR = 2, V2_NT_NR = 2, V2_MV_NR = 4, V2_NN_MR = 2, V2_NN_NV = 2 };

/* The 32-bit halves of each 64-bit lane exchanged. */
AVX2_FN __m256i v2_swap(__m256i b)
{
    return _mm256_shuffle_epi32(b, 0xb1);
}

/* lo + (x_even + x_odd) 2^32 per lane: the products the pair stands for. */
AVX2_FN __m256i v2_fold(__m256i lo, __m256i x)
{
    __m256i hi =
        _mm256_add_epi64(_mm256_slli_epi64(x, 32),
                         _mm256_and_si256(x, _mm256_set1_epi64x((long long)0xffffffff00000000ull)));
    return _mm256_add_epi64(lo, hi);
}

/* lo, x += a b, with bs = swap(b). */
AVX2_FN void v2_mac(__m256i *lo, __m256i *x, __m256i a, __m256i b, __m256i bs)
{
    *lo = _mm256_add_epi64(*lo, _mm256_mul_epu32(a, b));
    *x = _mm256_add_epi32(*x, _mm256_mullo_epi32(a, bs));
}

/* Lanes [0, w) all ones, the rest zero (w <= 4): a vpmaskmovq mask. */
AVX2_FN __m256i v2_mask(size_t w)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)w), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* 4 words at p, or only the lanes of mask when tail (zeros elsewhere, and
 * nothing past them is read). */
AVX2_FN __m256i v2_load(const uint64_t *p, int tail, __m256i mask)
{
    return tail ? _mm256_maskload_epi64((const long long *)p, mask)
                : _mm256_loadu_si256((const __m256i *)p);
}

AVX2_FN uint64_t v2_hsum(__m256i v)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

/* One k-step of 4 lanes of an nt tile. */
AVX2_FN void v2_nt_step(__m256i lo[V2_NT_MR][V2_MV_NR], __m256i x[V2_NT_MR][V2_MV_NR],
                        const uint64_t *A, const uint64_t *B, size_t k, size_t l, int tail,
                        __m256i mask, int MR, int NR)
{
    __m256i a[V2_NT_MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        a[r] = v2_load(A + r * k + l, tail, mask);
#pragma GCC unroll 16
    for (int c = 0; c < NR; c++) {
        __m256i b = v2_load(B + c * k + l, tail, mask), bs = v2_swap(b);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
            v2_mac(&lo[r][c], &x[r][c], a[r], b, bs);
    }
}

AVX2_FN void v2_nt_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                        int acc, int MR, int NR)
{
    __m256i lo[V2_NT_MR][V2_MV_NR], x[V2_NT_MR][V2_MV_NR], none = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NR; c++)
            lo[r][c] = x[r][c] = _mm256_setzero_si256();
    size_t l = 0;
    for (; l + 4 <= k; l += 4)
        v2_nt_step(lo, x, A, B, k, l, 0, none, MR, NR);
    if (l < k) v2_nt_step(lo, x, A, B, k, l, 1, v2_mask(k - l), MR, NR);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NR; c++)
            C[r * n + c] = (acc ? C[r * n + c] : 0) + v2_hsum(v2_fold(lo[r][c], x[r][c]));
}

#define V2_NT_CASE(r, c)                                                                           \
    case (r)*8 + (c):                                                                              \
        v2_nt_tile(C, A, B, n, k, acc, r, c);                                                      \
        return;

__attribute__((target("avx2"))) static void v2_nt(uint64_t *C, const uint64_t *A, const uint64_t *B,
                                                  size_t n, size_t k, int acc, size_t mr, size_t nr)
{
    switch (mr * 8 + nr) {
        /* clang-format off */
        V2_NT_CASE(1, 1) V2_NT_CASE(1, 2) V2_NT_CASE(1, 3) V2_NT_CASE(1, 4)
        V2_NT_CASE(2, 1) V2_NT_CASE(2, 2)
        /* clang-format on */
    }
    MPC_ASSERT(0 && "v2_nt: tile shape");
}

/* An nn tile (ring_nn_fn) of MR x cols, cols <= 4 NV;
 * mask[v] selects the live columns of vector v, and tail says whether the
 * last vector is partial. */
AVX2_FN void v2_nn_tile(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda, const uint64_t *B,
                        size_t ldb, size_t k, int acc, int MR, int NV, int tail, __m256i mask)
{
    __m256i lo[V2_NN_MR][V2_NN_NV], x[V2_NN_MR][V2_NN_NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) {
            int t = tail && v == NV - 1;
            lo[r][v] = acc ? v2_load(C + r * ldc + 4 * v, t, mask) : _mm256_setzero_si256();
            x[r][v] = _mm256_setzero_si256();
        }
    for (size_t l = 0; l < k; l++) {
        __m256i b[V2_NN_NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++)
            b[v] = v2_load(B + l * ldb + 4 * v, tail && v == NV - 1, mask);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            __m256i a = _mm256_set1_epi64x((long long)A[r * lda + l]), as = v2_swap(a);
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++)
                v2_mac(&lo[r][v], &x[r][v], b[v], a, as);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) {
            __m256i c = v2_fold(lo[r][v], x[r][v]);
            if (tail && v == NV - 1)
                _mm256_maskstore_epi64((long long *)(C + r * ldc + 4 * v), mask, c);
            else
                _mm256_storeu_si256((__m256i *)(C + r * ldc + 4 * v), c);
        }
}

#define V2_NN_CASE(r, v)                                                                           \
    case (r)*8 + (v):                                                                              \
        v2_nn_tile(C, ldc, A, lda, B, ldb, k, acc, r, v, tail, mask);                              \
        return;

__attribute__((target("avx2"))) static void v2_nn(uint64_t *C, size_t ldc, const uint64_t *A,
                                                  size_t lda, const uint64_t *B, size_t ldb,
                                                  size_t k, int acc, size_t mr, size_t nc)
{
    int tail = nc % 4 != 0;
    __m256i mask = v2_mask(nc % 4);
    switch (mr * 8 + (nc + 3) / 4) {
        /* clang-format off */
        V2_NN_CASE(1, 1) V2_NN_CASE(2, 1) V2_NN_CASE(1, 2) V2_NN_CASE(2, 2)
        /* clang-format on */
    }
    MPC_ASSERT(0 && "v2_nn: tile shape");
}

/* ---- AVX-512 (F + DQ) ---------------------------------------------------- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512dq")))
#define AVX512_FN     RING_INLINE AVX512_TARGET

/* Tile shapes: 16 of the 32 zmm registers hold accumulators. A
 * matrix-vector product (m = 1) reads 8 rows of B side by side: more streams
 * in flight kept it within a few percent of a plain read pass, where 4 rows
 * trailed by 10-20% (bench_kernels). */
enum { V5_NT_MR = 4, V5_NT_NR = 4, V5_MV_NR = 8, V5_NN_MR = 8, V5_NN_NV = 2 };

/* Lanes [0, w) of 8 (w <= 8). */
static __mmask8 v5_mask(size_t w)
{
    return (__mmask8)((1u << w) - 1u);
}

/* The sum of the 8 lanes. Not _mm512_reduce_add_epi64: GCC's version adds
 * the last two lanes as signed long long, which overflows (UB) when the sum
 * wraps. */
AVX512_FN uint64_t v5_hsum(__m512i v)
{
    __m256i s = _mm256_add_epi64(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1);
}

/* One k-step of 8 lanes of an nt tile. */
AVX512_FN void v5_nt_step(__m512i s[V5_NT_MR][V5_MV_NR], const uint64_t *A, const uint64_t *B,
                          size_t k, size_t l, __mmask8 mask, int MR, int NR)
{
    __m512i a[V5_NT_MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        a[r] = _mm512_maskz_loadu_epi64(mask, A + r * k + l);
#pragma GCC unroll 16
    for (int c = 0; c < NR; c++) {
        __m512i b = _mm512_maskz_loadu_epi64(mask, B + c * k + l);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
            s[r][c] = _mm512_add_epi64(s[r][c], _mm512_mullo_epi64(a[r], b));
    }
}

AVX512_FN void v5_nt_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                          int acc, int MR, int NR)
{
    __m512i s[V5_NT_MR][V5_MV_NR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NR; c++)
            s[r][c] = _mm512_setzero_si512();
    size_t l = 0;
    for (; l + 8 <= k; l += 8)
        v5_nt_step(s, A, B, k, l, 0xff, MR, NR);
    if (l < k) v5_nt_step(s, A, B, k, l, v5_mask(k - l), MR, NR);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int c = 0; c < NR; c++)
            C[r * n + c] = (acc ? C[r * n + c] : 0) + v5_hsum(s[r][c]);
}

#define V5_NT_CASE(r, c)                                                                           \
    case (r)*8 + (c):                                                                              \
        v5_nt_tile(C, A, B, n, k, acc, r, c);                                                      \
        return;

AVX512_TARGET static void v5_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n,
                                size_t k, int acc, size_t mr, size_t nr)
{
    switch (mr * 8 + nr) {
        /* clang-format off */
        V5_NT_CASE(1, 1) V5_NT_CASE(1, 2) V5_NT_CASE(1, 3) V5_NT_CASE(1, 4)
        V5_NT_CASE(1, 5) V5_NT_CASE(1, 6) V5_NT_CASE(1, 7) V5_NT_CASE(1, 8)
        V5_NT_CASE(2, 1) V5_NT_CASE(2, 2) V5_NT_CASE(2, 3) V5_NT_CASE(2, 4)
        V5_NT_CASE(3, 1) V5_NT_CASE(3, 2) V5_NT_CASE(3, 3) V5_NT_CASE(3, 4)
        V5_NT_CASE(4, 1) V5_NT_CASE(4, 2) V5_NT_CASE(4, 3) V5_NT_CASE(4, 4)
        /* clang-format on */
    }
    MPC_ASSERT(0 && "v5_nt: tile shape");
}

/* An nn tile (ring_nn_fn) of MR x cols, cols <= 8 NV;
 * last selects the live columns of the last vector (the others are full). */
AVX512_FN void v5_nn_tile(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda, const uint64_t *B,
                          size_t ldb, size_t k, int acc, int MR, int NV, __mmask8 last)
{
    __m512i s[V5_NN_MR][V5_NN_NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++)
            s[r][v] = acc ? _mm512_maskz_loadu_epi64(v == NV - 1 ? last : 0xff, C + r * ldc + 8 * v)
                          : _mm512_setzero_si512();
    for (size_t l = 0; l < k; l++) {
        __m512i b[V5_NN_NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++)
            b[v] = _mm512_maskz_loadu_epi64(v == NV - 1 ? last : 0xff, B + l * ldb + 8 * v);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            __m512i a = _mm512_set1_epi64((long long)A[r * lda + l]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; v++)
                s[r][v] = _mm512_add_epi64(s[r][v], _mm512_mullo_epi64(a, b[v]));
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_epi64(C + r * ldc + 8 * v, v == NV - 1 ? last : 0xff, s[r][v]);
}

#define V5_NN_CASE(r, v)                                                                           \
    case (r)*8 + (v):                                                                              \
        v5_nn_tile(C, ldc, A, lda, B, ldb, k, acc, r, v, last);                                    \
        return;

AVX512_TARGET static void v5_nn(uint64_t *C, size_t ldc, const uint64_t *A, size_t lda,
                                const uint64_t *B, size_t ldb, size_t k, int acc, size_t mr,
                                size_t nc)
{
    __mmask8 last = v5_mask(nc % 8 ? nc % 8 : 8);
    switch (mr * 8 + (nc + 7) / 8) {
        /* clang-format off */
        V5_NN_CASE(1, 1) V5_NN_CASE(2, 1) V5_NN_CASE(3, 1) V5_NN_CASE(4, 1)
        V5_NN_CASE(5, 1) V5_NN_CASE(6, 1) V5_NN_CASE(7, 1) V5_NN_CASE(8, 1)
        V5_NN_CASE(1, 2) V5_NN_CASE(2, 2) V5_NN_CASE(3, 2) V5_NN_CASE(4, 2)
        V5_NN_CASE(5, 2) V5_NN_CASE(6, 2) V5_NN_CASE(7, 2) V5_NN_CASE(8, 2)
        /* clang-format on */
    }
    MPC_ASSERT(0 && "v5_nn: tile shape");
}

#endif /* RING_X86 */

/* ---- dispatch ------------------------------------------------------------ */

int ring_isa_supported(ring_isa_t isa)
{
    switch (isa) {
    case RING_ISA_AUTO:
    case RING_ISA_SCALAR:
        return 1;
#if RING_X86
    case RING_ISA_AVX2:
        return __builtin_cpu_supports("avx2");
    case RING_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
    default:
        return 0;
    }
}

const char *ring_isa_name(ring_isa_t isa)
{
    switch (isa) {
    case RING_ISA_AUTO:
        return "auto";
    case RING_ISA_SCALAR:
        return "scalar";
    case RING_ISA_AVX2:
        return "avx2";
    case RING_ISA_AVX512:
        return "avx512";
    }
    return "?";
}

/* The path to run: isa itself (asserted supported), or for AUTO the fastest
 * one available, in the order measured by bench_kernels. */
static ring_isa_t ring_isa_pick(ring_isa_t isa)
{
    if (isa != RING_ISA_AUTO) {
        MPC_ASSERT(ring_isa_supported(isa));
        return isa;
    }
    if (ring_isa_supported(RING_ISA_AVX512)) return RING_ISA_AVX512;
    if (ring_isa_supported(RING_ISA_AVX2)) return RING_ISA_AVX2;
    return RING_ISA_SCALAR;
}

void ring_gemm_nt_isa(ring_isa_t isa, uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m,
                      size_t n, size_t k, int acc)
{
    switch (ring_isa_pick(isa)) {
#if RING_X86
    case RING_ISA_AVX512:
        if (m == 1)
            ring_walk_nt(v5_nt, 1, V5_MV_NR, C, A, B, m, n, k, acc);
        else
            ring_walk_nt(v5_nt, V5_NT_MR, V5_NT_NR, C, A, B, m, n, k, acc);
        return;
    case RING_ISA_AVX2:
        if (m == 1)
            ring_walk_nt(v2_nt, 1, V2_MV_NR, C, A, B, m, n, k, acc);
        else
            ring_walk_nt(v2_nt, V2_NT_MR, V2_NT_NR, C, A, B, m, n, k, acc);
        return;
#endif
    default:
        ring_walk_nt(sc_nt, SC_NT_MR, SC_NT_NR, C, A, B, m, n, k, acc);
    }
}

void ring_gemm_nn_isa(ring_isa_t isa, uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m,
                      size_t n, size_t k, int acc)
{
    switch (ring_isa_pick(isa)) {
#if RING_X86
    case RING_ISA_AVX512:
        ring_walk_nn(v5_nn, V5_NN_MR, 8 * V5_NN_NV, C, A, B, m, n, k, acc);
        return;
    case RING_ISA_AVX2:
        ring_walk_nn(v2_nn, V2_NN_MR, 4 * V2_NN_NV, C, A, B, m, n, k, acc);
        return;
#endif
    default:
        ring_walk_nn(sc_nn, SC_NN_MR, SC_NN_NC, C, A, B, m, n, k, acc);
    }
}

void ring_gemm_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc)
{
    ring_gemm_nt_isa(RING_ISA_AUTO, C, A, B, m, n, k, acc);
}

void ring_gemm_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc)
{
    ring_gemm_nn_isa(RING_ISA_AUTO, C, A, B, m, n, k, acc);
}

/* ---- element-wise -------------------------------------------------------- */

/* Plain loops: -O3 vectorises them, and they are bound by memory anyway. */

void ring_add(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] = x[i] + y[i];
}

void ring_sub(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] = x[i] - y[i];
}

void ring_mul_acc(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        z[i] += x[i] * y[i];
}
