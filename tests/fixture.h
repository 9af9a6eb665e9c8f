/* fixture.h — builds a model from the built-in plugins for the C tests:
 * loads plugin files by path, validates options written as YAML flow text
 * ("{sigma: 2}") through the host's own config code, and creates the
 * instances, exactly as `vihost run` does. */
#ifndef VH_TEST_FIXTURE_H
#define VH_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "data.h"
#include "engine.h"
#include "hostapi.h"
#include "loader.h"
#include "node.h"

#ifndef BUILD_PLUGIN_DIR
#error "BUILD_PLUGIN_DIR must name the build tree's plugins folder"
#endif
#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source tree"
#endif

/* One configured component and its host view. */
typedef struct fixture_part {
    const vh_component *component;
    vh_node *options;
    vi_config *config;
    vh_host_context context;
} fixture_part;

typedef struct fixture {
    vh_registry registry;
    vh_data *data;
    fixture_part target, family, optimizer;
    vh_model model;
    vh_err err;
} fixture;

/* The built plugin file of a built-in component: "targets", "normal". */
static inline void fixture_plugin_path(char *out, size_t size, const char *kind_dir,
                                       const char *name)
{
    snprintf(out, size, "%s/%s/.libs/%s.so", BUILD_PLUGIN_DIR, kind_dir, name);
}

static inline int fixture_part_load(fixture *fx, fixture_part *part, const char *kind_dir,
                                    vi_kind kind, const char *name, const char *options,
                                    const vh_data *data)
{
    char path[1024];
    fixture_plugin_path(path, sizeof path, kind_dir, name);
    if (vh_registry_load_file(&fx->registry, path, &fx->err) != 0)
        return -1;
    part->component = vh_registry_find(&fx->registry, name, kind);
    if (part->component == NULL)
        return vh_err_set(&fx->err, 3, "no %s '%s' in %s", vh_kind_name(kind), name, path);
    if (options != NULL &&
        vh_node_parse_string(options, strlen(options), "test options", &part->options,
                             &fx->err) != 0)
        return -1;
    vh_hostapi_init(&part->context, name, VI_LOG_WARNING);
    vh_pos pos = {1, 1};
    return vh_config_build(part->component->head->options, part->options, data,
                           "test options", name, pos, &part->config, &fx->err);
}

static inline void fixture_free(fixture *fx)
{
    vh_model *m = &fx->model;
    if (m->optimizer_self)
        m->optimizer->destroy(m->optimizer_self);
    if (m->family_self)
        m->family->destroy(m->family_self);
    if (m->target_self)
        m->target->destroy(m->target_self);
    fixture_part *parts[3] = {&fx->target, &fx->family, &fx->optimizer};
    for (int i = 0; i < 3; i++) {
        vh_config_free(parts[i]->config);
        vh_node_free(parts[i]->options);
    }
    vh_data_free(fx->data);
    vh_registry_free(&fx->registry);
    memset(fx, 0, sizeof *fx);
}

/* Creates target (with `data_file` under SOURCE_DIR/share/data when not
 * NULL), family and optimizer; any name may be NULL to skip that part
 * (the later parts then too).  Returns 0, or -1 with fx->err. */
static inline int fixture_open(fixture *fx, const char *target, const char *target_options,
                               const char *data_file, const char *family,
                               const char *family_options, const char *optimizer,
                               const char *optimizer_options)
{
    memset(fx, 0, sizeof *fx);
    vh_registry_init(&fx->registry);
    vh_err_clear(&fx->err);
    vh_model *m = &fx->model;
    vi_error perr = {sizeof perr, 0, ""};
    if (data_file != NULL) {
        char path[1024];
        snprintf(path, sizeof path, "%s/share/data/%s", SOURCE_DIR, data_file);
        if (vh_data_load(path, &fx->data, &fx->err) != 0)
            return -1;
    }
    if (fixture_part_load(fx, &fx->target, "targets", VI_KIND_TARGET, target,
                          target_options, fx->data) != 0)
        return -1;
    m->target = (const vi_target_desc *)fx->target.component->head;
    m->target_label = "target";
    if (m->target->create(&fx->target.context.host, fx->target.config, &m->target_self,
                          &perr) != 0)
        return vh_err_set(&fx->err, 3, "target create: %s", perr.message);
    m->dim = m->target->dim(m->target_self);
    m->target_work = m->target->workspace_size ? m->target->workspace_size(m->target_self) : 0;
    if (family == NULL)
        return 0;
    if (fixture_part_load(fx, &fx->family, "families", VI_KIND_FAMILY, family,
                          family_options, NULL) != 0)
        return -1;
    m->family = (const vi_family_desc *)fx->family.component->head;
    m->family_label = "family";
    m->family_host = &fx->family.context.host;
    if (m->family->create(&fx->family.context.host, fx->family.config, m->dim,
                          &m->family_self, &perr) != 0)
        return vh_err_set(&fx->err, 3, "family create: %s", perr.message);
    m->n_params = m->family->n_params(m->family_self);
    if (optimizer == NULL) {
        m->base_dim = m->family->base_dim(m->family_self);
        m->family_work = m->family->workspace_size
                             ? m->family->workspace_size(m->family_self) : 0;
        return 0;
    }
    if (fixture_part_load(fx, &fx->optimizer, "optimizers", VI_KIND_OPTIMIZER, optimizer,
                          optimizer_options, NULL) != 0)
        return -1;
    m->optimizer = (const vi_optimizer_desc *)fx->optimizer.component->head;
    m->optimizer_label = "optimizer";
    if (m->optimizer->create(&fx->optimizer.context.host, fx->optimizer.config, m->n_params,
                             &m->optimizer_self, &perr) != 0)
        return vh_err_set(&fx->err, 3, "optimizer create: %s", perr.message);
    vh_model_measure(m);
    return 0;
}

/* A fresh optimizer instance, so that consecutive fits start alike. */
static inline int fixture_reset_optimizer(fixture *fx)
{
    vh_model *m = &fx->model;
    vi_error perr = {sizeof perr, 0, ""};
    m->optimizer->destroy(m->optimizer_self);
    m->optimizer_self = NULL;
    if (m->optimizer->create(&fx->optimizer.context.host, fx->optimizer.config, m->n_params,
                             &m->optimizer_self, &perr) != 0)
        return vh_err_set(&fx->err, 3, "optimizer create: %s", perr.message);
    return 0;
}

#endif
