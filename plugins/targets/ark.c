/*
 * ark.c — the autoregressive model of order K (posteriordb's arK):
 *     y_t ~ N(alpha + sum_{k=1..K} beta_k y_{t-k}, sigma^2),  t = K+1..T,
 *     alpha ~ N(0, alpha_prior_sd^2),  beta_k ~ N(0, beta_prior_sd^2),
 *     sigma ~ HalfCauchy(0, sigma_prior_scale),
 * with data K, T and y[T], conditioning on the first K values.  The
 * unconstrained vector is (alpha, beta[1..K], log sigma), with the
 * log-Jacobian log sigma; draws are reported as alpha, beta[k], sigma.
 * Items (minibatches) are the T - K conditional terms.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

typedef struct ark_target {
    size_t K, T;
    const double *y;            /* the config's */
    double alpha_sd, beta_sd, sigma_scale;
    tu_names names, cnames;
} ark_target;

static const vi_option ark_options[] = {
    {sizeof(vi_option), "alpha_prior_sd", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on alpha (> 0)"},
    {sizeof(vi_option), "beta_prior_sd", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on each beta[k] (> 0)"},
    {sizeof(vi_option), "sigma_prior_scale", VI_OPTION_DOUBLE, 0, "2.5", 0.0,
     HUGE_VAL, "scale of the half-Cauchy prior on sigma (> 0)"},
    VI_OPTION_END};

static void ark_destroy(void *self)
{
    ark_target *t = (ark_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    tu_names_free(&t->cnames);
    free(t);
}

static int ark_read_data(const vi_host *host, const vi_config *config,
                         ark_target *t, vi_error *err)
{
    int64_t K = 0;
    int status = tu_read_vector(host, config, "y", 0, NULL, &t->y, &t->T,
                                err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "T", t->T, "the length of y",
                               err);
    if (status == VI_OK)
        status = tu_read_count(host, config, "K", 1, 1000, &K, err);
    if (status == VI_OK && (size_t)K >= t->T)
        status = vi_error_set(err, VI_EINVAL,
                              "'K' = %lld leaves no observations: y has T = "
                              "%lu values and the model conditions on the "
                              "first K",
                              (long long)K, (unsigned long)t->T);
    t->K = (size_t)K;
    return status;
}

static int ark_make_names(ark_target *t, vi_error *err)
{
    size_t k, dim = t->K + 2;
    int status = tu_names_alloc_pair(&t->names, dim, &t->cnames, dim, err);
    if (status != VI_OK)
        return status;
    tu_name_set(&t->names, 0, "alpha");
    tu_name_set(&t->cnames, 0, "alpha");
    for (k = 0; k < t->K; ++k) {
        tu_name_index(&t->names, k + 1, "beta", k);
        tu_name_index(&t->cnames, k + 1, "beta", k);
    }
    tu_name_set(&t->names, dim - 1, "log_sigma");
    tu_name_set(&t->cnames, dim - 1, "sigma");
    return VI_OK;
}

static int ark_setup(const vi_host *host, const vi_config *config,
                     void *self, vi_error *err)
{
    ark_target *t = (ark_target *)self;
    int status = ark_read_data(host, config, t, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "alpha_prior_sd", 10.0,
                                  &t->alpha_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "beta_prior_sd", 10.0,
                                  &t->beta_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma_prior_scale", 2.5,
                                  &t->sigma_scale, err);
    if (status == VI_OK)
        status = ark_make_names(t, err);
    return status;
}

static int ark_create(const vi_host *host, const vi_config *config,
                      void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(ark_target), ark_setup, ark_destroy,
                     self, err);
}

static size_t ark_dim(const void *self)
{
    return ((const ark_target *)self)->K + 2;
}

static const char *ark_param_name(const void *self, size_t i)
{
    return tu_name(&((const ark_target *)self)->names, i);
}

static const char *ark_constrained_name(const void *self, size_t i)
{
    return tu_name(&((const ark_target *)self)->cnames, i);
}

static size_t ark_n_items(const void *self)
{
    const ark_target *t = (const ark_target *)self;
    return t->T - t->K;
}

/* The priors on alpha and beta; grad overwritten (the sigma entry with the
 * half-Cauchy's d/dsigma, before the transform). */
static double ark_prior(const ark_target *t, const double *u, double sigma,
                        double *grad)
{
    size_t k, K = t->K;
    double d, total = vi_normal_lpdf(u[0], 0.0, t->alpha_sd, &d, NULL, NULL);
    if (grad != NULL)
        grad[0] = d;
    for (k = 1; k <= K; ++k) {
        total += vi_normal_lpdf(u[k], 0.0, t->beta_sd, &d, NULL, NULL);
        if (grad != NULL)
            grad[k] = d;
    }
    total += vi_half_cauchy_lpdf(sigma, t->sigma_scale, &d, NULL);
    if (grad != NULL)
        grad[K + 1] = d;
    return total;
}

/* scale times the conditional log likelihood of terms idx[0..n) (item i
 * is time K + i, 0-based; all when idx is NULL), its gradient added. */
static double ark_likelihood(const ark_target *t, const double *u,
                             double sigma, const size_t *idx, size_t n,
                             double scale, double *grad)
{
    size_t K = t->K, i, k;
    double total = 0.0;
    for (i = 0; i < n; ++i) {
        size_t time = K + (idx != NULL ? idx[i] : i);
        double mean = u[0], d_mean, d_sigma;
        for (k = 1; k <= K; ++k)
            mean += u[k] * t->y[time - k];
        total += vi_normal_lpdf(t->y[time], mean, sigma, NULL, &d_mean,
                                &d_sigma);
        if (grad == NULL)
            continue;
        grad[0] += scale * d_mean;
        for (k = 1; k <= K; ++k)
            grad[k] += scale * d_mean * t->y[time - k];
        grad[K + 1] += scale * d_sigma;
    }
    return scale * total;
}

static void ark_evaluate(const ark_target *t, const double *u,
                         const size_t *idx, size_t n, double scale,
                         double *lp, double *grad)
{
    size_t last = t->K + 1;
    double log_jac = 0.0;
    double sigma = vi_lower_bound_constrain(u[last], 0.0, &log_jac);
    *lp = ark_prior(t, u, sigma, grad) +
          ark_likelihood(t, u, sigma, idx, n, scale, grad) + log_jac;
    if (grad != NULL)
        grad[last] = vi_lower_bound_backward(u[last], 0.0, grad[last]);
}

static int ark_log_density(const void *self, const double *theta, double *lp,
                           double *grad, double *work, vi_error *err)
{
    const ark_target *t = (const ark_target *)self;
    (void)work;
    ark_evaluate(t, theta, NULL, t->T - t->K, 1.0, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int ark_log_density_subset(const void *self, const double *theta,
                                  const size_t *idx, size_t n, double scale,
                                  double *lp, double *grad, double *work,
                                  vi_error *err)
{
    const ark_target *t = (const ark_target *)self;
    int status = tu_check_items(idx, n, t->T - t->K, err);
    (void)work;
    if (status != VI_OK)
        return status;
    ark_evaluate(t, theta, idx, n, scale, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int ark_constrain(const void *self, const double *theta, double *out,
                         vi_error *err)
{
    const ark_target *t = (const ark_target *)self;
    size_t k;
    (void)err;
    for (k = 0; k <= t->K; ++k)
        out[k] = theta[k];
    out[t->K + 1] = exp(theta[t->K + 1]);
    return VI_OK;
}

static const vi_target_desc ark_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "ark",
    .summary = "autoregressive model of order K with normal priors and a "
               "half-Cauchy noise scale (posteriordb's arK)",
    .flags = 0,
    .options = ark_options,
    .create = ark_create,
    .destroy = ark_destroy,
    .dim = ark_dim,
    .param_name = ark_param_name,
    .workspace_size = NULL,
    .log_density = ark_log_density,
    .constrained_dim = ark_dim,
    .constrained_name = ark_constrained_name,
    .constrain = ark_constrain,
    .n_items = ark_n_items,
    .log_density_subset = ark_log_density_subset};

static const vi_component_head *const ark_components[] = {
    VI_COMPONENT(ark_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "ark",
    .version = "0.1.0",
    .description = "the AR(K) time-series model",
    .init = NULL,
    .deinit = NULL,
    .components = ark_components};
