/*
 * mixture.c — a mixture of K Gaussians with softmax weights:
 *     q(z) = sum_k w_k N(z | mu_k, L_k L_k^T),   w = softmax(alpha),
 * each component diagonal (`structure: diagonal`, L_k = diag(exp(omega_k)))
 * or full (`structure: full`, L_k lower triangular with log diagonal).
 * lambda = (alpha[1..K], then per component mu_k[1..D] and its scale
 * parameters), K + K (D + D) or K + K (D + D (D+1)/2) values.
 *     log q(z) = log sum_k exp(log w_k + log N(z | mu_k, Sigma_k)).
 *
 * It is fitted through the stratified mixture ELBO (Morningstar, Vikram,
 * Ham, Gallagher and Dillon 2021): every component is reparameterized and
 * drawn at every draw, and its term weighted by w_k, so the weights get an
 * exact gradient without sampling a component.  The host runs that
 * estimator through the vi.family.strata/1 extension of plugin.h: stratum
 * k is z = mu_k + L_k e with e = eps[2..D+1].  The family's plain forward
 * still draws from q itself, for the ELBO estimates, the output draws and
 * the score-function gradient: eps[1] picks the component by inverse CDF
 * of the weights (u = Phi(eps[1])), eps[2..D+1] places the point.  So the
 * base is D + 1 standard normals and the host can draw it (quasi-random,
 * antithetic) for this family like any other.  There is no closed-form
 * entropy: the host estimates it by -log q of the draws.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

#define MIXTURE_MAX_DIM ((size_t)1 << 16)
#define MIXTURE_MAX_COMPONENTS 4096

typedef struct mixture_family {
    size_t dim;
    size_t n_comp;      /* K */
    int full;
    size_t n_scale;     /* D or D (D+1) / 2 */
    size_t stride;      /* D + n_scale: one component's parameters */
    size_t n_params;
    double init_mu;
    double init_log_sd;
    double init_spread;
    fu_names names;
} mixture_family;

static const vi_option mixture_options[] = {
    {sizeof(vi_option), "components", VI_OPTION_INT, 0, "2", 1.0,
     (double)MIXTURE_MAX_COMPONENTS, "number of Gaussian components K"},
    {sizeof(vi_option), "structure", VI_OPTION_STRING, 0, "diagonal", 0.0, 0.0,
     "each component's covariance: 'diagonal' or 'full'"},
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "centre of the components' starting means"},
    {sizeof(vi_option), "init_spread", VI_OPTION_DOUBLE, 0, "1", 0.0, HUGE_VAL,
     "component k starts at init_mu + init_spread (2k/(K-1) - 1) in every coordinate, "
     "so the components start apart"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -FU_LOG_SD_LIMIT,
     FU_LOG_SD_LIMIT, "starting log standard deviation of every component"},
    VI_OPTION_END};

/* ------------------------------------------------------------------ */
/* One component                                                        */
/* ------------------------------------------------------------------ */

/* Offset of component k's parameters in lambda. */
static size_t comp_at(const mixture_family *f, size_t k)
{
    return f->n_comp + k * f->stride;
}

/* Offset of L[i][j] within a component (after its D means). */
static size_t scale_index(const mixture_family *f, size_t i, size_t j)
{
    return f->dim + fu_tri_index(f->full, i, j);
}

/* L[i][j] of the component at c (its parameters), j <= i. */
static double comp_entry(const mixture_family *f, const double *c, size_t i, size_t j)
{
    return fu_tri_entry(f->full, c + f->dim, i, j);
}

/* z = mu + L e. */
static void comp_apply(const mixture_family *f, const double *c, const double *e, double *z)
{
    fu_tri_apply(f->full, c + f->dim, f->dim, c, e, z);
}

/* dc += J^T dz of z = mu + L e. */
static void comp_backward(const mixture_family *f, const double *c, const double *e,
                          const double *dz, double *dc)
{
    fu_tri_backward(f->full, c + f->dim, f->dim, e, dz, dc, dc + f->dim);
}

/* t = L^-1 (z - mu); returns log N(z | mu, L L^T). */
static double comp_log_pdf(const mixture_family *f, const double *c, const double *z,
                           double *t)
{
    double sq = fu_tri_solve(f->full, c + f->dim, f->dim, c, z, t);
    return -0.5 * sq - fu_tri_log_det(f->full, c + f->dim, f->dim) -
           0.5 * (double)f->dim * VI_LOG_2PI;
}

/* g = L^-T t: then d log N / dz = -g and d log N / dmu = g. */
static void comp_pull(const mixture_family *f, const double *c, const double *t, double *g)
{
    fu_tri_solve_t(f->full, c + f->dim, f->dim, 1.0, t, g);
}

/* dc += r d log N / d(component parameters), from t and g = L^-T t:
 * dmu = g, dL_ij = g_i t_j, dlog L_ii = g_i t_i L_ii - 1. */
static void comp_score(const mixture_family *f, const double *c, const double *t,
                       const double *g, double r, double *dc)
{
    size_t i, j;
    for (i = 0; i < f->dim; ++i) {
        dc[i] += r * g[i];
        for (j = f->full ? 0 : i; j < i; ++j)
            dc[scale_index(f, i, j)] += r * g[i] * t[j];
        dc[scale_index(f, i, i)] += r * (g[i] * t[i] * comp_entry(f, c, i, i) - 1.0);
    }
}

/* ------------------------------------------------------------------ */
/* Weights                                                              */
/* ------------------------------------------------------------------ */

/* log w = log softmax(alpha) into log_w (K). */
static void log_weights(const mixture_family *f, const double *lambda, double *log_w)
{
    double lse = vi_log_sum_exp(lambda, f->n_comp);
    size_t k;
    for (k = 0; k < f->n_comp; ++k)
        log_w[k] = lambda[k] - lse;
}

/* The component that base value e0 picks: inverse CDF of the weights at
 * u = Phi(e0).  `log_w` is K scratch. */
static size_t pick_component(const mixture_family *f, const double *lambda, double e0,
                             double *log_w)
{
    double u = 0.5 * erfc(-e0 / 1.4142135623730951), cum = 0.0;
    size_t k;
    log_weights(f, lambda, log_w);
    for (k = 0; k + 1 < f->n_comp; ++k) {
        cum += exp(log_w[k]);
        if (u < cum)
            return k;
    }
    return f->n_comp - 1;
}

/* ------------------------------------------------------------------ */
/* Creation                                                             */
/* ------------------------------------------------------------------ */

static void mixture_destroy(void *self)
{
    mixture_family *f = (mixture_family *)self;
    if (f == NULL)
        return;
    fu_names_free(&f->names);
    free(f);
}

/* "alpha[k]", "mu[k,i]", "omega[k,i]" (diagonal) or "L[k][i,j]" and
 * "log_L[k][i,j]" (full). */
static int make_names(mixture_family *f, vi_error *err)
{
    size_t k, i, j, p = 0;
    size_t stride = 3 * fu_digits(f->dim > f->n_comp ? f->dim : f->n_comp) + 14;
    int status = fu_names_alloc(&f->names, f->n_params, stride, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "alpha", f->n_comp);
    for (k = 0; k < f->n_comp; ++k) {
        for (i = 0; i < f->dim; ++i)
            vi_index2_name(fu_name_slot(&f->names, p++), stride, "mu", k, i);
        for (i = 0; i < f->dim; ++i)
            for (j = f->full ? 0 : i; j <= i; ++j) {
                char *at = fu_name_slot(&f->names, p++);
                if (f->full)
                    snprintf(at, stride, "%s[%lu][%lu,%lu]", i == j ? "log_L" : "L",
                             (unsigned long)k + 1UL, (unsigned long)i + 1UL,
                             (unsigned long)j + 1UL);
                else
                    vi_index2_name(at, stride, "omega", k, i);
            }
    }
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, mixture_family *f,
                        vi_error *err)
{
    int status = fu_read_count(host, config, "components", 2, MIXTURE_MAX_COMPONENTS,
                               &f->n_comp, err);
    if (status == VI_OK)
        status = fu_read_structure(host, config, &f->full, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "init_mu", 0.0, &f->init_mu, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "init_spread", 1.0, &f->init_spread,
                                         err);
    if (status == VI_OK && !(isfinite(f->init_mu) && isfinite(f->init_spread)))
        status = vi_error_set(err, VI_EINVAL, "options 'init_mu' and 'init_spread' must be "
                              "finite, got %g and %g", f->init_mu, f->init_spread);
    if (status == VI_OK)
        status = fu_read_init_log_sd(host, config, &f->init_log_sd, err);
    return status;
}

static int mixture_setup(const vi_host *host, const vi_config *config, size_t dim, void *self,
                         vi_error *err)
{
    mixture_family *f = (mixture_family *)self;
    int status;
    f->dim = dim;
    status = read_options(host, config, f, err);
    if (status != VI_OK)
        return status;
    f->n_scale = f->full ? dim * (dim + 1) / 2 : dim;
    f->stride = dim + f->n_scale;
    f->n_params = f->n_comp * (1 + f->stride);
    return make_names(f, err);
}

static int mixture_create(const vi_host *host, const vi_config *config, size_t dim,
                          void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0 || dim > MIXTURE_MAX_DIM)
        return fu_bad_dim("mixture", MIXTURE_MAX_DIM, dim, err);
    return fu_create(host, config, dim, sizeof(mixture_family), mixture_setup,
                     mixture_destroy, self, err);
}

static size_t mixture_n_params(const void *self)
{
    return ((const mixture_family *)self)->n_params;
}

/* eps[1] picks the component, eps[2..D+1] places the point. */
static size_t mixture_base_dim(const void *self)
{
    return ((const mixture_family *)self)->dim + 1;
}

static const char *mixture_param_name(const void *self, size_t i)
{
    return fu_name(&((const mixture_family *)self)->names, i);
}

/* Scratch: K log terms, then t and g (D each). */
static size_t mixture_workspace_size(const void *self)
{
    const mixture_family *f = (const mixture_family *)self;
    return f->n_comp + 2 * f->dim;
}

static int mixture_init(const void *self, double *lambda, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    size_t k, i;
    (void)err;
    memset(lambda, 0, f->n_params * sizeof *lambda);
    for (k = 0; k < f->n_comp; ++k) {
        double *c = lambda + comp_at(f, k);
        double at = f->n_comp > 1 ? 2.0 * (double)k / (double)(f->n_comp - 1) - 1.0 : 0.0;
        for (i = 0; i < f->dim; ++i) {
            c[i] = f->init_mu + f->init_spread * at;
            c[scale_index(f, i, i)] = f->init_log_sd;
        }
    }
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* Density                                                              */
/* ------------------------------------------------------------------ */

/* log q(z), leaving log w_k + log N_k(z) in terms (K). */
static double mixture_density(const mixture_family *f, const double *lambda, const double *z,
                              double *terms, double *t)
{
    size_t k;
    log_weights(f, lambda, terms);
    for (k = 0; k < f->n_comp; ++k)
        terms[k] += comp_log_pdf(f, lambda + comp_at(f, k), z, t);
    return vi_log_sum_exp(terms, f->n_comp);
}

static int mixture_log_q(const void *self, const double *lambda, const double *z, double *lq,
                         double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    (void)err;
    *lq = mixture_density(f, lambda, z, work, work + f->n_comp);
    return VI_OK;
}

/* d log q / dz = -sum_k r_k L_k^-T L_k^-1 (z - mu_k), r_k the
 * responsibilities. */
static int mixture_log_q_grad_z(const void *self, const double *lambda, const double *z,
                                double *lq, double *dz, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    double *terms = work, *t = work + f->n_comp, *g = t + f->dim;
    size_t k, i;
    (void)err;
    *lq = mixture_density(f, lambda, z, terms, t);
    memset(dz, 0, f->dim * sizeof *dz);
    for (k = 0; k < f->n_comp; ++k) {
        const double *c = lambda + comp_at(f, k);
        double r = exp(terms[k] - *lq);
        comp_log_pdf(f, c, z, t);
        comp_pull(f, c, t, g);
        for (i = 0; i < f->dim; ++i)
            dz[i] -= r * g[i];
    }
    return VI_OK;
}

/* At fixed z: d/dalpha_k = r_k - w_k; component k's parameters get r_k
 * times the gradient of its own log density. */
static int mixture_log_q_grad_lambda(const void *self, const double *lambda, const double *z,
                                     double *lq, double *dlambda, double *work,
                                     vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    double *terms = work, *t = work + f->n_comp, *g = t + f->dim;
    size_t k;
    (void)err;
    *lq = mixture_density(f, lambda, z, terms, t);
    memset(dlambda, 0, f->n_params * sizeof *dlambda);
    log_weights(f, lambda, dlambda); /* alpha's slots hold log w for a moment */
    for (k = 0; k < f->n_comp; ++k) {
        const double *c = lambda + comp_at(f, k);
        double r = exp(terms[k] - *lq);
        dlambda[k] = r - exp(dlambda[k]);
        comp_log_pdf(f, c, z, t);
        comp_pull(f, c, t, g);
        comp_score(f, c, t, g, r, dlambda + comp_at(f, k));
    }
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* Draws                                                                */
/* ------------------------------------------------------------------ */

static int mixture_forward(const void *self, const double *lambda, const double *eps,
                           double *z, double *log_q, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    size_t k = pick_component(f, lambda, eps[0], work);
    comp_apply(f, lambda + comp_at(f, k), eps + 1, z);
    if (log_q != NULL)
        return mixture_log_q(self, lambda, z, log_q, work, err);
    return VI_OK;
}

/* The picked component's J^T dz; the pick itself is piecewise constant in
 * alpha, so alpha gets nothing here (the strata give it its gradient). */
static int mixture_backward(const void *self, const double *lambda, const double *eps,
                            const double *dz, double *dlambda, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    size_t k = pick_component(f, lambda, eps[0], work);
    (void)err;
    comp_backward(f, lambda + comp_at(f, k), eps + 1, dz, dlambda + comp_at(f, k));
    return VI_OK;
}

/* mean = sum_k w_k mu_k;  cov = sum_k w_k (Sigma_k + mu_k mu_k^T) - mean mean^T. */
static int mixture_moments(const void *self, const double *lambda, double *mean, double *cov,
                           double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    size_t dim = f->dim, k, i, j;
    double *log_w = work, *m = work + f->n_comp; /* the mean, also when mean is NULL */
    (void)err;
    log_weights(f, lambda, log_w);
    memset(m, 0, dim * sizeof *m);
    for (k = 0; k < f->n_comp; ++k)
        for (i = 0; i < dim; ++i)
            m[i] += exp(log_w[k]) * lambda[comp_at(f, k) + i];
    if (mean != NULL)
        memcpy(mean, m, dim * sizeof *mean);
    if (cov == NULL)
        return VI_OK;
    for (i = 0; i < dim; ++i)
        for (j = 0; j <= i; ++j) {
            double sum = -m[i] * m[j];
            for (k = 0; k < f->n_comp; ++k) {
                const double *c = lambda + comp_at(f, k);
                sum += exp(log_w[k]) * fu_tri_cov(f->full, c + dim, i, j, c[i] * c[j]);
            }
            cov[i * dim + j] = cov[j * dim + i] = sum;
        }
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* The strata (vi.family.strata/1)                                      */
/* ------------------------------------------------------------------ */

static size_t strata_count(const void *self)
{
    return ((const mixture_family *)self)->n_comp;
}

static int strata_weights(const void *self, const double *lambda, double *w, double *work,
                          vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    size_t k;
    (void)work;
    (void)err;
    log_weights(f, lambda, w);
    for (k = 0; k < f->n_comp; ++k)
        w[k] = exp(w[k]);
    return VI_OK;
}

/* dalpha_j += w_j (dw_j - sum_k w_k dw_k), the softmax's Jacobian. */
static int strata_weights_backward(const void *self, const double *lambda, const double *dw,
                                   double *dlambda, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    double *log_w = work, mean = 0.0;
    size_t k;
    (void)err;
    log_weights(f, lambda, log_w);
    for (k = 0; k < f->n_comp; ++k)
        mean += exp(log_w[k]) * dw[k];
    for (k = 0; k < f->n_comp; ++k)
        dlambda[k] += exp(log_w[k]) * (dw[k] - mean);
    return VI_OK;
}

static int strata_forward(const void *self, const double *lambda, size_t k, const double *eps,
                          double *z, double *log_q, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    if (k >= f->n_comp)
        return vi_error_set(err, VI_EINVAL, "stratum %lu is out of range (K = %lu)",
                            (unsigned long)k, (unsigned long)f->n_comp);
    comp_apply(f, lambda + comp_at(f, k), eps + 1, z);
    if (log_q != NULL)
        return mixture_log_q(self, lambda, z, log_q, work, err);
    return VI_OK;
}

static int strata_backward(const void *self, const double *lambda, size_t k, const double *eps,
                           const double *dz, double *dlambda, double *work, vi_error *err)
{
    const mixture_family *f = (const mixture_family *)self;
    (void)work;
    if (k >= f->n_comp)
        return vi_error_set(err, VI_EINVAL, "stratum %lu is out of range (K = %lu)",
                            (unsigned long)k, (unsigned long)f->n_comp);
    comp_backward(f, lambda + comp_at(f, k), eps + 1, dz, dlambda + comp_at(f, k));
    return VI_OK;
}

static const vi_family_strata mixture_strata = {
    .struct_size = sizeof(vi_family_strata),
    .n_strata = strata_count,
    .weights = strata_weights,
    .weights_backward = strata_weights_backward,
    .forward_stratum = strata_forward,
    .backward_stratum = strata_backward};

static const void *mixture_get_extension(const void *self, const char *id)
{
    (void)self;
    return strcmp(id, VI_FAMILY_STRATA_ID) == 0 ? &mixture_strata : NULL;
}

static const vi_family_desc mixture_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "mixture",
    .summary = "mixture of K Gaussians (diagonal or full) with softmax weights, fitted by the "
               "stratified ELBO",
    .flags = 0,
    .options = mixture_options,
    .create = mixture_create,
    .destroy = mixture_destroy,
    .n_params = mixture_n_params,
    .base_dim = mixture_base_dim,
    .param_name = mixture_param_name,
    .workspace_size = mixture_workspace_size,
    .init = mixture_init,
    .sample_base = NULL, /* standard normal: the host draws eps */
    .forward = mixture_forward,
    .backward = mixture_backward,
    .entropy = NULL, /* none in closed form: the host estimates it */
    .log_q = mixture_log_q,
    .get_extension = mixture_get_extension,
    .log_q_grad_z = mixture_log_q_grad_z,
    .log_q_grad_lambda = mixture_log_q_grad_lambda,
    .moments = mixture_moments};

static const vi_component_head *const mixture_components[] = {
    VI_COMPONENT(mixture_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "mixture",
    .version = "0.1.0",
    .description = "the Gaussian-mixture variational family (stratified ELBO)",
    .init = NULL,
    .deinit = NULL,
    .components = mixture_components};
