/* mpc/tape.h - correlation tapes: what the dealer gives one party.
 *
 * A tape has two parts (DESIGN.md §4, seed compression):
 *   - a seed the party shares with the dealer. Both expand it with the PRG
 *     (stream TAPE_STREAM_SEQ) in the same order, so whatever is random from
 *     the party's point of view costs no traffic;
 *   - explicit data: the corrections that make the shares correlate, and
 *     FSS keys. Only these travel.
 * The dealer writes a tape to a channel (streaming, the default) or to a file
 * ahead of time (the offline/online split). Both use one record format:
 * a 16-byte header (kind, length) and the payload. The last record, END,
 * carries the dealer's counts, and tape_finish checks the party used exactly
 * as much seed stream and data as the dealer produced.
 *
 * Every tape is bound to a session id. A file tape is marked consumed, in
 * place, before its first use and is refused when the mark is already set;
 * a streamed tape is refused by the channel if its frames carry another
 * session. Consuming a tape twice would hand P0 E - E' = x - x'.
 */
#ifndef MPC_TAPE_H
#define MPC_TAPE_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/chan.h"
#include "mpc/err.h"
#include "mpc/prg.h"

#define TAPE_STREAM_SEQ 1ull                /* the sequential seed stream */
#define TAPE_STREAM_KEYED (1ull << 63)      /* keyed streams: weight masks etc. */
#define TAPE_TAG CHAN_TAG('T', 'A', 'P', 'E')
#define TAPE_CHUNK ((size_t)1 << 20)

typedef struct tape tape_t;

/* Party side: a tape read from the dealer's channel. The tape borrows chan
 * (the caller keeps ownership) and copies seed. */
tape_t *tape_reader_chan(chan_t *chan, const uint8_t seed[PRG_SEED_BYTES]);

/* Party side: a tape read from a file written by tape_writer_file. Checks the
 * header (party, format), refuses a tape already consumed, marks it consumed
 * and returns its session id in session. On failure returns NULL and writes
 * the reason to err (CHAN_ERR_BYTES). */
tape_t *tape_reader_file(const char *path, int party, uint8_t session[CHAN_SESSION_BYTES],
                         char *err);

/* Dealer side: a tape for one party, streamed over chan (borrowed). */
tape_t *tape_writer_chan(chan_t *chan, const uint8_t seed[PRG_SEED_BYTES]);

/* Dealer side: a tape for party written to path (created 0600). The seed is
 * stored in the file. Returns NULL on failure with the reason in err. */
tape_t *tape_writer_file(const char *path, int party, const uint8_t session[CHAN_SESSION_BYTES],
                         const uint8_t seed[PRG_SEED_BYTES], char *err);

/* Zeroes and frees; accepts NULL. Does not finish the tape. */
void tape_free(tape_t **t);

/* The tape's sequential seed stream, shared by the party and the dealer. */
prg_t *tape_prg(tape_t *t);
/* The seed itself, for keyed streams (prg_new(seed, TAPE_STREAM_KEYED|id)). */
const uint8_t *tape_seed(const tape_t *t);

/* Reader: the next len bytes of explicit data. MPC_EEXHAUSTED when the
 * dealer's END has been reached; MPC_EPEER/EFORMAT from the channel. */
mpc_err_t tape_read(tape_t *t, void *buf, size_t len) MPC_WUR;
/* Writer: appends len bytes of explicit data. */
mpc_err_t tape_write(tape_t *t, const void *buf, size_t len) MPC_WUR;

/* Writer: flushes and writes END with the counts. Reader: reads END and
 * checks that no data is left and that the seed stream and the data were
 * used exactly as far as the dealer went. */
mpc_err_t tape_finish(tape_t *t) MPC_WUR;

/* Bytes of explicit data moved so far (the offline traffic). */
uint64_t tape_data_bytes(const tape_t *t);

/* The last error's detail. */
const char *tape_error(const tape_t *t);

#endif
