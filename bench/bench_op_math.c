/* bench/bench_op_math.c - the function ops of mpcllm-bench op. */
#include "bench/bench_op_impl.h"

const op_def_t bench_ops_math[] = {
    {NULL, NULL, NULL, 0, NULL},
};
