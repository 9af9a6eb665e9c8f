/*
 * meanfield.c — the mean-field (diagonal) Gaussian family, ADVI's default:
 *     lambda = (mu[1..D], omega[1..D]),   sigma = exp(omega),
 *     z = mu + sigma .* eps,              eps ~ N(0, I).
 * The log-scale parameterization keeps sigma positive with no constraint.
 *     H[q] = sum omega + D/2 (1 + log 2 pi),
 *     log q(z) = -0.5 |(z - mu) ./ sigma|^2 - sum omega - D/2 log 2 pi.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

/* Room for "omega[" + 20 digits + "]" + NUL. */
#define MEANFIELD_NAME_SIZE 32

typedef struct meanfield_family {
    size_t dim;
    double init_mu;
    double init_log_sd;
    char *names; /* 2 dim names, MEANFIELD_NAME_SIZE apart */
} meanfield_family;

static const vi_option meanfield_options[] = {
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL,
     HUGE_VAL, "starting value of every mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0",
     -FU_LOG_SD_LIMIT, FU_LOG_SD_LIMIT,
     "starting value of every log standard deviation omega[i]"},
    VI_OPTION_END};

static void meanfield_destroy(void *self)
{
    meanfield_family *f = (meanfield_family *)self;
    if (f == NULL)
        return;
    free(f->names);
    free(f);
}

static int make_names(meanfield_family *f, vi_error *err)
{
    size_t i;
    f->names = (char *)malloc(2 * f->dim * MEANFIELD_NAME_SIZE);
    if (f->names == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (i = 0; i < f->dim; ++i) {
        vi_index_name(f->names + i * MEANFIELD_NAME_SIZE, MEANFIELD_NAME_SIZE,
                      "mu", i);
        vi_index_name(f->names + (f->dim + i) * MEANFIELD_NAME_SIZE,
                      MEANFIELD_NAME_SIZE, "omega", i);
    }
    return VI_OK;
}

static int meanfield_setup(const vi_host *host, const vi_config *config,
                           size_t dim, void *self, vi_error *err)
{
    meanfield_family *f = (meanfield_family *)self;
    int status = fu_read_init(host, config, &f->init_mu, &f->init_log_sd, err);
    f->dim = dim;
    return status == VI_OK ? make_names(f, err) : status;
}

static int meanfield_create(const vi_host *host, const vi_config *config,
                            size_t dim, void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0)
        return vi_error_set(err, VI_EINVAL,
                            "the meanfield family needs a target of "
                            "dimension >= 1, got 0");
    return fu_create(host, config, dim, sizeof(meanfield_family),
                     meanfield_setup, meanfield_destroy, self, err);
}

static size_t meanfield_n_params(const void *self)
{
    return 2 * ((const meanfield_family *)self)->dim;
}

static size_t meanfield_base_dim(const void *self)
{
    return ((const meanfield_family *)self)->dim;
}

static const char *meanfield_param_name(const void *self, size_t i)
{
    const meanfield_family *f = (const meanfield_family *)self;
    return i < 2 * f->dim ? f->names + i * MEANFIELD_NAME_SIZE : NULL;
}

static int meanfield_init(const void *self, double *lambda, vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    size_t i;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = f->init_mu;
        lambda[f->dim + i] = f->init_log_sd;
    }
    return VI_OK;
}

/* -D/2 log 2 pi - sum omega: the log density's normalizer. */
static double log_normalizer(const double *omega, size_t dim)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < dim; ++i)
        sum += omega[i];
    return -0.5 * (double)dim * VI_LOG_2PI - sum;
}

static int meanfield_forward(const void *self, const double *lambda,
                             const double *eps, double *z, double *log_q,
                             double *work, vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    const double *mu = lambda, *omega = lambda + f->dim;
    double sq = 0.0;
    size_t i;
    (void)work;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        z[i] = mu[i] + exp(omega[i]) * eps[i];
        sq += eps[i] * eps[i];
    }
    /* (z - mu) / sigma is eps exactly, so use it rather than recompute. */
    if (log_q != NULL)
        *log_q = log_normalizer(omega, f->dim) - 0.5 * sq;
    return VI_OK;
}

static int meanfield_backward(const void *self, const double *lambda,
                              const double *eps, const double *dz,
                              double *dlambda, double *work, vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    const double *omega = lambda + f->dim;
    size_t i;
    (void)work;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        dlambda[i] += dz[i];                                /* dz/dmu = 1 */
        dlambda[f->dim + i] += dz[i] * eps[i] * exp(omega[i]); /* = sigma eps */
    }
    return VI_OK;
}

static int meanfield_entropy(const void *self, const double *lambda,
                             double *h, double *dlambda, double *work,
                             vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *h = 0.5 * (double)f->dim - log_normalizer(lambda + f->dim, f->dim);
    if (dlambda != NULL)
        for (i = 0; i < f->dim; ++i)
            dlambda[f->dim + i] += 1.0; /* dH/domega_i */
    return VI_OK;
}

/* log q(z), with the standardized residuals (z - mu) / sigma written into
 * std_resid when it is non-NULL. */
static double log_density_at(const meanfield_family *f, const double *lambda,
                             const double *z, double *std_resid)
{
    const double *mu = lambda, *omega = lambda + f->dim;
    double sq = 0.0;
    size_t i;
    for (i = 0; i < f->dim; ++i) {
        double e = (z[i] - mu[i]) * exp(-omega[i]);
        if (std_resid != NULL)
            std_resid[i] = e;
        sq += e * e;
    }
    return log_normalizer(omega, f->dim) - 0.5 * sq;
}

static int meanfield_log_q(const void *self, const double *lambda,
                           const double *z, double *lq, double *work,
                           vi_error *err)
{
    (void)work;
    (void)err;
    *lq = log_density_at((const meanfield_family *)self, lambda, z, NULL);
    return VI_OK;
}

/* d log q / dz_i = -(z_i - mu_i) / sigma_i^2 = -e_i / sigma_i. */
static int meanfield_log_q_grad_z(const void *self, const double *lambda,
                                  const double *z, double *lq, double *dz,
                                  double *work, vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *lq = log_density_at(f, lambda, z, dz);
    for (i = 0; i < f->dim; ++i)
        dz[i] = -dz[i] * exp(-lambda[f->dim + i]);
    return VI_OK;
}

/* At fixed z: d log q / dmu_i = e_i / sigma_i, d log q / domega_i =
 * e_i^2 - 1, with e = (z - mu) / sigma. */
static int meanfield_log_q_grad_lambda(const void *self, const double *lambda,
                                       const double *z, double *lq,
                                       double *dlambda, double *work,
                                       vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *lq = log_density_at(f, lambda, z, dlambda);
    for (i = 0; i < f->dim; ++i) {
        double e = dlambda[i];
        dlambda[f->dim + i] = e * e - 1.0;
        dlambda[i] = e * exp(-lambda[f->dim + i]);
    }
    return VI_OK;
}

static int meanfield_moments(const void *self, const double *lambda,
                             double *mean, double *cov, double *work,
                             vi_error *err)
{
    const meanfield_family *f = (const meanfield_family *)self;
    size_t dim = f->dim, i, j;
    (void)work;
    (void)err;
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov != NULL)
        for (i = 0; i < dim; ++i)
            for (j = 0; j < dim; ++j)
                cov[i * dim + j] = i == j ? exp(2.0 * lambda[dim + i]) : 0.0;
    return VI_OK;
}

static const vi_family_desc meanfield_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "meanfield",
    .summary = "mean-field Gaussian: independent normals with log-scale sds",
    .flags = 0,
    .options = meanfield_options,
    .create = meanfield_create,
    .destroy = meanfield_destroy,
    .n_params = meanfield_n_params,
    .base_dim = meanfield_base_dim,
    .param_name = meanfield_param_name,
    .workspace_size = NULL, /* no scratch needed */
    .init = meanfield_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = meanfield_forward,
    .backward = meanfield_backward,
    .entropy = meanfield_entropy,
    .log_q = meanfield_log_q,
    .log_q_grad_z = meanfield_log_q_grad_z,
    .log_q_grad_lambda = meanfield_log_q_grad_lambda,
    .moments = meanfield_moments};

static const vi_component_head *const meanfield_components[] = {
    VI_COMPONENT(meanfield_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "meanfield",
    .version = "0.1.0",
    .description = "the mean-field Gaussian variational family",
    .init = NULL,
    .deinit = NULL,
    .components = meanfield_components};
