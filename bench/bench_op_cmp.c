/* bench/bench_op_cmp.c - the comparison and selection ops of mpcllm-bench op. */
#include "bench/bench_op_impl.h"

const op_def_t bench_ops_cmp[] = {
    {NULL, NULL, NULL, 0, NULL},
};
