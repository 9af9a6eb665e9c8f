/*
 * fullrank.c — the full-rank Gaussian family:
 *     z = mu + L eps,   eps ~ N(0, I),   cov = L L^T,
 * with L lower triangular.  lambda = (mu[1..D], then L's lower triangle
 * row by row: L[1,1], L[2,1], L[2,2], L[3,1], ...), D + D(D+1)/2 values,
 * where each diagonal entry is stored as log L_ii so the factor stays
 * nonsingular with no constraint.
 *     H[q] = sum log L_ii + D/2 (1 + log 2 pi),
 *     log q(z) = -0.5 |L^-1 (z - mu)|^2 - sum log L_ii - D/2 log 2 pi.
 * L's packed lower triangle is exactly CBLAS's packed row-major lower
 * layout: a draw copies it into the workspace with the diagonal
 * exponentiated and multiplies (dtpmv) or solves (dtpsv) with it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

/* Far beyond any practical size (lambda would hold ~1.4e14 values); the
 * bound keeps the size arithmetic below from overflowing. */
#define FULLRANK_MAX_DIM ((size_t)1 << 24)

typedef struct fullrank_family {
    size_t dim;
    size_t n_params;    /* dim + dim (dim + 1) / 2 */
    double init_mu;
    double init_log_sd;
    fu_names names;     /* n_params names */
} fullrank_family;

static const vi_option fullrank_options[] = {
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL,
     HUGE_VAL, "starting value of every mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0",
     -FU_LOG_SD_LIMIT, FU_LOG_SD_LIMIT,
     "starting value of every log L[i,i] (L starts diagonal)"},
    VI_OPTION_END};

/* Offset in lambda of L[i][j], j <= i (0-based). */
static size_t factor_index(size_t dim, size_t i, size_t j)
{
    return dim + i * (i + 1) / 2 + j;
}

static void fullrank_destroy(void *self)
{
    fullrank_family *f = (fullrank_family *)self;
    if (f == NULL)
        return;
    fu_names_free(&f->names);
    free(f);
}

/* Names: "mu[i]", then L's ("L[i,j]", "log_L[i,i]"). */
static int make_names(fullrank_family *f, vi_error *err)
{
    size_t p = 0;
    int status = fu_names_alloc(&f->names, f->n_params,
                                2 * fu_digits(f->dim) + 10, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "mu", f->dim);
    fu_name_factor(&f->names, &p, f->dim, f->dim);
    return VI_OK;
}

static int fullrank_setup(const vi_host *host, const vi_config *config,
                          size_t dim, void *self, vi_error *err)
{
    fullrank_family *f = (fullrank_family *)self;
    int status = fu_read_init(host, config, &f->init_mu, &f->init_log_sd, err);
    f->dim = dim;
    f->n_params = dim + dim * (dim + 1) / 2;
    return status == VI_OK ? make_names(f, err) : status;
}

static int fullrank_create(const vi_host *host, const vi_config *config,
                           size_t dim, void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0 || dim > FULLRANK_MAX_DIM)
        return fu_bad_dim("fullrank", FULLRANK_MAX_DIM, dim, err);
    return fu_create(host, config, dim, sizeof(fullrank_family),
                     fullrank_setup, fullrank_destroy, self, err);
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
    return fu_name(&((const fullrank_family *)self)->names, i);
}

/* Scratch: one vector, L^-1 (z - mu), then L with its diagonal
 * exponentiated, packed. */
static size_t fullrank_workspace_size(const void *self)
{
    size_t dim = ((const fullrank_family *)self)->dim;
    return dim + dim * (dim + 1) / 2;
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
    return fu_tri_log_det(1, lambda + dim, dim);
}

/* L into `packed` (dim (dim + 1) / 2 values, CBLAS's packed row-major
 * lower layout, which lambda already uses), the diagonal exponentiated. */
static const double *factor_packed(const double *lambda, size_t dim, double *packed)
{
    size_t i;
    memcpy(packed, lambda + dim, dim * (dim + 1) / 2 * sizeof *packed);
    for (i = 0; i < dim; ++i)
        packed[i * (i + 1) / 2 + i] = exp(packed[i * (i + 1) / 2 + i]);
    return packed;
}

static int fullrank_forward(const void *self, const double *lambda,
                            const double *eps, double *z, double *log_q,
                            double *work, vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    size_t dim = f->dim, i;
    double sq = 0.0;
    (void)err;
    memcpy(z, eps, dim * sizeof *z);
    cblas_dtpmv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)dim,
                factor_packed(lambda, dim, work + dim), z, 1);
    for (i = 0; i < dim; ++i) {
        z[i] += lambda[i];
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
    size_t dim = ((const fullrank_family *)self)->dim;
    (void)work;
    (void)err;
    fu_tri_backward(1, lambda + dim, dim, eps, dz, dlambda, dlambda + dim);
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

/* e = L^-1 (z - mu) by forward substitution (dtpsv), with L copied into
 * `packed`; returns log q(z). */
static double solve_residual(const fullrank_family *f, const double *lambda,
                             const double *z, double *e, double *packed)
{
    size_t dim = f->dim, i;
    double sq = 0.0;
    for (i = 0; i < dim; ++i)
        e[i] = z[i] - lambda[i];
    cblas_dtpsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)dim,
                factor_packed(lambda, dim, packed), e, 1);
    for (i = 0; i < dim; ++i)
        sq += e[i] * e[i];
    return -0.5 * sq - log_det_factor(lambda, dim) -
           0.5 * (double)dim * VI_LOG_2PI;
}

/* g = L^-T e by back substitution (dtpsv, transposed), with the factor
 * solve_residual left in `packed`. */
static void solve_transposed(const fullrank_family *f, const double *packed,
                             const double *e, double *g)
{
    memcpy(g, e, f->dim * sizeof *g);
    cblas_dtpsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)f->dim, packed, g,
                1);
}

static int fullrank_log_q(const void *self, const double *lambda,
                          const double *z, double *lq, double *work,
                          vi_error *err)
{
    const fullrank_family *f = (const fullrank_family *)self;
    (void)err;
    *lq = solve_residual(f, lambda, z, work, work + f->dim);
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
    *lq = solve_residual(f, lambda, z, work, work + f->dim);
    solve_transposed(f, work + f->dim, work, dz);
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
    *lq = solve_residual(f, lambda, z, e, work + dim);
    solve_transposed(f, work + dim, e, g);
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
    size_t dim = f->dim, i, j;
    (void)work;
    (void)err;
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov != NULL)
        for (i = 0; i < dim; ++i)
            for (j = 0; j <= i; ++j)
                cov[i * dim + j] = cov[j * dim + i] =
                    fu_tri_cov(1, lambda + dim, i, j, 0.0);
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
