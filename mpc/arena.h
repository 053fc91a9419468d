/* mpc/arena.h - a bump allocator for per-step scratch memory.
 *
 * Protocol scratch is taken from the context's arena and released all at
 * once with arena_reset (or back to a mark), so nothing is malloc'd per
 * token. The arena grows in chunks and never moves a block it handed out.
 */
#ifndef MPC_ARENA_H
#define MPC_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;  /* newest chunk */
    arena_chunk_t *spare; /* a released chunk kept for reuse */
    size_t used;         /* bytes used in head */
    size_t total;        /* bytes handed out across chunks, for marks */
    size_t peak;
} arena_t;

typedef struct arena_mark {
    arena_chunk_t *chunk;
    size_t used, total;
} arena_mark_t;

void arena_init(arena_t *a);
/* Zeroes and frees every chunk (scratch may hold shares). */
void arena_free(arena_t *a);
/* size bytes aligned to 64, or NULL when out of memory. Not zeroed. */
void *arena_alloc(arena_t *a, size_t size);
/* size zeroed bytes, or NULL. */
void *arena_zalloc(arena_t *a, size_t size);
arena_mark_t arena_mark(const arena_t *a);
/* Releases everything allocated after m. The largest released chunk is kept
 * as a spare, so a loop that resets to one mark stops allocating. */
void arena_reset(arena_t *a, arena_mark_t m);

#endif
