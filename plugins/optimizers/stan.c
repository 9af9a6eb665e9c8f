/*
 * stan.c — the step-size sequence of Stan's ADVI (Kucukelbir et al., 2017,
 * eq. 10; stan/variational/advi.hpp), as gradient ascent.  At step k (1
 * for the first), elementwise:
 *     s_1 = g_1^2,     s_k = 0.9 s_{k-1} + 0.1 g_k^2,
 *     lambda += (eta / sqrt(k)) g_k / (1 + sqrt(s_k)),
 * computed in the order Stan computes it, so the same gradients give the
 * same bits.  eta is the learning rate (Stan's `eta`, default 1); the
 * host's step-size adaptation chooses it as Stan's adapt_eta does.
 *
 * State (for checkpoints): the header of optimizer_util.h (k in its step
 * count), then s[n].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

/* Stan's constants: tau, and the weights of the moving average. */
#define STAN_TAU 1.0
#define STAN_PRE_FACTOR 0.9
#define STAN_POST_FACTOR 0.1

static const char stan_state_magic[8] = {'v', 'i', '.', 's', 't', 'a', 'n', '1'};

typedef struct stan_optimizer {
    size_t n;
    double eta;
    uint64_t steps;
    double *history; /* s[n]: the moving average of squared gradients */
} stan_optimizer;

static const vi_option stan_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "1", 0.0, HUGE_VAL,
     "Stan's eta: step k is eta / sqrt(k) g / (1 + sqrt(s)) (> 0)"},
    VI_OPTION_END};

static void stan_destroy(void *self)
{
    stan_optimizer *o = (stan_optimizer *)self;
    if (o == NULL)
        return;
    free(o->history);
    free(o);
}

static int stan_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                       vi_error *err)
{
    stan_optimizer *o = (stan_optimizer *)calloc(1, sizeof *o);
    int status;
    *self = NULL;
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    o->history = (double *)calloc(n + 1, sizeof *o->history);
    status = o->history != NULL
                 ? vi_config_get_double_or(host, config, "learning_rate", 1.0, &o->eta, err)
                 : vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status == VI_OK)
        status = opt_check_rate(o->eta, "option 'learning_rate'", err);
    if (status != VI_OK) {
        stan_destroy(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static int stan_step(void *self, double *lambda, const double *grad, const vi_step_info *info,
                     vi_error *err)
{
    stan_optimizer *o = (stan_optimizer *)self;
    double eta_scaled;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    for (i = 0; i < o->n; ++i) {
        if (o->steps == 1)
            o->history[i] += grad[i] * grad[i];
        else
            o->history[i] = STAN_PRE_FACTOR * o->history[i] + STAN_POST_FACTOR * (grad[i] * grad[i]);
    }
    eta_scaled = o->eta / sqrt((double)o->steps);
    for (i = 0; i < o->n; ++i)
        lambda[i] += eta_scaled * grad[i] / (STAN_TAU + sqrt(o->history[i]));
    return VI_OK;
}

static double stan_get_learning_rate(const void *self)
{
    return ((const stan_optimizer *)self)->eta;
}

static int stan_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the stan learning rate (eta)", err);
    if (status == VI_OK)
        ((stan_optimizer *)self)->eta = rate;
    return status;
}

static size_t stan_state_size(const void *self)
{
    return opt_state_size(((const stan_optimizer *)self)->n);
}

static int stan_save_state(const void *self, void *buf, vi_error *err)
{
    const stan_optimizer *o = (const stan_optimizer *)self;
    (void)err;
    opt_state_write(buf, stan_state_magic, o->n, o->steps, o->eta, o->history, o->n);
    return VI_OK;
}

static int stan_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    stan_optimizer *o = (stan_optimizer *)self;
    return opt_state_read(buf, size, stan_state_magic, "stan", o->n, o->n, 0, &o->steps,
                          &o->eta, o->history, err);
}

static const vi_optimizer_desc stan_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "stan",
    .summary = "Stan ADVI's step sequence: eta k^-1/2 g / (1 + sqrt(s_k)), s a moving mean of g^2",
    .flags = 0,
    .options = stan_options,
    .create = stan_create,
    .destroy = stan_destroy,
    .step = stan_step,
    .get_extension = NULL,
    .get_learning_rate = stan_get_learning_rate,
    .set_learning_rate = stan_set_learning_rate,
    .state_size = stan_state_size,
    .save_state = stan_save_state,
    .load_state = stan_load_state};

static const vi_component_head *const stan_components[] = {VI_COMPONENT(stan_optimizer_desc),
                                                           NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "stan",
    .version = "0.1.0",
    .description = "Stan ADVI's adaptive step-size sequence",
    .init = NULL,
    .deinit = NULL,
    .components = stan_components};
