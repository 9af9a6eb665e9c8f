/* A target whose log_density keeps its point in a static buffer, so
 * concurrent calls overwrite each other's: not [any-thread] safe, and it
 * does not say VI_FLAG_SERIAL.  `vihost check` must catch it.  The sleep
 * between writing and reading the buffer lets other threads in on any
 * machine, one core or many. */
#define _DEFAULT_SOURCE
#include <unistd.h>
#include "stdnormal.h"

static double shared_point[STDNORMAL_DIM]; /* the mistake */

static int racy_log_density(const void *self, const double *theta, double *lp,
                            double *grad, double *work, vi_error *err)
{
    for (size_t i = 0; i < STDNORMAL_DIM; i++)
        shared_point[i] = theta[i];
    usleep(200);
    return stdnormal_log_density(self, shared_point, lp, grad, work, err);
}

static const vi_target_desc racy_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "racy_target", .summary = "test: shared state in log_density",
    .flags = VI_FLAG_TEST, .create = stdnormal_create, .destroy = stdnormal_destroy,
    .dim = stdnormal_dim, .param_name = stdnormal_param_name,
    .log_density = racy_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&racy_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "racy_target", .version = "0.0.1", .description = "test: not thread-safe",
    .components = components,
};
