/* llm/model.c - reads llama2.c checkpoints and makes seeded models
 * (model.h).
 *
 * The loader trusts nothing in the file: the header is checked field by field
 * against MODEL_MAX_* before any size is computed, so every size below fits
 * comfortably in 64 bits, and the file must be exactly as long as the header
 * implies before the weight pointers are formed from the mapping. The two
 * unused RoPE tables that follow rms_final (seq_len * head_size / 2 floats
 * each) are counted in that length and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm/fail_impl.h"
#include "llm/model.h"

#define HEADER_BYTES (7 * 4)

int model_head_size(const model_config_t *c)
{
    return c->dim / c->n_heads;
}

int model_kv_dim(const model_config_t *c)
{
    return c->n_kv_heads * model_head_size(c);
}

static mpc_err_t check_range(const char *name, int v, int max, char *err)
{
    if (v <= 0) return llm_fail(err, MPC_EFORMAT, "%s is %d, not positive", name, v);
    if (v > max) return llm_fail(err, MPC_EFORMAT, "%s is %d, above the limit %d", name, v, max);
    return MPC_OK;
}

mpc_err_t model_config_check(const model_config_t *c, char *err)
{
    const struct {
        const char *name;
        int v, max;
    } f[] = {
        {"dim", c->dim, MODEL_MAX_DIM},
        {"hidden_dim", c->hidden_dim, MODEL_MAX_DIM},
        {"n_layers", c->n_layers, MODEL_MAX_LAYERS},
        {"n_heads", c->n_heads, MODEL_MAX_DIM},
        {"n_kv_heads", c->n_kv_heads, MODEL_MAX_DIM},
        {"vocab_size", c->vocab_size, MODEL_MAX_VOCAB},
        {"seq_len", c->seq_len, MODEL_MAX_SEQ},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        mpc_err_t e = check_range(f[i].name, f[i].v, f[i].max, err);
        if (e != MPC_OK) return e;
    }
    if (c->dim % c->n_heads != 0)
        return llm_fail(err, MPC_EFORMAT, "n_heads %d does not divide dim %d", c->n_heads, c->dim);
    if (c->n_heads % c->n_kv_heads != 0)
        return llm_fail(err, MPC_EFORMAT, "n_kv_heads %d does not divide n_heads %d", c->n_kv_heads,
                        c->n_heads);
    if (model_head_size(c) % 2 != 0)
        return llm_fail(err, MPC_EFORMAT,
                        "head size %d (dim %d / n_heads %d) is odd, but RoPE "
                        "rotates pairs",
                        model_head_size(c), c->dim, c->n_heads);
    return MPC_OK;
}

uint64_t model_param_count(const model_config_t *c, int shared)
{
    const uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim;
    const uint64_t L = (uint64_t)c->n_layers, V = (uint64_t)c->vocab_size;
    const uint64_t kv = (uint64_t)model_kv_dim(c);
    uint64_t per_layer = 2 * dim          /* rms_att, rms_ffn */
                         + 2 * dim * dim  /* wq, wo */
                         + 2 * kv * dim   /* wk, wv */
                         + 3 * hid * dim; /* w1, w2, w3 */
    return V * dim * (shared ? 1 : 2) + L * per_layer + dim;
}

/* Floats of the two unused RoPE tables stored after rms_final. */
static uint64_t rope_floats(const model_config_t *c)
{
    return 2 * ((uint64_t)c->seq_len * (uint64_t)model_head_size(c) / 2);
}

/* Points w at consecutive arrays starting at p, in file order, skipping skip
 * floats after rms_final; wcls follows them unless shared. */
static void point_weights(model_weights_t *w, const model_config_t *c, const float *p, int shared,
                          uint64_t skip)
{
    const size_t dim = (size_t)c->dim, hid = (size_t)c->hidden_dim;
    const size_t L = (size_t)c->n_layers, kv = (size_t)model_kv_dim(c);
    w->tok_emb = p, p += (size_t)c->vocab_size * dim;
    w->rms_att = p, p += L * dim;
    w->wq = p, p += L * dim * dim;
    w->wk = p, p += L * kv * dim;
    w->wv = p, p += L * kv * dim;
    w->wo = p, p += L * dim * dim;
    w->rms_ffn = p, p += L * dim;
    w->w1 = p, p += L * hid * dim;
    w->w2 = p, p += L * dim * hid;
    w->w3 = p, p += L * hid * dim;
    w->rms_final = p, p += dim;
    p += skip;
    w->wcls = shared ? w->tok_emb : p;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

mpc_err_t model_load(model_t **out, const char *path, char *err)
{
    *out = NULL;
    if (!host_is_little_endian())
        return llm_fail(err, MPC_EFORMAT,
                        "%s: checkpoints are little-endian and this host "
                        "is not",
                        path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return llm_fail(err, MPC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return llm_fail(err, MPC_EIO, "%s: not a regular file", path);
    }
    const uint64_t size = (uint64_t)st.st_size;
    int32_t h[7];
    if (size < HEADER_BYTES) {
        close(fd);
        return llm_fail(err, MPC_EFORMAT,
                        "%s: truncated: %llu bytes, less than the %d-byte "
                        "header",
                        path, (unsigned long long)size, HEADER_BYTES);
    }
    if (pread(fd, h, HEADER_BYTES, 0) != HEADER_BYTES) {
        int e = errno;
        close(fd);
        return llm_fail(err, MPC_EIO, "%s: cannot read the header: %s", path, strerror(e));
    }
    model_config_t c = {h[0], h[1], h[2], h[3], h[4], h[5], h[6]};
    const int shared = c.vocab_size > 0;
    /* -INT32_MIN does not exist; leave it negative for the check to reject. */
    if (c.vocab_size < 0 && c.vocab_size != INT32_MIN) c.vocab_size = -c.vocab_size;
    char why[CHAN_ERR_BYTES];
    if (model_config_check(&c, why) != MPC_OK) {
        close(fd);
        return llm_fail(err, MPC_EFORMAT, "%s: bad header: %s", path, why);
    }
    const uint64_t want = HEADER_BYTES + 4 * (model_param_count(&c, shared) + rope_floats(&c));
    if (size != want) {
        close(fd);
        return llm_fail(err, MPC_EFORMAT,
                        "%s: %s: the header (dim %d, hidden_dim %d, n_layers "
                        "%d, n_heads %d, n_kv_heads %d, vocab_size %d%s, seq_len %d) implies "
                        "%llu bytes but the file has %llu",
                        path, size < want ? "truncated" : "trailing bytes", c.dim, c.hidden_dim,
                        c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
                        shared ? " tied" : " untied", c.seq_len, (unsigned long long)want,
                        (unsigned long long)size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return llm_fail(err, MPC_EIO, "%s: cannot map: %s", path, strerror(map_errno));
    model_t *m = calloc(1, sizeof *m);
    if (!m) {
        munmap(map, (size_t)size);
        return llm_fail(err, MPC_ENOMEM, "%s: out of memory", path);
    }
    m->cfg = c;
    m->shared_cls = shared;
    m->map = map;
    m->map_len = (size_t)size;
    point_weights(&m->w, &c, (const float *)((const char *)map + HEADER_BYTES), shared,
                  rope_floats(&c));
    *out = m;
    return MPC_OK;
}

mpc_err_t model_shape(model_config_t *out, const char *name, char *err)
{
    static const struct {
        const char *name;
        model_config_t c;
    } shapes[] = {
        {"stories260K", {64, 172, 5, 8, 4, 512, 512}},
        {"stories15M", {288, 768, 6, 6, 6, 32000, 256}},
        {"stories110M", {768, 2048, 12, 12, 12, 32000, 1024}},
        {"llama7b-1l", {4096, 11008, 1, 32, 32, 32000, 2048}},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(name, shapes[i].name) == 0) {
            *out = shapes[i].c;
            return MPC_OK;
        }
    }
    return llm_fail(err, MPC_EARG,
                    "unknown shape '%s' (known: stories260K, stories15M, "
                    "stories110M, llama7b-1l)",
                    name);
}

/* SplitMix64: a fixed, portable stream, so a seed names the same weights
 * everywhere. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills p[0..n) with center + uniform(-half, half), from the top 24 bits of
 * each draw so that the float conversion is exact. */
static float *fill_uniform(float *p, size_t n, float center, float half, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        float u = (float)(splitmix64(s) >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
        p[i] = center + (2.0f * u - 1.0f) * half;
    }
    return p + n;
}

mpc_err_t model_new_random(model_t **out, const model_config_t *c, uint64_t seed, char *err)
{
    *out = NULL;
    mpc_err_t e = model_config_check(c, err);
    if (e != MPC_OK) return e;
    const uint64_t n = model_param_count(c, 1);
    if (n > SIZE_MAX / sizeof(float))
        return llm_fail(err, MPC_ENOMEM, "%llu weights do not fit in the address space",
                        (unsigned long long)n);
    model_t *m = calloc(1, sizeof *m);
    float *buf = malloc((size_t)n * sizeof(float));
    if (!m || !buf) {
        free(m);
        free(buf);
        return llm_fail(err, MPC_ENOMEM, "out of memory for %llu weights", (unsigned long long)n);
    }
    const size_t dim = (size_t)c->dim, hid = (size_t)c->hidden_dim;
    const size_t L = (size_t)c->n_layers, kv = (size_t)model_kv_dim(c);
    const float s_dim = 1.0f / sqrtf((float)dim), s_hid = 1.0f / sqrtf((float)hid);
    uint64_t s = seed;
    float *p = buf;
    p = fill_uniform(p, (size_t)c->vocab_size * dim, 0.0f, s_dim, &s); /* tok_emb */
    p = fill_uniform(p, L * dim, 1.0f, 0.1f, &s);                      /* rms_att */
    p = fill_uniform(p, L * dim * dim, 0.0f, s_dim, &s);               /* wq */
    p = fill_uniform(p, 2 * L * kv * dim, 0.0f, s_dim, &s);            /* wk, wv */
    p = fill_uniform(p, L * dim * dim, 0.0f, s_dim, &s);               /* wo */
    p = fill_uniform(p, L * dim, 1.0f, 0.1f, &s);                      /* rms_ffn */
    p = fill_uniform(p, L * hid * dim, 0.0f, s_dim, &s);               /* w1 */
    p = fill_uniform(p, L * dim * hid, 0.0f, s_hid, &s);               /* w2 */
    p = fill_uniform(p, L * hid * dim, 0.0f, s_dim, &s);               /* w3 */
    p = fill_uniform(p, dim, 1.0f, 0.1f, &s);                          /* rms_final */
    MPC_ASSERT((uint64_t)(p - buf) == n);
    m->cfg = *c;
    m->shared_cls = 1;
    m->owned = buf;
    point_weights(&m->w, c, buf, 1, 0);
    *out = m;
    return MPC_OK;
}

void model_free(model_t **m)
{
    if (!m || !*m) return;
    if ((*m)->map) munmap((*m)->map, (*m)->map_len);
    free((*m)->owned);
    free(*m);
    *m = NULL;
}
