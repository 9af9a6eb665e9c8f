/* diagnostics.c — summaries and importance-sampling diagnostics (see
 * diagnostics.h). */
#include "diagnostics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double vh_log_mean_exp(const double *x, size_t n)
{
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    if (!isfinite(max))
        return max;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp(x[i] - max);
    return max + log(sum / (double)n);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double vh_quantile_sorted(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

void vh_summarize(const double *draws, size_t n_draws, size_t n_cols,
                  double *mean, double *sd, double *q05, double *q50,
                  double *q95, double *scratch)
{
    for (size_t j = 0; j < n_cols; j++) {
        double m = 0.0, ss = 0.0;
        for (size_t d = 0; d < n_draws; d++) {
            scratch[d] = draws[d * n_cols + j];
            m += scratch[d];
        }
        m /= (double)n_draws;
        for (size_t d = 0; d < n_draws; d++)
            ss += (scratch[d] - m) * (scratch[d] - m);
        qsort(scratch, n_draws, sizeof *scratch, compare_doubles);
        mean[j] = m;
        sd[j] = n_draws > 1 ? sqrt(ss / (double)(n_draws - 1)) : NAN;
        q05[j] = vh_quantile_sorted(scratch, n_draws, 0.05);
        q50[j] = vh_quantile_sorted(scratch, n_draws, 0.50);
        q95[j] = vh_quantile_sorted(scratch, n_draws, 0.95);
    }
}

/* Zhang and Stephens' (2009) empirical-Bayes fit of a generalized Pareto
 * to exceedances x[0..m) (ascending), as loo's gpdfit does; returns k with
 * the weakly informative prior toward 0.5. */
static double gpd_fit_k(const double *x, size_t m)
{
    const double prior = 3.0;
    size_t grid = 30 + (size_t)floor(sqrt((double)m));
    double xstar = x[(size_t)floor((double)m / 4.0 + 0.5) - 1];
    double lmax = -INFINITY, theta_hat = 0.0, wsum = 0.0;
    /* Two passes over the grid: the profile log likelihoods' maximum, then
     * the posterior-mean theta with weights exp(l - max). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 1; j <= grid; j++) {
            double theta = 1.0 / x[m - 1] +
                           (1.0 - sqrt((double)grid / ((double)j - 0.5))) / prior / xstar;
            double k = 0.0;
            for (size_t i = 0; i < m; i++)
                k += log1p(-theta * x[i]);
            k /= (double)m;
            double l = (double)m * (log(-theta / k) - k - 1.0);
            if (pass == 0) {
                if (l > lmax)
                    lmax = l;
            } else {
                double w = exp(l - lmax);
                theta_hat += theta * w;
                wsum += w;
            }
        }
    }
    theta_hat /= wsum;
    double k = 0.0;
    for (size_t i = 0; i < m; i++)
        k += log1p(-theta_hat * x[i]);
    k /= (double)m;
    return ((double)m * k + 10.0 * 0.5) / ((double)m + 10.0);
}

double vh_pareto_khat(const double *sorted_log_w, size_t n, double *scratch)
{
    if (n < 10)
        return NAN;
    size_t tail = (size_t)ceil(fmin(0.2 * (double)n, 3.0 * sqrt((double)n)));
    if (tail < 5 || tail >= n)
        return NAN;
    double max = sorted_log_w[n - 1];
    double cutoff = exp(sorted_log_w[n - tail - 1] - max);
    for (size_t i = 0; i < tail; i++)
        scratch[i] = exp(sorted_log_w[n - tail + i] - max) - cutoff;
    /* The largest weights all equal: the weights are bounded, no tail at
     * all, the best case there is (a GPD's k tends to -inf as its upper
     * end comes down to its threshold). */
    if (scratch[tail - 1] <= 0.0)
        return -INFINITY;
    return gpd_fit_k(scratch, tail);
}

void vh_importance_diagnose(const double *log_w, size_t n, size_t group,
                            double *scratch, vh_importance *out)
{
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += log_w[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (log_w[i] - mean) * (log_w[i] - mean);
    out->elbo = mean;
    out->elbo_mcse = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : NAN;

    out->log_evidence = vh_log_mean_exp(log_w, n);
    double max = -INFINITY, s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++)
        max = fmax(max, log_w[i]);
    for (size_t i = 0; i < n; i++) {
        double w = exp(log_w[i] - max);
        s1 += w;
        s2 += w * w;
    }
    out->ess = s1 * s1 / s2;
    double wmean = s1 / (double)n;
    double wvar = n > 1 ? (s2 - s1 * wmean) / (double)(n - 1) : NAN;
    out->log_evidence_mcse = sqrt(fmax(wvar, 0.0) / (double)n) / wmean;

    size_t groups = group > 0 ? n / group : 0;
    double iw = 0.0, iw_ss = 0.0;
    for (size_t g = 0; g < groups; g++)
        iw += vh_log_mean_exp(log_w + g * group, group);
    out->iw_elbo = groups > 0 ? iw / (double)groups : NAN;
    /* The groups are independent, so the spread of their values gives
     * the MCSE of their mean. */
    for (size_t g = 0; g < groups; g++) {
        double d = vh_log_mean_exp(log_w + g * group, group) - out->iw_elbo;
        iw_ss += d * d;
    }
    out->iw_elbo_mcse = groups > 1 ? sqrt(iw_ss / (double)(groups - 1) / (double)groups) : NAN;

    memcpy(scratch, log_w, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, compare_doubles);
    double *tail = malloc(n * sizeof *tail);
    out->khat = tail ? vh_pareto_khat(scratch, n, tail) : NAN;
    free(tail);
}
