/* rng.h — counter-based random numbers (Philox4x32-10).  A stream is named
 * by (seed, purpose, iteration, index), so the draws for one draw index of
 * one iteration are the same whatever thread makes them or in what order:
 * one seed gives byte-identical results at any thread count. */
#ifndef VH_RNG_H
#define VH_RNG_H

#include <stdint.h>
#include <vihost/plugin.h>

/* What a stream is for; part of its name so that purposes never overlap. */
typedef enum vh_rng_purpose {
    VH_RNG_GRADIENT = 1,  /* draws for the gradient estimate */
    VH_RNG_ELBO = 2,      /* draws for the periodic ELBO estimate */
    VH_RNG_OUTPUT = 3,    /* draws written to draws.csv and summaries */
    VH_RNG_INIT = 4,      /* anything random at initialization */
    VH_RNG_TEST = 5,      /* tests and checks */
    VH_RNG_BATCH = 6      /* minibatches: index 0 a gradient's, 1 an ELBO estimate's */
} vh_rng_purpose;

/* The host's definition of the opaque vi_rng of plugin.h. */
struct vi_rng {
    uint32_t key[2];
    uint32_t counter[4];
    uint32_t block[4];   /* the current output block */
    unsigned used;       /* words of `block` consumed (4: exhausted) */
};

/* Starts the stream (seed, purpose, iteration, index).  iteration < 2^32,
 * index < 2^32. */
void vh_rng_init(vi_rng *rng, uint64_t seed, vh_rng_purpose purpose,
                 uint64_t iteration, uint64_t index);

uint32_t vh_rng_u32(vi_rng *rng);
uint64_t vh_rng_bits(vi_rng *rng);
/* Uniform in (0, 1): never 0, never 1 (53 random bits, offset by half a
 * unit). */
double vh_rng_uniform(vi_rng *rng);
/* Standard normal, by the inverse CDF of one uniform. */
double vh_rng_normal(vi_rng *rng);
/* Fills n standard normals. */
void vh_rng_normal_fill(vi_rng *rng, double *out, size_t n);

/* The standard normal quantile function (Wichura's AS241, relative error
 * about 1e-16) for p in (0, 1); -inf / +inf at 0 / 1. */
double vh_normal_quantile(double p);

#endif
