/* finite.c — targets and families over a finite set of states (see
 * finite.h).  Runs after a fit, outside the loop, so it allocates freely. */
#include "finite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* How far q's probabilities may sum from 1 before the family is wrong. */
#define FINITE_MASS_TOL 1e-9

double vh_kl_divergence(const double *log_a, const double *log_b, size_t n)
{
    double kl = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (log_a[i] == -INFINITY)
            continue;
        if (log_b[i] == -INFINITY)
            return INFINITY;
        kl += exp(log_a[i]) * (log_a[i] - log_b[i]);
    }
    /* Rounding can leave -1e-17 for identical inputs; KL is never negative. */
    return kl > 0.0 ? kl : 0.0;
}

static const void *target_extension(const vh_model *m)
{
    const vi_target_desc *t = m->target;
    return t->get_extension ? t->get_extension(m->target_self, VI_TARGET_FINITE_ID) : NULL;
}

static const void *family_extension(const vh_model *m)
{
    const vi_family_desc *f = m->family;
    return f->get_extension ? f->get_extension(m->family_self, VI_FAMILY_FINITE_ID) : NULL;
}

/* The two extensions share their layout; valid when complete and not empty. */
static int finite_valid(const vi_target_finite *ext)
{
    return VI_HAS_MEMBER(ext, vi_target_finite, states) && ext->n_states > 0 &&
           ext->states != NULL;
}

const vi_target_finite *vh_target_finite(const vh_model *model)
{
    const vi_target_finite *ext = target_extension(model);
    return finite_valid(ext) ? ext : NULL;
}

const vi_family_finite *vh_family_finite(const vh_model *model)
{
    const vi_family_finite *ext = family_extension(model);
    return finite_valid((const vi_target_finite *)(const void *)ext) ? ext : NULL;
}

int vh_finite_check(const vh_model *model, vh_err *err)
{
    const char *label = NULL, *id = NULL;
    if (target_extension(model) != NULL && vh_target_finite(model) == NULL) {
        label = model->target_label;
        id = VI_TARGET_FINITE_ID;
    } else if (family_extension(model) != NULL && vh_family_finite(model) == NULL) {
        label = model->family_label;
        id = VI_FAMILY_FINITE_ID;
    }
    if (label == NULL)
        return 0;
    return vh_err_set(err, VH_EXIT_PLUGIN,
                      "%s: its %s extension is malformed (struct_size too small, or no "
                      "states); rebuild the plugin against this SDK",
                      label, id);
}

/* log p~ at n points (rows of x), into lp. */
static int target_at(const vh_model *m, const double *x, size_t n, double *lp, vh_err *err)
{
    double *work = calloc(m->target_work + 1, sizeof *work);
    if (work == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        vi_error perr = {sizeof perr, 0, ""};
        int status = m->target->log_density(m->target_self, x + i * m->dim, &lp[i], NULL,
                                            work, &perr);
        if (status != 0 || isnan(lp[i]) || lp[i] == INFINITY)
            failed = vh_err_set(err, VH_EXIT_PLUGIN,
                                "%s: log density at finite state %zu is %s: %s", m->target_label,
                                i + 1, status != 0 ? "an error" : "not a log probability",
                                perr.message[0] ? perr.message : "no message");
    }
    free(work);
    return failed ? -1 : 0;
}

/* log q_lambda at n points (rows of x), into lq. */
static int family_at(const vh_model *m, const double *lambda, const double *x, size_t n,
                     double *lq, vh_err *err)
{
    double *work = calloc(m->family_work + 1, sizeof *work);
    if (work == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = 0;
    for (size_t i = 0; i < n && !failed; i++) {
        vi_error perr = {sizeof perr, 0, ""};
        int status = m->family->log_q(m->family_self, lambda, x + i * m->dim, &lq[i], work,
                                      &perr);
        if (status != 0 || isnan(lq[i]) || lq[i] > 1e-12)
            failed = vh_err_set(err, VH_EXIT_PLUGIN,
                                "%s: log_q at finite state %zu is %s: %s", m->family_label,
                                i + 1, status != 0 ? "an error" : "not a log probability",
                                perr.message[0] ? perr.message : "no message");
    }
    free(work);
    return failed ? -1 : 0;
}

int vh_finite_support_check(const vh_model *model, vh_err *err)
{
    const vi_family_finite *f = vh_family_finite(model);
    if (f == NULL || vh_target_finite(model) == NULL)
        return 0;
    double *lp = malloc(f->n_states * sizeof *lp);
    if (lp == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = target_at(model, f->states, f->n_states, lp, err);
    for (size_t j = 0; j < f->n_states && !failed; j++)
        if (lp[j] == -INFINITY)
            failed = vh_err_set(err, VH_EXIT_USAGE,
                                "%s has %zu states, and its state %zu (%g) is not one of %s's "
                                "%zu states; give the family as many states as the target",
                                model->family_label, f->n_states, j + 1,
                                f->states[j * model->dim], model->target_label,
                                vh_target_finite(model)->n_states);
    free(lp);
    return failed ? -1 : 0;
}

static double log_sum_exp(const double *x, size_t n)
{
    double max = -INFINITY, sum = 0.0;
    for (size_t i = 0; i < n; i++)
        max = fmax(max, x[i]);
    if (!isfinite(max))
        return max;
    for (size_t i = 0; i < n; i++)
        sum += exp(x[i] - max);
    return max + log(sum);
}

int vh_finite_log_evidence(const vh_model *model, double *log_z, vh_err *err)
{
    const vi_target_finite *t = vh_target_finite(model);
    if (t == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s is not over a finite set (%s)",
                          model->target_label, VI_TARGET_FINITE_ID);
    double *lp = malloc(t->n_states * sizeof *lp);
    if (lp == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = target_at(model, t->states, t->n_states, lp, err);
    if (!failed)
        *log_z = log_sum_exp(lp, t->n_states);
    free(lp);
    return failed ? -1 : 0;
}

int vh_finite_mean(const vh_model *model, const double *lambda, size_t cdim, double *mean,
                   vh_err *err)
{
    const vi_family_finite *f = vh_family_finite(model);
    if (f == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s is not over a finite set (%s)",
                          model->family_label, VI_FAMILY_FINITE_ID);
    double *lq = malloc(f->n_states * sizeof *lq), *c = malloc((cdim + 1) * sizeof *c);
    int failed = lq == NULL || c == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory")
                                         : family_at(model, lambda, f->states, f->n_states, lq,
                                                     err);
    for (size_t i = 0; i < cdim && !failed; i++)
        mean[i] = 0.0;
    for (size_t j = 0; j < f->n_states && !failed; j++) {
        const double *x = f->states + j * model->dim;
        vi_error perr = {sizeof perr, 0, ""};
        if (model->target->constrain == NULL)
            memcpy(c, x, cdim * sizeof *c);
        else if (model->target->constrain(model->target_self, x, c, &perr) != 0)
            failed = vh_err_set(err, VH_EXIT_PLUGIN, "%s: constrain failed at state %zu: %s",
                                model->target_label, j + 1,
                                perr.message[0] ? perr.message : "no message");
        for (size_t i = 0; i < cdim && !failed; i++)
            mean[i] += exp(lq[j]) * c[i];
    }
    free(lq);
    free(c);
    return failed ? -1 : 0;
}

/* KL(q || p) over the family's states F, where q is a probability vector:
 * a = log q(F_j), b = log p~(F_j) - log Z. */
static int kl_q_p(const vh_model *m, const double *lambda, const vi_family_finite *f,
                  double log_z, double *a, double *b, double *kl, vh_err *err)
{
    if (family_at(m, lambda, f->states, f->n_states, a, err) != 0 ||
        target_at(m, f->states, f->n_states, b, err) != 0)
        return -1;
    double mass = exp(log_sum_exp(a, f->n_states));
    if (!(fabs(mass - 1.0) <= FINITE_MASS_TOL))
        return vh_err_set(err, VH_EXIT_PLUGIN,
                          "%s: the probabilities of its %zu states sum to %.17g, not 1",
                          m->family_label, f->n_states, mass);
    for (size_t j = 0; j < f->n_states; j++)
        b[j] -= log_z;
    *kl = vh_kl_divergence(a, b, f->n_states);
    return 0;
}

/* KL(p || q) over the target's states T: a = log p(T_i), b = log q(T_i). */
static int kl_p_q(const vh_model *m, const double *lambda, const vi_target_finite *t,
                  double log_z, double *a, double *b, double *kl, vh_err *err)
{
    if (target_at(m, t->states, t->n_states, a, err) != 0 ||
        family_at(m, lambda, t->states, t->n_states, b, err) != 0)
        return -1;
    for (size_t i = 0; i < t->n_states; i++)
        a[i] -= log_z;
    *kl = vh_kl_divergence(a, b, t->n_states);
    return 0;
}

int vh_finite_kl(const vh_model *model, const double *lambda, double *kl_qp,
                 double *kl_pq, vh_err *err)
{
    const vi_target_finite *t = vh_target_finite(model);
    const vi_family_finite *f = vh_family_finite(model);
    double log_z;
    if (f == NULL)
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s is not over a finite set (%s)",
                          model->family_label, VI_FAMILY_FINITE_ID);
    if (vh_finite_log_evidence(model, &log_z, err) != 0)
        return -1;
    if (!isfinite(log_z))
        return vh_err_set(err, VH_EXIT_PLUGIN, "%s: every state has probability 0",
                          model->target_label);
    size_t n = t->n_states > f->n_states ? t->n_states : f->n_states;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    int failed = a == NULL || b == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory") : 0;
    if (!failed && kl_qp != NULL)
        failed = kl_q_p(model, lambda, f, log_z, a, b, kl_qp, err);
    if (!failed && kl_pq != NULL)
        failed = kl_p_q(model, lambda, t, log_z, a, b, kl_pq, err);
    free(a);
    free(b);
    return failed ? -1 : 0;
}
