/* tuned.c — the benchmark's yardstick: a hand-written gradient of the
 * logistic model (prior included) as a performance engineer would write it
 * for one machine: rows in blocks of 256, X beta and X^T r as plain loops,
 * the exp/log1p loop vectorized by the compiler with glibc's vector math
 * (libmvec).  Built only by `make bench`, with -O3 -march=native
 * -ffast-math, so it uses every instruction this CPU has (AVX-512 where
 * present), which the portable plugin may not. */
#include <math.h>
#include <stddef.h>

#define TUNED_BLOCK 256

double vhbench_tuned_logistic(const double *restrict x, const double *restrict y, size_t n,
                              size_t d, const double *restrict beta, double prior_scale,
                              double *restrict grad);

double vhbench_tuned_logistic(const double *restrict x, const double *restrict y, size_t n,
                              size_t d, const double *restrict beta, double prior_scale,
                              double *restrict grad)
{
    double eta[TUNED_BLOCK], w[TUNED_BLOCK], lp = 0.0, sq = 0.0;
    double inv_var = 1.0 / (prior_scale * prior_scale);
    for (size_t j = 0; j < d; j++) {
        grad[j] = -beta[j] * inv_var;
        sq += beta[j] * beta[j];
    }
    for (size_t s = 0; s < n; s += TUNED_BLOCK) {
        size_t m = n - s < TUNED_BLOCK ? n - s : TUNED_BLOCK;
        const double *xb = x + s * d;
        for (size_t r = 0; r < m; r++) {
            double a = 0.0;
            for (size_t j = 0; j < d; j++)
                a += xb[r * d + j] * beta[j];
            eta[r] = a;
        }
#pragma omp simd reduction(+ : lp)
        for (size_t r = 0; r < m; r++) {
            double sg = 2.0 * y[s + r] - 1.0, t = sg * eta[r], e = exp(-fabs(t));
            lp -= fmax(-t, 0.0) + log1p(e);
            w[r] = sg * (t > 0.0 ? e : 1.0) / (1.0 + e);
        }
        for (size_t r = 0; r < m; r++)
            for (size_t j = 0; j < d; j++)
                grad[j] += w[r] * xb[r * d + j];
    }
    return lp - 0.5 * sq * inv_var - (double)d * (log(prior_scale) + 0.9189385332046728);
}
