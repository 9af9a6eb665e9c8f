/* diagnostics.h — what a finished fit is judged by: posterior summaries of
 * the draws, the importance-weighted ELBO and log-evidence estimate, the
 * effective sample size of the importance weights, and Pareto k-hat
 * (PSIS; Vehtari, Simpson, Gelman, Yao and Gabry). */
#ifndef VH_DIAGNOSTICS_H
#define VH_DIAGNOSTICS_H

#include <stddef.h>

/* log((1/n) sum exp(x_i)), stable. */
double vh_log_mean_exp(const double *x, size_t n);

/* Linear-interpolation quantile (R's type 7) of sorted x[0..n). */
double vh_quantile_sorted(const double *sorted, size_t n, double p);

/* Column summaries of draws (n_draws rows x n_cols, row-major): mean, sd
 * (n-1 denominator), 5%, 50%, 95% quantiles.  `scratch` has n_draws. */
void vh_summarize(const double *draws, size_t n_draws, size_t n_cols,
                  double *mean, double *sd, double *q05, double *q50,
                  double *q95, double *scratch);

typedef struct vh_importance {
    double elbo;              /* mean of log w */
    double elbo_mcse;
    double iw_elbo;           /* mean over groups of `group` draws of log-mean-exp(log w) */
    double iw_elbo_mcse;      /* sd of the groups' values / sqrt(groups); NaN under 2 groups */
    double log_evidence;      /* log-mean-exp of all log w */
    double log_evidence_mcse; /* delta method: sd(w) / (sqrt(n) mean(w)) */
    double khat;              /* Pareto k of the weights' upper tail (see vh_pareto_khat) */
    double ess;               /* (sum w)^2 / sum w^2 */
} vh_importance;

/* From log weights log w_i = log p~(z_i) - log q(z_i), z_i ~ q.
 * `scratch` has n doubles. */
void vh_importance_diagnose(const double *log_w, size_t n, size_t group,
                            double *scratch, vh_importance *out);

/* Pareto k-hat of the largest min(0.2 n, 3 sqrt(n)) weights, by Zhang and
 * Stephens' estimate with the weakly informative prior of the loo package
 * (as loo's psis: the tail's exceedances over the largest weight below it,
 * scaled by the largest weight).  NaN when n < 10; -inf when those weights
 * are all equal (bounded weights: nothing heavier than a point).
 * `sorted_log_w` ascending. */
double vh_pareto_khat(const double *sorted_log_w, size_t n, double *scratch);

#endif
