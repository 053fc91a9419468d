/* tests/llm/test_xfwd.c - the secure engine against the fixed-point plain
 * engine on the real stories260K: bit for bit under the dealer's test seed,
 * within a few ulp without it, with identical traffic for different prompts
 * of one length; and the fixed engine against the float reference. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/fwd.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "llm/xfwd.h"
#include "mpc/fxp.h"

/* Under the sanitizers (slow by 10x or more) the runs are shorter. */
#if defined(__SANITIZE_ADDRESS__)
#define STEPS(n) ((n) / 3 + 2)
#else
#define STEPS(n) (n)
#endif

static model_t *model;
static tok_t *tok;

static int setup(void **state)
{
    (void)state;
    char mp[1024], tp[1024], err[CHAN_ERR_BYTES];
    if (!tu_shared_path("models/stories260K.bin", mp, sizeof mp) ||
        !tu_shared_path("models/tok512.bin", tp, sizeof tp))
        exit(TU_SKIP);
    if (model_load(&model, mp, err) || tok_load(&tok, tp, model->cfg.vocab_size, err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_free(&model);
    tok_free(&tok);
    return 0;
}

typedef struct run {
    int prompt[64], P, steps, frac;
    uint64_t *logits[2]; /* (steps - P + 1, vocab) per party */
    int tokens[512];     /* P1's tokens */
} run_t;

static mpc_err_t engine_role(mpc_ctx_t *ctx, void *arg)
{
    run_t *r = arg;
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    size_t V = (size_t)model->cfg.vocab_size;
    mpc_err_t e = xfwd_new(&x, &model->cfg, ctx->party == MPC_P0 ? model : NULL, ctx, ctx->party,
                           r->frac, NULL, err);
    if (e) return mpc_fail(ctx, e, "%s", err);
    e = xfwd_setup(x);
    int next = -1, k = 0;
    if (!e) e = xfwd_forward(x, ctx->party == MPC_P1 ? r->prompt : NULL, 0, r->P, &next);
    for (int pos = r->P; !e; pos++) {
        if (ctx->party != MPC_DEALER) memcpy(r->logits[ctx->party] + k * V, xfwd_logits(x), V * 8);
        if (ctx->party == MPC_P1) r->tokens[k] = next;
        k++;
        if (pos >= r->steps) break;
        e = xfwd_forward(x, &next, pos, 1, &next);
    }
    xfwd_free(&x);
    return e;
}

static void encode(run_t *r, const char *text, int steps)
{
    char err[CHAN_ERR_BYTES];
    assert_true(tok_encode_cap(text) <= 64);
    assert_int_equal(tok_encode(tok, text, 1, 0, r->prompt, &r->P, err), MPC_OK);
    r->steps = steps;
    r->frac = FXP_FRAC_BITS_DEFAULT;
    size_t n = (size_t)(steps - r->P + 1) * (size_t)model->cfg.vocab_size;
    r->logits[0] = calloc(n, 8);
    r->logits[1] = calloc(n, 8);
}

/* The plain fixed-point engine over the same prompt: logits (steps-P+1, V)
 * and tokens. */
static void run_plain(const run_t *r, const uint8_t round_seed[16], uint64_t *logits, int *tokens)
{
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    size_t V = (size_t)model->cfg.vocab_size;
    assert_int_equal(xfwd_new(&x, &model->cfg, model, NULL, XFWD_PLAIN, r->frac, round_seed, err),
                     MPC_OK);
    assert_int_equal(xfwd_setup(x), MPC_OK);
    int next = -1, k = 0;
    assert_int_equal(xfwd_forward(x, r->prompt, 0, r->P, &next), MPC_OK);
    for (int pos = r->P;; pos++) {
        memcpy(logits + k * V, xfwd_logits(x), V * 8);
        tokens[k++] = next;
        if (pos >= r->steps) break;
        assert_int_equal(xfwd_forward(x, &next, pos, 1, &next), MPC_OK);
    }
    xfwd_free(&x);
}

static void check_bit_exact(const char *text, int steps)
{
    run_t *r = calloc(1, sizeof *r);
    encode(r, text, steps);
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed, .timeout_ms = 60000};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, engine_role, r, res), 0);
    size_t V = (size_t)model->cfg.vocab_size, n = (size_t)(steps - r->P + 1);
    uint64_t *want = calloc(n * V, 8);
    int *wtok = calloc(n, sizeof *wtok);
    run_plain(r, round_seed, want, wtok);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < V; i++)
            assert_int_equal(r->logits[0][k * V + i] + r->logits[1][k * V + i], want[k * V + i]);
        assert_int_equal(r->tokens[k], wtok[k]);
    }
    fprintf(stderr, "  '%s': %zu tokens equal, %llu rounds, %llu B online\n", text, n,
            (unsigned long long)tu_rounds(res),
            (unsigned long long)(tu_bytes_sent(res, 0) + tu_bytes_sent(res, 1)));
    free(want);
    free(wtok);
    free(r->logits[0]);
    free(r->logits[1]);
    free(r);
    free(res);
}

static void test_xfwd_secure_equals_fixed_bit_for_bit_under_test_seed(void **state)
{
    (void)state;
    check_bit_exact("Once upon a time", 4 + STEPS(36));
    check_bit_exact("", STEPS(12));
    check_bit_exact("a", STEPS(12));
}

static void test_xfwd_traffic_is_the_same_for_prompts_of_one_length(void **state)
{
    (void)state;
    /* two prompts of one token count */
    static const char *cands[] = {"The cat sat", "A dog ran", "Tim ate", "Sue saw a bird",
                                  "One day", "Lily", "Ben ran home", "The dog sat"};
    const size_t nc = sizeof cands / sizeof *cands;
    int len[8], ia = -1, ib = -1;
    char err[CHAN_ERR_BYTES];
    for (size_t i = 0; i < nc && ib < 0; i++) {
        int ids[64];
        assert_int_equal(tok_encode(tok, cands[i], 1, 0, ids, &len[i], err), MPC_OK);
        for (size_t j = 0; j < i && ib < 0; j++)
            if (len[j] == len[i]) {
                ia = (int)j;
                ib = (int)i;
            }
    }
    assert_true(ib >= 0);
    run_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    encode(a, cands[ia], 6 + STEPS(8));
    encode(b, cands[ib], 6 + STEPS(8));
    assert_int_equal(a->P, b->P);
    assert_memory_not_equal(a->prompt, b->prompt, (size_t)a->P * sizeof(int));
    tu_result_t *ra = calloc(1, sizeof *ra), *rb = calloc(1, sizeof *rb);
    tu_opts_t o = {.timeout_ms = 60000};
    assert_int_equal(tu_run(&o, engine_role, a, ra), 0);
    assert_int_equal(tu_run(&o, engine_role, b, rb), 0);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(ra->trace[p], rb->trace[p]);
        assert_int_equal(tu_bytes_sent(ra, p), tu_bytes_sent(rb, p));
    }
    assert_int_equal(tu_rounds(ra), tu_rounds(rb));
    for (run_t *r = a; r; r = r == a ? b : NULL) {
        free(r->logits[0]);
        free(r->logits[1]);
    }
    free(a);
    free(b);
    free(ra);
    free(rb);
}

static void test_xfwd_without_test_seed_stays_within_a_few_ulp(void **state)
{
    (void)state;
    run_t *r = calloc(1, sizeof *r);
    encode(r, "Once upon a time", 12);
    tu_opts_t o = {.timeout_ms = 60000};
    assert_int_equal(tu_run(&o, engine_role, r, NULL), 0);
    size_t V = (size_t)model->cfg.vocab_size, n = (size_t)(r->steps - r->P + 1);
    uint64_t *want = calloc(n * V, 8);
    int *wtok = calloc(n, sizeof *wtok);
    uint8_t other[16];
    tu_seed(other);
    /* Teacher-forced on the secure run's own tokens would need a second
     * entry point; instead compare the prefill's logits, where the inputs
     * are the same, and count agreeing tokens. */
    run_plain(r, other, want, wtok);
    int64_t worst = 0;
    for (size_t i = 0; i < V; i++) {
        int64_t d = fxp_signed(r->logits[0][i] + r->logits[1][i] - want[i]);
        if (d < 0) d = -d;
        if (d > worst) worst = d;
    }
    fprintf(stderr, "  prefill logits differ by at most %lld ulp across rounding streams\n",
            (long long)worst);
    /* K: measured at 100-200 ulp (2^-9 or so at f = 16) on this prompt; the
     * README documents it. */
    assert_true(worst <= 512);
    assert_int_equal(r->tokens[0], wtok[0]);
    free(want);
    free(wtok);
    free(r->logits[0]);
    free(r->logits[1]);
    free(r);
}

static void test_xfwd_fixed_engine_follows_the_float_engine(void **state)
{
    (void)state;
    int prompt[64], P;
    char err[CHAN_ERR_BYTES];
    assert_int_equal(tok_encode(tok, "Once upon a time", 1, 0, prompt, &P, err), MPC_OK);
    int steps = P + 64;
    /* float reference, greedy */
    fwd_t *f = NULL;
    assert_int_equal(fwd_new(&f, model, err), MPC_OK);
    int ftok[200], token = prompt[0];
    for (int pos = 0; pos < steps; pos++) {
        const float *lg = fwd_step(f, token, pos);
        int next = pos < P - 1 ? prompt[pos + 1] : fwd_argmax(lg, model->cfg.vocab_size);
        if (pos >= P - 1) ftok[pos - (P - 1)] = next;
        token = next;
    }
    fwd_free(&f);
    run_t r = {0};
    memcpy(r.prompt, prompt, sizeof prompt);
    r.P = P;
    r.steps = steps - 1;
    r.frac = FXP_FRAC_BITS_DEFAULT;
    size_t n = (size_t)(r.steps - P + 1);
    uint64_t *lg = calloc(n * (size_t)model->cfg.vocab_size, 8);
    int *xtok = calloc(n, sizeof *xtok);
    uint8_t seed[16];
    tu_seed(seed);
    run_plain(&r, seed, lg, xtok);
    for (size_t k = 0; k < n; k++) assert_int_equal(xtok[k], ftok[k]);
    free(lg);
    free(xtok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xfwd_fixed_engine_follows_the_float_engine),
        cmocka_unit_test(test_xfwd_secure_equals_fixed_bit_for_bit_under_test_seed),
        cmocka_unit_test(test_xfwd_traffic_is_the_same_for_prompts_of_one_length),
        cmocka_unit_test(test_xfwd_without_test_seed_stays_within_a_few_ulp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
