/*
 * funnel.c — Neal's funnel, a stress target:
 *     v ~ N(0, scale^2),   x_k ~ N(0, exp(v)),   k = 1..D-1,
 * over (v, x[1..D-1]).  The scale of x changes by orders of magnitude
 * along v, so no single Gaussian fits it: Gaussian VI shrinks into the
 * neck or the mouth and underestimates the spread of v.  Normalized, so
 * log Z = 0 is exact.  Marginally v ~ N(0, scale^2): its true mean 0 and
 * sd `scale` are what a fit should report.
 */
#include <math.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

typedef struct funnel_target {
    size_t dim;       /* D: v and D - 1 values of x */
    double scale;     /* sd of v */
    tu_names names;
} funnel_target;

static const vi_option funnel_options[] = {
    {sizeof(vi_option), "dim", VI_OPTION_INT, 0, "10", 2.0, 100000.0,
     "dimension D: v and D - 1 values x[k]"},
    {sizeof(vi_option), "scale", VI_OPTION_DOUBLE, 0, "3", 0.0, HUGE_VAL,
     "standard deviation of v (> 0); x[k] has sd exp(v / 2)"},
    VI_OPTION_END};

static void funnel_destroy(void *self)
{
    funnel_target *t = (funnel_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    free(t);
}

static int funnel_setup(const vi_host *host, const vi_config *config,
                        void *self, vi_error *err)
{
    funnel_target *t = (funnel_target *)self;
    int64_t dim = 10;
    size_t i;
    int status = vi_config_get_int_or(host, config, "dim", 10, &dim, err);
    if (status == VI_OK && dim < 2)
        status = vi_error_set(err, VI_EINVAL,
                              "option 'dim' must be >= 2, got %lld",
                              (long long)dim);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "scale", 3.0, &t->scale, err);
    if (status == VI_OK) {
        t->dim = (size_t)dim;
        status = tu_names_alloc(&t->names, t->dim, err);
    }
    if (status != VI_OK)
        return status;
    tu_name_set(&t->names, 0, "v");
    for (i = 1; i < t->dim; ++i)
        tu_name_index(&t->names, i, "x", i - 1);
    return VI_OK;
}

static int funnel_create(const vi_host *host, const vi_config *config,
                         void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(funnel_target), funnel_setup,
                     funnel_destroy, self, err);
}

static size_t funnel_dim(const void *self)
{
    return ((const funnel_target *)self)->dim;
}

static const char *funnel_param_name(const void *self, size_t i)
{
    return tu_name(&((const funnel_target *)self)->names, i);
}

/* log N(v | 0, scale^2) + sum_k log N(x_k | 0, exp(v)):
 *     d/dv   = -v / scale^2 + sum_k (x_k^2 exp(-v) - 1) / 2,
 *     d/dx_k = -x_k exp(-v). */
static int funnel_log_density(const void *self, const double *theta,
                              double *lp, double *grad, double *work,
                              vi_error *err)
{
    const funnel_target *t = (const funnel_target *)self;
    double v = theta[0], inv_var = exp(-v), d_v;
    double total = vi_normal_lpdf(v, 0.0, t->scale, &d_v, NULL, NULL);
    double n = (double)(t->dim - 1), ss = 0.0;
    size_t k;
    (void)work;
    for (k = 1; k < t->dim; ++k) {
        ss += theta[k] * theta[k];
        if (grad != NULL)
            grad[k] = -theta[k] * inv_var;
    }
    total += -0.5 * n * (VI_LOG_2PI + v) - 0.5 * ss * inv_var;
    if (grad != NULL)
        grad[0] = d_v + 0.5 * (ss * inv_var - n);
    *lp = total;
    return tu_nan_result(total, "is theta finite?", err);
}

static int funnel_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0; /* normalized */
    return VI_OK;
}

static const vi_target_desc funnel_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "funnel",
    .summary = "Neal's funnel v ~ N(0, scale^2), x_k ~ N(0, exp(v)), "
               "normalized (a stress target)",
    .flags = 0,
    .options = funnel_options,
    .create = funnel_create,
    .destroy = funnel_destroy,
    .dim = funnel_dim,
    .param_name = funnel_param_name,
    .workspace_size = NULL,
    .log_density = funnel_log_density,
    .log_evidence = funnel_log_evidence};

static const vi_component_head *const funnel_components[] = {
    VI_COMPONENT(funnel_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "funnel",
    .version = "0.1.0",
    .description = "Neal's funnel (a stress target with exact log evidence)",
    .init = NULL,
    .deinit = NULL,
    .components = funnel_components};
