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
#include "sampler.h"
#include "stopping.h"

/* objective.gradient: the ELBO gradient estimator (see estimators.h). */
typedef enum vh_gradient {
    VH_GRADIENT_REPARAM = 0,  /* the default */
    VH_GRADIENT_STL = 1,      /* path derivative, "sticking the landing" */
    VH_GRADIENT_SCORE = 2     /* score function with a leave-one-out baseline */
} vh_gradient;

/* The data items a target evaluation covers (log_density_subset): a
 * minibatch (objective.batch_size), this MPI rank's share, or both. */
typedef struct vh_items {
    const size_t *idx;            /* n item indices, 0-based */
    size_t n;
    double scale;                 /* the likelihood's weight: N / B for a minibatch, else 1 */
    int without_prior;            /* leave the prior out (MPI ranks other than 0) */
    /* The minibatch control variate (batch.h): added to the log density
     * and its gradient after the items are evaluated.  NULL: none. */
    const double *offset_grad;    /* dim */
    double offset_lp;
} vh_items;

struct vh_parallel;

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
    vh_gradient gradient;         /* the estimator the run file chose */
    const vh_sampler *sampler;    /* how the host draws eps (objective.base); NULL: pseudo */
    struct vh_parallel *parallel; /* the threads and MPI ranks that share the draws
                                   * (draws.h); NULL: this thread alone */
    const vh_items *items;        /* the data items the target covers; NULL: all */
} vh_model;

/* Reads the sizes from the created instances. */
void vh_model_measure(vh_model *model);

/* Iterate averaging: what the fit returns instead of the last iterate. */
typedef enum vh_averaging {
    VH_AVERAGING_NONE = 0,
    VH_AVERAGING_POLYAK = 1,     /* the plain mean of the iterates from `averaging_start` on */
    VH_AVERAGING_POLYNOMIAL = 2  /* Shamir & Zhang's polynomial-decay average */
} vh_averaging;

/* Parses "none", "polyak", "polynomial": 0 and *out; -1 when unknown. */
int vh_averaging_parse(const char *name, vh_averaging *out);

/* Defaults for members left 0 (the run file always fills them). */
#define VH_ENGINE_WINDOW 200
#define VH_ENGINE_Z 2.0
#define VH_ENGINE_RHAT 1.1
#define VH_ENGINE_ADAPT_ITERATIONS 50
#define VH_ENGINE_AVERAGING_POWER 8.0

/* Redraws of a gradient estimate with a non-finite draw before its step
 * is skipped, and consecutive skipped steps before the run fails. */
#define VH_ENGINE_REDRAWS 10
#define VH_ENGINE_MAX_SKIPS 10

/* What a fit does.  A member left 0 means its default: pseudo draws, no
 * averaging, no adaptation, no budget beyond max_iterations. */
typedef struct vh_engine_settings {
    uint64_t seed;
    uint64_t grad_samples;    /* draws per gradient, >= 1 */
    uint64_t elbo_samples;    /* draws per fresh ELBO estimate, >= 2 */
    uint64_t max_iterations;
    uint64_t eval_every;
    vh_rule rule;
    double tolerance;
    int progress;             /* draw the one-line progress display */
    vh_base_kind base;        /* objective.base */
    uint64_t window;          /* stop.window: iterations, for mcse and rhat */
    double z;                 /* stop.z (mcse) */
    double rhat_threshold;    /* stop.rhat_threshold (rhat) */
    uint64_t max_gradients;   /* stop.max_gradients; 0: no limit */
    double max_seconds;       /* stop.max_seconds; 0: no limit */
    vh_averaging averaging;   /* averaging.method */
    uint64_t averaging_start; /* averaging.start: polyak averages from this iteration on */
    double averaging_power;   /* averaging.power: polynomial decay eta >= 0 */
    int adapt;                /* adapt.enabled: Stan's step-size adaptation */
    uint64_t adapt_iterations;/* adapt.iterations per candidate step size */
    struct vh_checkpoint *checkpoint; /* output.checkpoint_every, --resume
                                       * (checkpoint.h); NULL: none */
    struct vh_batcher *batcher; /* minibatches and MPI shares (batch.h): each estimate's
                                 * items are chosen here; NULL: the whole data */
    const struct vh_dist *dist; /* MPI ranks running this fit together (dist.h), NULL: one */
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
    double learning_rate;     /* the optimizer's at the end (after adaptation and
                               * halvings); NaN when it has no get_learning_rate */
    double adapted_rate;      /* the rate adaptation chose; NaN without adaptation */
    uint64_t redraws;         /* gradient estimates and ELBO draws redrawn */
    uint64_t skipped;         /* steps skipped (each halved the step size) */
} vh_fit;

/* Runs the optimization from the family's init (after step-size
 * adaptation when asked).  A non-finite log density or gradient at a draw
 * is redrawn; a step whose gradient stays non-finite after
 * VH_ENGINE_REDRAWS redraws, or that would make lambda non-finite, is
 * skipped and the step size halved; lambda never holds a NaN.  Fails
 * (exit 4) after VH_ENGINE_MAX_SKIPS consecutive skipped steps, naming the
 * component, the iteration and the point; (exit 4) when a plugin call
 * fails mid-run in any other way, with its message, or when step-size
 * adaptation finds no step size that improves on the initial ELBO; (exit 3)
 * when the family cannot start (init fails). */
int vh_engine_fit(const vh_model *model, const vh_engine_settings *settings,
                  vh_fit *fit, vh_err *err);
void vh_fit_free(vh_fit *fit);

/* Seconds on a monotonic clock. */
double vh_now(void);

#endif
