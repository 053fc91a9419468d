/* tests/kernels/test_aes.c - the AES-NI kernels against FIPS-197 and
 * OpenSSL, and the MMO hash against a straightforward model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "kernels/aes.h"
#include "mpc/prg.h"

/* OpenSSL's AES-128-ECB of nblocks, the reference. */
static void ossl_ecb(const uint8_t key[16], uint8_t *out, const uint8_t *in, size_t nblocks)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL), 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    int got = 0;
    assert_int_equal(EVP_EncryptUpdate(c, out, &got, in, (int)(16 * nblocks)), 1);
    assert_int_equal(got, (int)(16 * nblocks));
    EVP_CIPHER_CTX_free(c);
}

static void test_aes_matches_fips197_vector(void **state)
{
    (void)state;
    /* FIPS-197 Appendix C.1, AES-128. */
    static const uint8_t key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    static const uint8_t pt[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    static const uint8_t ct[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                   0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
    /* Appendix A.1: the last round key of the key 2b7e1516... */
    static const uint8_t key_a1[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                       0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    static const uint8_t rk10_a1[16] = {0xd0, 0x14, 0xf9, 0xa8, 0xc9, 0xee, 0x25, 0x89,
                                        0xe1, 0x3f, 0x0c, 0xc8, 0xb6, 0x63, 0x0c, 0xa6};
    aes_key_t k;
    aes_key_expand(&k, key);
    uint8_t out[16];
    aes_encrypt(&k, out, pt, 1);
    assert_memory_equal(out, ct, 16);
    aes_key_expand(&k, key_a1);
    assert_memory_equal(k.rk[10], rk10_a1, 16);
}

static void test_aes_matches_openssl_on_random_blocks(void **state)
{
    (void)state;
    uint8_t seed[PRG_SEED_BYTES] = {7};
    prg_t *prg = prg_new(seed, 1);
    assert_non_null(prg);
    enum { MAXB = 37 };
    uint8_t key[16], in[16 * MAXB], got[16 * MAXB], want[16 * MAXB];
    for (int trial = 0; trial < 200; trial++) {
        size_t nb = 1 + (size_t)trial % MAXB; /* every tail length around 8 */
        prg_bytes(prg, key, sizeof key);
        prg_bytes(prg, in, 16 * nb);
        aes_key_t k;
        aes_key_expand(&k, key);
        aes_encrypt(&k, got, in, nb);
        ossl_ecb(key, want, in, nb);
        assert_memory_equal(got, want, 16 * nb);
        aes_encrypt(&k, in, in, nb); /* in place */
        assert_memory_equal(in, want, 16 * nb);
    }
    prg_free(&prg);
}

static void test_aes_mmo_keys_are_sha256_of_labels(void **state)
{
    (void)state;
    for (int i = 0; i < AES_MMO_KEYS; i++) {
        char label[32];
        snprintf(label, sizeof label, "mpcllm/fss/mmo/k%d", i);
        uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256((const uint8_t *)label, strlen(label), d);
        assert_memory_equal(aes_mmo_fixed_key(i), d, 16);
    }
}

/* H_k(x) = AES_k(σ(x)) ⊕ σ(x), σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L, written
 * out on the words. */
static aes_block_t model_mmo(int key, aes_block_t x)
{
    aes_block_t sx = {.lo = x.hi, .hi = x.hi ^ x.lo}, y;
    ossl_ecb(aes_mmo_fixed_key(key), (uint8_t *)&y, (const uint8_t *)&sx, 1);
    y.lo ^= sx.lo;
    y.hi ^= sx.hi;
    return y;
}

/* Both paths (AES-NI, and VAES where the CPU has it) on every group and
 * tail length, with keys mixed inside one call. */
static void test_aes_mmo_hash_matches_model_with_mixed_keys(void **state)
{
    (void)state;
    uint8_t seed[PRG_SEED_BYTES] = {9};
    prg_t *prg = prg_new(seed, 2);
    assert_non_null(prg);
    aes_mmo_t g;
    aes_mmo_init(&g);
    const int have_vaes = g.vaes;
    enum { N = 45 };
    aes_block_t in[N], out[N], again[N];
    uint8_t sel[N];
    static const size_t lens[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, N};
    for (int path = 0; path <= have_vaes; path++) {
        g.vaes = path;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            size_t n = lens[li];
            prg_bytes(prg, in, sizeof in);
            prg_bytes(prg, sel, sizeof sel);
            for (int i = 0; i < N; i++)
                sel[i] %= AES_MMO_KEYS;
            aes_mmo_hash(&g, out, in, sel, n);
            for (size_t i = 0; i < n; i++) {
                aes_block_t want = model_mmo(sel[i], in[i]);
                assert_memory_equal(&out[i], &want, 16);
            }
            memcpy(again, in, sizeof in);
            aes_mmo_hash(&g, again, again, sel, n); /* in place */
            assert_memory_equal(again, out, n * sizeof *out);
        }
    }
    /* The feed-forward matters: H is not the bare permutation. */
    aes_block_t bare;
    ossl_ecb(aes_mmo_fixed_key(sel[0]), (uint8_t *)&bare, (const uint8_t *)&in[0], 1);
    assert_memory_not_equal(&out[0], &bare, 16);
    if (!have_vaes) fprintf(stderr, "note: no VAES on this CPU; only the AES-NI path ran\n");
    prg_free(&prg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes_matches_fips197_vector),
        cmocka_unit_test(test_aes_matches_openssl_on_random_blocks),
        cmocka_unit_test(test_aes_mmo_keys_are_sha256_of_labels),
        cmocka_unit_test(test_aes_mmo_hash_matches_model_with_mixed_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
