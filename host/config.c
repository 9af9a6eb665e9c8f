/* config.c — a component's vi_config: its `options:` mapping checked
 * against the component's option table and turned into typed values, the
 * table's defaults filled in, over the variables of a data file.  After
 * vh_config_build nothing is written, so the getters are safe from any
 * thread. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

struct vi_config {
    size_t count;          /* options present (given or defaulted) */
    char **keys;           /* in table order */
    vh_value *values;
    unsigned char *defaulted; /* 1 where the value is the table's default */
    const vh_data *data;   /* borrowed; may be NULL */
    vh_value data_file;    /* "data_file": the data file's absolute path (kind 0: none) */
};

/* Doubles hold every integer up to 2^53 exactly, and no more. */
#define VH_EXACT_INT 9007199254740992.0

/* ------------------------------------------------------------------ */
/* Option tables                                                        */
/* ------------------------------------------------------------------ */

/* Every entry of a table has the first entry's struct_size (a newer
 * plugin's entries are bigger).  A size below 1.0's cannot be right: the
 * loader refuses such tables, and here the 1.0 size keeps a walk from
 * standing still. */
static size_t option_stride(const vi_option *table)
{
    return table->struct_size >= sizeof(vi_option) ? table->struct_size
                                                    : sizeof(vi_option);
}

const vi_option *vh_option_at(const vi_option *table, size_t i)
{
    return (const vi_option *)((const char *)table + i * option_stride(table));
}

size_t vh_option_count(const vi_option *table)
{
    size_t n = 0;
    if (table == NULL)
        return 0;
    while (vh_option_at(table, n)->key != NULL)
        n++;
    return n;
}

const char *vh_option_type_name(vi_option_type type)
{
    switch (type) {
    case VI_OPTION_DOUBLE: return "real";
    case VI_OPTION_INT: return "integer";
    case VI_OPTION_BOOL: return "boolean";
    case VI_OPTION_STRING: return "string";
    case VI_OPTION_ARRAY: return "array";
    }
    return "unknown";
}

static const vi_option *option_find(const vi_option *table, const char *key)
{
    size_t n = vh_option_count(table);
    for (size_t i = 0; i < n; i++)
        if (strcmp(vh_option_at(table, i)->key, key) == 0)
            return vh_option_at(table, i);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading a node as an option's value                                  */
/* ------------------------------------------------------------------ */

/* Why a value was refused: the node at fault and "must be ..., got ...". */
typedef struct vh_problem {
    const vh_node *node;
    char what[384];
} vh_problem;

static int problem_set(vh_problem *p, const vh_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int problem_set(vh_problem *p, const vh_node *node, const char *fmt, ...)
{
    va_list ap;
    p->node = node;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *option_expectation(vi_option_type type)
{
    switch (type) {
    case VI_OPTION_DOUBLE: return "a real number";
    case VI_OPTION_INT: return "a whole number";
    case VI_OPTION_BOOL: return "true or false";
    case VI_OPTION_STRING: return "text";
    case VI_OPTION_ARRAY: return "a number or a (nested) list of numbers";
    }
    return "valid";
}

static int problem_type(vh_problem *p, const vi_option *opt, const vh_node *node)
{
    char got[128];
    vh_node_describe(node, got, sizeof got);
    return problem_set(p, node, "must be %s, got %s", option_expectation(opt->type), got);
}

/* Reads one number of a DOUBLE, INT or ARRAY option and checks [min, max]. */
static int read_number(const vi_option *opt, const vh_node *node, double *x,
                       vh_problem *p)
{
    if (vh_node_number(node, x) != 0)
        return problem_type(p, opt, node);
    if (opt->type == VI_OPTION_INT && (*x != floor(*x) || fabs(*x) > VH_EXACT_INT))
        return problem_type(p, opt, node);
    if (*x < opt->min || *x > opt->max)
        return problem_set(p, node, "must be in [%g, %g], got %s", opt->min, opt->max,
                           node->scalar);
    return 0;
}

/* The shape of a nested list, read down its first items; every other
 * list is checked against it while the numbers are read. */
static int array_shape(const vh_node *node, vh_value *v, vh_problem *p)
{
    v->ndim = 0;
    v->length = 1;
    for (const vh_node *n = node; n->kind == VH_NODE_SEQUENCE; n = n->items[0]) {
        if (v->ndim == VI_MAX_RANK)
            return problem_set(p, n, "must have at most %d dimensions", VI_MAX_RANK);
        /* A rectangular array has fewer numbers than its file has bytes;
         * a bigger product means ragged lists, and must not be allocated. */
        if (n->count > 0 && v->length > VH_NODE_MAX_BYTES / n->count)
            return problem_set(p, n, "must be a rectangular array: its lists differ in length");
        v->shape[v->ndim++] = n->count;
        v->length *= n->count;
        if (n->count == 0)
            break;
    }
    return 0;
}

static int array_fill(const vi_option *opt, const vh_node *node, size_t depth,
                      vh_value *v, size_t *at, vh_problem *p)
{
    char got[128];
    if (depth == v->ndim)
        return read_number(opt, node, &v->numbers[(*at)++], p);
    if (node->kind != VH_NODE_SEQUENCE) {
        vh_node_describe(node, got, sizeof got);
        return problem_set(p, node, "must be a rectangular array: expected a list here, got %s",
                           got);
    }
    if (node->count != v->shape[depth])
        return problem_set(p, node,
                           "must be a rectangular array: this list has length %zu where %zu was expected",
                           node->count, v->shape[depth]);
    for (size_t i = 0; i < node->count; i++)
        if (array_fill(opt, node->items[i], depth + 1, v, at, p) != 0)
            return -1;
    return 0;
}

static int read_array(const vi_option *opt, const vh_node *node, vh_value *v,
                      vh_problem *p)
{
    size_t at = 0;
    if (array_shape(node, v, p) != 0)
        return -1;
    v->kind = VH_VALUE_ARRAY;
    if (v->length > 0 && (v->numbers = malloc(v->length * sizeof *v->numbers)) == NULL)
        return problem_set(p, NULL, "out of memory");
    return array_fill(opt, node, 0, v, &at, p);
}

/* Reads `node` as a value of `opt`'s type into v (zeroed by the caller). */
static int option_read(const vi_option *opt, const vh_node *node, vh_value *v,
                       vh_problem *p)
{
    int plain = node->kind == VH_NODE_SCALAR && !node->quoted;
    if (node->kind == VH_NODE_SCALAR && plain && node->scalar[0] == '\0')
        return problem_type(p, opt, node);
    switch (opt->type) {
    case VI_OPTION_DOUBLE:
    case VI_OPTION_INT:
        break;
    case VI_OPTION_ARRAY:
        if (node->kind == VH_NODE_SEQUENCE)
            return read_array(opt, node, v, p);
        break;
    case VI_OPTION_BOOL:
        if (!plain || (strcmp(node->scalar, "true") != 0 && strcmp(node->scalar, "false") != 0))
            return problem_type(p, opt, node);
        v->kind = VH_VALUE_BOOL;
        v->boolean = strcmp(node->scalar, "true") == 0;
        return 0;
    case VI_OPTION_STRING:
        if (node->kind != VH_NODE_SCALAR)
            return problem_type(p, opt, node);
        v->kind = VH_VALUE_STRING;
        return (v->string = strdup(node->scalar)) != NULL ? 0 : problem_set(p, NULL, "out of memory");
    default:
        return problem_set(p, node, "has an unknown type %d", (int)opt->type);
    }
    v->kind = VH_VALUE_NUMBER;
    v->length = 1;
    if ((v->numbers = malloc(sizeof *v->numbers)) == NULL)
        return problem_set(p, NULL, "out of memory");
    return read_number(opt, node, v->numbers, p);
}

static void value_mark_integral(vh_value *v)
{
    v->integral = v->kind == VH_VALUE_NUMBER || v->kind == VH_VALUE_ARRAY;
    for (size_t i = 0; v->integral && i < v->length; i++)
        v->integral = v->numbers[i] == floor(v->numbers[i]) &&
                      fabs(v->numbers[i]) <= VH_EXACT_INT;
}

/* ------------------------------------------------------------------ */
/* Building                                                             */
/* ------------------------------------------------------------------ */

typedef struct vh_build {
    const char *file;
    const char *component;   /* "target 'normal'" */
    vh_err *err;
} vh_build;

static int build_fail(const vh_build *b, vh_pos pos, const char *origin, int code,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int build_fail(const vh_build *b, vh_pos pos, const char *origin, int code,
                      const char *fmt, ...)
{
    char where[512], what[VH_ERR_SIZE];
    va_list ap;
    vh_pos_format(where, sizeof where, b->file, pos, origin);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return vh_err_set(b->err, code, "%s: %s", where, what);
}

/* The component's name for `vihost describe`: "normal" of "target 'normal'". */
static void component_name(const char *component, char *buf, size_t size)
{
    const char *open = strchr(component, '\'');
    const char *close = open != NULL ? strchr(open + 1, '\'') : NULL;
    if (close != NULL)
        snprintf(buf, size, "%.*s", (int)(close - open - 1), open + 1);
    else
        snprintf(buf, size, "%s", component);
}

static int build_unknown(const vh_build *b, const vi_option *table, const vh_node *options,
                         size_t i)
{
    char name[128], hint[256] = "";
    size_t n = vh_option_count(table);
    const char **keys = calloc(n + 1, sizeof *keys);
    if (keys == NULL)
        return vh_err_set(b->err, VH_EXIT_FAILURE, "out of memory");
    for (size_t k = 0; k < n; k++)
        keys[k] = vh_option_at(table, k)->key;
    const char *near = vh_suggest(options->keys[i], keys);
    if (near != NULL)
        snprintf(hint, sizeof hint, "did you mean '%s'?; ", near);
    free(keys);
    component_name(b->component, name, sizeof name);
    const char *origin = options->key_pos[i].line == 0 ? options->items[i]->origin : NULL;
    if (n == 0)
        return build_fail(b, options->key_pos[i], origin, VH_EXIT_USAGE,
                          "unknown option '%s' for %s (it takes no options)",
                          options->keys[i], b->component);
    return build_fail(b, options->key_pos[i], origin, VH_EXIT_USAGE,
                      "unknown option '%s' for %s (%s`vihost describe %s` lists them)",
                      options->keys[i], b->component, hint, name);
}

/* A default is the plugin's own text: read as YAML (strings as written),
 * and any fault in it is the plugin's, not the run file's. */
static int build_default(const vh_build *b, const vi_option *opt, vh_value *v)
{
    vh_node *node = NULL;
    vh_problem p;
    vh_err ignored;
    int rc = -1;
    if (opt->type == VI_OPTION_STRING)
        node = vh_node_new_scalar(opt->default_value, 1, (vh_pos){0, 0});
    else if (vh_node_parse_string(opt->default_value, strlen(opt->default_value),
                                  "default", &node, &ignored) != 0)
        node = NULL;
    if (node == NULL)
        snprintf(p.what, sizeof p.what, "must be %s", option_expectation(opt->type));
    else
        rc = option_read(opt, node, v, &p);
    vh_node_free(node);
    if (rc == 0)
        return 0;
    vh_value_clear(v);
    return vh_err_set(b->err, VH_EXIT_PLUGIN,
                      "%s: option '%s' has an invalid default '%s': it %s (a fault in the plugin)",
                      b->component, opt->key, opt->default_value, p.what);
}

/* The value of option `opt`: the run file's, or the default.  1 when it
 * has neither (and is not required), 0 when *v was filled from the run
 * file, 2 when from the default, -1 on error.  A required option may come
 * from the data file instead. */
static int build_option(const vh_build *b, const vi_option *opt, const vh_node *options,
                        const vh_data *data, vh_pos section_pos, vh_value *v)
{
    vh_problem p;
    const vh_node *node = vh_node_map_get(options, opt->key);
    if (node == NULL && opt->required && data != NULL && vh_data_get(data, opt->key) != NULL)
        return 1;
    if (node == NULL && opt->required)
        return build_fail(b, section_pos, NULL, VH_EXIT_USAGE, "%s needs option '%s'%s%s%s",
                          b->component, opt->key, opt->doc ? " (" : "",
                          opt->doc ? opt->doc : "", opt->doc ? ")" : "");
    if (node == NULL)
        return opt->default_value == NULL ? 1 : build_default(b, opt, v) == 0 ? 2 : -1;
    if (option_read(opt, node, v, &p) == 0)
        return 0;
    vh_value_clear(v);
    if (p.node == NULL)
        return vh_err_set(b->err, VH_EXIT_FAILURE, "out of memory");
    return build_fail(b, p.node->pos, p.node->origin, VH_EXIT_USAGE, "option '%s' of %s %s",
                      opt->key, b->component, p.what);
}

static int build_options(const vh_build *b, vi_config *cfg, const vi_option *table,
                         const vh_node *options, vh_pos section_pos)
{
    size_t n = vh_option_count(table);
    for (size_t i = 0; options != NULL && i < options->count; i++)
        if (option_find(table, options->keys[i]) == NULL)
            return build_unknown(b, table, options, i);
    cfg->keys = calloc(n + 1, sizeof *cfg->keys);
    cfg->values = calloc(n + 1, sizeof *cfg->values);
    cfg->defaulted = calloc(n + 1, sizeof *cfg->defaulted);
    if (cfg->keys == NULL || cfg->values == NULL || cfg->defaulted == NULL)
        return vh_err_set(b->err, VH_EXIT_FAILURE, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const vi_option *opt = vh_option_at(table, i);
        vh_value *v = &cfg->values[cfg->count];
        int rc = build_option(b, opt, options, cfg->data, section_pos, v);
        if (rc < 0)
            return -1;
        if (rc == 1)
            continue;
        cfg->defaulted[cfg->count] = rc == 2;
        value_mark_integral(v);
        if ((cfg->keys[cfg->count] = strdup(opt->key)) == NULL) {
            vh_value_clear(v);
            return vh_err_set(b->err, VH_EXIT_FAILURE, "out of memory");
        }
        cfg->count++;
    }
    return 0;
}

/* The data file's path under the key "data_file" (plugin.h), absolute so
 * that it means the same file wherever the plugin hands it. */
static int set_data_file(vi_config *cfg, const vh_data *data)
{
    char *real = realpath(vh_data_path(data), NULL);
    cfg->data_file.kind = VH_VALUE_STRING;
    cfg->data_file.string = real != NULL ? real : strdup(vh_data_path(data));
    return cfg->data_file.string != NULL ? 0 : -1;
}

int vh_config_build(const vi_option *table, const vh_node *options,
                    const vh_data *data, const char *file,
                    const char *component, vh_pos section_pos,
                    vi_config **out, vh_err *err)
{
    vh_build b = {file, component, err};
    *out = NULL;
    if (options != NULL && options->kind != VH_NODE_MAPPING) {
        char got[128];
        vh_node_describe(options, got, sizeof got);
        return build_fail(&b, options->pos, options->origin, VH_EXIT_USAGE,
                          "the options of %s must be a mapping of names to values, got %s",
                          component, got);
    }
    vi_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    cfg->data = data;
    if (data != NULL && option_find(table, "data_file") == NULL &&
        set_data_file(cfg, data) != 0) {
        vh_config_free(cfg);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    if (build_options(&b, cfg, table, options, section_pos) != 0) {
        vh_config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

void vh_config_free(vi_config *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < config->count; i++) {
        free(config->keys[i]);
        vh_value_clear(&config->values[i]);
    }
    free(config->keys);
    free(config->values);
    free(config->defaulted);
    vh_value_clear(&config->data_file);
    free(config);
}

/* ------------------------------------------------------------------ */
/* Back to YAML, for run.yaml                                           */
/* ------------------------------------------------------------------ */

/* The shortest text that reads back as exactly x. */
static vh_node *number_node(double x)
{
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x)
            break;
    }
    return vh_node_new_scalar(text, 0, (vh_pos){0, 0});
}

static vh_node *array_node(const vh_value *v, size_t depth, size_t *at)
{
    if (depth == v->ndim)
        return number_node(v->numbers[(*at)++]);
    vh_node *seq = vh_node_new_sequence((vh_pos){0, 0});
    for (size_t i = 0; seq != NULL && i < v->shape[depth]; i++) {
        vh_node *item = array_node(v, depth + 1, at);
        if (item == NULL || vh_node_seq_append(seq, item) != 0) {
            vh_node_free(item);
            vh_node_free(seq);
            seq = NULL;
        }
    }
    return seq;
}

static vh_node *value_node(const vh_value *v)
{
    size_t at = 0;
    switch (v->kind) {
    case VH_VALUE_NUMBER: return number_node(v->numbers[0]);
    case VH_VALUE_BOOL: return vh_node_new_scalar(v->boolean ? "true" : "false", 0, (vh_pos){0, 0});
    case VH_VALUE_STRING: return vh_node_new_scalar(v->string, 1, (vh_pos){0, 0});
    case VH_VALUE_ARRAY: return array_node(v, 0, &at);
    }
    return NULL;
}

vh_node *vh_config_to_node(const vi_config *config)
{
    vh_node *map = vh_node_new_mapping((vh_pos){0, 0});
    for (size_t i = 0; map != NULL && config != NULL && i < config->count; i++) {
        /* A default the data file overrides is left out, or run.yaml would
         * pin the default over the data when run again. */
        if (config->defaulted[i] && config->data != NULL &&
            vh_data_get(config->data, config->keys[i]) != NULL)
            continue;
        vh_node *value = value_node(&config->values[i]);
        if (value == NULL ||
            vh_node_map_append(map, config->keys[i], (vh_pos){0, 0}, value) != 0) {
            vh_node_free(value);
            vh_node_free(map);
            return NULL;
        }
    }
    return map;
}

/* ------------------------------------------------------------------ */
/* Getters (vi_host's)                                                  */
/* ------------------------------------------------------------------ */

/* The run file's options first, then the data file's variables, then the
 * option table's defaults: data given for a run beat a plugin's default. */
static const vh_value *config_find(const vi_config *config, const char *key)
{
    if (config == NULL || key == NULL)
        return NULL;
    const vh_value *fallback = NULL;
    for (size_t i = 0; i < config->count; i++)
        if (strcmp(config->keys[i], key) == 0) {
            if (!config->defaulted[i])
                return &config->values[i];
            fallback = &config->values[i];
        }
    if (config->data_file.kind != 0 && strcmp(key, "data_file") == 0)
        return &config->data_file;
    const vh_value *from_data = config->data != NULL ? vh_data_get(config->data, key) : NULL;
    return from_data != NULL ? from_data : fallback;
}

int vh_config_get_double(const vi_config *config, const char *key, double *out)
{
    const vh_value *v = config_find(config, key);
    if (v == NULL)
        return VI_ENOTFOUND;
    if (v->kind != VH_VALUE_NUMBER)
        return VI_ETYPE;
    if (out == NULL)
        return VI_EINVAL;
    *out = v->numbers[0];
    return VI_OK;
}

int vh_config_get_int(const vi_config *config, const char *key, int64_t *out)
{
    const vh_value *v = config_find(config, key);
    if (v == NULL)
        return VI_ENOTFOUND;
    if (v->kind != VH_VALUE_NUMBER || v->numbers[0] != floor(v->numbers[0]) ||
        fabs(v->numbers[0]) > VH_EXACT_INT)
        return VI_ETYPE;
    if (out == NULL)
        return VI_EINVAL;
    *out = (int64_t)v->numbers[0];
    return VI_OK;
}

int vh_config_get_bool(const vi_config *config, const char *key, int *out)
{
    const vh_value *v = config_find(config, key);
    if (v == NULL)
        return VI_ENOTFOUND;
    if (v->kind != VH_VALUE_BOOL)
        return VI_ETYPE;
    if (out == NULL)
        return VI_EINVAL;
    *out = v->boolean;
    return VI_OK;
}

int vh_config_get_string(const vi_config *config, const char *key, const char **out)
{
    const vh_value *v = config_find(config, key);
    if (v == NULL)
        return VI_ENOTFOUND;
    if (v->kind != VH_VALUE_STRING)
        return VI_ETYPE;
    if (out == NULL)
        return VI_EINVAL;
    *out = v->string;
    return VI_OK;
}

int vh_config_get_array(const vi_config *config, const char *key,
                        const double **data, size_t *shape, size_t *ndim)
{
    const vh_value *v = config_find(config, key);
    if (v == NULL)
        return VI_ENOTFOUND;
    if (v->kind != VH_VALUE_NUMBER && v->kind != VH_VALUE_ARRAY)
        return VI_ETYPE;
    if (data == NULL || ndim == NULL || (shape == NULL && v->ndim > 0))
        return VI_EINVAL;
    *data = v->numbers;
    *ndim = v->kind == VH_VALUE_NUMBER ? 0 : v->ndim;
    for (size_t d = 0; d < *ndim; d++)
        shape[d] = v->shape[d];
    return VI_OK;
}

int vh_config_has(const vi_config *config, const char *key)
{
    return config_find(config, key) != NULL;
}
