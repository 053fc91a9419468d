/* kernels/elem.c - Beaver reconstruction and truncation, element by element.
 *
 * Plain loops: the compiler vectorises them (the products are 64-bit
 * multiplies, AVX-512 DQ's vpmullq where the build allows it, else scalar
 * imul at one per cycle), and they are bound by memory bandwidth anyway.
 */
#include "kernels/elem.h"

#include "mpc/err.h"

void elem_beaver(uint64_t *z, const uint64_t *c, const uint64_t *a, const uint64_t *b,
                 const uint64_t *e, const uint64_t *d, size_t n, int p0)
{
    const uint64_t pm = p0 ? ~(uint64_t)0 : 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t ei = e[i], di = d[i];
        z[i] = c[i] + ei * b[i] + di * a[i] + ((ei * di) & pm);
    }
}

void elem_trunc_open(uint64_t *c, const uint64_t *x, const uint64_t *r, size_t n, int p0)
{
    const uint64_t off = p0 ? ELEM_TRUNC_OFFSET : 0;
    for (size_t i = 0; i < n; i++)
        c[i] = x[i] + r[i] + off;
}

void elem_trunc_finish(uint64_t *out, const uint64_t *c, const uint64_t *rhi, const uint64_t *msb,
                       size_t n, int f, int p0)
{
    MPC_ASSERT(f > 0 && f < 62);
    const uint64_t pm = p0 ? ~(uint64_t)0 : 0;
    const uint64_t wrap = (uint64_t)1 << (64 - f), off = ELEM_TRUNC_OFFSET >> f;
    for (size_t i = 0; i < n; i++) {
        const uint64_t ci = c[i];
        const uint64_t w = msb[i] * (1 - (ci >> 63));
        out[i] = w * wrap - rhi[i] + (((ci >> f) - off) & pm);
    }
}
