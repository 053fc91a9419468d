/* tests/parties/test_policy.c - KV-cache policies in private generation,
 * through the real programs on stories260K (issue 6, "What must hold", the
 * process-level part).
 *
 * - Exactness: `mpcllm generate --policy mpcache --clusters 8,4 --budget
 *   0.25 --test-seed S --steps 128` across three processes prints what
 *   `--engine fixed --seed S` prints with the same policy, token for token,
 *   on a 47-token prompt that static eviction really prunes (it keeps 24);
 *   streaming and H2O likewise.
 * - Budgets are honoured: the attended_tokens array of both engines' JSON
 *   holds, at every decode step and layer, n_kv_heads x kv_budget_tokens of
 *   that position (fewer than the cache holds), and the policy and budget
 *   keys name the run's.
 * - The server and the dealer check the policy the client sends, and refuse
 *   a bad one with a reason that reaches the client; the server then serves
 *   a good client that chose streaming.
 *
 * Each secure run takes about a minute on two cores: label slow. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm/model.h"
#include "net/net.h"
#include "parties/launch.h"
#include "parties/party.h"

#define HELLO_TAG CHAN_TAG('H', 'E', 'L', 'O')

/* 47 tokens with BOS, on tok512 */
static const char *long_prompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park with her friends. One day, she saw a big red ball";

static char bindir[1024], model[1024], tok[1024], scratch[64];
static int have_models;
static model_config_t mcfg;

static int group_setup(void **state)
{
    (void)state;
    const char *b = getenv("MPCLLM_BIN");
    snprintf(bindir, sizeof bindir, "%s", b && *b ? b : "bin");
    have_models = tu_shared_path("models/stories260K.bin", model, sizeof model) &&
                  tu_shared_path("models/tok512.bin", tok, sizeof tok);
    if (have_models) {
        model_t *m = NULL;
        char err[CHAN_ERR_BYTES];
        if (model_load(&m, model, err) != MPC_OK) return -1;
        mcfg = m->cfg;
        model_free(&m);
    }
    snprintf(scratch, sizeof scratch, "/tmp/mpcllm-test-pol-XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%s/%s", scratch, what);
}

/* Runs argv with stdout and stderr to files (the child dies with this
 * process); returns its exit status. */
static int run_io(char *const argv[], const char *out, const char *err, int timeout_ms)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return launch_wait(pid, timeout_ms);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    if (f) {
        size_t r;
        while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
            n += r;
            if (n + 1 == cap) {
                cap *= 2;
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
        }
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* What `mpcllm generate` prints on stdout with these flags (NULL-terminated)
 * after the model, tokenizer and prompt; fails the test on a nonzero exit. */
static char *generate(const char *const flags[], int timeout_ms)
{
    char exe[1100], out[128], err[128];
    snprintf(exe, sizeof exe, "%s/mpcllm", bindir);
    tmp_path(out, sizeof out, "gen.out");
    tmp_path(err, sizeof err, "gen.err");
    char *argv[40] = {exe,           "generate", "--model",  model,
                      "--tokenizer", tok,        "--prompt", (char *)long_prompt};
    int n = 8;
    for (int i = 0; flags[i]; i++) {
        assert_true(n < 38);
        argv[n++] = (char *)flags[i];
    }
    argv[n] = NULL;
    int rc = run_io(argv, out, err, timeout_ms);
    if (rc != 0)
        fail_msg("mpcllm generate %s %s ... exited %d: %s", flags[0], flags[1], rc, slurp(err));
    unlink(err);
    char *text = slurp(out);
    unlink(out);
    return text;
}

/* The raw JSON value after "key": up to the end of a string, number or
 * bracketed array (the caller frees it). */
static char *json_raw(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) fail_msg("no %s in %s", key, json);
    p += strlen(pat);
    const char *q = p;
    if (*q == '"') {
        for (q++; *q && *q != '"'; q++)
            if (*q == '\\') q++;
        q++;
    } else if (*q == '[') {
        int depth = 0;
        do {
            depth += (*q == '[') - (*q == ']');
            q++;
        } while (*q && depth);
    } else {
        while (*q && *q != ',' && *q != '}')
            q++;
    }
    return strndup(p, (size_t)(q - p));
}

/* A JSON string as the printer writes it, decoded (\", \\ and \u00XX). */
static char *json_text(const char *json)
{
    char *raw = json_raw(json, "text"), *out = calloc(strlen(raw) + 1, 1);
    assert_non_null(out);
    size_t n = 0;
    for (const char *p = raw + 1; *p && *p != '"'; p++) {
        if (*p != '\\') {
            out[n++] = *p;
        } else if (p[1] == 'u') {
            out[n++] = (char)strtol((char[]){p[4], p[5], 0}, NULL, 16);
            p += 5;
        } else {
            out[n++] = *++p;
        }
    }
    free(raw);
    return out;
}

/* The attended_tokens array: one row of n_layers counts per decode step.
 * Returns the rows (the caller frees *out). */
static int json_attended(const char *json, int n_layers, int **out)
{
    char *raw = json_raw(json, "attended_tokens");
    int cap = 1024, n = 0, rows = 0, *v = malloc((size_t)cap * sizeof *v);
    assert_non_null(v);
    for (const char *p = raw + 1; *p; p++) {
        if (*p == '[') {
            rows++;
            continue;
        }
        if (*p < '0' || *p > '9') continue;
        char *end;
        long x = strtol(p, &end, 10);
        if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof *v);
        assert_non_null(v);
        v[n++] = (int)x;
        p = end - 1;
    }
    free(raw);
    if (n != rows * n_layers) fail_msg("%d counts in %d rows of %d layers", n, rows, n_layers);
    *out = v;
    return rows;
}

/* The run's KV configuration as the engines build it. */
static kv_config_t run_kv(kv_policy_t policy, int prompt_len)
{
    kv_config_t kv;
    kv_config_default(&kv);
    kv.policy = policy;
    kv.budget = 0.25;
    kv.cluster_coarse = 8;
    kv.cluster_fine = 4;
    kv.n_layers = mcfg.n_layers;
    kv.n_heads = mcfg.n_heads;
    kv.n_kv_heads = mcfg.n_kv_heads;
    kv.head_size = mcfg.dim / mcfg.n_heads;
    kv.seq_len = mcfg.seq_len;
    kv.prompt_len = prompt_len;
    return kv;
}

/* Every decode step of json attended the policy's budget in every layer:
 * n_kv_heads x kv_budget_tokens, fewer than the cache holds. */
static void assert_budget_honoured(const char *json, kv_policy_t policy, int steps)
{
    char *pt = json_raw(json, "prompt_tokens"), *pol = json_raw(json, "policy"),
         *bud = json_raw(json, "budget");
    int P = atoi(pt);
    char want[32];
    snprintf(want, sizeof want, "\"%s\"", kv_policy_name(policy));
    assert_string_equal(pol, want);
    assert_string_equal(bud, "0.25");
    kv_config_t kv = run_kv(policy, P);
    if (policy == KV_MPCACHE) assert_true(kv_static_keep(&kv) < P); /* static eviction evicts */
    int *att = NULL, L = mcfg.n_layers, G = mcfg.n_kv_heads;
    int rows = json_attended(json, L, &att);
    assert_int_equal(rows, steps - P);
    for (int i = 0; i < rows; i++) {
        int pos = P + i, budget = G * kv_budget_tokens(&kv, pos);
        assert_true(budget < G * (pos + 1));
        for (int l = 0; l < L; l++)
            if (att[i * L + l] != budget)
                fail_msg("%s, position %d, layer %d: attended %d, the budget is %d",
                         kv_policy_name(policy), pos, l, att[i * L + l], budget);
    }
    free(att);
    free(pt);
    free(pol);
    free(bud);
}

/* Secure with the test seed = fixed with that seed, for policy, in text,
 * tokens and attended counts, and both honour the budget. */
static void assert_policy_secure_is_fixed(kv_policy_t policy, const char *seed, int steps)
{
    char sstr[16];
    snprintf(sstr, sizeof sstr, "%d", steps);
    const char *name = kv_policy_name(policy);
    const char *sec_flags[] = {"--steps",    sstr,  "--policy",    name, "--budget", "0.25",
                               "--clusters", "8,4", "--test-seed", seed, "--json",   NULL};
    const char *fix_flags[] = {"--steps", sstr,         "--policy", name,       "--budget",
                               "0.25",    "--clusters", "8,4",      "--engine", "fixed",
                               "--seed",  seed,         "--json",   NULL};
    double t0 = stats_now();
    char *sec = generate(sec_flags, 600000);
    double t1 = stats_now();
    char *fix = generate(fix_flags, 120000);
    fix_flags[12] = NULL; /* the same, printed as text */
    char *fix_text = generate(fix_flags, 120000);
    char *online = json_raw(sec, "online_bytes"), *rounds = json_raw(sec, "rounds"),
         *dec = json_raw(sec, "decode_s_per_token");
    print_message("secure %s, %d steps, seed %s: %.1f s; online %s B, %s rounds, %s s/token\n",
                  name, steps, seed, t1 - t0, online, rounds, dec);
    free(online);
    free(rounds);
    free(dec);
    char *a = json_raw(sec, "text"), *b = json_raw(fix, "text");
    assert_string_equal(a, b);
    free(a);
    free(b);
    a = json_raw(sec, "tokens");
    b = json_raw(fix, "tokens");
    assert_string_equal(a, b);
    assert_true(strlen(a) > 100); /* dozens of tokens before any BOS */
    free(a);
    free(b);
    a = json_text(sec);
    assert_string_equal(a, fix_text);
    free(a);
    a = json_raw(sec, "attended_tokens");
    b = json_raw(fix, "attended_tokens");
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_budget_honoured(sec, policy, steps);
    assert_budget_honoured(fix, policy, steps);
    free(sec);
    free(fix);
    free(fix_text);
}

static void test_secure_mpcache_equals_fixed_for_128_steps_within_the_budget(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_policy_secure_is_fixed(KV_MPCACHE, "5", 128);
}

static void test_secure_streaming_equals_fixed_for_128_steps_within_the_budget(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_policy_secure_is_fixed(KV_STREAMING, "9", 128);
}

static void test_secure_h2o_equals_fixed_for_128_steps_within_the_budget(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_policy_secure_is_fixed(KV_H2O, "13", 128);
}

/* --- the server and the dealer check the client's policy --------------- */

/* Sends a generation hello with policy kv (and flags) to the server at ep,
 * and returns its reply's status; its reason goes to msg. */
static uint32_t server_reply(net_t *net, const char *ep, const kv_config_t *kv, uint32_t flags,
                             char *msg, size_t cap)
{
    net_opts_t o;
    net_opts_default(&o);
    o.curve = 0;
    o.timeout_ms = 10000;
    party_hello_t h, reply;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PARTY_MAGIC, 8);
    randombytes_buf(h.nonce, sizeof h.nonce);
    party_prog_generate(&h.prog, NULL, 16, 64, 0);
    h.prog.flags = flags;
    party_kv_pack(&h.prog.kv, kv);
    char err[NET_ERR_BYTES];
    chan_t *c = net_dial(net, ep, &o, &h, sizeof h, NULL, err);
    if (!c) fail_msg("server %s: %s", ep, err);
    size_t len = 0;
    uint64_t depth;
    assert_int_equal(chan_recv(c, HELLO_TAG, &depth, &reply, sizeof reply, &len), MPC_OK);
    assert_int_equal(len, sizeof reply);
    reply.msg[sizeof reply.msg - 1] = '\0';
    snprintf(msg, cap, "%s", reply.msg);
    chan_free(&c);
    return reply.status;
}

static void test_server_and_dealer_refuse_a_bad_policy_with_a_reason(void **state)
{
    (void)state;
    if (!have_models) skip();
    char dbin[1100], sbin[1100], cbin[1100], dep[256], sep[256], err[256];
    snprintf(dbin, sizeof dbin, "%s/mpcllm-dealer", bindir);
    snprintf(sbin, sizeof sbin, "%s/mpcllm-server", bindir);
    snprintf(cbin, sizeof cbin, "%s/mpcllm-client", bindir);
    char *dargv[] = {dbin, "--listen", "tcp://127.0.0.1:*", "--plaintext", "--timeout", "10", NULL};
    pid_t dealer = launch_ready(dargv, dep, sizeof dep, 20000, err, sizeof err);
    if (dealer < 0) fail_msg("dealer: %s", err);
    char *sargv[] = {sbin,      "--listen", "tcp://127.0.0.1:*", "--plaintext", "--dealer", dep,
                     "--model", model,      "--timeout",         "10",          NULL};
    pid_t server = launch_ready(sargv, sep, sizeof sep, 20000, err, sizeof err);
    if (server < 0) fail_msg("server: %s", err);
    net_t *net = net_new();
    assert_non_null(net);
    char msg[256];
    kv_config_t kv;
    kv_config_default(&kv);
    kv.policy = KV_SNAPKV;
    assert_int_equal(server_reply(net, sep, &kv, 0, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "secure engine"));
    kv.policy = KV_MPCACHE;
    kv.budget = 0.75;
    assert_int_equal(server_reply(net, sep, &kv, 0, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "--static-keep"));
    kv.budget = 0.25;
    assert_int_equal(server_reply(net, sep, &kv, PROG_PAD, msg, sizeof msg), MPC_EARG);
    assert_non_null(strstr(msg, "--pad-to"));
    assert_int_equal(server_reply(net, sep, &kv, 0, msg, sizeof msg), MPC_OK);
    /* the dealer, on its own: a party that joins it with a policy the
     * secure engine does not run is refused with the reason */
    party_dealer_hello_t dh;
    memset(&dh, 0, sizeof dh);
    memcpy(dh.magic, PARTY_MAGIC, 8);
    dh.role = MPC_P1;
    randombytes_buf(dh.nonce, sizeof dh.nonce);
    party_prog_generate(&dh.prog, &mcfg, 16, 64, 10);
    kv.policy = KV_TOVA;
    party_kv_pack(&dh.prog.kv, &kv);
    party_sid(dh.sid, &dh);
    mpc_ctx_t ctx;
    assert_int_equal(mpc_ctx_init(&ctx, MPC_P1, 16), MPC_OK);
    party_net_t pn = {net, {0}, dep, {0}, 10000};
    net_opts_default(&pn.self);
    pn.self.curve = 0;
    chan_t *d = NULL;
    assert_int_equal(party_join_dealer(&ctx, &pn, &dh, &d, NULL), MPC_EARG);
    print_message("the dealer: %s\n", ctx.err);
    assert_non_null(strstr(ctx.err, "dealer refused"));
    assert_non_null(strstr(ctx.err, "secure engine"));
    chan_free(&d);
    mpc_ctx_destroy(&ctx);
    net_free(&net);
    /* a client with a good policy is then served, its JSON says which */
    char out[128], cerr[128];
    tmp_path(out, sizeof out, "client.out");
    tmp_path(cerr, sizeof cerr, "client.err");
    char *cargv[] = {cbin,          "--server",  sep,        "--dealer", dep,       "--plaintext",
                     "--tokenizer", tok,         "--prompt", "Hi",       "--steps", "12",
                     "--policy",    "streaming", "--budget", "0.5",      "--json",  NULL};
    int rc = run_io(cargv, out, cerr, 120000);
    char *o = slurp(out), *e = slurp(cerr);
    if (rc != 0) fail_msg("the client exited %d: %s", rc, e);
    char *pol = json_raw(o, "policy"), *bud = json_raw(o, "budget");
    assert_string_equal(pol, "\"streaming\"");
    assert_string_equal(bud, "0.5");
    free(pol);
    free(bud);
    free(o);
    free(e);
    kill(server, SIGTERM);
    kill(dealer, SIGTERM);
    assert_int_equal(launch_wait(server, 20000), 0);
    assert_int_equal(launch_wait(dealer, 20000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_and_dealer_refuse_a_bad_policy_with_a_reason),
        cmocka_unit_test(test_secure_mpcache_equals_fixed_for_128_steps_within_the_budget),
        cmocka_unit_test(test_secure_streaming_equals_fixed_for_128_steps_within_the_budget),
        cmocka_unit_test(test_secure_h2o_equals_fixed_for_128_steps_within_the_budget),
    };
    const char *filter = getenv("MPCLLM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
