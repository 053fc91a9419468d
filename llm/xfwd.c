/* llm/xfwd.c - the fixed-point forward pass under its three backends.
 *
 * Every step below is a call x_<op>(...) that dispatches on the role: the
 * dealer generates, the parties evaluate, the plain engine runs the twin.
 * Sizes never depend on data, so the three walk the same sequence.
 *
 * Truncation sites are TRUNC_SITE(layer, op, pos0) with op a multiple of 16
 * (protocols with internal truncations take the following op numbers), so
 * every site is used once per session.
 */
#include "llm/xfwd.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpc/fxp.h"
#include "protocols/matmul.h"
#include "protocols/mul.h"
#include "protocols/trunc.h"
#include "llm/xfwd_impl.h"

#define LAYER_FINAL 0xFFFF

enum { W_Q, W_K, W_V, W_O, W_1, W_2, W_3, W_PER_LAYER };
/* Weight ids (each keys its own mask): 1 the embedding, 2 the classifier,
 * 16 + 8 l + k layer l's matrices, RMS_ID + ... the norms. */
#define RMS_ID 0x100000u

/* ---- deterministic RoPE constants ---------------------------------------
 * Both parties must multiply by bit-identical constants (a share times a
 * slightly different constant is garbage), so cos/sin/pow are computed with
 * IEEE +, *, / only, whose results every x86-64 host rounds alike. */

static double det_exp(double x) /* e^x for |x| <= 30 */
{
    int k = 0;
    while (x > 0.5 || x < -0.5) {
        x /= 2;
        k++;
    }
    double term = 1, sum = 1;
    for (int i = 1; i < 30; i++) {
        term = term * x / i;
        sum += term;
    }
    while (k-- > 0) sum *= sum;
    return sum;
}

static void det_sincos(double v, double *s, double *c)
{
    const double two_pi = 6.283185307179586476925286766559;
    double q = floor(v / two_pi);
    double r = v - q * two_pi; /* [0, 2pi) */
    if (r > 3.14159265358979323846) r -= two_pi;
    double term = r, sn = r, cs = 1, ct = 1;
    for (int i = 1; i < 30; i++) {
        term = -term * r * r / ((2 * i) * (2 * i + 1));
        sn += term;
        ct = -ct * r * r / ((2 * i - 1) * (2 * i));
        cs += ct;
    }
    *s = sn;
    *c = cs;
}

/* ---- state ---------------------------------------------------------------- */

/* Quantises a float matrix (rows x cols) at scale f times mult; with
 * transpose, the source is (cols x rows). Returns a malloc'd buffer. */
static uint64_t *quantise(const float *src, size_t rows, size_t cols, int f, double mult,
                          int transpose)
{
    uint64_t *q = malloc(rows * cols * sizeof *q + 1);
    if (!q) return NULL;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float v = transpose ? src[c * rows + r] : src[r * cols + c];
            q[r * cols + c] = fxp_encode((double)v * mult, f);
        }
    return q;
}

mpc_err_t xfwd_new(xfwd_t **out, const model_config_t *cfg, const model_t *m, mpc_ctx_t *ctx,
                   int role, int frac_bits, const uint8_t *round_seed, char *err)
{
    *out = NULL;
    if (model_config_check(cfg, err)) return MPC_EARG;
    if (frac_bits < FXP_FRAC_BITS_MIN || frac_bits > FXP_FRAC_BITS_MAX) {
        snprintf(err, CHAN_ERR_BYTES, "fractional bits %d outside %d..%d", frac_bits,
                 FXP_FRAC_BITS_MIN, FXP_FRAC_BITS_MAX);
        return MPC_EARG;
    }
    MPC_ASSERT((role == XFWD_PLAIN) == (ctx == NULL));
    MPC_ASSERT(!(role == MPC_P0 || role == XFWD_PLAIN) || m);
    xfwd_t *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, CHAN_ERR_BYTES, "out of memory");
        return MPC_ENOMEM;
    }
    x->cfg = *cfg;
    x->m = m;
    x->ctx = ctx;
    x->role = role;
    x->f = frac_bits;
    x->hs = cfg->dim / cfg->n_heads;
    x->kv_dim = cfg->n_kv_heads * x->hs;
    x->kv_mul = cfg->n_heads / cfg->n_kv_heads;
    if (round_seed) memcpy(x->round_seed, round_seed, PRG_SEED_BYTES);
    else prg_seed_random(x->round_seed);
    arena_init(&x->own_arena);
    x->ar = ctx ? &ctx->arena : &x->own_arena;
    x->part = XPART_SETUP;
    int L = cfg->n_layers, nkv = cfg->n_kv_heads;
    x->w = calloc((size_t)L * W_PER_LAYER, sizeof *x->w);
    x->rms = calloc(2 * (size_t)L + 1, sizeof *x->rms);
    x->kc = calloc((size_t)L * nkv, sizeof *x->kc);
    x->vc = calloc((size_t)L * nkv, sizeof *x->vc);
    x->logits = calloc((size_t)cfg->vocab_size, sizeof *x->logits);
    x->attended = calloc((size_t)L, sizeof *x->attended);
    size_t half = (size_t)x->hs / 2;
    x->rope_c = malloc((size_t)cfg->seq_len * half * sizeof *x->rope_c + 1);
    x->rope_s = malloc((size_t)cfg->seq_len * half * sizeof *x->rope_s + 1);
    if (!x->w || !x->rms || !x->kc || !x->vc || !x->logits || !x->attended || !x->rope_c || !x->rope_s) {
        xfwd_free(&x);
        snprintf(err, CHAN_ERR_BYTES, "out of memory");
        return MPC_ENOMEM;
    }
    for (int pos = 0; pos < cfg->seq_len; pos++)
        for (size_t j = 0; j < half; j++) {
            /* freq = 10000^(-2j/hs), as run.c's powf(10000, head_dim / head_size) */
            double freq = det_exp(-(double)(2 * j) / x->hs * 9.210340371976182736);
            double s, c;
            det_sincos(pos * freq, &s, &c);
            x->rope_c[pos * half + j] = fxp_encode(c, frac_bits);
            x->rope_s[pos * half + j] = fxp_encode(s, frac_bits);
        }
    for (int i = 0; i < L * nkv; i++) {
        mpc_err_t e = MPC_OK;
        if (role == XFWD_PLAIN) {
            size_t n = (size_t)cfg->seq_len * x->hs;
            x->kc[i].cols = x->vc[i].cols = (size_t)x->hs;
            x->kc[i].cap = x->vc[i].cap = (size_t)cfg->seq_len;
            x->kc[i].f = calloc(n, 8);
            x->vc[i].f = calloc(n, 8);
            if (!x->kc[i].f || !x->vc[i].f) e = MPC_ENOMEM;
        } else {
            e = matmul_fixed_reserve(ctx, &x->kc[i], (size_t)cfg->seq_len, (size_t)x->hs);
            if (!e) e = matmul_fixed_reserve(ctx, &x->vc[i], (size_t)cfg->seq_len, (size_t)x->hs);
        }
        if (e) {
            xfwd_free(&x);
            snprintf(err, CHAN_ERR_BYTES, "out of memory for the KV cache");
            return MPC_ENOMEM;
        }
    }
    *out = x;
    return MPC_OK;
}

void xfwd_free(xfwd_t **xp)
{
    if (!xp || !*xp) return;
    xfwd_t *x = *xp;
    int L = x->cfg.n_layers, nkv = x->cfg.n_kv_heads;
    if (x->w)
        for (int i = 0; i < L * W_PER_LAYER; i++) matmul_weight_free(&x->w[i]);
    if (x->rms)
        for (int i = 0; i < 2 * L + 1; i++) matmul_weight_free(&x->rms[i]);
    matmul_weight_free(&x->emb);
    matmul_weight_free(&x->cls);
    if (x->kc)
        for (int i = 0; i < L * nkv; i++) {
            matmul_fixed_free(&x->kc[i]);
            matmul_fixed_free(&x->vc[i]);
        }
    xmp_free(x);
    xh2o_free(x);
    xkv_free(x);
    free(x->w);
    free(x->kc);
    free(x->vc);
    free(x->rms);
    free(x->logits);
    free(x->attended);
    free(x->rope_c);
    free(x->rope_s);
    arena_free(&x->own_arena);
    sodium_memzero(x, sizeof *x);
    free(x);
    *xp = NULL;
}

void xfwd_set_opts(xfwd_t *x, const xfwd_opts_t *o)
{
    x->opts = *o;
    MPC_ASSERT(!o->pad || (x->role == MPC_P1 || x->role == XFWD_PLAIN) == (o->pad_len >= 0));
}

mpc_err_t xfwd_set_policy(xfwd_t *x, const kv_config_t *kv)
{
    if (!kv || kv->policy == KV_FULL) {
        x->policy = KV_FULL;
        return MPC_OK;
    }
    /* the other policies decide in plaintext: the plain engine only */
    int plaintext =
        kv->policy != KV_STREAMING && kv->policy != KV_MPCACHE && kv->policy != KV_H2O;
    if (plaintext && x->role != XFWD_PLAIN) {
        char msg[CHAN_ERR_BYTES];
        snprintf(msg, sizeof msg,
                 "policy %s runs in the fixed-point plain engine only; the secure engine runs "
                 "full, streaming, h2o and mpcache",
                 kv_policy_name(kv->policy));
        return xfwd_fail(x, MPC_EARG, msg);
    }
    kv_config_t k = *kv; /* the model's dims */
    k.n_layers = x->cfg.n_layers;
    k.n_heads = x->cfg.n_heads;
    k.n_kv_heads = x->cfg.n_kv_heads;
    k.head_size = x->hs;
    k.seq_len = x->cfg.seq_len;
    char msg[CHAN_ERR_BYTES];
    if (kv_config_check(&k, msg, sizeof msg)) return xfwd_fail(x, MPC_EARG, msg);
    MPC_ASSERT(x->policy == KV_FULL && !x->sum2 && !x->kvp); /* once, before the first forward */
    x->policy = k.policy;
    x->kv = k;
    if (plaintext) return xkv_init(x);
    if (kv->policy == KV_H2O) return xh2o_init(x);
    return kv->policy == KV_MPCACHE ? xmp_init(x) : MPC_OK;
}

const char *xfwd_error(const xfwd_t *x)
{
    return x->ctx ? x->ctx->err : x->err;
}

const uint64_t *xfwd_logits(const xfwd_t *x)
{
    return x->logits;
}

int xfwd_attended(const xfwd_t *x, int layer)
{
    return x->attended[layer];
}

/* Charges what the link carried since the last switch to the open part. */
void xfwd_part_switch(xfwd_t *x, int part)
{
    if (!x->ctx) return;
    stats_row_t t = stats_total(&x->ctx->stats, -1);
    x->part_bytes[x->part] += t.bytes_sent - x->part_b0;
    x->part_rounds[x->part] += t.rounds - x->part_r0;
    x->part_b0 = t.bytes_sent;
    x->part_r0 = t.rounds;
    x->part = part;
}

/* One weight matrix into place: quantised W for P0 and plain (src is
 * (rows x cols), or (cols x rows) with transpose), B for the dealer, F for
 * P1. */
static mpc_err_t setup_weight(xfwd_t *x, matmul_weight_t *w, uint32_t id, const float *src,
                              size_t rows, size_t cols, double mult, int transpose)
{
    if (x->role == MPC_DEALER) return matmul_weight_gen(x->ctx, w, id, rows, cols);
    if (x->role == MPC_P1) return matmul_weight_eval(x->ctx, w, NULL, id, rows, cols);
    uint64_t *q = quantise(src, rows, cols, x->f, mult, transpose);
    if (!q) return xfwd_fail(x, MPC_ENOMEM, "out of memory quantising the weights");
    if (x->role == XFWD_PLAIN) {
        memset(w, 0, sizeof *w);
        w->id = id;
        w->rows = rows;
        w->cols = cols;
        w->w = q;
        return MPC_OK;
    }
    mpc_err_t e = matmul_weight_eval(x->ctx, w, q, id, rows, cols);
    sodium_memzero(q, rows * cols * sizeof *q);
    free(q);
    return e;
}

mpc_err_t xfwd_setup(xfwd_t *x)
{
    const model_config_t *c = &x->cfg;
    size_t d = (size_t)c->dim, kv = (size_t)x->kv_dim, h = (size_t)c->hidden_dim,
           V = (size_t)c->vocab_size;
    const model_weights_t *W = x->m ? &x->m->w : NULL;
    int have = W != NULL;
    double qscale = 1.0 / sqrt((double)x->hs);
    mpc_err_t e = setup_weight(x, &x->emb, 1, have ? W->tok_emb : NULL, d, V, 1.0, 1);
    for (int l = 0; l < c->n_layers && !e; l++) {
        matmul_weight_t *w = &x->w[l * W_PER_LAYER];
        uint32_t id = 16 + 8 * (uint32_t)l;
        e = setup_weight(x, &w[W_Q], id + W_Q, have ? W->wq + l * d * d : NULL, d, d, qscale, 0);
        if (!e) e = setup_weight(x, &w[W_K], id + W_K, have ? W->wk + l * kv * d : NULL, kv, d, 1, 0);
        if (!e) e = setup_weight(x, &w[W_V], id + W_V, have ? W->wv + l * kv * d : NULL, kv, d, 1, 0);
        if (!e) e = setup_weight(x, &w[W_O], id + W_O, have ? W->wo + l * d * d : NULL, d, d, 1, 0);
        if (!e) e = setup_weight(x, &w[W_1], id + W_1, have ? W->w1 + l * h * d : NULL, h, d, 1, 0);
        if (!e) e = setup_weight(x, &w[W_2], id + W_2, have ? W->w2 + l * d * h : NULL, d, h, 1, 0);
        if (!e) e = setup_weight(x, &w[W_3], id + W_3, have ? W->w3 + l * h * d : NULL, h, d, 1, 0);
    }
    if (!e) e = setup_weight(x, &x->cls, 2, have ? W->wcls : NULL, V, d, 1.0, 0);
    /* the norms' weights, one-sided like the matrices: P1 sees only F */
    for (int l = 0; l < c->n_layers && !e; l++) {
        e = setup_weight(x, &x->rms[l], RMS_ID + 2 * (uint32_t)l, have ? W->rms_att + l * d : NULL,
                         1, d, 1, 0);
        if (!e)
            e = setup_weight(x, &x->rms[c->n_layers + l], RMS_ID + 2 * (uint32_t)l + 1,
                             have ? W->rms_ffn + l * d : NULL, 1, d, 1, 0);
    }
    if (!e)
        e = setup_weight(x, &x->rms[2 * c->n_layers], RMS_ID + 2 * (uint32_t)c->n_layers,
                         have ? W->rms_final : NULL, 1, d, 1, 0);
    xfwd_part_switch(x, XPART_SETUP);
    return e;
}

/* ---- accounting by layer part --------------------------------------------- */

const char *xfwd_part_name(int part)
{
    static const char *names[XPART_COUNT] = {"embed", "norm", "qkv",  "attention",
                                             "wo",    "ffn",  "head", "setup"};
    return part >= 0 && part < XPART_COUNT ? names[part] : "?";
}

uint64_t xfwd_part_bytes(const xfwd_t *x, int part)
{
    return x->part_bytes[part];
}

uint64_t xfwd_part_rounds(const xfwd_t *x, int part)
{
    return x->part_rounds[part];
}

mpc_err_t xfwd_fill_random(xfwd_t *x, int T, uint64_t seed)
{
    MPC_ASSERT(T >= 0 && T < x->cfg.seq_len);
    size_t G = (size_t)x->cfg.n_kv_heads, hs = (size_t)x->hs, L = (size_t)x->cfg.n_layers;
    /* MPCache: the cache as the prefill's static eviction left it */
    int mp = x->policy == KV_MPCACHE;
    MPC_ASSERT(!mp || x->kv.prompt_len == T);
    if (mp) T = kv_static_keep(&x->kv);
    /* H2O: the cache as the last eviction left it, one short of the budget */
    MPC_ASSERT(x->policy != KV_H2O || x->kv.prompt_len == T);
    if (x->policy == KV_H2O) T = kv_budget_tokens(&x->kv, T) - 1;
    size_t n = (size_t)T * hs;
    uint64_t *rows = malloc((2 * L * G) * n * sizeof *rows + 1);
    matmul_fixed_t **ops = malloc(2 * L * G * sizeof *ops);
    const uint64_t **fresh = malloc(2 * L * G * sizeof *fresh);
    size_t *cnt = malloc(2 * L * G * sizeof *cnt);
    mpc_err_t e = MPC_OK;
    if (!rows || !ops || !fresh || !cnt) {
        e = xfwd_fail(x, MPC_ENOMEM, "out of memory filling the cache");
        goto out;
    }
    /* Values v in [-1, 1) and P0's share r come from a public seed; P1 holds
     * v - r. The values are meaningless: only the cost is measured. */
    uint8_t key[PRG_SEED_BYTES] = {0};
    memcpy(key, &seed, sizeof seed);
    prg_t *g = prg_new(key, 77);
    if (!g) {
        e = xfwd_fail(x, MPC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < 2 * L * G; j++) {
        uint64_t *r = rows + j * n;
        for (size_t i = 0; i < n; i++) {
            uint64_t u[2];
            prg_u64(g, u, 2);
            uint64_t v = fxp_encode((double)(u[0] >> 11) / 4503599627370496.0 - 1.0, x->f);
            r[i] = x->role == MPC_P0 ? u[1] : x->role == MPC_P1 ? v - u[1] : v;
        }
        ops[j] = j < L * G ? &x->kc[j] : &x->vc[j - L * G];
        fresh[j] = r;
        cnt[j] = (size_t)T;
    }
    prg_free(&g);
    xfwd_part_switch(x, XPART_SETUP);
    /* G operands per flight: one flight of a long cache would exceed the
     * channel's message limit (stories110M at T = 8192: 1.2 GB) */
    for (size_t j = 0; j < 2 * L * G && !e; j += G)
        e = x_append(x, ops + j, fresh + j, cnt + j, (int)G);
    for (int l = 0; mp && l < (int)L && !e; l++) {
        x->mp_ended[l] = 1;
        e = xmp_summarise(x, l, 0);
    }
    xfwd_part_switch(x, XPART_SETUP);
out:
    free(rows);
    free(ops);
    free(fresh);
    free(cnt);
    return e;
}

/* ---- the forward pass ---------------------------------------------------- */

#define ALLOC(p, n) XFWD_ALLOC(p, n, "the forward pass")

/* Rotates pairs of a row (length len, heads of hs) at position pos, from
 * scale 2f to 3f: (a, b) -> (a c - b s, a s + b c). Linear, so each party
 * applies it to its share. */
static void rope_row(const xfwd_t *x, uint64_t *out, const uint64_t *in, size_t len, int pos)
{
    size_t half = (size_t)x->hs / 2;
    for (size_t i = 0; i < len; i += 2) {
        size_t j = (i % (size_t)x->hs) / 2;
        uint64_t c = x->rope_c[(size_t)pos * half + j], s = x->rope_s[(size_t)pos * half + j];
        uint64_t a = in[i], b = in[i + 1];
        out[i] = a * c - b * s;
        out[i + 1] = a * s + b * c;
    }
}

mpc_err_t xfwd_forward(xfwd_t *x, const int *tokens, int pos0, int n, int *next)
{
    const model_config_t *c = &x->cfg;
    MPC_ASSERT(n >= 1 && pos0 >= 0 && pos0 + n <= c->seq_len);
    int knows = x->role == MPC_P1 || x->role == XFWD_PLAIN;
    size_t d = (size_t)c->dim, kvd = (size_t)x->kv_dim, hd = (size_t)c->hidden_dim,
           V = (size_t)c->vocab_size, hs = (size_t)x->hs, N = (size_t)n,
           H = (size_t)c->n_heads, G = (size_t)c->n_kv_heads;
    int f = x->f;
    uint64_t step = (uint64_t)pos0;
    mpc_err_t e = MPC_OK;
    arena_mark_t mk = arena_mark(x->ar);
    uint64_t *xs, *xb, *q, *k, *v, *cat, *att, *pv, *o, *h1, *h3, *hh, *oh;
    ALLOC(xs, N * d);
    ALLOC(xb, N * d);
    ALLOC(q, N * d);
    ALLOC(k, N * kvd);
    ALLOC(v, N * kvd);
    ALLOC(cat, N * (d + 2 * kvd));
    ALLOC(att, N * d);
    ALLOC(pv, H * N * hs);
    ALLOC(o, N * d);
    ALLOC(h1, N * hd);
    ALLOC(h3, N * hd);
    ALLOC(hh, N * hd);
    ALLOC(oh, N * V);

    xfwd_part_switch(x, XPART_EMBED);
    /* Embedding: P1's one-hot rows times the masked table, O(V) per token. */
    if (knows)
        for (size_t i = 0; i < N; i++) {
            MPC_ASSERT(tokens[i] >= 0 && (size_t)tokens[i] < V);
            oh[i * V + (size_t)tokens[i]] = 1;
        }
    {
        matmul_weight_t *ws[1] = {&x->emb};
        uint64_t *ys[1] = {xs};
        e = x_matmul(x, ys, oh, ws, 1, N, 0, 0);
        if (e) goto out;
    }

    for (int l = 0; l < c->n_layers; l++) {
        matmul_weight_t *w = &x->w[l * W_PER_LAYER];
        /* attention norm; bound: see nl_rmsnorm */
        xfwd_part_switch(x, XPART_NORM);
        e = nl_rmsnorm(x, xb, xs, &x->rms[l], N, TRUNC_SITE(l, OP_RMS_ATT, step));
        if (e) goto out;
        xfwd_part_switch(x, XPART_QKV);
        /* q, k, v at scale 2f: one mask for the three products */
        matmul_weight_t *qkv[3] = {&w[W_Q], &w[W_K], &w[W_V]};
        uint64_t *ys[3] = {q, k, v};
        e = x_matmul(x, ys, xb, qkv, 3, N, 0, 0);
        if (e) goto out;
        /* RoPE to 3f, V lifted to 3f, then one truncation by 2f for all.
         * Site bound: |q|, |k|, |v| < 2^13 at scale 3f <= 60 bits < 2^62. */
        for (size_t i = 0; i < N; i++) {
            uint64_t *cq = cat + i * (d + 2 * kvd), *ck = cq + d, *cv = ck + kvd;
            if (x->role == MPC_DEALER) continue;
            rope_row(x, cq, q + i * d, d, pos0 + (int)i);
            rope_row(x, ck, k + i * kvd, kvd, pos0 + (int)i);
            for (size_t j = 0; j < kvd; j++) cv[j] = v[i * kvd + j] << f;
        }
        e = x_trunc(x, cat, cat, N * (d + 2 * kvd), 2 * f, TRUNC_SITE(l, OP_QKV, step));
        if (e) goto out;
        /* per head, contiguous: q into qh (H x N x hs); new K/V rows per KV head */
        uint64_t *qh = q; /* reuse: (H, N, hs) */
        uint64_t *kn = k, *vn = v; /* reuse: (G, N, hs) */
        for (size_t i = 0; i < N; i++) {
            const uint64_t *cq = cat + i * (d + 2 * kvd), *ck = cq + d, *cv = ck + kvd;
            for (size_t h = 0; h < H; h++) memcpy(qh + (h * N + i) * hs, cq + h * hs, hs * 8);
            for (size_t g = 0; g < G; g++) {
                memcpy(kn + (g * N + i) * hs, ck + g * hs, hs * 8);
                memcpy(vn + (g * N + i) * hs, cv + g * hs, hs * 8);
            }
        }
        xfwd_part_switch(x, XPART_ATTN);
        e = xfwd_attend(x, l, qh, kn, vn, N, pos0, pv);
        if (e) goto out;
        for (size_t h = 0; h < H; h++)
            for (size_t i = 0; i < N; i++) memcpy(att + i * d + h * hs, pv + (h * N + i) * hs, hs * 8);
        xfwd_part_switch(x, XPART_WO);
        /* output projection and residual */
        {
            matmul_weight_t *ws[1] = {&w[W_O]};
            uint64_t *ys1[1] = {o};
            e = x_matmul(x, ys1, att, ws, 1, N, f, TRUNC_SITE(l, OP_WO, step));
            if (e) goto out;
            for (size_t i = 0; i < N * d; i++) xs[i] += o[i];
        }
        /* FFN: w2(silu(w1 x) * w3 x) */
        xfwd_part_switch(x, XPART_NORM);
        e = nl_rmsnorm(x, xb, xs, &x->rms[c->n_layers + l], N, TRUNC_SITE(l, OP_RMS_FFN, step));
        if (e) goto out;
        xfwd_part_switch(x, XPART_FFN);
        {
            matmul_weight_t *ws[2] = {&w[W_1], &w[W_3]};
            uint64_t *ys2[2] = {h1, h3};
            e = x_matmul(x, ys2, xb, ws, 2, N, f, TRUNC_SITE(l, OP_W13, step));
            if (e) goto out;
        }
        e = nl_silu(x, h1, h1, N * hd, TRUNC_SITE(l, OP_SILU, step));
        if (!e) e = x_mul(x, hh, h1, h3, N * hd);
        if (!e) e = x_trunc(x, hh, hh, N * hd, f, TRUNC_SITE(l, OP_H, step));
        if (e) goto out;
        {
            matmul_weight_t *ws[1] = {&w[W_2]};
            uint64_t *ys1[1] = {o};
            e = x_matmul(x, ys1, hh, ws, 1, N, f, TRUNC_SITE(l, OP_W2, step));
            if (e) goto out;
            for (size_t i = 0; i < N * d; i++) xs[i] += o[i];
        }
    }
    xfwd_part_switch(x, XPART_HEAD);
    /* the last position only: final norm, classifier, greedy token */
    e = nl_rmsnorm(x, xb, xs + (N - 1) * d, &x->rms[2 * c->n_layers], 1,
                   TRUNC_SITE(LAYER_FINAL, OP_RMS_FINAL, step));
    if (e) goto out;
    {
        matmul_weight_t *ws[1] = {&x->cls};
        uint64_t *ys1[1] = {x->logits};
        e = x_matmul(x, ys1, xb, ws, 1, 1, f, TRUNC_SITE(LAYER_FINAL, OP_CLS, step));
        if (e) goto out;
    }
    if (x->opts.reveal_logits) {
        /* opt-in: P1 sees the logits, and takes the argmax itself */
        if (x->role == MPC_P0 || x->role == MPC_P1) {
            stats_push(&x->ctx->stats, "reveal_logits");
            uint64_t *mine = arena_alloc(x->ar, V * sizeof *mine);
            if (!mine) {
                e = xfwd_fail(x, MPC_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(mine, x->logits, V * sizeof *mine);
            e = mpc_open_to(x->ctx, MPC_P1, CHAN_TAG('l', 'o', 'g', 't'), x->logits, mine, V);
            stats_pop(&x->ctx->stats);
        }
        if (!e && knows) {
            size_t best = 0;
            for (size_t i = 1; i < V; i++)
                if (fxp_signed(x->logits[i]) > fxp_signed(x->logits[best])) best = i;
            if (next) *next = (int)best;
        }
    } else {
        e = nl_argmax(x, next, x->logits, V);
    }
out:
    xfwd_part_switch(x, XPART_HEAD);
    arena_reset(x->ar, mk);
    if (!knows && next) *next = -1;
    return e;
}
