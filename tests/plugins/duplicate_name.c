/* A plugin whose target reuses the built-in name "normal": loaded beside
 * the built-in plugins, the host must refuse it, naming both files. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static const vi_target_desc clash_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "normal", .summary = "clashes with the built-in normal", .flags = VI_FLAG_TEST,
    STDNORMAL_MEMBERS,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&clash_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "duplicate_name", .version = "0.0.1", .description = "test: a duplicate name",
    .components = components,
};
