/* tests/bench/test_accuracy.c - the accuracy harness: teacher-forced scoring
 * (llm/eval.h) and `mpcllm-bench accuracy`.
 *
 * The oracle for the scoring is the full cache itself: under policy full the
 * policy's logits are the reference's bit for bit, so KL is exactly 0, top-1
 * agreement is 1 and the perplexities are equal; a budgeted policy must move
 * away from it (KL > 0) by a sane amount. The first group runs on a seeded
 * random model of stories260K's shape and needs no files. The second runs on
 * the real stories260K and TinyStories text from the shared folder
 * ($MPCLLM_SHARED, else ../shared), and the whole test reports "skipped"
 * (exit 77) when they are missing: windows cut from stories, budgeted
 * policies against the full cache, determinism, and the program's exit codes
 * and JSON.
 */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llm/eval.h"
#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "mpcache/kv.h"

#define WIN     512 /* stories260K's context */
#define PREFILL 384
#define N_WIN   2

static char model_path[4096], tok_path[4096], data_path[4096];

/* What one scoring run needs: a model, its float engine and the state. */
typedef struct rig {
    model_t *m;
    fwd_t *f;
    eval_t *ev;
    eval_engine_t eng;
} rig_t;

static void rig_open(rig_t *r, model_t *m)
{
    char err[CHAN_ERR_BYTES];
    r->m = m;
    if (fwd_new(&r->f, m, err) != MPC_OK) fail_msg("%s", err);
    if (eval_new(&r->ev, m, err) != MPC_OK) fail_msg("%s", err);
    eval_engine_float(&r->eng, r->f);
}

static void rig_close(rig_t *r)
{
    eval_free(&r->ev);
    fwd_free(&r->f);
    model_free(&r->m);
}

static kv_config_t policy(kv_policy_t p, double budget, double static_keep)
{
    kv_config_t c;
    kv_config_default(&c);
    c.policy = p;
    c.budget = budget;
    c.static_keep = static_keep;
    return c;
}

/* Scores n_win windows of n tokens under cfg into *s. */
static void score(rig_t *r, const int *tokens, int n_win, int n, int prefill,
                  const kv_config_t *cfg, eval_sums_t *s)
{
    char err[CHAN_ERR_BYTES];
    memset(s, 0, sizeof *s);
    for (int w = 0; w < n_win; w++) {
        if (eval_reference(r->ev, &r->eng, tokens + (size_t)w * (size_t)n, n, prefill, err) !=
            MPC_OK)
            fail_msg("%s", err);
        if (eval_policy(r->ev, &r->eng, cfg, s, err) != MPC_OK) fail_msg("%s", err);
    }
}

/* --- a seeded random model: no files needed ------------------------------ */

#define RND_SEQ     96
#define RND_PREFILL 64

static void random_rig(rig_t *r, int *tokens)
{
    char err[CHAN_ERR_BYTES];
    model_config_t c;
    assert_int_equal(model_shape(&c, "stories260K", err), MPC_OK);
    c.seq_len = RND_SEQ;
    model_t *m = NULL;
    if (model_new_random(&m, &c, 7, err) != MPC_OK) fail_msg("%s", err);
    rig_open(r, m);
    uint64_t x = 12345;
    for (int i = 0; i < RND_SEQ; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        tokens[i] = (int)((x >> 33) % (uint64_t)c.vocab_size);
    }
}

static void test_eval_full_policy_equals_reference_on_random_model(void **state)
{
    (void)state;
    rig_t r = {0};
    int tokens[RND_SEQ];
    random_rig(&r, tokens);
    const kv_config_t full = policy(KV_FULL, 1.0, 0.5);
    eval_sums_t s;
    score(&r, tokens, 1, RND_SEQ, RND_PREFILL, &full, &s);
    assert_int_equal(s.n, RND_SEQ - RND_PREFILL - 1);
    assert_true(s.kl == 0.0);
    assert_int_equal(s.top1, s.n);
    assert_true(s.nll == s.nll_full);
    assert_true(eval_sums_ppl(&s) == eval_sums_ppl_full(&s));
    assert_int_equal(s.attended, s.attended_full);
    /* the per-token figures add up to the sums, and the NLL is the true
     * token's: a uniform guess over 512 tokens is log 512 */
    const eval_tokens_t t = eval_last(r.ev);
    assert_int_equal(t.n, s.n);
    double nll = 0.0;
    for (int i = 0; i < t.n; i++) {
        assert_true(t.nll[i] > 0.0 && t.nll[i] < 3.0 * log(512.0));
        assert_true(t.kl[i] == 0.0 && t.top1[i] == 1);
        nll += t.nll[i];
    }
    assert_true(fabs(nll - s.nll) <= 1e-9 * s.nll);
    rig_close(&r);
}

static void test_eval_budgeted_policy_differs_and_repeats_on_random_model(void **state)
{
    (void)state;
    rig_t r = {0};
    int tokens[RND_SEQ];
    random_rig(&r, tokens);
    const kv_config_t h2o = policy(KV_H2O, 0.1, 0.5);
    eval_sums_t a, b;
    score(&r, tokens, 1, RND_SEQ, RND_PREFILL, &h2o, &a);
    score(&r, tokens, 1, RND_SEQ, RND_PREFILL, &h2o, &b);
    assert_true(a.kl > 0.0);
    assert_true(a.attended < a.attended_full);
    assert_memory_equal(&a, &b, sizeof a);
    rig_close(&r);
}

static void test_eval_refuses_bad_windows_and_configs(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    rig_t r = {0};
    int tokens[RND_SEQ];
    random_rig(&r, tokens);
    eval_sums_t s = {0};
    const kv_config_t full = policy(KV_FULL, 1.0, 0.5);
    assert_int_equal(eval_policy(r.ev, &r.eng, &full, &s, err), MPC_EARG); /* no window yet */
    assert_int_equal(eval_reference(r.ev, &r.eng, tokens, RND_SEQ, RND_SEQ - 1, err), MPC_EARG);
    assert_int_equal(eval_reference(r.ev, &r.eng, tokens, RND_SEQ, 0, err), MPC_EARG);
    assert_int_equal(eval_reference(r.ev, &r.eng, tokens, RND_SEQ + 1, 8, err), MPC_EARG);
    tokens[5] = 512;
    assert_int_equal(eval_reference(r.ev, &r.eng, tokens, RND_SEQ, 8, err), MPC_EARG);
    assert_non_null(strstr(err, "token 5"));
    tokens[5] = 3;
    assert_int_equal(eval_reference(r.ev, &r.eng, tokens, RND_SEQ, 8, err), MPC_OK);
    const kv_config_t bad = policy(KV_MPCACHE, 0.6, 0.5); /* MPCache needs R <= S */
    assert_int_equal(eval_policy(r.ev, &r.eng, &bad, &s, err), MPC_EARG);
    assert_int_equal(s.n, 0);
    rig_close(&r);
}

/* --- stories260K on TinyStories ----------------------------------------- */

/* The first N_WIN windows of the shared text (caller frees), and the
 * tokenizer in *t. */
static int *real_windows(tok_t **t)
{
    char err[CHAN_ERR_BYTES];
    if (tok_load(t, tok_path, 512, err) != MPC_OK) fail_msg("%s", err);
    FILE *f = fopen(data_path, "rb");
    assert_non_null(f);
    static char text[1 << 20];
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    int *tokens = malloc((size_t)N_WIN * WIN * sizeof *tokens);
    int n_win = 0;
    assert_int_equal(eval_windows(*t, text, WIN, N_WIN, tokens, &n_win, err), MPC_OK);
    assert_int_equal(n_win, N_WIN);
    return tokens;
}

static void real_rig(rig_t *r)
{
    char err[CHAN_ERR_BYTES];
    model_t *m = NULL;
    if (model_load(&m, model_path, err) != MPC_OK) fail_msg("%s", err);
    assert_int_equal(m->cfg.seq_len, WIN);
    rig_open(r, m);
}

static void test_eval_windows_are_stories_joined_by_bos(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    tok_t *t = NULL;
    int *tokens = real_windows(&t);
    /* the first story, as the text spells it up to its separator */
    FILE *f = fopen(data_path, "rb");
    static char story[1 << 16];
    const size_t n = fread(story, 1, sizeof story - 1, f);
    fclose(f);
    story[n] = '\0';
    char *sep = strstr(story, "\n<|endoftext|>\n");
    assert_non_null(sep);
    *sep = '\0';
    int *ids = malloc(tok_encode_cap(story) * sizeof *ids), k = 0;
    assert_int_equal(tok_encode(t, story, 1, 0, ids, &k, err), MPC_OK);
    assert_true(k > 1 && k < WIN);
    assert_memory_equal(tokens, ids, (size_t)k * sizeof *ids);
    assert_int_equal(tokens[k], TOK_BOS); /* the next story follows */
    for (int w = 0; w < N_WIN; w++)
        assert_int_equal(tokens[(size_t)w * WIN], TOK_BOS);
    for (int i = 0; i < N_WIN * WIN; i++)
        assert_true(tokens[i] >= 0 && tokens[i] < 512);
    free(ids);
    free(tokens);
    tok_free(&t);
}

static void test_eval_full_at_budget_one_is_the_full_cache(void **state)
{
    (void)state;
    tok_t *t = NULL;
    int *tokens = real_windows(&t);
    rig_t r = {0};
    real_rig(&r);
    eval_sums_t s;
    const kv_config_t full = policy(KV_FULL, 1.0, 0.5);
    score(&r, tokens, N_WIN, WIN, PREFILL, &full, &s);
    assert_int_equal(s.n, N_WIN * (WIN - PREFILL - 1));
    assert_true(s.kl == 0.0);
    assert_int_equal(s.top1, s.n);
    assert_true(eval_sums_ppl(&s) == eval_sums_ppl_full(&s));
    /* stories260K on its own kind of text: far better than chance (512) */
    assert_true(eval_sums_ppl_full(&s) > 1.5 && eval_sums_ppl_full(&s) < 20.0);
    rig_close(&r);
    free(tokens);
    tok_free(&t);
}

static void test_eval_budgeted_policies_lose_a_little_and_repeat(void **state)
{
    (void)state;
    tok_t *t = NULL;
    int *tokens = real_windows(&t);
    rig_t r = {0};
    real_rig(&r);
    const kv_config_t cfgs[3] = {policy(KV_MPCACHE, 0.2, 0.5), policy(KV_H2O, 0.1, 0.5),
                                 policy(KV_STREAMING, 0.1, 0.5)};
    for (int i = 0; i < 3; i++) {
        eval_sums_t a, b;
        score(&r, tokens, N_WIN, WIN, PREFILL, &cfgs[i], &a);
        score(&r, tokens, N_WIN, WIN, PREFILL, &cfgs[i], &b);
        assert_memory_equal(&a, &b, sizeof a); /* deterministic, bit for bit */
        const double ppl = eval_sums_ppl(&a), full = eval_sums_ppl_full(&a);
        print_message("%s R=%g: ppl %.4f, full %.4f, KL %.5f, top-1 %.4f\n",
                      kv_policy_name(cfgs[i].policy), cfgs[i].budget, ppl, full, a.kl / (double)a.n,
                      (double)a.top1 / (double)a.n);
        assert_true(a.kl > 0.0);
        assert_true(a.top1 < a.n && a.top1 > a.n / 2);
        assert_true(a.attended < a.attended_full / 2);
        /* eviction can help a token by luck, never the text much; and a
         * fifth of the cache must not wreck the model */
        assert_true(ppl > 0.95 * full && ppl < 1.5 * full);
    }
    rig_close(&r);
    free(tokens);
    tok_free(&t);
}

/* --- the program ------------------------------------------------------- */

/* Runs mpcllm-bench accuracy with args (NULL-terminated, at most 16),
 * stdout and stderr to separate files; returns the exit status and the
 * stdout text in out (cap bytes). */
static int run_bench(const char *const *args, char *out, size_t cap)
{
    const char *bin = getenv("MPCLLM_BIN");
    char exe[4200], opath[64], epath[64];
    snprintf(exe, sizeof exe, "%s/mpcllm-bench", bin && *bin ? bin : "bin");
    snprintf(opath, sizeof opath, "/tmp/mpcllm-acc-%d.out", (int)getpid());
    snprintf(epath, sizeof epath, "/tmp/mpcllm-acc-%d.err", (int)getpid());
    char *argv[24] = {exe,           "accuracy", "--model", model_path,
                      "--tokenizer", tok_path,   "--data",  data_path};
    int argc = 8;
    for (int i = 0; args[i] && argc < 23; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
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
    unlink(epath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_bench_accuracy_json_and_exit_codes(void **state)
{
    (void)state;
    char out[8192];
    const char *full[] = {"--policy", "full", "--budget", "1", "--windows", "1", "--json", NULL};
    assert_int_equal(run_bench(full, out, sizeof out), 0);
    /* one JSON line, and nothing else on stdout */
    assert_true(out[0] == '{' && strchr(out, '\n') == out + strlen(out) - 1);
    static const char *const keys[] = {"\"engine\":\"float\"", "\"policy\":\"full\"",
                                       "\"budget\":1,",        "\"ppl\":",
                                       "\"ppl_full\":",        "\"kl\":0,",
                                       "\"top1_agree\":1,",    "\"scored_tokens\":127,"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strstr(out, keys[i])) fail_msg("%s not in %s", keys[i], out);

    const char *mpc_over[] = {"--policy", "mpcache", "--budget", "0.6", "--windows", "1", NULL};
    assert_int_equal(run_bench(mpc_over, out, sizeof out), 2);
    const char *bad_budget[] = {"--policy", "h2o", "--budget", "1.5", NULL};
    assert_int_equal(run_bench(bad_budget, out, sizeof out), 2);
    const char *bad_policy[] = {"--policy", "lru", NULL};
    assert_int_equal(run_bench(bad_policy, out, sizeof out), 2);
    const char *no_policy[] = {"--budget", "0.2", NULL};
    assert_int_equal(run_bench(no_policy, out, sizeof out), 2);
    const char *prefill[] = {"--policy", "h2o", "--prefill", "511", NULL};
    assert_int_equal(run_bench(prefill, out, sizeof out), 2);
    /* the fixed engine runs every policy; the secure one not the plaintext ones */
    const char *fixed[] = {"--policy", "h2o",      "--engine", "fixed",  "--windows",
                           "1",        "--scored", "8",        "--json", NULL};
    assert_int_equal(run_bench(fixed, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"engine\":\"fixed\""));
    assert_non_null(strstr(out, "\"scored_tokens\":8,"));
    const char *secure[] = {"--policy", "snapkv", "--engine", "secure", "--windows", "1", NULL};
    assert_int_equal(run_bench(secure, out, sizeof out), 2);
    /* flags a policy does not use are accepted */
    const char *unused[] = {"--policy",   "streaming", "--budget",  "0.2", "--static-keep", "0.3",
                            "--clusters", "8,4",       "--windows", "1",   "--json",        NULL};
    assert_int_equal(run_bench(unused, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"policy\":\"streaming\""));
}

/* The figures, from "ppl" to before "prefill", of a JSON line. */
static void figures(const char *json, char *out, size_t cap)
{
    const char *b = strstr(json, "\"ppl\":"), *e = strstr(json, "\"prefill\":");
    assert_true(b && e && e > b && (size_t)(e - b) < cap);
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
}

static void test_bench_accuracy_figures_do_not_depend_on_threads(void **state)
{
    (void)state;
    char out[8192], one[1024], two[1024];
    const char *t1[] = {"--policy", "tova",      "--budget", "0.2",    "--windows",
                        "3",        "--threads", "1",        "--json", NULL};
    assert_int_equal(run_bench(t1, out, sizeof out), 0);
    figures(out, one, sizeof one);
    const char *t2[] = {"--policy", "tova",      "--budget", "0.2",    "--windows",
                        "3",        "--threads", "2",        "--json", NULL};
    assert_int_equal(run_bench(t2, out, sizeof out), 0);
    figures(out, two, sizeof two);
    assert_string_equal(one, two);
    assert_non_null(strstr(one, "\"scored_tokens\":381,"));
}

int main(void)
{
    const struct CMUnitTest synthetic[] = {
        cmocka_unit_test(test_eval_full_policy_equals_reference_on_random_model),
        cmocka_unit_test(test_eval_budgeted_policy_differs_and_repeats_on_random_model),
        cmocka_unit_test(test_eval_refuses_bad_windows_and_configs),
    };
    const int failed =
        cmocka_run_group_tests_name("accuracy (seeded model)", synthetic, NULL, NULL);
    if (failed) return failed;
    char buf[4096];
    if (!tu_shared_path("models/stories260K.bin", buf, sizeof buf) || !realpath(buf, model_path) ||
        !tu_shared_path("models/tok512.bin", buf, sizeof buf) || !realpath(buf, tok_path) ||
        !tu_shared_path("data/tinystories_valid800.txt", buf, sizeof buf) ||
        !realpath(buf, data_path))
        return TU_SKIP;
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_eval_windows_are_stories_joined_by_bos),
        cmocka_unit_test(test_eval_full_at_budget_one_is_the_full_cache),
        cmocka_unit_test(test_eval_budgeted_policies_lose_a_little_and_repeat),
        cmocka_unit_test(test_bench_accuracy_json_and_exit_codes),
        cmocka_unit_test(test_bench_accuracy_figures_do_not_depend_on_threads),
    };
    return cmocka_run_group_tests_name("accuracy (stories260K)", real, NULL, NULL);
}
