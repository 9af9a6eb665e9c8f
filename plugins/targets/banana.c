/*
 * banana.c — the twisted Gaussian ("banana") of Haario, Saksman and
 * Tamminen (1999), normalized:
 *     x1 ~ N(0, scale^2),
 *     x2 | x1 ~ N(curvature (x1^2 - scale^2), 1),
 *     x3, ..., xD ~ N(0, 1).
 * The map (x1, x2) -> (x1, x2 - curvature (x1^2 - scale^2)) has unit
 * Jacobian, so log Z = 0 for every option.  curvature 0 is a Gaussian; the
 * larger curvature * scale^2, the more bent the crescent, and the further a
 * Gaussian approximation falls below log Z.  Haario's classic is scale 10,
 * curvature 0.1.
 *     log p(x) = -0.5 (x1/scale)^2 - 0.5 r^2 - 0.5 sum_{i>2} x_i^2
 *                - log scale - D/2 log 2 pi,   r = x2 - curvature (x1^2 - scale^2),
 *     d/dx1 = -x1/scale^2 + 2 curvature x1 r,  d/dx2 = -r,  d/dx_i = -x_i.
 * Its exact moments (vi.target.moments/1, the reference of comparison
 * runs): mean 0, and a diagonal covariance (scale^2, 1 + 2 curvature^2
 * scale^4, 1, ..., 1), since E[x2] = curvature E[x1^2 - scale^2] = 0 and
 * cov(x1, x2) = curvature E[x1^3] = 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#define BANANA_MAX_DIM 4096

typedef struct banana_target {
    size_t dim;
    double scale;
    double curvature;
    tu_names names;
} banana_target;

static const vi_option banana_options[] = {
    {sizeof(vi_option), "dim", VI_OPTION_INT, 0, "2", 2.0, (double)BANANA_MAX_DIM,
     "dimension D (>= 2; coordinates past the second are standard normal)"},
    {sizeof(vi_option), "scale", VI_OPTION_DOUBLE, 0, "1", 0.0, HUGE_VAL,
     "standard deviation of x1 (> 0)"},
    {sizeof(vi_option), "curvature", VI_OPTION_DOUBLE, 0, "1", -HUGE_VAL, HUGE_VAL,
     "bend b of x2's mean b (x1^2 - scale^2); 0 gives a Gaussian"},
    VI_OPTION_END};

static void banana_destroy(void *self)
{
    banana_target *t = (banana_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    free(t);
}

static int banana_setup(const vi_host *host, const vi_config *config, void *self,
                        vi_error *err)
{
    banana_target *t = (banana_target *)self;
    int64_t dim;
    size_t i;
    int status = tu_read_int_in(host, config, "dim", 2, 2, BANANA_MAX_DIM, &dim, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "scale", 1.0, &t->scale, err);
    if (status == VI_OK)
        status = tu_read_finite(host, config, "curvature", 1.0, &t->curvature, err);
    if (status == VI_OK) {
        t->dim = (size_t)dim;
        status = tu_names_alloc(&t->names, t->dim, err);
    }
    for (i = 0; status == VI_OK && i < t->dim; ++i)
        tu_name_index(&t->names, i, "x", i);
    return status;
}

static int banana_create(const vi_host *host, const vi_config *config, void **self,
                         vi_error *err)
{
    return tu_create(host, config, sizeof(banana_target), banana_setup, banana_destroy, self,
                     err);
}

static size_t banana_dim(const void *self)
{
    return ((const banana_target *)self)->dim;
}

static const char *banana_param_name(const void *self, size_t i)
{
    return tu_name(&((const banana_target *)self)->names, i);
}

static int banana_log_density(const void *self, const double *theta, double *lp, double *grad,
                              double *work, vi_error *err)
{
    const banana_target *t = (const banana_target *)self;
    double s2 = t->scale * t->scale, x1 = theta[0];
    double r = theta[1] - t->curvature * (x1 * x1 - s2);
    double sum = -0.5 * x1 * x1 / s2 - 0.5 * r * r;
    size_t i;
    (void)work;
    for (i = 2; i < t->dim; ++i)
        sum -= 0.5 * theta[i] * theta[i];
    *lp = sum - log(t->scale) - 0.5 * (double)t->dim * VI_LOG_2PI;
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC, "log density is NaN (is theta finite?)");
    if (grad != NULL) {
        grad[0] = -x1 / s2 + 2.0 * t->curvature * x1 * r;
        grad[1] = -r;
        for (i = 2; i < t->dim; ++i)
            grad[i] = -theta[i];
    }
    return VI_OK;
}

static int banana_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0; /* normalized: the twist has unit Jacobian */
    return VI_OK;
}

static int banana_moments(const void *self, double *mean, double *cov, vi_error *err)
{
    const banana_target *t = (const banana_target *)self;
    double s2 = t->scale * t->scale;
    size_t i;
    (void)err;
    for (i = 0; mean != NULL && i < t->dim; ++i)
        mean[i] = 0.0;
    if (cov != NULL) {
        memset(cov, 0, t->dim * t->dim * sizeof *cov);
        for (i = 0; i < t->dim; ++i)
            cov[i * t->dim + i] = 1.0;
        cov[0] = s2;
        cov[t->dim + 1] = 1.0 + 2.0 * t->curvature * t->curvature * s2 * s2;
    }
    return VI_OK;
}

static const vi_target_moments banana_moments_ext = {sizeof(vi_target_moments),
                                                     banana_moments};

static const void *banana_get_extension(const void *self, const char *id)
{
    (void)self;
    return strcmp(id, VI_TARGET_MOMENTS_ID) == 0 ? &banana_moments_ext : NULL;
}

static const vi_target_desc banana_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "banana",
    .summary = "twisted Gaussian (Haario's banana) with a curvature option, normalized "
               "(log Z = 0)",
    .flags = 0,
    .options = banana_options,
    .create = banana_create,
    .destroy = banana_destroy,
    .dim = banana_dim,
    .param_name = banana_param_name,
    .workspace_size = NULL,
    .log_density = banana_log_density,
    .get_extension = banana_get_extension,
    .log_evidence = banana_log_evidence};

static const vi_component_head *const banana_components[] = {
    VI_COMPONENT(banana_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "banana",
    .version = "0.1.0",
    .description = "the banana (twisted Gaussian) target, normalized",
    .init = NULL,
    .deinit = NULL,
    .components = banana_components};
