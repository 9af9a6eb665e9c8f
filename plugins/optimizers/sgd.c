/*
 * sgd.c — plain stochastic-gradient ascent, lambda += eta_t g, with a step
 * schedule (t counts this instance's steps, 1 for the first):
 *   constant  eta_t = learning_rate
 *   inverse   eta_t = learning_rate / (1 + decay (t - 1))   (1/t decay; with
 *             decay > 0 the steps satisfy the Robbins-Monro conditions;
 *             decay 0, the default, keeps the rate constant)
 *   cosine    eta_t = min_rate + (learning_rate - min_rate) (1 + cos(pi c / period)) / 2,
 *             c = (t - 1) mod period: cosine annealing with warm restarts
 *             (Loshchilov and Hutter, 2017).
 *
 * State (for checkpoints): the step count and the current learning rate,
 * which the host may have changed through set_learning_rate.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

#define SGD_PI 3.14159265358979323846

static const char sgd_state_magic[8] = {'v', 'i', '.', 's', 'g', 'd', '.', '1'};

typedef enum sgd_schedule { SGD_CONSTANT, SGD_INVERSE, SGD_COSINE } sgd_schedule;

typedef struct sgd_optimizer {
    size_t n;
    double learning_rate;
    sgd_schedule schedule;
    double decay;      /* inverse */
    int64_t period;    /* cosine */
    double min_rate;   /* cosine */
    uint64_t steps;    /* steps taken so far */
} sgd_optimizer;

static const vi_option sgd_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0, HUGE_VAL,
     "base step size (> 0)"},
    {sizeof(vi_option), "schedule", VI_OPTION_STRING, 0, "inverse", 0.0, 0.0,
     "constant, inverse (learning_rate / (1 + decay (t - 1))) or cosine"},
    {sizeof(vi_option), "decay", VI_OPTION_DOUBLE, 0, "0", 0.0, HUGE_VAL,
     "inverse schedule: step t uses learning_rate / (1 + decay (t - 1)); 0 keeps it constant"},
    {sizeof(vi_option), "period", VI_OPTION_INT, 0, "1000", 1.0, HUGE_VAL,
     "cosine schedule: steps from learning_rate down to min_rate, then a restart"},
    {sizeof(vi_option), "min_rate", VI_OPTION_DOUBLE, 0, "0", 0.0, HUGE_VAL,
     "cosine schedule: the rate at the end of each period (< learning_rate)"},
    VI_OPTION_END};

static int read_schedule(const vi_host *host, const vi_config *config, sgd_optimizer *o,
                         vi_error *err)
{
    const char *name = "inverse";
    int status = host->config_get_string(config, "schedule", &name);
    if (status != VI_OK && status != VI_ENOTFOUND)
        return vi_error_set(err, status, "'schedule' must be text");
    if (strcmp(name, "constant") == 0)
        o->schedule = SGD_CONSTANT;
    else if (strcmp(name, "inverse") == 0)
        o->schedule = SGD_INVERSE;
    else if (strcmp(name, "cosine") == 0)
        o->schedule = SGD_COSINE;
    else
        return vi_error_set(err, VI_EINVAL, "option 'schedule' must be 'constant', 'inverse' "
                            "or 'cosine', got '%s'", name);
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, sgd_optimizer *o,
                        vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "learning_rate", 0.01,
                                         &o->learning_rate, err);
    if (status == VI_OK)
        status = opt_check_rate(o->learning_rate, "option 'learning_rate'", err);
    if (status == VI_OK)
        status = read_schedule(host, config, o, err);
    if (status == VI_OK)
        status = opt_read_real(host, config, "decay", 0.0, 0.0, HUGE_VAL, 0, &o->decay, err);
    if (status == VI_OK)
        status = vi_config_get_int_or(host, config, "period", 1000, &o->period, err);
    if (status == VI_OK && o->period < 1)
        status = vi_error_set(err, VI_EINVAL, "option 'period' must be >= 1, got %lld",
                              (long long)o->period);
    if (status == VI_OK)
        status = opt_read_real(host, config, "min_rate", 0.0, 0.0, HUGE_VAL, 0, &o->min_rate,
                               err);
    if (status == VI_OK && o->schedule == SGD_COSINE && !(o->min_rate < o->learning_rate))
        status = vi_error_set(err, VI_EINVAL, "option 'min_rate' (%g) must be below "
                              "'learning_rate' (%g)", o->min_rate, o->learning_rate);
    return status;
}

static int sgd_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                      vi_error *err)
{
    sgd_optimizer *o = (sgd_optimizer *)calloc(1, sizeof *o);
    int status;
    *self = NULL;
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    status = read_options(host, config, o, err);
    if (status != VI_OK) {
        free(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static void sgd_destroy(void *self) { free(self); }

/* The step size of step t (1 for the first). */
static double sgd_rate(const sgd_optimizer *o, uint64_t t)
{
    switch (o->schedule) {
    case SGD_INVERSE:
        return o->learning_rate / (1.0 + o->decay * (double)(t - 1));
    case SGD_COSINE: {
        double c = (double)((t - 1) % (uint64_t)o->period) / (double)o->period;
        double top = o->learning_rate > o->min_rate ? o->learning_rate : o->min_rate;
        return o->min_rate + (top - o->min_rate) * 0.5 * (1.0 + cos(SGD_PI * c));
    }
    case SGD_CONSTANT:
        break;
    }
    return o->learning_rate;
}

static int sgd_step(void *self, double *lambda, const double *grad, const vi_step_info *info,
                    vi_error *err)
{
    sgd_optimizer *o = (sgd_optimizer *)self;
    double eta;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    eta = sgd_rate(o, o->steps);
    for (i = 0; i < o->n; ++i)
        lambda[i] += eta * grad[i];
    return VI_OK;
}

static double sgd_get_learning_rate(const void *self)
{
    return ((const sgd_optimizer *)self)->learning_rate;
}

static int sgd_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the sgd learning rate", err);
    if (status == VI_OK)
        ((sgd_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t sgd_state_size(const void *self)
{
    (void)self;
    return opt_state_size(0);
}

static int sgd_save_state(const void *self, void *buf, vi_error *err)
{
    const sgd_optimizer *o = (const sgd_optimizer *)self;
    (void)err;
    opt_state_write(buf, sgd_state_magic, o->n, o->steps, o->learning_rate, NULL, 0);
    return VI_OK;
}

static int sgd_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    sgd_optimizer *o = (sgd_optimizer *)self;
    return opt_state_read(buf, size, sgd_state_magic, "sgd", o->n, 0, 0, &o->steps,
                          &o->learning_rate, NULL, err);
}

static const vi_optimizer_desc sgd_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "sgd",
    .summary = "stochastic-gradient ascent: constant, 1/t or cosine step schedule",
    .flags = 0,
    .options = sgd_options,
    .create = sgd_create,
    .destroy = sgd_destroy,
    .step = sgd_step,
    .get_extension = NULL,
    .get_learning_rate = sgd_get_learning_rate,
    .set_learning_rate = sgd_set_learning_rate,
    .state_size = sgd_state_size,
    .save_state = sgd_save_state,
    .load_state = sgd_load_state};

static const vi_component_head *const sgd_components[] = {VI_COMPONENT(sgd_optimizer_desc),
                                                          NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "sgd",
    .version = "0.2.0",
    .description = "the stochastic-gradient ascent optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = sgd_components};
