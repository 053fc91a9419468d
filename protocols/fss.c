/* protocols/fss.c - DPF and DCF key generation and evaluation (BGI16 tree,
 * BCG+21 comparison), FSS_LANES trees at a time over the MMO hash.
 *
 * All group arithmetic is done in Z_2^64 and reduced by the group's mask at
 * the end: reduction mod 2 is a ring homomorphism, so the Z_2 keys and
 * outputs come out of the same code, with (−1)^t = 1 and + = ⊕ after the
 * mask. Selections on secret bits (α at the dealer, the control bits
 * everywhere) are masks, not branches.
 */
#include "protocols/fss.h"

#include <sodium.h>
#include <string.h>

#include "kernels/aes.h"
#include "mpc/err.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the FSS key format is little-endian, as the AES-NI hosts it targets"
#endif

/* Where each part of a key lives (byte offsets), see fss.h. */
typedef struct layout {
    size_t scw;   /* n seed corrections, 16 bytes each */
    size_t vcw;   /* DCF Z_2^64: n value corrections, 8 bytes each */
    size_t cw;    /* Z_2^64: the output correction, 8 bytes */
    size_t bits;  /* the bit array */
    size_t vbit;  /* Z_2: index of the first V_cw bit in the array (DCF) */
    size_t cwbit; /* Z_2: index of the CW_{n+1} bit */
    size_t total;
} layout_t;

static layout_t key_layout(int n, fss_group_t g, int dcf)
{
    MPC_ASSERT(n >= 1 && n <= 64);
    MPC_ASSERT(g == FSS_Z2 || g == FSS_Z64);
    size_t un = (size_t)n;
    layout_t l = {0};
    l.scw = 16;
    size_t end = l.scw + 16 * un;
    if (g == FSS_Z64) {
        if (dcf) {
            l.vcw = end;
            end += 8 * un;
        }
        l.cw = end;
        l.bits = end + 8;
        l.total = l.bits + (un + 7) / 8;
    } else {
        l.bits = end;
        l.vbit = un;
        l.cwbit = dcf ? 2 * un : un;
        l.total = l.bits + (l.cwbit + 1 + 7) / 8;
    }
    return l;
}

size_t fss_dpf_key_bytes(int nbits, fss_group_t g)
{
    return key_layout(nbits, g, 0).total;
}
size_t fss_dcf_key_bytes(int nbits, fss_group_t g)
{
    return key_layout(nbits, g, 1).total;
}

static uint64_t group_mask(fss_group_t g)
{
    return g == FSS_Z2 ? 1 : ~(uint64_t)0;
}

static aes_block_t blk_load(const uint8_t *p)
{
    aes_block_t b;
    memcpy(&b, p, sizeof b);
    return b;
}

static void blk_store(uint8_t *p, aes_block_t b)
{
    memcpy(p, &b, sizeof b);
}

static uint64_t u64_load(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void u64_store(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

static uint64_t bit_get(const uint8_t *bits, size_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static void bit_put(uint8_t *bits, size_t i, uint64_t v)
{
    bits[i >> 3] = (uint8_t)(bits[i >> 3] | (v & 1) << (i & 7));
}

/* (−1)^t · a for a bit t. */
static uint64_t sgn(uint64_t t, uint64_t a)
{
    return (a ^ (0 - t)) + t;
}

/* m ? a : b for a mask m (all ones or zero). */
static uint64_t pick(uint64_t m, uint64_t a, uint64_t b)
{
    return (a & m) | (b & ~m);
}

static aes_block_t pick_blk(uint64_t m, aes_block_t a, aes_block_t b)
{
    return (aes_block_t){pick(m, a.lo, b.lo), pick(m, a.hi, b.hi)};
}

static aes_block_t blk_xor_if(aes_block_t a, uint64_t m, aes_block_t b)
{
    return (aes_block_t){a.lo ^ (b.lo & m), a.hi ^ (b.hi & m)};
}

/* Splits a hashed child block into its seed and control bit. */
static uint64_t take_t(aes_block_t *b)
{
    uint64_t t = b->lo & 1;
    b->lo &= ~(uint64_t)1;
    return t;
}

/* --- generation --------------------------------------------------------- */

/* Generates m <= FSS_LANES keys of one kind (dcf or dpf) into k0/k1 (stride
 * l->total), from the 2m root seeds in roots (P0's then P1's per key). */
static void gen_group(uint8_t *k0, uint8_t *k1, const layout_t *l, int n, fss_group_t g, int dcf,
                      const uint64_t *alpha, const uint64_t *beta, size_t m, const uint8_t *roots,
                      const aes_mmo_t *mmo)
{
    enum { PER = 6 }; /* blocks per lane and level: 2 parties × (L, R, V) */
    aes_block_t s[FSS_LANES][2], h[FSS_LANES * PER];
    uint64_t t[FSS_LANES][2], va[FSS_LANES];
    uint8_t sel[FSS_LANES * PER];
    const uint64_t gm = group_mask(g);
    const int nk = dcf ? 3 : 2;

    for (size_t j = 0; j < m; j++) {
        uint8_t *key[2] = {k0 + j * l->total, k1 + j * l->total};
        memset(key[0], 0, l->total);
        memset(key[1], 0, l->total);
        for (int p = 0; p < 2; p++) {
            s[j][p] = blk_load(roots + (2 * j + (size_t)p) * 16);
            s[j][p].lo &= ~(uint64_t)1;
            t[j][p] = (uint64_t)p;
            aes_block_t root = s[j][p];
            root.lo |= (uint64_t)p;
            blk_store(key[p], root);
        }
        va[j] = 0;
    }
    for (int i = 0; i < n; i++) {
        size_t nb = 0;
        for (size_t j = 0; j < m; j++)
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < nk; q++) {
                    h[nb] = s[j][p];
                    sel[nb++] = (uint8_t)q;
                }
        aes_mmo_hash(mmo, h, h, sel, nb);
        for (size_t j = 0; j < m; j++) {
            uint8_t *key[2] = {k0 + j * l->total, k1 + j * l->total};
            const aes_block_t *hj = &h[j * 2 * (size_t)nk];
            uint64_t a = (alpha[j] >> (n - 1 - i)) & 1, am = 0 - a;
            aes_block_t sl[2], sr[2];
            uint64_t tl[2], tr[2];
            for (int p = 0; p < 2; p++) {
                sl[p] = hj[p * nk + 0];
                sr[p] = hj[p * nk + 1];
                tl[p] = take_t(&sl[p]);
                tr[p] = take_t(&sr[p]);
            }
            /* α_i = 1: keep the right child, lose the left (x < α there). */
            aes_block_t lose0 = pick_blk(am, sl[0], sr[0]), lose1 = pick_blk(am, sl[1], sr[1]);
            aes_block_t keep0 = pick_blk(am, sr[0], sl[0]), keep1 = pick_blk(am, sr[1], sl[1]);
            aes_block_t scw = {lose0.lo ^ lose1.lo, lose0.hi ^ lose1.hi};
            uint64_t tcwl = tl[0] ^ tl[1] ^ a ^ 1, tcwr = tr[0] ^ tr[1] ^ a;
            uint64_t tcwk = pick(am, tcwr, tcwl);

            aes_block_t stored = scw;
            stored.lo |= tcwl;
            for (int p = 0; p < 2; p++) {
                blk_store(key[p] + l->scw + 16 * (size_t)i, stored);
                bit_put(key[p] + l->bits, (size_t)i, tcwr);
            }
            if (dcf) {
                aes_block_t v0 = hj[2], v1 = hj[nk + 2];
                uint64_t vlose0 = pick(am, v0.lo, v0.hi), vlose1 = pick(am, v1.lo, v1.hi);
                uint64_t vkeep0 = pick(am, v0.hi, v0.lo), vkeep1 = pick(am, v1.hi, v1.lo);
                uint64_t t1 = t[j][1];
                uint64_t vcw = sgn(t1, vlose1 - vlose0 - va[j] + (beta[j] & am)) & gm;
                va[j] = va[j] - vkeep1 + vkeep0 + sgn(t1, vcw);
                for (int p = 0; p < 2; p++) {
                    if (g == FSS_Z64)
                        u64_store(key[p] + l->vcw + 8 * (size_t)i, vcw);
                    else
                        bit_put(key[p] + l->bits, l->vbit + (size_t)i, vcw);
                }
            }
            s[j][0] = blk_xor_if(keep0, 0 - t[j][0], scw);
            s[j][1] = blk_xor_if(keep1, 0 - t[j][1], scw);
            uint64_t tk0 = pick(am, tr[0], tl[0]), tk1 = pick(am, tr[1], tl[1]);
            t[j][0] = tk0 ^ (t[j][0] & tcwk);
            t[j][1] = tk1 ^ (t[j][1] & tcwk);
        }
    }
    for (size_t j = 0; j < m; j++) {
        uint8_t *key[2] = {k0 + j * l->total, k1 + j * l->total};
        /* DPF: the leaves on α's path must add to β; DCF: to −V_α, so that
         * the path's value words cancel (x = α is not < α). */
        uint64_t target = dcf ? 0 - va[j] : beta[j];
        uint64_t cw = sgn(t[j][1], target - s[j][0].hi + s[j][1].hi) & gm;
        for (int p = 0; p < 2; p++) {
            if (g == FSS_Z64)
                u64_store(key[p] + l->cw, cw);
            else
                bit_put(key[p] + l->bits, l->cwbit, cw);
        }
    }
    sodium_memzero(s, sizeof s);
    sodium_memzero(h, sizeof h);
    sodium_memzero(t, sizeof t);
    sodium_memzero(va, sizeof va);
}

static void gen_batch(uint8_t *keys0, uint8_t *keys1, int n, fss_group_t g, int dcf,
                      const uint64_t *alpha, const uint64_t *beta, size_t count, prg_t *prg)
{
    const layout_t l = key_layout(n, g, dcf);
    const uint64_t dom = n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    for (size_t i = 0; i < count; i++) {
        MPC_ASSERT((alpha[i] & ~dom) == 0);
        MPC_ASSERT(g == FSS_Z64 || beta[i] <= 1);
    }
    aes_mmo_t mmo;
    aes_mmo_init(&mmo);
    uint8_t roots[FSS_LANES * 32];
    for (size_t i = 0; i < count; i += FSS_LANES) {
        size_t m = count - i < FSS_LANES ? count - i : FSS_LANES;
        prg_bytes(prg, roots, 32 * m);
        gen_group(keys0 + i * l.total, keys1 + i * l.total, &l, n, g, dcf, alpha + i, beta + i, m,
                  roots, &mmo);
    }
    sodium_memzero(roots, sizeof roots);
}

/* --- evaluation --------------------------------------------------------- */

/* Evaluates `total` (key, x) pairs, evaluation e on key e / per_key. */
static void eval_batch(uint64_t *out, const uint8_t *keys, int n, fss_group_t g, int dcf,
                       const uint64_t *x, size_t count, size_t per_key)
{
    const layout_t l = key_layout(n, g, dcf);
    const uint64_t gm = group_mask(g);
    const uint64_t dom = n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    const size_t total = count * per_key;
    const int per = dcf ? 2 : 1; /* blocks per lane and level */
    aes_mmo_t mmo;
    aes_mmo_init(&mmo);
    aes_block_t s[FSS_LANES], h[FSS_LANES * 2];
    uint64_t t[FSS_LANES], b[FSS_LANES], v[FSS_LANES];
    const uint8_t *kp[FSS_LANES];
    uint8_t sel[FSS_LANES * 2];

    for (size_t e0 = 0; e0 < total; e0 += FSS_LANES) {
        size_t m = total - e0 < FSS_LANES ? total - e0 : FSS_LANES;
        for (size_t j = 0; j < m; j++) {
            MPC_ASSERT((x[e0 + j] & ~dom) == 0);
            kp[j] = keys + (e0 + j) / per_key * l.total;
            s[j] = blk_load(kp[j]);
            b[j] = s[j].lo & 1;
            s[j].lo &= ~(uint64_t)1;
            t[j] = b[j];
            v[j] = 0;
        }
        for (int i = 0; i < n; i++) {
            const int shift = n - 1 - i;
            for (size_t j = 0; j < m; j++) {
                h[per * j] = s[j];
                sel[per * j] = (uint8_t)((x[e0 + j] >> shift) & 1);
                if (dcf) {
                    h[per * j + 1] = s[j];
                    sel[per * j + 1] = AES_MMO_K2;
                }
            }
            aes_mmo_hash(&mmo, h, h, sel, (size_t)per * m);
            for (size_t j = 0; j < m; j++) {
                uint64_t xi = (x[e0 + j] >> shift) & 1, xm = 0 - xi;
                aes_block_t c = h[per * j];
                uint64_t tc = take_t(&c);
                aes_block_t scw = blk_load(kp[j] + l.scw + 16 * (size_t)i);
                uint64_t tcwl = scw.lo & 1;
                scw.lo &= ~(uint64_t)1;
                uint64_t tcwr = bit_get(kp[j] + l.bits, (size_t)i);
                uint64_t tm = 0 - t[j];
                if (dcf) {
                    aes_block_t vb = h[per * j + 1];
                    uint64_t vcw = g == FSS_Z64 ? u64_load(kp[j] + l.vcw + 8 * (size_t)i)
                                                : bit_get(kp[j] + l.bits, l.vbit + (size_t)i);
                    v[j] += sgn(b[j], pick(xm, vb.hi, vb.lo) + (vcw & tm));
                }
                s[j] = blk_xor_if(c, tm, scw);
                t[j] = tc ^ (t[j] & pick(xm, tcwr, tcwl));
            }
        }
        for (size_t j = 0; j < m; j++) {
            uint64_t cw = g == FSS_Z64 ? u64_load(kp[j] + l.cw) : bit_get(kp[j] + l.bits, l.cwbit);
            v[j] += sgn(b[j], s[j].hi + (cw & (0 - t[j])));
            out[e0 + j] = v[j] & gm;
        }
    }
    sodium_memzero(s, sizeof s);
    sodium_memzero(h, sizeof h);
    sodium_memzero(t, sizeof t);
    sodium_memzero(v, sizeof v);
}

/* --- public entry points -------------------------------------------------- */

void fss_dpf_gen(uint8_t *key0, uint8_t *key1, int nbits, fss_group_t g, uint64_t alpha,
                 uint64_t beta, prg_t *prg)
{
    gen_batch(key0, key1, nbits, g, 0, &alpha, &beta, 1, prg);
}

uint64_t fss_dpf_eval(const uint8_t *key, int nbits, fss_group_t g, uint64_t x)
{
    uint64_t y;
    eval_batch(&y, key, nbits, g, 0, &x, 1, 1);
    return y;
}

void fss_dpf_gen_batch(uint8_t *keys0, uint8_t *keys1, int nbits, fss_group_t g,
                       const uint64_t *alpha, const uint64_t *beta, size_t count, prg_t *prg)
{
    gen_batch(keys0, keys1, nbits, g, 0, alpha, beta, count, prg);
}

void fss_dpf_eval_batch(uint64_t *out, const uint8_t *keys, int nbits, fss_group_t g,
                        const uint64_t *x, size_t count, size_t per_key)
{
    MPC_ASSERT(per_key >= 1);
    eval_batch(out, keys, nbits, g, 0, x, count, per_key);
}

void fss_dcf_gen(uint8_t *key0, uint8_t *key1, int nbits, fss_group_t g, uint64_t alpha,
                 uint64_t beta, prg_t *prg)
{
    gen_batch(key0, key1, nbits, g, 1, &alpha, &beta, 1, prg);
}

uint64_t fss_dcf_eval(const uint8_t *key, int nbits, fss_group_t g, uint64_t x)
{
    uint64_t y;
    eval_batch(&y, key, nbits, g, 1, &x, 1, 1);
    return y;
}

void fss_dcf_gen_batch(uint8_t *keys0, uint8_t *keys1, int nbits, fss_group_t g,
                       const uint64_t *alpha, const uint64_t *beta, size_t count, prg_t *prg)
{
    gen_batch(keys0, keys1, nbits, g, 1, alpha, beta, count, prg);
}

void fss_dcf_eval_batch(uint64_t *out, const uint8_t *keys, int nbits, fss_group_t g,
                        const uint64_t *x, size_t count, size_t per_key)
{
    MPC_ASSERT(per_key >= 1);
    eval_batch(out, keys, nbits, g, 1, x, count, per_key);
}
