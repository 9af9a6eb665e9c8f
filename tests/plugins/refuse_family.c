/* A family whose create always refuses: in a comparison run its row says
 * why and the other families are fitted all the same. */
#include <vihost/plugin.h>
#include <vihost/sdk.h>

static int refuse_create(const vi_host *host, const vi_config *config, size_t dim,
                         void **self, vi_error *err)
{
    (void)host;
    (void)config;
    *self = NULL;
    return vi_error_set(err, VI_EINVAL, "refuses every target on purpose (dimension %lu)",
                        (unsigned long)dim);
}

static void refuse_destroy(void *self) { (void)self; }
static size_t refuse_size(const void *self) { (void)self; return 1; }

static int refuse_init(const void *self, double *lambda, vi_error *err)
{
    (void)self;
    (void)err;
    lambda[0] = 0.0;
    return VI_OK;
}

static int refuse_forward(const void *self, const double *lambda, const double *eps,
                          double *z, double *log_q, double *work, vi_error *err)
{
    (void)self, (void)lambda, (void)eps, (void)z, (void)log_q, (void)work;
    return vi_error_set(err, VI_EINTERNAL, "never created");
}

static int refuse_backward(const void *self, const double *lambda, const double *eps,
                           const double *dz, double *dlambda, double *work, vi_error *err)
{
    (void)self, (void)lambda, (void)eps, (void)dz, (void)dlambda, (void)work;
    return vi_error_set(err, VI_EINTERNAL, "never created");
}

static int refuse_log_q(const void *self, const double *lambda, const double *z, double *lq,
                        double *work, vi_error *err)
{
    (void)self, (void)lambda, (void)z, (void)lq, (void)work;
    return vi_error_set(err, VI_EINTERNAL, "never created");
}

static const char *refuse_param_name(const void *self, size_t i)
{
    (void)self;
    return i == 0 ? "never" : NULL;
}

static const vi_family_desc refuse_family = {
    .struct_size = sizeof(vi_family_desc), .kind = VI_KIND_FAMILY,
    .name = "refuse_family", .summary = "test: refuses in create", .flags = VI_FLAG_TEST,
    .create = refuse_create, .destroy = refuse_destroy, .n_params = refuse_size,
    .base_dim = refuse_size, .param_name = refuse_param_name, .init = refuse_init,
    .forward = refuse_forward, .backward = refuse_backward, .log_q = refuse_log_q,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&refuse_family, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "refuse_family", .version = "0.0.1",
    .description = "test: a family that refuses every target",
    .components = components,
};
