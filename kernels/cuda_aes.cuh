/* kernels/cuda_aes.cuh - AES-128 encryption for the CUDA kernels: the
 * round function on 32-bit T-tables in shared memory, and the MMO hash of
 * kernels/aes.h. Only cuda_fss.cu and cuda_prg.cu include it.
 *
 * The state is four big-endian 32-bit columns, as in the reference
 * rijndael-alg-fst.c: one round is 16 table lookups, 12 rotations and 16
 * XORs. A single table Te0[x] = (2·S[x], S[x], S[x], 3·S[x]) serves all four
 * columns through byte rotations (Te_i = Te0 rotated right by 8i bits), so a
 * block holds 1 KiB of T-table plus the 256-byte S-box for the last round.
 * The tables are computed by each thread block when it starts, from the
 * field arithmetic (S[x] = affine(x^254)), rather than kept as device
 * globals; 256 threads do it in well under a microsecond.
 *
 * Round keys come expanded from the host, where aes_key_expand (AES-NI)
 * writes them in FIPS-197 byte order; aes_rk_words turns 16 bytes into the
 * columns. So the device uses exactly the fixed MMO keys of kernels/aes.c,
 * and the seed key of a PRG stream, without a key schedule of its own.
 *
 * Timing. The lookups are indexed by the state, so shared-memory bank
 * conflicts, and with them the time a block takes, depend on the data (the
 * evaluator's seeds; for the PRG, its key). Only code that shares the GPU
 * and can time it could observe that; where co-tenants are possible, a
 * bitsliced AES (32 blocks per thread register set, no lookups) is the
 * constant-time replacement, at some cost in throughput.
 *
 * Every function is __host__ __device__, so a host harness can check the
 * device's AES against AES-NI block by block.
 */
#ifndef KERNELS_CUDA_AES_CUH
#define KERNELS_CUDA_AES_CUH

#include <stdint.h>

#include "kernels/cuda_impl.cuh"

typedef struct cuda_aes_tables {
    uint32_t te[256];  /* Te0 */
    uint8_t sbox[256]; /* S */
} cuda_aes_tables_t;

__host__ __device__ static inline uint32_t aes_ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

__host__ __device__ static inline uint32_t aes_bswap(uint32_t x)
{
#ifdef __CUDA_ARCH__
    return __byte_perm(x, 0, 0x0123);
#else
    return __builtin_bswap32(x);
#endif
}

__host__ __device__ static inline uint8_t aes_xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ ((x >> 7) * 0x1b));
}

__host__ __device__ static inline uint8_t aes_gf_mul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    for (int i = 0; i < 8; i++) {
        p = (uint8_t)(p ^ ((uint8_t)(0 - (b & 1)) & a));
        a = aes_xtime(a);
        b = (uint8_t)(b >> 1);
    }
    return p;
}

/* S[x]: the inverse in GF(2^8) (x^254, with 0 -> 0), then the affine map. */
__host__ __device__ static inline uint8_t aes_sbox_entry(uint8_t x)
{
    uint8_t inv = 1, pw = x;
    for (int e = 254; e; e >>= 1) {
        if (e & 1) inv = aes_gf_mul(inv, pw);
        pw = aes_gf_mul(pw, pw);
    }
    uint8_t s = 0x63;
    for (int r = 0; r < 5; r++)
        s = (uint8_t)(s ^ (uint8_t)((inv << r) | (inv >> ((8 - r) & 7))));
    return s;
}

/* Entry x of both tables; a block fills them with one thread per x. */
__host__ __device__ static inline void aes_tables_fill(cuda_aes_tables_t *t, int x)
{
    const uint8_t s = aes_sbox_entry((uint8_t)x), s2 = aes_xtime(s);
    t->sbox[x] = s;
    t->te[x] = (uint32_t)s2 << 24 | (uint32_t)s << 16 | (uint32_t)s << 8 | (uint32_t)(s2 ^ s);
}

/* The four columns of a 16-byte round key in FIPS-197 byte order. */
__host__ __device__ static inline void aes_rk_words(uint32_t w[4], const uint8_t *b)
{
    for (int i = 0; i < 4; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
}

/* AES-128 of the columns s[0..3] in place, round keys rk[0..43]. */
__host__ __device__ static inline void aes_encrypt_words(const cuda_aes_tables_t *T,
                                                         const uint32_t *rk, uint32_t s[4])
{
    const uint32_t *te = T->te;
    const uint8_t *sb = T->sbox;
    uint32_t s0 = s[0] ^ rk[0], s1 = s[1] ^ rk[1], s2 = s[2] ^ rk[2], s3 = s[3] ^ rk[3];
#ifdef __CUDA_ARCH__ /* gcc, compiling the host copy, does not know the pragma */
#pragma unroll
#endif
    for (int r = 1; r < 10; r++) {
        const uint32_t *k = rk + 4 * r;
        const uint32_t t0 = te[s0 >> 24] ^ aes_ror(te[(s1 >> 16) & 0xff], 8) ^
                            aes_ror(te[(s2 >> 8) & 0xff], 16) ^ aes_ror(te[s3 & 0xff], 24) ^ k[0];
        const uint32_t t1 = te[s1 >> 24] ^ aes_ror(te[(s2 >> 16) & 0xff], 8) ^
                            aes_ror(te[(s3 >> 8) & 0xff], 16) ^ aes_ror(te[s0 & 0xff], 24) ^ k[1];
        const uint32_t t2 = te[s2 >> 24] ^ aes_ror(te[(s3 >> 16) & 0xff], 8) ^
                            aes_ror(te[(s0 >> 8) & 0xff], 16) ^ aes_ror(te[s1 & 0xff], 24) ^ k[2];
        const uint32_t t3 = te[s3 >> 24] ^ aes_ror(te[(s0 >> 16) & 0xff], 8) ^
                            aes_ror(te[(s1 >> 8) & 0xff], 16) ^ aes_ror(te[s2 & 0xff], 24) ^ k[3];
        s0 = t0;
        s1 = t1;
        s2 = t2;
        s3 = t3;
    }
    const uint32_t *k = rk + 40;
    s[0] = ((uint32_t)sb[s0 >> 24] << 24 | (uint32_t)sb[(s1 >> 16) & 0xff] << 16 |
            (uint32_t)sb[(s2 >> 8) & 0xff] << 8 | (uint32_t)sb[s3 & 0xff]) ^
           k[0];
    s[1] = ((uint32_t)sb[s1 >> 24] << 24 | (uint32_t)sb[(s2 >> 16) & 0xff] << 16 |
            (uint32_t)sb[(s3 >> 8) & 0xff] << 8 | (uint32_t)sb[s0 & 0xff]) ^
           k[1];
    s[2] = ((uint32_t)sb[s2 >> 24] << 24 | (uint32_t)sb[(s3 >> 16) & 0xff] << 16 |
            (uint32_t)sb[(s0 >> 8) & 0xff] << 8 | (uint32_t)sb[s1 & 0xff]) ^
           k[2];
    s[3] = ((uint32_t)sb[s3 >> 24] << 24 | (uint32_t)sb[(s0 >> 16) & 0xff] << 16 |
            (uint32_t)sb[(s1 >> 8) & 0xff] << 8 | (uint32_t)sb[s2 & 0xff]) ^
           k[3];
}

/* H_k(x) = AES_k(σ(x)) ⊕ σ(x) on a block of two little-endian words, with
 * σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L and x_L = hi (kernels/aes.h): σ's low
 * word is hi, its high word hi ⊕ lo. */
__host__ __device__ static inline void aes_mmo_words(const cuda_aes_tables_t *T, const uint32_t *rk,
                                                     uint64_t lo, uint64_t hi, uint64_t *out_lo,
                                                     uint64_t *out_hi)
{
    const uint64_t sl = hi, sh = hi ^ lo;
    uint32_t s[4] = {aes_bswap((uint32_t)sl), aes_bswap((uint32_t)(sl >> 32)),
                     aes_bswap((uint32_t)sh), aes_bswap((uint32_t)(sh >> 32))};
    aes_encrypt_words(T, rk, s);
    *out_lo = ((uint64_t)aes_bswap(s[0]) | (uint64_t)aes_bswap(s[1]) << 32) ^ sl;
    *out_hi = ((uint64_t)aes_bswap(s[2]) | (uint64_t)aes_bswap(s[3]) << 32) ^ sh;
}

#endif
