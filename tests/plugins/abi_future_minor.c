/* A plugin from a future minor of ABI 1: its descriptor and entry are
 * larger than this host knows (members appended).  It must load and run,
 * the extra members ignored. */
#define _DEFAULT_SOURCE
#include "stdnormal.h"

typedef struct future_target_desc {
    vi_target_desc v1;                 /* everything ABI 1.0 has */
    int (*some_future_member)(const void *self, double *out);
    double another_future_member;
} future_target_desc;

typedef struct future_plugin {
    vi_plugin v1;
    const char *some_future_field;
} future_plugin;

static int future_member(const void *self, double *out)
{
    (void)self;
    *out = 42.0;
    return VI_OK;
}

static const future_target_desc future_target = {
    .v1 = {
        .struct_size = sizeof(future_target_desc), .kind = VI_KIND_TARGET,
        .name = "future_target", .summary = "a standard normal from ABI 1.(minor+1)",
        .flags = VI_FLAG_TEST, STDNORMAL_MEMBERS,
    },
    .some_future_member = future_member,
    .another_future_member = 1.5,
};
static const vi_component_head *const components[] = {
    (const vi_component_head *)&future_target, NULL};

VI_EXPORT const future_plugin vi_plugin_entry = {
    .v1 = {
        .struct_size = sizeof(future_plugin), .abi = {VI_ABI_MAJOR, VI_ABI_MINOR + 1, 0},
        .name = "abi_future_minor", .version = "1.1.0",
        .description = "test: a larger struct_size from a future minor",
        .components = components,
    },
    .some_future_field = "ignored by a 1.0 host",
};
