/* tests/llm/test_xmpcache.c - MPCache inside MPC (llm/xfwd_mpcache.c)
 * against the fixed-point plain engine running the same policy.
 *
 * On the real stories260K with 8/4-token clusters, so that the selection is
 * really query-aware: under the dealer's test seed the secure engine's
 * logits, tokens, static eviction and per-step cluster choices equal the
 * plain engine's (the parties' shares of each decision are added here, in
 * the test, and nowhere else); every decode step attends exactly the
 * configured budget; and two prompts of one length give identical message
 * traces. On the stories15M shape (seeded weights, L = 6) layer 3 reuses
 * layer 2's selection, and stories260K (L = 5) never shares. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model.h"
#include "llm/tokenizer.h"
#include "llm/xfwd.h"
#include "mpc/fxp.h"

#if defined(__SANITIZE_ADDRESS__)
#define STEPS(n) ((n) / 4 + 2)
#else
#define STEPS(n) (n)
#endif

#define MAXSTEP 64
#define MAXL    8
#define MAXG    8
#define MAXC    160

static model_t *model;
static tok_t *tok;

static const char *story =
    "Once upon a time, there was a little girl named Lily. She loved to play outside "
    "in the park with her red ball. One day, she saw a big dog";

static int setup(void **state)
{
    (void)state;
    char mp[1024], tp[1024], err[CHAN_ERR_BYTES];
    if (!tu_shared_path("models/stories260K.bin", mp, sizeof mp) ||
        !tu_shared_path("models/tok512.bin", tp, sizeof tp))
        exit(TU_SKIP);
    if (model_load(&model, mp, err) || tok_load(&tok, tp, model->cfg.vocab_size, err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_free(&model);
    tok_free(&tok);
    return 0;
}

/* One run: the prompt, the policy, and what each role saw. */
typedef struct run {
    const model_t *m;
    int prompt[256], P, steps;
    kv_config_t kv;
    int form; /* MPCache's attention form: 0 by the cost model, 'a' or 'b' */
    /* [role: 0 P0, 1 P1, 2 plain] */
    uint64_t *logits[3];                             /* (steps - P + 1, vocab) */
    int tokens[3][MAXSTEP];
    uint64_t stat[3][MAXL][MAXC];                    /* static survivors */
    int nstat[MAXL];
    uint64_t dyn[3][MAXSTEP][MAXL][MAXG][MAXC];      /* chosen clusters per step */
    int ndyn[MAXSTEP][MAXL];
    int attended[MAXSTEP][MAXL];
} run_t;

/* The generation loop of every role; `slot` is 0/1 for the parties, 2 for
 * the plain engine (the dealer records nothing). */
static mpc_err_t drive(xfwd_t *x, run_t *r, int slot, int knows)
{
    const model_config_t *c = &r->m->cfg;
    size_t V = (size_t)c->vocab_size;
    mpc_err_t e = xfwd_set_policy(x, &r->kv);
    xfwd_opts_t o = {.pad_len = knows ? 0 : -1, .mpcache_form = r->form};
    xfwd_set_opts(x, &o);
    if (!e) e = xfwd_setup(x);
    int next = -1, k = 0;
    if (!e) e = xfwd_forward(x, knows ? r->prompt : NULL, 0, r->P, &next);
    if (!e && slot < 3)
        for (int l = 0; l < c->n_layers; l++) r->nstat[l] = xfwd_debug_static(x, l, r->stat[slot][l]);
    for (int pos = r->P; !e; pos++) {
        if (slot < 3) {
            memcpy(r->logits[slot] + (size_t)k * V, xfwd_logits(x), V * 8);
            r->tokens[slot][k] = next;
            if (k > 0)
                for (int l = 0; l < c->n_layers; l++) {
                    r->attended[k][l] = xfwd_attended(x, l);
                    for (int g = 0; g < c->n_kv_heads; g++)
                        r->ndyn[k][l] = xfwd_debug_dynamic(x, l, g, r->dyn[slot][k][l][g]);
                }
        }
        k++;
        if (pos >= r->steps) break;
        e = xfwd_forward(x, &next, pos, 1, &next);
    }
    return e;
}

static mpc_err_t engine_role(mpc_ctx_t *ctx, void *arg)
{
    run_t *r = arg;
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    mpc_err_t e = xfwd_new(&x, &r->m->cfg, ctx->party == MPC_P0 ? r->m : NULL, ctx, ctx->party,
                           FXP_FRAC_BITS_DEFAULT, NULL, err);
    if (e) return mpc_fail(ctx, e, "%s", err);
    e = drive(x, r, ctx->party == MPC_DEALER ? 3 : ctx->party, ctx->party == MPC_P1);
    xfwd_free(&x);
    return e;
}

static void run_plain(run_t *r, const uint8_t round_seed[16])
{
    xfwd_t *x = NULL;
    char err[CHAN_ERR_BYTES];
    assert_int_equal(xfwd_new(&x, &r->m->cfg, r->m, NULL, XFWD_PLAIN, FXP_FRAC_BITS_DEFAULT,
                              round_seed, err),
                     MPC_OK);
    assert_int_equal(drive(x, r, 2, 1), MPC_OK);
    xfwd_free(&x);
}

static run_t *new_run(const model_t *m, const int *ids, int P, int steps)
{
    run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->m = m;
    memcpy(r->prompt, ids, (size_t)P * sizeof *ids);
    r->P = P;
    r->steps = steps;
    assert_true(steps - P < MAXSTEP);
    kv_config_default(&r->kv);
    r->kv.policy = KV_MPCACHE;
    r->kv.prompt_len = P;
    r->kv.budget = 0.25;
    r->kv.static_keep = 0.5;
    r->kv.cluster_coarse = 8;
    r->kv.cluster_fine = 4;
    size_t n = (size_t)(steps - P + 1) * (size_t)m->cfg.vocab_size;
    for (int s = 0; s < 3; s++) r->logits[s] = calloc(n, 8);
    return r;
}

static void free_run(run_t *r)
{
    for (int s = 0; s < 3; s++) free(r->logits[s]);
    free(r);
}

static int encode(const char *text, int *ids)
{
    int P = 0;
    char err[CHAN_ERR_BYTES];
    assert_true(tok_encode_cap(text) <= 256);
    assert_int_equal(tok_encode(tok, text, 1, 0, ids, &P, err), MPC_OK);
    return P;
}

static void test_secure_mpcache_equals_the_fixed_plain_policy(void **state)
{
    (void)state;
    int ids[256], P = encode(story, ids);
    assert_true(P >= 30);
    run_t *r = new_run(model, ids, P, P + STEPS(40));
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed, .timeout_ms = 120000};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, engine_role, r, res), 0);
    run_t *plain = new_run(model, ids, P, r->steps);
    run_plain(plain, round_seed);
    const model_config_t *c = &model->cfg;
    size_t V = (size_t)c->vocab_size, n = (size_t)(r->steps - P + 1);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < V; i++)
            assert_int_equal(r->logits[0][k * V + i] + r->logits[1][k * V + i],
                             plain->logits[2][k * V + i]);
        assert_int_equal(r->tokens[1][k], plain->tokens[2][k]);
    }
    /* the static eviction: the same survivors, exactly B_s of them */
    int bs = kv_static_keep(&r->kv), W = kv_static_window(&r->kv), kept = 0;
    assert_true(bs < P);
    for (int l = 0; l < c->n_layers; l++) {
        assert_int_equal(r->nstat[l], P - W - r->kv.sinks);
        kept = 0;
        for (int i = 0; i < r->nstat[l]; i++) {
            assert_int_equal(r->stat[0][l][i] + r->stat[1][l][i], plain->stat[2][l][i]);
            kept += plain->stat[2][l][i] == 1;
        }
        assert_int_equal(kept + r->kv.sinks + W, bs);
    }
    /* every decode step: the same clusters, and exactly the budget */
    int varied = 0, clustered = 0;
    for (size_t k = 1; k < n; k++)
        for (int l = 0; l < c->n_layers; l++) {
            int pos = P + (int)k - 1;
            assert_int_equal(r->attended[k][l], c->n_kv_heads * kv_budget_tokens(&r->kv, pos));
            assert_int_equal(plain->attended[k][l], r->attended[k][l]);
            int nc = plain->ndyn[k][l];
            if (nc < 0) continue;
            clustered++;
            for (int g = 0; g < c->n_kv_heads; g++)
                for (int i = 0; i < nc; i++) {
                    assert_int_equal(r->dyn[0][k][l][g][i] + r->dyn[1][k][l][g][i],
                                     plain->dyn[2][k][l][g][i]);
                    if (k > 1 && plain->ndyn[k - 1][l] == nc)
                        varied += plain->dyn[2][k][l][g][i] != plain->dyn[2][k - 1][l][g][i];
                }
        }
    fprintf(stderr, "  %d prompt tokens, B_s %d; %zu decode steps equal (%d clustered layer-steps, "
                    "%d selection changes); %llu rounds, %llu B online\n",
            P, bs, n - 1, clustered, varied, (unsigned long long)tu_rounds(res),
            (unsigned long long)(tu_bytes_sent(res, 0) + tu_bytes_sent(res, 1)));
    /* print the chosen clusters of layer 0, head 0, per step */
    for (size_t k = 1; k < n && k < 12; k++) {
        fprintf(stderr, "    step %zu layer 0 head 0:", k);
        for (int i = 0; i < plain->ndyn[k][0]; i++)
            if (plain->dyn[2][k][0][0][i]) fprintf(stderr, " %d", i + 1);
        fprintf(stderr, "\n");
    }
    assert_true(clustered > 0);
    assert_true(varied > 0); /* query-aware: the choice moves with the query */
    free_run(r);
    free_run(plain);
    free(res);
}

static void check_traffic(kv_policy_t policy)
{
    static const char *other =
        "One day, a small boy called Tom went to the beach with his mom and dad. They "
        "built a big sand castle by the sea and then";
    int a[256], b[256], Pa = encode(story, a), Pb = encode(other, b);
    /* cut both to the shorter length: equal token counts, different tokens */
    int P = Pa < Pb ? Pa : Pb;
    run_t *ra = new_run(model, a, P, P + STEPS(10)), *rb = new_run(model, b, P, P + STEPS(10));
    ra->kv.policy = rb->kv.policy = policy;
    assert_memory_not_equal(ra->prompt, rb->prompt, (size_t)P * sizeof(int));
    tu_result_t *xa = calloc(1, sizeof *xa), *xb = calloc(1, sizeof *xb);
    tu_opts_t o = {.timeout_ms = 120000};
    assert_int_equal(tu_run(&o, engine_role, ra, xa), 0);
    assert_int_equal(tu_run(&o, engine_role, rb, xb), 0);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(xa->trace[p], xb->trace[p]);
        assert_int_equal(tu_bytes_sent(xa, p), tu_bytes_sent(xb, p));
    }
    assert_int_equal(tu_rounds(xa), tu_rounds(xb));
    free_run(ra);
    free_run(rb);
    free(xa);
    free(xb);
}

static void test_secure_mpcache_traffic_is_the_same_for_prompts_of_one_length(void **state)
{
    (void)state;
    check_traffic(KV_MPCACHE);
    check_traffic(KV_H2O); /* which tokens H2O evicts is as secret */
}

static void test_cross_layer_sharing_on_the_stories15M_shape(void **state)
{
    (void)state;
    model_config_t c15 = {288, 768, 6, 6, 6, 512, 256};
    model_t *m = NULL;
    char err[CHAN_ERR_BYTES];
    assert_int_equal(model_new_random(&m, &c15, 15, err), MPC_OK);
    int ids[256], P = encode(story, ids);
    run_t *r = new_run(m, ids, P, P + STEPS(6));
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed, .timeout_ms = 240000};
    assert_int_equal(tu_run(&o, engine_role, r, NULL), 0);
    run_t *plain = new_run(m, ids, P, r->steps);
    run_plain(plain, round_seed);
    size_t n = (size_t)(r->steps - P + 1);
    int shared = 0, own = 0;
    for (size_t k = 1; k < n; k++) {
        assert_int_equal(r->tokens[1][k], plain->tokens[2][k]);
        for (int l = 0; l < 6; l++) {
            int nc = plain->ndyn[k][l];
            assert_true(nc > 0);
            for (int g = 0; g < 6; g++)
                for (int i = 0; i < nc; i++)
                    assert_int_equal(r->dyn[0][k][l][g][i] + r->dyn[1][k][l][g][i],
                                     plain->dyn[2][k][l][g][i]);
            /* layer 3 reuses layer 2's choice; 0, 1, 4, 5 choose for themselves */
            for (int g = 0; g < 6; g++) {
                if (l == 3)
                    assert_memory_equal(plain->dyn[2][k][3][g], plain->dyn[2][k][2][g],
                                        (size_t)nc * 8);
                if (l == 3) shared++;
                if (l != 3 && memcmp(plain->dyn[2][k][l][g], plain->dyn[2][k][l == 0 ? 1 : 0][g],
                                     (size_t)nc * 8))
                    own++;
            }
        }
    }
    assert_int_equal(kv_share_source(3, 6), 2);
    for (int l = 0; l < 5; l++) assert_int_equal(kv_share_source(l, 5), l);
    assert_true(shared > 0 && own > 0);
    fprintf(stderr, "  stories15M shape: %d shared head-steps in layer 3, %d independent "
                    "choices elsewhere\n", shared, own);
    free_run(r);
    free_run(plain);
    model_free(&m);
}

static void test_both_attention_forms_give_the_same_bits(void **state)
{
    (void)state;
    int ids[256], P = encode(story, ids);
    run_t *r = new_run(model, ids, P, P + STEPS(12));
    r->form = 'b';
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed, .timeout_ms = 120000};
    tu_result_t *rb = calloc(1, sizeof *rb), *ra = calloc(1, sizeof *ra);
    assert_int_equal(tu_run(&o, engine_role, r, rb), 0);
    run_t *pa = new_run(model, ids, P, r->steps), *pb = new_run(model, ids, P, r->steps);
    pa->form = 'a';
    pb->form = 'b';
    run_plain(pa, round_seed);
    run_plain(pb, round_seed);
    size_t V = (size_t)model->cfg.vocab_size, n = (size_t)(r->steps - P + 1);
    for (size_t i = 0; i < n * V; i++) {
        assert_int_equal(pa->logits[2][i], pb->logits[2][i]);
        assert_int_equal(r->logits[0][i] + r->logits[1][i], pb->logits[2][i]);
    }
    /* and the cost model's choice at these sizes is (a), cheaper in traffic */
    r->form = 'a';
    assert_int_equal(tu_run(&o, engine_role, r, ra), 0);
    uint64_t ca, cb;
    assert_int_equal(xfwd_mpcache_form(62, 14, 16, 1, 64, &ca, &cb), 'a');
    assert_true(ca < cb);
    assert_true(tu_bytes_sent(ra, 0) < tu_bytes_sent(rb, 0));
    fprintf(stderr, "  form (a) %llu B, form (b) %llu B online for %zu steps; stories110M "
                    "T=2048 shape: (a) %llu, (b) %llu words per KV head\n",
            (unsigned long long)(tu_bytes_sent(ra, 0) + tu_bytes_sent(ra, 1)),
            (unsigned long long)(tu_bytes_sent(rb, 0) + tu_bytes_sent(rb, 1)), n,
            (unsigned long long)ca, (unsigned long long)cb);
    free_run(r);
    free_run(pa);
    free_run(pb);
    free(ra);
    free(rb);
}

/* H2O in MPC: the same bits as the plain engine's H2O, and the budget at
 * every step (evicting one, several or none as the budget moves). */
static void check_h2o(int fixed_budget)
{
    int ids[256], P = encode(story, ids);
    run_t *r = new_run(model, ids, P, P + STEPS(24));
    r->kv.policy = KV_H2O;
    r->kv.fixed_budget = fixed_budget;
    uint8_t test_seed[16], round_seed[16];
    tu_seed(test_seed);
    prg_seed_derive(round_seed, test_seed, "round");
    tu_opts_t o = {.test_seed = test_seed, .timeout_ms = 120000};
    tu_result_t *res = calloc(1, sizeof *res);
    assert_int_equal(tu_run(&o, engine_role, r, res), 0);
    run_t *plain = new_run(model, ids, P, r->steps);
    plain->kv.policy = KV_H2O;
    plain->kv.fixed_budget = fixed_budget;
    run_plain(plain, round_seed);
    const model_config_t *c = &model->cfg;
    size_t V = (size_t)c->vocab_size, n = (size_t)(r->steps - P + 1);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < V; i++)
            assert_int_equal(r->logits[0][k * V + i] + r->logits[1][k * V + i],
                             plain->logits[2][k * V + i]);
        assert_int_equal(r->tokens[1][k], plain->tokens[2][k]);
    }
    for (size_t k = 1; k < n; k++)
        for (int l = 0; l < c->n_layers; l++)
            assert_int_equal(r->attended[k][l],
                             c->n_kv_heads * kv_budget_tokens(&r->kv, P + (int)k - 1));
    fprintf(stderr, "  h2o (%s): %zu decode steps equal, %llu rounds, %llu B online\n",
            fixed_budget ? "a fixed budget: one eviction per step" : "the equal budget", n - 1,
            (unsigned long long)tu_rounds(res),
            (unsigned long long)(tu_bytes_sent(res, 0) + tu_bytes_sent(res, 1)));
    free_run(r);
    free_run(plain);
    free(res);
}

static void test_secure_h2o_equals_the_fixed_plain_policy(void **state)
{
    (void)state;
    check_h2o(0);  /* evicts none, or several when MPCache's newest cluster restarts */
    check_h2o(20); /* evicts one per step: the secure argmin */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secure_mpcache_equals_the_fixed_plain_policy),
        cmocka_unit_test(test_secure_mpcache_traffic_is_the_same_for_prompts_of_one_length),
        cmocka_unit_test(test_cross_layer_sharing_on_the_stories15M_shape),
        cmocka_unit_test(test_both_attention_forms_give_the_same_bits),
        cmocka_unit_test(test_secure_h2o_equals_the_fixed_plain_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
