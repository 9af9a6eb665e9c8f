/* check.h — `vihost check PLUGIN.so`: a conformance checker for plugins,
 * in the spirit of clap-validator and pluginval.  It loads the plugin,
 * checks its ABI version, its exports (read from the ELF file), each
 * descriptor and option table, and then exercises every component: create
 * and destroy (repeated, watching the heap), gradients against central
 * finite differences, a family's entropy and moments against Monte Carlo,
 * an optimizer's checkpoints, concurrent calls from several threads, and
 * NaN and infinite inputs.  Every check that calls into the plugin runs in
 * a child process, so a plugin that crashes, hangs or exits is reported as
 * a failed check, not fatal to vihost.  Prints one table row per check. */
#ifndef VH_CHECK_H
#define VH_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"

typedef struct vh_check_request {
    const char *plugin;       /* a plugin file, or a component name on the search path */
    const char *component;    /* --component: check only this one; NULL for all */
    const char *config;       /* --config: a run file giving options and data; NULL */
    uint64_t seed;            /* --seed: the random points and draws */
    int level;                /* --level: 1 quick, 2 default, 3 thorough */
    const char *const *plugin_dirs;   /* --plugin-path, to resolve a name */
    size_t n_plugin_dirs;
    int allow_insecure;       /* --allow-insecure-plugins: load plugin files others could
                               * change (refused otherwise, as `run` refuses them) */
} vh_check_request;

/* Runs the checks and prints the table on stdout.  Returns VH_EXIT_OK when
 * every check passed (or was skipped), VH_EXIT_PLUGIN when any failed; -1
 * with err when the checks could not run at all (a bad --config, no such
 * file: exit 2 or 3 in err). */
int vh_check(const vh_check_request *request, vh_err *err);

#endif
