/* llm/fail_impl.h - error detail for the llm/ sources (private to llm/).
 *
 * Public llm/ functions report failures as an mpc_err_t plus one line in a
 * caller's buffer of CHAN_ERR_BYTES, as mpc/ and net/ do; llm_fail writes that
 * line so every source formats it the same way.
 */
#ifndef LLM_FAIL_IMPL_H
#define LLM_FAIL_IMPL_H

#include "mpc/chan.h"
#include "mpc/err.h"

/* Writes the printf-style message into err (CHAN_ERR_BYTES; nothing when err
 * is NULL, truncated when longer) and returns code. */
mpc_err_t llm_fail(char *err, mpc_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
