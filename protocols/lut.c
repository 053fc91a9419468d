/* protocols/lut.c - DPF lookups over fields of a masked input. The dealer's
 * tape per call: the shares of r mod 2^W (and of r mod 2^shift_0 when
 * shift_0 > 0), then each field's DPF keys in chunks of LUT_CHUNK, P0's
 * before P1's. */
#include "protocols/lut.h"

#include <sodium.h>
#include <string.h>

#include "protocols/fss.h"

#define LUT_TAG CHAN_TAG('l', 'u', 't', ' ')
/* Elements whose keys are held at once. */
#define LUT_CHUNK 512

static uint64_t low_mask(int bits)
{
    return bits >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
}

/* W: the bits of the masked input that any field reads. */
static int lut_width(const lut_field_t *fields, int nf)
{
    MPC_ASSERT(nf >= 1);
    int w = 0;
    for (int k = 0; k < nf; k++) {
        const lut_field_t *f = &fields[k];
        MPC_ASSERT(f->bits >= 1 && f->bits <= LUT_MAX_BITS);
        MPC_ASSERT(f->shift >= 0 && f->shift <= 62 && f->shift + f->bits <= 64);
        MPC_ASSERT(f->ntab >= 1);
        if (f->shift + f->bits > w) w = f->shift + f->bits;
    }
    return w;
}

size_t lut_open_bytes(const lut_field_t *fields, int nf)
{
    return ((size_t)lut_width(fields, nf) + 7) / 8;
}

size_t lut_key_bytes(const lut_field_t *fields, int nf)
{
    size_t t = 0;
    for (int k = 0; k < nf; k++)
        t += fss_dpf_key_bytes(fields[k].bits, FSS_Z64);
    return t;
}

/* The mask stream of a lookup: r (n words) from the truncation's keyed
 * rounding stream at site. */
static mpc_err_t lut_masks(uint64_t *r, size_t n, const uint8_t seed[PRG_SEED_BYTES], uint64_t site)
{
    prg_t *p = prg_new(seed, site);
    if (!p) return MPC_ENOMEM;
    prg_u64(p, r, n);
    prg_free(&p);
    return MPC_OK;
}

/* --- full-domain DPF evaluation ----------------------------------------- */

size_t lut_dpf_scratch_bytes(int nbits)
{
    size_t N = (size_t)1 << nbits;
    return N * (2 * sizeof(aes_block_t) + 2) + sizeof(aes_block_t);
}

/* The tree of fss.c walked breadth first: every node of a level is hashed
 * in two passes (left children under k0, right under k1), then the children
 * are written in place of their parents, the last first, so that a parent's
 * control bit is read before its slot is reused. The last level goes
 * straight to the outputs. */
void lut_dpf_full(uint64_t *y, const uint8_t *key, int n, const aes_mmo_t *mmo, void *scratch)
{
    MPC_ASSERT(n >= 1 && n <= LUT_MAX_BITS);
    const size_t N = (size_t)1 << n, H = N / 2;
    aes_block_t *s = scratch, *hl = s + N, *hr = hl + H;
    uint8_t *t = (uint8_t *)(hr + H), *sel = t + N; /* sel: H zeros, H ones */
    const uint8_t *tbits = key + 16 + 16 * (size_t)n + 8;
    uint64_t cw;
    memcpy(&cw, key + 16 + 16 * (size_t)n, sizeof cw);
    aes_block_t root;
    memcpy(&root, key, sizeof root);
    const uint64_t b = root.lo & 1, bm = 0 - b;
    root.lo &= ~(uint64_t)1;
    s[0] = root;
    t[0] = (uint8_t)b;
    memset(sel, 0, H);
    memset(sel + H, 1, H);
    for (int lvl = 0; lvl < n; lvl++) {
        const size_t np = (size_t)1 << lvl;
        aes_mmo_hash(mmo, hl, s, sel, np);
        aes_mmo_hash(mmo, hr, s, sel + H, np);
        aes_block_t scw;
        memcpy(&scw, key + 16 + 16 * (size_t)lvl, sizeof scw);
        const uint64_t tcwl = scw.lo & 1, tcwr = (tbits[lvl >> 3] >> (lvl & 7)) & 1;
        scw.lo &= ~(uint64_t)1;
        const int last = lvl == n - 1;
        for (size_t p = np; p-- > 0;) {
            const uint64_t tp = t[p], m = 0 - tp;
            aes_block_t L = hl[p], R = hr[p];
            const uint64_t tl = (L.lo & 1) ^ (tp & tcwl), tr = (R.lo & 1) ^ (tp & tcwr);
            L.lo = (L.lo & ~(uint64_t)1) ^ (scw.lo & m);
            L.hi ^= scw.hi & m;
            R.lo = (R.lo & ~(uint64_t)1) ^ (scw.lo & m);
            R.hi ^= scw.hi & m;
            if (last) { /* (−1)^b · (Convert(s) + t · CW) */
                y[2 * p] = ((L.hi + (cw & (0 - tl))) ^ bm) + b;
                y[2 * p + 1] = ((R.hi + (cw & (0 - tr))) ^ bm) + b;
            } else {
                s[2 * p] = L;
                s[2 * p + 1] = R;
                t[2 * p] = (uint8_t)tl;
                t[2 * p + 1] = (uint8_t)tr;
            }
        }
    }
}

/* Σ_j T[idx(X, j)] · y[j] for one table of a field. */
static uint64_t lut_dot(const uint64_t *T, lut_kind_t kind, int bits, uint64_t X, const uint64_t *y)
{
    const size_t N = (size_t)1 << bits;
    uint64_t acc = 0;
    if (kind == LUT_DIFF) {
        const uint64_t *base = T + N + X; /* T[2^bits + X − j] */
        for (size_t j = 0; j < N; j++)
            acc += base[-(ptrdiff_t)j] * y[j];
        return acc;
    }
    for (size_t j = 0; j <= X; j++)
        acc += T[X - j] * y[j];
    for (size_t j = X + 1; j < N; j++)
        acc += T[X + N - j] * y[j];
    return acc;
}

/* The support of a WRAP field's tables: entries past it are zero in every
 * table (exp's high table is zero beyond −14.25). A field with a small
 * support is evaluated at its K points instead of over the full domain:
 * Σ_j T[X − j] y[j] = Σ_{t < K} T[t] · y[X − t], with y(X − t) from one
 * DPF point evaluation each (bits AES hashes) instead of 2^(bits+1). */
static size_t lut_support(const lut_field_t *f)
{
    const size_t N = (size_t)1 << f->bits;
    if (f->kind != LUT_WRAP) return N;
    size_t K = 0;
    for (int t = 0; t < f->ntab; t++)
        for (size_t j = N; j > K; j--)
            if (f->tab[t][j - 1]) {
                K = j;
                break;
            }
    return K;
}

mpc_err_t lut_gen(mpc_ctx_t *ctx, size_t n, const lut_field_t *fields, int nf, uint64_t site)
{
    const int W = lut_width(fields, nf), s0 = fields[0].shift;
    stats_push(&ctx->stats, "lut");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t chunk = n < LUT_CHUNK ? n : LUT_CHUNK;
    size_t kmax = 0;
    for (int k = 0; k < nf; k++) {
        size_t kb = fss_dpf_key_bytes(fields[k].bits, FSS_Z64);
        if (kb > kmax) kmax = kb;
    }
    uint64_t *r = arena_alloc(&ctx->arena, (2 * n + 2 * chunk + 1) * sizeof *r);
    uint8_t *keys = arena_alloc(&ctx->arena, 2 * chunk * kmax + 1);
    mpc_err_t e = MPC_OK;
    if (!r || !keys || lut_masks(r, n, ctx->round_seed, site)) {
        e = mpc_fail(ctx, MPC_ENOMEM, "lut_gen: out of memory for %zu lookups", n);
        goto out;
    }
    uint64_t *t = r + n, *alpha = t + n, *beta = alpha + chunk;
    for (size_t i = 0; i < n; i++)
        t[i] = r[i] & low_mask(W);
    e = deal_share(ctx, t, n);
    if (!e && s0 > 0) {
        for (size_t i = 0; i < n; i++)
            t[i] = r[i] & low_mask(s0);
        e = deal_share(ctx, t, n);
    }
    for (size_t j = 0; j < chunk; j++)
        beta[j] = 1;
    for (int k = 0; k < nf && !e; k++) {
        const lut_field_t *f = &fields[k];
        const size_t kb = fss_dpf_key_bytes(f->bits, FSS_Z64);
        for (size_t i0 = 0; i0 < n && !e; i0 += chunk) {
            size_t m = n - i0 < chunk ? n - i0 : chunk;
            for (size_t j = 0; j < m; j++)
                alpha[j] = ((r[i0 + j] & low_mask(W)) >> f->shift) & low_mask(f->bits);
            fss_dpf_gen_batch(keys, keys + m * kb, f->bits, FSS_Z64, alpha, beta, m, ctx->local);
            e = deal_write(ctx, MPC_P0, keys, m * kb);
            if (!e) e = deal_write(ctx, MPC_P1, keys + m * kb, m * kb);
        }
    }
    sodium_memzero(r, (2 * n + 2 * chunk + 1) * sizeof *r);
    sodium_memzero(keys, 2 * chunk * kmax + 1);
out:
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

mpc_err_t lut_eval(mpc_ctx_t *ctx, uint64_t *const *out, uint64_t *rem, const uint64_t *x, size_t n,
                   const lut_field_t *fields, int nf, uint64_t site)
{
    (void)site; /* the dealer keys r by site; the parties see its shares */
    const int W = lut_width(fields, nf), s0 = fields[0].shift;
    const size_t ob = ((size_t)W + 7) / 8;
    const uint64_t p0 = ctx->party == MPC_P0;
    stats_push(&ctx->stats, "lut");
    arena_mark_t mark = arena_mark(&ctx->arena);
    const size_t chunk = n < LUT_CHUNK ? n : LUT_CHUNK;
    int bmax = 0;
    size_t kmax = 0;
    for (int k = 0; k < nf; k++) {
        size_t kb = fss_dpf_key_bytes(fields[k].bits, FSS_Z64);
        if (kb > kmax) kmax = kb;
        if (fields[k].bits > bmax) bmax = fields[k].bits;
    }
    const size_t scratch_bytes = lut_dpf_scratch_bytes(bmax);
    uint64_t *r = arena_alloc(&ctx->arena, (3 * n + 1) * sizeof *r);
    uint8_t *pack = arena_alloc(&ctx->arena, 2 * n * ob + 1);
    uint8_t *keys = arena_alloc(&ctx->arena, chunk * kmax + 1);
    uint64_t *y = arena_alloc(&ctx->arena, ((size_t)1 << bmax) * sizeof *y);
    void *scratch = arena_alloc(&ctx->arena, scratch_bytes);
    aes_mmo_t *mmo = arena_alloc(&ctx->arena, sizeof *mmo);
    mpc_err_t e = MPC_OK;
    if (!r || !pack || !keys || !y || !scratch || !mmo) {
        arena_reset(&ctx->arena, mark);
        stats_pop(&ctx->stats);
        return mpc_fail(ctx, MPC_ENOMEM, "lut_eval: out of memory for %zu lookups", n);
    }
    uint64_t *rlow = r + n, *xhat = rlow + n;
    uint8_t *theirs = pack + n * ob;
    e = mpc_corr_share(ctx, r, n);
    if (!e && s0 > 0) e = mpc_corr_share(ctx, rlow, n);
    if (e) goto out;

    /* Open x̂ = x + r mod 2^W: the low W bits of each share. */
    for (size_t i = 0; i < n; i++) {
        xhat[i] = x[i] + r[i];
        for (size_t k = 0; k < ob; k++)
            pack[i * ob + k] = (uint8_t)(xhat[i] >> (8 * k));
    }
    e = mpc_send(ctx, LUT_TAG, pack, n * ob);
    if (!e) e = mpc_recv(ctx, LUT_TAG, theirs, n * ob);
    if (e) goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (size_t k = 0; k < ob; k++)
            v |= (uint64_t)theirs[i * ob + k] << (8 * k);
        xhat[i] = (xhat[i] + v) & low_mask(W);
    }
    if (rem)
        for (size_t i = 0; i < n; i++)
            rem[i] = s0 > 0 ? p0 * (xhat[i] & low_mask(s0)) - rlow[i] : 0;

    aes_mmo_init(mmo);
    int tix = 0;
    for (int k = 0; k < nf; k++) {
        const lut_field_t *f = &fields[k];
        const size_t kb = fss_dpf_key_bytes(f->bits, FSS_Z64);
        const size_t K = lut_support(f);
        const int sparse = K * (size_t)f->bits < ((size_t)1 << f->bits);
        uint64_t *px = NULL, *py = NULL;
        if (sparse) {
            px = arena_alloc(&ctx->arena, 2 * chunk * K * sizeof *px + 1);
            if (!px) {
                e = mpc_fail(ctx, MPC_ENOMEM, "lut: out of memory");
                goto out;
            }
            py = px + chunk * K;
        }
        for (size_t i0 = 0; i0 < n; i0 += chunk) {
            size_t m = n - i0 < chunk ? n - i0 : chunk;
            e = mpc_corr_read(ctx, keys, m * kb);
            if (e) goto out;
            if (sparse) { /* the K points of every key of the chunk, in one batch */
                for (size_t j = 0; j < m; j++) {
                    const uint64_t X = (xhat[i0 + j] >> f->shift) & low_mask(f->bits);
                    for (size_t q = 0; q < K; q++) px[j * K + q] = (X - q) & low_mask(f->bits);
                }
                fss_dpf_eval_batch(py, keys, f->bits, FSS_Z64, px, m, K);
            }
            for (size_t j = 0; j < m; j++) {
                const size_t i = i0 + j;
                const uint64_t X = (xhat[i] >> f->shift) & low_mask(f->bits);
                if (sparse) {
                    for (int t = 0; t < f->ntab; t++) {
                        uint64_t acc = 0;
                        for (size_t q = 0; q < K; q++) acc += f->tab[t][q] * py[j * K + q];
                        out[tix + t][i] = acc;
                    }
                    continue;
                }
                lut_dpf_full(y, keys + j * kb, f->bits, mmo, scratch);
                for (int t = 0; t < f->ntab; t++)
                    out[tix + t][i] = lut_dot(f->tab[t], f->kind, f->bits, X, y);
            }
        }
        tix += f->ntab;
    }
out:
    sodium_memzero(r, (3 * n + 1) * sizeof *r);
    sodium_memzero(keys, chunk * kmax + 1);
    sodium_memzero(y, ((size_t)1 << bmax) * sizeof *y);
    sodium_memzero(scratch, scratch_bytes);
    arena_reset(&ctx->arena, mark);
    stats_pop(&ctx->stats);
    return e;
}

void lut_plain(uint64_t *const *out, uint64_t *rem, const uint64_t *x, size_t n,
               const lut_field_t *fields, int nf, const uint8_t round_seed[PRG_SEED_BYTES],
               uint64_t site)
{
    const int W = lut_width(fields, nf), s0 = fields[0].shift;
    prg_t *p = prg_new(round_seed, site);
    MPC_ASSERT(p);
    for (size_t i = 0; i < n; i++) {
        uint64_t r;
        prg_u64(p, &r, 1);
        r &= low_mask(W);
        const uint64_t xhat = (x[i] + r) & low_mask(W);
        if (rem) rem[i] = s0 > 0 ? (xhat & low_mask(s0)) - (r & low_mask(s0)) : 0;
        int tix = 0;
        for (int k = 0; k < nf; k++) {
            const lut_field_t *f = &fields[k];
            const uint64_t mb = low_mask(f->bits);
            const uint64_t X = (xhat >> f->shift) & mb, a = (r >> f->shift) & mb;
            const size_t idx =
                f->kind == LUT_DIFF ? (size_t)(X + mb + 1 - a) : (size_t)((X - a) & mb);
            for (int t = 0; t < f->ntab; t++)
                out[tix + t][i] = f->tab[t][idx];
            tix += f->ntab;
        }
    }
    prg_free(&p);
}
