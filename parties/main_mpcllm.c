/* parties/main_mpcllm.c - mpcllm: the one-command front door.
 *
 *   mpcllm generate ...   a generation; --engine float runs the plaintext
 *                         reference in this process
 *   mpcllm demo ...       dealer, server and client as three processes on
 *                         loopback with CurveZMQ, running the private
 *                         matrix-vector product
 *
 * All roles on one machine protect nothing from each other: this is a
 * demonstration and a measurement, not a private deployment (DESIGN.md §2).
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpc/fxp.h"
#include "parties/cli.h"
#include "parties/launch.h"
#include "llm/model.h"
#include "llm/tokenizer.h"
#include "mpcache/kv.h"
#include "parties/party.h"
#include "parties/party_plain.h"
#include "parties/printer.h"

static const char *prog = "mpcllm";

static void usage(void)
{
    printf("usage: mpcllm generate [options]   a generation (see mpcllm generate --help)\n"
           "       mpcllm demo [options]       a private product across three processes\n"
           "       mpcllm --help\n"
           "\n"
           "All roles started by this command run on this machine and protect nothing from\n"
           "each other: it demonstrates and measures. For privacy run mpcllm-dealer,\n"
           "mpcllm-server and mpcllm-client on separate hosts.\n");
}

static void usage_generate(void)
{
    printf("usage: mpcllm generate [--model PATH] [--tokenizer PATH] [--prompt TEXT] [--steps N]\n"
           "                       [--engine secure|fixed|float] [--policy NAME] [--budget R]\n"
           "                       [--static-keep S] [--clusters A,B] [--frac-bits F]\n"
           "                       [--early-stop] [--pad-to N] [--reveal-logits]\n"
           "                       [--test-seed S] [--seed S] [--timeout SEC] [--json]\n"
           "\n"
           "Greedy generation on a llama2.c checkpoint (default stories260K: models/ here,\n"
           "then ../shared/models/). stdout carries the text exactly as llama2.c's run.c\n"
           "prints it; status goes to stderr; --json prints one JSON object instead.\n"
           "\n"
           "  --engine secure  (default) dealer, server and client as three processes on\n"
           "                   127.0.0.1 with CurveZMQ: a private generation, but all roles\n"
           "                   on this machine protect nothing from each other (a demo)\n"
           "  --engine fixed   the fixed-point plain engine in this process; with --seed S\n"
           "                   it reproduces `--engine secure --test-seed S` bit for bit\n"
           "  --engine float   the float reference (matches run.c token for token)\n"
           "  --test-seed S    (secure) the dealer derives everything from S: tests only\n"
           "  --seed S         (fixed) the rounding stream of test seed S\n"
           "  --frac-bits F    fixed-point fractional bits, 12..20 (default 16)\n"
           "  --timeout SEC    (secure) give up on a silent process after SEC seconds\n"
           "  --steps N        positions, the prompt's included (default 256)\n"
           "  --policy NAME    full (default), streaming, h2o, snapkv, tova, cake, d2o,\n"
           "                   quest, mpcache; --budget R in (0,1] (default 0.25);\n"
           "                   mpcache also --static-keep S (default 0.5, R <= S) and\n"
           "                   --clusters A,B (default 32,16). The secure engine runs\n"
           "                   full, streaming, h2o and mpcache; mpcache and h2o take no\n"
           "                   --pad-to yet\n");
}

static void usage_demo(void)
{
    printf("usage: mpcllm demo [--d N] [--timeout SEC] [--test-seed S] [--json]\n"
           "\n"
           "Starts mpcllm-dealer, mpcllm-server and mpcllm-client as separate processes on\n"
           "127.0.0.1 with fresh CurveZMQ keys, and computes the client's secret vector\n"
           "times the server's secret d x d matrix (default d = 768); only the client\n"
           "learns the product, which it checks against the plaintext. The roles share\n"
           "this machine, so nothing is private between them: a demo of the machinery.\n");
}

/* Finds the model and the tokenizer (explicit paths first). */
static void find_files(const char **model, const char **tokenizer, char *mbuf, char *tbuf,
                       size_t cap)
{
    char err[CHAN_ERR_BYTES];
    if (!*model) {
        if (plain_find(PLAIN_DEFAULT_MODEL, mbuf, cap, err)) cli_fail(prog, "%s", err);
        *model = mbuf;
    }
    if (!*tokenizer) {
        /* tok512.bin beside the model, else the usual places */
        const char *slash = strrchr(*model, '/');
        snprintf(tbuf, cap, "%.*s%s", slash ? (int)(slash - *model + 1) : 0, *model,
                 PLAIN_DEFAULT_TOKENIZER);
        if (access(tbuf, R_OK) != 0 && plain_find(PLAIN_DEFAULT_TOKENIZER, tbuf, cap, err))
            cli_fail(prog, "%s", err);
        *tokenizer = tbuf;
    }
}

/* The session options of CLI.md that shape the private program. */
typedef struct gen_flags {
    int pad_to, reveal_logits, early_stop;
} gen_flags_t;

/* --engine fixed: the fixed-point plain engine in this process. */
static int run_fixed(const char *model, const char *tokenizer, const char *prompt, int steps,
                     int frac, const char *seed, int json, const gen_flags_t *gf,
                     const kv_config_t *kv)
{
    char mbuf[4096], tbuf[4096], err[CHAN_ERR_BYTES];
    find_files(&model, &tokenizer, mbuf, tbuf, sizeof mbuf);
    model_t *m = NULL;
    tok_t *t = NULL;
    if (model_load(&m, model, err)) cli_fail(prog, "%s", err);
    if (tok_load(&t, tokenizer, m->cfg.vocab_size, err)) cli_fail(prog, "%s", err);
    int *ids = malloc(tok_encode_cap(prompt) * sizeof *ids), n = 0;
    if (!ids || tok_encode(t, prompt, 1, 0, ids, &n, err)) cli_fail(prog, "%s", err);
    if (steps > m->cfg.seq_len) steps = m->cfg.seq_len;
    if (gf->pad_to && gf->pad_to < n)
        cli_fail(prog, "the prompt's %d tokens do not fit --pad-to %d", n, gf->pad_to);
    int P = gf->pad_to ? gf->pad_to : n;
    if (P > steps) cli_fail(prog, "the prompt's %d tokens exceed --steps %d", P, steps);
    uint8_t round_seed[16];
    if (seed) {
        uint8_t s16[16];
        cli_test_seed(s16, seed);
        prg_seed_derive(round_seed, s16, "round");
    } else {
        prg_seed_random(round_seed);
    }
    party_prog_t pg = {0};
    party_prog_generate(&pg, &m->cfg, frac, steps, P);
    pg.flags = (gf->pad_to ? PROG_PAD : 0) | (gf->reveal_logits ? PROG_REVEAL_LOGITS : 0) |
               (gf->early_stop ? PROG_EARLY_STOP : 0);
    party_kv_pack(&pg.kv, kv); /* the same wire form as the secure engine's, so the same config */
    /* what needs the model and the prompt, before the prompt is printed */
    if (party_prog_check(&pg, 0, err)) cli_usage_error(prog, "%s", err);
    printer_t pr;
    if (printer_start(&pr, t, json ? NULL : stdout, ids, n)) cli_fail(prog, "out of memory");
    int *padded = calloc((size_t)P, sizeof *padded);
    if (!padded) cli_fail(prog, "out of memory");
    memcpy(padded + (P - n), ids, (size_t)n * sizeof *ids);
    int L = m->cfg.n_layers, *att = calloc((size_t)(steps - P) * (size_t)L + 1, sizeof *att);
    if (!att) cli_fail(prog, "out of memory");
    party_gen_io_t io = {.prompt = padded, .pad_len = P - n, .on_token = printer_on_token,
                         .arg = &pr, .attended = att};
    double t0 = stats_now();
    mpc_err_t e = party_generate_fixed(&pg, m, &io, round_seed, err);
    double dt = stats_now() - t0;
    printer_end(&pr);
    /* a policy or a configuration the fixed engine refuses is a usage error */
    if (e == MPC_EARG) cli_usage_error(prog, "%s", err);
    if (e) cli_fail(prog, "%s", err);
    int decoded = io.n_attended;
    if (json) {
        printf("{\"text\":");
        printer_json_string(stdout, pr.text, pr.len);
        printf(",\"tokens\":[");
        for (int i = 0; i < pr.n_tokens; i++) printf("%s%d", i ? "," : "", pr.tokens[i]);
        printf("],\"prompt_tokens\":%d,\"generated_tokens\":%d,\"engine\":\"fixed\","
               "\"policy\":\"%s\",\"budget\":%.15g,\"online_bytes\":0,\"offline_bytes\":0,"
               "\"setup_bytes\":0,\"rounds\":0,\"setup_s\":%.6f,\"prefill_s\":%.6f,"
               "\"decode_s_per_token\":%.6g,\"time_s\":%.6f,\"attended_tokens\":",
               n, pr.n_tokens, kv_policy_name(kv->policy), cli_kv_budget(kv), io.setup_s,
               io.prefill_s, decoded ? io.decode_s / decoded : 0.0, dt);
        printer_json_attended(stdout, att, decoded, L);
        printf("}\n");
    } else {
        fprintf(stderr, "fixed-point engine: %d tokens in %.3f s (policy %s)\n", decoded + 1, dt,
                kv_policy_name(kv->policy));
    }
    printer_free(&pr);
    free(att);
    free(padded);
    free(ids);
    tok_free(&t);
    model_free(&m);
    return CLI_OK;
}

/* The dealer and the server of a one-machine run, started as processes
 * with fresh keys; the client is the caller's to start. */
typedef struct roles {
    char dir[64];
    char bin[3][4096], key[3][128], keydir[3][96], tmo[32];
    char dealer_ep[256], server_ep[256];
    pid_t dealer, server;
} roles_t;

/* Starts the dealer (with test_seed, or NULL) and the server (with its two
 * extra arguments). Returns 0, or -1 after printing why (then roles_end
 * still cleans up). */
static int roles_start(roles_t *r, int timeout_ms, const char *test_seed, const char *sflag,
                       const char *sval)
{
    static const char *names[3] = {"mpcllm-dealer", "mpcllm-server", "mpcllm-client"};
    static const char *roles[3] = {"dealer", "server", "client"};
    char err[256];
    r->dealer = r->server = -1;
    if (launch_keys(r->dir, err, sizeof err)) cli_fail(prog, "%s", err);
    for (int i = 0; i < 3; i++) {
        launch_sibling(r->bin[i], sizeof r->bin[i], names[i]);
        snprintf(r->keydir[i], sizeof r->keydir[i], "%s/%s", r->dir, roles[i]);
        snprintf(r->key[i], sizeof r->key[i], "%s/%s/public.key", r->dir, roles[i]);
    }
    snprintf(r->tmo, sizeof r->tmo, "%g", timeout_ms / 1000.0);
    char *dargv[16] = {r->bin[0], "--listen", "tcp://127.0.0.1:*", "--keys", r->keydir[0],
                       "--sessions", "1", "--timeout", r->tmo};
    if (test_seed) {
        dargv[9] = "--test-seed";
        dargv[10] = (char *)test_seed;
    }
    r->dealer = launch_ready(dargv, r->dealer_ep, sizeof r->dealer_ep, timeout_ms, err, sizeof err);
    if (r->dealer < 0) {
        fprintf(stderr, "%s: dealer: %s\n", prog, err);
        return -1;
    }
    char *sargv[] = {r->bin[1], "--listen", "tcp://127.0.0.1:*", "--keys", r->keydir[1],
                     "--dealer", r->dealer_ep, "--dealer-key", r->key[0], "--sessions", "1",
                     "--timeout", r->tmo, (char *)sflag, (char *)sval, NULL};
    r->server = launch_ready(sargv, r->server_ep, sizeof r->server_ep, timeout_ms, err, sizeof err);
    if (r->server < 0) {
        fprintf(stderr, "%s: server: %s\n", prog, err);
        return -1;
    }
    return 0;
}

/* Waits for the dealer and the server (ending them at once after a failed
 * client, whose session they would wait for in vain) and removes the keys.
 * Returns the run's exit code. */
static int roles_end(roles_t *r, int rc)
{
    if (rc && r->server > 0) kill(r->server, SIGTERM);
    if (rc && r->dealer > 0) kill(r->dealer, SIGTERM);
    if (r->server > 0 && launch_wait(r->server, 5000) != 0 && rc == 0) rc = CLI_FAIL;
    if (r->dealer > 0 && launch_wait(r->dealer, 5000) != 0 && rc == 0) rc = CLI_FAIL;
    launch_keys_remove(r->dir);
    return rc ? CLI_FAIL : CLI_OK;
}

/* --engine secure: dealer, server and client as three processes. */
static int run_secure(const char *model, const char *tokenizer, const char *prompt, int steps,
                      int frac, const char *test_seed, int timeout_ms, int json,
                      const gen_flags_t *gf, const kv_config_t *kv)
{
    char mbuf[4096], tbuf[4096];
    find_files(&model, &tokenizer, mbuf, tbuf, sizeof mbuf);
    roles_t r;
    int rc = CLI_FAIL;
    if (roles_start(&r, timeout_ms, test_seed, "--model", model)) return roles_end(&r, rc);
    if (!json)
        fprintf(stderr, "%s: dealer, server and client as three processes on this machine "
                        "(a demonstration: nothing is private between them)\n", prog);
    char sstr[32], fstr[16], pstr[16];
    snprintf(sstr, sizeof sstr, "%d", steps);
    snprintf(fstr, sizeof fstr, "%d", frac);
    snprintf(pstr, sizeof pstr, "%d", gf->pad_to);
    /* the policy as the client's flags; %.17g gives back the same doubles */
    char bstr[32], kstr[32], cstr[32];
    snprintf(bstr, sizeof bstr, "%.17g", kv->budget);
    snprintf(kstr, sizeof kstr, "%.17g", kv->static_keep);
    snprintf(cstr, sizeof cstr, "%d,%d", kv->cluster_coarse, kv->cluster_fine);
    char *cargv[40] = {r.bin[2], "--server", r.server_ep, "--server-key", r.key[1], "--dealer",
                       r.dealer_ep, "--dealer-key", r.key[0], "--keys", r.keydir[2], "--prompt",
                       (char *)prompt, "--steps", sstr, "--tokenizer", (char *)tokenizer,
                       "--frac-bits", fstr, "--timeout", r.tmo, "--policy",
                       (char *)kv_policy_name(kv->policy), "--budget", bstr, "--static-keep",
                       kstr, "--clusters", cstr};
    int na = 29;
    if (json) cargv[na++] = "--json";
    if (gf->pad_to) {
        cargv[na++] = "--pad-to";
        cargv[na++] = pstr;
    }
    if (gf->reveal_logits) cargv[na++] = "--reveal-logits";
    if (gf->early_stop) cargv[na++] = "--early-stop";
    cargv[na] = NULL;
    pid_t client = launch_spawn(cargv);
    rc = client < 0 ? CLI_FAIL : launch_wait(client, 24 * 3600 * 1000);
    if (rc) fprintf(stderr, "%s: the client failed (exit %d)\n", prog, rc);
    return roles_end(&r, rc);
}

static int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *tokenizer = NULL, *prompt = "", *engine = "secure",
               *test_seed = NULL, *seed = NULL;
    int steps = 256, json = 0, frac = FXP_FRAC_BITS_DEFAULT, timeout_ms = 120000;
    gen_flags_t gf = {0, 0, 0};
    kv_config_t kv;
    kv_config_default(&kv);
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"tokenizer", required_argument, 0, 'z'},
        {"prompt", required_argument, 0, 'i'},     {"steps", required_argument, 0, 'n'},
        {"engine", required_argument, 0, 'e'},     {"policy", required_argument, 0, 'P'},
        {"budget", required_argument, 0, 'b'},     {"static-keep", required_argument, 0, 'S'},
        {"clusters", required_argument, 0, 'c'},   {"frac-bits", required_argument, 0, 'f'},
        {"early-stop", no_argument, 0, 'E'},       {"pad-to", required_argument, 0, 'p'},
        {"reveal-logits", no_argument, 0, 'L'},    {"test-seed", required_argument, 0, 'T'},
        {"seed", required_argument, 0, 's'},       {"timeout", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'z': tokenizer = optarg; break;
        case 'i': prompt = optarg; break;
        case 'n': steps = (int)cli_u64(prog, "--steps", optarg, 1, 1 << 20); break;
        case 'e': engine = optarg; break;
        case 'P': cli_kv_flag(prog, &kv, "policy", optarg); break;
        case 'b': cli_kv_flag(prog, &kv, "budget", optarg); break;
        case 'S': cli_kv_flag(prog, &kv, "static-keep", optarg); break;
        case 'c': cli_kv_flag(prog, &kv, "clusters", optarg); break;
        case 'f': frac = (int)cli_u64(prog, "--frac-bits", optarg, FXP_FRAC_BITS_MIN, FXP_FRAC_BITS_MAX); break;
        case 'p': gf.pad_to = (int)cli_u64(prog, "--pad-to", optarg, 1, 1 << 20); break;
        case 's': seed = optarg; break;
        case 't': timeout_ms = cli_timeout_ms(prog, optarg); break;
        case 'E': gf.early_stop = 1; break;
        case 'L': gf.reveal_logits = 1; break;
        case 'T': test_seed = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage_generate(); return CLI_OK;
        default: cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (strcmp(engine, "float") && strcmp(engine, "fixed") && strcmp(engine, "secure"))
        cli_usage_error(prog, "--engine is secure, fixed or float, not '%s'", engine);
    /* the float engine ignores --pad-to */
    cli_kv_usage(prog, &kv, !strcmp(engine, "secure"), strcmp(engine, "float") ? gf.pad_to : 0);
    if (!strcmp(engine, "secure"))
        return run_secure(model, tokenizer, prompt, steps, frac, test_seed, timeout_ms, json, &gf,
                          &kv);
    if (!strcmp(engine, "fixed"))
        return run_fixed(model, tokenizer, prompt, steps, frac, seed, json, &gf, &kv);
    if (gf.pad_to || gf.reveal_logits || gf.early_stop)
        fprintf(stderr, "%s: --pad-to, --reveal-logits and --early-stop concern the secure "
                        "engine; the float engine ignores them\n", prog);
    plain_opts_t o = {.model_path = model, .tokenizer_path = tokenizer, .prompt = prompt,
                      .steps = steps, .out = json ? NULL : stdout,
                      .kv = kv.policy == KV_FULL ? NULL : &kv};
    plain_result_t r = {0};
    char err[CHAN_ERR_BYTES];
    mpc_err_t e = plain_generate(&o, &r, err);
    if (e) cli_fail(prog, "%s", err);
    if (json) {
        printf("{\"text\":\"");
        for (size_t i = 0; i < r.text_len; i++) {
            unsigned char ch = (unsigned char)r.text[i];
            if (ch == '"' || ch == '\\') printf("\\%c", ch);
            else if (ch < 0x20) printf("\\u%04x", ch);
            else putchar(ch);
        }
        printf("\",\"tokens\":[");
        for (int i = 0; i < r.n_tokens; i++) printf("%s%d", i ? "," : "", r.tokens[i]);
        printf("],\"prompt_tokens\":%d,\"generated_tokens\":%d,\"engine\":\"float\","
               "\"policy\":\"%s\",\"budget\":%g,\"online_bytes\":0,\"offline_bytes\":0,"
               "\"setup_bytes\":0,\"rounds\":0,\"setup_s\":0,\"prefill_s\":%.6f,"
               "\"decode_s_per_token\":%.6g,\"attended_tokens\":[",
               r.n_prompt, r.n_tokens, kv_policy_name(kv.policy), cli_kv_budget(&kv), r.prefill_s,
               r.decode_s_per_token);
        /* one array per decode step: the count per layer, summed over KV heads */
        int first = r.n_prompt > 0 ? r.n_prompt - 1 : 0;
        for (int i = first + 1; i < r.n_steps; i++) {
            printf("%s[", i > first + 1 ? "," : "");
            for (int l = 0; l < r.n_layers; l++)
                printf("%s%d", l ? "," : "", r.attended_layer[(size_t)i * r.n_layers + l]);
            printf("]");
        }
        printf("]}\n");
    } else {
        fprintf(stderr, "achieved tok/s: %f (float engine, policy %s, %d prompt tokens, %d generated)\n",
                r.tok_per_s, kv_policy_name(kv.policy), r.n_prompt, r.n_tokens);
    }
    plain_result_clear(&r);
    return CLI_OK;
}

static int cmd_demo(int argc, char **argv)
{
    uint64_t d = 768;
    int json = 0, timeout_ms = 60000;
    const char *test_seed = NULL;
    static const struct option opts[] = {
        {"d", required_argument, 0, 'n'},        {"timeout", required_argument, 0, 't'},
        {"test-seed", required_argument, 0, 'T'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': d = cli_u64(prog, "--d", optarg, 1, 8192); break;
        case 't': timeout_ms = cli_timeout_ms(prog, optarg); break;
        case 'T': test_seed = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage_demo(); return CLI_OK;
        default: cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);

    char dstr[32], sseed[32], cseed[32];
    snprintf(dstr, sizeof dstr, "%llu", (unsigned long long)d);
    uint64_t seeds[2];
    randombytes_buf(seeds, sizeof seeds);
    snprintf(sseed, sizeof sseed, "%llu", (unsigned long long)seeds[0]);
    snprintf(cseed, sizeof cseed, "%llu", (unsigned long long)seeds[1]);
    roles_t r;
    int rc = CLI_FAIL;
    if (roles_start(&r, timeout_ms, test_seed, "--demo-seed", sseed)) return roles_end(&r, rc);
    if (!json)
        fprintf(stderr, "%s: dealer on %s, server on %s (three processes, one machine: a demo, "
                        "not a private deployment)\n", prog, r.dealer_ep, r.server_ep);
    char *cargv[] = {r.bin[2], "--server", r.server_ep, "--server-key", r.key[1], "--dealer",
                     r.dealer_ep, "--dealer-key", r.key[0], "--keys", r.keydir[2], "--d", dstr,
                     "--demo-seed", cseed, "--verify-seed", sseed, "--timeout", r.tmo,
                     json ? "--json" : NULL, NULL};
    pid_t client = launch_spawn(cargv);
    rc = client < 0 ? CLI_FAIL : launch_wait(client, timeout_ms * 2);
    if (rc) fprintf(stderr, "%s: the client failed (exit %d)\n", prog, rc);
    return roles_end(&r, rc);
}

int main(int argc, char **argv)
{
    if (argc < 2) cli_usage_error(prog, "a command is needed: generate or demo");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage();
        return CLI_OK;
    }
    if (!strcmp(argv[1], "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "demo")) return cmd_demo(argc - 1, argv + 1);
    cli_usage_error(prog, "unknown command '%s'", argv[1]);
}
