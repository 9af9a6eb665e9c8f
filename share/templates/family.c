/*
 * vitemplate.c — a vihost variational family plugin, written by
 * `vihost new family`.
 *
 * The family, a starting point to replace with your own: a Gaussian with
 * diagonal covariance,
 *     z = mu + exp(omega) * eps,   eps ~ N(0, I),
 * with lambda = (mu[1..dim], omega[1..dim]) unconstrained.
 *
 * The loop:
 *     make                          builds vitemplate.so
 *     vihost check ./vitemplate.so  backward, entropy, moments vs finite
 *                                   differences and Monte Carlo, threads, ...
 *     vihost run vitemplate.yaml    fits a test target with it
 * Every member of the descriptor below is filled in or set to NULL with a
 * note on when to provide it; plugin.h has the full contract and
 * share/doc/plugins.md (or `man vihost-plugins`) the guide.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define NAME_SIZE 32

typedef struct vitemplate_family {
    size_t dim;
    double init_log_sd;    /* the starting omega */
    char (*names)[NAME_SIZE]; /* 2 dim parameter names, made once by create */
} vitemplate_family;

static const vi_option vitemplate_options[] = {
    /* struct_size, key, type, required, default, min, max, doc */
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -20.0, 20.0,
     "starting log standard deviation of every coordinate"},
    VI_OPTION_END};

/* [instance-serial] An instance for targets of dimension dim. */
static int vitemplate_create(const vi_host *host, const vi_config *config, size_t dim,
                             void **self, vi_error *err)
{
    vitemplate_family *f;
    size_t i;
    double init_log_sd;
    int status = vi_config_get_double_or(host, config, "init_log_sd", 0.0, &init_log_sd, err);
    *self = NULL;
    if (status != VI_OK)
        return status;
    if (dim == 0)
        return vi_error_set(err, VI_EINVAL, "the target has dimension 0");
    f = (vitemplate_family *)malloc(sizeof *f);
    if (f == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    f->names = malloc(2 * dim * sizeof *f->names);
    if (f->names == NULL) {
        free(f);
        return vi_error_set(err, VI_ENOMEM, "out of memory for %lu names",
                            (unsigned long)(2 * dim));
    }
    for (i = 0; i < dim; ++i) {
        vi_index_name(f->names[i], NAME_SIZE, "mu", i);
        vi_index_name(f->names[dim + i], NAME_SIZE, "omega", i);
    }
    f->dim = dim;
    f->init_log_sd = init_log_sd;
    *self = f;
    return VI_OK;
}

/* [instance-serial] NULL is a no-op. */
static void vitemplate_destroy(void *self)
{
    vitemplate_family *f = (vitemplate_family *)self;
    if (f != NULL)
        free(f->names);
    free(f);
}

/* [any-thread] The length of lambda, and of eps. */
static size_t vitemplate_n_params(const void *self)
{
    return 2 * ((const vitemplate_family *)self)->dim;
}

static size_t vitemplate_base_dim(const void *self)
{
    return ((const vitemplate_family *)self)->dim;
}

/* [any-thread] "mu[1]", ..., "omega[1]", ...: live as long as the instance. */
static const char *vitemplate_param_name(const void *self, size_t i)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    return i < 2 * f->dim ? f->names[i] : NULL;
}

/* [any-thread] The starting point: mu = 0, omega = init_log_sd. */
static int vitemplate_init(const void *self, double *lambda, vi_error *err)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    size_t i;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        lambda[i] = 0.0;
        lambda[f->dim + i] = f->init_log_sd;
    }
    return VI_OK;
}

/* [any-thread] z = mu + exp(omega) eps; log q(z) when asked. */
static int vitemplate_forward(const void *self, const double *lambda, const double *eps,
                              double *z, double *log_q, double *work, vi_error *err)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    const double *omega = lambda + f->dim;
    double lq = 0.0;
    size_t i;
    (void)work;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        z[i] = lambda[i] + exp(omega[i]) * eps[i];
        lq += -0.5 * eps[i] * eps[i] - omega[i] - 0.5 * VI_LOG_2PI;
    }
    if (log_q != NULL)
        *log_q = lq;
    return VI_OK;
}

/* [any-thread] Adds J^T dz into dlambda: dz_i/dmu_i = 1 and
 * dz_i/domega_i = exp(omega_i) eps_i.  Adds, never overwrites. */
static int vitemplate_backward(const void *self, const double *lambda, const double *eps,
                               const double *dz, double *dlambda, double *work,
                               vi_error *err)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    size_t i;
    (void)work;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        dlambda[i] += dz[i];
        dlambda[f->dim + i] += dz[i] * exp(lambda[f->dim + i]) * eps[i];
    }
    return VI_OK;
}

/* [any-thread] H = sum_i omega_i + dim/2 (1 + log 2 pi); dH/domega_i = 1,
 * added into dlambda when it is not NULL. */
static int vitemplate_entropy(const void *self, const double *lambda, double *h,
                              double *dlambda, double *work, vi_error *err)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    size_t i;
    (void)work;
    (void)err;
    *h = 0.5 * (double)f->dim * (1.0 + VI_LOG_2PI);
    for (i = 0; i < f->dim; ++i) {
        *h += lambda[f->dim + i];
        if (dlambda != NULL)
            dlambda[f->dim + i] += 1.0;
    }
    return VI_OK;
}

/* log q(z), and its gradients in z and lambda when asked (overwritten). */
static double vitemplate_lq(const vitemplate_family *f, const double *lambda,
                            const double *z, double *dz, double *dlambda)
{
    double lq = 0.0;
    size_t i;
    for (i = 0; i < f->dim; ++i) {
        double omega = lambda[f->dim + i], u = (z[i] - lambda[i]) * exp(-omega);
        lq += -0.5 * u * u - omega - 0.5 * VI_LOG_2PI;
        if (dz != NULL)
            dz[i] = -u * exp(-omega);
        if (dlambda != NULL) {
            dlambda[i] = u * exp(-omega);
            dlambda[f->dim + i] = u * u - 1.0;
        }
    }
    return lq;
}

/* [any-thread] *lq = log q_lambda(z).  A NaN z is an error, not a density. */
static int vitemplate_log_q(const void *self, const double *lambda, const double *z,
                            double *lq, double *work, vi_error *err)
{
    (void)work;
    *lq = vitemplate_lq((const vitemplate_family *)self, lambda, z, NULL, NULL);
    return isnan(*lq) ? vi_error_set(err, VI_EDOMAIN, "log q is NaN (a NaN in z?)") : VI_OK;
}

/* [any-thread] log q and its gradient in z: for the path-derivative (STL)
 * estimator. */
static int vitemplate_log_q_grad_z(const void *self, const double *lambda, const double *z,
                                   double *lq, double *dz, double *work, vi_error *err)
{
    (void)work;
    *lq = vitemplate_lq((const vitemplate_family *)self, lambda, z, dz, NULL);
    return isnan(*lq) ? vi_error_set(err, VI_EDOMAIN, "log q is NaN (a NaN in z?)") : VI_OK;
}

/* [any-thread] log q and its gradient in lambda at fixed z: for the
 * score-function estimator. */
static int vitemplate_log_q_grad_lambda(const void *self, const double *lambda,
                                        const double *z, double *lq, double *dlambda,
                                        double *work, vi_error *err)
{
    (void)work;
    *lq = vitemplate_lq((const vitemplate_family *)self, lambda, z, NULL, dlambda);
    return isnan(*lq) ? vi_error_set(err, VI_EDOMAIN, "log q is NaN (a NaN in z?)") : VI_OK;
}

/* [any-thread] The exact mean and covariance (diagonal); either pointer
 * may be NULL. */
static int vitemplate_moments(const void *self, const double *lambda, double *mean,
                              double *cov, double *work, vi_error *err)
{
    const vitemplate_family *f = (const vitemplate_family *)self;
    size_t i, j;
    (void)work;
    (void)err;
    for (i = 0; i < f->dim; ++i) {
        if (mean != NULL)
            mean[i] = lambda[i];
        for (j = 0; cov != NULL && j < f->dim; ++j)
            cov[i * f->dim + j] = i == j ? exp(2.0 * lambda[f->dim + i]) : 0.0;
    }
    return VI_OK;
}

static const vi_family_desc vitemplate_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "vitemplate", /* unique among all loaded components */
    .summary = "diagonal Gaussian (a vihost new template)",
    .flags = 0, /* VI_FLAG_SERIAL if the [any-thread] members are not thread-safe */
    .options = vitemplate_options,
    .create = vitemplate_create,
    .destroy = vitemplate_destroy,
    .n_params = vitemplate_n_params,
    .base_dim = vitemplate_base_dim,
    .param_name = vitemplate_param_name,
    /* Return a count of doubles when forward, backward, ... need scratch. */
    .workspace_size = NULL,
    .init = vitemplate_init,
    /* NULL: eps is i.i.d. standard normal and the host draws it (which is
     * also how quasi-random and antithetic draws reach the family).  Give
     * a function when the base noise is anything else. */
    .sample_base = NULL,
    .forward = vitemplate_forward,
    .backward = vitemplate_backward,
    .entropy = vitemplate_entropy, /* NULL when there is no closed form */
    .log_q = vitemplate_log_q,
    .get_extension = NULL, /* capabilities beyond 1.0, by id */
    .log_q_grad_z = vitemplate_log_q_grad_z,
    .log_q_grad_lambda = vitemplate_log_q_grad_lambda,
    .moments = vitemplate_moments};

static const vi_component_head *const vitemplate_components[] = {
    VI_COMPONENT(vitemplate_desc), NULL};

/* The one exported symbol. */
VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "vitemplate",
    .version = "0.1.0",
    .description = "the vitemplate family",
    .init = NULL,
    .deinit = NULL,
    .components = vitemplate_components};
