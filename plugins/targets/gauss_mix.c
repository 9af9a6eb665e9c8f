/*
 * gauss_mix.c — a finite mixture of K univariate normals, the inference
 * problem (posteriordb's low_dim_gauss_mix for K = 2):
 *     y_n ~ sum_k theta_k N(mu_k, sigma_k^2),  n = 1..N,
 *     mu_k ~ N(0, mu_prior_sd^2),  mu ordered (mu_1 < ... < mu_K),
 *     sigma_k ~ HalfNormal(sigma_prior_sd),
 *     theta ~ Dirichlet(concentration, ..., concentration)
 *             (Beta(c, c) on theta_1 for K = 2),
 * with data N and y[N].  The ordering removes label switching.  The
 * unconstrained vector is
 *     mu[1], log(mu[2] - mu[1]), ..., log sigma[1..K], stick-breaking u[1..K-1]
 * (u = logit theta for K = 2), each with its log-Jacobian.  Draws are
 * reported as mu[k], sigma[k] and, as posteriordb names them, theta (the
 * weight of component 1) for K = 2 or theta[1..K] for K > 2.  Each y_n's
 * log likelihood is a log-sum-exp over the components.  Items
 * (minibatches) are the observations.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#define GM_MAX_COMPONENTS 64

typedef struct gm_target {
    size_t K, n;
    const double *y;            /* the config's */
    double mu_sd, sigma_sd, conc;
    double log_dirichlet_norm;  /* lgamma(K c) - K lgamma(c) */
    tu_names names, cnames;
} gm_target;

/* Workspace layout: 12 blocks of K doubles. */
enum { GM_MU, GM_SIGMA, GM_W, GM_LOGW, GM_LP, GM_RESP, GM_DMU, GM_DSIG,
       GM_GMU, GM_GSIG, GM_GLOGW, GM_BLOCKS };

static const vi_option gm_options[] = {
    {sizeof(vi_option), "components", VI_OPTION_INT, 0, "2", 2.0,
     (double)GM_MAX_COMPONENTS, "number of mixture components K"},
    {sizeof(vi_option), "mu_prior_sd", VI_OPTION_DOUBLE, 0, "2", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on each mu[k] (> 0)"},
    {sizeof(vi_option), "sigma_prior_sd", VI_OPTION_DOUBLE, 0, "2", 0.0,
     HUGE_VAL, "scale of the half-normal prior on each sigma[k] (> 0)"},
    {sizeof(vi_option), "concentration", VI_OPTION_DOUBLE, 0, "5", 0.0,
     HUGE_VAL, "symmetric Dirichlet concentration of the weights (> 0)"},
    VI_OPTION_END};

static void gm_destroy(void *self)
{
    gm_target *t = (gm_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    tu_names_free(&t->cnames);
    free(t);
}

static int gm_read(const vi_host *host, const vi_config *config,
                   gm_target *t, vi_error *err)
{
    int64_t K = 2;
    int status = tu_read_vector(host, config, "y", 0, NULL, &t->y, &t->n,
                                err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "N", t->n, "the length of y",
                               err);
    if (status == VI_OK)
        status = tu_read_int_in(host, config, "components", 2, 2,
                                GM_MAX_COMPONENTS, &K, err);
    t->K = (size_t)K;
    if (status == VI_OK)
        status = tu_read_positive(host, config, "mu_prior_sd", 2.0,
                                  &t->mu_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma_prior_sd", 2.0,
                                  &t->sigma_sd, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "concentration", 5.0,
                                  &t->conc, err);
    return status;
}

static int gm_make_names(gm_target *t, vi_error *err)
{
    size_t K = t->K, k;
    int status = tu_names_alloc_pair(&t->names, 3 * K - 1, &t->cnames,
                                     K == 2 ? 5 : 3 * K, err);
    if (status != VI_OK)
        return status;
    for (k = 0; k < K; ++k) {
        tu_name_index(&t->names, k, k == 0 ? "mu" : "log_mu_gap", k);
        tu_name_index(&t->names, K + k, "log_sigma", k);
        tu_name_index(&t->cnames, k, "mu", k);
        tu_name_index(&t->cnames, K + k, "sigma", k);
        if (K > 2)
            tu_name_index(&t->cnames, 2 * K + k, "theta", k);
        if (k + 1 < K && K > 2)
            tu_name_index(&t->names, 2 * K + k, "theta_stick", k);
    }
    if (K == 2) {
        tu_name_set(&t->names, 4, "logit_theta");
        tu_name_set(&t->cnames, 4, "theta");
    }
    return VI_OK;
}

static int gm_setup(const vi_host *host, const vi_config *config,
                    void *self, vi_error *err)
{
    gm_target *t = (gm_target *)self;
    int status = gm_read(host, config, t, err);
    if (status != VI_OK)
        return status;
    t->log_dirichlet_norm =
        vi_lgamma((double)t->K * t->conc) - (double)t->K * vi_lgamma(t->conc);
    return gm_make_names(t, err);
}

static int gm_create(const vi_host *host, const vi_config *config,
                     void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(gm_target), gm_setup, gm_destroy,
                     self, err);
}

static size_t gm_dim(const void *self)
{
    return 3 * ((const gm_target *)self)->K - 1;
}

static size_t gm_constrained_dim(const void *self)
{
    size_t K = ((const gm_target *)self)->K;
    return K == 2 ? 5 : 3 * K;
}

static const char *gm_param_name(const void *self, size_t i)
{
    return tu_name(&((const gm_target *)self)->names, i);
}

static const char *gm_constrained_name(const void *self, size_t i)
{
    return tu_name(&((const gm_target *)self)->cnames, i);
}

static size_t gm_n_items(const void *self)
{
    return ((const gm_target *)self)->n;
}

static size_t gm_workspace_size(const void *self)
{
    return GM_BLOCKS * ((const gm_target *)self)->K;
}

/* Maps u to mu, sigma, weights and log weights (in w); returns the
 * log-Jacobian. */
static double gm_constrain_all(const gm_target *t, const double *u, double *w)
{
    size_t K = t->K, k;
    double log_jac = 0.0;
    vi_ordered_constrain(u, K, w + GM_MU * K, &log_jac);
    for (k = 0; k < K; ++k)
        w[GM_SIGMA * K + k] = vi_lower_bound_constrain(u[K + k], 0.0, &log_jac);
    vi_simplex_constrain(u + 2 * K, K, w + GM_W * K, w + GM_LOGW * K,
                         &log_jac);
    return log_jac;
}

/* The priors; their gradients in mu, sigma and log weights overwrite the
 * accumulators of w. */
static double gm_prior(const gm_target *t, double *w)
{
    size_t K = t->K, k;
    double total = t->log_dirichlet_norm;
    for (k = 0; k < K; ++k) {
        total += vi_normal_lpdf(w[GM_MU * K + k], 0.0, t->mu_sd, &w[GM_GMU * K + k],
                                NULL, NULL);
        total += vi_half_normal_lpdf(w[GM_SIGMA * K + k], t->sigma_sd,
                                     &w[GM_GSIG * K + k], NULL);
        total += (t->conc - 1.0) * w[GM_LOGW * K + k];
        w[GM_GLOGW * K + k] = t->conc - 1.0;
    }
    return total;
}

/* scale times the log likelihood of observations idx[0..count) (all when
 * idx is NULL); with gradients, scale times theirs added to the
 * accumulators. */
static double gm_likelihood(const gm_target *t, const size_t *idx,
                            size_t count, double scale, int with_grad,
                            double *w)
{
    size_t K = t->K, i, k;
    double total = 0.0, *lp = w + GM_LP * K, *resp = w + GM_RESP * K;
    double *dmu = w + GM_DMU * K, *dsig = w + GM_DSIG * K;
    for (i = 0; i < count; ++i) {
        double y = t->y[idx != NULL ? idx[i] : i];
        for (k = 0; k < K; ++k)
            lp[k] = vi_normal_lpdf(y, w[GM_MU * K + k], w[GM_SIGMA * K + k],
                                   NULL, &dmu[k], &dsig[k]);
        total += vi_log_mix_n(K, w + GM_LOGW * K, lp,
                              with_grad ? resp : NULL);
        for (k = 0; with_grad && k < K; ++k) {
            w[GM_GMU * K + k] += scale * resp[k] * dmu[k];
            w[GM_GSIG * K + k] += scale * resp[k] * dsig[k];
            w[GM_GLOGW * K + k] += scale * resp[k];
        }
    }
    return scale * total;
}

static void gm_evaluate(const gm_target *t, const double *u,
                        const size_t *idx, size_t count, double scale,
                        double *lp, double *grad, double *w)
{
    size_t K = t->K, k;
    double log_jac = gm_constrain_all(t, u, w);
    *lp = gm_prior(t, w) +
          gm_likelihood(t, idx, count, scale, grad != NULL, w) + log_jac;
    if (grad == NULL)
        return;
    vi_ordered_backward(u, K, w + GM_GMU * K, grad);
    for (k = 0; k < K; ++k)
        grad[K + k] = vi_lower_bound_backward(u[K + k], 0.0,
                                              w[GM_GSIG * K + k]);
    vi_simplex_log_backward(u + 2 * K, K, w + GM_GLOGW * K, grad + 2 * K);
}

static int gm_log_density(const void *self, const double *theta, double *lp,
                          double *grad, double *work, vi_error *err)
{
    const gm_target *t = (const gm_target *)self;
    gm_evaluate(t, theta, NULL, t->n, 1.0, lp, grad, work);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int gm_log_density_subset(const void *self, const double *theta,
                                 const size_t *idx, size_t n, double scale,
                                 double *lp, double *grad, double *work,
                                 vi_error *err)
{
    const gm_target *t = (const gm_target *)self;
    int status = tu_check_items(idx, n, t->n, err);
    if (status != VI_OK)
        return status;
    gm_evaluate(t, theta, idx, n, scale, lp, grad, work);
    return tu_nan_result(*lp, "is theta finite?", err);
}

/* mu[1..K], sigma[1..K], then theta (K = 2) or theta[1..K]. */
static int gm_constrain(const void *self, const double *theta, double *out,
                        vi_error *err)
{
    const gm_target *t = (const gm_target *)self;
    size_t K = t->K, k;
    double weights[GM_MAX_COMPONENTS];
    (void)err;
    vi_ordered_constrain(theta, K, out, NULL);
    for (k = 0; k < K; ++k)
        out[K + k] = exp(theta[K + k]);
    vi_simplex_constrain(theta + 2 * K, K, weights, NULL, NULL);
    for (k = 0; k < (K == 2 ? 1 : K); ++k)
        out[2 * K + k] = weights[k];
    return VI_OK;
}

static const vi_target_desc gm_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "gauss_mix",
    .summary = "mixture of K univariate normals with ordered means "
               "(posteriordb's low_dim_gauss_mix for K = 2)",
    .flags = 0,
    .options = gm_options,
    .create = gm_create,
    .destroy = gm_destroy,
    .dim = gm_dim,
    .param_name = gm_param_name,
    .workspace_size = gm_workspace_size,
    .log_density = gm_log_density,
    .constrained_dim = gm_constrained_dim,
    .constrained_name = gm_constrained_name,
    .constrain = gm_constrain,
    .n_items = gm_n_items,
    .log_density_subset = gm_log_density_subset};

static const vi_component_head *const gm_components[] = {
    VI_COMPONENT(gm_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "gauss_mix",
    .version = "0.1.0",
    .description = "a mixture of univariate normals (the inference problem)",
    .init = NULL,
    .deinit = NULL,
    .components = gm_components};
