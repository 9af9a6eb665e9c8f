/* run.h — `vihost run`: from a run file to a finished output folder.
 * Reads and checks everything (run file, plugins, data, options, output
 * folder) before anything runs, so a refused run leaves nothing behind. */
#ifndef VH_RUN_H
#define VH_RUN_H

#include <stddef.h>
#include "errors.h"

typedef struct vh_run_request {
    const char *file;                 /* the run file */
    const char *const *sets;          /* --set arguments */
    size_t n_sets;
    const char *const *plugin_dirs;   /* --plugin-path folders */
    size_t n_plugin_dirs;
    int quiet;                        /* no result lines on stdout */
    int verbose;                      /* plugins' info lines on stderr */
    int allow_insecure_plugins;       /* load plugins others could change too */
    int resume;                       /* continue from each fit's checkpoint */
    const struct vh_dist *dist;       /* the MPI ranks running this together (dist.h);
                                       * NULL: this process alone */
    size_t jobs;                      /* --jobs: a sweep's runs at once here; 0 or 1: one */
} vh_run_request;

/* Runs it; returns 0 or -1 with err (exit status in err->exit_code). */
int vh_run(const vh_run_request *request, vh_err *err);

#endif
