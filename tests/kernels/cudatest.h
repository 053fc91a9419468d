/* tests/kernels/cudatest.h - what the CUDA kernels' tests share: a device
 * context and a PRG with a printed seed per group, a checked-call macro, the
 * poison value, and the skip (exit 77) without a device or without CUDA in
 * the build. Header-only: each test includes it once. */
#ifndef TESTS_KERNELS_CUDATEST_H
#define TESTS_KERNELS_CUDATEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kernels/aes.h"
#include "kernels/dev.h"
#include "mpc/prg.h"

#define POISON 0xa5a5a5a5a5a5a5a5ull
#define ARENA  ((size_t)1 << 30)

typedef struct fixture {
    dev_ctx_t *d;
    prg_t *g;
    aes_mmo_t mmo;
} fixture_t;

/* Fails the test with the call, its error and the device's detail. */
#define DEV_OK(d, call)                                                                            \
    do {                                                                                           \
        mpc_err_t e_ = (call);                                                                     \
        if (e_ != MPC_OK) fail_msg("%s: %s: %s", #call, mpc_err_str(e_), dev_error(d));            \
    } while (0)

static int cuda_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    char err[DEV_ERR_BYTES];
    if (!fx || dev_new(&fx->d, 0, ARENA, err) != MPC_OK) {
        fprintf(stderr, "dev_new: %s\n", fx ? err : "out of memory");
        free(fx);
        return -1;
    }
    uint8_t seed[PRG_SEED_BYTES];
    prg_seed_random(seed);
    printf("# device %s, seed ", dev_name(fx->d));
    for (int i = 0; i < PRG_SEED_BYTES; i++)
        printf("%02x", seed[i]);
    printf("\n");
    fx->g = prg_new(seed, 0);
    aes_mmo_init(&fx->mmo);
    *state = fx;
    return fx->g ? 0 : -1;
}

static int cuda_teardown(void **state)
{
    fixture_t *fx = *state;
    prg_free(&fx->g);
    dev_free(&fx->d);
    free(fx);
    return 0;
}

/* Runs the group on the device, or says why not and returns 77 (skipped). */
#define CUDA_RUN_GROUP(tests)                                                                      \
    do {                                                                                           \
        char why_[DEV_ERR_BYTES];                                                                  \
        if (dev_count(why_) == 0) {                                                                \
            printf("skipped: %s\n", why_);                                                         \
            return 77;                                                                             \
        }                                                                                          \
        return cmocka_run_group_tests(tests, cuda_setup, cuda_teardown);                           \
    } while (0)

#endif
