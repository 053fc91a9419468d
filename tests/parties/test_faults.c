/* tests/parties/test_faults.c - faults at every role and point of a session
 * (issue 16, "To build", item 2).
 *
 * Each case starts a fresh dealer and server on 127.0.0.1 with CurveZMQ and
 * 5-second timeouts, runs a private generation on stories260K with a
 * prompt of about 70 tokens, and, at one point of it, kills (SIGKILL) or
 * stalls (SIGSTOP) the dealer, the server or the client:
 *   setup    as soon as the server logs that the session started (its
 *            setup, the weight masks, takes a fraction of a second);
 *   prefill  half a second later, before the client has printed a token;
 *   decode   once the client has printed generated text.
 * A link cut at the TCP level looks to the ends like one of these: a reset
 * (the peer is gone, as after a kill) or silence (as after a stall).
 * Then every process that survives must report the cause within its
 * timeout: the client exits 1 with one line on stderr, the server and the
 * dealer log the failed session and keep serving; a stalled process, once
 * continued, does the same. The roles that were killed are started again
 * on their endpoints, a new client must get the float engine's text, and no
 * file of ours may be left in /tmp. */
#include "partytest.h"

#include <dirent.h>
#include <sys/stat.h>

/* About 70 tokens of TinyStories-like text. */
static const char *long_prompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
    "with her friends. One day, she found a big red ball under a tree. She was very happy and "
    "ran to show her mom";

static char want_hi[4096]; /* the float engine's text for "Hi", 8 steps */
static char tmpdir[128];   /* $TMPDIR of the roles */

/* The float engine's text for prompt (steps positions). */
static void float_text(const char *prompt, const char *steps, char *out, size_t cap)
{
    char exe[1100], o[128], e[128];
    pt_prog(exe, sizeof exe, "mpcllm");
    pt_tmp(o, sizeof o, "float.out");
    pt_tmp(e, sizeof e, "float.err");
    char *argv[] = {exe,       "generate",    "--engine", "float",    "--model",
                    pt_model,  "--tokenizer", pt_tok,     "--prompt", (char *)prompt,
                    "--steps", (char *)steps, NULL};
    assert_int_equal(pt_run(argv, o, e, 60000), 0);
    char *t = pt_slurp(o);
    snprintf(out, cap, "%s", t);
    free(t);
}

static int faults_setup(void **state)
{
    int rc = pt_setup(state);
    if (!rc && pt_have_models) float_text("Hi", "8", want_hi, sizeof want_hi);
    /* the roles get a temporary folder of their own, which must stay empty */
    pt_tmp(tmpdir, sizeof tmpdir, "roles-tmp");
    if (!rc) rc = mkdir(tmpdir, 0700) || setenv("TMPDIR", tmpdir, 1);
    return rc;
}

/* The files under /tmp or $TMPDIR that pid holds open, but the test's own
 * (the world's logs and the scratch folder), appended to list (n of them,
 * at most cap). */
static int open_tmp_files(const kworld_t *w, pid_t pid, char list[][256], int n, int cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return n;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (atoi(e->d_name) <= 2) continue; /* inherited standard streams */
        char link[64 + 256 + 8], target[240];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0) continue;
        target[k] = '\0';
        if (!strncmp(target, w->dir, strlen(w->dir))) continue;
        if (!strncmp(target, pt_scratch, strlen(pt_scratch)) &&
            strncmp(target, tmpdir, strlen(tmpdir)) != 0)
            continue;
        if (!strncmp(target, "/tmp/", 5)) snprintf(list[n++], 256, "%.255s", target);
    }
    closedir(d);
    return n;
}

/* 1 when directory path holds no entry. */
static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

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
                    "5",
                    NULL};
    pid_t pid = pt_spawn(argv, out, err);
    assert_true(pid > 0);
    return pid;
}

static int file_holds(const char *path, const char *needle)
{
    char *s = pt_slurp(path);
    int found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

static void wait_until_holds(const char *path, const char *needle, double limit_s)
{
    for (double t0 = pt_now(); !file_holds(path, needle); pt_sleep_ms(50))
        if (pt_now() - t0 > limit_s) fail_msg("'%s' did not appear in %s", needle, path);
}

static long file_len(const char *path)
{
    char *s = pt_slurp(path);
    long n = (long)strlen(s);
    free(s);
    return n;
}

static int alive(pid_t pid)
{
    int st;
    return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

enum { V_DEALER, V_SERVER, V_CLIENT };
enum { AT_SETUP, AT_PREFILL, AT_DECODE };
static const char *victim_name[] = {"dealer", "server", "client"};
static const char *point_name[] = {"setup", "prefill", "decode"};

/* Starts the role that was killed again, on its old endpoint. */
static void restart(kworld_t *w, int victim)
{
    char bin[1100], ep[256];
    if (victim == V_DEALER) {
        pt_prog(bin, sizeof bin, "mpcllm-dealer");
        snprintf(ep, sizeof ep, "%s", w->dealer_ep);
        char *argv[] = {bin,         "--listen", ep,          "--keys", w->keydir[K_DEALER],
                        "--timeout", "5",        "--verbose", NULL};
        w->dealer = pt_start_logged(argv, w->dealer_ep, sizeof w->dealer_ep, w->dealer_log);
    } else {
        pt_prog(bin, sizeof bin, "mpcllm-server");
        snprintf(ep, sizeof ep, "%s", w->server_ep);
        char *argv[] = {bin,
                        "--listen",
                        ep,
                        "--keys",
                        w->keydir[K_SERVER],
                        "--dealer",
                        w->dealer_ep,
                        "--dealer-key",
                        w->pub[K_DEALER],
                        "--model",
                        pt_model,
                        "--timeout",
                        "5",
                        "--verbose",
                        NULL};
        w->server = pt_start_logged(argv, w->server_ep, sizeof w->server_ep, w->server_log);
    }
    assert_string_equal(victim == V_DEALER ? w->dealer_ep : w->server_ep, ep);
}

static void run_case(kworld_t *w, int victim, int sig, int point)
{
    print_message("--- %s %s at %s\n", sig == SIGKILL ? "kill" : "stall", victim_name[victim],
                  point_name[point]);
    const char *sx[] = {"--model", pt_model, "--timeout", "5", NULL};
    kw_start(w, NULL, sx);
    char out[128], err[128];
    pt_tmp(out, sizeof out, "fault.out");
    pt_tmp(err, sizeof err, "fault.err");
    pid_t client = start_client(w, long_prompt, "140", out, err);
    wait_until_holds(w->server_log, "started: generation", 60);
    if (point == AT_PREFILL) pt_sleep_ms(500);
    if (point == AT_DECODE)
        for (double t0 = pt_now(); file_len(out) < (long)strlen(long_prompt) + 12; pt_sleep_ms(50))
            if (pt_now() - t0 > 120) fail_msg("the client printed no text in 120 s");
    print_message("the fault came with %ld bytes of text printed\n", file_len(out));
    pid_t pids[3] = {w->dealer, w->server, client};
    pid_t v = pids[victim];
    char held[32][256];
    int n_held = 0;
    for (int i = 0; i < 3; i++)
        n_held = open_tmp_files(w, pids[i], held, n_held, 32);
    double t0 = pt_now();
    assert_int_equal(kill(v, sig), 0);

    /* the survivors report it within their 5-second timeouts (the dealer
     * may wait one timeout per party in turn) */
    double limit = 25;
    if (victim != V_CLIENT) {
        int rc = launch_wait(client, (int)(limit * 1000));
        char *e = pt_slurp(err);
        print_message("the client, %.1f s after: exit %d: %s", pt_now() - t0, rc, e);
        assert_int_equal(rc, 1);
        assert_true(strstr(e, "mpcllm-client: ") == e && strchr(e, '\n') == e + strlen(e) - 1);
        free(e);
        client = 0;
    }
    if (victim != V_SERVER) wait_until_holds(w->server_log, "failed", limit);
    if (victim != V_DEALER) wait_until_holds(w->dealer_log, "failed", limit);
    print_message("every survivor reported it within %.1f s\n", pt_now() - t0);
    if (victim != V_SERVER) assert_true(alive(w->server));
    if (victim != V_DEALER) assert_true(alive(w->dealer));

    if (sig == SIGSTOP) {
        /* continued, the stalled process finds its peers gone and says so */
        assert_int_equal(kill(v, SIGCONT), 0);
        if (victim == V_CLIENT) {
            assert_int_equal(launch_wait(client, (int)(limit * 1000)), 1);
            client = 0;
        } else {
            wait_until_holds(victim == V_SERVER ? w->server_log : w->dealer_log, "failed", limit);
            assert_true(alive(v));
        }
    } else if (victim == V_CLIENT) {
        launch_wait(client, 5000);
        client = 0;
    } else {
        launch_wait(v, 5000);
        restart(w, victim);
    }
    /* and everyone serves the next client */
    pt_sleep_ms(200);
    char out2[128], err2[128];
    pt_tmp(out2, sizeof out2, "next.out");
    pt_tmp(err2, sizeof err2, "next.err");
    int rc = launch_wait(start_client(w, "Hi", "8", out2, err2), 120000);
    char *got = pt_slurp(out2), *why = pt_slurp(err2);
    if (rc != 0) fail_msg("the next client exited %d: %s", rc, why);
    assert_string_equal(got, want_hi);
    free(got);
    free(why);
    /* no temporary file outlives the session */
    for (int i = 0; i < n_held; i++)
        if (access(held[i], F_OK) == 0) fail_msg("%s outlived the session", held[i]);
    assert_true(dir_empty(tmpdir));
    print_message("%d temporary files were open at the fault; none is left\n", n_held);
    kw_stop(w);
}

#define FAULT_TEST(victim, sig, point, name)                                                       \
    static void name(void **state)                                                                 \
    {                                                                                              \
        if (!pt_have_models) skip();                                                               \
        run_case(*state, victim, sig, point);                                                      \
    }

FAULT_TEST(V_DEALER, SIGKILL, AT_SETUP, test_dealer_killed_at_setup)
FAULT_TEST(V_DEALER, SIGKILL, AT_PREFILL, test_dealer_killed_at_prefill)
FAULT_TEST(V_DEALER, SIGKILL, AT_DECODE, test_dealer_killed_mid_decode)
FAULT_TEST(V_SERVER, SIGKILL, AT_SETUP, test_server_killed_at_setup)
FAULT_TEST(V_SERVER, SIGKILL, AT_PREFILL, test_server_killed_at_prefill)
FAULT_TEST(V_SERVER, SIGKILL, AT_DECODE, test_server_killed_mid_decode)
FAULT_TEST(V_CLIENT, SIGKILL, AT_SETUP, test_client_killed_at_setup)
FAULT_TEST(V_CLIENT, SIGKILL, AT_PREFILL, test_client_killed_at_prefill)
FAULT_TEST(V_CLIENT, SIGKILL, AT_DECODE, test_client_killed_mid_decode)
FAULT_TEST(V_DEALER, SIGSTOP, AT_SETUP, test_dealer_stalled_at_setup)
FAULT_TEST(V_DEALER, SIGSTOP, AT_PREFILL, test_dealer_stalled_at_prefill)
FAULT_TEST(V_DEALER, SIGSTOP, AT_DECODE, test_dealer_stalled_mid_decode)
FAULT_TEST(V_SERVER, SIGSTOP, AT_SETUP, test_server_stalled_at_setup)
FAULT_TEST(V_SERVER, SIGSTOP, AT_PREFILL, test_server_stalled_at_prefill)
FAULT_TEST(V_SERVER, SIGSTOP, AT_DECODE, test_server_stalled_mid_decode)
FAULT_TEST(V_CLIENT, SIGSTOP, AT_SETUP, test_client_stalled_at_setup)
FAULT_TEST(V_CLIENT, SIGSTOP, AT_PREFILL, test_client_stalled_at_prefill)
FAULT_TEST(V_CLIENT, SIGSTOP, AT_DECODE, test_client_stalled_mid_decode)

#define CASE(name) cmocka_unit_test_setup_teardown(name, kw_alloc, kw_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_dealer_killed_at_setup),    CASE(test_dealer_killed_at_prefill),
        CASE(test_dealer_killed_mid_decode),  CASE(test_server_killed_at_setup),
        CASE(test_server_killed_at_prefill),  CASE(test_server_killed_mid_decode),
        CASE(test_client_killed_at_setup),    CASE(test_client_killed_at_prefill),
        CASE(test_client_killed_mid_decode),  CASE(test_dealer_stalled_at_setup),
        CASE(test_dealer_stalled_at_prefill), CASE(test_dealer_stalled_mid_decode),
        CASE(test_server_stalled_at_setup),   CASE(test_server_stalled_at_prefill),
        CASE(test_server_stalled_mid_decode), CASE(test_client_stalled_at_setup),
        CASE(test_client_stalled_at_prefill), CASE(test_client_stalled_mid_decode),
    };
    const char *filter = getenv("MPCLLM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, faults_setup, pt_teardown);
}
