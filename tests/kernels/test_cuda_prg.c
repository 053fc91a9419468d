/* tests/kernels/test_cuda_prg.c - AES-CTR expansion on the device against
 * mpc/prg.c's streams (OpenSSL EVP).
 *
 * Fresh seeds (a printed random seed draws them), streams 0, random and
 * with the top bit set, read from block 0 and from seeks, at lengths that
 * end inside a thread block and past a full grid; device output poisoned
 * before the kernel and the host copy before the download; the comparison
 * with prg_seek + prg_bytes is byte for byte (reported by 64-bit word). A
 * 256 MiB expansion is timed with device events, as information. Every call
 * that reaches CUDA is checked.
 *
 * Without a CUDA device, or without CUDA in the build, the test exits 77,
 * which CTest reports as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cudatest.h"

#include "kernels/aes.h"
#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "mpc/prg.h"


/* Device keystream of (seed, stream) from block0, nblocks long, into got. */
static void expand_dev(fixture_t *fx, uint64_t *got, const uint8_t seed[PRG_SEED_BYTES],
                       uint64_t stream, uint64_t block0, size_t nblocks)
{
    dev_ctx_t *d = fx->d;
    aes_key_t key;
    aes_key_expand(&key, seed);
    size_t mark = dev_mark(d);
    uint8_t *go = dev_alloc(d, nblocks * 16);
    assert_non_null(go);
    DEV_OK(d, dev_fill(d, go, 0xa5, nblocks * 16));
    DEV_OK(d, cuda_prg_expand(d, go, &key, stream, block0, nblocks));
    for (size_t i = 0; i < 2 * nblocks; i++)
        got[i] = POISON;
    DEV_OK(d, dev_download(d, got, go, nblocks * 16));
    dev_reset(d, mark);
    memset(&key, 0, sizeof key);
}

static void test_cuda_prg_matches_openssl_stream(void **state)
{
    fixture_t *fx = *state;
    static const size_t lengths[] = {1, 255, 256, 1000, ((size_t)65536 * 256) + 3};
    static const uint64_t starts[] = {0, 1, 12345};
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++)
        for (size_t si = 0; si < sizeof starts / sizeof *starts; si++) {
            const size_t nb = lengths[li];
            uint8_t seed[PRG_SEED_BYTES];
            uint64_t stream;
            prg_bytes(fx->g, seed, sizeof seed);
            prg_u64(fx->g, &stream, 1);
            if (si == 0) stream = 0;
            if (si == 2) stream |= (uint64_t)1 << 63;
            uint64_t *got = malloc(nb * 16), *want = malloc(nb * 16);
            assert_true(got && want);
            expand_dev(fx, got, seed, stream, starts[si], nb);
            prg_t *p = prg_new(seed, stream);
            assert_non_null(p);
            prg_seek(p, 16 * starts[si]);
            prg_bytes(p, want, nb * 16);
            prg_free(&p);
            for (size_t i = 0; i < 2 * nb; i++)
                if (got[i] != want[i])
                    fail_msg("prg stream %016llx from block %llu, %zu blocks: word %zu: device "
                             "%016llx, openssl %016llx",
                             (unsigned long long)stream, (unsigned long long)starts[si], nb, i,
                             (unsigned long long)got[i], (unsigned long long)want[i]);
            free(got);
            free(want);
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_cuda_prg_throughput(void **state)
{
    fixture_t *fx = *state;
    dev_ctx_t *d = fx->d;
    const size_t bytes = (size_t)256 << 20;
    uint8_t seed[PRG_SEED_BYTES];
    prg_bytes(fx->g, seed, sizeof seed);
    aes_key_t key;
    aes_key_expand(&key, seed);
    size_t mark = dev_mark(d);
    uint8_t *go = dev_alloc(d, bytes);
    assert_non_null(go);
    double ms[5];
    for (int r = 0; r < 5; r++) {
        DEV_OK(d, dev_timer_start(d));
        DEV_OK(d, cuda_prg_expand(d, go, &key, 9, 0, bytes / 16));
        DEV_OK(d, dev_timer_stop(d, &ms[r]));
    }
    qsort(ms, 5, sizeof *ms, cmp_double);
    /* The last block of the last run, against the CPU stream. */
    uint64_t got[2], want[2];
    DEV_OK(d, dev_download(d, got, go + bytes - 16, 16));
    prg_t *p = prg_new(seed, 9);
    assert_non_null(p);
    prg_seek(p, bytes - 16);
    prg_bytes(p, want, 16);
    prg_free(&p);
    assert_memory_equal(got, want, 16);
    printf("# cuda prg on %s: %zu MiB in %.3f ms, %.1f GB/s (median of 5)\n", dev_name(d),
           bytes >> 20, ms[2], (double)bytes / (ms[2] * 1e6));
    dev_reset(d, mark);
    memset(&key, 0, sizeof key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_prg_matches_openssl_stream),
        cmocka_unit_test(test_cuda_prg_throughput),
    };
    CUDA_RUN_GROUP(tests);
}
