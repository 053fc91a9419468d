/* tests/llm/test_fwd.c - the float engine: KV-cache policies (mpcache/kv.h)
 * against full attention on stories260K, greedy argmax ties, and seeded
 * models.
 *
 * That the engine reproduces llama2.c is checked end to end in
 * test_generate.c (the greedy text equals run.c's byte for byte); here the
 * oracle is the engine itself: the full policy must give bit-identical
 * logits, and a budgeted one must attend exactly its budget. The stories260K tests skip (exit 77)
 * without the shared files, after the file-free tests have run.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/fwd.h"
#include "llm/model.h"
#include "mpcache/kv.h"

static model_t *load_260k(void)
{
    char buf[4096], err[CHAN_ERR_BYTES];
    const char *p = tu_shared_path("models/stories260K.bin", buf, sizeof buf);
    assert_non_null(p);
    model_t *m = NULL;
    if (model_load(&m, p, err) != MPC_OK) fail_msg("%s", err);
    return m;
}

/* Runs the prompt "Once upon a time" (its ids) and then greedy steps on a
 * and b side by side; returns the first step at which the logits differ, or
 * steps when they never do. */
static int first_difference(fwd_t *a, fwd_t *b, int vocab, int steps)
{
    static const int prompt[] = {1, 403, 407, 261, 378};
    int ta = prompt[0], tb = prompt[0];
    for (int pos = 0; pos < steps; pos++) {
        const float *la = fwd_step(a, ta, pos), *lb = fwd_step(b, tb, pos);
        if (memcmp(la, lb, (size_t)vocab * sizeof(float)) != 0) return pos;
        ta = tb = pos + 1 < 5 ? prompt[pos + 1] : fwd_argmax(la, vocab);
    }
    return steps;
}

/* A fresh cache of policy for stories260K, 64 positions, a 5-token prompt. */
static kv_t *make_kv(kv_policy_t policy, double budget)
{
    kv_config_t c;
    kv_config_default(&c);
    c.policy = policy;
    c.budget = budget;
    c.n_layers = 5;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_size = 8;
    c.seq_len = 64;
    c.prompt_len = 5;
    mpc_err_t e = MPC_OK;
    char msg[CHAN_ERR_BYTES] = "";
    kv_t *kv = kv_new(&c, &e, msg, sizeof msg);
    if (!kv) fail_msg("kv_new: %s", msg);
    return kv;
}

static void test_fwd_full_policy_matches_full_attention_bit_for_bit(void **state)
{
    (void)state;
    model_t *m = load_260k();
    char err[CHAN_ERR_BYTES];
    fwd_t *a = NULL, *b = NULL;
    assert_int_equal(fwd_new(&a, m, err), MPC_OK);
    assert_int_equal(fwd_new(&b, m, err), MPC_OK);
    kv_t *kv = make_kv(KV_FULL, 1.0);
    assert_int_equal(fwd_set_kv(b, kv, err), MPC_OK);
    assert_int_equal(first_difference(a, b, 512, 64), 64);
    for (int l = 0; l < 5; l++) {
        assert_int_equal(fwd_attended(a, l), 4 * 64);
        assert_int_equal(fwd_attended(b, l), 4 * 64);
        assert_int_equal(kv_attended(kv, 63, l), 4 * 64);
    }
    fwd_free(&a);
    fwd_free(&b);
    assert_null(b);
    fwd_free(&b);
    kv_free(&kv);
    model_free(&m);
}

static void test_fwd_budgeted_policy_attends_what_it_selects(void **state)
{
    (void)state;
    model_t *m = load_260k();
    char err[CHAN_ERR_BYTES];
    fwd_t *a = NULL, *b = NULL;
    assert_int_equal(fwd_new(&a, m, err), MPC_OK);
    assert_int_equal(fwd_new(&b, m, err), MPC_OK);
    kv_t *kv = make_kv(KV_STREAMING, 0.25);
    assert_int_equal(fwd_set_kv(b, kv, err), MPC_OK);
    /* the prompt attends everything; decoding attends the budget only, and
     * the logits part from full attention once it has dropped a token (the
     * step compared last) */
    const int diff = first_difference(a, b, 512, 64);
    assert_true(diff >= 5 && diff < 64);
    const kv_config_t *c = kv_config(kv);
    for (int l = 0; l < 5; l++) {
        assert_int_equal(fwd_attended(b, l), 4 * kv_budget_tokens(c, diff));
        assert_int_equal(fwd_attended(b, l), kv_attended(kv, diff, l));
        assert_true(fwd_attended(b, l) < 4 * (diff + 1));
    }
    /* detached, the engine is llama2.c again */
    assert_int_equal(fwd_set_kv(b, NULL, err), MPC_OK);
    assert_int_equal(first_difference(a, b, 512, 16), 16);
    fwd_free(&a);
    fwd_free(&b);
    kv_free(&kv);
    model_free(&m);
}

static void test_fwd_set_kv_rejects_other_shapes(void **state)
{
    (void)state;
    model_t *m = load_260k();
    char err[CHAN_ERR_BYTES];
    fwd_t *f = NULL;
    assert_int_equal(fwd_new(&f, m, err), MPC_OK);
    kv_config_t c;
    kv_config_default(&c);
    c.n_layers = 5;
    c.n_heads = 8;
    c.n_kv_heads = 8; /* the model has 4 */
    c.head_size = 8;
    c.seq_len = 64;
    c.prompt_len = 5;
    mpc_err_t e = MPC_OK;
    kv_t *kv = kv_new(&c, &e, NULL, 0);
    assert_non_null(kv);
    assert_int_equal(fwd_set_kv(f, kv, err), MPC_EARG);
    assert_non_null(strstr(err, "8 KV heads"));
    kv_free(&kv);
    c.n_kv_heads = 4;
    c.seq_len = 1024; /* the model has 512 */
    kv = kv_new(&c, &e, NULL, 0);
    assert_non_null(kv);
    assert_int_equal(fwd_set_kv(f, kv, err), MPC_EARG);
    assert_non_null(strstr(err, "1024 positions"));
    kv_free(&kv);
    fwd_free(&f);
    model_free(&m);
}

static void test_fwd_argmax_takes_the_first_maximum(void **state)
{
    (void)state;
    const float v[] = {-1.0f, 3.0f, 2.0f, 3.0f, -INFINITY};
    assert_int_equal(fwd_argmax(v, 5), 1);
    assert_int_equal(fwd_argmax(v, 1), 0);
    const float same[] = {0.5f, 0.5f, 0.5f};
    assert_int_equal(fwd_argmax(same, 3), 0);
}

static void test_fwd_seeded_model_is_deterministic_and_finite(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    model_config_t c;
    assert_int_equal(model_shape(&c, "stories15M", err), MPC_OK);
    c.vocab_size = 512; /* small test; the layers keep the real shape */
    c.seq_len = 16;
    model_t *m1 = NULL, *m2 = NULL;
    assert_int_equal(model_new_random(&m1, &c, 7, err), MPC_OK);
    assert_int_equal(model_new_random(&m2, &c, 7, err), MPC_OK);
    fwd_t *a = NULL, *b = NULL;
    assert_int_equal(fwd_new(&a, m1, err), MPC_OK);
    assert_int_equal(fwd_new(&b, m2, err), MPC_OK);
    int tok = 1;
    for (int pos = 0; pos < 16; pos++) {
        const float *la = fwd_step(a, tok, pos), *lb = fwd_step(b, tok, pos);
        assert_memory_equal(la, lb, 512 * sizeof(float));
        float lo = la[0], hi = la[0];
        for (int i = 0; i < 512; i++) {
            assert_true(isfinite(la[i]));
            lo = fminf(lo, la[i]);
            hi = fmaxf(hi, la[i]);
        }
        assert_true(hi - lo > 1e-3f); /* the logits are not degenerate */
        tok = fwd_argmax(la, 512);
    }
    fwd_free(&a);
    fwd_free(&b);
    model_free(&m1);
    model_free(&m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fwd_argmax_takes_the_first_maximum),
        cmocka_unit_test(test_fwd_seeded_model_is_deterministic_and_finite),
    };
    int failed = cmocka_run_group_tests_name("fwd", tests, NULL, NULL);
    if (failed) return failed;
    char buf[4096];
    if (!tu_shared_path("models/stories260K.bin", buf, sizeof buf)) return TU_SKIP;
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_fwd_full_policy_matches_full_attention_bit_for_bit),
        cmocka_unit_test(test_fwd_budgeted_policy_attends_what_it_selects),
        cmocka_unit_test(test_fwd_set_kv_rejects_other_shapes),
    };
    return cmocka_run_group_tests_name("fwd.stories260K", shared, NULL, NULL);
}
