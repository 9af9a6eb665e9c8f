/* A target without a gradient (VI_FLAG_NO_GRADIENT): a normalized
 * Gaussian with independent coordinates, mean (1, -2) and standard
 * deviations (0.5, 2), so log Z = 0 and a mean-field fit is exact.  The
 * host differentiates it by finite differences. */
#include <math.h>
#include <stdlib.h>
#include <vihost/plugin.h>
#include <vihost/sdk.h>

static const double mean[2] = {1.0, -2.0}, sd[2] = {0.5, 2.0};

static int ng_create(const vi_host *host, const vi_config *config, void **self, vi_error *err)
{
    (void)host;
    (void)config;
    (void)err;
    *self = malloc(1);
    return *self ? VI_OK : VI_ENOMEM;
}

static void ng_destroy(void *self) { free(self); }
static size_t ng_dim(const void *self) { (void)self; return 2; }

static const char *ng_param_name(const void *self, size_t i)
{
    static const char *const names[2] = {"a", "b"};
    (void)self;
    return i < 2 ? names[i] : NULL;
}

/* Never writes grad. */
static int ng_log_density(const void *self, const double *theta, double *lp, double *grad,
                          double *work, vi_error *err)
{
    (void)self;
    (void)grad;
    (void)work;
    *lp = 0.0;
    for (int i = 0; i < 2; i++) {
        double z = (theta[i] - mean[i]) / sd[i];
        *lp += -0.5 * z * z - log(sd[i]) - 0.9189385332046727418;
    }
    return isnan(*lp) ? vi_error_set(err, VI_ENUMERIC, "NaN at (%g, %g)", theta[0], theta[1])
                      : VI_OK;
}

static int ng_log_evidence(const void *self, double *log_z, vi_error *err)
{
    (void)self;
    (void)err;
    *log_z = 0.0;
    return VI_OK;
}

static const vi_target_desc ng_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "nograd_target", .summary = "test: a log density without a gradient",
    .flags = VI_FLAG_TEST | VI_FLAG_NO_GRADIENT, .create = ng_create, .destroy = ng_destroy,
    .dim = ng_dim, .param_name = ng_param_name, .log_density = ng_log_density,
    .log_evidence = ng_log_evidence,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&ng_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "nograd_target", .version = "0.0.1", .description = "test: no gradient",
    .components = components,
};
