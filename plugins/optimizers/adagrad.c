/*
 * adagrad.c — AdaGrad (Duchi, Hazan & Singer, 2011), as gradient ascent:
 *     G += g^2,     lambda += learning_rate * g / (sqrt(G) + epsilon),
 * elementwise.  Each coordinate's step shrinks with the squared gradients
 * it has seen, so the rate decays like 1/sqrt(t) by itself.
 *
 * State (for checkpoints): the header of optimizer_util.h, then G[n].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

static const char adagrad_state_magic[8] = {'v', 'i', '.', 'a', 'd', 'g', 'r', '1'};

typedef struct adagrad_optimizer {
    size_t n;
    double learning_rate;
    double epsilon;
    uint64_t steps;
    double *sum_squares; /* G[n] */
} adagrad_optimizer;

static const vi_option adagrad_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.1", 0.0, HUGE_VAL,
     "step size (> 0)"},
    {sizeof(vi_option), "epsilon", VI_OPTION_DOUBLE, 0, "1e-8", 0.0, HUGE_VAL,
     "added to sqrt(G) so the step stays bounded (> 0)"},
    VI_OPTION_END};

static void adagrad_destroy(void *self)
{
    adagrad_optimizer *o = (adagrad_optimizer *)self;
    if (o == NULL)
        return;
    free(o->sum_squares);
    free(o);
}

static int adagrad_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                          vi_error *err)
{
    adagrad_optimizer *o = (adagrad_optimizer *)calloc(1, sizeof *o);
    int status;
    *self = NULL;
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    o->sum_squares = (double *)calloc(n + 1, sizeof *o->sum_squares);
    if (o->sum_squares == NULL) {
        adagrad_destroy(o);
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    }
    status = vi_config_get_double_or(host, config, "learning_rate", 0.1, &o->learning_rate,
                                     err);
    if (status == VI_OK)
        status = opt_check_rate(o->learning_rate, "option 'learning_rate'", err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "epsilon", 1e-8, &o->epsilon, err);
    if (status == VI_OK && (!(o->epsilon > 0.0) || !isfinite(o->epsilon)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'epsilon' must be finite and > 0, got %g", o->epsilon);
    if (status != VI_OK) {
        adagrad_destroy(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static int adagrad_step(void *self, double *lambda, const double *grad,
                        const vi_step_info *info, vi_error *err)
{
    adagrad_optimizer *o = (adagrad_optimizer *)self;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    for (i = 0; i < o->n; ++i) {
        o->sum_squares[i] += grad[i] * grad[i];
        lambda[i] += o->learning_rate * grad[i] / (sqrt(o->sum_squares[i]) + o->epsilon);
    }
    return VI_OK;
}

static double adagrad_get_learning_rate(const void *self)
{
    return ((const adagrad_optimizer *)self)->learning_rate;
}

static int adagrad_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the adagrad learning rate", err);
    if (status == VI_OK)
        ((adagrad_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t adagrad_state_size(const void *self)
{
    return opt_state_size(((const adagrad_optimizer *)self)->n);
}

static int adagrad_save_state(const void *self, void *buf, vi_error *err)
{
    const adagrad_optimizer *o = (const adagrad_optimizer *)self;
    (void)err;
    opt_state_write(buf, adagrad_state_magic, o->n, o->steps, o->learning_rate,
                    o->sum_squares, o->n);
    return VI_OK;
}

static int adagrad_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    adagrad_optimizer *o = (adagrad_optimizer *)self;
    return opt_state_read(buf, size, adagrad_state_magic, "adagrad", o->n, o->n, 0,
                          &o->steps, &o->learning_rate, o->sum_squares, err);
}

static const vi_optimizer_desc adagrad_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "adagrad",
    .summary = "AdaGrad: steps scaled by the root of each coordinate's summed squared gradients",
    .flags = 0,
    .options = adagrad_options,
    .create = adagrad_create,
    .destroy = adagrad_destroy,
    .step = adagrad_step,
    .get_extension = NULL,
    .get_learning_rate = adagrad_get_learning_rate,
    .set_learning_rate = adagrad_set_learning_rate,
    .state_size = adagrad_state_size,
    .save_state = adagrad_save_state,
    .load_state = adagrad_load_state};

static const vi_component_head *const adagrad_components[] = {
    VI_COMPONENT(adagrad_optimizer_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "adagrad",
    .version = "0.1.0",
    .description = "the AdaGrad optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = adagrad_components};
