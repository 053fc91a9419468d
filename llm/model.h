/* llm/model.h - the model description shared by every engine: a Llama
 * configuration and its float weights, read from a llama2.c checkpoint or
 * made from a seed.
 *
 * A checkpoint (shared/models/README.md) is seven little-endian int32s (dim,
 * hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len) followed by
 * fp32 arrays in a fixed order; a negative vocab_size means the output
 * classifier is stored separately at the end. model_load maps the file
 * read-only and checks, before any pointer is formed, that the header is sane
 * and that the file holds exactly the bytes the header implies, so a
 * malformed file is an MPC_EFORMAT with one line naming the problem and never
 * a crash. model_new_random makes the benchmark shapes (seeded random weights,
 * DESIGN.md §6). The plain float, plain fixed-point and secure engines all
 * read the same model_t and never write to it.
 *
 *     char err[CHAN_ERR_BYTES];
 *     model_t *m = NULL;
 *     if (model_load(&m, "stories260K.bin", err) != MPC_OK) fprintf(stderr, "%s\n", err);
 *     ... m->cfg.dim, m->w.wq + l * dim * dim ...
 *     model_free(&m);
 */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/chan.h"
#include "mpc/err.h"

/* Limits past which a header is treated as malformed rather than as a model:
 * far above any Llama (dim 8192, 80 layers, vocab 128k, 128k positions), and
 * small enough that products of a few of them cannot overflow 64 bits. */
#define MODEL_MAX_DIM    (1 << 20)
#define MODEL_MAX_LAYERS 4096
#define MODEL_MAX_VOCAB  (1 << 24)
#define MODEL_MAX_SEQ    (1 << 24)

typedef struct model_config {
    int dim;        /* transformer width */
    int hidden_dim; /* SwiGLU width */
    int n_layers;
    int n_heads;    /* query heads; head_size = dim / n_heads */
    int n_kv_heads; /* key/value heads; kv_dim = n_kv_heads * head_size (GQA) */
    int vocab_size; /* always positive here, whatever the file's sign */
    int seq_len;    /* positions the KV cache holds */
} model_config_t;

/* Matrices are [out][in], row-major; layer l of a stacked array starts at
 * l times the per-layer size. */
typedef struct model_weights {
    const float *tok_emb;   /* (vocab_size, dim) */
    const float *rms_att;   /* (n_layers, dim) */
    const float *wq;        /* (n_layers, dim, dim) */
    const float *wk;        /* (n_layers, kv_dim, dim) */
    const float *wv;        /* (n_layers, kv_dim, dim) */
    const float *wo;        /* (n_layers, dim, dim) */
    const float *rms_ffn;   /* (n_layers, dim) */
    const float *w1;        /* (n_layers, hidden_dim, dim) */
    const float *w2;        /* (n_layers, dim, hidden_dim) */
    const float *w3;        /* (n_layers, hidden_dim, dim) */
    const float *rms_final; /* (dim) */
    const float *wcls;      /* (vocab_size, dim); equals tok_emb when shared_cls */
} model_weights_t;

typedef struct model {
    model_config_t cfg;
    model_weights_t w;
    int shared_cls; /* 1 when the classifier is the token embedding (tied) */
    /* Storage behind w, private to model.c: a read-only file mapping, or the
     * heap block of a seeded model. */
    void *map;
    size_t map_len;
    float *owned;
} model_t;

/* head_size = dim / n_heads. */
int model_head_size(const model_config_t *c);
/* kv_dim = n_kv_heads * head_size. */
int model_kv_dim(const model_config_t *c);

/* Checks that c describes a model this code can run: every size positive and
 * within the MODEL_MAX_* limits, n_heads divides dim, n_kv_heads divides
 * n_heads, and head_size is even (RoPE rotates pairs). Returns MPC_EFORMAT
 * with the first problem in err (CHAN_ERR_BYTES, may be NULL). */
mpc_err_t model_config_check(const model_config_t *c, char *err) MPC_WUR;

/* The number of floats of the weights of c, tied classifier (shared != 0) or
 * not, excluding the two unused RoPE tables. c must pass
 * model_config_check, which keeps the count far below 2^63. */
uint64_t model_param_count(const model_config_t *c, int shared);

/* The named benchmark shape of DESIGN.md §6: "stories260K" (the shape of the
 * real checkpoint), "stories15M", "stories110M" or "llama7b-1l" (one layer of
 * LLaMA-7B). Callers raise seq_len as they need. Returns MPC_EARG with the
 * known names in err for any other name. */
mpc_err_t model_shape(model_config_t *out, const char *name, char *err) MPC_WUR;

/* Maps the llama2.c checkpoint at path and sets *out to a model whose weight
 * pointers point into the mapping. The caller owns *out and frees it with
 * model_free. Fails with MPC_EIO when the file cannot be opened or mapped,
 * MPC_EFORMAT when the header is malformed (see model_config_check) or the
 * file size differs from what the header implies (truncated or with
 * trailing bytes), MPC_ENOMEM; err (CHAN_ERR_BYTES, may be NULL) then names
 * the file and the problem and *out is left NULL. */
mpc_err_t model_load(model_t **out, const char *path, char *err) MPC_WUR;

/* Sets *out to a model of shape c, with a tied classifier, whose weights are
 * drawn from seed alone: every matrix uniform in +-1/sqrt(in_dim), the
 * embedding uniform in +-1/sqrt(dim), the norms uniform in 1 +- 0.1, the
 * scale of a trained model's layers. The same (c, seed) gives the same
 * weights on every platform; seq_len does not change them. The caller owns
 * *out (model_free). Fails with MPC_EFORMAT for a bad c and MPC_ENOMEM,
 * leaving *out NULL. */
mpc_err_t model_new_random(model_t **out, const model_config_t *c, uint64_t seed,
                           char *err) MPC_WUR;

/* Unmaps or frees the weights and the model, and sets *m to NULL; accepts
 * NULL and *m == NULL. */
void model_free(model_t **m);

#endif
