/* net/net_listen.c - the rendezvous: one well-known endpoint, a fresh
 * channel per client.
 *
 * The listener is a ZMQ_ROUTER; a client dials it from a ZMQ_DEALER with one
 * frame (tag 'helo', sequence 0, no session) carrying its hello. net_next
 * hands each well-formed hello to the caller as a request, with the key the
 * client authenticated with (the User-Id that net.c's ZAP handler gave its
 * connection). The caller answers: net_request_accept binds a new PAIR
 * channel with the listener's keys, timeout and shaping, whose ZAP domain
 * admits the request's key only, and sends its endpoint (tag 'chan');
 * net_request_refuse sends a reason (tag 'fail', the code in the depth
 * field). The client then connects to that endpoint and drops the DEALER.
 * Binding the channel to the key is what stops a stranger who knows the
 * listener's public key from racing the client to its channel.
 *
 * Fresh endpoints: tcp:// listeners give an ephemeral port on the same
 * interface, and the client joins the port to the host it dialed, because
 * the listener may be bound to a wildcard address it cannot hand out; ipc://
 * listeners give PATH.N next to their own path, inproc:// ones NAME.N.
 *
 * A malformed or over-long hello is answered with 'fail' and never ends a
 * wait: one bad client must not stop a server from accepting others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "net/net_impl.h"

struct net_request {
    zmq_msg_t id; /* the client's ROUTER identity */
    int curve;    /* the key below was authenticated */
    uint8_t key[NET_KEY_BYTES];
    size_t len;
    uint8_t hello[]; /* len bytes */
};

struct net_listener {
    net_t *net;
    net_sock_t sock; /* ZMQ_ROUTER */
    net_opts_t opts; /* for the channels it binds; allow_dir points to allow */
    char *allow;
    char endpoint[NET_ENDPOINT_BYTES];
    uint64_t accepted; /* numbers fresh ipc and inproc endpoints */
    unsigned failed_seen;  /* sock.accept_failed when last looked at */
    uint64_t paused_until; /* CLOCK_MONOTONIC ns; 0 while bound */
};

/* How long the listener stays unbound after it ran out of descriptors. */
#define NET_PAUSE_MS 1000

static const uint8_t no_session[CHAN_SESSION_BYTES];

/* A rendezvous frame (tag, sequence 0, no session, code in the depth field)
 * holding len bytes, sent on s, after an identity frame when id is not NULL. */
static int send_frame(void *s, zmq_msg_t *id, uint32_t tag, uint64_t code, const void *buf,
                      size_t len, int flags)
{
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, NET_HDR_BYTES + len) != 0) return -1;
    net_frame_hdr_t h = {.tag = tag, .depth = code, .len = len};
    uint8_t *p = zmq_msg_data(&m);
    net_frame_put(p, &h);
    if (len) memcpy(p + NET_HDR_BYTES, buf, len);
    if (id && zmq_send(s, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | flags) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    if (zmq_msg_send(&m, s, flags) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    return 0;
}

/* Answers one client with 'fail'. A client that is gone, or whose queue is
 * full, misses the answer and times out on its own. */
static void refuse(net_listener_t *l, zmq_msg_t *id, mpc_err_t code, const char *why)
{
    send_frame(l->sock.s, id, NET_TAG_REFUSE, (uint64_t)code, why, strlen(why), ZMQ_DONTWAIT);
}

net_listener_t *net_listen(net_t *n, const char *endpoint, const net_opts_t *o, char *err)
{
    if (!n || !o) {
        net_fail(err, MPC_EARG, "no net context or no options");
        return NULL;
    }
    net_listener_t *l = calloc(1, sizeof *l);
    if (!l) {
        net_fail(err, MPC_ENOMEM, "out of memory");
        return NULL;
    }
    l->net = n;
    l->opts = *o;
    l->opts.allow_dir = NULL;
    l->opts.only_key = NULL;
    if (o->allow_dir && !(l->allow = strdup(o->allow_dir))) {
        net_fail(err, MPC_ENOMEM, "out of memory");
        net_listener_free(&l);
        return NULL;
    }
    l->opts.allow_dir = l->allow;
    size_t elen = sizeof l->endpoint;
    if (net_sock_open(&l->sock, n, ZMQ_ROUTER, 0, endpoint, &l->opts, err) ||
        net_sock_attach(&l->sock, endpoint, err) ||
        zmq_getsockopt(l->sock.s, ZMQ_LAST_ENDPOINT, l->endpoint, &elen) != 0) {
        net_listener_free(&l);
        return NULL;
    }
    return l;
}

void net_listener_free(net_listener_t **lp)
{
    if (!lp || !*lp) return;
    net_listener_t *l = *lp;
    net_sock_close(&l->sock);
    net_opts_wipe(&l->opts);
    free(l->allow);
    free(l);
    *lp = NULL;
}

const char *net_listener_endpoint(const net_listener_t *l)
{
    return l->endpoint;
}

/* The endpoint to bind the next client's channel at (see the top).
 * Returns 0, or -1 when it would be too long. */
static int fresh_endpoint(net_listener_t *l, char out[NET_ENDPOINT_BYTES])
{
    int w;
    if (strncmp(l->endpoint, "tcp://", 6) == 0) {
        int host = (int)(strrchr(l->endpoint, ':') - l->endpoint);
        w = snprintf(out, NET_ENDPOINT_BYTES, "%.*s:*", host, l->endpoint);
    } else {
        w = snprintf(out, NET_ENDPOINT_BYTES, "%s.%llu", l->endpoint,
                     (unsigned long long)++l->accepted);
    }
    return w > 0 && w < NET_ENDPOINT_BYTES ? 0 : -1;
}

/* Receives one request: its identity into id and its body into body.
 * Returns 0, or -1 when the request had another shape (dropped). */
static int recv_request(void *s, zmq_msg_t *id, zmq_msg_t *body)
{
    int frames = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (frames == 0) zmq_msg_move(id, &m);
        if (frames == 1) zmq_msg_move(body, &m);
        zmq_msg_close(&m);
        frames++;
    }
    return frames == 2 ? 0 : -1;
}

/* The key a CURVE client authenticated with, from the User-Id that the ZAP
 * handler gave its connection. Returns 0, or -1 when there is none. */
static int authenticated_key(zmq_msg_t *body, uint8_t key[NET_KEY_BYTES])
{
    const char *user = zmq_msg_gets(body, "User-Id");
    return user && strlen(user) == 40 && zmq_z85_decode(key, user) ? 0 : -1;
}

/* Turns one waiting message into a request. Returns 1 with it in *out, or 0
 * when the message was refused or dropped (or there was no memory for it:
 * the client then times out). */
static int take_request(net_listener_t *l, net_request_t **out)
{
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    int rc = 0;
    net_frame_hdr_t h;
    char why[NET_ERR_BYTES];
    uint8_t key[NET_KEY_BYTES] = {0};
    if (recv_request(l->sock.s, &id, &body) != 0) {
        /* not a dialer: nobody to answer */
    } else if (net_frame_check(zmq_msg_data(&body), zmq_msg_size(&body), no_session, 0, &h, why) !=
               MPC_OK) {
        refuse(l, &id, MPC_EFORMAT, why);
    } else if (h.tag != NET_TAG_HELLO) {
        refuse(l, &id, MPC_EFORMAT, "expected a hello");
    } else if (l->opts.curve && authenticated_key(&body, key) != 0) {
        /* every CURVE connection passed the ZAP handler, which names its key:
         * without one, fail closed */
        refuse(l, &id, MPC_EPEER, "the listener could not tell which key this connection has");
    } else {
        net_request_t *r = malloc(sizeof *r + h.len);
        if (r) {
            zmq_msg_init(&r->id);
            zmq_msg_move(&r->id, &id);
            r->curve = l->opts.curve;
            memcpy(r->key, key, sizeof key);
            r->len = h.len;
            if (h.len)
                memcpy(r->hello, (const uint8_t *)zmq_msg_data(&body) + NET_HDR_BYTES, h.len);
            *out = r;
            rc = 1;
        }
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
    return rc;
}

/* Out of descriptors, libzmq's listener cannot accept the connections that
 * wait, while epoll keeps reporting them: its I/O thread would spin at full
 * speed, waking this thread too, until a descriptor came free. So once the
 * monitor reports a failed accept, the listener unbinds for NET_PAUSE_MS
 * (connections already made stay, and dialers retry on their own), then
 * binds again, and pauses again if it must. */
static void pause_when_out_of_files(net_listener_t *l)
{
    uint64_t now = net_now_ns();
    if (l->paused_until) {
        if (now < l->paused_until) return;
        if (zmq_bind(l->sock.s, l->endpoint) == 0) {
            l->paused_until = 0;
            l->failed_seen = l->sock.accept_failed;
        } else {
            l->paused_until = now + (uint64_t)NET_PAUSE_MS * 1000000u;
        }
    } else if (l->sock.accept_failed != l->failed_seen) {
        l->failed_seen = l->sock.accept_failed;
        if (zmq_unbind(l->sock.s, l->endpoint) == 0)
            l->paused_until = now + (uint64_t)NET_PAUSE_MS * 1000000u;
    }
}

mpc_err_t net_next(net_listener_t *l, int timeout_ms, net_request_t **out, char *err)
{
    *out = NULL;
    uint64_t deadline = timeout_ms < 0 ? 0 : net_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        long wait = -1;
        if (timeout_ms >= 0) {
            uint64_t now = net_now_ns();
            wait = now >= deadline ? 0 : (long)((deadline - now + 999999) / 1000000);
        }
        /* the monitor too: a failed accept must pause the listener at once */
        zmq_pollitem_t it[2] = {{l->sock.s, 0, ZMQ_POLLIN, 0}, {l->sock.mon, 0, ZMQ_POLLIN, 0}};
        if (l->paused_until && (wait < 0 || wait > 100)) wait = 100;
        int rc = zmq_poll(it, l->sock.mon ? 2 : 1, wait);
        int poll_errno = errno;    /* the monitor's reads below set errno */
        net_sock_events(&l->sock); /* only drained: clients come and go */
        pause_when_out_of_files(l);
        if (rc < 0 && poll_errno != EINTR)
            return net_fail(err, MPC_EIO, "poll failed: %s", zmq_strerror(poll_errno));
        if (rc > 0 && (it[0].revents & ZMQ_POLLIN) && take_request(l, out)) return MPC_OK;
        if (timeout_ms >= 0 && net_now_ns() >= deadline) return net_fail(err, MPC_EPEER, "timeout");
    }
}

const void *net_request_hello(const net_request_t *r, size_t *len)
{
    *len = r->len;
    return r->hello;
}

const uint8_t *net_request_key(const net_request_t *r)
{
    return r->curve ? r->key : NULL;
}

void net_request_free(net_request_t **rp)
{
    if (!rp || !*rp) return;
    net_request_t *r = *rp;
    zmq_msg_close(&r->id);
    sodium_memzero(r->hello, r->len);
    free(r);
    *rp = NULL;
}

void net_request_refuse(net_listener_t *l, net_request_t **rp, mpc_err_t code, const char *why)
{
    if (!rp || !*rp) return;
    refuse(l, &(*rp)->id, code == MPC_OK ? MPC_EPEER : code, why);
    net_request_free(rp);
}

void net_request_answer(net_listener_t *l, net_request_t **rp, const void *buf, size_t len)
{
    if (!rp || !*rp) return;
    if (len > NET_HELLO_MAX) len = NET_HELLO_MAX;
    send_frame(l->sock.s, &(*rp)->id, NET_TAG_ANSWER, 0, buf, len, ZMQ_DONTWAIT);
    net_request_free(rp);
}

chan_t *net_request_accept(net_listener_t *l, net_request_t **rp, char *err)
{
    net_request_t *r = *rp;
    net_opts_t o = l->opts;
    o.only_key = r->curve ? r->key : NULL;
    char ep[NET_ENDPOINT_BYTES];
    chan_t *c = NULL;
    if (fresh_endpoint(l, ep) != 0)
        net_fail(err, MPC_EARG, "the channel endpoint for %s is too long", l->endpoint);
    else
        c = net_chan_bind(l->net, ep, &o, err);
    if (!c) {
        net_request_refuse(l, rp, MPC_EIO, "the listener could not open a channel");
        return NULL;
    }
    const char *bound = net_chan_endpoint(c);
    send_frame(l->sock.s, &r->id, NET_TAG_ASSIGN, 0, bound, strlen(bound), ZMQ_DONTWAIT);
    net_request_free(rp);
    return c;
}

chan_t *net_accept(net_listener_t *l, int timeout_ms, void *hello, size_t cap, size_t *len,
                   uint8_t *peer_key, char *err)
{
    if (len) *len = 0;
    uint64_t deadline = timeout_ms < 0 ? 0 : net_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int left = -1;
        if (timeout_ms >= 0) {
            uint64_t now = net_now_ns();
            left = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
        }
        net_request_t *r;
        if (net_next(l, left, &r, err) != MPC_OK) return NULL;
        size_t n;
        const void *p = net_request_hello(r, &n);
        if (n > cap) {
            char why[NET_ERR_BYTES];
            snprintf(why, sizeof why, "a hello of %zu bytes is longer than the %zu accepted", n,
                     cap);
            net_request_refuse(l, &r, MPC_EFORMAT, why);
            continue;
        }
        if (n) memcpy(hello, p, n);
        if (len) *len = n;
        if (peer_key) {
            const uint8_t *k = net_request_key(r);
            if (k)
                memcpy(peer_key, k, NET_KEY_BYTES);
            else
                memset(peer_key, 0, NET_KEY_BYTES);
        }
        return net_request_accept(l, &r, err);
    }
}

/* The endpoint of the assigned channel: for tcp://, the port the listener
 * gave joined to the host we dialed. Returns 0, or -1 when the answer does
 * not fit the transport we dialed. */
static int assigned_endpoint(const char *dialed, const char *given, char out[NET_ENDPOINT_BYTES])
{
    size_t scheme = (size_t)(strstr(dialed, "://") - dialed) + 3;
    if (strncmp(given, dialed, scheme) != 0) return -1;
    if (strncmp(dialed, "tcp://", 6) != 0) {
        snprintf(out, NET_ENDPOINT_BYTES, "%s", given);
        return 0;
    }
    const char *port = strrchr(given, ':');
    const char *host_end = strrchr(dialed, ':');
    if (!port || !host_end || port < given + scheme || host_end < dialed + scheme) return -1;
    int w = snprintf(out, NET_ENDPOINT_BYTES, "%.*s%s", (int)(host_end - dialed), dialed, port);
    return w > 0 && w < NET_ENDPOINT_BYTES ? 0 : -1;
}

/* Sends one hello to the listener at endpoint from a fresh DEALER and reads
 * its one answer frame into *m (initialised here; the caller closes it),
 * its checked header into *h. A refusal becomes its code, with the reason
 * in err, and in *refusal when that is not NULL. */
static mpc_err_t rendezvous(net_t *n, const char *endpoint, const net_opts_t *o, const void *hello,
                            size_t len, zmq_msg_t *m, net_frame_hdr_t *h, mpc_err_t *refusal,
                            const char *what, char *err)
{
    zmq_msg_init(m);
    if (refusal) *refusal = MPC_OK;
    if (!n) return net_fail(err, MPC_EARG, "no net context");
    if (len > NET_HELLO_MAX)
        return net_fail(err, MPC_EARG, "a hello of %zu bytes is longer than the %zu allowed", len,
                        (size_t)NET_HELLO_MAX);
    net_sock_t k;
    mpc_err_t e = net_sock_open(&k, n, ZMQ_DEALER, 1, endpoint, o, err);
    if (e) return e;
    e = net_sock_attach(&k, endpoint, err);
    /* A DEALER that connects queues at once: the hello waits for the link. */
    if (!e && send_frame(k.s, NULL, NET_TAG_HELLO, 0, hello, len, ZMQ_DONTWAIT) != 0)
        e = net_fail(err, MPC_EIO, "cannot send the hello: %s", zmq_strerror(errno));
    while (!e && zmq_msg_recv(m, k.s, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            e = net_sock_wait(&k, ZMQ_POLLIN, what, err);
        else if (errno != EINTR)
            e = net_fail(err, MPC_EIO, "cannot receive from the listener: %s", zmq_strerror(errno));
    }
    net_sock_close(&k);
    if (!e) e = net_frame_check(zmq_msg_data(m), zmq_msg_size(m), no_session, 0, h, err);
    if (!e && h->tag == NET_TAG_REFUSE) {
        char why[NET_ENDPOINT_BYTES];
        size_t n_why = h->len < sizeof why ? (size_t)h->len : sizeof why - 1;
        memcpy(why, (const uint8_t *)zmq_msg_data(m) + NET_HDR_BYTES, n_why);
        why[n_why] = '\0';
        /* the listener's code, if it is one of ours */
        e = h->depth > MPC_OK && h->depth <= MPC_EFORMAT ? (mpc_err_t)h->depth : MPC_EPEER;
        if (refusal) *refusal = e;
        net_fail(err, e, NET_REFUSED "%s", why);
    }
    return e;
}

chan_t *net_dial(net_t *n, const char *endpoint, const net_opts_t *o, const void *hello, size_t len,
                 mpc_err_t *refusal, char *err)
{
    zmq_msg_t m;
    net_frame_hdr_t h;
    mpc_err_t e = rendezvous(n, endpoint, o, hello, len, &m, &h, refusal,
                             "waiting for the listener to assign a channel", err);
    char given[NET_ENDPOINT_BYTES], ep[NET_ENDPOINT_BYTES];
    if (!e && h.tag == NET_TAG_ASSIGN && h.len < sizeof given) {
        memcpy(given, (const uint8_t *)zmq_msg_data(&m) + NET_HDR_BYTES, h.len);
        given[h.len] = '\0';
        if (assigned_endpoint(endpoint, given, ep) != 0)
            e = net_fail(err, MPC_EFORMAT, "the listener assigned a bad endpoint '%s'", given);
    } else if (!e) {
        e = net_fail(err, MPC_EFORMAT, "the listener answered with something else");
    }
    zmq_msg_close(&m);
    return e ? NULL : net_chan_connect(n, ep, o, err);
}

mpc_err_t net_query(net_t *n, const char *endpoint, const net_opts_t *o, const void *question,
                    size_t qlen, void *out, size_t cap, size_t *len, char *err)
{
    zmq_msg_t m;
    net_frame_hdr_t h;
    *len = 0;
    mpc_err_t e = rendezvous(n, endpoint, o, question, qlen, &m, &h, NULL,
                             "waiting for the listener's answer", err);
    if (!e && h.tag != NET_TAG_ANSWER)
        e = net_fail(err, MPC_EFORMAT, "the listener answered the query with something else");
    else if (!e && h.len > cap)
        e = net_fail(err, MPC_EFORMAT, "an answer of %zu bytes does not fit %zu", (size_t)h.len,
                     cap);
    if (!e) {
        memcpy(out, (const uint8_t *)zmq_msg_data(&m) + NET_HDR_BYTES, h.len);
        *len = h.len;
    }
    zmq_msg_close(&m);
    return e;
}
