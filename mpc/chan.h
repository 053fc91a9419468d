/* mpc/chan.h - the message channel between two processes, as an interface.
 *
 * Protocols talk through a chan_t and never see the transport. net/ builds
 * the ZeroMQ implementation (framing, CurveZMQ, timeouts, shaping); tests may
 * build others. A channel carries whole messages. Each carries an op tag
 * that the receiver states in advance, and the sender's round depth (the
 * Lamport clock of DESIGN.md §4: the receiver's depth becomes the maximum of
 * its own and the message's, so the final depth is the number of message
 * flights on the critical path).
 *
 * An implementation embeds chan_t as its first member and fills `ops`. On
 * failure it returns an error code and writes one line naming what was wrong
 * into `err` (wrong length, wrong session, wrong tag, out of order, timeout).
 */
#ifndef MPC_CHAN_H
#define MPC_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/err.h"

#define CHAN_SESSION_BYTES 16
#define CHAN_ERR_BYTES 256

/* A four-character op tag, e.g. CHAN_TAG('m','u','l',' '). */
#define CHAN_TAG(a, b, c, d)                                                                 \
    ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 | (uint32_t)(uint8_t)(c) << 8 | \
     (uint32_t)(uint8_t)(d))

typedef struct chan chan_t;

typedef struct chan_ops {
    /* Sends len bytes as one message with tag and depth. */
    mpc_err_t (*send)(chan_t *c, uint32_t tag, uint64_t depth, const void *buf, size_t len);
    /* Receives one message of tag into buf (capacity cap): its length goes to
     * *len and its depth to *depth. A message longer than cap, or with another
     * tag, is an MPC_EFORMAT error. */
    mpc_err_t (*recv)(chan_t *c, uint32_t tag, uint64_t *depth, void *buf, size_t cap,
                      size_t *len);
    /* Releases the transport. */
    void (*destroy)(chan_t *c);
} chan_ops_t;

struct chan {
    const chan_ops_t *ops;
    /* Bound into every frame once both sides agree on it; zero before. */
    uint8_t session[CHAN_SESSION_BYTES];
    char err[CHAN_ERR_BYTES];
};

static inline mpc_err_t chan_send(chan_t *c, uint32_t tag, uint64_t depth, const void *buf,
                                  size_t len)
{
    return c->ops->send(c, tag, depth, buf, len);
}

static inline mpc_err_t chan_recv(chan_t *c, uint32_t tag, uint64_t *depth, void *buf,
                                  size_t cap, size_t *len)
{
    return c->ops->recv(c, tag, depth, buf, cap, len);
}

/* Destroys *cp and sets it to NULL; accepts NULL. */
static inline void chan_free(chan_t **cp)
{
    if (cp && *cp) {
        (*cp)->ops->destroy(*cp);
        *cp = NULL;
    }
}

/* Formats a tag as its four characters plus NUL into out[5]. */
void chan_tag_str(char out[5], uint32_t tag);

#endif
