/* mpc/err.h - the error codes every module returns, and the always-on assert.
 *
 * Anything the peer, the network, a file, an allocation or the GPU can cause
 * is reported as one of these codes; the human-readable detail goes to the
 * context's error buffer (mpc_ctx_t.err). Programmer bugs are not errors: they
 * abort through MPC_ASSERT, which stays on in release builds.
 */
#ifndef MPC_ERR_H
#define MPC_ERR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum mpc_err {
    MPC_OK = 0,
    MPC_ENOMEM,     /* an allocation failed */
    MPC_EIO,        /* a file or socket operation failed */
    MPC_EPEER,      /* the peer vanished, timed out, or refused us */
    MPC_EARG,       /* a caller passed an invalid argument */
    MPC_EEXHAUSTED, /* a correlation stream ran out */
    MPC_EDEVICE,    /* the GPU failed */
    MPC_EFORMAT,    /* a frame, file or message was malformed */
} mpc_err_t;

/* A static, never-NULL name for err ("ok", "out of memory", ...). */
const char *mpc_err_str(mpc_err_t err);

/* Always-on assertion for programmer bugs: prints file, line and the failed
 * expression, then aborts. Never use it for conditions a peer or file can
 * cause. */
#define MPC_ASSERT(x)                                                                  \
    do {                                                                               \
        if (!(x)) {                                                                    \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Marks a check that should never fire, but is handled anyway (SQLite's
 * NEVER()). */
#define MPC_NEVER(x) (x)

#if defined(__GNUC__)
#define MPC_WUR __attribute__((warn_unused_result))
#else
#define MPC_WUR
#endif

#endif
