/* protocols/bmat.c - batched Beaver matrix products in narrow rings. The
 * dealer's tape per call: A and B from the seed streams, then C shared. */
#include "protocols/bmat.h"

#include <sodium.h>
#include <string.h>

#include "kernels/ring.h"

#define BMAT_TAG CHAN_TAG('b', 'm', 'a', 't')
/* Products at most this many multiply-adds go through the plain loop: the
 * GEMM kernels' setup outweighs a 1 x 1 x 2 product. */
#define BMAT_SMALL 64

mpc_err_t bmat_open_bits(mpc_ctx_t *ctx, uint32_t tag, uint64_t *out, const uint64_t *share,
                         size_t n, int bits)
{
    MPC_ASSERT(bits >= 1 && bits <= 64);
    const size_t ob = bmat_word_bytes(bits);
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint8_t *pack = arena_alloc(&ctx->arena, 2 * n * ob + 1);
    if (!pack) {
        arena_reset(&ctx->arena, mark);
        return mpc_fail(ctx, MPC_ENOMEM, "bmat_open_bits: out of memory for %zu words", n);
    }
    uint8_t *theirs = pack + n * ob;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < ob; b++)
            pack[i * ob + b] = (uint8_t)(share[i] >> (8 * b));
    mpc_err_t e = mpc_send(ctx, tag, pack, n * ob);
    if (!e) e = mpc_recv(ctx, tag, theirs, n * ob);
    if (!e)
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            for (size_t b = 0; b < ob; b++)
                v |= (uint64_t)theirs[i * ob + b] << (8 * b);
            out[i] = bmat_low(share[i] + v, bits);
        }
    sodium_memzero(pack, 2 * n * ob);
    arena_reset(&ctx->arena, mark);
    return e;
}

/* C (m x n) (+)= A (m x k) B (k x n). */
static void gemm(uint64_t *C, const uint64_t *A, const uint64_t *B, size_t m, size_t k, size_t n,
                 int acc)
{
    if (m * k * n > BMAT_SMALL) {
        ring_gemm_nn(C, A, B, m, n, k, acc);
        return;
    }
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t s = acc ? C[i * n + j] : 0;
            for (size_t t = 0; t < k; t++) s += A[i * k + t] * B[t * n + j];
            C[i * n + j] = s;
        }
}

mpc_err_t bmat_mul_gen(mpc_ctx_t *ctx, size_t batch, size_t m, size_t k, size_t n, int bits)
{
    MPC_ASSERT(bits >= 1 && bits <= 64);
    stats_push(&ctx->stats, "bmat");
    const size_t na = batch * m * k, nb = batch * k * n, nc = batch * m * n;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *A = arena_alloc(&ctx->arena, (na + nb + nc) * sizeof *A + 1);
    mpc_err_t e = MPC_OK;
    if (!A) {
        e = mpc_fail(ctx, MPC_ENOMEM, "bmat_gen: out of memory");
        goto out;
    }
    uint64_t *B = A + na, *C = B + nb;
    deal_rand(ctx, A, na);
    deal_rand(ctx, B, nb);
    for (size_t b = 0; b < batch; b++)
        gemm(C + b * m * n, A + b * m * k, B + b * k * n, m, k, n, 0);
    e = deal_share(ctx, C, nc);
    sodium_memzero(A, (na + nb + nc) * sizeof *A);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t bmat_mul_eval(mpc_ctx_t *ctx, uint64_t *Z, const uint64_t *X, const uint64_t *Y,
                        size_t batch, size_t m, size_t k, size_t n, int bits)
{
    MPC_ASSERT(bits >= 1 && bits <= 64);
    stats_push(&ctx->stats, "bmat");
    const size_t na = batch * m * k, nb = batch * k * n, nc = batch * m * n;
    arena_mark_t mark = arena_mark(&ctx->arena);
    uint64_t *A = arena_alloc(&ctx->arena, 2 * (na + nb) * sizeof *A + 1);
    mpc_err_t e = MPC_OK;
    if (!A) {
        e = mpc_fail(ctx, MPC_ENOMEM, "bmat_eval: out of memory");
        goto out;
    }
    uint64_t *B = A + na, *EF = B + nb; /* EF: E (na) | F (nb) */
    mpc_corr_rand(ctx, A, na);
    mpc_corr_rand(ctx, B, nb);
    e = mpc_corr_share(ctx, Z, nc); /* C */
    if (e) goto wipe;
    for (size_t i = 0; i < na; i++) EF[i] = X[i] - A[i];
    for (size_t i = 0; i < nb; i++) EF[na + i] = Y[i] - B[i];
    e = bmat_open_bits(ctx, BMAT_TAG, EF, EF, na + nb, bits);
    if (e) goto wipe;
    const uint64_t *E = EF, *F = EF + na;
    for (size_t b = 0; b < batch; b++) {
        uint64_t *z = Z + b * m * n;
        gemm(z, E + b * m * k, B + b * k * n, m, k, n, 1);
        gemm(z, A + b * m * k, F + b * k * n, m, k, n, 1);
        if (ctx->party == MPC_P0) gemm(z, E + b * m * k, F + b * k * n, m, k, n, 1);
    }
wipe:
    sodium_memzero(A, 2 * (na + nb) * sizeof *A);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void bmat_mul_plain(uint64_t *Z, const uint64_t *X, const uint64_t *Y, size_t batch, size_t m,
                    size_t k, size_t n, int bits)
{
    MPC_ASSERT(bits >= 1 && bits <= 64);
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                uint64_t s = 0;
                for (size_t t = 0; t < k; t++)
                    s += X[b * m * k + i * k + t] * Y[b * k * n + t * n + j];
                Z[b * m * n + i * n + j] = bmat_low(s, bits);
            }
}
