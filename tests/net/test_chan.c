/* tests/net/test_chan.c - the net/ channel: round trips over each transport,
 * the receiver's frame checks, peer faults and timeouts, CURVE keys and the
 * ZAP allow-list, and link shaping.
 *
 * Malformed frames are crafted by hand on a raw ZMQ_PAIR socket in a context
 * of the test's own, following the layout documented in net/net.h rather
 * than net/'s encoder, so the wire format itself is under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "net/net.h"

#define TAG_MUL  CHAN_TAG('m', 'u', 'l', ' ')
#define TAG_OPEN CHAN_TAG('o', 'p', 'e', 'n')

typedef struct keypair {
    uint8_t pub[NET_KEY_BYTES], sec[NET_KEY_BYTES];
    char pub_z85[41];
} keypair_t;

static void make_keys(keypair_t *k)
{
    char sec[41];
    assert_int_equal(zmq_curve_keypair(k->pub_z85, sec), 0);
    assert_non_null(zmq_z85_decode(k->pub, k->pub_z85));
    assert_non_null(zmq_z85_decode(k->sec, sec));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static net_opts_t plain_opts(int timeout_ms)
{
    net_opts_t o;
    net_opts_default(&o);
    o.curve = 0;
    o.timeout_ms = timeout_ms;
    return o;
}

static net_opts_t server_opts(const keypair_t *srv, int timeout_ms)
{
    net_opts_t o;
    net_opts_default(&o);
    memcpy(o.public_key, srv->pub, NET_KEY_BYTES);
    memcpy(o.secret_key, srv->sec, NET_KEY_BYTES);
    o.timeout_ms = timeout_ms;
    return o;
}

static net_opts_t client_opts(const keypair_t *cli, const uint8_t server_pub[NET_KEY_BYTES],
                              int timeout_ms)
{
    net_opts_t o = server_opts(cli, timeout_ms);
    memcpy(o.server_key, server_pub, NET_KEY_BYTES);
    return o;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/mpcllm-net-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

/* Removes a flat directory made by make_tmpdir and frees its name. */
static void rm_tree(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", text);
    fclose(f);
}

/* Sends three messages from a to b (one empty, one of 1 MiB) and one back,
 * checking payloads, lengths and depths. */
static void exchange(chan_t *a, chan_t *b)
{
    size_t big = (size_t)1 << 20;
    uint8_t *out = malloc(big), *in = malloc(big);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < big; i++)
        out[i] = (uint8_t)(i * 131 + 7);
    uint64_t depth = 0;
    size_t len = 99;

    assert_int_equal(chan_send(a, TAG_MUL, 1, "hello", 5), MPC_OK);
    assert_int_equal(chan_send(a, TAG_MUL, 2, NULL, 0), MPC_OK);
    assert_int_equal(chan_send(a, TAG_OPEN, 3, out, big), MPC_OK);

    assert_int_equal(chan_recv(b, TAG_MUL, &depth, in, 16, &len), MPC_OK);
    assert_int_equal(len, 5);
    assert_int_equal(depth, 1);
    assert_memory_equal(in, "hello", 5);
    assert_int_equal(chan_recv(b, TAG_MUL, &depth, in, 16, &len), MPC_OK);
    assert_int_equal(len, 0);
    assert_int_equal(depth, 2);
    assert_int_equal(chan_recv(b, TAG_OPEN, &depth, in, big, &len), MPC_OK);
    assert_int_equal(len, big);
    assert_int_equal(depth, 3);
    assert_memory_equal(in, out, big);

    assert_int_equal(chan_send(b, TAG_OPEN, 4, "back", 4), MPC_OK);
    assert_int_equal(chan_recv(a, TAG_OPEN, &depth, in, 16, &len), MPC_OK);
    assert_int_equal(len, 4);
    assert_int_equal(depth, 4);
    assert_memory_equal(in, "back", 4);
    free(out);
    free(in);
}

static void test_net_round_trip_inproc_plaintext(void **state)
{
    (void)state;
    net_t *n = net_new();
    assert_non_null(n);
    char err[NET_ERR_BYTES];
    net_opts_t o = plain_opts(5000);
    chan_t *srv = net_chan_bind(n, "inproc://round-trip", &o, err);
    assert_non_null(srv);
    assert_string_equal(net_chan_endpoint(srv), "inproc://round-trip");
    chan_t *cli = net_chan_connect(n, "inproc://round-trip", &o, err);
    assert_non_null(cli);
    exchange(cli, srv);
    chan_free(&cli);
    chan_free(&srv);
    assert_null(srv);
    net_free(&n);
    assert_null(n);
}

static void test_net_round_trip_tcp_curve(void **state)
{
    (void)state;
    keypair_t sk, ck;
    make_keys(&sk);
    make_keys(&ck);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = server_opts(&sk, 5000), co = client_opts(&ck, sk.pub, 5000);
    chan_t *srv = net_chan_bind(n, "tcp://127.0.0.1:*", &so, err);
    assert_non_null(srv);
    assert_non_null(strstr(net_chan_endpoint(srv), "tcp://127.0.0.1:"));
    assert_null(strstr(net_chan_endpoint(srv), ":*"));
    chan_t *cli = net_chan_connect(n, net_chan_endpoint(srv), &co, err);
    assert_non_null(cli);
    exchange(cli, srv);
    /* A session set on both ends is carried and checked. */
    memset(cli->session, 0xab, CHAN_SESSION_BYTES);
    memset(srv->session, 0xab, CHAN_SESSION_BYTES);
    exchange(srv, cli);
    chan_free(&cli);
    chan_free(&srv);
    net_free(&n);
}

static void test_net_round_trip_ipc_curve(void **state)
{
    (void)state;
    keypair_t sk, ck;
    make_keys(&sk);
    make_keys(&ck);
    char *dir = make_tmpdir();
    char ep[256];
    snprintf(ep, sizeof ep, "ipc://%s/chan", dir);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = server_opts(&sk, 5000), co = client_opts(&ck, sk.pub, 5000);
    chan_t *srv = net_chan_bind(n, ep, &so, err);
    assert_non_null(srv);
    chan_t *cli = net_chan_connect(n, ep, &co, err);
    assert_non_null(cli);
    exchange(cli, srv);
    chan_free(&cli);
    chan_free(&srv);
    net_free(&n);
    rm_tree(dir);
}

static void test_net_refuses_curve_over_inproc(void **state)
{
    (void)state;
    keypair_t sk;
    make_keys(&sk);
    net_t *n = net_new();
    char err[NET_ERR_BYTES] = "";
    net_opts_t so = server_opts(&sk, 1000);
    assert_null(net_chan_bind(n, "inproc://curve", &so, err));
    assert_non_null(strstr(err, "inproc"));
    net_opts_t none;
    net_opts_default(&none);
    assert_null(net_chan_bind(n, "tcp://127.0.0.1:*", &none, err));
    assert_non_null(strstr(err, "secret key"));
    net_free(&n);
}

/* --- malformed frames --------------------------------------------------- */

typedef struct raw {
    net_t *n;
    chan_t *c; /* the channel under test, bound on tcp, plaintext */
    void *zctx, *s;
} raw_t;

static void raw_open(raw_t *r)
{
    char err[NET_ERR_BYTES];
    r->n = net_new();
    net_opts_t o = plain_opts(3000);
    r->c = net_chan_bind(r->n, "tcp://127.0.0.1:*", &o, err);
    assert_non_null(r->c);
    r->zctx = zmq_ctx_new();
    r->s = zmq_socket(r->zctx, ZMQ_PAIR);
    int linger = 1000;
    zmq_setsockopt(r->s, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(r->s, net_chan_endpoint(r->c)), 0);
}

static void raw_close(raw_t *r)
{
    zmq_close(r->s);
    zmq_ctx_term(r->zctx);
    chan_free(&r->c);
    net_free(&r->n);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct raw_frame {
    uint32_t magic;
    uint16_t version;
    uint8_t session[CHAN_SESSION_BYTES];
    uint64_t seq;
    uint32_t tag;
    uint64_t depth;
    uint64_t len_field;
} raw_frame_t;

static raw_frame_t good_frame(uint64_t seq, uint32_t tag, size_t len)
{
    raw_frame_t f = {
        .magic = 0x4d504346u, .version = 1, .seq = seq, .tag = tag, .depth = 1, .len_field = len};
    return f;
}

/* Sends f with payload on the raw socket, cut to total bytes if total is
 * smaller than the whole frame. */
static void raw_send(raw_t *r, const raw_frame_t *f, const void *payload, size_t plen, size_t total)
{
    uint8_t buf[512] = {0};
    assert_true(56 + plen <= sizeof buf);
    put_le(buf + 0, f->magic, 4);
    put_le(buf + 4, f->version, 2);
    memcpy(buf + 8, f->session, CHAN_SESSION_BYTES);
    put_le(buf + 24, f->seq, 8);
    put_le(buf + 32, f->tag, 4);
    put_le(buf + 40, f->depth, 8);
    put_le(buf + 48, f->len_field, 8);
    memcpy(buf + 56, payload, plen);
    size_t n = 56 + plen < total ? 56 + plen : total;
    assert_int_equal(zmq_send(r->s, buf, n, 0), (int)n);
}

static mpc_err_t raw_recv(raw_t *r, uint32_t tag)
{
    uint8_t buf[64];
    uint64_t depth;
    size_t len;
    return chan_recv(r->c, tag, &depth, buf, sizeof buf, &len);
}

static void expect_refusal(raw_t *r, uint32_t tag, const char *reason)
{
    assert_int_equal(raw_recv(r, tag), MPC_EFORMAT);
    if (!strstr(r->c->err, reason)) fail_msg("error '%s' does not say '%s'", r->c->err, reason);
}

static void test_net_rejects_wrong_length(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    raw_frame_t f = good_frame(0, TAG_MUL, 8);
    raw_send(&r, &f, "12345678", 8, 20); /* shorter than the header */
    expect_refusal(&r, TAG_MUL, "wrong length");
    raw_send(&r, &f, "1234", 4, 1000); /* the header says 8, 4 arrive */
    expect_refusal(&r, TAG_MUL, "wrong length");
    f = good_frame(0, TAG_MUL, 100);
    uint8_t big[100] = {0};
    raw_send(&r, &f, big, sizeof big, 1000); /* more than the 64-byte buffer */
    expect_refusal(&r, TAG_MUL, "wrong length");
    raw_close(&r);
}

static void test_net_rejects_wrong_tag(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    raw_frame_t f = good_frame(0, CHAN_TAG('x', 'x', 'x', 'x'), 3);
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, CHAN_TAG('y', 'y', 'y', 'y'), "wrong tag (got 'xxxx', expected 'yyyy')");
    raw_close(&r);
}

static void test_net_rejects_wrong_session(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    memset(r.c->session, 0x5a, CHAN_SESSION_BYTES);
    raw_frame_t f = good_frame(0, TAG_MUL, 3);
    memset(f.session, 0x5a, CHAN_SESSION_BYTES);
    f.session[7] ^= 1;
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, TAG_MUL, "wrong session");
    raw_close(&r);
}

static void test_net_rejects_out_of_order(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    raw_frame_t f = good_frame(1, TAG_MUL, 3);
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, TAG_MUL, "out of order (seq 1, expected 0)");
    raw_close(&r);
}

static void test_net_rejects_bad_magic_and_version(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    raw_frame_t f = good_frame(0, TAG_MUL, 3);
    f.magic = 0x12345678;
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, TAG_MUL, "bad magic");
    f = good_frame(0, TAG_MUL, 3);
    f.version = 9;
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, TAG_MUL, "bad version 9");
    raw_close(&r);
}

static void test_net_refused_frame_leaves_channel_usable(void **state)
{
    (void)state;
    raw_t r;
    raw_open(&r);
    raw_frame_t f = good_frame(5, TAG_MUL, 3);
    raw_send(&r, &f, "abc", 3, 1000);
    expect_refusal(&r, TAG_MUL, "out of order");
    f = good_frame(0, TAG_MUL, 3);
    f.depth = 42;
    raw_send(&r, &f, "xyz", 3, 1000);
    uint8_t buf[8];
    uint64_t depth = 0;
    size_t len = 0;
    assert_int_equal(chan_recv(r.c, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
    assert_int_equal(len, 3);
    assert_int_equal(depth, 42);
    assert_memory_equal(buf, "xyz", 3);
    /* and the next one must carry seq 1 */
    raw_send(&r, &f, "xyz", 3, 1000);
    expect_refusal(&r, TAG_MUL, "out of order (seq 0, expected 1)");
    raw_close(&r);
}

/* --- faults ------------------------------------------------------------- */

static void check_peer_close(net_t *n, chan_t *srv, chan_t *cli)
{
    (void)n;
    uint8_t buf[16];
    uint64_t depth;
    size_t len;
    assert_int_equal(chan_send(cli, TAG_MUL, 1, "one", 3), MPC_OK);
    assert_int_equal(chan_recv(srv, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
    assert_int_equal(chan_send(srv, TAG_MUL, 2, "two", 3), MPC_OK);
    assert_int_equal(chan_recv(cli, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
    /* The client sends its last message and leaves mid-protocol. */
    assert_int_equal(chan_send(cli, TAG_MUL, 3, "end", 3), MPC_OK);
    chan_free(&cli);
    assert_int_equal(chan_recv(srv, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
    assert_memory_equal(buf, "end", 3);
    double t0 = now_s();
    assert_int_equal(chan_recv(srv, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_EPEER);
    assert_string_equal(srv->err, "peer closed the connection");
    assert_true(now_s() - t0 < 3.0); /* well before the 10 s timeout */
    assert_int_equal(chan_send(srv, TAG_MUL, 4, "x", 1), MPC_EPEER);
    assert_string_equal(srv->err, "peer closed the connection");
}

static void test_net_reports_peer_closed_mid_protocol_tcp(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o = plain_opts(10000);
    chan_t *srv = net_chan_bind(n, "tcp://127.0.0.1:*", &o, err);
    chan_t *cli = net_chan_connect(n, net_chan_endpoint(srv), &o, err);
    assert_non_null(cli);
    check_peer_close(n, srv, cli);
    chan_free(&srv);
    net_free(&n);
}

static void test_net_reports_peer_closed_mid_protocol_ipc_curve(void **state)
{
    (void)state;
    keypair_t sk, ck;
    make_keys(&sk);
    make_keys(&ck);
    char *dir = make_tmpdir();
    char ep[256];
    snprintf(ep, sizeof ep, "ipc://%s/chan", dir);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = server_opts(&sk, 10000), co = client_opts(&ck, sk.pub, 10000);
    chan_t *srv = net_chan_bind(n, ep, &so, err);
    chan_t *cli = net_chan_connect(n, ep, &co, err);
    assert_non_null(cli);
    check_peer_close(n, srv, cli);
    chan_free(&srv);
    net_free(&n);
    rm_tree(dir);
}

static void test_net_times_out_on_a_silent_peer(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o = plain_opts(200);
    chan_t *srv = net_chan_bind(n, "inproc://silent", &o, err);
    chan_t *cli = net_chan_connect(n, "inproc://silent", &o, err);
    uint8_t buf[8];
    uint64_t depth;
    size_t len;
    double t0 = now_s();
    assert_int_equal(chan_recv(srv, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_EPEER);
    double dt = now_s() - t0;
    assert_true(dt >= 0.19 && dt < 2.0);
    assert_non_null(strstr(srv->err, "peer did not answer within 0.2 s"));
    assert_non_null(strstr(srv->err, "'mul '"));
    chan_free(&cli);
    chan_free(&srv);
    /* A bound side that never had a peer cannot send: that times out too. */
    srv = net_chan_bind(n, "tcp://127.0.0.1:*", &o, err);
    t0 = now_s();
    assert_int_equal(chan_send(srv, TAG_MUL, 1, "x", 1), MPC_EPEER);
    assert_true(now_s() - t0 < 2.0);
    assert_non_null(strstr(srv->err, "peer did not answer within 0.2 s"));
    chan_free(&srv);
    net_free(&n);
}

static void test_net_wrong_server_key_fails_without_hanging(void **state)
{
    (void)state;
    keypair_t sk, ck, other;
    make_keys(&sk);
    make_keys(&ck);
    make_keys(&other);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = server_opts(&sk, 500), co = client_opts(&ck, other.pub, 500);
    chan_t *srv = net_chan_bind(n, "tcp://127.0.0.1:*", &so, err);
    chan_t *cli = net_chan_connect(n, net_chan_endpoint(srv), &co, err);
    assert_non_null(cli);
    uint8_t buf[8];
    uint64_t depth;
    size_t len;
    double t0 = now_s();
    assert_int_equal(chan_send(cli, TAG_MUL, 1, "x", 1), MPC_OK); /* queued */
    mpc_err_t e = chan_recv(cli, TAG_MUL, &depth, buf, sizeof buf, &len);
    assert_int_equal(e, MPC_EPEER);
    assert_true(now_s() - t0 < 3.0);
    if (!strstr(cli->err, "key")) fail_msg("client error '%s' does not mention the key", cli->err);
    /* The server never got a message and says why at its own timeout. */
    assert_int_equal(chan_recv(srv, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_EPEER);
    if (!strstr(srv->err, "CURVE handshake"))
        fail_msg("server error '%s' does not mention the handshake", srv->err);
    chan_free(&cli);
    chan_free(&srv);
    net_free(&n);
}

static void test_net_allow_list_refuses_unlisted_key_and_admits_listed(void **state)
{
    (void)state;
    keypair_t sk, listed, unlisted;
    make_keys(&sk);
    make_keys(&listed);
    make_keys(&unlisted);
    char *allow = make_tmpdir();
    write_text(allow, "client.key", listed.pub_z85);
    write_text(allow, "notes.txt", "not a key");
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = server_opts(&sk, 5000);
    so.allow_dir = allow;
    chan_t *srv = net_chan_bind(n, "tcp://127.0.0.1:*", &so, err);
    assert_non_null(srv);

    net_opts_t bad = client_opts(&unlisted, sk.pub, 5000);
    chan_t *intruder = net_chan_connect(n, net_chan_endpoint(srv), &bad, err);
    uint8_t buf[8];
    uint64_t depth;
    size_t len;
    assert_int_equal(chan_send(intruder, TAG_MUL, 1, "evil", 4), MPC_OK);
    double t0 = now_s();
    assert_int_equal(chan_recv(intruder, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_EPEER);
    assert_true(now_s() - t0 < 4.0); /* refused at once, not at the timeout */
    if (!strstr(intruder->err, "CURVE handshake failed: wrong key or not on the allow-list"))
        fail_msg("intruder error '%s'", intruder->err);
    chan_free(&intruder);

    net_opts_t good = client_opts(&listed, sk.pub, 5000);
    chan_t *cli = net_chan_connect(n, net_chan_endpoint(srv), &good, err);
    exchange(cli, srv);
    chan_free(&cli);
    chan_free(&srv);
    net_free(&n);
    rm_tree(allow);
}

static void test_net_sockets_without_allow_list_accept_any_key_while_zap_runs(void **state)
{
    (void)state;
    keypair_t sk, listed, anyone;
    make_keys(&sk);
    make_keys(&listed);
    make_keys(&anyone);
    char *allow = make_tmpdir();
    write_text(allow, "client.key", listed.pub_z85);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t guarded = server_opts(&sk, 5000);
    guarded.allow_dir = allow;
    chan_t *g = net_chan_bind(n, "tcp://127.0.0.1:*", &guarded, err); /* starts ZAP */
    assert_non_null(g);

    net_opts_t open_o = server_opts(&sk, 5000);
    chan_t *srv = net_chan_bind(n, "tcp://127.0.0.1:*", &open_o, err);
    net_opts_t co = client_opts(&anyone, sk.pub, 5000);
    chan_t *cli = net_chan_connect(n, net_chan_endpoint(srv), &co, err);
    exchange(cli, srv);
    chan_free(&cli);
    chan_free(&srv);

    net_opts_t po = plain_opts(5000);
    srv = net_chan_bind(n, "tcp://127.0.0.1:*", &po, err);
    cli = net_chan_connect(n, net_chan_endpoint(srv), &po, err);
    exchange(cli, srv);
    chan_free(&cli);
    chan_free(&srv);
    chan_free(&g);
    net_free(&n);
    rm_tree(allow);
}

/* --- shaping ------------------------------------------------------------ */

static void test_net_shaping_adds_the_configured_delay(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o = plain_opts(5000);
    o.delay_ms = 40;
    chan_t *a = net_chan_bind(n, "inproc://delay", &o, err);
    chan_t *b = net_chan_connect(n, "inproc://delay", &o, err);
    uint8_t buf[8];
    uint64_t depth;
    size_t len;
    double t0 = now_s();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chan_send(b, TAG_MUL, 1, "ping", 4), MPC_OK);
        assert_int_equal(chan_recv(a, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
        assert_int_equal(chan_send(a, TAG_MUL, 2, "pong", 4), MPC_OK);
        assert_int_equal(chan_recv(b, TAG_MUL, &depth, buf, sizeof buf, &len), MPC_OK);
    }
    double dt = now_s() - t0;
    if (dt < 6 * 0.040) fail_msg("3 round trips took %.3f s, below 6 x 40 ms", dt);
    chan_free(&b);
    chan_free(&a);
    net_free(&n);
}

static void test_net_shaping_honours_the_rate_limit(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o = plain_opts(5000);
    o.rate_mbit = 80; /* 10 MB/s */
    chan_t *a = net_chan_bind(n, "inproc://rate", &o, err);
    chan_t *b = net_chan_connect(n, "inproc://rate", &o, err);
    size_t chunk = 100000;
    uint8_t *buf = calloc(1, chunk);
    uint64_t depth;
    size_t len;
    double t0 = now_s();
    for (int i = 0; i < 20; i++) {
        assert_int_equal(chan_send(b, TAG_OPEN, 1, buf, chunk), MPC_OK);
        assert_int_equal(chan_recv(a, TAG_OPEN, &depth, buf, chunk, &len), MPC_OK);
    }
    double dt = now_s() - t0;
    /* 2 MB at 10 MB/s is 0.2 s. */
    if (dt < 0.19) fail_msg("2 MB at 80 Mbit/s took only %.3f s", dt);
    free(buf);
    chan_free(&b);
    chan_free(&a);
    net_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_round_trip_inproc_plaintext),
        cmocka_unit_test(test_net_round_trip_tcp_curve),
        cmocka_unit_test(test_net_round_trip_ipc_curve),
        cmocka_unit_test(test_net_refuses_curve_over_inproc),
        cmocka_unit_test(test_net_rejects_wrong_length),
        cmocka_unit_test(test_net_rejects_wrong_tag),
        cmocka_unit_test(test_net_rejects_wrong_session),
        cmocka_unit_test(test_net_rejects_out_of_order),
        cmocka_unit_test(test_net_rejects_bad_magic_and_version),
        cmocka_unit_test(test_net_refused_frame_leaves_channel_usable),
        cmocka_unit_test(test_net_reports_peer_closed_mid_protocol_tcp),
        cmocka_unit_test(test_net_reports_peer_closed_mid_protocol_ipc_curve),
        cmocka_unit_test(test_net_times_out_on_a_silent_peer),
        cmocka_unit_test(test_net_wrong_server_key_fails_without_hanging),
        cmocka_unit_test(test_net_allow_list_refuses_unlisted_key_and_admits_listed),
        cmocka_unit_test(test_net_sockets_without_allow_list_accept_any_key_while_zap_runs),
        cmocka_unit_test(test_net_shaping_adds_the_configured_delay),
        cmocka_unit_test(test_net_shaping_honours_the_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
