/* tests/llm/test_generate.c - greedy generation with the float engine
 * (parties/party_plain.h) on stories260K.
 *
 * The oracle is llama2.c itself: shared/models/stories260K.greedy.txt is what
 * run.c printed for "Once upon a time", 256 steps, temperature 0, and the
 * output must equal it byte for byte, final newline included. Other prompts
 * are checked for self-consistency: the printed text is the decoded prompt and
 * generated ids under run.c's safe-print rule, and a run stops either at the
 * step limit or at BOS. Everything here needs the shared files, so the test
 * skips (exit 77) without them.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm/tokenizer.h"
#include "llmtest.h"
#include "parties/party_plain.h"

static char model_path[4096], tok_path[4096];

/* Reads a whole stream or file into a NUL-terminated heap buffer. */
static char *slurp(FILE *f, size_t *len)
{
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Runs prompt for steps with output to a temporary file, under the KV policy
 * kv or with full attention (NULL); returns the printed bytes (caller frees)
 * and fills *r. */
static char *generate_kv(const char *prompt, int steps, const kv_config_t *kv, plain_result_t *r,
                         size_t *len)
{
    char err[CHAN_ERR_BYTES];
    FILE *out = tmpfile();
    assert_non_null(out);
    const plain_opts_t o = {model_path, tok_path, prompt, steps, out, kv};
    if (plain_generate(&o, r, err) != MPC_OK) fail_msg("%s", err);
    char *text = slurp(out, len);
    fclose(out);
    assert_int_equal(*len, r->text_len);
    assert_memory_equal(text, r->text, *len);
    return text;
}

static char *generate(const char *prompt, int steps, plain_result_t *r, size_t *len)
{
    return generate_kv(prompt, steps, NULL, r, len);
}

/* The text run.c prints for the ids prompt_ids ++ tokens. */
static void expect_self_consistent(const plain_result_t *r, const char *text, size_t len, int steps)
{
    char err[CHAN_ERR_BYTES];
    tok_t *t = NULL;
    assert_int_equal(tok_load(&t, tok_path, 512, err), MPC_OK);
    const int n = r->n_prompt + r->n_tokens;
    int *ids = malloc((size_t)n * sizeof *ids);
    memcpy(ids, r->prompt_ids, (size_t)r->n_prompt * sizeof *ids);
    memcpy(ids + r->n_prompt, r->tokens, (size_t)r->n_tokens * sizeof *ids);
    char *want = malloc((size_t)n * 8 + 2);
    size_t w = 0;
    for (int k = 1; k < n; k++) {
        const char *p = tok_decode(t, ids[k - 1], ids[k]);
        if (tok_piece_printable(p)) {
            memcpy(want + w, p, strlen(p));
            w += strlen(p);
        }
    }
    want[w++] = '\n';
    assert_int_equal(len, w);
    assert_memory_equal(text, want, w);
    /* it ran to the step limit, or the next token was BOS */
    assert_true(r->n_steps <= steps);
    if (r->n_steps < steps)
        assert_int_equal(r->n_tokens, r->n_steps - r->n_prompt);
    else
        assert_int_equal(r->n_tokens, r->n_steps - r->n_prompt + 1);
    for (int k = 0; k < r->n_tokens; k++)
        assert_true(r->tokens[k] != TOK_BOS && r->tokens[k] >= 0 && r->tokens[k] < 512);
    free(want);
    free(ids);
    tok_free(&t);
}

static void test_plain_greedy_equals_llama2c_reference(void **state)
{
    (void)state;
    char buf[4096];
    const char *ref_path = tu_shared_path("models/stories260K.greedy.txt", buf, sizeof buf);
    assert_non_null(ref_path);
    FILE *rf = fopen(ref_path, "rb");
    assert_non_null(rf);
    size_t ref_len;
    char *ref = slurp(rf, &ref_len);
    fclose(rf);
    assert_true(ref_len > 0 && ref[ref_len - 1] == '\n'); /* run.c's final newline */

    plain_result_t r;
    size_t len;
    char *text = generate("Once upon a time", 256, &r, &len);
    assert_int_equal(len, ref_len);
    assert_memory_equal(text, ref, ref_len);
    assert_int_equal(r.n_prompt, 5);
    assert_int_equal(r.n_steps, 256);
    assert_int_equal(r.n_tokens, 256 - 5 + 1);
    assert_int_equal(r.tokens[0], 432); /* "," */
    assert_int_equal(r.n_layers, 5);
    for (int l = 0; l < 5; l++)
        assert_int_equal(r.attended_layer[255 * 5 + l], 4 * 256);
    assert_int_equal(r.attended[255], 5L * 4 * 256);
    assert_true(r.prefill_s > 0.0 && r.decode_s_per_token > 0.0 && r.tok_per_s > 0.0);
    expect_self_consistent(&r, text, len, 256);
    plain_result_clear(&r);
    free(text);
    free(ref);
}

static void test_plain_empty_prompt_runs_and_stops_cleanly(void **state)
{
    (void)state;
    plain_result_t r;
    size_t len;
    char *text = generate("", 200, &r, &len);
    assert_int_equal(r.n_prompt, 1);
    assert_int_equal(r.prompt_ids[0], TOK_BOS);
    assert_true(r.n_tokens > 0);
    expect_self_consistent(&r, text, len, 200);
    plain_result_clear(&r);
    free(text);
}

static void test_plain_one_char_prompt_runs_and_stops_cleanly(void **state)
{
    (void)state;
    plain_result_t r;
    size_t len;
    char *text = generate("a", 100, &r, &len);
    assert_int_equal(r.n_prompt, 2);
    assert_int_equal(r.prompt_ids[1], 261); /* " a" */
    assert_true(len >= 2 && text[0] == 'a');
    expect_self_consistent(&r, text, len, 100);
    plain_result_clear(&r);
    free(text);
}

static void test_plain_steps_below_prompt_prints_only_the_prompt(void **state)
{
    (void)state;
    plain_result_t r;
    size_t len;
    char *text = generate("Once upon a time", 3, &r, &len);
    assert_string_equal(text, "Once upon a\n");
    assert_int_equal(r.n_steps, 3);
    assert_int_equal(r.n_tokens, 0);
    assert_true(r.decode_s_per_token == 0.0);
    plain_result_clear(&r);
    free(text);
}

static void test_plain_steps_zero_means_seq_len(void **state)
{
    (void)state;
    plain_result_t r;
    size_t len;
    char *text = generate("Lily", 0, &r, &len);
    /* this story ends with BOS before the 512 positions of seq_len */
    assert_true(r.n_steps > 100 && r.n_steps < 512);
    expect_self_consistent(&r, text, len, 512);
    plain_result_clear(&r);
    free(text);
}

static void test_plain_policies_run_on_their_budget(void **state)
{
    (void)state;
    static const kv_policy_t policies[] = {KV_FULL, KV_STREAMING, KV_H2O, KV_MPCACHE};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        kv_config_t c;
        kv_config_default(&c);
        c.policy = policies[i];
        c.budget = 0.25;
        c.cluster_coarse = 8;
        c.cluster_fine = 4;
        plain_result_t r;
        size_t len;
        char *text = generate_kv("Once upon a time there was a big dog who liked to run in "
                                 "the park with his friends every day.",
                                 160, &c, &r, &len);
        expect_self_consistent(&r, text, len, 160);
        const int last = (r.n_steps - 1) * r.n_layers;
        if (policies[i] == KV_FULL) {
            assert_int_equal(r.attended_layer[last], 4 * r.n_steps);
        } else {
            /* a budgeted policy attends fewer than the full cache */
            assert_true(r.attended_layer[last] < 4 * r.n_steps);
            assert_true(r.attended_layer[last] > 0);
        }
        plain_result_clear(&r);
        free(text);
    }
    kv_config_t bad;
    kv_config_default(&bad);
    bad.policy = KV_MPCACHE;
    bad.budget = 0.9; /* above static_keep 0.5 */
    char err[CHAN_ERR_BYTES];
    plain_result_t r;
    const plain_opts_t o = {model_path, tok_path, "hi", 20, NULL, &bad};
    assert_int_equal(plain_generate(&o, &r, err), MPC_EARG);
    assert_non_null(strstr(err, "mpcache"));
}

static void test_plain_reports_bad_inputs(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES], buf[4096];
    plain_result_t r;
    plain_opts_t o = {model_path, tok_path, "hi", -1, NULL, NULL};
    assert_int_equal(plain_generate(&o, &r, err), MPC_EARG);
    assert_non_null(strstr(err, "steps is -1"));
    assert_null(r.tokens);

    o.steps = 10;
    o.model_path = "/nonexistent/stories260K.bin";
    assert_int_equal(plain_generate(&o, &r, err), MPC_EIO);
    assert_non_null(strstr(err, "/nonexistent/stories260K.bin"));

    /* the 32,000-token tokenizer with a 512-token model */
    o.model_path = model_path;
    o.tokenizer_path = tu_shared_path("models/tokenizer.bin", buf, sizeof buf);
    if (o.tokenizer_path) {
        assert_int_equal(plain_generate(&o, &r, err), MPC_EFORMAT);
        assert_non_null(strstr(err, "follow the last of 512 tokens"));
    }
    assert_int_equal(plain_find("no-such-model.bin", buf, sizeof buf, err), MPC_EIO);
    assert_non_null(strstr(err, "no-such-model.bin not found"));
    assert_non_null(strstr(err, "huggingface.co/karpathy/tinyllamas"));
}

static void test_plain_default_paths_search_models_then_shared(void **state)
{
    (void)state;
    char cwd[4096], dir[64], path[4096], err[CHAN_ERR_BYTES];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *old = getenv("MPCLLM_SHARED");
    char *saved = old ? strdup(old) : NULL;
    char shared[4096];
    snprintf(shared, sizeof shared, "%.*s", (int)(strrchr(model_path, '/') - model_path),
             model_path);
    *strrchr(shared, '/') = '\0'; /* .../models/stories260K.bin -> ... */
    assert_int_equal(llmtest_mkdtemp(dir, "test-generate"), 0);
    assert_int_equal(chdir(dir), 0);

    /* nothing under the cwd: $MPCLLM_SHARED/models/ */
    setenv("MPCLLM_SHARED", shared, 1);
    assert_int_equal(plain_find(PLAIN_DEFAULT_MODEL, path, sizeof path, err), MPC_OK);
    assert_true(strncmp(path, shared, strlen(shared)) == 0);
    unsetenv("MPCLLM_SHARED");
    assert_int_equal(plain_find(PLAIN_DEFAULT_MODEL, path, sizeof path, err), MPC_EIO);

    /* models/ under the cwd comes first; the tokenizer is found beside it */
    assert_int_equal(mkdir("models", 0700), 0);
    assert_int_equal(symlink(model_path, "models/" PLAIN_DEFAULT_MODEL), 0);
    assert_int_equal(symlink(tok_path, "models/" PLAIN_DEFAULT_TOKENIZER), 0);
    assert_int_equal(plain_find(PLAIN_DEFAULT_MODEL, path, sizeof path, err), MPC_OK);
    assert_string_equal(path, "models/" PLAIN_DEFAULT_MODEL);
    plain_result_t r;
    const plain_opts_t o = {NULL, NULL, "Once upon a time", 8, NULL, NULL};
    assert_int_equal(plain_generate(&o, &r, err), MPC_OK);
    assert_int_equal(r.n_prompt, 5);
    assert_int_equal(r.tokens[0], 432);
    plain_result_clear(&r);

    unlink("models/" PLAIN_DEFAULT_MODEL);
    unlink("models/" PLAIN_DEFAULT_TOKENIZER);
    rmdir("models");
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(llmtest_rmdir(dir), 0);
    if (saved) {
        setenv("MPCLLM_SHARED", saved, 1);
        free(saved);
    }
}

int main(void)
{
    char buf[4096];
    const char *m = tu_shared_path("models/stories260K.bin", buf, sizeof buf);
    if (!m) return TU_SKIP;
    if (!realpath(m, model_path)) return TU_SKIP;
    const char *t = tu_shared_path("models/tok512.bin", buf, sizeof buf);
    if (!t || !realpath(t, tok_path)) return TU_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_greedy_equals_llama2c_reference),
        cmocka_unit_test(test_plain_empty_prompt_runs_and_stops_cleanly),
        cmocka_unit_test(test_plain_one_char_prompt_runs_and_stops_cleanly),
        cmocka_unit_test(test_plain_steps_below_prompt_prints_only_the_prompt),
        cmocka_unit_test(test_plain_steps_zero_means_seq_len),
        cmocka_unit_test(test_plain_policies_run_on_their_budget),
        cmocka_unit_test(test_plain_reports_bad_inputs),
        cmocka_unit_test(test_plain_default_paths_search_models_then_shared),
    };
    return cmocka_run_group_tests_name("generate", tests, NULL, NULL);
}
