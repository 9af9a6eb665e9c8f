/* A plugin compiled against the frozen ABI 1.0 header (tests/abi/
 * plugin-1.0.h), not the current one: a target, a family and an optimizer,
 * which must load, pass `vihost check` and fit together in the current
 * host.  The target is a normalized Gaussian with independent coordinates
 * (log Z = 0), so the diagonal family fits it exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin-1.0.h"

#define DIM 2
static const double target_mean[DIM] = {0.5, -1.0}, target_sd[DIM] = {1.0, 0.5};
static const double log_sqrt_2pi = 0.91893853320467274178;

static int set_error(vi_error *err, int code, const char *message)
{
    if (err != NULL) {
        err->code = code;
        strncpy(err->message, message, sizeof err->message - 1);
        err->message[sizeof err->message - 1] = '\0';
    }
    return code;
}

/* ---- target ---- */

static int t_create(const vi_host *host, const vi_config *config, void **self, vi_error *err)
{
    (void)host;
    (void)config;
    *self = malloc(1);
    return *self ? VI_OK : set_error(err, VI_ENOMEM, "out of memory");
}

static void t_destroy(void *self) { free(self); }
static size_t t_dim(const void *self) { (void)self; return DIM; }

static const char *t_name(const void *self, size_t i)
{
    static const char *const names[DIM] = {"u", "v"};
    (void)self;
    return i < DIM ? names[i] : NULL;
}

static int t_log_density(const void *self, const double *theta, double *lp, double *grad,
                         double *work, vi_error *err)
{
    (void)self;
    (void)work;
    *lp = 0.0;
    for (size_t i = 0; i < DIM; i++) {
        double z = (theta[i] - target_mean[i]) / target_sd[i];
        *lp += -0.5 * z * z - log(target_sd[i]) - log_sqrt_2pi;
        if (grad != NULL)
            grad[i] = -z / target_sd[i];
    }
    return isnan(*lp) ? set_error(err, VI_ENUMERIC, "log density is NaN") : VI_OK;
}

static int t_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0;
    return VI_OK;
}

static const vi_option t_options[] = {
    {sizeof(vi_option), "unused", VI_OPTION_DOUBLE, 0, "1", -HUGE_VAL, HUGE_VAL,
     "an option, to exercise the 1.0 option table"},
    {sizeof(vi_option), NULL, (vi_option_type)0, 0, NULL, 0.0, 0.0, NULL}};

static const vi_target_desc frozen_target = {
    sizeof(vi_target_desc), VI_KIND_TARGET, "frozen_target",
    "a Gaussian target built against the frozen 1.0 header", VI_FLAG_TEST, t_options,
    t_create, t_destroy, t_dim, t_name, NULL, t_log_density, NULL,
    NULL, NULL, NULL, NULL, NULL, t_log_evidence};

/* ---- family: z = mu + exp(omega) eps ---- */

static int f_create(const vi_host *host, const vi_config *config, size_t dim, void **self,
                    vi_error *err)
{
    size_t *d = malloc(sizeof *d);
    (void)host;
    (void)config;
    *self = d;
    if (d == NULL)
        return set_error(err, VI_ENOMEM, "out of memory");
    *d = dim;
    return VI_OK;
}

static void f_destroy(void *self) { free(self); }
static size_t f_n_params(const void *self) { return 2 * *(const size_t *)self; }
static size_t f_base_dim(const void *self) { return *(const size_t *)self; }

static const char *f_name(const void *self, size_t i)
{
    return i < f_n_params(self) ? (i < f_base_dim(self) ? "mu" : "omega") : NULL;
}

static int f_init(const void *self, double *lambda, vi_error *err)
{
    (void)err;
    memset(lambda, 0, f_n_params(self) * sizeof *lambda);
    return VI_OK;
}

static int f_forward(const void *self, const double *lambda, const double *eps, double *z,
                     double *log_q, double *work, vi_error *err)
{
    size_t d = f_base_dim(self);
    double lq = 0.0;
    (void)work;
    (void)err;
    for (size_t i = 0; i < d; i++) {
        z[i] = lambda[i] + exp(lambda[d + i]) * eps[i];
        lq += -0.5 * eps[i] * eps[i] - lambda[d + i] - log_sqrt_2pi;
    }
    if (log_q != NULL)
        *log_q = lq;
    return VI_OK;
}

static int f_backward(const void *self, const double *lambda, const double *eps,
                      const double *dz, double *dlambda, double *work, vi_error *err)
{
    size_t d = f_base_dim(self);
    (void)work;
    (void)err;
    for (size_t i = 0; i < d; i++) {
        dlambda[i] += dz[i];
        dlambda[d + i] += dz[i] * exp(lambda[d + i]) * eps[i];
    }
    return VI_OK;
}

static int f_entropy(const void *self, const double *lambda, double *h, double *dlambda,
                     double *work, vi_error *err)
{
    size_t d = f_base_dim(self);
    (void)work;
    (void)err;
    *h = (double)d * (0.5 + log_sqrt_2pi);
    for (size_t i = 0; i < d; i++) {
        *h += lambda[d + i];
        if (dlambda != NULL)
            dlambda[d + i] += 1.0;
    }
    return VI_OK;
}

static int f_log_q(const void *self, const double *lambda, const double *z, double *lq,
                   double *work, vi_error *err)
{
    size_t d = f_base_dim(self);
    (void)work;
    *lq = 0.0;
    for (size_t i = 0; i < d; i++) {
        double u = (z[i] - lambda[i]) * exp(-lambda[d + i]);
        *lq += -0.5 * u * u - lambda[d + i] - log_sqrt_2pi;
    }
    return isnan(*lq) ? set_error(err, VI_EDOMAIN, "log q is NaN") : VI_OK;
}

static const vi_family_desc frozen_family = {
    sizeof(vi_family_desc), VI_KIND_FAMILY, "frozen_family",
    "a diagonal Gaussian built against the frozen 1.0 header", VI_FLAG_TEST, NULL,
    f_create, f_destroy, f_n_params, f_base_dim, f_name, NULL, f_init, NULL, f_forward,
    f_backward, f_entropy, f_log_q, NULL, NULL, NULL, NULL};

/* ---- optimizer: lambda += rate / (1 + t / 100) grad ---- */

static int o_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                    vi_error *err)
{
    size_t *p = malloc(sizeof *p);
    (void)host;
    (void)config;
    *self = p;
    if (p == NULL)
        return set_error(err, VI_ENOMEM, "out of memory");
    *p = n;
    return VI_OK;
}

static void o_destroy(void *self) { free(self); }

static int o_step(void *self, double *lambda, const double *grad, const vi_step_info *info,
                  vi_error *err)
{
    size_t n = *(const size_t *)self;
    double rate = 0.05 / (1.0 + (double)info->iteration / 100.0);
    (void)err;
    for (size_t i = 0; i < n; i++)
        lambda[i] += rate * grad[i];
    return VI_OK;
}

static const vi_optimizer_desc frozen_sgd = {
    sizeof(vi_optimizer_desc), VI_KIND_OPTIMIZER, "frozen_sgd",
    "decaying gradient ascent built against the frozen 1.0 header", VI_FLAG_TEST, NULL,
    o_create, o_destroy, o_step, NULL, NULL, NULL, NULL, NULL, NULL};

static const vi_component_head *const components[] = {
    (const vi_component_head *)&frozen_target, (const vi_component_head *)&frozen_family,
    (const vi_component_head *)&frozen_sgd, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    sizeof(vi_plugin), {VI_ABI_MAJOR, VI_ABI_MINOR, 0}, "abi_frozen", "1.0.0",
    "test: built against the frozen ABI 1.0 header", NULL, NULL, components};
