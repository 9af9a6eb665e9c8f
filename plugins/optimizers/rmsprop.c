/*
 * rmsprop.c — RMSProp (Tieleman & Hinton, 2012), as gradient ascent:
 *     v = rho v + (1 - rho) g^2,     lambda += learning_rate * g / (sqrt(v) + epsilon),
 * elementwise, v starting at 0.  Like AdaGrad but with a moving average,
 * so the rate does not decay by itself.
 *
 * State (for checkpoints): the header of optimizer_util.h, then v[n].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

static const char rmsprop_state_magic[8] = {'v', 'i', '.', 'r', 'm', 's', 'p', '1'};

typedef struct rmsprop_optimizer {
    size_t n;
    double learning_rate;
    double rho;
    double epsilon;
    uint64_t steps;
    double *mean_square; /* v[n] */
} rmsprop_optimizer;

static const vi_option rmsprop_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0, HUGE_VAL,
     "step size (> 0)"},
    {sizeof(vi_option), "rho", VI_OPTION_DOUBLE, 0, "0.9", 0.0, 1.0,
     "decay rate of the mean square of the gradient, in [0, 1)"},
    {sizeof(vi_option), "epsilon", VI_OPTION_DOUBLE, 0, "1e-8", 0.0, HUGE_VAL,
     "added to sqrt(v) so the step stays bounded (> 0)"},
    VI_OPTION_END};

static void rmsprop_destroy(void *self)
{
    rmsprop_optimizer *o = (rmsprop_optimizer *)self;
    if (o == NULL)
        return;
    free(o->mean_square);
    free(o);
}

static int read_options(const vi_host *host, const vi_config *config, rmsprop_optimizer *o,
                        vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "learning_rate", 0.01,
                                         &o->learning_rate, err);
    if (status == VI_OK)
        status = opt_check_rate(o->learning_rate, "option 'learning_rate'", err);
    if (status == VI_OK)
        status = opt_read_real(host, config, "rho", 0.9, 0.0, 1.0, 1, &o->rho, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "epsilon", 1e-8, &o->epsilon, err);
    if (status == VI_OK && (!(o->epsilon > 0.0) || !isfinite(o->epsilon)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'epsilon' must be finite and > 0, got %g", o->epsilon);
    return status;
}

static int rmsprop_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                          vi_error *err)
{
    rmsprop_optimizer *o = (rmsprop_optimizer *)calloc(1, sizeof *o);
    int status;
    *self = NULL;
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    o->mean_square = (double *)calloc(n + 1, sizeof *o->mean_square);
    status = o->mean_square != NULL ? read_options(host, config, o, err)
                                    : vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status != VI_OK) {
        rmsprop_destroy(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static int rmsprop_step(void *self, double *lambda, const double *grad,
                        const vi_step_info *info, vi_error *err)
{
    rmsprop_optimizer *o = (rmsprop_optimizer *)self;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    for (i = 0; i < o->n; ++i) {
        double *v = &o->mean_square[i];
        *v = o->rho * *v + (1.0 - o->rho) * grad[i] * grad[i];
        lambda[i] += o->learning_rate * grad[i] / (sqrt(*v) + o->epsilon);
    }
    return VI_OK;
}

static double rmsprop_get_learning_rate(const void *self)
{
    return ((const rmsprop_optimizer *)self)->learning_rate;
}

static int rmsprop_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the rmsprop learning rate", err);
    if (status == VI_OK)
        ((rmsprop_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t rmsprop_state_size(const void *self)
{
    return opt_state_size(((const rmsprop_optimizer *)self)->n);
}

static int rmsprop_save_state(const void *self, void *buf, vi_error *err)
{
    const rmsprop_optimizer *o = (const rmsprop_optimizer *)self;
    (void)err;
    opt_state_write(buf, rmsprop_state_magic, o->n, o->steps, o->learning_rate,
                    o->mean_square, o->n);
    return VI_OK;
}

static int rmsprop_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    rmsprop_optimizer *o = (rmsprop_optimizer *)self;
    return opt_state_read(buf, size, rmsprop_state_magic, "rmsprop", o->n, o->n, 0,
                          &o->steps, &o->learning_rate, o->mean_square, err);
}

static const vi_optimizer_desc rmsprop_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "rmsprop",
    .summary = "RMSProp: steps scaled by a moving root mean square of the gradient",
    .flags = 0,
    .options = rmsprop_options,
    .create = rmsprop_create,
    .destroy = rmsprop_destroy,
    .step = rmsprop_step,
    .get_extension = NULL,
    .get_learning_rate = rmsprop_get_learning_rate,
    .set_learning_rate = rmsprop_set_learning_rate,
    .state_size = rmsprop_state_size,
    .save_state = rmsprop_save_state,
    .load_state = rmsprop_load_state};

static const vi_component_head *const rmsprop_components[] = {
    VI_COMPONENT(rmsprop_optimizer_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "rmsprop",
    .version = "0.1.0",
    .description = "the RMSProp optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = rmsprop_components};
