/* kernels/ring.h - ring arithmetic kernels over Z_2^64 (CPU reference path).
 *
 * All products are of uint64_t matrices modulo 2^64 (wrap-around), row-major.
 * These are the hot loops of every linear layer: the matrix-vector product of
 * a decode step is bound by memory bandwidth, the matrix product of a prefill
 * block by arithmetic. Kernels never allocate and never touch the network.
 *
 * Each product has three code paths, chosen per call from the CPU's feature
 * bits: AVX-512 (F and DQ, for the 64-bit vpmullq), AVX2 (64-bit products
 * built from 32-bit vpmuludq pieces) and portable C. All paths give
 * bit-identical results; the _isa variants force one, for tests and
 * benchmarks. Example, a decode-step projection y (1 x out) = x W^T with W
 * stored [out][in]:
 *
 *     ring_gemm_nt(y, x, W, 1, out, in, 0);
 */
#ifndef KERNELS_RING_H
#define KERNELS_RING_H

#include <stddef.h>
#include <stdint.h>

/* C (m x n) = A (m x k) * B^T, with B stored as (n x k): the llama2.c weight
 * layout [out][in]. With acc != 0, C += A * B^T instead. C must not overlap A
 * or B. Any of m, n, k may be 0 (k = 0 gives C = 0, or leaves C with acc). */
void ring_gemm_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc);

/* C (m x n) = A (m x k) * B, with B stored as (k x n). With acc != 0,
 * C += A * B. C must not overlap A or B. When m spans several row tiles, it
 * copies blocks of B into a 16 KiB panel on its own stack (B's strided
 * columns would otherwise thrash the cache); it needs no scratch from the
 * caller. */
void ring_gemm_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc);

/* Element-wise, over n words; z may be the same buffer as x or y (but must
 * not partially overlap them). What Beaver reconstruction needs: masking and
 * opening (z = x - y, z = x + y) and the cross terms of a product
 * (z += x * y). */
void ring_add(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n);
void ring_sub(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n);
void ring_mul_acc(uint64_t *z, const uint64_t *x, const uint64_t *y, size_t n);

/* The code paths. RING_ISA_AUTO picks the fastest one the CPU supports. */
typedef enum ring_isa {
    RING_ISA_AUTO = 0,
    RING_ISA_SCALAR, /* portable C, always available */
    RING_ISA_AVX2,   /* x86 AVX2 */
    RING_ISA_AVX512, /* x86 AVX-512 F + DQ */
} ring_isa_t;

/* 1 when this CPU (and build) can run isa, else 0. AUTO and SCALAR always
 * can. The check reads feature bits libgcc cached at start-up, so it is cheap
 * enough to make on every call. */
int ring_isa_supported(ring_isa_t isa);
/* A static name for isa ("auto", "scalar", "avx2", "avx512"). */
const char *ring_isa_name(ring_isa_t isa);

/* ring_gemm_nt / ring_gemm_nn on the path isa. Asserts (always on) that the
 * CPU supports it: check ring_isa_supported first. */
void ring_gemm_nt_isa(ring_isa_t isa, uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m,
                      size_t n, size_t k, int acc);
void ring_gemm_nn_isa(ring_isa_t isa, uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m,
                      size_t n, size_t k, int acc);

#endif
