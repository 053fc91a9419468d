/* mpc/tape.c - correlation tapes over a channel or a file. */
#include "mpc/tape.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { REC_DATA = 0, REC_END = 1 };

#define TAPE_MAGIC "MPCTAPE1"
#define TAPE_HDR_BYTES 56
#define TAPE_CONSUMED_OFF 16

struct tape {
    int writer;
    chan_t *chan; /* borrowed; NULL for a file */
    FILE *file;
    prg_t *prg;
    uint8_t seed[PRG_SEED_BYTES];
    uint8_t *buf; /* 16-byte record header, then up to TAPE_CHUNK payload */
    size_t len, pos; /* payload bytes in buf, and read position (reader) */
    int ended;
    uint64_t end_prg, end_data; /* the dealer's counts from END */
    uint64_t data_bytes;
    char err[CHAN_ERR_BYTES];
};

static tape_t *tape_new(int writer, chan_t *chan, const uint8_t seed[PRG_SEED_BYTES])
{
    tape_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->writer = writer;
    t->chan = chan;
    t->buf = malloc(16 + TAPE_CHUNK);
    memcpy(t->seed, seed, PRG_SEED_BYTES);
    t->prg = prg_new(seed, TAPE_STREAM_SEQ);
    if (!t->buf || !t->prg) tape_free(&t);
    return t;
}

tape_t *tape_reader_chan(chan_t *chan, const uint8_t seed[PRG_SEED_BYTES])
{
    return tape_new(0, chan, seed);
}

tape_t *tape_writer_chan(chan_t *chan, const uint8_t seed[PRG_SEED_BYTES])
{
    return tape_new(1, chan, seed);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

tape_t *tape_writer_file(const char *path, int party, const uint8_t session[CHAN_SESSION_BYTES],
                         const uint8_t seed[PRG_SEED_BYTES], char *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        snprintf(err, CHAN_ERR_BYTES, "cannot create tape %s: %s", path, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "wb");
    uint8_t hdr[TAPE_HDR_BYTES] = {0};
    memcpy(hdr, TAPE_MAGIC, 8);
    put_u32(hdr + 8, 1);
    put_u32(hdr + 12, (uint32_t)party);
    put_u32(hdr + TAPE_CONSUMED_OFF, 0);
    memcpy(hdr + 24, session, CHAN_SESSION_BYTES);
    memcpy(hdr + 40, seed, PRG_SEED_BYTES);
    tape_t *t = f ? tape_new(1, NULL, seed) : NULL;
    if (!t || fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        snprintf(err, CHAN_ERR_BYTES, "cannot write tape %s", path);
        sodium_memzero(hdr, sizeof hdr);
        if (f) fclose(f); else close(fd);
        tape_free(&t);
        return NULL;
    }
    sodium_memzero(hdr, sizeof hdr);
    t->file = f;
    return t;
}

tape_t *tape_reader_file(const char *path, int party, uint8_t session[CHAN_SESSION_BYTES],
                         char *err)
{
    FILE *f = fopen(path, "r+b");
    if (!f) {
        snprintf(err, CHAN_ERR_BYTES, "cannot open tape %s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t hdr[TAPE_HDR_BYTES];
    tape_t *t = NULL;
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, TAPE_MAGIC, 8) != 0 ||
        get_u32(hdr + 8) != 1) {
        snprintf(err, CHAN_ERR_BYTES, "%s is not a correlation tape (bad header)", path);
    } else if (get_u32(hdr + 12) != (uint32_t)party) {
        snprintf(err, CHAN_ERR_BYTES, "%s is the tape of party %u, not of party %d", path,
                 get_u32(hdr + 12), party);
    } else if (get_u32(hdr + TAPE_CONSUMED_OFF) != 0) {
        snprintf(err, CHAN_ERR_BYTES,
                 "%s was already consumed; a tape is used once (replay refused)", path);
    } else {
        /* Mark it consumed on disk before a single correlation is used. */
        uint8_t one[4];
        put_u32(one, 1);
        if (fseek(f, TAPE_CONSUMED_OFF, SEEK_SET) != 0 || fwrite(one, 1, 4, f) != 4 ||
            fflush(f) != 0 || fsync(fileno(f)) != 0 || fseek(f, TAPE_HDR_BYTES, SEEK_SET) != 0) {
            snprintf(err, CHAN_ERR_BYTES, "cannot mark tape %s consumed: %s", path,
                     strerror(errno));
        } else {
            t = tape_new(0, NULL, hdr + 40);
            if (t) {
                t->file = f;
                memcpy(session, hdr + 24, CHAN_SESSION_BYTES);
            } else {
                snprintf(err, CHAN_ERR_BYTES, "out of memory");
            }
        }
    }
    sodium_memzero(hdr, sizeof hdr);
    if (!t) fclose(f);
    return t;
}

void tape_free(tape_t **tp)
{
    if (!tp || !*tp) return;
    tape_t *t = *tp;
    if (t->file) fclose(t->file);
    prg_free(&t->prg);
    if (t->buf) {
        sodium_memzero(t->buf, 16 + TAPE_CHUNK);
        free(t->buf);
    }
    sodium_memzero(t, sizeof *t);
    free(t);
    *tp = NULL;
}

prg_t *tape_prg(tape_t *t)
{
    return t->prg;
}

const uint8_t *tape_seed(const tape_t *t)
{
    return t->seed;
}

uint64_t tape_data_bytes(const tape_t *t)
{
    return t->data_bytes;
}

const char *tape_error(const tape_t *t)
{
    return t->err;
}

/* Writer: emits the record in buf (kind, len) to the channel or file. */
static mpc_err_t tape_emit(tape_t *t, uint64_t kind, size_t len)
{
    uint64_t h[2] = {kind, len};
    memcpy(t->buf, h, 16);
    if (t->chan) {
        mpc_err_t e = chan_send(t->chan, TAPE_TAG, 0, t->buf, 16 + len);
        if (e) snprintf(t->err, sizeof t->err, "%s", t->chan->err);
        return e;
    }
    if (fwrite(t->buf, 1, 16 + len, t->file) != 16 + len) {
        snprintf(t->err, sizeof t->err, "tape write failed: %s", strerror(errno));
        return MPC_EIO;
    }
    return MPC_OK;
}

/* Reader: fetches the next record into buf. */
static mpc_err_t tape_fetch(tape_t *t)
{
    size_t got = 0;
    if (t->chan) {
        uint64_t depth;
        mpc_err_t e = chan_recv(t->chan, TAPE_TAG, &depth, t->buf, 16 + TAPE_CHUNK, &got);
        if (e) {
            snprintf(t->err, sizeof t->err, "dealer stream: %.200s", t->chan->err);
            return e;
        }
    } else {
        got = fread(t->buf, 1, 16, t->file);
        if (got != 16) {
            snprintf(t->err, sizeof t->err, "tape file ends without its END record");
            return MPC_EFORMAT;
        }
        uint64_t h[2];
        memcpy(h, t->buf, 16);
        if (h[1] > TAPE_CHUNK || fread(t->buf + 16, 1, h[1], t->file) != h[1]) {
            snprintf(t->err, sizeof t->err, "tape file record truncated");
            return MPC_EFORMAT;
        }
        got = 16 + h[1];
    }
    uint64_t h[2];
    if (got < 16) goto bad;
    memcpy(h, t->buf, 16);
    if (h[1] != got - 16) goto bad;
    if (h[0] == REC_END) {
        if (h[1] != 16) goto bad;
        memcpy(&t->end_prg, t->buf + 16, 8);
        memcpy(&t->end_data, t->buf + 24, 8);
        t->ended = 1;
        t->len = t->pos = 0;
        return MPC_OK;
    }
    if (h[0] != REC_DATA) goto bad;
    t->len = h[1];
    t->pos = 0;
    return MPC_OK;
bad:
    snprintf(t->err, sizeof t->err, "malformed tape record (%zu bytes)", got);
    return MPC_EFORMAT;
}

mpc_err_t tape_read(tape_t *t, void *out, size_t len)
{
    MPC_ASSERT(!t->writer);
    uint8_t *o = out;
    while (len > 0) {
        if (t->pos == t->len) {
            if (t->ended) {
                snprintf(t->err, sizeof t->err,
                         "correlations exhausted: the dealer's stream ended (%llu bytes)",
                         (unsigned long long)t->data_bytes);
                return MPC_EEXHAUSTED;
            }
            mpc_err_t e = tape_fetch(t);
            if (e) return e;
            continue;
        }
        size_t n = t->len - t->pos < len ? t->len - t->pos : len;
        memcpy(o, t->buf + 16 + t->pos, n);
        t->pos += n;
        o += n;
        len -= n;
        t->data_bytes += n;
    }
    return MPC_OK;
}

mpc_err_t tape_write(tape_t *t, const void *in, size_t len)
{
    MPC_ASSERT(t->writer);
    const uint8_t *p = in;
    while (len > 0) {
        size_t n = TAPE_CHUNK - t->len < len ? TAPE_CHUNK - t->len : len;
        memcpy(t->buf + 16 + t->len, p, n);
        t->len += n;
        p += n;
        len -= n;
        t->data_bytes += n;
        if (t->len == TAPE_CHUNK) {
            mpc_err_t e = tape_emit(t, REC_DATA, t->len);
            if (e) return e;
            t->len = 0;
        }
    }
    return MPC_OK;
}

mpc_err_t tape_finish(tape_t *t)
{
    if (t->writer) {
        mpc_err_t e = MPC_OK;
        if (t->len) e = tape_emit(t, REC_DATA, t->len);
        t->len = 0;
        if (e) return e;
        uint64_t counts[2] = {prg_pos(t->prg), t->data_bytes};
        memcpy(t->buf + 16, counts, 16);
        e = tape_emit(t, REC_END, 16);
        if (!e && t->file && fflush(t->file) != 0) e = MPC_EIO;
        return e;
    }
    if (t->pos != t->len) {
        snprintf(t->err, sizeof t->err, "%zu bytes of correlations left unread",
                 t->len - t->pos);
        return MPC_EFORMAT;
    }
    if (!t->ended) {
        mpc_err_t e = tape_fetch(t);
        if (e) return e;
        if (!t->ended) {
            snprintf(t->err, sizeof t->err, "%zu bytes of correlations left unread", t->len);
            return MPC_EFORMAT;
        }
    }
    if (t->end_data != t->data_bytes || t->end_prg != prg_pos(t->prg)) {
        snprintf(t->err, sizeof t->err,
                 "tape not used exactly: data %llu of %llu bytes, seed stream %llu of %llu",
                 (unsigned long long)t->data_bytes, (unsigned long long)t->end_data,
                 (unsigned long long)prg_pos(t->prg), (unsigned long long)t->end_prg);
        return MPC_EFORMAT;
    }
    return MPC_OK;
}
