/* bench/main.c - mpcllm-bench: micro-benchmarks of protocols and kernels.
 * Results are JSON lines on stdout with --json, a table on stderr always. */
#include <stdio.h>
#include <string.h>

#include "bench/bench_accuracy.h"
#include "bench/bench_kernels.h"
#include "bench/bench_model.h"
#include "bench/bench_op.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mpcllm-bench op --op NAME --n N [--device cpu|cuda] [--repeats R] [--json]\n"
            "       mpcllm-bench kernels [--repeats R] [--json]\n"
            "       mpcllm-bench decode --shape NAME --seq T [--dealer offline|stream] [--json]\n"
            "       mpcllm-bench prefill --shape NAME --seq T [--json]\n"
            "       mpcllm-bench accuracy --policy NAME [--budget R] [--engine float|fixed|secure]\n"
            "                             [--model PATH] [--data PATH] [--json]   (or --sweep)\n"
            "\n"
            "  op       one two-party protocol: dealer offline into tape files, then P0 and\n"
            "           P1 online over tcp://127.0.0.1 with CurveZMQ. Ops: mul, matmul, trunc\n"
            "  kernels  the CPU ring kernels against this machine's memory bandwidth\n"
            "  accuracy teacher-forced perplexity of a KV-cache policy against the full cache\n"
            "           on TinyStories (see mpcllm-bench accuracy --help)\n"
            "  decode   one secure decode step of a model shape at cache length T\n"
            "  prefill  a secure prefill of T tokens (see mpcllm-bench decode --help)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "op")) return bench_op_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "kernels")) return bench_kernels_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "accuracy")) return bench_accuracy_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return bench_decode_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "prefill")) return bench_prefill_main(argc - 1, argv + 1);
    fprintf(stderr, "mpcllm-bench: unknown command '%s' (see mpcllm-bench --help)\n", argv[1]);
    return 2;
}
