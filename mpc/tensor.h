/* mpc/tensor.h - share tensors: ring elements with a shape and a scale.
 *
 * A tensor_t holds n = prod(shape) elements of Z_2^64, row-major, and the
 * fixed-point scale (fractional bits) of the values they encode. A party's
 * tensor is its additive share; tensor_share and tensor_reconstruct convert
 * between a plaintext tensor and two shares, for tests and for inputs that a
 * party shares itself. Data is zeroed when freed.
 */
#ifndef MPC_TENSOR_H
#define MPC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/prg.h"

#define TENSOR_MAX_DIMS 4

typedef struct tensor {
    uint64_t *data; /* (shape[0], ..., shape[ndim-1]), row-major */
    size_t shape[TENSOR_MAX_DIMS];
    int ndim;
    size_t n;
    int frac_bits;
} tensor_t;

/* A zeroed tensor of the given shape (ndim 1-4) at scale frac_bits; NULL when
 * out of memory. The caller owns it; free with tensor_free. */
tensor_t *tensor_new(int ndim, const size_t *shape, int frac_bits);
/* Shorthands for 1-D and 2-D tensors. */
tensor_t *tensor_new1(size_t n, int frac_bits);
tensor_t *tensor_new2(size_t rows, size_t cols, int frac_bits);
/* Zeroes the data, frees, and sets *t to NULL; accepts NULL. */
void tensor_free(tensor_t **t);

/* Encodes/decodes between doubles and the tensor's fixed-point scale. */
void tensor_encode(tensor_t *t, const double *x);
void tensor_decode(const tensor_t *t, double *x);

/* Splits plain into s0 + s1 (mod 2^64) with s0 drawn from prg. The three
 * tensors must have the same shape. */
void tensor_share(tensor_t *s0, tensor_t *s1, const tensor_t *plain, prg_t *prg);
/* plain = s0 + s1. */
void tensor_reconstruct(tensor_t *plain, const tensor_t *s0, const tensor_t *s1);

#endif
