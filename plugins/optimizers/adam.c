/*
 * adam.c — Adam (Kingma & Ba, 2015), as gradient ascent:
 *     m = beta1 m + (1 - beta1) g,     v = beta2 v + (1 - beta2) g^2,
 *     lambda += learning_rate * mhat / (sqrt(vhat) + epsilon),
 * with the bias corrections mhat = m / (1 - beta1^t), vhat = v / (1 -
 * beta2^t), t counting this instance's steps (1 for the first).
 *
 * State (for checkpoints): a header (magic, n, t, learning rate) and then
 * m[n] and v[n], in native byte order.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#define ADAM_LEARNING_RATE_DEFAULT 0.01
#define ADAM_BETA1_DEFAULT 0.9
#define ADAM_BETA2_DEFAULT 0.999
#define ADAM_EPSILON_DEFAULT 1e-8

/* Identifies a saved adam state (and its layout revision). */
static const char adam_state_magic[8] = {'v', 'i', '.', 'a', 'd', 'a', 'm', '1'};

/* The saved state's header, copied byte for byte; four 8-byte members, so
 * there is no padding.  m[n] and v[n] follow it. */
typedef struct adam_saved_header {
    char magic[8];
    uint64_t n;
    uint64_t steps;
    double learning_rate;
} adam_saved_header;

typedef struct adam_optimizer {
    size_t n;
    double learning_rate;
    double beta1, beta2, epsilon;
    uint64_t steps;  /* steps taken so far */
    double *moments; /* m[n] then v[n]: first and second moment estimates */
} adam_optimizer;

static const vi_option adam_options[] = {
    {sizeof(vi_option), "learning_rate", VI_OPTION_DOUBLE, 0, "0.01", 0.0,
     HUGE_VAL, "step size (> 0)"},
    {sizeof(vi_option), "beta1", VI_OPTION_DOUBLE, 0, "0.9", 0.0, 1.0,
     "decay rate of the first-moment estimate, in [0, 1)"},
    {sizeof(vi_option), "beta2", VI_OPTION_DOUBLE, 0, "0.999", 0.0, 1.0,
     "decay rate of the second-moment estimate, in [0, 1)"},
    {sizeof(vi_option), "epsilon", VI_OPTION_DOUBLE, 0, "1e-8", 0.0, HUGE_VAL,
     "added to sqrt(vhat) so the step stays bounded (> 0)"},
    VI_OPTION_END};

/* `what` names the source in the message: the option or the setter. */
static int check_learning_rate(double rate, const char *what, vi_error *err)
{
    if (!(rate > 0.0) || !isfinite(rate))
        return vi_error_set(err, VI_EINVAL, "%s must be finite and > 0, got %g",
                            what, rate);
    return VI_OK;
}

/* Reads beta1 or beta2, which must lie in [0, 1). */
static int read_decay_rate(const vi_host *host, const vi_config *config,
                           const char *key, double fallback, double *out,
                           vi_error *err)
{
    int status = vi_config_get_double_or(host, config, key, fallback, out, err);
    if (status == VI_OK && !(*out >= 0.0 && *out < 1.0))
        status = vi_error_set(err, VI_EINVAL,
                              "option '%s' must be in [0, 1), got %g", key,
                              *out);
    return status;
}

static int read_options(const vi_host *host, const vi_config *config,
                        adam_optimizer *o, vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "learning_rate",
                                         ADAM_LEARNING_RATE_DEFAULT,
                                         &o->learning_rate, err);
    if (status == VI_OK)
        status = check_learning_rate(o->learning_rate,
                                     "option 'learning_rate'", err);
    if (status == VI_OK)
        status = read_decay_rate(host, config, "beta1", ADAM_BETA1_DEFAULT,
                                 &o->beta1, err);
    if (status == VI_OK)
        status = read_decay_rate(host, config, "beta2", ADAM_BETA2_DEFAULT,
                                 &o->beta2, err);
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "epsilon",
                                         ADAM_EPSILON_DEFAULT, &o->epsilon,
                                         err);
    if (status == VI_OK && (!(o->epsilon > 0.0) || !isfinite(o->epsilon)))
        status = vi_error_set(err, VI_EINVAL,
                              "option 'epsilon' must be finite and > 0, got %g",
                              o->epsilon);
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

static int adam_create(const vi_host *host, const vi_config *config, size_t n,
                       void **self, vi_error *err)
{
    adam_optimizer *o;
    int status;
    *self = NULL;
    if (n > SIZE_MAX / (2 * sizeof(double)))
        return vi_error_set(err, VI_ENOMEM, "adam cannot hold %lu parameters",
                            (unsigned long)n);
    o = (adam_optimizer *)calloc(1, sizeof *o);
    if (o == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    o->n = n;
    /* calloc: the moment estimates start at zero; + 1 so n = 0 works. */
    o->moments = (double *)calloc(2 * n + 1, sizeof *o->moments);
    status = o->moments != NULL
                 ? read_options(host, config, o, err)
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

static int adam_step(void *self, double *lambda, const double *grad,
                     const vi_step_info *info, vi_error *err)
{
    adam_optimizer *o = (adam_optimizer *)self;
    double *m = o->moments, *v = o->moments + o->n;
    double c1, c2;
    size_t i;
    (void)info;
    (void)err;
    o->steps += 1;
    c1 = bias_correction(o->beta1, o->steps);
    c2 = bias_correction(o->beta2, o->steps);
    for (i = 0; i < o->n; ++i) {
        m[i] = o->beta1 * m[i] + (1.0 - o->beta1) * grad[i];
        v[i] = o->beta2 * v[i] + (1.0 - o->beta2) * grad[i] * grad[i];
        lambda[i] += o->learning_rate * (m[i] / c1) /
                     (sqrt(v[i] / c2) + o->epsilon);
    }
    return VI_OK;
}

static double adam_get_learning_rate(const void *self)
{
    return ((const adam_optimizer *)self)->learning_rate;
}

static int adam_set_learning_rate(void *self, double rate, vi_error *err)
{
    int status = check_learning_rate(rate, "the adam learning rate", err);
    if (status == VI_OK)
        ((adam_optimizer *)self)->learning_rate = rate;
    return status;
}

static size_t adam_state_size(const void *self)
{
    const adam_optimizer *o = (const adam_optimizer *)self;
    return sizeof(adam_saved_header) + 2 * o->n * sizeof(double);
}

static int adam_save_state(const void *self, void *buf, vi_error *err)
{
    const adam_optimizer *o = (const adam_optimizer *)self;
    adam_saved_header header;
    (void)err;
    memset(&header, 0, sizeof header);
    memcpy(header.magic, adam_state_magic, sizeof header.magic);
    header.n = (uint64_t)o->n;
    header.steps = o->steps;
    header.learning_rate = o->learning_rate;
    /* memcpy throughout: buf need not be aligned. */
    memcpy(buf, &header, sizeof header);
    memcpy((char *)buf + sizeof header, o->moments,
           2 * o->n * sizeof(double));
    return VI_OK;
}

/* Checks a saved header against this instance. */
static int check_header(const adam_optimizer *o, const adam_saved_header *h,
                        vi_error *err)
{
    if (memcmp(h->magic, adam_state_magic, sizeof h->magic) != 0)
        return vi_error_set(err, VI_EINVAL,
                            "the state was not saved by an adam optimizer "
                            "(bad header)");
    if (h->n != (uint64_t)o->n)
        return vi_error_set(err, VI_EINVAL,
                            "adam state was saved for n = %llu parameters, "
                            "this instance has n = %lu",
                            (unsigned long long)h->n, (unsigned long)o->n);
    if (check_learning_rate(h->learning_rate, "", NULL) != VI_OK)
        return vi_error_set(err, VI_EINVAL,
                            "adam state holds an invalid learning rate %g",
                            h->learning_rate);
    return VI_OK;
}

static int adam_load_state(void *self, const void *buf, size_t size,
                           vi_error *err)
{
    adam_optimizer *o = (adam_optimizer *)self;
    const char *bytes = (const char *)buf;
    adam_saved_header header;
    size_t expected = adam_state_size(o), i;
    double value;
    int status;
    if (size < sizeof header)
        return vi_error_set(err, VI_EINVAL,
                            "adam state is %lu bytes, too short for its "
                            "%lu-byte header",
                            (unsigned long)size, (unsigned long)sizeof header);
    memcpy(&header, bytes, sizeof header);
    status = check_header(o, &header, err);
    if (status != VI_OK)
        return status;
    if (size != expected)
        return vi_error_set(err, VI_EINVAL,
                            "adam state is %lu bytes, expected %lu for n = %lu",
                            (unsigned long)size, (unsigned long)expected,
                            (unsigned long)o->n);
    for (i = 0; i < 2 * o->n; ++i) { /* m finite, v finite and >= 0 */
        memcpy(&value, bytes + sizeof header + i * sizeof value, sizeof value);
        if (!isfinite(value) || (i >= o->n && value < 0.0))
            return vi_error_set(err, VI_EINVAL,
                                "adam state holds an invalid %s[%lu] = %g",
                                i < o->n ? "m" : "v",
                                (unsigned long)(i % o->n) + 1UL,
                                value);
    }
    memcpy(o->moments, bytes + sizeof header, 2 * o->n * sizeof(double));
    o->steps = header.steps;
    o->learning_rate = header.learning_rate;
    return VI_OK;
}

static const vi_optimizer_desc adam_optimizer_desc = {
    .struct_size = sizeof(vi_optimizer_desc),
    .kind = VI_KIND_OPTIMIZER,
    .name = "adam",
    .summary = "Adam: bias-corrected adaptive moment estimation",
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

static const vi_component_head *const adam_components[] = {
    VI_COMPONENT(adam_optimizer_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "adam",
    .version = "0.1.0",
    .description = "the Adam optimizer",
    .init = NULL,
    .deinit = NULL,
    .components = adam_components};
