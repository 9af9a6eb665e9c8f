/*
 * radon.c — a hierarchical varying-intercept regression (Gelman & Hill's
 * radon model, ch. 12):
 *     y_i ~ N(a[county_i] + b x_i, sigma_y^2),  i = 1..N,
 *     a_j ~ N(mu_a, sigma_a^2),  j = 1..J,
 *     mu_a ~ N(0, mu_prior_sd^2),  b ~ N(0, b_prior_sd^2),
 *     sigma_a ~ HalfNormal(sigma_a_prior_scale),
 *     sigma_y ~ HalfNormal(sigma_y_prior_scale),
 * with data N, J, county[N] (whole numbers 1..J), x[N] and y[N].  The
 * unconstrained vector is (a[1..J] or a_raw[1..J], b, mu_a, log sigma_a,
 * log sigma_y): centered, or noncentered with a_j = mu_a + sigma_a a_raw_j,
 * a_raw_j ~ N(0, 1).  Draws are reported as a[1..J], b, mu_a, sigma_a,
 * sigma_y.  Items (minibatches) are the N observations.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

enum { RADON_NONCENTERED = 0, RADON_CENTERED = 1 };

static const char *const radon_parameterizations[] = {"noncentered",
                                                      "centered", NULL};

typedef struct radon_target {
    size_t n, J;
    const double *county, *x, *y;   /* the config's; county 1-based */
    size_t param;
    double mu_sd, b_sd, sigma_a_scale, sigma_y_scale;
    tu_names names, cnames;
} radon_target;

static const vi_option radon_options[] = {
    {sizeof(vi_option), "parameterization", VI_OPTION_STRING, 0,
     "noncentered", -HUGE_VAL, HUGE_VAL,
     "'noncentered' (a = mu_a + sigma_a a_raw) or 'centered' (a itself)"},
    {sizeof(vi_option), "mu_prior_sd", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on mu_a (> 0)"},
    {sizeof(vi_option), "b_prior_sd", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on b (> 0)"},
    {sizeof(vi_option), "sigma_a_prior_scale", VI_OPTION_DOUBLE, 0, "1", 0.0,
     HUGE_VAL, "scale of the half-normal prior on sigma_a (> 0)"},
    {sizeof(vi_option), "sigma_y_prior_scale", VI_OPTION_DOUBLE, 0, "1", 0.0,
     HUGE_VAL, "scale of the half-normal prior on sigma_y (> 0)"},
    VI_OPTION_END};

static void radon_destroy(void *self)
{
    radon_target *t = (radon_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    tu_names_free(&t->cnames);
    free(t);
}

static int radon_read_data(const vi_host *host, const vi_config *config,
                           radon_target *t, vi_error *err)
{
    int64_t J = 0;
    size_t len;
    int status = tu_read_vector(host, config, "y", 0, NULL, &t->y, &t->n,
                                err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "N", t->n, "the length of y",
                               err);
    if (status == VI_OK)
        status = tu_read_vector(host, config, "x", t->n, "the length of y",
                                &t->x, &len, err);
    if (status == VI_OK)
        status = tu_read_vector(host, config, "county", t->n,
                                "the length of y", &t->county, &len, err);
    if (status == VI_OK)
        status = tu_read_count(host, config, "J", 1, 1000000, &J, err);
    if (status == VI_OK)
        status = tu_check_whole(t->county, t->n, "county", 1.0, (double)J,
                                err);
    t->J = (size_t)J;
    return status;
}

static int radon_make_names(radon_target *t, vi_error *err)
{
    size_t j, J = t->J;
    static const char *const tail[] = {"b", "mu_a", "log_sigma_a",
                                       "log_sigma_y"};
    static const char *const ctail[] = {"b", "mu_a", "sigma_a", "sigma_y"};
    int status = tu_names_alloc_pair(&t->names, J + 4, &t->cnames, J + 4,
                                     err);
    if (status != VI_OK)
        return status;
    for (j = 0; j < J; ++j) {
        tu_name_index(&t->names, j,
                      t->param == RADON_CENTERED ? "a" : "a_raw", j);
        tu_name_index(&t->cnames, j, "a", j);
    }
    for (j = 0; j < 4; ++j) {
        tu_name_set(&t->names, J + j, tail[j]);
        tu_name_set(&t->cnames, J + j, ctail[j]);
    }
    return VI_OK;
}

static int radon_read_options(const vi_host *host, const vi_config *config,
                              radon_target *t, vi_error *err)
{
    int status = tu_read_choice(host, config, "parameterization",
                                radon_parameterizations, RADON_NONCENTERED,
                                &t->param, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "mu_prior_sd", 10.0,
                                  &t->mu_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "b_prior_sd", 10.0, &t->b_sd,
                                  err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma_a_prior_scale", 1.0,
                                  &t->sigma_a_scale, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma_y_prior_scale", 1.0,
                                  &t->sigma_y_scale, err);
    return status;
}

static int radon_setup(const vi_host *host, const vi_config *config,
                       void *self, vi_error *err)
{
    radon_target *t = (radon_target *)self;
    int status = radon_read_data(host, config, t, err);
    if (status == VI_OK)
        status = radon_read_options(host, config, t, err);
    if (status == VI_OK)
        status = radon_make_names(t, err);
    return status;
}

static int radon_create(const vi_host *host, const vi_config *config,
                        void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(radon_target), radon_setup,
                     radon_destroy, self, err);
}

static size_t radon_dim(const void *self)
{
    return ((const radon_target *)self)->J + 4;
}

static const char *radon_param_name(const void *self, size_t i)
{
    return tu_name(&((const radon_target *)self)->names, i);
}

static const char *radon_constrained_name(const void *self, size_t i)
{
    return tu_name(&((const radon_target *)self)->cnames, i);
}

static size_t radon_n_items(const void *self)
{
    return ((const radon_target *)self)->n;
}

/* a_j from the unconstrained vector. */
static double radon_intercept(const radon_target *t, const double *u,
                              double sigma_a, size_t j)
{
    return t->param == RADON_CENTERED ? u[j] : u[t->J + 1] + sigma_a * u[j];
}

/* The priors and the hierarchy; grad overwritten, with d/dsigma_a and
 * d/dsigma_y (before the transforms) in their slots. */
static double radon_prior(const radon_target *t, const double *u,
                          double sigma_a, double sigma_y, double *grad)
{
    size_t J = t->J, j;
    double g[4], total, d_x, d_mu, d_s;
    total = vi_normal_lpdf(u[J], 0.0, t->b_sd, &g[0], NULL, NULL) +
            vi_normal_lpdf(u[J + 1], 0.0, t->mu_sd, &g[1], NULL, NULL) +
            vi_half_normal_lpdf(sigma_a, t->sigma_a_scale, &g[2], NULL) +
            vi_half_normal_lpdf(sigma_y, t->sigma_y_scale, &g[3], NULL);
    for (j = 0; j < J; ++j) {
        if (t->param == RADON_CENTERED)
            total += vi_normal_lpdf(u[j], u[J + 1], sigma_a, &d_x, &d_mu,
                                    &d_s);
        else {
            total += vi_normal_lpdf(u[j], 0.0, 1.0, &d_x, NULL, NULL);
            d_mu = d_s = 0.0;
        }
        if (grad != NULL) {
            grad[j] = d_x;
            g[1] += d_mu;
            g[2] += d_s;
        }
    }
    for (j = 0; grad != NULL && j < 4; ++j)
        grad[J + j] = g[j];
    return total;
}

static double radon_likelihood(const radon_target *t, const double *u,
                               double sigma_a, double sigma_y,
                               const size_t *idx, size_t count, double scale,
                               double *grad)
{
    size_t J = t->J, i;
    double total = 0.0;
    for (i = 0; i < count; ++i) {
        size_t obs = idx != NULL ? idx[i] : i;
        size_t j = (size_t)t->county[obs] - 1;
        double mean = radon_intercept(t, u, sigma_a, j) + u[J] * t->x[obs];
        double d_mean, d_sy;
        total += vi_normal_lpdf(t->y[obs], mean, sigma_y, NULL, &d_mean,
                                &d_sy);
        if (grad == NULL)
            continue;
        d_mean *= scale;
        grad[J] += d_mean * t->x[obs];
        grad[J + 3] += scale * d_sy;
        if (t->param == RADON_CENTERED)
            grad[j] += d_mean;
        else {
            grad[j] += d_mean * sigma_a;
            grad[J + 1] += d_mean;
            grad[J + 2] += d_mean * u[j];
        }
    }
    return scale * total;
}

static void radon_evaluate(const radon_target *t, const double *u,
                           const size_t *idx, size_t count, double scale,
                           double *lp, double *grad)
{
    size_t J = t->J;
    double log_jac = 0.0;
    double sigma_a = vi_lower_bound_constrain(u[J + 2], 0.0, &log_jac);
    double sigma_y = vi_lower_bound_constrain(u[J + 3], 0.0, &log_jac);
    *lp = radon_prior(t, u, sigma_a, sigma_y, grad) +
          radon_likelihood(t, u, sigma_a, sigma_y, idx, count, scale, grad) +
          log_jac;
    if (grad != NULL) {
        grad[J + 2] = vi_lower_bound_backward(u[J + 2], 0.0, grad[J + 2]);
        grad[J + 3] = vi_lower_bound_backward(u[J + 3], 0.0, grad[J + 3]);
    }
}

static int radon_log_density(const void *self, const double *theta,
                             double *lp, double *grad, double *work,
                             vi_error *err)
{
    const radon_target *t = (const radon_target *)self;
    (void)work;
    radon_evaluate(t, theta, NULL, t->n, 1.0, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int radon_log_density_subset(const void *self, const double *theta,
                                    const size_t *idx, size_t n, double scale,
                                    double *lp, double *grad, double *work,
                                    vi_error *err)
{
    const radon_target *t = (const radon_target *)self;
    int status = tu_check_items(idx, n, t->n, err);
    (void)work;
    if (status != VI_OK)
        return status;
    radon_evaluate(t, theta, idx, n, scale, lp, grad);
    return tu_nan_result(*lp, "is theta finite?", err);
}

/* a[1..J], b, mu_a, sigma_a, sigma_y. */
static int radon_constrain(const void *self, const double *theta, double *out,
                           vi_error *err)
{
    const radon_target *t = (const radon_target *)self;
    size_t J = t->J, j;
    double sigma_a = exp(theta[J + 2]);
    (void)err;
    for (j = 0; j < J; ++j)
        out[j] = radon_intercept(t, theta, sigma_a, j);
    out[J] = theta[J];
    out[J + 1] = theta[J + 1];
    out[J + 2] = sigma_a;
    out[J + 3] = exp(theta[J + 3]);
    return VI_OK;
}

static const vi_target_desc radon_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "radon",
    .summary = "hierarchical varying-intercept regression (the radon "
               "model), centered or noncentered",
    .flags = 0,
    .options = radon_options,
    .create = radon_create,
    .destroy = radon_destroy,
    .dim = radon_dim,
    .param_name = radon_param_name,
    .workspace_size = NULL,
    .log_density = radon_log_density,
    .constrained_dim = radon_dim,
    .constrained_name = radon_constrained_name,
    .constrain = radon_constrain,
    .n_items = radon_n_items,
    .log_density_subset = radon_log_density_subset};

static const vi_component_head *const radon_components[] = {
    VI_COMPONENT(radon_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "radon",
    .version = "0.1.0",
    .description = "the radon varying-intercept model",
    .init = NULL,
    .deinit = NULL,
    .components = radon_components};
