/* net/net_chan.c - the channel: framed messages over one ZMQ_PAIR socket,
 * with sequence numbers, session binding, and the optional link shaping.
 *
 * Each message is one ZeroMQ message, the 56-byte header of net.h followed
 * by the payload. Sequence numbers count the messages of each direction
 * from 0, and a refused frame is dropped without counting, so the channel
 * stays usable when a caller chooses to go on. The session is the base
 * struct's `session`, which the owner sets once both sides agree on it (all
 * zero until then); a frame from another session is refused.
 *
 * Shaping emulates a link on one machine, where there is no netem. The
 * sender keeps the time its direction of the link is free again: a frame
 * starts serialising then (or now, if later), takes (56 + len) * 8 bits at
 * rate_mbit, and the sender sleeps until it is through, so throughput is
 * bounded and a sender feels backpressure as on a real link. The frame
 * carries that time (flags bit NET_FLAG_STAMP, field `reserved`: the low 32
 * bits of CLOCK_MONOTONIC in microseconds, which wraps after 71 minutes), and
 * the receiver holds it until the stamp plus its own delay_ms. CLOCK_MONOTONIC
 * is one clock for all processes of a machine, which is why this models the
 * link only when both ends run on the same machine: on two hosts the clocks
 * differ and the delay is wrong. Both ends should use the same settings: the
 * rate is applied by the sender, the delay by the receiver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "net/net_impl.h"

typedef struct net_chan {
    chan_t base;
    net_sock_t sock;
    uint64_t send_seq, recv_seq;
    double delay_ms, rate_mbit;
    uint64_t link_free_ns; /* when the sending direction is free (shaping) */
    char endpoint[NET_ENDPOINT_BYTES];
} net_chan_t;

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Waits for the frame of `bytes` to pass the rate limit; returns its stamp. */
static uint32_t shape_send(net_chan_t *nc, size_t bytes)
{
    uint64_t now = net_now_ns();
    if (nc->rate_mbit > 0) {
        uint64_t start = now > nc->link_free_ns ? now : nc->link_free_ns;
        nc->link_free_ns = start + (uint64_t)((double)bytes * 8e3 / nc->rate_mbit);
        sleep_until(nc->link_free_ns);
        now = nc->link_free_ns;
    }
    return (uint32_t)(now / 1000u);
}

/* Holds a received frame until its stamp plus the one-way delay. */
static void shape_recv(const net_chan_t *nc, const net_frame_hdr_t *h)
{
    if (nc->delay_ms <= 0) return;
    uint64_t now = net_now_ns();
    uint32_t age_us = (h->flags & NET_FLAG_STAMP) ? (uint32_t)(now / 1000u) - h->stamp : 0;
    uint64_t delay_us = (uint64_t)(nc->delay_ms * 1e3);
    if (age_us < delay_us) sleep_until(now + (delay_us - age_us) * 1000u);
}

static mpc_err_t chan_net_send(chan_t *c, uint32_t tag, uint64_t depth, const void *buf, size_t len)
{
    net_chan_t *nc = (net_chan_t *)c;
    char t[5];
    chan_tag_str(t, tag);
    if (len > NET_MAX_PAYLOAD)
        return net_fail(c->err, MPC_EARG, "a '%s' message of %zu bytes exceeds the %zu-byte limit",
                        t, len, NET_MAX_PAYLOAD);
    net_sock_events(&nc->sock);
    mpc_err_t e = net_sock_check(&nc->sock, c->err);
    if (e) return e;
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, NET_HDR_BYTES + len) != 0)
        return net_fail(c->err, MPC_ENOMEM, "no memory for a '%s' message of %zu bytes", t, len);
    net_frame_hdr_t h = {
        .flags = NET_FLAG_STAMP, .seq = nc->send_seq, .tag = tag, .depth = depth, .len = len};
    memcpy(h.session, c->session, CHAN_SESSION_BYTES);
    h.stamp = shape_send(nc, NET_HDR_BYTES + len);
    uint8_t *p = zmq_msg_data(&m);
    net_frame_put(p, &h);
    if (len) memcpy(p + NET_HDR_BYTES, buf, len);

    char what[40];
    snprintf(what, sizeof what, "sending '%s'", t);
    while (zmq_msg_send(&m, nc->sock.s, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            e = net_sock_wait(&nc->sock, ZMQ_POLLOUT, what, c->err);
        else if (errno != EINTR)
            e = net_fail(c->err, MPC_EIO, "%s failed: %s", what, zmq_strerror(errno));
        if (e) {
            zmq_msg_close(&m);
            return e;
        }
    }
    nc->send_seq++;
    return MPC_OK;
}

static mpc_err_t chan_net_recv(chan_t *c, uint32_t tag, uint64_t *depth, void *buf, size_t cap,
                               size_t *len)
{
    net_chan_t *nc = (net_chan_t *)c;
    char t[5], what[40];
    chan_tag_str(t, tag);
    snprintf(what, sizeof what, "waiting for '%s'", t);
    zmq_msg_t m;
    zmq_msg_init(&m);
    mpc_err_t e = MPC_OK;
    while (zmq_msg_recv(&m, nc->sock.s, ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            e = net_sock_wait(&nc->sock, ZMQ_POLLIN, what, c->err);
        else if (errno != EINTR)
            e = net_fail(c->err, MPC_EIO, "%s failed: %s", what, zmq_strerror(errno));
        if (e) goto out;
    }
    net_frame_hdr_t h;
    const uint8_t *p = zmq_msg_data(&m);
    e = net_frame_check(p, zmq_msg_size(&m), c->session, nc->recv_seq, &h, c->err);
    if (e) goto out;
    if (h.tag != tag) {
        char got[5];
        chan_tag_str(got, h.tag);
        e = net_fail(c->err, MPC_EFORMAT, "wrong tag (got '%s', expected '%s')", got, t);
        goto out;
    }
    if (h.len > cap) {
        e = net_fail(c->err, MPC_EFORMAT,
                     "wrong length: a '%s' message of %zu bytes does not fit %zu bytes", t,
                     (size_t)h.len, cap);
        goto out;
    }
    if (h.len) memcpy(buf, p + NET_HDR_BYTES, h.len);
    if (len) *len = h.len;
    if (depth) *depth = h.depth;
    nc->recv_seq++;
    shape_recv(nc, &h);
out:
    zmq_msg_close(&m);
    return e;
}

static void chan_net_destroy(chan_t *c)
{
    net_chan_t *nc = (net_chan_t *)c;
    net_sock_close(&nc->sock);
    free(nc);
}

static const chan_ops_t net_chan_ops = {
    .send = chan_net_send,
    .recv = chan_net_recv,
    .destroy = chan_net_destroy,
};

static chan_t *chan_open(net_t *n, const char *endpoint, int connecting, const net_opts_t *o,
                         char *err)
{
    if (!n) {
        net_fail(err, MPC_EARG, "no net context");
        return NULL;
    }
    net_chan_t *nc = calloc(1, sizeof *nc);
    if (!nc) {
        net_fail(err, MPC_ENOMEM, "out of memory");
        return NULL;
    }
    nc->base.ops = &net_chan_ops;
    if (net_sock_open(&nc->sock, n, ZMQ_PAIR, connecting, endpoint, o, err) ||
        net_sock_attach(&nc->sock, endpoint, err)) {
        chan_net_destroy(&nc->base);
        return NULL;
    }
    nc->delay_ms = o->delay_ms;
    nc->rate_mbit = o->rate_mbit;
    size_t elen = sizeof nc->endpoint;
    if (connecting || zmq_getsockopt(nc->sock.s, ZMQ_LAST_ENDPOINT, nc->endpoint, &elen) != 0)
        snprintf(nc->endpoint, sizeof nc->endpoint, "%s", endpoint);
    return &nc->base;
}

chan_t *net_chan_bind(net_t *n, const char *endpoint, const net_opts_t *o, char *err)
{
    return chan_open(n, endpoint, 0, o, err);
}

chan_t *net_chan_connect(net_t *n, const char *endpoint, const net_opts_t *o, char *err)
{
    return chan_open(n, endpoint, 1, o, err);
}

const char *net_chan_endpoint(const chan_t *c)
{
    return ((const net_chan_t *)c)->endpoint;
}
