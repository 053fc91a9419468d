/* tests/parties/test_service.c - the server and the dealer as services an
 * operator runs (issue 15, "a server that operators can run"):
 * - the status query answers JSON from both, counting sessions and
 *   refusals by cause;
 * - SIGTERM stops new sessions (refused with the reason, the status says
 *   "draining"), lets the running one finish, and exits 0;
 * - a second SIGINT stops at once, and --grace bounds the wait (exit 1, the
 *   log says how many sessions were cut);
 * - --max-steps refuses longer generations, at the server and the dealer;
 * - the logs have a line per session start and end and never a secret: no
 *   prompt, no generated text, no secret key, at the debug level too.
 * The generation cases need stories260K and skip without it. */
#include "partytest.h"

#include <sodium.h>

/* Starts `mpcllm-client` for a generation of steps on prompt against the
 * world (stdout and stderr to out and err). */
static pid_t start_client(kworld_t *w, const char *prompt, const char *steps, const char *out,
                          const char *err)
{
    char cbin[1100];
    pt_prog(cbin, sizeof cbin, "mpcllm-client");
    char *argv[] = {cbin,
                    "--server",
                    w->server_ep,
                    "--server-key",
                    w->pub[K_SERVER],
                    "--dealer",
                    w->dealer_ep,
                    "--dealer-key",
                    w->pub[K_DEALER],
                    "--keys",
                    w->keydir[K_CLIENT],
                    "--tokenizer",
                    pt_tok,
                    "--prompt",
                    (char *)prompt,
                    "--steps",
                    (char *)steps,
                    "--timeout",
                    "20",
                    NULL};
    pid_t pid = pt_spawn(argv, out, err);
    assert_true(pid > 0);
    return pid;
}

/* `mpcllm-client --status` against ep with key pub: its JSON line. */
static char *status_of(const char *ep, const char *pub)
{
    char cbin[1100], out[128], err[128];
    pt_prog(cbin, sizeof cbin, "mpcllm-client");
    pt_tmp(out, sizeof out, "status.out");
    pt_tmp(err, sizeof err, "status.err");
    char *argv[] = {cbin, "--status", "--server", (char *)ep, "--server-key", (char *)pub, NULL};
    int rc = pt_run(argv, out, err, 20000);
    char *e = pt_slurp(err);
    if (rc != 0) fail_msg("--status exited %d: %s", rc, e);
    free(e);
    return pt_slurp(out);
}

/* Waits up to limit_s for needle to appear in the file log. */
static void wait_for_line(const char *log, const char *needle, double limit_s)
{
    for (double t0 = pt_now();; pt_sleep_ms(50)) {
        char *s = pt_slurp(log);
        int found = strstr(s, needle) != NULL;
        free(s);
        if (found) return;
        if (pt_now() - t0 > limit_s) fail_msg("'%s' did not appear in %s", needle, log);
    }
}

/* A demo hello from the outsider's own key, to the server: its reason. */
static mpc_err_t outsider_asks(kworld_t *w, char *err)
{
    net_opts_t o = w->o[K_OUTSIDER];
    memcpy(o.server_key, w->server_key, NET_KEY_BYTES);
    party_hello_t h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PARTY_MAGIC, 8);
    randombytes_buf(h.nonce, sizeof h.nonce);
    memcpy(h.pk, o.public_key, 32);
    h.prog.kind = PROG_MATVEC;
    h.prog.frac_bits = 16;
    h.prog.d = 4;
    mpc_err_t refusal = MPC_OK;
    chan_t *c = net_dial(w->net, w->server_ep, &o, &h, sizeof h, &refusal, err);
    chan_free(&c);
    net_opts_wipe(&o);
    return refusal;
}

static void test_status_answers_json_with_sessions_and_refusals(void **state)
{
    kworld_t *w = *state;
    const char *sx[] = {NULL};
    kw_start(w, NULL, sx);
    /* one refusal by key: a hello naming the client's key from the outsider */
    net_opts_t o = w->o[K_OUTSIDER];
    memcpy(o.server_key, w->server_key, NET_KEY_BYTES);
    party_hello_t h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PARTY_MAGIC, 8);
    memcpy(h.pk, w->o[K_CLIENT].public_key, 32);
    char err[NET_ERR_BYTES];
    assert_null(net_dial(w->net, w->server_ep, &o, &h, sizeof h, NULL, err));
    net_opts_wipe(&o);
    /* one session served */
    char cbin[1100], out[128], cerr[128];
    pt_prog(cbin, sizeof cbin, "mpcllm-client");
    pt_tmp(out, sizeof out, "demo.out");
    pt_tmp(cerr, sizeof cerr, "demo.err");
    char *argv[] = {cbin,
                    "--server",
                    w->server_ep,
                    "--server-key",
                    w->pub[K_SERVER],
                    "--dealer",
                    w->dealer_ep,
                    "--dealer-key",
                    w->pub[K_DEALER],
                    "--keys",
                    w->keydir[K_CLIENT],
                    "--d",
                    "8",
                    NULL};
    assert_int_equal(pt_run(argv, out, cerr, 60000), 0);
    char *s = status_of(w->server_ep, w->pub[K_SERVER]);
    print_message("server: %s", s);
    assert_non_null(strstr(s, "{\"program\":\"mpcllm-server\""));
    assert_non_null(strstr(s, "\"sessions_served\":1,"));
    assert_non_null(strstr(s, "\"sessions_open\":0,"));
    assert_non_null(strstr(s, "\"draining\":false"));
    assert_non_null(strstr(s, "\"key\":1,"));
    free(s);
    char *d = status_of(w->dealer_ep, w->pub[K_DEALER]);
    print_message("dealer: %s", d);
    assert_non_null(strstr(d, "{\"program\":\"mpcllm-dealer\""));
    assert_non_null(strstr(d, "\"sessions_served\":1,"));
    assert_non_null(strstr(d, "\"test_seed\":false"));
    free(d);
    kw_stop(w);
}

static void test_sigterm_lets_the_running_session_finish_and_refuses_new_ones(void **state)
{
    kworld_t *w = *state;
    if (!pt_have_models) skip();
    const char *sx[] = {"--model", pt_model, NULL};
    kw_start(w, NULL, sx);
    char out[128], err[128];
    pt_tmp(out, sizeof out, "drain.out");
    pt_tmp(err, sizeof err, "drain.err");
    pid_t c = start_client(w, "Once upon a time", "48", out, err);
    wait_for_line(w->server_log, "started: generation", 60);
    assert_int_equal(kill(w->server, SIGTERM), 0);
    wait_for_line(w->server_log, "draining: waiting for 1 sessions", 10);
    char why[NET_ERR_BYTES];
    assert_int_equal(outsider_asks(w, why), MPC_EPEER);
    print_message("a new client while draining: %s\n", why);
    assert_non_null(strstr(why, "shutting down"));
    char *s = status_of(w->server_ep, w->pub[K_SERVER]);
    assert_non_null(strstr(s, "\"draining\":true"));
    assert_non_null(strstr(s, "\"sessions_open\":1,"));
    assert_non_null(strstr(s, "\"draining\":1,"));
    free(s);
    int rc = launch_wait(c, 180000);
    char *text = pt_slurp(out), *e = pt_slurp(err);
    if (rc != 0) fail_msg("the running client exited %d: %s", rc, e);
    assert_true(strlen(text) > strlen("Once upon a time"));
    free(text);
    free(e);
    assert_int_equal(launch_wait(w->server, 30000), 0);
    w->server = 0;
    kw_stop(w);
}

/* A long generation, then sig (and sig2 when not 0) to the server: it must
 * exit 1 within limit_s, saying it cut one session. */
static void assert_cut_short(kworld_t *w, int sig, int sig2, double limit_s)
{
    char out[128], err[128];
    pt_tmp(out, sizeof out, "cut.out");
    pt_tmp(err, sizeof err, "cut.err");
    pid_t c = start_client(w, "Once upon a time", "400", out, err);
    wait_for_line(w->server_log, "started: generation", 60);
    double t0 = pt_now();
    assert_int_equal(kill(w->server, sig), 0);
    if (sig2) {
        pt_sleep_ms(200);
        assert_int_equal(kill(w->server, sig2), 0);
    }
    assert_int_equal(launch_wait(w->server, 30000), 1);
    w->server = 0;
    print_message("the server stopped %.2f s after the signal\n", pt_now() - t0);
    assert_true(pt_now() - t0 < limit_s);
    pt_assert_in(w->server_log, "stopped with 1 sessions still running");
    assert_int_equal(launch_wait(c, 60000), 1); /* the client learns it ended */
    char *e = pt_slurp(err);
    print_message("the client: %s", e);
    free(e);
}

static void test_a_second_sigint_stops_at_once(void **state)
{
    kworld_t *w = *state;
    if (!pt_have_models) skip();
    const char *sx[] = {"--model", pt_model, NULL};
    kw_start(w, NULL, sx);
    assert_cut_short(w, SIGINT, SIGINT, 3);
    kw_stop(w);
}

static void test_the_grace_period_bounds_the_drain(void **state)
{
    kworld_t *w = *state;
    if (!pt_have_models) skip();
    const char *sx[] = {"--model", pt_model, "--grace", "1", NULL};
    kw_start(w, NULL, sx);
    assert_cut_short(w, SIGTERM, 0, 4);
    kw_stop(w);
}

static void test_max_steps_is_refused_with_the_reason(void **state)
{
    kworld_t *w = *state;
    if (!pt_have_models) skip();
    const char *dx[] = {"--max-steps", "16", NULL};
    const char *sx[] = {"--model", pt_model, "--max-steps", "24", NULL};
    kw_start(w, dx, sx);
    char out[128], err[128];
    pt_tmp(out, sizeof out, "steps.out");
    pt_tmp(err, sizeof err, "steps.err");
    /* beyond the server's bound */
    assert_int_equal(launch_wait(start_client(w, "Hi", "32", out, err), 60000), 1);
    char *e = pt_slurp(err);
    print_message("%s", e);
    assert_non_null(strstr(e, "this server serves at most 24 steps per session"));
    free(e);
    /* within the server's, beyond the dealer's: the dealer says why */
    assert_int_equal(launch_wait(start_client(w, "Hi", "20", out, err), 60000), 1);
    e = pt_slurp(err);
    print_message("%s", e);
    assert_non_null(strstr(e, "this dealer serves at most 16 steps per session"));
    free(e);
    kw_stop(w);
}

/* The Z85 text of a key file. */
static char *key_text(const char *path)
{
    char *s = pt_slurp(path);
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r') *p = '\0';
    assert_int_equal(strlen(s), 40);
    return s;
}

static void test_logs_have_a_line_per_session_and_no_secret(void **state)
{
    kworld_t *w = *state;
    if (!pt_have_models) skip();
    const char *dx[] = {"--log-level", "debug", NULL};
    const char *sx[] = {"--model", pt_model, "--log-level", "debug", NULL};
    kw_start(w, dx, sx);
    char out[128], err[128];
    pt_tmp(out, sizeof out, "log.out");
    pt_tmp(err, sizeof err, "log.err");
    const char *prompt = "The zebra ate marmalade";
    assert_int_equal(launch_wait(start_client(w, prompt, "40", out, err), 120000), 0);
    char *text = pt_slurp(out);
    /* the generated part: what follows the prompt */
    const char *gen = text + strlen(prompt);
    assert_true(strlen(gen) > 8);
    char *logs[2] = {pt_slurp(w->server_log), pt_slurp(w->dealer_log)};
    char path[200];
    for (int i = 0; i < 2; i++) {
        assert_non_null(strstr(logs[i], " info: session "));
        assert_non_null(strstr(logs[i], " started: generation, "));
        assert_non_null(strstr(logs[i], " ended: "));
        assert_null(strstr(logs[i], "zebra"));
        assert_null(strstr(logs[i], "marmalade"));
        char frag[9];
        snprintf(frag, sizeof frag, "%.8s", gen);
        assert_null(strstr(logs[i], frag));
        for (int k = K_DEALER; k <= K_CLIENT; k++) {
            snprintf(path, sizeof path, "%s/secret.key", w->keydir[k]);
            char *sec = key_text(path);
            assert_null(strstr(logs[i], sec));
            free(sec);
        }
    }
    print_message("server log:\n%s", logs[0]);
    free(logs[0]);
    free(logs[1]);
    free(text);
    kw_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_answers_json_with_sessions_and_refusals,
                                        kw_alloc, kw_teardown),
        cmocka_unit_test_setup_teardown(
            test_sigterm_lets_the_running_session_finish_and_refuses_new_ones, kw_alloc,
            kw_teardown),
        cmocka_unit_test_setup_teardown(test_a_second_sigint_stops_at_once, kw_alloc, kw_teardown),
        cmocka_unit_test_setup_teardown(test_the_grace_period_bounds_the_drain, kw_alloc,
                                        kw_teardown),
        cmocka_unit_test_setup_teardown(test_max_steps_is_refused_with_the_reason, kw_alloc,
                                        kw_teardown),
        cmocka_unit_test_setup_teardown(test_logs_have_a_line_per_session_and_no_secret, kw_alloc,
                                        kw_teardown),
    };
    const char *filter = getenv("MPCLLM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, pt_setup, pt_teardown);
}
