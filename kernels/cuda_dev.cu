/* kernels/cuda_dev.cu - the device context's CUDA half: finding a device,
 * making and freeing the context (stream, events, arena), copies and timing.
 *
 * dev_count treats every failure of cudaGetDeviceCount (no driver, no
 * device, a driver older than the runtime) as "no device", since that is
 * what it means to a caller choosing a path; the reason goes to why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_impl.cuh"

extern "C" int dev_built(void)
{
    return 1;
}

extern "C" int dev_count(char why[DEV_ERR_BYTES])
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        (void)cudaGetLastError();
        if (why)
            snprintf(why, DEV_ERR_BYTES, "no CUDA device: cudaGetDeviceCount: %s",
                     cudaGetErrorString(rc));
        return 0;
    }
    if (n == 0 && why) snprintf(why, DEV_ERR_BYTES, "no CUDA device: none visible");
    return n;
}

/* The body of dev_new, on a context already allocated (and zeroed) on the
 * host; dev_new frees it when this fails. */
static mpc_err_t dev_open(dev_ctx_t *d, int ordinal, size_t arena_bytes)
{
    int n = dev_count(d->err);
    if (n == 0) return MPC_EDEVICE;
    if (ordinal < 0 || ordinal >= n)
        return dev_fail(d, MPC_EDEVICE, "no CUDA device %d (%d visible)", ordinal, n);
    d->ordinal = ordinal;
    DEV_ENTER(d);
    cudaDeviceProp prop;
    CUDA_CHECK(d, cudaGetDeviceProperties(&prop, ordinal));
    snprintf(d->name, sizeof d->name, "%.80s (sm_%d%d)", prop.name, prop.major, prop.minor);
    cudaStream_t s;
    CUDA_CHECK(d, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    d->stream = s;
    for (int i = 0; i < 2; i++) {
        cudaEvent_t ev;
        CUDA_CHECK(d, cudaEventCreate(&ev));
        d->ev[i] = ev;
    }
    void *base = NULL;
    cudaError_t rc = cudaMalloc(&base, arena_bytes ? arena_bytes : 1);
    if (rc == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return dev_fail(d, MPC_ENOMEM, "%s: cannot allocate an arena of %zu B", d->name,
                        arena_bytes);
    }
    CUDA_CHECK(d, rc);
    d->base = (uint8_t *)base;
    d->cap = arena_bytes;
    return MPC_OK;
}

extern "C" mpc_err_t dev_new(dev_ctx_t **out, int ordinal, size_t arena_bytes,
                             char err[DEV_ERR_BYTES])
{
    *out = NULL;
    dev_ctx_t *d = (dev_ctx_t *)calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, DEV_ERR_BYTES, "dev_new: out of memory");
        return MPC_ENOMEM;
    }
    d->min_work = DEV_MIN_WORK;
    mpc_err_t e = dev_open(d, ordinal, arena_bytes);
    if (e) {
        snprintf(err, DEV_ERR_BYTES, "%s", d->err);
        dev_free(&d);
        return e;
    }
    *out = d;
    return MPC_OK;
}

extern "C" void dev_free(dev_ctx_t **dp)
{
    if (!dp || !*dp) return;
    dev_ctx_t *d = *dp;
    /* A failure here cannot be returned to anyone (the context is going), but
     * it is still checked and said, so that a wipe that failed is not taken
     * for one that happened. */
    int bad = cudaSetDevice(d->ordinal) != cudaSuccess;
    if (!bad && d->base) {
        bad |= cudaMemsetAsync(d->base, 0, d->cap, dev_stream(d)) != cudaSuccess;
        bad |= cudaStreamSynchronize(dev_stream(d)) != cudaSuccess;
        bad |= cudaFree(d->base) != cudaSuccess;
    }
    for (int i = 0; i < 2 && !bad; i++)
        if (d->ev[i]) bad |= cudaEventDestroy((cudaEvent_t)d->ev[i]) != cudaSuccess;
    if (!bad && d->stream) bad |= cudaStreamDestroy(dev_stream(d)) != cudaSuccess;
    if (bad) {
        fprintf(stderr, "dev_free: device %d: %s while wiping and releasing the arena\n",
                d->ordinal, cudaGetErrorString(cudaGetLastError()));
    }
    free(d);
    *dp = NULL;
}

extern "C" mpc_err_t dev_upload(dev_ctx_t *d, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return MPC_OK;
    DEV_ENTER(d);
    CUDA_CHECK(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, dev_stream(d)));
    return MPC_OK;
}

extern "C" mpc_err_t dev_download(dev_ctx_t *d, void *dst, const void *src, size_t bytes)
{
    DEV_ENTER(d);
    if (bytes)
        CUDA_CHECK(d, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, dev_stream(d)));
    CUDA_CHECK(d, cudaStreamSynchronize(dev_stream(d)));
    return MPC_OK;
}

extern "C" mpc_err_t dev_fill(dev_ctx_t *d, void *dst, int value, size_t bytes)
{
    if (!bytes) return MPC_OK;
    DEV_ENTER(d);
    CUDA_CHECK(d, cudaMemsetAsync(dst, value, bytes, dev_stream(d)));
    return MPC_OK;
}

extern "C" mpc_err_t dev_sync(dev_ctx_t *d)
{
    DEV_ENTER(d);
    CUDA_CHECK(d, cudaStreamSynchronize(dev_stream(d)));
    return MPC_OK;
}

extern "C" mpc_err_t dev_timer_start(dev_ctx_t *d)
{
    DEV_ENTER(d);
    CUDA_CHECK(d, cudaEventRecord((cudaEvent_t)d->ev[0], dev_stream(d)));
    return MPC_OK;
}

extern "C" mpc_err_t dev_timer_stop(dev_ctx_t *d, double *ms)
{
    DEV_ENTER(d);
    float t = 0;
    CUDA_CHECK(d, cudaEventRecord((cudaEvent_t)d->ev[1], dev_stream(d)));
    CUDA_CHECK(d, cudaEventSynchronize((cudaEvent_t)d->ev[1]));
    CUDA_CHECK(d, cudaEventElapsedTime(&t, (cudaEvent_t)d->ev[0], (cudaEvent_t)d->ev[1]));
    *ms = t;
    return MPC_OK;
}
