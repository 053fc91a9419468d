/* tests/parties/test_prog.c - the public program's KV-cache policy (the
 * wire form in the hellos, party_kv_t) and its checks, in process, and the
 * programs' usage errors for policies, which end before any model or
 * connection is needed. Fast: no generation runs here (test_policy.c runs
 * the policies end to end).
 *
 * - The doubles of the policy (R, S, alpha, the window fraction) come back
 *   bit for bit, including values with no short decimal form, so that the
 *   client, the server and the dealer build the same kv_config_t.
 * - party_prog_check refuses, with a reason that names the flag: R > S for
 *   mpcache, a policy the secure engine does not run (only when secure),
 *   --pad-to with mpcache or h2o, bad clusters, an unknown policy id; it
 *   accepts full, streaming, h2o and mpcache, and the others when not
 *   secure.
 * - mpcllm generate and mpcllm-client exit 2 with one line for the same
 *   mistakes on the command line. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parties/launch.h"
#include "parties/party.h"

static char bindir[1024], scratch[64];

static int group_setup(void **state)
{
    (void)state;
    const char *b = getenv("MPCLLM_BIN");
    snprintf(bindir, sizeof bindir, "%s", b && *b ? b : "bin");
    snprintf(scratch, sizeof scratch, "/tmp/mpcllm-test-prog-XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* A generation program on the stories260K shape (dim 64, hidden 172, 5
 * layers, 8 heads, 4 KV heads, vocab 512, seq_len 512) with policy kv. */
static party_prog_t prog_with(const kv_config_t *kv, int n_prompt, int steps)
{
    model_config_t cfg = {64, 172, 5, 8, 4, 512, 512};
    party_prog_t p;
    memset(&p, 0, sizeof p);
    party_prog_generate(&p, &cfg, 16, steps, n_prompt);
    party_kv_pack(&p.kv, kv);
    return p;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_party_kv_round_trips_every_double_bit_for_bit(void **state)
{
    (void)state;
    kv_config_t kv;
    kv_config_default(&kv);
    kv.policy = KV_MPCACHE;
    kv.budget = 0.1;                    /* no exact binary form */
    kv.static_keep = 1.0 / 3.0;         /* 17 digits to print */
    kv.mpc_alpha = nextafter(0.6, 1.0); /* one ulp off the default */
    kv.mpc_window_frac = 0.2 + 1e-16;   /* a decimal that rounds */
    kv.cluster_coarse = 8;
    kv.cluster_fine = 4;
    kv.sinks = 3;
    kv.mpc_window_min = 9;
    party_prog_t p = prog_with(&kv, 47, 128);
    kv_config_t got;
    char err[CHAN_ERR_BYTES];
    assert_int_equal(party_prog_kv(&p, &got, err), MPC_OK);
    assert_int_equal(got.policy, KV_MPCACHE);
    assert_true(same_bits(got.budget, kv.budget));
    assert_true(same_bits(got.static_keep, kv.static_keep));
    assert_true(same_bits(got.mpc_alpha, kv.mpc_alpha));
    assert_true(same_bits(got.mpc_window_frac, kv.mpc_window_frac));
    assert_false(same_bits(got.mpc_alpha, 0.6));
    assert_int_equal(got.cluster_coarse, 8);
    assert_int_equal(got.cluster_fine, 4);
    assert_int_equal(got.sinks, 3);
    assert_int_equal(got.mpc_window_min, 9);
    assert_int_equal(got.fixed_budget, 0);
    /* the model's dims and the prompt come from the program */
    assert_int_equal(got.n_layers, 5);
    assert_int_equal(got.n_heads, 8);
    assert_int_equal(got.n_kv_heads, 4);
    assert_int_equal(got.head_size, 8);
    assert_int_equal(got.seq_len, 512);
    assert_int_equal(got.prompt_len, 47);
    /* so every role counts the same budget at every step */
    kv.n_layers = 5, kv.n_heads = 8, kv.n_kv_heads = 4, kv.head_size = 8;
    kv.seq_len = 512, kv.prompt_len = 47;
    for (int pos = 47; pos < 128; pos++)
        assert_int_equal(kv_budget_tokens(&got, pos), kv_budget_tokens(&kv, pos));
    /* the program of a plain party_prog_generate is the full cache */
    party_prog_t full;
    memset(&full, 0, sizeof full);
    party_prog_generate(&full, NULL, 16, 64, 1);
    assert_int_equal(full.kv.policy, KV_FULL);
}

/* Asserts that party_prog_check(p, secure) fails and names need. */
static void assert_refused(const party_prog_t *p, int secure, const char *need)
{
    char err[CHAN_ERR_BYTES] = "";
    assert_int_equal(party_prog_check(p, secure, err), MPC_EARG);
    if (!strstr(err, need)) fail_msg("'%s' is not in the reason: %s", need, err);
    assert_null(strchr(err, '\n'));
}

static void test_party_prog_check_refuses_bad_policies_with_a_reason(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    kv_config_t kv;
    kv_config_default(&kv);
    for (int pol = KV_FULL; pol < KV_POLICY_COUNT; pol++) {
        kv.policy = (kv_policy_t)pol;
        party_prog_t p = prog_with(&kv, 47, 128);
        /* every policy runs in the fixed engine; the secure one runs four */
        assert_int_equal(party_prog_check(&p, 0, err), MPC_OK);
        if (party_policy_secure(pol))
            assert_int_equal(party_prog_check(&p, 1, err), MPC_OK);
        else
            assert_refused(&p, 1, "secure engine");
    }
    kv.policy = KV_MPCACHE;
    kv.budget = 0.75;
    party_prog_t p = prog_with(&kv, 47, 128);
    assert_refused(&p, 1, "--static-keep");
    assert_refused(&p, 0, "--static-keep");
    kv.budget = 0.25;
    kv.cluster_coarse = 6; /* not a multiple of 4 */
    kv.cluster_fine = 4;
    p = prog_with(&kv, 47, 128);
    assert_refused(&p, 1, "--clusters");
    kv.cluster_coarse = 8;
    p = prog_with(&kv, 47, 128);
    p.flags |= PROG_PAD;
    assert_refused(&p, 1, "--pad-to");
    assert_refused(&p, 0, "--pad-to");
    p.kv.policy = KV_H2O;
    assert_refused(&p, 1, "--pad-to");
    kv.policy = KV_STREAMING; /* streaming pads */
    p = prog_with(&kv, 47, 128);
    p.flags |= PROG_PAD;
    assert_int_equal(party_prog_check(&p, 1, err), MPC_OK);
    p.kv.policy = 99;
    assert_refused(&p, 1, "unknown");
    assert_refused(&p, 0, "unknown");
    /* the program's own sizes still come first */
    kv.policy = KV_MPCACHE;
    p = prog_with(&kv, 47, 40);
    assert_refused(&p, 1, "steps");
}

/* --- the programs' usage errors ----------------------------------------- */

/* Runs argv with stdout and stderr to files; returns the exit status. */
static int run_io(char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return launch_wait(pid, 20000);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 8192);
    assert_non_null(buf);
    if (f) {
        size_t n = fread(buf, 1, 8191, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void test_policy_usage_errors_exit_2_with_one_line(void **state)
{
    (void)state;
    /* program, then up to 12 arguments, NULL, then what the reason names.
     * The client's flags stop it before it dials anyone. */
    static const char *bad[][15] = {
        {"mpcllm", "generate", "--policy", "mpcache", "--pad-to", "60", NULL, "--pad-to"},
        {"mpcllm", "generate", "--engine", "fixed", "--policy", "mpcache", "--pad-to", "60", NULL,
         "--pad-to"},
        {"mpcllm", "generate", "--policy", "snapkv", "--engine", "secure", NULL, "secure engine"},
        {"mpcllm", "generate", "--policy", "h2o", "--pad-to", "60", NULL, "--pad-to"},
        {"mpcllm", "generate", "--policy", "quest", NULL, "secure engine"},
        {"mpcllm", "generate", "--policy", "mpcache", "--budget", "0.75", NULL, "--static-keep"},
        {"mpcllm", "generate", "--engine", "fixed", "--policy", "mpcache", "--budget", "0.5",
         "--static-keep", "0.25", NULL, "--static-keep"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--policy", "tova", NULL,
         "secure engine"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--policy", "mpcache",
         "--pad-to", "9", NULL, "--pad-to"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--policy", "mpcache",
         "--budget", "0.9", NULL, "--static-keep"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--policy", "lru", NULL,
         "policy"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--budget", "2", NULL,
         "--budget"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--clusters", "3,2",
         NULL, "--clusters"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--static-keep", "0",
         NULL, "--static-keep"},
    };
    char exe[1100], out[128], err[128];
    snprintf(out, sizeof out, "%s/usage.out", scratch);
    snprintf(err, sizeof err, "%s/usage.err", scratch);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[16] = {exe};
        snprintf(exe, sizeof exe, "%s/%s", bindir, bad[i][0]);
        int n = 1;
        while (bad[i][n]) {
            argv[n] = (char *)bad[i][n];
            n++;
        }
        argv[n] = NULL;
        int rc = run_io(argv, out, err);
        char *e = slurp(err), *o = slurp(out);
        size_t len = strlen(e), lines = 0;
        for (size_t k = 0; k < len; k++)
            lines += e[k] == '\n';
        if (rc != 2)
            fail_msg("%s %s %s ...: exit %d, not 2: %s", bad[i][0], bad[i][1], bad[i][2], rc, e);
        if (lines != 1 || strncmp(e, bad[i][0], strlen(bad[i][0])) != 0)
            fail_msg("expected one line from %s, got '%s'", bad[i][0], e);
        if (!strstr(e, bad[i][n + 1])) fail_msg("'%s' is not in the reason: %s", bad[i][n + 1], e);
        assert_string_equal(o, "");
        free(e);
        free(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_party_kv_round_trips_every_double_bit_for_bit),
        cmocka_unit_test(test_party_prog_check_refuses_bad_policies_with_a_reason),
        cmocka_unit_test(test_policy_usage_errors_exit_2_with_one_line),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
