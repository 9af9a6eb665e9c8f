/*
 * vitemplate.c — a vihost target plugin, written by `vihost new target`.
 *
 * The model, a starting point to replace with your own:
 *     y_i ~ Normal(mu, sigma),  i = 1..N,
 *     mu ~ Normal(0, prior_scale),  sigma ~ HalfNormal(prior_scale).
 * vihost fits over unconstrained R^dim, so sigma is sampled as
 * log_sigma = log(sigma), and the log density includes the log Jacobian
 * log |d sigma / d log_sigma| = log_sigma.
 *
 * The loop:
 *     make                          builds vitemplate.so
 *     vihost check ./vitemplate.so  gradient vs finite differences, leaks, threads, ...
 *     vihost run vitemplate.yaml    fits it
 * Every member of the descriptor below is filled in or set to NULL with a
 * note on when to provide it; plugin.h has the full contract and
 * share/doc/plugins.md (or `man vihost-plugins`) the guide.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

/* The instance: everything create reads, checked, and nothing that
 * log_density writes (it runs on several threads at once). */
typedef struct vitemplate_target {
    const double *y;       /* the observations; owned by the host's config */
    size_t n;              /* how many */
    double prior_scale;    /* scale of the priors on mu and sigma */
} vitemplate_target;

/* The options a run file may give under target.options.  A target reads
 * a key from the run file's options first, then from its data file, then
 * from the default here. */
static const vi_option vitemplate_options[] = {
    /* struct_size, key, type, required, default, min, max, doc */
    {sizeof(vi_option), "y", VI_OPTION_ARRAY, 0,
     "[1.3, 0.2, 2.9, 1.8, 0.6, 2.1, 1.1, 1.6]", -HUGE_VAL, HUGE_VAL,
     "the observations (a vector); the data file's variable 'y' replaces this example"},
    {sizeof(vi_option), "prior_scale", VI_OPTION_DOUBLE, 0, "10", 0.0, HUGE_VAL,
     "scale of the normal prior on mu and the half-normal prior on sigma (> 0)"},
    VI_OPTION_END};

/* [instance-serial] Reads and checks the configuration; after it,
 * log_density cannot fail. */
static int vitemplate_create(const vi_host *host, const vi_config *config, void **self,
                             vi_error *err)
{
    vitemplate_target *t;
    const double *y;
    size_t shape[VI_MAX_RANK], ndim, i;
    double scale;
    int status;
    *self = NULL;
    status = vi_config_get_array_required(host, config, "y", &y, shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim != 1 || shape[0] == 0)
        return vi_error_set(err, VI_ETYPE, "'y' must be a non-empty vector");
    for (i = 0; i < shape[0]; ++i)
        if (!isfinite(y[i]))
            return vi_error_set(err, VI_EINVAL, "'y' has a non-finite value at y[%lu]",
                                (unsigned long)i + 1UL);
    status = vi_config_get_double_or(host, config, "prior_scale", 10.0, &scale, err);
    if (status != VI_OK)
        return status;
    if (!(scale > 0.0) || !isfinite(scale))
        return vi_error_set(err, VI_EINVAL, "option 'prior_scale' must be > 0, got %g",
                            scale);
    t = (vitemplate_target *)malloc(sizeof *t);
    if (t == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    t->y = y; /* the config outlives the instance: no copy needed */
    t->n = shape[0];
    t->prior_scale = scale;
    *self = t;
    return VI_OK;
}

/* [instance-serial] Frees everything create allocated; NULL is a no-op. */
static void vitemplate_destroy(void *self)
{
    free(self);
}

/* [any-thread] The number of unconstrained parameters: mu, log_sigma. */
static size_t vitemplate_dim(const void *self)
{
    (void)self;
    return 2;
}

/* [any-thread] Names of the unconstrained coordinates. */
static const char *vitemplate_param_name(const void *self, size_t i)
{
    static const char *const names[] = {"mu", "log_sigma"};
    (void)self;
    return i < 2 ? names[i] : NULL;
}

/* The log density over the items idx[0..n) (all N when idx is NULL), the
 * likelihood scaled by `scale`, and its gradient when grad is not NULL.
 * Shared by log_density and log_density_subset. */
static void vitemplate_eval(const vitemplate_target *t, const double *theta,
                            const size_t *idx, size_t n, double scale, double *lp,
                            double *grad)
{
    double mu = theta[0], log_jacobian, d_mu, d_sigma, ll = 0.0, g_mu = 0.0, g_sigma = 0.0;
    double sigma = vi_exp_transform(theta[1], &log_jacobian);
    size_t k;
    for (k = 0; k < n; ++k) {
        double y = t->y[idx != NULL ? idx[k] : k];
        ll += vi_normal_lpdf(y, mu, sigma, NULL, &d_mu, &d_sigma);
        g_mu += d_mu;
        g_sigma += d_sigma;
    }
    *lp = scale * ll + vi_normal_lpdf(mu, 0.0, t->prior_scale, &d_mu, NULL, NULL);
    g_mu = scale * g_mu + d_mu;
    /* HalfNormal(sigma | s) = 2 Normal(sigma | 0, s) for sigma > 0. */
    *lp += log(2.0) + vi_normal_lpdf(sigma, 0.0, t->prior_scale, &d_sigma, NULL, NULL) +
           log_jacobian;
    g_sigma = scale * g_sigma + d_sigma;
    if (grad != NULL) {
        grad[0] = g_mu;
        /* Chain rule through sigma = exp(log_sigma), plus the Jacobian's 1. */
        grad[1] = g_sigma * sigma + 1.0;
    }
}

/* [any-thread] *lp = log p~(theta); the gradient into grad (overwritten)
 * when it is not NULL.  Reads *self only, allocates nothing. */
static int vitemplate_log_density(const void *self, const double *theta, double *lp,
                                  double *grad, double *work, vi_error *err)
{
    const vitemplate_target *t = (const vitemplate_target *)self;
    (void)work;
    vitemplate_eval(t, theta, NULL, t->n, 1.0, lp, grad);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC, "log density is NaN at mu = %g, log_sigma = %g",
                            theta[0], theta[1]);
    return VI_OK;
}

/* [any-thread] The natural-scale values written to summary.csv and
 * draws.csv: mu and sigma. */
static size_t vitemplate_constrained_dim(const void *self)
{
    (void)self;
    return 2;
}

static const char *vitemplate_constrained_name(const void *self, size_t i)
{
    static const char *const names[] = {"mu", "sigma"};
    (void)self;
    return i < 2 ? names[i] : NULL;
}

static int vitemplate_constrain(const void *self, const double *theta, double *out,
                                vi_error *err)
{
    (void)self;
    (void)err;
    out[0] = theta[0];
    out[1] = exp(theta[1]);
    return VI_OK;
}

/* [any-thread] Minibatches: the number of data items, and the log prior
 * plus `scale` times the log likelihood of items idx[0..n). */
static size_t vitemplate_n_items(const void *self)
{
    return ((const vitemplate_target *)self)->n;
}

static int vitemplate_log_density_subset(const void *self, const double *theta,
                                         const size_t *idx, size_t n, double scale,
                                         double *lp, double *grad, double *work,
                                         vi_error *err)
{
    const vitemplate_target *t = (const vitemplate_target *)self;
    size_t k;
    (void)work;
    for (k = 0; k < n; ++k)
        if (idx[k] >= t->n)
            return vi_error_set(err, VI_EINVAL, "item %lu is out of range (N = %lu)",
                                (unsigned long)idx[k], (unsigned long)t->n);
    vitemplate_eval(t, theta, idx, n, scale, lp, grad);
    return isnan(*lp) ? vi_error_set(err, VI_ENUMERIC, "log density is NaN") : VI_OK;
}

static const vi_target_desc vitemplate_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "vitemplate", /* unique among all loaded components */
    .summary = "normal model with unknown mean and sd (a vihost new template)",
    /* VI_FLAG_SERIAL if log_density is not thread-safe; VI_FLAG_NO_GRADIENT
     * if it computes no gradient (the host then uses finite differences). */
    .flags = 0,
    .options = vitemplate_options,
    .create = vitemplate_create,
    .destroy = vitemplate_destroy,
    .dim = vitemplate_dim,
    .param_name = vitemplate_param_name,
    /* Return a count of doubles here when log_density needs scratch space:
     * the host hands that much as `work` to every call. */
    .workspace_size = NULL,
    .log_density = vitemplate_log_density,
    /* For capabilities beyond 1.0, looked up by id; NULL: none. */
    .get_extension = NULL,
    .constrained_dim = vitemplate_constrained_dim,
    .constrained_name = vitemplate_constrained_name,
    .constrain = vitemplate_constrain,
    .n_items = vitemplate_n_items,
    .log_density_subset = vitemplate_log_density_subset,
    /* Only when log Z = log int p~ is known exactly (conjugate models):
     * result.json then reports it beside the ELBO. */
    .log_evidence = NULL};

static const vi_component_head *const vitemplate_components[] = {
    VI_COMPONENT(vitemplate_desc), NULL};

/* The one exported symbol. */
VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "vitemplate",
    .version = "0.1.0",
    .description = "the vitemplate target",
    .init = NULL,   /* load-time set-up, if any */
    .deinit = NULL,
    .components = vitemplate_components};
