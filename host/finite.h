/* finite.h — targets and families over a finite set of states (plugin.h's
 * vi.target.finite/1 and vi.family.finite/1): finding the extensions, the
 * exact log evidence log sum_i p~(x_i), and the exact KL divergences
 * between q and the normalized target, by the KL helper below. */
#ifndef VH_FINITE_H
#define VH_FINITE_H

#include <stddef.h>
#include <vihost/plugin.h>
#include "engine.h"
#include "errors.h"

/* KL(a || b) = sum_i a_i (log a_i - log b_i) of two probability vectors
 * given as log probabilities.  Terms with a_i = 0 are 0; a_i > 0 where
 * b_i = 0 gives +inf. */
double vh_kl_divergence(const double *log_a, const double *log_b, size_t n);

/* The extension of model's target or family, or NULL when it has none
 * (also when it is malformed: struct_size too small, no states, or NULL
 * states; vh_finite_check reports that). */
const vi_target_finite *vh_target_finite(const vh_model *model);
const vi_family_finite *vh_family_finite(const vh_model *model);

/* Fails (exit 3) when the target or family returns a finite extension that
 * is malformed; 0 otherwise (also when there is none). */
int vh_finite_check(const vh_model *model, vh_err *err);

/* Fails (exit 2) when the finite family puts mass on a state where the
 * finite target has none (log p~ = -inf there), naming the state, since
 * every such draw would stop the fit. */
int vh_finite_support_check(const vh_model *model, vh_err *err);

/* The exact log evidence of a finite target: log sum_i p~(x_i) over its
 * states.  Fails (exit 3) for a target without the extension, or when the
 * target fails at a state or gives +inf or NaN there. */
int vh_finite_log_evidence(const vh_model *model, double *log_z, vh_err *err);

/* The mean of q in the constrained space, sum_j q_j c(x_j) over the
 * family's states x_j, c the target's constrain (the identity without
 * one), into mean (cdim values). */
int vh_finite_mean(const vh_model *model, const double *lambda, size_t cdim, double *mean,
                   vh_err *err);

/* The exact KL(q || p) and KL(p || q) (either pointer may be NULL) of the
 * family's q_lambda and the normalized target p = p~ / Z, for a finite
 * family on a finite target.  Fails (exit 3) when either lacks the
 * extension, a plugin call fails, or q's probabilities on its states do
 * not sum to 1. */
int vh_finite_kl(const vh_model *model, const double *lambda, double *kl_qp,
                 double *kl_pq, vh_err *err);

#endif
