/* rng.c — Philox4x32-10 streams (Salmon, Moraes, Dror and Shaw, "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011) and the normal quantile
 * that turns its uniforms into normals.
 *
 * A stream (seed, purpose, iteration, index) is the sequence of Philox
 * blocks with key {seed low, seed high} and counter {block, index,
 * iteration, purpose}, block = 0, 1, 2, ...  Nothing depends on which
 * thread draws or in what order, so one seed gives one result. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "rng.h"

/* Round multipliers and Weyl key increments of Philox4x32 (the paper's
 * published constants, as in Random123). */
#define VH_PHILOX_M0 UINT32_C(0xD2511F53)
#define VH_PHILOX_M1 UINT32_C(0xCD9E8D57)
#define VH_PHILOX_W0 UINT32_C(0x9E3779B9)
#define VH_PHILOX_W1 UINT32_C(0xBB67AE85)
#define VH_PHILOX_ROUNDS 10

/* One Philox4x32 round, in place. */
static void vh_philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    uint64_t p0 = (uint64_t)VH_PHILOX_M0 * ctr[0];
    uint64_t p1 = (uint64_t)VH_PHILOX_M1 * ctr[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t c1 = ctr[1], c3 = ctr[3];

    ctr[0] = hi1 ^ c1 ^ key[0];
    ctr[1] = lo1;
    ctr[2] = hi0 ^ c3 ^ key[1];
    ctr[3] = lo0;
}

/* The Philox4x32-10 bijection: out = philox(counter, key).  (Tests reach
 * it by setting a vi_rng's counter and key and drawing four words.) */
static void vh_philox4x32_10(const uint32_t counter[4], const uint32_t key[2],
                      uint32_t out[4])
{
    uint32_t ctr[4] = {counter[0], counter[1], counter[2], counter[3]};
    uint32_t k[2] = {key[0], key[1]};

    for (int round = 0; round < VH_PHILOX_ROUNDS; round++) {
        if (round > 0) {
            k[0] += VH_PHILOX_W0;
            k[1] += VH_PHILOX_W1;
        }
        vh_philox_round(ctr, k);
    }
    for (int i = 0; i < 4; i++)
        out[i] = ctr[i];
}

void vh_rng_init(vi_rng *rng, uint64_t seed, vh_rng_purpose purpose,
                 uint64_t iteration, uint64_t index)
{
    rng->key[0] = (uint32_t)seed;
    rng->key[1] = (uint32_t)(seed >> 32);
    rng->counter[0] = 0;
    rng->counter[1] = (uint32_t)index;
    rng->counter[2] = (uint32_t)iteration;
    rng->counter[3] = (uint32_t)purpose;
    for (int i = 0; i < 4; i++)
        rng->block[i] = 0;
    rng->used = 4; /* nothing generated yet: the first draw makes block 0 */
}

uint32_t vh_rng_u32(vi_rng *rng)
{
    if (rng->used >= 4) {
        vh_philox4x32_10(rng->counter, rng->key, rng->block);
        /* 2^32 blocks (2^34 words) per stream before it would repeat —
         * far more than any single draw index consumes. */
        rng->counter[0]++;
        rng->used = 0;
    }
    return rng->block[rng->used++];
}

/* The first word is the high half, so a uniform's leading bits come from
 * the stream's next word. */
uint64_t vh_rng_bits(vi_rng *rng)
{
    uint64_t hi = vh_rng_u32(rng);
    uint64_t lo = vh_rng_u32(rng);
    return (hi << 32) | lo;
}

double vh_rng_uniform(vi_rng *rng)
{
    /* ((k + 1/2) / 2^53) for the top 53 bits k.  Above 1/2 the double
     * grid is 2^-53, so the largest k rounds to exactly 1.0; that one case
     * (probability 2^-53) becomes the largest double below 1 to keep the
     * promise "never 1". */
    double u = ((double)(vh_rng_bits(rng) >> 11) + 0.5) * 0x1p-53;
    if (u >= 1.0)
        u = 0x1.fffffffffffffp-1;
    return u;
}

double vh_rng_normal(vi_rng *rng)
{
    return vh_normal_quantile(vh_rng_uniform(rng));
}

void vh_rng_normal_fill(vi_rng *rng, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = vh_rng_normal(rng);
}

/* Wichura (1988), Algorithm AS 241, PPND16: the rational approximations
 * of the normal quantile in three regions, each with relative error
 * about 1e-16.  Coefficients as published. */
static double vh_ppnd16_central(double q)
{
    double r = 0.180625 - q * q;
    return q *
           (((((((2509.0809287301226727 * r + 33430.575583588128105) * r +
                 67265.770927008700853) * r + 45921.953931549871457) * r +
               13731.693765509461125) * r + 1971.5909503065514427) * r +
             133.14166789178437745) * r + 3.387132872796366608) /
           (((((((5226.495278852854561 * r + 28729.085735721942674) * r +
                 39307.89580009271061) * r + 21213.794301586595867) * r +
               5394.1960214247511077) * r + 687.1870074920579083) * r +
             42.313330701600911252) * r + 1.0);
}

/* r = sqrt(-log(min(p, 1 - p))) in (1.6.., 5]: p >= exp(-25). */
static double vh_ppnd16_intermediate(double r)
{
    r -= 1.6;
    return (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) *
                     r + 0.24178072517745061177) * r +
                1.27045825245236838258) * r + 3.64784832476320460504) * r +
              5.7694972214606914055) * r + 4.6303378461565452959) * r +
            1.42343711074968357734) /
           (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) *
                     r + 0.0151986665636164571966) * r +
                0.14810397642748007459) * r + 0.68976733498510000455) * r +
              1.6763848301838038494) * r + 2.05319162663775882187) * r +
            1.0);
}

/* r > 5: the far tails, p < exp(-25). */
static double vh_ppnd16_tail(double r)
{
    r -= 5.0;
    return (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) *
                     r + 0.0012426609473880784386) * r +
                0.026532189526576123093) * r + 0.29656057182850489123) * r +
              1.7848265399172913358) * r + 5.4637849111641143699) * r +
            6.6579046435011037772) /
           (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) *
                     r + 1.8463183175100546818e-5) * r +
                7.868691311456132591e-4) * r + 0.0148753612908506148525) * r +
              0.13692988092273580531) * r + 0.59983220655588793769) * r +
            1.0);
}

double vh_normal_quantile(double p)
{
    if (!(p >= 0.0 && p <= 1.0))
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;

    double q = p - 0.5;
    if (fabs(q) <= 0.425)
        return vh_ppnd16_central(q);

    double r = sqrt(-log(q < 0.0 ? p : 1.0 - p));
    double x = r <= 5.0 ? vh_ppnd16_intermediate(r) : vh_ppnd16_tail(r);
    return q < 0.0 ? -x : x;
}
