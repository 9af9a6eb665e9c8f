/* A plugin whose target lacks its required log_density member: the host
 * must refuse it as malformed, naming the file and the member. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

static const vi_target_desc broken_target = {
    .struct_size = sizeof(vi_target_desc), .kind = VI_KIND_TARGET,
    .name = "broken_target", .summary = "no log_density", .flags = VI_FLAG_TEST,
    .create = stdnormal_create, .destroy = stdnormal_destroy, .dim = stdnormal_dim,
    .param_name = stdnormal_param_name, .log_density = NULL,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&broken_target, NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "bad_descriptor", .version = "0.0.1", .description = "test: a malformed descriptor",
    .components = components,
};
