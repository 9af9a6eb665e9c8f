/*
 * categorical.c — a categorical distribution over the states 0, 1, ...,
 * n-1 of a one-dimensional target over a finite set (such as the
 * `categorical` target, whose coordinate is the state's index):
 *     q(z = k) = pi_k,   pi = softmax(alpha),   lambda = alpha[1..n].
 * A draw picks the state by inverse CDF at u = Phi(eps), so the base is one
 * standard normal and the host can draw it (quasi-random, antithetic).  z
 * is piecewise constant in lambda: there is no reparameterization
 * gradient (backward adds nothing, which is J^T dz for J = 0), and the
 * family is fitted with the score-function gradient through
 * log_q_grad_lambda: d log pi_k / d alpha = e_k - pi.  It offers
 * vi.family.finite/1, with which the host computes the exact KL(q || p).
 *     H[q] = -sum_k pi_k log pi_k.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

#define CATEGORICAL_MAX_STATES ((size_t)1 << 24)
/* Room for "alpha[" + 20 digits + "]" + NUL. */
#define CATEGORICAL_NAME_SIZE 32

typedef struct categorical_family {
    size_t n;
    double *init_alpha;       /* n: log of the starting probabilities */
    double *states;           /* n: 0, 1, ..., n-1 */
    vi_family_finite finite;
    char *names;
} categorical_family;

static const vi_option categorical_options[] = {
    {sizeof(vi_option), "n_states", VI_OPTION_INT, 0, "0", 0.0,
     (double)CATEGORICAL_MAX_STATES,
     "number of states n (0: the length of init_probs); must match the target's"},
    {sizeof(vi_option), "init_probs", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "starting probabilities (n values > 0, normalized by their sum); default uniform"},
    VI_OPTION_END};

static void categorical_destroy(void *self)
{
    categorical_family *f = (categorical_family *)self;
    if (f == NULL)
        return;
    free(f->init_alpha);
    free(f->states);
    free(f->names);
    free(f);
}

/* n from n_states and init_probs' length; *probs NULL when not given. */
static int read_size(const vi_host *host, const vi_config *config, const double **probs,
                     size_t *n, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim, len = 0;
    int64_t n_states;
    int status = vi_config_get_int_or(host, config, "n_states", 0, &n_states, err);
    if (status != VI_OK)
        return status;
    *probs = NULL;
    status = host->config_get_array(config, "init_probs", probs, shape, &ndim);
    if (status == VI_OK) {
        if (ndim != 1)
            return vi_error_set(err, VI_ETYPE, "option 'init_probs' must be a vector");
        len = shape[0];
    } else if (status != VI_ENOTFOUND) {
        return vi_error_set(err, status, "option 'init_probs' must be a real vector");
    }
    if (n_states == 0 && *probs == NULL)
        return vi_error_set(err, VI_EINVAL, "give 'n_states' (the target's number of states) "
                            "or 'init_probs'");
    if (n_states != 0 && *probs != NULL && (size_t)n_states != len)
        return vi_error_set(err, VI_EINVAL, "option 'init_probs' has %lu values but "
                            "'n_states' is %lld", (unsigned long)len, (long long)n_states);
    *n = n_states != 0 ? (size_t)n_states : len;
    if (*n < 1 || *n > CATEGORICAL_MAX_STATES)
        return vi_error_set(err, VI_EINVAL, "the number of states must be in [1, %lu], got %lu",
                            (unsigned long)CATEGORICAL_MAX_STATES, (unsigned long)*n);
    return VI_OK;
}

/* init_alpha = log(p / sum p), or 0 (uniform) without init_probs. */
static int read_start(const double *probs, categorical_family *f, vi_error *err)
{
    double sum = 0.0;
    size_t k;
    for (k = 0; probs != NULL && k < f->n; ++k) {
        if (!(probs[k] > 0.0) || !isfinite(probs[k]))
            return vi_error_set(err, VI_EINVAL, "option 'init_probs' must hold finite values "
                                "> 0, got %g at init_probs[%lu]", probs[k],
                                (unsigned long)k + 1UL);
        sum += probs[k];
    }
    for (k = 0; k < f->n; ++k)
        f->init_alpha[k] = probs != NULL ? log(probs[k] / sum) : 0.0;
    return VI_OK;
}

static int categorical_setup(const vi_host *host, const vi_config *config, size_t dim,
                             void *self, vi_error *err)
{
    categorical_family *f = (categorical_family *)self;
    const double *probs = NULL;
    size_t n = 0, k;
    int status = read_size(host, config, &probs, &n, err);
    (void)dim;
    if (status != VI_OK)
        return status;
    f->n = n;
    f->init_alpha = (double *)malloc(n * sizeof(double));
    f->states = (double *)malloc(n * sizeof(double));
    f->names = (char *)malloc(n * CATEGORICAL_NAME_SIZE);
    if (f->init_alpha == NULL || f->states == NULL || f->names == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    status = read_start(probs, f, err);
    if (status != VI_OK)
        return status;
    for (k = 0; k < n; ++k) {
        f->states[k] = (double)k;
        vi_index_name(f->names + k * CATEGORICAL_NAME_SIZE, CATEGORICAL_NAME_SIZE, "alpha", k);
    }
    f->finite.struct_size = sizeof f->finite;
    f->finite.n_states = n;
    f->finite.states = f->states;
    return VI_OK;
}

static int categorical_create(const vi_host *host, const vi_config *config, size_t dim,
                              void **self, vi_error *err)
{
    *self = NULL;
    if (dim != 1)
        return vi_error_set(err, VI_EINVAL, "the categorical family needs a one-dimensional "
                            "target over the states 0..n-1, got dimension %lu",
                            (unsigned long)dim);
    return fu_create(host, config, dim, sizeof(categorical_family), categorical_setup,
                     categorical_destroy, self, err);
}

static size_t categorical_n_params(const void *self)
{
    return ((const categorical_family *)self)->n;
}

static size_t categorical_base_dim(const void *self)
{
    (void)self;
    return 1;
}

static const char *categorical_param_name(const void *self, size_t i)
{
    const categorical_family *f = (const categorical_family *)self;
    return i < f->n ? f->names + i * CATEGORICAL_NAME_SIZE : NULL;
}

static int categorical_init(const void *self, double *lambda, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    (void)err;
    memcpy(lambda, f->init_alpha, f->n * sizeof *lambda);
    return VI_OK;
}

/* The state k that z holds, or n when z is not one of 0..n-1. */
static size_t state_of(const categorical_family *f, double z)
{
    if (!(z >= 0.0 && z < (double)f->n) || z != floor(z))
        return f->n;
    return (size_t)z;
}

static int categorical_log_q(const void *self, const double *lambda, const double *z,
                             double *lq, double *work, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    size_t k = state_of(f, z[0]);
    (void)work;
    (void)err;
    *lq = k < f->n ? lambda[k] - vi_log_sum_exp(lambda, f->n) : -INFINITY;
    return VI_OK;
}

/* k = the first state whose cumulative probability exceeds u = Phi(eps). */
static int categorical_forward(const void *self, const double *lambda, const double *eps,
                               double *z, double *log_q, double *work, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    double u = 0.5 * erfc(-eps[0] / 1.4142135623730951), lse = vi_log_sum_exp(lambda, f->n);
    double cum = 0.0;
    size_t k;
    (void)work;
    (void)err;
    for (k = 0; k + 1 < f->n; ++k) {
        cum += exp(lambda[k] - lse);
        if (u < cum)
            break;
    }
    z[0] = (double)k;
    if (log_q != NULL)
        *log_q = lambda[k] - lse;
    return VI_OK;
}

/* z is piecewise constant in lambda: J = 0 wherever it exists. */
static int categorical_backward(const void *self, const double *lambda, const double *eps,
                                const double *dz, double *dlambda, double *work,
                                vi_error *err)
{
    (void)self;
    (void)lambda;
    (void)eps;
    (void)dz;
    (void)dlambda;
    (void)work;
    (void)err;
    return VI_OK;
}

/* H = -sum pi log pi;  dH/dalpha_j = -pi_j (log pi_j + H). */
static int categorical_entropy(const void *self, const double *lambda, double *h,
                               double *dlambda, double *work, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    double lse = vi_log_sum_exp(lambda, f->n), sum = 0.0;
    size_t k;
    (void)work;
    (void)err;
    for (k = 0; k < f->n; ++k)
        sum -= exp(lambda[k] - lse) * (lambda[k] - lse);
    *h = sum;
    if (dlambda != NULL)
        for (k = 0; k < f->n; ++k)
            dlambda[k] -= exp(lambda[k] - lse) * (lambda[k] - lse + sum);
    return VI_OK;
}

/* d log pi_k / d alpha = e_k - pi (zero off the states, where log q is
 * -inf whatever alpha is). */
static int categorical_log_q_grad_lambda(const void *self, const double *lambda,
                                         const double *z, double *lq, double *dlambda,
                                         double *work, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    size_t k = state_of(f, z[0]), j;
    double lse = vi_log_sum_exp(lambda, f->n);
    (void)work;
    (void)err;
    for (j = 0; j < f->n; ++j)
        dlambda[j] = k < f->n ? (j == k) - exp(lambda[j] - lse) : 0.0;
    *lq = k < f->n ? lambda[k] - lse : -INFINITY;
    return VI_OK;
}

/* The mean and variance of the state index. */
static int categorical_moments(const void *self, const double *lambda, double *mean,
                               double *cov, double *work, vi_error *err)
{
    const categorical_family *f = (const categorical_family *)self;
    double lse = vi_log_sum_exp(lambda, f->n), m = 0.0, m2 = 0.0;
    size_t k;
    (void)work;
    (void)err;
    for (k = 0; k < f->n; ++k) {
        double p = exp(lambda[k] - lse);
        m += p * (double)k;
        m2 += p * (double)k * (double)k;
    }
    if (mean != NULL)
        mean[0] = m;
    if (cov != NULL)
        cov[0] = m2 - m * m;
    return VI_OK;
}

static const void *categorical_get_extension(const void *self, const char *id)
{
    const categorical_family *f = (const categorical_family *)self;
    return strcmp(id, VI_FAMILY_FINITE_ID) == 0 ? &f->finite : NULL;
}

static const vi_family_desc categorical_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "categorical",
    .summary = "categorical distribution over the states 0..n-1 of a finite target "
               "(softmax logits; score-function gradient)",
    .flags = 0,
    .options = categorical_options,
    .create = categorical_create,
    .destroy = categorical_destroy,
    .n_params = categorical_n_params,
    .base_dim = categorical_base_dim,
    .param_name = categorical_param_name,
    .workspace_size = NULL,
    .init = categorical_init,
    .sample_base = NULL, /* one standard normal: the host draws it */
    .forward = categorical_forward,
    .backward = categorical_backward,
    .entropy = categorical_entropy,
    .log_q = categorical_log_q,
    .get_extension = categorical_get_extension,
    .log_q_grad_z = NULL, /* z is discrete */
    .log_q_grad_lambda = categorical_log_q_grad_lambda,
    .moments = categorical_moments};

static const vi_component_head *const categorical_components[] = {
    VI_COMPONENT(categorical_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "categorical",
    .version = "0.1.0",
    .description = "the categorical variational family over a finite set of states",
    .init = NULL,
    .deinit = NULL,
    .components = categorical_components};
