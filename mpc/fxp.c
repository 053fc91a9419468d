/* mpc/fxp.c - fixed-point encode/decode. */
#include "mpc/fxp.h"

#include <math.h>

uint64_t fxp_encode(double x, int f)
{
    double y = ldexp(x, f);
    if (y != y) return 0;
    /* 2^63 is exactly representable; anything at or beyond saturates. */
    if (y >= 9223372036854775808.0) return (uint64_t)INT64_MAX;
    if (y <= -9223372036854775808.0) return (uint64_t)1 << 63;
    return (uint64_t)llround(y);
}

double fxp_decode(uint64_t u, int f)
{
    return ldexp((double)fxp_signed(u), -f);
}

double fxp_max(int f)
{
    return ldexp((double)INT64_MAX, -f);
}

double fxp_min(int f)
{
    return -ldexp(1.0, 63 - f);
}

void fxp_encode_array(uint64_t *out, const double *x, int n, int f)
{
    for (int i = 0; i < n; i++) out[i] = fxp_encode(x[i], f);
}

void fxp_decode_array(double *out, const uint64_t *u, int n, int f)
{
    for (int i = 0; i < n; i++) out[i] = fxp_decode(u[i], f);
}
