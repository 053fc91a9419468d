/* kernels/ring.c - ring matrix products over Z_2^64: register-blocked tiles.
 *
 * Both products walk C in tiles of MR x NR (or MR x NV vectors) and keep the
 * whole tile in registers for the full length of k, so that each element
 * loaded from A or B feeds several multiply-adds and C is read and written
 * once. Nothing is packed: the tiles are large enough that the kernels stay
 * arithmetic-bound when B comes from L2 or L3, and a matrix-vector product
 * (m = 1) streams B row by row at the memory's pace.
 *
 * nt (C = A B^T, both operands contiguous along k) uses dot-product tiles:
 * vector accumulators along k, reduced horizontally at the end. nn (B is
 * k x n) broadcasts one A element against vectors of a B row. The edges use
 * masked loads (k tail in nt, n tail in nn), so no scalar clean-up loops.
 *
 * The tile functions are always_inline with constant shapes, so that the
 * compiler unrolls the shape loops and keeps the accumulator arrays in
 * registers; a switch per path instantiates the shapes the edges need. The
 * AVX2 and AVX-512 code carries target attributes, so the file builds without
 * -mavx*, and the path is picked per call from __builtin_cpu_supports.
 */
#include "kernels/ring.h"

#include "mpc/err.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RING_X86 1
#include <immintrin.h>
#else
#define RING_X86 0
#endif

#define RING_INLINE static inline __attribute__((always_inline))
/* Unrolls a tile-shape loop before scalar replacement runs, so that the
 * accumulator arrays become registers instead of stack slots. */
#define RING_UNROLL _Pragma("GCC unroll 16")

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
        RING_UNROLL for (int r = 0; r < MR; r++)
            RING_UNROLL for (int c = 0; c < NR; c++) s[r][c] += A[r * k + l] * B[c * k + l];
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NR; c++) C[r * n + c] = (acc ? C[r * n + c] : 0) + s[r][c];
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

/* C (mr x nc, row stride n) (+)= A (mr rows of k) . B (k rows, stride n). */
RING_INLINE void sc_nn_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                            int acc, int MR, int NC)
{
    uint64_t s[SC_NN_MR][SC_NN_NC];
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NC; c++) s[r][c] = acc ? C[r * n + c] : 0;
    for (size_t l = 0; l < k; l++)
        RING_UNROLL for (int r = 0; r < MR; r++) {
            uint64_t a = A[r * k + l];
            RING_UNROLL for (int c = 0; c < NC; c++) s[r][c] += a * B[l * n + c];
        }
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NC; c++) C[r * n + c] = s[r][c];
}

static void sc_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k, int acc,
                  size_t mr, size_t nc)
{
    if (mr == SC_NN_MR && nc == SC_NN_NC)
        sc_nn_tile(C, A, B, n, k, acc, SC_NN_MR, SC_NN_NC);
    else
        for (size_t r = 0; r < mr; r++)
            for (size_t c = 0; c < nc; c++)
                sc_nn_tile(C + r * n + c, A + r * k, B + c, n, k, acc, 1, 1);
}

/* ---- tile walks, shared by all paths ------------------------------------- */

typedef void (*ring_tile_fn)(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n,
                             size_t k, int acc, size_t mr, size_t nr);

/* Walks C (m x n) in tiles of MR rows x NR columns. The columns are the outer
 * loop: the NR rows of B (nt) or the NR-column strip of B (nn) of one column
 * block stay in cache while every row block of A passes over them. b_step is
 * how far B moves for one column of C: k for nt, 1 for nn. */
static void ring_walk(ring_tile_fn tile, size_t MR, size_t NR, size_t b_step, uint64_t *C,
                      const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    for (size_t j = 0; j < n; j += NR)
        for (size_t i = 0; i < m; i += MR)
            tile(C + i * n + j, A + i * k, B + j * b_step, n, k, acc, ring_min(MR, m - i),
                 ring_min(NR, n - j));
}

#if RING_X86

/* ---- AVX2 ---------------------------------------------------------------- */

#define AVX2_FN RING_INLINE __attribute__((target("avx2")))

/* Tile shapes: 8 ymm accumulators plus the operands and their high halves. */
enum { V2_NT_MR = 2, V2_NT_NR = 4, V2_NN_MR = 4, V2_NN_NV = 2 };

/* a * b mod 2^64 per lane, from the 32 x 32 -> 64 vpmuludq:
 * lo(a)lo(b) + ((hi(a)lo(b) + lo(a)hi(b)) << 32); ah = a >> 32 and
 * bh = b >> 32 are hoisted by the caller, which reuses them across a tile. */
AVX2_FN __m256i v2_mul(__m256i a, __m256i ah, __m256i b, __m256i bh)
{
    __m256i x = _mm256_add_epi64(_mm256_mul_epu32(ah, b), _mm256_mul_epu32(a, bh));
    return _mm256_add_epi64(_mm256_mul_epu32(a, b), _mm256_slli_epi64(x, 32));
}

/* Lanes [0, w) all ones, the rest zero (w <= 4): a vpmaskmovq mask. */
AVX2_FN __m256i v2_mask(size_t w)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)w), _mm256_setr_epi64x(0, 1, 2, 3));
}

AVX2_FN __m256i v2_load(const uint64_t *p, __m256i mask)
{
    return _mm256_maskload_epi64((const long long *)p, mask);
}

AVX2_FN uint64_t v2_hsum(__m256i v)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

/* One k-step of 4 lanes of an nt tile. */
AVX2_FN void v2_nt_step(__m256i s[V2_NT_MR][V2_NT_NR], const uint64_t *A, const uint64_t *B,
                        size_t k, size_t l, __m256i mask, int MR, int NR)
{
    __m256i a[V2_NT_MR], ah[V2_NT_MR];
    RING_UNROLL for (int r = 0; r < MR; r++) {
        a[r] = v2_load(A + r * k + l, mask);
        ah[r] = _mm256_srli_epi64(a[r], 32);
    }
    RING_UNROLL for (int c = 0; c < NR; c++) {
        __m256i b = v2_load(B + c * k + l, mask), bh = _mm256_srli_epi64(b, 32);
        RING_UNROLL for (int r = 0; r < MR; r++) s[r][c] = _mm256_add_epi64(s[r][c], v2_mul(a[r], ah[r], b, bh));
    }
}

AVX2_FN void v2_nt_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                        int acc, int MR, int NR)
{
    __m256i s[V2_NT_MR][V2_NT_NR], all = _mm256_set1_epi64x(-1);
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NR; c++) s[r][c] = _mm256_setzero_si256();
    size_t l = 0;
    for (; l + 4 <= k; l += 4) v2_nt_step(s, A, B, k, l, all, MR, NR);
    if (l < k) v2_nt_step(s, A, B, k, l, v2_mask(k - l), MR, NR);
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NR; c++) C[r * n + c] = (acc ? C[r * n + c] : 0) + v2_hsum(s[r][c]);
}

#define V2_NT_CASE(r, c)                                                                   \
    case (r) * 8 + (c):                                                                    \
        v2_nt_tile(C, A, B, n, k, acc, r, c);                                              \
        return;

__attribute__((target("avx2"))) static void v2_nt(uint64_t *C, const uint64_t *A,
                                                   const uint64_t *B, size_t n, size_t k, int acc,
                                                   size_t mr, size_t nr)
{
    switch (mr * 8 + nr) {
        V2_NT_CASE(1, 1) V2_NT_CASE(1, 2) V2_NT_CASE(1, 3) V2_NT_CASE(1, 4)
        V2_NT_CASE(2, 1) V2_NT_CASE(2, 2) V2_NT_CASE(2, 3) V2_NT_CASE(2, 4)
    }
    MPC_ASSERT(0 && "v2_nt: tile shape");
}

/* C (MR x cols, cols <= 4 NV) (+)= A (MR rows of k) . B (k rows, stride n);
 * mask[v] selects the live columns of vector v. */
AVX2_FN void v2_nn_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                        int acc, int MR, int NV, const __m256i mask[V2_NN_NV])
{
    __m256i s[V2_NN_MR][V2_NN_NV];
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int v = 0; v < NV; v++)
            s[r][v] = acc ? v2_load(C + r * n + 4 * v, mask[v]) : _mm256_setzero_si256();
    for (size_t l = 0; l < k; l++) {
        __m256i b[V2_NN_NV], bh[V2_NN_NV];
        RING_UNROLL for (int v = 0; v < NV; v++) {
            b[v] = v2_load(B + l * n + 4 * v, mask[v]);
            bh[v] = _mm256_srli_epi64(b[v], 32);
        }
        RING_UNROLL for (int r = 0; r < MR; r++) {
            uint64_t x = A[r * k + l];
            __m256i a = _mm256_set1_epi64x((long long)x), ah = _mm256_set1_epi64x((long long)(x >> 32));
            RING_UNROLL for (int v = 0; v < NV; v++) s[r][v] = _mm256_add_epi64(s[r][v], v2_mul(a, ah, b[v], bh[v]));
        }
    }
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int v = 0; v < NV; v++) _mm256_maskstore_epi64((long long *)(C + r * n + 4 * v), mask[v], s[r][v]);
}

#define V2_NN_CASE(r, v)                                                                   \
    case (r) * 8 + (v):                                                                    \
        v2_nn_tile(C, A, B, n, k, acc, r, v, mask);                                        \
        return;

__attribute__((target("avx2"))) static void v2_nn(uint64_t *C, const uint64_t *A,
                                                   const uint64_t *B, size_t n, size_t k, int acc,
                                                   size_t mr, size_t nc)
{
    __m256i mask[V2_NN_NV] = {v2_mask(nc), v2_mask(nc > 4 ? nc - 4 : 0)};
    switch (mr * 8 + (nc + 3) / 4) {
        V2_NN_CASE(1, 1) V2_NN_CASE(2, 1) V2_NN_CASE(3, 1) V2_NN_CASE(4, 1)
        V2_NN_CASE(1, 2) V2_NN_CASE(2, 2) V2_NN_CASE(3, 2) V2_NN_CASE(4, 2)
    }
    MPC_ASSERT(0 && "v2_nn: tile shape");
}

/* ---- AVX-512 (F + DQ) ---------------------------------------------------- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512dq")))
#define AVX512_FN     RING_INLINE AVX512_TARGET

/* Tile shapes: 16 of the 32 zmm registers hold accumulators. */
enum { V5_NT_MR = 4, V5_NT_NR = 4, V5_NN_MR = 8, V5_NN_NV = 2 };

/* Lanes [0, w) of 8 (w <= 8). */
static __mmask8 v5_mask(size_t w)
{
    return (__mmask8)((1u << w) - 1u);
}

/* One k-step of 8 lanes of an nt tile. */
AVX512_FN void v5_nt_step(__m512i s[V5_NT_MR][V5_NT_NR], const uint64_t *A, const uint64_t *B,
                          size_t k, size_t l, __mmask8 mask, int MR, int NR)
{
    __m512i a[V5_NT_MR];
    RING_UNROLL for (int r = 0; r < MR; r++) a[r] = _mm512_maskz_loadu_epi64(mask, A + r * k + l);
    RING_UNROLL for (int c = 0; c < NR; c++) {
        __m512i b = _mm512_maskz_loadu_epi64(mask, B + c * k + l);
        RING_UNROLL for (int r = 0; r < MR; r++) s[r][c] = _mm512_add_epi64(s[r][c], _mm512_mullo_epi64(a[r], b));
    }
}

AVX512_FN void v5_nt_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                          int acc, int MR, int NR)
{
    __m512i s[V5_NT_MR][V5_NT_NR];
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NR; c++) s[r][c] = _mm512_setzero_si512();
    size_t l = 0;
    for (; l + 8 <= k; l += 8) v5_nt_step(s, A, B, k, l, 0xff, MR, NR);
    if (l < k) v5_nt_step(s, A, B, k, l, v5_mask(k - l), MR, NR);
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int c = 0; c < NR; c++)
            C[r * n + c] = (acc ? C[r * n + c] : 0) + (uint64_t)_mm512_reduce_add_epi64(s[r][c]);
}

#define V5_NT_CASE(r, c)                                                                   \
    case (r) * 8 + (c):                                                                    \
        v5_nt_tile(C, A, B, n, k, acc, r, c);                                              \
        return;

AVX512_TARGET static void v5_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n,
                                size_t k, int acc, size_t mr, size_t nr)
{
    switch (mr * 8 + nr) {
        V5_NT_CASE(1, 1) V5_NT_CASE(1, 2) V5_NT_CASE(1, 3) V5_NT_CASE(1, 4)
        V5_NT_CASE(2, 1) V5_NT_CASE(2, 2) V5_NT_CASE(2, 3) V5_NT_CASE(2, 4)
        V5_NT_CASE(3, 1) V5_NT_CASE(3, 2) V5_NT_CASE(3, 3) V5_NT_CASE(3, 4)
        V5_NT_CASE(4, 1) V5_NT_CASE(4, 2) V5_NT_CASE(4, 3) V5_NT_CASE(4, 4)
    }
    MPC_ASSERT(0 && "v5_nt: tile shape");
}

/* C (MR x cols, cols <= 8 NV) (+)= A (MR rows of k) . B (k rows, stride n);
 * mask[v] selects the live columns of vector v. */
AVX512_FN void v5_nn_tile(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n, size_t k,
                          int acc, int MR, int NV, const __mmask8 mask[V5_NN_NV])
{
    __m512i s[V5_NN_MR][V5_NN_NV];
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int v = 0; v < NV; v++)
            s[r][v] = acc ? _mm512_maskz_loadu_epi64(mask[v], C + r * n + 8 * v) : _mm512_setzero_si512();
    for (size_t l = 0; l < k; l++) {
        __m512i b[V5_NN_NV];
        RING_UNROLL for (int v = 0; v < NV; v++) b[v] = _mm512_maskz_loadu_epi64(mask[v], B + l * n + 8 * v);
        RING_UNROLL for (int r = 0; r < MR; r++) {
            __m512i a = _mm512_set1_epi64((long long)A[r * k + l]);
            RING_UNROLL for (int v = 0; v < NV; v++) s[r][v] = _mm512_add_epi64(s[r][v], _mm512_mullo_epi64(a, b[v]));
        }
    }
    RING_UNROLL for (int r = 0; r < MR; r++)
        RING_UNROLL for (int v = 0; v < NV; v++) _mm512_mask_storeu_epi64(C + r * n + 8 * v, mask[v], s[r][v]);
}

#define V5_NN_CASE(r, v)                                                                   \
    case (r) * 8 + (v):                                                                    \
        v5_nn_tile(C, A, B, n, k, acc, r, v, mask);                                        \
        return;

AVX512_TARGET static void v5_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t n,
                                size_t k, int acc, size_t mr, size_t nc)
{
    __mmask8 mask[V5_NN_NV] = {v5_mask(ring_min(nc, 8)), v5_mask(nc > 8 ? nc - 8 : 0)};
    switch (mr * 8 + (nc + 7) / 8) {
        V5_NN_CASE(1, 1) V5_NN_CASE(2, 1) V5_NN_CASE(3, 1) V5_NN_CASE(4, 1)
        V5_NN_CASE(5, 1) V5_NN_CASE(6, 1) V5_NN_CASE(7, 1) V5_NN_CASE(8, 1)
        V5_NN_CASE(1, 2) V5_NN_CASE(2, 2) V5_NN_CASE(3, 2) V5_NN_CASE(4, 2)
        V5_NN_CASE(5, 2) V5_NN_CASE(6, 2) V5_NN_CASE(7, 2) V5_NN_CASE(8, 2)
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
        ring_walk(v5_nt, V5_NT_MR, V5_NT_NR, k, C, A, B, m, n, k, acc);
        return;
    case RING_ISA_AVX2:
        ring_walk(v2_nt, V2_NT_MR, V2_NT_NR, k, C, A, B, m, n, k, acc);
        return;
#endif
    default:
        ring_walk(sc_nt, SC_NT_MR, SC_NT_NR, k, C, A, B, m, n, k, acc);
    }
}

void ring_gemm_nn_isa(ring_isa_t isa, uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m,
                      size_t n, size_t k, int acc)
{
    switch (ring_isa_pick(isa)) {
#if RING_X86
    case RING_ISA_AVX512:
        ring_walk(v5_nn, V5_NN_MR, 8 * V5_NN_NV, 1, C, A, B, m, n, k, acc);
        return;
    case RING_ISA_AVX2:
        ring_walk(v2_nn, V2_NN_MR, 4 * V2_NN_NV, 1, C, A, B, m, n, k, acc);
        return;
#endif
    default:
        ring_walk(sc_nn, SC_NN_MR, SC_NN_NC, 1, C, A, B, m, n, k, acc);
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
    for (size_t i = 0; i < n; i++) z[i] = x[i] + y[i];
}

void ring_sub(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) z[i] = x[i] - y[i];
}

void ring_mul_acc(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) z[i] += x[i] * y[i];
}
