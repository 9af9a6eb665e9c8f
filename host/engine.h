/* engine.h — the optimization loop: stochastic-gradient ascent of the ELBO
 * with the reparameterization gradient, a fresh ELBO estimate every
 * eval_every iterations, and the stopping rule. */
#ifndef VH_ENGINE_H
#define VH_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <vihost/plugin.h>
#include "errors.h"
#include "output.h"
#include "stopping.h"

/* The created components of one fit and the sizes they report. */
typedef struct vh_model {
    const vi_target_desc *target;
    void *target_self;
    const vi_family_desc *family;
    void *family_self;
    const vi_optimizer_desc *optimizer;
    void *optimizer_self;
    const vi_host *family_host;   /* handed to sample_base */
    size_t dim;                   /* target dim = family's z length */
    size_t n_params;              /* length of lambda */
    size_t base_dim;              /* length of eps */
    size_t target_work;           /* workspace doubles */
    size_t family_work;
    const char *target_label;     /* "target 'normal'", for messages */
    const char *family_label;
    const char *optimizer_label;
} vh_model;

/* Reads the sizes from the created instances. */
void vh_model_measure(vh_model *model);

typedef struct vh_engine_settings {
    uint64_t seed;
    uint64_t grad_samples;    /* draws per gradient, >= 1 */
    uint64_t elbo_samples;    /* draws per fresh ELBO estimate, >= 2 */
    uint64_t max_iterations;
    uint64_t eval_every;
    vh_rule rule;
    double tolerance;
    int progress;             /* draw the one-line progress display */
} vh_engine_settings;

typedef struct vh_fit {
    double *lambda;           /* n_params: the final variational parameters */
    vh_trace_row *trace;      /* one row per evaluation, iteration 0 first */
    size_t n_trace;
    uint64_t iterations;
    uint64_t gradient_evaluations;  /* target gradients evaluated in total */
    int converged;
    const char *stop_reason;  /* static text */
    double seconds;
} vh_fit;

/* Runs the optimization from the family's init.  Fails (exit 4) on a NaN
 * log density or gradient, naming the component, the iteration and the
 * point; (exit 3) when a plugin call fails, with its message. */
int vh_engine_fit(const vh_model *model, const vh_engine_settings *settings,
                  vh_fit *fit, vh_err *err);
void vh_fit_free(vh_fit *fit);

/* Seconds on a monotonic clock. */
double vh_now(void);

#endif
