/* protocols/topk.h - oblivious top-k: a fixed public k of n, output as a
 * secret k x n one-hot selection matrix, never as indices (DESIGN.md §4).
 *
 * Order and ties. Element a precedes b when x_a > x_b, or x_a = x_b and
 * a < b (ties toward the lower index, as everywhere). Row j of the output
 * is the one-hot of the element of rank j (0-based), j < k: the selection
 * in rank order, so that exactly k entries are 1 whatever the ties. Both
 * algorithms give the same matrix, and the one twin topk_plain serves both.
 *
 * (a) TOPK_RANK, rank by all pairwise comparisons. One round compares every
 *     pair i < j of a row at once, c_ij = cmp_drelu(x_i − x_j) = [x_i >= x_j]
 *     (i wins a tie). Then rank_i = Σ_{j<i} c_ji + Σ_{j>i} (1 − c_ij) is
 *     local, the ranks are a permutation of [0, n), and row j of the output
 *     at column i is [rank_i = j]: a DPF one-hot of each rank, evaluated on
 *     the first k columns only (eq_onehot_eval, 1 round). 2 rounds,
 *     n(n−1)/2 comparisons. No "selected" comparison is needed: the elements
 *     of rank < k are the selection, and rank order gives their slots.
 * (b) TOPK_SORT, a comparator network on combined keys. With m =
 *     eq_index_bits(n), K_i = x_i·2^m + (2^m − 1 − i) carries the index in
 *     its low bits and makes all keys distinct with the tie rule built in,
 *     so one comparison per comparator suffices: c = cmp_drelu(K_i − K_j)
 *     on nbits + m bits, then hi = K_j + c·(K_i − K_j) (one narrow Beaver
 *     product, bmat.h) and lo = K_i + K_j − hi. The network is Batcher's
 *     odd–even merge sort (Knuth TAOCP 5.3.4) on the next power of two,
 *     sorting in decreasing order: comparators that touch a position >= n
 *     are dropped (missing elements act as −∞ at the end, so those
 *     comparators never move anything), and then, walking back from the
 *     outputs [0, k), every comparator that cannot reach them is dropped.
 *     Finally the index of position j is 2^m − 1 − (K_j mod 2^m), expanded
 *     by eq_onehot_eval (1 round). 2·layers + 1 rounds, O(n log² n)
 *     comparisons. Needs nbits + m <= 64.
 *
 * Cost model (topk_cost, topk_plan). Exact bytes and rounds of each
 * algorithm for the public sizes, and an estimate
 *     t = compute + bytes/bandwidth + rounds·RTT/2 + w·offline/bandwidth
 * (DESIGN.md §5; bytes are one party's sent, the larger direction; w is the
 * share of the dealer's stream on the critical path: 0 when correlations
 * are generated beforehand, 1 when the dealer streams at the same rate).
 * topk_plan picks the cheaper; TOPK_AUTO asks it with the LAN defaults
 * (1 Gbit/s, 0.5 ms RTT, w = 0). Top-16 of 128 picks (a): 2 rounds; from
 * top-32 of 256 on, (b) wins on compute (its O(n log² n) comparisons).
 *
 * Bytes each party sends per row, q = ⌈nbits/8⌉, qK = ⌈(nbits+m)/8⌉,
 * qm = ⌈m/8⌉, C comparators: (a) q·n(n−1)/2 + qm·n; (b) 3qK·C + qm·k.
 * Offline: a DReLU's DCF key per comparison (cmp.h), 8 B per product to
 * P1, and one DPF key on m bits per one-hot row.
 * The caller states nbits with |x_a − x_b| < 2^(nbits−1) for any two
 * entries of a row; masked entries hold a finite sentinel inside it.
 */
#ifndef PROTOCOLS_TOPK_H
#define PROTOCOLS_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "mpc/ctx.h"

typedef enum topk_algo {
    TOPK_AUTO = 0, /* topk_plan with topk_net_lan() */
    TOPK_RANK,     /* (a) all pairwise comparisons, 2 rounds */
    TOPK_SORT,     /* (b) odd–even merge network */
} topk_algo_t;

/* The network a plan assumes (DESIGN.md §5). */
typedef struct topk_net {
    double bandwidth;      /* bytes per second, each direction */
    double rtt;            /* seconds */
    double offline_weight; /* share of the dealer's bytes on the critical path */
} topk_net_t;

/* 1 Gbit/s, 0.5 ms RTT, correlations generated beforehand. */
topk_net_t topk_net_lan(void);

/* What one algorithm costs for rows of n: per party, per call. */
typedef struct topk_cost {
    uint64_t rounds;
    uint64_t bytes;         /* sent by each party (both send the same) */
    uint64_t offline_bytes; /* received by P1 from the dealer */
    uint64_t comparisons;
    double est_s; /* the model's time on the given network */
} topk_cost_t;

/* The cost of algo (TOPK_RANK or TOPK_SORT) on net; a TOPK_SORT that cannot
 * run (nbits + m > 64) costs rounds = UINT64_MAX and est_s = HUGE_VAL. */
topk_cost_t topk_cost(size_t rows, size_t n, size_t k, int nbits, topk_algo_t algo,
                      const topk_net_t *net);
/* The cheaper algorithm by est_s (TOPK_RANK on a tie). */
topk_algo_t topk_plan(size_t rows, size_t n, size_t k, int nbits, const topk_net_t *net);

/* Dealer / party: out (rows x k x n) = shares of each row's selection
 * matrix, x (rows x n). 1 <= k <= n, nbits in 2..64 with the bound above.
 * out must not alias x. Rounds and bytes: topk_cost (0 rounds for n = 1).
 * Fails on the channel's or the tape's error, or MPC_ENOMEM. */
mpc_err_t topk_gen(mpc_ctx_t *ctx, size_t rows, size_t n, size_t k, int nbits,
                   topk_algo_t algo) MPC_WUR;
mpc_err_t topk_eval(mpc_ctx_t *ctx, uint64_t *out, const uint64_t *x, size_t rows, size_t n,
                    size_t k, int nbits, topk_algo_t algo) MPC_WUR;

/* The plaintext twin, running algo itself in the clear (TOPK_SORT walks the
 * same pruned network). Aborts when a comparison breaks the bound. */
void topk_plain(uint64_t *out, const uint64_t *x, size_t rows, size_t n, size_t k, int nbits,
                topk_algo_t algo);

#endif
