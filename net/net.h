/* net/net.h - the ZeroMQ transport behind mpc/'s channel interface.
 *
 * A net_t wraps one ZeroMQ context; every channel and listener is made from
 * it, and inproc:// endpoints only reach within the same net_t. A channel is
 * a ZMQ_PAIR socket carrying framed messages:
 *
 *   magic 'MPCF' u32 | version u16 | flags u16 | session [16] | seq u64 |
 *   tag u32 | reserved u32 | depth u64 | len u64 | payload [len]
 *
 * all little-endian. Flags bit 0 says that `reserved` holds the send time
 * (low 32 bits of CLOCK_MONOTONIC in microseconds), which the shaping mode
 * uses; other flag bits are refused. Sequence numbers count each direction
 * from 0; a refused frame is dropped and does not count. The owner sets
 * chan_t.session once both sides agree on it (zero until then). The
 * receiver checks each frame and refuses, with an
 * error naming what was wrong, a bad magic or version, a length that does
 * not match the message, another session than the channel's, another tag
 * than the one expected, or a sequence number out of order.
 *
 * CurveZMQ is on unless net_opts_t.curve is 0 (the plaintext debug mode;
 * CURVE does not run over inproc://). A connecting side pins the server's
 * public key. Every binding side runs a ZAP handler (net.c), which records
 * the key each client authenticated with, so that a listener can tell the
 * caller who sent a hello (net_request_key). With an allow-list directory
 * the handler admits only the public keys found there; without one, any
 * client that knows the server's key may connect. A channel bound for one
 * client (net_request_accept, or net_opts_t.only_key) admits that client's
 * key and no other, so nobody else can take the channel meant for it.
 *
 * Every blocking call gives up after opts.timeout_ms (-1: never) with
 * MPC_EPEER and a clear reason (timeout, peer disconnected, CURVE handshake
 * refused), never a hang. A peer that closes a tcp:// or ipc:// link is
 * reported at once ("peer closed the connection"), after the messages it
 * sent before; over inproc:// only the timeout notices it. A connecting side
 * whose key the server refuses fails at once; one that pins a wrong server
 * key is only dropped by the server, and fails at the timeout with a reason
 * that names the key. The optional shaping mode adds a one-way delay and a
 * rate limit to every frame sent, to emulate LAN and WAN links on one
 * machine only (it relies on CLOCK_MONOTONIC being shared): the sender
 * applies its rate_mbit, the receiver its delay_ms, so set both ends alike.
 *
 * Channels, like ZeroMQ sockets, may move between threads but must be used
 * by one thread at a time. net_t functions are thread-safe.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/chan.h"
#include "mpc/err.h"

#define NET_KEY_BYTES 32
#define NET_ERR_BYTES CHAN_ERR_BYTES
/* The largest payload a frame may carry (1 GiB); a sender refuses more, and
 * a receiver drops a connection that sends more. */
#define NET_MAX_PAYLOAD ((size_t)1 << 30)
/* The largest hello net_dial sends and a listener reads (64 KiB). */
#define NET_HELLO_MAX ((size_t)1 << 16)

typedef struct net net_t;
typedef struct net_listener net_listener_t;

typedef struct net_opts {
    int curve;                              /* 1 (default): CurveZMQ; 0: plaintext debug */
    uint8_t public_key[NET_KEY_BYTES];      /* own key pair, when curve */
    uint8_t secret_key[NET_KEY_BYTES];
    uint8_t server_key[NET_KEY_BYTES];      /* connecting side: the server's key, pinned */
    const char *allow_dir;                  /* binding side: ZAP allow-list, or NULL */
    const uint8_t *only_key;                /* binding side: admit this CURVE key only
                                               (NET_KEY_BYTES; overrides allow_dir), or NULL */
    int timeout_ms;                         /* per blocking call; default 30000 */
    double delay_ms;                        /* shaping: added one-way delay; 0 = off */
    double rate_mbit;                       /* shaping: rate limit in Mbit/s; 0 = off */
} net_opts_t;

/* Plaintext off, CURVE on, 30 s timeout, no shaping, zero keys. */
void net_opts_default(net_opts_t *o);
/* Zeroes the secret key in o. */
void net_opts_wipe(net_opts_t *o);

/* A new ZeroMQ context. NULL on failure. */
net_t *net_new(void);
/* Terminates the context; every channel and listener must be freed first.
 * Accepts NULL and sets *n to NULL. */
void net_free(net_t **n);

/* A channel bound at endpoint (tcp://127.0.0.1:*, ipc://PATH or
 * inproc://NAME); the resolved endpoint is net_chan_endpoint(). Returns NULL
 * with the reason in err on failure. */
chan_t *net_chan_bind(net_t *n, const char *endpoint, const net_opts_t *o, char *err);
/* A channel connected to endpoint. Connecting is asynchronous in ZeroMQ: a
 * wrong key or an absent peer shows up as an error on the first recv. */
chan_t *net_chan_connect(net_t *n, const char *endpoint, const net_opts_t *o, char *err);
/* The endpoint a bound channel resolved to (the port chosen for ":*"). */
const char *net_chan_endpoint(const chan_t *c);

/* A rendezvous point for many sessions (ZMQ_ROUTER at endpoint). Each
 * client dials it with a hello; the listener hands each well-formed hello to
 * the caller as a request (net_next), which the caller either accepts, with
 * a fresh channel on an ephemeral port of the listener's host that only the
 * request's key may join (same keys and shaping), or refuses with a code and
 * a reason. A request that waits for its answer holds no channel: only the
 * client's own connection to the listener. */
net_listener_t *net_listen(net_t *n, const char *endpoint, const net_opts_t *o, char *err);
void net_listener_free(net_listener_t **l);
const char *net_listener_endpoint(const net_listener_t *l);

/* One client's hello, waiting for an answer. */
typedef struct net_request net_request_t;

/* Waits up to timeout_ms (-1: forever) for a client's hello and returns it
 * in *out (owned by the caller: answer it with net_request_accept or
 * net_request_refuse, or drop it with net_request_free). A malformed or
 * over-long hello is answered with a refusal there and then (its net_dial
 * fails with the reason) and does not end the wait. Returns MPC_OK, or
 * MPC_EPEER with err "timeout" (and *out NULL) when no hello came, or
 * MPC_EIO when the socket failed. */
mpc_err_t net_next(net_listener_t *l, int timeout_ms, net_request_t **out, char *err) MPC_WUR;
/* The hello's bytes and their number; valid until the request is answered. */
const void *net_request_hello(const net_request_t *r, size_t *len);
/* The CURVE public key (NET_KEY_BYTES) the client authenticated with on
 * this connection, or NULL in plaintext mode, where nobody is authenticated. */
const uint8_t *net_request_key(const net_request_t *r);
/* Binds a fresh channel for the request's client, admitting its key only,
 * and answers the client with the channel's endpoint. Frees *r and sets it
 * to NULL, in every case. Returns NULL with the reason in err when this side
 * could not open a channel (the client is then refused). */
chan_t *net_request_accept(net_listener_t *l, net_request_t **r, char *err);
/* Answers the client with a refusal: its net_dial fails with code (an
 * mpc_err_t other than MPC_OK) and "the listener refused us: WHY". Frees *r
 * and sets it to NULL. */
void net_request_refuse(net_listener_t *l, net_request_t **r, mpc_err_t code, const char *why);
/* Answers a query (net_query) with len bytes (at most NET_HELLO_MAX), on
 * the rendezvous itself: no channel is opened. Frees *r and sets it to
 * NULL. */
void net_request_answer(net_listener_t *l, net_request_t **r, const void *buf, size_t len);
/* Frees a request without answering it (the client times out). Accepts
 * NULL and sets *r to NULL. */
void net_request_free(net_request_t **r);

/* net_next, then net_request_accept: the first client's channel and its
 * hello (up to cap bytes; a longer one is refused) in hello and *len, and
 * its authenticated key in peer_key when that is not NULL (zero in
 * plaintext mode). Returns NULL with err set on timeout ("timeout", *len 0)
 * or failure. */
chan_t *net_accept(net_listener_t *l, int timeout_ms, void *hello, size_t cap, size_t *len,
                   uint8_t *peer_key, char *err);

/* The prefix of net_dial's reason when the listener refused the client. */
#define NET_REFUSED "the listener refused us: "
/* Dials a listener with a hello, then connects to the channel it assigns.
 * Returns NULL with the reason in err on failure; *refusal (when not NULL)
 * is then the listener's code if it refused the hello (the reason starts
 * with NET_REFUSED), else MPC_OK. */
chan_t *net_dial(net_t *n, const char *endpoint, const net_opts_t *o, const void *hello, size_t len,
                 mpc_err_t *refusal, char *err);

/* Dials a listener with a question (as a hello) and waits for its one-shot
 * answer (net_request_answer), up to cap bytes into out, its length in
 * *len. Returns MPC_OK; a refusal's code with NET_REFUSED and the reason;
 * MPC_EFORMAT when the listener assigned a channel instead or the answer is
 * longer than cap; or MPC_EPEER/MPC_EIO (timeout, unreachable). */
mpc_err_t net_query(net_t *n, const char *endpoint, const net_opts_t *o, const void *question,
                    size_t qlen, void *out, size_t cap, size_t *len, char *err) MPC_WUR;

/* --- CurveZMQ key files ------------------------------------------------- */

/* Writes DIR/public.key (Z85, mode 0644) and DIR/secret.key (Z85, mode 0600)
 * for a fresh key pair; creates DIR (0700) if missing. Refuses to overwrite
 * existing keys. */
mpc_err_t net_keygen(const char *dir, char *err);
/* Loads the key pair from DIR into pub and sec. A secret key file readable
 * by group or others is refused. The file buffer is zeroed after use. */
mpc_err_t net_key_load(const char *dir, uint8_t pub[NET_KEY_BYTES], uint8_t sec[NET_KEY_BYTES],
                       char *err);
/* A fresh CurveZMQ key pair in memory, for a client that needs no fixed
 * identity (a status query to a listener without an allow-list). */
void net_key_pair(uint8_t pub[NET_KEY_BYTES], uint8_t sec[NET_KEY_BYTES]);
/* Loads one public key from FILE (or from DIR/public.key when FILE is a
 * directory). */
mpc_err_t net_key_load_public(const char *file, uint8_t pub[NET_KEY_BYTES], char *err);

#endif
