/* A correct standard-normal target in a plugin that also exports a helper
 * function: `vihost check` must name the extra symbol. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

VI_EXPORT double extra_exported_helper(double x);
VI_EXPORT double extra_exported_helper(double x) { return 2.0 * x; }

static const vi_target_desc extra_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "extra_export", .summary = "test: exports a second symbol", .flags = VI_FLAG_TEST,
    STDNORMAL_MEMBERS,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&extra_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "extra_export", .version = "0.0.1", .description = "test: an extra export",
    .components = components,
};
