/* llm/fwd.c - the plain float forward pass (fwd.h).
 *
 * The code follows the maths of one decoder step from top to bottom. The
 * order of every float operation is fixed on purpose, because the greedy
 * tokens must equal llama2.c's bit for bit: loops accumulate in index order,
 * divisions stay divisions, and the RoPE angle is pos * freq with freq =
 * 1 / powf(10000, pair / head_size), computed once per pair of a head rather
 * than once per pair of dim (the same values).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/fail_impl.h"
#include "llm/fwd.h"

struct fwd {
    const model_t *m;
    fwd_attn_t attn;
    int has_attn;
    long attended;
    float *x;       /* (dim) the residual stream */
    float *xb;      /* (dim) normed input, then attention output */
    float *xb2;     /* (dim) */
    float *hb;      /* (hidden_dim) */
    float *hb2;     /* (hidden_dim) */
    float *q;       /* (dim) */
    float *att;     /* (n_heads, seq_len) scores, then probabilities */
    float *logits;  /* (vocab_size) */
    float *k_cache; /* (n_layers, seq_len, kv_dim) */
    float *v_cache; /* (n_layers, seq_len, kv_dim) */
    float *freq;    /* (head_size / 2) RoPE frequency of each pair */
    float *cos_sin; /* (head_size / 2, 2) at the current position */
    int *idx;       /* (n_kv_heads, seq_len) attended positions */
    int *n_idx;     /* (n_kv_heads) */
};

static void rmsnorm(float *o, const float *x, const float *w, int n)
{
    float ss = 0.0f;
    for (int j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss /= (float)n;
    ss += 1e-5f;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++)
        o[j] = w[j] * (ss * x[j]);
}

/* out (d) = w (d, n) x (n). */
static void matvec(float *out, const float *x, const float *w, int n, int d)
{
    for (int i = 0; i < d; i++) {
        const float *row = w + (size_t)i * (size_t)n;
        float s = 0.0f;
        for (int j = 0; j < n; j++)
            s += row[j] * x[j];
        out[i] = s;
    }
}

static void softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

/* Rotates the adjacent pairs of v (n, a multiple of head_size) by the angles
 * of the current position. */
static void rope(float *v, int n, int head_size, const float *cos_sin)
{
    for (int i = 0; i < n; i += 2) {
        const float c = cos_sin[(i % head_size)], s = cos_sin[(i % head_size) + 1];
        const float v0 = v[i], v1 = v[i + 1];
        v[i] = v0 * c - v1 * s;
        v[i + 1] = v0 * s + v1 * c;
    }
}

mpc_err_t fwd_new(fwd_t **out, const model_t *m, char *err)
{
    *out = NULL;
    const model_config_t *c = &m->cfg;
    const size_t dim = (size_t)c->dim, hid = (size_t)c->hidden_dim;
    const size_t seq = (size_t)c->seq_len, hs = (size_t)model_head_size(c);
    const size_t cache = (size_t)c->n_layers * seq * (size_t)model_kv_dim(c);
    fwd_t *f = calloc(1, sizeof *f);
    if (!f)
        return llm_fail(err, MPC_ENOMEM, "out of memory for the run state");
    f->m = m;
    f->x = malloc(dim * sizeof(float));
    f->xb = malloc(dim * sizeof(float));
    f->xb2 = malloc(dim * sizeof(float));
    f->hb = malloc(hid * sizeof(float));
    f->hb2 = malloc(hid * sizeof(float));
    f->q = malloc(dim * sizeof(float));
    f->att = malloc((size_t)c->n_heads * seq * sizeof(float));
    f->logits = malloc((size_t)c->vocab_size * sizeof(float));
    f->k_cache = calloc(cache, sizeof(float));
    f->v_cache = calloc(cache, sizeof(float));
    f->freq = malloc(hs / 2 * sizeof(float));
    f->cos_sin = malloc(hs * sizeof(float));
    f->idx = malloc((size_t)c->n_kv_heads * seq * sizeof(int));
    f->n_idx = malloc((size_t)c->n_kv_heads * sizeof(int));
    if (!f->x || !f->xb || !f->xb2 || !f->hb || !f->hb2 || !f->q || !f->att || !f->logits ||
        !f->k_cache || !f->v_cache || !f->freq || !f->cos_sin || !f->idx || !f->n_idx) {
        fwd_free(&f);
        return llm_fail(err, MPC_ENOMEM, "out of memory for the run state (KV cache %zu "
                        "floats twice)", cache);
    }
    for (size_t p = 0; p < hs / 2; p++)
        f->freq[p] = 1.0f / powf(10000.0f, (float)(2 * p) / (float)hs);
    *out = f;
    return MPC_OK;
}

void fwd_free(fwd_t **f)
{
    if (!f || !*f)
        return;
    fwd_t *s = *f;
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->hb);
    free(s->hb2);
    free(s->q);
    free(s->att);
    free(s->logits);
    free(s->k_cache);
    free(s->v_cache);
    free(s->freq);
    free(s->cos_sin);
    free(s->idx);
    free(s->n_idx);
    free(s);
    *f = NULL;
}

void fwd_set_attn(fwd_t *f, const fwd_attn_t *a)
{
    f->has_attn = a != NULL;
    if (a) {
        MPC_ASSERT(a->select != NULL);
        f->attn = *a;
    }
}

long fwd_attended(const fwd_t *f) { return f->attended; }

/* Fills the index list of every KV head of layer l, from the policy or with
 * 0..pos. */
static void select_positions(fwd_t *f, int l, int pos, const float *kc, const float *vc)
{
    const model_config_t *c = &f->m->cfg;
    const int hs = model_head_size(c), kv_mul = c->n_heads / c->n_kv_heads;
    for (int g = 0; g < c->n_kv_heads; g++) {
        int *idx = f->idx + (size_t)g * (size_t)c->seq_len;
        int n;
        if (f->has_attn) {
            const fwd_attn_query_t qr = {l, g, pos, kv_mul, hs, model_kv_dim(c),
                                         f->q + (size_t)g * kv_mul * hs, kc, vc};
            n = f->attn.select(f->attn.ctx, &qr, idx);
            MPC_ASSERT(n >= 1 && n <= pos + 1);
            for (int k = 0; k < n; k++)
                MPC_ASSERT(idx[k] >= 0 && idx[k] <= pos && (k == 0 || idx[k] > idx[k - 1]));
        } else {
            n = pos + 1;
            for (int t = 0; t < n; t++)
                idx[t] = t;
        }
        f->n_idx[g] = n;
        f->attended += n;
    }
}

/* Multi-head attention of layer l at pos into f->xb (dim), over the index
 * lists; kc and vc are the layer's caches (seq_len, kv_dim). */
static void attention(fwd_t *f, int l, int pos, const float *kc, const float *vc)
{
    const model_config_t *c = &f->m->cfg;
    const int hs = model_head_size(c), kv_dim = model_kv_dim(c);
    const int kv_mul = c->n_heads / c->n_kv_heads;
    select_positions(f, l, pos, kc, vc);
    for (int h = 0; h < c->n_heads; h++) {
        const int g = h / kv_mul;
        const int *idx = f->idx + (size_t)g * (size_t)c->seq_len;
        const int n = f->n_idx[g];
        const float *q = f->q + (size_t)h * hs;
        float *att = f->att + (size_t)h * (size_t)c->seq_len;
        for (int k = 0; k < n; k++) {
            const float *key = kc + (size_t)idx[k] * kv_dim + (size_t)g * hs;
            float score = 0.0f;
            for (int i = 0; i < hs; i++)
                score += q[i] * key[i];
            score /= sqrtf((float)hs);
            att[k] = score;
        }
        softmax(att, n);
        if (f->has_attn && f->attn.observe) {
            const fwd_attn_query_t qr = {l, g, pos, kv_mul, hs, kv_dim,
                                         f->q + (size_t)g * kv_mul * hs, kc, vc};
            f->attn.observe(f->attn.ctx, &qr, h, idx, n, att);
        }
        float *o = f->xb + (size_t)h * hs;
        memset(o, 0, (size_t)hs * sizeof(float));
        for (int k = 0; k < n; k++) {
            const float *val = vc + (size_t)idx[k] * kv_dim + (size_t)g * hs;
            const float a = att[k];
            for (int i = 0; i < hs; i++)
                o[i] += a * val[i];
        }
    }
}

const float *fwd_step(fwd_t *f, int token, int pos)
{
    const model_config_t *c = &f->m->cfg;
    const model_weights_t *w = &f->m->w;
    MPC_ASSERT(token >= 0 && token < c->vocab_size);
    MPC_ASSERT(pos >= 0 && pos < c->seq_len);
    const int dim = c->dim, hid = c->hidden_dim, hs = model_head_size(c);
    const int kv_dim = model_kv_dim(c);
    const size_t ud = (size_t)dim, uh = (size_t)hid, ukv = (size_t)kv_dim;

    memcpy(f->x, w->tok_emb + (size_t)token * ud, ud * sizeof(float));
    for (int p = 0; p < hs / 2; p++) {
        const float angle = (float)pos * f->freq[p];
        f->cos_sin[2 * p] = cosf(angle);
        f->cos_sin[2 * p + 1] = sinf(angle);
    }
    f->attended = 0;

    for (int l = 0; l < c->n_layers; l++) {
        const size_t ul = (size_t)l;
        float *kc = f->k_cache + ul * (size_t)c->seq_len * ukv;
        float *vc = f->v_cache + ul * (size_t)c->seq_len * ukv;
        float *k = kc + (size_t)pos * ukv, *v = vc + (size_t)pos * ukv;

        /* attention block: x += wo attention(rope(wq xb), rope(wk xb), wv xb) */
        rmsnorm(f->xb, f->x, w->rms_att + ul * ud, dim);
        matvec(f->q, f->xb, w->wq + ul * ud * ud, dim, dim);
        matvec(k, f->xb, w->wk + ul * ukv * ud, dim, kv_dim);
        matvec(v, f->xb, w->wv + ul * ukv * ud, dim, kv_dim);
        rope(f->q, dim, hs, f->cos_sin);
        rope(k, kv_dim, hs, f->cos_sin);
        attention(f, l, pos, kc, vc);
        matvec(f->xb2, f->xb, w->wo + ul * ud * ud, dim, dim);
        for (int i = 0; i < dim; i++)
            f->x[i] += f->xb2[i];

        /* FFN block: x += w2 (silu(w1 xb) * w3 xb) */
        rmsnorm(f->xb, f->x, w->rms_ffn + ul * ud, dim);
        matvec(f->hb, f->xb, w->w1 + ul * uh * ud, dim, hid);
        matvec(f->hb2, f->xb, w->w3 + ul * uh * ud, dim, hid);
        for (int i = 0; i < hid; i++) {
            float a = f->hb[i];
            a *= 1.0f / (1.0f + expf(-a));
            a *= f->hb2[i];
            f->hb[i] = a;
        }
        matvec(f->xb, f->hb, w->w2 + ul * ud * uh, hid, dim);
        for (int i = 0; i < dim; i++)
            f->x[i] += f->xb[i];
    }
    rmsnorm(f->x, f->x, w->rms_final, dim);
    matvec(f->logits, f->x, w->wcls, dim, c->vocab_size);
    return f->logits;
}

int fwd_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}
