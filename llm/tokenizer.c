/* llm/tokenizer.c - reading, encoding and decoding llama2.c tokenizers
 * (tokenizer.h).
 *
 * The file is read whole and parsed with every length checked against what
 * is left, and the pieces are copied into one NUL-terminated blob. A copy of
 * the vocabulary sorted by bytes (ties by id) answers "which token is this
 * string" by binary search. The merge loop keeps, for every adjacent pair, the
 * token its concatenation forms, and after a merge looks up only the two pairs
 * next to it; picking the best pair by a left-to-right scan with a strict
 * comparison gives the same merges as recomputing every pair each time, as
 * run.c does, in O(n) lookups instead of O(n^2).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llm/fail_impl.h"
#include "llm/tokenizer.h"

typedef struct entry {
    const char *str;
    int id;
} entry_t;

struct tok {
    int vocab_size;
    int max_len;              /* max_token_length from the file */
    const char **vocab;       /* (vocab_size) pieces, into blob */
    float *scores;            /* (vocab_size) merge scores */
    char *blob;               /* the pieces, each NUL-terminated */
    entry_t *sorted;          /* (vocab_size) by strcmp, then by id */
    int space_id;             /* id of " ", or -1 when absent */
    unsigned char bytes[512]; /* (256, 2): byte b at 2b, then a NUL */
};

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = strcmp(x->str, y->str);
    return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

/* The lowest id whose piece is s, or -1. */
static int lookup(const tok_t *t, const char *s)
{
    size_t lo = 0, hi = (size_t)t->vocab_size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->sorted[mid].str, s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < (size_t)t->vocab_size && strcmp(t->sorted[lo].str, s) == 0 ? t->sorted[lo].id : -1;
}

static int32_t get_i32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float get_f32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Parses the file image d[0..size) into t (vocab_size already set). */
static mpc_err_t parse(tok_t *t, const unsigned char *d, size_t size, const char *path, char *err)
{
    const int V = t->vocab_size;
    size_t off = 4;
    char *w = t->blob;
    for (int i = 0; i < V; i++) {
        if (size - off < 8)
            return llm_fail(err, MPC_EFORMAT, "%s: truncated: the file ends at token %d of %d",
                            path, i, V);
        t->scores[i] = get_f32(d + off);
        int32_t len = get_i32(d + off + 4);
        off += 8;
        if (len < 0)
            return llm_fail(err, MPC_EFORMAT, "%s: token %d has negative length %d", path, i,
                            (int)len);
        if (len > t->max_len)
            return llm_fail(err, MPC_EFORMAT,
                            "%s: token %d has length %d, above "
                            "max_token_length %d",
                            path, i, (int)len, t->max_len);
        if (size - off < (size_t)len)
            return llm_fail(err, MPC_EFORMAT,
                            "%s: truncated: token %d needs %d bytes, %zu "
                            "are left",
                            path, i, (int)len, size - off);
        if (memchr(d + off, 0, (size_t)len))
            return llm_fail(err, MPC_EFORMAT, "%s: token %d contains a NUL byte", path, i);
        memcpy(w, d + off, (size_t)len);
        w[len] = '\0';
        t->vocab[i] = w;
        w += len + 1;
        off += (size_t)len;
    }
    if (off != size)
        return llm_fail(err, MPC_EFORMAT,
                        "%s: %zu bytes follow the last of %d tokens: a "
                        "tokenizer for another vocabulary size?",
                        path, size - off, V);
    return MPC_OK;
}

/* Reads the whole file at path into *data (caller frees). Files that cannot
 * hold vocab_size tokens of at most TOK_MAX_TOKEN_LENGTH bytes are refused
 * before reading. */
static mpc_err_t read_file(unsigned char **data, size_t *size, const char *path, int vocab_size,
                           char *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return llm_fail(err, MPC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return llm_fail(err, MPC_EIO, "%s: not a regular file", path);
    }
    const uint64_t most = 4 + (uint64_t)vocab_size * (8 + TOK_MAX_TOKEN_LENGTH);
    if ((uint64_t)st.st_size > most) {
        fclose(f);
        return llm_fail(err, MPC_EFORMAT, "%s: %lld bytes, more than %d tokens can take", path,
                        (long long)st.st_size, vocab_size);
    }
    *size = (size_t)st.st_size;
    *data = malloc(*size ? *size : 1);
    if (!*data) {
        fclose(f);
        return llm_fail(err, MPC_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(*data, 1, *size, f);
    fclose(f);
    if (got != *size) {
        free(*data);
        *data = NULL;
        return llm_fail(err, MPC_EIO, "%s: short read (%zu of %zu bytes)", path, got, *size);
    }
    return MPC_OK;
}

mpc_err_t tok_load(tok_t **out, const char *path, int vocab_size, char *err)
{
    *out = NULL;
    if (vocab_size < TOK_MIN_VOCAB)
        return llm_fail(err, MPC_EARG,
                        "%s: vocab_size %d is below %d (3 specials and 256 "
                        "bytes)",
                        path, vocab_size, TOK_MIN_VOCAB);
    unsigned char *d = NULL;
    size_t size = 0;
    mpc_err_t e = read_file(&d, &size, path, vocab_size, err);
    if (e != MPC_OK) return e;
    if (size < 4) {
        free(d);
        return llm_fail(err, MPC_EFORMAT, "%s: truncated: %zu bytes, no max_token_length", path,
                        size);
    }
    int32_t max_len = get_i32(d);
    if (max_len < 1 || max_len > TOK_MAX_TOKEN_LENGTH) {
        free(d);
        return llm_fail(err, MPC_EFORMAT, "%s: max_token_length %d is outside 1..%d", path,
                        (int)max_len, TOK_MAX_TOKEN_LENGTH);
    }
    tok_t *t = calloc(1, sizeof *t);
    if (t) {
        t->vocab_size = vocab_size;
        t->max_len = max_len;
        t->vocab = malloc((size_t)vocab_size * sizeof *t->vocab);
        t->scores = malloc((size_t)vocab_size * sizeof *t->scores);
        t->sorted = malloc((size_t)vocab_size * sizeof *t->sorted);
        t->blob = malloc(size + (size_t)vocab_size); /* pieces fit in the file, plus NULs */
    }
    if (!t || !t->vocab || !t->scores || !t->sorted || !t->blob) {
        free(d);
        tok_free(&t);
        return llm_fail(err, MPC_ENOMEM, "%s: out of memory", path);
    }
    e = parse(t, d, size, path, err);
    free(d);
    if (e != MPC_OK) {
        tok_free(&t);
        return e;
    }
    for (int i = 0; i < vocab_size; i++)
        t->sorted[i] = (entry_t){t->vocab[i], i};
    qsort(t->sorted, (size_t)vocab_size, sizeof *t->sorted, entry_cmp);
    for (int b = 0; b < 256; b++) {
        t->bytes[2 * b] = (unsigned char)b;
        t->bytes[2 * b + 1] = 0;
    }
    t->space_id = lookup(t, " ");
    *out = t;
    return MPC_OK;
}

void tok_free(tok_t **t)
{
    if (!t || !*t) return;
    free((*t)->vocab);
    free((*t)->scores);
    free((*t)->sorted);
    free((*t)->blob);
    free(*t);
    *t = NULL;
}

int tok_vocab_size(const tok_t *t)
{
    return t->vocab_size;
}

int tok_max_token_length(const tok_t *t)
{
    return t->max_len;
}

const char *tok_piece(const tok_t *t, int id)
{
    MPC_ASSERT(id >= 0 && id < t->vocab_size);
    return t->vocab[id];
}

size_t tok_encode_cap(const char *text)
{
    return strlen(text) + 3;
}

/* The token that pieces a and b form together, or -1; buf holds 2 max_len + 1
 * bytes. */
static int pair_id(const tok_t *t, int a, int b, char *buf)
{
    size_t la = strlen(t->vocab[a]), lb = strlen(t->vocab[b]);
    memcpy(buf, t->vocab[a], la);
    memcpy(buf + la, t->vocab[b], lb + 1);
    return lookup(t, buf);
}

/* The byte-level pass: one token per UTF-8 code point of up to 4 bytes that is
 * in the vocabulary, byte tokens otherwise. A code point starts at any byte
 * that is not a continuation byte (10xxxxxx) and takes the continuation bytes
 * that follow, up to 4 bytes in all. Appends to tokens[*n..]. */
static void encode_code_points(const tok_t *t, const char *text, int *tokens, int *n, char *buf)
{
    size_t len = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        buf[len++] = (char)*c;
        buf[len] = '\0';
        if ((c[1] & 0xC0) == 0x80 && len < 4) continue;
        int id = lookup(t, buf);
        if (id >= 0) {
            tokens[(*n)++] = id;
        } else {
            for (size_t i = 0; i < len; i++)
                tokens[(*n)++] = (unsigned char)buf[i] + 3;
        }
        len = 0;
    }
}

mpc_err_t tok_encode(const tok_t *t, const char *text, int bos, int eos, int *tokens, int *n_tokens,
                     char *err)
{
    *n_tokens = 0;
    const size_t cap = tok_encode_cap(text);
    char *buf = malloc(2 * (size_t)t->max_len + 5); /* a pair of pieces, or 4 bytes */
    int *pair = malloc(cap * sizeof *pair);         /* (n - 1) token of tokens[i], [i + 1] */
    if (!buf || !pair) {
        free(buf);
        free(pair);
        return llm_fail(err, MPC_ENOMEM, "out of memory encoding %zu bytes", cap - 3);
    }
    int n = 0;
    if (bos) tokens[n++] = TOK_BOS;
    if (text[0] != '\0') tokens[n++] = t->space_id >= 0 ? t->space_id : ' ' + 3;
    encode_code_points(t, text, tokens, &n, buf);

    for (int i = 0; i + 1 < n; i++)
        pair[i] = pair_id(t, tokens[i], tokens[i + 1], buf);
    for (;;) {
        float best_score = -1e10f;
        int best = -1;
        for (int i = 0; i + 1 < n; i++) {
            if (pair[i] >= 0 && t->scores[pair[i]] > best_score) {
                best_score = t->scores[pair[i]];
                best = i;
            }
        }
        if (best < 0) break;
        tokens[best] = pair[best];
        memmove(tokens + best + 1, tokens + best + 2, (size_t)(n - best - 2) * sizeof *tokens);
        memmove(pair + best, pair + best + 1, (size_t)(n - best - 2) * sizeof *pair);
        n--;
        if (best > 0) pair[best - 1] = pair_id(t, tokens[best - 1], tokens[best], buf);
        if (best + 1 < n) pair[best] = pair_id(t, tokens[best], tokens[best + 1], buf);
    }
    if (eos) tokens[n++] = TOK_EOS;
    free(buf);
    free(pair);
    *n_tokens = n;
    return MPC_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

const char *tok_decode(const tok_t *t, int prev, int token)
{
    MPC_ASSERT(token >= 0 && token < t->vocab_size);
    const char *p = t->vocab[token];
    if (prev == TOK_BOS && p[0] == ' ') p++;
    if (strlen(p) == 6 && strncmp(p, "<0x", 3) == 0 && p[5] == '>') {
        int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
        if (hi >= 0 && lo >= 0) return (const char *)&t->bytes[2 * (hi * 16 + lo)];
    }
    return p;
}

int tok_piece_printable(const char *piece)
{
    const unsigned char b = (unsigned char)piece[0];
    if (b == 0) return 0;
    if (piece[1] != '\0') return 1;
    return (b >= 0x20 && b <= 0x7e) || (b >= '\t' && b <= '\r');
}
