/* mpc/tensor.c - share tensors. */
#include "mpc/tensor.h"

#include <sodium.h>
#include <stdlib.h>

#include "mpc/fxp.h"

tensor_t *tensor_new(int ndim, const size_t *shape, int frac_bits)
{
    MPC_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS);
    tensor_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        if (shape[i] && t->n > SIZE_MAX / 8 / shape[i]) {
            free(t);
            return NULL;
        }
        t->n *= shape[i];
    }
    t->frac_bits = frac_bits;
    t->data = calloc(t->n ? t->n : 1, sizeof *t->data);
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

tensor_t *tensor_new1(size_t n, int frac_bits)
{
    return tensor_new(1, &n, frac_bits);
}

tensor_t *tensor_new2(size_t rows, size_t cols, int frac_bits)
{
    size_t s[2] = {rows, cols};
    return tensor_new(2, s, frac_bits);
}

void tensor_free(tensor_t **tp)
{
    if (!tp || !*tp) return;
    tensor_t *t = *tp;
    sodium_memzero(t->data, t->n * sizeof *t->data);
    free(t->data);
    free(t);
    *tp = NULL;
}

void tensor_encode(tensor_t *t, const double *x)
{
    for (size_t i = 0; i < t->n; i++) t->data[i] = fxp_encode(x[i], t->frac_bits);
}

void tensor_decode(const tensor_t *t, double *x)
{
    for (size_t i = 0; i < t->n; i++) x[i] = fxp_decode(t->data[i], t->frac_bits);
}

void tensor_share(tensor_t *s0, tensor_t *s1, const tensor_t *plain, prg_t *prg)
{
    MPC_ASSERT(s0->n == plain->n && s1->n == plain->n);
    prg_u64(prg, s0->data, plain->n);
    for (size_t i = 0; i < plain->n; i++) s1->data[i] = plain->data[i] - s0->data[i];
    s0->frac_bits = s1->frac_bits = plain->frac_bits;
}

void tensor_reconstruct(tensor_t *plain, const tensor_t *s0, const tensor_t *s1)
{
    MPC_ASSERT(s0->n == plain->n && s1->n == plain->n);
    for (size_t i = 0; i < plain->n; i++) plain->data[i] = s0->data[i] + s1->data[i];
    plain->frac_bits = s0->frac_bits;
}
