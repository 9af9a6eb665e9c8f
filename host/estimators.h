/* estimators.h — Monte Carlo estimates of the ELBO and its gradient in
 * lambda from draws z = T(lambda, eps), by objective.gradient:
 *
 * reparam: g = (1/S) sum_s J^T grad log p~(z_s) + grad H(lambda), for
 * families with a closed-form entropy; families without one but with
 * log_q_grad_z use the path derivative (1/S) sum_s J^T (grad log p~(z_s) -
 * grad_z log q(z_s)), whose expectation is the same gradient, with the
 * entropy estimated by -log q(z_s) from the same draws.
 * stl: that path derivative for every family, closed-form entropy or not.
 * score: g = 1/(S-1) sum_s (f_s - mean f) grad_lambda log q(z_s), with
 * f_s = log p~(z_s) - log q(z_s): the score-function estimator with the
 * leave-one-out mean of f as its baseline (needs S >= 2; with S = 1 there
 * is no baseline).  No gradient of p is used, so it also fits targets and
 * families over a finite set.
 * A family with the vi.family.strata/1 extension (a mixture) gets the
 * stratified form of reparam and stl: every stratum is drawn at every
 * draw and weighted by w_k, as plugin.h describes. */
#ifndef VH_ESTIMATORS_H
#define VH_ESTIMATORS_H

#include <stddef.h>
#include <stdint.h>
#include "engine.h"
#include "errors.h"
#include "rng.h"

/* n doubles (at least one), zeroed, on a 64-byte boundary (free() it): a
 * cache line, so that a plugin's vector loads and stores of its workspace
 * and of z never straddle two lines.  malloc gives 16 bytes, and a large
 * block from mmap sits 16 bytes past a page, where every other 32-byte
 * store is split across lines: 4 percent of the logistic gradient. */
double *vh_doubles_aligned(size_t n);

/* Scratch for one draw at a time; allocated once, before the loop. */
typedef struct vh_draw_buffers {
    double *eps;          /* base_dim */
    double *z;            /* dim */
    double *grad_z;       /* dim */
    double *dlog_q;       /* dim: grad_z log q, for the path derivative */
    double *prior_grad;   /* dim: the prior's gradient, taken out on MPI ranks > 0 */
    double *target_work;  /* target workspace */
    double *family_work;  /* family workspace */
    double *strata;       /* 3 K for a stratified family: w, f, f - mean f */
} vh_draw_buffers;

/* Every buffer is from vh_doubles_aligned. */
int vh_draw_buffers_alloc(const vh_model *model, vh_draw_buffers *buf);
void vh_draw_buffers_free(vh_draw_buffers *buf);

/* "reparam", "stl", "score" (vh_runfile_gradients); anything else is
 * reparam. */
vh_gradient vh_gradient_parse(const char *name);

/* Checks that the family and target support model->gradient: reparam needs
 * a closed-form entropy or log_q_grad_z (exit 3 otherwise); stl needs
 * log_q_grad_z, score log_q_grad_lambda; a target or family over a finite
 * set needs score and a partner over a finite set (exit 2 otherwise, the
 * message saying what to choose). */
int vh_estimator_check(const vh_model *model, vh_err *err);

/* Target evaluations per draw of the gradient estimate: K for a stratified
 * family under reparam or stl, else 1. */
size_t vh_estimator_evaluations(const vh_model *model);

/* The target's log density at theta and, when grad is not NULL, its
 * gradient: the target's own, or for a target with VI_FLAG_NO_GRADIENT
 * central finite differences of log_density (2 dim more calls; theta is
 * moved and put back exactly, so it is not const).  Returns the target's
 * status, perr filled by it. */
int vh_target_log_density(const vh_model *model, double *theta, double *lp, double *grad,
                          double *work, vi_error *perr);

/* Draws eps for the stream (seed, purpose, iteration, index): the family's
 * sample_base, or i.i.d. standard normals when it has none. */
int vh_draw_base(const vh_model *model, uint64_t seed, vh_rng_purpose purpose,
                 uint64_t iteration, uint64_t index, double *eps, vh_err *err);

/* One draw: z = T(lambda, eps), *lp = log p~(z), *lq = log q(z) (NaN when
 * not asked: lq NULL).  Without dlambda, no gradient is computed.  With
 * it, dlambda (zeroed by the caller) receives this draw's gradient
 * contribution, excluding the closed-form entropy term.  A NaN or
 * infinite log density or gradient fails (exit 4) naming the point. */
int vh_draw_evaluate(const vh_model *model, const double *lambda,
                     vh_draw_buffers *buf, uint64_t iteration, uint64_t index,
                     double *lp, double *lq, double *dlambda, vh_err *err);

/* Draw `index` of the stream (seed, purpose, iteration) evaluated as
 * vh_draw_evaluate does without a gradient, but redrawn from fresh streams
 * (vh_sampler_purpose) while the log density or log q (when lq is not
 * NULL) is not finite or a plugin call fails numerically.  Each redraw adds
 * 1 to *dropped; when *dropped reaches `limit` it fails (exit 4) with the
 * last draw's message. */
int vh_draw_finite(const vh_model *model, const double *lambda, uint64_t seed,
                   vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                   vh_draw_buffers *buf, double *lp, double *lq, size_t *dropped,
                   size_t limit, vh_err *err);

/* The gradient estimate at iteration `iteration` from S draws, by
 * model->gradient: grad (n_params) receives the mean of the per-draw
 * contributions, summed in draw order from `per_draw` (S x n_params
 * scratch), plus grad H when closed-form; *elbo the ELBO estimate from the
 * same draws. */
int vh_gradient_estimate(const vh_model *model, const double *lambda,
                         uint64_t seed, uint64_t iteration, size_t S,
                         vh_draw_buffers *buf, double *per_draw, double *grad,
                         double *elbo, vh_err *err);

/* A fresh ELBO estimate from S draws of the stream (seed, purpose,
 * iteration, 0..S-1) with its Monte Carlo standard error.  `values` (S)
 * receives the per-draw terms.  A draw whose log density (or log q) is
 * not finite, or whose plugin call fails numerically, is redrawn from a
 * fresh stream, as Stan's ADVI drops such draws; after S such redraws in
 * one estimate it fails (exit 4) with the last draw's message. */
int vh_elbo_estimate(const vh_model *model, const double *lambda,
                     uint64_t seed, vh_rng_purpose purpose, uint64_t iteration,
                     size_t S, vh_draw_buffers *buf, double *values,
                     double *elbo, double *mcse, vh_err *err);
/* The same, also counting the redraws in *redraws. */
int vh_elbo_estimate_redrawn(const vh_model *model, const double *lambda, uint64_t seed,
                             vh_rng_purpose purpose, uint64_t iteration, size_t S,
                             vh_draw_buffers *buf, double *values, double *elbo,
                             double *mcse, size_t *redraws, vh_err *err);

/* ---- the parts of one draw, shared with draws.c ----
 *
 * A draw is evaluated in two phases: forward (z and this process's share
 * of the target) and backward (checks of the whole log density, then the
 * gradient in lambda).  Between them an MPI run adds the shares of the
 * ranks (draws.h). */

/* The target's log density at theta over model->items (all the data when
 * NULL), its gradient into grad when not NULL; buf gives the workspace. */
int vh_target_density(const vh_model *model, double *theta, double *lp, double *grad,
                      vh_draw_buffers *buf, vi_error *perr);
/* z = T(lambda, buf->eps) into buf->z (log q into *lq when not NULL), then
 * *lp and, when `gradient`, buf->grad_z from vh_target_density.  A plugin
 * failure or a non-finite z fails (exit 4); lp is not checked here. */
int vh_draw_forward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                    uint64_t iteration, uint64_t index, double *lp, double *lq, int gradient,
                    vh_err *err);
/* Checks lp (and buf->grad_z when dlambda is not NULL), then adds the
 * draw's gradient contribution into dlambda. */
int vh_draw_backward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                     uint64_t iteration, uint64_t index, double lp, double *dlambda,
                     vh_err *err);
/* The score estimator's second phase: checks lp, g = grad_lambda log q(z),
 * *f = lp - log q(z). */
int vh_score_backward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                      uint64_t iteration, uint64_t index, double lp, double *f, double *g,
                      vh_err *err);
/* Stratum k of a stratified draw: forward (z_k, *lq, *lp, buf->grad_z) and
 * backward (g += w_k J_k^T (grad log p~ - grad_z log q), *f = lp - lq). */
int vh_stratum_forward(const vh_model *model, const vi_family_strata *st, size_t k,
                       const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                       uint64_t index, double *lp, double *lq, vh_err *err);
int vh_stratum_backward(const vh_model *model, const vi_family_strata *st, size_t k, double w,
                        const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                        uint64_t index, double lp, double lq, double *f, double *g,
                        vh_err *err);
/* After every stratum of a draw (weights in buf->strata[0..K), the f_k in
 * buf->strata[K..2K)): the weights' gradient into g, *value = sum w_k f_k. */
int vh_strata_combine(const vh_model *model, const vi_family_strata *st, size_t K,
                      const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                      double *value, double *g, vh_err *err);
/* K and the strata extension the gradient estimate uses (0: none). */
size_t vh_strata_used(const vh_model *model, const vi_family_strata **st);
int vh_closed_entropy(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                      double *h, double *dlambda, uint64_t iteration, vh_err *err);
int vh_draw_base_attempt(const vh_model *model, unsigned attempt, uint64_t seed,
                         vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                         double *eps, vh_err *err);
int vh_plugin_failure(vh_err *err, const char *label, const char *call,
                      const vi_error *perr, int status, uint64_t iteration);
int vh_check_density(const vh_model *model, const double *z, double lp, const double *grad,
                     uint64_t iteration, uint64_t index, vh_err *err);
int vh_check_family(const vh_model *model, const char *call, const char *what,
                    const double *x, size_t n, uint64_t iteration, uint64_t index, vh_err *err);

#endif
