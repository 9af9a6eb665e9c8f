/*
 * chain.c — a Gaussian whose precision has a banded Cholesky factor:
 *     precision Lambda = L L^T,  L lower triangular with L[i][j] = 0 for
 *     i - j > b (the `bandwidth`),
 *     z = mu + L^-T eps,  eps ~ N(0, I),  so cov = Lambda^-1.
 * bandwidth 1 gives a tridiagonal precision: a Gaussian Markov chain, the
 * exact form of AR(1) and random-walk posteriors; bandwidth b a Markov
 * chain of order b.  Every operation is a banded triangular solve or
 * product, O(D b), and no D x D matrix is formed (except the caller's
 * covariance in `moments`).
 * lambda = (mu[1..D], then L's band row by row: L[i, max(1,i-b)..i]), the
 * diagonal stored as log L_ii.
 *     H[q] = D/2 (1 + log 2 pi) - sum log L_ii,
 *     log q(z) = sum log L_ii - 0.5 |L^T (z - mu)|^2 - D/2 log 2 pi.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

#define CHAIN_MAX_DIM ((size_t)1 << 24)

typedef struct chain_family {
    size_t dim;
    size_t band;        /* bandwidth b */
    size_t n_params;
    size_t *row_at;     /* dim + 1: offset in lambda of row i's first entry */
    double init_mu;
    double init_log_sd;
    fu_names names;
} chain_family;

static const vi_option chain_options[] = {
    {sizeof(vi_option), "bandwidth", VI_OPTION_INT, 0, "1", 0.0, HUGE_VAL,
     "nonzero subdiagonals of the precision's Cholesky factor (1: tridiagonal "
     "precision, a Markov chain; 0: mean-field; D - 1 or more: full)"},
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "starting value of every mean mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -FU_LOG_SD_LIMIT,
     FU_LOG_SD_LIMIT, "starting log standard deviation of every coordinate (L starts "
     "diagonal, log L_ii = -init_log_sd)"},
    VI_OPTION_END};

/* First column of row i's band. */
static size_t band_start(const chain_family *f, size_t i)
{
    return i > f->band ? i - f->band : 0;
}

/* L[i][j] for band_start(i) <= j <= i, the diagonal exponentiated. */
static double entry(const chain_family *f, const double *lambda, size_t i, size_t j)
{
    double v = lambda[f->row_at[i] + (j - band_start(f, i))];
    return i == j ? exp(v) : v;
}

static size_t diag_at(const chain_family *f, size_t i)
{
    return f->row_at[i + 1] - 1;
}

static void chain_destroy(void *self)
{
    chain_family *f = (chain_family *)self;
    if (f == NULL)
        return;
    free(f->row_at);
    fu_names_free(&f->names);
    free(f);
}

static int make_names(chain_family *f, vi_error *err)
{
    size_t p = 0;
    int status = fu_names_alloc(&f->names, f->n_params, 2 * fu_digits(f->dim) + 10, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "mu", f->dim);
    fu_name_factor(&f->names, &p, f->dim, f->band);
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, chain_family *f,
                        vi_error *err)
{
    int64_t band;
    int status = vi_config_get_int_or(host, config, "bandwidth", 1, &band, err);
    if (status == VI_OK && band < 0)
        status = vi_error_set(err, VI_EINVAL, "option 'bandwidth' must be >= 0, got %lld",
                              (long long)band);
    /* D - 1 subdiagonals already make the factor full. */
    if (status == VI_OK)
        f->band = (uint64_t)band < f->dim ? (size_t)band : f->dim - 1;
    if (status == VI_OK)
        status = fu_read_init(host, config, &f->init_mu, &f->init_log_sd, err);
    return status;
}

static int chain_setup(const vi_host *host, const vi_config *config, size_t dim, void *self,
                       vi_error *err)
{
    chain_family *f = (chain_family *)self;
    size_t i;
    int status;
    f->dim = dim;
    status = read_options(host, config, f, err);
    if (status == VI_OK && (f->row_at = (size_t *)malloc((dim + 1) * sizeof(size_t))) == NULL)
        status = vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status != VI_OK)
        return status;
    f->row_at[0] = dim;
    for (i = 0; i < dim; ++i)
        f->row_at[i + 1] = f->row_at[i] + (i - band_start(f, i) + 1);
    f->n_params = f->row_at[dim];
    return make_names(f, err);
}

static int chain_create(const vi_host *host, const vi_config *config, size_t dim,
                        void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0 || dim > CHAIN_MAX_DIM)
        return fu_bad_dim("chain", CHAIN_MAX_DIM, dim, err);
    return fu_create(host, config, dim, sizeof(chain_family), chain_setup, chain_destroy,
                     self, err);
}

static size_t chain_n_params(const void *self)
{
    return ((const chain_family *)self)->n_params;
}

static size_t chain_base_dim(const void *self)
{
    return ((const chain_family *)self)->dim;
}

static const char *chain_param_name(const void *self, size_t i)
{
    return fu_name(&((const chain_family *)self)->names, i);
}

/* Scratch: two D-vectors. */
static size_t chain_workspace_size(const void *self)
{
    return 2 * ((const chain_family *)self)->dim;
}

static int chain_init(const void *self, double *lambda, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t i, p;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = f->init_mu;
        for (p = f->row_at[i]; p < f->row_at[i + 1]; ++p)
            lambda[p] = 0.0;
        lambda[diag_at(f, i)] = -f->init_log_sd;
    }
    return VI_OK;
}

static double sum_log_diag(const chain_family *f, const double *lambda)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < f->dim; ++i)
        sum += lambda[diag_at(f, i)];
    return sum;
}

/* x = L^-T e (back substitution through L^T's band). */
static void solve_upper(const chain_family *f, const double *lambda, const double *e, double *x)
{
    size_t j, i;
    for (j = f->dim; j-- > 0;) {
        double sum = e[j];
        size_t last = j + f->band < f->dim ? j + f->band : f->dim - 1;
        for (i = j + 1; i <= last; ++i)
            sum -= entry(f, lambda, i, j) * x[i];
        x[j] = sum / entry(f, lambda, j, j);
    }
}

/* y = L^-1 e (forward substitution through L's band). */
static void solve_lower(const chain_family *f, const double *lambda, const double *e, double *y)
{
    size_t i, j;
    for (i = 0; i < f->dim; ++i) {
        double sum = e[i];
        for (j = band_start(f, i); j < i; ++j)
            sum -= entry(f, lambda, i, j) * y[j];
        y[i] = sum / entry(f, lambda, i, i);
    }
}

/* e = L^T v: e_j = sum_{i = j..j+b} L_ij v_i. */
static void times_upper(const chain_family *f, const double *lambda, const double *v, double *e)
{
    size_t i, j;
    for (j = 0; j < f->dim; ++j)
        e[j] = 0.0;
    for (i = 0; i < f->dim; ++i)
        for (j = band_start(f, i); j <= i; ++j)
            e[j] += entry(f, lambda, i, j) * v[i];
}

static int chain_forward(const void *self, const double *lambda, const double *eps, double *z,
                         double *log_q, double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t i;
    double sq = 0.0;
    (void)work;
    (void)err;
    solve_upper(f, lambda, eps, z);
    for (i = 0; i < f->dim; ++i) {
        z[i] += lambda[i];
        sq += eps[i] * eps[i];
    }
    /* L^T (z - mu) is eps itself. */
    if (log_q != NULL)
        *log_q = sum_log_diag(f, lambda) - 0.5 * sq - 0.5 * (double)f->dim * VI_LOG_2PI;
    return VI_OK;
}

/* With x = L^-T eps and y = L^-1 dz:  dz^T dz/dL_pq = -x_p y_q (p >= q),
 * from d(L^T) x + L^T dx = 0;  the log-diagonal takes a factor L_pp. */
static int chain_backward(const void *self, const double *lambda, const double *eps,
                          const double *dz, double *dlambda, double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t dim = f->dim, p, q;
    double *x = work, *y = work + dim;
    (void)err;
    solve_upper(f, lambda, eps, x);
    solve_lower(f, lambda, dz, y);
    for (p = 0; p < dim; ++p) {
        size_t row = f->row_at[p], start = band_start(f, p);
        dlambda[p] += dz[p];
        for (q = start; q < p; ++q)
            dlambda[row + q - start] -= x[p] * y[q];
        dlambda[row + p - start] -= x[p] * y[p] * entry(f, lambda, p, p);
    }
    return VI_OK;
}

static int chain_entropy(const void *self, const double *lambda, double *h, double *dlambda,
                         double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *h = 0.5 * (double)f->dim * (1.0 + VI_LOG_2PI) - sum_log_diag(f, lambda);
    if (dlambda != NULL)
        for (i = 0; i < f->dim; ++i)
            dlambda[diag_at(f, i)] -= 1.0;
    return VI_OK;
}

/* v = z - mu and e = L^T v into work; returns log q(z). */
static double residual(const chain_family *f, const double *lambda, const double *z,
                       double *v, double *e)
{
    size_t i;
    double sq = 0.0;
    for (i = 0; i < f->dim; ++i)
        v[i] = z[i] - lambda[i];
    times_upper(f, lambda, v, e);
    for (i = 0; i < f->dim; ++i)
        sq += e[i] * e[i];
    return sum_log_diag(f, lambda) - 0.5 * sq - 0.5 * (double)f->dim * VI_LOG_2PI;
}

static int chain_log_q(const void *self, const double *lambda, const double *z, double *lq,
                       double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    (void)err;
    *lq = residual(f, lambda, z, work, work + f->dim);
    return VI_OK;
}

/* d log q / dz = -L L^T (z - mu) = -L e. */
static int chain_log_q_grad_z(const void *self, const double *lambda, const double *z,
                              double *lq, double *dz, double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t i, j;
    const double *e = work + f->dim;
    (void)err;
    *lq = residual(f, lambda, z, work, work + f->dim);
    for (i = 0; i < f->dim; ++i) {
        double sum = 0.0;
        for (j = band_start(f, i); j <= i; ++j)
            sum += entry(f, lambda, i, j) * e[j];
        dz[i] = -sum;
    }
    return VI_OK;
}

/* At fixed z, with v = z - mu and e = L^T v:
 *   d/dmu = L e,   d/dL_pq = -v_p e_q (q < p),   d/dlog L_pp = 1 - v_p e_p L_pp. */
static int chain_log_q_grad_lambda(const void *self, const double *lambda, const double *z,
                                   double *lq, double *dlambda, double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t dim = f->dim, p, q;
    const double *v = work, *e = work + dim;
    int status = chain_log_q_grad_z(self, lambda, z, lq, dlambda, work, err);
    if (status != VI_OK)
        return status;
    for (p = 0; p < dim; ++p) {
        size_t row = f->row_at[p], start = band_start(f, p);
        dlambda[p] = -dlambda[p];
        for (q = start; q < p; ++q)
            dlambda[row + q - start] = -v[p] * e[q];
        dlambda[row + p - start] = 1.0 - v[p] * e[p] * entry(f, lambda, p, p);
    }
    return VI_OK;
}

/* mean = mu; cov = (L L^T)^-1 column by column, two banded solves each. */
static int chain_moments(const void *self, const double *lambda, double *mean, double *cov,
                         double *work, vi_error *err)
{
    const chain_family *f = (const chain_family *)self;
    size_t dim = f->dim, i, k;
    double *unit = work, *y = work + dim;
    (void)err;
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov == NULL)
        return VI_OK;
    for (k = 0; k < dim; ++k) {
        for (i = 0; i < dim; ++i)
            unit[i] = i == k ? 1.0 : 0.0;
        solve_lower(f, lambda, unit, y);
        solve_upper(f, lambda, y, unit);
        for (i = 0; i < dim; ++i)
            cov[i * dim + k] = unit[i];
    }
    for (i = 0; i < dim; ++i) /* exact symmetry, whatever the rounding */
        for (k = 0; k < i; ++k)
            cov[i * dim + k] = cov[k * dim + i] = 0.5 * (cov[i * dim + k] + cov[k * dim + i]);
    return VI_OK;
}

static const vi_family_desc chain_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "chain",
    .summary = "Gaussian with a banded Cholesky factor of the precision (Markov chain "
               "structure), O(D bandwidth) per draw",
    .flags = 0,
    .options = chain_options,
    .create = chain_create,
    .destroy = chain_destroy,
    .n_params = chain_n_params,
    .base_dim = chain_base_dim,
    .param_name = chain_param_name,
    .workspace_size = chain_workspace_size,
    .init = chain_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = chain_forward,
    .backward = chain_backward,
    .entropy = chain_entropy,
    .log_q = chain_log_q,
    .log_q_grad_z = chain_log_q_grad_z,
    .log_q_grad_lambda = chain_log_q_grad_lambda,
    .moments = chain_moments};

static const vi_component_head *const chain_components[] = {
    VI_COMPONENT(chain_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "chain",
    .version = "0.1.0",
    .description = "the banded-precision (Markov chain) Gaussian variational family",
    .init = NULL,
    .deinit = NULL,
    .components = chain_components};
