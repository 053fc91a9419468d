/* tests/net/test_listen.c - the rendezvous: net_listen, net_accept, net_dial.
 *
 * Clients run on threads and only record what happened; CMocka asserts on
 * the main thread. Accepted channels are handed to session threads, as the
 * server does, so the tests also cover a channel moving between threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "net/net.h"

#define TAG_PING CHAN_TAG('p', 'i', 'n', 'g')
#define TAG_PONG CHAN_TAG('p', 'o', 'n', 'g')

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

static net_opts_t keyed_opts(const keypair_t *own, const uint8_t *server_pub, int timeout_ms)
{
    net_opts_t o;
    net_opts_default(&o);
    memcpy(o.public_key, own->pub, NET_KEY_BYTES);
    memcpy(o.secret_key, own->sec, NET_KEY_BYTES);
    if (server_pub) memcpy(o.server_key, server_pub, NET_KEY_BYTES);
    o.timeout_ms = timeout_ms;
    return o;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/mpcllm-listen-XXXXXX";
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

/* A client: dials with its name as hello, sends ping, expects the name back
 * in capitals. */
typedef struct client {
    net_t *n;
    const char *endpoint;
    net_opts_t opts;
    const char *name;
    mpc_err_t result;
    mpc_err_t refusal; /* the listener's code when it refused us */
    char reply[32];
    char err[NET_ERR_BYTES];
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    chan_t *ch =
        net_dial(c->n, c->endpoint, &c->opts, c->name, strlen(c->name), &c->refusal, c->err);
    if (!ch) {
        c->result = MPC_EPEER;
        return NULL;
    }
    uint64_t depth;
    size_t len = 0;
    c->result = chan_send(ch, TAG_PING, 1, c->name, strlen(c->name));
    if (!c->result)
        c->result = chan_recv(ch, TAG_PONG, &depth, c->reply, sizeof c->reply - 1, &len);
    c->reply[len] = '\0';
    if (c->result) snprintf(c->err, sizeof c->err, "%s", ch->err);
    chan_free(&ch);
    return NULL;
}

/* A session thread: answers one ping on an accepted channel. */
typedef struct session {
    chan_t *ch;
    mpc_err_t result;
} session_t;

static void *session_main(void *arg)
{
    session_t *s = arg;
    char buf[32];
    uint64_t depth;
    size_t len = 0;
    s->result = chan_recv(s->ch, TAG_PING, &depth, buf, sizeof buf, &len);
    for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] = (char)(buf[i] - 'a' + 'A');
    if (!s->result) s->result = chan_send(s->ch, TAG_PONG, depth + 1, buf, len);
    /* Wait for the client to leave before closing. */
    if (!s->result) chan_recv(s->ch, TAG_PING, &depth, buf, sizeof buf, &len);
    chan_free(&s->ch);
    return NULL;
}

/* Two clients dial l at once; each accepted channel goes to its own
 * session thread. */
static void serve_two(net_t *n, net_listener_t *l, const net_opts_t *co0, const net_opts_t *co1)
{
    client_t c[2] = {{.n = n, .endpoint = net_listener_endpoint(l), .opts = *co0, .name = "alice"},
                     {.n = n, .endpoint = net_listener_endpoint(l), .opts = *co1, .name = "bob"}};
    pthread_t ct[2], st[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&ct[i], NULL, client_main, &c[i]), 0);
    session_t s[2];
    int seen_alice = 0, seen_bob = 0;
    for (int i = 0; i < 2; i++) {
        char hello[16], err[NET_ERR_BYTES];
        size_t len = 0;
        s[i].ch = net_accept(l, 5000, hello, sizeof hello, &len, NULL, err);
        if (!s[i].ch) fail_msg("accept: %s", err);
        seen_alice |= len == 5 && memcmp(hello, "alice", 5) == 0;
        seen_bob |= len == 3 && memcmp(hello, "bob", 3) == 0;
        assert_int_equal(pthread_create(&st[i], NULL, session_main, &s[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(ct[i], NULL);
        pthread_join(st[i], NULL);
    }
    assert_true(seen_alice && seen_bob);
    if (c[0].result) fail_msg("alice: %s", c[0].err);
    if (c[1].result) fail_msg("bob: %s", c[1].err);
    assert_string_equal(c[0].reply, "ALICE");
    assert_string_equal(c[1].reply, "BOB");
    for (int i = 0; i < 2; i++)
        assert_int_equal(s[i].result, MPC_OK);
}

static void test_net_listener_serves_two_concurrent_clients_over_tcp_curve(void **state)
{
    (void)state;
    keypair_t sk, k0, k1;
    make_keys(&sk);
    make_keys(&k0);
    make_keys(&k1);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = keyed_opts(&sk, NULL, 5000);
    net_listener_t *l = net_listen(n, "tcp://127.0.0.1:*", &so, err);
    if (!l) fail_msg("listen: %s", err);
    assert_null(strstr(net_listener_endpoint(l), ":*"));
    net_opts_t co0 = keyed_opts(&k0, sk.pub, 5000), co1 = keyed_opts(&k1, sk.pub, 5000);
    serve_two(n, l, &co0, &co1);
    net_listener_free(&l);
    assert_null(l);
    net_free(&n);
}

static void test_net_listener_on_a_wildcard_address_assigns_a_reachable_port(void **state)
{
    (void)state;
    keypair_t sk, k0;
    make_keys(&sk);
    make_keys(&k0);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = keyed_opts(&sk, NULL, 5000);
    net_listener_t *l = net_listen(n, "tcp://*:*", &so, err);
    if (!l) fail_msg("listen: %s", err);
    /* The client dials 127.0.0.1 and must get a channel there, not on
     * the wildcard address the listener resolved to. */
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1%s", strrchr(net_listener_endpoint(l), ':'));
    net_opts_t co = keyed_opts(&k0, sk.pub, 5000);
    client_t c = {.n = n, .endpoint = ep, .opts = co, .name = "carol"};
    pthread_t ct, st;
    assert_int_equal(pthread_create(&ct, NULL, client_main, &c), 0);
    char hello[16];
    size_t len;
    session_t s = {.ch = net_accept(l, 5000, hello, sizeof hello, &len, NULL, err)};
    if (!s.ch) fail_msg("accept: %s", err);
    assert_int_equal(pthread_create(&st, NULL, session_main, &s), 0);
    pthread_join(ct, NULL);
    pthread_join(st, NULL);
    if (c.result) fail_msg("carol: %s", c.err);
    assert_string_equal(c.reply, "CAROL");
    net_listener_free(&l);
    net_free(&n);
}

static void test_net_listener_serves_two_clients_over_ipc_with_allow_list(void **state)
{
    (void)state;
    keypair_t sk, k0, k1;
    make_keys(&sk);
    make_keys(&k0);
    make_keys(&k1);
    char *dir = make_tmpdir();
    char allow[300], ep[300], path[400];
    snprintf(allow, sizeof allow, "%s", dir);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/client%d.key", dir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s\n", i ? k1.pub_z85 : k0.pub_z85);
        fclose(f);
    }
    snprintf(ep, sizeof ep, "ipc://%s/rendezvous", dir);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = keyed_opts(&sk, NULL, 5000);
    so.allow_dir = allow;
    net_listener_t *l = net_listen(n, ep, &so, err);
    if (!l) fail_msg("listen: %s", err);
    net_opts_t co0 = keyed_opts(&k0, sk.pub, 5000), co1 = keyed_opts(&k1, sk.pub, 5000);
    serve_two(n, l, &co0, &co1);
    net_listener_free(&l);
    net_free(&n);
    rm_tree(dir);
}

static void test_net_listener_refuses_a_client_missing_from_the_allow_list(void **state)
{
    (void)state;
    keypair_t sk, listed, stranger;
    make_keys(&sk);
    make_keys(&listed);
    make_keys(&stranger);
    char *dir = make_tmpdir();
    char path[400];
    snprintf(path, sizeof path, "%s/listed.key", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", listed.pub_z85);
    fclose(f);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = keyed_opts(&sk, NULL, 5000);
    so.allow_dir = dir;
    net_listener_t *l = net_listen(n, "tcp://127.0.0.1:*", &so, err);
    assert_non_null(l);
    net_opts_t co = keyed_opts(&stranger, sk.pub, 5000);
    double t0 = now_s();
    chan_t *ch = net_dial(n, net_listener_endpoint(l), &co, "hi", 2, NULL, err);
    assert_null(ch);
    assert_true(now_s() - t0 < 4.0);
    if (!strstr(err, "CURVE handshake failed: wrong key or not on the allow-list"))
        fail_msg("dial error '%s'", err);
    char hello[8];
    size_t len = 7;
    assert_null(net_accept(l, 100, hello, sizeof hello, &len, NULL, err));
    assert_string_equal(err, "timeout");
    assert_int_equal(len, 0);
    net_listener_free(&l);
    net_free(&n);
    rm_tree(dir);
}

static void test_net_accept_times_out_without_clients(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o;
    net_opts_default(&o);
    o.curve = 0;
    net_listener_t *l = net_listen(n, "inproc://nobody", &o, err);
    assert_non_null(l);
    char hello[8];
    size_t len = 3;
    double t0 = now_s();
    assert_null(net_accept(l, 150, hello, sizeof hello, &len, NULL, err));
    double dt = now_s() - t0;
    assert_true(dt >= 0.14 && dt < 2.0);
    assert_string_equal(err, "timeout");
    assert_int_equal(len, 0);
    net_listener_free(&l);
    net_free(&n);
}

static void test_net_listener_refuses_a_hello_longer_than_the_buffer(void **state)
{
    (void)state;
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t o;
    net_opts_default(&o);
    o.curve = 0;
    o.timeout_ms = 3000;
    net_listener_t *l = net_listen(n, "inproc://picky", &o, err);
    assert_non_null(l);
    client_t c = {.n = n,
                  .endpoint = "inproc://picky",
                  .opts = o,
                  .name = "a-name-far-too-long-for-the-buffer"};
    pthread_t ct;
    assert_int_equal(pthread_create(&ct, NULL, client_main, &c), 0);
    char hello[8];
    size_t len = 0;
    /* The bad hello does not end the accept: it waits on, then times out. */
    assert_null(net_accept(l, 500, hello, sizeof hello, &len, NULL, err));
    assert_string_equal(err, "timeout");
    pthread_join(ct, NULL);
    assert_int_equal(c.result, MPC_EPEER);
    if (!strstr(c.err, "the listener refused us: a hello of 34 bytes"))
        fail_msg("client error '%s'", c.err);
    net_listener_free(&l);
    net_free(&n);
}

/* The listener names the key each hello came with, and the channel it opens
 * for that hello admits that key only: a stranger who knows the server's
 * key and races the client to its channel is refused there, and the client
 * still gets its channel. Refusals carry the caller's code. */
static void test_net_request_names_its_key_and_its_channel_admits_no_other(void **state)
{
    (void)state;
    keypair_t sk, k0, k1;
    make_keys(&sk);
    make_keys(&k0);
    make_keys(&k1);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t so = keyed_opts(&sk, NULL, 5000);
    net_listener_t *l = net_listen(n, "tcp://127.0.0.1:*", &so, err);
    if (!l) fail_msg("listen: %s", err);
    client_t c = {.n = n,
                  .endpoint = net_listener_endpoint(l),
                  .opts = keyed_opts(&k0, sk.pub, 5000),
                  .name = "alice"};
    pthread_t ct, st;
    assert_int_equal(pthread_create(&ct, NULL, client_main, &c), 0);
    net_request_t *r = NULL;
    assert_int_equal(net_next(l, 5000, &r, err), MPC_OK);
    size_t len;
    const char *hello = net_request_hello(r, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(hello, "alice", 5);
    assert_non_null(net_request_key(r));
    assert_memory_equal(net_request_key(r), k0.pub, NET_KEY_BYTES);
    session_t s = {.ch = net_request_accept(l, &r, err)};
    if (!s.ch) fail_msg("accept: %s", err);
    assert_null(r);
    /* the racer, with its own valid key, on the very endpoint */
    net_opts_t ro = keyed_opts(&k1, sk.pub, 3000);
    chan_t *racer = net_chan_connect(n, net_chan_endpoint(s.ch), &ro, err);
    assert_non_null(racer);
    uint64_t depth;
    char buf[8];
    mpc_err_t e = chan_send(racer, TAG_PING, 1, "mallory", 7);
    if (!e) e = chan_recv(racer, TAG_PONG, &depth, buf, sizeof buf, &len);
    print_message("the racer: %s\n", racer->err);
    assert_int_equal(e, MPC_EPEER);
    assert_non_null(strstr(racer->err, "refused our key"));
    chan_free(&racer);
    assert_int_equal(pthread_create(&st, NULL, session_main, &s), 0);
    pthread_join(ct, NULL);
    pthread_join(st, NULL);
    if (c.result) fail_msg("alice: %s", c.err);
    assert_string_equal(c.reply, "ALICE");
    /* a refusal: the dialer gets the code and the reason */
    client_t c2 = {.n = n,
                   .endpoint = net_listener_endpoint(l),
                   .opts = keyed_opts(&k1, sk.pub, 5000),
                   .name = "bob"};
    assert_int_equal(pthread_create(&ct, NULL, client_main, &c2), 0);
    assert_int_equal(net_next(l, 5000, &r, err), MPC_OK);
    assert_memory_equal(net_request_key(r), k1.pub, NET_KEY_BYTES);
    net_request_refuse(l, &r, MPC_EARG, "not today");
    assert_null(r);
    pthread_join(ct, NULL);
    assert_int_equal(c2.result, MPC_EPEER);
    assert_int_equal(c2.refusal, MPC_EARG);
    assert_string_equal(c2.err, NET_REFUSED "not today");
    net_listener_free(&l);
    net_free(&n);
}

static void test_net_dial_times_out_when_nobody_listens(void **state)
{
    (void)state;
    keypair_t sk, k0;
    make_keys(&sk);
    make_keys(&k0);
    net_t *n = net_new();
    char err[NET_ERR_BYTES];
    net_opts_t co = keyed_opts(&k0, sk.pub, 300);
    double t0 = now_s();
    assert_null(net_dial(n, "tcp://127.0.0.1:1", &co, "x", 1, NULL, err));
    assert_true(now_s() - t0 < 2.0);
    if (!strstr(err, "peer did not answer within 0.3 s")) fail_msg("dial error '%s'", err);
    net_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_listener_serves_two_concurrent_clients_over_tcp_curve),
        cmocka_unit_test(test_net_listener_on_a_wildcard_address_assigns_a_reachable_port),
        cmocka_unit_test(test_net_listener_serves_two_clients_over_ipc_with_allow_list),
        cmocka_unit_test(test_net_listener_refuses_a_client_missing_from_the_allow_list),
        cmocka_unit_test(test_net_accept_times_out_without_clients),
        cmocka_unit_test(test_net_listener_refuses_a_hello_longer_than_the_buffer),
        cmocka_unit_test(test_net_dial_times_out_when_nobody_listens),
        cmocka_unit_test(test_net_request_names_its_key_and_its_channel_admits_no_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
