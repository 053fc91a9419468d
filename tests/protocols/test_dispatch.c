/* tests/protocols/test_dispatch.c - the protocols' local arithmetic through
 * kernels/dev.h's dispatchers, where no device is forced: choosing the path
 * (dev_select) with its one log line, and the protocols on the chosen path
 * giving the CPU's shares bit for bit and the plaintext results exactly.
 *
 * Runs everywhere: without CUDA in the build, with CUDA but no device (the
 * CPU runs, and the log line says why), and on a GPU machine (the default
 * threshold sends only the large jobs there). tests/protocols/
 * test_cuda_dispatch.c forces every job onto a device.
 */
#include "dispatchtest.h"

#include "kernels/dev.h"

static const dt_shape_t shape = {
    .n = 1000, .m = 3, .k = 64, .rows = {48, 17}, .ym = 2, .yr = 20, .yc = 16};

/* The lines written to log since it was made, into buf. */
static size_t log_read(FILE *log, char *buf, size_t cap)
{
    rewind(log);
    size_t n = fread(buf, 1, cap - 1, log);
    buf[n] = '\0';
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_dispatch_use_parse_takes_cpu_auto_cuda_only(void **state)
{
    (void)state;
    dev_use_t u = DEV_USE_AUTO;
    assert_int_equal(dev_use_parse("cpu", &u), 0);
    assert_int_equal(u, DEV_USE_CPU);
    assert_int_equal(dev_use_parse("cuda", &u), 0);
    assert_int_equal(u, DEV_USE_CUDA);
    assert_int_equal(dev_use_parse("auto", &u), 0);
    assert_int_equal(u, DEV_USE_AUTO);
    assert_int_equal(dev_use_parse("gpu", &u), -1);
    assert_int_equal(dev_use_parse("CUDA", &u), -1);
    assert_int_equal(dev_use_parse("", &u), -1);
    assert_int_equal(dev_use_parse(NULL, &u), -1);
    assert_int_equal(u, DEV_USE_AUTO);
}

static void test_dispatch_select_cpu_gives_no_device_and_says_so_once(void **state)
{
    (void)state;
    FILE *log = tmpfile();
    assert_non_null(log);
    dev_ctx_t *d = NULL;
    char why[DEV_ERR_BYTES], buf[1024];
    assert_int_equal(dev_select(&d, DEV_USE_CPU, (size_t)1 << 20, log, "P0", why), MPC_OK);
    assert_null(d);
    log_read(log, buf, sizeof buf);
    assert_string_equal(buf, "P0: device cpu (--device cpu)\n");
    fclose(log);
}

/* Without a usable device, auto falls back to the CPU and logs why (no CUDA
 * in the build, or none visible), and cuda fails with that reason, logging
 * nothing: the program prints it and exits 1. */
static void test_dispatch_select_without_device_falls_back_or_fails(void **state)
{
    (void)state;
    char none[DEV_ERR_BYTES];
    if (dev_count(none) > 0) {
        printf("# a device is present: nothing to fall back from\n");
        skip();
    }
    const char *reason = dev_built() ? "no CUDA device" : "no CUDA in this build";
    assert_non_null(strstr(none, reason));

    FILE *log = tmpfile();
    assert_non_null(log);
    dev_ctx_t *d = NULL;
    char why[DEV_ERR_BYTES], buf[1024], want[DEV_ERR_BYTES + 64];
    assert_int_equal(dev_select(&d, DEV_USE_AUTO, (size_t)1 << 20, log, "P1", why), MPC_OK);
    assert_null(d);
    log_read(log, buf, sizeof buf);
    snprintf(want, sizeof want, "P1: device cpu: %s\n", none);
    assert_string_equal(buf, want);

    assert_int_equal(dev_select(&d, DEV_USE_CUDA, (size_t)1 << 20, log, "P1", why), MPC_EDEVICE);
    assert_null(d);
    assert_string_equal(why, none);
    assert_int_equal(log_read(log, buf, sizeof buf), strlen(want)); /* nothing more */
    assert_int_equal(count_lines(buf), 1);
    fclose(log);
}

/* Each role on the path dev_select(auto) picks for it: the shares equal a
 * run with no device, element for element, and open to the plaintext. */
static void test_dispatch_protocols_on_chosen_path_match_cpu_bit_for_bit(void **state)
{
    (void)state;
    uint8_t seed[PRG_SEED_BYTES];
    dt_seed(seed);
    dt_case_t *c = dt_case_new(&shape);
    dev_ctx_t *none[3] = {NULL, NULL, NULL}, *dev[3] = {NULL, NULL, NULL};
    static const char *const who[3] = {"P0", "P1", "dealer"};
    char why[DEV_ERR_BYTES];
    for (int p = 0; p < 3; p++)
        assert_int_equal(dev_select(&dev[p], DEV_USE_AUTO, (size_t)64 << 20, stdout, who[p], why),
                         MPC_OK);
    dt_out_t *cpu = dt_out_new(&shape), *chosen = dt_out_new(&shape);
    dt_run(c, cpu, none, seed);
    dt_run(c, chosen, dev, seed);
    dt_matches_plain(c, cpu, seed);
    dt_same_shares(c, chosen, cpu);
    for (int p = 0; p < 3; p++)
        dev_free(&dev[p]);
    dt_out_free(cpu);
    dt_out_free(chosen);
    dt_case_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_use_parse_takes_cpu_auto_cuda_only),
        cmocka_unit_test(test_dispatch_select_cpu_gives_no_device_and_says_so_once),
        cmocka_unit_test(test_dispatch_select_without_device_falls_back_or_fails),
        cmocka_unit_test(test_dispatch_protocols_on_chosen_path_match_cpu_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
