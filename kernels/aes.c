/* kernels/aes.c - AES-128 with AES-NI intrinsics, and the MMO hash of the
 * FSS trees, eight blocks in flight.
 *
 * Only the functions that touch intrinsics carry the target attribute, so
 * the file builds with the project's portable flags and the rest of the
 * library never emits AES instructions.
 */
#include "kernels/aes.h"

#include <immintrin.h>
#include <string.h>

#include "mpc/err.h"

#define AES_TARGET __attribute__((target("aes,sse4.1")))

/* First 16 bytes of SHA-256("mpcllm/fss/mmo/k<i>"). */
static const uint8_t mmo_keys[AES_MMO_KEYS][AES_BLOCK_BYTES] = {
    {0xcb, 0x65, 0xa4, 0xf1, 0x56, 0x89, 0x50, 0xf6, 0xd6, 0xba, 0xb0, 0x95, 0x81, 0xd9, 0x3b,
     0x81},
    {0x77, 0xf4, 0x4c, 0x8f, 0xc6, 0x20, 0x68, 0x96, 0x4e, 0xed, 0x99, 0x9c, 0x9e, 0x37, 0xce,
     0xb1},
    {0x76, 0x51, 0x13, 0xc9, 0x34, 0x67, 0x06, 0xa4, 0x5b, 0xd7, 0x34, 0x3b, 0xb0, 0x0d, 0xce,
     0xc9},
};

/* One step of the key schedule: the next round key from the previous one
 * and AESKEYGENASSIST's output (RotWord/SubWord/Rcon in its top word). */
AES_TARGET static __m128i expand_step(__m128i k, __m128i assist)
{
    assist = _mm_shuffle_epi32(assist, 0xff);
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, assist);
}

AES_TARGET static void expand(aes_key_t *k, const uint8_t key[AES_BLOCK_BYTES])
{
    __m128i r[11];
    r[0] = _mm_loadu_si128((const __m128i *)key);
    /* The round constant must be an immediate, hence the unrolling. */
    r[1] = expand_step(r[0], _mm_aeskeygenassist_si128(r[0], 0x01));
    r[2] = expand_step(r[1], _mm_aeskeygenassist_si128(r[1], 0x02));
    r[3] = expand_step(r[2], _mm_aeskeygenassist_si128(r[2], 0x04));
    r[4] = expand_step(r[3], _mm_aeskeygenassist_si128(r[3], 0x08));
    r[5] = expand_step(r[4], _mm_aeskeygenassist_si128(r[4], 0x10));
    r[6] = expand_step(r[5], _mm_aeskeygenassist_si128(r[5], 0x20));
    r[7] = expand_step(r[6], _mm_aeskeygenassist_si128(r[6], 0x40));
    r[8] = expand_step(r[7], _mm_aeskeygenassist_si128(r[7], 0x80));
    r[9] = expand_step(r[8], _mm_aeskeygenassist_si128(r[8], 0x1b));
    r[10] = expand_step(r[9], _mm_aeskeygenassist_si128(r[9], 0x36));
    for (int i = 0; i < 11; i++)
        _mm_store_si128((__m128i *)k->rk[i], r[i]);
}

void aes_key_expand(aes_key_t *k, const uint8_t key[AES_BLOCK_BYTES])
{
    /* libgcc fills the CPU model in a constructor; no __builtin_cpu_init,
     * which would race between the party threads of one process. */
    MPC_ASSERT(__builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1"));
    expand(k, key);
}

/* Encrypts the m <= AES_LANES blocks of b in place, block j under the round
 * keys rk[j]. The rounds go over all blocks before the next round, so the
 * AESENCs of one round are independent and issue back to back. */
AES_TARGET static inline void encrypt_lanes(__m128i *b, const __m128i *const *rk, size_t m)
{
    for (size_t j = 0; j < m; j++)
        b[j] = _mm_xor_si128(b[j], _mm_load_si128(&rk[j][0]));
    for (int r = 1; r < 10; r++)
        for (size_t j = 0; j < m; j++)
            b[j] = _mm_aesenc_si128(b[j], _mm_load_si128(&rk[j][r]));
    for (size_t j = 0; j < m; j++)
        b[j] = _mm_aesenclast_si128(b[j], _mm_load_si128(&rk[j][10]));
}

AES_TARGET void aes_encrypt(const aes_key_t *k, uint8_t *out, const uint8_t *in, size_t nblocks)
{
    const __m128i *rk = (const __m128i *)k->rk;
    const __m128i *rks[AES_LANES];
    for (int j = 0; j < AES_LANES; j++)
        rks[j] = rk;
    __m128i b[AES_LANES];
    for (size_t i = 0; i < nblocks; i += AES_LANES) {
        size_t m = nblocks - i < AES_LANES ? nblocks - i : AES_LANES;
        for (size_t j = 0; j < m; j++)
            b[j] = _mm_loadu_si128((const __m128i *)(in + (i + j) * AES_BLOCK_BYTES));
        if (m == AES_LANES)
            encrypt_lanes(b, rks, AES_LANES); /* the full group, unrolled */
        else
            encrypt_lanes(b, rks, m);
        for (size_t j = 0; j < m; j++)
            _mm_storeu_si128((__m128i *)(out + (i + j) * AES_BLOCK_BYTES), b[j]);
    }
}

const uint8_t *aes_mmo_fixed_key(int i)
{
    MPC_ASSERT(i >= 0 && i < AES_MMO_KEYS);
    return mmo_keys[i];
}

void aes_mmo_init(aes_mmo_t *g)
{
    for (int i = 0; i < AES_MMO_KEYS; i++)
        aes_key_expand(&g->key[i], mmo_keys[i]);
    for (int a = 0; a < AES_MMO_KEYS; a++)
        for (int b = 0; b < AES_MMO_KEYS; b++)
            for (int r = 0; r < 11; r++) {
                memcpy(g->pair[a * AES_MMO_KEYS + b][r], g->key[a].rk[r], AES_BLOCK_BYTES);
                memcpy(g->pair[a * AES_MMO_KEYS + b][r] + AES_BLOCK_BYTES, g->key[b].rk[r],
                       AES_BLOCK_BYTES);
            }
    g->vaes = __builtin_cpu_supports("vaes") && __builtin_cpu_supports("avx2");
}

/* σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L with x_L the high word: the result's low
 * word is x_L and its high word x_L ⊕ x_R. */
AES_TARGET static inline __m128i sigma(__m128i x)
{
    __m128i swapped = _mm_shuffle_epi32(x, 0x4e);           /* (lo x_L, hi x_R) */
    __m128i high = _mm_and_si128(x, _mm_set_epi64x(-1, 0)); /* (lo 0, hi x_L) */
    return _mm_xor_si128(swapped, high);
}

AES_TARGET static void mmo_hash_ni(const aes_mmo_t *g, aes_block_t *out, const aes_block_t *in,
                                   const uint8_t *sel, size_t n)
{
    const __m128i *rks[AES_LANES];
    __m128i b[AES_LANES], s[AES_LANES];
    for (size_t i = 0; i < n; i += AES_LANES) {
        size_t m = n - i < AES_LANES ? n - i : AES_LANES;
        for (size_t j = 0; j < m; j++) {
            MPC_ASSERT(sel[i + j] < AES_MMO_KEYS);
            rks[j] = (const __m128i *)g->key[sel[i + j]].rk;
            s[j] = sigma(_mm_loadu_si128((const __m128i *)&in[i + j]));
            b[j] = s[j];
        }
        if (m == AES_LANES)
            encrypt_lanes(b, rks, AES_LANES);
        else
            encrypt_lanes(b, rks, m);
        for (size_t j = 0; j < m; j++)
            _mm_storeu_si128((__m128i *)&out[i + j], _mm_xor_si128(b[j], s[j]));
    }
}

#define VAES_TARGET __attribute__((target("vaes,avx2,aes,sse4.1")))

/* σ on both 128-bit halves of a 256-bit register. */
VAES_TARGET static inline __m256i sigma2(__m256i x)
{
    __m256i swapped = _mm256_shuffle_epi32(x, 0x4e);
    __m256i high = _mm256_and_si256(x, _mm256_set_epi64x(-1, 0, -1, 0));
    return _mm256_xor_si256(swapped, high);
}

/* The MMO hash two blocks per register, AES_LANES registers in flight;
 * block pair (2p, 2p+1) runs under the key pair (sel[2p], sel[2p+1]). */
VAES_TARGET static void mmo_hash_vaes(const aes_mmo_t *g, aes_block_t *out, const aes_block_t *in,
                                      const uint8_t *sel, size_t n)
{
    const __m256i *rks[AES_LANES];
    __m256i b[AES_LANES], s[AES_LANES];
    const size_t npair = n / 2;
    for (size_t i = 0; i < npair; i += AES_LANES) {
        size_t m = npair - i < AES_LANES ? npair - i : AES_LANES;
        for (size_t j = 0; j < m; j++) {
            const uint8_t a = sel[2 * (i + j)], c = sel[2 * (i + j) + 1];
            MPC_ASSERT(a < AES_MMO_KEYS && c < AES_MMO_KEYS);
            rks[j] = (const __m256i *)g->pair[a * AES_MMO_KEYS + c];
            s[j] = sigma2(_mm256_loadu_si256((const __m256i *)&in[2 * (i + j)]));
            b[j] = _mm256_xor_si256(s[j], _mm256_load_si256(&rks[j][0]));
        }
        for (int r = 1; r < 10; r++)
            for (size_t j = 0; j < m; j++)
                b[j] = _mm256_aesenc_epi128(b[j], _mm256_load_si256(&rks[j][r]));
        for (size_t j = 0; j < m; j++) {
            b[j] = _mm256_aesenclast_epi128(b[j], _mm256_load_si256(&rks[j][10]));
            _mm256_storeu_si256((__m256i *)&out[2 * (i + j)], _mm256_xor_si256(b[j], s[j]));
        }
    }
    if (n % 2) mmo_hash_ni(g, out + n - 1, in + n - 1, sel + n - 1, 1);
}

void aes_mmo_hash(const aes_mmo_t *g, aes_block_t *out, const aes_block_t *in, const uint8_t *sel,
                  size_t n)
{
    if (g->vaes)
        mmo_hash_vaes(g, out, in, sel, n);
    else
        mmo_hash_ni(g, out, in, sel, n);
}
