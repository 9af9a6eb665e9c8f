/* config.h — a component's configuration (vi_config): its options,
 * validated against the component's option table with defaults filled in,
 * over the variables of a data file.  The getters are the ones the host
 * services table hands to plugins. */
#ifndef VH_CONFIG_H
#define VH_CONFIG_H

#include <vihost/plugin.h>
#include "data.h"
#include "errors.h"
#include "node.h"

/* Validates `options` (a MAPPING, or NULL for none) against `table` (a
 * vi_option table, or NULL for none) and builds the config.  `file` is the
 * run file's path, for positions; `component` names the component in
 * messages (e.g. "target 'normal'").  `data` (may be NULL) is borrowed and
 * must outlive the config.  Errors (exit 2), each naming
 * file:line:column: an unknown key (with the nearest valid key), a value of
 * the wrong type, a number outside [min, max], a required key missing (at
 * the section's position).  A table whose own default does not parse is a
 * plugin fault (exit 3). */
int vh_config_build(const vi_option *table, const vh_node *options,
                    const vh_data *data, const char *file,
                    const char *component, vh_pos section_pos,
                    vi_config **out, vh_err *err);
void vh_config_free(vi_config *config);

/* The options as resolved (every default filled in), as a MAPPING for
 * run.yaml; caller frees.  NULL on ENOMEM. */
vh_node *vh_config_to_node(const vi_config *config);

/* The option table's entry count and entry i (walking by struct_size). */
size_t vh_option_count(const vi_option *table);
const vi_option *vh_option_at(const vi_option *table, size_t i);
/* "real", "integer", "boolean", "string", "array". */
const char *vh_option_type_name(vi_option_type type);

/* The getters of vi_host (see plugin.h for their contracts). */
int vh_config_get_double(const vi_config *config, const char *key, double *out);
int vh_config_get_int(const vi_config *config, const char *key, int64_t *out);
int vh_config_get_bool(const vi_config *config, const char *key, int *out);
int vh_config_get_string(const vi_config *config, const char *key, const char **out);
int vh_config_get_array(const vi_config *config, const char *key,
                        const double **data, size_t *shape, size_t *ndim);
int vh_config_has(const vi_config *config, const char *key);

#endif
