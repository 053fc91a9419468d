/* net/net_frame.c - the frame header: little-endian encoding and the checks
 * a receiver makes before it trusts a frame.
 *
 * The checks run in the order that gives the most useful reason: first that
 * this is a frame at all (length, magic, version, flags), then that its
 * length field matches what arrived, then that it belongs to this session,
 * and then that it is the next one in sequence. A lost or replayed frame is
 * reported as out of order rather than as the tag mismatch it also causes.
 */
#include <inttypes.h>
#include <string.h>

#include <sodium.h>

#include "net/net_impl.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Offsets of the header fields (net.h). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 4,
    OFF_FLAGS = 6,
    OFF_SESSION = 8,
    OFF_SEQ = 24,
    OFF_TAG = 32,
    OFF_STAMP = 36,
    OFF_DEPTH = 40,
    OFF_LEN = 48,
};

void net_frame_put(uint8_t *out, const net_frame_hdr_t *h)
{
    put32(out + OFF_MAGIC, NET_FRAME_MAGIC);
    put16(out + OFF_VERSION, NET_FRAME_VERSION);
    put16(out + OFF_FLAGS, h->flags);
    memcpy(out + OFF_SESSION, h->session, CHAN_SESSION_BYTES);
    put64(out + OFF_SEQ, h->seq);
    put32(out + OFF_TAG, h->tag);
    put32(out + OFF_STAMP, h->stamp);
    put64(out + OFF_DEPTH, h->depth);
    put64(out + OFF_LEN, h->len);
}

mpc_err_t net_frame_check(const uint8_t *msg, size_t n, const uint8_t session[CHAN_SESSION_BYTES],
                          uint64_t seq, net_frame_hdr_t *h, char *err)
{
    if (n < NET_HDR_BYTES)
        return net_fail(err, MPC_EFORMAT,
                        "wrong length: a frame of %zu bytes is shorter than the %d-byte header", n,
                        NET_HDR_BYTES);
    uint32_t magic = get32(msg + OFF_MAGIC);
    if (magic != NET_FRAME_MAGIC)
        return net_fail(err, MPC_EFORMAT, "bad magic 0x%08" PRIx32 " (not an mpcllm frame)", magic);
    unsigned version = get16(msg + OFF_VERSION);
    if (version != NET_FRAME_VERSION)
        return net_fail(err, MPC_EFORMAT, "bad version %u (this build speaks version %u)", version,
                        NET_FRAME_VERSION);
    h->flags = get16(msg + OFF_FLAGS);
    if (h->flags & ~NET_FLAG_STAMP)
        return net_fail(err, MPC_EFORMAT, "bad flags 0x%04x", (unsigned)h->flags);
    h->len = get64(msg + OFF_LEN);
    if (h->len != n - NET_HDR_BYTES)
        return net_fail(err, MPC_EFORMAT,
                        "wrong length: the header says %" PRIu64 " bytes, the frame carries %zu",
                        h->len, n - NET_HDR_BYTES);
    memcpy(h->session, msg + OFF_SESSION, CHAN_SESSION_BYTES);
    if (sodium_memcmp(h->session, session, CHAN_SESSION_BYTES) != 0)
        return net_fail(err, MPC_EFORMAT, "wrong session");
    h->seq = get64(msg + OFF_SEQ);
    if (h->seq != seq)
        return net_fail(err, MPC_EFORMAT, "out of order (seq %" PRIu64 ", expected %" PRIu64 ")",
                        h->seq, seq);
    h->tag = get32(msg + OFF_TAG);
    h->stamp = get32(msg + OFF_STAMP);
    h->depth = get64(msg + OFF_DEPTH);
    return MPC_OK;
}
