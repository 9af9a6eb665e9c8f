/* A target whose create crashes with a segmentation fault: `vihost check`
 * must report it as a failed check and itself exit normally. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static int crash_create(const vi_host *host, const vi_config *config, void **self,
                        vi_error *err)
{
    /* volatile: the compiler cannot see the NULL, so this is a real load
     * from address 0, not a trap instruction it put there. */
    volatile int *volatile nowhere = NULL;
    (void)host;
    (void)config;
    (void)err;
    *self = NULL;
    *nowhere = 1;
    return VI_OK;
}

static const vi_target_desc crash_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "crash_create", .summary = "test: segfaults in create", .flags = VI_FLAG_TEST,
    .create = crash_create, .destroy = stdnormal_destroy, .dim = stdnormal_dim,
    .param_name = stdnormal_param_name, .log_density = stdnormal_log_density,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&crash_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "crash_create", .version = "0.0.1", .description = "test: a crash in create",
    .components = components,
};
