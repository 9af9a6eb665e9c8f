/* sampler.c — base draws: pseudo-random, antithetic and scrambled Sobol
 * (see sampler.h). */
#include "sampler.h"

#include <math.h>
#include <string.h>

int vh_base_parse(const char *name, vh_base_kind *kind)
{
    static const struct {
        const char *name;
        vh_base_kind kind;
    } names[] = {{"pseudo", VH_BASE_PSEUDO},
                 {"antithetic", VH_BASE_ANTITHETIC},
                 {"qmc", VH_BASE_QMC}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *kind = names[i].kind;
            return 0;
        }
    return -1;
}

/* Streams: a redraw shifts the purpose word by attempt << 8, and the
 * scrambles of a QMC point set live at + 2^16, so no stream of one use
 * can meet a stream of another (purposes are small numbers). */
vh_rng_purpose vh_sampler_purpose(vh_rng_purpose purpose, unsigned attempt)
{
    return (vh_rng_purpose)((uint32_t)purpose + ((uint32_t)attempt << 8));
}

static vh_rng_purpose scramble_purpose(vh_rng_purpose purpose, unsigned attempt)
{
    return (vh_rng_purpose)((uint32_t)vh_sampler_purpose(purpose, attempt) + (1u << 16));
}

/* ------------------------------------------------------------------ */
/* Sobol                                                                */
/* ------------------------------------------------------------------ */

/* Joe and Kuo's primitive polynomials and initial direction numbers for
 * dimensions 2..8 (dimension 1 is van der Corput's): degree s, the
 * polynomial's inner coefficients a, and m_1..m_s. */
static const struct {
    unsigned s;
    unsigned a;
    uint32_t m[5];
} vh_sobol_init[VH_SOBOL_DIMS - 1] = {
    {1, 0, {1}},          {2, 1, {1, 3}},          {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},    {4, 1, {1, 1, 3, 3}},    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}}};

/* Direction numbers v[0..bits) of one dimension, as 32-bit fractions
 * (v[k] = m_{k+1} / 2^{k+1}), by the recurrence of Bratley and Fox. */
static void sobol_directions(unsigned dim, unsigned bits, uint32_t *v)
{
    if (dim == 0) {
        for (unsigned k = 0; k < bits; k++)
            v[k] = (uint32_t)1 << (31 - k);
        return;
    }
    unsigned s = vh_sobol_init[dim - 1].s, a = vh_sobol_init[dim - 1].a;
    for (unsigned k = 0; k < bits; k++) {
        if (k < s) {
            v[k] = vh_sobol_init[dim - 1].m[k] << (31 - k);
            continue;
        }
        v[k] = v[k - s] ^ (v[k - s] >> s);
        for (unsigned i = 1; i < s; i++)
            if ((a >> (s - 1 - i)) & 1u)
                v[k] ^= v[k - i];
    }
}

uint32_t vh_sobol_u32(uint32_t index, unsigned dim)
{
    uint32_t v[32], x = 0;
    unsigned bits = 0;
    while (bits < 32 && (index >> bits) != 0)
        bits++;
    sobol_directions(dim, bits, v);
    for (unsigned k = 0; k < bits; k++)
        if ((index >> k) & 1u)
            x ^= v[k];
    return x;
}

/* ------------------------------------------------------------------ */
/* Scrambling                                                           */
/* ------------------------------------------------------------------ */

/* SplitMix64's finalizer: a bijective 64-bit mix with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t vh_owen_scramble(uint32_t x, uint64_t key, unsigned bits)
{
    uint32_t out = x;
    for (unsigned d = 0; d < bits && d < 32; d++) {
        /* The node of the binary digit tree above bit 31 - d: a leading 1
         * marks the depth, then the d input bits above it. */
        uint64_t prefix = d == 0 ? 0 : (uint64_t)(x >> (32 - d));
        uint64_t node = ((uint64_t)1 << d) | prefix;
        if (mix64(key + node * UINT64_C(0x9e3779b97f4a7c15)) >> 63)
            out ^= (uint32_t)1 << (31 - d);
    }
    return out;
}

/* Bits needed to index `count` points: the smallest m with 2^m >= count. */
static unsigned index_bits(uint64_t count)
{
    unsigned m = 0;
    while (m < 32 && ((uint64_t)1 << m) < count)
        m++;
    return m;
}

/* A uniform in (0, 1) from a scrambled 32-bit fraction x and random low
 * digits taken from a hash of the key and the point. */
static double fraction_to_uniform(uint32_t x, uint64_t key, uint32_t point)
{
    uint64_t low = mix64(key ^ mix64((uint64_t)point + 1));
    double u = ((double)x + ((double)(low >> 11) + 0.5) * 0x1p-53) * 0x1p-32;
    return u < 1.0 ? u : 0x1.fffffffffffffp-1;
}

/* The nested uniform scramble of a Sobol coordinate x of one of 2^m
 * points (so only its top m bits can be set).  The top m levels are
 * scrambled digit by digit (vh_owen_scramble); below them each point's
 * prefix is its own, so Owen's scramble flips those digits by independent
 * fair coins: drawn here from one hash of the key and the prefix, which
 * costs one hash instead of 32 - m. */
static uint32_t scramble_point(uint32_t x, uint64_t key, unsigned m)
{
    uint32_t top = m > 0 ? vh_owen_scramble(x, key, m) : 0;
    if (m >= 32)
        return top;
    uint64_t prefix = m > 0 ? (uint64_t)(x >> (32 - m)) : 0;
    uint64_t coins = mix64(key ^ mix64(((uint64_t)m << 40) ^ (prefix + 1)));
    return top | (uint32_t)(coins >> (32 + m));
}

/* One point of the scrambled set of `count` points: block by block of
 * VH_SOBOL_DIMS coordinates, each block with its own point order and its
 * own scramble of every coordinate. */
static void qmc_draw(uint64_t count, unsigned attempt, uint64_t seed, vh_rng_purpose purpose,
                     uint64_t iteration, uint64_t index, double *eps, size_t n)
{
    unsigned m = index_bits(count);
    while (m < 32 && (index >> m) != 0)   /* an index past count: a larger set */
        m++;
    for (size_t b = 0; b * VH_SOBOL_DIMS < n; b++) {
        vi_rng rng;
        vh_rng_init(&rng, seed, scramble_purpose(purpose, attempt), iteration, b);
        uint64_t order_key = vh_rng_bits(&rng);
        uint32_t point = 0;
        if (m > 0)
            point = vh_owen_scramble((uint32_t)index << (32 - m), order_key, m) >> (32 - m);
        for (unsigned d = 0; d < VH_SOBOL_DIMS && b * VH_SOBOL_DIMS + d < n; d++) {
            uint64_t key = vh_rng_bits(&rng);
            uint32_t x = scramble_point(vh_sobol_u32(point, d), key, m);
            eps[b * VH_SOBOL_DIMS + d] =
                vh_normal_quantile(fraction_to_uniform(x, key, point));
        }
    }
}

void vh_sampler_draw(const vh_sampler *sampler, unsigned attempt, uint64_t seed,
                     vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                     double *eps, size_t n)
{
    vh_base_kind kind = sampler != NULL ? sampler->kind : VH_BASE_PSEUDO;
    uint64_t count = 0;
    if (purpose == VH_RNG_GRADIENT && sampler != NULL)
        count = sampler->grad_count;
    else if (purpose == VH_RNG_ELBO && sampler != NULL)
        count = sampler->elbo_count;
    else
        kind = VH_BASE_PSEUDO;
    /* A redraw replaces draws that failed: a scrambled point set spreads
     * its points over every region, so each fresh set would likely land in
     * the failing one again; independent draws may miss it. */
    if (attempt > 0 && kind == VH_BASE_QMC)
        kind = VH_BASE_PSEUDO;
    vi_rng rng;
    switch (kind) {
    case VH_BASE_QMC:
        qmc_draw(count, attempt, seed, purpose, iteration, index, eps, n);
        return;
    case VH_BASE_ANTITHETIC:
        vh_rng_init(&rng, seed, vh_sampler_purpose(purpose, attempt), iteration, index >> 1);
        vh_rng_normal_fill(&rng, eps, n);
        if (index & 1u)
            for (size_t i = 0; i < n; i++)
                eps[i] = -eps[i];
        return;
    case VH_BASE_PSEUDO:
        break;
    }
    vh_rng_init(&rng, seed, vh_sampler_purpose(purpose, attempt), iteration, index);
    vh_rng_normal_fill(&rng, eps, n);
}
