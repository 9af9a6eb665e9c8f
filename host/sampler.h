/* sampler.h — the host's base draws eps ~ N(0, I) for families whose base
 * is standard normal (sample_base NULL): i.i.d. pseudo-random normals,
 * antithetic pairs, or randomized quasi-Monte Carlo.
 *
 * Every draw is a pure function of (seed, purpose, iteration, index), as
 * the pseudo-random streams are, so results never depend on threads or
 * order.  `qmc` is scrambled Sobol: the point set of one estimate (one
 * purpose and iteration, `count` points) is a fresh nested-uniform (Owen)
 * scramble of the Sobol sequence, mapped through the inverse normal CDF.
 * The Sobol dimensions come in blocks of VH_SOBOL_DIMS; each block has its
 * own scramble and its own random order of the points (Owen's Latin
 * supercube sampling), so any base dimension works.  Redraws (attempt > 0,
 * after a non-finite draw) are pseudo-random for qmc: a stratified set
 * would put a point in the failing region again. */
#ifndef VH_SAMPLER_H
#define VH_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include "rng.h"

typedef enum vh_base_kind {
    VH_BASE_PSEUDO = 0,      /* i.i.d. normals from the Philox stream */
    VH_BASE_ANTITHETIC = 1,  /* draws 2k and 2k+1 are eps and -eps */
    VH_BASE_QMC = 2          /* scrambled Sobol, randomized every estimate */
} vh_base_kind;

/* "pseudo", "antithetic", "qmc": 0 and *kind; -1 when unknown. */
int vh_base_parse(const char *name, vh_base_kind *kind);

/* How the host draws eps.  A zeroed struct is the pseudo-random sampler. */
typedef struct vh_sampler {
    vh_base_kind kind;
    uint64_t grad_count;   /* points per gradient estimate (grad_samples) */
    uint64_t elbo_count;   /* points per ELBO estimate (elbo_samples) */
    unsigned attempt;      /* > 0: redraw number `attempt`, from fresh streams */
} vh_sampler;

/* The purposes whose draws follow `kind`; all others (output draws,
 * tests, init) are always pseudo-random. */
#define VH_SAMPLER_REDRAWS 255   /* attempts are 0..VH_SAMPLER_REDRAWS */

/* The stream name of redraw `attempt` of a purpose: attempt 0 is the
 * purpose itself, so a run without redraws draws exactly what it always
 * did. */
vh_rng_purpose vh_sampler_purpose(vh_rng_purpose purpose, unsigned attempt);

/* Fills eps[0..n) for draw `index` of the estimate (seed, purpose,
 * iteration), redraw `attempt`.  `sampler` NULL means pseudo. */
void vh_sampler_draw(const vh_sampler *sampler, unsigned attempt, uint64_t seed,
                     vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                     double *eps, size_t n);

/* ---- the parts, exposed for the tests ---- */

#define VH_SOBOL_DIMS 8

/* Coordinate `dim` (< VH_SOBOL_DIMS) of Sobol point `index` (0 first) as a
 * 32-bit fraction: the unscrambled sequence, Joe and Kuo's direction
 * numbers (new-joe-kuo-6.21201) for dimensions 2..8. */
uint32_t vh_sobol_u32(uint32_t index, unsigned dim);

/* The nested uniform (Owen) scramble of the top `bits` bits of x under
 * `key`: bit i is flipped by a hash of the key and of the bits above it,
 * so points that share a leading prefix keep sharing one.  Bits below the
 * top `bits` are left alone.  A bijection of [0, 2^bits) when applied to
 * values below 2^bits shifted to the top. */
uint32_t vh_owen_scramble(uint32_t x, uint64_t key, unsigned bits);

#endif
