/* test-sampler.c — the base samplers: Sobol's known points and net
 * property, the Owen scramble keeping it, unbiased randomized draws,
 * antithetic pairs, fresh redraw streams, and the variance of the gradient
 * estimate at a fixed lambda on mvnormal with qmc and antithetic draws
 * against pseudo-random ones. */
#include <math.h>

#include "estimators.h"
#include "fixture.h"
#include "sampler.h"
#include "tap.h"

static void test_sobol_known_points(void)
{
    /* The first eight points of the two-dimensional Sobol sequence in
     * index order (not Gray-code order). */
    static const double first[8][2] = {{0, 0},         {0.5, 0.5},     {0.25, 0.75},
                                       {0.75, 0.25},   {0.125, 0.625}, {0.625, 0.125},
                                       {0.375, 0.375}, {0.875, 0.875}};
    int good = 1;
    for (uint32_t i = 0; i < 8; i++)
        for (unsigned d = 0; d < 2; d++)
            good &= vh_sobol_u32(i, d) * 0x1p-32 == first[i][d];
    ok(good, "the first 8 points of 2-D Sobol are the textbook ones");
    /* Dimension 3 (x^2 + x + 1, m = 1, 3): v = 1/2, 3/4, then
     * v_3 = v_1 ^ v_1/4 ^ v_2 = 1/2 ^ 1/8 ^ 3/4 = 3/8 (binary .011). */
    ok(vh_sobol_u32(1, 2) == 0x80000000u && vh_sobol_u32(2, 2) == 0xC0000000u &&
           vh_sobol_u32(4, 2) == 0x60000000u,
       "dimension 3's direction numbers 1/2, 3/4, 3/8 (got %08x %08x %08x)",
       vh_sobol_u32(1, 2), vh_sobol_u32(2, 2), vh_sobol_u32(4, 2));
}

/* Is every box [a/2^k, (a+1)/2^k) x [b/2^(m-k), ...) hit exactly once by
 * the 2^m points (x[i], y[i])? */
static int is_02_net(const uint32_t *x, const uint32_t *y, unsigned m)
{
    size_t n = (size_t)1 << m;
    unsigned char *hit = malloc(n);
    int good = 1;
    for (unsigned k = 0; k <= m && good; k++) {
        memset(hit, 0, n);
        for (size_t i = 0; i < n; i++) {
            uint32_t a = k ? x[i] >> (32 - k) : 0, b = m - k ? y[i] >> (32 - (m - k)) : 0;
            size_t box = ((size_t)a << (m - k)) | b;
            good &= !hit[box];
            hit[box] = 1;
        }
    }
    free(hit);
    return good;
}

static void test_nets(void)
{
    enum { M = 10, N = 1 << M };
    uint32_t *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    int one_d = 1;
    for (unsigned d = 0; d < VH_SOBOL_DIMS; d++) {
        for (uint32_t i = 0; i < N; i++)
            x[i] = vh_sobol_u32(i, d);
        /* each coordinate alone: one point per interval of 1/N */
        unsigned char seen[N] = {0};
        for (uint32_t i = 0; i < N; i++) {
            one_d &= !seen[x[i] >> (32 - M)];
            seen[x[i] >> (32 - M)] = 1;
        }
    }
    ok(one_d, "each of the %d dimensions stratifies its first 2^10 points", VH_SOBOL_DIMS);
    for (uint32_t i = 0; i < N; i++) {
        x[i] = vh_sobol_u32(i, 0);
        y[i] = vh_sobol_u32(i, 1);
    }
    int nets = 1;
    for (unsigned m = 1; m <= M; m++)
        nets &= is_02_net(x, y, m);
    ok(nets, "dimensions 1 and 2: the first 2^m points are a (0,m,2)-net for m <= 10");
    for (uint32_t i = 0; i < N; i++) {
        x[i] = vh_owen_scramble(vh_sobol_u32(i, 0), 12345, 32);
        y[i] = vh_owen_scramble(vh_sobol_u32(i, 1), 678910, 32);
    }
    nets = 1;
    for (unsigned m = 1; m <= M; m++)
        nets &= is_02_net(x, y, m);
    ok(nets, "Owen-scrambled, they stay a (0,m,2)-net");
    int moved = 0;
    for (uint32_t i = 0; i < 16; i++)
        moved += x[i] != vh_sobol_u32(i, 0);
    ok(moved >= 8, "the scramble moves the points (%d of 16 moved)", moved);
    /* The index scramble is a permutation of [0, 2^m). */
    unsigned char seen[64] = {0};
    int perm = 1;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t j = vh_owen_scramble(i << 26, 99, 6) >> 26;
        perm &= j < 64 && !seen[j];
        seen[j < 64 ? j : 0] = 1;
    }
    ok(perm, "scrambling the top 6 bits permutes 0..63");
    free(x);
    free(y);
}

static void test_sampler_draws(void)
{
    vh_sampler qmc = {VH_BASE_QMC, 16, 100, 0}, anti = {VH_BASE_ANTITHETIC, 4, 100, 0};
    double a[20], b[20];
    vh_sampler_draw(&qmc, 0, 7, VH_RNG_GRADIENT, 3, 5, a, 20);
    vh_sampler_draw(&qmc, 0, 7, VH_RNG_GRADIENT, 3, 5, b, 20);
    ok(memcmp(a, b, sizeof a) == 0, "a qmc draw is a function of (seed, purpose, iteration, index)");
    vh_sampler_draw(&qmc, 0, 7, VH_RNG_GRADIENT, 4, 5, b, 20);
    ok(memcmp(a, b, sizeof a) != 0, "... randomized afresh at every iteration");
    vh_sampler_draw(&qmc, 1, 7, VH_RNG_GRADIENT, 3, 5, b, 20);
    ok(memcmp(a, b, sizeof a) != 0, "... and at every redraw");
    vh_sampler_draw(&anti, 0, 7, VH_RNG_GRADIENT, 3, 6, a, 20);
    vh_sampler_draw(&anti, 0, 7, VH_RNG_GRADIENT, 3, 7, b, 20);
    int mirrored = 1;
    for (int i = 0; i < 20; i++)
        mirrored &= a[i] == -b[i];
    ok(mirrored, "antithetic draws 6 and 7 are eps and -eps");
    vh_sampler_draw(NULL, 0, 7, VH_RNG_GRADIENT, 3, 6, a, 20);
    vi_rng rng;
    vh_rng_init(&rng, 7, VH_RNG_GRADIENT, 3, 6);
    vh_rng_normal_fill(&rng, b, 20);
    ok(memcmp(a, b, sizeof a) == 0, "pseudo draws are the stream's normals, as before samplers");
    vh_sampler_draw(&qmc, 0, 7, VH_RNG_OUTPUT, 3, 6, a, 20);
    vh_rng_init(&rng, 7, VH_RNG_OUTPUT, 3, 6);
    vh_rng_normal_fill(&rng, b, 20);
    ok(memcmp(a, b, sizeof a) == 0, "output draws ignore the sampler: always pseudo-random");

    /* Unbiased: over 4000 randomizations of 16 points in 12 dimensions,
     * eps has mean 0 and variance 1 (sd of the estimates 0.004, 0.006). */
    double sum = 0.0, sq = 0.0, cross = 0.0, eps[12];
    size_t count = 0;
    for (uint64_t it = 0; it < 4000; it++)
        for (uint64_t s = 0; s < 16; s++) {
            vh_sampler_draw(&qmc, 0, 11, VH_RNG_GRADIENT, it, s, eps, 12);
            for (int j = 0; j < 12; j++) {
                sum += eps[j];
                sq += eps[j] * eps[j];
            }
            cross += eps[3] * eps[10]; /* across blocks */
            count += 12;
        }
    ok(fabs(sum / (double)count) < 0.01, "qmc eps has mean 0 (%.5f)", sum / (double)count);
    ok(fabs(sq / (double)count - 1.0) < 0.02, "qmc eps has variance 1 (%.5f)", sq / (double)count);
    ok(fabs(cross / 64000.0) < 0.02, "coordinates in different blocks are uncorrelated (%.5f)",
       cross / 64000.0);
}

/* The total variance over 200 repetitions of the gradient estimate (S
 * draws) at a fixed lambda. */
static double gradient_variance(fixture *fx, const double *lambda, vh_base_kind kind, size_t S)
{
    vh_model *m = &fx->model;
    size_t n = m->n_params, reps = 200;
    vh_sampler sampler = {kind, S, 100, 0};
    m->sampler = &sampler;
    double *grad = calloc(n, sizeof *grad), *per_draw = calloc(S * n, sizeof *per_draw);
    double *mean = calloc(n, sizeof *mean), *sq = calloc(n, sizeof *sq), elbo, total = 0.0;
    vh_draw_buffers buf;
    vh_draw_buffers_alloc(m, &buf);
    for (size_t r = 0; r < reps; r++) {
        if (vh_gradient_estimate(m, lambda, 5, r + 1, S, &buf, per_draw, grad, &elbo,
                                 &fx->err) != 0)
            return NAN;
        for (size_t i = 0; i < n; i++) {
            mean[i] += grad[i];
            sq[i] += grad[i] * grad[i];
        }
    }
    for (size_t i = 0; i < n; i++)
        total += (sq[i] - mean[i] * mean[i] / (double)reps) / (double)(reps - 1);
    vh_draw_buffers_free(&buf);
    free(grad);
    free(per_draw);
    free(mean);
    free(sq);
    m->sampler = NULL;
    return total;
}

static void test_gradient_variance(const char *family)
{
    fixture fx;
    if (!ok(fixture_open(&fx, "mvnormal", NULL, "mvnormal.json", family, NULL, NULL, NULL) == 0,
            "mvnormal/%s opens (%s)", family, fx.err.message)) {
        fixture_free(&fx);
        return;
    }
    size_t n = fx.model.n_params;
    double *lambda = calloc(n, sizeof *lambda);
    for (size_t i = 0; i < n; i++) /* away from the optimum: mu 0.3, scales e^-0.5 */
        lambda[i] = i < fx.model.dim ? 0.3 : (fx.model.n_params == 2 * fx.model.dim ? -0.5 : 0.0);
    double pseudo = gradient_variance(&fx, lambda, VH_BASE_PSEUDO, 16);
    double qmc = gradient_variance(&fx, lambda, VH_BASE_QMC, 16);
    double anti = gradient_variance(&fx, lambda, VH_BASE_ANTITHETIC, 16);
    diag("%s, 16 draws: total gradient variance pseudo %.4g, qmc %.4g, antithetic %.4g",
         family, pseudo, qmc, anti);
    ok(qmc / pseudo < 0.7, "%s: qmc / pseudo gradient variance %.3f < 0.7", family,
       qmc / pseudo);
    ok(anti / pseudo < 1.0, "%s: antithetic / pseudo gradient variance %.3f < 1", family,
       anti / pseudo);
    free(lambda);
    fixture_free(&fx);
}

int main(void)
{
    test_sobol_known_points();
    test_nets();
    test_sampler_draws();
    test_gradient_variance("meanfield");
    test_gradient_variance("fullrank");
    return tap_done();
}
