/* kernels/cuda.h - the CUDA kernels, callable from C, on device buffers.
 *
 * Each function enqueues one kernel (or a few) on the stream of the device
 * context d (kernels/dev.h) and returns without waiting; results are ready
 * after dev_download or dev_sync. Every pointer argument named as a device
 * buffer must come from dev_alloc on the same context; host arguments (round
 * keys) are copied into the launch. Each CUDA path has a CPU reference that
 * computes the same function, and the tests in tests/kernels/test_cuda_*.c
 * compare the two element for element:
 *
 *   cuda_ring_gemm_nt / _nn   ring_gemm_nt / ring_gemm_nn (kernels/ring.h)
 *   cuda_beaver               elem_beaver (kernels/elem.h)
 *   cuda_trunc_finish         elem_trunc_finish (kernels/elem.h)
 *   cuda_fss_eval             fss_dpf_eval_batch / fss_dcf_eval_batch
 *                             (protocols/fss.c; kernels may not include it,
 *                             so the key layout is mirrored in cuda_fss.cu)
 *   cuda_prg_expand           prg_seek + prg_bytes (mpc/prg.c)
 *
 * Without CUDA in the build every function exists and returns MPC_EDEVICE
 * ("no CUDA in this build"); a context cannot be made then anyway. A failed
 * launch returns MPC_EDEVICE with the detail in dev_error(d). Arguments out of
 * the documented ranges are programmer bugs and abort (MPC_ASSERT). Kernels
 * never allocate and never touch the network.
 */
#ifndef KERNELS_CUDA_H
#define KERNELS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/aes.h"
#include "kernels/dev.h"
#include "mpc/err.h"

/* Device buffers: C (m x n) (+)= A (m x k) B^T with B (n x k), as
 * ring_gemm_nt; cuda_ring_gemm_nn takes B as (k x n), as ring_gemm_nn.
 * acc != 0 adds to C. m == 1 (a decode step's matrix-vector product) runs a
 * bandwidth-bound GEMV kernel; larger m a tiled GEMM. */
mpc_err_t cuda_ring_gemm_nt(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                            size_t m, size_t n, size_t k, int acc) MPC_WUR;
mpc_err_t cuda_ring_gemm_nn(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                            size_t m, size_t n, size_t k, int acc) MPC_WUR;

/* Device buffers of n words: elem_beaver and elem_trunc_finish. */
mpc_err_t cuda_beaver(dev_ctx_t *d, uint64_t *z, const uint64_t *c, const uint64_t *a,
                      const uint64_t *b, const uint64_t *e, const uint64_t *dd, size_t n,
                      int p0) MPC_WUR;
mpc_err_t cuda_trunc_finish(dev_ctx_t *d, uint64_t *out, const uint64_t *c, const uint64_t *rhi,
                            const uint64_t *msb, size_t n, int f, int p0) MPC_WUR;

/* Batched DPF (dcf = 0) or DCF (dcf = 1) evaluation, as
 * fss_d{p,c}f_eval_batch: out[i*per_key + j] = Eval(key i, x[i*per_key + j])
 * for count keys of key_bytes each (the size protocols/fss.h gives for
 * nbits and the group), ell = 64 for FSS_Z64 or 1 for FSS_Z2 (their enum
 * values). out, keys and x are device buffers; every x must be < 2^nbits.
 * mmo holds the fixed keys expanded on the host (aes_mmo_init); only their
 * round keys travel. The AES is table-based, with the tables in shared
 * memory (see cuda_fss.cu for its timing). */
mpc_err_t cuda_fss_eval(dev_ctx_t *d, uint64_t *out, const uint8_t *keys, size_t key_bytes,
                        int nbits, int ell, int dcf, const uint64_t *x, size_t count,
                        size_t per_key, const aes_mmo_t *mmo) MPC_WUR;

/* AES-128-CTR keystream into the device buffer out (16-byte aligned):
 * nblocks blocks of the stream prg_new(seed, stream) starting at block
 * block0, i.e. the bytes prg_bytes returns after prg_seek(p, 16 * block0).
 * key is the seed expanded on the host (aes_key_expand(key, seed)); the
 * counter block is stream || block index, big-endian, incremented as one
 * 128-bit number, as OpenSSL's CTR mode does. */
mpc_err_t cuda_prg_expand(dev_ctx_t *d, uint8_t *out, const aes_key_t *key, uint64_t stream,
                          uint64_t block0, size_t nblocks) MPC_WUR;

#endif
