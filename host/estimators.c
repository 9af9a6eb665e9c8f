/* estimators.c — ELBO and gradient estimates (see estimators.h). */
#include "estimators.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draws.h"
#include "finite.h"

/* The family's vi.family.strata/1 extension when it is complete, else
 * NULL (vh_estimator_check refuses an incomplete one). */
static const vi_family_strata *family_strata(const vh_model *model)
{
    const vi_family_desc *fam = model->family;
    const vi_family_strata *st =
        fam->get_extension ? fam->get_extension(model->family_self, VI_FAMILY_STRATA_ID) : NULL;
    if (!VI_HAS_MEMBER(st, vi_family_strata, backward_stratum) || !st->n_strata ||
        !st->weights || !st->weights_backward || !st->forward_stratum || !st->backward_stratum)
        return NULL;
    return st;
}

/* The strata the gradient estimate draws: K under reparam or stl, else 0. */
size_t vh_strata_used(const vh_model *model, const vi_family_strata **st)
{
    *st = model->gradient == VH_GRADIENT_SCORE ? NULL : family_strata(model);
    return *st != NULL ? (*st)->n_strata(model->family_self) : 0;
}

vh_gradient vh_gradient_parse(const char *name)
{
    if (name != NULL && strcmp(name, "stl") == 0)
        return VH_GRADIENT_STL;
    if (name != NULL && strcmp(name, "score") == 0)
        return VH_GRADIENT_SCORE;
    return VH_GRADIENT_REPARAM;
}

size_t vh_estimator_evaluations(const vh_model *model)
{
    const vi_family_strata *st;
    size_t k = vh_strata_used(model, &st);
    return k > 0 ? k : 1;
}

double *vh_doubles_aligned(size_t n)
{
    size_t bytes = ((n + 1) * sizeof(double) + 63) / 64 * 64;
    double *p = aligned_alloc(64, bytes);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

int vh_draw_buffers_alloc(const vh_model *model, vh_draw_buffers *buf)
{
    const vi_family_strata *st;
    size_t k = vh_strata_used(model, &st);
    memset(buf, 0, sizeof *buf);
    buf->strata = calloc(3 * k + 1, sizeof(double));
    /* +1 so that zero-length requests still give distinct valid pointers. */
    buf->eps = vh_doubles_aligned(model->base_dim);
    buf->z = vh_doubles_aligned(model->dim);
    buf->grad_z = vh_doubles_aligned(model->dim);
    buf->dlog_q = vh_doubles_aligned(model->dim);
    buf->prior_grad = vh_doubles_aligned(model->dim);
    buf->target_work = vh_doubles_aligned(model->target_work);
    buf->family_work = vh_doubles_aligned(model->family_work);
    if (!buf->eps || !buf->z || !buf->grad_z || !buf->dlog_q || !buf->prior_grad ||
        !buf->target_work || !buf->family_work || !buf->strata) {
        vh_draw_buffers_free(buf);
        return -1;
    }
    return 0;
}

void vh_draw_buffers_free(vh_draw_buffers *buf)
{
    free(buf->eps);
    free(buf->z);
    free(buf->grad_z);
    free(buf->dlog_q);
    free(buf->prior_grad);
    free(buf->target_work);
    free(buf->family_work);
    free(buf->strata);
    memset(buf, 0, sizeof *buf);
}

/* Targets and families over a finite set go together, under score. */
static int check_finite(const vh_model *model, vh_err *err)
{
    int target = vh_target_finite(model) != NULL, family = vh_family_finite(model) != NULL;
    if (vh_finite_check(model, err) != 0)
        return -1;
    if (target && !family)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s is over a finite set of states, which %s cannot represent; "
                          "choose a family over a finite set (categorical)",
                          model->target_label, model->family_label);
    if (family && !target)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s is a distribution over a finite set of states, but %s is not "
                          "over a finite set; choose a continuous family (meanfield, fullrank, ...)",
                          model->family_label, model->target_label);
    if (family && model->gradient != VH_GRADIENT_SCORE)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s and %s are over a finite set, where no reparameterization "
                          "gradient exists; set objective.gradient: score",
                          model->family_label, model->target_label);
    return vh_finite_support_check(model, err);
}

int vh_estimator_check(const vh_model *model, vh_err *err)
{
    const vi_family_desc *fam = model->family;
    const void *ext = fam->get_extension ? fam->get_extension(model->family_self,
                                                              VI_FAMILY_STRATA_ID) : NULL;
    if (check_finite(model, err) != 0)
        return -1;
    if (ext != NULL && family_strata(model) == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: its %s extension is malformed (struct_size too small or a "
                          "function missing); rebuild the plugin against this SDK",
                          model->family_label, VI_FAMILY_STRATA_ID);
    switch (model->gradient) {
    case VH_GRADIENT_SCORE:
        if (fam->log_q_grad_lambda == NULL)
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s has no log_q_grad_lambda, which the score gradient needs; "
                              "set objective.gradient to reparam or stl", model->family_label);
        return 0;
    case VH_GRADIENT_STL:
        if (fam->log_q_grad_z == NULL)
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s has no log_q_grad_z, which the stl gradient needs; set "
                              "objective.gradient to reparam", model->family_label);
        return 0;
    case VH_GRADIENT_REPARAM:
        break;
    }
    if ((fam->entropy == NULL || ext != NULL) && fam->log_q_grad_z == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s has neither a closed-form entropy nor log_q_grad_z, so the "
                          "reparameterization gradient cannot be formed (add one to the plugin)",
                          model->family_label);
    return 0;
}

/* "(0.1, -2, 3, ...)": the first few coordinates of a point. */
static void format_point(char *out, size_t size, const double *x, size_t n)
{
    size_t used = (size_t)snprintf(out, size, "(");
    size_t shown = n < 6 ? n : 6;
    for (size_t i = 0; i < shown && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%.6g", i ? ", " : "", x[i]);
    if (used < size)
        snprintf(out + used, size - used, "%s)", n > shown ? ", ..." : "");
}

int vh_plugin_failure(vh_err *err, const char *label, const char *call,
                      const vi_error *perr, int status, uint64_t iteration)
{
    return vh_err_set(err, VH_EXIT_NUMERIC, "%s: %s failed at iteration %llu: %s (status %d)",
                      label, call, (unsigned long long)iteration,
                      perr->message[0] ? perr->message : "no message", status);
}

/* Draw `index` of redraw `attempt`: the host's sampler (pseudo, antithetic
 * or QMC) for a standard-normal base, else the family's sample_base on the
 * pseudo-random stream of that attempt. */
int vh_draw_base_attempt(const vh_model *model, unsigned attempt, uint64_t seed,
                         vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                         double *eps, vh_err *err)
{
    if (model->family->sample_base == NULL) {
        vh_sampler_draw(model->sampler, attempt, seed, purpose, iteration, index, eps,
                        model->base_dim);
        return 0;
    }
    vi_rng rng;
    vh_rng_init(&rng, seed, vh_sampler_purpose(purpose, attempt), iteration, index);
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->family->sample_base(model->family_self, &rng, model->family_host,
                                            eps, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "sample_base", &perr, status,
                              iteration);
    return 0;
}

int vh_draw_base(const vh_model *model, uint64_t seed, vh_rng_purpose purpose,
                 uint64_t iteration, uint64_t index, double *eps, vh_err *err)
{
    unsigned attempt = model->sampler != NULL ? model->sampler->attempt : 0;
    return vh_draw_base_attempt(model, attempt, seed, purpose, iteration, index, eps, err);
}

/* log p~ at theta over model->items (the whole data when NULL): the
 * target's log_density, or its log_density_subset of the items plus the
 * items' control-variate offset, with the prior taken back out when the
 * items say so (an MPI rank other than 0: the prior is added once, by
 * rank 0).  grad may be NULL; prior_grad is
 * dim doubles of scratch (NULL when grad is). */
static int target_value(const vh_model *model, const double *theta, double *lp, double *grad,
                        double *work, double *prior_grad, vi_error *perr)
{
    const vi_target_desc *t = model->target;
    const vh_items *it = model->items;
    static const size_t no_items[1] = {0};
    if (it == NULL)
        return t->log_density(model->target_self, theta, lp, grad, work, perr);
    int status = t->log_density_subset(model->target_self, theta, it->n ? it->idx : no_items,
                                       it->n, it->scale, lp, grad, work, perr);
    if (status == 0 && it->offset_grad != NULL) {
        *lp += it->offset_lp;
        for (size_t i = 0; grad != NULL && i < model->dim; i++)
            grad[i] += it->offset_grad[i];
    }
    if (status != 0 || !it->without_prior)
        return status;
    double prior = 0.0;
    status = t->log_density_subset(model->target_self, theta, no_items, 0, 1.0, &prior,
                                   grad != NULL ? prior_grad : NULL, work, perr);
    if (status != 0)
        return status;
    *lp -= prior;
    for (size_t i = 0; grad != NULL && i < model->dim; i++)
        grad[i] -= prior_grad[i];
    return 0;
}

/* Central differences for a target with VI_FLAG_NO_GRADIENT:
 *     grad_i = (f(theta + h e_i) - f(theta - h e_i)) / (2 h),
 * h = eps^(1/3) max(1, |theta_i|), which balances truncation against
 * rounding (about 1e-10 relative error).  theta is moved and put back
 * exactly; nothing is allocated. */
static int finite_difference_gradient(const vh_model *model, double *theta, double *grad,
                                      double *work, vi_error *perr)
{
    for (size_t i = 0; i < model->dim; i++) {
        const double x = theta[i];
        volatile double up = x + 6.0554544523933395e-6 * fmax(1.0, fabs(x));
        const double h = up - x; /* exactly representable: x + h - x == h */
        double fp = NAN, fm = NAN;
        theta[i] = x + h;
        int status = target_value(model, theta, &fp, NULL, work, NULL, perr);
        theta[i] = x - h;
        if (status == 0)
            status = target_value(model, theta, &fm, NULL, work, NULL, perr);
        theta[i] = x;
        if (status != 0)
            return status;
        grad[i] = (fp - fm) / (2.0 * h);
    }
    return 0;
}

static int target_density(const vh_model *model, double *theta, double *lp, double *grad,
                          double *work, double *prior_grad, vi_error *perr)
{
    if (grad == NULL || !(model->target->flags & VI_FLAG_NO_GRADIENT))
        return target_value(model, theta, lp, grad, work, prior_grad, perr);
    int status = target_value(model, theta, lp, NULL, work, NULL, perr);
    if (status != 0 || !isfinite(*lp)) {
        memset(grad, 0, model->dim * sizeof *grad); /* *lp is reported, not grad */
        return status;
    }
    return finite_difference_gradient(model, theta, grad, work, perr);
}

int vh_target_log_density(const vh_model *model, double *theta, double *lp, double *grad,
                          double *work, vi_error *perr)
{
    vh_model whole = *model;
    whole.items = NULL;
    return target_density(&whole, theta, lp, grad, work, NULL, perr);
}

int vh_target_density(const vh_model *model, double *theta, double *lp, double *grad,
                      vh_draw_buffers *buf, vi_error *perr)
{
    return target_density(model, theta, lp, grad, buf->target_work, buf->prior_grad, perr);
}

int vh_check_density(const vh_model *model, const double *z, double lp, const double *grad,
                     uint64_t iteration, uint64_t index, vh_err *err)
{
    char point[256];
    int bad_grad = 0;
    for (size_t i = 0; grad != NULL && i < model->dim; i++)
        bad_grad |= !isfinite(grad[i]);
    if (isfinite(lp) && !bad_grad)
        return 0;
    format_point(point, sizeof point, z, model->dim);
    return vh_err_set(err, VH_EXIT_NUMERIC,
                      "%s: %s at theta = %s (iteration %llu, draw %llu); check the model "
                      "there, or start the family closer to the posterior",
                      model->target_label,
                      isnan(lp) ? "log density is NaN"
                      : !isfinite(lp) ? "log density is not finite"
                                      : "gradient is not finite",
                      point, (unsigned long long)iteration, (unsigned long long)index + 1);
}

/* A family call that succeeded but wrote a NaN or infinite value (z, a
 * gradient, the entropy) is the family's fault, not the target's nor the
 * optimizer's: named here before anything downstream trips over it. */
int vh_check_family(const vh_model *model, const char *call, const char *what,
                    const double *x, size_t n, uint64_t iteration, uint64_t index, vh_err *err)
{
    size_t i = 0;
    while (i < n && isfinite(x[i]))
        i++;
    if (i == n)
        return 0;
    char draw[48] = "";
    if (index != UINT64_MAX)
        snprintf(draw, sizeof draw, ", draw %llu", (unsigned long long)index + 1);
    return vh_err_set(err, VH_EXIT_NUMERIC,
                      "%s: %s gave a non-finite %s (element %zu is %g) at iteration %llu%s; "
                      "its parameters may have diverged: lower the learning rate",
                      model->family_label, call, what, i + 1, x[i],
                      (unsigned long long)iteration, draw);
}

int vh_draw_forward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                    uint64_t iteration, uint64_t index, double *lp, double *lq, int gradient,
                    vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->family->forward(model->family_self, lambda, buf->eps, buf->z, lq,
                                        buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "forward", &perr, status, iteration);
    if (vh_check_family(model, "forward", "z", buf->z, model->dim, iteration, index,
                            err) != 0)
        return -1;
    status = vh_target_density(model, buf->z, lp, gradient ? buf->grad_z : NULL, buf, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->target_label, "log_density", &perr, status,
                                 iteration);
    return 0;
}

int vh_draw_backward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                     uint64_t iteration, uint64_t index, double lp, double *dlambda,
                     vh_err *err)
{
    const vi_family_desc *fam = model->family;
    vi_error perr = {sizeof perr, 0, ""};
    int status;
    if (vh_check_density(model, buf->z, lp, dlambda ? buf->grad_z : NULL, iteration, index,
                         err) != 0)
        return -1;
    if (dlambda == NULL)
        return 0;
    if (fam->entropy == NULL || model->gradient == VH_GRADIENT_STL) {
        /* Path derivative: subtract grad_z log q before back-propagating. */
        double lq_here;
        status = fam->log_q_grad_z(model->family_self, lambda, buf->z, &lq_here,
                                   buf->dlog_q, buf->family_work, &perr);
        if (status != 0)
            return vh_plugin_failure(err, model->family_label, "log_q_grad_z", &perr, status,
                                     iteration);
        for (size_t i = 0; i < model->dim; i++)
            buf->grad_z[i] -= buf->dlog_q[i];
    }
    status = fam->backward(model->family_self, lambda, buf->eps, buf->grad_z, dlambda,
                           buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "backward", &perr, status,
                                 iteration);
    return vh_check_family(model, "backward", "gradient", dlambda, model->n_params,
                           iteration, index, err);
}

int vh_draw_evaluate(const vh_model *model, const double *lambda,
                     vh_draw_buffers *buf, uint64_t iteration, uint64_t index,
                     double *lp, double *lq, double *dlambda, vh_err *err)
{
    if (vh_draw_forward(model, lambda, buf, iteration, index, lp, lq, dlambda != NULL,
                        err) != 0)
        return -1;
    return vh_draw_backward(model, lambda, buf, iteration, index, *lp, dlambda, err);
}

int vh_closed_entropy(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                      double *h, double *dlambda, uint64_t iteration, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->family->entropy(model->family_self, lambda, h, dlambda,
                                        buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "entropy", &perr, status, iteration);
    if (vh_check_family(model, "entropy", "entropy", h, 1, iteration, UINT64_MAX,
                            err) != 0)
        return -1;
    return dlambda == NULL ? 0
                           : vh_check_family(model, "entropy", "entropy gradient",
                                                 dlambda, model->n_params, iteration,
                                                 UINT64_MAX, err);
}

int vh_score_backward(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                      uint64_t iteration, uint64_t index, double lp, double *f, double *g,
                      vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    double lq;
    if (vh_check_density(model, buf->z, lp, NULL, iteration, index, err) != 0)
        return -1;
    int status = model->family->log_q_grad_lambda(model->family_self, lambda, buf->z, &lq, g,
                                                  buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "log_q_grad_lambda", &perr, status,
                                 iteration);
    *f = lp - lq;
    return 0;
}

/* One draw for the score estimator: *f = log p~(z) - log q(z) and
 * g = grad_lambda log q(z) (written).  No gradient of p is asked for. */
static int score_draw(const vh_model *model, const double *lambda, vh_draw_buffers *buf,
                      uint64_t iteration, uint64_t index, double *f, double *g, vh_err *err)
{
    double lp;
    if (vh_draw_forward(model, lambda, buf, iteration, index, &lp, NULL, 0, err) != 0)
        return -1;
    return vh_score_backward(model, lambda, buf, iteration, index, lp, f, g, err);
}

/* Score function with the leave-one-out baseline b_s = mean of the other
 * draws' f:  (1/S) sum_s (f_s - b_s) G_s = 1/(S-1) sum_s (f_s - mean f) G_s.
 * Row s of per_draw keeps (f_s - f_0) G_s, shifted by the first draw's f
 * so that large |f| does not cancel; the sum of the G_s is kept apart. */
static int score_estimate(const vh_model *model, const double *lambda, uint64_t seed,
                          uint64_t iteration, size_t S, vh_draw_buffers *buf,
                          double *per_draw, double *grad, double *elbo, vh_err *err)
{
    size_t n = model->n_params;
    double sum = 0.0, f0 = 0.0;
    memset(grad, 0, n * sizeof *grad);
    for (size_t s = 0; s < S; s++) {
        double *g = per_draw + s * n, f;
        if (vh_draw_base(model, seed, VH_RNG_GRADIENT, iteration, s, buf->eps, err) != 0 ||
            score_draw(model, lambda, buf, iteration, s, &f, g, err) != 0)
            return -1;
        if (s == 0)
            f0 = f;
        for (size_t i = 0; i < n; i++) {
            grad[i] += g[i];
            g[i] *= f - f0;
        }
        sum += f;
    }
    double shift = sum / (double)S - f0, scale = S > 1 ? 1.0 / (double)(S - 1) : 1.0;
    if (S == 1) /* no other draw to make a baseline from */
        shift = -f0;
    for (size_t i = 0; i < n; i++)
        grad[i] *= -shift;
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < n; i++)
            grad[i] += per_draw[s * n + i];
    for (size_t i = 0; i < n; i++)
        grad[i] *= scale;
    *elbo = sum / (double)S;
    return 0;
}

int vh_stratum_forward(const vh_model *model, const vi_family_strata *st, size_t k,
                       const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                       uint64_t index, double *lp, double *lq, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    int status = st->forward_stratum(model->family_self, lambda, k, buf->eps, buf->z, lq,
                                     buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "forward_stratum", &perr, status,
                                 iteration);
    if (vh_check_family(model, "forward_stratum", "z", buf->z, model->dim, iteration, index,
                        err) != 0)
        return -1;
    status = vh_target_density(model, buf->z, lp, buf->grad_z, buf, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->target_label, "log_density", &perr, status,
                                 iteration);
    return 0;
}

int vh_stratum_backward(const vh_model *model, const vi_family_strata *st, size_t k, double w,
                        const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                        uint64_t index, double lp, double lq, double *f, double *g,
                        vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    double lq_here;
    if (vh_check_density(model, buf->z, lp, buf->grad_z, iteration, index, err) != 0)
        return -1;
    int status = model->family->log_q_grad_z(model->family_self, lambda, buf->z, &lq_here,
                                             buf->dlog_q, buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "log_q_grad_z", &perr, status,
                                 iteration);
    for (size_t i = 0; i < model->dim; i++)
        buf->grad_z[i] = w * (buf->grad_z[i] - buf->dlog_q[i]);
    status = st->backward_stratum(model->family_self, lambda, k, buf->eps, buf->grad_z, g,
                                  buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "backward_stratum", &perr, status,
                                 iteration);
    *f = lp - lq;
    return 0;
}

/* Stratum k of one draw: g += w_k J_k^T (grad log p~ - grad_z log q) at
 * z_k = T_k(lambda, eps); *f = log p~(z_k) - log q(z_k). */
static int stratum_draw(const vh_model *model, const vi_family_strata *st, size_t k,
                        double w, const double *lambda, vh_draw_buffers *buf,
                        uint64_t iteration, uint64_t index, double *f, double *g,
                        vh_err *err)
{
    double lp, lq;
    if (vh_stratum_forward(model, st, k, lambda, buf, iteration, index, &lp, &lq, err) != 0)
        return -1;
    return vh_stratum_backward(model, st, k, w, lambda, buf, iteration, index, lp, lq, f, g,
                               err);
}

/* One draw of the stratified estimator: every stratum, weighted by w_k,
 * then the weights' gradient sum_k (f_k - f) grad w_k into g; *value is
 * this draw's stratified ELBO f = sum_k w_k f_k. */
static int strata_draw(const vh_model *model, const vi_family_strata *st, size_t K,
                       const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                       uint64_t index, double *value, double *g, vh_err *err)
{
    const double *w = buf->strata;
    double *f = buf->strata + K;
    for (size_t k = 0; k < K; k++)
        if (stratum_draw(model, st, k, w[k], lambda, buf, iteration, index, &f[k], g, err))
            return -1;
    return vh_strata_combine(model, st, K, lambda, buf, iteration, value, g, err);
}

int vh_strata_combine(const vh_model *model, const vi_family_strata *st, size_t K,
                      const double *lambda, vh_draw_buffers *buf, uint64_t iteration,
                      double *value, double *g, vh_err *err)
{
    const double *w = buf->strata, *f = buf->strata + K;
    double *df = buf->strata + 2 * K, mean = 0.0;
    for (size_t k = 0; k < K; k++)
        mean += w[k] * f[k];
    for (size_t k = 0; k < K; k++)
        df[k] = f[k] - mean;
    vi_error perr = {sizeof perr, 0, ""};
    int status = st->weights_backward(model->family_self, lambda, df, g, buf->family_work,
                                      &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "weights_backward", &perr, status,
                              iteration);
    *value = mean;
    return 0;
}

static int strata_estimate(const vh_model *model, const vi_family_strata *st, size_t K,
                           const double *lambda, uint64_t seed, uint64_t iteration, size_t S,
                           vh_draw_buffers *buf, double *per_draw, double *grad,
                           double *elbo, vh_err *err)
{
    size_t n = model->n_params;
    double sum = 0.0;
    vi_error perr = {sizeof perr, 0, ""};
    int status = st->weights(model->family_self, lambda, buf->strata, buf->family_work, &perr);
    if (status != 0)
        return vh_plugin_failure(err, model->family_label, "weights", &perr, status, iteration);
    for (size_t s = 0; s < S; s++) {
        double *g = per_draw + s * n, value = NAN;
        memset(g, 0, n * sizeof *g);
        if (vh_draw_base(model, seed, VH_RNG_GRADIENT, iteration, s, buf->eps, err) != 0 ||
            strata_draw(model, st, K, lambda, buf, iteration, s, &value, g, err) != 0)
            return -1;
        sum += value;
    }
    memset(grad, 0, n * sizeof *grad);
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < n; i++)
            grad[i] += per_draw[s * n + i];
    for (size_t i = 0; i < n; i++)
        grad[i] /= (double)S;
    *elbo = sum / (double)S;
    return 0;
}

int vh_gradient_estimate(const vh_model *model, const double *lambda,
                         uint64_t seed, uint64_t iteration, size_t S,
                         vh_draw_buffers *buf, double *per_draw, double *grad,
                         double *elbo, vh_err *err)
{
    size_t n = model->n_params;
    const vi_family_strata *st;
    size_t K = vh_strata_used(model, &st);
    if (model->parallel != NULL)
        return vh_parallel_gradient(model, lambda, seed, iteration, S, per_draw, grad, elbo,
                                    err);
    if (model->gradient == VH_GRADIENT_SCORE)
        return score_estimate(model, lambda, seed, iteration, S, buf, per_draw, grad, elbo,
                              err);
    if (K > 0)
        return strata_estimate(model, st, K, lambda, seed, iteration, S, buf, per_draw, grad,
                               elbo, err);
    int closed = model->family->entropy != NULL && model->gradient == VH_GRADIENT_REPARAM;
    double sum = 0.0;
    for (size_t s = 0; s < S; s++) {
        double *g = per_draw + s * n;
        double lp, lq = NAN;
        memset(g, 0, n * sizeof *g);
        if (vh_draw_base(model, seed, VH_RNG_GRADIENT, iteration, s, buf->eps, err) != 0 ||
            vh_draw_evaluate(model, lambda, buf, iteration, s, &lp, closed ? NULL : &lq, g,
                             err) != 0)
            return -1;
        sum += closed ? lp : lp - lq;
    }
    /* Summed in draw order, so any split of the draws gives the same bits. */
    memset(grad, 0, n * sizeof *grad);
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < n; i++)
            grad[i] += per_draw[s * n + i];
    for (size_t i = 0; i < n; i++)
        grad[i] /= (double)S;
    *elbo = sum / (double)S;
    if (closed) {
        double h;
        if (vh_closed_entropy(model, lambda, buf, &h, grad, iteration, err) != 0)
            return -1;
        *elbo += h;
    }
    return 0;
}

int vh_draw_finite(const vh_model *model, const double *lambda, uint64_t seed,
                   vh_rng_purpose purpose, uint64_t iteration, uint64_t index,
                   vh_draw_buffers *buf, double *lp, double *lq, size_t *dropped,
                   size_t limit, vh_err *err)
{
    unsigned base = model->sampler != NULL ? model->sampler->attempt : 0;
    for (unsigned attempt = base;; attempt++) {
        if (lq != NULL)
            *lq = NAN;
        int evaluated =
            vh_draw_base_attempt(model, attempt, seed, purpose, iteration, index, buf->eps,
                              err) == 0 &&
            vh_draw_evaluate(model, lambda, buf, iteration, index, lp, lq, NULL, err) == 0;
        if (evaluated && (lq == NULL || isfinite(*lq)))
            return 0;
        if (evaluated)
            vh_err_set(err, VH_EXIT_NUMERIC,
                       "%s: log q is not finite at a draw (iteration %llu, draw %llu)",
                       model->family_label, (unsigned long long)iteration,
                       (unsigned long long)index);
        else if (err != NULL && err->exit_code != VH_EXIT_NUMERIC)
            return -1;
        if (++*dropped >= limit || attempt >= VH_SAMPLER_REDRAWS)
            return -1;
    }
}

/* The mean of the S values and its Monte Carlo standard error. */
static void elbo_summary(const double *values, size_t S, double *elbo, double *mcse)
{
    double mean = 0.0, ss = 0.0;
    for (size_t s = 0; s < S; s++)
        mean += values[s];
    mean /= (double)S;
    for (size_t s = 0; s < S; s++)
        ss += (values[s] - mean) * (values[s] - mean);
    *elbo = mean;
    *mcse = S > 1 ? sqrt(ss / (double)(S - 1) / (double)S) : NAN;
}

int vh_elbo_estimate_redrawn(const vh_model *model, const double *lambda, uint64_t seed,
                             vh_rng_purpose purpose, uint64_t iteration, size_t S,
                             vh_draw_buffers *buf, double *values, double *elbo,
                             double *mcse, size_t *redraws, vh_err *err)
{
    int closed = model->family->entropy != NULL;
    double h = 0.0;
    size_t dropped = 0;
    *redraws = 0;
    if (model->parallel != NULL) {
        if (vh_parallel_elbo(model, lambda, seed, purpose, iteration, S, values, redraws,
                             err) != 0)
            return -1;
        elbo_summary(values, S, elbo, mcse);
        return 0;
    }
    if (closed && vh_closed_entropy(model, lambda, buf, &h, NULL, iteration, err) != 0)
        return -1;
    for (size_t s = 0; s < S; s++) {
        double lp, lq = NAN;
        if (vh_draw_finite(model, lambda, seed, purpose, iteration, s, buf, &lp,
                           closed ? NULL : &lq, &dropped, S, err) != 0) {
            *redraws = dropped;
            return -1;
        }
        values[s] = closed ? lp + h : lp - lq;
    }
    *redraws = dropped;
    elbo_summary(values, S, elbo, mcse);
    return 0;
}

int vh_elbo_estimate(const vh_model *model, const double *lambda,
                     uint64_t seed, vh_rng_purpose purpose, uint64_t iteration,
                     size_t S, vh_draw_buffers *buf, double *values,
                     double *elbo, double *mcse, vh_err *err)
{
    size_t redraws;
    return vh_elbo_estimate_redrawn(model, lambda, seed, purpose, iteration, S, buf, values,
                                    elbo, mcse, &redraws, err);
}
