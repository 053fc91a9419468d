/* net/net_sock.c - one ZeroMQ socket with its options, its security, and a
 * monitor that turns the silence of a dead link into a clear reason.
 *
 * ZeroMQ hides connections: a receive on a socket whose peer has gone simply
 * waits. So every socket that carries a session gets a monitor (a PAIR
 * socket on an inproc endpoint), which is polled next to it. The monitor
 * reports handshakes that succeed or fail and connections that end, and the
 * counts tell the cases apart:
 *
 *  - our peer left: a connection ended after a handshake succeeded, and
 *    more connections ended than failed their handshakes (a stranger who
 *    fails the handshake on a bound socket, or a port scan, ends its own
 *    connection and does not count). Messages that arrived before are still
 *    delivered; the next wait fails with "peer closed the connection".
 *  - the server refused us: on the connecting side, a handshake failure that
 *    names authentication or protocol fails the wait at once. A wrong server
 *    key is different: the server cannot decrypt our HELLO and drops the
 *    connection without a word, so the client only sees the connection end
 *    during the handshake, and reports it when the wait times out.
 *  - on the binding side, strangers that fail the handshake never fail the
 *    wait (else anyone could end a session by knocking); the timeout reason
 *    mentions them.
 *
 * inproc:// has no connections to monitor: there a closed peer is noticed
 * only by the timeout.
 *
 * Every socket gets bounded queues (NET_HWM messages each way, so a fast
 * dealer blocks instead of filling memory), a maximum message size, and a
 * linger that lets a healthy link deliver its last messages on close but
 * never holds up net_free for a dead one.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "net/net_impl.h"

/* Queue bound in messages; dealer tapes are 1 MiB messages. */
#define NET_HWM 64
/* How long a wait keeps reading after the peer left, for messages that
 * libzmq had received but not yet handed over. */
#define NET_GRACE_MS 100

#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                       \
     ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_ACCEPT_FAILED)
/* A binding socket drops a connection that has not finished its handshake
 * after this long (libzmq's default is 30 s): an honest peer needs
 * milliseconds, and an idle connection holds a descriptor. */
#define NET_HANDSHAKE_MS 10000

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* The CURVE and ZAP options of a binding (server) or connecting socket. */
static mpc_err_t set_security(void *s, net_t *n, int connecting, const net_opts_t *o, char *err)
{
    if (!o->curve) return MPC_OK;
    int rc;
    if (connecting) {
        rc = zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, o->server_key, NET_KEY_BYTES);
        if (!rc) rc = zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, o->public_key, NET_KEY_BYTES);
        if (!rc) rc = zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, o->secret_key, NET_KEY_BYTES);
    } else {
        rc = setopt_int(s, ZMQ_CURVE_SERVER, 1);
        if (!rc) rc = zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, o->secret_key, NET_KEY_BYTES);
    }
    if (rc)
        return net_fail(err, MPC_EIO, "cannot set the CURVE keys: %s (is libzmq built with CURVE?)",
                        zmq_strerror(errno));
    if (connecting) return MPC_OK;

    /* The handler runs from before this socket exists until net_free, so no
     * handshake can find it missing (libzmq would then admit everyone without
     * a User-Id; ZMQ_ZAP_ENFORCE_DOMAIN, which would close that gap too, is
     * draft API in libzmq 4.3). */
    mpc_err_t e = net_zap_start(n, err);
    if (e) return e;
    /* The domain tells the handler whom this socket admits (net.c). */
    char domain[PATH_MAX];
    if (o->only_key) {
        memcpy(domain, NET_ZAP_KEY_PREFIX, strlen(NET_ZAP_KEY_PREFIX));
        if (!zmq_z85_encode(domain + strlen(NET_ZAP_KEY_PREFIX), o->only_key, NET_KEY_BYTES))
            return net_fail(err, MPC_EARG, "cannot encode the client's key");
    } else if (o->allow_dir) {
        if (!realpath(o->allow_dir, domain))
            return net_fail(err, MPC_EIO, "allow-list %s: %s", o->allow_dir, strerror(errno));
        if (strlen(domain) >= NET_ENDPOINT_BYTES)
            return net_fail(err, MPC_EARG, "allow-list path %s is longer than %d characters",
                            domain, NET_ENDPOINT_BYTES - 1);
    } else {
        return MPC_OK;
    }
    if (zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0)
        return net_fail(err, MPC_EIO, "cannot set the ZAP domain: %s", zmq_strerror(errno));
    return MPC_OK;
}

mpc_err_t net_sock_open(net_sock_t *k, net_t *n, int type, int connecting, const char *endpoint,
                        const net_opts_t *o, char *err)
{
    memset(k, 0, sizeof *k);
    mpc_err_t e = net_opts_check(o, endpoint, connecting, err);
    if (e) return e;
    k->connecting = connecting;
    k->timeout_ms = o->timeout_ms;
    k->curve = o->curve;
    k->inproc = strncmp(endpoint, "inproc://", 9) == 0;
    k->s = zmq_socket(n->zctx, type);
    if (!k->s) return net_fail(err, MPC_EIO, "cannot make a socket: %s", zmq_strerror(errno));
    /* A listener only ever reads hellos; refuse a stranger's giant one. */
    int64_t maxmsg =
        (int64_t)NET_HDR_BYTES + (int64_t)(type == ZMQ_ROUTER ? NET_HELLO_MAX : NET_MAX_PAYLOAD);
    if (setopt_int(k->s, ZMQ_LINGER, 0) || setopt_int(k->s, ZMQ_SNDHWM, NET_HWM) ||
        (!connecting && setopt_int(k->s, ZMQ_HANDSHAKE_IVL, NET_HANDSHAKE_MS)) ||
        setopt_int(k->s, ZMQ_RCVHWM, NET_HWM) ||
        zmq_setsockopt(k->s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)) {
        e = net_fail(err, MPC_EIO, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    e = set_security(k->s, n, connecting, o, err);
    if (e) goto fail;

    char name[64];
    snprintf(name, sizeof name, "inproc://mpcllm-monitor.%llu", (unsigned long long)net_next_id(n));
    if (zmq_socket_monitor(k->s, name, MONITOR_EVENTS) != 0 ||
        !(k->mon = zmq_socket(n->zctx, ZMQ_PAIR)) || setopt_int(k->mon, ZMQ_LINGER, 0) ||
        zmq_connect(k->mon, name) != 0) {
        e = net_fail(err, MPC_EIO, "cannot monitor the socket: %s", zmq_strerror(errno));
        goto fail;
    }
    return MPC_OK;
fail:
    net_sock_close(k);
    return e;
}

mpc_err_t net_sock_attach(net_sock_t *k, const char *endpoint, char *err)
{
    if (k->connecting) {
        if (zmq_connect(k->s, endpoint) != 0)
            return net_fail(err, MPC_EIO, "cannot connect to %s: %s", endpoint,
                            zmq_strerror(errno));
    } else if (zmq_bind(k->s, endpoint) != 0) {
        return net_fail(err, MPC_EIO, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
    }
    return MPC_OK;
}

void net_sock_close(net_sock_t *k)
{
    if (k->s) {
        /* A healthy link gets its queued messages out; a broken one must not
         * hold zmq_ctx_term (net_free) for a peer that will never read. */
        net_sock_events(k);
        int healthy = !k->troubled && !k->gone && !k->refused;
        int linger = k->timeout_ms > 0 ? k->timeout_ms : 30000;
        setopt_int(k->s, ZMQ_LINGER, healthy ? linger : 0);
        if (k->mon) zmq_socket_monitor(k->s, NULL, 0);
        zmq_close(k->s);
    }
    if (k->mon) zmq_close(k->mon);
    k->s = k->mon = NULL;
}

static void on_event(net_sock_t *k, unsigned event, unsigned value)
{
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        k->ok++;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        k->failed++;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        k->failed++;
        if (k->connecting && !k->refused) {
            k->refused = 1;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                snprintf(k->refusal, sizeof k->refusal,
                         "the server refused our key (ZAP status %u)", value);
            else
                snprintf(k->refusal, sizeof k->refusal,
                         "protocol error 0x%x; is CURVE on at both ends?", value);
        }
        break;
    case ZMQ_EVENT_ACCEPT_FAILED:
        k->accept_failed++;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        k->disc++;
        if (k->ok > 0 && k->disc > k->failed) k->gone = 1;
        break;
    default:
        break;
    }
}

void net_sock_events(net_sock_t *k)
{
    if (!k->mon) return;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, k->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        /* Frame 1: event (u16) and value (u32), host order; frame 2: the
         * endpoint, which is not needed. */
        if (zmq_msg_size(&m) == 6) {
            uint16_t ev;
            uint32_t val;
            memcpy(&ev, zmq_msg_data(&m), 2);
            memcpy(&val, (const uint8_t *)zmq_msg_data(&m) + 2, 4);
            on_event(k, ev, val);
        }
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, k->mon, ZMQ_DONTWAIT) < 0) break;
        }
        zmq_msg_close(&m);
    }
}

mpc_err_t net_sock_check(net_sock_t *k, char *err)
{
    if (k->gone) {
        k->troubled = 1;
        return net_fail(err, MPC_EPEER, "peer closed the connection");
    }
    if (k->refused) {
        k->troubled = 1;
        return net_fail(err, MPC_EPEER,
                        "CURVE handshake failed: wrong key or not on the "
                        "allow-list (%s)",
                        k->refusal);
    }
    return MPC_OK;
}

/* The timeout reason, with what the monitor suggests about the cause. */
static mpc_err_t timed_out(net_sock_t *k, const char *what, char *err)
{
    char hint[160] = "";
    if (k->connecting && k->ok == 0 && k->failed > 0)
        snprintf(hint, sizeof hint,
                 "; the server dropped %u CURVE handshake%s: the server key may be wrong",
                 k->failed, k->failed == 1 ? "" : "s");
    else if (k->connecting && k->ok == 0 && !k->inproc)
        snprintf(hint, sizeof hint, "; never connected: is the peer up%s?",
                 k->curve ? ", and is the server key right" : "");
    else if (!k->connecting && k->ok == 0 && k->failed > 0)
        snprintf(hint, sizeof hint,
                 "; %u connection%s failed the CURVE handshake: wrong key or not on the "
                 "allow-list",
                 k->failed, k->failed == 1 ? "" : "s");
    k->troubled = 1;
    return net_fail(err, MPC_EPEER, "peer did not answer within %g s (%s%s)",
                    k->timeout_ms / 1000.0, what, hint);
}

mpc_err_t net_sock_wait(net_sock_t *k, short events, const char *what, char *err)
{
    uint64_t deadline = k->timeout_ms < 0 ? 0 : net_now_ns() + (uint64_t)k->timeout_ms * 1000000u;
    for (;;) {
        long wait = -1;
        if (k->timeout_ms >= 0) {
            uint64_t now = net_now_ns();
            wait = now >= deadline ? 0 : (long)((deadline - now + 999999) / 1000000);
        }
        zmq_pollitem_t it[2] = {{k->s, 0, events, 0}, {k->mon, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(it, k->mon ? 2 : 1, wait);
        if (rc < 0) {
            if (errno == EINTR) continue;
            k->troubled = 1;
            return net_fail(err, MPC_EIO, "poll failed: %s", zmq_strerror(errno));
        }
        if (it[0].revents & events) return MPC_OK;
        if (k->mon && (it[1].revents & ZMQ_POLLIN)) net_sock_events(k);
        if (k->gone && (events & ZMQ_POLLIN)) {
            zmq_pollitem_t last = {k->s, 0, events, 0};
            if (zmq_poll(&last, 1, NET_GRACE_MS) > 0) return MPC_OK;
        }
        mpc_err_t e = net_sock_check(k, err);
        if (e) return e;
        if (k->timeout_ms >= 0 && net_now_ns() >= deadline) return timed_out(k, what, err);
    }
}
