/* tests/mpc/test_fxp.c - fixed-point encoding, share tensors and PRG streams. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "mpc/fxp.h"
#include "mpc/tensor.h"

static void test_fxp_encode_decode_edges(void **state)
{
    (void)state;
    for (int f = FXP_FRAC_BITS_MIN; f <= FXP_FRAC_BITS_MAX; f++) {
        double ulp = ldexp(1.0, -f);
        assert_int_equal(fxp_encode(0.0, f), 0);
        assert_int_equal(fxp_encode(ulp, f), 1);
        assert_int_equal(fxp_encode(-ulp, f), UINT64_MAX);
        assert_true(fxp_decode(1, f) == ulp);
        assert_true(fxp_decode(UINT64_MAX, f) == -ulp);
        assert_true(fxp_decode(fxp_encode(-3.25, f), f) == -3.25);
        /* the extremes of the ring */
        assert_int_equal(fxp_encode(fxp_min(f), f), (uint64_t)1 << 63);
        assert_true(fxp_decode((uint64_t)1 << 63, f) == fxp_min(f));
        assert_int_equal(fxp_encode(1e300, f), (uint64_t)INT64_MAX);
        assert_int_equal(fxp_encode(-1e300, f), (uint64_t)1 << 63);
        assert_true(fabs(fxp_decode((uint64_t)INT64_MAX, f) - fxp_max(f)) <= ulp);
        assert_int_equal(fxp_encode(NAN, f), 0);
        /* rounding to nearest */
        assert_int_equal(fxp_encode(0.49 * ulp, f), 0);
        assert_int_equal(fxp_encode(0.51 * ulp, f), 1);
        assert_int_equal(fxp_encode(-0.51 * ulp, f), UINT64_MAX);
    }
    assert_int_equal(fxp_signed(UINT64_MAX), -1);
    assert_true(fxp_signed((uint64_t)1 << 63) == INT64_MIN);
}

static void test_tensor_share_reconstruct_round_trip(void **state)
{
    (void)state;
    enum { N = 1000 };
    double x[N], y[N];
    tu_uniform(x, N, -1e6, 1e6);
    x[0] = 0;
    x[1] = ldexp(1, -16);
    x[2] = -ldexp(1, -16);
    x[3] = fxp_min(16);
    x[4] = -12345.5;
    tensor_t *p = tensor_new2(10, 100, 16), *s0 = tensor_new2(10, 100, 16),
             *s1 = tensor_new2(10, 100, 16), *back = tensor_new2(10, 100, 16);
    assert_non_null(p);
    tensor_encode(p, x);
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *g = prg_new(seed, 1);
    tensor_share(s0, s1, p, g);
    prg_free(&g);
    assert_null(g);
    assert_memory_not_equal(s0->data, p->data, N * 8);
    tensor_reconstruct(back, s0, s1);
    assert_memory_equal(back->data, p->data, N * 8);
    tensor_decode(back, y);
    for (int i = 0; i < N; i++) assert_true(fabs(y[i] - x[i]) <= ldexp(1, -17));
    tensor_free(&p);
    tensor_free(&s0);
    tensor_free(&s1);
    tensor_free(&back);
    assert_null(p);
    tensor_free(&p); /* NULL is fine */
}

static void test_prg_same_seed_and_stream_give_same_bytes(void **state)
{
    (void)state;
    uint8_t seed[16];
    tu_seed(seed);
    prg_t *a = prg_new(seed, 42), *b = prg_new(seed, 42), *c = prg_new(seed, 43);
    uint64_t x[1000], y[1000], z[1000];
    prg_u64(a, x, 1000);
    /* b reads the same stream in odd-sized pieces */
    prg_bytes(b, y, 3);
    prg_bytes(b, (uint8_t *)y + 3, 4093);
    prg_bytes(b, (uint8_t *)y + 4096, 8000 - 4096);
    prg_u64(c, z, 1000);
    assert_memory_equal(x, y, sizeof x);
    assert_memory_not_equal(x, z, sizeof x);
    assert_int_equal(prg_pos(a), 8000);
    /* seeking lands on the same words */
    prg_seek(c, 0);
    prg_seek(b, 8 * 517 + 3);
    uint8_t w[16];
    prg_bytes(b, w, 16);
    assert_memory_equal(w, (uint8_t *)x + 8 * 517 + 3, 16);
    /* a different seed, a different stream */
    uint8_t seed2[16];
    prg_seed_derive(seed2, seed, "p0");
    prg_t *d = prg_new(seed2, 42);
    prg_u64(d, z, 1000);
    assert_memory_not_equal(x, z, sizeof x);
    prg_free(&a);
    prg_free(&b);
    prg_free(&c);
    prg_free(&d);
}

static void test_prg_known_answer_is_aes_ctr(void **state)
{
    (void)state;
    /* FIPS-197 C.1 key with a zero counter block: the first block of the
     * stream (seed = key, stream 0) is AES_k(0^128). */
    uint8_t key[16];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    static const uint8_t want[16] = {0xc6, 0xa1, 0x3b, 0x37, 0x87, 0x8f, 0x5b, 0x82,
                                     0x6f, 0x4f, 0x81, 0x62, 0xa1, 0xc8, 0xd8, 0x79};
    prg_t *p = prg_new(key, 0);
    uint8_t got[16];
    prg_bytes(p, got, 16);
    prg_free(&p);
    assert_memory_equal(got, want, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fxp_encode_decode_edges),
        cmocka_unit_test(test_tensor_share_reconstruct_round_trip),
        cmocka_unit_test(test_prg_same_seed_and_stream_give_same_bytes),
        cmocka_unit_test(test_prg_known_answer_is_aes_ctr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
