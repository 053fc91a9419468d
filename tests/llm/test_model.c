/* tests/llm/test_model.c - the checkpoint loader on stories260K and on one
 * small corrupt file per failure it must report, and the seeded models.
 *
 * Corrupt checkpoints are written to a fresh temporary folder; each starts from
 * a valid tiny model (dim 8, hidden 12, 2 layers, 2 heads, 1 KV head, vocab 5,
 * seq 4) whose floats hold their own index, so the layout can be checked by
 * value. Tests that need the shared stories260K files skip (exit 77) when they
 * are missing, after the file-free tests have run.
 */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model.h"
#include "llmtest.h"

static char tmpdir[64];

/* The tiny model's header; vocab negative means an untied classifier. */
static const int32_t tiny[7] = {8, 12, 2, 2, 1, 5, 4};

/* Floats the tiny model holds: weights (tied when vocab > 0) plus the RoPE
 * tables of seq_len * head_size / 2 floats each. */
static size_t tiny_floats(const int32_t h[7])
{
    model_config_t c = {h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -h[5] : h[5], h[6]};
    return (size_t)model_param_count(&c, h[5] > 0) + 2 * (size_t)(h[6] * (h[0] / h[3]) / 2);
}

/* Writes a checkpoint with header h and n floats valued 0, 1, 2, ..., plus
 * extra bytes, to tmpdir/name; returns the path (static buffer). */
static const char *write_ckpt(const char *name, const int32_t h[7], size_t n, size_t extra)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(h, 4, 7, f), 7);
    for (size_t i = 0; i < n; i++) {
        float v = (float)i;
        assert_int_equal(fwrite(&v, 4, 1, f), 1);
    }
    for (size_t i = 0; i < extra; i++)
        fputc(0, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads path, expecting failure code with needle in the message. */
static void expect_load_error(const char *path, mpc_err_t code, const char *needle)
{
    char err[CHAN_ERR_BYTES] = "";
    model_t sentinel;
    model_t *m = &sentinel; /* must come back NULL */
    assert_int_equal(model_load(&m, path, err), code);
    assert_null(m);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_model_load_tiny_tied_layout(void **state)
{
    (void)state;
    const char *p = write_ckpt("tied.bin", tiny, tiny_floats(tiny), 0);
    char err[CHAN_ERR_BYTES];
    model_t *m = NULL;
    assert_int_equal(model_load(&m, p, err), MPC_OK);
    assert_int_equal(m->cfg.dim, 8);
    assert_int_equal(m->cfg.vocab_size, 5);
    assert_int_equal(model_head_size(&m->cfg), 4);
    assert_int_equal(model_kv_dim(&m->cfg), 4);
    assert_true(m->shared_cls);
    /* sizes: tok_emb 40, rms_att 16, wq 128, wk 64, wv 64, wo 128, rms_ffn 16,
     * w1 192, w2 192, w3 192, rms_final 8 */
    assert_true(m->w.tok_emb[0] == 0.0f);
    assert_true(m->w.rms_att[0] == 40.0f);
    assert_true(m->w.wq[0] == 56.0f);
    assert_true(m->w.wk[0] == 184.0f);
    assert_true(m->w.wv[0] == 248.0f);
    assert_true(m->w.wo[0] == 312.0f);
    assert_true(m->w.rms_ffn[0] == 440.0f);
    assert_true(m->w.w1[0] == 456.0f);
    assert_true(m->w.w2[0] == 648.0f);
    assert_true(m->w.w3[0] == 840.0f);
    assert_true(m->w.rms_final[0] == 1032.0f);
    assert_ptr_equal(m->w.wcls, m->w.tok_emb);
    model_free(&m);
    assert_null(m);
    model_free(&m);
}

static void test_model_load_untied_classifier_follows_rope_tables(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[5] = -5;
    const char *p = write_ckpt("untied.bin", h, tiny_floats(h), 0);
    char err[CHAN_ERR_BYTES];
    model_t *m = NULL;
    assert_int_equal(model_load(&m, p, err), MPC_OK);
    assert_false(m->shared_cls);
    assert_int_equal(m->cfg.vocab_size, 5);
    /* rms_final ends at 1040, then two RoPE tables of 4 * 4 / 2 = 8 floats */
    assert_true(m->w.wcls[0] == 1056.0f);
    assert_true(m->w.wcls[5 * 8 - 1] == 1095.0f);
    model_free(&m);
}

static void test_model_load_rejects_missing_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/absent.bin", tmpdir);
    expect_load_error(path, MPC_EIO, "cannot open");
}

static void test_model_load_rejects_directory(void **state)
{
    (void)state;
    expect_load_error(tmpdir, MPC_EIO, "not a regular file");
}

static void test_model_load_rejects_file_shorter_than_header(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/short.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(tiny, 1, 10, f), 10);
    fclose(f);
    expect_load_error(path, MPC_EFORMAT, "truncated");
}

static void test_model_load_rejects_truncated_weights(void **state)
{
    (void)state;
    const char *p = write_ckpt("trunc.bin", tiny, tiny_floats(tiny) - 1, 0);
    expect_load_error(p, MPC_EFORMAT, "truncated");
}

static void test_model_load_rejects_trailing_bytes(void **state)
{
    (void)state;
    const char *p = write_ckpt("long.bin", tiny, tiny_floats(tiny), 4);
    expect_load_error(p, MPC_EFORMAT, "trailing bytes");
}

static void test_model_load_rejects_missing_untied_classifier(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[5] = -5; /* says untied, but the file is the tied size */
    const char *p = write_ckpt("nocls.bin", h, tiny_floats(tiny), 0);
    expect_load_error(p, MPC_EFORMAT, "truncated");
}

static void test_model_load_rejects_negative_dim(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[0] = -8;
    const char *p = write_ckpt("negdim.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "dim is -8, not positive");
}

static void test_model_load_rejects_zero_layers(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[2] = 0;
    const char *p = write_ckpt("nolayers.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "n_layers is 0");
}

static void test_model_load_rejects_most_negative_vocab(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[5] = INT32_MIN;
    const char *p = write_ckpt("minvocab.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "vocab_size is -2147483648");
}

static void test_model_load_rejects_huge_dim(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[0] = 1 << 30;
    h[3] = 2;
    const char *p = write_ckpt("hugedim.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "dim is 1073741824, above the limit");
}

static void test_model_load_sizes_at_the_limits_do_not_overflow(void **state)
{
    (void)state;
    /* Every field at its limit: the implied size (about 2^56 bytes) must be
     * computed without wrapping and reported as a truncated file. */
    const int32_t h[7] = {MODEL_MAX_DIM,    MODEL_MAX_DIM, MODEL_MAX_LAYERS, 2, 2,
                          -MODEL_MAX_VOCAB, MODEL_MAX_SEQ};
    const char *p = write_ckpt("limits.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "truncated");
}

static void test_model_load_rejects_heads_not_dividing_dim(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[3] = 3;
    h[4] = 3;
    const char *p = write_ckpt("heads.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "n_heads 3 does not divide dim 8");
}

static void test_model_load_rejects_kv_heads_not_dividing_heads(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[4] = 3; /* n_heads 2 */
    const char *p = write_ckpt("kvheads.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "n_kv_heads 3 does not divide n_heads 2");
}

static void test_model_load_rejects_odd_head_size(void **state)
{
    (void)state;
    int32_t h[7];
    memcpy(h, tiny, sizeof h);
    h[0] = 6;
    h[3] = 2; /* head size 3 */
    const char *p = write_ckpt("odd.bin", h, 100, 0);
    expect_load_error(p, MPC_EFORMAT, "head size 3");
}

static void test_model_new_random_is_seeded_and_scaled(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    model_config_t c;
    assert_int_equal(model_shape(&c, "stories15M", err), MPC_OK);
    assert_int_equal(c.dim, 288);
    assert_int_equal(c.hidden_dim, 768);
    assert_int_equal(c.vocab_size, 32000);
    c.vocab_size = 300; /* keep the test small; the layers are the real shape */
    model_t *a = NULL, *b = NULL, *d = NULL;
    assert_int_equal(model_new_random(&a, &c, 42, err), MPC_OK);
    assert_int_equal(model_new_random(&b, &c, 42, err), MPC_OK);
    assert_int_equal(model_new_random(&d, &c, 43, err), MPC_OK);
    const size_t n = (size_t)model_param_count(&c, 1);
    assert_memory_equal(a->w.tok_emb, b->w.tok_emb, n * sizeof(float));
    assert_true(memcmp(a->w.tok_emb, d->w.tok_emb, n * sizeof(float)) != 0);
    assert_ptr_equal(a->w.wcls, a->w.tok_emb);
    /* scales: +-1/sqrt(dim) for wq, +-1/sqrt(hidden) for w2, 1 +- 0.1 norms */
    const float sd = 1.0f / sqrtf(288.0f), sh = 1.0f / sqrtf(768.0f);
    double sum_abs = 0.0;
    for (size_t i = 0; i < (size_t)288 * 288; i++) {
        assert_true(fabsf(a->w.wq[i]) <= sd);
        sum_abs += fabsf(a->w.wq[i]);
    }
    /* the mean of |U(-s, s)| is s / 2 */
    assert_true(fabs(sum_abs / (288.0 * 288.0) - sd / 2) < 0.02 * sd);
    for (size_t i = 0; i < (size_t)288 * 768; i++)
        assert_true(fabsf(a->w.w2[i]) <= sh);
    for (int i = 0; i < 288; i++) {
        assert_true(a->w.rms_att[i] >= 0.9f && a->w.rms_att[i] <= 1.1f);
        assert_true(a->w.rms_final[i] >= 0.9f && a->w.rms_final[i] <= 1.1f);
    }
    model_free(&a);
    model_free(&b);
    model_free(&d);
}

static void test_model_new_random_rejects_bad_config(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    model_config_t c = {64, 172, 5, 8, 3, 512, 512};
    model_t *m = NULL;
    assert_int_equal(model_new_random(&m, &c, 1, err), MPC_EFORMAT);
    assert_null(m);
    assert_non_null(strstr(err, "n_kv_heads 3 does not divide n_heads 8"));
}

static void test_model_shape_knows_the_benchmark_shapes(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    model_config_t c;
    assert_int_equal(model_shape(&c, "stories110M", err), MPC_OK);
    assert_int_equal(c.dim, 768);
    assert_int_equal(c.hidden_dim, 2048);
    assert_int_equal(c.n_layers, 12);
    assert_int_equal(c.n_heads, 12);
    assert_int_equal(c.n_kv_heads, 12);
    assert_int_equal(c.seq_len, 1024);
    assert_int_equal(model_config_check(&c, err), MPC_OK);
    assert_int_equal(model_shape(&c, "gpt5", err), MPC_EARG);
    assert_non_null(strstr(err, "stories15M"));
}

static void test_model_load_stories260K(void **state)
{
    (void)state;
    char buf[4096], err[CHAN_ERR_BYTES];
    const char *p = tu_shared_path("models/stories260K.bin", buf, sizeof buf);
    assert_non_null(p);
    model_t *m = NULL;
    assert_int_equal(model_load(&m, p, err), MPC_OK);
    const model_config_t want = {64, 172, 5, 8, 4, 512, 512};
    assert_memory_equal(&m->cfg, &want, sizeof want);
    assert_true(m->shared_cls);
    assert_int_equal(model_param_count(&m->cfg, 1), 260032);
    model_config_t shape;
    assert_int_equal(model_shape(&shape, "stories260K", err), MPC_OK);
    assert_memory_equal(&shape, &want, sizeof want);
    model_free(&m);
}

static int make_tmpdir(void **state)
{
    (void)state;
    return llmtest_mkdtemp(tmpdir, "test-model");
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return llmtest_rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_load_tiny_tied_layout),
        cmocka_unit_test(test_model_load_untied_classifier_follows_rope_tables),
        cmocka_unit_test(test_model_load_rejects_missing_file),
        cmocka_unit_test(test_model_load_rejects_directory),
        cmocka_unit_test(test_model_load_rejects_file_shorter_than_header),
        cmocka_unit_test(test_model_load_rejects_truncated_weights),
        cmocka_unit_test(test_model_load_rejects_trailing_bytes),
        cmocka_unit_test(test_model_load_rejects_missing_untied_classifier),
        cmocka_unit_test(test_model_load_rejects_negative_dim),
        cmocka_unit_test(test_model_load_rejects_zero_layers),
        cmocka_unit_test(test_model_load_rejects_most_negative_vocab),
        cmocka_unit_test(test_model_load_rejects_huge_dim),
        cmocka_unit_test(test_model_load_sizes_at_the_limits_do_not_overflow),
        cmocka_unit_test(test_model_load_rejects_heads_not_dividing_dim),
        cmocka_unit_test(test_model_load_rejects_kv_heads_not_dividing_heads),
        cmocka_unit_test(test_model_load_rejects_odd_head_size),
        cmocka_unit_test(test_model_new_random_is_seeded_and_scaled),
        cmocka_unit_test(test_model_new_random_rejects_bad_config),
        cmocka_unit_test(test_model_shape_knows_the_benchmark_shapes),
    };
    int failed = cmocka_run_group_tests_name("model", tests, make_tmpdir, remove_tmpdir);
    if (failed) return failed;
    char buf[4096];
    if (!tu_shared_path("models/stories260K.bin", buf, sizeof buf)) return TU_SKIP;
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_model_load_stories260K),
    };
    return cmocka_run_group_tests_name("model.stories260K", shared, NULL, NULL);
}
