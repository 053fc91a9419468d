/* mpc/fxp.h - fixed-point encoding in the ring Z_2^64.
 *
 * A real x is held as the two's-complement integer round(x * 2^f) reduced mod
 * 2^64, with f fractional bits (16 by default, 12-20 allowed). All ring
 * arithmetic is done on uint64_t, where wrap-around is defined; conversion to
 * a signed value happens only through fxp_signed(), never by overflow.
 */
#ifndef MPC_FXP_H
#define MPC_FXP_H

#include <stdint.h>

#define FXP_FRAC_BITS_DEFAULT 16
#define FXP_FRAC_BITS_MIN 12
#define FXP_FRAC_BITS_MAX 20

/* The signed value of a ring element (two's complement), without UB. */
static inline int64_t fxp_signed(uint64_t u)
{
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* round(x * 2^f), saturated to the int64 range; NaN encodes as 0. */
uint64_t fxp_encode(double x, int f);

/* The real value of u at scale f. */
double fxp_decode(uint64_t u, int f);

/* The largest and smallest reals that encode without saturating at scale f. */
double fxp_max(int f);
double fxp_min(int f);

void fxp_encode_array(uint64_t *out, const double *x, int n, int f);
void fxp_decode_array(double *out, const uint64_t *u, int n, int f);

#endif
