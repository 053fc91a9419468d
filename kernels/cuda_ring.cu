/* kernels/cuda_ring.cu - ring GEMM and GEMV over Z_2^64 on the device: the
 * CUDA twins of ring_gemm_nt and ring_gemm_nn (kernels/ring.h).
 *
 * Approach: plain 64-bit multiply-add on the integer pipes. No GPU has 64-bit
 * integer tensor cores, and a 64 x 64 -> 64-bit product (the low word is all
 * the ring needs) compiles to three 32-bit IMADs on sm_90: IMAD.WIDE.U32 for
 * lo*lo plus the accumulator, and two IMADs folding the lo*hi and hi*lo cross
 * terms into the high word. So one ring multiply-add costs 3 IMAD issues,
 * and the device's 64-bit peak is a third of its 32-bit IMAD rate (on an H100
 * SXM, 132 SMs x 64 IMAD/clk x 1.98 GHz / 3, about 5.6 T ring MACs/s).
 *   The alternative is limbs on the tensor cores: split each word into four
 * 16-bit limbs (or eight 8-bit limbs for IMMA), run one small-integer GEMM
 * per limb pair (i, j) with i + j < 4 (10 of the 16 pairs; the others only
 * touch bits >= 64), and recombine the partial products shifted by 16(i + j)
 * bits. Exactness bounds the inner length: fp64 DMMA holds 2^53, so 16-bit
 * limbs allow k < 2^21; int8 IMMA accumulates in int32, so 8-bit limbs (36
 * of 64 pairs) allow k < 2^15 per pass. That may beat the IMAD path on large
 * prefill GEMMs by a small factor; it is not done here, because the decode
 * step's products are GEMVs, bound by memory bandwidth, where the integer
 * pipes already keep up with HBM.
 *
 * GEMM (m > 1): 64 x 64 tiles of C per block of 16 x 16 threads, each thread
 * owning a 4 x 4 sub-tile strided by 16 (rows ty + 16i, columns tx + 16j),
 * so that its shared-memory reads of B are conflict-free and its stores to C
 * are coalesced. The k dimension goes in steps of 16 through shared-memory
 * tiles As[16][64] and Bs[16][64] (padded by one word, so that the
 * transposing stores of A and of B^T spread over the banks). Out-of-range
 * elements load as 0.
 * GEMV (m == 1, a decode step): nt gives one warp per output, lanes striding
 * along k (coalesced), reduced by warp shuffles; nn gives one thread per
 * output column, columns coalesced, with k split into chunks over the grid's
 * y dimension and the chunks' sums added by 64-bit atomics (mod 2^64
 * addition is associative, so the result is exact in any order).
 *
 * The per-thread steps are __host__ __device__ so that a host harness can
 * replay a block thread by thread between the barriers.
 */
#include "kernels/cuda_impl.cuh"

enum { TILE_M = 64, TILE_N = 64, TILE_K = 16, TILE_T = 16, SUB = TILE_M / TILE_T };
enum { GEMV_WARPS = 8, GEMV_NN_THREADS = 256, GEMV_NN_CHUNK = 256 };

typedef uint64_t tile_a_t[TILE_K][TILE_M + 1];
typedef uint64_t tile_b_t[TILE_K][TILE_N + 1];

/* Thread t (0..255) loads its four elements of the A tile (rows r0.., k
 * k0..) and the B tile into shared memory, both as [k][row or column]. */
template <bool NT>
__host__ __device__ static inline void tile_load(tile_a_t &As, tile_b_t &Bs, const uint64_t *A,
                                                 const uint64_t *B, size_t m, size_t n, size_t k,
                                                 size_t r0, size_t c0, size_t k0, int t)
{
    for (int q = 0; q < TILE_M * TILE_K / (TILE_T * TILE_T); q++) {
        const int idx = t + q * TILE_T * TILE_T;
        /* A (m x k), k contiguous: 16 threads cover one row's 16 k values. */
        const int ar = idx / TILE_K, ak = idx % TILE_K;
        const size_t gr = r0 + (size_t)ar, gk = k0 + (size_t)ak;
        As[ak][ar] = gr < m && gk < k ? A[gr * k + gk] : 0;
        if (NT) { /* B (n x k), k contiguous: as A */
            const size_t gc = c0 + (size_t)ar;
            Bs[ak][ar] = gc < n && gk < k ? B[gc * k + gk] : 0;
        } else { /* B (k x n), n contiguous: 64 threads cover one k row */
            const int bk = idx / TILE_N, bc = idx % TILE_N;
            const size_t gk2 = k0 + (size_t)bk, gc = c0 + (size_t)bc;
            Bs[bk][bc] = gk2 < k && gc < n ? B[gk2 * n + gc] : 0;
        }
    }
}

/* Thread (tx, ty) multiplies its 4 x 4 sub-tile over the 16 k of the tiles. */
__host__ __device__ static inline void tile_mac(uint64_t acc[SUB][SUB], const tile_a_t &As,
                                                const tile_b_t &Bs, int tx, int ty)
{
#ifdef __CUDA_ARCH__ /* gcc, compiling the host copy, does not know the pragma */
#pragma unroll
#endif
    for (int kk = 0; kk < TILE_K; kk++) {
        uint64_t a[SUB], b[SUB];
        for (int i = 0; i < SUB; i++)
            a[i] = As[kk][ty + TILE_T * i];
        for (int j = 0; j < SUB; j++)
            b[j] = Bs[kk][tx + TILE_T * j];
        for (int i = 0; i < SUB; i++)
            for (int j = 0; j < SUB; j++)
                acc[i][j] += a[i] * b[j];
    }
}

__host__ __device__ static inline void tile_store(uint64_t *C, const uint64_t acc[SUB][SUB],
                                                  size_t m, size_t n, size_t r0, size_t c0, int tx,
                                                  int ty, int accumulate)
{
    for (int i = 0; i < SUB; i++)
        for (int j = 0; j < SUB; j++) {
            const size_t r = r0 + (size_t)(ty + TILE_T * i), c = c0 + (size_t)(tx + TILE_T * j);
            if (r < m && c < n) C[r * n + c] = (accumulate ? C[r * n + c] : 0) + acc[i][j];
        }
}

template <bool NT>
__global__ static void __launch_bounds__(TILE_T *TILE_T)
    gemm_kernel(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                int accumulate)
{
    __shared__ tile_a_t As;
    __shared__ tile_b_t Bs;
    const int tx = threadIdx.x, ty = threadIdx.y, t = ty * TILE_T + tx;
    const size_t r0 = (size_t)blockIdx.y * TILE_M, c0 = (size_t)blockIdx.x * TILE_N;
    uint64_t acc[SUB][SUB] = {};
    for (size_t k0 = 0; k0 < k; k0 += TILE_K) {
        tile_load<NT>(As, Bs, A, B, m, n, k, r0, c0, k0, t);
        __syncthreads();
        tile_mac(acc, As, Bs, tx, ty);
        __syncthreads();
    }
    tile_store(C, acc, m, n, r0, c0, tx, ty, accumulate);
}

/* Lane `lane` of the warp for output j of y = x B^T: its strided share of
 * the dot product of x with row j of B (n x k). */
__host__ __device__ static inline uint64_t gemv_nt_part(const uint64_t *x, const uint64_t *B,
                                                        size_t k, size_t j, int lane)
{
    uint64_t s = 0;
    const uint64_t *row = B + j * k;
    for (size_t l = (size_t)lane; l < k; l += 32)
        s += x[l] * row[l];
    return s;
}

__global__ static void __launch_bounds__(GEMV_WARPS * 32)
    gemv_nt_kernel(uint64_t *y, const uint64_t *x, const uint64_t *B, size_t n, size_t k,
                   int accumulate)
{
    const size_t j = (size_t)blockIdx.x * GEMV_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (j >= n) return; /* the whole warp leaves together: j is per warp */
    uint64_t s = gemv_nt_part(x, B, k, j, lane);
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        s += __shfl_down_sync(0xffffffffu, (unsigned long long)s, off);
    if (lane == 0) y[j] = (accumulate ? y[j] : 0) + s;
}

/* Column j's sum over k rows [l0, l1) of x[l] B[l][j], B (k x n). */
__host__ __device__ static inline uint64_t gemv_nn_part(const uint64_t *x, const uint64_t *B,
                                                        size_t n, size_t j, size_t l0, size_t l1)
{
    uint64_t s = 0;
    for (size_t l = l0; l < l1; l++)
        s += x[l] * B[l * n + j];
    return s;
}

__global__ static void __launch_bounds__(GEMV_NN_THREADS)
    gemv_nn_kernel(uint64_t *y, const uint64_t *x, const uint64_t *B, size_t n, size_t k)
{
    const size_t j = (size_t)blockIdx.x * GEMV_NN_THREADS + threadIdx.x;
    const size_t l0 = (size_t)blockIdx.y * GEMV_NN_CHUNK;
    const size_t l1 = l0 + GEMV_NN_CHUNK < k ? l0 + GEMV_NN_CHUNK : k;
    if (j >= n) return;
    const uint64_t s = gemv_nn_part(x, B, n, j, l0, l1);
    atomicAdd((unsigned long long *)&y[j], (unsigned long long)s);
}

static mpc_err_t gemm(dev_ctx_t *d, bool nt, uint64_t *C, const uint64_t *A, const uint64_t *B,
                      size_t m, size_t n, size_t k, int acc)
{
    if (m == 0 || n == 0) return MPC_OK;
    DEV_ENTER(d);
    cudaStream_t s = dev_stream(d);
    if (k == 0) { /* C = 0, or C unchanged */
        if (!acc) CUDA_CHECK(d, cudaMemsetAsync(C, 0, m * n * sizeof *C, s));
        return MPC_OK;
    }
    if (m == 1 && nt) {
        const size_t blocks = (n + GEMV_WARPS - 1) / GEMV_WARPS;
        MPC_ASSERT(blocks <= 0x7fffffff);
        gemv_nt_kernel<<<(unsigned)blocks, GEMV_WARPS * 32, 0, s>>>(C, A, B, n, k, acc);
    } else if (m == 1) {
        const size_t bx = (n + GEMV_NN_THREADS - 1) / GEMV_NN_THREADS;
        const size_t by = (k + GEMV_NN_CHUNK - 1) / GEMV_NN_CHUNK;
        MPC_ASSERT(bx <= 0x7fffffff && by <= 65535);
        if (!acc) CUDA_CHECK(d, cudaMemsetAsync(C, 0, n * sizeof *C, s));
        gemv_nn_kernel<<<dim3((unsigned)bx, (unsigned)by), GEMV_NN_THREADS, 0, s>>>(C, A, B, n, k);
    } else {
        const size_t bx = (n + TILE_N - 1) / TILE_N, by = (m + TILE_M - 1) / TILE_M;
        MPC_ASSERT(bx <= 0x7fffffff && by <= 65535);
        const dim3 grid((unsigned)bx, (unsigned)by), block(TILE_T, TILE_T);
        if (nt)
            gemm_kernel<true><<<grid, block, 0, s>>>(C, A, B, m, n, k, acc);
        else
            gemm_kernel<false><<<grid, block, 0, s>>>(C, A, B, m, n, k, acc);
    }
    CUDA_CHECK(d, cudaGetLastError());
    return MPC_OK;
}

extern "C" mpc_err_t cuda_ring_gemm_nt(dev_ctx_t *d, uint64_t *C, const uint64_t *A,
                                       const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    return gemm(d, true, C, A, B, m, n, k, acc);
}

extern "C" mpc_err_t cuda_ring_gemm_nn(dev_ctx_t *d, uint64_t *C, const uint64_t *A,
                                       const uint64_t *B, size_t m, size_t n, size_t k, int acc)
{
    return gemm(d, false, C, A, B, m, n, k, acc);
}
