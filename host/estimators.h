/* estimators.h — Monte Carlo estimates of the ELBO and its gradient in
 * lambda from draws z = T(lambda, eps).
 *
 * reparam: g = (1/S) sum_s J^T grad log p~(z_s) + grad H(lambda), for
 * families with a closed-form entropy; families without one but with
 * log_q_grad_z use the path derivative (1/S) sum_s J^T (grad log p~(z_s) -
 * grad_z log q(z_s)), whose expectation is the same gradient. */
#ifndef VH_ESTIMATORS_H
#define VH_ESTIMATORS_H

#include <stddef.h>
#include <stdint.h>
#include "engine.h"
#include "errors.h"
#include "rng.h"

/* Scratch for one draw at a time; allocated once, before the loop. */
typedef struct vh_draw_buffers {
    double *eps;          /* base_dim */
    double *z;            /* dim */
    double *grad_z;       /* dim */
    double *dlog_q;       /* dim: grad_z log q, for the path derivative */
    double *target_work;  /* target workspace */
    double *family_work;  /* family workspace */
} vh_draw_buffers;

int vh_draw_buffers_alloc(const vh_model *model, vh_draw_buffers *buf);
void vh_draw_buffers_free(vh_draw_buffers *buf);

/* Checks that the family supports the reparameterization gradient: a
 * closed-form entropy, or log_q_grad_z.  Exit 3 otherwise. */
int vh_estimator_check(const vh_model *model, vh_err *err);

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

/* The gradient estimate at iteration `iteration` from S draws: grad
 * (n_params) receives the mean of the per-draw contributions, summed in
 * draw order from `per_draw` (S x n_params scratch), plus grad H; *elbo
 * the ELBO estimate from the same draws. */
int vh_gradient_estimate(const vh_model *model, const double *lambda,
                         uint64_t seed, uint64_t iteration, size_t S,
                         vh_draw_buffers *buf, double *per_draw, double *grad,
                         double *elbo, vh_err *err);

/* A fresh ELBO estimate from S draws of the stream (seed, purpose,
 * iteration, 0..S-1) with its Monte Carlo standard error.  `values` (S)
 * receives the per-draw terms. */
int vh_elbo_estimate(const vh_model *model, const double *lambda,
                     uint64_t seed, vh_rng_purpose purpose, uint64_t iteration,
                     size_t S, vh_draw_buffers *buf, double *values,
                     double *elbo, double *mcse, vh_err *err);

#endif
