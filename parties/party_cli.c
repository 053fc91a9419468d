/* parties/party_cli.c - shared plumbing of the programs. */
#include "parties/cli.h"
#include "parties/party.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", prog);
    exit(CLI_USAGE);
}

void cli_fail(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(CLI_FAIL);
}

uint64_t cli_u64(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10); /* decimal: "010" is ten */
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        cli_usage_error(prog, "%s wants an integer in [%llu, %llu], got '%s'", flag,
                        (unsigned long long)lo, (unsigned long long)hi, s);
    return v;
}

int cli_timeout_ms(const char *prog, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 86400)
        cli_usage_error(prog, "--timeout wants seconds in (0, 86400], got '%s'", s);
    return (int)(v * 1000 + 0.5) > 0 ? (int)(v * 1000 + 0.5) : 1;
}

void cli_test_seed(uint8_t seed[16], const char *s)
{
    MPC_ASSERT(sodium_init() >= 0);
    crypto_generichash(seed, 16, (const unsigned char *)s, strlen(s), NULL, 0);
}

static double parse_ratio(const char *prog, const char *flag, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1)
        cli_usage_error(prog, "--%s wants a number in (0, 1], got '%s'", flag, s);
    return v;
}

int cli_kv_flag(const char *prog, kv_config_t *kv, const char *flag, const char *arg)
{
    char msg[CHAN_ERR_BYTES];
    if (!strcmp(flag, "policy")) {
        if (kv_policy_parse(arg, &kv->policy, msg, sizeof msg)) cli_usage_error(prog, "%s", msg);
    } else if (!strcmp(flag, "budget")) {
        kv->budget = parse_ratio(prog, flag, arg);
    } else if (!strcmp(flag, "static-keep")) {
        kv->static_keep = parse_ratio(prog, flag, arg);
    } else if (!strcmp(flag, "clusters")) {
        unsigned a, b;
        char tail;
        if (sscanf(arg, "%u,%u%c", &a, &b, &tail) != 2 || !a || !b || b > a || a % b ||
            a > 1u << 20)
            cli_usage_error(prog, "--clusters wants A,B with A a multiple of B >= 1, got '%s'",
                            arg);
        kv->cluster_coarse = (int)a;
        kv->cluster_fine = (int)b;
    } else {
        return 0;
    }
    return 1;
}

void cli_kv_usage(const char *prog, const kv_config_t *kv, int secure, int pad_to)
{
    const char *name = kv_policy_name(kv->policy);
    if (kv->policy == KV_MPCACHE && kv->budget > kv->static_keep)
        cli_usage_error(prog, "mpcache needs --budget R <= --static-keep S (got %g > %g)",
                        kv->budget, kv->static_keep);
    if (secure && !party_policy_secure(kv->policy))
        cli_usage_error(prog,
                        "--policy %s does not run in the secure engine yet (full, streaming, "
                        "h2o and mpcache do; --engine fixed or float runs it in the clear)",
                        name);
    if (pad_to && !party_policy_pads(kv->policy))
        cli_usage_error(prog, "--pad-to does not work with --policy %s yet", name);
}

double cli_kv_budget(const kv_config_t *kv)
{
    return kv->policy == KV_FULL ? 1.0 : kv->budget;
}

void cli_load_keys(const char *prog, const char *dir, net_opts_t *o)
{
    char err[NET_ERR_BYTES];
    if (net_key_load(dir, o->public_key, o->secret_key, err) != MPC_OK)
        cli_fail(prog, "keys %s: %s (make them with mpcllm-keygen --out %s)", dir, err, dir);
}

void cli_load_public(const char *prog, const char *file, uint8_t key[NET_KEY_BYTES])
{
    char err[NET_ERR_BYTES];
    if (net_key_load_public(file, key, err) != MPC_OK) cli_fail(prog, "key %s: %s", file, err);
}

void cli_ready(int fd, const char *endpoint)
{
    if (fd < 0) return;
    dprintf(fd, "%s\n", endpoint);
    close(fd);
}

int cli_endpoint_is_loopback(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9)) return 1;
    if (strncmp(ep, "tcp://", 6) != 0) return 0;
    const char *host = ep + 6;
    if (!strncmp(host, "127.", 4) || !strncmp(host, "[::1]:", 6) ||
        !strncmp(host, "localhost:", 10))
        return 1;
    return 0;
}

long cli_raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
    rlim_t want = r.rlim_max == RLIM_INFINITY || r.rlim_max > 65536 ? 65536 : r.rlim_max;
    if (r.rlim_cur < want) {
        r.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) getrlimit(RLIMIT_NOFILE, &r);
    }
    return r.rlim_cur == RLIM_INFINITY ? 65536 : (long)r.rlim_cur;
}

int cli_default_sessions(long fd_limit, int per_session)
{
    long n = (fd_limit - 64) / per_session;
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

volatile int *cli_stop_flag(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &stop_flag;
}
