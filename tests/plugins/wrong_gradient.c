/* A target whose gradient is wrong in one coordinate: log p = -|x|^2 / 2
 * over R^3, but the gradient's second coordinate is -2 x[2] instead of
 * -x[2].  `vihost check` must fail it, naming coordinate 2. */
#include <math.h>
#include <stdlib.h>
#include <vihost/plugin.h>

static int wg_create(const vi_host *host, const vi_config *config, void **self, vi_error *err)
{
    (void)host;
    (void)config;
    (void)err;
    *self = malloc(1);
    return *self ? VI_OK : VI_ENOMEM;
}

static void wg_destroy(void *self) { free(self); }
static size_t wg_dim(const void *self) { (void)self; return 3; }

static const char *wg_param_name(const void *self, size_t i)
{
    static const char *const names[3] = {"x[1]", "x[2]", "x[3]"};
    (void)self;
    return i < 3 ? names[i] : NULL;
}

static int wg_log_density(const void *self, const double *theta, double *lp, double *grad,
                          double *work, vi_error *err)
{
    (void)self;
    (void)work;
    (void)err;
    *lp = -0.5 * (theta[0] * theta[0] + theta[1] * theta[1] + theta[2] * theta[2]);
    if (grad != NULL) {
        grad[0] = -theta[0];
        grad[1] = -2.0 * theta[1]; /* the deliberate mistake */
        grad[2] = -theta[2];
    }
    return VI_OK;
}

static const vi_target_desc wg_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "wrong_gradient", .summary = "test: a wrong gradient in coordinate 2",
    .flags = VI_FLAG_TEST, .create = wg_create, .destroy = wg_destroy, .dim = wg_dim,
    .param_name = wg_param_name, .log_density = wg_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&wg_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "wrong_gradient", .version = "0.0.1", .description = "test: a wrong gradient",
    .components = components,
};
