/*
 * gmm.c — a Gaussian mixture as the target, the standard multimodal test:
 *     p~(x) = sum_k w_k prod_d N(x_d | m_kd, s_kd^2),
 * with K components in D dimensions, each with a diagonal covariance.
 * `weights` (K values > 0) need not sum to 1: the exact log evidence is
 * log sum_k w_k, so normalized weights give log Z = 0.  `means` is K values
 * (D = 1) or a K x D matrix; `sds` one value for all, K values (one per
 * component) or a K x D matrix.  The 1-D two-component case with means
 * -3 and 3, sds 1 and weights 0.3 and 0.7 is the bimodal target on which a
 * single Gaussian settles on one mode and a K = 2 mixture recovers both;
 * it is what the option defaults give.  The target's exact mean and
 * covariance (vi.target.moments/1) serve comparison runs as the reference:
 *     mean = sum_k w_k m_k / W,
 *     cov = sum_k w_k (diag(s_k^2) + m_k m_k^T) / W - mean mean^T.
 *     grad log p~ = -sum_k r_k (x - m_k) / s_k^2,  r_k the responsibilities.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#define GMM_MAX_COMPONENTS 4096
#define GMM_MAX_DIM 4096

typedef struct gmm_target {
    size_t n_comp;       /* K */
    size_t dim;          /* D */
    double *log_w;       /* K: log of the (unnormalized) weights */
    double log_z;        /* log sum_k w_k */
    double *means;       /* K x D */
    double *sds;         /* K x D */
    double *log_norm;    /* K: log w_k - sum_d log s_kd - D/2 log 2 pi */
    tu_names names;
} gmm_target;

static const vi_option gmm_options[] = {
    {sizeof(vi_option), "weights", VI_OPTION_ARRAY, 0, "[0.3, 0.7]", -HUGE_VAL, HUGE_VAL,
     "component weights (K values > 0); log Z = log sum weights"},
    {sizeof(vi_option), "means", VI_OPTION_ARRAY, 0, "[-3, 3]", -HUGE_VAL, HUGE_VAL,
     "component means: K values (one dimension) or a K x D matrix"},
    {sizeof(vi_option), "sds", VI_OPTION_ARRAY, 0, "1", -HUGE_VAL, HUGE_VAL,
     "component standard deviations (> 0): one value, K values or a K x D matrix"},
    VI_OPTION_END};

static void gmm_destroy(void *self)
{
    gmm_target *t = (gmm_target *)self;
    if (t == NULL)
        return;
    free(t->log_w);
    free(t->means);
    free(t->sds);
    free(t->log_norm);
    tu_names_free(&t->names);
    free(t);
}

static int read_weights(const vi_host *host, const vi_config *config, gmm_target *t,
                        vi_error *err)
{
    const double *w;
    size_t shape[VI_MAX_RANK], ndim, k;
    int status = vi_config_get_array_required(host, config, "weights", &w, shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim != 1 || shape[0] < 1 || shape[0] > GMM_MAX_COMPONENTS)
        return vi_error_set(err, VI_ETYPE, "'weights' must be a vector of 1..%d values",
                            GMM_MAX_COMPONENTS);
    t->n_comp = shape[0];
    if ((t->log_w = (double *)malloc(t->n_comp * sizeof(double))) == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (k = 0; k < t->n_comp; ++k) {
        if (!(w[k] > 0.0) || !isfinite(w[k]))
            return vi_error_set(err, VI_EINVAL, "'weights[%lu]' must be finite and > 0, got %g",
                                (unsigned long)k + 1UL, w[k]);
        t->log_w[k] = log(w[k]);
        t->log_z += w[k];
    }
    t->log_z = log(t->log_z); /* of the plain sum: weights summing to 1 give exactly 0 */
    return VI_OK;
}

static int read_means(const vi_host *host, const vi_config *config, gmm_target *t,
                      vi_error *err)
{
    const double *m;
    size_t shape[VI_MAX_RANK], ndim, i;
    int status = vi_config_get_array_required(host, config, "means", &m, shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim == 1 && shape[0] == t->n_comp)
        t->dim = 1;
    else if (ndim == 2 && shape[0] == t->n_comp && shape[1] >= 1 && shape[1] <= GMM_MAX_DIM)
        t->dim = shape[1];
    else
        return vi_error_set(err, VI_ETYPE, "'means' must be %lu values (one dimension) or a "
                            "%lu x D matrix, one row per weight", (unsigned long)t->n_comp,
                            (unsigned long)t->n_comp);
    t->means = (double *)malloc(t->n_comp * t->dim * sizeof(double));
    if (t->means == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (i = 0; i < t->n_comp * t->dim; ++i) {
        if (!isfinite(m[i]))
            return vi_error_set(err, VI_EINVAL, "'means' must be finite");
        t->means[i] = m[i];
    }
    return VI_OK;
}

/* sds: a scalar, K values, or K x D; expanded to K x D. */
static int read_sds(const vi_host *host, const vi_config *config, gmm_target *t,
                    vi_error *err)
{
    const double *s;
    size_t shape[VI_MAX_RANK], ndim, count, k, d;
    int status = vi_config_get_array_required(host, config, "sds", &s, shape, &ndim, err);
    if (status != VI_OK)
        return status;
    count = vi_shape_count(shape, ndim);
    if (!(count == 1 || (ndim == 1 && count == t->n_comp) ||
          (ndim == 2 && shape[0] == t->n_comp && shape[1] == t->dim)))
        return vi_error_set(err, VI_ETYPE, "'sds' must be one value, %lu values or a %lu x %lu "
                            "matrix", (unsigned long)t->n_comp, (unsigned long)t->n_comp,
                            (unsigned long)t->dim);
    t->sds = (double *)malloc(t->n_comp * t->dim * sizeof(double));
    if (t->sds == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (k = 0; k < t->n_comp; ++k)
        for (d = 0; d < t->dim; ++d) {
            double v = count == 1 ? s[0] : ndim == 1 ? s[k] : s[k * t->dim + d];
            if (!(v > 0.0) || !isfinite(v))
                return vi_error_set(err, VI_EINVAL, "'sds' must be finite and > 0, got %g", v);
            t->sds[k * t->dim + d] = v;
        }
    return VI_OK;
}

static int finish(gmm_target *t, vi_error *err)
{
    size_t k, d;
    int status = tu_names_alloc(&t->names, t->dim, err);
    if (status != VI_OK)
        return status;
    t->log_norm = (double *)malloc(t->n_comp * sizeof(double));
    if (t->log_norm == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (k = 0; k < t->n_comp; ++k) {
        double sum = t->log_w[k] - 0.5 * (double)t->dim * VI_LOG_2PI;
        for (d = 0; d < t->dim; ++d)
            sum -= log(t->sds[k * t->dim + d]);
        t->log_norm[k] = sum;
    }
    for (d = 0; d < t->dim; ++d)
        tu_name_index(&t->names, d, "x", d);
    return VI_OK;
}

static int gmm_setup(const vi_host *host, const vi_config *config, void *self, vi_error *err)
{
    gmm_target *t = (gmm_target *)self;
    int status = read_weights(host, config, t, err);
    if (status == VI_OK)
        status = read_means(host, config, t, err);
    if (status == VI_OK)
        status = read_sds(host, config, t, err);
    if (status == VI_OK)
        status = finish(t, err);
    return status;
}

static int gmm_create(const vi_host *host, const vi_config *config, void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(gmm_target), gmm_setup, gmm_destroy, self, err);
}

static size_t gmm_dim(const void *self)
{
    return ((const gmm_target *)self)->dim;
}

static const char *gmm_param_name(const void *self, size_t i)
{
    return tu_name(&((const gmm_target *)self)->names, i);
}

/* Scratch: the K component log terms. */
static size_t gmm_workspace_size(const void *self)
{
    return ((const gmm_target *)self)->n_comp;
}

static int gmm_log_density(const void *self, const double *theta, double *lp, double *grad,
                           double *work, vi_error *err)
{
    const gmm_target *t = (const gmm_target *)self;
    size_t k, d, dim = t->dim;
    for (k = 0; k < t->n_comp; ++k) {
        double sum = t->log_norm[k];
        for (d = 0; d < dim; ++d) {
            double u = (theta[d] - t->means[k * dim + d]) / t->sds[k * dim + d];
            sum -= 0.5 * u * u;
        }
        work[k] = sum;
    }
    *lp = vi_log_sum_exp(work, t->n_comp);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC, "log density is NaN (is theta finite?)");
    if (grad == NULL)
        return VI_OK;
    for (d = 0; d < dim; ++d)
        grad[d] = 0.0;
    for (k = 0; k < t->n_comp; ++k) {
        double r = exp(work[k] - *lp);
        for (d = 0; d < dim; ++d) {
            double s = t->sds[k * dim + d];
            grad[d] -= r * (theta[d] - t->means[k * dim + d]) / (s * s);
        }
    }
    return VI_OK;
}

static int gmm_log_evidence(const void *self, double *log_z, vi_error *err)
{
    const gmm_target *t = (const gmm_target *)self;
    (void)err;
    *log_z = t->log_z;
    return VI_OK;
}

static int gmm_moments(const void *self, double *mean, double *cov, vi_error *err)
{
    const gmm_target *t = (const gmm_target *)self;
    size_t dim = t->dim, k, i, j;
    (void)err;
    for (i = 0; i < dim; ++i) {
        double m = 0.0;
        for (k = 0; k < t->n_comp; ++k)
            m += exp(t->log_w[k] - t->log_z) * t->means[k * dim + i];
        if (mean != NULL)
            mean[i] = m;
    }
    for (i = 0; cov != NULL && i < dim; ++i)
        for (j = 0; j <= i; ++j) {
            double c = 0.0, mi = 0.0, mj = 0.0;
            for (k = 0; k < t->n_comp; ++k) {
                double w = exp(t->log_w[k] - t->log_z), s = t->sds[k * dim + i];
                c += w * (t->means[k * dim + i] * t->means[k * dim + j] + (i == j ? s * s : 0.0));
                mi += w * t->means[k * dim + i];
                mj += w * t->means[k * dim + j];
            }
            cov[i * dim + j] = cov[j * dim + i] = c - mi * mj;
        }
    return VI_OK;
}

static const vi_target_moments gmm_moments_ext = {sizeof(vi_target_moments), gmm_moments};

static const void *gmm_get_extension(const void *self, const char *id)
{
    (void)self;
    return strcmp(id, VI_TARGET_MOMENTS_ID) == 0 ? &gmm_moments_ext : NULL;
}

static const vi_target_desc gmm_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "gmm",
    .summary = "Gaussian mixture sum_k w_k N(means_k, diag(sds_k^2)), log Z = log sum w "
               "(multimodal test target)",
    .flags = 0,
    .options = gmm_options,
    .create = gmm_create,
    .destroy = gmm_destroy,
    .dim = gmm_dim,
    .param_name = gmm_param_name,
    .workspace_size = gmm_workspace_size,
    .log_density = gmm_log_density,
    .get_extension = gmm_get_extension,
    .log_evidence = gmm_log_evidence};

static const vi_component_head *const gmm_components[] = {VI_COMPONENT(gmm_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "gmm",
    .version = "0.1.0",
    .description = "a Gaussian-mixture target (exact log evidence known)",
    .init = NULL,
    .deinit = NULL,
    .components = gmm_components};
