/* tests/bench/test_acc_secure.c - `mpcllm-bench accuracy --engine secure`
 * (bench/bench_acc_secure.c): the secure engine scored on a tiny slice of
 * the real text equals the fixed-point plain engine with the same seed.
 *
 * The oracle is the fixed engine: under the dealer's test seed S the
 * secure engine's logits must equal those of `--engine fixed --seed S` bit
 * for bit at every forward call (the program compares them itself and says
 * so in matches_fixed), and so every figure of the two JSON lines, from the
 * perplexities to the attended ratio, must be the same text. A slice of a
 * 32-token prompt and 4 scored tokens keeps the three roles' run short;
 * MPCache uses 8/4-token clusters so that static eviction and the clustered
 * selection both really choose. Needs stories260K and the TinyStories text
 * from the shared folder (exit 77 without them).
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char model_path[4096], tok_path[4096], data_path[4096];

/* Runs mpcllm-bench accuracy with args (NULL-terminated, at most 20) and
 * the shared files; returns the exit status and stdout in out (cap bytes). */
static int run_bench(const char *const *args, char *out, size_t cap)
{
    const char *bin = getenv("MPCLLM_BIN");
    char exe[4200], opath[64];
    snprintf(exe, sizeof exe, "%s/mpcllm-bench", bin && *bin ? bin : "bin");
    snprintf(opath, sizeof opath, "/tmp/mpcllm-accsec-%d.out", (int)getpid());
    char *argv[32] = {exe,           "accuracy", "--model", model_path,
                      "--tokenizer", tok_path,   "--data",  data_path};
    int argc = 8;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        execv(exe, argv);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(opath, "r");
    const size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    out[n] = '\0';
    unlink(opath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The figures, from "ppl" to before "prefill", of a JSON line. */
static void figures(const char *json, char *out, size_t cap)
{
    const char *b = strstr(json, "\"ppl\":"), *e = strstr(json, "\"prefill\":");
    assert_true(b && e && e > b && (size_t)(e - b) < cap);
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
}

/* The secure slice of policy (and extra flags) against the fixed engine. */
static void check_slice(const char *policy, const char *clusters)
{
    char out[8192], sec[1024], fix[1024];
    const char *s_args[] = {"--engine",   "secure", "--policy",  policy, "--budget", "0.25",
                            "--clusters", clusters, "--prefill", "32",   "--scored", "4",
                            "--seed",     "7",      "--json",    NULL};
    assert_int_equal(run_bench(s_args, out, sizeof out), 0);
    print_message("%s", out);
    assert_non_null(strstr(out, "\"engine\":\"secure\""));
    assert_non_null(strstr(out, "\"matches_fixed\":true"));
    assert_non_null(strstr(out, "\"max_logit_diff\":0,"));
    /* two passes (full cache, policy), each the prompt batch and 4 steps */
    assert_non_null(strstr(out, "\"compared_steps\":10,"));
    assert_non_null(strstr(out, "\"scored_tokens\":4,"));
    figures(out, sec, sizeof sec);
    const char *f_args[] = {"--engine",   "fixed",  "--policy",  policy, "--budget", "0.25",
                            "--clusters", clusters, "--prefill", "32",   "--scored", "4",
                            "--seed",     "7",      "--windows", "1",    "--json",   NULL};
    assert_int_equal(run_bench(f_args, out, sizeof out), 0);
    figures(out, fix, sizeof fix);
    assert_string_equal(sec, fix);
}

static void test_secure_mpcache_slice_equals_the_fixed_engine(void **state)
{
    (void)state;
    check_slice("mpcache", "8,4");
}

static void test_secure_streaming_slice_equals_the_fixed_engine(void **state)
{
    (void)state;
    check_slice("streaming", "32,16");
}

static void test_secure_h2o_slice_equals_the_fixed_engine(void **state)
{
    (void)state;
    check_slice("h2o", "32,16");
}

static void test_secure_engine_refuses_what_it_does_not_run(void **state)
{
    (void)state;
    char out[1024];
    const char *snapkv[] = {"--engine", "secure", "--policy", "snapkv", NULL};
    assert_int_equal(run_bench(snapkv, out, sizeof out), 2);
    const char *sweep[] = {"--engine", "secure", "--sweep", NULL};
    assert_int_equal(run_bench(sweep, out, sizeof out), 2);
    const char *scored[] = {"--engine", "secure", "--policy", "full", "--scored", "200", NULL};
    assert_int_equal(run_bench(scored, out, sizeof out), 2); /* 384 + 200 + 1 > 512 */
    assert_string_equal(out, "");
}

int main(void)
{
    char buf[4096];
    if (!tu_shared_path("models/stories260K.bin", buf, sizeof buf) || !realpath(buf, model_path) ||
        !tu_shared_path("models/tok512.bin", buf, sizeof buf) || !realpath(buf, tok_path) ||
        !tu_shared_path("data/tinystories_valid800.txt", buf, sizeof buf) ||
        !realpath(buf, data_path))
        return TU_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure_engine_refuses_what_it_does_not_run),
        cmocka_unit_test(test_secure_mpcache_slice_equals_the_fixed_engine),
        cmocka_unit_test(test_secure_streaming_slice_equals_the_fixed_engine),
        cmocka_unit_test(test_secure_h2o_slice_equals_the_fixed_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
