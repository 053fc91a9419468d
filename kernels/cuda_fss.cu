/* kernels/cuda_fss.cu - batched DPF/DCF evaluation on the device: the CUDA
 * twin of fss_dpf_eval_batch / fss_dcf_eval_batch (protocols/fss.c).
 *
 * One thread walks one (key, x) pair down its n-level tree, exactly as
 * protocols/fss.c's eval_batch does for one lane: per level one MMO hash of
 * the seed under k0 or k1 (chosen by the public input bit) for the child,
 * and for a DCF a second one under k2 for the value words; the control bit
 * is the child's low bit, cleared in the seed; corrections are applied with
 * masks, never branches on secret bits. The AES is that of cuda_aes.cuh,
 * under the fixed MMO keys expanded on the host (kernels/aes.c): a bare
 * AES_k(s) is never used (DESIGN.md §4).
 *
 * Kernels may not include protocols/, so the key layout of protocols/fss.h
 * is mirrored here (fss_layout); the host wrapper asserts that it gives the
 * caller's key size, and tests/kernels/test_cuda_fss.c checks the outputs
 * against protocols/fss.c on fresh keys, so a change of format cannot pass
 * unnoticed.
 *
 * Cost: 2n (DCF) or n (DPF) AES blocks per evaluation, i.e. 128 AES per
 * 64-bit DCF. The key is read through byte or word loads (a key's size is
 * not always a multiple of 8, so its start is not always aligned);
 * evaluations of one key run on neighbouring threads, so those reads are
 * broadcasts.
 */
#include <string.h>

#include "kernels/cuda_aes.cuh"

enum { FSS_THREADS = 256 };

/* Byte offsets within a key, as key_layout in protocols/fss.c. */
typedef struct fss_layout {
    size_t scw, vcw, cw, bits, vbit, cwbit, total;
} fss_layout_t;

static fss_layout_t fss_key_layout(int n, int ell, int dcf)
{
    const size_t un = (size_t)n;
    fss_layout_t l = {0, 0, 0, 0, 0, 0, 0};
    l.scw = 16;
    size_t end = l.scw + 16 * un;
    if (ell == 64) {
        if (dcf) {
            l.vcw = end;
            end += 8 * un;
        }
        l.cw = end;
        l.bits = end + 8;
        l.total = l.bits + (un + 7) / 8;
    } else {
        l.bits = end;
        l.vbit = un;
        l.cwbit = dcf ? 2 * un : un;
        l.total = l.bits + (l.cwbit + 1 + 7) / 8;
    }
    return l;
}

/* The fixed MMO keys as kernel parameters: 3 x 11 round keys of 16 bytes. */
typedef struct fss_rk {
    uint8_t rk[AES_MMO_KEYS][11][AES_BLOCK_BYTES];
} fss_rk_t;

__host__ __device__ static inline uint64_t fss_ld64(const uint8_t *p)
{
    if (((uintptr_t)p & 7) == 0) return *(const uint64_t *)p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

__host__ __device__ static inline uint64_t fss_bit(const uint8_t *bits, size_t i)
{
    return (uint64_t)(bits[i >> 3] >> (i & 7)) & 1;
}

/* (−1)^t · a for a bit t, and m ? a : b for a mask m. */
__host__ __device__ static inline uint64_t fss_sgn(uint64_t t, uint64_t a)
{
    return (a ^ (0 - t)) + t;
}

__host__ __device__ static inline uint64_t fss_pick(uint64_t m, uint64_t a, uint64_t b)
{
    return (a & m) | (b & ~m);
}

/* This key's share of f(x), as eval_batch in protocols/fss.c for one lane.
 * rk + 44 i holds the 44 round-key columns of the fixed key k_i. */
__host__ __device__ static inline uint64_t fss_eval_one(const cuda_aes_tables_t *T,
                                                        const uint32_t *rk, const uint8_t *key,
                                                        const fss_layout_t *l, int n, int ell,
                                                        int dcf, uint64_t x)
{
    uint64_t slo = fss_ld64(key), shi = fss_ld64(key + 8);
    const uint64_t b = slo & 1;
    slo &= ~(uint64_t)1;
    uint64_t t = b, v = 0;
    for (int i = 0; i < n; i++) {
        const uint64_t xi = (x >> (n - 1 - i)) & 1, xm = 0 - xi;
        uint64_t clo, chi;
        aes_mmo_words(T, rk + 44 * xi, slo, shi, &clo, &chi);
        const uint64_t tc = clo & 1;
        clo &= ~(uint64_t)1;
        const uint8_t *cwp = key + l->scw + 16 * (size_t)i;
        uint64_t scwlo = fss_ld64(cwp);
        const uint64_t scwhi = fss_ld64(cwp + 8);
        const uint64_t tcwl = scwlo & 1;
        scwlo &= ~(uint64_t)1;
        const uint64_t tcwr = fss_bit(key + l->bits, (size_t)i);
        const uint64_t tm = 0 - t;
        if (dcf) {
            uint64_t vlo, vhi;
            aes_mmo_words(T, rk + 44 * AES_MMO_K2, slo, shi, &vlo, &vhi);
            const uint64_t vcw = ell == 64 ? fss_ld64(key + l->vcw + 8 * (size_t)i)
                                           : fss_bit(key + l->bits, l->vbit + (size_t)i);
            v += fss_sgn(b, fss_pick(xm, vhi, vlo) + (vcw & tm));
        }
        slo = clo ^ (scwlo & tm);
        shi = chi ^ (scwhi & tm);
        t = tc ^ (t & fss_pick(xm, tcwr, tcwl));
    }
    const uint64_t cw = ell == 64 ? fss_ld64(key + l->cw) : fss_bit(key + l->bits, l->cwbit);
    v += fss_sgn(b, shi + (cw & (0 - t)));
    return v & (ell == 1 ? 1 : ~(uint64_t)0);
}

__global__ static void __launch_bounds__(FSS_THREADS)
    fss_eval_kernel(uint64_t *out, const uint8_t *keys, fss_layout_t l, int n, int ell, int dcf,
                    const uint64_t *x, size_t total, size_t per_key, fss_rk_t keys_rk)
{
    __shared__ cuda_aes_tables_t T;
    __shared__ uint32_t rk[AES_MMO_KEYS][44];
    for (int i = threadIdx.x; i < 256; i += blockDim.x)
        aes_tables_fill(&T, i);
    for (int i = threadIdx.x; i < AES_MMO_KEYS * 11; i += blockDim.x)
        aes_rk_words(&rk[i / 11][4 * (i % 11)], keys_rk.rk[i / 11][i % 11]);
    __syncthreads();
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x)
        out[e] = fss_eval_one(&T, &rk[0][0], keys + e / per_key * l.total, &l, n, ell, dcf, x[e]);
}

extern "C" mpc_err_t cuda_fss_eval(dev_ctx_t *d, uint64_t *out, const uint8_t *keys,
                                   size_t key_bytes, int nbits, int ell, int dcf, const uint64_t *x,
                                   size_t count, size_t per_key, const aes_mmo_t *mmo)
{
    MPC_ASSERT(nbits >= 1 && nbits <= 64 && (ell == 1 || ell == 64) && per_key >= 1);
    const fss_layout_t l = fss_key_layout(nbits, ell, dcf != 0);
    MPC_ASSERT(key_bytes == l.total);
    const size_t total = count * per_key;
    if (!total) return MPC_OK;
    fss_rk_t rk;
    for (int i = 0; i < AES_MMO_KEYS; i++)
        memcpy(rk.rk[i], mmo->key[i].rk, sizeof rk.rk[i]);
    DEV_ENTER(d);
    size_t blocks = (total + FSS_THREADS - 1) / FSS_THREADS;
    if (blocks > 65536) blocks = 65536;
    fss_eval_kernel<<<(unsigned)blocks, FSS_THREADS, 0, dev_stream(d)>>>(
        out, keys, l, nbits, ell, dcf != 0, x, total, per_key, rk);
    CUDA_CHECK(d, cudaGetLastError());
    return MPC_OK;
}
