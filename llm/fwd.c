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
    kv_t *kv;           /* the policy's cache, borrowed, or NULL */
    float *x;           /* (dim) the residual stream */
    float *xb;          /* (dim) normed input, then attention output */
    float *xb2;         /* (dim) */
    float *hb;          /* (hidden_dim) */
    float *hb2;         /* (hidden_dim) */
    float *q;           /* (dim) */
    float *att;         /* (n_heads, seq_len) scores, then probabilities */
    float *logits;      /* (vocab_size) */
    float *k_cache;     /* (n_layers, seq_len, kv_dim) */
    float *v_cache;     /* (n_layers, seq_len, kv_dim) */
    float *freq;        /* (head_size / 2) RoPE frequency of each pair */
    float *cos_sin;     /* (head_size / 2, 2) at the current position */
    int *attended;      /* (n_layers) positions attended at the last step, over KV heads */
    const float **krow; /* (seq_len) the key rows one KV head attends */
    const float **vrow; /* (seq_len) the matching value rows */
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
        if (x[i] > max) max = x[i];
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
    if (!f) return llm_fail(err, MPC_ENOMEM, "out of memory for the run state");
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
    f->attended = calloc((size_t)c->n_layers, sizeof(int));
    f->krow = malloc(seq * sizeof *f->krow);
    f->vrow = malloc(seq * sizeof *f->vrow);
    if (!f->x || !f->xb || !f->xb2 || !f->hb || !f->hb2 || !f->q || !f->att || !f->logits ||
        !f->k_cache || !f->v_cache || !f->freq || !f->cos_sin || !f->attended || !f->krow ||
        !f->vrow) {
        fwd_free(&f);
        return llm_fail(err, MPC_ENOMEM,
                        "out of memory for the run state (KV cache %zu "
                        "floats twice)",
                        cache);
    }
    for (size_t p = 0; p < hs / 2; p++)
        f->freq[p] = 1.0f / powf(10000.0f, (float)(2 * p) / (float)hs);
    *out = f;
    return MPC_OK;
}

void fwd_free(fwd_t **f)
{
    if (!f || !*f) return;
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
    free(s->attended);
    free(s->krow);
    free(s->vrow);
    free(s);
    *f = NULL;
}

mpc_err_t fwd_set_kv(fwd_t *f, kv_t *kv, char *err)
{
    if (kv) {
        const model_config_t *c = &f->m->cfg;
        const kv_config_t *k = kv_config(kv);
        if (k->n_layers != c->n_layers || k->n_heads != c->n_heads ||
            k->n_kv_heads != c->n_kv_heads || k->head_size != model_head_size(c))
            return llm_fail(err, MPC_EARG,
                            "the KV cache is for %d layers, %d heads, %d KV heads "
                            "of size %d; the model has %d, %d, %d, %d",
                            k->n_layers, k->n_heads, k->n_kv_heads, k->head_size, c->n_layers,
                            c->n_heads, c->n_kv_heads, model_head_size(c));
        if (k->seq_len > c->seq_len)
            return llm_fail(err, MPC_EARG, "the KV cache holds %d positions, the model only %d",
                            k->seq_len, c->seq_len);
    }
    f->kv = kv;
    return MPC_OK;
}

int fwd_attended(const fwd_t *f, int layer)
{
    MPC_ASSERT(layer >= 0 && layer < f->m->cfg.n_layers);
    return f->attended[layer];
}

/* One query head: att = softmax(q . k_i / sqrt(hs)) over the n rows, then
 * out = sum_i att[i] v_i, in row order. */
static void attend_head(float *out, float *att, const float *q, const float *const *krow,
                        const float *const *vrow, int n, int hs)
{
    for (int i = 0; i < n; i++) {
        float score = 0.0f;
        for (int j = 0; j < hs; j++)
            score += q[j] * krow[i][j];
        score /= sqrtf((float)hs);
        att[i] = score;
    }
    softmax(att, n);
    memset(out, 0, (size_t)hs * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float a = att[i];
        for (int j = 0; j < hs; j++)
            out[j] += a * vrow[i][j];
    }
}

/* Points krow/vrow at the rows KV head g attends at pos: every cached
 * position in order, or the slots the policy selected. Returns their number. */
static int gather_rows(fwd_t *f, const kv_sel_t *sel, int l, int g, int pos, const float *kc,
                       const float *vc)
{
    const model_config_t *c = &f->m->cfg;
    const size_t hs = (size_t)model_head_size(c), kv_dim = (size_t)model_kv_dim(c);
    if (!sel) {
        for (int t = 0; t <= pos; t++) {
            f->krow[t] = kc + (size_t)t * kv_dim + (size_t)g * hs;
            f->vrow[t] = vc + (size_t)t * kv_dim + (size_t)g * hs;
        }
        return pos + 1;
    }
    const int n = sel->count[g];
    const int *slot = sel->slot + (size_t)g * (size_t)sel->seq_len;
    MPC_ASSERT(n >= 1 && n <= pos + 1);
    for (int i = 0; i < n; i++) {
        f->krow[i] = kv_key(f->kv, l, g, slot[i]);
        f->vrow[i] = kv_value(f->kv, l, g, slot[i]);
    }
    return n;
}

/* Multi-head attention of layer l at pos into f->xb (dim); kc and vc are the
 * layer's own caches (seq_len, kv_dim), whose row pos was just written. With
 * a policy the new row also goes to the policy's cache and attention runs
 * over its selection, in kv.h's order: append, select, attend, observe, and
 * after the last prompt position, prefill_end. */
static void attention(fwd_t *f, int l, int pos, const float *kc, const float *vc)
{
    const model_config_t *c = &f->m->cfg;
    const int hs = model_head_size(c), kv_mul = c->n_heads / c->n_kv_heads;
    const size_t kv_dim = (size_t)model_kv_dim(c), seq = (size_t)c->seq_len;
    const kv_sel_t *sel = NULL;
    if (f->kv) {
        kv_append(f->kv, l, pos, f->q, kc + (size_t)pos * kv_dim, vc + (size_t)pos * kv_dim);
        sel = kv_select(f->kv, l, f->q);
    }
    f->attended[l] = 0;
    for (int g = 0; g < c->n_kv_heads; g++) {
        const int n = gather_rows(f, sel, l, g, pos, kc, vc);
        f->attended[l] += n;
        for (int h = g * kv_mul; h < (g + 1) * kv_mul; h++)
            attend_head(f->xb + (size_t)h * hs, f->att + (size_t)h * seq, f->q + (size_t)h * hs,
                        f->krow, f->vrow, n, hs);
    }
    if (f->kv) {
        kv_observe(f->kv, l, f->att, c->seq_len);
        if (pos == kv_config(f->kv)->prompt_len - 1) kv_prefill_end(f->kv, l);
    }
}

const float *fwd_step(fwd_t *f, int token, int pos)
{
    const model_config_t *c = &f->m->cfg;
    const model_weights_t *w = &f->m->w;
    MPC_ASSERT(token >= 0 && token < c->vocab_size);
    MPC_ASSERT(pos >= 0 && pos < c->seq_len);
    MPC_ASSERT(!f->kv || pos < kv_config(f->kv)->seq_len);
    const int dim = c->dim, hid = c->hidden_dim, hs = model_head_size(c);
    const int kv_dim = model_kv_dim(c);
    const size_t ud = (size_t)dim, uh = (size_t)hid, ukv = (size_t)kv_dim;

    memcpy(f->x, w->tok_emb + (size_t)token * ud, ud * sizeof(float));
    for (int p = 0; p < hs / 2; p++) {
        const float angle = (float)pos * f->freq[p];
        f->cos_sin[2 * p] = cosf(angle);
        f->cos_sin[2 * p + 1] = sinf(angle);
    }

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
        if (v[i] > v[best]) best = i;
    return best;
}
