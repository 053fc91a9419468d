/* tests/protocols/dispatchtest.h - one run of every protocol whose local
 * arithmetic goes through kernels/dev.h's dispatchers (mul, trunc, matmul
 * with two weights on one input and its truncation, and products with a
 * fixed operand both ways), with a given device context per role, so that
 * the dispatch tests can compare runs share for share and check each run
 * against the plaintext oracles. Header-only: each test includes it once.
 *
 * Runs under one test seed draw the same correlations, and the inputs'
 * shares are fixed in the case, so two runs whose arithmetic is the same
 * function give the same shares, bit for bit, whichever path ran it.
 */
#ifndef TESTS_PROTOCOLS_DISPATCHTEST_H
#define TESTS_PROTOCOLS_DISPATCHTEST_H

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dev.h"
#include "kernels/ring.h"
#include "mpc/fxp.h"
#include "protocols/matmul.h"
#include "protocols/mul.h"
#include "protocols/trunc.h"

#define DT_POISON 0xa5a5a5a5a5a5a5a5ull
#define DT_F      16
#define DT_SITE_T TRUNC_SITE(7, 1, 0)
#define DT_SITE_M TRUNC_SITE(7, 2, 0)

/* Shapes: n elements for mul and trunc; x (m x k) times two weights of
 * rows[j] x k; a fixed operand Y (yr x yc) times X1 (ym x yc) as X1 Y^T and
 * X2 (ym x yr) as X2 Y. */
typedef struct dt_shape {
    size_t n, m, k, rows[2], ym, yr, yc;
} dt_shape_t;

/* Each party's output shares of one run. */
typedef struct dt_out {
    uint64_t *z[2];    /* mul: n */
    uint64_t *t[2];    /* trunc: n */
    uint64_t *y[2][2]; /* matmul: [party][weight], m x rows[j] */
    uint64_t *Z1[2];   /* X1 Y^T: ym x yr */
    uint64_t *Z2[2];   /* X2 Y: ym x yc */
} dt_out_t;

typedef struct dt_case {
    dt_shape_t s;
    /* plain inputs (fixed point) and their shares */
    uint64_t *x, *xs[2];   /* n, at scale 2f: mul's first factor and trunc's input */
    uint64_t *v, *vs[2];   /* n: mul's second factor */
    uint64_t *a, *as[2];   /* m x k, at f */
    uint64_t *W[2];        /* rows[j] x k, at f (P0's) */
    uint64_t *Y, *Ys[2];   /* yr x yc, at f */
    uint64_t *X1, *X1s[2]; /* ym x yc */
    uint64_t *X2, *X2s[2]; /* ym x yr */
    /* the run in progress */
    dt_out_t *out;
    dev_ctx_t *dev[3];
} dt_case_t;

static void dt_fixed(uint64_t *v, size_t n, double lo, double hi, int f)
{
    double *d = malloc(n * sizeof *d);
    assert_non_null(d);
    tu_uniform(d, n, lo, hi);
    for (size_t i = 0; i < n; i++)
        v[i] = fxp_encode(d[i], f);
    free(d);
}

/* Plain values and shares into *p and s[2] (n words each). */
static void dt_input(uint64_t **p, uint64_t *s[2], size_t n, double lo, double hi, int f)
{
    *p = malloc(n * 8 + 8);
    s[0] = malloc(n * 8 + 8);
    s[1] = malloc(n * 8 + 8);
    assert_true(*p && s[0] && s[1]);
    dt_fixed(*p, n, lo, hi, f);
    tu_share(s[0], s[1], *p, n);
}

/* A case with fresh random inputs of shape s. Ranges keep every truncation
 * input within its bound: |x| < 1000 at 2f, and |a W^T| <= 4k at 2f. */
static dt_case_t *dt_case_new(const dt_shape_t *s)
{
    dt_case_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->s = *s;
    dt_input(&c->x, c->xs, s->n, -1000, 1000, 2 * DT_F);
    dt_input(&c->v, c->vs, s->n, -8, 8, DT_F);
    dt_input(&c->a, c->as, s->m * s->k, -4, 4, DT_F);
    for (int j = 0; j < 2; j++) {
        c->W[j] = malloc(s->rows[j] * s->k * 8);
        assert_non_null(c->W[j]);
        dt_fixed(c->W[j], s->rows[j] * s->k, -1, 1, DT_F);
    }
    dt_input(&c->Y, c->Ys, s->yr * s->yc, -1, 1, DT_F);
    dt_input(&c->X1, c->X1s, s->ym * s->yc, -4, 4, DT_F);
    dt_input(&c->X2, c->X2s, s->ym * s->yr, -4, 4, DT_F);
    return c;
}

static void dt_case_free(dt_case_t *c)
{
    uint64_t *all[] = {c->x,     c->xs[0],  c->xs[1],  c->v,    c->vs[0],  c->vs[1], c->a,
                       c->as[0], c->as[1],  c->W[0],   c->W[1], c->Y,      c->Ys[0], c->Ys[1],
                       c->X1,    c->X1s[0], c->X1s[1], c->X2,   c->X2s[0], c->X2s[1]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
    free(c);
}

/* n words poisoned, so that an output left unwritten shows. */
static uint64_t *dt_poisoned(size_t n)
{
    uint64_t *p = malloc(n * 8 + 8);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = DT_POISON;
    return p;
}

static dt_out_t *dt_out_new(const dt_shape_t *s)
{
    dt_out_t *o = calloc(1, sizeof *o);
    assert_non_null(o);
    for (int p = 0; p < 2; p++) {
        o->z[p] = dt_poisoned(s->n);
        o->t[p] = dt_poisoned(s->n);
        for (int j = 0; j < 2; j++)
            o->y[p][j] = dt_poisoned(s->m * s->rows[j]);
        o->Z1[p] = dt_poisoned(s->ym * s->yr);
        o->Z2[p] = dt_poisoned(s->ym * s->yc);
    }
    return o;
}

static void dt_out_free(dt_out_t *o)
{
    for (int p = 0; p < 2; p++) {
        free(o->z[p]);
        free(o->t[p]);
        for (int j = 0; j < 2; j++)
            free(o->y[p][j]);
        free(o->Z1[p]);
        free(o->Z2[p]);
    }
    free(o);
}

static mpc_err_t dt_role(mpc_ctx_t *ctx, void *arg)
{
    dt_case_t *c = arg;
    const dt_shape_t *s = &c->s;
    const int p = ctx->party, dealer = p == MPC_DEALER;
    ctx->device = c->dev[p]; /* borrowed: the test frees it */
    matmul_weight_t w[2];
    matmul_weight_t *ws[2] = {&w[0], &w[1]};
    matmul_fixed_t Y;
    memset(w, 0, sizeof w);
    memset(&Y, 0, sizeof Y);
    mpc_err_t e;
    if (dealer) {
        e = mul_gen(ctx, s->n);
        if (!e) e = trunc_gen(ctx, s->n, DT_F, DT_SITE_T);
    } else {
        e = mul_eval(ctx, c->out->z[p], c->xs[p], c->vs[p], s->n);
        if (!e) e = trunc_eval(ctx, c->out->t[p], c->xs[p], s->n, DT_F, DT_SITE_T);
    }
    for (int j = 0; j < 2 && !e; j++)
        e = dealer ? matmul_weight_gen(ctx, &w[j], 40 + j, s->rows[j], s->k)
                   : matmul_weight_eval(ctx, &w[j], p == MPC_P0 ? c->W[j] : NULL, 40 + j,
                                        s->rows[j], s->k);
    if (!e)
        e = dealer ? matmul_gen(ctx, ws, 2, s->m, DT_F, DT_SITE_M)
                   : matmul_eval(ctx, c->out->y[p], c->as[p], ws, 2, s->m, DT_F, DT_SITE_M);
    if (!e)
        e = dealer ? matmul_fixed_gen(ctx, &Y, s->yr, s->yc)
                   : matmul_fixed_eval(ctx, &Y, c->Ys[p], s->yr, s->yc);
    if (!e) {
        matmul_fixed_job_t jobs[2] = {
            {dealer ? NULL : c->out->Z1[p], dealer ? NULL : c->X1s[p], &Y, s->ym, 1},
            {dealer ? NULL : c->out->Z2[p], dealer ? NULL : c->X2s[p], &Y, s->ym, 0},
        };
        e = dealer ? matmul_fixed_mul_many_gen(ctx, jobs, 2)
                   : matmul_fixed_mul_many_eval(ctx, jobs, 2);
    }
    for (int j = 0; j < 2; j++)
        matmul_weight_free(&w[j]);
    matmul_fixed_free(&Y);
    ctx->device = NULL;
    return e;
}

/* One run of c into out, with dev[p] for party p and dev[2] for the
 * dealer (any may be NULL), under test_seed. */
static void dt_run(dt_case_t *c, dt_out_t *out, dev_ctx_t *const dev[3],
                   const uint8_t test_seed[PRG_SEED_BYTES])
{
    c->out = out;
    for (int p = 0; p < 3; p++)
        c->dev[p] = dev[p];
    tu_opts_t o = {.test_seed = test_seed};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_non_null(res);
    int rc = tu_run(&o, dt_role, c, res);
    if (rc) fail_msg("run failed: P0 %s, P1 %s, dealer %s", res->msg[0], res->msg[1], res->msg[2]);
    free(res);
    c->out = NULL;
}

static void dt_words_equal(const uint64_t *got, const uint64_t *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: word %zu of %zu is %016llx, want %016llx", what, i, n,
                     (unsigned long long)got[i], (unsigned long long)want[i]);
}

/* Every share of a equals b's, element for element. */
static void dt_same_shares(const dt_case_t *c, const dt_out_t *a, const dt_out_t *b)
{
    const dt_shape_t *s = &c->s;
    char what[64];
    for (int p = 0; p < 2; p++) {
        snprintf(what, sizeof what, "P%d mul", p);
        dt_words_equal(a->z[p], b->z[p], s->n, what);
        snprintf(what, sizeof what, "P%d trunc", p);
        dt_words_equal(a->t[p], b->t[p], s->n, what);
        for (int j = 0; j < 2; j++) {
            snprintf(what, sizeof what, "P%d matmul weight %d", p, j);
            dt_words_equal(a->y[p][j], b->y[p][j], s->m * s->rows[j], what);
        }
        snprintf(what, sizeof what, "P%d fixed X Y^T", p);
        dt_words_equal(a->Z1[p], b->Z1[p], s->ym * s->yr, what);
        snprintf(what, sizeof what, "P%d fixed X Y", p);
        dt_words_equal(a->Z2[p], b->Z2[p], s->ym * s->yc, what);
    }
}

static void dt_open_equal(const uint64_t *const s[2], const uint64_t *want, size_t n,
                          const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (s[0][i] + s[1][i] != want[i])
            fail_msg("%s: element %zu of %zu opens to %016llx, want %016llx", what, i, n,
                     (unsigned long long)(s[0][i] + s[1][i]), (unsigned long long)want[i]);
}

/* The run in out opens to the plaintext oracles, exactly: the ring
 * products, and the truncation twin under test_seed's rounding stream. */
static void dt_matches_plain(const dt_case_t *c, const dt_out_t *out,
                             const uint8_t test_seed[PRG_SEED_BYTES])
{
    const dt_shape_t *s = &c->s;
    uint8_t round_seed[PRG_SEED_BYTES];
    prg_seed_derive(round_seed, test_seed, "round");
    size_t my = s->m * (s->rows[0] + s->rows[1]);
    size_t big = s->n > my ? s->n : my;
    if (s->ym * s->yr > big) big = s->ym * s->yr;
    if (s->ym * s->yc > big) big = s->ym * s->yc;
    uint64_t *want = malloc(big * 8 + 8);
    assert_non_null(want);

    for (size_t i = 0; i < s->n; i++)
        want[i] = c->x[i] * c->v[i];
    dt_open_equal((const uint64_t *const[2]){out->z[0], out->z[1]}, want, s->n, "mul");
    trunc_plain(want, c->x, s->n, DT_F, round_seed, DT_SITE_T);
    dt_open_equal((const uint64_t *const[2]){out->t[0], out->t[1]}, want, s->n, "trunc");

    ring_gemm_nt(want, c->a, c->W[0], s->m, s->rows[0], s->k, 0);
    ring_gemm_nt(want + s->m * s->rows[0], c->a, c->W[1], s->m, s->rows[1], s->k, 0);
    trunc_plain(want, want, my, DT_F, round_seed, DT_SITE_M);
    dt_open_equal((const uint64_t *const[2]){out->y[0][0], out->y[1][0]}, want, s->m * s->rows[0],
                  "matmul weight 0");
    dt_open_equal((const uint64_t *const[2]){out->y[0][1], out->y[1][1]}, want + s->m * s->rows[0],
                  s->m * s->rows[1], "matmul weight 1");

    ring_gemm_nt(want, c->X1, c->Y, s->ym, s->yr, s->yc, 0);
    dt_open_equal((const uint64_t *const[2]){out->Z1[0], out->Z1[1]}, want, s->ym * s->yr,
                  "fixed X Y^T");
    ring_gemm_nn(want, c->X2, c->Y, s->ym, s->yc, s->yr, 0);
    dt_open_equal((const uint64_t *const[2]){out->Z2[0], out->Z2[1]}, want, s->ym * s->yc,
                  "fixed X Y");
    free(want);
}

/* A fresh test seed for the correlations, printed to the test's log. */
static void dt_seed(uint8_t seed[PRG_SEED_BYTES])
{
    tu_seed(seed);
    printf("# test seed ");
    for (int i = 0; i < PRG_SEED_BYTES; i++)
        printf("%02x", seed[i]);
    printf("\n");
}

#endif
