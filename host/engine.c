/* engine.c — the optimization loop (see engine.h).  Everything it needs is
 * allocated before the first iteration; the loop itself allocates nothing. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* What the loop works in; allocated once. */
typedef struct engine_state {
    vh_draw_buffers buf;
    double *lambda_prev;
    double *grad;
    double *per_draw;      /* grad_samples x n_params */
    double *elbo_values;   /* elbo_samples */
    vh_stopping stopping;
    vh_progress progress;
    double start;
} engine_state;

static void engine_state_free(engine_state *st)
{
    vh_draw_buffers_free(&st->buf);
    free(st->lambda_prev);
    free(st->grad);
    free(st->per_draw);
    free(st->elbo_values);
    vh_stopping_free(&st->stopping);
}

static int engine_state_alloc(const vh_model *model, const vh_engine_settings *set,
                              engine_state *st, vh_fit *fit, vh_err *err)
{
    size_t n = model->n_params;
    memset(st, 0, sizeof *st);
    size_t rows = (size_t)(set->max_iterations / set->eval_every) + 2;
    fit->lambda = calloc(n + 1, sizeof *fit->lambda);
    fit->trace = calloc(rows, sizeof *fit->trace);
    st->lambda_prev = calloc(n + 1, sizeof *st->lambda_prev);
    st->grad = calloc(n + 1, sizeof *st->grad);
    st->per_draw = calloc((size_t)set->grad_samples * n + 1, sizeof *st->per_draw);
    st->elbo_values = calloc((size_t)set->elbo_samples, sizeof *st->elbo_values);
    if (vh_draw_buffers_alloc(model, &st->buf) != 0 || !fit->lambda || !fit->trace ||
        !st->lambda_prev || !st->grad || !st->per_draw || !st->elbo_values ||
        vh_stopping_init(&st->stopping, set->rule, set->tolerance, set->max_iterations,
                         set->eval_every) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE,
                          "out of memory allocating the optimizer's buffers (%zu parameters)", n);
    return 0;
}

/* A fresh ELBO estimate at iteration t, recorded as a trace row. */
static int engine_evaluate(const vh_model *model, const vh_engine_settings *set,
                           engine_state *st, vh_fit *fit, uint64_t t,
                           double step_norm, int *stop, vh_err *err)
{
    vh_trace_row *row = &fit->trace[fit->n_trace];
    if (vh_elbo_estimate(model, fit->lambda, set->seed, VH_RNG_ELBO, t,
                         (size_t)set->elbo_samples, &st->buf, st->elbo_values,
                         &row->elbo, &row->elbo_mcse, err) != 0)
        return -1;
    row->iter = t;
    row->step_norm = step_norm;
    row->rel_change = NAN;
    if (t > 0)
        *stop = vh_stopping_update(&st->stopping, row->elbo, &row->rel_change,
                                   &fit->stop_reason);
    row->seconds = vh_now() - st->start;
    fit->n_trace++;
    vh_progress_note(&st->progress, row->elbo, row->rel_change);
    return 0;
}

static int engine_step(const vh_model *model, const vh_engine_settings *set,
                       engine_state *st, vh_fit *fit, uint64_t t, double *step_norm,
                       vh_err *err)
{
    size_t n = model->n_params;
    double elbo;
    if (vh_gradient_estimate(model, fit->lambda, set->seed, t, (size_t)set->grad_samples,
                             &st->buf, st->per_draw, st->grad, &elbo, err) != 0)
        return -1;
    fit->gradient_evaluations += set->grad_samples;
    memcpy(st->lambda_prev, fit->lambda, n * sizeof *fit->lambda);
    vi_step_info info = {sizeof info, t, elbo};
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->optimizer->step(model->optimizer_self, fit->lambda, st->grad,
                                        &info, &perr);
    if (status != 0)
        return vh_err_set(err, VH_EXIT_NUMERIC, "%s: step failed at iteration %llu: %s",
                          model->optimizer_label, (unsigned long long)t,
                          perr.message[0] ? perr.message : "no message");
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fit->lambda[i] - st->lambda_prev[i];
        if (!isfinite(fit->lambda[i]))
            return vh_err_set(err, VH_EXIT_NUMERIC,
                              "%s produced a non-finite variational parameter %zu at "
                              "iteration %llu; lower its learning_rate",
                              model->optimizer_label, i, (unsigned long long)t);
        ss += d * d;
    }
    *step_norm = sqrt(ss);
    return 0;
}

int vh_engine_fit(const vh_model *model, const vh_engine_settings *set,
                  vh_fit *fit, vh_err *err)
{
    engine_state st;
    memset(fit, 0, sizeof *fit);
    if (vh_estimator_check(model, err) != 0)
        return -1;
    int failed = engine_state_alloc(model, set, &st, fit, err);
    vi_error perr = {sizeof perr, 0, ""};
    if (!failed && model->family->init(model->family_self, fit->lambda, &perr) != 0)
        failed = vh_err_set(err, VH_EXIT_PLUGIN, "%s: init failed: %s", model->family_label,
                            perr.message[0] ? perr.message : "no message");
    st.start = vh_now();
    vh_progress_init(&st.progress, set->progress, model->family_label);
    int stop = 0;
    fit->stop_reason = "max_iterations reached";
    if (!failed)
        failed = engine_evaluate(model, set, &st, fit, 0, NAN, &stop, err);
    uint64_t t = 0;
    while (!failed && !stop && t < set->max_iterations) {
        double step_norm = NAN;
        t++;
        failed = engine_step(model, set, &st, fit, t, &step_norm, err);
        if (!failed && (t % set->eval_every == 0 || t == set->max_iterations))
            failed = engine_evaluate(model, set, &st, fit, t, step_norm, &stop, err);
        vh_progress_tick(&st.progress, t);
    }
    vh_progress_finish(&st.progress);
    fit->iterations = t;
    fit->converged = stop;
    fit->seconds = vh_now() - st.start;
    engine_state_free(&st);
    if (failed) {
        vh_fit_free(fit);
        return -1;
    }
    return 0;
}
