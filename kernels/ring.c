/* kernels/ring.c - ring matrix products, plain loops (to be blocked). */
#include "kernels/ring.h"

#include <string.h>

void ring_gemm_nt(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t s = acc ? C[i * n + j] : 0;
            for (size_t l = 0; l < k; l++) s += A[i * k + l] * B[j * k + l];
            C[i * n + j] = s;
        }
}

void ring_gemm_nn(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t n, size_t k,
                  int acc)
{
    if (!acc) memset(C, 0, m * n * sizeof *C);
    for (size_t i = 0; i < m; i++)
        for (size_t l = 0; l < k; l++) {
            uint64_t a = A[i * k + l];
            for (size_t j = 0; j < n; j++) C[i * n + j] += a * B[l * n + j];
        }
}
