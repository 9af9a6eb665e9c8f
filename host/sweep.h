/* sweep.h — a run file's `sweep:` section: a grid of runs.
 *
 *     sweep:
 *       seed: [1, 2, 3]
 *       family: [meanfield, fullrank]
 *       optimizer.options.learning_rate: [0.05, 0.2]
 *
 * expands into the product of the lists (here 12 runs; the last key varies
 * fastest), each the run file with those keys set as by --set, written to
 * its own folder under output.dir ("003_seed-1_family-fullrank_..."),
 * then sweep.csv in output.dir: one row per fit (run, folder, the swept
 * values, the fitted family, status, exit code, convergence, iterations, gradient
 * evaluations, ELBO, IW-ELBO, k-hat, seconds, error).  Every run file of
 * the grid is checked before the first run starts (exit 2 naming the run).
 * A run that fails does not stop the others; the sweep's exit status is
 * the first failed run's, 0 when all are done.
 *
 * `--jobs J` runs J at a time, each in its own process (with threads:
 * auto they share the CPUs).  Under mpirun the ranks split the grid: rank
 * r runs runs r, r + K, ..., each whole on one process, and rank 0 writes
 * sweep.csv. */
#ifndef VH_SWEEP_H
#define VH_SWEEP_H

#include "errors.h"
#include "run.h"

/* 1 when the request's run file (with its --set values) has a sweep, 0
 * when not, -1 with err when the run file is refused. */
int vh_sweep_wanted(const vh_run_request *req, vh_err *err);

/* Runs the sweep; 0, or -1 with err (the first failed run's status). */
int vh_sweep_run(const vh_run_request *req, vh_err *err);

#endif
