/*
 * adam.c — Adam (Kingma & Ba, 2015), as gradient ascent:
 *     m = beta1 m + (1 - beta1) g,     v = beta2 v + (1 - beta2) g^2,
 *     lambda += eta_t * mhat / (sqrt(vhat) + epsilon),
 * eta_t = learning_rate / (1 + decay (t - 1)) (decay 0, the default, keeps
 * it constant),
 * with the bias corrections mhat = m / (1 - beta1^t), vhat = v / (1 -
 * beta2^t), t counting this instance's steps (1 for the first).
 *
 * With amsgrad (Reddi, Kale & Kumar, 2018) the denominator uses the
 * running maximum vmax = max(vmax, v) instead of v, bias-corrected the
 * same way, so a coordinate's step never grows because its gradients got
 * smaller.
 *
 * The option defaults are Kingma & Ba's.  A run file without an optimizer
 * section gets adam tuned for variational inference instead (runfile.c):
 * the first gradients of a fit are often thousands of times larger than
 * those near the optimum, and with beta2 = 0.999 their squares shrink every
 * later step for a thousand iterations, so beta2 0.9; a large first rate
 * (0.2) travels fast and a 1/t decay (0.1) lets the iterates settle
 * (share/doc/optimizers.md measures the choice).
 *
 * State (for checkpoints): the header of optimizer_util.h, then m[n],
 * v[n] and vmax[n].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

/* Identifies a saved adam state (and its layout revision). */
static const char adam_state_magic[8] = {'v', 'i', '.', 'a', 'd', 'a', 'm', '2'};

typedef struct adam_optimizer {
    size_t n;
    double learning_rate;
    double beta1, beta2, epsilon;
    double decay;    /* step t uses learning_rate / (1 + decay (t - 1)) */
    int amsgrad;
    uint64_t steps;  /* steps taken so far */
    double *moments; /* m[n], v[n], vmax[n] */
} adam_optimizer;

static const vi_option adam_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0, HUGE_VAL,
     "step size (at the first step, when decay > 0) (> 0)"},
    {sizeof(vi_option), "beta1", VI_OPTION_DOUBLE, 0, "0.9", 0.0, 1.0,
     "decay rate of the first-moment estimate, in [0, 1)"},
    {sizeof(vi_option), "beta2", VI_OPTION_DOUBLE, 0, "0.999", 0.0, 1.0,
     "decay rate of the second-moment estimate, in [0, 1)"},
    {sizeof(vi_option), "epsilon", VI_OPTION_DOUBLE, 0, "1e-8", 0.0, HUGE_VAL,
     "added to sqrt(vhat) so the step stays bounded (> 0)"},
    {sizeof(vi_option), "decay", VI_OPTION_DOUBLE, 0, "0", 0.0, HUGE_VAL,
     "step t uses learning_rate / (1 + decay (t - 1)); 0 keeps it constant"},
    {sizeof(vi_option), "amsgrad", VI_OPTION_BOOL, 0, "false", 0.0, 0.0,
     "use the running maximum of the second moment (AMSGrad)"},
    VI_OPTION_END};

static int read_options(const vi_host *host, const vi_config *config, adam_optimizer *o,
                        vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "learning_rate", 0.01,
                                         &o->learning_rate, err);
    if (status == VI_OK)
        status = opt_check_rate(o->learning_rate, "option 'learning_rate'", err);
    if (status == VI_OK)
        status = opt_read_real(host, config, "beta1", 0.9, 0.0, 1.0, 1, &o->beta1, err);
    if (status == VI_OK)
        status = opt_read_real(host, config, "beta2", 0.999, 0.0, 1.0, 1, &o->beta2, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "epsilon", 1e-8, &o->epsilon, err);
    if (status == VI_OK && (!(o->epsilon > 0.0) || !isfinite(o->epsilon)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'epsilon' must be finite and > 0, got %g", o->epsilon);
    if (status == VI_OK)
        status = opt_read_real(host, config, "decay", 0.0, 0.0, HUGE_VAL, 0, &o->decay, err);
    if (status == VI_OK) {
        int got = host->config_get_bool(config, "amsgrad", &o->amsgrad);
        if (got == VI_ENOTFOUND)
            o->amsgrad = 0;
        else if (got != VI_OK)
            status = vi_error_set(err, got, "'amsgrad' must be true or false");
    }
    return status;
}

static void adam_destroy(void *self)
{
    adam_optimizer *o = (adam_optimizer *)self;
    if (o == NULL)
        return;
    free(o->moments);
    free(o);
}

static int adam_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                       vi_error *err)
{
    adam_optimizer *o;
    int status;
    *self = NULL;
    if (n > SIZE_MAX / (4 * sizeof(double)))
        return vi_error_set(err, VI_ENOMEM, "adam cannot hold %lu parameters",
                            (unsigned long)n);
    o = (adam_optimizer *)calloc(1, sizeof *o);
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    /* calloc: the moment estimates start at zero; + 1 so n = 0 works. */
    o->moments = (double *)calloc(3 * n + 1, sizeof *o->moments);
    status = o->moments != NULL ? read_options(host, config, o, err)
                                : vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status != VI_OK) {
        adam_destroy(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

/* 1 - beta^t, accurately also when beta^t is close to 1. */
static double bias_correction(double beta, uint64_t t)
{
    if (beta == 0.0)
        return 1.0;
    return -expm1((double)t * log(beta));
}

static int adam_step(void *self, double *lambda, const double *grad, const vi_step_info *info,
                     vi_error *err)
{
    adam_optimizer *o = (adam_optimizer *)self;
    double *m = o->moments, *v = o->moments + o->n, *vmax = o->moments + 2 * o->n;
    double rate, step, root_c2;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    rate = o->learning_rate / (1.0 + o->decay * (double)(o->steps - 1));
    /* rate (m / c1) / (sqrt(v / c2) + epsilon), with the bias corrections
     * c1, c2 taken out of the loop: one division and one root per
     * coordinate instead of three and one. */
    step = rate / bias_correction(o->beta1, o->steps);
    root_c2 = 1.0 / sqrt(bias_correction(o->beta2, o->steps));
    for (i = 0; i < o->n; ++i) {
        double second;
        m[i] = o->beta1 * m[i] + (1.0 - o->beta1) * grad[i];
        v[i] = o->beta2 * v[i] + (1.0 - o->beta2) * grad[i] * grad[i];
        second = v[i];
        if (o->amsgrad) {
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            second = vmax[i];
        }
        lambda[i] += step * m[i] / (sqrt(second) * root_c2 + o->epsilon);
    }
    return VI_OK;
}

static double adam_get_learning_rate(const void *self)
{
    return ((const adam_optimizer *)self)->learning_rate;
}

static int adam_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the adam learning rate", err);
    if (status == VI_OK)
        ((adam_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t adam_state_size(const void *self)
{
    return opt_state_size(3 * ((const adam_optimizer *)self)->n);
}

static int adam_save_state(const void *self, void *buf, vi_error *err)
{
    const adam_optimizer *o = (const adam_optimizer *)self;
    (void)err;
    opt_state_write(buf, adam_state_magic, o->n, o->steps, o->learning_rate, o->moments,
                    3 * o->n);
    return VI_OK;
}

static int adam_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    adam_optimizer *o = (adam_optimizer *)self;
    /* m may have either sign; v and vmax are >= 0. */
    return opt_state_read(buf, size, adam_state_magic, "adam", o->n, 3 * o->n, o->n,
                          &o->steps, &o->learning_rate, o->moments, err);
}

static const vi_optimizer_desc adam_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "adam",
    .summary = "Adam: bias-corrected adaptive moment estimation (optionally AMSGrad)",
    .flags = 0,
    .options = adam_options,
    .create = adam_create,
    .destroy = adam_destroy,
    .step = adam_step,
    .get_extension = NULL,
    .get_learning_rate = adam_get_learning_rate,
    .set_learning_rate = adam_set_learning_rate,
    .state_size = adam_state_size,
    .save_state = adam_save_state,
    .load_state = adam_load_state};

static const vi_component_head *const adam_components[] = {VI_COMPONENT(adam_optimizer_desc),
                                                           NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "adam",
    .version = "0.2.0",
    .description = "the Adam optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = adam_components};
