/* net/net.c - the ZeroMQ context, option checks, and the ZAP handler.
 *
 * A net_t owns one ZeroMQ context. The first CURVE socket that binds starts
 * a ZAP handler (RFC 27) on inproc://zeromq.zap.01 in that context, on a
 * thread the net_t owns until net_free. Once a handler is bound, libzmq
 * consults it for every CURVE handshake in the context, with or without a
 * ZAP domain, so the handler tells the cases apart by the binding socket's
 * domain, which clients cannot choose:
 *   - no domain: admit every CURVE client, as libzmq would without a handler;
 *   - an absolute directory path (an allow-list): admit a client only if its
 *     public key is in a file of that directory, read on every handshake, so
 *     keys added later are admitted without a restart;
 *   - "key:" and a Z85 key (a channel bound for one client): admit that key
 *     and no other.
 * Every admitted CURVE client gets its public key, in Z85, as its User-Id,
 * which libzmq attaches to each message it sends: that is how a listener
 * learns who sent a hello (net_listen.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "net/net_impl.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   8 /* version, id, domain, address, identity, mechanism, key, spare */

mpc_err_t net_fail(char *err, mpc_err_t e, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, NET_ERR_BYTES, fmt, ap);
        va_end(ap);
    }
    return e;
}

uint64_t net_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void net_opts_default(net_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->curve = 1;
    o->timeout_ms = 30000;
}

void net_opts_wipe(net_opts_t *o)
{
    sodium_memzero(o->secret_key, sizeof o->secret_key);
}

void net_key_pair(uint8_t pub[NET_KEY_BYTES], uint8_t sec[NET_KEY_BYTES])
{
    MPC_ASSERT(sodium_init() >= 0);
    crypto_box_keypair(pub, sec); /* CurveZMQ's keys are X25519 keys */
}

static int key_is_zero(const uint8_t k[NET_KEY_BYTES])
{
    return sodium_is_zero(k, NET_KEY_BYTES);
}

mpc_err_t net_opts_check(const net_opts_t *o, const char *endpoint, int connecting, char *err)
{
    if (!o || !endpoint) return net_fail(err, MPC_EARG, "no options or no endpoint");
    int inproc = strncmp(endpoint, "inproc://", 9) == 0;
    if (!inproc && strncmp(endpoint, "tcp://", 6) != 0 && strncmp(endpoint, "ipc://", 6) != 0)
        return net_fail(err, MPC_EARG, "endpoint '%s' is not tcp://, ipc:// or inproc://",
                        endpoint);
    if (strlen(endpoint) >= NET_ENDPOINT_BYTES)
        return net_fail(err, MPC_EARG, "endpoint longer than %d characters",
                        NET_ENDPOINT_BYTES - 1);
    if (o->timeout_ms <= 0 && o->timeout_ms != -1)
        return net_fail(err, MPC_EARG, "timeout_ms must be positive, or -1 for none");
    if (!(o->delay_ms >= 0 && isfinite(o->delay_ms)) ||
        !(o->rate_mbit >= 0 && isfinite(o->rate_mbit)))
        return net_fail(err, MPC_EARG, "shaping delay and rate must be finite and >= 0");
    if (!o->curve) {
        if ((o->allow_dir || o->only_key) && !connecting)
            return net_fail(err, MPC_EARG, "an allow-list needs CURVE (curve = 1)");
        return MPC_OK;
    }
    if (inproc)
        return net_fail(err, MPC_EARG,
                        "CURVE does not run over inproc://; use tcp:// or ipc://, or plaintext");
    if (key_is_zero(o->secret_key))
        return net_fail(err, MPC_EARG, "CURVE is on but no secret key was given");
    if (connecting && key_is_zero(o->public_key))
        return net_fail(err, MPC_EARG, "CURVE is on but no public key was given");
    if (connecting && key_is_zero(o->server_key))
        return net_fail(err, MPC_EARG, "CURVE is on but the server's key was not given");
    return MPC_OK;
}

net_t *net_new(void)
{
    net_t *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->zctx = zmq_ctx_new();
    if (!n->zctx || pthread_mutex_init(&n->lock, NULL) != 0) {
        if (n->zctx) zmq_ctx_term(n->zctx);
        free(n);
        return NULL;
    }
    return n;
}

void net_free(net_t **np)
{
    if (!np || !*np) return;
    net_t *n = *np;
    /* Shutting the context down wakes the ZAP thread with ETERM; it closes
     * its socket and returns, and only then can the context terminate. */
    zmq_ctx_shutdown(n->zctx);
    if (n->zap_running) pthread_join(n->zap_thread, NULL);
    zmq_ctx_term(n->zctx);
    pthread_mutex_destroy(&n->lock);
    free(n);
    *np = NULL;
}

uint64_t net_next_id(net_t *n)
{
    pthread_mutex_lock(&n->lock);
    uint64_t id = n->next_id++;
    pthread_mutex_unlock(&n->lock);
    return id;
}

/* --- ZAP handler -------------------------------------------------------- */

/* Whether the Z85 key text in file (trimmed) equals key. Files that are not
 * small regular files holding one 40-character key are skipped. */
static int file_holds_key(int dirfd, const char *name, const uint8_t key[NET_KEY_BYTES])
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    char text[128];
    ssize_t got = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)sizeof text)
        got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0) return 0;
    size_t a = 0, b = (size_t)got;
    while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\n' || text[a] == '\r'))
        a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\n' ||
                     text[b - 1] == '\r'))
        b--;
    if (b - a != 40) return 0;
    text[b] = '\0';
    uint8_t listed[NET_KEY_BYTES];
    if (!zmq_z85_decode(listed, text + a)) return 0;
    return sodium_memcmp(listed, key, NET_KEY_BYTES) == 0;
}

/* Whether the directory dir lists the client key. Hidden files and a
 * secret.key are never read: an allow-list holds public keys only. */
static int allow_dir_admits(const char *dir, const uint8_t key[NET_KEY_BYTES])
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "secret.key") == 0) continue;
        found = file_holds_key(dirfd(d), e->d_name, key);
    }
    closedir(d);
    return found;
}

/* Whether the domain of a binding socket (dlen bytes) admits the CURVE
 * client key (see the top). */
static int domain_admits(const char *domain, size_t dlen, const uint8_t key[NET_KEY_BYTES])
{
    if (dlen == 0) return 1;
    if (dlen >= NET_ENDPOINT_BYTES) return 0;
    char d[NET_ENDPOINT_BYTES];
    memcpy(d, domain, dlen);
    d[dlen] = '\0';
    if (strncmp(d, NET_ZAP_KEY_PREFIX, strlen(NET_ZAP_KEY_PREFIX)) == 0) {
        uint8_t only[NET_KEY_BYTES];
        const char *z85 = d + strlen(NET_ZAP_KEY_PREFIX);
        return strlen(z85) == 40 && zmq_z85_decode(only, z85) &&
               sodium_memcmp(only, key, NET_KEY_BYTES) == 0;
    }
    return d[0] == '/' && allow_dir_admits(d, key);
}

/* Answers one ZAP request: a CURVE client whose key the socket's domain
 * admits gets 200 and its key (Z85) as User-Id; anyone else 400. */
static void zap_answer(void *rep, zmq_msg_t *f, int nf)
{
    const char *status = "400", *text = "not admitted";
    char user[41] = "";
    if (nf == 7 && zmq_msg_size(&f[0]) == 3 && memcmp(zmq_msg_data(&f[0]), "1.0", 3) == 0 &&
        zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&f[6]) == NET_KEY_BYTES) {
        const uint8_t *key = zmq_msg_data(&f[6]);
        if (domain_admits(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), key) &&
            zmq_z85_encode(user, key, NET_KEY_BYTES))
            status = "200", text = "OK";
        else
            user[0] = '\0';
    }
    const void *id = nf >= 2 ? zmq_msg_data(&f[1]) : "";
    size_t idlen = nf >= 2 ? zmq_msg_size(&f[1]) : 0;
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, id, idlen, ZMQ_SNDMORE);
    zmq_send(rep, status, 3, ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

/* The ZAP thread: answers requests until the context shuts down. */
static void *zap_main(void *arg)
{
    void *rep = arg;
    for (;;) {
        zmq_msg_t f[ZAP_FRAMES];
        int nf = 0, more = 1, dead = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, rep, 0) < 0) {
                zmq_msg_close(&m);
                if (errno == EINTR) continue;
                dead = 1;
                break;
            }
            more = zmq_msg_more(&m);
            if (nf < ZAP_FRAMES)
                f[nf++] = m;
            else
                zmq_msg_close(&m);
        }
        if (!dead) zap_answer(rep, f, nf);
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
        if (dead) break;
    }
    zmq_close(rep);
    return NULL;
}

mpc_err_t net_zap_start(net_t *n, char *err)
{
    mpc_err_t e = MPC_OK;
    pthread_mutex_lock(&n->lock);
    if (!n->zap_running) {
        /* Bound here, before any binding CURVE socket exists, so that no
         * handshake can find the context without its handler. */
        void *rep = zmq_socket(n->zctx, ZMQ_REP);
        int linger = 0;
        if (!rep || zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_bind(rep, ZAP_ENDPOINT) != 0) {
            e = net_fail(err, MPC_EIO, "cannot start the ZAP handler: %s", zmq_strerror(errno));
            if (rep) zmq_close(rep);
        } else if (pthread_create(&n->zap_thread, NULL, zap_main, rep) != 0) {
            e = net_fail(err, MPC_EIO, "cannot start the ZAP handler thread");
            zmq_close(rep);
        } else {
            n->zap_running = 1;
        }
    }
    pthread_mutex_unlock(&n->lock);
    return e;
}
