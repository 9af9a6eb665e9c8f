/*
 * logistic.c — Bayesian logistic regression:
 *     beta_d ~ N(0, prior_scale^2),  d = 1..D,
 *     y_n ~ Bernoulli(inv_logit(x_n . beta)),  n = 1..N,
 * with data N, D, X (N x D, one row per item) and y (N values in {0, 1}).
 * The prior is normalized; the likelihood is summed in blocks of rows, in
 * the stable forms log p(y_n) = -log1p_exp(-s_n eta_n) and
 * d/d eta_n = s_n inv_logit(-s_n eta_n), s_n = 2 y_n - 1, which lose
 * nothing when |eta| is large.  Supports minibatches (n_items,
 * log_density_subset).
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define LOGISTIC_PRIOR_SCALE_DEFAULT 10.0
/* Rows per block: their linear predictors sit in the workspace. */
#define LOGISTIC_BLOCK 256
/* Room for "beta[" + 20 digits + "]" + NUL. */
#define LOGISTIC_NAME_SIZE 32

typedef struct logistic_target {
    size_t n_rows;         /* N */
    size_t dim;            /* D */
    const double *x;       /* N x D, row-major; the config's, which outlives us */
    const double *y;       /* N values in {0, 1}; the config's */
    double prior_scale;
    double log_prior_norm; /* -D (log prior_scale + 0.5 log 2 pi) */
    char *names;           /* D names, LOGISTIC_NAME_SIZE apart */
} logistic_target;

static const vi_option logistic_options[] = {
    {sizeof(vi_option), "prior_scale", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on each coefficient "
               "(> 0)"},
    VI_OPTION_END};

static void logistic_destroy(void *self)
{
    logistic_target *t = (logistic_target *)self;
    if (t == NULL)
        return;
    free(t->names);
    free(t);
}

/* Reads an optional size (N or D) and checks it against the size implied
 * by X; `actual` is what X says. */
static int check_declared_size(const vi_host *host, const vi_config *config,
                               const char *key, size_t actual,
                               const char *what, vi_error *err)
{
    int64_t declared;
    int status = vi_config_get_int_or(host, config, key, -1, &declared, err);
    if (status != VI_OK || declared == -1) /* absent: X alone decides */
        return status;
    if (declared < 0 || (uint64_t)declared != (uint64_t)actual)
        return vi_error_set(err, VI_EINVAL,
                            "data variable '%s' = %lld does not match X, "
                            "which has %lu %s",
                            key, (long long)declared, (unsigned long)actual,
                            what);
    return VI_OK;
}

/* Reads X (N x D) and checks it against N and D when those are given. */
static int read_design(const vi_host *host, const vi_config *config,
                       logistic_target *t, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim, i;
    int status = vi_config_get_array_required(host, config, "X", &t->x,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim != 2)
        return vi_error_set(err, VI_ETYPE,
                            "data variable 'X' must be an N x D matrix, got "
                            "an array of rank %lu",
                            (unsigned long)ndim);
    t->n_rows = shape[0];
    t->dim = shape[1];
    if (t->n_rows == 0 || t->dim == 0)
        return vi_error_set(err, VI_EINVAL,
                            "data variable 'X' is empty (%lu x %lu): need at "
                            "least one row and one column",
                            (unsigned long)t->n_rows, (unsigned long)t->dim);
    status = check_declared_size(host, config, "N", t->n_rows, "rows", err);
    if (status == VI_OK)
        status = check_declared_size(host, config, "D", t->dim, "columns",
                                     err);
    if (status != VI_OK)
        return status;
    for (i = 0; i < t->n_rows * t->dim; ++i)
        if (!isfinite(t->x[i]))
            return vi_error_set(err, VI_EINVAL,
                                "data variable 'X' has a non-finite value at "
                                "X[%lu,%lu]",
                                (unsigned long)(i / t->dim) + 1UL,
                                (unsigned long)(i % t->dim) + 1UL);
    return VI_OK;
}

/* Reads y: N values, each 0 or 1. */
static int read_outcomes(const vi_host *host, const vi_config *config,
                         logistic_target *t, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim, count, i;
    int status = vi_config_get_array_required(host, config, "y", &t->y,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    count = vi_shape_count(shape, ndim);
    if (ndim > 1 || count != t->n_rows)
        return vi_error_set(err, VI_ETYPE,
                            "data variable 'y' must be a vector of length N = "
                            "%lu (the rows of X), got %lu values in an array "
                            "of rank %lu",
                            (unsigned long)t->n_rows, (unsigned long)count,
                            (unsigned long)ndim);
    for (i = 0; i < count; ++i)
        if (t->y[i] != 0.0 && t->y[i] != 1.0)
            return vi_error_set(err, VI_EINVAL,
                                "data variable 'y' must hold 0 or 1, got "
                                "y[%lu] = %g",
                                (unsigned long)i + 1UL, t->y[i]);
    return VI_OK;
}

static int make_names(logistic_target *t, vi_error *err)
{
    size_t d;
    t->names = (char *)malloc(t->dim * LOGISTIC_NAME_SIZE);
    if (t->names == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (d = 0; d < t->dim; ++d)
        vi_index_name(t->names + d * LOGISTIC_NAME_SIZE, LOGISTIC_NAME_SIZE,
                      "beta", d);
    return VI_OK;
}

static int logistic_create(const vi_host *host, const vi_config *config,
                           void **self, vi_error *err)
{
    logistic_target *t;
    int status;
    *self = NULL;
    t = (logistic_target *)calloc(1, sizeof *t);
    if (t == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    status = read_design(host, config, t, err);
    if (status == VI_OK)
        status = read_outcomes(host, config, t, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "prior_scale",
                                         LOGISTIC_PRIOR_SCALE_DEFAULT,
                                         &t->prior_scale, err);
    if (status == VI_OK &&
        (!(t->prior_scale > 0.0) || !isfinite(t->prior_scale)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'prior_scale' must be finite and > 0, "
                              "got %g",
                              t->prior_scale);
    if (status == VI_OK)
        status = make_names(t, err);
    if (status != VI_OK) {
        logistic_destroy(t);
        return status;
    }
    t->log_prior_norm =
        -(double)t->dim * (log(t->prior_scale) + 0.5 * VI_LOG_2PI);
    *self = t;
    return VI_OK;
}

static size_t logistic_dim(const void *self)
{
    return ((const logistic_target *)self)->dim;
}

static const char *logistic_param_name(const void *self, size_t i)
{
    const logistic_target *t = (const logistic_target *)self;
    return i < t->dim ? t->names + i * LOGISTIC_NAME_SIZE : NULL;
}

static size_t logistic_n_items(const void *self)
{
    return ((const logistic_target *)self)->n_rows;
}

/* Scratch: one block of linear predictors. */
static size_t logistic_workspace_size(const void *self)
{
    size_t n = ((const logistic_target *)self)->n_rows;
    return n < LOGISTIC_BLOCK ? n : LOGISTIC_BLOCK;
}

/* The normalized prior: writes its value and, when grad is non-NULL, its
 * gradient -beta / s^2 (overwriting grad). */
static double log_prior(const logistic_target *t, const double *beta,
                        double *grad)
{
    double inv_var = 1.0 / (t->prior_scale * t->prior_scale), sq = 0.0;
    size_t d;
    for (d = 0; d < t->dim; ++d) {
        sq += beta[d] * beta[d];
        if (grad != NULL)
            grad[d] = -beta[d] * inv_var;
    }
    return t->log_prior_norm - 0.5 * sq * inv_var;
}

/* Returns scale * sum of the log likelihoods of `count` rows — rows
 * idx[0..count) or, when idx is NULL, rows 0..count — and adds scale times
 * their gradient into grad (when non-NULL).  `work` holds one block. */
static double add_log_likelihood(const logistic_target *t, const double *beta,
                                 const size_t *idx, size_t count, double scale,
                                 double *grad, double *work)
{
    size_t dim = t->dim, start, r, d;
    double total = 0.0;
    for (start = 0; start < count; start += LOGISTIC_BLOCK) {
        size_t block = count - start < LOGISTIC_BLOCK ? count - start
                                                      : LOGISTIC_BLOCK;
        for (r = 0; r < block; ++r) { /* linear predictors */
            size_t row = idx != NULL ? idx[start + r] : start + r;
            const double *x = t->x + row * dim;
            double eta = 0.0;
            for (d = 0; d < dim; ++d)
                eta += x[d] * beta[d];
            work[r] = eta;
        }
        for (r = 0; r < block; ++r) { /* log likelihood; d/d eta in place */
            size_t row = idx != NULL ? idx[start + r] : start + r;
            double sign = 2.0 * t->y[row] - 1.0, s_eta = sign * work[r];
            total -= vi_log1p_exp(-s_eta);
            work[r] = scale * sign * vi_inv_logit(-s_eta);
        }
        if (grad != NULL)
            for (r = 0; r < block; ++r) { /* grad += X_block^T work */
                size_t row = idx != NULL ? idx[start + r] : start + r;
                const double *x = t->x + row * dim;
                for (d = 0; d < dim; ++d)
                    grad[d] += work[r] * x[d];
            }
    }
    return scale * total;
}

static int logistic_log_density(const void *self, const double *theta,
                                double *lp, double *grad, double *work,
                                vi_error *err)
{
    const logistic_target *t = (const logistic_target *)self;
    *lp = log_prior(t, theta, grad) +
          add_log_likelihood(t, theta, NULL, t->n_rows, 1.0, grad, work);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN (is beta finite?)");
    return VI_OK;
}

static int logistic_log_density_subset(const void *self, const double *theta,
                                       const size_t *idx, size_t n,
                                       double scale, double *lp, double *grad,
                                       double *work, vi_error *err)
{
    const logistic_target *t = (const logistic_target *)self;
    size_t i;
    for (i = 0; i < n; ++i)
        if (idx[i] >= t->n_rows)
            return vi_error_set(err, VI_EINVAL,
                                "item index %lu is out of range: the data "
                                "have N = %lu items (indices 0..%lu)",
                                (unsigned long)idx[i],
                                (unsigned long)t->n_rows,
                                (unsigned long)t->n_rows - 1UL);
    *lp = log_prior(t, theta, grad) +
          add_log_likelihood(t, theta, idx, n, scale, grad, work);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN (is beta finite?)");
    return VI_OK;
}

static const vi_target_desc logistic_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "logistic",
    .summary = "Bayesian logistic regression with a normal prior on the "
               "coefficients",
    .flags = 0,
    .options = logistic_options,
    .create = logistic_create,
    .destroy = logistic_destroy,
    .dim = logistic_dim,
    .param_name = logistic_param_name,
    .workspace_size = logistic_workspace_size,
    .log_density = logistic_log_density,
    .n_items = logistic_n_items,
    .log_density_subset = logistic_log_density_subset};

static const vi_component_head *const logistic_components[] = {
    VI_COMPONENT(logistic_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "logistic",
    .version = "0.1.0",
    .description = "Bayesian logistic regression",
    .init = NULL,
    .deinit = NULL,
    .components = logistic_components};
