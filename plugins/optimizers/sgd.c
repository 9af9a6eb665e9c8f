/*
 * sgd.c — plain stochastic-gradient ascent with an optional 1/t decay:
 *     lambda += eta_t g,   eta_t = learning_rate / (1 + decay (t - 1)),
 * where t counts this instance's steps (1 for the first).  With decay > 0
 * the steps satisfy the Robbins–Monro conditions.
 *
 * State (for checkpoints): the step count and the current learning rate,
 * which the host may have changed through set_learning_rate.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define SGD_LEARNING_RATE_DEFAULT 0.01
#define SGD_DECAY_DEFAULT 0.0

/* Identifies a saved sgd state (and its layout revision). */
static const char sgd_state_magic[8] = {'v', 'i', '.', 's', 'g', 'd', '.', '1'};

/* The saved state, copied byte for byte; four 8-byte members, so there is
 * no padding. */
typedef struct sgd_saved_state {
    char magic[8];
    uint64_t n;
    uint64_t steps;
    double learning_rate;
} sgd_saved_state;

typedef struct sgd_optimizer {
    size_t n;
    double learning_rate;
    double decay;
    uint64_t steps; /* steps taken so far */
} sgd_optimizer;

static const vi_option sgd_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0,
     HUGE_VAL, "base step size (> 0)"},
    {sizeof(vi_option), "decay", VI_OPTION_DOUBLE, 0, "0", 0.0, HUGE_VAL,
     "step t uses learning_rate / (1 + decay (t - 1)); 0 keeps it constant"},
    VI_OPTION_END};

/* `what` names the source in the message: the option or the setter. */
static int check_learning_rate(double rate, const char *what, vi_error *err)
{
    if (!(rate > 0.0) || !isfinite(rate))
        return vi_error_set(err, VI_EINVAL, "%s must be finite and > 0, got %g",
                            what, rate);
    return VI_OK;
}

static int sgd_create(const vi_host *host, const vi_config *config, size_t n,
                      void **self, vi_error *err)
{
    sgd_optimizer *o;
    int status;
    *self = NULL;
    o = (sgd_optimizer *)calloc(1, sizeof *o);
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    status = vi_config_get_double_or(host, config, "learning_rate",
                                     SGD_LEARNING_RATE_DEFAULT,
                                     &o->learning_rate, err);
    if (status == VI_OK)
        status = check_learning_rate(o->learning_rate,
                                     "option 'learning_rate'", err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "decay",
                                         SGD_DECAY_DEFAULT, &o->decay, err);
    if (status == VI_OK && (!(o->decay >= 0.0) || !isfinite(o->decay)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'decay' must be finite and >= 0, got %g",
                              o->decay);
    if (status != VI_OK) {
        free(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static void sgd_destroy(void *self) { free(self); }

static int sgd_step(void *self, double *lambda, const double *grad,
                    const vi_step_info *info, vi_error *err)
{
    sgd_optimizer *o = (sgd_optimizer *)self;
    double eta;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    eta = o->learning_rate / (1.0 + o->decay * (double)(o->steps - 1));
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
    int status = check_learning_rate(rate, "the sgd learning rate", err);
    if (status == VI_OK)
        ((sgd_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t sgd_state_size(const void *self)
{
    (void)self;
    return sizeof(sgd_saved_state);
}

static int sgd_save_state(const void *self, void *buf, vi_error *err)
{
    const sgd_optimizer *o = (const sgd_optimizer *)self;
    sgd_saved_state saved;
    (void)err;
    memset(&saved, 0, sizeof saved);
    memcpy(saved.magic, sgd_state_magic, sizeof saved.magic);
    saved.n = (uint64_t)o->n;
    saved.steps = o->steps;
    saved.learning_rate = o->learning_rate;
    memcpy(buf, &saved, sizeof saved); /* buf need not be aligned */
    return VI_OK;
}

static int sgd_load_state(void *self, const void *buf, size_t size,
                          vi_error *err)
{
    sgd_optimizer *o = (sgd_optimizer *)self;
    sgd_saved_state saved;
    if (size != sizeof saved)
        return vi_error_set(err, VI_EINVAL,
                            "sgd state is %lu bytes, expected %lu",
                            (unsigned long)size, (unsigned long)sizeof saved);
    memcpy(&saved, buf, sizeof saved);
    if (memcmp(saved.magic, sgd_state_magic, sizeof saved.magic) != 0)
        return vi_error_set(err, VI_EINVAL,
                            "the state was not saved by this sgd optimizer "
                            "(bad header)");
    if (saved.n != (uint64_t)o->n)
        return vi_error_set(err, VI_EINVAL,
                            "sgd state was saved for n = %llu parameters, this "
                            "instance has n = %lu",
                            (unsigned long long)saved.n, (unsigned long)o->n);
    if (check_learning_rate(saved.learning_rate, "", NULL) != VI_OK)
        return vi_error_set(err, VI_EINVAL,
                            "sgd state holds an invalid learning rate %g",
                            saved.learning_rate);
    o->steps = saved.steps;
    o->learning_rate = saved.learning_rate;
    return VI_OK;
}

static const vi_optimizer_desc sgd_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "sgd",
    .summary = "stochastic-gradient ascent with optional 1/t step decay",
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

static const vi_component_head *const sgd_components[] = {
    VI_COMPONENT(sgd_optimizer_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "sgd",
    .version = "0.1.0",
    .description = "the stochastic-gradient ascent optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = sgd_components};
