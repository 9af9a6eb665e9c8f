/* guard.c — size and memory limits checked before a fit (see guard.h). */
#include "guard.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int vh_guard_size(const char *label, const char *file, const char *what, size_t value,
                  size_t min, vh_err *err)
{
    if (value >= min && value <= VH_GUARD_MAX_ELEMENTS)
        return 0;
    if (value < min)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s (%s) reports %zu as its %s; it must be at least %zu (a plugin "
                          "fault)", label, file, value, what, min);
    return vh_err_set(err, VH_EXIT_PLUGIN,
                      "%s (%s) reports %zu as its %s, more than vihost can hold (at most "
                      "%zu; a plugin fault)", label, file, value, what, VH_GUARD_MAX_ELEMENTS);
}

int vh_guard_model(const vh_model *m, const char *target_file, const char *family_file,
                   vh_err *err)
{
    size_t cdim = m->target->constrained_dim ? m->target->constrained_dim(m->target_self)
                                             : m->dim;
    if (vh_guard_size(m->target_label, target_file, "dimension", m->dim, 1, err) != 0 ||
        vh_guard_size(m->target_label, target_file, "workspace size", m->target_work, 0,
                      err) != 0 ||
        vh_guard_size(m->target_label, target_file, "constrained dimension", cdim, 0,
                      err) != 0 ||
        vh_guard_size(m->family_label, family_file,
                      "number of variational parameters (n_params)", m->n_params, 1,
                      err) != 0 ||
        vh_guard_size(m->family_label, family_file, "base dimension", m->base_dim, 0,
                      err) != 0 ||
        vh_guard_size(m->family_label, family_file, "workspace size", m->family_work, 0,
                      err) != 0)
        return -1;
    return 0;
}

/* This machine's memory in bytes (2^46 when it cannot be told). */
static double guard_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return 70368744177664.0;
    return (double)pages * (double)size;
}

/* Fails when `bytes` exceed `limit`, naming `key` and what it holds. */
static int guard_need(double bytes, double limit, const char *key, const char *what,
                      vh_err *err)
{
    if (bytes <= limit)
        return 0;
    return vh_err_set(err, VH_EXIT_USAGE,
                      "%s: %s need %.3g GB of memory, more than this machine's %.3g GB; "
                      "lower %s", key, what, bytes / 1e9, limit / 1e9, key);
}

typedef struct guard_term {
    double bytes;
    const char *key;     /* the run-file key that sets it */
    char what[160];
} guard_term;

int vh_guard_memory(const vh_model *m, const vh_runfile *run, vh_err *err)
{
    /* Counted in doubles, which cannot overflow where size_t would wrap. */
    const double limit = guard_physical_memory(), d = sizeof(double);
    size_t cdim = m->target->constrained_dim ? m->target->constrained_dim(m->target_self)
                                             : m->dim;
    /* The trace grows by a row per evaluation: as many as the run may
     * make, unless a time budget ends it first. */
    double iterations = (double)run->max_iterations;
    if (run->max_gradients > 0 && (double)run->max_gradients < iterations)
        iterations = (double)run->max_gradients;
    double evaluations = iterations / (double)run->eval_every + 2.0;
    double trace = run->max_seconds > 0 ? 0.0 : (double)sizeof(vh_trace_row) * evaluations;
    /* Stan's relative rule keeps 0.1 max_iterations / eval_every changes, twice. */
    if (strcmp(run->rule, "relative") == 0)
        trace += 2.0 * d * (0.1 * (double)run->max_iterations / (double)run->eval_every + 2.0);
    uint64_t n_out = run->draws > run->elbo_samples ? run->draws : run->elbo_samples;
    guard_term t[4] = {
        {d * (double)run->grad_samples * ((double)m->n_params + 1.0),
         "objective.grad_samples", ""},
        {d * 2.0 * (double)run->elbo_samples, "objective.elbo_samples", ""},
        {trace, "stop.max_iterations", ""},
        {d * (double)n_out * ((double)cdim + 5.0),
         run->draws >= run->elbo_samples ? "output.draws" : "objective.elbo_samples", ""}};
    snprintf(t[0].what, sizeof t[0].what, "%llu draws per gradient of %zu parameters",
             (unsigned long long)run->grad_samples, m->n_params);
    snprintf(t[1].what, sizeof t[1].what, "%llu draws per ELBO estimate",
             (unsigned long long)run->elbo_samples);
    snprintf(t[2].what, sizeof t[2].what,
             "the trace and stopping rule of %.3g evaluations (stop.max_iterations / "
             "stop.eval_every)", evaluations);
    snprintf(t[3].what, sizeof t[3].what, "%llu output draws of %zu value%s",
             (unsigned long long)n_out, cdim, cdim == 1 ? "" : "s");
    double total = 0.0;
    size_t largest = 0;
    for (size_t k = 0; k < 4; k++) {
        if (guard_need(t[k].bytes, limit, t[k].key, t[k].what, err) != 0)
            return -1;
        total += t[k].bytes;
        if (t[k].bytes > t[largest].bytes)
            largest = k;
    }
    return guard_need(total, limit, t[largest].key,
                      "the fit's and the outputs' buffers together", err);
}
