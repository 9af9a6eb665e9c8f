/* loader.c — dlopen, check and index plugins (see loader.h). */
#include "loader.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

const char *vh_kind_name(vi_kind kind)
{
    switch (kind) {
    case VI_KIND_TARGET: return "target";
    case VI_KIND_FAMILY: return "family";
    case VI_KIND_OPTIMIZER: return "optimizer";
    }
    return "component";
}

void vh_registry_init(vh_registry *reg)
{
    memset(reg, 0, sizeof *reg);
}

static void library_unload(vh_library *lib)
{
    if (lib == NULL)
        return;
    if (lib->initialized && lib->entry->deinit != NULL)
        lib->entry->deinit();
    if (lib->handle != NULL)
        dlclose(lib->handle);
    free(lib->path);
    free(lib);
}

void vh_registry_free(vh_registry *reg)
{
    for (size_t i = reg->n_libraries; i-- > 0;)
        library_unload(reg->libraries[i]);
    for (size_t i = 0; i < reg->n_refusals; i++)
        free(reg->refusals[i]);
    free(reg->libraries);
    free(reg->components);
    for (size_t i = 0; i < reg->n_retired; i++)
        free(reg->retired[i]);
    free(reg->retired);
    free(reg->refusals);
    vh_registry_init(reg);
}

static int name_is_valid(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return 0;
    return 1;
}

size_t vh_descriptor_min_size(vi_kind kind)
{
    switch (kind) {
    case VI_KIND_TARGET: return sizeof(vi_target_desc);
    case VI_KIND_FAMILY: return sizeof(vi_family_desc);
    case VI_KIND_OPTIMIZER: return sizeof(vi_optimizer_desc);
    }
    return 0;
}

/* The first required member that is NULL, or NULL when all are there. */
static const char *missing_member(const vi_component_head *head)
{
    if (head->kind == VI_KIND_TARGET) {
        const vi_target_desc *d = (const vi_target_desc *)head;
        if (!d->create) return "create";
        if (!d->destroy) return "destroy";
        if (!d->dim) return "dim";
        if (!d->param_name) return "param_name";
        if (!d->log_density) return "log_density";
        if ((d->constrain != NULL) != (d->constrained_dim != NULL) ||
            (d->constrain != NULL) != (d->constrained_name != NULL))
            return "constrain, constrained_dim and constrained_name (all or none)";
        if ((d->n_items != NULL) != (d->log_density_subset != NULL))
            return "n_items and log_density_subset (both or neither)";
    } else if (head->kind == VI_KIND_FAMILY) {
        const vi_family_desc *d = (const vi_family_desc *)head;
        if (!d->create) return "create";
        if (!d->destroy) return "destroy";
        if (!d->n_params) return "n_params";
        if (!d->base_dim) return "base_dim";
        if (!d->init) return "init";
        if (!d->forward) return "forward";
        if (!d->backward) return "backward";
        if (!d->log_q) return "log_q";
    } else {
        const vi_optimizer_desc *d = (const vi_optimizer_desc *)head;
        if (!d->create) return "create";
        if (!d->destroy) return "destroy";
        if (!d->step) return "step";
        if ((d->get_learning_rate != NULL) != (d->set_learning_rate != NULL))
            return "get_learning_rate and set_learning_rate (both or neither)";
        if ((d->state_size != NULL) != (d->save_state != NULL) ||
            (d->state_size != NULL) != (d->load_state != NULL))
            return "state_size, save_state and load_state (all or none)";
    }
    return NULL;
}

/* Checks an option table's entries: keys, types, bounds. */
static int check_options(const char *path, const vi_component_head *head,
                         vh_err *err)
{
    if (head->options == NULL)
        return 0;
    if (head->options[0].key != NULL &&
        head->options[0].struct_size < sizeof(vi_option))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: component '%s': option table entries have struct_size %u, "
                          "less than ABI 1.0's %zu (rebuild the plugin against the SDK)",
                          path, head->name, (unsigned)head->options[0].struct_size,
                          sizeof(vi_option));
    size_t n = vh_option_count(head->options);
    for (size_t i = 0; i < n; i++) {
        const vi_option *opt = vh_option_at(head->options, i);
        if (!name_is_valid(opt->key))
            return vh_err_set(err, VH_EXIT_PLUGIN,
                              "%s: component '%s': option %zu has an invalid key "
                              "(use lower-case letters, digits and '_')",
                              path, head->name, i + 1);
        if (opt->type < VI_OPTION_DOUBLE || opt->type > VI_OPTION_ARRAY)
            return vh_err_set(err, VH_EXIT_PLUGIN,
                              "%s: component '%s': option '%s' has an unknown type %d",
                              path, head->name, opt->key, (int)opt->type);
        if ((opt->type == VI_OPTION_DOUBLE || opt->type == VI_OPTION_INT) &&
            !(opt->min <= opt->max))
            return vh_err_set(err, VH_EXIT_PLUGIN,
                              "%s: component '%s': option '%s' has min > max",
                              path, head->name, opt->key);
        for (size_t j = 0; j < i; j++)
            if (strcmp(vh_option_at(head->options, j)->key, opt->key) == 0)
                return vh_err_set(err, VH_EXIT_PLUGIN,
                                  "%s: component '%s': option '%s' is declared twice",
                                  path, head->name, opt->key);
    }
    return 0;
}

static int check_component(const char *path, const vi_component_head *head,
                           size_t index, vh_err *err)
{
    if (head->struct_size < sizeof(vi_component_head))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: component %zu has struct_size %u, too small for a descriptor "
                          "(rebuild the plugin against the SDK)",
                          path, index + 1, (unsigned)head->struct_size);
    if (head->kind != VI_KIND_TARGET && head->kind != VI_KIND_FAMILY &&
        head->kind != VI_KIND_OPTIMIZER)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: component %zu has unknown kind %d (expected target, family or optimizer)",
                          path, index + 1, (int)head->kind);
    if (!name_is_valid(head->name))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: component %zu has an invalid name (use 1-64 lower-case "
                          "letters, digits and '_')", path, index + 1);
    if (head->struct_size < vh_descriptor_min_size(head->kind))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: %s '%s' has struct_size %u, less than ABI 1.0's %zu "
                          "(a malformed descriptor; rebuild against the SDK)",
                          path, vh_kind_name(head->kind), head->name,
                          (unsigned)head->struct_size, vh_descriptor_min_size(head->kind));
    const char *missing = missing_member(head);
    if (missing != NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: %s '%s' is malformed: required member %s is missing",
                          path, vh_kind_name(head->kind), head->name, missing);
    return check_options(path, head, err);
}

/* Checks the entry's own fields and every descriptor it lists. */
static int check_entry(const char *path, const vi_plugin *entry, vh_err *err)
{
    if (entry->struct_size < offsetof(vi_plugin, abi) + sizeof(vi_version))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: symbol '%s' is malformed (struct_size %u)", path,
                          VI_PLUGIN_ENTRY_SYMBOL, (unsigned)entry->struct_size);
    if (entry->abi.major != VI_ABI_MAJOR)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: built for vihost ABI %u.%u, but this vihost speaks ABI %d.%d "
                          "(rebuild the plugin against this vihost's SDK)",
                          path, (unsigned)entry->abi.major, (unsigned)entry->abi.minor,
                          VI_ABI_MAJOR, VI_ABI_MINOR);
    if (entry->struct_size < sizeof(vi_plugin))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: symbol '%s' has struct_size %u, less than ABI 1.0's %zu",
                          path, VI_PLUGIN_ENTRY_SYMBOL, (unsigned)entry->struct_size,
                          sizeof(vi_plugin));
    if (entry->name == NULL || entry->version == NULL || entry->components == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: symbol '%s' is malformed: name, version and components "
                          "must not be NULL", path, VI_PLUGIN_ENTRY_SYMBOL);
    for (size_t i = 0; entry->components[i] != NULL; i++) {
        if (check_component(path, entry->components[i], i, err) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(entry->components[j]->name, entry->components[i]->name) == 0)
                return vh_err_set(err, VH_EXIT_PLUGIN,
                                  "%s: component name '%s' appears twice in the plugin",
                                  path, entry->components[i]->name);
    }
    return 0;
}

static int registry_add_library(vh_registry *reg, vh_library *lib, vh_err *err)
{
    size_t n_new = 0;
    while (lib->entry->components[n_new] != NULL)
        n_new++;
    for (size_t i = 0; i < n_new; i++) {
        const vh_component *dup =
            vh_registry_find(reg, lib->entry->components[i]->name, 0);
        if (dup != NULL)
            return vh_err_set(err, VH_EXIT_PLUGIN,
                              "%s: component name '%s' is already taken by %s (rename one, "
                              "or leave one folder out of the plugin path)",
                              lib->path, dup->name, dup->library->path);
    }
    vh_library **libs = realloc(reg->libraries, (reg->n_libraries + 1) * sizeof *libs);
    if (libs == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    reg->libraries = libs;
    /* A new array, not realloc: pointers into the old one stay valid. */
    vh_component *comps = malloc((reg->n_components + n_new + 1) * sizeof *comps);
    vh_component **retired =
        realloc(reg->retired, (reg->n_retired + 1) * sizeof *retired);
    if (retired != NULL)
        reg->retired = retired;
    if (comps == NULL || retired == NULL) {
        free(comps);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    if (reg->components != NULL) {
        memcpy(comps, reg->components, reg->n_components * sizeof *comps);
        reg->retired[reg->n_retired++] = reg->components;
    }
    reg->components = comps;
    reg->libraries[reg->n_libraries++] = lib;
    for (size_t i = 0; i < n_new; i++) {
        const vi_component_head *head = lib->entry->components[i];
        reg->components[reg->n_components++] =
            (vh_component){head->kind, head->name, head, lib};
    }
    return 0;
}

static int library_open(const char *path, vh_library *lib, vh_err *err)
{
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle == NULL) {
        const char *why = dlerror();
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot load plugin %s: %s", path,
                          why ? why : "unknown dlopen failure");
    }
    dlerror();
    lib->entry = (const vi_plugin *)dlsym(lib->handle, VI_PLUGIN_ENTRY_SYMBOL);
    if (lib->entry == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: no symbol '%s' (not a vihost plugin? define it with "
                          "VI_EXPORT const vi_plugin %s)",
                          path, VI_PLUGIN_ENTRY_SYMBOL, VI_PLUGIN_ENTRY_SYMBOL);
    if (check_entry(path, lib->entry, err) != 0)
        return -1;
    if (lib->entry->init != NULL) {
        vi_error perr = {sizeof perr, 0, ""};
        int status = lib->entry->init(&perr);
        if (status != 0) {
            if (lib->entry->deinit != NULL)
                lib->entry->deinit();
            return vh_err_set(err, VH_EXIT_PLUGIN, "%s: plugin init failed: %s", path,
                              perr.message[0] ? perr.message : "no message");
        }
        lib->initialized = 1;
    }
    return 0;
}

/* Why someone other than this user or root could change the file or
 * folder `st` describes, or NULL when nobody could. */
static const char *open_to_others(const struct stat *st, char *why, size_t size)
{
    if (st->st_mode & S_IWOTH)
        return "writable by every user";
    if (st->st_mode & S_IWGRP)
        return "writable by its group";
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(why, size, "owned by another user (uid %lu)", (unsigned long)st->st_uid);
        return why;
    }
    return NULL;
}

/* Code another user could swap in would run as this one: a plugin file,
 * or the folder it lies in, that others can write is refused. */
static int check_ownership(const char *real, vh_err *err)
{
    struct stat st;
    char why[64];
    const char *open;
    if (stat(real, &st) != 0)
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot load plugin %s: %s", real,
                          strerror(errno));
    if ((open = open_to_others(&st, why, sizeof why)) != NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: refused: the plugin file is %s, so someone else could change "
                          "the code vihost runs (make it yours and chmod go-w it, or pass "
                          "--allow-insecure-plugins)", real, open);
    const char *slash = strrchr(real, '/');
    char *dir = slash == NULL ? strdup(".")
                              : strndup(real, slash == real ? 1 : (size_t)(slash - real));
    if (dir == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int rc = 0;
    if (stat(dir, &st) != 0)
        rc = vh_err_set(err, VH_EXIT_PLUGIN, "cannot load plugin %s: %s: %s", real, dir,
                        strerror(errno));
    else if ((open = open_to_others(&st, why, sizeof why)) != NULL)
        rc = vh_err_set(err, VH_EXIT_PLUGIN,
                        "%s: refused: its folder %s is %s, so someone else could put other "
                        "code there (make it yours and chmod go-w it, or pass "
                        "--allow-insecure-plugins)", real, dir, open);
    free(dir);
    return rc;
}

int vh_registry_load_file(vh_registry *reg, const char *path, vh_err *err)
{
    char *real = realpath(path, NULL);
    if (real == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "cannot load plugin %s: %s", path,
                          strerror(errno));
    for (size_t i = 0; i < reg->n_libraries; i++)
        if (strcmp(reg->libraries[i]->path, real) == 0) {
            free(real);
            return 0;
        }
    vh_library *lib = calloc(1, sizeof *lib);
    if (lib == NULL) {
        free(real);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    lib->path = real;
    if ((!reg->allow_insecure && check_ownership(real, err) != 0) ||
        library_open(real, lib, err) != 0 || registry_add_library(reg, lib, err) != 0) {
        library_unload(lib);
        return -1;
    }
    return 0;
}

static int has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void registry_refuse(vh_registry *reg, const char *message)
{
    char **more = realloc(reg->refusals, (reg->n_refusals + 1) * sizeof *more);
    if (more == NULL)
        return;
    reg->refusals = more;
    reg->refusals[reg->n_refusals] = strdup(message);
    if (reg->refusals[reg->n_refusals] != NULL)
        reg->n_refusals++;
}

static void scan_folder(vh_registry *reg, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' || !has_so_suffix(ent->d_name))
            continue;
        char **more = realloc(names, (n + 1) * sizeof *more);
        if (more == NULL)
            break;
        names = more;
        if ((names[n] = strdup(ent->d_name)) != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (path != NULL) {
            vh_err err;
            vh_err_clear(&err);
            snprintf(path, len, "%s/%s", dir, names[i]);
            if (vh_registry_load_file(reg, path, &err) != 0)
                registry_refuse(reg, err.message);
            free(path);
        }
        free(names[i]);
    }
    free(names);
}

void vh_registry_scan(vh_registry *reg, const char *const *dirs, size_t n_dirs)
{
    for (size_t i = 0; i < n_dirs; i++)
        scan_folder(reg, dirs[i]);
}

const vh_component *vh_registry_find(const vh_registry *reg, const char *name,
                                     vi_kind kind)
{
    for (size_t i = 0; i < reg->n_components; i++)
        if (strcmp(reg->components[i].name, name) == 0 &&
            (kind == 0 || reg->components[i].kind == kind))
            return &reg->components[i];
    return NULL;
}

/* Whether component c's name is the stem of the file `ref` ("x/normal.so"). */
static int named_like_file(const vh_component *c, const char *ref)
{
    const char *base = strrchr(ref, '/');
    base = base ? base + 1 : ref;
    size_t stem = strlen(base) - (has_so_suffix(base) ? 3 : 0);
    return strlen(c->name) == stem && strncmp(c->name, base, stem) == 0;
}

static int looks_like_path(const char *ref)
{
    return strchr(ref, '/') != NULL || has_so_suffix(ref);
}

/* The one component of `kind` that the library at `real` holds, or the
 * one named like the file. */
static const vh_component *component_of_file(const vh_registry *reg,
                                             const char *real, vi_kind kind,
                                             size_t *n_of_kind)
{
    const vh_component *only = NULL;
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    size_t stem = strlen(base) - (has_so_suffix(base) ? 3 : 0);
    *n_of_kind = 0;
    for (size_t i = 0; i < reg->n_components; i++) {
        const vh_component *c = &reg->components[i];
        if (c->kind != kind || strcmp(c->library->path, real) != 0)
            continue;
        (*n_of_kind)++;
        if (only == NULL || (strlen(c->name) == stem && strncmp(c->name, base, stem) == 0))
            only = c;
    }
    return only;
}

int vh_registry_resolve(vh_registry *reg, const char *ref, vi_kind kind,
                        const char *search_description,
                        const vh_component **out, vh_err *err)
{
    *out = NULL;
    if (looks_like_path(ref)) {
        if (vh_registry_load_file(reg, ref, err) != 0)
            return -1;
        char *real = realpath(ref, NULL);
        size_t n = 0;
        const vh_component *c = real ? component_of_file(reg, real, kind, &n) : NULL;
        free(real);
        if (c == NULL)
            return vh_err_set(err, VH_EXIT_PLUGIN, "%s holds no %s component", ref,
                              vh_kind_name(kind));
        if (n > 1 && !named_like_file(c, ref))
            return vh_err_set(err, VH_EXIT_PLUGIN,
                              "%s holds %zu %s components and none is named like the file; "
                              "name the one you want instead of the path (see vihost list "
                              "--plugin-path)", ref, n, vh_kind_name(kind));
        *out = c;
        return 0;
    }
    const vh_component *c = vh_registry_find(reg, ref, 0);
    if (c != NULL && c->kind != kind)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "'%s' (from %s) is a %s component, not a %s", ref,
                          c->library->path, vh_kind_name(c->kind), vh_kind_name(kind));
    if (c == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "no %s named '%s' in the plugin path (%s)%s; `vihost list` "
                          "shows what is there",
                          vh_kind_name(kind), ref, search_description,
                          reg->n_refusals ? ", some plugin files there were refused" : "");
    *out = c;
    return 0;
}

static int path_list_push(char ***list, size_t *n, const char *dir)
{
    char **more = realloc(*list, (*n + 2) * sizeof *more);
    if (more == NULL)
        return -1;
    *list = more;
    if ((more[*n] = strdup(dir)) == NULL)
        return -1;
    more[++*n] = NULL;
    return 0;
}

/* The folder of this executable, when it runs from a build tree: there the
 * built-in plugins sit in plugins/<kind>/.libs beside it. */
static void push_build_tree_dirs(char ***list, size_t *n)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    static const char *const kinds[] = {"targets", "families", "optimizers"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char dir[4200];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/plugins/%s/.libs", exe, kinds[i]);
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            path_list_push(list, n, dir);
    }
}

/* The installed plugin folder where this executable's installation is
 * now, when it has moved since it was built (a DESTDIR staging, `make
 * install prefix=...`, a copied tree): VIHOST_BINDIR and VIHOST_PLUGINDIR
 * lie under VIHOST_PREFIX, so the executable's folder without its bindir
 * part names the prefix, and the plugin folder lies at the same place
 * under it. */
static void push_relocated_dir(char ***list, size_t *n)
{
    size_t plen = strlen(VIHOST_PREFIX);
    while (plen > 0 && VIHOST_PREFIX[plen - 1] == '/')
        plen--;
    if (strncmp(VIHOST_BINDIR, VIHOST_PREFIX, plen) != 0 ||
        strncmp(VIHOST_PLUGINDIR, VIHOST_PREFIX, plen) != 0)
        return;
    const char *bin_part = VIHOST_BINDIR + plen, *plugin_part = VIHOST_PLUGINDIR + plen;
    char exe[4096], dir[4200];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    size_t elen = strlen(exe), blen = strlen(bin_part);
    if (blen == 0 || elen < blen || strcmp(exe + elen - blen, bin_part) != 0)
        return;
    exe[elen - blen] = '\0';
    snprintf(dir, sizeof dir, "%s%s", exe, plugin_part);
    struct stat st;
    if (strcmp(dir, VIHOST_PLUGINDIR) != 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        path_list_push(list, n, dir);
}

char **vh_search_path(const char *const *cli_dirs, size_t n_cli,
                      const char *const *run_dirs, size_t n_run, size_t *n)
{
    char **list = NULL;
    *n = 0;
    for (size_t i = 0; i < n_cli; i++)
        path_list_push(&list, n, cli_dirs[i]);
    const char *env = getenv("VIHOST_PLUGIN_PATH");
    if (env != NULL) {
        char *copy = strdup(env), *save = NULL;
        /* strtok_r skips empty entries, so "a::b" never means ".". */
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok;
             tok = strtok_r(NULL, ":", &save))
            path_list_push(&list, n, tok);
        free(copy);
    }
    for (size_t i = 0; i < n_run; i++)
        path_list_push(&list, n, run_dirs[i]);
    push_build_tree_dirs(&list, n);
    push_relocated_dir(&list, n);
    path_list_push(&list, n, VIHOST_PLUGINDIR);
    return list;
}

void vh_search_path_free(char **dirs)
{
    if (dirs == NULL)
        return;
    for (char **d = dirs; *d; d++)
        free(*d);
    free(dirs);
}
