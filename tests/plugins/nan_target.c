/* A target whose log density is NaN everywhere: redrawing cannot help, so
 * the host must stop the run with exit 4, naming the component and the
 * point.  (A target that is NaN on part of its domain only is nan_region:
 * its runs finish.) */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static int nan_log_density(const void *self, const double *theta, double *lp,
                           double *grad, double *work, vi_error *err)
{
    int status = stdnormal_log_density(self, theta, lp, grad, work, err);
    (void)theta;
    *lp = NAN;
    return status;
}

static const vi_target_desc nan_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "nan_target", .summary = "NaN everywhere", .flags = VI_FLAG_TEST,
    .create = stdnormal_create, .destroy = stdnormal_destroy, .dim = stdnormal_dim,
    .param_name = stdnormal_param_name, .log_density = nan_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&nan_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "nan_target", .version = "0.0.1", .description = "test: NaN log density",
    .components = components,
};
