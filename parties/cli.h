/* parties/cli.h - what the programs share: exit codes, number parsing,
 * key loading and the ready-pipe handshake with the launcher. */
#ifndef PARTIES_CLI_H
#define PARTIES_CLI_H

#include <stdint.h>

#include "mpcache/kv.h"
#include "net/net.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "prog: message" and a hint to stderr, and exits with CLI_USAGE. */
void cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Prints "prog: message" to stderr and exits with CLI_FAIL. */
void cli_fail(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Parses an unsigned integer in [lo, hi] or exits with CLI_USAGE naming flag. */
uint64_t cli_u64(const char *prog, const char *flag, const char *s, uint64_t lo, uint64_t hi);
/* Parses a number of seconds (> 0) and returns milliseconds. */
int cli_timeout_ms(const char *prog, const char *s);
/* A 16-byte test seed from a decimal or hex string (hashed). */
void cli_test_seed(uint8_t seed[16], const char *s);

/* The KV-cache flags of CLI.md (--policy, --budget, --static-keep,
 * --clusters), parsed into kv (kv_config_default first), or exits with
 * CLI_USAGE naming the flag. Call cli_kv_flag for each such option (flag
 * without its dashes, and its argument); it returns 0 when flag is not
 * one of them. */
int cli_kv_flag(const char *prog, kv_config_t *kv, const char *flag, const char *arg);
/* The checks that need no model, once all flags are in: R <= S for
 * mpcache, a policy the secure engine runs (when secure), and no --pad-to
 * with mpcache or h2o. Exits with CLI_USAGE and the reason. */
void cli_kv_usage(const char *prog, const kv_config_t *kv, int secure, int pad_to);
/* The "budget" of the JSON: R, or 1 for the full cache. */
double cli_kv_budget(const kv_config_t *kv);

/* Loads DIR's key pair into o (or exits with CLI_FAIL). */
void cli_load_keys(const char *prog, const char *dir, net_opts_t *o);
/* Loads a public key file (or exits with CLI_FAIL). */
void cli_load_public(const char *prog, const char *file, uint8_t key[NET_KEY_BYTES]);

/* Writes "endpoint\n" to fd and closes it (the launcher waits for it). */
void cli_ready(int fd, const char *endpoint);

/* 1 when endpoint can only be reached from this machine: ipc://, inproc://,
 * or tcp:// on 127.0.0.0/8, [::1] or localhost; else 0 (a wildcard or a
 * routable address). */
int cli_endpoint_is_loopback(const char *endpoint);

/* Raises the soft limit on open files to the hard one (at most 65536) and
 * returns the limit then in force. */
long cli_raise_fd_limit(void);

/* The default bound on concurrent sessions of a server or dealer with
 * fd_limit open files: each session holds about per_session descriptors
 * (its channels, their monitors and connections), and 64 stay for the
 * process itself; at least 1, at most 256. */
int cli_default_sessions(long fd_limit, int per_session);

/* Installs SIGINT/SIGTERM handlers that set the returned flag. */
volatile int *cli_stop_flag(void);

#endif
