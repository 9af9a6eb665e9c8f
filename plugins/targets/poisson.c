/*
 * poisson.c — Poisson regression with a log link:
 *     y_n ~ Poisson(exp(x_n . beta + offset_n)),  n = 1..N,
 *     beta_d ~ N(0, prior_scale^2),
 * with data X (N x D, one row per item), y (N counts) and an optional
 * `offset` (N values, e.g. log exposure; zero when absent).  The prior is
 * normalized; the likelihood is the full log mass, lgamma(y + 1)
 * included.  Items (minibatches) are the rows, taken in blocks: the
 * linear predictors X_b beta and the gradient X_b^T r through CBLAS.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

/* Rows of a block of linear predictors (in the workspace). */
#define POISSON_BLOCK 256

typedef struct poisson_target {
    size_t n, d;
    const double *x, *y, *offset;   /* the config's; offset may be NULL */
    double prior_scale;
    tu_names names;
} poisson_target;

static const vi_option poisson_options[] = {
    {sizeof(vi_option), "prior_scale", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on each coefficient "
               "(> 0)"},
    VI_OPTION_END};

static void poisson_destroy(void *self)
{
    poisson_target *t = (poisson_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    free(t);
}

static int poisson_read_data(const vi_host *host, const vi_config *config,
                             poisson_target *t, vi_error *err)
{
    size_t len;
    int status = tu_read_matrix(host, config, "X", 0, NULL, &t->x, &t->n,
                                &t->d, err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "N", t->n, "the rows of X", err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "D", t->d, "the columns of X",
                               err);
    if (status == VI_OK)
        status = tu_read_vector(host, config, "y", t->n, "the rows of X",
                                &t->y, &len, err);
    if (status == VI_OK)
        status = tu_check_whole(t->y, t->n, "y", 0.0, 9007199254740992.0,
                                err);
    if (status == VI_OK && host->config_has(config, "offset"))
        status = tu_read_vector(host, config, "offset", t->n, "the rows of X",
                                &t->offset, &len, err);
    return status;
}

static int poisson_setup(const vi_host *host, const vi_config *config,
                         void *self, vi_error *err)
{
    poisson_target *t = (poisson_target *)self;
    size_t k;
    int status = poisson_read_data(host, config, t, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "prior_scale", 10.0,
                                  &t->prior_scale, err);
    if (status == VI_OK)
        status = tu_names_alloc(&t->names, t->d, err);
    for (k = 0; status == VI_OK && k < t->d; ++k)
        tu_name_index(&t->names, k, "beta", k);
    return status;
}

static int poisson_create(const vi_host *host, const vi_config *config,
                          void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(poisson_target), poisson_setup,
                     poisson_destroy, self, err);
}

static size_t poisson_dim(const void *self)
{
    return ((const poisson_target *)self)->d;
}

static const char *poisson_param_name(const void *self, size_t i)
{
    return tu_name(&((const poisson_target *)self)->names, i);
}

static size_t poisson_n_items(const void *self)
{
    return ((const poisson_target *)self)->n;
}

/* Scratch: one block of linear predictors. */
static size_t poisson_workspace_size(const void *self)
{
    (void)self;
    return POISSON_BLOCK;
}

/* scale * the log likelihood of n rows starting at `first` (of idx when
 * not NULL), and scale times its gradient added into grad. */
static double poisson_block(const poisson_target *t, const double *beta, const size_t *idx,
                            size_t first, size_t n, double scale, double *grad, double *eta)
{
    const int d = (int)t->d;
    const double *xb = t->x + first * t->d;
    double lik = 0.0, d_eta;
    size_t i;
    for (i = 0; i < n; ++i) {
        size_t row = idx != NULL ? idx[first + i] : first + i;
        eta[i] = t->offset != NULL ? t->offset[row] : 0.0;
        if (idx != NULL)
            eta[i] += cblas_ddot(d, t->x + row * t->d, 1, beta, 1);
    }
    if (idx == NULL)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, d, 1.0, xb, d, beta, 1, 1.0, eta, 1);
    for (i = 0; i < n; ++i) {
        size_t row = idx != NULL ? idx[first + i] : first + i;
        lik += vi_poisson_log_lpmf(t->y[row], eta[i], &d_eta);
        eta[i] = scale * d_eta;
    }
    if (grad != NULL && idx == NULL)
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, d, 1.0, xb, d, eta, 1, 1.0, grad, 1);
    else if (grad != NULL)
        for (i = 0; i < n; ++i)
            cblas_daxpy(d, eta[i], t->x + idx[first + i] * t->d, 1, grad, 1);
    return scale * lik;
}

static void poisson_evaluate(const poisson_target *t, const double *beta,
                             const size_t *idx, size_t count, double scale,
                             double *lp, double *grad, double *work)
{
    size_t k, start;
    double prior = 0.0, lik = 0.0;
    for (k = 0; k < t->d; ++k) {
        double d_beta;
        prior += vi_normal_lpdf(beta[k], 0.0, t->prior_scale, &d_beta, NULL,
                                NULL);
        if (grad != NULL)
            grad[k] = d_beta;
    }
    for (start = 0; start < count; start += POISSON_BLOCK) {
        size_t n = count - start < POISSON_BLOCK ? count - start : POISSON_BLOCK;
        lik += poisson_block(t, beta, idx, start, n, scale, grad, work);
    }
    *lp = prior + lik;
}

static int poisson_log_density(const void *self, const double *theta,
                               double *lp, double *grad, double *work,
                               vi_error *err)
{
    const poisson_target *t = (const poisson_target *)self;
    poisson_evaluate(t, theta, NULL, t->n, 1.0, lp, grad, work);
    return tu_nan_result(*lp, "is beta finite?", err);
}

static int poisson_log_density_subset(const void *self, const double *theta,
                                      const size_t *idx, size_t n,
                                      double scale, double *lp, double *grad,
                                      double *work, vi_error *err)
{
    const poisson_target *t = (const poisson_target *)self;
    int status = tu_check_items(idx, n, t->n, err);
    if (status != VI_OK)
        return status;
    poisson_evaluate(t, theta, idx, n, scale, lp, grad, work);
    return tu_nan_result(*lp, "is beta finite?", err);
}

static const vi_target_desc poisson_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "poisson",
    .summary = "Poisson regression with a log link and a normal prior on "
               "the coefficients",
    .flags = 0,
    .options = poisson_options,
    .create = poisson_create,
    .destroy = poisson_destroy,
    .dim = poisson_dim,
    .param_name = poisson_param_name,
    .workspace_size = poisson_workspace_size,
    .log_density = poisson_log_density,
    .n_items = poisson_n_items,
    .log_density_subset = poisson_log_density_subset};

static const vi_component_head *const poisson_components[] = {
    VI_COMPONENT(poisson_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "poisson",
    .version = "0.1.0",
    .description = "Poisson regression",
    .init = NULL,
    .deinit = NULL,
    .components = poisson_components};
