/* tests/parties/partytest.h - what the process tests of parties/ share:
 * finding the programs and the models, a scratch folder, starting programs
 * with their output in files, and dialing a listener from a thread (the two
 * parties of a session dial the dealer at the same time, and the dealer
 * answers neither until both have).
 *
 * A kworld is the real mpcllm-dealer, and optionally mpcllm-server, on
 * 127.0.0.1 with CurveZMQ, with key pairs for the dealer, the server, a
 * client and an outsider, whose options this process can dial with.
 *
 * Header-only (static functions), like tests/llm/llmtest.h: each test file
 * is its own program. */
#ifndef TESTS_PARTIES_PARTYTEST_H
#define TESTS_PARTIES_PARTYTEST_H

#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"
#include "parties/launch.h"
#include "parties/party.h"

/* The programs' folder ($MPCLLM_BIN), the stories260K model and tokenizer
 * (pt_have_models says whether they exist), and this run's scratch folder. */
static char pt_bindir[1024], pt_model[1024], pt_tok[1024], pt_scratch[64];
static int pt_have_models;

/* Group setup: finds the above and makes the scratch folder. */
static int pt_setup(void **state)
{
    (void)state;
    const char *b = getenv("MPCLLM_BIN");
    snprintf(pt_bindir, sizeof pt_bindir, "%s", b && *b ? b : "bin");
    pt_have_models = tu_shared_path("models/stories260K.bin", pt_model, sizeof pt_model) &&
                     tu_shared_path("models/tok512.bin", pt_tok, sizeof pt_tok);
    snprintf(pt_scratch, sizeof pt_scratch, "/tmp/mpcllm-test-XXXXXX");
    return mkdtemp(pt_scratch) ? 0 : -1;
}

/* Group teardown: removes the scratch folder. */
static int pt_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pt_scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static double pt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void pt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void pt_prog(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", pt_bindir, name);
}

/* A file in the scratch folder. */
static void pt_tmp(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%s/%s", pt_scratch, what);
}

/* Starts argv with stdout and stderr to files (NULL: inherited); the child
 * dies with this process. */
static pid_t pt_spawn(char *const argv[], const char *out, const char *err)
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
static int pt_run(char *const argv[], const char *out, const char *err, int timeout_ms)
{
    pid_t pid = pt_spawn(argv, out, err);
    assert_true(pid > 0);
    return launch_wait(pid, timeout_ms);
}

/* A whole file as a string (the caller frees it); "" when missing. */
static char *pt_slurp(const char *path)
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

/* Starts argv via launch_ready with its stderr appended to log; fails the
 * test when it does not come up. */
static pid_t pt_start_logged(char *const argv[], char *ep, size_t cap, const char *log)
{
    fflush(stderr);
    /* the saved stderr must not leak into the child */
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3), fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
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

/* One net_dial on a thread of its own: fill the inputs, pt_dial_start, then
 * pt_dial_join for the channel (NULL, with refusal and err, on failure). */
typedef struct pt_dial {
    net_t *net;
    const char *ep;
    net_opts_t opts;
    const void *hello;
    size_t len;
    chan_t *ch;
    mpc_err_t refusal;
    char err[NET_ERR_BYTES];
    pthread_t th;
} pt_dial_t;

static void *pt_dial_main(void *arg)
{
    pt_dial_t *d = arg;
    d->ch = net_dial(d->net, d->ep, &d->opts, d->hello, d->len, &d->refusal, d->err);
    return NULL;
}

__attribute__((unused)) static void pt_dial_start(pt_dial_t *d)
{
    assert_int_equal(pthread_create(&d->th, NULL, pt_dial_main, d), 0);
}

__attribute__((unused)) static chan_t *pt_dial_join(pt_dial_t *d)
{
    assert_int_equal(pthread_join(d->th, NULL), 0);
    return d->ch;
}

/* --- a world: the real dealer (and server) with keys for every role ------- */

#define HELLO_TAG CHAN_TAG('H', 'E', 'L', 'O')

enum { K_DEALER, K_SERVER, K_CLIENT, K_OUTSIDER, K_COUNT };

typedef struct kworld {
    char dir[64];
    char keydir[K_COUNT][128], pub[K_COUNT][160];
    net_opts_t o[K_COUNT]; /* each party's keys, pinning the dealer */
    uint8_t dealer_key[NET_KEY_BYTES], server_key[NET_KEY_BYTES];
    char dealer_ep[256], server_ep[256], dealer_log[128], server_log[128];
    pid_t dealer, server;
    net_t *net;
} kworld_t;

static int kw_alloc(void **state)
{
    *state = calloc(1, sizeof(kworld_t));
    return *state ? 0 : -1;
}

/* Keys for every role, an outsider among them; the dealer with extra flags
 * (NULL-terminated, may be NULL), and the server when server_extra is not
 * NULL (then with those flags). */
static void kw_start(kworld_t *w, const char *const dealer_extra[],
                     const char *const server_extra[])
{
    char err[256];
    assert_int_equal(launch_keys(w->dir, err, sizeof err), 0);
    static const char *roles[K_COUNT] = {"dealer", "server", "client", "outsider"};
    for (int i = 0; i < K_COUNT; i++) {
        snprintf(w->keydir[i], sizeof w->keydir[i], "%s/%s", w->dir, roles[i]);
        snprintf(w->pub[i], sizeof w->pub[i], "%s/public.key", w->keydir[i]);
    }
    assert_int_equal(net_keygen(w->keydir[K_OUTSIDER], err), MPC_OK);
    assert_int_equal(net_key_load_public(w->pub[K_DEALER], w->dealer_key, err), MPC_OK);
    assert_int_equal(net_key_load_public(w->pub[K_SERVER], w->server_key, err), MPC_OK);
    for (int i = K_SERVER; i < K_COUNT; i++) {
        net_opts_default(&w->o[i]);
        w->o[i].timeout_ms = 8000;
        assert_int_equal(net_key_load(w->keydir[i], w->o[i].public_key, w->o[i].secret_key, err),
                         MPC_OK);
        memcpy(w->o[i].server_key, w->dealer_key, NET_KEY_BYTES);
    }
    snprintf(w->dealer_log, sizeof w->dealer_log, "%s/dealer.log", w->dir);
    snprintf(w->server_log, sizeof w->server_log, "%s/server.log", w->dir);
    char dbin[1100], sbin[1100];
    pt_prog(dbin, sizeof dbin, "mpcllm-dealer");
    pt_prog(sbin, sizeof sbin, "mpcllm-server");
    char *dargv[32] = {dbin,        "--listen", "tcp://127.0.0.1:*", "--keys", w->keydir[K_DEALER],
                       "--timeout", "5",        "--verbose"};
    int n = 8;
    for (int i = 0; dealer_extra && dealer_extra[i]; i++)
        dargv[n++] = (char *)dealer_extra[i];
    dargv[n] = NULL;
    w->dealer = pt_start_logged(dargv, w->dealer_ep, sizeof w->dealer_ep, w->dealer_log);
    if (server_extra) {
        char *sargv[32] = {
            sbin,       "--listen",   "tcp://127.0.0.1:*", "--keys",         w->keydir[K_SERVER],
            "--dealer", w->dealer_ep, "--dealer-key",      w->pub[K_DEALER], "--demo-seed",
            "5",        "--verbose"};
        n = 12;
        for (int i = 0; server_extra[i]; i++)
            sargv[n++] = (char *)server_extra[i];
        sargv[n] = NULL;
        w->server = pt_start_logged(sargv, w->server_ep, sizeof w->server_ep, w->server_log);
    }
    w->net = net_new();
    assert_non_null(w->net);
}

static void kw_remove(kworld_t *w)
{
    if (!w->dir[0]) return;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", w->dir);
    w->dir[0] = '\0';
}

/* Both processes must end with 0 on SIGTERM. */
static void kw_stop(kworld_t *w)
{
    net_free(&w->net);
    int rc[2] = {0, 0};
    pid_t *p[2] = {&w->server, &w->dealer};
    for (int i = 0; i < 2; i++)
        if (*p[i] > 0) {
            kill(*p[i], SIGTERM);
            rc[i] = launch_wait(*p[i], 20000);
            *p[i] = 0;
        }
    for (int i = 0; i < K_COUNT; i++)
        net_opts_wipe(&w->o[i]);
    kw_remove(w);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
}

/* After a failure: the logs, then everything ended without asserting. */
static int kw_teardown(void **state)
{
    kworld_t *w = *state;
    if (!w) return 0;
    if (w->dir[0]) {
        char *d = pt_slurp(w->dealer_log), *s = pt_slurp(w->server_log);
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
    net_free(&w->net);
    kw_remove(w);
    free(w);
    *state = NULL;
    return 0;
}

/* Asserts that the file log holds needle. */
__attribute__((unused)) static void pt_assert_in(const char *log, const char *needle)
{
    char *s = pt_slurp(log);
    if (!strstr(s, needle)) fail_msg("'%s' is not in %s:\n%s", needle, log, s);
    free(s);
}

#endif
