/* bench/bench_kernels.h - `mpcllm-bench kernels`: the CPU ring kernels against
 * the machine's limits.
 *
 * Measures, in one run and on one pinned core: a read pass over a 128 MiB
 * buffer (the memory-bandwidth yardstick), the decode-step GEMV
 * 1x4096 . (4096x4096)^T and its ratio to that pass, and the prefill-block
 * GEMM 128x1024 . 1024x1024 as ring_gemm_nt and ring_gemm_nn on every code
 * path the CPU supports. Each figure is the median of the repeats.
 */
#ifndef BENCH_BENCH_KERNELS_H
#define BENCH_BENCH_KERNELS_H

/* Runs the benchmark; argv[0] is the subcommand name. Options:
 *   --json         one JSON object per result on stdout (keys kernel, isa,
 *                  m, n, k, time_s, min_s, max_s, gmacs, gbps, ratio_to_pass;
 *                  the read pass has m = n = 0 and k = the words read;
 *                  ratio_to_pass is the median of GEMV time / pass time
 *                  over the repeats, each pair timed back to back)
 *   --repeats N    repeats per figure (default 5; the median is reported)
 * A human table always goes to stderr. Returns 0, or 2 on a bad option or
 * when the buffers cannot be allocated (after printing why). */
int bench_kernels_main(int argc, char **argv);

#endif
