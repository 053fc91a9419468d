/* tests/llm/test_fwd.c - the float engine: the attention-policy hook against
 * full attention on stories260K, greedy argmax ties, and seeded models.
 *
 * That the engine reproduces llama2.c is checked end to end in
 * test_generate.c (the greedy text equals run.c's byte for byte); here the
 * oracle is the engine itself: a policy that selects every position must give
 * bit-identical logits, and one that selects fewer must be shown exactly
 * what it selected. The stories260K tests skip (exit 77) without the shared
 * files, after the file-free tests have run.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/fwd.h"
#include "llm/model.h"

/* A policy that keeps the first `sink` positions and the last `window`, and
 * checks what observe is shown. */
typedef struct window {
    int sink, window;
    int n_heads, kv_mul;
    long selects, observes;
    int bad; /* observe saw something it should not have */
    int last_idx[512], last_n;
} window_t;

static int window_select(void *ctx, const fwd_attn_query_t *qr, int *idx)
{
    window_t *w = ctx;
    int n = 0;
    for (int t = 0; t <= qr->pos; t++)
        if (t < w->sink || t > qr->pos - w->window)
            idx[n++] = t;
    w->selects++;
    memcpy(w->last_idx, idx, (size_t)n * sizeof(int));
    w->last_n = n;
    return n;
}

static void window_observe(void *ctx, const fwd_attn_query_t *qr, int head, const int *idx,
                           int n, const float *probs)
{
    window_t *w = ctx;
    w->observes++;
    if (head / w->kv_mul != qr->kv_head || head < 0 || head >= w->n_heads)
        w->bad = 1;
    if (n != w->last_n || memcmp(idx, w->last_idx, (size_t)n * sizeof(int)) != 0)
        w->bad = 1;
    float sum = 0.0f;
    for (int k = 0; k < n; k++) {
        if (!(probs[k] >= 0.0f && probs[k] <= 1.0f))
            w->bad = 1;
        sum += probs[k];
    }
    if (fabsf(sum - 1.0f) > 1e-5f)
        w->bad = 1;
}

static model_t *load_260k(void)
{
    char buf[4096], err[CHAN_ERR_BYTES];
    const char *p = tu_shared_path("models/stories260K.bin", buf, sizeof buf);
    assert_non_null(p);
    model_t *m = NULL;
    if (model_load(&m, p, err) != MPC_OK)
        fail_msg("%s", err);
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
        if (memcmp(la, lb, (size_t)vocab * sizeof(float)) != 0)
            return pos;
        ta = tb = pos + 1 < 5 ? prompt[pos + 1] : fwd_argmax(la, vocab);
    }
    return steps;
}

static void test_fwd_policy_selecting_everything_matches_full_attention(void **state)
{
    (void)state;
    model_t *m = load_260k();
    char err[CHAN_ERR_BYTES];
    fwd_t *a = NULL, *b = NULL;
    assert_int_equal(fwd_new(&a, m, err), MPC_OK);
    assert_int_equal(fwd_new(&b, m, err), MPC_OK);
    window_t w = {.sink = 0, .window = 512, .n_heads = 8, .kv_mul = 2};
    const fwd_attn_t pol = {&w, window_select, window_observe};
    fwd_set_attn(b, &pol);
    assert_int_equal(first_difference(a, b, 512, 64), 64);
    assert_false(w.bad);
    assert_int_equal(w.selects, 64L * 5 * 4);  /* steps x layers x KV heads */
    assert_int_equal(w.observes, 64L * 5 * 8); /* steps x layers x query heads */
    assert_int_equal(fwd_attended(a), 5L * 4 * 64);
    assert_int_equal(fwd_attended(b), 5L * 4 * 64);
    fwd_free(&a);
    fwd_free(&b);
    assert_null(b);
    fwd_free(&b);
    model_free(&m);
}

static void test_fwd_window_policy_attends_only_what_it_selects(void **state)
{
    (void)state;
    model_t *m = load_260k();
    char err[CHAN_ERR_BYTES];
    fwd_t *a = NULL, *b = NULL;
    assert_int_equal(fwd_new(&a, m, err), MPC_OK);
    assert_int_equal(fwd_new(&b, m, err), MPC_OK);
    window_t w = {.sink = 2, .window = 6, .n_heads = 8, .kv_mul = 2};
    const fwd_attn_t pol = {&w, window_select, window_observe};
    fwd_set_attn(b, &pol);
    /* identical while the window covers everything (pos < 8), then not */
    assert_int_equal(first_difference(a, b, 512, 40), 8);
    assert_false(w.bad);
    /* back to full attention: the same state gives the same logits as a */
    fwd_set_attn(b, NULL);
    assert_int_equal(first_difference(a, b, 512, 8), 8);
    assert_int_equal(fwd_attended(b), 5L * 4 * 8);
    fwd_free(&a);
    fwd_free(&b);
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
    if (failed)
        return failed;
    char buf[4096];
    if (!tu_shared_path("models/stories260K.bin", buf, sizeof buf))
        return TU_SKIP;
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_fwd_policy_selecting_everything_matches_full_attention),
        cmocka_unit_test(test_fwd_window_policy_attends_only_what_it_selects),
    };
    return cmocka_run_group_tests_name("fwd.stories260K", shared, NULL, NULL);
}
