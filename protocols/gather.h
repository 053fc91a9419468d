/* protocols/gather.h - oblivious gather and scatter: a secret one-hot
 * selection (k x n, from topk.h or eq.h) times a secret-shared matrix
 * (DESIGN.md §4, "oblivious gather / scatter: one-hot x matrix, with mask
 * reuse on the matrix").
 *
 *   gather:  Out (k x d) = S (k x n) · Y (n x d): row j of Out is the row of
 *            Y that row j of S selects.
 *   scatter: Out (n x d) = S^T (n x k) · V (k x d): the transpose, which puts
 *            row j of V back at the position S selected for it (zeros
 *            elsewhere), e.g. attention probabilities over a selection
 *            scattered back to the cached tokens (DESIGN.md §7, form (a)).
 *
 * S holds 0/1 integers (scale 0), so the products are exact and stay at
 * Y's fixed-point scale: no truncation follows.
 *
 * Two ways to multiply:
 *   - Y a fixed operand with a reused mask (matmul.h, matmul_fixed_*: a KV
 *     row or a cluster summary whose F = Y − B was opened once when it was
 *     written): only E = S − A is opened, k·n words. 1 round; each party
 *     sends 8·k·n bytes, whatever d. Offline: P1 receives k·d words (C).
 *   - Y fresh: a Beaver matrix triple (bmat.h) opens E = S − A and
 *     F = Y − B. 1 round; each party sends 8·(k·n + n·d) bytes (gather) or
 *     8·(n·k + k·d) (scatter). Offline: P1 receives k·d (gather) or n·d
 *     (scatter) words.
 * Message sizes depend only on k, n and d.
 */
#ifndef PROTOCOLS_GATHER_H
#define PROTOCOLS_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"
#include "protocols/matmul.h"

/* Dealer / party: Out (k x d) = S (k x n) · Y (n x d), S and Y fresh
 * shares. out must not alias s or y. 1 round. Fails on the channel's or the
 * tape's error, or MPC_ENOMEM. */
mpc_err_t gather_gen(mpc_ctx_t *ctx, size_t k, size_t n, size_t d) MPC_WUR;
mpc_err_t gather_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s, const uint64_t *y,
                      size_t k, size_t n, size_t d) MPC_WUR;

/* Dealer / party: Out (k x y->cols) = S (k x y->rows) · Y for a fixed
 * operand Y (matmul_fixed_gen / matmul_fixed_eval opened its F before). The
 * dealer passes its own matmul_fixed_t (holding B). 1 round, 8·k·n bytes
 * sent per party. */
mpc_err_t gather_fixed_gen(mpc_ctx_t *ctx, const matmul_fixed_t *y, size_t k) MPC_WUR;
mpc_err_t gather_fixed_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s,
                            const matmul_fixed_t *y, size_t k) MPC_WUR;

/* Dealer / party: Out (n x d) = S^T · V, S (k x n) and V (k x d) fresh
 * shares. out must not alias s or v. 1 round. */
mpc_err_t gather_scatter_gen(mpc_ctx_t *ctx, size_t k, size_t n, size_t d) MPC_WUR;
mpc_err_t gather_scatter_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *s, const uint64_t *v,
                              size_t k, size_t n, size_t d) MPC_WUR;

/* Plaintext twins (exact ring products). gather_plain aborts when a row of
 * S is not 0/1 with at most one 1 (a selection); so does
 * gather_scatter_plain for a column. */
void gather_plain(uint64_t *out, const uint64_t *s, const uint64_t *y, size_t k, size_t n,
                  size_t d);
void gather_scatter_plain(uint64_t *out, const uint64_t *s, const uint64_t *v, size_t k, size_t n,
                          size_t d);

#endif
