/* kernels/cuda_elem.cu - Beaver reconstruction and truncation with a known
 * MSB on the device: the CUDA twins of elem_beaver and elem_trunc_finish.
 *
 * One thread per element in a grid-stride loop. Both are bound by memory
 * bandwidth (40 B read and 8 written per Beaver element, 24 + 8 per
 * truncation), so nothing is staged in shared memory; the loads are
 * coalesced 8-byte accesses. The party bit is public, so it may select the
 * public term with a branch-free mask as the CPU path does.
 */
#include "kernels/cuda_impl.cuh"

__global__ static void beaver_kernel(uint64_t *z, const uint64_t *c, const uint64_t *a,
                                     const uint64_t *b, const uint64_t *e, const uint64_t *d,
                                     size_t n, uint64_t pm)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const uint64_t ei = e[i], di = d[i];
        z[i] = c[i] + ei * b[i] + di * a[i] + ((ei * di) & pm);
    }
}

__global__ static void trunc_finish_kernel(uint64_t *out, const uint64_t *c, const uint64_t *rhi,
                                           const uint64_t *msb, size_t n, int f, uint64_t pm)
{
    const uint64_t wrap = (uint64_t)1 << (64 - f), off = ELEM_TRUNC_OFFSET >> f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const uint64_t ci = c[i];
        const uint64_t w = msb[i] * (1 - (ci >> 63));
        out[i] = w * wrap - rhi[i] + (((ci >> f) - off) & pm);
    }
}

extern "C" mpc_err_t cuda_beaver(dev_ctx_t *d, uint64_t *z, const uint64_t *c, const uint64_t *a,
                                 const uint64_t *b, const uint64_t *e, const uint64_t *dd, size_t n,
                                 int p0)
{
    if (!n) return MPC_OK;
    DEV_ENTER(d);
    beaver_kernel<<<elem_blocks(n), ELEM_THREADS, 0, dev_stream(d)>>>(z, c, a, b, e, dd, n,
                                                                      p0 ? ~(uint64_t)0 : 0);
    CUDA_CHECK(d, cudaGetLastError());
    return MPC_OK;
}

extern "C" mpc_err_t cuda_trunc_finish(dev_ctx_t *d, uint64_t *out, const uint64_t *c,
                                       const uint64_t *rhi, const uint64_t *msb, size_t n, int f,
                                       int p0)
{
    MPC_ASSERT(f > 0 && f < 62);
    if (!n) return MPC_OK;
    DEV_ENTER(d);
    trunc_finish_kernel<<<elem_blocks(n), ELEM_THREADS, 0, dev_stream(d)>>>(out, c, rhi, msb, n, f,
                                                                            p0 ? ~(uint64_t)0 : 0);
    CUDA_CHECK(d, cudaGetLastError());
    return MPC_OK;
}
