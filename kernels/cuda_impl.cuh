/* kernels/cuda_impl.cuh - what the CUDA sources of kernels/ share: the C
 * headers they implement, CUDA_CHECK, and the launch helpers. Only the .cu
 * files of kernels/ include it.
 *
 * CUDA_CHECK(d, call) evaluates a CUDA runtime call and, unless it returned
 * cudaSuccess, records "file:line: call: CUDA's message" in d's error detail
 * and returns MPC_EDEVICE from the enclosing function. Every CUDA call in
 * kernels/ goes through it; a kernel launch is followed by
 * CUDA_CHECK(d, cudaGetLastError()) (launch errors surface there; errors
 * while the kernel runs surface at the next checked copy or sync).
 */
#ifndef KERNELS_CUDA_IMPL_CUH
#define KERNELS_CUDA_IMPL_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* kernels/aes.h is C11; its _Alignas is C++'s alignas. */
#define _Alignas(n) alignas(n)
extern "C" {
#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "kernels/dev_impl.h"
#include "kernels/elem.h"
}
#undef _Alignas

#define CUDA_CHECK(d, call)                                                                        \
    do {                                                                                           \
        cudaError_t cuda_check_rc_ = (call);                                                       \
        if (cuda_check_rc_ != cudaSuccess) {                                                       \
            (void)cudaGetLastError(); /* reset, so the next check reports its own */               \
            return dev_fail((d), MPC_EDEVICE, "%s:%d: %s: %s", __FILE__, __LINE__, #call,          \
                            cudaGetErrorString(cuda_check_rc_));                                   \
        }                                                                                          \
    } while (0)

/* The context's stream, as CUDA's type. */
static inline cudaStream_t dev_stream(const dev_ctx_t *d)
{
    return (cudaStream_t)d->stream;
}

/* Makes d's device current on the calling thread: the current device is
 * per host thread, and a context may be used from any thread. */
#define DEV_ENTER(d) CUDA_CHECK((d), cudaSetDevice((d)->ordinal))

/* Threads per block of the element-wise kernels, and their grid for n
 * elements: grid-stride loops, so the grid is capped at a few waves. */
enum { ELEM_THREADS = 256 };
static inline unsigned elem_blocks(size_t n)
{
    size_t b = (n + ELEM_THREADS - 1) / ELEM_THREADS;
    return (unsigned)(b < 65536 ? (b ? b : 1) : 65536);
}

#endif
