/* estimators.c — ELBO and gradient estimates (see estimators.h). */
#include "estimators.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vh_draw_buffers_alloc(const vh_model *model, vh_draw_buffers *buf)
{
    memset(buf, 0, sizeof *buf);
    /* +1 so that zero-length requests still give distinct valid pointers. */
    buf->eps = calloc(model->base_dim + 1, sizeof(double));
    buf->z = calloc(model->dim + 1, sizeof(double));
    buf->grad_z = calloc(model->dim + 1, sizeof(double));
    buf->dlog_q = calloc(model->dim + 1, sizeof(double));
    buf->target_work = calloc(model->target_work + 1, sizeof(double));
    buf->family_work = calloc(model->family_work + 1, sizeof(double));
    if (!buf->eps || !buf->z || !buf->grad_z || !buf->dlog_q ||
        !buf->target_work || !buf->family_work) {
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
    free(buf->target_work);
    free(buf->family_work);
    memset(buf, 0, sizeof *buf);
}

int vh_estimator_check(const vh_model *model, vh_err *err)
{
    if (model->family->entropy == NULL && model->family->log_q_grad_z == NULL)
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

static int plugin_failure(vh_err *err, const char *label, const char *call,
                          const vi_error *perr, int status, uint64_t iteration)
{
    return vh_err_set(err, VH_EXIT_NUMERIC, "%s: %s failed at iteration %llu: %s (status %d)",
                      label, call, (unsigned long long)iteration,
                      perr->message[0] ? perr->message : "no message", status);
}

int vh_draw_base(const vh_model *model, uint64_t seed, vh_rng_purpose purpose,
                 uint64_t iteration, uint64_t index, double *eps, vh_err *err)
{
    vi_rng rng;
    vh_rng_init(&rng, seed, purpose, iteration, index);
    if (model->family->sample_base == NULL) {
        vh_rng_normal_fill(&rng, eps, model->base_dim);
        return 0;
    }
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->family->sample_base(model->family_self, &rng, model->family_host,
                                            eps, &perr);
    if (status != 0)
        return plugin_failure(err, model->family_label, "sample_base", &perr, status,
                              iteration);
    return 0;
}

static int check_density(const vh_model *model, const double *z, double lp,
                         const double *grad, uint64_t iteration, uint64_t index,
                         vh_err *err)
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
                      point, (unsigned long long)iteration, (unsigned long long)index);
}

int vh_draw_evaluate(const vh_model *model, const double *lambda,
                     vh_draw_buffers *buf, uint64_t iteration, uint64_t index,
                     double *lp, double *lq, double *dlambda, vh_err *err)
{
    const vi_family_desc *fam = model->family;
    vi_error perr = {sizeof perr, 0, ""};
    int status = fam->forward(model->family_self, lambda, buf->eps, buf->z, lq,
                              buf->family_work, &perr);
    if (status != 0)
        return plugin_failure(err, model->family_label, "forward", &perr, status, iteration);
    status = model->target->log_density(model->target_self, buf->z, lp,
                                        dlambda ? buf->grad_z : NULL,
                                        buf->target_work, &perr);
    if (status != 0)
        return plugin_failure(err, model->target_label, "log_density", &perr, status,
                              iteration);
    if (check_density(model, buf->z, *lp, dlambda ? buf->grad_z : NULL, iteration, index,
                      err) != 0)
        return -1;
    if (dlambda == NULL)
        return 0;
    if (fam->entropy == NULL) {
        /* Path derivative: subtract grad_z log q before back-propagating. */
        double lq_here;
        status = fam->log_q_grad_z(model->family_self, lambda, buf->z, &lq_here,
                                   buf->dlog_q, buf->family_work, &perr);
        if (status != 0)
            return plugin_failure(err, model->family_label, "log_q_grad_z", &perr, status,
                                  iteration);
        for (size_t i = 0; i < model->dim; i++)
            buf->grad_z[i] -= buf->dlog_q[i];
    }
    status = fam->backward(model->family_self, lambda, buf->eps, buf->grad_z, dlambda,
                           buf->family_work, &perr);
    if (status != 0)
        return plugin_failure(err, model->family_label, "backward", &perr, status, iteration);
    return 0;
}

static int closed_form_entropy(const vh_model *model, const double *lambda,
                               vh_draw_buffers *buf, double *h, double *dlambda,
                               uint64_t iteration, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    int status = model->family->entropy(model->family_self, lambda, h, dlambda,
                                        buf->family_work, &perr);
    if (status != 0)
        return plugin_failure(err, model->family_label, "entropy", &perr, status, iteration);
    return 0;
}

int vh_gradient_estimate(const vh_model *model, const double *lambda,
                         uint64_t seed, uint64_t iteration, size_t S,
                         vh_draw_buffers *buf, double *per_draw, double *grad,
                         double *elbo, vh_err *err)
{
    size_t n = model->n_params;
    int closed = model->family->entropy != NULL;
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
        if (closed_form_entropy(model, lambda, buf, &h, grad, iteration, err) != 0)
            return -1;
        *elbo += h;
    }
    return 0;
}

int vh_elbo_estimate(const vh_model *model, const double *lambda,
                     uint64_t seed, vh_rng_purpose purpose, uint64_t iteration,
                     size_t S, vh_draw_buffers *buf, double *values,
                     double *elbo, double *mcse, vh_err *err)
{
    int closed = model->family->entropy != NULL;
    double h = 0.0;
    if (closed && closed_form_entropy(model, lambda, buf, &h, NULL, iteration, err) != 0)
        return -1;
    for (size_t s = 0; s < S; s++) {
        double lp, lq = NAN;
        if (vh_draw_base(model, seed, purpose, iteration, s, buf->eps, err) != 0 ||
            vh_draw_evaluate(model, lambda, buf, iteration, s, &lp, closed ? NULL : &lq,
                             NULL, err) != 0)
            return -1;
        values[s] = closed ? lp + h : lp - lq;
    }
    double mean = 0.0, ss = 0.0;
    for (size_t s = 0; s < S; s++)
        mean += values[s];
    mean /= (double)S;
    for (size_t s = 0; s < S; s++)
        ss += (values[s] - mean) * (values[s] - mean);
    *elbo = mean;
    *mcse = S > 1 ? sqrt(ss / (double)(S - 1) / (double)S) : NAN;
    return 0;
}
