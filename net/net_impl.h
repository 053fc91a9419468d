/* net/net_impl.h - what the files of net/ share and nothing else includes.
 *
 * net.c owns the context and the ZAP handler, net_sock.c wraps one ZeroMQ
 * socket with its monitor (options, CURVE, waiting with a deadline and
 * telling a timeout from a closed peer or a refused handshake), net_frame.c
 * encodes and checks frames, net_chan.c is the channel, net_listen.c the
 * rendezvous, and net_key.c the key files.
 */
#ifndef NET_NET_IMPL_H
#define NET_NET_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "net/net.h"

/* Frame layout (net.h): the fixed header in front of every payload. */
#define NET_FRAME_MAGIC   0x4d504346u /* 'MPCF' */
#define NET_FRAME_VERSION 1u
#define NET_HDR_BYTES     56
/* flags bit 0: `reserved` holds the send time, the low 32 bits of
 * CLOCK_MONOTONIC in microseconds (shaping; see net_chan.c). */
#define NET_FLAG_STAMP 0x0001u

/* The rendezvous tags (net_listen.c). */
#define NET_TAG_HELLO  CHAN_TAG('h', 'e', 'l', 'o')
#define NET_TAG_ASSIGN CHAN_TAG('c', 'h', 'a', 'n')
#define NET_TAG_REFUSE CHAN_TAG('f', 'a', 'i', 'l')
#define NET_TAG_ANSWER CHAN_TAG('a', 'n', 's', 'w')

/* The ZAP domain of a socket that admits one client key: this prefix and
 * the key in Z85 (net.c). */
#define NET_ZAP_KEY_PREFIX "key:"

/* Longest endpoint string kept (the resolved one included). */
#define NET_ENDPOINT_BYTES 256

struct net {
    void *zctx;
    pthread_mutex_t lock; /* guards the fields below */
    int zap_running;      /* the ZAP thread has been started */
    pthread_t zap_thread;
    uint64_t next_id; /* makes inproc monitor names unique */
};

typedef struct net_frame_hdr {
    uint16_t flags;
    uint8_t session[CHAN_SESSION_BYTES];
    uint64_t seq;
    uint32_t tag;
    uint32_t stamp;
    uint64_t depth;
    uint64_t len;
} net_frame_hdr_t;

/* Writes the header h into out[NET_HDR_BYTES]. */
void net_frame_put(uint8_t *out, const net_frame_hdr_t *h);
/* Checks a received frame of n bytes against the channel's session and the
 * expected sequence number, and decodes its header into h. Returns MPC_OK or
 * MPC_EFORMAT with the reason in err. The tag is left to the caller. */
mpc_err_t net_frame_check(const uint8_t *msg, size_t n, const uint8_t session[CHAN_SESSION_BYTES],
                          uint64_t seq, net_frame_hdr_t *h, char *err);

/* One ZeroMQ socket and the PAIR socket reading its monitor. */
typedef struct net_sock {
    void *s;
    void *mon;
    int timeout_ms;  /* per wait; -1 waits forever */
    int connecting;  /* 1 on the connecting side */
    int curve;       /* CURVE is on */
    int inproc;      /* inproc://: no connections, no monitor events */
    unsigned ok;     /* handshakes that succeeded */
    unsigned failed; /* handshakes that failed */
    unsigned disc;   /* connections that ended */
    unsigned accept_failed; /* binding side: connections it could not accept (out of files) */
    int gone;        /* our peer, once connected, went away */
    int refused;     /* connecting side: the server refused the handshake */
    int troubled;    /* some call failed: do not linger on close */
    char refusal[96];
} net_sock_t;

/* Makes a socket of type on n with the options and security of o (the
 * binding or connecting side as `connecting` says) and its monitor. Returns
 * MPC_OK, or an error with the reason in err and k left closed. */
mpc_err_t net_sock_open(net_sock_t *k, net_t *n, int type, int connecting, const char *endpoint,
                        const net_opts_t *o, char *err);
/* Binds or connects k (per k->connecting) to endpoint. */
mpc_err_t net_sock_attach(net_sock_t *k, const char *endpoint, char *err);
/* Closes k, lingering for unsent messages only when the link was healthy. */
void net_sock_close(net_sock_t *k);
/* Reads the monitor events that are waiting, without blocking. */
void net_sock_events(net_sock_t *k);
/* Waits until k->s is ready for `events` (ZMQ_POLLIN or ZMQ_POLLOUT) for up
 * to k->timeout_ms. Messages that arrived before the peer left are still
 * delivered. On failure returns MPC_EPEER (timeout, peer closed, handshake
 * refused) or MPC_EIO, with the reason in err; `what` ends the message, e.g.
 * "waiting for 'mul '". */
mpc_err_t net_sock_wait(net_sock_t *k, short events, const char *what, char *err);
/* MPC_EPEER with the reason in err if the peer is known to be gone or to
 * have refused us; MPC_OK otherwise. */
mpc_err_t net_sock_check(net_sock_t *k, char *err);

/* Checks the options for a socket at endpoint. MPC_EARG with the reason. */
mpc_err_t net_opts_check(const net_opts_t *o, const char *endpoint, int connecting, char *err);
/* Starts the ZAP handler of n once. */
mpc_err_t net_zap_start(net_t *n, char *err);
/* A fresh number, unique within n. */
uint64_t net_next_id(net_t *n);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t net_now_ns(void);
/* Writes the formatted reason into err (which may be NULL) and returns e. */
mpc_err_t net_fail(char *err, mpc_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
