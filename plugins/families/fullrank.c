/*
 * fullrank.c — the full-rank Gaussian family:
 *     z = mu + L eps,   eps ~ N(0, I),   cov = L L^T,
 * with L lower triangular.  lambda = (mu[1..D], then L's lower triangle
 * row by row: L[1,1], L[2,1], L[2,2], L[3,1], ...), D + D(D+1)/2 values,
 * where each diagonal entry is stored as log L_ii so the factor stays
 * nonsingular with no constraint.
 *     H[q] = sum log L_ii + D/2 (1 + log 2 pi),
 *     log q(z) = -0.5 |L^-1 (z - mu)|^2 - sum log L_ii - D/2 log 2 pi.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define FULLRANK_INIT_MU_DEFAULT 0.0
#define FULLRANK_INIT_LOG_SD_DEFAULT 0.0
#define FULLRANK_LOG_SD_LIMIT 50.0
/* Far beyond any practical size (lambda would hold ~1.4e14 values); the
 * bound keeps the size arithmetic below from overflowing. */
#define FULLRANK_MAX_DIM ((size_t)1 << 24)

typedef struct fullrank_family {
    size_t dim;
    size_t n_params;    /* dim + dim (dim + 1) / 2 */
    double init_mu;
    double init_log_sd;
    size_t name_stride; /* bytes between consecutive names */
    char *names;        /* n_params names, name_stride apart */
} fullrank_family;

static const vi_option fullrank_options[] = {
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL,
     HUGE_VAL, "starting value of every mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0",
     -FULLRANK_LOG_SD_LIMIT, FULLRANK_LOG_SD_LIMIT,
     "starting value of every log L[i,i] (L starts diagonal)"},
    VI_OPTION_END};

/* Offset in lambda of L[i][j], j <= i (0-based). */
static size_t factor_index(size_t dim, size_t i, size_t j)
{
    return dim + i * (i + 1) / 2 + j;
}

/* L[i][j] with the diagonal exponentiated; j <= i. */
static double factor_entry(const double *lambda, size_t dim, size_t i,
                           size_t j)
{
    double v = lambda[factor_index(dim, i, j)];
    return i == j ? exp(v) : v;
}

static void fullrank_destroy(void *self)
{
    fullrank_family *f = (fullrank_family *)self;
    if (f == NULL)
        return;
    free(f->names);
    free(f);
}

/* Names: "mu[i]", "L[i,j]" below the diagonal and "log_L[i,i]" on it,
 * since the diagonal is stored as a log.  The stride fits the longest,
 * "log_L[D,D]", so names need no offset table. */
static int make_names(fullrank_family *f, vi_error *err)
{
    size_t digits = 1, rest, i, j, p = 0;
    for (rest = f->dim; rest >= 10; rest /= 10)
        ++digits;
    f->name_stride = 2 * digits + 10; /* "log_L[" "," "]" NUL */
    f->names = (char *)malloc(f->n_params * f->name_stride);
    if (f->names == NULL)
        return vi_error_set(err, VI_ENOMEM,
                            "out of memory for %lu parameter names",
                            (unsigned long)f->n_params);
    for (i = 0; i < f->dim; ++i)
        vi_index_name(f->names + (p++) * f->name_stride, f->name_stride, "mu",
                      i);
    for (i = 0; i < f->dim; ++i)
        for (j = 0; j <= i; ++j)
            vi_index2_name(f->names + (p++) * f->name_stride, f->name_stride,
                           i == j ? "log_L" : "L", i, j);
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config,
                        fullrank_family *f, vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "init_mu",
                                         FULLRANK_INIT_MU_DEFAULT,
                                         &f->init_mu, err);
    if (status == VI_OK && !isfinite(f->init_mu))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'init_mu' must be finite, got %g",
                              f->init_mu);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "init_log_sd",
                                         FULLRANK_INIT_LOG_SD_DEFAULT,
                                         &f->init_log_sd, err);
    if (status == VI_OK && !(fabs(f->init_log_sd) <= FULLRANK_LOG_SD_LIMIT))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'init_log_sd' must be in [%g, %g], "
                              "got %g",
                              -FULLRANK_LOG_SD_LIMIT, FULLRANK_LOG_SD_LIMIT,
                              f->init_log_sd);
    return status;
}

static int fullrank_create(const vi_host *host, const vi_config *config,
                           size_t dim, void **self, vi_error *err)
{
    fullrank_family *f;
    int status;
    *self = NULL;
    if (dim == 0 || dim > FULLRANK_MAX_DIM)
        return vi_error_set(err, VI_EINVAL,
                            "the fullrank family needs a target of dimension "
                            "1..%lu, got %lu",
                            (unsigned long)FULLRANK_MAX_DIM,
                            (unsigned long)dim);
    f = (fullrank_family *)calloc(1, sizeof *f);
    if (f == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    f->dim = dim;
    f->n_params = dim + dim * (dim + 1) / 2;
    status = read_options(host, config, f, err);
    if (status == VI_OK)
        status = make_names(f, err);
    if (status != VI_OK) {
        fullrank_destroy(f);
        return status;
    }
    *self = f;
    return VI_OK;
}

static size_t fullrank_n_params(const void *self)
{
    return ((const fullrank_family *)self)->n_params;
}

static size_t fullrank_base_dim(const void *self)
{
    return ((const fullrank_family *)self)->dim;
}

static const char *fullrank_param_name(const void *self, size_t i)
{
    const fullrank_family *f = (const fullrank_family *)self;
    return i < f->n_params ? f->names + i * f->name_stride : NULL;
}

/* Scratch: one vector, L^-1 (z - mu). */
static size_t fullrank_workspace_size(const void *self)
{
    return ((const fullrank_family *)self)->dim;
}

static int fullrank_init(const void *self, double *lambda, vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t i, j;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = f->init_mu;
        for (j = 0; j <= i; ++j)
            lambda[factor_index(f->dim, i, j)] = i == j ? f->init_log_sd : 0.0;
    }
    return VI_OK;
}

/* sum log L_ii. */
static double log_det_factor(const double *lambda, size_t dim)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < dim; ++i)
        sum += lambda[factor_index(dim, i, i)];
    return sum;
}

static int fullrank_forward(const void *self, const double *lambda,
                            const double *eps, double *z, double *log_q,
                            double *work, vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t dim = f->dim, i, j;
    double sq = 0.0;
    (void)work;
    (void)err;
    for (i = 0; i < dim; ++i) {
        const double *row = lambda + factor_index(dim, i, 0);
        double sum = lambda[i] + exp(row[i]) * eps[i];
        for (j = 0; j < i; ++j)
            sum += row[j] * eps[j];
        z[i] = sum;
        sq += eps[i] * eps[i];
    }
    /* L^-1 (z - mu) is eps exactly, so no solve is needed. */
    if (log_q != NULL)
        *log_q = -0.5 * sq - log_det_factor(lambda, dim) -
                 0.5 * (double)dim * VI_LOG_2PI;
    return VI_OK;
}

/* dmu += dz;  dL_ij += dz_i eps_j (j < i);  dlogL_ii += dz_i eps_i L_ii. */
static int fullrank_backward(const void *self, const double *lambda,
                             const double *eps, const double *dz,
                             double *dlambda, double *work, vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t dim = f->dim, i, j;
    (void)work;
    (void)err;
    for (i = 0; i < dim; ++i) {
        size_t row = factor_index(dim, i, 0);
        dlambda[i] += dz[i];
        for (j = 0; j < i; ++j)
            dlambda[row + j] += dz[i] * eps[j];
        dlambda[row + i] += dz[i] * eps[i] * exp(lambda[row + i]);
    }
    return VI_OK;
}

static int fullrank_entropy(const void *self, const double *lambda,
                            double *h, double *dlambda, double *work,
                            vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *h = log_det_factor(lambda, f->dim) +
         0.5 * (double)f->dim * (1.0 + VI_LOG_2PI);
    if (dlambda != NULL)
        for (i = 0; i < f->dim; ++i)
            dlambda[factor_index(f->dim, i, i)] += 1.0; /* dH/dlogL_ii */
    return VI_OK;
}

/* e = L^-1 (z - mu) by forward substitution; returns log q(z). */
static double solve_residual(const fullrank_family *f, const double *lambda,
                             const double *z, double *e)
{
    size_t dim = f->dim, i, j;
    double sq = 0.0;
    for (i = 0; i < dim; ++i) {
        const double *row = lambda + factor_index(dim, i, 0);
        double sum = z[i] - lambda[i];
        for (j = 0; j < i; ++j)
            sum -= row[j] * e[j];
        e[i] = sum * exp(-row[i]);
        sq += e[i] * e[i];
    }
    return -0.5 * sq - log_det_factor(lambda, dim) -
           0.5 * (double)dim * VI_LOG_2PI;
}

/* g = L^-T e by back substitution. */
static void solve_transposed(const fullrank_family *f, const double *lambda,
                             const double *e, double *g)
{
    size_t dim = f->dim, i, k;
    for (i = dim; i-- > 0;) {
        double sum = e[i];
        for (k = i + 1; k < dim; ++k)
            sum -= lambda[factor_index(dim, k, i)] * g[k];
        g[i] = sum * exp(-lambda[factor_index(dim, i, i)]);
    }
}

static int fullrank_log_q(const void *self, const double *lambda,
                          const double *z, double *lq, double *work,
                          vi_error *err)
{
    (void)err;
    *lq = solve_residual((const fullrank_family *)self, lambda, z, work);
    return VI_OK;
}

/* d log q / dz = -L^-T L^-1 (z - mu). */
static int fullrank_log_q_grad_z(const void *self, const double *lambda,
                                 const double *z, double *lq, double *dz,
                                 double *work, vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t i;
    (void)err;
    *lq = solve_residual(f, lambda, z, work);
    solve_transposed(f, lambda, work, dz);
    for (i = 0; i < f->dim; ++i)
        dz[i] = -dz[i];
    return VI_OK;
}

/* At fixed z, with e = L^-1 (z - mu) and g = L^-T e:
 *     d log q / dmu = g,   d log q / dL_ij = g_i e_j (j < i),
 *     d log q / dlogL_ii = g_i e_i L_ii - 1.
 * (From d(-0.5 e^T e) = g^T dL e and d(-log L_ii) = -dL_ii / L_ii.) */
static int fullrank_log_q_grad_lambda(const void *self, const double *lambda,
                                      const double *z, double *lq,
                                      double *dlambda, double *work,
                                      vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t dim = f->dim, i, j;
    double *e = work, *g = dlambda; /* g is d log q / dmu itself */
    (void)err;
    *lq = solve_residual(f, lambda, z, e);
    solve_transposed(f, lambda, e, g);
    for (i = 0; i < dim; ++i) {
        size_t row = factor_index(dim, i, 0);
        for (j = 0; j < i; ++j)
            dlambda[row + j] = g[i] * e[j];
        dlambda[row + i] = g[i] * e[i] * exp(lambda[row + i]) - 1.0;
    }
    return VI_OK;
}

/* mean = mu, cov = L L^T. */
static int fullrank_moments(const void *self, const double *lambda,
                            double *mean, double *cov, double *work,
                            vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t dim = f->dim, i, j, k;
    (void)work;
    (void)err;
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov != NULL)
        for (i = 0; i < dim; ++i)
            for (j = 0; j <= i; ++j) {
                double sum = 0.0;
                for (k = 0; k <= j; ++k)
                    sum += factor_entry(lambda, dim, i, k) *
                           factor_entry(lambda, dim, j, k);
                cov[i * dim + j] = sum;
                cov[j * dim + i] = sum;
            }
    return VI_OK;
}

static const vi_family_desc fullrank_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "fullrank",
    .summary = "full-rank Gaussian z = mu + L eps, L lower triangular with "
               "log-diagonal",
    .flags = 0,
    .options = fullrank_options,
    .create = fullrank_create,
    .destroy = fullrank_destroy,
    .n_params = fullrank_n_params,
    .base_dim = fullrank_base_dim,
    .param_name = fullrank_param_name,
    .workspace_size = fullrank_workspace_size,
    .init = fullrank_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = fullrank_forward,
    .backward = fullrank_backward,
    .entropy = fullrank_entropy,
    .log_q = fullrank_log_q,
    .log_q_grad_z = fullrank_log_q_grad_z,
    .log_q_grad_lambda = fullrank_log_q_grad_lambda,
    .moments = fullrank_moments};

static const vi_component_head *const fullrank_components[] = {
    VI_COMPONENT(fullrank_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "fullrank",
    .version = "0.1.0",
    .description = "the full-rank Gaussian variational family",
    .init = NULL,
    .deinit = NULL,
    .components = fullrank_components};
