/* mpc/arena.c - chunked bump allocator. */
#include "mpc/arena.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *prev;
    size_t cap;
    _Alignas(64) unsigned char data[];
};

#define ARENA_CHUNK_MIN ((size_t)1 << 20)

void arena_init(arena_t *a)
{
    memset(a, 0, sizeof *a);
}

void arena_free(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *prev = c->prev;
        sodium_memzero(c->data, c->cap);
        free(c);
        c = prev;
    }
    if (a->spare) {
        sodium_memzero(a->spare->data, a->spare->cap);
        free(a->spare);
    }
    memset(a, 0, sizeof *a);
}

void *arena_alloc(arena_t *a, size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if (!a->head || a->used + size > a->head->cap) {
        size_t cap = size > ARENA_CHUNK_MIN ? size : ARENA_CHUNK_MIN;
        arena_chunk_t *c;
        if (a->spare && a->spare->cap >= size) {
            c = a->spare;
            a->spare = NULL;
        } else {
            c = aligned_alloc(64, (sizeof *c + cap + 63) & ~(size_t)63);
            if (!c) return NULL;
            c->cap = cap;
        }
        c->prev = a->head;
        a->total += a->head ? a->head->cap - a->used : 0; /* the tail of the old chunk is skipped */
        a->head = c;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += size;
    a->total += size;
    if (a->total > a->peak) a->peak = a->total;
    return p;
}

void *arena_zalloc(arena_t *a, size_t size)
{
    void *p = arena_alloc(a, size);
    if (p) memset(p, 0, size);
    return p;
}

arena_mark_t arena_mark(const arena_t *a)
{
    arena_mark_t m = {a->head, a->used, a->total};
    return m;
}

void arena_reset(arena_t *a, arena_mark_t m)
{
    /* Chunks newer than the mark are released; the largest becomes the spare,
     * so a step that resets to the same mark allocates nothing next time. */
    while (a->head && a->head != m.chunk) {
        arena_chunk_t *c = a->head;
        a->head = c->prev;
        sodium_memzero(c->data, c->cap);
        if (!a->spare || c->cap > a->spare->cap) {
            free(a->spare);
            a->spare = c;
        } else {
            free(c);
        }
    }
    a->used = m.used;
    a->total = m.total;
}
