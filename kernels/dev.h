/* kernels/dev.h - the GPU device context, and the dispatch between the CPU
 * and CUDA paths of the kernels (DESIGN.md §8).
 *
 * A dev_ctx_t is one CUDA device, one stream on it, and one arena of device
 * memory allocated when the context is made. Every device buffer the kernels
 * read or write comes from that arena (dev_alloc / dev_mark / dev_reset, as
 * mpc/arena.h does for the host), so the kernels themselves never allocate
 * and a decode step allocates nothing on the device either. The context is
 * passed explicitly to everything; there is no current-device global, and two
 * parties of one process may each hold their own context (their own stream)
 * on the same GPU. mpc_ctx_t.device holds a party's context, or NULL for the
 * CPU.
 *
 * Without CUDA in the build (-DMPCLLM_CUDA=OFF, or AUTO without nvcc) every
 * function here still exists: dev_count reports no device, dev_new fails
 * with "no CUDA in this build", and the dispatchers run the CPU path. So no
 * caller needs an #ifdef. kernels/cuda.h holds the kernels themselves.
 *
 * Every CUDA call is checked. A failure returns MPC_EDEVICE and leaves its
 * detail, "file:line: call: CUDA's message", in dev_error(d).
 *
 * Dispatch. The dev_* products below take host buffers and pick a path per
 * call: CUDA when d is non-NULL (so a device exists) and the work reaches
 * the context's threshold (dev_set_min_work; DEV_MIN_WORK by default, under
 * which the PCIe transfer costs more than the CPU takes), else the CPU
 * reference path of kernels/ring.h or kernels/elem.h, which gives the same
 * bits. When the context has a log (dev_set_log), each call writes one line
 * naming the path it chose and why. The dispatchers copy every operand each
 * call, so they pay where the arithmetic per word moved is high (a prefill
 * GEMM): a product must also do DEV_MIN_INTENSITY multiply-adds per word it
 * copies. A decode step's GEMV (one multiply-add per weight word) therefore
 * stays on the CPU; it pays only with the weights kept on the device,
 * through the kernels of kernels/cuda.h on arena buffers (as mpcllm-bench op
 * --device cuda does for matmul). Threshold 0 sends every call with a
 * context to the device, whatever its size or intensity.
 *
 * The protocols (protocols/mul.c, trunc.c, matmul.c) call the dispatchers
 * with mpc_ctx_t.device, so a party runs its local arithmetic on the device
 * by holding a context there; dev_select makes that context for a program's
 * --device and says once which path was chosen. Example:
 *
 *     dev_ctx_t *d = NULL;
 *     char why[DEV_ERR_BYTES];
 *     if (dev_select(&d, DEV_USE_AUTO, (size_t)1 << 30, stderr, "P0", why) != MPC_OK)
 *         ...                                   // only DEV_USE_CUDA fails
 *     ctx.device = d;                           // NULL: the CPU runs
 *     ...
 *     dev_free(&d);
 */
#ifndef KERNELS_DEV_H
#define KERNELS_DEV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mpc/err.h"

/* Room for one error detail. */
#define DEV_ERR_BYTES 256
/* Default threshold, in the dispatcher's unit of work (m n k for a product,
 * elements for element-wise ops): below it the CPU path runs. 2^20 words is
 * 8 MiB, a few hundred microseconds over PCIe from pageable memory, which is
 * the order of what the CPU takes for that much work. It is a starting
 * point: set it per machine with dev_set_min_work. */
#define DEV_MIN_WORK ((size_t)1 << 20)
/* Multiply-adds a product must do per 64-bit word it copies over the bus
 * (its operands and result) to run on the device under a non-zero
 * threshold. About m for an m-row product of large matrices; the CPU does a
 * few 64-bit multiply-adds in the time PCIe moves one word from pageable
 * memory, so 8 leaves the device a margin. */
#define DEV_MIN_INTENSITY 8

/* Not dev_t: that is POSIX's device number type in <sys/types.h>. */
typedef struct dev_ctx dev_ctx_t;

/* The number of CUDA devices this process can use: 0 without CUDA in the
 * build, without a driver or without a device; then why (if non-NULL) says
 * which. Cheap after the first call. */
int dev_count(char why[DEV_ERR_BYTES]);

/* 1 when this build has the CUDA kernels, else 0. */
int dev_built(void);

/* A context on device `ordinal` with arena_bytes of device memory, into *out
 * (owned by the caller; free with dev_free). On failure *out is NULL, err
 * holds the detail, and the result is MPC_EDEVICE (no CUDA, no such device, a
 * CUDA call failed) or MPC_ENOMEM (host or device memory). */
mpc_err_t dev_new(dev_ctx_t **out, int ordinal, size_t arena_bytes,
                  char err[DEV_ERR_BYTES]) MPC_WUR;
/* Waits for the stream, frees the arena (zeroed first: it holds shares) and
 * the context, and sets *d to NULL. Accepts NULL and *d == NULL. */
void dev_free(dev_ctx_t **d);

/* The detail of the last failure on d (empty if none); never NULL. */
const char *dev_error(const dev_ctx_t *d);
/* The device's name and compute capability, e.g. "NVIDIA H100 (sm_90)". */
const char *dev_name(const dev_ctx_t *d);
/* Where dispatch decisions are logged (NULL, the default, for silence). */
void dev_set_log(dev_ctx_t *d, FILE *log);
/* The dispatch threshold (0: every call with a context runs on the device). */
void dev_set_min_work(dev_ctx_t *d, size_t min_work);

/* How a party's local arithmetic should run (a program's --device). */
typedef enum {
    DEV_USE_CPU = 0, /* the CPU only */
    DEV_USE_AUTO,    /* a CUDA device when there is one, else the CPU */
    DEV_USE_CUDA,    /* a CUDA device, or fail */
} dev_use_t;

/* "cpu", "auto" or "cuda" into *use: 0, or -1 (*use untouched) for
 * anything else. */
int dev_use_parse(const char *s, dev_use_t *use);

/* Picks the path of one party's local arithmetic, for its mpc_ctx_t.device:
 * *out gets a context on device 0 with arena_bytes of device memory (owned
 * by the caller; free with dev_free) and the default threshold, or NULL for
 * the CPU. Writes one line to log (when non-NULL), prefixed with who, naming
 * the path and why:
 *     P0: device NVIDIA H100 80GB HBM3 (sm_90), arena 2048 MiB; jobs of at
 *         least 1048576 units run there (products ...), smaller on the CPU
 *     P0: device cpu (--device cpu)
 *     P0: device cpu: no CUDA in this build (configure with ...)
 * Per-call decisions go to log too when the environment sets
 * MPCLLM_DEVICE_LOG to anything but "0" (dev_set_log); otherwise the context
 * logs nothing more. DEV_USE_AUTO falls back to the CPU on any failure
 * (and says why). Returns MPC_OK, or for DEV_USE_CUDA without a usable
 * device MPC_EDEVICE or MPC_ENOMEM, with *out NULL, the reason in why and
 * nothing logged. */
mpc_err_t dev_select(dev_ctx_t **out, dev_use_t use, size_t arena_bytes, FILE *log, const char *who,
                     char why[DEV_ERR_BYTES]) MPC_WUR;

/* --- device memory ----------------------------------------------------- */

/* bytes of device memory from d's arena, 256-byte aligned; NULL (no error
 * recorded) when the arena is full. Valid until a dev_reset below it. */
void *dev_alloc(dev_ctx_t *d, size_t bytes);
/* The arena's fill level, and rolling it back to a mark. */
size_t dev_mark(const dev_ctx_t *d);
void dev_reset(dev_ctx_t *d, size_t mark);
/* Arena bytes still free. */
size_t dev_avail(const dev_ctx_t *d);

/* Copies bytes host -> device (src may be reused on return) and device ->
 * host (returns once dst holds them, so it waits for the stream's earlier
 * work). dev_fill sets bytes of device memory to the byte value (tests
 * poison outputs with it). dev_sync waits for the stream. Each returns
 * MPC_OK or MPC_EDEVICE. */
mpc_err_t dev_upload(dev_ctx_t *d, void *dst, const void *src, size_t bytes) MPC_WUR;
mpc_err_t dev_download(dev_ctx_t *d, void *dst, const void *src, size_t bytes) MPC_WUR;
mpc_err_t dev_fill(dev_ctx_t *d, void *dst, int value, size_t bytes) MPC_WUR;
mpc_err_t dev_sync(dev_ctx_t *d) MPC_WUR;

/* Device-event timing of the work enqueued between the two calls: ms gets
 * the elapsed milliseconds (dev_timer_stop waits for the stream). */
mpc_err_t dev_timer_start(dev_ctx_t *d) MPC_WUR;
mpc_err_t dev_timer_stop(dev_ctx_t *d, double *ms) MPC_WUR;

/* --- dispatch ---------------------------------------------------------- */

/* 1 when a job of `work` units named op should run on d's device (work
 * reaches the threshold), else 0; logs the choice (see above). d may be
 * NULL (then 0). The products also weigh their intensity (see above). */
int dev_choose(dev_ctx_t *d, const char *op, size_t work);

/* The products of kernels/ring.h on host buffers, on whichever path
 * dev_choose picks (work = m * n * k), provided they do DEV_MIN_INTENSITY
 * multiply-adds per word copied or the threshold is 0. The CUDA path copies
 * A, B (and C when acc) to the arena and C back. A job that does not fit the arena's
 * free space runs on the CPU, and says so in the log. MPC_OK, or
 * MPC_EDEVICE with dev_error(d) set; on error C is unspecified. */
mpc_err_t dev_ring_gemm_nt(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                           size_t m, size_t n, size_t k, int acc) MPC_WUR;
mpc_err_t dev_ring_gemm_nn(dev_ctx_t *d, uint64_t *C, const uint64_t *A, const uint64_t *B,
                           size_t m, size_t n, size_t k, int acc) MPC_WUR;

/* elem_beaver and elem_trunc_finish of kernels/elem.h on host buffers, on
 * the path dev_choose picks (work = n). Failure as above. */
mpc_err_t dev_beaver(dev_ctx_t *d, uint64_t *z, const uint64_t *c, const uint64_t *a,
                     const uint64_t *b, const uint64_t *e, const uint64_t *dd, size_t n,
                     int p0) MPC_WUR;
mpc_err_t dev_trunc_finish(dev_ctx_t *d, uint64_t *out, const uint64_t *c, const uint64_t *rhi,
                           const uint64_t *msb, size_t n, int f, int p0) MPC_WUR;

#endif
