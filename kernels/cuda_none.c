/* kernels/cuda_none.c - the functions of kernels/dev.h and kernels/cuda.h
 * that need CUDA, for a build without it (compiled only when
 * MPCLLM_HAVE_CUDA is OFF; the .cu files replace it otherwise).
 *
 * There is never a device: dev_count is 0, dev_new fails with MPC_EDEVICE
 * and "no CUDA in this build", so no context exists and the dispatchers of
 * dev.c always take the CPU path. The functions that need a context are
 * unreachable without one; they still answer MPC_EDEVICE rather than abort,
 * so that a caller's error path is the same as for a failed device.
 */
#include <stdio.h>

#include "kernels/cuda.h"
#include "kernels/dev.h"
#include "kernels/dev_impl.h"

#define NO_CUDA "no CUDA in this build (configure with -DMPCLLM_CUDA=ON or AUTO and nvcc)"

int dev_built(void)
{
    return 0;
}

int dev_count(char why[DEV_ERR_BYTES])
{
    if (why) snprintf(why, DEV_ERR_BYTES, "%s", NO_CUDA);
    return 0;
}

mpc_err_t dev_new(dev_ctx_t **out, int ordinal, size_t arena_bytes, char err[DEV_ERR_BYTES])
{
    (void)ordinal;
    (void)arena_bytes;
    *out = NULL;
    snprintf(err, DEV_ERR_BYTES, "%s", NO_CUDA);
    return MPC_EDEVICE;
}

void dev_free(dev_ctx_t **d)
{
    if (d) *d = NULL;
}

static mpc_err_t none(dev_ctx_t *d)
{
    return dev_fail(d, MPC_EDEVICE, "%s", NO_CUDA);
}

mpc_err_t dev_upload(dev_ctx_t *d, void *dst, const void *src, size_t bytes)
{
    (void)dst, (void)src, (void)bytes;
    return none(d);
}

mpc_err_t dev_download(dev_ctx_t *d, void *dst, const void *src, size_t bytes)
{
    (void)dst, (void)src, (void)bytes;
    return none(d);
}

mpc_err_t dev_fill(dev_ctx_t *d, void *dst, int value, size_t bytes)
{
    (void)dst, (void)value, (void)bytes;
    return none(d);
}

mpc_err_t dev_sync(dev_ctx_t *d)
{
    return none(d);
}

mpc_err_t dev_timer_start(dev_ctx_t *d)
{
    return none(d);
}

mpc_err_t dev_timer_stop(dev_ctx_t *d, double *ms)
{
    *ms = 0;
    return none(d);
}

mpc_err_t cuda_ring_gemm_nt(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                            size_t m, size_t n, size_t k, int acc)
{
    (void)C, (void)A, (void)B, (void)m, (void)n, (void)k, (void)acc;
    return none(d);
}

mpc_err_t cuda_ring_gemm_nn(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                            size_t m, size_t n, size_t k, int acc)
{
    (void)C, (void)A, (void)B, (void)m, (void)n, (void)k, (void)acc;
    return none(d);
}

mpc_err_t cuda_beaver(dev_ctx_t *d, uint64_t *z, const uint64_t *c, const uint64_t *a,
                      const uint64_t *b, const uint64_t *e, const uint64_t *dd, size_t n, int p0)
{
    (void)z, (void)c, (void)a, (void)b, (void)e, (void)dd, (void)n, (void)p0;
    return none(d);
}

mpc_err_t cuda_trunc_finish(dev_ctx_t *d, uint64_t *out, const uint64_t *c, const uint64_t *rhi,
                            const uint64_t *msb, size_t n, int f, int p0)
{
    (void)out, (void)c, (void)rhi, (void)msb, (void)n, (void)f, (void)p0;
    return none(d);
}

mpc_err_t cuda_fss_eval(dev_ctx_t *d, uint64_t *out, const uint8_t *keys, size_t key_bytes,
                        int nbits, int ell, int dcf, const uint64_t *x, size_t count,
                        size_t per_key, const aes_mmo_t *mmo)
{
    (void)out, (void)keys, (void)key_bytes, (void)nbits, (void)ell, (void)dcf, (void)x;
    (void)count, (void)per_key, (void)mmo;
    return none(d);
}

mpc_err_t cuda_prg_expand(dev_ctx_t *d, uint8_t *out, const aes_key_t *key, uint64_t stream,
                          uint64_t block0, size_t nblocks)
{
    (void)out, (void)key, (void)stream, (void)block0, (void)nblocks;
    return none(d);
}
