/* tests/llm/test_xfwd_policies.c - every KV policy in the fixed-point plain
 * engine (llm/xfwd_kvplain.c for the plaintext ones) against the float
 * engine running the same policy, on stories260K and real TinyStories text.
 *
 * The oracle is the float engine with the policy library (llm/fwd.c): the
 * fixed engine makes its own decisions on its own values, so the two agree
 * closely but not bit for bit. At every decode step they attend the same
 * number of tokens (per layer where the budget is uniform; CAKE and D2O
 * share a fixed total between layers by attention statistics, so only the
 * total is compared there), each policy really attends less than the full
 * cache, the logits stay within LOGIT_TOL and the teacher-forced
 * perplexity of each policy within 1% between the engines. Exact checks: a prefill under a
 * plaintext policy is the full cache's bit for bit (the prompt attends everything), and the secure
 * roles refuse the plaintext policies with a reason.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/eval.h"
#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "llm/xfwd.h"
#include "mpc/fxp.h"

/* Under the sanitizers (slow by 10x or more) fewer tokens are scored. */
#if defined(__SANITIZE_ADDRESS__)
#define SCORED 8
#else
#define SCORED 48
#endif
#define PREFILL 384
#define WIN     (PREFILL + SCORED + 1)
#define MAXL    8
/* Fixed against float, logits of one window (nats): measured at most 0.01
 * for the full cache and 0.04 for the policies where both engines make the
 * same decisions (f = 16); MPCache's own fixed-point top-k, on scores
 * truncated to f, flips a near tie and moves a few logits by 0.2. */
#define LOGIT_TOL 0.5

static model_t *model;
static int window[512];

static int setup(void **state)
{
    (void)state;
    char mp[1024], tp[1024], dp[1024], err[CHAN_ERR_BYTES];
    if (!tu_shared_path("models/stories260K.bin", mp, sizeof mp) ||
        !tu_shared_path("models/tok512.bin", tp, sizeof tp) ||
        !tu_shared_path("data/tinystories_valid800.txt", dp, sizeof dp))
        exit(TU_SKIP);
    tok_t *tok = NULL;
    if (model_load(&model, mp, err) || tok_load(&tok, tp, model->cfg.vocab_size, err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    FILE *f = fopen(dp, "rb");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    int got = 0;
    mpc_err_t e = eval_windows(tok, text, 512, 1, window, &got, err);
    tok_free(&tok);
    return e == MPC_OK && got == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    model_free(&model);
    return 0;
}

static kv_config_t policy(kv_policy_t p)
{
    kv_config_t c;
    kv_config_default(&c);
    c.policy = p;
    c.budget = 0.2;
    c.static_keep = 0.5;
    c.n_layers = model->cfg.n_layers;
    c.n_heads = model->cfg.n_heads;
    c.n_kv_heads = model->cfg.n_kv_heads;
    c.head_size = model->cfg.dim / model->cfg.n_heads;
    c.seq_len = WIN;
    c.prompt_len = PREFILL;
    return c;
}

/* What one engine did over the window: the scored tokens' NLL, the logits
 * and what each layer attended at each decode step. */
typedef struct pass {
    double nll;
    float logits[SCORED][512];
    int attended[SCORED][MAXL];
} pass_t;

/* Runs the window on eng under cfg (NULL: the full cache), teacher-forced. */
static void run(const eval_engine_t *eng, const kv_config_t *cfg, pass_t *out)
{
    char err[CHAN_ERR_BYTES] = "";
    mpc_err_t e = MPC_OK;
    kv_t *kv = cfg ? kv_new(cfg, &e, err, sizeof err) : NULL;
    if (cfg && !kv) fail_msg("%s", err);
    if (eng->begin(eng->self, kv, PREFILL, WIN - 1, err)) fail_msg("%s", err);
    int V = model->cfg.vocab_size, L = model->cfg.n_layers;
    memset(out, 0, sizeof *out);
    for (int pos = 0; pos < WIN - 1; pos++) {
        const float *lg = NULL;
        if (eng->step(eng->self, window[pos], pos, &lg, err)) fail_msg("%s", err);
        if (pos < PREFILL) continue;
        int k = pos - PREFILL;
        memcpy(out->logits[k], lg, (size_t)V * sizeof *lg);
        double max = lg[0], sum = 0;
        for (int i = 1; i < V; i++)
            max = lg[i] > max ? lg[i] : max;
        for (int i = 0; i < V; i++)
            sum += exp(lg[i] - max);
        out->nll += -(lg[window[pos + 1]] - max - log(sum));
        for (int l = 0; l < L; l++)
            out->attended[k][l] = eng->attended(eng->self, l);
    }
    kv_free(&kv);
}

/* The largest difference between two passes' scored logits. */
static double max_diff(const pass_t *a, const pass_t *b)
{
    double worst = 0;
    for (int k = 0; k < SCORED; k++)
        for (int v = 0; v < model->cfg.vocab_size; v++) {
            double d = fabs((double)a->logits[k][v] - b->logits[k][v]);
            worst = d > worst ? d : worst;
        }
    return worst;
}

static void test_every_policy_on_the_fixed_engine_follows_the_float_engine(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    fwd_t *f = NULL;
    eval_fixed_t *fx = NULL;
    eval_engine_t ef, ex;
    const uint8_t seed[16] = {7}; /* one rounding stream: the same decisions every run */
    assert_int_equal(fwd_new(&f, model, err), MPC_OK);
    eval_engine_float(&ef, f);
    assert_int_equal(eval_engine_fixed(&ex, &fx, model, FXP_FRAC_BITS_DEFAULT, seed, err), MPC_OK);
    int L = model->cfg.n_layers, G = model->cfg.n_kv_heads;
    assert_true(L <= MAXL && model->cfg.vocab_size <= 512);
    pass_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    run(&ef, NULL, a);
    run(&ex, NULL, b);
    double full_float = exp(a->nll / SCORED), full_fixed = exp(b->nll / SCORED);
    print_message("full cache: ppl %.4f float, %.4f fixed; logits differ by at most %.3f\n",
                  full_float, full_fixed, max_diff(a, b));
    assert_true(fabs(full_fixed / full_float - 1) < 0.01);
    assert_true(max_diff(a, b) < LOGIT_TOL);
    static const kv_policy_t pols[] = {KV_STREAMING, KV_H2O, KV_SNAPKV, KV_TOVA,
                                       KV_CAKE,      KV_D2O, KV_QUEST,  KV_MPCACHE};
    for (size_t i = 0; i < sizeof pols / sizeof *pols; i++) {
        kv_config_t c = policy(pols[i]);
        run(&ef, &c, a);
        run(&ex, &c, b);
        long att = 0, full = 0;
        int uniform = pols[i] != KV_CAKE && pols[i] != KV_D2O;
        for (int k = 0; k < SCORED; k++) {
            int sa = 0, sb = 0;
            for (int l = 0; l < L; l++) {
                sa += a->attended[k][l];
                sb += b->attended[k][l];
                if (uniform) assert_int_equal(a->attended[k][l], b->attended[k][l]);
            }
            assert_int_equal(sa, sb);
            att += sb;
            full += (long)L * G * (PREFILL + k + 1);
        }
        double worst = max_diff(a, b);
        double pa = exp(a->nll / SCORED), pb = exp(b->nll / SCORED);
        print_message("%-9s R=0.2: ppl %.4f float, %.4f fixed (ratio %.4f); attended %.3f of "
                      "the full cache; logits differ by at most %.3f\n",
                      kv_policy_name(pols[i]), pa, pb, pb / pa, (double)att / (double)full, worst);
        assert_true(att < full); /* it really selects or evicts */
        assert_true(fabs(pb / pa - 1) < 0.01);
        assert_true(worst < LOGIT_TOL);
    }
    free(a);
    free(b);
    eval_fixed_free(&fx);
    fwd_free(&f);
}

/* The prompt attends everything under every policy, so a plaintext policy's
 * prefill is the full cache's bit for bit under one rounding stream. */
static void test_plaintext_policy_prefill_equals_the_full_cache(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    uint8_t seed[16];
    tu_seed(seed);
    size_t V = (size_t)model->cfg.vocab_size;
    uint64_t *want = malloc(V * 8);
    static const kv_policy_t pols[] = {KV_FULL, KV_H2O, KV_SNAPKV, KV_TOVA,
                                       KV_CAKE, KV_D2O, KV_QUEST};
    for (size_t i = 0; i < sizeof pols / sizeof *pols; i++) {
        xfwd_t *x = NULL;
        kv_config_t c = policy(pols[i]);
        assert_int_equal(
            xfwd_new(&x, &model->cfg, model, NULL, XFWD_PLAIN, FXP_FRAC_BITS_DEFAULT, seed, err),
            MPC_OK);
        assert_int_equal(xfwd_set_policy(x, &c), MPC_OK);
        assert_int_equal(xfwd_setup(x), MPC_OK);
        int next;
        assert_int_equal(xfwd_forward(x, window, 0, PREFILL, &next), MPC_OK);
        if (i == 0)
            memcpy(want, xfwd_logits(x), V * 8);
        else
            assert_memory_equal(xfwd_logits(x), want, V * 8);
        for (int l = 0; l < model->cfg.n_layers; l++)
            assert_int_equal(xfwd_attended(x, l), model->cfg.n_kv_heads * PREFILL);
        xfwd_free(&x);
    }
    free(want);
}

static void test_secure_roles_refuse_the_plaintext_policies(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    static const kv_policy_t pols[] = {KV_SNAPKV, KV_TOVA, KV_CAKE, KV_D2O, KV_QUEST};
    for (int role = MPC_P0; role <= MPC_DEALER; role++)
        for (size_t i = 0; i < sizeof pols / sizeof *pols; i++) {
            mpc_ctx_t ctx;
            assert_int_equal(mpc_ctx_init(&ctx, role, FXP_FRAC_BITS_DEFAULT), MPC_OK);
            xfwd_t *x = NULL;
            assert_int_equal(xfwd_new(&x, &model->cfg, role == MPC_P0 ? model : NULL, &ctx, role,
                                      FXP_FRAC_BITS_DEFAULT, NULL, err),
                             MPC_OK);
            kv_config_t c = policy(pols[i]);
            assert_int_equal(xfwd_set_policy(x, &c), MPC_EARG);
            assert_non_null(strstr(ctx.err, kv_policy_name(pols[i])));
            assert_non_null(strstr(ctx.err, "plain engine only"));
            /* the secure engine's policies are still taken */
            c = policy(KV_STREAMING);
            assert_int_equal(xfwd_set_policy(x, &c), MPC_OK);
            xfwd_free(&x);
            mpc_ctx_destroy(&ctx);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure_roles_refuse_the_plaintext_policies),
        cmocka_unit_test(test_plaintext_policy_prefill_equals_the_full_cache),
        cmocka_unit_test(test_every_policy_on_the_fixed_engine_follows_the_float_engine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
