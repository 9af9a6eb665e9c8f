/*
 * dog.c — DoG, "distance over gradients" (Ivgi, Hinder & Carmon, 2023), a
 * parameter-free step size, as gradient ascent.  At step t (1 for the
 * first, at lambda_t; lambda_1 is the starting point):
 *     rbar_t = max(alpha (1 + |lambda_1|), max_{i <= t} |lambda_i - lambda_1|),
 *     G_t    = sum_{i <= t} |g_i|^2,
 *     lambda += c rbar_t / sqrt(G_t) g_t,
 * with Euclidean norms over all of lambda.  The step grows geometrically
 * while the iterates travel and shrinks like 1/sqrt(t) once they settle,
 * which is why DoG pairs well with the host's polynomial averaging.  c is
 * the learning rate: 1 is the paper's method; the host halves it on
 * divergence and its step-size adaptation may choose it.
 *
 * State (for checkpoints): the header of optimizer_util.h (c in its
 * learning rate), then lambda_1[n], rbar and G.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer_util.h"

static const char dog_state_magic[8] = {'v', 'i', '.', 'd', 'o', 'g', '.', '1'};

typedef struct dog_optimizer {
    size_t n;
    double scale;    /* c */
    double alpha;    /* initial movement, relative to 1 + |lambda_1| */
    uint64_t steps;
    double *values;  /* lambda_1[n], then rbar and G */
} dog_optimizer;

static const vi_option dog_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "1", 0.0, HUGE_VAL,
     "multiplier c of DoG's step rbar / sqrt(G); 1 is the paper's method (> 0)"},
    {sizeof(vi_option), "initial_movement", VI_OPTION_DOUBLE, 0, "1e-6", 0.0, HUGE_VAL,
     "alpha: the first step moves about alpha (1 + |lambda_1|) (> 0)"},
    VI_OPTION_END};

static void dog_destroy(void *self)
{
    dog_optimizer *o = (dog_optimizer *)self;
    if (o == NULL)
        return;
    free(o->values);
    free(o);
}

static int dog_create(const vi_host *host, const vi_config *config, size_t n, void **self,
                      vi_error *err)
{
    dog_optimizer *o = (dog_optimizer *)calloc(1, sizeof *o);
    int status;
    *self = NULL;
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    o->values = (double *)calloc(n + 2, sizeof *o->values);
    status = o->values != NULL
                 ? vi_config_get_double_or(host, config, "learning_rate", 1.0, &o->scale, err)
                 : vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status == VI_OK)
        status = opt_check_rate(o->scale, "option 'learning_rate'", err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "initial_movement", 1e-6, &o->alpha,
                                         err);
    if (status == VI_OK)
        status = opt_check_rate(o->alpha, "option 'initial_movement'", err);
    if (status != VI_OK) {
        dog_destroy(o);
        return status;
    }
    *self = o;
    return VI_OK;
}

static int dog_step(void *self, double *lambda, const double *grad, const vi_step_info *info,
                    vi_error *err)
{
    dog_optimizer *o = (dog_optimizer *)self;
    double *start = o->values, *rbar = o->values + o->n, *sum_g2 = rbar + 1;
    double dist2 = 0.0, g2 = 0.0, eta;
    size_t i;
    (void)info;
    (void)err;
    if (o->steps == 0) {
        double norm2 = 0.0;
        memcpy(start, lambda, o->n * sizeof *lambda);
        for (i = 0; i < o->n; ++i)
            norm2 += lambda[i] * lambda[i];
        *rbar = o->alpha * (1.0 + sqrt(norm2));
        *sum_g2 = 0.0;
    }
    o->steps += 1;
    for (i = 0; i < o->n; ++i) {
        double d = lambda[i] - start[i];
        dist2 += d * d;
        g2 += grad[i] * grad[i];
    }
    if (sqrt(dist2) > *rbar)
        *rbar = sqrt(dist2);
    *sum_g2 += g2;
    if (!(*sum_g2 > 0.0))
        return VI_OK; /* a zero gradient: no direction to move in */
    eta = o->scale * *rbar / sqrt(*sum_g2);
    for (i = 0; i < o->n; ++i)
        lambda[i] += eta * grad[i];
    return VI_OK;
}

static double dog_get_learning_rate(const void *self)
{
    return ((const dog_optimizer *)self)->scale;
}

static int dog_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = opt_check_rate(rate, "the dog learning rate", err);
    if (status == VI_OK)
        ((dog_optimizer *)self)->scale = rate;
    return status;
}

static size_t dog_state_size(const void *self)
{
    return opt_state_size(((const dog_optimizer *)self)->n + 2);
}

static int dog_save_state(const void *self, void *buf, vi_error *err)
{
    const dog_optimizer *o = (const dog_optimizer *)self;
    (void)err;
    opt_state_write(buf, dog_state_magic, o->n, o->steps, o->scale, o->values, o->n + 2);
    return VI_OK;
}

static int dog_load_state(void *self, const void *buf, size_t size, vi_error *err)
{
    dog_optimizer *o = (dog_optimizer *)self;
    /* lambda_1 may have either sign; rbar and G are >= 0. */
    return opt_state_read(buf, size, dog_state_magic, "dog", o->n, o->n + 2, o->n, &o->steps,
                          &o->scale, o->values, err);
}

static const vi_optimizer_desc dog_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "dog",
    .summary = "DoG: parameter-free step, distance travelled over root summed squared gradients",
    .flags = 0,
    .options = dog_options,
    .create = dog_create,
    .destroy = dog_destroy,
    .step = dog_step,
    .get_extension = NULL,
    .get_learning_rate = dog_get_learning_rate,
    .set_learning_rate = dog_set_learning_rate,
    .state_size = dog_state_size,
    .save_state = dog_save_state,
    .load_state = dog_load_state};

static const vi_component_head *const dog_components[] = {VI_COMPONENT(dog_optimizer_desc),
                                                          NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "dog",
    .version = "0.1.0",
    .description = "the DoG parameter-free optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = dog_components};
