/* guard.h — limits that keep sizes a plugin reports, or counts a run file
 * asks for, from overflowing the host's buffer arithmetic or exhausting
 * memory hours into a run.  Both checks run after the instances are made
 * and before the first iteration, so a run that cannot fit is refused
 * before it starts. */
#ifndef VH_GUARD_H
#define VH_GUARD_H

#include <stddef.h>
#include "engine.h"
#include "errors.h"
#include "runfile.h"

/* No size a plugin reports may exceed this many elements: far beyond any
 * memory, yet small enough that n + 1 and 8 n never wrap around. */
#define VH_GUARD_MAX_ELEMENTS ((size_t)1 << 40)

/* Checks one size a component reported (its dimension, n_params, ...):
 * at least `min` and at most VH_GUARD_MAX_ELEMENTS.  Fails (exit 3) naming
 * `label` ("target 'normal'"), the plugin file, `what` and the value. */
int vh_guard_size(const char *label, const char *file, const char *what, size_t value,
                  size_t min, vh_err *err);

/* Checks every size of a measured model (dimension, n_params, base_dim,
 * workspaces, constrained dimension); `files` are the target's, the
 * family's and the optimizer's plugin files. */
int vh_guard_model(const vh_model *model, const char *target_file,
                   const char *family_file, vh_err *err);

/* Checks that the buffers the fit and its outputs need (draws per
 * gradient, per ELBO estimate, the trace, the output draws) fit in this
 * machine's memory; fails (exit 2) naming the run-file key to lower. */
int vh_guard_memory(const vh_model *model, const vh_runfile *run, vh_err *err);

#endif
