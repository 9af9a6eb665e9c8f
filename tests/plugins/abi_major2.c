/* A plugin built for ABI major 2: the host must refuse it, naming both
 * versions and the file. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static const vi_target_desc major2_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "major2_target", .summary = "built for ABI 2", .flags = VI_FLAG_TEST,
    STDNORMAL_MEMBERS,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&major2_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {2, 0, 0},
    .name = "abi_major2", .version = "2.0.0", .description = "test: another ABI major",
    .components = components,
};
