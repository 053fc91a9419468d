/* kernels/cuda_prg.cu - AES-128-CTR keystream on the device: the CUDA twin
 * of mpc/prg.c's streams, for the dealer's bulk expansion and for the
 * parties' seed-compressed shares.
 *
 * prg.c keys AES-128-CTR (OpenSSL EVP) with the 16-byte seed and starts the
 * counter block at stream || block, both big-endian; OpenSSL increments the
 * whole 16-byte block as one big-endian number. Block j of the output is
 * therefore AES_seed((stream, block0 + j) as a 128-bit number), and one
 * thread computes one block: the block index is the low 64 bits, and a carry
 * out of them goes into the stream half, as in OpenSSL (it never happens for
 * streams read from 0, but a seek may start anywhere).
 *
 * The AES is the T-table AES of cuda_aes.cuh; the key schedule is expanded
 * on the host (aes_key_expand) and travels as a kernel parameter. The seed
 * is secret, so see cuda_aes.cuh on the timing of table lookups.
 */
#include <string.h>

#include "kernels/cuda_aes.cuh"

enum { PRG_THREADS = 256 };

typedef struct prg_rk {
    uint8_t rk[11][AES_BLOCK_BYTES];
} prg_rk_t;

/* Keystream block j of (stream, block0): four columns, big-endian. */
__host__ __device__ static inline void prg_block(const cuda_aes_tables_t *T, const uint32_t *rk,
                                                 uint64_t stream, uint64_t block0, uint64_t j,
                                                 uint32_t s[4])
{
    const uint64_t lo = block0 + j, hi = stream + (lo < block0 ? 1 : 0);
    s[0] = (uint32_t)(hi >> 32);
    s[1] = (uint32_t)hi;
    s[2] = (uint32_t)(lo >> 32);
    s[3] = (uint32_t)lo;
    aes_encrypt_words(T, rk, s);
}

__global__ static void __launch_bounds__(PRG_THREADS)
    prg_kernel(uint4 *out, prg_rk_t key, uint64_t stream, uint64_t block0, size_t nblocks)
{
    __shared__ cuda_aes_tables_t T;
    __shared__ uint32_t rk[44];
    for (int i = threadIdx.x; i < 256; i += blockDim.x)
        aes_tables_fill(&T, i);
    for (int i = threadIdx.x; i < 11; i += blockDim.x)
        aes_rk_words(&rk[4 * i], key.rk[i]);
    __syncthreads();
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < nblocks;
         j += (size_t)gridDim.x * blockDim.x) {
        uint32_t s[4];
        prg_block(&T, rk, stream, block0, j, s);
        /* Column i is bytes 4i..4i+3, most significant first: a little-endian
         * word holds them byte-swapped. */
        out[j] = make_uint4(aes_bswap(s[0]), aes_bswap(s[1]), aes_bswap(s[2]), aes_bswap(s[3]));
    }
}

extern "C" mpc_err_t cuda_prg_expand(dev_ctx_t *d, uint8_t *out, const aes_key_t *key,
                                     uint64_t stream, uint64_t block0, size_t nblocks)
{
    MPC_ASSERT(((uintptr_t)out & 15) == 0);
    if (!nblocks) return MPC_OK;
    prg_rk_t rk;
    memcpy(rk.rk, key->rk, sizeof rk.rk);
    DEV_ENTER(d);
    size_t blocks = (nblocks + PRG_THREADS - 1) / PRG_THREADS;
    if (blocks > 65536) blocks = 65536;
    prg_kernel<<<(unsigned)blocks, PRG_THREADS, 0, dev_stream(d)>>>((uint4 *)out, rk, stream,
                                                                    block0, nblocks);
    /* rk (the expanded secret seed) was copied into the launch: wipe ours. */
    volatile uint8_t *w = &rk.rk[0][0];
    for (size_t i = 0; i < sizeof rk.rk; i++)
        w[i] = 0;
    CUDA_CHECK(d, cudaGetLastError());
    return MPC_OK;
}
