/* runfile.c — the run file: parsed into a tree, overridden by --set,
 * checked key by key against the host's schema, and resolved in place so
 * that run->root, emitted, is a complete run file with every default.
 *
 * Defaults are inserted as YAML text and read by the same code as the
 * user's values, so a default can never be in a form the checks refuse. */
#include "runfile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const vh_runfile_gradients[] = {"reparam", "stl", "score", NULL};
const char *const vh_runfile_bases[] = {"pseudo", "antithetic", "qmc", NULL};
const char *const vh_runfile_rules[] = {"relative", "mcse", "rhat", "none", NULL};
const char *const vh_runfile_averagings[] = {"none", "polyak", "polynomial", NULL};

/* The state of one load. */
typedef struct vh_rf {
    const char *file;      /* the run file's path, for messages */
    vh_runfile *run;
    vh_err *err;
    char *default_dir;     /* output.dir's default, "results/<stem>" */
} vh_rf;

static const vh_pos vh_no_pos = {0, 0};

/* ------------------------------------------------------------------ */
/* Messages                                                             */
/* ------------------------------------------------------------------ */

static int rf_failv(const vh_rf *rf, vh_pos pos, const char *origin,
                    const char *fmt, va_list ap)
{
    char where[512], what[VH_ERR_SIZE];
    vh_pos_format(where, sizeof where, rf->file, pos, origin);
    vsnprintf(what, sizeof what, fmt, ap);
    return vh_err_set(rf->err, VH_EXIT_USAGE, "%s: %s", where, what);
}

static int rf_fail(const vh_rf *rf, vh_pos pos, const char *origin,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rf_fail(const vh_rf *rf, vh_pos pos, const char *origin,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rf_failv(rf, pos, origin, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error about a value: at the value, or at its --set argument. */
static int rf_fail_at(const vh_rf *rf, const vh_node *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rf_fail_at(const vh_rf *rf, const vh_node *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rf_failv(rf, node->pos, node->origin, fmt, ap);
    va_end(ap);
    return -1;
}

static int rf_oom(const vh_rf *rf)
{
    return vh_err_set(rf->err, VH_EXIT_FAILURE, "%s: out of memory", rf->file);
}

/* "max_iterations, rule, tolerance" */
static void rf_key_list(char *buf, size_t size, const char *const *keys)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t k = 0; keys[k] != NULL && n < size; k++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", k == 0 ? "" : ", ", keys[k]);
}

/* Reports key i of `map` as unknown, with the nearest valid key or else
 * the list of valid ones.  `section` is NULL at the top level. */
static int rf_unknown_key(const vh_rf *rf, const vh_node *map, size_t i,
                          const char *section, const char *const *valid)
{
    char in[128] = "", hint[512];
    const char *near = vh_suggest(map->keys[i], valid);
    if (section != NULL)
        snprintf(in, sizeof in, " in '%s'", section);
    if (near != NULL)
        snprintf(hint, sizeof hint, "did you mean '%s'?", near);
    else {
        char list[400];
        rf_key_list(list, sizeof list, valid);
        snprintf(hint, sizeof hint, "valid keys: %s", list);
    }
    /* A key typed in --set has no file position; its value knows the
     * argument. */
    const char *origin = map->key_pos[i].line == 0 ? map->items[i]->origin : NULL;
    return rf_fail(rf, map->key_pos[i], origin, "unknown key '%s'%s (%s)",
                   map->keys[i], in, hint);
}

/* Checks every key of `map` against `valid`. */
static int rf_check_keys(const vh_rf *rf, const vh_node *map, const char *section,
                         const char *const *valid)
{
    for (size_t i = 0; i < map->count; i++) {
        size_t k = 0;
        while (valid[k] != NULL && strcmp(valid[k], map->keys[i]) != 0)
            k++;
        if (valid[k] == NULL)
            return rf_unknown_key(rf, map, i, section, valid);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Values                                                               */
/* ------------------------------------------------------------------ */

/* An empty plain value (`stop:`), ~ or null: "nothing given". */
static int rf_is_null(const vh_node *node)
{
    return node->kind == VH_NODE_SCALAR && !node->quoted &&
           (node->scalar[0] == '\0' || strcmp(node->scalar, "~") == 0 ||
            strcmp(node->scalar, "null") == 0 || strcmp(node->scalar, "Null") == 0 ||
            strcmp(node->scalar, "NULL") == 0);
}

/* A whole number >= 0 as uint64: digits read exactly with strtoull, or
 * a real that happens to be whole ("1e4"), up to 2^53 where doubles are
 * exact. */
static int rf_parse_whole(const vh_node *node, uint64_t *out)
{
    double x;
    if (node->kind != VH_NODE_SCALAR || node->quoted)
        return -1;
    const char *text = node->scalar;
    if (text[0] >= '0' && text[0] <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (*end == '\0') {
            *out = v;
            return errno == ERANGE ? -1 : 0;
        }
    }
    if (vh_node_number(node, &x) != 0 || x < 0 || x != floor(x) ||
        x > 9007199254740992.0)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

/* A path written in the run file, made relative to its folder. */
static char *rf_resolve_path(const vh_rf *rf, const char *path)
{
    const char *base = rf->run->base_dir;
    if (path[0] == '/' || strcmp(base, ".") == 0)
        return strdup(path);
    size_t nb = strlen(base);
    const char *sep = base[nb - 1] == '/' ? "" : "/";
    char *out = malloc(nb + strlen(sep) + strlen(path) + 1);
    if (out != NULL)
        sprintf(out, "%s%s%s", base, sep, path);
    return out;
}

/* A component reference that names a file rather than a component. */
static int rf_is_path(const char *plugin)
{
    size_t n = strlen(plugin);
    return strchr(plugin, '/') != NULL || (n > 3 && strcmp(plugin + n - 3, ".so") == 0);
}

/* ------------------------------------------------------------------ */
/* Scalar fields                                                        */
/* ------------------------------------------------------------------ */

typedef enum vh_rf_type {
    VH_RF_WHOLE,    /* uint64_t in [min, max] */
    VH_RF_REAL,     /* double > 0 */
    VH_RF_NONNEG,   /* double >= 0 */
    VH_RF_BOOL,     /* int: true or false */
    VH_RF_CHOICE,   /* char *, one of `choices` */
    VH_RF_TEXT      /* char *, not empty */
} vh_rf_type;

typedef struct vh_rf_field {
    const char *key;
    vh_rf_type type;
    const char *fallback;          /* the default as YAML; NULL: rf->default_dir */
    uint64_t min, max;             /* VH_RF_WHOLE */
    const char *const *choices;    /* VH_RF_CHOICE */
    size_t offset;                 /* of the member of vh_runfile it sets */
} vh_rf_field;

#define VH_RF_NO_MAX UINT64_MAX

static const vh_rf_field vh_rf_objective[] = {
    {"gradient", VH_RF_CHOICE, "reparam", 0, 0, vh_runfile_gradients,
     offsetof(vh_runfile, gradient)},
    {"grad_samples", VH_RF_WHOLE, "4", 1, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, grad_samples)},
    {"elbo_samples", VH_RF_WHOLE, "100", 2, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, elbo_samples)},
    {"base", VH_RF_CHOICE, "qmc", 0, 0, vh_runfile_bases, offsetof(vh_runfile, base)},
    {"batch_size", VH_RF_WHOLE, "0", 0, VH_RF_NO_MAX, NULL, offsetof(vh_runfile, batch_size)},
    {"anchor_every", VH_RF_WHOLE, "50", 0, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, anchor_every)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const vh_rf_field vh_rf_stop[] = {
    {"max_iterations", VH_RF_WHOLE, "10000", 1, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, max_iterations)},
    {"rule", VH_RF_CHOICE, "mcse", 0, 0, vh_runfile_rules, offsetof(vh_runfile, rule)},
    /* 0.01 instead when the rule is relative: see rf_top_stop */
    {"tolerance", VH_RF_REAL, "0.0001", 0, 0, NULL, offsetof(vh_runfile, tolerance)},
    {"eval_every", VH_RF_WHOLE, "100", 1, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, eval_every)},
    {"window", VH_RF_WHOLE, "200", 4, VH_RF_NO_MAX, NULL, offsetof(vh_runfile, window)},
    {"z", VH_RF_REAL, "2", 0, 0, NULL, offsetof(vh_runfile, z)},
    {"rhat_threshold", VH_RF_REAL, "1.1", 0, 0, NULL, offsetof(vh_runfile, rhat_threshold)},
    {"max_gradients", VH_RF_WHOLE, "0", 0, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, max_gradients)},
    {"max_seconds", VH_RF_NONNEG, "0", 0, 0, NULL, offsetof(vh_runfile, max_seconds)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const vh_rf_field vh_rf_averaging[] = {
    {"method", VH_RF_CHOICE, "polynomial", 0, 0, vh_runfile_averagings,
     offsetof(vh_runfile, averaging)},
    {"start", VH_RF_WHOLE, "0", 0, VH_RF_NO_MAX, NULL, offsetof(vh_runfile, averaging_start)},
    {"power", VH_RF_NONNEG, "8", 0, 0, NULL, offsetof(vh_runfile, averaging_power)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const vh_rf_field vh_rf_adapt[] = {
    {"enabled", VH_RF_BOOL, "false", 0, 0, NULL, offsetof(vh_runfile, adapt)},
    {"iterations", VH_RF_WHOLE, "50", 1, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, adapt_iterations)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const vh_rf_field vh_rf_output[] = {
    {"dir", VH_RF_TEXT, NULL, 0, 0, NULL, offsetof(vh_runfile, output_dir)},
    {"draws", VH_RF_WHOLE, "1000", 0, VH_RF_NO_MAX, NULL, offsetof(vh_runfile, draws)},
    {"iw_samples", VH_RF_WHOLE, "10", 1, VH_RF_NO_MAX, NULL, offsetof(vh_runfile, iw_samples)},
    {"checkpoint_every", VH_RF_WHOLE, "0", 0, VH_RF_NO_MAX, NULL,
     offsetof(vh_runfile, checkpoint_every)},
    {NULL, 0, NULL, 0, 0, NULL, 0}};

static const vh_rf_field vh_rf_version = {"vihost", VH_RF_WHOLE, "1", 1, 1, NULL, 0};
static const vh_rf_field vh_rf_seed = {"seed", VH_RF_WHOLE, "1", 0, VH_RF_NO_MAX, NULL,
                                       offsetof(vh_runfile, seed)};
static const vh_rf_field vh_rf_threads = {"threads", VH_RF_WHOLE, "1", 1, 256, NULL,
                                          offsetof(vh_runfile, threads)};

/* "'relative' or 'none'" */
static void rf_choice_list(char *buf, size_t size, const char *const *choices)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t k = 0; choices[k] != NULL && n < size; k++) {
        const char *sep = k == 0 ? "" : choices[k + 1] == NULL ? " or " : ", ";
        n += (size_t)snprintf(buf + n, size - n, "%s'%s'", sep, choices[k]);
    }
}

static int rf_read_whole(const vh_rf *rf, const vh_rf_field *f, const char *name,
                         const vh_node *node, uint64_t *out)
{
    char got[128], expect[96];
    if (rf_parse_whole(node, out) == 0 && *out >= f->min && *out <= f->max)
        return 0;
    vh_node_describe(node, got, sizeof got);
    if (f->min == f->max)
        return rf_fail_at(rf, node, "'%s' must be %llu, got %s", name,
                          (unsigned long long)f->min, got);
    if (f->max == VH_RF_NO_MAX)
        snprintf(expect, sizeof expect, ">= %llu", (unsigned long long)f->min);
    else
        snprintf(expect, sizeof expect, "in [%llu, %llu]", (unsigned long long)f->min,
                 (unsigned long long)f->max);
    return rf_fail_at(rf, node, "'%s' must be a whole number %s, got %s", name,
                      expect, got);
}

static int rf_read_choice(const vh_rf *rf, const vh_rf_field *f, const char *name,
                          const vh_node *node, char **out)
{
    char got[128], list[256], hint[96] = "";
    if (node->kind == VH_NODE_SCALAR)
        for (size_t k = 0; f->choices[k] != NULL; k++)
            if (strcmp(node->scalar, f->choices[k]) == 0)
                return (*out = strdup(node->scalar)) != NULL ? 0 : rf_oom(rf);
    vh_node_describe(node, got, sizeof got);
    rf_choice_list(list, sizeof list, f->choices);
    const char *near =
        node->kind == VH_NODE_SCALAR ? vh_suggest(node->scalar, f->choices) : NULL;
    if (near != NULL)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    return rf_fail_at(rf, node, "'%s' must be %s, got %s%s", name, list, got, hint);
}

/* Reads one field's value into its member of run. */
static int rf_read_field(const vh_rf *rf, const vh_rf_field *f, const char *name,
                         const vh_node *node)
{
    char got[128];
    void *member = (char *)rf->run + f->offset;
    double x;
    switch (f->type) {
    case VH_RF_WHOLE:
        return rf_read_whole(rf, f, name, node, member);
    case VH_RF_CHOICE:
        return rf_read_choice(rf, f, name, node, member);
    case VH_RF_REAL:
        if (vh_node_number(node, &x) == 0 && x > 0) {
            *(double *)member = x;
            return 0;
        }
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be a number > 0, got %s", name, got);
    case VH_RF_NONNEG:
        if (vh_node_number(node, &x) == 0 && x >= 0 && isfinite(x)) {
            *(double *)member = x;
            return 0;
        }
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be a number >= 0 (0: no limit), got %s", name,
                          got);
    case VH_RF_BOOL:
        if (node->kind == VH_NODE_SCALAR && !node->quoted &&
            (strcmp(node->scalar, "true") == 0 || strcmp(node->scalar, "false") == 0)) {
            *(int *)member = node->scalar[0] == 't';
            return 0;
        }
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be true or false, got %s", name, got);
    case VH_RF_TEXT:
        if (node->kind == VH_NODE_SCALAR && node->scalar[0] != '\0' && !rf_is_null(node))
            return (*(char **)member = strdup(node->scalar)) != NULL ? 0 : rf_oom(rf);
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be a folder path, got %s", name, got);
    }
    return rf_oom(rf);
}

/* Fills an absent field with its default, then reads it.  `section` is
 * NULL at the top level. */
static int rf_field(const vh_rf *rf, const vh_rf_field *f, const char *section,
                    vh_node **slot)
{
    char name[128];
    if (*slot == NULL) {
        *slot = vh_node_new_scalar(f->fallback ? f->fallback : rf->default_dir, 0, vh_no_pos);
        if (*slot == NULL)
            return rf_oom(rf);
    }
    snprintf(name, sizeof name, "%s%s%s", section ? section : "", section ? "." : "", f->key);
    return rf_read_field(rf, f, name, *slot);
}

/* Takes the value of `key` out of `map` (leaving a NULL behind for
 * vh_node_free to skip); NULL when absent. */
static vh_node *rf_take(vh_node *map, const char *key, vh_pos *key_pos)
{
    long i = vh_node_map_index(map, key);
    *key_pos = vh_no_pos;
    if (i < 0)
        return NULL;
    vh_node *value = map->items[i];
    map->items[i] = NULL;
    *key_pos = map->key_pos[i];
    return value;
}

/* A mapping section of scalar fields (objective, stop, output): checked,
 * read, and rebuilt in schema order with the defaults filled in. */
static int rf_section(const vh_rf *rf, vh_node **slot, const char *section,
                      const vh_rf_field *fields)
{
    const char *keys[16];
    size_t n = 0;
    while (fields[n].key != NULL && n < 15) {
        keys[n] = fields[n].key;
        n++;
    }
    keys[n] = NULL;
    vh_node *old = *slot;
    if (old != NULL && !rf_is_null(old) && old->kind != VH_NODE_MAPPING) {
        char got[128], list[256];
        vh_node_describe(old, got, sizeof got);
        rf_key_list(list, sizeof list, keys);
        return rf_fail_at(rf, old, "'%s' must be a mapping (keys: %s), got %s", section, list, got);
    }
    if (old != NULL && old->kind == VH_NODE_MAPPING &&
        rf_check_keys(rf, old, section, keys) != 0)
        return -1;
    vh_node *map = vh_node_new_mapping(old != NULL ? old->pos : vh_no_pos);
    if (map == NULL)
        return rf_oom(rf);
    *slot = map;
    for (size_t i = 0; i < n; i++) {
        vh_pos key_pos = vh_no_pos;
        vh_node *value = old != NULL && old->kind == VH_NODE_MAPPING
                             ? rf_take(old, keys[i], &key_pos) : NULL;
        int rc = rf_field(rf, &fields[i], section, &value);
        if (rc == 0 && vh_node_map_append(map, keys[i], key_pos, value) != 0)
            rc = rf_oom(rf);
        if (rc != 0) {
            vh_node_free(value);
            vh_node_free(old);
            return -1;
        }
    }
    vh_node_free(old);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Components                                                           */
/* ------------------------------------------------------------------ */

/* `family: fullrank` means `family: {plugin: fullrank}`. */
static int rf_expand_shorthand(const vh_rf *rf, vh_node **slot)
{
    vh_node *name = *slot;
    vh_node *map = vh_node_new_mapping(name->pos);
    if (map == NULL || (name->origin != NULL && (map->origin = strdup(name->origin)) == NULL) ||
        vh_node_map_append(map, "plugin", name->pos, name) != 0) {
        vh_node_free(map);
        return rf_oom(rf);
    }
    *slot = map;
    return 0;
}

/* A string key of a component section: not empty, and resolved against
 * the run file's folder when it is a path (`always_path` for data). */
static int rf_component_text(const vh_rf *rf, const vh_node *node, const char *name,
                             int always_path, char **out)
{
    char got[128];
    if (node->kind != VH_NODE_SCALAR || node->scalar[0] == '\0' || rf_is_null(node)) {
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be %s, got %s", name,
                          always_path ? "a file path" : "a component name or a path to a .so",
                          got);
    }
    *out = always_path || rf_is_path(node->scalar) ? rf_resolve_path(rf, node->scalar)
                                                    : strdup(node->scalar);
    return *out != NULL ? 0 : rf_oom(rf);
}

/* Rebuilds a checked section as {plugin, data (targets), options}, the
 * options an empty mapping when none were given. */
static int rf_component_rebuild(const vh_rf *rf, vh_node **slot, vh_component_spec *spec)
{
    static const char *const order[] = {"plugin", "data", "options", NULL};
    vh_node *old = *slot, *map = vh_node_new_mapping(old->pos);
    if (map == NULL)
        return rf_oom(rf);
    map->origin = old->origin;   /* moves with the section */
    old->origin = NULL;
    *slot = map;
    for (size_t k = 0; order[k] != NULL; k++) {
        vh_pos key_pos;
        vh_node *value = rf_take(old, order[k], &key_pos);
        if (value != NULL && rf_is_null(value) && strcmp(order[k], "options") == 0) {
            vh_node_free(value);
            value = NULL;
        }
        if (value == NULL && strcmp(order[k], "options") == 0)
            value = vh_node_new_mapping(vh_no_pos);
        if (value == NULL)
            continue;
        if (vh_node_map_append(map, order[k], key_pos, value) != 0) {
            vh_node_free(value);
            vh_node_free(old);
            return rf_oom(rf);
        }
        if (strcmp(order[k], "options") == 0)
            spec->options = value;
    }
    vh_node_free(old);
    return 0;
}

/* One target, family or optimizer section; `what` names it in messages
 * ("target", "family[1]"), `pos` is where it stands.  `fallback` is the
 * plugin when the section names none (NULL: it must name one). */
static int rf_component(const vh_rf *rf, vh_node **slot, const char *what, vh_pos pos,
                        int is_target, const char *fallback, vh_component_spec *spec)
{
    static const char *const target_keys[] = {"plugin", "data", "options", NULL};
    static const char *const other_keys[] = {"plugin", "options", NULL};
    char name[160], got[128];
    spec->pos = pos;
    if ((*slot)->kind == VH_NODE_SCALAR && !rf_is_null(*slot) &&
        rf_expand_shorthand(rf, slot) != 0)
        return -1;
    vh_node *node = *slot;
    if (node->kind != VH_NODE_MAPPING && !rf_is_null(node)) {
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'%s' must be a mapping like {plugin: NAME, options: {...}}, got %s",
                          what, got);
    }
    if (node->kind == VH_NODE_MAPPING &&
        rf_check_keys(rf, node, what, is_target ? target_keys : other_keys) != 0)
        return -1;
    vh_node *plugin = vh_node_map_get(node, "plugin");
    if (plugin == NULL && fallback != NULL && node->kind == VH_NODE_MAPPING) {
        /* `optimizer: {options: ...}` (or such a --set) tunes the default. */
        if ((plugin = vh_node_new_scalar(fallback, 0, vh_no_pos)) == NULL ||
            vh_node_map_append(node, "plugin", vh_no_pos, plugin) != 0) {
            vh_node_free(plugin);
            return rf_oom(rf);
        }
    }
    if (plugin == NULL)
        return rf_fail(rf, pos, node->origin,
                       "'%s' needs key 'plugin' (a component name or a path to a .so)", what);
    snprintf(name, sizeof name, "%s.plugin", what);
    if (rf_component_text(rf, plugin, name, 0, &spec->plugin) != 0)
        return -1;
    vh_node *data = vh_node_map_get(node, "data");
    snprintf(name, sizeof name, "%s.data", what);
    if (data != NULL && rf_component_text(rf, data, name, 1, &spec->data) != 0)
        return -1;
    vh_node *options = vh_node_map_get(node, "options");
    if (options != NULL && options->kind != VH_NODE_MAPPING && !rf_is_null(options)) {
        vh_node_describe(options, got, sizeof got);
        return rf_fail_at(rf, options, "'%s.options' must be a mapping of option names to values, got %s",
                          what, got);
    }
    return rf_component_rebuild(rf, slot, spec);
}

/* ------------------------------------------------------------------ */
/* Top-level keys                                                       */
/* ------------------------------------------------------------------ */

static int rf_top_version(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    uint64_t version = 0;
    (void)key_pos;
    if (*slot == NULL && (*slot = vh_node_new_scalar("1", 0, vh_no_pos)) == NULL)
        return rf_oom(rf);
    if (rf_read_whole(rf, &vh_rf_version, "vihost", *slot, &version) != 0)
        return -1;
    rf->run->version = (int64_t)version;
    return 0;
}

static int rf_top_seed(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    return rf_field(rf, &vh_rf_seed, NULL, slot);
}

/* reference: a reference posterior's CSV file (posteriordb's
 * reference.csv layout, or draws), relative to the run file's folder; kept
 * as `reference: null` in the resolved file when absent. */
static int rf_top_reference(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        return (*slot = vh_node_new_scalar("null", 0, vh_no_pos)) != NULL ? 0 : rf_oom(rf);
    }
    return rf_component_text(rf, *slot, "reference", 1, &rf->run->reference);
}

static const char *const vh_rf_top_keys[] = {
    "vihost", "seed", "plugin_path", "target", "family", "optimizer",
    "objective", "stop", "averaging", "adapt", "output", "threads", "reference", "sweep", NULL};

/* threads: a whole number, or `auto` (the default): one per CPU this
 * process may use, shared among the MPI ranks on one machine (run->threads
 * 0, resolved when the run starts). */
static int rf_top_threads(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    uint64_t n = 0;
    char got[128];
    (void)key_pos;
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        if ((*slot = vh_node_new_scalar("auto", 0, vh_no_pos)) == NULL)
            return rf_oom(rf);
    }
    const vh_node *node = *slot;
    if (node->kind == VH_NODE_SCALAR && !node->quoted && strcmp(node->scalar, "auto") == 0) {
        rf->run->threads = 0;
        return 0;
    }
    if (rf_parse_whole(node, &n) == 0 && n >= vh_rf_threads.min && n <= vh_rf_threads.max) {
        rf->run->threads = n;
        return 0;
    }
    vh_node_describe(node, got, sizeof got);
    return rf_fail_at(rf, node, "'threads' must be a whole number in [1, 256], got %s (or "
                      "auto: one per CPU)", got);
}

/* sweep: a grid of runs, a mapping of run-file keys (dotted, as for --set)
 * to lists of values; checked here for its shape, and kept in the tree
 * (`sweep: null` when absent).  The runs themselves are checked when the
 * sweep expands them (sweep.h). */
static int rf_top_sweep(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    char got[128];
    (void)key_pos;
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        return (*slot = vh_node_new_scalar("null", 0, vh_no_pos)) != NULL ? 0 : rf_oom(rf);
    }
    const vh_node *node = *slot;
    if (node->kind != VH_NODE_MAPPING || node->count == 0) {
        vh_node_describe(node, got, sizeof got);
        return rf_fail_at(rf, node, "'sweep' must be a mapping of run-file keys to lists of "
                          "values, like {seed: [1, 2], family: [meanfield, fullrank]}, got %s",
                          got);
    }
    for (size_t i = 0; i < node->count; i++) {
        const vh_node *values = node->items[i];
        const char *key = node->keys[i];
        size_t top = strcspn(key, ".");
        int known = 0;
        for (size_t k = 0; vh_rf_top_keys[k] != NULL && !known; k++)
            known = strlen(vh_rf_top_keys[k]) == top &&
                    strncmp(vh_rf_top_keys[k], key, top) == 0 &&
                    strcmp(vh_rf_top_keys[k], "sweep") != 0 &&
                    strcmp(vh_rf_top_keys[k], "vihost") != 0;
        if (!known || (key[top] == '.' && key[top + 1] == '\0'))
            return rf_fail(rf, node->key_pos[i], node->origin,
                           "'sweep' key '%s' is not a run-file key (write a top-level key or "
                           "a dotted path like optimizer.options.learning_rate)", key);
        if (strcmp(key, "output.dir") == 0 || strcmp(key, "output") == 0)
            return rf_fail(rf, node->key_pos[i], node->origin,
                           "'sweep' cannot vary '%s': each run of a sweep writes into its own "
                           "folder under output.dir", key);
        if (values->kind != VH_NODE_SEQUENCE || values->count == 0) {
            vh_node_describe(values, got, sizeof got);
            return rf_fail_at(rf, values, "'sweep.%s' must be a non-empty list of values, "
                              "got %s", key, got);
        }
    }
    rf->run->sweep = node;
    return 0;
}

static int rf_top_objective(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    if (rf_section(rf, slot, "objective", vh_rf_objective) != 0)
        return -1;
    /* The score gradient's baseline for each draw is the mean of the others. */
    const vh_node *at = vh_node_map_get(*slot, "grad_samples");
    if (at->pos.line == 0 && at->origin == NULL) /* the default: point at the gradient */
        at = vh_node_map_get(*slot, "gradient");
    if (strcmp(rf->run->gradient, "score") == 0 && rf->run->grad_samples < 2)
        return rf_fail_at(rf, at,
                          "'objective.grad_samples' must be >= 2 with gradient 'score' (each "
                          "draw's baseline is the mean of the other draws), got %llu",
                          (unsigned long long)rf->run->grad_samples);
    return 0;
}

static int rf_top_stop(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    /* The relative rule's tolerance defaults to Stan's 0.01; the table's
     * 0.0001 suits mcse, whose Monte Carlo term decides. */
    vh_node *rule = *slot != NULL && (*slot)->kind == VH_NODE_MAPPING
                        ? vh_node_map_get(*slot, "rule") : NULL;
    if (rule != NULL && rule->kind == VH_NODE_SCALAR && strcmp(rule->scalar, "relative") == 0 &&
        vh_node_map_index(*slot, "tolerance") < 0) {
        vh_node *tol = vh_node_new_scalar("0.01", 0, vh_no_pos);
        if (tol == NULL || vh_node_map_append(*slot, "tolerance", vh_no_pos, tol) != 0) {
            vh_node_free(tol);
            return rf_oom(rf);
        }
    }
    if (rf_section(rf, slot, "stop", vh_rf_stop) != 0)
        return -1;
    if (!(rf->run->rhat_threshold > 1.0))
        return rf_fail_at(rf, vh_node_map_get(*slot, "rhat_threshold"),
                          "'stop.rhat_threshold' must be a number > 1, got %g",
                          rf->run->rhat_threshold);
    return 0;
}

static int rf_top_averaging(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    return rf_section(rf, slot, "averaging", vh_rf_averaging);
}

static int rf_top_adapt(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    return rf_section(rf, slot, "adapt", vh_rf_adapt);
}

static int rf_top_output(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    (void)key_pos;
    return rf_section(rf, slot, "output", vh_rf_output);
}

/* plugin_path: one folder or a list of them; kept as written in the tree,
 * resolved against the run file's folder in run->plugin_path. */
static int rf_top_plugin_path(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    vh_runfile *run = rf->run;
    (void)key_pos;
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        return (*slot = vh_node_new_sequence(vh_no_pos)) != NULL ? 0 : rf_oom(rf);
    }
    vh_node *node = *slot;
    int single = node->kind != VH_NODE_SEQUENCE;
    size_t n = single ? 1 : node->count;
    run->plugin_path = calloc(n + 1, sizeof *run->plugin_path);
    if (run->plugin_path == NULL)
        return rf_oom(rf);
    for (size_t i = 0; i < n; i++) {
        char name[64], got[128];
        const vh_node *item = single ? node : node->items[i];
        snprintf(name, sizeof name, single ? "plugin_path" : "plugin_path[%zu]", i);
        if (item->kind != VH_NODE_SCALAR || item->scalar[0] == '\0' || rf_is_null(item)) {
            vh_node_describe(item, got, sizeof got);
            return rf_fail_at(rf, item, "'%s' must be a folder path%s, got %s", name,
                              single ? " or a list of them" : "", got);
        }
        if ((run->plugin_path[i] = rf_resolve_path(rf, item->scalar)) == NULL)
            return rf_oom(rf);
        run->n_plugin_path = i + 1;
    }
    return 0;
}

static int rf_top_target(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    return rf_component(rf, slot, "target", key_pos, 1, NULL, &rf->run->target);
}

/* The optimizer of a run file that names none: adam tuned for variational
 * inference (see plugins/optimizers/adam.c and share/doc/optimizers.md). */
static const char *const vh_rf_default_optimizer[][2] = {
    {"learning_rate", "0.2"}, {"beta2", "0.9"}, {"decay", "0.1"}};

static vh_node *rf_default_optimizer(void)
{
    vh_node *map = vh_node_new_mapping(vh_no_pos), *options = vh_node_new_mapping(vh_no_pos);
    int bad = map == NULL || options == NULL;
    for (size_t i = 0; i < 3 && !bad; i++) {
        vh_node *value = vh_node_new_scalar(vh_rf_default_optimizer[i][1], 0, vh_no_pos);
        if (value == NULL ||
            vh_node_map_append(options, vh_rf_default_optimizer[i][0], vh_no_pos, value) != 0) {
            vh_node_free(value);
            bad = 1;
        }
    }
    vh_node *plugin = bad ? NULL : vh_node_new_scalar("adam", 0, vh_no_pos);
    if (plugin == NULL || vh_node_map_append(map, "plugin", vh_no_pos, plugin) != 0) {
        vh_node_free(plugin);
        bad = 1;
    }
    if (!bad && vh_node_map_append(map, "options", vh_no_pos, options) == 0)
        return map;
    vh_node_free(options);
    vh_node_free(map);
    return NULL;
}

static int rf_top_optimizer(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        if ((*slot = rf_default_optimizer()) == NULL)
            return rf_oom(rf);
    }
    return rf_component(rf, slot, "optimizer", key_pos, 0, "adam", &rf->run->optimizer);
}

/* family: one section (kept a mapping) or a list of them (kept a list, a
 * comparison run). */
static int rf_top_family(vh_rf *rf, vh_node **slot, vh_pos key_pos)
{
    vh_runfile *run = rf->run;
    if (*slot == NULL || rf_is_null(*slot)) {
        vh_node_free(*slot);
        if ((*slot = vh_node_new_scalar("meanfield", 0, vh_no_pos)) == NULL)
            return rf_oom(rf);
    }
    vh_node *node = *slot;
    if (node->kind != VH_NODE_SEQUENCE) {
        if ((run->families = calloc(1, sizeof *run->families)) == NULL)
            return rf_oom(rf);
        run->n_families = 1;
        return rf_component(rf, slot, "family", key_pos, 0, "meanfield", &run->families[0]);
    }
    if (node->count == 0)
        return rf_fail_at(rf, node, "'family' lists no families (leave it out for meanfield)");
    if ((run->families = calloc(node->count, sizeof *run->families)) == NULL)
        return rf_oom(rf);
    run->n_families = node->count;
    for (size_t i = 0; i < node->count; i++) {
        char what[32];
        snprintf(what, sizeof what, "family[%zu]", i);
        if (rf_component(rf, &node->items[i], what, node->items[i]->pos, 0, NULL,
                         &run->families[i]) != 0)
            return -1;
    }
    return 0;
}

typedef struct vh_rf_top {
    const char *key;
    int (*resolve)(vh_rf *rf, vh_node **slot, vh_pos key_pos);
} vh_rf_top;

/* The top-level keys, in the order of the resolved file. */
static const vh_rf_top vh_rf_tops[] = {
    {"vihost", rf_top_version},       {"seed", rf_top_seed},
    {"plugin_path", rf_top_plugin_path}, {"target", rf_top_target},
    {"family", rf_top_family},        {"optimizer", rf_top_optimizer},
    {"objective", rf_top_objective},  {"stop", rf_top_stop},
    {"averaging", rf_top_averaging},  {"adapt", rf_top_adapt},
    {"output", rf_top_output},        {"threads", rf_top_threads},
    {"reference", rf_top_reference},  {"sweep", rf_top_sweep},
    {NULL, NULL}};

/* Checks the whole tree and replaces it by its resolved form. */
static int rf_resolve(vh_rf *rf, vh_node **rootp)
{
    vh_node *old = *rootp;
    if (rf_check_keys(rf, old, NULL, vh_rf_top_keys) != 0)
        return -1;
    if (vh_node_map_index(old, "target") < 0) {
        vh_pos top = {1, 1};
        return rf_fail(rf, top, NULL, "missing required key 'target' (the model to fit)");
    }
    vh_node *root = vh_node_new_mapping(old->pos);
    if (root == NULL)
        return rf_oom(rf);
    *rootp = root;
    for (size_t k = 0; vh_rf_tops[k].key != NULL; k++) {
        vh_pos key_pos;
        vh_node *value = rf_take(old, vh_rf_tops[k].key, &key_pos);
        int rc = vh_rf_tops[k].resolve(rf, &value, key_pos);
        if (rc == 0 && vh_node_map_append(root, vh_rf_tops[k].key, key_pos, value) != 0)
            rc = rf_oom(rf);
        if (rc != 0) {
            vh_node_free(value);
            vh_node_free(old);
            return -1;
        }
    }
    vh_node_free(old);
    return 0;
}

/* ------------------------------------------------------------------ */
/* --set                                                                */
/* ------------------------------------------------------------------ */

/* Marks a tree as made by the --set argument `arg`. */
static int rf_mark_origin(vh_node *node, const char *arg)
{
    node->pos = vh_no_pos;
    free(node->origin);
    if ((node->origin = strdup(arg)) == NULL)
        return -1;
    for (size_t i = 0; i < node->count; i++) {
        if (node->kind == VH_NODE_MAPPING)
            node->key_pos[i] = vh_no_pos;
        if (rf_mark_origin(node->items[i], arg) != 0)
            return -1;
    }
    return 0;
}

/* Puts `value` at the dotted `key` under root, making the mappings on the
 * way.  Takes value in every case. */
static int rf_place(const vh_rf *rf, vh_node *root, char *key, const char *arg,
                    vh_node *value)
{
    vh_node *map = root;
    for (char *part = key;;) {
        char *dot = strchr(part, '.');
        if (dot != NULL)
            *dot = '\0';
        if (part[0] == '\0') {
            vh_node_free(value);
            return vh_err_set(rf->err, VH_EXIT_USAGE,
                              "--set '%s': empty part in the key (write a.b.c=value)", arg);
        }
        long i = vh_node_map_index(map, part);
        if (dot == NULL) {
            if (i >= 0)
                vh_node_map_replace(map, (size_t)i, value);
            else if (vh_node_map_append(map, part, vh_no_pos, value) != 0) {
                vh_node_free(value);
                return rf_oom(rf);
            }
            return 0;
        }
        vh_node *next = i >= 0 ? map->items[i] : NULL;
        if (next == NULL || rf_is_null(next)) {
            /* A section the file leaves out (or empty) is made here. */
            next = vh_node_new_mapping(vh_no_pos);
            int rc = next != NULL && (next->origin = strdup(arg)) != NULL ? 0 : -1;
            if (rc == 0 && i >= 0)
                vh_node_map_replace(map, (size_t)i, next);
            else if (rc == 0)
                rc = vh_node_map_append(map, part, vh_no_pos, next);
            if (rc != 0) {
                vh_node_free(next);
                vh_node_free(value);
                return rf_oom(rf);
            }
        } else if (next->kind != VH_NODE_MAPPING) {
            vh_node_free(value);
            return vh_err_set(rf->err, VH_EXIT_USAGE,
                              "--set '%s': '%s' is not a mapping, so it cannot hold '%s'",
                              arg, part, dot + 1);
        }
        map = next;
        part = dot + 1;
    }
}

/* A line:column inside a one-line --set value says less than the value
 * itself, which the message shows: "LABEL:1:3: what" becomes "LABEL: what". */
static int rf_drop_position(vh_err *err, const char *label)
{
    size_t n = strlen(label);
    if (err == NULL || strncmp(err->message, label, n) != 0 || err->message[n] != ':')
        return -1;
    char *rest = strstr(err->message + n + 1, ": ");
    if (rest != NULL && rest[-1] >= '0' && rest[-1] <= '9')
        memmove(err->message + n, rest, strlen(rest) + 1);
    return -1;
}

static int rf_apply_set(const vh_rf *rf, vh_node *root, const char *arg)
{
    char label[512];
    vh_node *value = NULL;
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return vh_err_set(rf->err, VH_EXIT_USAGE,
                          "--set '%s': expected KEY=VALUE, like stop.max_iterations=500", arg);
    snprintf(label, sizeof label, "--set '%s'", arg);
    /* The key is not read by the YAML parser, which would refuse it. */
    for (const char *c = arg; c < eq; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return vh_err_set(rf->err, VH_EXIT_USAGE,
                              "--set '%s': the key holds a control character", arg);
    char *key_text = strndup(arg, (size_t)(eq - arg));
    if (key_text == NULL)
        return rf_oom(rf);
    int key_ok = vh_utf8_valid(key_text);
    free(key_text);
    if (!key_ok)
        return vh_err_set(rf->err, VH_EXIT_USAGE,
                          "--set '%s': the key is not UTF-8 text", arg);
    if (vh_node_parse_string(eq + 1, strlen(eq + 1), label, &value, rf->err) != 0)
        return rf_drop_position(rf->err, label);
    if (value == NULL)
        return vh_err_set(rf->err, VH_EXIT_USAGE, "--set '%s': no value after '='", arg);
    char *key = strndup(arg, (size_t)(eq - arg));
    if (key == NULL || rf_mark_origin(value, arg) != 0) {
        free(key);
        vh_node_free(value);
        return rf_oom(rf);
    }
    int rc = rf_place(rf, root, key, arg, value);
    free(key);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */
/* ------------------------------------------------------------------ */

/* The run file's folder, and output.dir's default "results/<stem>". */
static int rf_paths(vh_rf *rf, const char *path)
{
    vh_runfile *run = rf->run;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        run->base_dir = strdup(".");
    else
        run->base_dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    const char *name = slash != NULL ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    size_t stem = dot != NULL && dot != name ? (size_t)(dot - name) : strlen(name);
    rf->default_dir = malloc(stem + sizeof "results/");
    if (run->base_dir == NULL || rf->default_dir == NULL)
        return rf_oom(rf);
    sprintf(rf->default_dir, "results/%.*s", (int)stem, name);
    return 0;
}

/* `text` (len bytes) is the file's content when already in memory; NULL:
 * read run->path. */
static int rf_load(vh_rf *rf, const char *text, size_t len, const char *const *sets,
                   size_t n_sets)
{
    vh_runfile *run = rf->run;
    char got[128];
    if (rf_paths(rf, run->path) != 0)
        return -1;
    if ((text != NULL ? vh_node_parse_string(text, len, run->path, &run->root, rf->err)
                      : vh_node_parse_file(run->path, &run->root, rf->err)) != 0)
        return -1;
    if (run->root == NULL || rf_is_null(run->root))
        return vh_err_set(rf->err, VH_EXIT_USAGE, "%s: the run file is empty", rf->file);
    if (run->root->kind != VH_NODE_MAPPING) {
        vh_node_describe(run->root, got, sizeof got);
        return rf_fail_at(rf, run->root,
                          "a run file is a mapping of keys like 'target:', got %s", got);
    }
    for (size_t i = 0; i < n_sets; i++)
        if (rf_apply_set(rf, run->root, sets[i]) != 0)
            return -1;
    return rf_resolve(rf, &run->root);
}

static int rf_load_any(const char *path, const char *text, size_t len,
                       const char *const *sets, size_t n_sets, vh_runfile **out,
                       vh_err *err)
{
    vh_rf rf = {path, NULL, err, NULL};
    *out = NULL;
    rf.run = calloc(1, sizeof *rf.run);
    if (rf.run == NULL || (rf.run->path = strdup(path)) == NULL) {
        free(rf.run);
        return rf_oom(&rf);
    }
    int rc = rf_load(&rf, text, len, sets, n_sets);
    free(rf.default_dir);
    if (rc != 0) {
        vh_runfile_free(rf.run);
        return -1;
    }
    *out = rf.run;
    return 0;
}

int vh_runfile_load(const char *path, const char *const *sets, size_t n_sets,
                    vh_runfile **out, vh_err *err)
{
    return rf_load_any(path, NULL, 0, sets, n_sets, out, err);
}

int vh_runfile_load_text(const char *path, const char *text, size_t len,
                         const char *const *sets, size_t n_sets, vh_runfile **out,
                         vh_err *err)
{
    return rf_load_any(path, text != NULL ? text : "", text != NULL ? len : 0, sets,
                       n_sets, out, err);
}

static void rf_spec_free(vh_component_spec *spec)
{
    free(spec->plugin);
    free(spec->data);
}

void vh_runfile_free(vh_runfile *run)
{
    if (run == NULL)
        return;
    free(run->path);
    free(run->base_dir);
    vh_node_free(run->root);
    for (size_t i = 0; i < run->n_plugin_path; i++)
        free(run->plugin_path[i]);
    free(run->plugin_path);
    rf_spec_free(&run->target);
    for (size_t i = 0; i < run->n_families; i++)
        rf_spec_free(&run->families[i]);
    free(run->families);
    rf_spec_free(&run->optimizer);
    free(run->gradient);
    free(run->base);
    free(run->rule);
    free(run->averaging);
    free(run->output_dir);
    free(run->reference);
    free(run);
}
