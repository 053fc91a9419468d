/* tests/llm/test_tokenizer.c - the llama2.c tokenizer: known answers on
 * stories260K's tok512.bin, the merge rule on a small synthetic vocabulary,
 * and one corrupt file per failure tok_load must report.
 *
 * The known ids were checked by reading the vocabulary: 403 " Once", 407
 * " upon", 261 " a", 378 " time", 410 " ", 485 "é"; "ü" (C3 BC) is not a
 * token, so it falls back to byte tokens 0xC3 + 3 and 0xBC + 3. The same
 * encoder also agreed with an independent script of run.c's algorithm on the
 * first 60 kB of the TinyStories validation text, for tok512.bin and for the
 * 32,000-token tokenizer.bin. Tests that need the shared files skip (exit 77)
 * when they are missing, after the file-free tests have run.
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "llm/tokenizer.h"
#include "llmtest.h"

static char tmpdir[64];

/* A tokenizer file being written. */
typedef struct fbuf {
    unsigned char b[8192];
    size_t n;
} fbuf_t;

static void put_i32(fbuf_t *f, int32_t v)
{
    memcpy(f->b + f->n, &v, 4);
    f->n += 4;
}

static void put_tok(fbuf_t *f, float score, const char *s, size_t len)
{
    memcpy(f->b + f->n, &score, 4);
    f->n += 4;
    put_i32(f, (int32_t)len);
    memcpy(f->b + f->n, s, len);
    f->n += len;
}

/* max_token_length, then <unk>, <s>, </s> and the 256 byte tokens. */
static void put_base(fbuf_t *f, int32_t max_len)
{
    f->n = 0;
    put_i32(f, max_len);
    put_tok(f, 0.0f, "<unk>", 5);
    put_tok(f, 0.0f, "<s>", 3);
    put_tok(f, 0.0f, "</s>", 4);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        put_tok(f, 0.0f, s, 6);
    }
}

/* Vocabulary of the merge tests: the base, then 259 " ", 260 "a", 261 "b",
 * 262 "ab" and 263 " a" with the given scores. */
static void put_merge_vocab(fbuf_t *f, float ab, float space_a)
{
    put_base(f, 8);
    put_tok(f, -10.0f, " ", 1);
    put_tok(f, -10.0f, "a", 1);
    put_tok(f, -10.0f, "b", 1);
    put_tok(f, ab, "ab", 2);
    put_tok(f, space_a, " a", 2);
}

static const char *save(const char *name, const fbuf_t *f)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f->b, 1, f->n, fp), f->n);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static void expect_load_error(const char *path, int vocab, mpc_err_t code, const char *needle)
{
    char err[CHAN_ERR_BYTES] = "";
    tok_t *t = NULL;
    assert_int_equal(tok_load(&t, path, vocab, err), code);
    assert_null(t);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
}

/* Encodes text with BOS and checks the ids. */
static void expect_ids(const tok_t *t, const char *text, const int *want, int n_want)
{
    char err[CHAN_ERR_BYTES];
    int ids[64], n = -1;
    assert_true(tok_encode_cap(text) <= 64);
    assert_int_equal(tok_encode(t, text, 1, 0, ids, &n, err), MPC_OK);
    assert_int_equal(n, n_want);
    assert_memory_equal(ids, want, (size_t)n_want * sizeof(int));
}

static tok_t *load_shared(const char *name, int vocab)
{
    char buf[4096], err[CHAN_ERR_BYTES], rel[64];
    snprintf(rel, sizeof rel, "models/%s", name);
    const char *p = tu_shared_path(rel, buf, sizeof buf);
    assert_non_null(p);
    tok_t *t = NULL;
    if (tok_load(&t, p, vocab, err) != MPC_OK) fail_msg("%s", err);
    return t;
}

static void test_tok_merges_highest_score_first(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    fbuf_t *f = calloc(1, sizeof *f);
    tok_t *t = NULL;

    /* "ab" beats " a": " " "a" "b" -> " " "ab"; " ab" is not a token */
    put_merge_vocab(f, 5.0f, 1.0f);
    assert_int_equal(tok_load(&t, save("ab.bin", f), 264, err), MPC_OK);
    expect_ids(t, "ab", (const int[]){1, 259, 262}, 3);
    tok_free(&t);

    /* " a" beats "ab": " " "a" "b" -> " a" "b" */
    put_merge_vocab(f, 1.0f, 5.0f);
    assert_int_equal(tok_load(&t, save("sa.bin", f), 264, err), MPC_OK);
    expect_ids(t, "ab", (const int[]){1, 263, 261}, 3);
    tok_free(&t);

    /* equal scores: the leftmost pair merges */
    put_merge_vocab(f, 2.0f, 2.0f);
    assert_int_equal(tok_load(&t, save("tie.bin", f), 264, err), MPC_OK);
    expect_ids(t, "ab", (const int[]){1, 263, 261}, 3);
    /* bytes outside the vocabulary become byte tokens; "c" is byte 0x63 */
    expect_ids(t, "c", (const int[]){1, 259, 0x63 + 3}, 3);
    tok_free(&t);

    /* scores at -1e10 never merge */
    put_merge_vocab(f, -1e10f, -1e10f);
    assert_int_equal(tok_load(&t, save("never.bin", f), 264, err), MPC_OK);
    expect_ids(t, "ab", (const int[]){1, 259, 260, 261}, 4);
    tok_free(&t);
    free(f);
}

static void test_tok_encode_without_space_token_uses_its_byte(void **state)
{
    (void)state;
    char err[CHAN_ERR_BYTES];
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    tok_t *t = NULL;
    assert_int_equal(tok_load(&t, save("bare.bin", f), 259, err), MPC_OK);
    expect_ids(t, "A", (const int[]){1, ' ' + 3, 'A' + 3}, 3);
    tok_free(&t);
    free(f);
}

static void test_tok_load_rejects_truncated_token(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    f->n -= 3; /* the last token's bytes are cut */
    expect_load_error(save("cut.bin", f), 259, MPC_EFORMAT, "truncated: token 258 needs 6");
    put_base(f, 8);
    f->n -= 6 + 5; /* the last token's length field is cut */
    expect_load_error(save("cuthdr.bin", f), 259, MPC_EFORMAT,
                      "truncated: the file ends at token 258");
    free(f);
}

static void test_tok_load_rejects_file_without_max_length(void **state)
{
    (void)state;
    fbuf_t f = {{7, 0}, 2};
    expect_load_error(save("tiny.bin", &f), 259, MPC_EFORMAT, "no max_token_length");
}

static void test_tok_load_rejects_negative_length(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    put_i32(f, 0); /* score of token 259 */
    put_i32(f, -4);
    expect_load_error(save("neg.bin", f), 260, MPC_EFORMAT, "token 259 has negative length -4");
    free(f);
}

static void test_tok_load_rejects_length_above_max(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    put_tok(f, 0.0f, "ninechars", 9);
    expect_load_error(save("long.bin", f), 260, MPC_EFORMAT,
                      "token 259 has length 9, above max_token_length 8");
    free(f);
}

static void test_tok_load_rejects_absurd_max_length(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 0);
    expect_load_error(save("max0.bin", f), 259, MPC_EFORMAT, "max_token_length 0 is outside");
    put_base(f, 1 << 30);
    expect_load_error(save("maxhuge.bin", f), 259, MPC_EFORMAT,
                      "max_token_length 1073741824 is outside");
    free(f);
}

static void test_tok_load_rejects_nul_in_token(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    put_tok(f, 0.0f, "a\0b", 3);
    expect_load_error(save("nul.bin", f), 260, MPC_EFORMAT, "token 259 contains a NUL");
    free(f);
}

static void test_tok_load_rejects_trailing_bytes(void **state)
{
    (void)state;
    fbuf_t *f = calloc(1, sizeof *f);
    put_base(f, 8);
    put_tok(f, 0.0f, "x", 1);
    expect_load_error(save("extra.bin", f), 259, MPC_EFORMAT, "9 bytes follow the last of 259");
    free(f);
}

static void test_tok_load_rejects_small_vocab_and_missing_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/absent.bin", tmpdir);
    expect_load_error(path, 100, MPC_EARG, "vocab_size 100 is below 259");
    expect_load_error(path, 512, MPC_EIO, "cannot open");
}

static void test_tok_piece_printable_follows_run_c(void **state)
{
    (void)state;
    assert_false(tok_piece_printable(""));
    assert_true(tok_piece_printable("a"));
    assert_true(tok_piece_printable(" "));
    assert_true(tok_piece_printable("\n"));
    assert_true(tok_piece_printable("\t"));
    assert_true(tok_piece_printable("~"));
    assert_false(tok_piece_printable("\x01"));
    assert_false(tok_piece_printable("\x7f"));
    assert_false(tok_piece_printable("\xc3"));
    assert_true(tok_piece_printable("\xc3\xbc")); /* more than one byte: printed */
    assert_true(tok_piece_printable("ab"));
}

static void test_tok_encode_known_ids_on_tok512(void **state)
{
    (void)state;
    tok_t *t = load_shared("tok512.bin", 512);
    assert_int_equal(tok_vocab_size(t), 512);
    assert_int_equal(tok_max_token_length(t), 7);
    assert_string_equal(tok_piece(t, 403), " Once");
    expect_ids(t, "Once upon a time", (const int[]){1, 403, 407, 261, 378}, 5);
    expect_ids(t, "a", (const int[]){1, 261}, 2);
    expect_ids(t, "Lily", (const int[]){1, 317}, 2);
    expect_ids(t, "", (const int[]){1}, 1);
    expect_ids(t, "\xc3\xa9", (const int[]){1, 410, 485}, 3);                /* é is a token */
    expect_ids(t, "\xc3\xbc", (const int[]){1, 410, 0xc3 + 3, 0xbc + 3}, 4); /* ü is not */

    char err[CHAN_ERR_BYTES];
    int ids[8], n = -1;
    assert_int_equal(tok_encode(t, "", 0, 0, ids, &n, err), MPC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tok_encode(t, "a", 0, 1, ids, &n, err), MPC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 261);
    assert_int_equal(ids[1], TOK_EOS);
    tok_free(&t);
}

static void test_tok_decode_strips_space_after_bos_and_maps_bytes(void **state)
{
    (void)state;
    tok_t *t = load_shared("tok512.bin", 512);
    assert_string_equal(tok_decode(t, TOK_BOS, 403), "Once");
    assert_string_equal(tok_decode(t, 378, 403), " Once");
    assert_string_equal(tok_decode(t, 403, 407), " upon");
    assert_string_equal(tok_decode(t, 5, 0x0a + 3), "\n");
    assert_string_equal(tok_decode(t, 5, 0xc3 + 3), "\xc3");
    assert_string_equal(tok_decode(t, 5, 3), ""); /* byte 0 */
    assert_string_equal(tok_decode(t, 5, TOK_BOS), "<s>");
    assert_string_equal(tok_decode(t, 5, 410), " ");
    assert_string_equal(tok_decode(t, TOK_BOS, 410), "");
    tok_free(&t);
}

static void test_tok_encode_then_decode_round_trips(void **state)
{
    (void)state;
    static const char *texts[] = {
        "Once upon a time, there was a little girl named Lily.",
        "Lily's mom said, \"Let's go to the park!\"\nTim said: no.",
        "Z\xc3\xb6\xc3\xab said \xe2\x80\x9chi\xe2\x80\x9d \xc3\xbc \xf0\x9f\x99\x82 \xe6\x97\xa5",
        "  two spaces, a tab\tand 3.14",
        "x",
    };
    tok_t *t = load_shared("tok512.bin", 512);
    char err[CHAN_ERR_BYTES], out[512];
    int ids[256], n;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_true(tok_encode_cap(texts[i]) <= 256);
        assert_int_equal(tok_encode(t, texts[i], 1, 0, ids, &n, err), MPC_OK);
        assert_int_equal(ids[0], TOK_BOS);
        size_t len = 0;
        for (int k = 1; k < n; k++) {
            const char *p = tok_decode(t, ids[k - 1], ids[k]);
            assert_true(len + strlen(p) < sizeof out);
            memcpy(out + len, p, strlen(p));
            len += strlen(p);
        }
        out[len] = '\0';
        assert_string_equal(out, texts[i]);
    }
    tok_free(&t);
}

static void test_tok_load_rejects_other_vocab_size(void **state)
{
    (void)state;
    char buf[4096];
    const char *p = tu_shared_path("models/tok512.bin", buf, sizeof buf);
    assert_non_null(p);
    expect_load_error(p, 511, MPC_EFORMAT, "follow the last of 511 tokens");
    expect_load_error(p, 32000, MPC_EFORMAT, "truncated");
}

static int make_tmpdir(void **state)
{
    (void)state;
    return llmtest_mkdtemp(tmpdir, "test-tokenizer");
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return llmtest_rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok_merges_highest_score_first),
        cmocka_unit_test(test_tok_encode_without_space_token_uses_its_byte),
        cmocka_unit_test(test_tok_load_rejects_truncated_token),
        cmocka_unit_test(test_tok_load_rejects_file_without_max_length),
        cmocka_unit_test(test_tok_load_rejects_negative_length),
        cmocka_unit_test(test_tok_load_rejects_length_above_max),
        cmocka_unit_test(test_tok_load_rejects_absurd_max_length),
        cmocka_unit_test(test_tok_load_rejects_nul_in_token),
        cmocka_unit_test(test_tok_load_rejects_trailing_bytes),
        cmocka_unit_test(test_tok_load_rejects_small_vocab_and_missing_file),
        cmocka_unit_test(test_tok_piece_printable_follows_run_c),
    };
    int failed = cmocka_run_group_tests_name("tokenizer", tests, make_tmpdir, remove_tmpdir);
    if (failed) return failed;
    char buf[4096];
    if (!tu_shared_path("models/tok512.bin", buf, sizeof buf)) return TU_SKIP;
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_tok_encode_known_ids_on_tok512),
        cmocka_unit_test(test_tok_decode_strips_space_after_bos_and_maps_bytes),
        cmocka_unit_test(test_tok_encode_then_decode_round_trips),
        cmocka_unit_test(test_tok_load_rejects_other_vocab_size),
    };
    return cmocka_run_group_tests_name("tokenizer.tok512", shared, NULL, NULL);
}
