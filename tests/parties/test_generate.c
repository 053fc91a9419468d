/* tests/parties/test_generate.c - private generation on stories260K through
 * the real programs, as separate processes on 127.0.0.1 with CurveZMQ
 * (issue 5, "What must hold", the process-level part).
 *
 * - Exactness: `mpcllm generate --test-seed S` (three processes) prints what
 *   `--engine fixed --seed S` prints, for 128 steps on the empty and a
 *   one-character prompt and for fewer steps on longer prompts.
 * - Fidelity: without a test seed, the secure text equals the float
 *   engine's for 64 generated tokens.
 * - Isolation: one dealer, one server and four concurrent clients with
 *   different prompts each get their own text, while a fifth client is
 *   killed mid-generation; the server then serves a new client. The dealer
 *   runs with a test seed, so every session it serves gets the same seeds
 *   (fine for a test: the sessions stay separate, and each client's text is
 *   the fixed engine's for that seed and its own prompt).
 * - Bad input: each case ends the client with exit 1 and one line on stderr
 *   that says why, and the server keeps serving: a tokenizer that does not
 *   fit the model, a prompt or --steps beyond the context, a client off the
 *   allow-list, an unreachable dealer, a dealer with another key, a dealer
 *   killed mid-session; an unknown model. (A replayed session id, and the
 *   binding of hellos to keys: tests/parties/test_keys.c.)
 * - Usage: exit 2 with a one-line reason for bad flags, exit 0 for --help.
 * - No process outlives a killed `mpcllm generate`.
 *
 * The processes' own timeouts bound every wait; the test adds its own
 * bounds on top, and its children die with it (PR_SET_PDEATHSIG). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "parties/launch.h"
#include "parties/party.h"

static char bindir[1024], model[1024], tok[1024], bigtok[1024], scratch[64];
static int have_models;

static int group_setup(void **state)
{
    (void)state;
    const char *b = getenv("MPCLLM_BIN");
    snprintf(bindir, sizeof bindir, "%s", b && *b ? b : "bin");
    have_models = tu_shared_path("models/stories260K.bin", model, sizeof model) &&
                  tu_shared_path("models/tok512.bin", tok, sizeof tok) &&
                  tu_shared_path("models/tokenizer.bin", bigtok, sizeof bigtok);
    snprintf(scratch, sizeof scratch, "/tmp/mpcllm-test-gen-XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void prog_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", bindir, name);
}

/* A file in this run's scratch folder (removed after the last test, even
 * when one failed). */
static void tmp_path(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%s/%s", scratch, what);
}

/* Starts argv with stdout and stderr to files (NULL: inherited); the child
 * dies with this process. */
static pid_t spawn_io(char *const argv[], const char *out, const char *err)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        if (out) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 1);
        }
        if (err) {
            int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Runs argv to its end (killed after timeout_ms) and returns its status. */
static int run_io(char *const argv[], const char *out, const char *err, int timeout_ms)
{
    pid_t pid = spawn_io(argv, out, err);
    assert_true(pid > 0);
    return launch_wait(pid, timeout_ms);
}

/* A whole file as a string (the caller frees it); "" when missing. */
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

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Asserts that err_path holds exactly one line, from prog, containing each
 * of the NULL-terminated needles. */
static void assert_one_line(const char *err_path, const char *prog, const char *const needles[])
{
    char *e = slurp(err_path);
    size_t n = strlen(e), lines = 0;
    for (size_t i = 0; i < n; i++) lines += e[i] == '\n';
    if (lines != 1 || e[n - 1] != '\n' || strncmp(e, prog, strlen(prog)) != 0 ||
        e[strlen(prog)] != ':')
        fail_msg("expected one line from %s on stderr, got: '%s'", prog, e);
    for (int i = 0; needles && needles[i]; i++)
        if (!strstr(e, needles[i])) fail_msg("'%s' is not in the reason: %s", needles[i], e);
    free(e);
}

/* The text `mpcllm generate` prints on stdout for these settings. */
static char *generate_text(const char *engine, const char *seed_flag, const char *seed,
                           const char *prompt, int steps, int timeout_ms)
{
    char exe[1100], out[128], err[128], sstr[16];
    prog_path(exe, sizeof exe, "mpcllm");
    tmp_path(out, sizeof out, "gen.out");
    tmp_path(err, sizeof err, "gen.err");
    snprintf(sstr, sizeof sstr, "%d", steps);
    char *argv[] = {exe, "generate", "--model", model, "--tokenizer", tok, "--engine",
                    (char *)engine, "--prompt", (char *)prompt, "--steps", sstr,
                    seed_flag ? (char *)seed_flag : NULL, (char *)seed, NULL};
    int rc = run_io(argv, out, err, timeout_ms);
    if (rc != 0) {
        char *e = slurp(err);
        fail_msg("mpcllm generate --engine %s --prompt '%s' exited %d: %s", engine, prompt, rc, e);
    }
    unlink(err);
    char *text = slurp(out);
    unlink(out);
    return text;
}

/* --- a dealer, a server, and keys for clients ------------------------- */

enum { K_DEALER, K_SERVER, K_CLIENT, K_OUTSIDER };

typedef struct world {
    char dir[64];
    char keydir[4][128], pub[4][160], allow[160];
    char bin[3][1100];
    char dealer_ep[256], server_ep[256];
    char dealer_log[128], server_log[128];
    char timeout[16], dealer_timeout[16], dealer_seed[32];
    pid_t dealer, server;
} world_t;

/* Starts argv via launch_ready with its stderr appended to log. */
static pid_t start_logged(char *const argv[], char *ep, size_t cap, const char *log)
{
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    char err[256];
    pid_t pid = launch_ready(argv, ep, cap, 20000, err, sizeof err);
    dup2(saved, 2);
    close(saved);
    if (pid < 0) fail_msg("%s: %s", argv[0], err);
    return pid;
}

/* Starts the dealer on listen (tcp://127.0.0.1:* or its old endpoint). */
static void dealer_start(world_t *w, const char *listen)
{
    char *argv[] = {w->bin[0], "--listen", (char *)listen, "--keys", w->keydir[K_DEALER],
                    "--timeout", w->dealer_timeout, "--verbose",
                    w->dealer_seed[0] ? "--test-seed" : NULL, w->dealer_seed, NULL};
    w->dealer = start_logged(argv, w->dealer_ep, sizeof w->dealer_ep, w->dealer_log);
}

/* Keys for dealer, server, client and an outsider; the allow-list holds
 * the client's key only. With allow_only_client, the server uses it. The
 * server and clients time out after timeout seconds, the dealer after
 * dealer_timeout (NULL: the same). */
static void world_start(world_t *w, const char *timeout, const char *dealer_timeout,
                        const char *dealer_seed, int allow_only_client)
{
    memset(w, 0, sizeof *w);
    char err[256];
    assert_int_equal(launch_keys(w->dir, err, sizeof err), 0);
    static const char *roles[4] = {"dealer", "server", "client", "outsider"};
    for (int i = 0; i < 4; i++) {
        snprintf(w->keydir[i], sizeof w->keydir[i], "%s/%s", w->dir, roles[i]);
        snprintf(w->pub[i], sizeof w->pub[i], "%s/public.key", w->keydir[i]);
    }
    assert_int_equal(net_keygen(w->keydir[K_OUTSIDER], err), MPC_OK);
    snprintf(w->allow, sizeof w->allow, "%s/allow", w->dir);
    assert_int_equal(mkdir(w->allow, 0700), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s %s/client.key", w->pub[K_CLIENT], w->allow);
    assert_int_equal(system(cmd), 0);
    snprintf(w->dealer_log, sizeof w->dealer_log, "%s/dealer.log", w->dir);
    snprintf(w->server_log, sizeof w->server_log, "%s/server.log", w->dir);
    snprintf(w->timeout, sizeof w->timeout, "%s", timeout);
    snprintf(w->dealer_timeout, sizeof w->dealer_timeout, "%s",
             dealer_timeout ? dealer_timeout : timeout);
    snprintf(w->dealer_seed, sizeof w->dealer_seed, "%s", dealer_seed ? dealer_seed : "");
    prog_path(w->bin[0], sizeof w->bin[0], "mpcllm-dealer");
    prog_path(w->bin[1], sizeof w->bin[1], "mpcllm-server");
    prog_path(w->bin[2], sizeof w->bin[2], "mpcllm-client");
    dealer_start(w, "tcp://127.0.0.1:*");
    char *sargv[] = {w->bin[1], "--listen", "tcp://127.0.0.1:*", "--keys", w->keydir[K_SERVER],
                     "--dealer", w->dealer_ep, "--dealer-key", w->pub[K_DEALER], "--model",
                     model, "--timeout", w->timeout, "--verbose",
                     allow_only_client ? "--allow" : NULL, w->allow, NULL};
    w->server = start_logged(sargv, w->server_ep, sizeof w->server_ep, w->server_log);
}

/* 1 when pid has not exited (and reaps it if it has). */
static int alive(pid_t pid)
{
    int st;
    return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* Ends the world's processes: both must exit 0 on SIGTERM. Idempotent. */
static void world_stop(world_t *w)
{
    int rc[2] = {0, 0};
    pid_t *p[2] = {&w->server, &w->dealer};
    for (int i = 0; i < 2; i++)
        if (*p[i] > 0) {
            kill(*p[i], SIGTERM);
            rc[i] = launch_wait(*p[i], 20000);
            *p[i] = 0;
        }
    if (w->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", w->dir);
        w->dir[0] = '\0';
    }
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
}

static int world_teardown(void **state)
{
    world_t *w = *state;
    if (!w) return 0;
    /* after a failed assertion: show the roles' logs, and end what is left
     * without asserting */
    if (w->dir[0]) {
        char *d = slurp(w->dealer_log), *s = slurp(w->server_log);
        print_message("the dealer's log:\n%sthe server's log:\n%s", d, s);
        free(d);
        free(s);
    }
    pid_t *p[2] = {&w->server, &w->dealer};
    for (int i = 0; i < 2; i++)
        if (*p[i] > 0) {
            kill(*p[i], SIGKILL);
            launch_wait(*p[i], 5000);
        }
    if (w->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", w->dir);
    }
    free(w);
    *state = NULL;
    return 0;
}

static int world_alloc(void **state)
{
    *state = calloc(1, sizeof(world_t));
    return *state ? 0 : -1;
}

/* Starts a client of the world as `who` with the dealer key dealer_pub and
 * the extra flags (NULL-terminated); stdout and stderr go to out and err. */
static pid_t client_start(world_t *w, int who, const char *dealer_ep, const char *dealer_pub,
                          const char *timeout, const char *out, const char *err,
                          const char *const extra[])
{
    char *argv[48] = {w->bin[2], "--server", w->server_ep, "--server-key", w->pub[K_SERVER],
                      "--dealer", (char *)dealer_ep, "--dealer-key", (char *)dealer_pub,
                      "--keys", w->keydir[who], "--tokenizer", tok, "--timeout",
                      (char *)timeout};
    int n = 15;
    for (int i = 0; extra && extra[i]; i++) {
        assert_true(n < 46);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    pid_t pid = spawn_io(argv, out, err);
    assert_true(pid > 0);
    return pid;
}

/* A good client (its default flags) must get the fixed engine's text for
 * prompt: the server is still up and serving. With the test seed of the
 * world's dealer, the text must be that seed's; without, the float's. */
static void assert_served(world_t *w, const char *prompt, int steps)
{
    char out[128], err[128], sstr[16];
    tmp_path(out, sizeof out, "served.out");
    tmp_path(err, sizeof err, "served.err");
    snprintf(sstr, sizeof sstr, "%d", steps);
    const char *extra[] = {"--prompt", prompt, "--steps", sstr, NULL};
    assert_true(alive(w->server));
    assert_true(alive(w->dealer));
    pid_t c = client_start(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], w->timeout, out, err,
                           extra);
    int rc = launch_wait(c, 180000);
    char *got = slurp(out), *why = slurp(err);
    if (rc != 0) fail_msg("a good client exited %d: %s", rc, why);
    char *want = w->dealer_seed[0]
                     ? generate_text("fixed", "--seed", w->dealer_seed, prompt, steps, 60000)
                     : generate_text("float", NULL, NULL, prompt, steps, 60000);
    assert_string_equal(got, want);
    free(got);
    free(why);
    free(want);
    unlink(out);
    unlink(err);
}

/* --- usage ------------------------------------------------------------- */

static void test_usage_errors_exit_2_with_a_reason_and_help_exits_0(void **state)
{
    (void)state;
    static const char *help[][3] = {
        {"mpcllm", "--help", NULL},          {"mpcllm", "generate", "--help"},
        {"mpcllm", "demo", "--help"},        {"mpcllm-dealer", "--help", NULL},
        {"mpcllm-server", "--help", NULL},   {"mpcllm-client", "--help", NULL},
        {"mpcllm-keygen", "--help", NULL},   {"mpcllm-bench", "--help", NULL},
    };
    char exe[1100], out[128], err[128];
    tmp_path(out, sizeof out, "usage.out");
    tmp_path(err, sizeof err, "usage.err");
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
        prog_path(exe, sizeof exe, help[i][0]);
        char *argv[] = {exe, (char *)help[i][1], (char *)help[i][2], NULL};
        int rc = run_io(argv, out, err, 10000);
        if (rc != 0) fail_msg("%s %s: exit %d", help[i][0], help[i][1], rc);
        char *o = slurp(out);
        if (!strstr(o, "usage")) fail_msg("%s %s printed no usage: %s", help[i][0], help[i][1], o);
        free(o);
    }
    /* program, then up to 8 arguments, then what the reason must name */
    static const char *bad[][10] = {
        {"mpcllm", NULL, "a command is needed"},
        {"mpcllm", "frobnicate", NULL, "unknown command"},
        {"mpcllm", "generate", "--bogus", NULL, "--bogus"},
        {"mpcllm", "generate", "--steps", "abc", NULL, "--steps"},
        {"mpcllm", "generate", "--steps", "0", NULL, "--steps"},
        {"mpcllm", "generate", "--steps", "-3", NULL, "--steps"},
        {"mpcllm", "generate", "--steps", "12x", NULL, "--steps"},
        {"mpcllm", "generate", "--budget", "0.6", "--static-keep", "0.5", "--policy", "mpcache",
         NULL, "--static-keep"},
        {"mpcllm", "generate", "--budget", "0", NULL, "--budget"},
        {"mpcllm", "generate", "--budget", "1.5", NULL, "--budget"},
        {"mpcllm", "generate", "--static-keep", "nan", NULL, "--static-keep"},
        {"mpcllm", "generate", "--engine", "gpu", NULL, "--engine"},
        {"mpcllm", "generate", "--policy", "lru", NULL, "policy"},
        {"mpcllm", "generate", "--clusters", "3,2", NULL, "--clusters"},
        {"mpcllm", "generate", "--frac-bits", "40", NULL, "--frac-bits"},
        {"mpcllm", "generate", "--timeout", "0", NULL, "--timeout"},
        {"mpcllm", "generate", "--pad-to", "-1", NULL, "--pad-to"},
        {"mpcllm", "generate", "stray", NULL, "stray"},
        {"mpcllm", "demo", "--d", "0", NULL, "--d"},
        {"mpcllm-dealer", NULL, "--listen"},
        {"mpcllm-dealer", "--listen", "tcp://127.0.0.1:*", "--keys", "k", "--sessions", "0",
         NULL, "--sessions"},
        {"mpcllm-server", "--bogus", NULL, "--bogus"},
        {"mpcllm-server", "--listen", "x", "--timeout", "soon", NULL, "--timeout"},
        {"mpcllm-client", NULL, "--server"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--steps", "0",
         NULL, "--steps"},
        {"mpcllm-client", "--server", "a", "--dealer", "b", "--plaintext", "--frac-bits", "9",
         NULL, "--frac-bits"},
        {"mpcllm-keygen", NULL, "--out"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[10] = {exe};
        prog_path(exe, sizeof exe, bad[i][0]);
        int n = 1;
        while (bad[i][n]) {
            argv[n] = (char *)bad[i][n];
            n++;
        }
        argv[n] = NULL;
        const char *need[] = {bad[i][n + 1], NULL};
        int rc = run_io(argv, out, err, 10000);
        if (rc != 2) fail_msg("%s %s ...: exit %d, not 2", bad[i][0], bad[i][1] ? bad[i][1] : "", rc);
        assert_one_line(err, bad[i][0], need);
        assert_int_equal(file_size(out), 0);
    }
    unlink(out);
    unlink(err);
}

/* --- exactness and fidelity -------------------------------------------- */

/* `mpcllm generate --test-seed S` across three processes prints exactly
 * what `--engine fixed --seed S` prints. */
static void assert_secure_is_fixed(const char *prompt, int steps, const char *seed)
{
    double t0 = now_s();
    char *sec = generate_text("secure", "--test-seed", seed, prompt, steps, 400000);
    double t1 = now_s();
    char *fix = generate_text("fixed", "--seed", seed, prompt, steps, 60000);
    print_message("secure '%s', %d steps, seed %s: %.1f s; %zu bytes of text\n", prompt, steps,
                  seed, t1 - t0, strlen(sec));
    assert_true(strlen(fix) >= strlen(prompt));
    assert_string_equal(sec, fix);
    free(sec);
    free(fix);
}

static void test_secure_with_test_seed_equals_fixed_for_128_steps(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_secure_is_fixed("", 128, "7");
    assert_secure_is_fixed("a", 128, "11");
}

static void test_secure_with_test_seed_equals_fixed_on_longer_prompts(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_secure_is_fixed("Once upon a time", 24, "7");
    assert_secure_is_fixed("Tom and Sue went to the park to play with a red ball", 28, "3");
}

/* The prompt's token count, BOS included, as the float engine reports it. */
static int prompt_tokens(const char *prompt)
{
    char *json = generate_text("float", "--json", NULL, prompt, 64, 60000);
    const char *k = strstr(json, "\"prompt_tokens\":");
    assert_non_null(k);
    int n = atoi(k + strlen("\"prompt_tokens\":"));
    free(json);
    assert_true(n >= 1);
    return n;
}

/* Without a test seed, the secure text equals the float engine's (llama2.c's)
 * for 64 generated tokens: steps = prompt tokens + 63. */
static void assert_secure_is_float(const char *prompt)
{
    int steps = prompt_tokens(prompt) + 63;
    double t0 = now_s();
    char *sec = generate_text("secure", NULL, NULL, prompt, steps, 400000);
    double t1 = now_s();
    char *flt = generate_text("float", NULL, NULL, prompt, steps, 60000);
    print_message("secure '%s', %d steps, no test seed: %.1f s\n", prompt, steps, t1 - t0);
    /* 64 tokens make well over 64 bytes of text, unless BOS came first */
    assert_true(strlen(flt) > strlen(prompt) + 64);
    assert_string_equal(sec, flt);
    free(sec);
    free(flt);
}

static void test_secure_without_test_seed_equals_float_for_64_tokens(void **state)
{
    (void)state;
    if (!have_models) skip();
    assert_secure_is_float("Once upon a time");
    assert_secure_is_float("The little dog");
}

/* --- isolation --------------------------------------------------------- */

static void test_concurrent_clients_get_their_own_text_and_a_killed_one_harms_none(void **state)
{
    world_t *w = *state;
    if (!have_models) skip();
    /* the parties' default timeout; the dealer's is longer, because its
     * sends wait while a slow party drains half its queue (32 tape
     * messages of 1 MiB, 4 tokens here), and that wait counts against its
     * timeout: five sessions on two cores (under ASan, 8 s a token) would
     * exceed 30 s */
    world_start(w, "30", "120", "5", 0);
    static const char *prompts[4] = {"Once upon a time", "The little dog", "Tom and Sue",
                                     "a"};
    static const char *steps[4] = {"24", "22", "20", "18"};
    char out[5][128], err[5][128];
    pid_t c[5];
    for (int i = 0; i < 5; i++) {
        char s[16];
        snprintf(s, sizeof s, "c%d.out", i);
        tmp_path(out[i], sizeof out[i], s);
        snprintf(s, sizeof s, "c%d.err", i);
        tmp_path(err[i], sizeof err[i], s);
    }
    double t0 = now_s();
    /* the victim: a long generation, killed once its text has begun */
    const char *victim_prompt = "Lily liked";
    const char *vextra[] = {"--prompt", victim_prompt, "--steps", "200", NULL};
    c[4] = client_start(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], w->timeout, out[4], err[4],
                        vextra);
    for (int i = 0; i < 4; i++) {
        const char *extra[] = {"--prompt", prompts[i], "--steps", steps[i], NULL};
        c[i] = client_start(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], w->timeout, out[i],
                            err[i], extra);
    }
    while (file_size(out[4]) < (long)strlen(victim_prompt) + 4) {
        if (!alive(c[4])) fail_msg("the victim ended before it was killed: %s", slurp(err[4]));
        if (now_s() - t0 > 300) fail_msg("the victim printed nothing in 300 s");
        sleep_ms(50);
    }
    assert_int_equal(kill(c[4], SIGKILL), 0);
    assert_int_equal(launch_wait(c[4], 5000), 128 + SIGKILL);
    print_message("victim killed after %.1f s\n", now_s() - t0);
    for (int i = 0; i < 4; i++) {
        int rc = launch_wait(c[i], 600000);
        char *why = slurp(err[i]);
        if (rc != 0) fail_msg("client %d ('%s') exited %d: %s", i, prompts[i], rc, why);
        free(why);
    }
    print_message("four concurrent clients done in %.1f s\n", now_s() - t0);
    for (int i = 0; i < 4; i++) {
        char *got = slurp(out[i]);
        char *want = generate_text("fixed", "--seed", "5", prompts[i], atoi(steps[i]), 60000);
        assert_true(strlen(want) > strlen(prompts[i]) + 16);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    /* the server saw exactly one session fail, the victim's */
    char *log = slurp(w->server_log);
    char *first = strstr(log, "error: session ");
    if (!first || strstr(first + 1, "error: session "))
        fail_msg("expected exactly one failed session in the server's log:\n%s", log);
    free(log);
    assert_served(w, "Hi", 8);
    for (int i = 0; i < 5; i++) {
        unlink(out[i]);
        unlink(err[i]);
    }
    world_stop(w);
}

/* --- bad input --------------------------------------------------------- */

/* A TCP port on 127.0.0.1 with nothing listening (just released). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* Runs one refused client to its end: exit 1 within limit_s, nothing on
 * stdout, one line on stderr naming every needle. */
static void assert_refused(world_t *w, int who, const char *dealer_ep, const char *dealer_pub,
                           const char *const extra[], double limit_s, const char *const needles[])
{
    char out[128], err[128];
    tmp_path(out, sizeof out, "bad.out");
    tmp_path(err, sizeof err, "bad.err");
    double t0 = now_s();
    pid_t c = client_start(w, who, dealer_ep, dealer_pub, "3", out, err, extra);
    int rc = launch_wait(c, 60000);
    double dt = now_s() - t0;
    char *why = slurp(err);
    print_message("refused in %.2f s: %s", dt, why);
    if (rc != 1) fail_msg("exit %d, not 1: %s", rc, why);
    free(why);
    assert_true(dt < limit_s);
    assert_int_equal(file_size(out), 0);
    assert_one_line(err, "mpcllm-client", needles);
    unlink(out);
    unlink(err);
}

static void test_bad_input_fails_clearly_and_the_server_keeps_serving(void **state)
{
    world_t *w = *state;
    if (!have_models) skip();
    world_start(w, "5", NULL, "9", 1);
    char tokbig[1100];
    snprintf(tokbig, sizeof tokbig, "%s", bigtok);
    {
        /* a tokenizer of 32000 tokens against the model's 512 */
        const char *extra[] = {"--tokenizer", tokbig, "--prompt", "Hi", "--steps", "8", NULL};
        const char *need[] = {"does not fit the server's model", "512", NULL};
        assert_refused(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], extra, 10, need);
    }
    {
        /* 600 words make more than 512 tokens */
        static char prompt[4000];
        prompt[0] = '\0';
        for (int i = 0; i < 600; i++) strcat(prompt, "dog ");
        const char *extra[] = {"--prompt", prompt, "--steps", "512", NULL};
        const char *need[] = {"do not fit the model's context of 512", NULL};
        assert_refused(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], extra, 10, need);
    }
    {
        const char *extra[] = {"--prompt", "Hi", "--steps", "513", NULL};
        const char *need[] = {"server refused", "--steps 513", "context of 512", NULL};
        assert_refused(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], extra, 10, need);
    }
    {
        /* a client whose key is not on the server's allow-list */
        const char *extra[] = {"--prompt", "Hi", "--steps", "8", NULL};
        const char *need[] = {"server", "refused our key", NULL};
        assert_refused(w, K_OUTSIDER, w->dealer_ep, w->pub[K_DEALER], extra, 10, need);
    }
    {
        /* a dealer that is not there: the client's --timeout is 3 s */
        char ep[64];
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port());
        const char *extra[] = {"--prompt", "Hi", "--steps", "8", NULL};
        const char *need[] = {"dealer", ep, "did not answer within 3 s", NULL};
        assert_refused(w, K_CLIENT, ep, w->pub[K_DEALER], extra, 10, need);
    }
    {
        /* the client pins another key than the dealer's */
        const char *extra[] = {"--prompt", "Hi", "--steps", "8", NULL};
        const char *need[] = {"dealer", "key", NULL};
        assert_refused(w, K_CLIENT, w->dealer_ep, w->pub[K_OUTSIDER], extra, 10, need);
    }
    /* the server joined the dealer for the last two and failed those
     * sessions alone, within the dealer's timeout */
    sleep_ms(6000);
    /* one failed session each, but for the client the allow-list kept out */
    char *log = slurp(w->server_log);
    int failed = 0;
    for (const char *p = log; (p = strstr(p, "error: session ")); p++)
        failed++;
    if (failed != 5) fail_msg("%d failed sessions, not 5, in the server's log:\n%s", failed, log);
    free(log);
    assert_served(w, "Hi", 8);
    world_stop(w);
}

static void test_unknown_model_fails_clearly(void **state)
{
    (void)state;
    if (!have_models) skip();
    char exe[1100], out[128], err[128];
    tmp_path(out, sizeof out, "model.out");
    tmp_path(err, sizeof err, "model.err");
    {
        prog_path(exe, sizeof exe, "mpcllm");
        char *argv[] = {exe, "generate", "--engine", "fixed", "--model", "/nonexistent/m.bin",
                        "--tokenizer", tok, NULL};
        assert_int_equal(run_io(argv, out, err, 10000), 1);
        const char *need[] = {"/nonexistent/m.bin", NULL};
        assert_one_line(err, "mpcllm", need);
    }
    {
        /* a tokenizer is not a checkpoint */
        prog_path(exe, sizeof exe, "mpcllm-server");
        char *argv[] = {exe, "--listen", "tcp://127.0.0.1:*", "--dealer", "tcp://127.0.0.1:1",
                        "--plaintext", "--model", tok, NULL};
        assert_int_equal(run_io(argv, out, err, 10000), 1);
        const char *need[] = {tok, NULL};
        assert_one_line(err, "mpcllm-server", need);
    }
    {
        /* the secure launcher: the server fails, and so does the run */
        prog_path(exe, sizeof exe, "mpcllm");
        char *argv[] = {exe, "generate", "--model", "/nonexistent/m.bin", "--tokenizer", tok,
                        "--timeout", "5", NULL};
        assert_int_equal(run_io(argv, out, err, 30000), 1);
        char *e = slurp(err);
        assert_non_null(strstr(e, "/nonexistent/m.bin"));
        free(e);
    }
    unlink(out);
    unlink(err);
}

/* A session short enough that the dealer queues its whole tape at once:
 * the client, paused (SIGSTOP) for three of the dealer's timeouts, still
 * reads all of it, since the dealer holds the link until the client
 * confirms the END. (Closing at once, its link lingered for one timeout and
 * then dropped what the client had not taken yet.) */
static void test_a_paused_client_still_gets_its_whole_tape(void **state)
{
    world_t *w = *state;
    if (!have_models) skip();
    world_start(w, "30", "2", NULL, 0);
    char out[128], err[128];
    tmp_path(out, sizeof out, "paused.out");
    tmp_path(err, sizeof err, "paused.err");
    const char *extra[] = {"--prompt", "Hi", "--steps", "8", NULL};
    pid_t c = client_start(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], w->timeout, out, err,
                           extra);
    /* the prompt is printed once the dealer's seed is in: its link is up */
    for (double t0 = now_s(); file_size(out) < 2; sleep_ms(5))
        if (now_s() - t0 > 30) fail_msg("the client joined no session in 30 s");
    assert_int_equal(kill(c, SIGSTOP), 0);
    sleep_ms(6000);
    assert_int_equal(kill(c, SIGCONT), 0);
    int rc = launch_wait(c, 120000);
    char *why = slurp(err);
    if (rc != 0) fail_msg("the paused client exited %d: %s", rc, why);
    free(why);
    char *got = slurp(out), *want = generate_text("float", NULL, NULL, "Hi", 8, 60000);
    assert_string_equal(got, want);
    free(got);
    free(want);
    char *log = slurp(w->dealer_log);
    assert_non_null(strstr(log, " ended: "));
    free(log);
    unlink(out);
    unlink(err);
    world_stop(w);
}

/* The dealer dies mid-session: both parties fail with a reason that names
 * the dealer, within their timeouts (after the tape already queued), and
 * the server serves again once a dealer is back on its endpoint. */
static void test_dealer_killed_mid_session_fails_in_bounded_time(void **state)
{
    world_t *w = *state;
    if (!have_models) skip();
    world_start(w, "5", NULL, NULL, 0);
    char out[128], err[128];
    tmp_path(out, sizeof out, "dk.out");
    tmp_path(err, sizeof err, "dk.err");
    const char *prompt = "Once upon a time";
    const char *extra[] = {"--prompt", prompt, "--steps", "300", NULL};
    pid_t c = client_start(w, K_CLIENT, w->dealer_ep, w->pub[K_DEALER], "5", out, err, extra);
    double t0 = now_s();
    while (file_size(out) < (long)strlen(prompt) + 4) {
        if (!alive(c)) fail_msg("the client ended early: %s", slurp(err));
        if (now_s() - t0 > 120) fail_msg("the client printed nothing in 120 s");
        sleep_ms(50);
    }
    assert_int_equal(kill(w->dealer, SIGKILL), 0);
    assert_int_equal(launch_wait(w->dealer, 5000), 128 + SIGKILL);
    w->dealer = 0;
    double tk = now_s();
    int rc = launch_wait(c, 120000);
    double dt = now_s() - tk;
    char *text = slurp(out);
    print_message("the dealer killed: the client failed %.1f s later, after '%s'\n", dt, text);
    free(text);
    assert_int_equal(rc, 1);
    const char *need[] = {"dealer", NULL};
    assert_one_line(err, "mpcllm-client", need);
    /* the tape queued before the kill lasts a few tokens; then at most one
     * timeout (5 s) */
    assert_true(dt < 60);
    assert_true(alive(w->server));
    /* the server's session failed too (for the lost dealer, or for the
     * client that left first), within its timeout */
    char *log = NULL;
    for (double t = now_s();; sleep_ms(100)) {
        free(log);
        log = slurp(w->server_log);
        if (strstr(log, "error: session ") || now_s() - t > 20) break;
    }
    const char *failed = strstr(log, "error: session ");
    if (!failed) fail_msg("the server's session did not fail:\n%s", log);
    print_message("%.*s\n", (int)strcspn(failed, "\n"), failed);
    free(log);
    /* a dealer back on the same endpoint: the server serves again */
    char ep[256];
    snprintf(ep, sizeof ep, "%s", w->dealer_ep);
    dealer_start(w, ep);
    assert_string_equal(w->dealer_ep, ep);
    assert_served(w, "Hi", 8);
    unlink(out);
    unlink(err);
    world_stop(w);
}

/* --- the launcher leaves nothing behind --------------------------------- */

/* The children of pid, from /proc (at most cap). */
static int children_of(pid_t pid, pid_t *out, int cap)
{
    int n = 0;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "ps -o pid= --ppid %d", (int)pid);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int c;
    while (n < cap && fscanf(f, "%d", &c) == 1) out[n++] = (pid_t)c;
    pclose(f);
    return n;
}

/* The launcher's key folder, from a role's --keys DIR/role. */
static void keys_dir_of(pid_t pid, char *out, size_t cap)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    out[0] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (!strcmp(buf + i, "--keys") && i + 7 < n) snprintf(out, cap, "%s", buf + i + 7);
    char *slash = strrchr(out, '/');
    assert_non_null(slash);
    *slash = '\0';
    assert_non_null(strstr(out, "/tmp/mpcllm-"));
}

/* 1 while pid exists and is not a zombie. */
static int running(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static void test_ended_launcher_leaves_no_process_and_no_keys(void **state)
{
    (void)state;
    if (!have_models) skip();
    char exe[1100], out[128], err[128];
    prog_path(exe, sizeof exe, "mpcllm");
    tmp_path(out, sizeof out, "leak.out");
    tmp_path(err, sizeof err, "leak.err");
    char *argv[] = {exe, "generate", "--model", model, "--tokenizer", tok, "--prompt", "Hi",
                    "--steps", "200", NULL};
    pid_t l = spawn_io(argv, out, err);
    assert_true(l > 0);
    /* wait until the client runs: three children */
    pid_t kids[8];
    int n = 0;
    for (double t0 = now_s(); (n = children_of(l, kids, 8)) < 3; sleep_ms(50))
        if (now_s() - t0 > 60) fail_msg("mpcllm generate started %d processes in 60 s", n);
    assert_int_equal(n, 3);
    char keys[128];
    keys_dir_of(kids[0], keys, sizeof keys);
    struct stat st;
    assert_int_equal(stat(keys, &st), 0);
    /* ended as a terminal or a CTest timeout would end it; SIGKILL would
     * leave the keys behind, but not the processes */
    assert_int_equal(kill(l, SIGTERM), 0);
    assert_int_equal(launch_wait(l, 5000), 128 + SIGTERM);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        while (running(kids[i])) {
            if (now_s() - t0 > 30) fail_msg("process %d outlived the launcher by 30 s", kids[i]);
            sleep_ms(50);
        }
    print_message("the launcher's three processes ended %.2f s after it\n", now_s() - t0);
    if (stat(keys, &st) == 0) fail_msg("the launcher left its keys in %s", keys);
    unlink(out);
    unlink(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors_exit_2_with_a_reason_and_help_exits_0),
        cmocka_unit_test(test_unknown_model_fails_clearly),
        cmocka_unit_test_setup_teardown(test_bad_input_fails_clearly_and_the_server_keeps_serving,
                                        world_alloc, world_teardown),
        cmocka_unit_test_setup_teardown(test_a_paused_client_still_gets_its_whole_tape, world_alloc,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_dealer_killed_mid_session_fails_in_bounded_time,
                                        world_alloc, world_teardown),
        cmocka_unit_test(test_ended_launcher_leaves_no_process_and_no_keys),
        cmocka_unit_test_setup_teardown(
            test_concurrent_clients_get_their_own_text_and_a_killed_one_harms_none, world_alloc,
            world_teardown),
        cmocka_unit_test(test_secure_with_test_seed_equals_fixed_on_longer_prompts),
        cmocka_unit_test(test_secure_with_test_seed_equals_fixed_for_128_steps),
        cmocka_unit_test(test_secure_without_test_seed_equals_float_for_64_tokens),
    };
    /* MPCLLM_TEST_FILTER=*replay* runs the matching tests only */
    const char *filter = getenv("MPCLLM_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
