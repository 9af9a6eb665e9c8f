/* engine.c — the optimization loop (see engine.h).  Everything it needs is
 * allocated before the first iteration; the loop itself allocates nothing
 * but, rarely, more trace rows. */
#include "engine.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "checkpoint.h"
#include "dist.h"
#include "estimators.h"
#include "progress.h"

double vh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void vh_model_measure(vh_model *model)
{
    model->dim = model->target->dim(model->target_self);
    model->n_params = model->family->n_params(model->family_self);
    model->base_dim = model->family->base_dim(model->family_self);
    model->target_work = model->target->workspace_size
                             ? model->target->workspace_size(model->target_self) : 0;
    model->family_work = model->family->workspace_size
                             ? model->family->workspace_size(model->family_self) : 0;
}

void vh_fit_free(vh_fit *fit)
{
    free(fit->lambda);
    free(fit->trace);
    memset(fit, 0, sizeof *fit);
}

int vh_averaging_parse(const char *name, vh_averaging *out)
{
    if (strcmp(name, "none") == 0)
        *out = VH_AVERAGING_NONE;
    else if (strcmp(name, "polyak") == 0)
        *out = VH_AVERAGING_POLYAK;
    else if (strcmp(name, "polynomial") == 0)
        *out = VH_AVERAGING_POLYNOMIAL;
    else
        return -1;
    return 0;
}

/* What the loop works in; allocated once. */
typedef struct engine_state {
    vh_model model;            /* the caller's, drawing eps through `sampler` */
    vh_sampler sampler;
    vh_draw_buffers buf;
    double *iterate;           /* the current lambda */
    double *lambda_prev;       /* lambda before the last step */
    double *lambda0;           /* the family's starting point */
    double *average;           /* the running average of the iterates */
    const double *returned;    /* what the fit would return now */
    double *grad;
    double *per_draw;          /* grad_samples x n_params */
    double *elbo_values;       /* elbo_samples */
    unsigned char *state0;     /* the optimizer's state before any step */
    unsigned char *backup;     /* its state before the current step */
    size_t state_size;         /* 0: the optimizer cannot save its state */
    size_t trace_capacity;
    vh_stopping stopping;
    vh_progress progress;
    double start;
    uint64_t averaged;         /* iterates in the average */
    unsigned skips_in_a_row;
    double init_elbo, init_mcse;  /* from adaptation, reused by the first row */
    /* reported by the next trace row */
    uint64_t row_redraws, row_skipped;
    double grad_norm, grad_snr, step_norm;
} engine_state;

static void engine_state_free(engine_state *st)
{
    vh_draw_buffers_free(&st->buf);
    free(st->iterate);
    free(st->lambda_prev);
    free(st->lambda0);
    free(st->average);
    free(st->grad);
    free(st->per_draw);
    free(st->elbo_values);
    free(st->state0);
    free(st->backup);
    vh_stopping_free(&st->stopping);
}

static size_t optimizer_state_size(const vh_model *m)
{
    const vi_optimizer_desc *o = m->optimizer;
    if (o->state_size == NULL || o->save_state == NULL || o->load_state == NULL)
        return 0;
    return o->state_size(m->optimizer_self);
}

static int engine_state_alloc(const vh_model *model, const vh_engine_settings *set,
                              engine_state *st, vh_fit *fit, vh_err *err)
{
    size_t n = model->n_params;
    memset(st, 0, sizeof *st);
    st->model = *model;
    st->sampler.kind = set->base;
    st->sampler.grad_count = set->grad_samples;
    st->sampler.elbo_count = set->elbo_samples;
    st->model.sampler = &st->sampler;
    if (set->batcher != NULL)
        st->model.items = &set->batcher->items;
    uint64_t rows = set->max_iterations / set->eval_every + 16;
    st->trace_capacity = rows < 4096 ? (size_t)rows : 4096;
    st->state_size = optimizer_state_size(model);
    fit->lambda = calloc(n + 1, sizeof *fit->lambda);
    fit->trace = calloc(st->trace_capacity, sizeof *fit->trace);
    st->iterate = calloc(n + 1, sizeof *st->iterate);
    st->lambda_prev = calloc(n + 1, sizeof *st->lambda_prev);
    st->lambda0 = calloc(n + 1, sizeof *st->lambda0);
    st->average = calloc(n + 1, sizeof *st->average);
    st->grad = calloc(n + 1, sizeof *st->grad);
    st->per_draw = calloc((size_t)set->grad_samples * n + 1, sizeof *st->per_draw);
    st->elbo_values = calloc((size_t)set->elbo_samples + 1, sizeof *st->elbo_values);
    st->state0 = malloc(st->state_size + 1);
    st->backup = malloc(st->state_size + 1);
    st->returned = st->iterate;
    st->init_elbo = NAN;
    uint64_t window = set->window ? set->window : VH_ENGINE_WINDOW;
    if (vh_draw_buffers_alloc(&st->model, &st->buf) != 0 || !fit->lambda || !fit->trace ||
        !st->iterate || !st->lambda_prev || !st->lambda0 || !st->average || !st->grad ||
        !st->per_draw || !st->elbo_values || !st->state0 || !st->backup ||
        vh_stopping_init(&st->stopping, set->rule, set->tolerance, set->max_iterations,
                         set->eval_every) != 0 ||
        vh_stopping_set_window(&st->stopping, n, window, set->z > 0 ? set->z : VH_ENGINE_Z,
                               set->rhat_threshold > 0 ? set->rhat_threshold
                                                       : VH_ENGINE_RHAT) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE,
                          "out of memory allocating the optimizer's buffers (%zu parameters)", n);
    return 0;
}

static double optimizer_rate(const vh_model *m)
{
    if (m->optimizer->get_learning_rate == NULL)
        return NAN;
    return m->optimizer->get_learning_rate(m->optimizer_self);
}

static int optimizer_failure(const vh_model *m, const char *call, const vi_error *perr,
                             vh_err *err)
{
    return vh_err_set(err, VH_EXIT_NUMERIC, "%s: %s failed: %s", m->optimizer_label, call,
                      perr->message[0] ? perr->message : "no message");
}

static int optimizer_set_rate(const vh_model *m, double rate, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    if (m->optimizer->set_learning_rate(m->optimizer_self, rate, &perr) != 0)
        return optimizer_failure(m, "set_learning_rate", &perr, err);
    return 0;
}

static int optimizer_save(const engine_state *st, unsigned char *buf, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    const vh_model *m = &st->model;
    if (m->optimizer->save_state(m->optimizer_self, buf, &perr) != 0)
        return optimizer_failure(m, "save_state", &perr, err);
    return 0;
}

static int optimizer_load(const engine_state *st, const unsigned char *buf, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    const vh_model *m = &st->model;
    if (m->optimizer->load_state(m->optimizer_self, buf, st->state_size, &perr) != 0)
        return optimizer_failure(m, "load_state", &perr, err);
    return 0;
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* The next trace row, growing the table when the run outlives it. */
static vh_trace_row *trace_next(engine_state *st, vh_fit *fit, vh_err *err)
{
    if (fit->n_trace == st->trace_capacity) {
        vh_trace_row *more = realloc(fit->trace, 2 * st->trace_capacity * sizeof *more);
        if (more == NULL) {
            vh_err_set(err, VH_EXIT_FAILURE, "out of memory for the trace");
            return NULL;
        }
        fit->trace = more;
        st->trace_capacity *= 2;
    }
    vh_trace_row *row = &fit->trace[fit->n_trace++];
    memset(row, 0, sizeof *row);
    row->step_norm = st->step_norm;
    row->grad_norm = st->grad_norm;
    row->grad_snr = st->grad_snr;
    row->step_size = optimizer_rate(&st->model);
    row->redraws = st->row_redraws;
    row->skipped = st->row_skipped;
    row->seconds = vh_now() - st->start;
    row->rel_change = NAN;
    row->phase = "fit";
    st->row_redraws = 0;
    st->row_skipped = 0;
    return row;
}

/* A fresh ELBO estimate of what the fit would return at iteration t, as a
 * trace row; the relative rule reads it when `feed` is set. */
static int engine_evaluate(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                           uint64_t t, int feed, int *stop, vh_err *err)
{
    double elbo = st->init_elbo, mcse = st->init_mcse;
    size_t redraws = 0;
    if (set->batcher != NULL &&
        vh_batcher_prepare(set->batcher, &st->model, st->returned, t, VH_BATCH_ELBO, err) != 0)
        return -1;
    if (!(t == 0 && isfinite(elbo)) &&
        vh_elbo_estimate_redrawn(&st->model, st->returned, set->seed, VH_RNG_ELBO, t,
                                 (size_t)set->elbo_samples, &st->buf, st->elbo_values, &elbo,
                                 &mcse, &redraws, err) != 0)
        return -1;
    st->row_redraws += redraws;
    fit->redraws += redraws;
    vh_trace_row *row = trace_next(st, fit, err);
    if (row == NULL)
        return -1;
    row->iter = t;
    row->elbo = elbo;
    row->elbo_mcse = mcse;
    if (t > 0 && feed &&
        vh_stopping_update(&st->stopping, elbo, &row->rel_change, &fit->stop_reason))
        *stop = 1;
    vh_progress_note(&st->progress, elbo, row->rel_change);
    return 0;
}

/* ||g|| and, with several draws of a pathwise estimator, ||g|| over the
 * norm of its standard error, from the per-draw terms. */
static void measure_gradient(engine_state *st, size_t S)
{
    const vh_model *m = &st->model;
    size_t n = m->n_params;
    double g2 = 0.0, var = 0.0;
    for (size_t i = 0; i < n; i++)
        g2 += st->grad[i] * st->grad[i];
    st->grad_norm = sqrt(g2);
    st->grad_snr = NAN;
    if (S < 2 || m->gradient == VH_GRADIENT_SCORE)
        return;
    const double inv_s = 1.0 / (double)S; /* no division per coordinate */
    for (size_t i = 0; i < n; i++) {
        double mean = 0.0, ss = 0.0;
        for (size_t s = 0; s < S; s++)
            mean += st->per_draw[s * n + i];
        mean *= inv_s;
        for (size_t s = 0; s < S; s++) {
            double d = st->per_draw[s * n + i] - mean;
            ss += d * d;
        }
        var += ss;
    }
    var /= (double)(S - 1) * (double)S;
    st->grad_snr = var > 0.0 ? sqrt(g2 / var) : INFINITY;
}

/* The gradient at iteration t, its draws redrawn from fresh streams while
 * any is not finite: 0 done, 1 still not finite after VH_ENGINE_REDRAWS
 * redraws (err says why), -1 a failure that redrawing cannot mend. */
static int engine_gradient(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                           uint64_t t, double *elbo, vh_err *err)
{
    const vh_model *m = &st->model;
    size_t S = (size_t)set->grad_samples;
    int result = 1;
    /* An anchor where the target is not finite is a step that cannot be
     * taken, as a gradient that stays non-finite is (no redraw mends it). */
    if (set->batcher != NULL &&
        vh_batcher_prepare(set->batcher, m, st->iterate, t, VH_BATCH_GRADIENT, err) != 0)
        return err != NULL && err->exit_code == VH_EXIT_NUMERIC ? 1 : -1;
    for (unsigned attempt = 0; attempt <= VH_ENGINE_REDRAWS && result == 1; attempt++) {
        st->sampler.attempt = attempt;
        if (attempt > 0) {
            st->row_redraws++;
            fit->redraws++;
        }
        int rc = vh_gradient_estimate(m, st->iterate, set->seed, t, S, &st->buf, st->per_draw,
                                      st->grad, elbo, err);
        fit->gradient_evaluations += S * vh_estimator_evaluations(m);
        if (rc == 0 && all_finite(st->grad, m->n_params) && !isnan(*elbo))
            result = 0;
        else if (rc == 0)
            vh_err_set(err, VH_EXIT_NUMERIC,
                       "%s: the gradient estimate is not finite at iteration %llu",
                       m->family_label, (unsigned long long)t);
        else if (err != NULL && err->exit_code != VH_EXIT_NUMERIC)
            result = -1;
    }
    st->sampler.attempt = 0;
    if (result == 0)
        measure_gradient(st, S);
    return result;
}

/* A step that could not be taken: counted, the step size halved; after
 * VH_ENGINE_MAX_SKIPS in a row the run fails with err's reason. */
static int engine_skip(engine_state *st, vh_fit *fit, vh_err *err)
{
    const vh_model *m = &st->model;
    st->row_skipped++;
    fit->skipped++;
    if (++st->skips_in_a_row >= VH_ENGINE_MAX_SKIPS) {
        char why[VH_ERR_SIZE];
        snprintf(why, sizeof why, "%s", err != NULL ? err->message : "");
        return vh_err_set(err, VH_EXIT_NUMERIC,
                          "%s (%d steps in a row failed so, each after %d redraws, halving "
                          "the step size every time)",
                          why, VH_ENGINE_MAX_SKIPS, VH_ENGINE_REDRAWS);
    }
    if (m->optimizer->set_learning_rate != NULL && m->optimizer->get_learning_rate != NULL)
        return optimizer_set_rate(m, 0.5 * optimizer_rate(m), err);
    return 0;
}

/* One iteration's step; *stepped says whether lambda moved. */
static int engine_step(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                       uint64_t t, double *elbo, int *stepped, vh_err *err)
{
    const vh_model *m = &st->model;
    size_t n = m->n_params;
    *stepped = 0;
    int g = engine_gradient(st, set, fit, t, elbo, err);
    if (g != 0)
        return g < 0 ? -1 : engine_skip(st, fit, err);
    if (st->state_size > 0 && optimizer_save(st, st->backup, err) != 0)
        return -1;
    memcpy(st->lambda_prev, st->iterate, n * sizeof *st->iterate);
    vi_step_info info = {sizeof info, t, *elbo};
    vi_error perr = {sizeof perr, 0, ""};
    if (m->optimizer->step(m->optimizer_self, st->iterate, st->grad, &info, &perr) != 0)
        return vh_err_set(err, VH_EXIT_NUMERIC, "%s: step failed at iteration %llu: %s",
                          m->optimizer_label, (unsigned long long)t,
                          perr.message[0] ? perr.message : "no message");
    if (!all_finite(st->iterate, n)) {
        memcpy(st->iterate, st->lambda_prev, n * sizeof *st->iterate);
        vh_err_set(err, VH_EXIT_NUMERIC,
                   "%s produced a non-finite variational parameter at iteration %llu; lower "
                   "its learning_rate", m->optimizer_label, (unsigned long long)t);
        if (st->state_size == 0)
            return -1;
        return optimizer_load(st, st->backup, err) != 0 ? -1 : engine_skip(st, fit, err);
    }
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (st->iterate[i] - st->lambda_prev[i]) * (st->iterate[i] - st->lambda_prev[i]);
    st->step_norm = sqrt(ss);
    st->skips_in_a_row = 0;
    *stepped = 1;
    return 0;
}

/* Folds iterate t into the running average. */
static void engine_average(engine_state *st, const vh_engine_settings *set, uint64_t t)
{
    size_t n = st->model.n_params;
    double w;
    if (set->averaging == VH_AVERAGING_NONE)
        return;
    if (set->averaging == VH_AVERAGING_POLYAK) {
        if (t < set->averaging_start)
            return;
        w = 1.0 / (double)++st->averaged;
    } else {
        /* Shamir & Zhang (2013): weight (eta + 1) / (k + eta) on the k-th iterate. */
        double eta = set->averaging_power;
        w = (eta + 1.0) / ((double)++st->averaged + eta);
    }
    for (size_t i = 0; i < n; i++)
        st->average[i] += w * (st->iterate[i] - st->average[i]);
    st->returned = st->average;
}

/* ---- step-size adaptation (Stan's adapt_eta) ---- */

static const double vh_adapt_etas[] = {100.0, 10.0, 1.0, 0.1, 0.01};
#define VH_ADAPT_CANDIDATES (sizeof vh_adapt_etas / sizeof vh_adapt_etas[0])

/* One candidate: `iterations` steps at eta from the starting point and the
 * optimizer's first state; *elbo the ELBO after, -DBL_MAX when it diverged
 * (a gradient that stays non-finite is a zero gradient, as in Stan). */
static int adapt_trial(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                       double eta, uint64_t iterations, double *elbo, vh_err *err)
{
    const vh_model *m = &st->model;
    size_t n = m->n_params;
    double mcse = NAN;
    size_t redraws = 0;
    memcpy(st->iterate, st->lambda0, n * sizeof *st->iterate);
    if (optimizer_load(st, st->state0, err) != 0 || optimizer_set_rate(m, eta, err) != 0)
        return -1;
    *elbo = -DBL_MAX;
    int diverged = 0;
    for (uint64_t i = 1; i <= iterations && !diverged; i++) {
        double free_elbo = NAN;
        int g = engine_gradient(st, set, fit, i, &free_elbo, err);
        if (g < 0)
            return -1;
        if (g > 0)
            memset(st->grad, 0, n * sizeof *st->grad);
        vi_step_info info = {sizeof info, i, free_elbo};
        vi_error perr = {sizeof perr, 0, ""};
        if (m->optimizer->step(m->optimizer_self, st->iterate, st->grad, &info, &perr) != 0)
            return optimizer_failure(m, "step", &perr, err);
        diverged = !all_finite(st->iterate, n);
    }
    if (!diverged && set->batcher != NULL &&
        vh_batcher_prepare(set->batcher, m, st->iterate, iterations, VH_BATCH_ELBO, err) != 0) {
        if (err != NULL && err->exit_code != VH_EXIT_NUMERIC)
            return -1;
        diverged = 1; /* the target is not finite at the anchor */
    }
    if (!diverged) {
        int rc = vh_elbo_estimate_redrawn(m, st->iterate, set->seed, VH_RNG_ELBO, iterations,
                                          (size_t)set->elbo_samples, &st->buf,
                                          st->elbo_values, elbo, &mcse, &redraws, err);
        if (rc != 0 && err != NULL && err->exit_code != VH_EXIT_NUMERIC)
            return -1;
        if (rc != 0 || !isfinite(*elbo))
            *elbo = -DBL_MAX;
    }
    st->row_redraws += redraws;
    fit->redraws += redraws;
    vh_trace_row *row = trace_next(st, fit, err);
    if (row == NULL)
        return -1;
    row->iter = iterations;
    row->elbo = *elbo == -DBL_MAX ? -INFINITY : *elbo;
    row->elbo_mcse = mcse;
    row->step_size = eta;
    row->phase = "adapt";
    return 0;
}

static int adapt_check(const engine_state *st, vh_err *err)
{
    const vi_optimizer_desc *o = st->model.optimizer;
    if (o->set_learning_rate == NULL || o->get_learning_rate == NULL || st->state_size == 0)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s cannot have its step size adapted: it lacks %s (set "
                          "adapt.enabled: false and give its learning rate)",
                          st->model.optimizer_label,
                          o->set_learning_rate == NULL || o->get_learning_rate == NULL
                              ? "get_learning_rate/set_learning_rate"
                              : "state_size/save_state/load_state");
    return 0;
}

/* Stan's procedure: try eta = 100, 10, 1, 0.1, 0.01, each from the start;
 * stop at the first eta whose ELBO is below the previous eta's while that
 * one beat the initial ELBO, and take the previous; at the last eta take
 * it if it beats the initial ELBO; otherwise fail. */
static int engine_adapt(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                        vh_err *err)
{
    const vh_model *m = &st->model;
    uint64_t iterations = set->adapt_iterations ? set->adapt_iterations
                                                : VH_ENGINE_ADAPT_ITERATIONS;
    size_t redraws = 0;
    if (adapt_check(st, err) != 0 || optimizer_save(st, st->state0, err) != 0)
        return -1;
    if (set->batcher != NULL &&
        vh_batcher_prepare(set->batcher, m, st->lambda0, 0, VH_BATCH_ELBO, err) != 0)
        return -1;
    if (vh_elbo_estimate_redrawn(m, st->lambda0, set->seed, VH_RNG_ELBO, 0,
                                 (size_t)set->elbo_samples, &st->buf, st->elbo_values,
                                 &st->init_elbo, &st->init_mcse, &redraws, err) != 0) {
        char why[VH_ERR_SIZE];
        snprintf(why, sizeof why, "%s", err != NULL ? err->message : "");
        return vh_err_set(err, VH_EXIT_NUMERIC, "cannot compute the ELBO at the starting "
                          "point for step-size adaptation: %s", why);
    }
    st->row_redraws += redraws;
    fit->redraws += redraws;
    double best = -DBL_MAX, chosen = 0.0;
    for (size_t k = 0; k < VH_ADAPT_CANDIDATES; k++) {
        double elbo;
        if (adapt_trial(st, set, fit, vh_adapt_etas[k], iterations, &elbo, err) != 0)
            return -1;
        if (elbo < best && best > st->init_elbo)
            break;
        if (k + 1 < VH_ADAPT_CANDIDATES) {
            best = elbo;
            chosen = vh_adapt_etas[k];
        } else if (elbo > st->init_elbo) {
            chosen = vh_adapt_etas[k];
        } else {
            return vh_err_set(err, VH_EXIT_NUMERIC,
                              "step-size adaptation failed: after %llu iterations at each "
                              "learning rate 100, 10, 1, 0.1, 0.01 the ELBO was no better than "
                              "at the start (%g); the model may be ill-conditioned or "
                              "misspecified, or give a learning rate with adapt.enabled: false",
                              (unsigned long long)iterations, st->init_elbo);
        }
    }
    fit->adapted_rate = chosen;
    memcpy(st->iterate, st->lambda0, m->n_params * sizeof *st->iterate);
    st->step_norm = st->grad_norm = st->grad_snr = NAN;
    return optimizer_load(st, st->state0, err) != 0 ? -1 : optimizer_set_rate(m, chosen, err);
}

/* ---- the loop ---- */

/* A budget that ends the run now, or NULL. */
static const char *budget_reached(const engine_state *st, const vh_engine_settings *set,
                                  const vh_fit *fit)
{
    if (set->max_gradients > 0 && fit->gradient_evaluations >= set->max_gradients)
        return "max_gradients reached";
    /* MPI ranks decide together, on the slowest rank's clock. */
    if (set->max_seconds > 0.0 && vh_dist_max(set->dist, vh_now() - st->start) >= set->max_seconds)
        return "max_seconds reached";
    return NULL;
}

/* The state a checkpoint saves and restores (checkpoint.h). */
static void engine_view(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                        vh_engine_view *v)
{
    *v = (vh_engine_view){&st->model,          st->iterate,       st->average,
                          &st->averaged,       &st->returned,     &st->skips_in_a_row,
                          &st->init_elbo,      &st->init_mcse,    &st->row_redraws,
                          &st->row_skipped,    &st->grad_norm,    &st->grad_snr,
                          &st->step_norm,      &st->stopping,     fit,
                          &st->trace_capacity, &st->start,        set->batcher};
}

/* Iterations t0 + 1, ... (t0 > 0 when resumed from a checkpoint). */
static int engine_loop(engine_state *st, const vh_engine_settings *set, vh_fit *fit,
                       uint64_t t0, vh_err *err)
{
    int stop = 0, failed = 0;
    const char *budget = NULL;
    uint64_t t = t0;
    while (!failed && !stop && budget == NULL && t < set->max_iterations) {
        double elbo = NAN;
        int stepped = 0;
        t++;
        failed = engine_step(st, set, fit, t, &elbo, &stepped, err);
        if (!failed && stepped) {
            engine_average(st, set, t);
            stop = vh_stopping_iterate(&st->stopping, st->iterate, elbo, &fit->stop_reason);
            if (stop && vh_stopping_average(&st->stopping) != NULL)
                st->returned = vh_stopping_average(&st->stopping);
        }
        budget = failed || stop ? NULL : budget_reached(st, set, fit);
        if (!failed && (t % set->eval_every == 0 || t == set->max_iterations || stop ||
                        budget != NULL))
            failed = engine_evaluate(st, set, fit, t, budget == NULL, &stop, err);
        if (!failed && !stop && budget == NULL && t < set->max_iterations &&
            set->checkpoint != NULL) {
            vh_engine_view view;
            engine_view(st, set, fit, &view);
            failed = vh_checkpoint_save(set->checkpoint, &view, t, err);
        }
        vh_progress_tick(&st->progress, t);
    }
    fit->iterations = t;
    fit->converged = stop && budget == NULL;
    if (budget != NULL)
        fit->stop_reason = budget;
    return failed ? -1 : 0;
}

int vh_engine_fit(const vh_model *model, const vh_engine_settings *set,
                  vh_fit *fit, vh_err *err)
{
    engine_state st;
    memset(fit, 0, sizeof *fit);
    fit->adapted_rate = NAN;
    if (vh_estimator_check(model, err) != 0)
        return -1;
    int failed = engine_state_alloc(model, set, &st, fit, err);
    vi_error perr = {sizeof perr, 0, ""};
    if (!failed && model->family->init(model->family_self, st.lambda0, &perr) != 0)
        failed = vh_err_set(err, VH_EXIT_PLUGIN, "%s: init failed: %s", model->family_label,
                            perr.message[0] ? perr.message : "no message");
    if (!failed)
        memcpy(st.iterate, st.lambda0, model->n_params * sizeof *st.iterate);
    st.start = vh_now();
    st.step_norm = st.grad_norm = st.grad_snr = NAN;
    vh_progress_init(&st.progress, set->progress, model->family_label);
    fit->stop_reason = "max_iterations reached";
    uint64_t t0 = vh_checkpoint_resumed_at(set->checkpoint);
    if (!failed && t0 > 0) {
        vh_engine_view view;
        engine_view(&st, set, fit, &view);
        failed = vh_checkpoint_restore(set->checkpoint, &view, err);
    }
    if (!failed && t0 == 0 && set->adapt)
        failed = engine_adapt(&st, set, fit, err);
    int stop = 0;
    if (!failed && t0 == 0)
        failed = engine_evaluate(&st, set, fit, 0, 0, &stop, err);
    if (!failed)
        failed = engine_loop(&st, set, fit, t0, err);
    vh_progress_finish(&st.progress);
    if (!failed)
        memcpy(fit->lambda, st.returned, model->n_params * sizeof *fit->lambda);
    fit->learning_rate = optimizer_rate(model);
    fit->seconds = vh_now() - st.start;
    engine_state_free(&st);
    if (failed) {
        vh_fit_free(fit);
        return -1;
    }
    return 0;
}
