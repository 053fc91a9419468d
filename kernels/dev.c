/* kernels/dev.c - the device context's CUDA-free half: its arena, its error
 * detail, and the dispatch between the CPU and CUDA paths.
 *
 * The half that calls CUDA (making the context, copies, events) lives in
 * cuda_dev.cu, or in cuda_none.c, which reports "no CUDA in this build",
 * when CUDA is not built. This file is the same in both builds.
 */
#include "kernels/dev.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda.h"
#include "kernels/dev_impl.h"
#include "kernels/elem.h"
#include "kernels/ring.h"

#define DEV_ALIGN 256

mpc_err_t dev_fail(dev_ctx_t *d, mpc_err_t e, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, sizeof d->err, fmt, ap);
        va_end(ap);
    }
    return e;
}

const char *dev_error(const dev_ctx_t *d)
{
    return d ? d->err : "no device context";
}

const char *dev_name(const dev_ctx_t *d)
{
    return d ? d->name : "cpu";
}

void dev_set_log(dev_ctx_t *d, FILE *log)
{
    MPC_ASSERT(d);
    d->log = log;
}

void dev_set_min_work(dev_ctx_t *d, size_t min_work)
{
    MPC_ASSERT(d);
    d->min_work = min_work;
}

void *dev_alloc(dev_ctx_t *d, size_t bytes)
{
    MPC_ASSERT(d);
    size_t start = (d->used + DEV_ALIGN - 1) & ~(size_t)(DEV_ALIGN - 1);
    if (start > d->cap || bytes > d->cap - start) return NULL;
    d->used = start + bytes;
    return d->base + start;
}

size_t dev_mark(const dev_ctx_t *d)
{
    MPC_ASSERT(d);
    return d->used;
}

void dev_reset(dev_ctx_t *d, size_t mark)
{
    MPC_ASSERT(d && mark <= d->used);
    d->used = mark;
}

size_t dev_avail(const dev_ctx_t *d)
{
    MPC_ASSERT(d);
    size_t start = (d->used + DEV_ALIGN - 1) & ~(size_t)(DEV_ALIGN - 1);
    return start < d->cap ? d->cap - start : 0;
}

int dev_use_parse(const char *s, dev_use_t *use)
{
    static const char *const names[] = {"cpu", "auto", "cuda"};
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) {
            *use = (dev_use_t)i;
            return 0;
        }
    return -1;
}

mpc_err_t dev_select(dev_ctx_t **out, dev_use_t use, size_t arena_bytes, FILE *log, const char *who,
                     char why[DEV_ERR_BYTES])
{
    *out = NULL;
    why[0] = '\0';
    who = who ? who : "";
    const char *sep = *who ? ": " : "";
    if (use == DEV_USE_CPU) {
        if (log) fprintf(log, "%s%sdevice cpu (--device cpu)\n", who, sep);
        return MPC_OK;
    }
    mpc_err_t e = dev_count(why) > 0 ? dev_new(out, 0, arena_bytes, why) : MPC_EDEVICE;
    if (e) {
        if (use == DEV_USE_CUDA) return e;
        if (log) fprintf(log, "%s%sdevice cpu: %s\n", who, sep, why);
        return MPC_OK;
    }
    dev_ctx_t *d = *out;
    snprintf(d->who, sizeof d->who, "%s", who);
    if (log)
        fprintf(log,
                "%s%sdevice %s, arena %zu MiB; jobs of at least %zu units run there (products "
                "also need %d multiply-adds per word copied), smaller ones on the CPU\n",
                who, sep, d->name, arena_bytes >> 20, d->min_work, DEV_MIN_INTENSITY);
    const char *v = getenv("MPCLLM_DEVICE_LOG");
    if (v && *v && strcmp(v, "0")) d->log = log;
    return MPC_OK;
}

/* dev_choose, for a job that also copies `words` words over the bus (0: no
 * intensity rule). */
static int choose(dev_ctx_t *d, const char *op, size_t work, size_t words)
{
    if (!d) return 0;
    int big = work >= d->min_work;
    int dense = d->min_work == 0 || !words || work / DEV_MIN_INTENSITY >= words;
    int gpu = big && dense;
    if (d->log) {
        char dens[64] = "";
        if (words)
            snprintf(dens, sizeof dens, ", %.1f per word copied (%d wanted)",
                     (double)work / (double)words, DEV_MIN_INTENSITY);
        fprintf(d->log, "dev%s%s: %s work %zu%s -> %s (threshold %zu)\n", *d->who ? " " : "",
                d->who, op, work, dens, gpu ? d->name : "cpu", d->min_work);
    }
    return gpu;
}

int dev_choose(dev_ctx_t *d, const char *op, size_t work)
{
    return choose(d, op, work, 0);
}

/* `words` 64-bit words of d's arena for the operands of op, or NULL (and a
 * log line: the CPU runs instead) when they do not fit. */
static uint64_t *dev_take(dev_ctx_t *d, const char *op, size_t words)
{
    uint64_t *p = words <= SIZE_MAX / 8 ? dev_alloc(d, words * 8) : NULL;
    if (!p && d->log)
        fprintf(d->log, "dev: %s needs %zu B of device memory, %zu B free -> cpu\n", op, words * 8,
                dev_avail(d));
    return p;
}

static mpc_err_t gemm(dev_ctx_t *d, int nt, uint64_t *C, const uint64_t *A, const uint64_t *B,
                      size_t m, size_t n, size_t k, int acc)
{
    const char *op = nt ? "ring_gemm_nt" : "ring_gemm_nn";
    size_t work = m * n * (k ? k : 1);
    size_t words = m * k + n * k + (acc ? 2 : 1) * m * n;
    uint64_t *g = NULL;
    size_t mark = 0;
    if (choose(d, op, work, words)) {
        mark = dev_mark(d);
        g = dev_take(d, op, m * k + n * k + m * n);
    }
    if (!g) {
        if (nt)
            ring_gemm_nt(C, A, B, m, n, k, acc);
        else
            ring_gemm_nn(C, A, B, m, n, k, acc);
        return MPC_OK;
    }
    uint64_t *gA = g, *gB = gA + m * k, *gC = gB + n * k;
    mpc_err_t e = dev_upload(d, gA, A, m * k * 8);
    if (!e) e = dev_upload(d, gB, B, n * k * 8);
    if (!e && acc) e = dev_upload(d, gC, C, m * n * 8);
    if (!e)
        e = nt ? cuda_ring_gemm_nt(d, gC, gA, gB, m, n, k, acc)
               : cuda_ring_gemm_nn(d, gC, gA, gB, m, n, k, acc);
    if (!e) e = dev_download(d, C, gC, m * n * 8);
    dev_reset(d, mark);
    return e;
}

mpc_err_t dev_ring_gemm_nt(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                           size_t m, size_t n, size_t k, int acc)
{
    return gemm(d, 1, C, A, B, m, n, k, acc);
}

mpc_err_t dev_ring_gemm_nn(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                           size_t m, size_t n, size_t k, int acc)
{
    return gemm(d, 0, C, A, B, m, n, k, acc);
}

mpc_err_t dev_beaver(dev_ctx_t *d, uint64_t *z, const uint64_t *c, const uint64_t *a,
                     const uint64_t *b, const uint64_t *e, const uint64_t *dd, size_t n, int p0)
{
    uint64_t *g = NULL;
    size_t mark = 0;
    if (choose(d, "beaver", n, 6 * n)) { /* 5 words up and 1 down per multiply-add */
        mark = dev_mark(d);
        g = dev_take(d, "beaver", 5 * n);
    }
    if (!g) {
        elem_beaver(z, c, a, b, e, dd, n, p0);
        return MPC_OK;
    }
    /* z overwrites c on the device: one buffer fewer to hold. */
    const uint64_t *src[5] = {c, a, b, e, dd};
    mpc_err_t err = MPC_OK;
    for (int i = 0; i < 5 && !err; i++)
        err = dev_upload(d, g + (size_t)i * n, src[i], n * 8);
    if (!err) err = cuda_beaver(d, g, g, g + n, g + 2 * n, g + 3 * n, g + 4 * n, n, p0);
    if (!err) err = dev_download(d, z, g, n * 8);
    dev_reset(d, mark);
    return err;
}

mpc_err_t dev_trunc_finish(dev_ctx_t *d, uint64_t *out, const uint64_t *c, const uint64_t *rhi,
                           const uint64_t *msb, size_t n, int f, int p0)
{
    MPC_ASSERT(f > 0 && f < 62);
    uint64_t *g = NULL;
    size_t mark = 0;
    if (choose(d, "trunc_finish", n, 4 * n)) { /* 3 up, 1 down */
        mark = dev_mark(d);
        g = dev_take(d, "trunc_finish", 3 * n);
    }
    if (!g) {
        elem_trunc_finish(out, c, rhi, msb, n, f, p0);
        return MPC_OK;
    }
    mpc_err_t e = dev_upload(d, g, c, n * 8);
    if (!e) e = dev_upload(d, g + n, rhi, n * 8);
    if (!e) e = dev_upload(d, g + 2 * n, msb, n * 8);
    if (!e) e = cuda_trunc_finish(d, g, g, g + n, g + 2 * n, n, f, p0);
    if (!e) e = dev_download(d, out, g, n * 8);
    dev_reset(d, mark);
    return e;
}
