/* draws.h — the draws of an estimate spread over the run's worker threads
 * (threads.h) and, when MPI ranks share the data (dist.h), over the ranks.
 *
 * Each draw is a task: its base noise comes from the stream named by its
 * index, it writes only its own row of results, and the rows are combined
 * in draw order afterwards, so an estimate is the same bits for every
 * number of threads.  Across ranks a draw has two phases: forward (z and
 * this rank's share of the log density and its gradient), one
 * MPI_Allreduce of all the draws' shares, then backward (the checks and
 * the gradient in lambda), which every rank computes alike.  Components
 * flagged VI_FLAG_SERIAL are run on one thread.
 *
 * vh_gradient_estimate, vh_elbo_estimate and the output draws use these
 * when model->parallel is set (the engine sets it for every fit); a model
 * without it is evaluated on the calling thread, as before. */
#ifndef VH_DRAWS_H
#define VH_DRAWS_H

#include <stddef.h>
#include <stdint.h>
#include "dist.h"
#include "engine.h"
#include "errors.h"
#include "estimators.h"
#include "rng.h"
#include "threads.h"

typedef struct vh_parallel vh_parallel;

/* Buffers for `model`'s draws on every thread of `pool` (NULL: one
 * thread) and, across the ranks of `dist`, room for `draws` draws at once
 * (at least grad_samples times the strata).  Allocated once, before the
 * loop. */
int vh_parallel_create(const vh_model *model, vh_pool *pool, const vh_dist *dist,
                       size_t draws, vh_parallel **out, vh_err *err);
void vh_parallel_free(vh_parallel *par);
/* Evaluates every draw in the two phases of a run across MPI ranks, even
 * on one rank (the sum between them then adds nothing): for the tests,
 * which check that both ways give the same bits. */
int vh_parallel_two_phases(vh_parallel *par);

/* Shares every loop among the threads, however little work it holds
 * (a loop of less work than about 40 microseconds otherwise runs on the
 * calling thread): for the tests. */
void vh_parallel_share_always(vh_parallel *par);

/* The threads the draws run on (1 for a serial component). */
size_t vh_parallel_threads(const vh_parallel *par);

/* vh_gradient_estimate with model->parallel set: the same contract. */
int vh_parallel_gradient(const vh_model *model, const double *lambda, uint64_t seed,
                         uint64_t iteration, size_t S, double *per_draw, double *grad,
                         double *elbo, vh_err *err);

/* Draws 0..n-1 of the stream (seed, purpose, iteration), each as
 * vh_draw_finite evaluates it (redrawn from fresh streams while log p~ or,
 * when lq is not NULL, log q is not finite); lp[i], lq[i] and, when z is
 * not NULL, z[i * dim ..] receive draw i.  *dropped counts the redraws;
 * when they reach `limit` in all, it fails (exit 4) as vh_draw_finite
 * does. */
int vh_parallel_finite(const vh_model *model, const double *lambda, uint64_t seed,
                       vh_rng_purpose purpose, uint64_t iteration, size_t n, double *lp,
                       double *lq, double *z, size_t *dropped, size_t limit, vh_err *err);

/* The values of vh_elbo_estimate_redrawn with model->parallel set:
 * values[s] is draw s's term (log p~ + H, or log p~ - log q). */
int vh_parallel_elbo(const vh_model *model, const double *lambda, uint64_t seed,
                     vh_rng_purpose purpose, uint64_t iteration, size_t S, double *values,
                     size_t *redraws, vh_err *err);

/* The first thread's buffers (for work done between the parallel loops). */
vh_draw_buffers *vh_parallel_buffers(vh_parallel *par);

#endif
