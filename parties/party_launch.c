/* parties/party_launch.c - process launching for the one-machine demo. */
#include "parties/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

static const char *roles[3] = {"dealer", "server", "client"};

/* The paths launch_keys made, files before their folders, for a launcher
 * ended by a signal: it must not leave secret keys behind in /tmp. The
 * handler only unlinks and removes folders (async-signal-safe). One set
 * per process, the latest. */
static char made[10][96];
static volatile sig_atomic_t n_made;

static void remove_made(int sig)
{
    for (int i = 0; i < n_made; i++)
        if (unlink(made[i]) != 0) rmdir(made[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void remove_on_signal(const char *dir)
{
    int n = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(made[n++], sizeof made[0], "%s/%s/public.key", dir, roles[i]);
        snprintf(made[n++], sizeof made[0], "%s/%s/secret.key", dir, roles[i]);
        snprintf(made[n++], sizeof made[0], "%s/%s", dir, roles[i]);
    }
    snprintf(made[n++], sizeof made[0], "%s", dir);
    n_made = n;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_made;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int launch_keys(char dir[64], char *err, size_t cap)
{
    snprintf(dir, 64, "/tmp/mpcllm-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(err, cap, "cannot make a temporary directory: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        char sub[96], e[NET_ERR_BYTES];
        snprintf(sub, sizeof sub, "%s/%s", dir, roles[i]);
        if (net_keygen(sub, e) != MPC_OK) {
            snprintf(err, cap, "keys for the %s: %s", roles[i], e);
            launch_keys_remove(dir);
            return -1;
        }
    }
    remove_on_signal(dir);
    return 0;
}

void launch_keys_remove(const char *dir)
{
    n_made = 0;
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s/public.key", dir, roles[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s/secret.key", dir, roles[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s", dir, roles[i]);
        rmdir(p);
    }
    rmdir(dir);
}

void launch_sibling(char *out, size_t cap, const char *name)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, cap, "%s", name);
        return;
    }
    self[n] = '\0';
    snprintf(out, cap, "%s/%s", dirname(self), name);
}

pid_t launch_spawn(char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A role must not outlive the launcher (killed, or timed out under a
         * test): it would wait for its session, or serve, forever. SIGKILL,
         * not SIGTERM: a role told to stop still waits for its running
         * session, which may wait a whole --timeout for a peer that died
         * with the launcher; an orphaned role holds nothing worth a clean
         * exit (the launcher removes the keys). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        execv(argv[0], argv);
        fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

pid_t launch_ready(char *const argv[], char *endpoint, size_t cap, int timeout_ms, char *err,
                   size_t errcap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errcap, "pipe: %s", strerror(errno));
        return -1;
    }
    int n = 0;
    while (argv[n]) n++;
    char **args = calloc((size_t)n + 3, sizeof *args);
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", fds[1]);
    for (int i = 0; i < n; i++) args[i] = argv[i];
    args[n] = "--ready-fd";
    args[n + 1] = fdbuf;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    pid_t pid = launch_spawn(args);
    free(args);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        snprintf(err, errcap, "cannot fork: %s", strerror(errno));
        return -1;
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    size_t got = 0;
    while (got + 1 < cap) {
        if (poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t r = read(fds[0], endpoint + got, cap - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (memchr(endpoint, '\n', got)) break;
    }
    close(fds[0]);
    endpoint[got] = '\0';
    char *nl = strchr(endpoint, '\n');
    if (!nl) {
        snprintf(err, errcap, "%s did not start (see its message above)", argv[0]);
        launch_wait(pid, 1000);
        return -1;
    }
    *nl = '\0';
    return pid;
}

int launch_wait(pid_t pid, int timeout_ms)
{
    int status = 0;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0) return -1;
        if (waited >= timeout_ms) {
            kill(pid, waited >= timeout_ms + 2000 ? SIGKILL : SIGTERM);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
