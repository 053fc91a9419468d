/* llm/fail.c - formats the one-line error detail of llm/ (fail_impl.h). */
#include <stdarg.h>
#include <stdio.h>

#include "llm/fail_impl.h"

mpc_err_t llm_fail(char *err, mpc_err_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, CHAN_ERR_BYTES, fmt, ap);
        va_end(ap);
    }
    return code;
}
