/*
 * normal.c — the conjugate normal model, a target with an exact log
 * evidence:
 *     y_i ~ N(theta, sigma^2),  i = 1..n,     theta ~ N(mu0, s0^2),
 * with sigma, mu0 and s0 known.  log_density is the full normalized log
 * joint, so its integral over theta is the marginal likelihood p(y), known
 * in closed form.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#define NORMAL_SIGMA_DEFAULT 1.0
#define NORMAL_MU0_DEFAULT 0.0
#define NORMAL_S0_DEFAULT 10.0

/* The data enter only through n, their mean and the sum of squared
 * deviations from it: sum (y_i - theta)^2 = ss + n (ybar - theta)^2, which
 * avoids cancellation when theta is far from the data. */
typedef struct normal_target {
    size_t n;        /* number of observations */
    double ybar;     /* their mean */
    double ss;       /* sum of (y_i - ybar)^2 */
    double sigma;    /* known observation sd */
    double mu0, s0;  /* prior mean and sd of theta */
} normal_target;

static const vi_option normal_options[] = {
    {sizeof(vi_option), "y", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "observations (a vector); may instead be the data file's variable 'y'"},
    {sizeof(vi_option), "sigma", VI_OPTION_DOUBLE, 0, "1", 0.0, HUGE_VAL,
     "known standard deviation of each observation (> 0)"},
    {sizeof(vi_option), "mu0", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "prior mean of theta"},
    {sizeof(vi_option), "s0", VI_OPTION_DOUBLE, 0, "10", 0.0, HUGE_VAL,
     "prior standard deviation of theta (> 0)"},
    VI_OPTION_END};

/* Reads y and reduces it to n, mean and sum of squared deviations (two
 * passes, for accuracy). */
static int read_observations(const vi_host *host, const vi_config *config,
                             normal_target *t, vi_error *err)
{
    const double *y;
    size_t shape[VI_MAX_RANK], ndim, i;
    double sum = 0.0, ss = 0.0;
    int status =
        vi_config_get_array_required(host, config, "y", &y, shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim > 1)
        return vi_error_set(err, VI_ETYPE,
                            "'y' must be a vector, got an array of rank %lu",
                            (unsigned long)ndim);
    t->n = vi_shape_count(shape, ndim);
    if (t->n == 0)
        return vi_error_set(err, VI_EINVAL,
                            "'y' is empty: the normal target needs at least "
                            "one observation");
    for (i = 0; i < t->n; ++i) {
        if (!isfinite(y[i]))
            return vi_error_set(err, VI_EINVAL,
                                "'y' has a non-finite value at y[%lu]",
                                (unsigned long)i + 1UL);
        sum += y[i];
    }
    t->ybar = sum / (double)t->n;
    for (i = 0; i < t->n; ++i)
        ss += (y[i] - t->ybar) * (y[i] - t->ybar);
    t->ss = ss;
    return VI_OK;
}

static int normal_setup(const vi_host *host, const vi_config *config,
                        void *self, vi_error *err)
{
    normal_target *t = (normal_target *)self;
    int status = read_observations(host, config, t, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma", NORMAL_SIGMA_DEFAULT,
                                  &t->sigma, err);
    if (status == VI_OK)
        status = tu_read_finite(host, config, "mu0", NORMAL_MU0_DEFAULT,
                                &t->mu0, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "s0", NORMAL_S0_DEFAULT,
                                  &t->s0, err);
    return status;
}

static void normal_destroy(void *self) { free(self); }

static int normal_create(const vi_host *host, const vi_config *config,
                         void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(normal_target), normal_setup,
                     normal_destroy, self, err);
}

static size_t normal_dim(const void *self)
{
    (void)self;
    return 1;
}

static const char *normal_param_name(const void *self, size_t i)
{
    (void)self;
    return i == 0 ? "theta" : NULL;
}

static int normal_log_density(const void *self, const double *theta,
                              double *lp, double *grad, double *work,
                              vi_error *err)
{
    const normal_target *t = (const normal_target *)self;
    double n = (double)t->n, var = t->sigma * t->sigma;
    double gap = t->ybar - theta[0], d_prior;
    double log_lik = -0.5 * n * (VI_LOG_2PI + 2.0 * log(t->sigma)) -
                     0.5 * (t->ss + n * gap * gap) / var;
    double log_prior = vi_normal_lpdf(theta[0], t->mu0, t->s0, &d_prior,
                                      NULL, NULL);
    (void)work;
    *lp = log_lik + log_prior;
    if (grad != NULL)
        grad[0] = n * gap / var + d_prior;
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN at theta = %g", theta[0]);
    return VI_OK;
}

/* log p(y) = log N(y | mu0 1, sigma^2 I + s0^2 1 1^T).  With
 * C = sigma^2 I + s0^2 1 1^T:
 *     det C = sigma^(2(n-1)) (sigma^2 + n s0^2),
 *     r^T C^-1 r = ss / sigma^2 + n (ybar - mu0)^2 / (sigma^2 + n s0^2),
 * by the Sherman–Morrison formula, r = y - mu0 1. */
static int normal_log_evidence(const void *self, double *log_z,
                               vi_error *err)
{
    const normal_target *t = (const normal_target *)self;
    double n = (double)t->n, var = t->sigma * t->sigma;
    double total_var = var + n * t->s0 * t->s0;
    double d = t->ybar - t->mu0;
    double quad = t->ss / var + n * d * d / total_var;
    (void)err;
    *log_z = -0.5 * n * VI_LOG_2PI - (n - 1.0) * log(t->sigma) -
             0.5 * log(total_var) - 0.5 * quad;
    return VI_OK;
}

/* The conjugate posterior: theta | y ~ N(m, v) with precision
 * 1/v = 1/s0^2 + n/sigma^2 and m = v (mu0/s0^2 + n ybar/sigma^2). */
static int normal_moments(const void *self, double *mean, double *cov,
                          vi_error *err)
{
    const normal_target *t = (const normal_target *)self;
    double prior_prec = 1.0 / (t->s0 * t->s0);
    double data_prec = (double)t->n / (t->sigma * t->sigma);
    double v = 1.0 / (prior_prec + data_prec);
    (void)err;
    if (mean != NULL)
        mean[0] = v * (prior_prec * t->mu0 + data_prec * t->ybar);
    if (cov != NULL)
        cov[0] = v;
    return VI_OK;
}

static const vi_target_moments normal_moments_ext = {
    sizeof(vi_target_moments), normal_moments};

static const void *normal_get_extension(const void *self, const char *id)
{
    (void)self;
    return strcmp(id, VI_TARGET_MOMENTS_ID) == 0 ? &normal_moments_ext : NULL;
}

static const vi_target_desc normal_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "normal",
    .summary = "conjugate normal model y_i ~ N(theta, sigma^2), "
               "theta ~ N(mu0, s0^2), with exact log evidence",
    .flags = 0,
    .options = normal_options,
    .create = normal_create,
    .destroy = normal_destroy,
    .dim = normal_dim,
    .param_name = normal_param_name,
    .workspace_size = NULL, /* no scratch needed */
    .log_density = normal_log_density,
    .get_extension = normal_get_extension,
    .log_evidence = normal_log_evidence};

static const vi_component_head *const normal_components[] = {
    VI_COMPONENT(normal_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "normal",
    .version = "0.1.0",
    .description = "the conjugate normal model (a target with exact log "
                   "evidence)",
    .init = NULL,
    .deinit = NULL,
    .components = normal_components};
