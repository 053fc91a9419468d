/* tests/parties/test_processes.c - the real programs as separate processes on
 * 127.0.0.1 with CurveZMQ: the launcher's demo, two concurrent clients of
 * one server, a client missing from the allow-list, a wrong dealer key, and
 * a replayed dealer session. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"
#include "parties/launch.h"

static char bindir[1024];

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("MPCLLM_BIN");
    snprintf(bindir, sizeof bindir, "%s", b && *b ? b : "bin");
    return 0;
}

static void prog_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", bindir, name);
}

/* Runs argv with stdout and stderr captured to files; returns exit status. */
static int run_capture(char *const argv[], const char *out_path, int timeout_ms)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return launch_wait(pid, timeout_ms);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_launcher_demo_runs_three_processes_and_matches_plaintext(void **state)
{
    (void)state;
    char exe[1100], out[128];
    prog_path(exe, sizeof exe, "mpcllm");
    snprintf(out, sizeof out, "/tmp/mpcllm-test-demo-%d.out", (int)getpid());
    char *argv[] = {exe, "demo", "--d", "256", "--json", "--timeout", "20", NULL};
    assert_int_equal(run_capture(argv, out, 60000), 0);
    char *text = slurp(out);
    assert_non_null(strstr(text, "\"op\":\"matvec\""));
    assert_non_null(strstr(text, "\"rounds\":3"));
    /* 256 words of E, 2 x 256 for the truncation, 256 for the reveal */
    assert_non_null(strstr(text, "\"online_bytes\":8192"));
    unlink(out);
}

typedef struct world {
    char dir[64];
    char bin[3][1100];
    char keydir[4][128], pub[4][160];
    char dealer_ep[256], server_ep[256];
    pid_t dealer, server;
} world_t;

/* keys: dealer/, server/, client/ from launch_keys, plus an outsider. */
static void world_start(world_t *w, int allow_only_client, const char *dealer_seed)
{
    char err[256];
    assert_int_equal(launch_keys(w->dir, err, sizeof err), 0);
    static const char *roles[4] = {"dealer", "server", "client", "outsider"};
    for (int i = 0; i < 4; i++) {
        snprintf(w->keydir[i], sizeof w->keydir[i], "%s/%s", w->dir, roles[i]);
        snprintf(w->pub[i], sizeof w->pub[i], "%s/public.key", w->keydir[i]);
    }
    assert_int_equal(net_keygen(w->keydir[3], err), MPC_OK);
    prog_path(w->bin[0], sizeof w->bin[0], "mpcllm-dealer");
    prog_path(w->bin[1], sizeof w->bin[1], "mpcllm-server");
    prog_path(w->bin[2], sizeof w->bin[2], "mpcllm-client");
    char *dargv[] = {w->bin[0], "--listen", "tcp://127.0.0.1:*", "--keys", w->keydir[0],
                     "--timeout", "10", dealer_seed ? "--test-seed" : NULL, (char *)dealer_seed,
                     NULL};
    w->dealer = launch_ready(dargv, w->dealer_ep, sizeof w->dealer_ep, 10000, err, sizeof err);
    assert_true(w->dealer > 0);
    char allow[160];
    snprintf(allow, sizeof allow, "%s/allow", w->dir);
    mkdir(allow, 0700);
    char link[200];
    snprintf(link, sizeof link, "%s/client.key", allow);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s %s", w->pub[2], link);
    assert_int_equal(system(cmd), 0);
    char *sargv[] = {w->bin[1], "--listen", "tcp://127.0.0.1:*", "--keys", w->keydir[1],
                     "--dealer", w->dealer_ep, "--dealer-key", w->pub[0], "--demo-seed", "42",
                     "--timeout", "10", allow_only_client ? "--allow" : NULL, allow, NULL};
    w->server = launch_ready(sargv, w->server_ep, sizeof w->server_ep, 10000, err, sizeof err);
    assert_true(w->server > 0);
}

static void world_stop(world_t *w)
{
    kill(w->server, SIGTERM);
    kill(w->dealer, SIGTERM);
    assert_int_equal(launch_wait(w->server, 5000), 0);
    assert_int_equal(launch_wait(w->dealer, 5000), 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
}

static pid_t client_start(world_t *w, int who, const char *dealer_key, const char *seed,
                          const char *out)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[] = {w->bin[2], "--server", w->server_ep, "--server-key", w->pub[1],
                        "--dealer", w->dealer_ep, "--dealer-key", (char *)dealer_key, "--keys",
                        w->keydir[who], "--d", "128", "--demo-seed", (char *)seed,
                        "--verify-seed", "42", "--timeout", "3", "--json", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void test_server_serves_concurrent_clients_and_refuses_outsiders(void **state)
{
    (void)state;
    world_t w;
    world_start(&w, 1, NULL);
    char out[4][96];
    pid_t c[4];
    for (int i = 0; i < 4; i++)
        snprintf(out[i], sizeof out[i], "/tmp/mpcllm-test-client-%d-%d.out", (int)getpid(), i);
    /* two good clients at once, each with its own secret vector */
    c[0] = client_start(&w, 2, w.pub[0], "1", out[0]);
    c[1] = client_start(&w, 2, w.pub[0], "2", out[1]);
    /* a client whose key is not on the allow-list */
    c[2] = client_start(&w, 3, w.pub[0], "3", out[2]);
    /* a client that pins the wrong dealer key */
    c[3] = client_start(&w, 2, w.pub[3], "4", out[3]);
    int rc[4];
    for (int i = 0; i < 4; i++) rc[i] = launch_wait(c[i], 30000);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
    assert_non_null(strstr(slurp(out[0]), "\"max_abs_err\""));
    assert_int_equal(rc[2], 1);
    char *t2 = slurp(out[2]);
    assert_true(strstr(t2, "CURVE") || strstr(t2, "refused") || strstr(t2, "allow"));
    assert_int_equal(rc[3], 1);
    assert_non_null(strstr(slurp(out[3]), "dealer"));
    /* the server is still up and serves the next client */
    c[0] = client_start(&w, 2, w.pub[0], "5", out[0]);
    assert_int_equal(launch_wait(c[0], 30000), 0);
    for (int i = 0; i < 4; i++) unlink(out[i]);
    world_stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launcher_demo_runs_three_processes_and_matches_plaintext),
        cmocka_unit_test(test_server_serves_concurrent_clients_and_refuses_outsiders),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
