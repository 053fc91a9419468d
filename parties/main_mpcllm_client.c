/* parties/main_mpcllm_client.c - mpcllm-client: the party with the private
 * input. It reaches the server and the dealer itself, each with the key it
 * was given out of band, and is the only party that learns the output.
 *
 * Until the secure transformer exists the program is the private
 * matrix-vector product: the client's secret vector (from --demo-seed)
 * times the server's secret matrix.
 */
#include <getopt.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/ring.h"
#include "llm/tokenizer.h"
#include "mpc/fxp.h"
#include "parties/cli.h"
#include "parties/party.h"
#include "parties/party_plain.h"
#include "parties/party_service.h"
#include "parties/printer.h"

#define HELLO_TAG CHAN_TAG('H', 'E', 'L', 'O')

static const char *prog = "mpcllm-client";

/* With --reveal-logits: the logits of each step, decoded, for the JSON. */
typedef struct logit_log {
    printer_t *pr;
    double *v;
    int steps, cap;
} logit_log_t;

static void on_logits(void *arg, const uint64_t *logits, int n, int f)
{
    logit_log_t *l = arg;
    if (l->steps == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        double *v = realloc(l->v, (size_t)cap * (size_t)n * sizeof *v);
        if (!v) cli_fail(prog, "out of memory keeping the logits");
        l->v = v;
        l->cap = cap;
    }
    for (int i = 0; i < n; i++) l->v[(size_t)l->steps * (size_t)n + (size_t)i] = fxp_decode(logits[i], f);
    l->steps++;
}

static void logit_token(void *arg, int token)
{
    printer_on_token(((logit_log_t *)arg)->pr, token);
}

/* --status: one query to the listener at server, its JSON on stdout. */
static int ask_status(const char *server, const char *server_key, const char *keys, int plaintext,
                      int timeout_ms)
{
    if (!server) cli_usage_error(prog, "--status needs --server");
    if (!plaintext && !server_key)
        cli_usage_error(prog, "--status needs --server-key (or --plaintext)");
    net_opts_t o;
    net_opts_default(&o);
    o.curve = !plaintext;
    o.timeout_ms = timeout_ms;
    if (!plaintext) {
        if (keys)
            cli_load_keys(prog, keys, &o);
        else
            net_key_pair(o.public_key, o.secret_key);
        cli_load_public(prog, server_key, o.server_key);
    }
    net_t *net = net_new();
    if (!net) cli_fail(prog, "cannot create a ZeroMQ context");
    char json[NET_HELLO_MAX + 1], err[NET_ERR_BYTES];
    size_t len = 0;
    mpc_err_t e = net_query(net, server, &o, PARTY_STATUS_MAGIC, 8, json, NET_HELLO_MAX, &len, err);
    net_opts_wipe(&o);
    net_free(&net);
    if (e) cli_fail(prog, "%s: %s", server, err);
    json[len] = '\0';
    printf("%s\n", json);
    return CLI_OK;
}

static void usage(void)
{
    printf("usage: mpcllm-client --server EP --server-key FILE --dealer EP --dealer-key FILE\n"
           "                     --keys DIR [options]\n"
           "\n"
           "Private greedy generation with a server that holds the model: the prompt and\n"
           "the text stay with this client, the weights with the server. stdout carries\n"
           "the text as llama2.c's run.c prints it; status goes to stderr.\n"
           "\n"
           "  --prompt TEXT       the prompt (default empty)\n"
           "  --steps N           positions, the prompt's included (default 256, at most the\n"
           "                      model's context); the loop always runs them all\n"
           "  --tokenizer PATH    the model's tokenizer (default tok512.bin: models/ here,\n"
           "                      then ../shared/models/)\n"
           "  --pad-to N          pad the prompt to N tokens: the server learns N, not the\n"
           "                      prompt's length\n"
           "  --reveal-logits     receive the logits (opt-in: they expose the LM head up to\n"
           "                      a linear map); with --json they are printed per step\n"
           "  --early-stop        end the session at BOS (reveals the output's length)\n"
           "  --policy NAME       the KV cache: full (default), streaming, h2o or mpcache;\n"
           "                      the server may refuse it\n"
           "  --budget R          the fraction of the cache attended per step, in (0,1]\n"
           "                      (default 0.25; full ignores it)\n"
           "  --static-keep S     mpcache: the fraction static eviction keeps (default 0.5,\n"
           "                      R <= S)\n"
           "  --clusters A,B      mpcache: the cluster sizes (default 32,16)\n"
           "  --status            instead, ask the server (or a dealer, given as --server\n"
           "                      with its key as --server-key) for its status, and print\n"
           "                      it as one JSON line; without --keys, an ephemeral key\n"
           "  --demo              instead, the private product of a secret vector and the\n"
           "                      server's secret d x d matrix (the options below)\n"
           "\n"
           "  --server EP         the server's endpoint\n"
           "  --server-key FILE   the server's public key, pinned\n"
           "  --dealer EP         the dealer's endpoint\n"
           "  --dealer-key FILE   the dealer's public key, pinned\n"
           "  --keys DIR          the client's own key pair (mpcllm-keygen --out DIR)\n"
           "  --d N               vector length (default 768)\n"
           "  --demo-seed N       seed of the client's secret vector (default: random)\n"
           "  --verify-seed N     the server's demo seed, to check the result against the\n"
           "                      plaintext product (demo only: it reveals the matrix)\n"
           "  --frac-bits F       fixed-point fractional bits, 12..20 (default 16)\n"
           "  --timeout SEC       give up on a silent peer after SEC seconds (default 30)\n"
           "  --json              print one JSON object on stdout\n"
           "  --plaintext         no CurveZMQ (debugging only)\n"
           "  --help              this text\n");
}

int main(int argc, char **argv)
{
    const char *server = NULL, *server_key = NULL, *dealer = NULL, *dealer_key = NULL,
               *keys = NULL, *prompt = "", *tokenizer = NULL;
    int plaintext = 0, json = 0, timeout_ms = 30000, have_seed = 0, verify = 0, demo = 0;
    int steps = 256, pad_to = 0, reveal_logits = 0, early_stop = 0, status = 0;
    kv_config_t kv;
    kv_config_default(&kv);
    uint64_t d = 768, frac = FXP_FRAC_BITS_DEFAULT, demo_seed = 0, verify_seed = 0;
    static const struct option opts[] = {{"server", required_argument, 0, 's'},
                                         {"server-key", required_argument, 0, 'S'},
                                         {"dealer", required_argument, 0, 'd'},
                                         {"dealer-key", required_argument, 0, 'D'},
                                         {"keys", required_argument, 0, 'k'},
                                         {"d", required_argument, 0, 'n'},
                                         {"demo-seed", required_argument, 0, 'e'},
                                         {"verify-seed", required_argument, 0, 'V'},
                                         {"frac-bits", required_argument, 0, 'f'},
                                         {"timeout", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"plaintext", no_argument, 0, 'p'},
                                         {"prompt", required_argument, 0, 'P'},
                                         {"steps", required_argument, 0, 'N'},
                                         {"tokenizer", required_argument, 0, 'z'},
                                         {"demo", no_argument, 0, 'M'},
                                         {"pad-to", required_argument, 0, 'A'},
                                         {"reveal-logits", no_argument, 0, 'L'},
                                         {"early-stop", no_argument, 0, 'E'},
                                         {"policy", required_argument, 0, 'K'},
                                         {"budget", required_argument, 0, 'K'},
                                         {"static-keep", required_argument, 0, 'K'},
                                         {"clusters", required_argument, 0, 'K'},
                                         {"status", no_argument, 0, 'Q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int idx = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'S': server_key = optarg; break;
        case 'd': dealer = optarg; break;
        case 'D': dealer_key = optarg; break;
        case 'k': keys = optarg; break;
        case 'n': d = cli_u64(prog, "--d", optarg, 1, 8192); demo = 1; break;
        case 'e': demo_seed = cli_u64(prog, "--demo-seed", optarg, 0, UINT64_MAX); have_seed = 1; demo = 1; break;
        case 'V': verify_seed = cli_u64(prog, "--verify-seed", optarg, 0, UINT64_MAX); verify = 1; break;
        case 'f': frac = cli_u64(prog, "--frac-bits", optarg, FXP_FRAC_BITS_MIN, FXP_FRAC_BITS_MAX); break;
        case 't': timeout_ms = cli_timeout_ms(prog, optarg); break;
        case 'j': json = 1; break;
        case 'p': plaintext = 1; break;
        case 'P': prompt = optarg; break;
        case 'N': steps = (int)cli_u64(prog, "--steps", optarg, 1, 1 << 20); break;
        case 'z': tokenizer = optarg; break;
        case 'M': demo = 1; break;
        case 'Q':
            status = 1;
            break;
        case 'A': pad_to = (int)cli_u64(prog, "--pad-to", optarg, 1, 1 << 20); break;
        case 'L': reveal_logits = 1; break;
        case 'E': early_stop = 1; break;
        case 'K': cli_kv_flag(prog, &kv, opts[idx].name, optarg); break;
        case 'h': usage(); return CLI_OK;
        default: cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (status) return ask_status(server, server_key, keys, plaintext, timeout_ms);
    if (!server || !dealer) cli_usage_error(prog, "--server and --dealer are required");
    if (!plaintext && (!server_key || !dealer_key || !keys))
        cli_usage_error(prog, "--server-key, --dealer-key and --keys are required (or --plaintext)");
    if (!have_seed) randombytes_buf(&demo_seed, sizeof demo_seed);
    if (!demo) cli_kv_usage(prog, &kv, 1, pad_to);

    net_opts_t self;
    net_opts_default(&self);
    self.curve = !plaintext;
    self.timeout_ms = timeout_ms;
    uint8_t dkey[NET_KEY_BYTES] = {0};
    if (!plaintext) {
        cli_load_keys(prog, keys, &self);
        cli_load_public(prog, server_key, self.server_key);
        cli_load_public(prog, dealer_key, dkey);
    }
    net_t *net = net_new();
    if (!net) cli_fail(prog, "cannot create a ZeroMQ context");

    party_hello_t h = {0}, reply;
    memcpy(h.magic, PARTY_MAGIC, 8);
    randombytes_buf(h.nonce, sizeof h.nonce);
    memcpy(h.pk, self.public_key, 32);
    tok_t *tok = NULL;
    int *ids = NULL, n_ids = 0;
    if (demo) {
        h.prog.kind = PROG_MATVEC;
        h.prog.frac_bits = (uint32_t)frac;
        h.prog.d = (uint32_t)d;
    } else {
        /* the prompt's length follows once the server has named its model */
        party_prog_generate(&h.prog, NULL, (int)frac, steps, 0);
        h.prog.flags = (pad_to ? PROG_PAD : 0) | (reveal_logits ? PROG_REVEAL_LOGITS : 0) |
                       (early_stop ? PROG_EARLY_STOP : 0);
        party_kv_pack(&h.prog.kv, &kv);
    }
    char tpath[4096], terr[CHAN_ERR_BYTES];
    if (!demo && !tokenizer) {
        if (plain_find(PLAIN_DEFAULT_TOKENIZER, tpath, sizeof tpath, terr)) cli_fail(prog, "%s", terr);
        tokenizer = tpath;
    }
    char err[NET_ERR_BYTES];
    chan_t *peer = net_dial(net, server, &self, &h, sizeof h, NULL, err);
    if (!peer) cli_fail(prog, "server %s: %s", server, err);
    size_t len = 0;
    uint64_t depth;
    if (chan_recv(peer, HELLO_TAG, &depth, &reply, sizeof reply, &len) != MPC_OK)
        cli_fail(prog, "server %s: %s", server, peer->err);
    if (len != sizeof reply || memcmp(reply.magic, PARTY_MAGIC, 8) != 0)
        cli_fail(prog, "server %s sent a malformed hello", server);
    reply.msg[sizeof reply.msg - 1] = '\0';
    if (reply.status) cli_fail(prog, "server refused: %s", reply.msg);
    if (!plaintext && sodium_memcmp(reply.pk, self.server_key, 32) != 0)
        cli_fail(prog, "server announced another key than the one pinned");
    /* The server echoes the program it accepted. It fills in its model's
     * architecture and hash; everything else must be what we asked for, or
     * it could, say, switch on the early stop (which reveals the output's
     * length) or run more steps than we planned for. */
    const char *changed = party_prog_changed(&h.prog, &reply.prog);
    if (changed)
        cli_fail(prog, "server %s answered with another program (%s differs)", server, changed);
    if (!demo) {
        /* The tokenizer must fit the server's model, whose vocabulary only
         * now is known; then the prompt's length (public) goes to the server. */
        if (tok_load(&tok, tokenizer, reply.prog.cfg[5], terr))
            cli_fail(prog, "tokenizer %s does not fit the server's model (vocabulary %d): %s",
                     tokenizer, reply.prog.cfg[5], terr);
        ids = malloc(tok_encode_cap(prompt) * sizeof *ids);
        if (!ids || tok_encode(tok, prompt, 1, 0, ids, &n_ids, terr)) cli_fail(prog, "%s", terr);
        if (n_ids > reply.prog.cfg[6])
            cli_fail(prog, "the prompt's %d tokens do not fit the model's context of %d", n_ids,
                     reply.prog.cfg[6]);
        if (steps > reply.prog.cfg[6])
            cli_fail(prog, "--steps %d is longer than the model's context of %d", steps,
                     reply.prog.cfg[6]);
        if (pad_to && pad_to < n_ids)
            cli_fail(prog, "the prompt's %d tokens do not fit --pad-to %d", n_ids, pad_to);
        if (pad_to > reply.prog.cfg[6])
            cli_fail(prog, "--pad-to %d is longer than the model's context of %d", pad_to,
                     reply.prog.cfg[6]);
        int P = pad_to ? pad_to : n_ids;
        if (steps < P)
            cli_fail(prog, "--steps %d is shorter than the prompt's %d tokens%s", steps, P,
                     pad_to ? " (padded)" : "");
        reply.prog.n_prompt = (uint32_t)P;
        /* what needs the model's dims and the prompt's length (the server and
         * the dealer check it too) */
        if (party_prog_check(&reply.prog, 1, terr)) cli_usage_error(prog, "%s", terr);
    }

    party_dealer_hello_t dh = {0};
    memcpy(dh.magic, PARTY_MAGIC, 8);
    dh.role = MPC_P1;
    memcpy(dh.nonce[0], reply.nonce, 32);
    memcpy(dh.nonce[1], h.nonce, 32);
    memcpy(dh.pk[0], reply.pk, 32);
    memcpy(dh.pk[1], h.pk, 32);
    dh.prog = reply.prog; /* the server filled in its model's architecture */
    party_sid(dh.sid, &dh);
    memcpy(peer->session, dh.sid, CHAN_SESSION_BYTES);
    if (!demo) {
        uint32_t plen = dh.prog.n_prompt;
        if (chan_send(peer, PARTY_PLEN_TAG, 0, &plen, sizeof plen) != MPC_OK)
            cli_fail(prog, "server %s: %s", server, peer->err);
    }

    mpc_ctx_t ctx;
    if (mpc_ctx_init(&ctx, MPC_P1, (int)frac) != MPC_OK) cli_fail(prog, "out of memory");
    ctx.peer = peer;
    chan_t *dchan = NULL;
    party_net_t pn = {net, self, dealer, {0}, timeout_ms};
    memcpy(pn.dealer_key, dkey, sizeof dkey);
    party_report_t rep = {0};
    uint32_t seed_flags = 0;
    mpc_err_t e = party_join_dealer(&ctx, &pn, &dh, &dchan, &seed_flags);
    if (e) {
        /* before any text: stdout carries nothing from a session that never ran */
        net_opts_wipe(&pn.self);
        net_opts_wipe(&self);
        cli_fail(prog, "%s: %s%s", mpc_err_str(e), party_peer_name(&ctx), ctx.err);
    }
    int test_seed = (seed_flags & PARTY_SEED_TEST) != 0;
    const char *not_private = test_seed ? "; NOT PRIVATE (the dealer used a test seed)" : "";
    if (test_seed)
        fprintf(stderr,
                "%s: WARNING: the dealer derives this session's seeds from a test seed: "
                "anyone who knows it can read the prompt and the text; this session is NOT "
                "private\n",
                prog);
    if (!demo) {
        printer_t pr;
        if (printer_start(&pr, tok, json ? NULL : stdout, ids, n_ids)) cli_fail(prog, "out of memory");
        if (!json && isatty(2))
            fprintf(stderr, "%s: private generation, %d prompt tokens, %d steps\n", prog, n_ids, steps);
        /* the padded prompt: pads (token 0) first, masked out inside */
        int P = (int)dh.prog.n_prompt;
        int *padded = calloc((size_t)P, sizeof *padded);
        if (!padded) cli_fail(prog, "out of memory");
        memcpy(padded + (P - n_ids), ids, (size_t)n_ids * sizeof *ids);
        logit_log_t lg = {&pr, NULL, 0, 0};
        int L = dh.prog.cfg[2];
        int *att = calloc((size_t)(steps - P) * (size_t)L + 1, sizeof *att);
        if (!att) cli_fail(prog, "out of memory");
        party_gen_io_t io = {.prompt = padded, .pad_len = P - n_ids, .on_token = logit_token,
                             .on_logits = reveal_logits ? on_logits : NULL, .arg = &lg,
                             .attended = att};
        if (!e) e = party_generate(&ctx, &dh.prog, NULL, &io);
        printer_end(&pr);
        if (!e && !io.stopped_early) {
            e = mpc_corr_finish(&ctx);
            if (!e) e = party_confirm_dealer(&ctx, dchan);
        }
        if (!e) e = party_exchange_report(&ctx, &rep);
        net_opts_wipe(&pn.self);
        net_opts_wipe(&self);
        if (e) cli_fail(prog, "%s: %s%s", mpc_err_str(e), party_peer_name(&ctx), ctx.err);
        int gen = io.n_attended + 1; /* fewer than steps - P + 1 after an early stop */
        if (json) {
            printf("{\"text\":");
            printer_json_string(stdout, pr.text, pr.len);
            printf(",\"tokens\":[");
            for (int i = 0; i < pr.n_tokens; i++) printf("%s%d", i ? "," : "", pr.tokens[i]);
            printf("],\"prompt_tokens\":%d,\"generated_tokens\":%d,\"engine\":\"secure\","
                   "\"policy\":\"%s\",\"budget\":%.15g,",
                   n_ids, pr.n_tokens, kv_policy_name(kv.policy), cli_kv_budget(&kv));
            if (kv.policy == KV_MPCACHE)
                printf("\"static_keep\":%.15g,\"clusters\":[%d,%d],", kv.static_keep,
                       kv.cluster_coarse, kv.cluster_fine);
            printf("\"online_bytes\":%llu,\"offline_bytes\":%llu,"
                   "\"setup_bytes\":%llu,\"rounds\":%llu,\"setup_s\":%.6f,\"prefill_s\":%.6f,"
                   "\"decode_s_per_token\":%.6f,\"padded_to\":%d,\"test_seed\":%s,"
                   "\"attended_tokens\":",
                   (unsigned long long)rep.online_bytes, (unsigned long long)rep.offline_bytes,
                   (unsigned long long)rep.setup_bytes, (unsigned long long)rep.rounds, rep.setup_s,
                   rep.prefill_s, gen > 1 ? rep.decode_s / (gen - 1) : 0.0, P,
                   test_seed ? "true" : "false");
            printer_json_attended(stdout, att, io.n_attended, L);
            if (reveal_logits) {
                printf(",\"logits\":[");
                for (int k = 0; k < lg.steps; k++) {
                    printf("%s[", k ? "," : "");
                    for (int i = 0; i < dh.prog.cfg[5]; i++)
                        printf("%s%.5g", i ? "," : "", lg.v[(size_t)k * dh.prog.cfg[5] + i]);
                    printf("]");
                }
                printf("]");
            }
            printf("}\n");
        } else {
            fprintf(stderr,
                    "%s: %d tokens, policy %s; setup %.3f s (%llu B); prefill %.3f s; decode "
                    "%.4f s/token; online %llu B both ways, %llu rounds; offline %llu B%s\n",
                    prog, gen, kv_policy_name(kv.policy), rep.setup_s,
                    (unsigned long long)rep.setup_bytes, rep.prefill_s,
                    gen > 1 ? rep.decode_s / (gen - 1) : 0.0, (unsigned long long)rep.online_bytes,
                    (unsigned long long)rep.rounds, (unsigned long long)rep.offline_bytes,
                    not_private);
        }
        printer_free(&pr);
        free(att);
        free(lg.v);
        free(padded);
        free(ids);
        tok_free(&tok);
        mpc_ctx_destroy(&ctx);
        chan_free(&dchan);
        chan_free(&peer);
        net_free(&net);
        return CLI_OK;
    }
    uint64_t *x = malloc(d * 8), *y = malloc(d * 8);
    if (!x || !y) cli_fail(prog, "out of memory");
    demo_vector(x, (uint32_t)d, (int)frac, demo_seed);
    if (!json) fprintf(stderr, "%s: private product 1x%llu . %llux%llu ...\n", prog,
                       (unsigned long long)d, (unsigned long long)d, (unsigned long long)d);
    if (!e) e = demo_matvec(&ctx, &h.prog, NULL, x, y);
    if (!e) e = mpc_corr_finish(&ctx);
    if (!e) e = party_confirm_dealer(&ctx, dchan);
    if (!e) e = party_exchange_report(&ctx, &rep);
    net_opts_wipe(&pn.self);
    net_opts_wipe(&self);
    if (e) cli_fail(prog, "%s: %s%s", mpc_err_str(e), party_peer_name(&ctx), ctx.err);

    double max_err = -1;
    if (verify) {
        /* Demo only: recompute the product in the clear from the server's seed. */
        uint64_t *W = malloc(d * d * 8), *want = malloc(d * 8);
        if (!W || !want) cli_fail(prog, "out of memory");
        demo_matrix(W, (uint32_t)d, (int)frac, verify_seed);
        double *xd = malloc(d * sizeof *xd);
        for (size_t i = 0; i < d; i++) xd[i] = fxp_decode(x[i], (int)frac);
        max_err = 0;
        for (size_t i = 0; i < d; i++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += xd[j] * fxp_decode(W[i * d + j], (int)frac);
            double err1 = fabs(fxp_decode(y[i], (int)frac) - s);
            if (err1 > max_err) max_err = err1;
        }
        free(W);
        free(want);
        free(xd);
    }
    if (json) {
        printf("{\"op\":\"matvec\",\"n\":%llu,\"online_bytes\":%llu,\"offline_bytes\":%llu,"
               "\"setup_bytes\":%llu,\"rounds\":%llu,\"setup_s\":%.6f,\"time_s\":%.6f",
               (unsigned long long)d, (unsigned long long)rep.online_bytes,
               (unsigned long long)rep.offline_bytes, (unsigned long long)rep.setup_bytes,
               (unsigned long long)rep.rounds, rep.setup_s, rep.online_s);
        if (verify) printf(",\"max_abs_err\":%.3g", max_err);
        printf(",\"test_seed\":%s}\n", test_seed ? "true" : "false");
    } else {
        printf("y[0..%d] =", d < 8 ? (int)d - 1 : 7);
        for (size_t i = 0; i < d && i < 8; i++) printf(" %.5f", fxp_decode(y[i], (int)frac));
        printf("\n");
        fprintf(stderr,
                "%s: online %llu B both ways in %llu rounds, %.4f s; offline %llu B; "
                "setup %llu B in %.4f s%s\n",
                prog, (unsigned long long)rep.online_bytes, (unsigned long long)rep.rounds,
                rep.online_s, (unsigned long long)rep.offline_bytes,
                (unsigned long long)rep.setup_bytes, rep.setup_s, not_private);
        if (verify)
            fprintf(stderr, "%s: %s the plaintext product: max |error| = %.3g\n", prog,
                    max_err <= 1e-3 ? "matches" : "DIFFERS FROM", max_err);
    }
    mpc_ctx_destroy(&ctx);
    chan_free(&dchan);
    chan_free(&peer);
    net_free(&net);
    free(x);
    free(y);
    return verify && max_err > 1e-3 ? CLI_FAIL : CLI_OK;
}
