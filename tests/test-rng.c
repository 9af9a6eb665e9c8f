/* test-rng.c — Philox4x32-10 against the Random123 known answers, stream
 * naming, the moments of uniforms and normals, and the normal quantile. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rng.h"
#include "tap.h"

#define N_DRAWS 1000000

/* Draws one Philox block for (counter, key) through the public stream:
 * set the state by hand and read four words. */
static void philox_block(const uint32_t counter[4], const uint32_t key[2],
                         uint32_t out[4])
{
    vi_rng rng;
    vh_rng_init(&rng, 0, VH_RNG_TEST, 0, 0);
    memcpy(rng.counter, counter, sizeof rng.counter);
    memcpy(rng.key, key, sizeof rng.key);
    for (int i = 0; i < 4; i++)
        out[i] = vh_rng_u32(&rng);
}

static void test_known_answers(void)
{
    /* Random123 kat_vectors, philox4x32 with 10 rounds. */
    static const struct {
        uint32_t counter[4];
        uint32_t key[2];
        uint32_t want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0},
         {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t got[4];
        philox_block(kat[k].counter, kat[k].key, got);
        ok(memcmp(got, kat[k].want, sizeof got) == 0,
           "philox4x32-10 known answer %zu: %08x %08x %08x %08x", k + 1,
           got[0], got[1], got[2], got[3]);
    }
}

static void test_stream_layout(void)
{
    vi_rng a;
    uint64_t seed = UINT64_C(0x0123456789abcdef);

    vh_rng_init(&a, seed, VH_RNG_GRADIENT, 7, 3);
    ok(a.key[0] == 0x89abcdefu && a.key[1] == 0x01234567u,
       "key is the seed split low, high");
    ok(a.counter[0] == 0 && a.counter[1] == 3 && a.counter[2] == 7 &&
           a.counter[3] == VH_RNG_GRADIENT,
       "counter is {block 0, index, iteration, purpose}");

    /* The first 64 bits: the first word is the high half. */
    uint32_t block[4];
    uint32_t ctr[4] = {0, 3, 7, VH_RNG_GRADIENT};
    philox_block(ctr, a.key, block);
    uint64_t bits = vh_rng_bits(&a);
    ok(bits == (((uint64_t)block[0] << 32) | block[1]),
       "vh_rng_bits = word 0 << 32 | word 1 of block 0");
    (void)vh_rng_bits(&a);
    uint32_t next = vh_rng_u32(&a);
    ctr[0] = 1;
    philox_block(ctr, a.key, block);
    ok(next == block[0], "the fifth word is word 0 of block 1");
}

/* Draws n words from each of two streams; 1 when all equal. */
static int streams_equal(uint64_t s1, vh_rng_purpose p1, uint64_t i1,
                         uint64_t x1, uint64_t s2, vh_rng_purpose p2,
                         uint64_t i2, uint64_t x2, int n)
{
    vi_rng a, b;
    int same = 1;
    vh_rng_init(&a, s1, p1, i1, x1);
    vh_rng_init(&b, s2, p2, i2, x2);
    for (int k = 0; k < n; k++)
        if (vh_rng_u32(&a) != vh_rng_u32(&b))
            same = 0;
    return same;
}

static void test_stream_names(void)
{
    ok(streams_equal(42, VH_RNG_ELBO, 5, 9, 42, VH_RNG_ELBO, 5, 9, 103),
       "same (seed, purpose, iteration, index): same stream");
    ok(!streams_equal(42, VH_RNG_ELBO, 5, 9, 42, VH_RNG_ELBO, 5, 10, 4),
       "different index: different stream");
    ok(!streams_equal(42, VH_RNG_ELBO, 5, 9, 42, VH_RNG_ELBO, 6, 9, 4),
       "different iteration: different stream");
    ok(!streams_equal(42, VH_RNG_ELBO, 5, 9, 42, VH_RNG_GRADIENT, 5, 9, 4),
       "different purpose: different stream");
    ok(!streams_equal(42, VH_RNG_ELBO, 5, 9, 43, VH_RNG_ELBO, 5, 9, 4),
       "different seed: different stream");
    ok(!streams_equal(1, VH_RNG_ELBO, 0, 0, UINT64_C(1) << 32, VH_RNG_ELBO,
                      0, 0, 4),
       "the seed's high word matters");

    /* Interleaving two streams does not change either. */
    vi_rng a, b, c;
    int same = 1;
    vh_rng_init(&a, 7, VH_RNG_OUTPUT, 0, 0);
    vh_rng_init(&b, 7, VH_RNG_OUTPUT, 0, 1);
    vh_rng_init(&c, 7, VH_RNG_OUTPUT, 0, 0);
    double first[10];
    for (int k = 0; k < 10; k++) {
        first[k] = vh_rng_normal(&a);
        (void)vh_rng_normal(&b);
    }
    for (int k = 0; k < 10; k++)
        if (vh_rng_normal(&c) != first[k])
            same = 0;
    ok(same, "draws do not depend on other streams drawn in between");

    double fill[10];
    vh_rng_init(&c, 7, VH_RNG_OUTPUT, 0, 0);
    vh_rng_normal_fill(&c, fill, 10);
    ok(memcmp(fill, first, sizeof fill) == 0,
       "vh_rng_normal_fill = repeated vh_rng_normal");
}

static void test_uniform(void)
{
    vi_rng rng;
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    vh_rng_init(&rng, 20261121, VH_RNG_TEST, 0, 0);
    for (int k = 0; k < N_DRAWS; k++) {
        double u = vh_rng_uniform(&rng);
        sum += u;
        sum2 += (u - 0.5) * (u - 0.5);
        if (u < lo)
            lo = u;
        if (u > hi)
            hi = u;
    }
    double mean = sum / N_DRAWS, var = sum2 / N_DRAWS;
    ok(lo > 0 && hi < 1, "1e6 uniforms in (0, 1): min %.3g, max 1-%.3g", lo,
       1 - hi);
    /* sd of U is sqrt(1/12); sd of (U - 1/2)^2 is sqrt(1/180). */
    is_close(mean, 0.5, 5 * sqrt(1.0 / 12 / N_DRAWS), 0, "uniform mean");
    is_close(var, 1.0 / 12, 5 * sqrt(1.0 / 180 / N_DRAWS), 0,
             "uniform variance");
}

static void test_normal(void)
{
    vi_rng rng;
    double m1 = 0, m2 = 0, m4 = 0;
    vh_rng_init(&rng, 99, VH_RNG_TEST, 1, 2);
    for (int k = 0; k < N_DRAWS; k++) {
        double z = vh_rng_normal(&rng);
        double z2 = z * z;
        m1 += z;
        m2 += z2;
        m4 += z2 * z2;
    }
    m1 /= N_DRAWS;
    m2 /= N_DRAWS;
    m4 /= N_DRAWS;
    /* Standard errors under N(0, 1): mean 1/sqrt(n), second moment
     * sqrt(2/n), fourth moment sqrt((105 - 9)/n). */
    is_close(m1, 0, 5 / sqrt(N_DRAWS), 0, "normal mean");
    is_close(m2, 1, 5 * sqrt(2.0 / N_DRAWS), 0, "normal variance");
    is_close(m4 / (m2 * m2), 3, 5 * sqrt(24.0 / N_DRAWS), 0,
             "normal kurtosis");
}

/* Phi(x) and its complement through erfc, accurate in both tails. */
static double phi_lower(double x) { return 0.5 * erfc(-x / M_SQRT2); }
static double phi_upper(double x) { return 0.5 * erfc(x / M_SQRT2); }

static void test_quantile_points(void)
{
    /* Reference values to 17 digits (mpmath, 50 digits). */
    is_close(vh_normal_quantile(0.975), 1.959963984540054, 0, 1e-15,
             "quantile(0.975)");
    is_close(vh_normal_quantile(1e-10), -6.361340902404056, 0, 1e-15,
             "quantile(1e-10)");
    is_close(vh_normal_quantile(0.95), 1.6448536269514727, 0, 1e-15,
             "quantile(0.95)");
    is_close(vh_normal_quantile(0.3), -0.52440051270804078, 0, 1e-15,
             "quantile(0.3)");
    is_close(vh_normal_quantile(1e-20), -9.2623400897984076, 0, 1e-15,
             "quantile(1e-20)");
    ok(vh_normal_quantile(0.5) == 0, "quantile(0.5) = 0");
    ok(vh_normal_quantile(0.25) == -vh_normal_quantile(0.75) &&
           vh_normal_quantile(0x1p-10) == -vh_normal_quantile(1 - 0x1p-10),
       "quantile is odd about 1/2");
    ok(isinf(vh_normal_quantile(0)) && vh_normal_quantile(0) < 0,
       "quantile(0) = -inf");
    ok(isinf(vh_normal_quantile(1)) && vh_normal_quantile(1) > 0,
       "quantile(1) = +inf");
    ok(isnan(vh_normal_quantile(-0.1)) && isnan(vh_normal_quantile(1.5)) &&
           isnan(vh_normal_quantile(NAN)),
       "quantile outside [0, 1] is NaN");
}

/* Relative error of Phi(quantile(p)) against p, through the tail that
 * keeps it accurate. */
static double roundtrip_error(double p)
{
    if (p <= 0.5)
        return fabs(phi_lower(vh_normal_quantile(p)) - p) / p;
    /* 1 - p is exact for p in [1/2, 1], so the upper tail's probability
     * is known to full relative precision. */
    double tail = 1.0 - p;
    return fabs(phi_upper(vh_normal_quantile(p)) - tail) / tail;
}

static void test_quantile_roundtrip(void)
{
    double worst = 0, worst_p = 0;
    /* A linear grid across the middle and a log grid into each tail. */
    for (int k = 1; k < 1000; k++) {
        double p = k / 1000.0, err = roundtrip_error(p);
        if (err > worst)
            worst = err, worst_p = p;
    }
    for (double e = 1; e <= 4; e += 0.125) {
        double p = pow(10, -e);
        double err = roundtrip_error(p);
        if (err > worst)
            worst = err, worst_p = p;
        err = roundtrip_error(1.0 - p);
        if (err > worst)
            worst = err, worst_p = 1.0 - p;
    }
    ok(worst < 1e-14,
       "Phi(quantile(p)) = p to %.2g relative for 1e-4 <= p <= 1-1e-4 "
       "(worst at p=%.17g)", worst, worst_p);

    /* Further out p's relative error grows like x^2 times x's (d log Phi /
     * dx ~ |x|, and erfc's argument x / sqrt 2 is itself rounded): allow
     * a few units in the last place of x. */
    double worst_ulps = 0, worst_tail = 0;
    for (double e = 4; e <= 300; e += 0.25) {
        for (int side = 0; side < 2; side++) {
            double p = side ? 1.0 - pow(10, -e) : pow(10, -e);
            if (p == 1.0)
                break;
            double x = vh_normal_quantile(p);
            double ulps = roundtrip_error(p) / (x * x * 0x1p-52);
            if (ulps > worst_ulps)
                worst_ulps = ulps, worst_tail = p;
        }
    }
    ok(worst_ulps < 8,
       "Phi(quantile(p)) = p within %.2g ulp of x in both tails to 1e-300 "
       "(worst at p=%.17g)", worst_ulps, worst_tail);
}

int main(void)
{
    test_known_answers();
    test_stream_layout();
    test_stream_names();
    test_uniform();
    test_normal();
    test_quantile_points();
    test_quantile_roundtrip();
    return tap_done();
}
