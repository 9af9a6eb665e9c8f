/*
 * lowrank.c — the low-rank-plus-diagonal Gaussian family:
 *     z = mu + d .* eps1 + B eps2,   eps1 ~ N(0, I_D), eps2 ~ N(0, I_r),
 *     cov = Sigma = diag(d)^2 + B B^T,   d = exp(omega),  B is D x r.
 * lambda = (mu[1..D], omega[1..D], B row by row), 2D + D r values.
 * No D x D matrix is ever formed: with M = I_r + B^T diag(d)^-2 B (r x r),
 *     log det Sigma = 2 sum omega + log det M          (determinant lemma),
 *     Sigma^-1 = D^-2 - D^-2 B M^-1 B^T D^-2           (Woodbury),
 *     Sigma^-1 B = D^-2 B M^-1,
 * so a draw costs O(D r), and the entropy, its gradient and log q cost
 * O(D r^2 + r^3).
 *     H[q] = D/2 (1 + log 2 pi) + sum omega + 0.5 log det M.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

/* Bounds that keep the size arithmetic below from overflowing. */
#define LOWRANK_MAX_DIM ((size_t)1 << 24)
#define LOWRANK_MAX_RANK ((size_t)1 << 12)

typedef struct lowrank_family {
    size_t dim;
    size_t rank;
    size_t n_params;       /* 2 dim + dim rank */
    double init_mu;
    double init_log_sd;
    double init_factor;    /* scale of B's starting values */
    fu_names names;
} lowrank_family;

static const vi_option lowrank_options[] = {
    {sizeof(vi_option), "rank", VI_OPTION_INT, 0, "1", 1.0, (double)LOWRANK_MAX_RANK,
     "columns r of the factor B (1 <= r <= dimension)"},
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "starting value of every mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -FU_LOG_SD_LIMIT,
     FU_LOG_SD_LIMIT, "starting value of every omega[i] = log d[i]"},
    {sizeof(vi_option), "init_factor", VI_OPTION_DOUBLE, 0, "0.1", 0.0, HUGE_VAL,
     "B starts as this times a fixed pseudo-random pattern (B = 0 would be a "
     "saddle point)"},
    VI_OPTION_END};

/* Offsets in lambda. */
static size_t omega_at(const lowrank_family *f) { return f->dim; }
static size_t factor_at(const lowrank_family *f) { return 2 * f->dim; }

static void lowrank_destroy(void *self)
{
    lowrank_family *f = (lowrank_family *)self;
    if (f == NULL)
        return;
    fu_names_free(&f->names);
    free(f);
}

static int make_names(lowrank_family *f, vi_error *err)
{
    /* "omega[" "," "]" NUL around the two indices */
    size_t i, j, p = 0, stride = 2 * fu_digits(f->dim > f->rank ? f->dim : f->rank) + 10;
    int status = fu_names_alloc(&f->names, f->n_params, stride, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "mu", f->dim);
    fu_name_vector(&f->names, &p, "omega", f->dim);
    for (i = 0; i < f->dim; ++i)
        for (j = 0; j < f->rank; ++j)
            vi_index2_name(fu_name_slot(&f->names, p++), stride, "B", i, j);
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, lowrank_family *f,
                        vi_error *err)
{
    int64_t rank;
    int status = vi_config_get_int_or(host, config, "rank", 1, &rank, err);
    if (status == VI_OK && (rank < 1 || (uint64_t)rank > f->dim))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'rank' must be in [1, %lu] (the target's dimension), "
                              "got %lld", (unsigned long)f->dim, (long long)rank);
    if (status == VI_OK && (uint64_t)rank > LOWRANK_MAX_RANK)
        status = vi_error_set(err, VI_EINVAL, "option 'rank' must be <= %lu, got %lld",
                              (unsigned long)LOWRANK_MAX_RANK, (long long)rank);
    if (status == VI_OK)
        f->rank = (size_t)rank;
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "init_mu", 0.0, &f->init_mu, err);
    if (status == VI_OK)
        status = fu_read_init_log_sd(host, config, &f->init_log_sd, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "init_factor", 0.1, &f->init_factor,
                                         err);
    if (status == VI_OK && !(f->init_factor >= 0.0 && isfinite(f->init_factor)))
        status = vi_error_set(err, VI_EINVAL, "option 'init_factor' must be finite and >= 0, "
                              "got %g", f->init_factor);
    if (status == VI_OK) /* init_mu is checked last */
        status = fu_check_finite("init_mu", f->init_mu, err);
    return status;
}

static int lowrank_setup(const vi_host *host, const vi_config *config, size_t dim, void *self,
                         vi_error *err)
{
    lowrank_family *f = (lowrank_family *)self;
    int status;
    f->dim = dim;
    status = read_options(host, config, f, err);
    if (status != VI_OK)
        return status;
    f->n_params = 2 * dim + dim * f->rank;
    return make_names(f, err);
}

static int lowrank_create(const vi_host *host, const vi_config *config, size_t dim,
                          void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0 || dim > LOWRANK_MAX_DIM)
        return fu_bad_dim("lowrank", LOWRANK_MAX_DIM, dim, err);
    return fu_create(host, config, dim, sizeof(lowrank_family), lowrank_setup,
                     lowrank_destroy, self, err);
}

static size_t lowrank_n_params(const void *self)
{
    return ((const lowrank_family *)self)->n_params;
}

static size_t lowrank_base_dim(const void *self)
{
    const lowrank_family *f = (const lowrank_family *)self;
    return f->dim + f->rank;
}

static const char *lowrank_param_name(const void *self, size_t i)
{
    return fu_name(&((const lowrank_family *)self)->names, i);
}

/* Scratch: M (r x r, then its Cholesky factor), two D-vectors, three
 * r-vectors and a D x r matrix. */
static size_t lowrank_workspace_size(const void *self)
{
    const lowrank_family *f = (const lowrank_family *)self;
    return f->rank * f->rank + 2 * f->dim + 3 * f->rank + f->dim * f->rank;
}

/* The D x r scratch matrix after M, a, v, t, y, x. */
static double *scratch_matrix(const lowrank_family *f, double *work)
{
    return work + f->rank * f->rank + 2 * f->dim + 3 * f->rank;
}

static int lowrank_init(const void *self, double *lambda, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t i;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = f->init_mu;
        lambda[omega_at(f) + i] = f->init_log_sd;
    }
    for (i = 0; i < f->dim * f->rank; ++i)
        lambda[factor_at(f) + i] = f->init_factor * exp(f->init_log_sd) * fu_start_pattern(i);
    return VI_OK;
}

/* M = I + C^T C with C = D^-1 B (dsyrk, C in `c`, D x r), factored in
 * place: M's lower triangle, row-major, is the upper one of the same
 * matrix read column-major, which LAPACK's dpotrf factors as U^T U with
 * no transposed copy (LAPACKE's row-major path allocates one).  Returns
 * log det M, or NaN when M is not positive definite (only by rounding,
 * since M >= I in exact arithmetic). */
static double factor_m(const lowrank_family *f, const double *lambda, double *m, double *c)
{
    size_t r = f->rank, i, j;
    const double *b = lambda + factor_at(f), *omega = lambda + omega_at(f);
    double log_det = 0.0;
    for (i = 0; i < f->dim; ++i) {
        double w = exp(-omega[i]);
        for (j = 0; j < r; ++j)
            c[i * r + j] = w * b[i * r + j];
    }
    for (j = 0; j < r * r; ++j)
        m[j] = j % (r + 1) == 0 ? 1.0 : 0.0;
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)r, (int)f->dim, 1.0, c, (int)r,
                1.0, m, (int)r);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)r, m, (lapack_int)r) != 0)
        return NAN;
    for (j = 0; j < r; ++j)
        log_det += 2.0 * log(m[j * r + j]);
    return log_det;
}

/* x = M^-1 x in place, with M = L L^T from factor_m: two triangular
 * solves. */
static void solve_m(const double *lm, size_t r, double *x)
{
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)r, lm, (int)r, x,
                1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)r, lm, (int)r, x, 1);
}

static int not_positive(vi_error *err)
{
    return vi_error_set(err, VI_ENUMERIC, "I + B^T diag(d)^-2 B is not positive definite "
                        "(B or omega overflowed)");
}

/* With M factored: a = Sigma^-1 (z - mu) into a (D); returns log q(z).
 * Scratch: v (D), t and y (r each). */
static double residual(const lowrank_family *f, const double *lambda, const double *lm,
                       double log_det_m, const double *z, double *a, double *v, double *t)
{
    size_t dim = f->dim, r = f->rank, i, j;
    const double *b = lambda + factor_at(f), *omega = lambda + omega_at(f);
    double quad = 0.0, sum_omega = 0.0, *y = t + r;
    /* a = D^-2 v and t = B^T D^-2 v first ... */
    for (i = 0; i < dim; ++i) {
        v[i] = z[i] - lambda[i];
        a[i] = v[i] * exp(-2.0 * omega[i]);
        quad += v[i] * a[i];
        sum_omega += omega[i];
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)dim, (int)r, 1.0, b, (int)r, a, 1, 0.0, t, 1);
    /* ... then Woodbury: quad -= t^T M^-1 t and a -= D^-2 B M^-1 t. */
    memcpy(y, t, r * sizeof *y);
    solve_m(lm, r, y);
    for (j = 0; j < r; ++j)
        quad -= t[j] * y[j];
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)dim, (int)r, 1.0, b, (int)r, y, 1, 0.0, v,
                1);
    for (i = 0; i < dim; ++i)
        a[i] -= v[i] * exp(-2.0 * omega[i]);
    return -0.5 * quad - sum_omega - 0.5 * log_det_m - 0.5 * (double)dim * VI_LOG_2PI;
}

/* log q(z) and a = Sigma^-1 (z - mu), with the workspace laid out as
 * [M (r^2) | a (D) | v (D) | t, y, x (3r)]. */
static int log_q_and_residual(const lowrank_family *f, const double *lambda, const double *z,
                              double *lq, double *work, vi_error *err)
{
    size_t r = f->rank, dim = f->dim;
    double *m = work, *a = work + r * r, *v = a + dim, *t = v + dim;
    double log_det_m = factor_m(f, lambda, m, scratch_matrix(f, work));
    if (isnan(log_det_m))
        return not_positive(err);
    *lq = residual(f, lambda, m, log_det_m, z, a, v, t);
    return VI_OK;
}

static int lowrank_forward(const void *self, const double *lambda, const double *eps,
                           double *z, double *log_q, double *work, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t dim = f->dim, r = f->rank, i;
    const double *b = lambda + factor_at(f), *omega = lambda + omega_at(f);
    for (i = 0; i < dim; ++i)
        z[i] = lambda[i] + exp(omega[i]) * eps[i];
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)dim, (int)r, 1.0, b, (int)r, eps + dim, 1,
                1.0, z, 1);
    if (log_q == NULL)
        return VI_OK;
    return log_q_and_residual(f, lambda, z, log_q, work, err);
}

/* dmu += dz;  domega_i += dz_i d_i eps1_i;  dB_ij += dz_i eps2_j. */
static int lowrank_backward(const void *self, const double *lambda, const double *eps,
                            const double *dz, double *dlambda, double *work, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t dim = f->dim, r = f->rank, i;
    const double *omega = lambda + omega_at(f);
    (void)work;
    (void)err;
    for (i = 0; i < dim; ++i) {
        dlambda[i] += dz[i];
        dlambda[omega_at(f) + i] += dz[i] * exp(omega[i]) * eps[i];
    }
    cblas_dger(CblasRowMajor, (int)dim, (int)r, 1.0, dz, 1, eps + dim, 1,
               dlambda + factor_at(f), (int)r);
    return VI_OK;
}

/* Adds scale times the gradient of 0.5 log det Sigma into dlambda:
 *   d/domega_i = 1 - d_i^-2 b_i^T M^-1 b_i,   d/dB = D^-2 B M^-1,
 * with X = B M^-1 = B L^-T L^-1 by two triangular solves (dtrsm) in `x`
 * (D x r scratch). */
static void add_log_det_gradient(const lowrank_family *f, const double *lambda,
                                 const double *lm, double scale, double *dlambda, double *x)
{
    size_t dim = f->dim, r = f->rank, i, j;
    const double *b = lambda + factor_at(f), *omega = lambda + omega_at(f);
    memcpy(x, b, dim * r * sizeof *x);
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)dim,
                (int)r, 1.0, lm, (int)r, x, (int)r);
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)dim,
                (int)r, 1.0, lm, (int)r, x, (int)r);
    for (i = 0; i < dim; ++i) {
        const double *row = b + i * r, *xi = x + i * r;
        double w = exp(-2.0 * omega[i]), quad = 0.0;
        for (j = 0; j < r; ++j) {
            quad += row[j] * xi[j];
            dlambda[factor_at(f) + i * r + j] += scale * w * xi[j];
        }
        dlambda[omega_at(f) + i] += scale * (1.0 - w * quad);
    }
}

static int lowrank_entropy(const void *self, const double *lambda, double *h, double *dlambda,
                           double *work, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t i;
    double sum_omega = 0.0, log_det_m = factor_m(f, lambda, work, scratch_matrix(f, work));
    if (isnan(log_det_m))
        return not_positive(err);
    for (i = 0; i < f->dim; ++i)
        sum_omega += lambda[omega_at(f) + i];
    *h = 0.5 * (double)f->dim * (1.0 + VI_LOG_2PI) + sum_omega + 0.5 * log_det_m;
    if (dlambda != NULL)
        add_log_det_gradient(f, lambda, work, 1.0, dlambda, scratch_matrix(f, work));
    return VI_OK;
}

static int lowrank_log_q(const void *self, const double *lambda, const double *z, double *lq,
                         double *work, vi_error *err)
{
    return log_q_and_residual((const lowrank_family *)self, lambda, z, lq, work, err);
}

/* d log q / dz = -Sigma^-1 (z - mu). */
static int lowrank_log_q_grad_z(const void *self, const double *lambda, const double *z,
                                double *lq, double *dz, double *work, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t i;
    int status = log_q_and_residual(f, lambda, z, lq, work, err);
    const double *a = work + f->rank * f->rank;
    if (status != VI_OK)
        return status;
    for (i = 0; i < f->dim; ++i)
        dz[i] = -a[i];
    return VI_OK;
}

/* At fixed z, with a = Sigma^-1 (z - mu):
 *   d/dmu = a,
 *   d/domega_i = d_i^2 a_i^2 - (1 - d_i^-2 b_i^T M^-1 b_i),
 *   d/dB = a (B^T a)^T - D^-2 B M^-1
 * (from d log q = 0.5 tr((a a^T - Sigma^-1) dSigma)). */
static int lowrank_log_q_grad_lambda(const void *self, const double *lambda, const double *z,
                                     double *lq, double *dlambda, double *work,
                                     vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t dim = f->dim, r = f->rank, i;
    const double *b = lambda + factor_at(f), *omega = lambda + omega_at(f);
    int status = log_q_and_residual(f, lambda, z, lq, work, err);
    const double *a = work + r * r;
    double *bta = work + r * r + 2 * dim; /* t is free now */
    if (status != VI_OK)
        return status;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)dim, (int)r, 1.0, b, (int)r, a, 1, 0.0, bta, 1);
    for (i = 0; i < dim; ++i) {
        dlambda[i] = a[i];
        dlambda[omega_at(f) + i] = exp(2.0 * omega[i]) * a[i] * a[i];
    }
    memset(dlambda + factor_at(f), 0, dim * r * sizeof *dlambda);
    cblas_dger(CblasRowMajor, (int)dim, (int)r, 1.0, a, 1, bta, 1, dlambda + factor_at(f),
               (int)r);
    add_log_det_gradient(f, lambda, work, -1.0, dlambda, scratch_matrix(f, work));
    return VI_OK;
}

/* mean = mu, cov = diag(d)^2 + B B^T (the caller's D x D output). */
static int lowrank_moments(const void *self, const double *lambda, double *mean, double *cov,
                           double *work, vi_error *err)
{
    const lowrank_family *f = (const lowrank_family *)self;
    size_t dim = f->dim, r = f->rank, i, j;
    const double *b = lambda + factor_at(f);
    (void)work;
    (void)err;
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov == NULL)
        return VI_OK;
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)dim, (int)r, 1.0, b, (int)r,
                0.0, cov, (int)dim);
    for (i = 0; i < dim; ++i) {
        cov[i * dim + i] += exp(2.0 * lambda[omega_at(f) + i]);
        for (j = 0; j < i; ++j)
            cov[j * dim + i] = cov[i * dim + j];
    }
    return VI_OK;
}

static const vi_family_desc lowrank_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "lowrank",
    .summary = "Gaussian with low-rank-plus-diagonal covariance diag(d)^2 + B B^T, "
               "O(D r) per draw",
    .flags = 0,
    .options = lowrank_options,
    .create = lowrank_create,
    .destroy = lowrank_destroy,
    .n_params = lowrank_n_params,
    .base_dim = lowrank_base_dim,
    .param_name = lowrank_param_name,
    .workspace_size = lowrank_workspace_size,
    .init = lowrank_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = lowrank_forward,
    .backward = lowrank_backward,
    .entropy = lowrank_entropy,
    .log_q = lowrank_log_q,
    .log_q_grad_z = lowrank_log_q_grad_z,
    .log_q_grad_lambda = lowrank_log_q_grad_lambda,
    .moments = lowrank_moments};

static const vi_component_head *const lowrank_components[] = {
    VI_COMPONENT(lowrank_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "lowrank",
    .version = "0.1.0",
    .description = "the low-rank-plus-diagonal Gaussian variational family",
    .init = NULL,
    .deinit = NULL,
    .components = lowrank_components};
