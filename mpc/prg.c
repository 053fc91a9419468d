/* mpc/prg.c - AES-128-CTR streams over OpenSSL EVP.
 *
 * The EVP context is set up once per stream. Reads are served from the
 * cipher's keystream by encrypting a zero buffer; a seek re-initialises the
 * IV at the block holding the offset and discards the partial block.
 */
#include "mpc/prg.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct prg {
    EVP_CIPHER_CTX *evp;
    uint8_t seed[PRG_SEED_BYTES];
    uint64_t stream;
    uint64_t pos;
};

static const uint8_t zeros[4096];

void prg_seed_random(uint8_t seed[PRG_SEED_BYTES])
{
    MPC_ASSERT(sodium_init() >= 0);
    randombytes_buf(seed, PRG_SEED_BYTES);
}

void prg_seed_derive(uint8_t out[PRG_SEED_BYTES], const uint8_t seed[PRG_SEED_BYTES],
                     const char *label)
{
    MPC_ASSERT(sodium_init() >= 0);
    crypto_generichash(out, PRG_SEED_BYTES, (const unsigned char *)label, strlen(label), seed,
                       PRG_SEED_BYTES);
}

static void prg_set_iv(prg_t *p, uint64_t block)
{
    uint8_t iv[16];
    for (int i = 0; i < 8; i++) {
        iv[i] = (uint8_t)(p->stream >> (56 - 8 * i));
        iv[8 + i] = (uint8_t)(block >> (56 - 8 * i));
    }
    MPC_ASSERT(EVP_EncryptInit_ex(p->evp, EVP_aes_128_ctr(), NULL, p->seed, iv) == 1);
}

prg_t *prg_new(const uint8_t seed[PRG_SEED_BYTES], uint64_t stream)
{
    prg_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->evp = EVP_CIPHER_CTX_new();
    if (!p->evp) {
        free(p);
        return NULL;
    }
    memcpy(p->seed, seed, PRG_SEED_BYTES);
    p->stream = stream;
    prg_set_iv(p, 0);
    return p;
}

void prg_free(prg_t **pp)
{
    if (!pp || !*pp) return;
    prg_t *p = *pp;
    EVP_CIPHER_CTX_free(p->evp); /* clears the key schedule */
    sodium_memzero(p, sizeof *p);
    free(p);
    *pp = NULL;
}

void prg_bytes(prg_t *p, void *out, size_t len)
{
    uint8_t *o = out;
    while (len > 0) {
        int chunk = len > sizeof zeros ? (int)sizeof zeros : (int)len;
        int got = 0;
        MPC_ASSERT(EVP_EncryptUpdate(p->evp, o, &got, zeros, chunk) == 1 && got == chunk);
        o += chunk;
        len -= (size_t)chunk;
        p->pos += (uint64_t)chunk;
    }
}

void prg_u64(prg_t *p, uint64_t *out, size_t n)
{
    prg_bytes(p, out, n * sizeof *out);
}

void prg_seek(prg_t *p, uint64_t off)
{
    prg_set_iv(p, off / 16);
    p->pos = off - off % 16;
    uint8_t skip[16];
    if (off % 16) prg_bytes(p, skip, off % 16);
}

uint64_t prg_pos(const prg_t *p)
{
    return p->pos;
}
