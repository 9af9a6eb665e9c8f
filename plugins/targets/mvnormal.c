/*
 * mvnormal.c — a dense multivariate normal N(mean, cov) as the target,
 * normalized (log Z = 0).  The test target for full-rank families: the
 * exact answer is the target itself.
 *
 * `mean` (length D) and `cov` (D x D, symmetric positive definite) come
 * from the options or the data file.  create factors cov once (Cholesky)
 * and keeps the precision P = cov^-1, so
 *     log p(x) = -0.5 (x - m)^T P (x - m) - 0.5 log det(2 pi cov),
 *     grad     = -P (x - m).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

/* Relative tolerance of the symmetry check on cov. */
#define MVN_SYMMETRY_TOL 1e-10

typedef struct mvnormal_target {
    size_t dim;
    double *mean;       /* dim */
    double *precision;  /* dim x dim, row-major, symmetric */
    double *cov;        /* dim x dim, as given (symmetrized): the exact moments */
    double log_norm;    /* -0.5 log det(2 pi cov) */
    tu_names names;     /* x[1..dim] */
} mvnormal_target;

static const vi_option mvnormal_options[] = {
    {sizeof(vi_option), "mean", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL,
     HUGE_VAL, "mean vector (length D); may instead be a data variable"},
    {sizeof(vi_option), "cov", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "covariance matrix (D x D, symmetric positive definite); may instead "
     "be a data variable"},
    VI_OPTION_END};

static void mvnormal_destroy(void *self)
{
    mvnormal_target *t = (mvnormal_target *)self;
    if (t == NULL)
        return;
    free(t->mean);
    free(t->precision);
    free(t->cov);
    tu_names_free(&t->names);
    free(t);
}

/* Formats an array shape as "[2, 3]" for messages. */
static void format_shape(char *buf, size_t size, const size_t *shape,
                         size_t ndim)
{
    size_t k, used;
    snprintf(buf, size, "[");
    for (k = 0; k < ndim; ++k) {
        used = strlen(buf);
        snprintf(buf + used, size - used, "%s%lu", k ? ", " : "",
                 (unsigned long)shape[k]);
    }
    used = strlen(buf);
    snprintf(buf + used, size - used, "]");
}

/* Reads `mean` (a vector, or a scalar for D = 1) and copies it. */
static int read_mean(const vi_host *host, const vi_config *config,
                     mvnormal_target *t, vi_error *err)
{
    const double *data;
    size_t shape[VI_MAX_RANK], ndim, i;
    int status = vi_config_get_array_required(host, config, "mean", &data,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim > 1)
        return vi_error_set(err, VI_ETYPE,
                            "'mean' must be a vector, got an array of rank %lu",
                            (unsigned long)ndim);
    t->dim = vi_shape_count(shape, ndim);
    if (t->dim == 0)
        return vi_error_set(err, VI_EINVAL, "'mean' is empty");
    t->mean = (double *)malloc(t->dim * sizeof *t->mean);
    if (t->mean == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (i = 0; i < t->dim; ++i) {
        if (!isfinite(data[i]))
            return vi_error_set(err, VI_EINVAL,
                                "'mean' has a non-finite value at mean[%lu]",
                                (unsigned long)i + 1UL);
        t->mean[i] = data[i];
    }
    return VI_OK;
}

/* Checks that cov is finite and symmetric within MVN_SYMMETRY_TOL,
 * relative to the larger of the two entries and the scale
 * sqrt(|cov_ii cov_jj|). */
static int check_cov_values(const double *cov, size_t dim, vi_error *err)
{
    size_t i, j;
    for (i = 0; i < dim * dim; ++i)
        if (!isfinite(cov[i]))
            return vi_error_set(err, VI_EINVAL,
                                "'cov' has a non-finite value at cov[%lu,%lu]",
                                (unsigned long)(i / dim) + 1UL,
                                (unsigned long)(i % dim) + 1UL);
    for (i = 0; i < dim; ++i)
        for (j = 0; j < i; ++j) {
            double a = cov[i * dim + j], b = cov[j * dim + i];
            double scale = fmax(fmax(fabs(a), fabs(b)),
                                sqrt(fabs(cov[i * dim + i] * cov[j * dim + j])));
            if (fabs(a - b) > MVN_SYMMETRY_TOL * scale)
                return vi_error_set(err, VI_EINVAL,
                                    "'cov' is not symmetric: cov[%lu,%lu] = %.15g "
                                    "but cov[%lu,%lu] = %.15g",
                                    (unsigned long)i + 1UL,
                                    (unsigned long)j + 1UL, a,
                                    (unsigned long)j + 1UL,
                                    (unsigned long)i + 1UL, b);
        }
    return VI_OK;
}

/* Reads `cov`, checks its shape against dim and its values, and copies
 * it, symmetrized, into out (dim x dim). */
static int read_cov(const vi_host *host, const vi_config *config,
                    size_t dim, double *out, vi_error *err)
{
    const double *data;
    size_t shape[VI_MAX_RANK], ndim, i, j;
    char shape_text[96];
    int status = vi_config_get_array_required(host, config, "cov", &data,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    /* A 1 x 1 covariance may also be written as a scalar or [v]. */
    if (!(ndim == 2 && shape[0] == dim && shape[1] == dim) &&
        !(dim == 1 && ndim < 2 && vi_shape_count(shape, ndim) == 1)) {
        format_shape(shape_text, sizeof shape_text, shape, ndim);
        return vi_error_set(err, VI_ETYPE,
                            "'cov' must be a %lu x %lu matrix (the length of "
                            "'mean' is %lu), got shape %s",
                            (unsigned long)dim, (unsigned long)dim,
                            (unsigned long)dim, shape_text);
    }
    status = check_cov_values(data, dim, err);
    if (status != VI_OK)
        return status;
    for (i = 0; i < dim; ++i)
        for (j = 0; j < dim; ++j)
            out[i * dim + j] = 0.5 * (data[i * dim + j] + data[j * dim + i]);
    return VI_OK;
}

/* From the factor L of cov: log_norm = -0.5 (D log 2 pi + 2 sum log L_ii)
 * and precision = L^-T L^-1.  Destroys l (it becomes L^-1). */
static void precision_from_factor(mvnormal_target *t, double *l)
{
    t->log_norm = -0.5 * ((double)t->dim * VI_LOG_2PI +
                          tu_factor_log_det(l, t->dim));
    tu_inverse_from_factor(l, t->precision, t->dim);
}

static int make_names(mvnormal_target *t, vi_error *err)
{
    size_t i;
    int status = tu_names_alloc(&t->names, t->dim, err);
    for (i = 0; status == VI_OK && i < t->dim; ++i)
        tu_name_index(&t->names, i, "x", i);
    return status;
}

/* Reads, checks and factors cov into t->precision and t->log_norm. */
static int setup_precision(const vi_host *host, const vi_config *config,
                           mvnormal_target *t, vi_error *err)
{
    size_t failed_row;
    double *factor;
    int status;
    if (t->dim > SIZE_MAX / sizeof(double) / t->dim)
        return vi_error_set(err, VI_ENOMEM,
                            "'mean' has %lu elements: cov would not fit in "
                            "memory", (unsigned long)t->dim);
    factor = (double *)malloc(t->dim * t->dim * sizeof *factor);
    t->precision = (double *)malloc(t->dim * t->dim * sizeof *t->precision);
    t->cov = (double *)malloc(t->dim * t->dim * sizeof *t->cov);
    if (factor == NULL || t->precision == NULL || t->cov == NULL) {
        free(factor);
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    }
    status = read_cov(host, config, t->dim, factor, err);
    if (status == VI_OK) {
        memcpy(t->cov, factor, t->dim * t->dim * sizeof *t->cov);
        failed_row = tu_cholesky_lower(factor, t->dim);
        if (failed_row != 0)
            status = vi_error_set(err, VI_EINVAL,
                                  "cov is not positive definite (Cholesky "
                                  "failed at row %lu)",
                                  (unsigned long)failed_row);
    }
    if (status == VI_OK)
        precision_from_factor(t, factor);
    free(factor);
    return status;
}

static int mvnormal_setup(const vi_host *host, const vi_config *config,
                          void *self, vi_error *err)
{
    mvnormal_target *t = (mvnormal_target *)self;
    int status = read_mean(host, config, t, err);
    if (status == VI_OK)
        status = setup_precision(host, config, t, err);
    if (status == VI_OK)
        status = make_names(t, err);
    return status;
}

static int mvnormal_create(const vi_host *host, const vi_config *config,
                           void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(mvnormal_target), mvnormal_setup,
                     mvnormal_destroy, self, err);
}

static size_t mvnormal_dim(const void *self)
{
    return ((const mvnormal_target *)self)->dim;
}

static const char *mvnormal_param_name(const void *self, size_t i)
{
    return tu_name(&((const mvnormal_target *)self)->names, i);
}

/* Scratch: the residual x - m and P (x - m). */
static size_t mvnormal_workspace_size(const void *self)
{
    return 2 * ((const mvnormal_target *)self)->dim;
}

static int mvnormal_log_density(const void *self, const double *theta,
                                double *lp, double *grad, double *work,
                                vi_error *err)
{
    const mvnormal_target *t = (const mvnormal_target *)self;
    size_t dim = t->dim, i;
    double *resid = work, *prec_resid = work + dim, quad;
    for (i = 0; i < dim; ++i)
        resid[i] = theta[i] - t->mean[i];
    /* P (theta - m) by dsymv: P is symmetric, so its upper half serves. */
    cblas_dsymv(CblasRowMajor, CblasUpper, (int)dim, 1.0, t->precision, (int)dim, resid, 1,
                0.0, prec_resid, 1);
    quad = cblas_ddot((int)dim, resid, 1, prec_resid, 1);
    *lp = t->log_norm - 0.5 * quad;
    if (grad != NULL)
        for (i = 0; i < dim; ++i)
            grad[i] = -prec_resid[i];
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN (is theta finite?)");
    return VI_OK;
}

static int mvnormal_log_evidence(const void *self, double *log_z,
                                 vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0; /* normalized */
    return VI_OK;
}

/* The target is its own posterior: mean and cov as given. */
static int mvnormal_moments(const void *self, double *mean, double *cov,
                            vi_error *err)
{
    const mvnormal_target *t = (const mvnormal_target *)self;
    (void)err;
    if (mean != NULL)
        memcpy(mean, t->mean, t->dim * sizeof *mean);
    if (cov != NULL)
        memcpy(cov, t->cov, t->dim * t->dim * sizeof *cov);
    return VI_OK;
}

static const vi_target_moments mvnormal_moments_ext = {
    sizeof(vi_target_moments), mvnormal_moments};

static const void *mvnormal_get_extension(const void *self, const char *id)
{
    (void)self;
    return strcmp(id, VI_TARGET_MOMENTS_ID) == 0 ? &mvnormal_moments_ext : NULL;
}

static const vi_target_desc mvnormal_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "mvnormal",
    .summary = "dense multivariate normal N(mean, cov), normalized",
    .flags = 0,
    .options = mvnormal_options,
    .create = mvnormal_create,
    .destroy = mvnormal_destroy,
    .dim = mvnormal_dim,
    .param_name = mvnormal_param_name,
    .workspace_size = mvnormal_workspace_size,
    .log_density = mvnormal_log_density,
    .get_extension = mvnormal_get_extension,
    .log_evidence = mvnormal_log_evidence};

static const vi_component_head *const mvnormal_components[] = {
    VI_COMPONENT(mvnormal_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "mvnormal",
    .version = "0.1.0",
    .description = "a dense multivariate normal target (exact answer known)",
    .init = NULL,
    .deinit = NULL,
    .components = mvnormal_components};
