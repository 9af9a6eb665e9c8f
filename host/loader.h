/* loader.h — finding, loading and checking plugins.  Follows DESIGN.md's
 * search path (--plugin-path, VIHOST_PLUGIN_PATH, the run file's
 * plugin_path, the installed plugin folder, and a build tree's own
 * plugins), never the current directory implicitly.  Every refusal names
 * the file and what is wrong. */
#ifndef VH_LOADER_H
#define VH_LOADER_H

#include <stddef.h>
#include <vihost/plugin.h>
#include "errors.h"

/* One loaded shared object. */
typedef struct vh_library {
    char *path;               /* as found */
    void *handle;             /* dlopen handle */
    const vi_plugin *entry;   /* its vi_plugin_entry */
    int initialized;          /* entry->init succeeded (deinit owed) */
} vh_library;

/* One component of a loaded library. */
typedef struct vh_component {
    vi_kind kind;
    const char *name;                 /* the descriptor's; lives until unload */
    const vi_component_head *head;    /* the descriptor */
    const vh_library *library;
} vh_component;

/* Every library loaded so far and the components they hold.  Components
 * keep their load order; the first of two with one name wins. */
typedef struct vh_registry {
    vh_library **libraries;
    size_t n_libraries;
    vh_component *components;
    size_t n_components;
    /* Earlier copies of `components`, kept until vh_registry_free: a
     * vh_component pointer handed out (vh_registry_find, _resolve) stays
     * valid when a later load grows the array. */
    vh_component **retired;
    size_t n_retired;
    char **refusals;          /* one line per plugin file refused while scanning */
    size_t n_refusals;
    /* Set after vh_registry_init (--allow-insecure-plugins): load plugin
     * files that others could change too. */
    int allow_insecure;
} vh_registry;

void vh_registry_init(vh_registry *reg);
/* Unloads everything (deinit, dlclose) and frees. */
void vh_registry_free(vh_registry *reg);

/* Loads one plugin file and adds its components.  A refusal (exit 3) names
 * the file: it or its folder could be changed by someone else (writable
 * by its group or by everyone, or owned by another user than this one or
 * root; unless reg->allow_insecure), it cannot be opened, has no
 * vi_plugin_entry, was built for
 * another ABI major, has a malformed descriptor (struct_size too small, a
 * bad kind or name, a required member NULL, a bad option table), a
 * component name already loaded from another file, or its init failed.
 * Loading the same file twice is a no-op. */
int vh_registry_load_file(vh_registry *reg, const char *path, vh_err *err);

/* Loads every "*.so" file in each folder of `dirs` (in order, files sorted
 * by name).  A file that is refused is recorded in reg->refusals and
 * skipped; a folder that does not exist is skipped. */
void vh_registry_scan(vh_registry *reg, const char *const *dirs, size_t n_dirs);

/* The component called `name`, of `kind` (0: any kind), or NULL. */
const vh_component *vh_registry_find(const vh_registry *reg, const char *name,
                                     vi_kind kind);

/* Resolves a component reference: a path (contains '/' or ends in ".so")
 * is loaded and must hold exactly one component of `kind`, or one named
 * like the file; a name is looked up.  Not found (exit 3): says where it
 * looked and how to list what exists. */
int vh_registry_resolve(vh_registry *reg, const char *ref, vi_kind kind,
                        const char *search_description,
                        const vh_component **out, vh_err *err);

/* The search path in order of precedence: cli_dirs, then the entries of
 * $VIHOST_PLUGIN_PATH (':'-separated), then run_dirs, then the build
 * tree's plugin folders when this executable runs from a build tree, then
 * the installed plugin folder relative to this executable when the
 * installation has moved since it was built (DESTDIR, `make install
 * prefix=...`), then VIHOST_PLUGINDIR.  Returns a NULL-terminated array the caller frees with
 * vh_search_path_free; *n gets its length. */
char **vh_search_path(const char *const *cli_dirs, size_t n_cli,
                      const char *const *run_dirs, size_t n_run, size_t *n);
void vh_search_path_free(char **dirs);

/* "target", "family", "optimizer". */
const char *vh_kind_name(vi_kind kind);

/* The 1.0 size of each kind's descriptor: a plugin built against 1.0 or
 * any later minor has at least this much (0 for an unknown kind). */
size_t vh_descriptor_min_size(vi_kind kind);

#endif
