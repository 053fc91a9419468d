/* tests/kernels/test_cuda_fss.c - batched DPF/DCF evaluation on the device
 * against protocols/fss.c's evaluation.
 *
 * Fresh keys (from a printed random seed) for DPFs and DCFs with Z_2 and
 * Z_2^64 outputs, at input widths 1 to 64 (key sizes that leave the keys
 * unaligned, and aligned ones), evaluated by both parties on random inputs
 * and on the edges α, α - 1, α + 1, 0 and 2^n - 1. The device output buffer
 * is poisoned before the kernel and the host copy before the download; the
 * comparison with fss_d{p,c}f_eval_batch is element for element, and the
 * parties' device outputs must also reconstruct f(x). Then a 64-bit DCF
 * batch is timed on both paths, as information (evaluations per second).
 * Every call that reaches CUDA is checked.
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
#include "mpc/stats.h"
#include "protocols/fss.h"


static void poison(uint64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = POISON;
}

/* Evaluates count keys (key_bytes each) on per_key inputs each on the device
 * into out (host). */
static void eval_dev(fixture_t *fx, uint64_t *out, const uint8_t *keys, size_t key_bytes, int nbits,
                     fss_group_t grp, int dcf, const uint64_t *x, size_t count, size_t per_key)
{
    dev_ctx_t *d = fx->d;
    const size_t total = count * per_key;
    size_t mark = dev_mark(d);
    uint8_t *gk = dev_alloc(d, count * key_bytes);
    uint64_t *gx = dev_alloc(d, total * 8), *go = dev_alloc(d, total * 8);
    assert_true(gk && gx && go);
    DEV_OK(d, dev_upload(d, gk, keys, count * key_bytes));
    DEV_OK(d, dev_upload(d, gx, x, total * 8));
    DEV_OK(d, dev_fill(d, go, 0xa5, total * 8));
    DEV_OK(d,
           cuda_fss_eval(d, go, gk, key_bytes, nbits, (int)grp, dcf, gx, count, per_key, &fx->mmo));
    poison(out, total);
    DEV_OK(d, dev_download(d, out, go, total * 8));
    dev_reset(d, mark);
}

static void check_fss(fixture_t *fx, int dcf, fss_group_t grp, int nbits)
{
    const size_t count = 67, per_key = 9, total = count * per_key;
    const uint64_t dom = nbits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << nbits) - 1;
    const size_t kb = dcf ? fss_dcf_key_bytes(nbits, grp) : fss_dpf_key_bytes(nbits, grp);
    uint64_t *alpha = malloc(count * 8), *beta = malloc(count * 8), *x = malloc(total * 8);
    uint64_t *cpu = malloc(total * 8), *gpu[2] = {malloc(total * 8), malloc(total * 8)};
    uint8_t *keys[2] = {malloc(count * kb), malloc(count * kb)};
    assert_true(alpha && beta && x && cpu && gpu[0] && gpu[1] && keys[0] && keys[1]);
    prg_u64(fx->g, alpha, count);
    prg_u64(fx->g, beta, count);
    prg_u64(fx->g, x, total);
    for (size_t i = 0; i < count; i++) {
        alpha[i] &= dom;
        if (grp == FSS_Z2) beta[i] &= 1;
        uint64_t *xi = x + i * per_key;
        const uint64_t edge[5] = {alpha[i], (alpha[i] - 1) & dom, (alpha[i] + 1) & dom, 0, dom};
        for (size_t j = 0; j < per_key; j++)
            xi[j] = j < 5 ? edge[j] : xi[j] & dom;
    }
    if (dcf)
        fss_dcf_gen_batch(keys[0], keys[1], nbits, grp, alpha, beta, count, fx->g);
    else
        fss_dpf_gen_batch(keys[0], keys[1], nbits, grp, alpha, beta, count, fx->g);
    for (int p = 0; p < 2; p++) {
        eval_dev(fx, gpu[p], keys[p], kb, nbits, grp, dcf, x, count, per_key);
        if (dcf)
            fss_dcf_eval_batch(cpu, keys[p], nbits, grp, x, count, per_key);
        else
            fss_dpf_eval_batch(cpu, keys[p], nbits, grp, x, count, per_key);
        for (size_t e = 0; e < total; e++)
            if (gpu[p][e] != cpu[e])
                fail_msg("%s %s n=%d P%d: evaluation %zu: device %016llx, cpu %016llx",
                         dcf ? "dcf" : "dpf", grp == FSS_Z2 ? "Z2" : "Z64", nbits, p, e,
                         (unsigned long long)gpu[p][e], (unsigned long long)cpu[e]);
    }
    for (size_t e = 0; e < total; e++) {
        const uint64_t a = alpha[e / per_key], b = beta[e / per_key];
        const uint64_t want = dcf ? (x[e] < a ? b : 0) : (x[e] == a ? b : 0);
        const uint64_t got = grp == FSS_Z2 ? gpu[0][e] ^ gpu[1][e] : gpu[0][e] + gpu[1][e];
        if (got != want)
            fail_msg("%s n=%d: evaluation %zu does not reconstruct f(x)", dcf ? "dcf" : "dpf",
                     nbits, e);
    }
    for (int p = 0; p < 2; p++) {
        free(gpu[p]);
        free(keys[p]);
    }
    free(alpha);
    free(beta);
    free(x);
    free(cpu);
}

static const int widths[] = {1, 2, 7, 8, 13, 24, 37, 63, 64};
#define N_WIDTHS (sizeof widths / sizeof widths[0])

static void test_cuda_dpf_matches_cpu_eval(void **state)
{
    for (size_t w = 0; w < N_WIDTHS; w++) {
        check_fss(*state, 0, FSS_Z2, widths[w]);
        check_fss(*state, 0, FSS_Z64, widths[w]);
    }
}

static void test_cuda_dcf_matches_cpu_eval(void **state)
{
    for (size_t w = 0; w < N_WIDTHS; w++) {
        check_fss(*state, 1, FSS_Z2, widths[w]);
        check_fss(*state, 1, FSS_Z64, widths[w]);
    }
}

/* 2^18 evaluations of 64-bit Z_2^64 DCFs (one input per key, as a
 * comparison layer has), on both paths: device time by events, kernel only,
 * against the CPU's batched evaluation; the outputs agree. */
static void test_cuda_dcf_throughput_against_cpu(void **state)
{
    fixture_t *fx = *state;
    dev_ctx_t *d = fx->d;
    const int nbits = 64;
    const size_t count = (size_t)1 << 18, kb = fss_dcf_key_bytes(nbits, FSS_Z64);
    uint64_t *alpha = malloc(count * 8), *beta = malloc(count * 8), *x = malloc(count * 8);
    uint64_t *cpu = malloc(count * 8), *gpu = malloc(count * 8);
    uint8_t *k0 = malloc(count * kb), *k1 = malloc(count * kb);
    assert_true(alpha && beta && x && cpu && gpu && k0 && k1);
    prg_u64(fx->g, alpha, count);
    prg_u64(fx->g, beta, count);
    prg_u64(fx->g, x, count);
    fss_dcf_gen_batch(k0, k1, nbits, FSS_Z64, alpha, beta, count, fx->g);
    double t0 = stats_now();
    fss_dcf_eval_batch(cpu, k0, nbits, FSS_Z64, x, count, 1);
    const double cpu_s = stats_now() - t0;

    size_t mark = dev_mark(d);
    uint8_t *gk = dev_alloc(d, count * kb);
    uint64_t *gx = dev_alloc(d, count * 8), *go = dev_alloc(d, count * 8);
    assert_true(gk && gx && go);
    DEV_OK(d, dev_upload(d, gk, k0, count * kb));
    DEV_OK(d, dev_upload(d, gx, x, count * 8));
    DEV_OK(d, dev_fill(d, go, 0xa5, count * 8));
    double ms = 0;
    DEV_OK(d, dev_timer_start(d));
    DEV_OK(d, cuda_fss_eval(d, go, gk, kb, nbits, FSS_Z64, 1, gx, count, 1, &fx->mmo));
    DEV_OK(d, dev_timer_stop(d, &ms));
    poison(gpu, count);
    DEV_OK(d, dev_download(d, gpu, go, count * 8));
    dev_reset(d, mark);
    for (size_t e = 0; e < count; e++)
        if (gpu[e] != cpu[e]) fail_msg("dcf throughput run: evaluation %zu differs", e);
    printf("# dcf n=64 Z64, %zu evaluations: cpu %.3g eval/s, %s %.3g eval/s (kernel only)\n",
           count, (double)count / cpu_s, dev_name(d), (double)count / (ms * 1e-3));
    free(alpha);
    free(beta);
    free(x);
    free(cpu);
    free(gpu);
    free(k0);
    free(k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_dpf_matches_cpu_eval),
        cmocka_unit_test(test_cuda_dcf_matches_cpu_eval),
        cmocka_unit_test(test_cuda_dcf_throughput_against_cpu),
    };
    CUDA_RUN_GROUP(tests);
}
