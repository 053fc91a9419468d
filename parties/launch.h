/* parties/launch.h - starting the three roles as separate processes on this
 * machine (the one-command demo). Nothing is private between roles started
 * this way: one user runs them all (DESIGN.md §2). */
#ifndef PARTIES_LAUNCH_H
#define PARTIES_LAUNCH_H

#include <sys/types.h>

/* A temporary directory with fresh key pairs in dealer/, server/ and
 * client/. Returns 0, or -1 with the reason in err. Until launch_keys_remove,
 * SIGINT, SIGTERM or SIGHUP remove them before ending the process. */
int launch_keys(char dir[64], char *err, size_t cap);
/* Removes what launch_keys made. */
void launch_keys_remove(const char *dir);

/* The path of a sibling program (same directory as this executable). */
void launch_sibling(char *out, size_t cap, const char *name);

/* Starts argv[0] (as launch_spawn) with "--ready-fd N" appended and waits up
 * to timeout_ms for the endpoint it reports. Returns the pid, or -1 with err
 * set. */
pid_t launch_ready(char *const argv[], char *endpoint, size_t cap, int timeout_ms, char *err,
                   size_t errcap);
/* Starts argv[0] and returns its pid (-1 on failure). The child gets SIGKILL
 * when the calling thread ends (Linux PR_SET_PDEATHSIG), so that no role
 * outlives a launcher that was killed. */
pid_t launch_spawn(char *const argv[]);
/* Waits up to timeout_ms for pid to exit; then terminates it. Returns its
 * exit status (128 + signal when it was killed). */
int launch_wait(pid_t pid, int timeout_ms);

#endif
