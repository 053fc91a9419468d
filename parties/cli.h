/* parties/cli.h - what the programs share: exit codes, number parsing,
 * key loading and the ready-pipe handshake with the launcher. */
#ifndef PARTIES_CLI_H
#define PARTIES_CLI_H

#include <stdint.h>

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

/* Loads DIR's key pair into o (or exits with CLI_FAIL). */
void cli_load_keys(const char *prog, const char *dir, net_opts_t *o);
/* Loads a public key file (or exits with CLI_FAIL). */
void cli_load_public(const char *prog, const char *file, uint8_t key[NET_KEY_BYTES]);

/* Writes "endpoint\n" to fd and closes it (the launcher waits for it). */
void cli_ready(int fd, const char *endpoint);

/* Installs SIGINT/SIGTERM handlers that set the returned flag. */
volatile int *cli_stop_flag(void);

#endif
