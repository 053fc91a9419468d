/* kernels/dev_impl.h - the device context's fields, shared by kernels/dev.c
 * (dispatch, in C) and the CUDA sources (which own the CUDA handles). Only
 * kernels/ includes it. The CUDA handles are kept as void * so that this
 * header, and dev.c, build without the CUDA headers.
 */
#ifndef KERNELS_DEV_IMPL_H
#define KERNELS_DEV_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/dev.h"

struct dev_ctx {
    int ordinal;
    void *stream;  /* cudaStream_t, non-blocking */
    void *ev[2];   /* cudaEvent_t: dev_timer_start / dev_timer_stop */
    uint8_t *base; /* the arena: cap bytes of device memory, used of them taken */
    size_t cap, used;
    size_t min_work; /* dispatch threshold */
    FILE *log;       /* dispatch log, or NULL */
    char who[16];    /* the party, in the log's lines ("" when unnamed) */
    char name[96];
    char err[DEV_ERR_BYTES];
};

/* Records the detail in d->err (when d is non-NULL) and returns e. */
mpc_err_t dev_fail(dev_ctx_t *d, mpc_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
