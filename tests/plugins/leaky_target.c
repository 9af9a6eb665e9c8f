/* A target whose destroy forgets a buffer create allocated: `vihost check`
 * must see the heap grow with repeated create/destroy. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

typedef struct leaky {
    double *buffer; /* allocated by create, never freed */
} leaky;

static int leaky_create(const vi_host *host, const vi_config *config, void **self,
                        vi_error *err)
{
    leaky *t = malloc(sizeof *t);
    (void)host;
    (void)config;
    (void)err;
    *self = NULL;
    if (t == NULL)
        return VI_ENOMEM;
    t->buffer = calloc(16, sizeof *t->buffer);
    *self = t;
    return VI_OK;
}

static void leaky_destroy(void *self)
{
    free(self); /* the mistake: t->buffer is lost */
}

static const vi_target_desc leaky_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "leaky_target", .summary = "test: destroy leaks", .flags = VI_FLAG_TEST,
    .create = leaky_create, .destroy = leaky_destroy, .dim = stdnormal_dim,
    .param_name = stdnormal_param_name, .log_density = stdnormal_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&leaky_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "leaky_target", .version = "0.0.1", .description = "test: a leak in destroy",
    .components = components,
};
