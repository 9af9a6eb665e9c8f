/* A standard normal target in 2 dimensions whose log density is NaN where
 * theta[1] > 1.5 (6.7% of its mass): a run must finish anyway, redrawing
 * the draws that land there and, when every redraw of a gradient estimate
 * fails, skipping the step and halving the step size. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static int nan_region_log_density(const void *self, const double *theta, double *lp,
                                  double *grad, double *work, vi_error *err)
{
    int status = stdnormal_log_density(self, theta, lp, grad, work, err);
    if (theta[0] > 1.5)
        *lp = NAN;
    return status;
}

static const vi_target_desc nan_region = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "nan_region", .summary = "standard normal, NaN for theta[1] > 1.5",
    .flags = VI_FLAG_TEST,
    .create = stdnormal_create, .destroy = stdnormal_destroy, .dim = stdnormal_dim,
    .param_name = stdnormal_param_name, .log_density = nan_region_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&nan_region, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "nan_region", .version = "0.0.1",
    .description = "test: NaN log density on part of the domain",
    .components = components,
};
