/* kernels/ring.h - ring arithmetic kernels over Z_2^64 (CPU reference path).
 *
 * All products are of uint64_t matrices modulo 2^64 (wrap-around), row-major.
 * These are the hot loops of every linear layer: the matrix-vector product of
 * a decode step is bound by memory bandwidth, the matrix product of a prefill
 * block by arithmetic. Kernels never allocate and never touch the network.
 */
#ifndef KERNELS_RING_H
#define KERNELS_RING_H

#include <stddef.h>
#include <stdint.h>

/* C (m x n) = A (m x k) * B^T, with B stored as (n x k): the llama2.c weight
 * layout [out][in]. With acc != 0, C += A * B^T instead. */
void ring_gemm_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc);

/* C (m x n) = A (m x k) * B, with B stored as (k x n). With acc != 0,
 * C += A * B. */
void ring_gemm_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc);

#endif
