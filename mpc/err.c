/* mpc/err.c - names of the error codes. */
#include "mpc/err.h"

const char *mpc_err_str(mpc_err_t err)
{
    switch (err) {
    case MPC_OK: return "ok";
    case MPC_ENOMEM: return "out of memory";
    case MPC_EIO: return "i/o error";
    case MPC_EPEER: return "peer error";
    case MPC_EARG: return "invalid argument";
    case MPC_EEXHAUSTED: return "correlations exhausted";
    case MPC_EDEVICE: return "device error";
    case MPC_EFORMAT: return "malformed input";
    }
    return "unknown error";
}
