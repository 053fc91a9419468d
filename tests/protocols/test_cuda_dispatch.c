/* tests/protocols/test_cuda_dispatch.c - mul, trunc and matmul with a CUDA
 * device context on both parties and the dealer, against the same run on
 * the CPU, share for share.
 *
 * Fresh random inputs (and a printed test seed for the correlations); every
 * output is poisoned before each run, and each party's shares of every
 * output are compared element for element with the CPU run's, then opened
 * against the plaintext oracles. The threshold is 0, so every job runs on
 * the device: the GEMV (m = 1) and tiled GEMM kernels both ways (nt, nn),
 * Beaver and truncation at lengths that end inside a block. Then the
 * default threshold's choices as the per-call log states them (size and
 * multiply-adds per word copied), and jobs too big for the arena falling
 * back to the CPU with the same bits. A device failure fails the run with
 * its CUDA detail (the protocols return it as MPC_EDEVICE).
 *
 * Without a CUDA device, or without CUDA in the build, the test exits 77,
 * which CTest reports as skipped.
 */
#include "dispatchtest.h"

#include "kernels/dev.h"

#define ARENA ((size_t)256 << 20)

static const dt_shape_t shapes[] = {
    /* GEMVs: one row of input, as a decode step */
    {.n = 4099, .m = 1, .k = 200, .rows = {130, 67}, .ym = 1, .yr = 77, .yc = 64},
    /* tiled products with ragged edges, and element-wise jobs of many blocks */
    {.n = 70001, .m = 9, .k = 96, .rows = {70, 33}, .ym = 5, .yr = 129, .yc = 40},
};

/* One context per role (its own stream on device 0), with threshold
 * min_work and arena bytes of device memory. */
static void devs_new(dev_ctx_t *dev[3], size_t min_work, size_t arena)
{
    for (int p = 0; p < 3; p++) {
        char why[DEV_ERR_BYTES];
        if (dev_new(&dev[p], 0, arena, why) != MPC_OK) fail_msg("dev_new: %s", why);
        dev_set_min_work(dev[p], min_work);
    }
}

static void devs_free(dev_ctx_t *dev[3])
{
    for (int p = 0; p < 3; p++)
        dev_free(&dev[p]);
}

/* Runs the case on the CPU and on dev, and compares. */
static void check_against_cpu(const dt_shape_t *s, dev_ctx_t *const dev[3])
{
    uint8_t seed[PRG_SEED_BYTES];
    dt_seed(seed);
    dt_case_t *c = dt_case_new(s);
    dev_ctx_t *none[3] = {NULL, NULL, NULL};
    dt_out_t *cpu = dt_out_new(s), *gpu = dt_out_new(s);
    dt_run(c, cpu, none, seed);
    dt_run(c, gpu, dev, seed);
    dt_same_shares(c, gpu, cpu);
    dt_matches_plain(c, gpu, seed);
    dt_out_free(cpu);
    dt_out_free(gpu);
    dt_case_free(c);
}

static void test_cuda_dispatch_protocols_on_device_match_cpu_share_for_share(void **state)
{
    (void)state;
    dev_ctx_t *dev[3] = {NULL, NULL, NULL};
    devs_new(dev, 0, ARENA);
    printf("# device %s\n", dev_name(dev[0]));
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        check_against_cpu(&shapes[i], dev);
    devs_free(dev);
}

/* With 64 KiB of arena, the larger jobs cannot be placed: they run on the
 * CPU (the log says so) and the shares are still the CPU's. */
static void test_cuda_dispatch_jobs_too_big_for_the_arena_run_on_cpu(void **state)
{
    (void)state;
    dev_ctx_t *dev[3] = {NULL, NULL, NULL};
    devs_new(dev, 0, (size_t)64 << 10);
    check_against_cpu(&shapes[1], dev);
    devs_free(dev);
}

/* The per-call lines of the log, from dev_select with MPCLLM_DEVICE_LOG=1,
 * and the CPU's bits for every product whichever path it took. */
static void test_cuda_dispatch_default_threshold_weighs_size_and_intensity(void **state)
{
    (void)state;
    struct {
        size_t m, n, k;
        int gpu;
    } jobs[] = {
        {1, 2048, 1024, 0}, /* a GEMV: 2 Mi multiply-adds, but ~1 per word copied */
        {128, 256, 256, 1}, /* 8 Mi multiply-adds, 64 per word copied */
        {16, 16, 16, 0},    /* small */
    };
    const int njobs = (int)(sizeof jobs / sizeof *jobs);
    FILE *log = tmpfile();
    assert_non_null(log);
    assert_int_equal(setenv("MPCLLM_DEVICE_LOG", "1", 1), 0);
    dev_ctx_t *d = NULL;
    char why[DEV_ERR_BYTES];
    mpc_err_t e = dev_select(&d, DEV_USE_CUDA, ARENA, log, "P0", why);
    unsetenv("MPCLLM_DEVICE_LOG");
    if (e) fail_msg("dev_select: %s", why);
    prg_t *g = prg_new((const uint8_t[PRG_SEED_BYTES]){1, 2, 3}, 0);
    assert_non_null(g);
    for (int j = 0; j < njobs; j++) {
        size_t m = jobs[j].m, n = jobs[j].n, k = jobs[j].k;
        uint64_t *A = malloc(m * k * 8), *B = malloc(n * k * 8), *C = dt_poisoned(m * n),
                 *ref = malloc(m * n * 8);
        assert_true(A && B && ref);
        prg_u64(g, A, m * k);
        prg_u64(g, B, n * k);
        ring_gemm_nt(ref, A, B, m, n, k, 0);
        e = dev_ring_gemm_nt(d, C, A, B, m, n, k, 0);
        if (e) fail_msg("dev_ring_gemm_nt: %s", dev_error(d));
        dt_words_equal(C, ref, m * n, "dispatched product");
        free(A);
        free(B);
        free(C);
        free(ref);
    }
    prg_free(&g);
    char line[512];
    rewind(log);
    assert_non_null(fgets(line, sizeof line, log));
    printf("# %s", line);
    assert_non_null(strstr(line, "P0: device "));
    assert_non_null(strstr(line, dev_name(d)));
    for (int j = 0; j < njobs; j++) {
        assert_non_null(fgets(line, sizeof line, log));
        printf("# %s", line);
        assert_non_null(strstr(line, "dev P0: ring_gemm_nt"));
        if (jobs[j].gpu) {
            assert_non_null(strstr(line, dev_name(d)));
        } else {
            assert_non_null(strstr(line, "-> cpu"));
        }
    }
    assert_null(fgets(line, sizeof line, log));
    fclose(log);
    dev_free(&d);

    /* Without MPCLLM_DEVICE_LOG, only the choice of path is logged. */
    log = tmpfile();
    assert_non_null(log);
    assert_int_equal(dev_select(&d, DEV_USE_CUDA, ARENA, log, "P1", why), MPC_OK);
    uint64_t one = 3, out = 0;
    assert_int_equal(dev_ring_gemm_nt(d, &out, &one, &one, 1, 1, 1, 0), MPC_OK);
    assert_int_equal(out, 9);
    rewind(log);
    assert_non_null(fgets(line, sizeof line, log));
    assert_null(fgets(line, sizeof line, log));
    fclose(log);
    dev_free(&d);
}

int main(void)
{
    char why[DEV_ERR_BYTES];
    if (dev_count(why) == 0) {
        printf("skipped: %s\n", why);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuda_dispatch_protocols_on_device_match_cpu_share_for_share),
        cmocka_unit_test(test_cuda_dispatch_jobs_too_big_for_the_arena_run_on_cpu),
        cmocka_unit_test(test_cuda_dispatch_default_threshold_weighs_size_and_intensity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
