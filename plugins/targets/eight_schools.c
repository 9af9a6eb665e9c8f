/*
 * eight_schools.c — the hierarchical normal model of Rubin's eight schools
 * (any number J of groups with known standard errors):
 *     y_j ~ N(theta_j, sigma_j^2),   theta_j ~ N(mu, tau^2),
 *     mu ~ N(mu_prior_mean, mu_prior_sd^2),   tau ~ HalfCauchy(0, tau_prior_scale),
 * with data J, y[J] and sigma[J] > 0.  As posteriordb's eight_schools
 * models, both parameterizations over (., mu, log tau):
 *   centered     theta[1..J], mu, log tau;
 *   noncentered  theta_trans[1..J], mu, log tau with
 *                theta_j = mu + tau theta_trans_j, theta_trans_j ~ N(0, 1)
 *                (posteriordb's eight_schools_noncentered).
 * The log-Jacobian of tau = exp(u) is u.  Draws are reported as
 * theta[1..J], mu, tau in both.  Items (minibatches) are the schools.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

enum { ES_NONCENTERED = 0, ES_CENTERED = 1 };

static const char *const es_parameterizations[] = {"noncentered", "centered",
                                                   NULL};

typedef struct es_target {
    size_t J;
    const double *y, *sigma;   /* the config's */
    size_t param;              /* ES_NONCENTERED or ES_CENTERED */
    double mu_mean, mu_sd, tau_scale;
    tu_names names, cnames;    /* unconstrained and constrained */
} es_target;

static const vi_option es_options[] = {
    {sizeof(vi_option), "parameterization", VI_OPTION_STRING, 0,
     "noncentered", -HUGE_VAL, HUGE_VAL,
     "'noncentered' (theta = mu + tau theta_trans) or 'centered' (theta "
     "itself)"},
    {sizeof(vi_option), "mu_prior_mean", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL,
     HUGE_VAL, "mean of the normal prior on mu"},
    {sizeof(vi_option), "mu_prior_sd", VI_OPTION_DOUBLE, 0, "5", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on mu (> 0)"},
    {sizeof(vi_option), "tau_prior_scale", VI_OPTION_DOUBLE, 0, "5", 0.0,
     HUGE_VAL, "scale of the half-Cauchy prior on tau (> 0)"},
    VI_OPTION_END};

static void es_destroy(void *self)
{
    es_target *t = (es_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    tu_names_free(&t->cnames);
    free(t);
}

static int es_read_data(const vi_host *host, const vi_config *config,
                        es_target *t, vi_error *err)
{
    size_t len, j;
    int status = tu_read_vector(host, config, "y", 0, NULL, &t->y, &t->J,
                                err);
    if (status == VI_OK)
        status = tu_read_vector(host, config, "sigma", t->J,
                                "the length of y", &t->sigma, &len, err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "J", t->J, "the length of y",
                               err);
    for (j = 0; status == VI_OK && j < t->J; ++j)
        if (!(t->sigma[j] > 0.0))
            status = vi_error_set(err, VI_EINVAL,
                                  "data variable 'sigma' must be > 0 (known "
                                  "standard errors), got sigma[%lu] = %g",
                                  (unsigned long)j + 1UL, t->sigma[j]);
    return status;
}

static int es_make_names(es_target *t, vi_error *err)
{
    size_t j;
    int status = tu_names_alloc_pair(&t->names, t->J + 2, &t->cnames,
                                     t->J + 2, err);
    if (status != VI_OK)
        return status;
    for (j = 0; j < t->J; ++j) {
        tu_name_index(&t->names, j,
                      t->param == ES_CENTERED ? "theta" : "theta_trans", j);
        tu_name_index(&t->cnames, j, "theta", j);
    }
    tu_name_set(&t->names, t->J, "mu");
    tu_name_set(&t->names, t->J + 1, "log_tau");
    tu_name_set(&t->cnames, t->J, "mu");
    tu_name_set(&t->cnames, t->J + 1, "tau");
    return VI_OK;
}

static int es_setup(const vi_host *host, const vi_config *config,
                    void *self, vi_error *err)
{
    es_target *t = (es_target *)self;
    int status = es_read_data(host, config, t, err);
    if (status == VI_OK)
        status = tu_read_choice(host, config, "parameterization",
                                es_parameterizations, ES_NONCENTERED,
                                &t->param, err);
    if (status == VI_OK)
        status = tu_read_finite(host, config, "mu_prior_mean", 0.0,
                                &t->mu_mean, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "mu_prior_sd", 5.0,
                                  &t->mu_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "tau_prior_scale", 5.0,
                                  &t->tau_scale, err);
    if (status == VI_OK)
        status = es_make_names(t, err);
    return status;
}

static int es_create(const vi_host *host, const vi_config *config,
                     void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(es_target), es_setup, es_destroy,
                     self, err);
}

static size_t es_dim(const void *self)
{
    return ((const es_target *)self)->J + 2;
}

static const char *es_param_name(const void *self, size_t i)
{
    return tu_name(&((const es_target *)self)->names, i);
}

static const char *es_constrained_name(const void *self, size_t i)
{
    return tu_name(&((const es_target *)self)->cnames, i);
}

static size_t es_n_items(const void *self)
{
    return ((const es_target *)self)->J;
}

/* theta_j from the unconstrained vector. */
static double es_theta(const es_target *t, const double *u, double tau,
                       size_t j)
{
    return t->param == ES_CENTERED ? u[j] : u[t->J] + tau * u[j];
}

/* The prior part (hierarchy, mu, tau and the Jacobian); grad overwritten,
 * with d/dtheta_j of the hierarchy (centered) or d/dtheta_trans_j
 * (noncentered) in grad[j], d/dmu in grad[J] and d/dtau (not yet through
 * the transform) in grad[J+1]. */
static double es_prior(const es_target *t, const double *u, double tau,
                       double *grad)
{
    size_t J = t->J, j;
    double mu = u[J], d_mu, d_tau, total;
    total = vi_normal_lpdf(mu, t->mu_mean, t->mu_sd, &d_mu, NULL, NULL) +
            vi_half_cauchy_lpdf(tau, t->tau_scale, &d_tau, NULL);
    for (j = 0; j < J; ++j) {
        double d_x, d_loc, d_scale;
        if (t->param == ES_CENTERED)
            total += vi_normal_lpdf(u[j], mu, tau, &d_x, &d_loc, &d_scale);
        else {
            total += vi_normal_lpdf(u[j], 0.0, 1.0, &d_x, NULL, NULL);
            d_loc = d_scale = 0.0;
        }
        if (grad != NULL) {
            grad[j] = d_x;
            d_mu += d_loc;
            d_tau += d_scale;
        }
    }
    if (grad != NULL) {
        grad[J] = d_mu;
        grad[J + 1] = d_tau;
    }
    return total;
}

/* Adds scale times the log likelihood of schools idx[0..n) (all when idx
 * is NULL) and its gradient. */
static double es_likelihood(const es_target *t, const double *u, double tau,
                            const size_t *idx, size_t n, double scale,
                            double *grad)
{
    size_t J = t->J, i;
    double total = 0.0;
    for (i = 0; i < n; ++i) {
        size_t j = idx != NULL ? idx[i] : i;
        double d_theta;
        total += vi_normal_lpdf(t->y[j], es_theta(t, u, tau, j), t->sigma[j],
                                NULL, &d_theta, NULL);
        if (grad == NULL)
            continue;
        d_theta *= scale;
        if (t->param == ES_CENTERED)
            grad[j] += d_theta;
        else {
            grad[j] += d_theta * tau;
            grad[J] += d_theta;
            grad[J + 1] += d_theta * u[j];
        }
    }
    return scale * total;
}

static void es_evaluate(const es_target *t, const double *u, const size_t *idx,
                        size_t n, double scale, double *lp, double *grad)
{
    size_t J = t->J;
    double log_jac = 0.0;
    double tau = vi_lower_bound_constrain(u[J + 1], 0.0, &log_jac);
    double total = es_prior(t, u, tau, grad) +
                   es_likelihood(t, u, tau, idx, n, scale, grad) + log_jac;
    if (grad != NULL)
        grad[J + 1] = vi_lower_bound_backward(u[J + 1], 0.0, grad[J + 1]);
    *lp = total;
}

static int es_log_density(const void *self, const double *theta, double *lp,
                          double *grad, double *work, vi_error *err)
{
    const es_target *t = (const es_target *)self;
    (void)work;
    es_evaluate(t, theta, NULL, t->J, 1.0, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int es_log_density_subset(const void *self, const double *theta,
                                 const size_t *idx, size_t n, double scale,
                                 double *lp, double *grad, double *work,
                                 vi_error *err)
{
    const es_target *t = (const es_target *)self;
    int status = tu_check_items(idx, n, t->J, err);
    (void)work;
    if (status != VI_OK)
        return status;
    es_evaluate(t, theta, idx, n, scale, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

/* theta[1..J], mu, tau. */
static int es_constrain(const void *self, const double *theta, double *out,
                        vi_error *err)
{
    const es_target *t = (const es_target *)self;
    size_t j;
    double tau = exp(theta[t->J + 1]);
    (void)err;
    for (j = 0; j < t->J; ++j)
        out[j] = es_theta(t, theta, tau, j);
    out[t->J] = theta[t->J];
    out[t->J + 1] = tau;
    return VI_OK;
}

static const vi_target_desc es_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "eight_schools",
    .summary = "hierarchical normal model with known standard errors "
               "(eight schools), centered or noncentered",
    .flags = 0,
    .options = es_options,
    .create = es_create,
    .destroy = es_destroy,
    .dim = es_dim,
    .param_name = es_param_name,
    .workspace_size = NULL,
    .log_density = es_log_density,
    .constrained_dim = es_dim,
    .constrained_name = es_constrained_name,
    .constrain = es_constrain,
    .n_items = es_n_items,
    .log_density_subset = es_log_density_subset};

static const vi_component_head *const es_components[] = {
    VI_COMPONENT(es_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "eight_schools",
    .version = "0.1.0",
    .description = "the eight schools hierarchical model",
    .init = NULL,
    .deinit = NULL,
    .components = es_components};
