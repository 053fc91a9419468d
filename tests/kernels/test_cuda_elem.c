/* tests/kernels/test_cuda_elem.c - Beaver reconstruction and truncation with
 * a known MSB on the device, against elem_beaver and elem_trunc_finish.
 *
 * Fresh random words (the seed is printed), as both parties (the public term
 * belongs to P0 only), at lengths that end inside a block and past a full
 * grid of the grid-stride loops; device outputs are poisoned before the
 * kernel and host copies before the download, and the comparison is element
 * for element. Then the protocol's meaning on top: the two parties' device
 * outputs add up to x*y, and to floor(x / 2^f) plus the rounding carry of r
 * (DESIGN.md §3). Every call that reaches CUDA is checked.
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

#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "kernels/elem.h"
#include "mpc/prg.h"


static const size_t lengths[] = {1, 255, 257, 100003, ((size_t)65536 * 256) + 5};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

static void poison(uint64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = POISON;
}

static void assert_words_equal(const uint64_t *got, const uint64_t *want, size_t n,
                               const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: word %zu of %zu: device %016llx, cpu %016llx", what, i, n,
                     (unsigned long long)got[i], (unsigned long long)want[i]);
}

/* Uploads k host arrays of n words to consecutive device buffers at g. */
static void upload(dev_ctx_t *d, uint64_t *g, uint64_t *const *h, int k, size_t n)
{
    for (int i = 0; i < k; i++)
        DEV_OK(d, dev_upload(d, g + (size_t)i * n, h[i], n * 8));
}

static void test_cuda_beaver_matches_cpu_and_opens_to_product(void **state)
{
    fixture_t *fx = *state;
    dev_ctx_t *d = fx->d;
    for (size_t li = 0; li < N_LENGTHS; li++) {
        const size_t n = lengths[li];
        /* x, y, a, b, c = ab in the clear; party p's shares; the openings. */
        uint64_t *w = malloc(18 * n * 8);
        assert_non_null(w);
        uint64_t *x = w, *y = x + n, *a = y + n, *b = a + n, *e = b + n, *dd = e + n;
        uint64_t *sh[2][3], *z[2], *ref = w + 17 * n;
        for (int p = 0; p < 2; p++) {
            for (int j = 0; j < 3; j++)
                sh[p][j] = w + (6 + 3 * (size_t)p + (size_t)j) * n;
            z[p] = w + (12 + (size_t)p) * n;
        }
        prg_u64(fx->g, x, 4 * n); /* x, y, a, b */
        prg_u64(fx->g, sh[0][0], 3 * n);
        for (size_t i = 0; i < n; i++) {
            const uint64_t full[3] = {a[i] * b[i], a[i], b[i]}; /* c, a, b */
            for (int j = 0; j < 3; j++)
                sh[1][j][i] = full[j] - sh[0][j][i];
            e[i] = x[i] - a[i];
            dd[i] = y[i] - b[i];
        }
        size_t mark = dev_mark(d);
        uint64_t *g = dev_alloc(d, 6 * n * 8);
        assert_non_null(g);
        for (int p = 0; p < 2; p++) {
            uint64_t *const h[5] = {sh[p][0], sh[p][1], sh[p][2], e, dd};
            upload(d, g, h, 5, n);
            DEV_OK(d, dev_fill(d, g + 5 * n, 0xa5, n * 8));
            DEV_OK(d,
                   cuda_beaver(d, g + 5 * n, g, g + n, g + 2 * n, g + 3 * n, g + 4 * n, n, p == 0));
            poison(z[p], n);
            DEV_OK(d, dev_download(d, z[p], g + 5 * n, n * 8));
            elem_beaver(ref, sh[p][0], sh[p][1], sh[p][2], e, dd, n, p == 0);
            char what[64];
            snprintf(what, sizeof what, "beaver P%d n=%zu", p, n);
            assert_words_equal(z[p], ref, n, what);
        }
        for (size_t i = 0; i < n; i++)
            if (z[0][i] + z[1][i] != x[i] * y[i])
                fail_msg("beaver: element %zu does not open to x*y", i);
        dev_reset(d, mark);
        free(w);
    }
}

static void test_cuda_trunc_finish_matches_cpu_and_truncates(void **state)
{
    fixture_t *fx = *state;
    dev_ctx_t *d = fx->d;
    static const int fs[] = {1, 12, 16, 20, 61};
    for (size_t li = 0; li < N_LENGTHS; li++) {
        const size_t n = lengths[li];
        const int f = fs[li % (sizeof fs / sizeof fs[0])];
        uint64_t *w = malloc(12 * n * 8);
        assert_non_null(w);
        /* x (|x| < 2^62), r, the opened c; per party rhi, msb and x, r shares */
        uint64_t *x = w, *r = x + n, *c = r + n, *rhi[2], *msb[2], *xs[2], *out[2], *ref;
        for (int p = 0; p < 2; p++) {
            rhi[p] = w + (3 + (size_t)p) * n;
            msb[p] = w + (5 + (size_t)p) * n;
            xs[p] = w + (7 + (size_t)p) * n;
            out[p] = w + (9 + (size_t)p) * n;
        }
        ref = w + 11 * n;
        prg_u64(fx->g, x, 2 * n);
        prg_u64(fx->g, rhi[0], n);
        prg_u64(fx->g, msb[0], n);
        prg_u64(fx->g, xs[0], n);
        for (size_t i = 0; i < n; i++) {
            x[i] = (uint64_t)((int64_t)x[i] >> 2); /* |x| < 2^61 */
            rhi[1][i] = (r[i] >> f) - rhi[0][i];
            msb[1][i] = (r[i] >> 63) - msb[0][i];
            xs[1][i] = x[i] - xs[0][i];
        }
        /* The opening: c = x + r + 2^62 from both parties' shares (r split
         * into r and 0). */
        elem_trunc_open(c, xs[0], r, n, 1);
        for (size_t i = 0; i < n; i++)
            c[i] += xs[1][i];
        size_t mark = dev_mark(d);
        uint64_t *g = dev_alloc(d, 4 * n * 8);
        assert_non_null(g);
        for (int p = 0; p < 2; p++) {
            uint64_t *const h[3] = {c, rhi[p], msb[p]};
            upload(d, g, h, 3, n);
            DEV_OK(d, dev_fill(d, g + 3 * n, 0xa5, n * 8));
            DEV_OK(d, cuda_trunc_finish(d, g + 3 * n, g, g + n, g + 2 * n, n, f, p == 0));
            poison(out[p], n);
            DEV_OK(d, dev_download(d, out[p], g + 3 * n, n * 8));
            elem_trunc_finish(ref, c, rhi[p], msb[p], n, f, p == 0);
            char what[64];
            snprintf(what, sizeof what, "trunc P%d n=%zu f=%d", p, n, f);
            assert_words_equal(out[p], ref, n, what);
        }
        const uint64_t mask = ((uint64_t)1 << f) - 1;
        for (size_t i = 0; i < n; i++) {
            const uint64_t xp = x[i] + ELEM_TRUNC_OFFSET;
            const uint64_t want =
                (uint64_t)((int64_t)x[i] >> f) + (((xp & mask) + (r[i] & mask)) >> f);
            if (out[0][i] + out[1][i] != want)
                fail_msg("trunc: element %zu (f=%d) is not floor(x/2^f) + carry", i, f);
        }
        dev_reset(d, mark);
        free(w);
    }
}

/* The host-buffer dispatchers on the device give the CPU's bits. */
static void test_cuda_elem_dispatch_matches_cpu(void **state)
{
    fixture_t *fx = *state;
    const size_t n = 4099;
    uint64_t *w = malloc(8 * n * 8);
    assert_non_null(w);
    uint64_t *in = w, *got = w + 6 * n, *ref = w + 7 * n;
    prg_u64(fx->g, in, 6 * n);
    dev_set_min_work(fx->d, 0);
    for (int p = 0; p < 2; p++) {
        poison(got, n);
        DEV_OK(fx->d,
               dev_beaver(fx->d, got, in, in + n, in + 2 * n, in + 3 * n, in + 4 * n, n, p == 0));
        elem_beaver(ref, in, in + n, in + 2 * n, in + 3 * n, in + 4 * n, n, p == 0);
        assert_words_equal(got, ref, n, "dev_beaver");
        poison(got, n);
        DEV_OK(fx->d, dev_trunc_finish(fx->d, got, in, in + n, in + 2 * n, n, 16, p == 0));
        elem_trunc_finish(ref, in, in + n, in + 2 * n, n, 16, p == 0);
        assert_words_equal(got, ref, n, "dev_trunc_finish");
    }
    dev_set_min_work(fx->d, DEV_MIN_WORK);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_beaver_matches_cpu_and_opens_to_product),
        cmocka_unit_test(test_cuda_trunc_finish_matches_cpu_and_truncates),
        cmocka_unit_test(test_cuda_elem_dispatch_matches_cpu),
    };
    CUDA_RUN_GROUP(tests);
}
